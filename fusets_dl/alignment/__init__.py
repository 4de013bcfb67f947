"""Align: S2 onto the S1 grid and dates (pairing within a tolerance, or regular periods), masks and filters.

Modules, one job each: :mod:`.grid` (space: S2 and static layers onto the S1
grid), :mod:`.pairing` (S1 dates, nearest clear S2 within a tolerance),
:mod:`.periods` (compositing onto regular periods), :mod:`.filters` (the S2
outlier filter), :mod:`.summary` (the funnel of what survived each mask) and
:mod:`.build`, where :func:`align` runs these steps.
"""

from __future__ import annotations

from .build import align
from .filters import filter_ndvi_outliers
from .summary import summarise

__all__ = ["align", "filter_ndvi_outliers", "summarise"]
