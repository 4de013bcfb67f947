"""Align: S2 onto the S1 grid and dates (pairing within a tolerance, or regular periods), masks and filters."""

from __future__ import annotations

from .core import align, summarise
from .filters import filter_ndvi_outliers

__all__ = ["align", "filter_ndvi_outliers", "summarise"]
