"""Weighted Whittaker smoother, vectorised over pixels (batched banded solve)."""

from __future__ import annotations

import numpy as np

__all__ = ["whittaker", "whittaker_dense"]


def _d2_diagonals(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Diagonals (main, first, second) of D'D for the second-difference matrix D ((n-2) x n)."""
    main = np.full(n, 6.0)
    off1 = np.full(n - 1, -4.0)
    off2 = np.ones(n - 2)
    if n >= 2:
        main[[0, -1]] = 1.0
        off1[[0, -1]] = -2.0
    if n >= 3:
        main[[1, -2]] = 5.0
    if n == 3:
        main[:] = [1.0, 4.0, 1.0]
        off1[:] = [-2.0, -2.0]
    return main, off1, off2


def whittaker(y: np.ndarray, w: np.ndarray, lam: float) -> np.ndarray:
    """Solve ``(W + lam D'D) z = W y`` along the last axis for every leading index.

    Parameters
    ----------
    y : numpy.ndarray
        Values (..., n); entries with zero weight may be NaN.
    w : numpy.ndarray
        Non-negative weights, same shape (0 where there is no data).
    lam : float
        Smoothing parameter, in units of the grid step (second differences).

    Returns
    -------
    numpy.ndarray
        The smoothed series (..., n), float64; NaN for series with fewer than
        two positive weights (the problem is then singular).

    Notes
    -----
    The matrix is symmetric pentadiagonal and positive definite when at least
    two weights are positive. It is factored as L D L' with a loop over the
    n time steps whose every operation is vectorised over all series, so the
    cost is O(n) array operations, not a Python loop over pixels.
    """
    y = np.asarray(y, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    shape = y.shape
    n = shape[-1]
    yb = np.where(w > 0, np.nan_to_num(y), 0.0).reshape(-1, n)
    wb = np.where(np.isfinite(y), w, 0.0).reshape(-1, n)
    bad = (wb > 0).sum(axis=1) < 2
    if n < 3:
        out = np.where(bad[:, None], np.nan, (wb * yb).sum(1, keepdims=True) / np.maximum(wb.sum(1, keepdims=True), 1e-300))
        return np.broadcast_to(out, yb.shape).reshape(shape).copy()
    m0, m1, m2 = _d2_diagonals(n)
    # time-major layout: each step touches one contiguous row of all series
    b = np.ascontiguousarray((wb * yb).T)
    # the factorisation depends on the weights only: factor once when all series share them
    shared = wb.shape[0] > 1 and bool((wb == wb[0]).all())
    wf = wb[:1] if shared else wb
    d = np.ascontiguousarray((wf + lam * m0[None, :]).T)
    e = lam * m1
    f = lam * m2
    p = wf.shape[0]
    dd = np.empty((n, p))
    l1 = np.zeros((n, p))
    l2 = np.zeros((n, p))
    tmp = np.empty(p)
    for i in range(n):
        di = d[i]
        if i >= 1:
            np.multiply(l1[i - 1], l1[i - 1], out=tmp)
            tmp *= dd[i - 1]
            di -= tmp
        if i >= 2:
            np.multiply(l2[i - 2], l2[i - 2], out=tmp)
            tmp *= dd[i - 2]
            di -= tmp
        np.maximum(di, 1e-300, out=di)
        dd[i] = di
        if i < n - 1:
            if i >= 1:
                np.multiply(l2[i - 1], l1[i - 1], out=tmp)
                tmp *= dd[i - 1]
                np.subtract(e[i], tmp, out=l1[i])
                l1[i] /= di
            else:
                np.divide(e[i], di, out=l1[i])
        if i < n - 2:
            np.divide(f[i], di, out=l2[i])
    z = b
    tmp = np.empty(b.shape[1])
    for i in range(1, n):
        np.multiply(l1[i - 1], z[i - 1], out=tmp)
        z[i] -= tmp
        if i >= 2:
            np.multiply(l2[i - 2], z[i - 2], out=tmp)
            z[i] -= tmp
    z /= dd
    x = z
    for i in range(n - 2, -1, -1):
        np.multiply(l1[i], x[i + 1], out=tmp)
        x[i] -= tmp
        if i + 2 < n:
            np.multiply(l2[i], x[i + 2], out=tmp)
            x[i] -= tmp
    x = x.T.copy()
    x[bad] = np.nan
    return x.reshape(shape)


def whittaker_dense(y: np.ndarray, w: np.ndarray, lam: float) -> np.ndarray:
    """Reference solution of one series with a dense solve (for tests)."""
    y = np.asarray(y, dtype=np.float64)
    w = np.where(np.isfinite(y), np.asarray(w, dtype=np.float64), 0.0)
    n = y.size
    dmat = np.diff(np.eye(n), n=2, axis=0)
    a = np.diag(w) + lam * dmat.T @ dmat
    return np.linalg.solve(a, w * np.nan_to_num(y))
