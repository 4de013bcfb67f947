"""Time, compositing mode: S1 and S2 reduced onto regular periods (S1 mean in linear power, S2 median)."""

from __future__ import annotations

import datetime as _dt
import warnings
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._series import nanmedian_last
from ..cf import cf_attrs
from ..errors import ConfigError, TimeOverlapError
from ..readers.encoding import db_to_linear, linear_to_db

__all__ = ["composite_periods", "period_offset"]


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


def period_offset(freq: Any, what: str = "align: freq") -> pd.DateOffset:
    """A compositing period as a positive pandas offset.

    Parameters
    ----------
    freq : str, pandas.DateOffset or timedelta
        A pandas frequency: a fixed length (``"5D"``, ``"12h"``) or a
        calendar one (``"MS"``, ``"QS"``, ``"W"``).
    what : str
        What is being set, for the error message.

    Returns
    -------
    pandas.DateOffset
        The offset (pandas' deprecation warnings, e.g. for ``"M"``, pass through).

    Raises
    ------
    ConfigError
        Anything else: not a frequency (``"banana"``, ``5``), or a period of
        length zero or less (``"0D"``, ``"-5D"``).
    """
    expected = "expected a positive period (a pandas frequency) such as '5D', '10D' or 'MS'"
    if not isinstance(freq, (str, pd.DateOffset, _dt.timedelta, np.timedelta64)):
        raise ConfigError(f"{what}: {expected}, found {type(freq).__name__} {freq!r}")
    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: {expected}, found {freq!r}, which is not a pandas frequency") from exc
    probe = pd.DatetimeIndex(["2000-01-01"])  # nanosecond dates, as the cube's
    try:
        positive = offset.n > 0 and bool((probe + offset)[0] > probe[0])
    except (TypeError, ValueError, OverflowError) as exc:  # out of the range of nanosecond dates (1677..2262)
        raise ConfigError(f"{what}: {expected}, found {freq!r}, a period longer than pandas dates can hold") from exc
    if not positive:
        raise ConfigError(f"{what}: {expected}, found {freq!r}, a period of length zero or less")
    return offset


#: The most compositing periods ``align(freq=...)`` builds (one hour over 11 years): a ``freq`` of seconds
#: or minutes would build millions of empty periods, for minutes and gigabytes before any error.
MAX_PERIODS = 100_000


def _period_edges(start: pd.Timestamp, end: pd.Timestamp, freq: str | pd.DateOffset) -> pd.DatetimeIndex:
    """Edges of the periods covering ``start`` (floored to the day) .. ``end``.

    A fixed-length ``freq`` (``"10D"``) gives edges every ``freq`` from the
    floored start. A calendar one (``"MS"``, ``"W"``) gives its anchors, with
    the floored start prepended when it is not on one: a shorter first period
    from the start of the span to the first anchor, so no date of the span is
    dropped. The last period is a whole one, holding ``end``.
    """
    with warnings.catch_warnings():  # align has checked freq (and let pandas' deprecations through) already
        warnings.simplefilter("ignore", FutureWarning)
        offset = period_offset(freq)
    first = start.floor("D")
    probe = pd.Timestamp("2000-01-01")
    count = (end - first) / ((probe + offset) - probe)  # about the number of periods, before building them
    if count > MAX_PERIODS:
        raise ConfigError(f"align: freq: expected at most {MAX_PERIODS:,} periods over the span {first.date()}..{end.date()}, found "
                          f"{freq!r}, which makes about {count:,.0f}: compositing periods are days long (e.g. '5D', '10D', 'MS'); "
                          "pass freq=None to keep the S1 dates")
    edges = pd.date_range(first, end + offset, freq=offset)
    if edges.size == 0 or edges[0] > first:  # a calendar frequency rolled forward to its first anchor
        edges = edges.insert(0, first)
    if edges.size < 2 or edges[-1] <= end:  # cannot happen for a positive offset; never compose an empty cube
        raise TimeOverlapError(f"align: the common span {start}..{end} holds no period of {freq}")
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
    freq: str | pd.DateOffset,
) -> tuple[xr.Dataset, dict[str, Any]]:
    """The fusion cube on regular periods of ``freq`` from ``start`` (floored to the day) to ``end``.

    With a calendar frequency (``"MS"``, ``"QS"``, ``"W"``) the periods
    follow its anchors, and when the span does not start on one the first
    period is shorter: from ``start`` to the first anchor. The last period
    is a whole one, holding ``end``. ``time`` is the middle of each period's
    bounds, the short first one included.

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
    freq : str or pandas.DateOffset
        Period length (pandas frequency such as ``"12D"`` or ``"MS"``).

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
    ConfigError
        A ``freq`` that is not a positive pandas frequency.
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
    label = freq if isinstance(freq, str) else period_offset(freq).freqstr
    return cube, {"mode": "composite", "freq": label, "periods": int(nper)}
