"""Multi-season phenometrics from NDVI time series, vectorised over pixels.

Seasons are separate peaks of the (lightly smoothed) series: candidate peaks
are local maxima within a window of ``min_length`` days; a candidate whose
prominence (height above the higher of its two troughs) is below
``min_amplitude`` and that is lower than its neighbouring peaks is merged
into them, repeatedly, so a double-humped season keeps its higher top and a
field with two or three crops a year keeps two or three seasons. Start and
end of season are where NDVI crosses ``amplitude_fraction`` (default **50 %**)
of the seasonal amplitude on each side of the peak, measured from the trough
on that side, interpolated linearly between samples. A side cut by the start
or the end of the series gives NaT (the season is kept when its other side is
complete). Pixels without enough data give NaN/NaT and ``n_seasons`` 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy.ndimage import maximum_filter1d

from .._series import nearest_cells
from ..errors import ConfigError, DimensionError
from ..smoothing import whittaker

__all__ = ["PHENO_VARS", "phenology", "phenology_by_class"]

#: Variables per season, in the order of the kernel output.
PHENO_VARS = (
    "sos", "pos", "eos", "sos_value", "pos_value", "eos_value", "los", "aos", "base",
    "rate_greenup", "rate_senescence", "integral",
)
_DATE_VARS = ("sos", "pos", "eos")

_ATTRS: dict[str, dict[str, Any]] = {
    "sos": {"long_name": "start of season"},
    "pos": {"long_name": "peak of season"},
    "eos": {"long_name": "end of season"},
    "sos_value": {"long_name": "NDVI at the start of season", "units": "1"},
    "pos_value": {"long_name": "NDVI at the peak of season", "units": "1"},
    "eos_value": {"long_name": "NDVI at the end of season", "units": "1"},
    "los": {"long_name": "length of season (eos - sos)", "units": "days"},
    "aos": {"long_name": "amplitude of season (peak - base)", "units": "1"},
    "base": {"long_name": "base NDVI (mean of the troughs around the season)", "units": "1"},
    "rate_greenup": {"long_name": "mean rate of green-up from sos to pos", "units": "day-1"},
    "rate_senescence": {"long_name": "mean rate of senescence from pos to eos (positive)", "units": "day-1"},
    "integral": {"long_name": "integral of NDVI above the base from sos to eos", "units": "days"},
}


def _segment_starts(peaks: np.ndarray, reverse: bool) -> np.ndarray:
    """Where segments start: each row start, and just after (forward) or at (reverse) each peak."""
    starts = np.zeros(peaks.shape, dtype=bool)
    starts[:, 0] = True
    if reverse:
        starts |= peaks
    else:
        starts[:, 1:] |= peaks[:, :-1]
    return starts


def _segmented_min(x: np.ndarray, peaks: np.ndarray, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Minimum (value, index) of the segment each position belongs to.

    Forward: segments restart just after each peak, so at a peak they hold the
    trough since the previous peak (or the series start). Reverse: segments
    start at each peak, holding the trough up to the next peak (or the end).
    Vectorised with ``np.minimum.reduceat`` over the flattened rows.
    """
    p, n = x.shape
    starts = _segment_starts(peaks, reverse)
    flat_starts = np.flatnonzero(starts.ravel())
    flat = x.ravel()
    mins = np.minimum.reduceat(flat, flat_starts)
    seg = np.cumsum(starts.ravel()) - 1
    val = mins[seg]
    hit = np.flatnonzero(flat == val)
    first = np.full(mins.size, -1, dtype=np.int64)
    # first position of each segment reaching its minimum: assigning in reverse
    # order lets the earliest hit of a segment be written last
    first[seg[hit][::-1]] = hit[::-1]
    idx = first[seg].reshape(p, n) - (np.arange(p) * n)[:, None]
    return val.reshape(p, n), idx


