"""The funnel: what survived each step of building a fusion cube, stored as JSON in its attrs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import xarray as xr

from .._logging import logger

__all__ = ["CLEAR_MASK_KEY", "SUMMARY_ATTR", "UNPAIRED_WARN_FRACTION", "clear_mask_source", "cube_view_counts", "s2_pixels_per_s1_pixel_summary", "summarise",
           "views_paired", "warn_unpaired_views"]

#: The cube attribute holding the summary as JSON.
SUMMARY_ATTR = "fusion_summary"
#: The summary key naming where the S2 clear mask came from (``"SCL"``, ``"cloud mask band"``, ...), where it is known.
CLEAR_MASK_KEY = "s2_clear_mask"


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
    if "s2_views_paired" in summary:
        summary["s2_views_unpaired"] = max(summary["s2_clear_after_outlier_filter"] - summary["s2_views_paired"], 0)


#: Share of the clear S2 views no S1 date takes above which ``align`` warns.
UNPAIRED_WARN_FRACTION = 0.25


def views_paired(cube: xr.Dataset) -> xr.DataArray:
    """How many distinct clear S2 views (pixel and S2 date) the cube's NDVI holds: a view paired to two S1 dates counts once.

    Parameters
    ----------
    cube : xarray.Dataset
        A pairing cube (``NDVI``, ``NDVI_offset``: days from the S1 date to its view's).

    Returns
    -------
    xarray.DataArray
        A 0-d count, lazy on Dask.
    """
    days = ((cube["time"] - cube["time"][0]) / np.timedelta64(1, "D")).astype(np.float64)
    view = (days + cube["NDVI_offset"].astype(np.float64)).where(cube["NDVI"].notnull())
    if view.chunks is not None:
        view = view.chunk({"time": -1})

    def distinct(v: np.ndarray) -> np.ndarray:  # time last (apply_ufunc's core dimension)
        srt = np.sort(np.round(v, 3), axis=-1)  # NaN last
        new = np.isfinite(srt)
        new[..., 1:] &= srt[..., 1:] != srt[..., :-1]
        return new.sum(axis=-1)

    per_pixel = xr.apply_ufunc(distinct, view, input_core_dims=[["time"]], dask="parallelized", output_dtypes=[np.int64])
    return per_pixel.sum()


def warn_unpaired_views(summary: dict[str, Any], tolerance: Any, kept: bool = False) -> None:
    """Warn when more than ``UNPAIRED_WARN_FRACTION`` of the clear S2 views are paired to no S1 date (counted summaries).

    The cube holds one view per S1 date: with one Sentinel-1 satellite (12 days, since 2022) and S2 every
    5 days, about half the clear views are left. Training, the reconstruction and phenology's
    ``observed_fraction`` / ``longest_gap`` see only the paired ones (Slovak grassland: 32-52 % left).

    Parameters
    ----------
    summary : dict
        The funnel with its counts (``s2_views_unpaired``).
    tolerance : object
        The pairing tolerance, for the message.
    kept : bool
        The cube keeps them as ``NDVI_unpaired`` (``align(unpaired_views=True)``):
        logged, not warned, since the reconstruction uses them.
    """
    clear, left = summary.get("s2_clear_after_outlier_filter", 0), summary.get("s2_views_unpaired")
    if left is None or clear <= 0 or left / clear <= UNPAIRED_WARN_FRACTION:
        return
    import logging

    import pandas as pd

    from .._warn import warn_user

    days = pd.Timedelta(tolerance) / pd.Timedelta(days=1)
    what = (f"{left} of {clear} clear S2 views ({100 * left / clear:.0f} %) are paired to no S1 date (each S1 date takes the nearest "
            f"clear view within {days:g} days; {summary.get('s1_dates')} S1 dates against {summary.get('s2_dates')} S2 dates)")
    if kept:
        logging.getLogger("fusets_dl").info("align: %s; kept as NDVI_unpaired for the reconstruction", what)
        return
    warn_user(f"align: {what}: training, the reconstruction and phenology's observed_fraction and longest_gap use only the paired "
              "views. Sentinel-1 from one satellite (12 days, 2022 on) leaves about half of a 5-day S2 series; "
              "align(..., unpaired_views=True) keeps them for the reconstruction")


def s2_pixels_per_s1_pixel_summary(s2: xr.Dataset, s1: xr.Dataset) -> dict[str, Any]:
    """The funnel line saying how many S2 pixels fed each S1 pixel.

    Parameters
    ----------
    s2, s1 : xarray.Dataset
        The S2 and S1 inputs of :func:`~fusets_dl.alignment.align` (their
        grids and CRSs; no data is read).

    Returns
    -------
    dict
        ``{"s2_pixels_per_s1_pixel": {"min", "median", "mean", "max",
        "s1_pixels_without_s2", "s1_pixels_counted"}}``: counts of S2 pixel
        centres inside each S1 pixel, over a central window of at most
        512 x 512 S1 pixels. Empty when a grid is too small to count on.
    """
    from ..errors import GridMismatchError
    from .reproject import s2_pixels_per_s1_pixel

    try:
        counts = s2_pixels_per_s1_pixel(s2, s2.rio.crs, s1, s1.rio.crs)
    except GridMismatchError:
        return {}
    fed = counts[counts > 0]
    line = {
        "min": int(fed.min()) if fed.size else 0,
        "median": float(np.median(fed)) if fed.size else 0.0,
        "mean": round(float(fed.mean()), 3) if fed.size else 0.0,
        "max": int(fed.max()) if fed.size else 0,
        "s1_pixels_without_s2": int((counts == 0).sum()),
        "s1_pixels_counted": int(counts.size),
    }
    return {"s2_pixels_per_s1_pixel": line}


def cube_view_counts(cube: xr.Dataset) -> dict[str, xr.DataArray]:
    """The clear S2 views a pairing cube holds, counted from the cube alone (lazy on Dask).

    Parameters
    ----------
    cube : xarray.Dataset
        A fusion cube from :func:`~fusets_dl.alignment.align`.

    Returns
    -------
    dict
        ``s2_views_paired`` (distinct views in ``NDVI``, :func:`views_paired`)
        on a pairing cube and ``s2_views_unpaired_kept`` (the views in
        ``NDVI_unpaired``) on a cube that keeps them
        (``align(..., unpaired_views=True)``); empty on a composite.
    """
    from .pairing import UNPAIRED

    out = {"s2_views_paired": views_paired(cube)} if "NDVI_offset" in cube else {}
    if UNPAIRED in cube:  # the views the reconstruction reads beside the paired ones
        out["s2_views_unpaired_kept"] = cube[UNPAIRED].notnull().sum()
    return out


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
        pixel-dates, the paired fraction and :func:`cube_view_counts`.
        The counts of the S2 inputs (``s2_clear_pixel_dates``, ...) are
        there only when ``align`` counted them (in-memory inputs, or
        ``compute_summary=True``): the cube does not hold them. One Dask
        computation on Dask-backed cubes.
    """
    summary = json.loads(cube.attrs.get(SUMMARY_ATTR, "{}"))
    import dask

    counts = {
        "s1_valid_pixel_dates": (cube["VV"].notnull() & cube["VH"].notnull()).sum().data,
        "paired_pixel_dates": cube["NDVI"].notnull().sum().data if "NDVI" in cube else np.int64(0),
        **{k: v.data for k, v in cube_view_counts(cube).items()},
    }
    summary.update({k: int(v) for k, v in zip(counts, dask.compute(*counts.values()), strict=True)})
    if "s2_views_paired" in summary and "s2_clear_after_outlier_filter" in summary:
        summary["s2_views_unpaired"] = max(summary["s2_clear_after_outlier_filter"] - summary["s2_views_paired"], 0)
    total = cube.sizes["time"] * cube.sizes["y"] * cube.sizes["x"]
    summary["paired_fraction"] = round(summary["paired_pixel_dates"] / max(total, 1), 4)
    return summary


def clear_mask_source(s2: xr.Dataset) -> str | None:
    """Where the ``clear`` mask of an S2 dataset from :func:`~fusets_dl.readers.open_s2` came from.

    Parameters
    ----------
    s2 : xarray.Dataset
        The output of ``open_s2`` (``NDVI``, ``clear``, and ``SCL`` when the input had one).

    Returns
    -------
    str or None
        ``"SCL"``, ``"cloud mask band"``, the rule of another cloud band
        (``"cloud probability band CLD < 40 (of 100)"``, :mod:`fusets_dl.readers.cloud_bands`),
        ``"no cloud mask: every valid NDVI"``,
        or None when the mask's attributes do not say (recorded by
        :func:`~fusets_dl.alignment.align` under :data:`CLEAR_MASK_KEY`).
    """
    attrs = s2["clear"].attrs if "clear" in s2 else {}
    source = str(attrs.get("source", ""))
    if "SCL" in s2.data_vars or "clear_scl_classes" in attrs:
        return "SCL"
    if source.startswith("cloud mask"):
        return "cloud mask band"
    if source.startswith("valid NDVI"):
        return "no cloud mask: every valid NDVI"
    if source.startswith(("Cloud Score+", "cloud probability", "clear flag", "QA60")):  # readers.cloud_bands: the rule itself
        return source
    return None
