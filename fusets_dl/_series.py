"""Vectorised helpers along the last (time) axis: valid-neighbour pointers, gathers, NaN median."""

from __future__ import annotations

import numpy as np

__all__ = ["follow", "nanmedian_last", "next_index", "prev_index", "take", "valid_neighbours"]


def prev_index(valid: np.ndarray) -> np.ndarray:
    """Index of the previous valid position strictly before each t (-1 where none)."""
    nt = valid.shape[-1]
    idx = np.where(valid, np.arange(nt), -1)
    run = np.maximum.accumulate(idx, axis=-1)
    out = np.full_like(run, -1)
    out[..., 1:] = run[..., :-1]
    return out

def next_index(valid: np.ndarray) -> np.ndarray:
    """Index of the next valid position strictly after each t (nt where none)."""
    nt = valid.shape[-1]
    idx = np.where(valid, np.arange(nt), nt)
    run = np.minimum.accumulate(idx[..., ::-1], axis=-1)[..., ::-1]
    out = np.full_like(run, nt)
    out[..., :-1] = run[..., 1:]
    return out

def take(a: np.ndarray, idx: np.ndarray, fill: float = np.nan) -> np.ndarray:
    nt = a.shape[-1]
    ok = (idx >= 0) & (idx < nt)
    got = np.take_along_axis(a, np.clip(idx, 0, nt - 1), axis=-1)
    return np.where(ok, got, fill)

def follow(pointer: np.ndarray, idx: np.ndarray, missing: int) -> np.ndarray:
    """Apply a previous/next-valid ``pointer`` array at positions ``idx`` (``missing`` stays missing)."""
    nt = pointer.shape[-1]
    ok = (idx >= 0) & (idx < nt)
    got = np.take_along_axis(pointer, np.clip(idx, 0, nt - 1), axis=-1)
    return np.where(ok, got, missing)

def nanmedian_last(a: np.ndarray) -> np.ndarray:
    """NaN-skipping median along the last axis, keepdims, without warnings."""
    ok = np.isfinite(a)
    n = ok.sum(axis=-1, keepdims=True)
    srt = np.sort(np.where(ok, a, np.inf), axis=-1)
    lo = np.take_along_axis(srt, np.maximum((n - 1) // 2, 0), axis=-1)
    hi = np.take_along_axis(srt, np.minimum(n // 2, a.shape[-1] - 1), axis=-1)
    return np.where(n > 0, 0.5 * (lo + hi), np.nan)


def nearest_cells(days: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest cell of a sorted ``grid`` for each of ``days``, and whether it lies within the cell.

    A cell extends half-way to its neighbours (half a step on a regular grid);
    on a grid equal to ``days`` every value is its own cell.
    """
    n = grid.size
    j = np.clip(np.searchsorted(grid, days), 1, max(n - 1, 1)) if n > 1 else np.zeros(days.size, dtype=np.int64)
    if n > 1:
        left_closer = np.abs(days - grid[j - 1]) <= np.abs(grid[j] - days)
        j = np.where(left_closer, j - 1, j)
    half = np.full(n, np.inf) if n < 2 else 0.5 * np.maximum(np.diff(grid, prepend=grid[0]), np.diff(grid, append=grid[-1]))
    inside = np.abs(days - grid[j]) <= half[j] + 1e-9
    return j.astype(np.int64), inside


def valid_neighbours(ok: np.ndarray, days: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, strict: bool) -> tuple[np.ndarray, np.ndarray]:
    """The last valid position on or before ``lo`` and the first on or after ``hi`` (strictly, when ``strict``).

    Parameters
    ----------
    ok : numpy.ndarray
        (..., n) validity along the last axis.
    days : numpy.ndarray
        (n,) sorted positions of the n cells (days).
    lo, hi : numpy.ndarray
        Query bounds, shape (m,) or (..., m) broadcastable against ``ok``'s
        leading dimensions.

    Returns
    -------
    (prev, next) : numpy.ndarray
        Indices (..., m); -1 and n where there is no such valid position.
    """
    n = ok.shape[-1]
    here = np.arange(n)
    prev_incl = np.where(ok, here, prev_index(ok))  # last valid index <= i
    next_incl = np.where(ok, here, next_index(ok))  # first valid index >= i
    j = np.searchsorted(days, lo, side="left" if strict else "right") - 1
    k = np.searchsorted(days, hi, side="right" if strict else "left")
    shape = (*ok.shape[:-1], np.shape(j)[-1])
    j, k = np.broadcast_to(j, shape), np.broadcast_to(k, shape)
    prev = np.where(j >= 0, np.take_along_axis(prev_incl, np.clip(j, 0, n - 1), -1), -1)
    nxt = np.where(k < n, np.take_along_axis(next_incl, np.clip(k, 0, n - 1), -1), n)
    return prev, nxt
