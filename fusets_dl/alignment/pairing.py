"""Time, pairing mode: each S1 date of each pixel paired with the nearest clear S2 observation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..cf import cf_attrs

__all__ = ["UNPAIRED", "UNPAIRED_TIME", "pair_onto_s1_dates"]

#: The cube variable of the clear S2 views no S1 date took (``align(..., unpaired_views=True)``), on :data:`UNPAIRED_TIME`.
UNPAIRED = "NDVI_unpaired"
#: Its time dimension: the S2 dates.
UNPAIRED_TIME = "time_s2"


def _days(t: Any, origin: np.datetime64) -> np.ndarray:
    return (np.asarray(t, dtype="datetime64[ns]") - origin) / np.timedelta64(1, "D")


def _pair_nearest(vals: np.ndarray, t1: np.ndarray, t2: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel, the nearest non-NaN value of ``vals`` (..., n2) within ``tol`` days of each ``t1``.

    Ties are broken in favour of the earlier S2 observation. Returns the
    paired values and their offsets in days (S2 minus S1), both (..., n1),
    and ``vals`` (..., n2) with every view some S1 date took set to NaN:
    the views left unpaired.
    """
    n1 = t1.size
    out = np.full((*vals.shape[:-1], n1), np.nan, dtype=np.float32)
    off = np.full((*vals.shape[:-1], n1), np.nan, dtype=np.float32)
    used = np.zeros(vals.shape, dtype=bool)
    d = t2[None, :] - t1[:, None]
    for i in range(n1):
        cand = np.flatnonzero(np.abs(d[i]) <= tol)
        if cand.size == 0:
            continue
        order = cand[np.lexsort((d[i, cand], np.abs(d[i, cand])))]
        oi, fi = out[..., i], off[..., i]
        for j in order:
            v = vals[..., j]
            fill = np.isnan(oi) & ~np.isnan(v)
            oi[fill] = v[fill]
            fi[fill] = d[i, j]
            used[..., j] |= fill
    return out, off, np.where(used, np.nan, vals).astype(np.float32)


def pair_onto_s1_dates(
    s1: xr.Dataset,
    nd_clear: xr.DataArray,
    nd_cloudy: xr.DataArray | None,
    s2_times: pd.DatetimeIndex,
    tolerance: pd.Timedelta,
    unpaired_views: bool = False,
) -> tuple[xr.Dataset, dict[str, Any]]:
    """The fusion cube on the S1 dates, S2 NDVI paired per pixel within ``tolerance``.

    Parameters
    ----------
    s1 : xarray.Dataset
        ``VV``/``VH`` on ``(time, y, x)`` (and optionally ``orbit``).
    nd_clear : xarray.DataArray
        Clear S2 NDVI on the S1 grid, on the S2 dates (NaN where not clear).
    nd_cloudy : xarray.DataArray, optional
        NDVI of the S2 observations that are *not* clear; paired the same way
        into ``NDVI_cloudy`` when given.
    s2_times : pandas.DatetimeIndex
        The S2 dates (the time axis of ``nd_clear``).
    tolerance : pandas.Timedelta
        Largest distance between an S1 date and its paired S2 observation.
        Ties go to the earlier observation.
    unpaired_views : bool
        Also keep :data:`UNPAIRED` on ``(time_s2, y, x)``: the clear views of
        ``nd_clear`` that no S1 date took (NaN elsewhere), at their own dates,
        for the reconstruction.

    Notes
    -----
    The pairing does not look at ``VV``/``VH``: a pixel-date whose S1 is
    missing (swath edge, border noise) still carries its paired view. This
    is intended: training drops that row (its S1 features are incomplete)
    and the reconstruction keeps the view as an observation; left out, the
    view would be lost (or moved to :data:`UNPAIRED`). The funnel counts it
    in ``paired_pixel_dates`` (and a view paired to two S1 dates once in
    ``s2_views_paired``). Slices of one S1 pass, which made two half-empty
    dates each carrying every view, are merged into one date by
    :func:`~fusets_dl.readers.open_s1` (``slice_window``).

    Returns
    -------
    cube : xarray.Dataset
        ``VV``, ``VH``, ``NDVI``, ``NDVI_offset`` (days, S2 minus S1) and
        ``NDVI_cloudy`` when asked, on ``(time, y, x)``; :data:`UNPAIRED` when
        asked; lazy on Dask input.
    mode : dict
        ``{"mode": "pair", "tolerance_days": ...}`` for the summary.
    """
    t1 = pd.DatetimeIndex(s1["time"].values)
    t2 = s2_times
    origin = np.datetime64(min(t1[0], t2[0]).floor("D"), "ns")
    d1, d2 = _days(t1.values, origin), _days(t2.values, origin)
    tol_days = tolerance / pd.Timedelta(days=1)

    def _pair_vals(v: np.ndarray) -> np.ndarray:
        return _pair_nearest(v, d1, d2, tol_days)[0]

    def _pair_offs(v: np.ndarray) -> np.ndarray:
        return _pair_nearest(v, d1, d2, tol_days)[1]

    def _left_views(v: np.ndarray) -> np.ndarray:
        return _pair_nearest(v, d1, d2, tol_days)[2]

    kw: dict[str, Any] = {
        "input_core_dims": [["time_s2"]],
        "output_core_dims": [["time"]],
        "dask": "parallelized",
        "output_dtypes": [np.float32],
        "dask_gufunc_kwargs": {"output_sizes": {"time": t1.size}},
    }

    def _on_s1_dates(func: Any, da: xr.DataArray) -> xr.DataArray:
        out = xr.apply_ufunc(func, da.rename(time="time_s2"), **kw)
        return out.assign_coords(time=s1["time"]).transpose("time", "y", "x")

    cube = xr.Dataset(coords={"y": s1["y"], "x": s1["x"]})
    for v in ("VV", "VH"):
        cube[v] = s1[v]
    cube["NDVI"] = _on_s1_dates(_pair_vals, nd_clear)
    cube["NDVI_offset"] = _on_s1_dates(_pair_offs, nd_clear)
    cube["NDVI_offset"].attrs = cf_attrs("NDVI_offset")
    if nd_cloudy is not None:
        cube["NDVI_cloudy"] = _on_s1_dates(_pair_vals, nd_cloudy)
        cube["NDVI_cloudy"].attrs = cf_attrs("NDVI_cloudy")
    if unpaired_views:
        left = xr.apply_ufunc(_left_views, nd_clear.rename(time=UNPAIRED_TIME), input_core_dims=[[UNPAIRED_TIME]],
                              output_core_dims=[[UNPAIRED_TIME]], dask="parallelized", output_dtypes=[np.float32])
        cube[UNPAIRED] = left.assign_coords({UNPAIRED_TIME: np.asarray(t2.values)}).transpose(UNPAIRED_TIME, "y", "x")
        cube[UNPAIRED].attrs = cf_attrs(UNPAIRED)
    if "orbit" in s1.coords:
        cube = cube.assign_coords(orbit=s1["orbit"])
    return cube, {"mode": "pair", "tolerance_days": tol_days}
