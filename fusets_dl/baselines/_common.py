"""Shared plumbing of the single-sensor baselines: time axes in days and the lazy apply_ufunc wrapper."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DimensionError

__all__ = ["prepare", "wrap"]


def prepare(da: xr.DataArray, times: object, what: str) -> tuple[xr.DataArray, np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """Check a series and put its time axis last, in days from its first date.

    Parameters
    ----------
    da : xarray.DataArray
        Values on ``time`` and any pixel dimensions.
    times : array-like of datetime, optional
        Output dates (``None``: the input dates).
    what : str
        The caller's name, for error messages.

    Returns
    -------
    tuple
        ``da`` with ``time`` last (one chunk along it when Dask-backed), the
        input days, the output days (both from the first input date) and the
        output dates.

    Raises
    ------
    DimensionError
        When ``da`` is not a DataArray with a ``time`` dimension.
    """
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


def wrap(da: xr.DataArray, fn: Callable[..., np.ndarray], t_out: pd.DatetimeIndex, name: str, **kw: object) -> xr.DataArray:
    """Apply a NumPy kernel ``(..., time) -> (..., time_out)`` over pixels, lazily on Dask input.

    Parameters
    ----------
    da : xarray.DataArray
        As :func:`prepare` returns it.
    fn : callable
        The kernel; gets float64 values and ``kw``, returns float32.
    t_out : pandas.DatetimeIndex
        Output dates.
    name : str
        Name of the result.
    **kw
        Keyword arguments of ``fn``.

    Returns
    -------
    xarray.DataArray
        float32 on ``time`` (``t_out``) first, then the pixel dimensions.
    """
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
