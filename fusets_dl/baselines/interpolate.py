"""Single-sensor baselines on the clear S2 series alone: linear interpolation and a Whittaker smoother."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .._series import next_index, prev_index
from ..errors import ConfigError, DimensionError
from ..smooth import whittaker

__all__ = ["interpolate_linear", "whittaker_baseline"]


def _prepare(da: xr.DataArray, times: object, what: str) -> tuple[xr.DataArray, np.ndarray, np.ndarray, pd.DatetimeIndex]:
    if not isinstance(da, xr.DataArray) or "time" not in da.dims:
        raise DimensionError(f"{what}: expected a DataArray with a 'time' dimension, found {getattr(da, 'dims', type(da).__name__)}")
    t_in = pd.DatetimeIndex(da["time"].values)
    t_out = t_in if times is None else pd.DatetimeIndex(np.atleast_1d(np.asarray(times)))
    origin = t_in[0] if len(t_in) else pd.Timestamp(0)
    days = ((t_in - origin) / pd.Timedelta(days=1)).to_numpy(np.float64)
    qdays = ((t_out - origin) / pd.Timedelta(days=1)).to_numpy(np.float64)
    da = da.transpose(..., "time")
    if da.chunks is not None:
        da = da.chunk({"time": -1})
    return da, days, qdays, t_out


def _wrap(da: xr.DataArray, fn: object, t_out: pd.DatetimeIndex, name: str, **kw: object) -> xr.DataArray:
    out = xr.apply_ufunc(
        fn,
        da.astype(np.float64),
        input_core_dims=[["time"]],
        output_core_dims=[["__t"]],
        kwargs=kw,
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"__t": len(t_out)}},
    )
    out = out.rename({"__t": "time"}).assign_coords(time=t_out.values)
    return out.transpose("time", ...).rename(name)


def _linear_kernel(v: np.ndarray, *, days: np.ndarray, qdays: np.ndarray) -> np.ndarray:
    """Linear interpolation between the nearest valid dates; NaN outside the first/last one."""
    nt = v.shape[-1]
    if nt == 0:
        return np.full((*v.shape[:-1], qdays.size), np.nan, dtype=np.float32)
    ok = np.isfinite(v)
    here = np.arange(nt)
    prev_incl = np.where(ok, here, prev_index(ok))  # last valid index <= i
    next_incl = np.where(ok, here, next_index(ok))  # first valid index >= i
    after = np.searchsorted(days, qdays, side="right")  # inputs [0, after) are <= q
    start = np.searchsorted(days, qdays, side="left")  # inputs [start, nt) are >= q
    pj = np.where(after > 0, np.take(prev_incl, np.clip(after - 1, 0, nt - 1), axis=-1), -1)
    nj = np.where(start < nt, np.take(next_incl, np.clip(start, 0, nt - 1), axis=-1), nt)
    has = (pj >= 0) & (nj < nt)
    pc, nc = np.clip(pj, 0, nt - 1), np.clip(nj, 0, nt - 1)
    vp, vn = np.take_along_axis(v, pc, -1), np.take_along_axis(v, nc, -1)
    dp, dn = days[pc], days[nc]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(dn > dp, (qdays - dp) / (dn - dp), 0.0)
    return np.where(has, vp + frac * (vn - vp), np.nan).astype(np.float32)


def interpolate_linear(ndvi: xr.DataArray, times: object = None) -> xr.DataArray:
    """Linear interpolation in time between the clear observations of each pixel.

    Parameters
    ----------
    ndvi : xarray.DataArray
        Clear NDVI (NaN where cloudy) on ``time`` and any pixel dimensions.
    times : array-like of datetime, optional
        Output dates (default: the input dates).

    Returns
    -------
    xarray.DataArray
        float32; NaN before the first and after the last clear date of a pixel
        (no extrapolation). Lazy on Dask input.
    """
    da, days, qdays, t_out = _prepare(ndvi, times, "interpolate_linear")
    return _wrap(da, _linear_kernel, t_out, "NDVI", days=days, qdays=qdays)


def _whittaker_kernel(v: np.ndarray, *, days: np.ndarray, qdays: np.ndarray, lam: float) -> np.ndarray:
    """Whittaker on a daily grid spanning inputs and queries, sampled at the query days."""
    lo = np.floor(min(days.min(), qdays.min())) if days.size else 0.0
    hi = np.ceil(max(days.max(), qdays.max())) if days.size else 0.0
    grid = np.arange(lo, hi + 1.0)
    cell = np.rint(days - lo).astype(np.int64)
    lead = v.shape[:-1]
    y = np.zeros((*lead, grid.size))
    w = np.zeros_like(y)
    for i in range(days.size):
        ok = np.isfinite(v[..., i])
        y[..., cell[i]] += np.where(ok, v[..., i], 0.0)
        w[..., cell[i]] += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(w > 0, y / w, np.nan)
    z = whittaker(y, w, lam)
    # no extrapolation beyond the pixel's first and last clear date
    first = np.where(w.any(-1), np.argmax(w > 0, axis=-1), grid.size)
    last = np.where(w.any(-1), grid.size - 1 - np.argmax(w[..., ::-1] > 0, axis=-1), -1)
    q = np.rint(qdays - lo).astype(np.int64)
    out = z[..., q]
    inside = (q >= first[..., None]) & (q <= last[..., None])
    return np.where(inside, out, np.nan).astype(np.float32)


def whittaker_baseline(ndvi: xr.DataArray, times: object = None, *, lam: float = 1000.0) -> xr.DataArray:
    """Whittaker smoother (second differences, daily grid) of the clear S2 series alone.

    Parameters
    ----------
    ndvi : xarray.DataArray
        Clear NDVI (NaN where cloudy) on ``time`` and any pixel dimensions.
    times : array-like of datetime, optional
        Output dates (default: the input dates).
    lam : float
        Smoothing parameter for the 1-day grid (the reconstruction's default).

    Returns
    -------
    xarray.DataArray
        float32, NaN outside each pixel's first and last clear date. Lazy on
        Dask input.
    """
    if lam <= 0:
        raise ConfigError(f"whittaker_baseline: lam: expected > 0, found {lam}")
    da, days, qdays, t_out = _prepare(ndvi, times, "whittaker_baseline")
    return _wrap(da, _whittaker_kernel, t_out, "NDVI", days=days, qdays=qdays, lam=float(lam))
