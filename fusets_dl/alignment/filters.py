"""Filters applied while aligning: the S2 outlier (negative spike) filter."""

from __future__ import annotations

import numpy as np
import xarray as xr

from .._series import next_index, prev_index, take
from ..errors import DimensionError

__all__ = ["filter_ndvi_outliers"]


def _spike_flags(values: np.ndarray, days: np.ndarray, max_gap: float, threshold: float) -> np.ndarray:
    """Flag negative spikes along the last axis (time) of ``values``.

    An observation is flagged when both its previous and next valid
    observations lie within ``max_gap`` days and exceed it by more than
    ``threshold``. Vectorised over all leading axes.
    """
    valid = np.isfinite(values)
    prev_idx, next_idx = prev_index(valid), next_index(valid)
    pv, nv = take(values, prev_idx), take(values, next_idx)
    dprev = days - take(np.broadcast_to(days, values.shape), prev_idx)
    dnext = take(np.broadcast_to(days, values.shape), next_idx) - days
    # comparisons with NaN (no neighbour) are False
    near = (dprev <= max_gap) & (dnext <= max_gap)
    drop = (np.minimum(pv, nv) - values) > threshold
    return valid & near & drop


def filter_ndvi_outliers(
    ndvi_da: xr.DataArray,
    clear: xr.DataArray,
    *,
    threshold: float = 0.15,
    max_gap_days: float = 20.0,
) -> xr.DataArray:
    """Remove clear S2 observations that look like residual cloud or shadow.

    A clear observation is an outlier when NDVI drops by more than
    ``threshold`` below *both* the previous and the next clear observation of
    the same pixel, and both neighbours lie within ``max_gap_days``: a sharp
    drop that recovers within days is not vegetation (harvest drops do not
    recover). Mowing or harvest followed by regrowth within ``max_gap_days``
    can be flagged too; keep ``max_gap_days`` short for that reason.

    Parameters
    ----------
    ndvi_da : xarray.DataArray
        NDVI with a ``time`` dimension.
    clear : xarray.DataArray
        Boolean clear mask, same shape.
    threshold : float
        Minimum drop in NDVI units below both neighbours.
    max_gap_days : float
        Neighbours must lie within this many days.

    Returns
    -------
    xarray.DataArray
        The updated boolean clear mask (outliers set to False), lazy on Dask input.

    Raises
    ------
    DimensionError
        When ``ndvi_da`` has no ``time`` dimension.
    """
    if "time" not in ndvi_da.dims:
        raise DimensionError(f"expected a 'time' dimension, found dims {ndvi_da.dims}")
    days = ((ndvi_da["time"] - ndvi_da["time"][0]) / np.timedelta64(1, "D")).values.astype(np.float64)
    masked = ndvi_da.where(clear)

    def _kernel(v: np.ndarray) -> np.ndarray:
        return _spike_flags(v, days, max_gap_days, threshold)

    flags = xr.apply_ufunc(
        _kernel,
        masked,
        input_core_dims=[["time"]],
        output_core_dims=[["time"]],
        dask="parallelized",
        output_dtypes=[bool],
    ).transpose(*clear.dims)
    out = clear & ~flags
    out.attrs = dict(clear.attrs)
    out.attrs["outlier_filter"] = f"negative spikes > {threshold} NDVI recovering within {max_gap_days} days"
    out.name = "clear"
    return out
