"""Per-pixel noise of an NDVI series from pseudo-residuals (each value against its two neighbours).

On a regular grid, a value whose two neighbouring cells both hold data is
compared with their mean; with independent noise of sd ``s`` that residual
has sd ``s * sqrt(1.5)``, so the scaled residuals estimate ``s`` by their
median absolute value (x 1.4826), robust to the curvature of green-up and
senescence and to a few outliers (Gasser et al. 1986, "Residual variance
and residual pattern in nonlinear regression").

With the dates of the values (``days``), irregular spacing is weighted as
Gasser et al. do: a value at ``t_i`` between ``t_{i-1}`` and ``t_{i+1}`` is
compared with the straight line between its two neighbours,
``e = a y_{i-1} + b y_{i+1} - y_i`` (``a = (t_{i+1} - t_i) / (t_{i+1} -
t_{i-1})``, ``b = 1 - a``), whose sd is ``s * sqrt(a**2 + b**2 + 1)``. The
neighbours are a value's neighbouring *values* (missing dates skipped, and a
value equal to the one before, the same acquisition paired with several
dates, counted once, unless the NDVI is quantised (decoded from integers,
where equal neighbours are real); the two at most :data:`MAX_SPAN_DAYS`, or 2.5 median
spacings of the dates, apart), so the
estimate does not depend on the grid the phenology works on: on a daily
working grid (dates off a regular grid from midnight, such as a series
stamped 13:00, or irregular clear views) the gridded estimate needed three
values on consecutive days and was NaN for every pixel, which switched the
noise test off.
"""

from __future__ import annotations

import numpy as np

from .._series import nanmedian_last

__all__ = ["COARSE_DAYS", "MAX_SPAN_DAYS", "MIN_RESIDUALS", "pseudo_residual_noise"]

#: Fewer residuals than this give NaN (no estimate).
MIN_RESIDUALS = 5
#: With dates: a value is compared with its neighbouring values only when they lie at most this many days apart (or 2.5
#: times the median spacing of the dates, when longer: the neighbours of monthly composites are a month away). Across
#: a cloudy gap the curve's bend reads as noise: on a 2-seasons-a-year series 5-daily, sd 0.01, with 75 % of the
#: values missing, no limit estimated 0.039 (0.025 with 40 days), 25 days 0.018 with 4 % of the pixels left without
#: an estimate (16 days: 0.013, 40 %).
MAX_SPAN_DAYS = 25.0
#: With dates: a median spacing of at least this many days (monthly, semi-monthly composites) takes the estimate for
#: coarse composites (the line and the cubic residuals, clipped; see the module text). 5-10 day series keep the median.
COARSE_DAYS = 20.0
#: With dates: a value equal to the one before is the same acquisition paired again (align's tolerance, 3 days by
#: default, pairs one view with dates at most twice that apart) only when the two dates lie less than this apart;
#: farther (monthly composites, the flat base of a noise-free curve) it is a value of its own.
REPEAT_DAYS = 16.0
#: Coarse composites: residuals farther than this many sd from zero (the bend of a season) are left out.
CLIP_SD = 2.0
#: Coarse composites: the smaller of two unbiased estimates is biased low by 9-12 % (pure noise, 12-24 values): this
#: factor removes it (measured 0.883 at 12 values, 0.910 at 24).
MIN_OF_TWO_SCALE = 1.12


#: Steps of NDVI stored as integers (x 10,000, x 1,000, x 250, x 100, ...): equal neighbours are then real values.
_QUANTA = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 0.004, 0.005, 0.01)


