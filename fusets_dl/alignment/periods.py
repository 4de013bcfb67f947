"""Time, compositing mode: S1 and S2 reduced onto regular periods (S1 mean in linear power, S2 median)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._series import nanmedian_last
from ..cf import cf_attrs
from ..errors import TimeOverlapError
from ..readers.encoding import db_to_linear, linear_to_db

__all__ = ["composite_periods"]


def _nanreduce(sub: np.ndarray, how: str) -> np.ndarray:
    """NaN-skipping mean, median or count along the last axis, without warnings."""
    ok = np.isfinite(sub)
    n = ok.sum(axis=-1)
    if how == "count":
        return n.astype(np.float64)
    if how == "mean":
        total = np.where(ok, sub, 0.0).sum(axis=-1)
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return nanmedian_last(sub)[..., 0]


def _composite(vals: np.ndarray, labels: np.ndarray, nper: int, how: str) -> np.ndarray:
    """Reduce ``vals`` (..., n) over the time positions sharing a period label."""
    out = np.full((*vals.shape[:-1], nper), 0.0 if how == "count" else np.nan, dtype=np.float64)
    for p in range(nper):
        idx = np.flatnonzero(labels == p)
        if idx.size:
            out[..., p] = _nanreduce(vals[..., idx].astype(np.float64), how)
    return out


def _period_edges(start: pd.Timestamp, end: pd.Timestamp, freq: str) -> pd.DatetimeIndex:
    edges = pd.date_range(start.floor("D"), end + pd.tseries.frequencies.to_offset(freq), freq=freq)
    if edges.size < 2:
        raise TimeOverlapError(f"align: the common span {start}..{end} holds no full period of {freq}")
    return edges


def _labels(times: pd.DatetimeIndex, edges: pd.DatetimeIndex) -> np.ndarray:
    """Period index of each time; -1 outside the periods."""
    nper = edges.size - 1
    lab = np.searchsorted(edges.values, times.values, side="right") - 1
    lab[(times.values < edges[0].to_datetime64()) | (lab >= nper)] = -1
    return lab


def composite_periods(
    s1: xr.Dataset,
    nd_clear: xr.DataArray,
    s2_times: pd.DatetimeIndex,
    start: pd.Timestamp,
    end: pd.Timestamp,
    freq: str,
) -> tuple[xr.Dataset, dict[str, Any]]:
    """The fusion cube on regular periods of ``freq`` from ``start`` (floored to the day) to ``end``.

    Parameters
    ----------
    s1 : xarray.Dataset
        ``VV``/``VH`` in dB on ``(time, y, x)``.
    nd_clear : xarray.DataArray
        Clear S2 NDVI on the S1 grid, on the S2 dates (NaN where not clear).
    s2_times : pandas.DatetimeIndex
        The S2 dates (the time axis of ``nd_clear``).
    start, end : pandas.Timestamp
        The common time span of S1 and S2.
    freq : str
        Period length (pandas offset such as ``"12D"``).

    Returns
    -------
    cube : xarray.Dataset
        ``VV``/``VH`` (mean in linear power, in dB), ``NDVI`` (median of the
        clear observations), the counts ``n_s1`` and ``n_s2_clear``, and
        ``time_bnds``; ``time`` labels the period centres.
    mode : dict
        ``{"mode": "composite", "freq": ..., "periods": ...}`` for the summary.

    Raises
    ------
    TimeOverlapError
        When the span holds no full period.
    """
    edges = _period_edges(start, end, freq)
    nper = edges.size - 1
    centres = edges[:-1] + (edges[1:] - edges[:-1]) / 2
    lab1 = _labels(pd.DatetimeIndex(s1["time"].values), edges)
    lab2 = _labels(s2_times, edges)

    def _reduce(da: xr.DataArray, labels: np.ndarray, how: str) -> xr.DataArray:
        out = xr.apply_ufunc(
            _composite,
            da.rename(time="time_in"),
            input_core_dims=[["time_in"]],
            output_core_dims=[["time"]],
            kwargs={"labels": labels, "nper": nper, "how": how},
            dask="parallelized",
            output_dtypes=[np.float64],
            dask_gufunc_kwargs={"output_sizes": {"time": nper}},
        )
        return out.assign_coords(time=centres.values).transpose("time", "y", "x")

    cube = xr.Dataset(coords={"y": s1["y"], "x": s1["x"]})
    for v in ("VV", "VH"):
        lin = _reduce(db_to_linear(s1[v].astype(np.float64)), lab1, "mean")
        cube[v] = linear_to_db(lin).astype(np.float32)
        cube[v].attrs = cf_attrs(v, cell_methods="time: mean (linear power)")
    cube["NDVI"] = _reduce(nd_clear, lab2, "median").astype(np.float32)
    cube["NDVI"].attrs = cf_attrs("NDVI", cell_methods="time: median (clear observations)")
    cube["n_s1"] = _reduce(s1["VV"], lab1, "count").astype(np.int16)
    cube["n_s1"].attrs = cf_attrs("n_s1")
    cube["n_s2_clear"] = _reduce(nd_clear, lab2, "count").astype(np.int16)
    cube["n_s2_clear"].attrs = cf_attrs("n_s2_clear")
    cube["time_bnds"] = xr.DataArray(np.stack([edges[:-1].values, edges[1:].values], axis=1), dims=("time", "bnds"))
    cube["time"].attrs["bounds"] = "time_bnds"
    for v in ("time", "time_bnds"):  # one CF unit for a time and its bounds
        cube[v].encoding.update({"units": "seconds since 1970-01-01", "dtype": "float64"})
    return cube, {"mode": "composite", "freq": freq, "periods": int(nper)}
