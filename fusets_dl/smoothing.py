"""Time-series smoothing and gap interpolation shared by reconstruction, phenology and the baselines."""

from __future__ import annotations

import numbers

import numpy as np

from ._series import valid_neighbours
from .errors import ConfigError, DimensionError

#: Default std growth (NDVI per day) of a linearly interpolated value away from its data.
GROWTH_PER_DAY = 0.004

__all__ = ["GROWTH_PER_DAY", "fill_interpolated", "whittaker", "whittaker_dense"]


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

    Raises
    ------
    ConfigError
        ``lam`` not a finite number > 0, or a weight negative or not finite
        (where ``y`` is finite).
    DimensionError
        ``w`` does not match (broadcast to) the shape of ``y``.

    Notes
    -----
    The matrix is symmetric pentadiagonal and positive definite when at least
    two weights are positive. It is factored as L D L' with a loop over the
    n time steps whose every operation is vectorised over all series, so the
    cost is O(n) array operations, not a Python loop over pixels.
    """
    if not (isinstance(lam, numbers.Real | np.ndarray) and not isinstance(lam, bool) and np.ndim(lam) == 0
            and np.issubdtype(np.asarray(lam).dtype, np.number) and np.isfinite(lam) and lam > 0):
        raise ConfigError(f"whittaker: expected lam a finite number > 0, found {lam!r}")
    y = np.asarray(y, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    try:
        w = np.broadcast_to(w, y.shape)
    except ValueError as exc:
        raise DimensionError(f"whittaker: expected weights of the shape of the values {y.shape}, found {w.shape}") from exc
    shape = y.shape
    n = shape[-1] if shape else 1
    if y.size == 0:
        return np.empty(shape, dtype=np.float64)
    yb = np.where(w > 0, np.nan_to_num(y), 0.0).reshape(-1, n)
    wb = np.where(np.isfinite(y), w, 0.0).reshape(-1, n)
    if not (np.isfinite(wb).all() and (wb >= 0).all()):
        raise ConfigError("whittaker: expected finite weights >= 0 where the values are finite, found "
                          f"{int((~np.isfinite(wb)).sum())} not finite and {int((wb < 0).sum())} negative")
    bad = (wb > 0).sum(axis=1) < 2
    if n < 3:
        out = np.where(bad[:, None], np.nan, (wb * yb).sum(1, keepdims=True) / np.maximum(wb.sum(1, keepdims=True), 1e-300))
        return np.broadcast_to(out, yb.shape).reshape(shape).copy()
    m0, m1, m2 = _d2_diagonals(n)
    # a series with fewer than 2 weights has no solution (NaN at the end): solved with unit weights meanwhile, so that
    # its singular system does not overflow (numpy RuntimeWarnings after the caller's own warning about the data)
    wb = np.where(bad[:, None], 1.0, wb)
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
    """Reference solution of one series with a dense solve (for tests).

    Parameters
    ----------
    y : numpy.ndarray
        One series (n,); NaN entries get zero weight.
    w : numpy.ndarray
        Non-negative weights (n,).
    lam : float
        Smoothing parameter, in units of the grid step (second differences).

    Returns
    -------
    numpy.ndarray
        The smoothed series (n,), float64, from ``numpy.linalg.solve``.
    """
    y = np.asarray(y, dtype=np.float64)
    w = np.where(np.isfinite(y), np.asarray(w, dtype=np.float64), 0.0)
    n = y.size
    dmat = np.diff(np.eye(n), n=2, axis=0)
    a = np.diag(w) + lam * dmat.T @ dmat
    return np.linalg.solve(a, w * np.nan_to_num(y))


def fill_interpolated(val: np.ndarray, std: np.ndarray, days: np.ndarray, growth_per_day: float = GROWTH_PER_DAY) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation in time of NaN cells between data cells; the std grows with the gap.

    Parameters
    ----------
    val, std : numpy.ndarray
        Values and their standard deviations, time on the last axis, NaN where missing.
    days : numpy.ndarray
        Day of each time step (1-D, increasing).
    growth_per_day : float
        Added std per day of distance to the nearer data cell (NDVI units).

    Returns
    -------
    tuple of numpy.ndarray
        Filled values and std; cells outside the first and last data cell stay NaN.

    Raises
    ------
    DimensionError
        ``days`` is not 1-D with one day per time step.
    ConfigError
        ``days`` decreases somewhere.
    """
    n = val.shape[-1]
    days = np.asarray(days)
    if days.shape != (n,):
        raise DimensionError(f"fill_interpolated: expected days of shape ({n},), one per time step, found {days.shape}")
    if n > 1 and (np.diff(days) < 0).any():
        raise ConfigError("fill_interpolated: expected days in increasing order, found them decreasing at "
                          f"{int((np.diff(days) < 0).sum())} steps")
    ok = np.isfinite(val)
    prev, nxt = valid_neighbours(ok, days, days, days, strict=False)
    has = (prev >= 0) & (nxt < n)
    pc, nc = np.clip(prev, 0, n - 1), np.clip(nxt, 0, n - 1)
    vp, vn = np.take_along_axis(val, pc, -1), np.take_along_axis(val, nc, -1)
    dp, dn = days[pc], days[nc]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(dn > dp, (days - dp) / (dn - dp), 0.0)
    interp = vp + frac * (vn - vp)
    sp, sn = np.take_along_axis(std, pc, -1), np.take_along_axis(std, nc, -1)
    gap = np.minimum(np.abs(days - dp), np.abs(dn - days))
    istd = np.maximum(sp, sn) + growth_per_day * gap
    out_v = np.where(ok, val, np.where(has, interp, np.nan))
    out_s = np.where(ok, std, np.where(has, istd, np.nan))
    return out_v, out_s
