"""Shared plumbing of the single-sensor baselines: time axes in days and the lazy apply_ufunc wrapper."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DimensionError
from ..readers.cube import check_cube_values
from ..validate import check_time, naive_utc

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
        ``da`` with ``time`` sorted and last (one chunk along it when
        Dask-backed; values outside [-1, 1] masked, as the fusion stages mask
        them), the input days, the output days (both from the first input
        date) and the output dates.

    Raises
    ------
    DimensionError
        When ``da`` is not a DataArray with a ``time`` dimension, its time is
        not dates or holds NaT.
    DuplicateTimeError
        When a date repeats (a baseline would average or overwrite them).
    EncodingError
        NDVI with more than 1 % of its values outside [-1, 1] (NDVI x 10000,
        reflectance): now for in-memory values, when computed for Dask ones.

    Warns
    -----
    UserWarning
        A few values outside [-1, 1] (undeclared nodata such as -32768):
        treated as missing.
    """
    if not isinstance(da, xr.DataArray) or "time" not in da.dims:
        raise DimensionError(f"{what}: expected a DataArray with a 'time' dimension, found {getattr(da, 'dims', type(da).__name__)}")
    if isinstance(da["time"].dtype, pd.DatetimeTZDtype):
        da = da.assign_coords(time=naive_utc(pd.DatetimeIndex(da["time"].values)))
    check_time(da.to_dataset(name="__v"), what, unsorted_ok=True)
    if not da.indexes["time"].is_monotonic_increasing:  # the kernels search sorted days: sort, as mogpr does
        da = da.sortby("time")
    name = da.name
    da = check_cube_values(da.to_dataset(name="NDVI"), what)["NDVI"].rename(name)
    t_in = pd.DatetimeIndex(da["time"].values)
    t_out = t_in if times is None else naive_utc(pd.DatetimeIndex(np.atleast_1d(np.asarray(times))))
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
