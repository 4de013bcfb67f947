"""Models: the networks (one registry), ``FusionModel`` and its safe save/load."""

from __future__ import annotations

from .core import FusionModel, Scaler, load_model
from .registry import architecture, build_network

__all__ = ["FusionModel", "Scaler", "architecture", "build_network", "load_model"]
