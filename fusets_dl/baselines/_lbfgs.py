"""Batched L-BFGS: many independent small minimisations advanced together.

Every row of ``x`` (b, d) is its own problem with its own curvature history,
step length and stopping test; only the function evaluations are batched (one
call of ``fg`` on the rows still moving). This is what per-pixel
hyperparameter fitting needs: thousands of 10-30 parameter problems whose
objective is cheap to evaluate for all of them at once. The bookkeeping is
NumPy on the host (single-threaded small-array work; the evaluations carry the
parallelism).

The step follows the two-loop recursion (Nocedal & Wright 2006, alg. 7.4)
with the initial Hessian ``s'y / y'y``, and a backtracking line search on the
Armijo condition (each row halves its own step); a row whose direction is not
a descent direction, or whose curvature pair has ``s'y <= 0``, drops its
history and takes a scaled gradient step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["minimize"]

FG = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _direction(g: np.ndarray, S: np.ndarray, Y: np.ndarray, rho: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``-H g`` by the two-loop recursion over each row's stored pairs (newest last, ``count`` valid)."""
    b, m, _ = S.shape
    q = g.copy()
    alpha = np.zeros((b, m))
    valid = np.arange(m)[None, :] >= (m - count)[:, None]  # (b, m): the newest `count` slots
    for i in range(m - 1, -1, -1):
        a = rho[:, i] * np.einsum("bd,bd->b", S[:, i], q) * valid[:, i]
        alpha[:, i] = a
        q -= a[:, None] * Y[:, i]
    sy = np.einsum("bd,bd->b", S[:, -1], Y[:, -1])
    yy = np.einsum("bd,bd->b", Y[:, -1], Y[:, -1])
    gamma = np.where(count > 0, sy / np.maximum(yy, 1e-300), 1.0)
    r = gamma[:, None] * q
    for i in range(m):
        bcoef = rho[:, i] * np.einsum("bd,bd->b", Y[:, i], r) * valid[:, i]
        r += S[:, i] * (alpha[:, i] - bcoef)[:, None]
    return -r


def minimize(
    fg: FG,
    x0: np.ndarray,
    *,
    max_iter: int = 20,
    history: int = 8,
    gtol: float = 1e-5,
    ftol: float = 1e-9,
    max_backtracks: int = 6,
    first_step: float = 0.1,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Minimise ``b`` independent objectives, one per row of ``x0``.

    Parameters
    ----------
    fg : callable
        ``fg(x, rows) -> (f, g)``: objective (k,) and gradient (k, d) at the
        points ``x`` (k, d), which are the rows ``rows`` (k,) of the batch
        (float64 NumPy arrays). Non-finite values count as a failed step.
    x0 : numpy.ndarray
        (b, d) starting points.
    max_iter : int
        Iterations (accepted steps) per row, at most.
    history : int
        Curvature pairs kept per row.
    gtol : float
        A row stops when the largest absolute gradient entry is below this.
    ftol : float
        A row stops when an accepted step lowers its objective by less than
        ``ftol * max(1, |f|)``.
    max_backtracks : int
        Halvings of the step before a row gives up (it keeps its best point).
    first_step : float
        Length (in the max norm) of the first, gradient step of each row.

    Returns
    -------
    tuple
        The minimisers (b, d), their objective values (b,) and the number of
        batched evaluations of ``fg``.
    """
    x = np.array(x0, dtype=np.float64)
    b, d = x.shape
    f, g = fg(x, np.arange(b))
    evals = 1
    bad = ~np.isfinite(f)
    f = np.where(bad, np.inf, f)
    g = np.where(np.isfinite(g), g, 0.0)
    m = max(1, history)
    S = np.zeros((b, m, d))
    Y = np.zeros((b, m, d))
    rho = np.zeros((b, m))
    count = np.zeros(b, dtype=np.int64)
    active = ~bad & (np.abs(g).max(-1, initial=0.0) > gtol)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        gi = g[idx]
        p = _direction(gi, S[idx], Y[idx], rho[idx], count[idx])
        gp = np.einsum("bd,bd->b", gi, p)
        fresh = (count[idx] == 0) | ~(gp < 0)
        if fresh.any():  # first step, or not a descent direction: a short gradient step, history dropped
            scale = first_step / np.maximum(np.abs(gi).max(-1), 1e-300)
            p[fresh] = -gi[fresh] * scale[fresh, None]
            gp[fresh] = np.einsum("bd,bd->b", gi[fresh], p[fresh])
            count[idx[fresh]] = 0
        step = np.ones(idx.size)
        pending = np.ones(idx.size, dtype=bool)
        xn = x[idx].copy()
        fn = np.full(idx.size, np.inf)
        gn = np.zeros_like(gi)
        for _bt in range(max_backtracks + 1):
            k = np.flatnonzero(pending)
            if k.size == 0:
                break
            xt = x[idx[k]] + step[k, None] * p[k]
            ft, gt = fg(xt, idx[k])
            evals += 1
            with np.errstate(invalid="ignore"):
                ok = np.isfinite(ft) & np.isfinite(gt).all(-1) & (ft <= f[idx[k]] + 1e-4 * step[k] * gp[k])
            acc = k[ok]
            xn[acc], fn[acc], gn[acc] = xt[ok], ft[ok], gt[ok]
            pending[acc] = False
            step[k[~ok]] *= 0.5
        moved = ~pending
        stop = pending.copy()  # no acceptable step: keep the current point and stop
        if moved.any():
            mi = idx[moved]
            s = xn[moved] - x[mi]
            yv = gn[moved] - g[mi]
            sy = np.einsum("bd,bd->b", s, yv)
            good = sy > 1e-12 * np.linalg.norm(s, axis=-1) * np.linalg.norm(yv, axis=-1)
            gm = mi[good]
            S[gm] = np.concatenate([S[gm, 1:], s[good, None]], 1)
            Y[gm] = np.concatenate([Y[gm, 1:], yv[good, None]], 1)
            rho[gm] = np.concatenate([rho[gm, 1:], 1.0 / sy[good, None]], 1)
            count[gm] = np.minimum(count[gm] + 1, m)
            count[mi[~good]] = 0
            small = (f[mi] - fn[moved]) < ftol * np.maximum(np.abs(f[mi]), 1.0)
            x[mi], f[mi], g[mi] = xn[moved], fn[moved], gn[moved]
            stop[moved] = small | (np.abs(g[mi]).max(-1) <= gtol)
        active[idx[stop]] = False
    return x, f, evals
