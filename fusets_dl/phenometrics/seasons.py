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

import threading
import warnings
from collections import OrderedDict
from typing import Any, NamedTuple

import numpy as np
from scipy.ndimage import maximum_filter1d

from .._logging import logger
from .._series import nanmedian_last, nearest_cells
from ..smoothing import fill_interpolated, whittaker
from .envelope import upper_envelope
from .noise import MAX_SPAN_DAYS, MIN_RESIDUALS, pseudo_residual_noise
from .options import NDVI_TOLERANCE
from .refine import crossing, extrapolate_edge, interp_at, refine_peak, window

__all__ = ["BATCH", "DATE_VARS", "FLAG_VARS", "PHENO_VARS", "PIXEL_VARS", "MainRule", "Thresholds", "pheno_block", "pheno_pixels"]

#: Variables per season, in the order of the kernel output.
PHENO_VARS = (
    "sos", "pos", "eos", "sos_value", "pos_value", "eos_value", "los", "aos", "base",
    "rate_greenup", "rate_senescence", "integral", "integral_large", "base_start", "base_end",
    "sos_extrapolated", "eos_extrapolated", "is_main", "noise",
)
#: Variables of ``PHENO_VARS`` that are dates (the kernel gives days from the origin).
DATE_VARS = ("sos", "pos", "eos")
#: Variables of ``PHENO_VARS`` that are 0/1 flags (1: the side is cut by the series and was estimated).
FLAG_VARS = ("sos_extrapolated", "eos_extrapolated", "is_main")
#: Variables of ``PHENO_VARS`` that belong to the pixel (the same in every season slot).
PIXEL_VARS = ("noise",)
#: Pixels whose noise sd exceeds this are smoothed with ``NOISY_LAMBDA_FACTOR`` x the Whittaker lambda
#: (chosen on the analytic benchmark: SOS/EOS MAE at sd 0.05 without losing 3-season pixels at sd 0.02).
NOISY_SD = 0.035
#: Lambda factor of the noisy pixels.
NOISY_LAMBDA_FACTOR = 2.0
#: Pixels per kernel pass: bounds the (pixels x grid) temporaries.
BATCH = 8192
#: Days over which the series is read at its first and last valid cell: how far it still climbs or falls there.
EDGE_SPAN_DAYS = 15.0
#: A season still at its top at a series edge (green to the last date, or from the first): over ``EDGE_SPAN_DAYS``
#: before that edge the series changes by at most this fraction of the season's amplitude; its peak is then the
#: edge, its POS the first (last) date within this fraction of the top. A series that starts 16 days after a
#: 150-day season's peak falls 3.9 % of the amplitude in its first 15 days: no season (its peak lies before the data).
EDGE_PLATEAU = 0.02
#: When both troughs of a season lie at the series edges, the 80 % rule needs one of them levelled off at its edge:
#: changing by at most this fraction of that side's amplitude over ``EDGE_SPAN_DAYS`` (a series ending 13 days after
#: EOS still falls 38 % of its descent in its last 15 days; one ending at the trough, ~0 %).
EDGE_LEVEL = 0.2
#: A complete side whose trough is the series' first (last) value, above the season's other trough: that value is on
#: the green-up (senescence), not a trough, where the series climbs from it into the data over ``EDGE_SPAN_DAYS`` by
#: more than this fraction of its excess over the other trough; the side is then measured from the other trough
#: (a series starting 10 % up a green-up had SOS 2.4 d late, 20 % up 5.1 d; a flat level above the other trough
#: climbs by noise only, and stays the side's own trough).
EDGE_CLIMB = 0.5
#: ... where both that excess and that climb exceed this many times the pixel's noise sd (on a flat start the
#: smoothed edge stands up to ~1.5 sd above the other trough and climbs as much: at 1 sd up to 12 % of the benchmark's
#: first seasons were moved, their mean SOS 0.1-0.2 d earlier; at 2, at most 5 %, first-season SOS MAE within 0.02 d).
EDGE_CLIMB_NOISE = 2.0


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


def _sides(
    x: np.ndarray, lv: np.ndarray, li: np.ndarray, rv: np.ndarray, ri: np.ndarray, n: int | None = None,
    edge_rise: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, ...]:
    """Amplitudes on each side of every position, which sides are complete, and the prominence.

    A side whose trough lies at the series boundary is complete only when it
    descends at least 80 % as far as the other side (a series that starts or
    ends in the middle of a green-up or senescence is cut there). When both
    troughs lie at the boundaries, neither side is a measured reference for
    the other: the 80 % rule then holds only where at least one of them has
    levelled off at its edge (``edge_rise``, broadcastable to ``x``: how much the
    series climbs over ``EDGE_SPAN_DAYS`` from its first valid cell into the
    data, and from its last valid cell back into the data; at most
    ``EDGE_LEVEL`` of that side's amplitude). Where neither side is complete the prominence is the smaller
    descent (each is a lower bound of its side's amplitude).
    """
    n = x.shape[1] if n is None else n
    amp_l, amp_r = x - lv, x - rv
    l_bound, r_bound = li == 0, ri == n - 1
    left_ok = ~l_bound | (amp_l >= 0.8 * amp_r)
    right_ok = ~r_bound | (amp_r >= 0.8 * amp_l)
    both = l_bound & r_bound
    if edge_rise is not None:
        rise_l, rise_r = edge_rise  # broadcastable to x
        level_l, level_r = rise_l <= EDGE_LEVEL * amp_l, rise_r <= EDGE_LEVEL * amp_r
        # the 80 % rule needs one real trough to measure against: this side's or the other's
        left_ok &= ~both | level_l | level_r
        right_ok &= ~both | level_r | level_l
    neither = np.maximum(np.minimum(amp_l, amp_r), 0.0) if edge_rise is not None else 0.0
    prom = np.where(left_ok & right_ok, np.minimum(amp_l, amp_r),
                    np.where(left_ok, amp_l, np.where(right_ok, amp_r, np.where(both, neither, 0.0))))
    return amp_l, amp_r, left_ok, right_ok, prom


