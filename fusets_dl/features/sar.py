"""The S1 time-series kernel: the columns of the ``sar`` and ``time`` groups.

Lags, differences, ``dt`` and rolling means follow the *valid* acquisitions of
each pixel (VV and VH both finite), not array slots: a missing date does not
poison the lag of the next one, and the same features arise whether a site is
seen every 6 days from one orbit or from two alternating orbits.

Both groups come from one pass of :func:`feature_kernel` over the S1 series
(the ``time`` columns are NaN where the acquisition is invalid, as the ``sar``
columns are); each group's compute function takes its slice of that pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from .._series import follow as _follow
from .._series import nanmedian_last as _nanmedian_last
from .._series import next_index as _next_index
from .._series import prev_index as _prev_index
from .._series import take as _take
from ..errors import DimensionError
from . import sar_compiled as _sar_compiled

if TYPE_CHECKING:
    from .inputs import FeatureInputs
    from .spec import FeatureSpec

__all__ = ["feature_kernel", "feature_kernel_numpy", "sar_features", "sar_names", "time_features", "time_names"]

_DB_FLOOR = -40.0  # dB; darker values are noise floor


# --------------------------------------------------------------------------- names

def sar_names(spec: FeatureSpec) -> list[str]:
    """Names of the ``sar`` group's features, in column order.

    Parameters
    ----------
    spec : FeatureSpec
        The switches (``backscatter``, ``rvi``, ``ratios``, ``interaction``,
        ``lags``, ``differences``, ``dt``, ``rolling``, ``windows``,
        ``trends``, ``anomaly``).

    Returns
    -------
    list of str
        ``VV``, ``VH``, ``RVI``, .. as switched on.
    """
    out: list[str] = []
    if spec.backscatter:
        out += ["VV", "VH"]
    if spec.rvi:
        out.append("RVI")
    if spec.ratios:
        out += ["VV_VH_dB", "VH_VV"]
    if spec.interaction:
        out.append("VVxVH")
    for k in range(1, spec.lags + 1):
        out += [f"VV_lag{k}", f"VH_lag{k}"]
        if spec.differences:
            out += [f"dVV_lag{k}", f"dVH_lag{k}"]
        if spec.dt:
            out.append(f"dt_lag{k}")
    if spec.rolling > 1:
        out += ["VV_roll", "VH_roll"]
    for w in spec.windows:
        out += [f"VV_w{w}", f"VH_w{w}", f"VV_VH_w{w}"]
    for w in spec.trends:
        out += [f"dVV_trend{w}", f"dVH_trend{w}"]
    if spec.anomaly:
        out += ["VV_anom", "VH_anom"]
    return out


def time_names(spec: FeatureSpec) -> list[str]:
    """Names of the ``time`` group's features: ``doy_sin``, ``doy_cos`` when ``spec.doy``.

    Parameters
    ----------
    spec : FeatureSpec
        The spec (``doy`` switch).

    Returns
    -------
    list of str
        The day-of-year features, or none.
    """
    return ["doy_sin", "doy_cos"] if spec.doy else []


# --------------------------------------------------------------------------- lazy group outputs

def sar_features(inputs: FeatureInputs) -> xr.DataArray:
    """The ``sar`` group's features (time, y, x, feature), lazy on Dask input.

    Parameters
    ----------
    inputs : FeatureInputs
        The prepared inputs of the call.

    Returns
    -------
    xarray.DataArray
        float32, one feature per name of :func:`sar_names`.
    """
    n_sar, _ = _kernel_widths(inputs.spec)
    return inputs.shared("series_kernel", _series_kernel).isel(feature=slice(0, n_sar))


def time_features(inputs: FeatureInputs) -> xr.DataArray:
    """The ``time`` group's features (time, y, x, feature), lazy on Dask input.

    Parameters
    ----------
    inputs : FeatureInputs
        The prepared inputs of the call.

    Returns
    -------
    xarray.DataArray
        float32, one feature per name of :func:`time_names`.
    """
    n_sar, n_time = _kernel_widths(inputs.spec)
    return inputs.shared("series_kernel", _series_kernel).isel(feature=slice(n_sar, n_sar + n_time))


def _kernel_widths(spec: FeatureSpec) -> tuple[int, int]:
    """Number of ``sar`` and ``time`` columns that :func:`feature_kernel` returns for ``spec``."""
    n_sar = len(sar_names(spec)) if "sar" in spec.groups else 0
    n_time = len(time_names(spec)) if "time" in spec.groups else 0
    return n_sar, n_time


def _series_kernel(inputs: FeatureInputs) -> xr.DataArray:
    """One :func:`feature_kernel` pass over the S1 series: the ``sar`` then the ``time`` columns."""
    days, doy, spec, groups = inputs.days, inputs.doy, inputs.spec, inputs.orbits

    def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return feature_kernel(a, b, days, doy, spec, groups)  # the SAR and time columns only

    return xr.apply_ufunc(
        _kernel,
        inputs.vv,
        inputs.vh,
        input_core_dims=[["time"], ["time"]],
        output_core_dims=[["time", "feature"]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"feature": sum(_kernel_widths(spec))}},
    ).transpose("time", "y", "x", "feature")


# --------------------------------------------------------------------------- kernel

def feature_kernel(
    vv: np.ndarray,
    vh: np.ndarray,
    days: np.ndarray,
    doy: np.ndarray,
    spec: FeatureSpec,
    groups: np.ndarray | None = None,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Features of pixel time series: the ``sar`` then the ``time`` columns of ``spec``.

    Computed by the compiled kernel of :mod:`.sar_compiled` (numba, compiled
    on first use; it releases the GIL), whose columns are bit-identical to
    those of :func:`feature_kernel_numpy`, the NumPy formulation.

    Parameters
    ----------
    vv, vh : numpy.ndarray
        Backscatter in dB, shape (..., time), float32 or float64, any strides.
    days : numpy.ndarray
        Days since an origin for each time, shape (time,).
    doy : numpy.ndarray
        Fractional day of year for each time, shape (time,).
    spec : FeatureSpec
        What to compute.
    groups : numpy.ndarray, optional
        Integer relative-orbit group of each time (shape (time,)); lags,
        rolling means and the anomaly stay within a group when
        ``spec.lag_mode == "orbit"``. None: one group.
    out : numpy.ndarray, optional
        float32 array (..., time, feature) to write into, e.g. a column slice
        ``buf[..., a:b]`` of a larger buffer (any strides). None: a new array.

    Returns
    -------
    numpy.ndarray
        float32 array (..., time, feature) (``out`` when given); NaN where a
        feature is undefined (the acquisition itself invalid, or no earlier
        valid acquisition for a lag).

    Raises
    ------
    DimensionError
        When ``vv`` and ``vh`` differ in shape, ``days``, ``doy`` or
        ``groups`` do not have one value per time, or ``out`` is not a
        float32 array of the result's shape.
    """
    vv, vh = np.asarray(vv), np.asarray(vh)
    shape = _check_kernel_args(vv, vh, days, doy, groups)
    lead, nt = shape[:-1], shape[-1]
    ncol = sum(_kernel_widths(spec))
    full = (*lead, nt, ncol)
    if out is None:
        out = np.empty(full, dtype=np.float32)
    elif not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != full:
        found = f"{out.dtype} array of shape {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise DimensionError(f"feature_kernel: expected out to be a float32 array of shape {full}, found a {found}")
    if not _sar_compiled.available():  # pragma: no cover - numba is a core dependency
        out[...] = feature_kernel_numpy(vv, vh, days, doy, spec, groups)
        return out
    npix = math.prod(lead)
    vv2 = np.ascontiguousarray(vv, dtype=np.float32).reshape(npix, nt)
    vh2 = np.ascontiguousarray(vh, dtype=np.float32).reshape(npix, nt)
    try:  # a view of out as (pixel, time, feature): written in place
        out3 = np.reshape(out, (npix, nt, ncol), copy=False)
    except ValueError:  # strides that do not merge into one pixel axis: compute, then copy in
        out[...] = _sar_compiled.kernel_columns(vv2, vh2, days, doy, spec, groups, np.empty((npix, nt, ncol), np.float32)).reshape(full)
        return out
    _sar_compiled.kernel_columns(vv2, vh2, days, doy, spec, groups, out3)
    return out