def _sides(x: np.ndarray, lv: np.ndarray, li: np.ndarray, rv: np.ndarray, ri: np.ndarray, n: int | None = None) -> tuple[np.ndarray, ...]:
    """Amplitudes on each side of every position, which sides are complete, and the prominence.

    A side whose trough lies at the series boundary is complete only when it
    descends at least 80 % as far as the other side (a series that starts or
    ends in the middle of a green-up or senescence is cut there).
    """
    n = x.shape[1] if n is None else n
    amp_l, amp_r = x - lv, x - rv
    l_bound, r_bound = li == 0, ri == n - 1
    left_ok = ~l_bound | (amp_l >= 0.8 * amp_r)
    right_ok = ~r_bound | (amp_r >= 0.8 * amp_l)
    prom = np.where(left_ok & right_ok, np.minimum(amp_l, amp_r), np.where(left_ok, amp_l, np.where(right_ok, amp_r, 0.0)))
    return amp_l, amp_r, left_ok, right_ok, prom


def _segment_values(x: np.ndarray, peaks: np.ndarray, pos: np.ndarray, reverse: bool) -> np.ndarray:
    """Trough value on one side of each peak at flat positions ``pos`` (one reduceat pass)."""
    st = np.flatnonzero(_segment_starts(peaks, reverse).ravel())
    mins = np.minimum.reduceat(x.ravel(), st)
    return mins[np.searchsorted(st, pos, side="right") - 1]


def _prune(x: np.ndarray, peaks: np.ndarray, min_amplitude: float, max_iter: int = 100) -> tuple[np.ndarray, ...]:
    """Remove low-prominence peaks lower than their neighbours until none is left.

    Works on the flat positions of the peaks; a peak's side touches the series
    boundary when it is the first (last) peak of its row and the boundary value
    is the trough.
    """
    _p, n = x.shape
    flat = x.ravel()
    peaks = peaks.copy()
    for _ in range(max_iter):
        pos = np.flatnonzero(peaks.ravel())
        if pos.size == 0:
            break
        row = pos // n
        h = flat[pos]
        lv = _segment_values(x, peaks, pos, reverse=False)
        rv = _segment_values(x, peaks, pos, reverse=True)
        first = np.r_[True, row[1:] != row[:-1]]
        last = np.r_[row[1:] != row[:-1], True]
        li = np.where(first & (flat[row * n] <= lv), 0, 1)
        ri = np.where(last & (flat[row * n + n - 1] <= rv), n - 1, n - 2)
        prom = _sides(h[:, None], lv[:, None], li[:, None], rv[:, None], ri[:, None], n=n)[4][:, 0]
        low = prom < min_amplitude
        if not low.any():
            break
        prev_h = np.where(first, np.inf, np.r_[np.inf, h[:-1]])
        next_h = np.where(last, np.inf, np.r_[h[1:], np.inf])
        drop = low & (h <= prev_h) & (h <= next_h)
        if not drop.any():
            # low peaks between a higher and a lower neighbour: drop the lowest low peak of each row
            cand = np.flatnonzero(low)
            order = cand[np.lexsort((h[cand], row[cand]))]
            keep_first = np.r_[True, row[order][1:] != row[order][:-1]]
            drop = np.zeros(pos.size, dtype=bool)
            drop[order[keep_first]] = True
        peaks.ravel()[pos[drop]] = False
    lv, li = _segmented_min(x, peaks, reverse=False)
    rv, ri = _segmented_min(x, peaks, reverse=True)
    return peaks, lv, li, rv, ri


def _crossing(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, thr: np.ndarray, rising: bool) -> np.ndarray:
    """Fractional index where x crosses thr between positions lo..hi (per row), NaN where none."""
    p, n = x.shape
    t = np.arange(n)[None, :]
    inside = (t >= lo[:, None]) & (t <= hi[:, None])
    above = (x >= thr[:, None]) & inside
    rows = np.arange(p)
    if rising:
        j = np.argmax(above, axis=1)  # first sample at or above the threshold
        ok = above[rows, j] & (j > lo)
        jm = np.clip(j - 1, 0, n - 1)
        x0, x1 = x[rows, jm], x[rows, j]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(x1 > x0, (thr - x0) / (x1 - x0), 1.0)
        return np.where(ok, jm + np.clip(frac, 0, 1), np.nan)
    jr = n - 1 - np.argmax(above[:, ::-1], axis=1)  # last sample at or above
    ok = above[rows, jr] & (jr < hi)
    jp = np.clip(jr + 1, 0, n - 1)
    x0, x1 = x[rows, jr], x[rows, jp]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(x0 > x1, (x0 - thr) / (x0 - x1), 0.0)
    return np.where(ok, jr + np.clip(frac, 0, 1), np.nan)