def _segment_values(x: np.ndarray, peaks: np.ndarray, pos: np.ndarray, reverse: bool) -> np.ndarray:
    """Trough value on one side of each peak at flat positions ``pos`` (one reduceat pass)."""
    st = np.flatnonzero(_segment_starts(peaks, reverse).ravel())
    mins = np.minimum.reduceat(x.ravel(), st)
    return mins[np.searchsorted(st, pos, side="right") - 1]


def _prune(
    x: np.ndarray, peaks: np.ndarray, min_amplitude: np.ndarray, max_iter: int = 100,
    edge_rise: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, ...]:
    """Remove low-prominence peaks lower than their neighbours until none is left.

    Works on the flat positions of the peaks; a peak's side touches the series
    boundary when it is the first (last) peak of its row and the boundary value
    is the trough. ``min_amplitude`` is the prominence each row's peaks need;
    ``edge_rise``: per row, how much the series climbs from its first and
    last valid cells into the data (:func:`_sides`).
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
        # the boundary is the trough where the series has not climbed back from it there (EDGE_PLATEAU: the smoother's
        # uptick at a flat end made a trough 15 days before the end a measured one, and a cut season a complete one)
        tol = EDGE_PLATEAU * np.maximum(h - np.minimum(lv, rv), 0)  # of the season's larger descent
        li = np.where(first & (flat[row * n] <= lv + tol), 0, 1)
        ri = np.where(last & (flat[row * n + n - 1] <= rv + tol), n - 1, n - 2)
        rise = None if edge_rise is None else (edge_rise[0][row][:, None], edge_rise[1][row][:, None])
        prom = _sides(h[:, None], lv[:, None], li[:, None], rv[:, None], ri[:, None], n=n, edge_rise=rise)[4][:, 0]
        low = prom < min_amplitude[row]
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


def _to_grid(v: np.ndarray, in_days: np.ndarray, grid_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the values sharing each grid cell (nearest cell) and their count, ``(pixels, grid)``.

    The cells of the sorted input dates are sorted too, so the values of each
    cell are summed in one ``np.add.reduceat`` pass (in date order).
    """
    p, ng = v.shape[0], grid_days.size
    cell, _ = nearest_cells(in_days, grid_days)
    ok = np.isfinite(v)
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    s = np.zeros((p, ng))
    c = np.zeros((p, ng))
    if in_days.size:
        s[:, cell[starts]] = np.add.reduceat(np.where(ok, v, 0.0), starts, axis=1)
        c[:, cell[starts]] = np.add.reduceat(ok.astype(np.float64), starts, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = s / c
    return g, c


def _gap_free(
    g: np.ndarray, c: np.ndarray, grid_days: np.ndarray, lam: float | None, step: float, noisy: np.ndarray | None = None
) -> np.ndarray:
    """Whittaker-smoothed (``lam`` on a 1-day grid, ``NOISY_LAMBDA_FACTOR`` x where ``noisy``) or interpolated series."""
    if lam is not None:
        w = (c > 0).astype(np.float64)
        if noisy is None or not noisy.any():
            return whittaker(g, w, lam / step**3)
        out = np.empty(g.shape)
        out[~noisy] = whittaker(g[~noisy], w[~noisy], lam / step**3)
        out[noisy] = whittaker(g[noisy], w[noisy], NOISY_LAMBDA_FACTOR * lam / step**3)
        return out
    x, _ = fill_interpolated(g, np.zeros_like(g), grid_days)
    return x


def _hold_edges(x: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The series held constant before its first and after its last data cell, and those cells.

    The smoother continues the trend beyond the data; holding the edge values
    instead means no crossing, trough or peak is ever placed outside the data.
    """
    n = x.shape[1]
    has = c > 0
    first = np.argmax(has, axis=1)
    last = n - 1 - np.argmax(has[:, ::-1], axis=1)
    t = np.arange(n)[None, :]
    rows = np.arange(x.shape[0])[:, None]
    held = np.where(t < first[:, None], x[rows, first[:, None]], x)
    held = np.where(t > last[:, None], x[rows, last[:, None]], held)
    return held, first, last


def _edge_rise(xs: np.ndarray, first: np.ndarray, last: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """How much each row climbs over ``EDGE_SPAN_DAYS`` from its first valid cell into the data, and from its last one back."""
    rows = np.arange(xs.shape[0])
    span = max(2, round(EDGE_SPAN_DAYS / step))
    into_start = np.clip(first + span, first, last)
    into_end = np.clip(last - span, first, last)
    return xs[rows, into_start] - xs[rows, first], xs[rows, into_end] - xs[rows, last]


def _find_peaks(
    xs: np.ndarray, first: np.ndarray, last: np.ndarray, separation: float, step: float, min_prominence: np.ndarray,
    edge_rise: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, ...]:
    """Peaks (first of a plateau, strictly inside the data) after pruning, and the troughs around every position.

    A peak is the highest value within ``separation`` days on either side (a
    window of ``2 * separation`` days; it was ``separation`` in all, so peaks
    half as far apart as asked both survived). A first or last valid cell is
    a peak too where the series is still at its top there: the highest in
    its window, and within ``EDGE_PLATEAU`` of the row's range of that value
    over ``EDGE_SPAN_DAYS`` (``edge_rise``; a crop still green at the end of
    the series, whose rise the smoother ends in its last cell, had no season
    while a 0.03 decline before the end gave one).
    """
    win = max(3, round(2 * separation / step) | 1)
    mx = maximum_filter1d(xs, size=win, axis=1, mode="nearest")
    top = xs >= mx - 1e-12
    peaks = top & ~np.concatenate([np.zeros((xs.shape[0], 1), bool), top[:, :-1]], axis=1)
    t = np.arange(xs.shape[1])[None, :]
    if edge_rise is not None:
        rows = np.arange(xs.shape[0])
        rng = xs[rows, last] - np.min(xs, axis=1), xs[rows, first] - np.min(xs, axis=1)
        at_end = peaks[rows, last] & (rng[0] > 0) & (-edge_rise[1] <= EDGE_PLATEAU * rng[0])
        at_start = top[rows, first] & (rng[1] > 0) & (-edge_rise[0] <= EDGE_PLATEAU * rng[1])
    peaks &= (t > first[:, None]) & (t < last[:, None])  # no season peaking at or outside the data's edge but these
    if edge_rise is not None:
        peaks[rows[at_end], last[at_end]] = True
        peaks[rows[at_start], first[at_start]] = True
    return _prune(xs, peaks, min_prominence, edge_rise=edge_rise)


class Thresholds(NamedTuple):
    """Start and end of season: fractions of each side's amplitude, or absolute NDVI values."""

    start: float
    end: float
    absolute: bool = False


def _edge_troughs(
    ltv: np.ndarray, rtv: np.ndarray, l_edge: np.ndarray, r_edge: np.ndarray, edge_rise: tuple[np.ndarray, np.ndarray],
    noise: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The troughs a season's sides are measured from, where a complete side's trough is the series' edge.

    The 80 % rule (:func:`_sides`) passes a side whose trough is the first
    (last) valid cell when it descends at least 80 % as far as the other
    side, so a series starting up to about 20 % of the way up a green-up
    (ending as far down a senescence) had its first (last) value taken as
    the trough: the 50 % level was raised, SOS 2.4 days late at 10 % and
    5.1 days at 20 % on a logistic of scale 12.5 days, 4.9 days at 10 % on
    a scale of 25 days (EOS as early), on noise-free data. Where that edge
    value lies above the other side's trough and the series climbs from it
    into the data over ``EDGE_SPAN_DAYS`` by more than ``EDGE_CLIMB`` of that
    excess (``edge_rise``), the value is on the rise, not a trough: the side
    is measured from the other side's trough (as a cut side is
    extrapolated). Both the excess and the climb must also exceed
    ``EDGE_CLIMB_NOISE`` times the pixel's noise sd (a noisy flat start
    stands above the other trough and climbs by noise). A level start above
    the other trough climbs by noise only and stays the side's own trough
    (the TIMESAT convention).

    Parameters
    ----------
    ltv, rtv : numpy.ndarray
        Trough values before and after each peak.
    l_edge, r_edge : numpy.ndarray
        Complete sides whose trough is the first (last) valid cell.
    edge_rise : (numpy.ndarray, numpy.ndarray)
        How much the series climbs over ``EDGE_SPAN_DAYS`` from its first
        valid cell into the data, and from its last valid cell back
        (:func:`_edge_rise`).
    noise : numpy.ndarray
        The pixel's noise sd (0 where unknown).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The troughs before and after each peak to measure from.
    """
    low = np.minimum(ltv, rtv)
    floor = EDGE_CLIMB_NOISE * noise
    up_l, up_r = ltv - low, rtv - low  # how far each edge value lies above the lower trough
    climbing_l = l_edge & (up_l > 0) & (up_l > floor) & (edge_rise[0] > np.maximum(EDGE_CLIMB * up_l, floor))
    climbing_r = r_edge & (up_r > 0) & (up_r > floor) & (edge_rise[1] > np.maximum(EDGE_CLIMB * up_r, floor))
    return np.where(climbing_l, low, ltv), np.where(climbing_r, low, rtv)


def _threshold(peak: np.ndarray, trough: np.ndarray, value: float, absolute: bool) -> np.ndarray:
    """Threshold value of one side."""
    return np.full(peak.shape, value) if absolute else trough + value * (peak - trough)


def _cut_side(
    xs: np.ndarray, edge: np.ndarray, lo: np.ndarray, hi: np.ndarray, thr: np.ndarray, rising: bool, extrapolate: float | None, step: float
) -> np.ndarray:
    """Start (``rising``) or end of a side cut by the series: crossed in the data, else extrapolated (or NaN)."""
    inside = crossing(xs, lo, hi, thr, rising=rising)
    if extrapolate is None:
        return np.full(edge.shape, np.nan)
    out = extrapolate_edge(xs, edge, thr, rising, span=max(2, round(15.0 / step)), max_cells=extrapolate / step)
    return np.where(np.isfinite(inside), inside, out)


def _running_integral(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slopes (central differences) and integral from cell 0 to every cell of each row's cubic Hermite interpolant (in cells).

    Over a whole cell the Catmull-Rom cubic integrates to the trapezoid plus
    ``(m_i - m_{i+1}) / 12``: the trapezoid rule with its end correction,
    exact for cubics (the plain trapezoid under-reads a season's concave top
    by ``h**2 / 12`` times the change of slope: -0.6 % on 16-day composites).
    """
    m = np.gradient(x, axis=1) if x.shape[1] > 1 else np.zeros_like(x)
    cell = 0.5 * (x[:, :-1] + x[:, 1:]) + (m[:, :-1] - m[:, 1:]) / 12.0
    return m, np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(cell, axis=1)], axis=1)


