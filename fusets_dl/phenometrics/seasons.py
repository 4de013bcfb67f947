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
from scipy.ndimage import maximum_filter1d

from .._series import nearest_cells
from ..smoothing import fill_interpolated, whittaker

__all__ = ["BATCH", "DATE_VARS", "PHENO_VARS", "pheno_block", "pheno_pixels"]

#: Variables per season, in the order of the kernel output.
PHENO_VARS = (
    "sos", "pos", "eos", "sos_value", "pos_value", "eos_value", "los", "aos", "base",
    "rate_greenup", "rate_senescence", "integral",
)
#: Variables of ``PHENO_VARS`` that are dates (the kernel gives days from the origin).
DATE_VARS = ("sos", "pos", "eos")
#: Pixels per kernel pass: bounds the (pixels x grid) temporaries.
BATCH = 8192


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
    """Values of each row of ``x`` at fractional positions ``pos`` (linear; NaN where pos is NaN)."""
    n = x.shape[1]
    ok = np.isfinite(pos)
    p0 = np.clip(np.floor(np.nan_to_num(pos)).astype(np.int64), 0, n - 1)
    p1 = np.clip(p0 + 1, 0, n - 1)
    f = np.nan_to_num(pos) - p0
    rows = np.arange(x.shape[0])
    return np.where(ok, x[rows, p0] * (1 - f) + x[rows, p1] * f, np.nan)


def _to_grid(v: np.ndarray, in_days: np.ndarray, grid_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the values sharing each grid cell (nearest cell) and their count, ``(pixels, grid)``."""
    p, ng = v.shape[0], grid_days.size
    cell, _ = nearest_cells(in_days, grid_days)
    s = np.zeros((p, ng))
    c = np.zeros((p, ng))
    for i in range(in_days.size):
        ok = np.isfinite(v[:, i])
        s[:, cell[i]] += np.where(ok, v[:, i], 0.0)
        c[:, cell[i]] += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        g = s / c
    return g, c


def _gap_free(g: np.ndarray, c: np.ndarray, grid_days: np.ndarray, lam: float | None, step: float) -> np.ndarray:
    """Whittaker-smoothed (``lam`` on a 1-day grid) or linearly interpolated series."""
    if lam is not None:
        return whittaker(g, (c > 0).astype(np.float64), lam / step**3)
    x, _ = fill_interpolated(g, np.zeros_like(g), grid_days)
    return x


def _find_peaks(xs: np.ndarray, min_length: float, step: float, min_amplitude: float) -> tuple[np.ndarray, ...]:
    """Peaks (first of a plateau) after pruning, and the troughs on each side of every position."""
    win = max(3, round(min_length / step) | 1)
    mx = maximum_filter1d(xs, size=win, axis=1, mode="nearest")
    peaks = xs >= mx - 1e-12
    first = peaks & ~np.concatenate([np.zeros((xs.shape[0], 1), bool), peaks[:, :-1]], axis=1)
    return _prune(xs, first, min_amplitude)


def _season_metrics(
    xs: np.ndarray,
    sel: np.ndarray,
    troughs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    grid_days: np.ndarray,
    *,
    fraction: float,
    min_length: float,
) -> np.ndarray:
    """The ``PHENO_VARS`` of the season peaking at ``sel`` (one peak per row at most), ``(pixels, vars)``."""
    lv, li, rv, ri = troughs
    n = xs.shape[1]
    step = float(grid_days[1] - grid_days[0])
    rows = np.arange(xs.shape[0])
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
    return np.where(
        valid[:, None],
        np.stack([sos_d, pos_d, eos_d, sos_v, peak, eos_v, los, peak - base, base, rate_g, rate_s, integral], axis=1),
        np.nan,
    )


def _keep_seasons(cand: np.ndarray, period: tuple[float, float] | None, max_seasons: int) -> np.ndarray:
    """The ``max_seasons`` largest amplitudes (peak in ``period``), ordered by start (peak where the start is cut)."""
    if period is not None:
        inside = (cand[..., 1] >= period[0]) & (cand[..., 1] <= period[1])
        cand[~inside] = np.nan
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
    return chosen


def pheno_pixels(
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
    """Phenometrics of up to ``max_seasons`` seasons for a batch of pixels.

    Parameters
    ----------
    values : numpy.ndarray
        NDVI ``(..., time)``, NaN where missing.
    in_days : numpy.ndarray
        Day of each input date from the origin.
    grid_days : numpy.ndarray
        Days of the regular working grid (at least two).
    max_seasons : int
        Seasons returned per pixel (the largest amplitudes).
    fraction : float
        Fraction of the amplitude at the start and end of season.
    min_amplitude : float
        Minimum prominence of a season.
    min_length : float
        Minimum season length and peak distance, days.
    lam : float or None
        Whittaker lambda on a 1-day grid; None: linear interpolation of gaps.
    period : (float, float) or None
        Keep seasons whose peak lies in these days.
    min_valid : int
        Pixels with fewer valid values give NaN.

    Returns
    -------
    numpy.ndarray
        ``(..., max_seasons, len(PHENO_VARS))`` float64; dates as days from
        the origin, NaN where a season or a value is absent.
    """
    lead = values.shape[:-1]
    v = values.reshape(-1, values.shape[-1]).astype(np.float64)
    out = np.full((v.shape[0], max_seasons, len(PHENO_VARS)), np.nan)
    step = float(grid_days[1] - grid_days[0])
    g, c = _to_grid(v, in_days, grid_days)
    enough = np.isfinite(v).sum(axis=1) >= min_valid
    x = np.where(enough[:, None], _gap_free(g, c, grid_days, lam, step), np.nan)
    good = enough & np.isfinite(x).all(axis=1)
    if not good.any():
        return out.reshape(*lead, max_seasons, len(PHENO_VARS))
    xs = x[good]
    peaks, *troughs = _find_peaks(xs, min_length, step, min_amplitude)
    rank = np.cumsum(peaks, axis=1)
    kmax = int(rank[:, -1].max()) if rank.size else 0
    cand = np.full((xs.shape[0], max(kmax, 1), len(PHENO_VARS)), np.nan)
    for k in range(kmax):
        cand[:, k] = _season_metrics(
            xs, peaks & (rank == k + 1), tuple(troughs), grid_days, fraction=fraction, min_length=min_length
        )
    out[good] = _keep_seasons(cand, period, max_seasons)
    return out.reshape(*lead, max_seasons, len(PHENO_VARS))


def pheno_block(values: np.ndarray, **kw: Any) -> np.ndarray:
    """Run :func:`pheno_pixels` over batches of ``BATCH`` pixels (bounded memory).

    Parameters
    ----------
    values : numpy.ndarray
        NDVI ``(..., time)`` of one Dask block.
    **kw
        The keyword arguments of :func:`pheno_pixels`.

    Returns
    -------
    numpy.ndarray
        ``(..., max_seasons, len(PHENO_VARS))`` float64.
    """
    lead = values.shape[:-1]
    v = values.reshape(-1, values.shape[-1])
    parts = [pheno_pixels(v[i : i + BATCH], **kw) for i in range(0, v.shape[0], BATCH)]
    n_out = (kw["max_seasons"], len(PHENO_VARS))
    out = np.concatenate(parts, axis=0) if parts else np.empty((0, *n_out))
    return out.reshape(*lead, *n_out)
