"""Reconstruct: gap-free NDVI with a source flag and an uncertainty."""

from __future__ import annotations

from .core import SOURCE_FLAGS, reconstruct

__all__ = ["SOURCE_FLAGS", "reconstruct"]