def _integral_to(x: np.ndarray, run: tuple[np.ndarray, np.ndarray], rows: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Integral of the cubic Hermite rows ``x[rows]`` from cell 0 to the fractional cells ``at`` (clipped to the grid)."""
    m, total = run
    n = x.shape[1]
    at = np.clip(np.nan_to_num(at), 0.0, n - 1.0)
    i = np.clip(np.floor(at).astype(np.int64), 0, n - 2)
    f = at - i
    f2, f3, f4 = f * f, f**3, f**4
    # the integrals from 0 to f of the Hermite basis h00, h10, h01, h11
    part = (x[rows, i] * (f - f3 + 0.5 * f4) + m[rows, i] * (0.5 * f2 - 2.0 * f3 / 3.0 + 0.25 * f4)
            + x[rows, i + 1] * (f3 - 0.5 * f4) + m[rows, i + 1] * (0.25 * f4 - f3 / 3.0))
    return total[rows, i] + part


class _Integrals(NamedTuple):
    """The series (and its positive part) with their running integrals, each row's observed range, the rows of a subset."""

    x: np.ndarray
    run: tuple[np.ndarray, np.ndarray]
    pos: np.ndarray
    run_pos: tuple[np.ndarray, np.ndarray]
    observed: tuple[np.ndarray, np.ndarray]
    rows: np.ndarray


def _season_metrics(
    xs: np.ndarray,
    j: np.ndarray,
    has: np.ndarray,
    troughs: tuple[np.ndarray, ...],
    sums: _Integrals,
    edges: tuple[np.ndarray, np.ndarray],
    grid_days: np.ndarray,
    *,
    thresholds: Thresholds,
    min_length: float,
    pos_level: float,
    extrapolate: float | None,
    edge_rise: tuple[np.ndarray, np.ndarray] | None = None,
    noise: np.ndarray | None = None,
) -> np.ndarray:
    """The ``PHENO_VARS`` of the season peaking at grid cell ``j`` of each row (where ``has``), ``(pixels, vars)``.

    ``troughs``: value and index of the trough before and after each peak;
    ``sums``: the series' running integrals and gridded observations
    (:class:`_Integrals`) and the row of each pixel in them; ``edge_rise``:
    per row, how much the series climbs from its first and last valid cells
    into the data (:func:`_sides`); ``noise``: per row, the pixel's noise sd
    (:func:`_edge_troughs`; None: 0).

    ``integral``/``integral_large`` integrate the smoothed series (its cubic
    Hermite interpolant between grid cells, :func:`_running_integral`) from
    the interpolated SOS to EOS (before: whole grid cells from
    ceil(SOS) to floor(EOS), which moved with the grid's phase and step:
    +1.7 % on a 5-day grid from 1 January, +3.4 % on 10-day composites).
    ``pos_value`` and the troughs (``base``, hence ``aos``) are held within
    the range of the values observed at the pixel: a gap across the peak
    let the smoother overshoot (0.956 where no value above 0.80 exists).
    """
    ltv, lti, rtv, rti = troughs
    crow = sums.rows
    n = xs.shape[1]
    step = float(grid_days[1] - grid_days[0])
    rows = np.arange(xs.shape[0])
    peak = xs[rows, j]
    _amp_l, _amp_r, left_ok, right_ok, _ = _sides(peak, ltv, lti, rtv, rti, n=n, edge_rise=edge_rise)
    if edge_rise is not None:
        sd = np.zeros(peak.shape) if noise is None else noise
        ltv, rtv = _edge_troughs(ltv, rtv, (lti == 0) & left_ok, (rti == n - 1) & right_ok, edge_rise, sd)
    thr_l = _threshold(peak, ltv, thresholds.start, thresholds.absolute)
    thr_r = _threshold(peak, rtv, thresholds.end, thresholds.absolute)
    # a cut side is measured against the other side's trough
    thr_l_cut = _threshold(peak, rtv, thresholds.start, thresholds.absolute)
    thr_r_cut = _threshold(peak, ltv, thresholds.end, thresholds.absolute)
    win_l, win_r = window(n, lti, j), window(n, j, rti)
    sos_i = np.where(left_ok, crossing(xs, lti, j, thr_l, rising=True, inside=win_l), np.nan)
    eos_i = np.where(right_ok, crossing(xs, j, rti, thr_r, rising=False, inside=win_r), np.nan)
    sos_x = ~left_ok & right_ok
    eos_x = ~right_ok & left_ok
    if extrapolate is not None:
        sos_i = np.where(sos_x, _cut_side(xs, edges[0], lti, j, thr_l_cut, True, extrapolate, step), sos_i)
        eos_i = np.where(eos_x, _cut_side(xs, edges[1], j, rti, thr_r_cut, False, extrapolate, step), eos_i)
    sos_x &= np.isfinite(sos_i)
    eos_x &= np.isfinite(eos_i)
    pos_i = np.where(left_ok & right_ok, refine_peak(xs, j, lti, rti, ltv, rtv, pos_level, (win_l, win_r)), j.astype(np.float64))
    # a season still at its top at the series' end (start): the first (last) date within EDGE_PLATEAU of the top
    at_end, at_start = (j >= edges[1]) & left_ok, (j <= edges[0]) & right_ok
    if at_end.any():
        reach = crossing(xs, lti, j, peak - EDGE_PLATEAU * (peak - ltv), rising=True, inside=win_l)
        pos_i = np.where(at_end & np.isfinite(reach), reach, pos_i)
    if at_start.any():
        leave = crossing(xs, j, rti, peak - EDGE_PLATEAU * (peak - rtv), rising=False, inside=win_r)
        pos_i = np.where(at_start & np.isfinite(leave), leave, pos_i)
    # no invented extremes: the peak and troughs within the range of the values observed at the pixel
    lo_obs, hi_obs = sums.observed[0][crow], sums.observed[1][crow]
    top = np.minimum(peak, hi_obs)
    ltv_c, rtv_c = np.maximum(ltv, lo_obs), np.maximum(rtv, lo_obs)
    base = np.where(left_ok & right_ok, 0.5 * (ltv_c + rtv_c), np.where(left_ok, ltv_c, np.where(right_ok, rtv_c, np.nan)))
    sos_d = grid_days[0] + sos_i * step
    eos_d = grid_days[0] + eos_i * step
    pos_d = grid_days[0] + pos_i * step
    sos_v = np.where(sos_x, thr_l_cut, interp_at(xs, sos_i))
    eos_v = np.where(eos_x, thr_r_cut, interp_at(xs, eos_i))
    los = eos_d - sos_d
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_g = (top - sos_v) / (pos_d - sos_d)
        rate_s = (top - eos_v) / (eos_d - pos_d)
    complete = np.isfinite(los)
    # from the interpolated SOS to EOS (the part within the data of an extrapolated side)
    total = _integral_to(sums.x, sums.run, crow, eos_i) - _integral_to(sums.x, sums.run, crow, sos_i)
    total_pos = _integral_to(sums.pos, sums.run_pos, crow, eos_i) - _integral_to(sums.pos, sums.run_pos, crow, sos_i)
    inside = np.clip(np.nan_to_num(eos_i), 0, n - 1) - np.clip(np.nan_to_num(sos_i), 0, n - 1)
    large = np.where(complete, total_pos * step, np.nan)
    small = np.where(complete, (total - base * inside) * step, np.nan)
    # both troughs at the series' edges and neither levelled off: the peak alone (SOS/EOS NaT, no base)
    neither = ~left_ok & ~right_ok & (lti == 0) & (rti == n - 1)
    valid = has & (left_ok | right_ok | (neither if edge_rise is not None else False))
    valid &= ~(complete & (los < min_length))
    cols = [sos_d, pos_d, eos_d, sos_v, top, eos_v, los, top - base, base, rate_g, rate_s, small, large,
            np.where(left_ok, ltv_c, np.nan), np.where(right_ok, rtv_c, np.nan),
            np.where(np.isfinite(sos_i), sos_x, np.nan), np.where(np.isfinite(eos_i), eos_x, np.nan),
            np.full(peak.shape, np.nan), np.full(peak.shape, np.nan)]
    return np.where(valid[:, None], np.stack(cols, axis=1).astype(np.float64), np.nan)


def _keep_seasons(cand: np.ndarray, period: tuple[float, float] | None, max_seasons: int, per_year: int | None = None,
                  day_years: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``max_seasons`` largest amplitudes (peak in ``period``), ordered by start (peak where the start is cut).

    Also returns, per pixel, how many seasons were found (peak in
    ``period``), or with ``per_year`` the most found in one calendar year:
    above ``max_seasons`` (``per_year``) seasons were dropped. A season
    without an amplitude (both sides cut, :func:`_sides`) ranks below those
    with one.

    With ``per_year`` (``by_year``): first the ``per_year`` largest of each
    calendar year of the peak (``day_years``: the year of each day from the
    origin), so a year with more seasons than slots keeps its own largest
    and never takes another year's slots (it used to keep the largest
    ``per_year x years`` overall, then each year's first by start: a year's
    small cover crop instead of its main crop, and another year's only
    season lost).
    """
    if period is not None:
        inside = (cand[..., 1] >= period[0]) & (cand[..., 1] <= period[1])
        cand[~inside] = np.nan
    found = np.isfinite(cand[..., 1])
    amp = np.where(found, np.nan_to_num(cand[..., 7], nan=-1.0), -np.inf)
    count = found.sum(axis=1)
    if per_year is not None and day_years is not None and cand.shape[1]:
        day = np.clip(np.floor(np.nan_to_num(cand[..., 1])).astype(np.int64), 0, day_years.size - 1)
        year = np.where(np.isfinite(cand[..., 1]), day_years[day], -1)
        count = np.max(np.where(found, ((year[:, :, None] == year[:, None, :]) & found[:, None, :]).sum(axis=2), 0), axis=1)
        idx = np.arange(cand.shape[1])
        # rank of each candidate among its year's by amplitude (ties: the earlier first)
        ahead = (amp[:, None, :] > amp[:, :, None]) | ((amp[:, None, :] == amp[:, :, None]) & (idx[None, None, :] < idx[None, :, None]))
        rank = ((year[:, None, :] == year[:, :, None]) & ahead).sum(axis=2)  # [p, i]: candidates of i's year ahead of i
        amp = np.where(rank < per_year, amp, -np.inf)
        cand = np.where(np.isfinite(amp)[..., None], cand, np.nan)
    top = np.argsort(-amp, axis=1, kind="stable")[:, :max_seasons]
    chosen = np.take_along_axis(cand, top[..., None], axis=1)
    key = np.where(np.isfinite(chosen[..., 0]), chosen[..., 0], chosen[..., 1])
    key = np.where(np.isfinite(chosen[..., 1]), key, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    chosen = np.take_along_axis(chosen, order[..., None], axis=1)
    if chosen.shape[1] < max_seasons:
        pad = np.full((chosen.shape[0], max_seasons - chosen.shape[1], len(PHENO_VARS)), np.nan)
        chosen = np.concatenate([chosen, pad], axis=1)
    return chosen, count


def _capped_text(notes: dict[str, Any]) -> str:
    cap, by_year = notes["cap"], notes["by_year"]
    if by_year:
        return (f"phenology: {notes['capped']} of {notes['pixels']} pixels have more seasons peaking in one year (calendar, or the season year of year_start) than "
                f"by_year's {cap} slots (up to {notes['most']} in a year): each year keeps its {cap} largest, and n_seasons "
                f"counts the seasons kept; pass by_year={notes['most']} to keep them all, or, where the extra ones are small splits "
                "of one season by noise or gaps, min_amplitude or min_length to drop them")
    return (f"phenology: {notes['capped']} of {notes['pixels']} pixels have more seasons than max_seasons={cap} (up to "
            f"{notes['most']}): the {cap} largest are kept, and n_seasons counts the seasons kept; pass "
            f"max_seasons={notes['most']} to keep them all, or by_year=True for {cap} a year of peak")


def _note_capped(found: np.ndarray, cap: int, by_year: bool, pixels: int, notes: dict[str, Any] | None) -> None:
    """Count the pixels that lost seasons to ``max_seasons`` (``by_year``'s slots): into ``notes``, or warn now."""
    capped = found > cap
    mine = {"capped": int(capped.sum()), "most": int(found.max()) if found.size else 0, "cap": cap, "by_year": by_year,
            "pixels": pixels}
    if notes is None:
        if mine["capped"]:
            warnings.warn(_capped_text(mine), UserWarning, stacklevel=3)
        return
    notes["capped"] = notes.get("capped", 0) + mine["capped"]
    notes["most"] = max(notes.get("most", 0), mine["most"])
    notes["cap"], notes["by_year"] = cap, by_year


class MainRule(NamedTuple):
    """Which seasons are main: amplitude fraction of the year's largest, calendar of each grid day, months allowed."""

    fraction: float
    day_years: np.ndarray
    day_months: np.ndarray
    months: tuple[int, int] | None = None


def _main_flags(kept: np.ndarray, rule: MainRule) -> np.ndarray:
    """1 where a season's amplitude reaches ``rule.fraction`` of the largest of its pixel and calendar year.

    With ``rule.months`` (first, last; wrapping over the new year when first
    > last) only seasons peaking in those months can be main, and the largest
    is taken among them. NaN where there is no season.
    """
    pos, aos = kept[..., PHENO_VARS.index("pos")], kept[..., PHENO_VARS.index("aos")]
    ok = np.isfinite(pos) & np.isfinite(aos)
    day = np.clip(np.floor(np.nan_to_num(pos)).astype(np.int64), 0, rule.day_years.size - 1)  # the calendar day of the peak
    year = np.where(ok, rule.day_years[day], -1)
    cand = ok.copy()
    if rule.months is not None:
        m, (a, b) = rule.day_months[day], rule.months
        cand &= ((m >= a) & (m <= b)) if a <= b else ((m >= a) | (m <= b))
    amp = np.where(cand, aos, -np.inf)
    same = year[:, :, None] == year[:, None, :]
    ref = np.max(np.where(same, amp[:, None, :], -np.inf), axis=2)
    main = cand & (aos >= rule.fraction * ref)
    return np.where(ok, main, np.nan)


def _short_text(short: int, pixels: int, min_span: float) -> str:
    return (f"phenology: {short} of {pixels} pixels have valid values spanning fewer than {min_span:g} days (the shortest "
            "series that holds a season): no season reported for them")


def _uncrossed_text(notes: dict[str, Any], thresholds: Thresholds) -> str:
    return (f"phenology: absolute thresholds start {thresholds.start:g} / end {thresholds.end:g} (NDVI): of the {notes['seasons']} "
            f"seasons found, {notes['no_sos']} never cross the start threshold between trough and peak (SOS NaT) and "
            f"{notes['no_eos']} the end threshold (EOS NaT); their NDVI spans {notes['lo']:.3g}..{notes['hi']:.3g} "
            "(troughs to peaks): choose thresholds within that range, or threshold_type='fraction'")


def _warn_uncrossed(kept: np.ndarray, thresholds: Thresholds, notes: dict[str, Any] | None = None) -> None:
    """Warn, with counts, when seasons are reported whose complete side never crosses its absolute threshold (SOS/EOS NaT).

    With ``notes`` the counts are added to it instead (:func:`pheno_block` warns once for all its batches).
    """
    v = {k: kept[..., PHENO_VARS.index(k)] for k in ("sos", "pos", "eos", "pos_value", "base_start", "base_end")}
    has = np.isfinite(v["pos"])
    no_sos = has & np.isfinite(v["base_start"]) & np.isnan(v["sos"])
    no_eos = has & np.isfinite(v["base_end"]) & np.isnan(v["eos"])
    with np.errstate(invalid="ignore"):
        lo = float(np.nanmin(np.fmin(v["base_start"], v["base_end"])[has])) if has.any() else np.nan
        hi = float(np.nanmax(v["pos_value"][has])) if has.any() else np.nan
    mine = {"seasons": int(has.sum()), "no_sos": int(no_sos.sum()), "no_eos": int(no_eos.sum()), "lo": lo, "hi": hi}
    if notes is not None:
        for k in ("seasons", "no_sos", "no_eos"):
            notes[k] = notes.get(k, 0) + mine[k]
        notes["lo"], notes["hi"] = float(np.fmin(notes.get("lo", np.nan), lo)), float(np.fmax(notes.get("hi", np.nan), hi))
        return
    if no_sos.any() or no_eos.any():
        warnings.warn(_uncrossed_text(mine, thresholds), UserWarning, stacklevel=3)


def _pixel_noise(v: np.ndarray, in_days: np.ndarray, noise: np.ndarray | None, given_sd: np.ndarray | None) -> np.ndarray:
    """Noise sd per pixel: ``given_sd`` (a per-value sd, its median) or ``noise``, else estimated from the values ``v``.

    The estimate reads the input values at their own dates
    (:func:`.noise.pseudo_residual_noise` with ``in_days``), not the working
    grid: on a daily grid (dates off a regular grid from midnight, such as a
    series stamped 13:00, or irregular clear views) three values on
    consecutive days were needed, and the noise was NaN for every pixel.
    """
    if noise is not None:
        return np.asarray(noise, dtype=np.float64).reshape(-1)
    if given_sd is not None:
        return nanmedian_last(given_sd)[:, 0]
    return pseudo_residual_noise(v, in_days)


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
    noise_factor: float = 0.0,
    min_separation: float | None = None,
    thresholds: Thresholds | None = None,
    pos_level: float = 0.8,
    extrapolate: float | None = None,
    min_span: float = 0.0,
    noise: np.ndarray | None = None,
    std: np.ndarray | None = None,
    envelope: int = 0,
    main: MainRule | None = None,
    per_year: int | None = None,
    notes: dict[str, Any] | None = None,
) -> np.ndarray:
    """Phenometrics of up to ``max_seasons`` seasons for a batch of pixels.

    Parameters
    ----------
    values : numpy.ndarray
        NDVI ``(..., time)``, NaN where missing; values beyond [-1, 1] by
        more than ``NDVI_TOLERANCE`` cannot be NDVI and count as missing.
    in_days : numpy.ndarray
        Day of each input date from the origin.
    grid_days : numpy.ndarray
        Days of the regular working grid (at least two).
    max_seasons : int
        Seasons returned per pixel (the largest amplitudes).
    fraction : float
        Fraction of the amplitude at the start and end of season (when
        ``thresholds`` is not given).
    min_amplitude : float
        Minimum prominence of a season (NDVI).
    min_length : float
        Minimum season length (days).
    lam : float or None
        Whittaker lambda on a 1-day grid; None: linear interpolation of gaps.
    period : (float, float) or None
        Keep seasons whose peak lies in these days.
    min_valid : int
        Pixels with fewer valid values give NaN.
    noise_factor : float
        A season's prominence must also reach ``noise_factor`` times the
        pixel's noise sd.
    min_separation : float, optional
        Minimum distance between peaks (days; default ``min_length / 2``): a
        peak is the highest value within it on either side.
    thresholds : Thresholds, optional
        Start and end thresholds (default: ``fraction`` of the amplitude).
    pos_level : float
        The peak is the middle of the crossings at this fraction of the amplitude.
    extrapolate : float or None
        Continue a start or end cut by the series up to this many days beyond
        the data (flagged); None: leave them NaN.
    min_span : float
        Pixels whose valid values span fewer days give no season.
    noise : numpy.ndarray, optional
        Noise sd per pixel ``(...)`` (overrides the estimate).
    std : numpy.ndarray, optional
        Uncertainty per value ``(..., time)`` (for example ``NDVI_std``):
        the pixel's noise is its median (overrides the estimate).
    envelope : int
        Upper-envelope refits (:func:`.envelope.upper_envelope`): values far
        below the fit (cloud dips) are dropped and the series refitted this
        many times; 0: off.
    main : MainRule, optional
        How ``is_main`` is set (None: left NaN).
    per_year : int, optional
        ``by_year``'s slots: each calendar year of the peak keeps its own
        ``per_year`` largest seasons (the year from ``main.day_years``).
    notes : dict, optional
        Where the counts of the compute-time warnings (short series, absolute
        thresholds never crossed) are added instead of warning: the caller
        warns once (:func:`pheno_block`).

    Returns
    -------
    numpy.ndarray
        ``(..., max_seasons, len(PHENO_VARS))`` float64; dates as days from
        the origin, NaN where a season or a value is absent; ``noise`` is
        set in every slot.
    """
    lead = values.shape[:-1]
    v = values.reshape(-1, values.shape[-1]).astype(np.float64)
    with np.errstate(invalid="ignore"):
        v[np.abs(v) > 1.0 + NDVI_TOLERANCE] = np.nan  # cannot be NDVI (a bad pixel, -1.5 or 1.3): missing, not a dip or a peak
    out = np.full((v.shape[0], max_seasons, len(PHENO_VARS)), np.nan)
    step = float(grid_days[1] - grid_days[0])
    thresholds = thresholds or Thresholds(fraction, fraction)
    g, c = _to_grid(v, in_days, grid_days)
    sd = None if std is None else _to_grid(np.asarray(std, np.float64).reshape(v.shape), in_days, grid_days)[0]
    sigma = _pixel_noise(v, in_days, None if noise is None else np.asarray(noise).reshape(-1), sd)
    out[:, :, PHENO_VARS.index("noise")] = sigma[:, None]
    finite = np.isfinite(v)
    # input dates are sorted: the span is from the first to the last valid date
    span = in_days[v.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1)] - in_days[np.argmax(finite, axis=1)]
    span = np.where(finite.any(axis=1), span, -np.inf)
    enough = (finite.sum(axis=1) >= min_valid) & (span >= min_span)
    def fit(gg: np.ndarray, cc: np.ndarray, sd_: np.ndarray) -> np.ndarray:
        return _gap_free(gg, cc, grid_days, lam, step, np.nan_to_num(sd_) > NOISY_SD)

    cell = nearest_cells(in_days, grid_days)[0]

    def kept_noise(rows: np.ndarray, dropped: np.ndarray) -> np.ndarray:  # the values of the cells kept, at their own dates
        return pseudo_residual_noise(np.where(dropped[:, cell], np.nan, v[rows]), in_days)

    x, sigma, _ = upper_envelope(g, c, sigma, fit, envelope, estimate_noise=noise is None and std is None, noise_of=kept_noise)
    out[:, :, PHENO_VARS.index("noise")] = sigma[:, None]
    x = np.where(enough[:, None], x, np.nan)
    good = enough & np.isfinite(x).all(axis=1)
    short = (finite.sum(axis=1) >= min_valid) & (span < min_span)
    if notes is not None:
        notes["pixels"] = notes.get("pixels", 0) + v.shape[0]
        notes["short"] = notes.get("short", 0) + int(short.sum())
        notes["min_span"] = min_span
    elif short.any():
        warnings.warn(_short_text(int(short.sum()), v.shape[0], min_span), UserWarning, stacklevel=2)
    if noise_factor > 0 and noise is None and std is None and np.isnan(sigma[good]).any():
        # one text (no counts) so that the chunks of a Dask array give one warning
        warnings.warn(
            f"phenology: the noise of some pixels could not be estimated (fewer than {MIN_RESIDUALS} values whose neighbouring "
            f"values lie within {MAX_SPAN_DAYS:g} days, or 2.5 date spacings): their noise output is NaN and their noise test "
            "(noise_factor) is off, so a season needs only min_amplitude; pass noise= or std= to set it",
            UserWarning, stacklevel=2,
        )
    if not good.any():
        return out.reshape(*lead, max_seasons, len(PHENO_VARS))
    xs, first, last = _hold_edges(x[good], c[good])
    prominence = np.maximum(min_amplitude, noise_factor * np.nan_to_num(sigma[good]))
    rise = _edge_rise(xs, first, last, step)
    edge_noise = np.nan_to_num(sigma[good])  # an edge climbs only beyond it (_edge_troughs); unknown noise: 0
    peaks, lv, li, rv, ri = _find_peaks(xs, first, last, min_separation or min_length / 2, step, prominence, rise)
    n = xs.shape[1]
    xpos = np.clip(xs, 0, None)
    with np.errstate(invalid="ignore"):
        seen = (np.nanmin(g[good], axis=1), np.nanmax(g[good], axis=1))  # good rows have data
    sums = _Integrals(xs, _running_integral(xs), xpos, _running_integral(xpos), seen, np.arange(xs.shape[0]))
    # the k-th peak of every row, from the peaks' positions in row order
    count = peaks.sum(axis=1)
    pcol = np.nonzero(peaks)[1]
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    kmax = int(count.max()) if count.size else 0
    cand = np.full((xs.shape[0], max(kmax, 1), len(PHENO_VARS)), np.nan)
    for k in range(kmax):
        has = count > k
        full = has.sum() > 0.75 * xs.shape[0]
        r = np.arange(xs.shape[0]) if full else np.flatnonzero(has)
        j = np.where(has[r], pcol[np.minimum(start[r] + k, pcol.size - 1)], 0)
        h, ltv, rtv = xs[r, j], lv[r, j], rv[r, j]
        # as in _prune: the first (last) peak's trough is the boundary where the series has not climbed back from it there
        tol = EDGE_PLATEAU * np.maximum(h - np.minimum(ltv, rtv), 0)
        at_l = (k == 0) & (xs[r, first[r]] <= ltv + tol)
        at_r = (k == count[r] - 1) & (xs[r, last[r]] <= rtv + tol)
        lti = np.where((li[r, j] <= first[r]) | at_l, 0, li[r, j])
        rti = np.where((ri[r, j] >= last[r]) | at_r, n - 1, ri[r, j])
        cand[r, k] = _season_metrics(
            xs if full else xs[r], j, has[r], (ltv, lti, rtv, rti), sums._replace(rows=r), (first[r], last[r]),
            grid_days, thresholds=thresholds, min_length=min_length, pos_level=pos_level, extrapolate=extrapolate,
            edge_rise=(rise[0][r], rise[1][r]), noise=edge_noise[r],
        )
    kept, found = _keep_seasons(cand, period, max_seasons, per_year, None if main is None else main.day_years)
    _note_capped(found, per_year or max_seasons, per_year is not None, v.shape[0], notes)
    if thresholds.absolute:
        _warn_uncrossed(kept, thresholds, notes)
    if main is not None:
        kept[..., PHENO_VARS.index("is_main")] = _main_flags(kept, main)
    kept[..., PHENO_VARS.index("noise")] = sigma[good][:, None]
    out[good] = kept
    return out.reshape(*lead, max_seasons, len(PHENO_VARS))


