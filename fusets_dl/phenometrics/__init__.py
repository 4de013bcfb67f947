"""Phenology: multi-season phenometrics of any NDVI series.

Modules: :mod:`.api` (``phenology``, the xarray flow), :mod:`.options` (the
checks of its options, shared with the pipeline's config), :mod:`.seasons`
(the NumPy season-detection kernels, ``PHENO_VARS``), :mod:`.observed` (how much
of each season was observed), :mod:`.by_class`
(``phenology_by_class``, medians per class of a class map), :mod:`.per_class`
(options per class) and :mod:`.grid` (a class map matched to the NDVI grid
by coordinates).
"""

from __future__ import annotations

from .api import phenology
from .by_class import phenology_by_class
from .seasons import PHENO_VARS

__all__ = ["PHENO_VARS", "phenology", "phenology_by_class"]
