"""Linear interpolation in time of the clear S2 series alone (a single-sensor baseline)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._series import valid_neighbours
from ._common import prepare, wrap

__all__ = ["interpolate_linear"]


def _linear_kernel(v: np.ndarray, *, days: np.ndarray, qdays: np.ndarray) -> np.ndarray:
    """Linear interpolation between the nearest valid dates; NaN outside the first/last one."""
    nt = v.shape[-1]
    if nt == 0:
        return np.full((*v.shape[:-1], qdays.size), np.nan, dtype=np.float32)
    pj, nj = valid_neighbours(np.isfinite(v), days, qdays, qdays, strict=False)
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
    da, days, qdays, t_out = prepare(ndvi, times, "interpolate_linear")
    return wrap(da, _linear_kernel, t_out, "NDVI", days=days, qdays=qdays)
