"""Hyperparameter fitting of the state-space MOGPR by batched L-BFGS.

The parameters of one fit are packed into a flat vector ``theta`` (d,):
``log(l_q - min_lengthscale)`` (Q), ``W`` (Q P R), ``log kappa`` (Q P) and
``log(noise - noise_floor)`` (P). Length scales are optimised on the log
scale: with the softplus form of :func:`~.gp_config._constrained`, which is
the identity above a few days, a first-order optimiser moves a length scale
of 30 days by about its learning rate per step, i.e. hardly at all.

:func:`fit` minimises the negative log marginal likelihood per observation
of each group of pixels (a group is one pixel for per-pixel fits, a class or
the whole sample for shared fits) with :func:`._lbfgs.minimize`; every
evaluation is one batched Kalman filter with its adjoint
(:mod:`.statespace_batch`, or the torch filter without numba).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ._lbfgs import minimize
from .gp_config import GPConfig, _constrained

__all__ = ["fit", "params_from_theta", "theta_from_params"]

LogLik = Callable[[torch.Tensor, torch.Tensor, np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

_LS_MAX = 5000.0  # days: the log length scale is capped here (a longer one is a constant over any series)


def _sizes(P: int, Q: int, R: int) -> list[int]:
    return [Q, Q * P * R, Q * P, P]


def theta_from_params(p: dict[str, torch.Tensor], cfg: GPConfig) -> torch.Tensor:
    """The flat vectors (b, d) of the parameter dict of :func:`~.gp_config._init_params`.

    Parameters
    ----------
    p : dict of torch.Tensor
        ``raw_ls`` (b, Q), ``W`` (b, Q, P, R), ``raw_kappa`` (b, Q, P),
        ``raw_noise`` (b, P).
    cfg : GPConfig
        Supplies ``min_lengthscale``.

    Returns
    -------
    torch.Tensor
        (b, d) flat parameters.
    """
    b = p["raw_ls"].shape[0]
    log_ls = torch.log(torch.nn.functional.softplus(p["raw_ls"]))
    return torch.cat([log_ls, p["W"].reshape(b, -1), p["raw_kappa"].reshape(b, -1), p["raw_noise"]], 1)


def params_from_theta(theta: torch.Tensor, P: int, Q: int, R: int) -> dict[str, torch.Tensor]:
    """The parameter dict of flat vectors (inverse of :func:`theta_from_params`).

    Parameters
    ----------
    theta : torch.Tensor
        (b, d) flat parameters.
    P, Q, R : int
        Outputs, latent processes, rank of ``W``.

    Returns
    -------
    dict of torch.Tensor
        ``raw_ls``, ``W``, ``raw_kappa``, ``raw_noise`` as the engines use them.
    """
    b = theta.shape[0]
    log_ls, W, kappa, noise = torch.split(theta, _sizes(P, Q, R), 1)
    v = torch.exp(log_ls.clamp(max=float(np.log(_LS_MAX))))
    raw_ls = torch.where(v > 30.0, v, torch.log(torch.expm1(v.clamp(max=30.0))))  # softplus^-1
    return {"raw_ls": raw_ls, "W": W.reshape(b, Q, P, R), "raw_kappa": kappa.reshape(b, Q, P), "raw_noise": noise}


def fit(
    y: torch.Tensor,
    m: torch.Tensor,
    grid: np.ndarray,
    theta0: torch.Tensor,
    group: torch.Tensor | None,
    cfg: GPConfig,
    dims: tuple[int, int, int],
    loglik: LogLik,
    max_iter: int,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Maximise each group's log likelihood per observation by batched L-BFGS.

    Parameters
    ----------
    y, m : torch.Tensor
        (b, P, T) standardised observations on the grid (0 where missing) and
        the mask.
    grid : numpy.ndarray
        (T,) dates, days.
    theta0 : torch.Tensor
        (G, d) starting points, one per group.
    group : torch.Tensor, optional
        (b,) group of each pixel, 0..G-1; None: one group per pixel (G = b).
    cfg : GPConfig
        Constraints (minimum length scale, noise floor).
    dims : tuple of int
        ``(P, Q, R)``.
    loglik : callable
        ``loglik(y, m, grid, ls, B, noise) -> (b,)`` differentiable log
        likelihoods.
    max_iter : int
        L-BFGS iterations per group.

    Returns
    -------
    tuple
        Fitted ``theta`` (G, d), the objective (G,) (negative log likelihood
        per observation; inf where no finite value was found) and the number
        of batched evaluations.
    """
    P, Q, R = dims
    G = theta0.shape[0]
    obs = m.sum((1, 2)).to(y.dtype)
    if group is None:
        nobs = obs.clamp_min(1.0)
    else:
        nobs = torch.zeros(G, dtype=y.dtype, device=y.device).index_add(0, group, obs).clamp_min(1.0)
    lookup = torch.full((G,), -1, dtype=torch.long, device=y.device)

    def fg(th_np: np.ndarray, rows_np: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = torch.as_tensor(rows_np, device=y.device)
        th = torch.as_tensor(th_np, dtype=y.dtype, device=y.device).requires_grad_(True)
        if group is None:
            pix, gi = rows, torch.arange(rows.numel(), device=y.device)
        else:
            lookup[rows] = torch.arange(rows.numel(), device=y.device)
            gi_all = lookup[group]
            pix = torch.nonzero(gi_all >= 0).flatten()
            gi = gi_all[pix]
            lookup[rows] = -1
        with torch.enable_grad():
            ls, B, noise = _constrained(params_from_theta(th[gi], P, Q, R), cfg)
            ll = loglik(y[pix], m[pix], grid, ls, B, noise)
            tot = torch.zeros(rows.numel(), dtype=ll.dtype, device=ll.device).index_add(0, gi, ll)
            f = -tot / nobs[rows]
            (g,) = torch.autograd.grad(f.sum(), th)
        return f.detach().cpu().numpy().astype(np.float64), g.cpu().numpy().astype(np.float64)

    x, f, evals = minimize(fg, theta0.detach().cpu().numpy().astype(np.float64), max_iter=max_iter, gtol=1e-5)
    return torch.as_tensor(x, dtype=theta0.dtype, device=theta0.device), torch.as_tensor(f, dtype=theta0.dtype, device=theta0.device), evals