#: The per-chunk warnings shown, by phenology call (its token; the last :data:`_CALLS_KEPT` calls).
_SHOWN_BY_CALL: OrderedDict[str, set[str]] = OrderedDict()
_SHOWN_LOCK = threading.Lock()
_CALLS_KEPT = 64


def _first_time(call: str, text: str) -> bool:
    """Whether ``text`` is new for the phenology call ``call`` (and remember it)."""
    with _SHOWN_LOCK:
        shown = _SHOWN_BY_CALL.setdefault(call, set())
        _SHOWN_BY_CALL.move_to_end(call)
        while len(_SHOWN_BY_CALL) > _CALLS_KEPT:
            _SHOWN_BY_CALL.popitem(last=False)
        if text in shown:
            return False
        shown.add(text)
        return True


def _warn_notes(notes: dict[str, Any], thresholds: Thresholds | None, per_chunk: bool | str) -> None:
    """The compute-time warnings of one block, once: with counts in memory; on a Dask chunk one text per kind, counts logged.

    ``per_chunk``: False in memory; on a Dask chunk, True, or the call's
    token, with which each text is shown once per call whatever the order
    and grouping in which its chunks are computed.
    """
    call = per_chunk if isinstance(per_chunk, str) else None

    def warn(text: str) -> None:
        if call is None or _first_time(call, text):
            warnings.warn(text, UserWarning, stacklevel=4)

    if notes.get("capped"):
        text = _capped_text(notes)
        if per_chunk:
            logger.info("%s (one chunk)", text)
            what = f"by_year's {notes['cap']} slots a year" if notes["by_year"] else f"max_seasons={notes['cap']}"
            text = (f"phenology: pixels with more seasons than {what} keep only the largest, and n_seasons counts the seasons "
                    "kept (Dask input, counted per chunk in the log): pass a larger "
                    + ("by_year" if notes["by_year"] else "max_seasons, or by_year=True"))
        warn(text)
    if notes.get("short"):
        text = _short_text(notes["short"], notes["pixels"], notes["min_span"])
        if per_chunk:
            logger.info("%s (one chunk)", text)
            text = (f"phenology: pixels whose valid values span fewer than {notes['min_span']:g} days (the shortest series that "
                    "holds a season) get no season (Dask input, counted per chunk in the log)")
        warn(text)
    if thresholds is not None and (notes.get("no_sos") or notes.get("no_eos")):
        text = _uncrossed_text(notes, thresholds)
        if per_chunk:
            logger.info("%s (one chunk)", text)
            text = (f"phenology: absolute thresholds start {thresholds.start:g} / end {thresholds.end:g} (NDVI): seasons found whose "
                    "rise or fall never crosses them have SOS or EOS NaT (Dask input, counted per chunk in the log): choose "
                    "thresholds within the NDVI range of the seasons, or threshold_type='fraction'")
        warn(text)