def _interp_at(x: np.ndarray, pos: np.ndarray) -> np.ndarray:
    n = x.shape[1]
    ok = np.isfinite(pos)
    p0 = np.clip(np.floor(np.nan_to_num(pos)).astype(np.int64), 0, n - 1)
    p1 = np.clip(p0 + 1, 0, n - 1)
    f = np.nan_to_num(pos) - p0
    rows = np.arange(x.shape[0])
    return np.where(ok, x[rows, p0] * (1 - f) + x[rows, p1] * f, np.nan)


_BATCH = 8192  # pixels per kernel pass: bounds the (pixels x grid) temporaries


def _pheno_kernel(values: np.ndarray, **kw: Any) -> np.ndarray:
    """Run the phenology kernel over batches of pixels (bounded memory)."""
    lead = values.shape[:-1]
    v = values.reshape(-1, values.shape[-1])
    parts = [_pheno_batch(v[i : i + _BATCH], **kw) for i in range(0, v.shape[0], _BATCH)]
    n_out = (kw["max_seasons"], len(PHENO_VARS))
    out = np.concatenate(parts, axis=0) if parts else np.empty((0, *n_out))
    return out.reshape(*lead, *n_out)


def _pheno_batch(
    values: np.ndarray,
    *,
    in_days: np.ndarray,
    grid_days: np.ndarray,
    max_seasons: int,
    fraction: float,
    min_amplitude: float,
    min_length: float,
    lam: float | None,
    period: tuple[float, float] | None,
    min_valid: int,
) -> np.ndarray:
    lead = values.shape[:-1]
    v = values.reshape(-1, values.shape[-1]).astype(np.float64)
    p = v.shape[0]
    ng = grid_days.size
    step = float(grid_days[1] - grid_days[0])
    out = np.full((p, max_seasons, len(PHENO_VARS)), np.nan)
    # onto the regular grid (nearest cell, mean of values sharing one)
    cell, _ = nearest_cells(in_days, grid_days)
    s = np.zeros((p, ng))
    c = np.zeros((p, ng))
    for i in range(in_days.size):
        ok = np.isfinite(v[:, i])
        s[:, cell[i]] += np.where(ok, v[:, i], 0.0)
        c[:, cell[i]] += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        g = s / c
    enough = (np.isfinite(v).sum(axis=1) >= min_valid)
    if lam is not None:
        x = whittaker(g, (c > 0).astype(np.float64), lam / step**3)
    else:
        from ..smoothing import fill_interpolated as _fill_interpolated

        x, _ = _fill_interpolated(g, np.zeros_like(g), grid_days)
    x = np.where(enough[:, None], x, np.nan)
    good = enough & np.isfinite(x).all(axis=1)
    if not good.any():
        return out.reshape(*lead, max_seasons, len(PHENO_VARS))
    xs = x[good]
    win = max(3, round(min_length / step) | 1)
    mx = maximum_filter1d(xs, size=win, axis=1, mode="nearest")
    peaks = xs >= mx - 1e-12
    first = peaks & ~np.concatenate([np.zeros((xs.shape[0], 1), bool), peaks[:, :-1]], axis=1)
    peaks, lv, li, rv, ri = _prune(xs, first, min_amplitude)
    n = xs.shape[1]
    rank = np.cumsum(peaks, axis=1)
    kmax = int(rank[:, -1].max()) if rank.size else 0
    rows = np.arange(xs.shape[0])
    cand = np.full((xs.shape[0], max(kmax, 1), len(PHENO_VARS)), np.nan)
    for k in range(kmax):
        sel = peaks & (rank == k + 1)
        has = sel.any(axis=1)
        j = np.argmax(sel, axis=1)
        peak = xs[rows, j]
        ltv, lti = lv[rows, j], li[rows, j]
        rtv, rti = rv[rows, j], ri[rows, j]
        amp_l, amp_r, left_ok, right_ok, _ = _sides(peak, ltv, lti, rtv, rti, n=n)
        sos_i = np.where(left_ok, _crossing(xs, lti, j, ltv + fraction * amp_l, rising=True), np.nan)
        eos_i = np.where(right_ok, _crossing(xs, j, rti, rtv + fraction * amp_r, rising=False), np.nan)
        base = np.where(left_ok & right_ok, 0.5 * (ltv + rtv), np.where(left_ok, ltv, rtv))
        sos_d = grid_days[0] + sos_i * step
        eos_d = grid_days[0] + eos_i * step
        pos_d = grid_days[j]
        sos_v, eos_v = _interp_at(xs, sos_i), _interp_at(xs, eos_i)
        los = eos_d - sos_d
        with np.errstate(invalid="ignore", divide="ignore"):
            rate_g = (peak - sos_v) / (pos_d - sos_d)
            rate_s = (peak - eos_v) / (eos_d - pos_d)
        t = np.arange(n)[None, :]
        span = (t >= np.nan_to_num(sos_i, nan=n)[:, None]) & (t <= np.nan_to_num(eos_i, nan=-1)[:, None])
        integral = np.where(np.isfinite(los), (np.clip(xs - base[:, None], 0, None) * span).sum(axis=1) * step, np.nan)
        valid = has & (left_ok | right_ok)
        valid &= ~(np.isfinite(los) & (los < min_length))
        cand[:, k] = np.where(
            valid[:, None],
            np.stack([sos_d, pos_d, eos_d, sos_v, peak, eos_v, los, peak - base, base, rate_g, rate_s, integral], axis=1),
            np.nan,
        )
    if period is not None:
        inside = (cand[..., 1] >= period[0]) & (cand[..., 1] <= period[1])
        cand[~inside] = np.nan
    # keep the max_seasons largest amplitudes, then order by start (peak where the start is cut)
    amp = np.where(np.isfinite(cand[..., 1]), cand[..., 7], -np.inf)
    top = np.argsort(-amp, axis=1, kind="stable")[:, :max_seasons]
    chosen = np.take_along_axis(cand, top[..., None], axis=1)
    key = np.where(np.isfinite(chosen[..., 0]), chosen[..., 0], chosen[..., 1])
    key = np.where(np.isfinite(chosen[..., 1]), key, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    chosen = np.take_along_axis(chosen, order[..., None], axis=1)
    if chosen.shape[1] < max_seasons:
        pad = np.full((chosen.shape[0], max_seasons - chosen.shape[1], len(PHENO_VARS)), np.nan)
        chosen = np.concatenate([chosen, pad], axis=1)
    out[good] = chosen
    return out.reshape(*lead, max_seasons, len(PHENO_VARS))


def phenology(
    ndvi: xr.DataArray,
    *,
    max_seasons: int = 3,
    method: str = "threshold",
    amplitude_fraction: float = 0.5,
    min_amplitude: float = 0.1,
    min_length: float = 30.0,
    smooth: float | None = 200.0,
    step_days: float | None = None,
    period: tuple[Any, Any] | None = None,
    min_valid: int = 6,
    by: xr.DataArray | None = None,
) -> xr.Dataset:
    """Phenometrics of up to ``max_seasons`` seasons per pixel (or their medians per class, with ``by``).

    Parameters
    ----------
    ndvi : xarray.DataArray
        NDVI with a ``time`` dimension (other dimensions are pixels), for
        example ``reconstruct(...)["NDVI"]`` or clear S2 NDVI with gaps.
    max_seasons : int
        Size of the ``season`` dimension; when more seasons are found the
        largest amplitudes are kept (run one year at a time with ``period``
        for two or three crops a year over several years).
    method : {"threshold"}
        SOS/EOS where NDVI crosses ``amplitude_fraction`` of the amplitude.
    amplitude_fraction : float
        Fraction of the seasonal amplitude for SOS/EOS (default 0.5).
    min_amplitude : float
        Minimum prominence of a season (NDVI units).
    min_length : float
        Minimum season length and minimum distance between peaks (days).
    smooth : float or None
        Whittaker lambda (1-day grid) applied before detection; also fills
        gaps. None: linear interpolation of gaps only.
    step_days : float, optional
        Internal grid step; default: the median spacing of the input, in days.
    period : (start, end), optional
        Keep seasons whose peak lies in this period (the whole series is used
        for detection, so a season crossing the period's edge stays whole).
    min_valid : int
        Pixels with fewer valid values give no seasons.
    by : xarray.DataArray, optional
        A class map on the pixel dimensions (for example
        :func:`fusets_dl.segment`'s output): the result is then the per-class
        summary of :func:`phenology_by_class` instead of per-pixel values
        (this computes).

    Returns
    -------
    xarray.Dataset
        ``sos``, ``pos``, ``eos`` (datetime64, NaT where absent), their
        values, ``los`` (days), ``aos``, ``base``, ``rate_greenup``,
        ``rate_senescence`` (NDVI per day), ``integral`` on ``(season, ...)``,
        and ``n_seasons``; seasons ordered by start date. Lazy on Dask input
        (``time`` must be one chunk).
    """
    if method != "threshold":
        raise ConfigError(f"phenology: method: expected 'threshold', found {method!r}")
    if not 0 < amplitude_fraction < 1 or min_amplitude <= 0 or max_seasons < 1 or min_length <= 0:
        raise ConfigError(
            "phenology: expected 0 < amplitude_fraction < 1, min_amplitude > 0, max_seasons >= 1, min_length > 0; "
            f"found {amplitude_fraction}, {min_amplitude}, {max_seasons}, {min_length}"
        )
    if "time" not in ndvi.dims:
        raise DimensionError(f"phenology: expected a 'time' dimension, found {ndvi.dims}")
    t = pd.DatetimeIndex(ndvi["time"].values)
    if t.size < 4:
        raise DimensionError(f"phenology: expected at least 4 dates, found {t.size}")
    origin = t[0].floor("D")
    in_days = ((t - origin) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
    step = float(step_days) if step_days else max(1.0, float(np.round(np.median(np.diff(in_days)))))
    grid_days = np.arange(0.0, in_days[-1] + step / 2, step)
    per = None
    if period is not None:
        per = tuple(((pd.Timestamp(p) - origin) / pd.Timedelta(days=1)) for p in period)
    da = ndvi
    if da.chunks is not None:
        da = da.chunk({"time": -1})
    stacked = xr.apply_ufunc(
        _pheno_kernel,
        da,
        input_core_dims=[["time"]],
        output_core_dims=[["season", "var"]],
        kwargs={
            "in_days": in_days,
            "grid_days": grid_days,
            "max_seasons": int(max_seasons),
            "fraction": float(amplitude_fraction),
            "min_amplitude": float(min_amplitude),
            "min_length": float(min_length),
            "lam": float(smooth) if smooth else None,
            "period": per,
            "min_valid": int(min_valid),
        },
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"season": int(max_seasons), "var": len(PHENO_VARS)}},
    )
    stacked = stacked.assign_coords(season=np.arange(max_seasons))
    lead = [d for d in ndvi.dims if d != "time"]
    out = xr.Dataset()
    origin64 = np.datetime64(origin.to_datetime64(), "ns")
    for i, name in enumerate(PHENO_VARS):
        v = stacked.isel(var=i, drop=True).transpose("season", *lead)
        if name in _DATE_VARS:
            ns = (v * 86400e9).round()
            v = (ns.fillna(np.iinfo(np.int64).min).astype(np.int64).astype("timedelta64[ns]") + origin64).where(ns.notnull())
        else:
            v = v.astype(np.float32)
        v.attrs = dict(_ATTRS[name])
        out[name] = v
    out["n_seasons"] = stacked.isel(var=1, drop=True).notnull().sum("season").astype(np.int8)
    out["n_seasons"].attrs = {"long_name": "number of seasons found"}
    out.attrs = {
        "title": "fusets_dl phenology",
        "method": f"threshold at {amplitude_fraction:.0%} of the seasonal amplitude on each side of the peak",
        "min_amplitude": min_amplitude,
        "min_length_days": min_length,
        "smoothing": f"Whittaker lambda {smooth} (1-day grid)" if smooth else "none",
    }
    crs = getattr(getattr(ndvi, "rio", None), "crs", None)
    if crs is not None:
        out = out.rio.write_crs(crs)
    if by is not None:
        return phenology_by_class(out, by)
    return out


