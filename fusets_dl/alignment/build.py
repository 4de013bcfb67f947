"""``align``: the fusion cube from S1 and S2, as a short flow of ``_align_*`` steps.

Space is handled in :mod:`.grid`, time in :mod:`.pairing` (S1 dates) or
:mod:`.periods` (regular periods), the funnel in :mod:`.summary`.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..cf import CONVENTIONS, CUBE_TITLE, apply_cf, cf_attrs
from ..errors import ConfigError, DimensionError, TimeOverlapError
from ..readers.conventions import bands_for
from ..readers.terrain import open_terrain
from ..validate import as_timedelta, check_time, is_dask_backed, require_variables
from .chunking import auto_chunk, check_chunk_memory
from .filters import filter_ndvi_outliers
from .grid import needs_reprojection, north_up, s2_onto_s1, static_onto_s1
from .pairing import pair_onto_s1_dates
from .periods import composite_periods, period_offset
from .summary import (
    CLEAR_MASK_KEY,
    SUMMARY_ATTR,
    _count_now,
    _log_summary,
    clear_mask_source,
    cube_view_counts,
    s2_pixels_per_s1_pixel_summary,
    warn_unpaired_views,
)

__all__ = ["align"]


def align(
    s1: xr.Dataset,
    s2: xr.Dataset,
    *,
    tolerance: str | pd.Timedelta | float = "3D",
    freq: str | None = None,
    min_clear_fraction: float = 1.0,
    outlier_filter: bool = False,
    outlier_threshold: float = 0.15,
    outlier_max_gap_days: float = 20.0,
    terrain: xr.Dataset | None = None,
    keep_cloudy: bool = False,
    unpaired_views: bool = False,
    compute_summary: bool | None = None,
) -> xr.Dataset:
    """Build the fusion cube from S1 and S2 in canonical form.

    S2 is first brought onto the S1 grid: where the S2 pixels tile the S1
    pixels exactly (10 m in 20 m), by the exact block mean of the clear S2
    sub-pixels, otherwise by an area-weighted average reprojection, one warp
    per S1 chunk (lazy). An S1 pixel is clear when the clear fraction of its S2
    sub-pixels reaches ``min_clear_fraction``.

    Then, in time, either

    * ``freq=None``: the cube is on the S1 dates, and each S1 date of each
      pixel is paired with the nearest clear S2 observation within
      ``tolerance`` (ties go to the earlier observation); or
    * ``freq="12D"``: both are composited onto regular periods starting at the
      beginning of the common time span (floored to the day): S1 mean in
      linear power reported in dB, S2 median of the clear NDVI. ``time``
      labels the period centre (the middle of its bounds), and ``time_bnds``
      holds the period edges. The last period is a whole one and holds the
      end of the span, so it may reach past it. A calendar frequency
      (``"MS"``, ``"QS"``, ``"W"``, ...) follows its anchors (1 January,
      1 April, ... for ``"QS"``; Sundays for ``"W"``); when the span does not
      start on one, the first period is shorter, from the start of the span
      to the first anchor (e.g. 16 January to 1 February for ``"MS"``), and
      is labelled by its own middle, so no date of the span is dropped.

    Parameters
    ----------
    s1, s2 : xarray.Dataset
        Outputs of :func:`fusets_dl.open_s1` and :func:`fusets_dl.open_s2`.
    tolerance : str, Timedelta or number
        Maximum distance between an S1 date and its paired S2 observation.
        A bare number is a number of **days** (``3`` is ``"3D"``, not 3 ns).
    freq : str, optional
        Compositing period: a positive pandas frequency, of fixed length
        (``"5D"``, ``"12D"``) or calendar (``"MS"``, ``"QS"``, ``"W"``).
    min_clear_fraction : float
        Fraction of clear S2 sub-pixels an S1 pixel needs to count as clear.
    outlier_filter : bool
        Remove clear S2 observations that are negative spikes recovering within
        days (residual cloud or shadow missed by SCL); see
        :func:`fusets_dl.alignment.filter_ndvi_outliers`.
    outlier_threshold, outlier_max_gap_days : float
        Parameters of the outlier filter.
    terrain : xarray.Dataset or xarray.DataArray, optional
        ``elevation``/``slope``/``aspect`` (or a DEM as
        ``rioxarray.open_rasterio`` gives it) on any grid with a CRS, read by
        :func:`fusets_dl.readers.terrain.open_terrain` (names, nodata, CF
        packing, units, a length-one ``band``) and brought onto the S1 grid
        (bilinear, one window per chunk on Dask; aspect as its direction
        vector, so 350° and 10° average to north). The area beyond the layer
        is NaN; a layer covering no S1 pixel is refused, one covering part of
        it warned.
    keep_cloudy : bool
        Pairing mode only: also keep ``NDVI_cloudy``, the NDVI of the nearest
        S2 acquisition within ``tolerance`` that is *not* clear (cloud- or
        shadow-contaminated, or removed by the outlier filter), for
        cloud-robust training (``FeatureSpec(cloudy_input=True)``).
    unpaired_views : bool
        Pairing mode only: also keep ``NDVI_unpaired`` on ``(time_s2, y,
        x)``, the clear S2 views that no S1 date took, at their own dates (NaN
        elsewhere). One S1 date takes one view, so with Sentinel-1 every 12
        days (one satellite, 2022 on) and S2 every 5, about half the clear
        views are otherwise dropped. :func:`~fusets_dl.reconstruct` adds them
        to the observations it keeps and smooths (per-date model), and
        :func:`~fusets_dl.compare` hides them in its spells and gives them to
        its linear, Whittaker and MOGPR rows too; the calibration of the
        smoother shows them (never scores them); training, the S1 prediction
        and the sequence model use the paired views only.
    compute_summary : bool, optional
        Count what survived each mask now (one Dask computation over the
        inputs). Default: for in-memory inputs only, so Dask inputs stay lazy.

    Returns
    -------
    xarray.Dataset
        The fusion cube: ``VV``, ``VH`` (dB), ``NDVI`` (clear, NaN where
        none) on ``(time, y, x)``, plus ``NDVI_offset`` (pairing) or
        ``n_s1``/``n_s2_clear``/``time_bnds`` (compositing), static terrain
        when given; ``NDVI_unpaired`` on ``time_s2`` when asked.
        ``cube.attrs["fusion_summary"]`` holds what survived each
        step as JSON; counts of pixels are filled in for in-memory inputs and
        computed on request by :func:`summarise` for Dask inputs.

    Raises
    ------
    DimensionError, MissingVariableError
        Inputs that are not Datasets on ``(time, y, x)`` with the bands of
        the readers.
    GridMismatchError, CRSMismatchError
        Grids that do not overlap, or CRSs that cannot be reconciled.
    TimeOverlapError
        No common time span.
    ConfigError
        ``keep_cloudy`` or ``unpaired_views`` with ``freq``; ``outlier_filter``,
        ``keep_cloudy`` or ``unpaired_views`` not a boolean; a negative tolerance, or one that is
        neither a number of days nor a duration; a ``freq`` that is not a
        positive pandas frequency (``"0D"``, ``"banana"``).
    """
    _align_check_inputs(s1, s2)
    # the cube's grid, whichever way up the S1 input was stored; S2 the same way up, so grids that nest are seen to
    # (a y-increasing S2 under a north-up S1 went through the reprojection, slower and with GDAL's warning)
    s1, s2 = north_up(s1), north_up(s2)
    if terrain is not None:  # before any work: names, dims, nodata, packing, units (a DEM as rioxarray opens it)
        terrain = open_terrain(terrain, what="align: terrain")
    tol = as_timedelta(tolerance, "align: tolerance")
    if freq is not None:  # before any work: "0D" or "banana" would fail deep in pandas
        offset = period_offset(freq, "align: freq")
        freq = freq if isinstance(freq, str) else offset.freqstr
    flags = {"outlier_filter": outlier_filter, "keep_cloudy": keep_cloudy, "unpaired_views": unpaired_views}
    wrong = {k: v for k, v in flags.items() if not isinstance(v, (bool, np.bool_))}
    if wrong:  # a quoted "false" would read as true
        raise ConfigError(f"align: expected True or False for {', '.join(wrong)}, found {', '.join(f'{k}={v!r}' for k, v in wrong.items())}")
    if isinstance(min_clear_fraction, bool) or not isinstance(min_clear_fraction, (int, float)) or not 0 <= min_clear_fraction <= 1:
        raise ConfigError(f"align: min_clear_fraction: expected a fraction in [0, 1] (0.8, not 80), found {min_clear_fraction!r}")
    t1 = pd.DatetimeIndex(s1["time"].values)
    t2 = pd.DatetimeIndex(s2["time"].values)
    start, end = _align_common_span(t1, t2, tol, freq)
    if keep_cloudy and freq is not None:
        raise ConfigError(f"align: keep_cloudy needs the pairing mode (freq=None), found freq={freq!r}")
    if unpaired_views and freq is not None:
        raise ConfigError(f"align: unpaired_views needs the pairing mode (freq=None; a composite holds every view), found freq={freq!r}")
    nd, cf, grid_method, nd_raw = s2_onto_s1(s2, s1, needs_reprojection(s1, s2), raw=keep_cloudy)
    clear, clear_f = _align_clear(nd, cf, min_clear_fraction, outlier_filter, outlier_threshold, outlier_max_gap_days)
    nd_clear = nd.where(clear_f).astype(np.float32)
    if freq is None:
        nd_cloudy = nd_raw.where(~clear_f).astype(np.float32) if nd_raw is not None else None
        cube, mode = pair_onto_s1_dates(s1, nd_clear, nd_cloudy, t2, tol, unpaired_views=bool(unpaired_views))
    else:
        cube, mode = composite_periods(s1, nd_clear, t2, start, end, freq)
    cube = _align_finish_cube(cube, s1, terrain)
    summary: dict[str, Any] = {
        **mode,
        "s1_dates": int(t1.size),
        "s2_dates": int(t2.size),
        "cube_dates": int(cube.sizes["time"]),
        "pixels": int(cube.sizes["y"] * cube.sizes["x"]),
        "grid": grid_method,
        **s2_pixels_per_s1_pixel_summary(s2, s1),
        "min_clear_fraction": float(min_clear_fraction),
        "outlier_filter": bool(outlier_filter),
        "common_span": [str(start.date()), str(end.date())],
    }
    mask = clear_mask_source(s2)
    if mask is not None:  # the funnel's clear count says which mask it is of
        summary[CLEAR_MASK_KEY] = mask
    if compute_summary is None:
        compute_summary = not is_dask_backed(s1) and not is_dask_backed(s2)
    if compute_summary:
        _count_now(summary, _align_counts(s2, clear, clear_f, cube))
        warn_unpaired_views(summary, tol, kept=bool(unpaired_views))
        if summary.get("paired_pixel_dates") == 0:  # an option (tolerance, clear fraction, ...) left nothing: say so
            warnings.warn(f"align: the cube holds no NDVI value (tolerance {tol}, min_clear_fraction {min_clear_fraction}); funnel: "
                          f"{json.dumps({k: v for k, v in summary.items() if k != 'common_span'})}", UserWarning, stacklevel=2)
    cube.attrs = {SUMMARY_ATTR: json.dumps(summary), "title": CUBE_TITLE, "Conventions": CONVENTIONS}
    _log_summary(summary)
    cube = auto_chunk(cube)  # large in-memory cubes stream through the later stages
    check_chunk_memory(cube)
    return cube


def _align_check_inputs(s1: xr.Dataset, s2: xr.Dataset) -> None:
    """Datasets on ``(time, y, x)`` with the readers' bands and valid times."""
    for name, ds in (("S1", s1), ("S2", s2)):
        if not isinstance(ds, xr.Dataset):
            raise DimensionError(f"align: {name}: expected an xarray.Dataset (from open_s1/open_s2), found {type(ds).__name__}")
        if not {"time", "y", "x"} <= set(ds.dims):
            raise DimensionError(
                f"align: {name}: expected dims ('time', 'y', 'x'), found {tuple(ds.dims)}; "
                "open the data with open_s1/open_s2, which rename t/lat/lon and friends"
            )
    require_variables(s1, ["VV", "VH"], "align: S1")
    require_variables(s2, ["NDVI", "clear"], "align: S2")
    check_time(s1, "align: S1")
    check_time(s2, "align: S2")


