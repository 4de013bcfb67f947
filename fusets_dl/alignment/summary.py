"""The funnel: what survived each step of building a fusion cube, stored as JSON in its attrs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

from .._logging import logger

__all__ = ["SUMMARY_ATTR", "summarise"]

#: The cube attribute holding the summary as JSON.
SUMMARY_ATTR = "fusion_summary"


def _count_now(summary: dict[str, Any], counts: dict[str, xr.DataArray]) -> None:
    """Compute ``counts`` (one Dask computation) into ``summary`` and add the fractions."""
    import dask

    values = dask.compute(*[v.data for v in counts.values()])
    summary.update({k: int(v) for k, v in zip(counts, values, strict=True)})
    _add_fractions(summary)


def _add_fractions(summary: dict[str, Any]) -> None:
    total = summary["cube_dates"] * summary["pixels"]
    summary["s2_clear_fraction"] = round(summary["s2_clear_pixel_dates"] / max(summary["s2_pixel_dates"], 1), 4)
    summary["paired_fraction"] = round(summary["paired_pixel_dates"] / max(total, 1), 4)
    summary["outliers_removed"] = summary["s2_clear_on_s1_grid"] - summary["s2_clear_after_outlier_filter"]


def _log_summary(summary: dict[str, Any]) -> None:
    logger.info("align: %s", ", ".join(f"{k}={v}" for k, v in summary.items()))


def summarise(cube: xr.Dataset) -> dict[str, Any]:
    """What survived each step of building ``cube``, with pixel counts computed now.

    Parameters
    ----------
    cube : xarray.Dataset
        A fusion cube from :func:`~fusets_dl.alignment.align`.

    Returns
    -------
    dict
        The structural summary stored by :func:`~fusets_dl.alignment.align`
        plus counts of valid S1 pixel-dates and paired (clear) NDVI
        pixel-dates, and the paired fraction. One Dask computation on
        Dask-backed cubes.
    """
    summary = json.loads(cube.attrs.get(SUMMARY_ATTR, "{}"))
    import dask

    valid, paired = dask.compute(
        (cube["VV"].notnull() & cube["VH"].notnull()).sum().data,
        cube["NDVI"].notnull().sum().data if "NDVI" in cube else np.int64(0),
    )
    summary["s1_valid_pixel_dates"] = int(valid)
    summary["paired_pixel_dates"] = int(paired)
    total = cube.sizes["time"] * cube.sizes["y"] * cube.sizes["x"]
    summary["paired_fraction"] = round(int(paired) / max(total, 1), 4)
    return summary