def pheno_block(values: np.ndarray, *extra: np.ndarray, **kw: Any) -> np.ndarray:
    """Run :func:`pheno_pixels` over batches of ``BATCH`` pixels (bounded memory).

    Parameters
    ----------
    values : numpy.ndarray
        NDVI ``(..., time)`` of one Dask block.
    *extra : numpy.ndarray
        The per-value ``std`` ``(..., time)`` when ``kw["inputs"]`` names it,
        and/or the per-pixel ``noise`` ``(...)``, in the order of ``kw["inputs"]``.
    **kw
        The keyword arguments of :func:`pheno_pixels` (and ``inputs``;
        ``per_chunk``: one block of a Dask array, whose compute-time
        warnings carry no counts, so that a call's chunks give one warning
        each, the counts going to the log).

    Returns
    -------
    numpy.ndarray
        ``(..., max_seasons, len(PHENO_VARS))`` float64.
    """
    names = kw.pop("inputs", ())
    per_chunk = kw.pop("per_chunk", False)
    lead = values.shape[:-1]
    v = values.reshape(-1, values.shape[-1])
    arrays = {name: np.broadcast_to(a, (*lead, *a.shape[len(lead):])).reshape(v.shape[0], *a.shape[len(lead):])
              for name, a in zip(names, extra, strict=True)}
    notes: dict[str, Any] = {}
    parts = [pheno_pixels(v[i : i + BATCH], **{k: a[i : i + BATCH] for k, a in arrays.items()}, **kw, notes=notes)
             for i in range(0, v.shape[0], BATCH)]
    _warn_notes(notes, kw.get("thresholds"), per_chunk)
    n_out = (kw["max_seasons"], len(PHENO_VARS))
    out = np.concatenate(parts, axis=0) if parts else np.empty((0, *n_out))
    return out.reshape(*lead, *n_out)
