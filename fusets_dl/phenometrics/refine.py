"""Sub-sample dates of a season on the smoothed series: threshold crossings, the peak, cut sides.

All functions work on ``(pixels, grid)`` arrays with one season per row and
return fractional grid indices (NaN where there is none), vectorised over
rows.

- :func:`crossing`: where the series crosses a threshold, linear between samples.
- :func:`refine_peak`: the peak as the middle of the crossings at ``level`` of
  the amplitude on each side (robust on broad, flat-topped seasons where the
  maximum of a noisy curve wanders along the plateau).
- :func:`extrapolate_edge`: a start (end) cut by the series start (end)
  continued linearly from the slope at the edge of the data, within a limit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["crossing", "extrapolate_edge", "interp_at", "refine_peak", "window"]


def window(n: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``(pixels, n)`` mask of the grid cells from ``lo`` to ``hi`` (inclusive) of each row.

    Parameters
    ----------
    n : int
        Grid length.
    lo, hi : numpy.ndarray
        Integer bounds per row.

    Returns
    -------
    numpy.ndarray
        Boolean mask.
    """
    t = np.arange(n)[None, :]
    inside = t >= lo[:, None]
    inside &= t <= hi[:, None]
    return inside


def crossing(
    x: np.ndarray, lo: np.ndarray, hi: np.ndarray, thr: np.ndarray, rising: bool, inside: np.ndarray | None = None
) -> np.ndarray:
    """Fractional index where each row of ``x`` crosses ``thr`` between ``lo`` and ``hi``.

    Parameters
    ----------
    x : numpy.ndarray
        Series ``(pixels, grid)``.
    lo, hi : numpy.ndarray
        Integer search bounds per row (inclusive).
    thr : numpy.ndarray
        Threshold per row.
    rising : bool
        True: the last upward crossing before ``hi`` is sought from the first
        sample at or above ``thr``; False: the first downward crossing after
        ``lo`` from the last sample at or above.
    inside : numpy.ndarray, optional
        ``window(n, lo, hi)``, when the caller has it already.

    Returns
    -------
    numpy.ndarray
        ``(pixels,)`` fractional indices, NaN where the series does not cross.
    """
    p, n = x.shape
    above = x >= thr[:, None]
    above &= window(n, lo, hi) if inside is None else inside
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


def interp_at(x: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Values of each row of ``x`` at fractional positions ``pos`` (linear; NaN where pos is NaN).

    Parameters
    ----------
    x : numpy.ndarray
        Series ``(pixels, grid)``.
    pos : numpy.ndarray
        ``(pixels,)`` fractional indices; outside the grid the edge value is used.

    Returns
    -------
    numpy.ndarray
        ``(pixels,)`` values.
    """
    n = x.shape[1]
    ok = np.isfinite(pos)
    p0 = np.clip(np.floor(np.nan_to_num(pos)).astype(np.int64), 0, n - 1)
    p1 = np.clip(p0 + 1, 0, n - 1)
    f = np.clip(np.nan_to_num(pos) - p0, 0.0, 1.0)
    rows = np.arange(x.shape[0])
    return np.where(ok, x[rows, p0] * (1 - f) + x[rows, p1] * f, np.nan)


def refine_peak(
    x: np.ndarray, j: np.ndarray, lo: np.ndarray, hi: np.ndarray, base_l: np.ndarray, base_r: np.ndarray, level: float,
    windows: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Peak position: the middle of the crossings at ``level`` of the amplitude on each side of ``j``.

    Parameters
    ----------
    x : numpy.ndarray
        Smoothed series ``(pixels, grid)``.
    j : numpy.ndarray
        Grid index of each row's maximum.
    lo, hi : numpy.ndarray
        Troughs before and after the peak (indices).
    base_l, base_r : numpy.ndarray
        Trough values before and after.
    level : float
        Fraction of each side's amplitude (0.9: the top tenth of the season).
    windows : (numpy.ndarray, numpy.ndarray), optional
        ``window(n, lo, j)`` and ``window(n, j, hi)``, when the caller has them.

    Returns
    -------
    numpy.ndarray
        ``(pixels,)`` fractional indices; ``j`` where a side does not reach
        the level or the middle lies below it (a double-humped season).
    """
    rows = np.arange(x.shape[0])
    top = x[rows, j]
    win_l, win_r = windows if windows is not None else (None, None)
    up = crossing(x, lo, j, base_l + level * (top - base_l), rising=True, inside=win_l)
    down = crossing(x, j, hi, base_r + level * (top - base_r), rising=False, inside=win_r)
    mid = 0.5 * (up + down)
    # a double-humped (merged) season: the middle may fall in the dip, where the top is not
    inside = interp_at(x, mid) >= np.maximum(base_l, base_r) + level * (top - np.maximum(base_l, base_r))
    return np.where(np.isfinite(mid) & inside, mid, j.astype(np.float64))


def extrapolate_edge(
    x: np.ndarray, edge: np.ndarray, thr: np.ndarray, rising: bool, span: int, max_cells: float
) -> np.ndarray:
    """Fractional index where the line through the series' edge reaches ``thr`` beyond the data.

    Parameters
    ----------
    x : numpy.ndarray
        Smoothed series ``(pixels, grid)``.
    edge : numpy.ndarray
        Index of each row's first (``rising``: the start side) or last valid cell.
    thr : numpy.ndarray
        Threshold per row (below the edge value for a crossing to exist).
    rising : bool
        True: extrapolate backwards from the first valid cell (a cut start);
        False: forwards from the last valid cell (a cut end).
    span : int
        Cells over which the edge slope is measured.
    max_cells : float
        Furthest extrapolation, in cells beyond the edge.

    Returns
    -------
    numpy.ndarray
        ``(pixels,)`` fractional indices (may lie outside the grid); NaN where
        the edge does not slope towards the threshold or it is too far.
    """
    n = x.shape[1]
    rows = np.arange(x.shape[0])
    other = np.clip(edge + (span if rising else -span), 0, n - 1)
    x0, x1 = x[rows, edge], x[rows, other]
    cells = np.abs(other - edge).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (x1 - x0) / cells  # per cell, away from the edge into the data
        dist = (x0 - thr) / slope
    ok = (cells > 0) & (slope > 0) & (x0 > thr) & (dist <= max_cells)
    return np.where(ok, edge - dist if rising else edge + dist, np.nan)