def _align_common_span(
    t1: pd.DatetimeIndex, t2: pd.DatetimeIndex, tol: pd.Timedelta, freq: str | None
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Common span of the S1 and S2 dates (S2 widened by ``tol`` when pairing); raise when empty."""
    slack = tol if freq is None else pd.Timedelta(0)
    start, end = max(t1[0], t2[0] - slack), min(t1[-1], t2[-1] + slack)
    if start > end:
        raise TimeOverlapError(
            f"align: expected S1 and S2 with a common time span, found S1 {t1[0].date()}..{t1[-1].date()} "
            f"and S2 {t2[0].date()}..{t2[-1].date()} (tolerance {tol})"
        )
    return start, end


def _align_clear(
    nd: xr.DataArray,
    cf: xr.DataArray,
    min_clear_fraction: float,
    outlier_filter: bool,
    outlier_threshold: float,
    outlier_max_gap_days: float,
) -> tuple[xr.DataArray, xr.DataArray]:
    """Clear S1 pixels from the clear fraction, before and after the outlier filter."""
    clear = cf >= (min_clear_fraction - 1e-6)
    if min_clear_fraction <= 0:
        clear = cf > 0
    if not outlier_filter:
        return clear, clear
    return clear, filter_ndvi_outliers(nd, clear, threshold=outlier_threshold, max_gap_days=outlier_max_gap_days)


def _align_finish_cube(cube: xr.Dataset, s1: xr.Dataset, terrain: xr.Dataset | None) -> xr.Dataset:
    """Default CF attrs, static layers onto the S1 grid, the S1 CRS."""
    cube["NDVI"].attrs = cube["NDVI"].attrs or cf_attrs("NDVI")
    for v in ("VV", "VH"):
        cube[v].attrs = cube[v].attrs or cf_attrs(v)
    statics = terrain if terrain is not None else s1
    for name in bands_for("static"):
        if name in statics.data_vars:
            cube[name] = static_onto_s1(statics[name], s1, terrain is not None)
    if s1.rio.crs is not None:
        cube = cube.rio.write_crs(s1.rio.crs)
    return apply_cf(cube, "cube", fill=True)  # coordinates, grid mapping, Conventions


def _align_counts(s2: xr.Dataset, clear: xr.DataArray, clear_f: xr.DataArray, cube: xr.Dataset) -> dict[str, xr.DataArray]:
    """What survived each mask, as (lazy) counts of pixel-dates."""
    return {
        "s2_pixel_dates": xr.DataArray(s2["clear"].size),
        "s2_clear_pixel_dates": s2["clear"].sum(),
        "s2_clear_on_s1_grid": clear.sum(),
        "s2_clear_after_outlier_filter": clear_f.sum(),
        "s1_valid_pixel_dates": (cube["VV"].notnull() & cube["VH"].notnull()).sum(),
        "paired_pixel_dates": cube["NDVI"].notnull().sum(),
        **cube_view_counts(cube),
    }
