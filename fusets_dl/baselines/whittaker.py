"""Whittaker smoother of the clear S2 series alone (a single-sensor baseline)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import ConfigError
from ..smoothing import whittaker
from ._common import prepare, wrap

__all__ = ["whittaker_baseline"]


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
    da, days, qdays, t_out = prepare(ndvi, times, "whittaker_baseline")
    return wrap(da, _whittaker_kernel, t_out, "NDVI", days=days, qdays=qdays, lam=float(lam))
