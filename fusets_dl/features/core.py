"""Per-pixel time-series features of the fusion cube.

:class:`FeatureSpec` declares which features to compute (it serialises to
JSON and travels with every model); :func:`compute_features` computes them
lazily with ``time`` as the core dimension, vectorised over pixels.

Lags, differences, ``dt`` and rolling means follow the *valid* acquisitions of
each pixel (VV and VH both finite), not array slots: a missing date does not
poison the lag of the next one, and the same features arise whether a site is
seen every 6 days from one orbit or from two alternating orbits.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from .._config import dataclass_from_dict
from .._series import follow as _follow
from .._series import nanmedian_last as _nanmedian_last
from .._series import next_index as _next_index
from .._series import prev_index as _prev_index
from .._series import take as _take
from .._series import valid_neighbours
from ..errors import ConfigError
from ..validate import check_cube

__all__ = ["MODALITIES", "FeatureSpec", "compute_features", "feature_kernel", "optical_context", "orbit_groups"]

MODALITIES = ("sar", "optical", "terrain", "time")
REQUIRED_MODALITIES = ("sar", "time")
OPTICAL_FEATURES = ("NDVI_prev", "dt_prev", "NDVI_next", "dt_next", "NDVI_interp")
CLOUDY_FEATURES = ("NDVI_cloudy", "dt_cloudy")
TERRAIN_FEATURES = ("elevation", "slope", "aspect_sin", "aspect_cos")

_DB_FLOOR = -40.0  # dB; darker values are noise floor


@dataclass(frozen=True)
class FeatureSpec:
    """Which features to compute from the fusion cube.

    Parameters
    ----------
    backscatter : bool
        ``VV``, ``VH`` in dB.
    rvi : bool
        Radar vegetation index ``4 VH / (VV + VH)`` on linear power (0..4).
    ratios : bool
        Polarisation ratios: ``VV_VH_dB`` = VV - VH in dB (the log of VV/VH,
        which stays bounded where the linear VV/VH of bright targets reaches
        the hundreds) and ``VH_VV`` = VH/VV in linear power, clipped to [0, 2].
    interaction : bool
        ``VVxVH``: the product of VV and VH in dB, divided by 100.
    lags : int
        Number of previous valid acquisitions whose VV/VH are features
        (``VV_lag1``..), 0 for none.
    lag_mode : {"orbit", "any"}
        ``"orbit"`` (default): lags, the acquisition rolling mean and the
        anomaly follow the previous valid acquisition of the *same relative
        orbit* (see :func:`orbit_groups`), so a site seen from two alternating
        orbits gives the same lag semantics (same geometry, ~6 or 12 days) as a
        site seen from one; ``"any"``: the previous valid acquisition of any orbit.
    differences : bool
        ``dVV_lagk``, ``dVH_lagk``: change since each lag (dB).
    dt : bool
        ``dt_lagk``: days since each lagged acquisition, from the time coordinate.
    doy : bool
        ``doy_sin``, ``doy_cos``: day of year on the unit circle.
    rolling : int
        Window (in valid acquisitions, odd, centred) of the rolling mean of VV
        and VH (``VV_roll``, ``VH_roll``); 0 or 1 for none.
    windows : tuple of int
        Centred time windows in days: for each, the mean of VV, VH and VV-VH
        (dB) over the pixel's valid acquisitions within +-window/2
        (``VV_w30``..). Windows in days, not acquisitions, mean the same
        features for a 6-day single-orbit site as for two alternating orbits.
    trends : tuple of int
        Windows in days: mean over the next ``w`` days minus mean over the
        previous ``w`` days, for VV and VH (``dVV_trend30``..): the direction
        of change (growth or senescence).
    anomaly : bool
        ``VV_anom``, ``VH_anom``: departure from the pixel's median over the
        whole series (removes static per-pixel effects such as roughness and
        geometry).
    groups : tuple of str
        Modalities used, any of ``"sar"`` (the S1 features above),
        ``"optical"`` (optical context, below), ``"terrain"`` (``elevation``,
        ``slope``, ``aspect`` variables of the cube, from a DEM) and ``"time"``
        (day of year). Default ``("sar", "time")``: the S1-only model.
    context_exclude_days : float
        Optical context: clear observations within this many days of a date
        are never its context (at least the pairing tolerance, so that the
        S2 acquisition paired to a neighbouring S1 date is not the target
        itself). The context of a date is the last clear NDVI before
        ``t - context_exclude_days`` and the first after
        ``t + context_exclude_days``: ``NDVI_prev``, ``dt_prev`` (days),
        ``NDVI_next``, ``dt_next`` and ``NDVI_interp`` (linear interpolation
        between them at ``t``, or the one present). Absent context is NaN and
        enters the network as the modality baseline (zero after
        standardisation).
    cloudy_input : bool
        Cloud-robust option of the optical group: also ``NDVI_cloudy``, the
        NDVI of the nearest *cloud-contaminated* S2 acquisition within
        ``cloudy_window_days`` of the date, and ``dt_cloudy`` (days to it),
        from the cube's ``NDVI_cloudy`` (``align(..., keep_cloudy=True)``).
        Training then sees cloudy optical inputs, flagged as such, instead of
        having them removed (Gawlikowski and Gottschling: models trained with
        cloudy samples learn when to rely on the radar).
    cloudy_window_days : float
        Search window of ``NDVI_cloudy``, days either side.
    """

    backscatter: bool = True
    rvi: bool = True
    ratios: bool = True
    interaction: bool = True
    lags: int = 2
    lag_mode: str = "orbit"
    differences: bool = True
    dt: bool = True
    doy: bool = True
    rolling: int = 5
    windows: tuple[int, ...] = (15, 45, 91, 181)
    trends: tuple[int, ...] = (30,)
    anomaly: bool = True
    groups: tuple[str, ...] = field(default=("sar", "time"))
    context_exclude_days: float = 3.0
    cloudy_input: bool = False
    cloudy_window_days: float = 6.0

    def __post_init__(self) -> None:
        if not isinstance(self.lags, int) or self.lags < 0 or self.lags > 10:
            raise ConfigError(f"FeatureSpec.lags: expected an integer in 0..10, found {self.lags!r}")
        if self.lag_mode not in ("orbit", "any"):
            raise ConfigError(f"FeatureSpec.lag_mode: expected 'orbit' or 'any', found {self.lag_mode!r}")
        if not isinstance(self.rolling, int) or self.rolling < 0 or (self.rolling > 1 and self.rolling % 2 == 0):
            raise ConfigError(f"FeatureSpec.rolling: expected 0, 1 or an odd window, found {self.rolling!r}")
        groups = tuple(self.groups)
        unknown = [g for g in groups if g not in MODALITIES]
        if unknown or not groups or len(set(groups)) != len(groups):
            raise ConfigError(f"FeatureSpec.groups: expected a non-empty subset of {MODALITIES}, found {groups!r}")
        object.__setattr__(self, "groups", tuple(g for g in MODALITIES if g in groups))
        if self.cloudy_input and "optical" not in groups:
            raise ConfigError("FeatureSpec.cloudy_input: expected the 'optical' group among groups, found " + repr(groups))
        if not self.cloudy_window_days >= 0:
            raise ConfigError(f"FeatureSpec.cloudy_window_days: expected >= 0, found {self.cloudy_window_days!r}")
        if not self.context_exclude_days >= 0:
            raise ConfigError(f"FeatureSpec.context_exclude_days: expected >= 0, found {self.context_exclude_days!r}")
        for name in ("windows", "trends"):
            vals = tuple(int(w) for w in getattr(self, name))
            if any(w < 1 for w in vals):
                raise ConfigError(f"FeatureSpec.{name}: expected positive windows in days, found {vals!r}")
            object.__setattr__(self, name, vals)
        if not self.names:
            raise ConfigError("FeatureSpec: every feature is switched off; expected at least one")

    @property
    def names(self) -> list[str]:
        """Feature names, in the order of the ``feature`` dimension."""
        out: list[str] = []
        if "sar" in self.groups:
            if self.backscatter:
                out += ["VV", "VH"]
            if self.rvi:
                out.append("RVI")
            if self.ratios:
                out += ["VV_VH_dB", "VH_VV"]
            if self.interaction:
                out.append("VVxVH")
            for k in range(1, self.lags + 1):
                out += [f"VV_lag{k}", f"VH_lag{k}"]
                if self.differences:
                    out += [f"dVV_lag{k}", f"dVH_lag{k}"]
                if self.dt:
                    out.append(f"dt_lag{k}")
            if self.rolling > 1:
                out += ["VV_roll", "VH_roll"]
            for w in self.windows:
                out += [f"VV_w{w}", f"VH_w{w}", f"VV_VH_w{w}"]
            for w in self.trends:
                out += [f"dVV_trend{w}", f"dVH_trend{w}"]
            if self.anomaly:
                out += ["VV_anom", "VH_anom"]
        if "optical" in self.groups:
            out += list(OPTICAL_FEATURES)
            if self.cloudy_input:
                out += list(CLOUDY_FEATURES)
        if "terrain" in self.groups:
            out += list(TERRAIN_FEATURES)
        if "time" in self.groups and self.doy:
            out += ["doy_sin", "doy_cos"]
        return out

    @property
    def modality(self) -> dict[str, str]:
        """The modality (group) of each feature."""
        out = {}
        for n in self.names:
            if n.startswith("doy"):
                out[n] = "time"
            elif n in OPTICAL_FEATURES or n in CLOUDY_FEATURES:
                out[n] = "optical"
            elif n in TERRAIN_FEATURES:
                out[n] = "terrain"
            else:
                out[n] = "sar"
        return out

    @property
    def modalities(self) -> list[str]:
        """The modalities that have at least one feature, in feature order."""
        return [g for g in MODALITIES if g in set(self.modality.values())]

    @property
    def required(self) -> np.ndarray:
        """Boolean mask of the features a sample cannot do without (SAR and time).

        Optical context and terrain may be absent (NaN): they then enter the
        network as the modality baseline.
        """
        return np.array([self.modality[n] in REQUIRED_MODALITIES for n in self.names], dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``FeatureSpec.from_dict`` inverts it)."""
        d = asdict(self)
        d["groups"] = list(self.groups)
        d["windows"] = list(self.windows)
        d["trends"] = list(self.trends)
        return d

    def to_json(self) -> str:
        """The spec as a JSON string."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        """Rebuild a spec; unknown keys are an error naming them."""
        return dataclass_from_dict(cls, d, ("groups", "windows", "trends"))


# --------------------------------------------------------------------------- kernel

def feature_kernel(
    vv: np.ndarray,
    vh: np.ndarray,
    days: np.ndarray,
    doy: np.ndarray,
    spec: FeatureSpec,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Features of pixel time series.

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
    vv = np.asarray(vv, dtype=np.float32)
    vh = np.asarray(vh, dtype=np.float32)
    vv = np.where(vv < _DB_FLOOR, _DB_FLOOR, vv)
    vh = np.where(vh < _DB_FLOOR, _DB_FLOOR, vh)
    valid = np.isfinite(vv) & np.isfinite(vh)
    vv = np.where(valid, vv, np.nan)
    vh = np.where(valid, vh, np.nan)
    shape = vv.shape
    cols: list[np.ndarray] = []
    if "sar" in spec.groups:
        lin_vv = np.power(np.float32(10.0), vv / np.float32(10.0))
        lin_vh = np.power(np.float32(10.0), vh / np.float32(10.0))
        if spec.backscatter:
            cols += [vv, vh]
        if spec.rvi:
            cols.append(4 * lin_vh / (lin_vv + lin_vh))
        if spec.ratios:
            cols += [vv - vh, np.clip(lin_vh / lin_vv, 0, 2)]
        if spec.interaction:
            cols.append(vv * vh / np.float32(100.0))
        nt = shape[-1]
        grp = np.zeros(nt, dtype=np.int64) if groups is None or spec.lag_mode == "any" else np.asarray(groups)
        p_ptr = _grouped(_prev_index, valid, grp, -1)
        prev = [p_ptr]
        for _ in range(1, max(spec.lags, spec.rolling // 2)):
            prev.append(_follow(p_ptr, prev[-1], -1))
        for k in range(1, spec.lags + 1):
            p = prev[k - 1]
            lvv, lvh = _take(vv, p), _take(vh, p)
            lvv = np.where(valid, lvv, np.nan)
            lvh = np.where(valid, lvh, np.nan)
            cols += [lvv, lvh]
            if spec.differences:
                cols += [vv - lvv, vh - lvh]
            if spec.dt:
                dtk = days[None, :] - _take(np.broadcast_to(days, shape), p)
                cols.append(np.where(valid, dtk, np.nan).astype(np.float32))
        if spec.rolling > 1:
            h = spec.rolling // 2
            n_ptr = _grouped(_next_index, valid, grp, nt)
            nxt = [n_ptr]
            for _ in range(1, h):
                nxt.append(_follow(n_ptr, nxt[-1], nt))
            acc_vv = np.nan_to_num(vv).astype(np.float64)
            acc_vh = np.nan_to_num(vh).astype(np.float64)
            cnt = valid.astype(np.float64)
            for ids in prev[:h] + nxt[:h]:
                tv, th = _take(vv, ids), _take(vh, ids)
                ok = np.isfinite(tv)
                acc_vv += np.where(ok, tv, 0)
                acc_vh += np.where(ok, th, 0)
                cnt += ok
            cols += [np.where(valid, acc_vv / np.maximum(cnt, 1), np.nan), np.where(valid, acc_vh / np.maximum(cnt, 1), np.nan)]
        if spec.windows or spec.trends:
            win = _WindowSums(vv, vh, valid, days)
            for w in spec.windows:
                m_vv, m_vh = win.mean(-w / 2, w / 2)
                cols += [m_vv, m_vh, m_vv - m_vh]
            for w in spec.trends:
                f_vv, f_vh = win.mean(1e-6, w)
                b_vv, b_vh = win.mean(-w, -1e-6)
                cols += [f_vv - b_vv, f_vh - b_vh]
        if spec.anomaly:
            med_vv = np.full(shape, np.nan, dtype=np.float32)
            med_vh = np.full(shape, np.nan, dtype=np.float32)
            for g in np.unique(grp):
                sel = grp == g
                med_vv[..., sel] = _nanmedian_last(vv[..., sel])
                med_vh[..., sel] = _nanmedian_last(vh[..., sel])
            cols += [vv - med_vv, vh - med_vh]
    if "time" in spec.groups and spec.doy:
        ang = 2 * np.pi * doy / 365.25
        cols += [np.broadcast_to(np.sin(ang), shape), np.broadcast_to(np.cos(ang), shape)]
    out = np.empty((*shape, len(cols)), dtype=np.float32)
    for i, c in enumerate(cols):  # cast while copying: no float32 temporary per float64 column
        out[..., i] = c
    if "sar" in spec.groups:
        out[~valid] = np.nan
    return out


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


def _grouped(fn: Any, valid: np.ndarray, groups: np.ndarray, missing: int) -> np.ndarray:
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


def orbit_groups(cube: xr.Dataset, *, gap_minutes: float = 3.0) -> np.ndarray:
    """Integer relative-orbit group of each acquisition, from its time of day.

    A relative orbit passes over a site at the same UTC time (within
    seconds), different relative orbits minutes (same pass direction) or
    about twelve hours (ascending/descending) apart. Sorted times of day
    separated by more than ``gap_minutes`` start a new group. Only the time
    index is read, so grouping never computes Dask data and is the same
    chunked or not.
    """
    nt = cube.sizes["time"]
    t = cube["time"].to_index()
    minutes = (t.hour * 60 + t.minute + t.second / 60.0).to_numpy(dtype=np.float64)
    order = np.argsort(minutes)
    srt = minutes[order]
    starts = np.concatenate([[True], np.diff(srt) > gap_minutes])
    # times of day wrap at midnight: merge the last group into the first when close
    group_sorted = np.cumsum(starts) - 1
    if srt.size > 1 and (srt[0] + 1440 - srt[-1]) <= gap_minutes:
        group_sorted[group_sorted == group_sorted[-1]] = 0
    out = np.empty(nt, dtype=np.int64)
    out[order] = group_sorted
    return np.unique(out, return_inverse=True)[1].astype(np.int64)


def optical_context(
    ndvi: np.ndarray,
    days: np.ndarray,
    exclude_before: np.ndarray | float = 3.0,
    exclude_after: np.ndarray | float = 3.0,
) -> np.ndarray:
    """Optical context of every date: the nearest clear NDVI before and after, outside an exclusion window.

    Parameters
    ----------
    ndvi : numpy.ndarray
        Clear NDVI (..., time), NaN where cloudy or missing.
    days : numpy.ndarray
        (time,) days since an origin, sorted.
    exclude_before, exclude_after : float or numpy.ndarray
        Days before and after each date whose observations are not context
        (broadcastable to ``ndvi``); the date's own observation is always
        excluded. Training draws them at random to simulate cloudy spells.

    Returns
    -------
    numpy.ndarray
        float32 (..., time, 5): ``NDVI_prev``, ``dt_prev``, ``NDVI_next``,
        ``dt_next``, ``NDVI_interp``; NaN where there is no such observation.
    """
    v = np.asarray(ndvi, dtype=np.float64)
    nt = v.shape[-1]
    days = np.asarray(days, dtype=np.float64)
    eb = np.broadcast_to(np.maximum(np.asarray(exclude_before, dtype=np.float64), 0.0), v.shape)
    ea = np.broadcast_to(np.maximum(np.asarray(exclude_after, dtype=np.float64), 0.0), v.shape)
    # strictly before t - eb, strictly after t + ea (so the date itself is never its own context)
    pj, nk = valid_neighbours(np.isfinite(v), days, days - eb, days + ea, strict=True)
    vp = _take(v, pj)
    vn = _take(v, nk)
    dp = np.where(pj >= 0, days - days[np.clip(pj, 0, nt - 1)], np.nan)
    dn = np.where(nk < nt, days[np.clip(nk, 0, nt - 1)] - days, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        interp = vp + (vn - vp) * dp / (dp + dn)
    interp = np.where(np.isfinite(interp), interp, np.where(np.isfinite(vp), vp, vn))
    return np.stack([vp, dp, vn, dn, interp], axis=-1).astype(np.float32)


def _terrain(cube: xr.Dataset) -> xr.DataArray:
    """(y, x, 4) terrain features from ``elevation``, ``slope`` (degrees) and ``aspect`` (degrees); NaN when absent."""
    ny, nx = cube.sizes["y"], cube.sizes["x"]

    def _get(name: str) -> xr.DataArray:
        if name in cube.variables and set(cube[name].dims) == {"y", "x"}:
            return cube[name].transpose("y", "x").astype(np.float32)
        return xr.DataArray(np.full((ny, nx), np.nan, dtype=np.float32), dims=("y", "x"))

    asp = np.deg2rad(_get("aspect"))
    parts = [_get("elevation"), _get("slope"), np.sin(asp), np.cos(asp)]
    return xr.concat([p.drop_vars([c for c in p.coords if c not in ("y", "x")]) for p in parts], dim="feature").transpose("y", "x", "feature")


def compute_features(cube: xr.Dataset, spec: FeatureSpec | None = None, *, context_gaps: tuple[int, float] | None = None) -> xr.DataArray:
    """Compute the features of ``spec`` on a fusion cube.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` (dB) on ``(time, y, x)``; ``NDVI``
        for the optical group, ``elevation``/``slope``/``aspect`` on
        ``(y, x)`` for the terrain group (absent: NaN).
    spec : FeatureSpec, optional
        Default ``FeatureSpec()``.
    context_gaps : (seed, max_days), optional
        Training only: the optical context of each pixel-date excludes a
        simulated cloudy spell around it, of a length drawn uniformly in
        ``[0, max_days]`` and placed uniformly around the date (a
        counter-based hash of seed, date and pixel, so it does not depend on
        chunking). Default: only ``spec.context_exclude_days``.

    Returns
    -------
    xarray.DataArray
        ``features(time, y, x, feature)`` float32, with the feature names as
        the ``feature`` coordinate; lazy on Dask input (``time`` must be a
        single chunk, as the readers make it).
    """
    spec = spec or FeatureSpec()
    check_cube(cube, need_target="optical" in spec.groups)
    t = cube["time"]
    origin = t.values[0]
    days = ((t.values - origin) / np.timedelta64(1, "D")).astype(np.float64)
    tt = t.to_index()
    doy = (tt.day_of_year - 1 + (tt.hour * 3600 + tt.minute * 60 + tt.second) / 86400.0).to_numpy(dtype=np.float64)
    vv, vh = cube["VV"], cube["VH"]
    if vv.chunks is not None and len(vv.chunks[vv.dims.index("time")]) > 1:
        vv = vv.chunk({"time": -1})
        vh = vh.chunk({"time": -1})
    names = spec.names
    groups = orbit_groups(cube)
    parts: list[xr.DataArray] = []
    n_sar = sum(1 for n in names if spec.modality[n] == "sar")
    n_time = sum(1 for n in names if spec.modality[n] == "time")
    if n_sar or n_time:
        def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return feature_kernel(a, b, days, doy, spec, groups)  # the SAR and time columns only

        st = xr.apply_ufunc(
            _kernel,
            vv,
            vh,
            input_core_dims=[["time"], ["time"]],
            output_core_dims=[["time", "feature"]],
            dask="parallelized",
            output_dtypes=[np.float32],
            dask_gufunc_kwargs={"output_sizes": {"feature": n_sar + n_time}},
        ).transpose("time", "y", "x", "feature")
        if n_sar:
            parts.append(st.isel(feature=slice(0, n_sar)))
    if "optical" in spec.groups:
        parts.append(_optical(cube, vv, days, spec, context_gaps))
    if "terrain" in spec.groups:
        ter = _terrain(cube)
        if vv.chunks is not None:
            ter = ter.chunk({"y": vv.chunks[vv.dims.index("y")], "x": vv.chunks[vv.dims.index("x")]})
        parts.append(ter.expand_dims(time=cube.sizes["time"]).transpose("time", "y", "x", "feature"))
    if n_time:
        parts.append(st.isel(feature=slice(n_sar, n_sar + n_time)))
    out = xr.concat([p.drop_vars([c for c in p.coords if c not in ("time", "y", "x")], errors="ignore") for p in parts], dim="feature")
    out = out.transpose("time", "y", "x", "feature").assign_coords(time=cube["time"], y=cube["y"], x=cube["x"], feature=names)
    if vv.chunks is not None and out.chunks is not None:
        out = out.chunk({"feature": -1})
    out.name = "features"
    out.attrs = {"long_name": "fusion features", "feature_spec": spec.to_json(), "orbit_groups": int(np.unique(groups).size)}
    return out


def _optical(cube: xr.Dataset, like: xr.DataArray, days: np.ndarray, spec: FeatureSpec, context_gaps: tuple[int, float] | None) -> xr.DataArray:
    """Lazy optical-context features (time, y, x, 5) of the cube's clear NDVI."""
    from .._rng import hash_uniform

    ndvi = cube["NDVI"].transpose("time", "y", "x")
    if like.chunks is not None:
        ndvi = ndvi.chunk({"time": -1, "y": like.chunks[like.dims.index("y")], "x": like.chunks[like.dims.index("x")]})
    ex = float(spec.context_exclude_days)
    iy = xr.DataArray(np.arange(cube.sizes["y"]), dims="y")
    ix = xr.DataArray(np.arange(cube.sizes["x"]), dims="x")
    if ndvi.chunks is not None:
        iy = iy.chunk({"y": ndvi.chunks[1]})
        ix = ix.chunk({"x": ndvi.chunks[2]})

    def _kernel(v: np.ndarray, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        # v: (y, x, time) after apply_ufunc moves the core dim last
        if context_gaps is None:
            eb = ea = ex
        else:
            seed, max_days = context_gaps
            tt = np.arange(v.shape[-1])[None, None, :]
            length = hash_uniform(int(seed), 21, tt, yy[..., None], xx[..., None]) * float(max_days)
            share = hash_uniform(int(seed), 22, tt, yy[..., None], xx[..., None])
            eb = np.maximum(length * share, ex)
            ea = np.maximum(length * (1.0 - share), ex)
        return optical_context(v, days, eb, ea)

    out = xr.apply_ufunc(
        _kernel,
        ndvi,
        iy,
        ix,
        input_core_dims=[["time"], [], []],
        output_core_dims=[["time", "feature"]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"feature": len(OPTICAL_FEATURES)}},
    ).transpose("time", "y", "x", "feature")
    if not spec.cloudy_input:
        return out
    if "NDVI_cloudy" in cube.data_vars:
        cl = cube["NDVI_cloudy"].transpose("time", "y", "x")
        if ndvi.chunks is not None:
            cl = cl.chunk({"time": -1, "y": ndvi.chunks[1], "x": ndvi.chunks[2]})
    else:
        cl = xr.full_like(ndvi, np.nan)
    win = float(spec.cloudy_window_days)
    cloudy = xr.apply_ufunc(
        lambda v: nearest_within(v, days, win),
        cl,
        input_core_dims=[["time"]],
        output_core_dims=[["time", "feature"]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"feature": len(CLOUDY_FEATURES)}},
    ).transpose("time", "y", "x", "feature")
    return xr.concat([out, cloudy], dim="feature")


def nearest_within(values: np.ndarray, days: np.ndarray, window: float) -> np.ndarray:
    """The nearest non-NaN value within ``window`` days of each date (the date itself included) and its distance.

    Returns float32 (..., time, 2): value and absolute days; NaN where none.
    Ties go to the earlier date.
    """
    v = np.asarray(values, dtype=np.float64)
    nt = v.shape[-1]
    prev_incl, next_incl = valid_neighbours(np.isfinite(v), days, days, days, strict=False)
    dp = np.where(prev_incl >= 0, days - days[np.clip(prev_incl, 0, nt - 1)], np.inf)
    dn = np.where(next_incl < nt, days[np.clip(next_incl, 0, nt - 1)] - days, np.inf)
    use_prev = dp <= dn
    best = np.where(use_prev, prev_incl, next_incl)
    dist = np.where(use_prev, dp, dn)
    val = _take(v, np.where(dist <= window, best, -1))
    return np.stack([val, np.where(dist <= window, dist, np.nan)], axis=-1).astype(np.float32)
