"""The ``fusets-dl`` command."""

from __future__ import annotations

from .core import main

__all__ = ["main"]
