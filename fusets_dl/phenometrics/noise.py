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

__all__ = ["MAX_SPAN_DAYS", "MIN_RESIDUALS", "pseudo_residual_noise"]

#: Fewer residuals than this give NaN (no estimate).
MIN_RESIDUALS = 5
#: With dates: a value is compared with its neighbouring values only when they lie at most this many days apart (or 2.5
#: times the median spacing of the dates, when longer: the neighbours of monthly composites are a month away). Across
#: a cloudy gap the curve's bend reads as noise: on a 2-seasons-a-year series 5-daily, sd 0.01, with 75 % of the
#: values missing, no limit estimated 0.039 (0.025 with 40 days), 25 days 0.018 with 4 % of the pixels left without
#: an estimate (16 days: 0.013, 40 %).
MAX_SPAN_DAYS = 25.0


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
            repeat[..., 1:] = g[..., 1:] == g[..., :-1]
            g, t = _values_first(np.where(repeat, np.nan, g), t)
        span = t[..., 2:] - t[..., :-2]
        a = np.divide(t[..., 2:] - t[..., 1:-1], span, out=np.full(span.shape, 0.5), where=span > 0)
        r = np.abs(g[..., 1:-1] - (a * g[..., :-2] + (1.0 - a) * g[..., 2:]))  # NaN beyond a row's values
        cap = max(MAX_SPAN_DAYS, 2.5 * float(np.median(np.diff(np.asarray(days, dtype=np.float64)))))  # monthly: neighbours
        r = np.where(span <= cap, r / np.sqrt(a**2 + (1.0 - a) ** 2 + 1.0), np.nan)
        w = np.ones(r.shape[-1])
    n = np.isfinite(r).sum(axis=-1)
    med = nanmedian_last(r)[..., 0].astype(np.float64) * (1.4826 * float(w[0]))
    return np.where(n >= MIN_RESIDUALS, med, np.nan)