def _quantised(g: np.ndarray) -> bool:
    """Whether (99 % of) the finite values lie on one of :data:`_QUANTA`'s grids (NDVI decoded from integers)."""
    v = np.asarray(g, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 20:
        return False
    v = v[:: max(1, v.size // 100_000)]  # a sample is enough
    for q in _QUANTA:
        k = v / q
        if np.mean(np.abs(k - np.round(k)) < 1e-3) > 0.99:
            return True
    return False


def _values_first(g: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's finite values first, in date order (NaN after), with their dates; float64."""
    order = np.argsort(~np.isfinite(g), axis=-1, kind="stable")
    return np.take_along_axis(g, order, axis=-1).astype(np.float64), np.take_along_axis(t, order, axis=-1)


def pseudo_residual_noise(g: np.ndarray, days: np.ndarray | None = None) -> np.ndarray:
    """Robust noise sd of each row of a series (NaN where missing).

    Parameters
    ----------
    g : numpy.ndarray
        Values ``(pixels, dates)``, NaN where missing: on a regular grid, or
        at ``days``.
    days : numpy.ndarray, optional
        ``(dates,)`` increasing dates of the values (days); None: a regular
        grid (every residual weighted 1/2, 1/2).

    Returns
    -------
    numpy.ndarray
        ``(pixels,)`` noise sd (float64); NaN where fewer than
        ``MIN_RESIDUALS`` values have data on both sides (with ``days``:
        neighbouring values at most :data:`MAX_SPAN_DAYS` apart).
    """
    g = np.asarray(g, dtype=np.float32)
    if g.shape[-1] < 3:
        return np.full(g.shape[:-1], np.nan)
    if days is None:  # a regular grid: each value against the mean of its two neighbours
        r = np.abs(g[..., 1:-1] - 0.5 * (g[..., :-2] + g[..., 2:]))  # NaN unless all three have data
        w = np.full(r.shape[-1], 1.0 / np.sqrt(1.5))
    else:  # each value against the line between its neighbouring values (Gasser et al.'s weights)
        t = np.asarray(days, dtype=np.float64)
        if t.shape != g.shape[-1:]:
            raise ValueError(f"pseudo_residual_noise: expected {g.shape[-1]} dates, found {t.shape}")
        if np.any(np.diff(t) < 0):
            raise ValueError("pseudo_residual_noise: expected increasing dates, found a date before the one preceding it")
        quantised = _quantised(g)
        g, t = _values_first(g, np.broadcast_to(t, g.shape))
        if not quantised:
            # a value equal to the one before is the same acquisition again (align pairs one S2 view with several S1
            # dates: 40 % of the Flanders cube's consecutive values), whose zero residual would halve the estimate:
            # counted once. Not on quantised NDVI (0.004 steps), where equal neighbours are real (5-12 % of them)
            repeat = np.zeros(g.shape, dtype=bool)
            repeat[..., 1:] = (g[..., 1:] == g[..., :-1]) & (t[..., 1:] - t[..., :-1] < REPEAT_DAYS)
            g, t = _values_first(np.where(repeat, np.nan, g), t)
        span = t[..., 2:] - t[..., :-2]
        a = np.divide(t[..., 2:] - t[..., 1:-1], span, out=np.full(span.shape, 0.5), where=span > 0)
        r = np.abs(g[..., 1:-1] - (a * g[..., :-2] + (1.0 - a) * g[..., 2:]))  # NaN beyond a row's values
        spacing = float(np.median(np.diff(np.asarray(days, dtype=np.float64))))
        cap = max(MAX_SPAN_DAYS, 2.5 * spacing)  # monthly: neighbours
        r = np.where(span <= cap, r / np.sqrt(a**2 + (1.0 - a) ** 2 + 1.0), np.nan)
        if spacing >= COARSE_DAYS:
            return _coarse(r, _cubic_residuals(g, t, 2.0 * cap))
        w = np.ones(r.shape[-1])
    n = np.isfinite(r).sum(axis=-1)
    med = nanmedian_last(r)[..., 0].astype(np.float64) * (1.4826 * float(w[0]))
    return np.where(n >= MIN_RESIDUALS, med, np.nan)


def _cubic_residuals(g: np.ndarray, t: np.ndarray, cap: float) -> np.ndarray:
    """``|y_i - p(t_i)| / sd``: ``p`` the cubic through the two values on each side (NaN where they span over ``cap`` days)."""
    tt = [t[..., k : t.shape[-1] - 4 + k] for k in (0, 1, 3, 4)]
    yy = [g[..., k : g.shape[-1] - 4 + k] for k in (0, 1, 3, 4)]
    ti = t[..., 2:-2]
    pred, ss = np.zeros(ti.shape), np.ones(ti.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        for j in range(4):
            wj = np.ones(ti.shape)
            for m in range(4):
                if m != j:
                    wj = wj * (ti - tt[m]) / (tt[j] - tt[m])
            pred, ss = pred + wj * yy[j], ss + wj**2
        r = np.abs(g[..., 2:-2] - pred) / np.sqrt(ss)
    return np.where((tt[3] - tt[0] <= cap) & np.isfinite(r), r, np.nan)


def _clipped_scale(r: np.ndarray) -> np.ndarray:
    """Robust sd of the residuals ``r`` (rows, NaN: none) of which many may be a curve's bend.

    Starts at the 25 % quantile (the bend can hold most of them), then
    keeps those within :data:`CLIP_SD` sd and takes their median, scaled to
    a sd for the truncation (ten times). NaN with fewer than
    :data:`MIN_RESIDUALS` residuals.
    """
    from scipy.stats import norm

    ok = np.isfinite(r)
    n = ok.sum(axis=-1)
    srt = np.sort(np.where(ok, r, np.inf), axis=-1).astype(np.float64)

    def quantile(k: np.ndarray, p: float) -> np.ndarray:  # of the first k sorted values, interpolated
        pos = p * np.maximum(k - 1, 0)
        lo = np.minimum(np.floor(pos).astype(np.int64), srt.shape[-1] - 1)
        hi = np.minimum(lo + 1, np.maximum(k - 1, 0))
        vl = np.take_along_axis(srt, lo[..., None], axis=-1)[..., 0]
        vh = np.take_along_axis(srt, np.minimum(hi, srt.shape[-1] - 1)[..., None], axis=-1)[..., 0]
        return np.where(k > 0, vl + (pos - lo) * np.where(k > 1, vh - vl, 0.0), np.nan)

    s = quantile(n, 0.25) / float(norm.ppf(0.625))
    q = float(norm.ppf(0.5 + 0.5 * (2.0 * norm.cdf(CLIP_SD) - 1.0) / 2.0))  # median of |N(0, 1)| below CLIP_SD
    for _ in range(10):
        s = quantile((srt <= CLIP_SD * s[..., None]).sum(axis=-1), 0.5) / q
    return np.where(n >= MIN_RESIDUALS, s, np.nan)


def _coarse(line: np.ndarray, cubic: np.ndarray) -> np.ndarray:
    """Coarse composites: ``MIN_OF_TWO_SCALE`` x the smaller clipped sd of the line and the cubic residuals."""
    a, b = _clipped_scale(line), _clipped_scale(cubic)
    return MIN_OF_TWO_SCALE * np.where(np.isfinite(b), np.fmin(a, b), a)