def phenology_by_class(pheno: xr.Dataset, classes: xr.DataArray, *, keep: list[int] | None = None) -> xr.Dataset:
    """Median phenology of each class and season: what a crop mask is for.

    Parameters
    ----------
    pheno : xarray.Dataset
        Output of :func:`phenology` (``sos``, ``pos``, ``eos``, ``los``,
        ``aos`` on ``(season, y, x)``).
    classes : xarray.DataArray
        Integer class of each pixel on the same ``(y, x)``; negative values
        (unclassified) are left out.
    keep : list of int, optional
        Summarise these classes only (default: every class present).

    Returns
    -------
    xarray.Dataset
        On ``(class, season)``: ``sos``, ``pos``, ``eos`` (datetime64,
        median over the class's pixels that have the season; NaT where none
        does), ``los`` and ``aos`` (medians), ``n_with_season`` and
        ``fraction_with_season``; on ``class``: ``n_pixels``. Computes
        (the summary is small; the inputs are read once).
    """
    lead = [d for d in pheno["sos"].dims if d != "season"]
    if set(classes.dims) != set(lead):
        raise DimensionError(f"phenology_by_class: expected classes on {tuple(lead)}, found {classes.dims}")
    cls = np.asarray(classes.transpose(*lead).values).ravel()
    ids = np.unique(cls[np.isfinite(cls) & (cls >= 0)]).astype(np.int64) if cls.size else np.array([], np.int64)
    if keep is not None:
        ids = np.array([i for i in ids if i in set(int(k) for k in keep)], dtype=np.int64)
    seasons = pheno.sizes["season"]
    loaded = pheno[["sos", "pos", "eos", "los", "aos"]].transpose("season", *lead).compute()
    epoch = np.datetime64("1970-01-01", "ns")
    day = np.timedelta64(1, "D")
    days = {k: ((loaded[k].values.reshape(seasons, -1) - epoch) / day) for k in ("sos", "pos", "eos")}
    vals = {k: loaded[k].values.reshape(seasons, -1).astype(np.float64) for k in ("los", "aos")}
    out_d = {k: np.full((ids.size, seasons), np.nan) for k in (*days, *vals)}
    n_with = np.zeros((ids.size, seasons), dtype=np.int64)
    n_pix = np.zeros(ids.size, dtype=np.int64)
    for i, c in enumerate(ids):
        sel = cls == c
        n_pix[i] = int(sel.sum())
        for s in range(seasons):
            found = np.isfinite(days["sos"][s, sel])
            n_with[i, s] = int(found.sum())
            if found.any():
                for k, arr in (*days.items(), *vals.items()):
                    v = arr[s, sel]
                    out_d[k][i, s] = np.nanmedian(v) if np.isfinite(v).any() else np.nan
    ds = xr.Dataset(coords={"class": ids, "season": np.arange(seasons)})
    for k in days:
        ns = np.round(out_d[k] * 86400e9)
        ds[k] = (("class", "season"), np.where(np.isfinite(ns), epoch + np.nan_to_num(ns).astype(np.int64).astype("timedelta64[ns]"), np.datetime64("NaT")))
        ds[k].attrs = {"long_name": f"median {_ATTRS[k].get('long_name', k)} of the class"}
    for k in vals:
        ds[k] = (("class", "season"), out_d[k].astype(np.float32), {"long_name": f"median {_ATTRS[k].get('long_name', k)} of the class"})
    ds["n_with_season"] = (("class", "season"), n_with, {"long_name": "pixels of the class with this season"})
    with np.errstate(invalid="ignore", divide="ignore"):
        ds["fraction_with_season"] = (("class", "season"), (n_with / np.maximum(n_pix, 1)[:, None]).astype(np.float32))
    ds["n_pixels"] = (("class",), n_pix, {"long_name": "pixels of the class"})
    ds.attrs = {"title": "fusets_dl phenology by class", "method": "median over the pixels of each class that have the season"}
    return ds