def _check_kernel_args(vv: np.ndarray, vh: np.ndarray, days: np.ndarray, doy: np.ndarray, groups: np.ndarray | None) -> tuple[int, ...]:
    """The shape (..., time) of the series, after checking that the arguments of :func:`feature_kernel` agree."""
    if vv.ndim < 1 or vv.shape != vh.shape:
        raise DimensionError(f"feature_kernel: expected vv and vh of one shape (..., time), found {vv.shape} and {vh.shape}")
    nt = vv.shape[-1]
    for name, arr in (("days", days), ("doy", doy), ("groups", groups)):
        if arr is not None and np.shape(arr) != (nt,):
            raise DimensionError(f"feature_kernel: expected {name} of shape ({nt},) (one value per time), found {np.shape(arr)}")
    return vv.shape


def feature_kernel_numpy(
    vv: np.ndarray,
    vh: np.ndarray,
    days: np.ndarray,
    doy: np.ndarray,
    spec: FeatureSpec,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`feature_kernel` in NumPy, vectorised over (..., time): the reference of the compiled kernel.

    Parameters
    ----------
    vv, vh : numpy.ndarray
        Backscatter in dB, shape (..., time).
    days : numpy.ndarray
        Days since an origin for each time, shape (time,).
    doy : numpy.ndarray
        Fractional day of year for each time, shape (time,).
    spec : FeatureSpec
        What to compute.
    groups : numpy.ndarray, optional
        Integer relative-orbit group of each time (shape (time,)); lags,
        rolling means and the anomaly stay within a group when
        ``spec.lag_mode == "orbit"``. None: one group.

    Returns
    -------
    numpy.ndarray
        float32 array (..., time, feature); NaN where a feature is undefined
        (the acquisition itself invalid, or no earlier valid acquisition for a lag).
    """
    vv, vh, valid = _clean_backscatter(vv, vh)
    cols: list[np.ndarray] = []
    if "sar" in spec.groups:
        nt = vv.shape[-1]
        grp = np.zeros(nt, dtype=np.int64) if groups is None or spec.lag_mode == "any" else np.asarray(groups)
        cols += _sar_columns(vv, vh, valid, days, grp, spec, _normalise_groups(spec, groups, nt))
    if "time" in spec.groups and spec.doy:
        cols += _doy_columns(doy, vv.shape)
    out = np.empty((*vv.shape, len(cols)), dtype=np.float32)
    for i, c in enumerate(cols):  # cast while copying: no float32 temporary per float64 column
        out[..., i] = c
    if "sar" in spec.groups:
        out[~valid] = np.nan
    return out


def _clean_backscatter(vv: np.ndarray, vh: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """float32 VV, VH floored at the noise floor, NaN where either is missing, and the validity mask."""
    vv = np.asarray(vv, dtype=np.float32)
    vh = np.asarray(vh, dtype=np.float32)
    vv = np.where(vv < _DB_FLOOR, _DB_FLOOR, vv)
    vh = np.where(vh < _DB_FLOOR, _DB_FLOOR, vh)
    valid = np.isfinite(vv) & np.isfinite(vh)
    return np.where(valid, vv, np.nan), np.where(valid, vh, np.nan), valid


def _sar_columns(
    vv: np.ndarray, vh: np.ndarray, valid: np.ndarray, days: np.ndarray, grp: np.ndarray, spec: FeatureSpec, norm_grp: np.ndarray | None = None
) -> list[np.ndarray]:
    """The ``sar`` columns, in the order of :func:`sar_names` (standardised within ``norm_grp`` when given)."""
    cols = _instant_columns(vv, vh, spec)
    if norm_grp is not None:
        cols, vv, vh = _normalised(cols, vv, vh, valid, norm_grp)
    prev = _pointer_chain(_prev_index, valid, grp, -1, max(spec.lags, spec.rolling // 2))
    cols += _lag_columns(vv, vh, valid, days, prev, spec)
    if spec.rolling > 1:
        cols += _rolling_columns(vv, vh, valid, grp, prev, spec.rolling // 2)
    if spec.windows or spec.trends:
        cols += _window_columns(vv, vh, valid, days, spec)
    if spec.anomaly:
        cols += _anomaly_columns(vv, vh, grp)
    return cols


def _instant_columns(vv: np.ndarray, vh: np.ndarray, spec: FeatureSpec) -> list[np.ndarray]:
    """Backscatter, RVI, ratios and interaction: functions of one acquisition."""
    lin_vv = np.power(np.float32(10.0), vv / np.float32(10.0))
    lin_vh = np.power(np.float32(10.0), vh / np.float32(10.0))
    cols: list[np.ndarray] = []
    if spec.backscatter:
        cols += [vv, vh]
    if spec.rvi:
        cols.append(4 * lin_vh / (lin_vv + lin_vh))
    if spec.ratios:
        cols += [vv - vh, np.clip(lin_vh / lin_vv, 0, 2)]
    if spec.interaction:
        cols.append(vv * vh / np.float32(100.0))
    return cols


def _lag_columns(vv: np.ndarray, vh: np.ndarray, valid: np.ndarray, days: np.ndarray, prev: list[np.ndarray], spec: FeatureSpec) -> list[np.ndarray]:
    """For each lag k: VV, VH of the k-th previous valid acquisition, their differences and ``dt``."""
    cols: list[np.ndarray] = []
    for k in range(1, spec.lags + 1):
        p = prev[k - 1]
        lvv = np.where(valid, _take(vv, p), np.nan)
        lvh = np.where(valid, _take(vh, p), np.nan)
        cols += [lvv, lvh]
        if spec.differences:
            cols += [vv - lvv, vh - lvh]
        if spec.dt:
            dtk = days[None, :] - _take(np.broadcast_to(days, vv.shape), p)
            cols.append(np.where(valid, dtk, np.nan).astype(np.float32))
    return cols


def _rolling_columns(vv: np.ndarray, vh: np.ndarray, valid: np.ndarray, grp: np.ndarray, prev: list[np.ndarray], h: int) -> list[np.ndarray]:
    """Mean of VV, VH over the ``h`` previous, the current and the ``h`` next valid acquisitions."""
    nxt = _pointer_chain(_next_index, valid, grp, vv.shape[-1], h)
    acc_vv = np.nan_to_num(vv).astype(np.float64)
    acc_vh = np.nan_to_num(vh).astype(np.float64)
    cnt = valid.astype(np.float64)
    for ids in prev[:h] + nxt[:h]:
        tv, th = _take(vv, ids), _take(vh, ids)
        ok = np.isfinite(tv)
        acc_vv += np.where(ok, tv, 0)
        acc_vh += np.where(ok, th, 0)
        cnt += ok
    return [np.where(valid, acc_vv / np.maximum(cnt, 1), np.nan), np.where(valid, acc_vh / np.maximum(cnt, 1), np.nan)]


def _window_columns(vv: np.ndarray, vh: np.ndarray, valid: np.ndarray, days: np.ndarray, spec: FeatureSpec) -> list[np.ndarray]:
    """Centred window means (VV, VH, VV-VH) and trends (next minus previous window) in days."""
    win = _WindowSums(vv, vh, valid, days)
    cols: list[np.ndarray] = []
    for w in spec.windows:
        m_vv, m_vh = win.mean(-w / 2, w / 2)
        cols += [m_vv, m_vh, m_vv - m_vh]
    for w in spec.trends:
        f_vv, f_vh = win.mean(1e-6, w)
        b_vv, b_vh = win.mean(-w, -1e-6)
        cols += [f_vv - b_vv, f_vh - b_vh]
    return cols


def _anomaly_columns(vv: np.ndarray, vh: np.ndarray, grp: np.ndarray) -> list[np.ndarray]:
    """VV, VH minus the pixel's median over the series of its orbit group."""
    med_vv = np.full(vv.shape, np.nan, dtype=np.float32)
    med_vh = np.full(vv.shape, np.nan, dtype=np.float32)
    for g in np.unique(grp):
        sel = grp == g
        med_vv[..., sel] = _nanmedian_last(vv[..., sel])
        med_vh[..., sel] = _nanmedian_last(vh[..., sel])
    return [vv - med_vv, vh - med_vh]


def _normalise_groups(spec: FeatureSpec, groups: np.ndarray | None, nt: int) -> np.ndarray | None:
    """The groups of time positions within which ``spec.s1_normalise`` standardises; None for ``"none"``."""
    if spec.s1_normalise == "none":
        return None
    if spec.s1_normalise == "pixel" or groups is None:
        return np.zeros(nt, dtype=np.int64)
    return np.asarray(groups)


def _normalised(cols: list[np.ndarray], vv: np.ndarray, vh: np.ndarray, valid: np.ndarray, grp: np.ndarray) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """The per-date columns and VV, VH as z-scores over each pixel's valid acquisitions of each group."""
    z_vv, z_vh = _standardise(vv, valid, grp), _standardise(vh, valid, grp)
    out = [z_vv if c is vv else z_vh if c is vh else _standardise(c, valid, grp) for c in cols]
    return out, z_vv, z_vh


def _standardise(x: np.ndarray, valid: np.ndarray, grp: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` over the valid, finite values of each pixel and group (ddof 0); 0 where std is 0; NaN where invalid."""
    x = np.asarray(x, dtype=np.float64)
    ok = valid & np.isfinite(x)
    out = np.full(x.shape, np.nan)
    for g in np.unique(grp):
        sel = grp == g
        xs, oks = x[..., sel], ok[..., sel]
        n = np.maximum(oks.sum(axis=-1, keepdims=True), 1)
        mean = np.where(oks, xs, 0.0).sum(axis=-1, keepdims=True) / n
        dev = np.where(oks, xs - mean, 0.0)
        std = np.sqrt((dev * dev).sum(axis=-1, keepdims=True) / n)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(std > 1e-9, dev / std, 0.0)
        out[..., sel] = np.where(oks, z, np.nan)
    return out


def _doy_columns(doy: np.ndarray, shape: tuple[int, ...]) -> list[np.ndarray]:
    """Day of year on the unit circle (sin, cos), broadcast to ``shape``."""
    ang = 2 * np.pi * doy / 365.25
    return [np.broadcast_to(np.sin(ang), shape), np.broadcast_to(np.cos(ang), shape)]


class _WindowSums:
    """Means of valid VV/VH over time windows relative to each date, by cumulative sums."""

    def __init__(self, vv: np.ndarray, vh: np.ndarray, valid: np.ndarray, days: np.ndarray) -> None:
        zero = np.zeros((*vv.shape[:-1], 1))
        self.c_vv = np.concatenate([zero, np.cumsum(np.where(valid, vv, 0.0), axis=-1, dtype=np.float64)], axis=-1)
        self.c_vh = np.concatenate([zero, np.cumsum(np.where(valid, vh, 0.0), axis=-1, dtype=np.float64)], axis=-1)
        self.c_n = np.concatenate([zero, np.cumsum(valid, axis=-1, dtype=np.float64)], axis=-1)
        self.days = days
        self.valid = valid

    def mean(self, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean over acquisitions with ``lo <= day - day_t <= hi`` (NaN where none or where t invalid)."""
        i0 = np.searchsorted(self.days, self.days + lo, side="left")
        i1 = np.searchsorted(self.days, self.days + hi, side="right")
        n = self.c_n[..., i1] - self.c_n[..., i0]
        with np.errstate(invalid="ignore", divide="ignore"):
            m_vv = (self.c_vv[..., i1] - self.c_vv[..., i0]) / n
            m_vh = (self.c_vh[..., i1] - self.c_vh[..., i0]) / n
        ok = self.valid & (n > 0)
        return np.where(ok, m_vv, np.nan), np.where(ok, m_vh, np.nan)


def _pointer_chain(step: Callable[[np.ndarray], np.ndarray], valid: np.ndarray, grp: np.ndarray, missing: int, n: int) -> list[np.ndarray]:
    """Pointers to the 1st, 2nd, .. ``n``-th previous (or next) valid acquisition within each group (at least the 1st)."""
    first = _grouped(step, valid, grp, missing)
    chain = [first]
    for _ in range(1, n):
        chain.append(_follow(first, chain[-1], missing))
    return chain


def _grouped(fn: Callable[[np.ndarray], np.ndarray], valid: np.ndarray, groups: np.ndarray, missing: int) -> np.ndarray:
    """Previous/next-valid pointers computed within each group of time positions."""
    uniq = np.unique(groups)
    if uniq.size == 1:
        return fn(valid)
    out = np.full(valid.shape, missing, dtype=np.int64)
    for g in uniq:
        sel = groups == g
        ptr = fn(valid & sel)
        out[..., sel] = ptr[..., sel]
    return out
