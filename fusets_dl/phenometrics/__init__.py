"""Phenology: multi-season phenometrics of any NDVI series.

Modules: :mod:`.api` (``phenology``, the xarray flow), :mod:`.seasons` (the
NumPy season-detection kernels, ``PHENO_VARS``) and :mod:`.by_class`
(``phenology_by_class``, medians per class of a class map).
"""

from __future__ import annotations

from .api import phenology
from .by_class import phenology_by_class
from .seasons import PHENO_VARS

__all__ = ["PHENO_VARS", "phenology", "phenology_by_class"]
