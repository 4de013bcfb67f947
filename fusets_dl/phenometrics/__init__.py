"""Phenology: multi-season phenometrics of any NDVI series."""

from __future__ import annotations

from .core import phenology, phenology_by_class

__all__ = ["phenology", "phenology_by_class"]
