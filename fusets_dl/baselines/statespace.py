"""State-space form of the MOGPR model: a batched Kalman filter and RTS smoother in PyTorch.

The LCM of :mod:`fusets_dl.baselines.gp` (``cov = sum_q B_q k_q``, Matern-3/2
``k_q``, ``B_q = w_q w_q' + diag(kappa_q)``, per-output noise) is, exactly, a
linear Gaussian state-space model (Hartikainen & Saerkkae 2010). A unit
Matern-3/2 process with length scale ``l`` is the 2-state SDE ``d[f, f'] =
F [f, f'] dt + L dW`` with ``lam = sqrt(3) / l``, ``F = [[0, 1], [-lam^2,
-2 lam]]`` and stationary covariance ``Pinf = diag(1, lam^2)``; between two
dates ``dt`` apart it moves by ``A = expm(F dt) = exp(-lam dt) [[1 + lam dt,
dt], [-lam^2 dt, 1 - lam dt]]`` and gains the noise ``Pinf - A Pinf A'``.
Each latent ``q`` drives all ``P`` outputs through the separable covariance
``B_q k_q``, i.e. the ``2P`` states ``kron(A_q, I_P)`` with stationary
covariance ``kron(Pinf_q, B_q)``; the ``Q`` latents are stacked block-diagonally
(``n = 2 P Q`` states, index ``q * 2P + d * P + p``). Output ``p`` observes
``sum_q f_qp``, the ``d = 0`` state of every latent.

Every pixel of a batch shares the time grid (the union of the outputs' dates
and the prediction dates); a mask says which output each pixel observed on
each date, and an observation is a scalar Kalman update (sequential
processing, so no matrix inverse in the filter). The log marginal likelihood
comes from the innovations and is differentiable by autograd; the loop runs
over dates and outputs only, never over pixels. Cost: ``O(T n^3)`` per pixel
instead of the dense ``O(N^3)`` in the number ``N`` of observations, with no
``N x N`` matrix in memory.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch

from ..errors import ConfigError
from . import statespace_batch, statespace_lanes, statespace_lbfgs
from ._gp_data import OutputStats, fill_constant, output_stats
from .gp_config import GPConfig, _constrained, _init_params

__all__ = ["fit_predict", "grid_layout", "kalman", "on_grid", "posterior", "state_matrices"]

_SQRT3 = math.sqrt(3.0)
_LOG2PI = math.log(2.0 * math.pi)


def _unit_blocks(ls: torch.Tensor, dt: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per latent: transition ``A``, process noise ``Pinf - A Pinf A'`` and ``Pinf`` of a unit Matern-3/2, (b, Q, 2, 2) each."""
    lam = _SQRT3 / ls
    e = torch.exp(-lam * dt)
    A = torch.stack([torch.stack([e * (1 + lam * dt), e * dt], -1), torch.stack([-e * lam * lam * dt, e * (1 - lam * dt)], -1)], -2)
    z = torch.zeros_like(lam)
    Pinf = torch.stack([torch.stack([torch.ones_like(lam), z], -1), torch.stack([z, lam * lam], -1)], -2)
    Qn = Pinf - A @ Pinf @ A.transpose(-1, -2)
    return A, Qn, Pinf


def _blockdiag(blocks: torch.Tensor) -> torch.Tensor:
    """(b, Q, m, m) -> block-diagonal (b, Q m, Q m)."""
    b, Q, m, _ = blocks.shape
    eye = torch.eye(Q, dtype=blocks.dtype, device=blocks.device)
    return torch.einsum("bqij,qr->bqirj", blocks, eye).reshape(b, Q * m, Q * m)


def _kron_state(unit: torch.Tensor, B: torch.Tensor | None) -> torch.Tensor:
    """Per latent ``kron(unit_q, B_q)`` (or ``kron(unit_q, I_P)`` when ``B`` is an int ``P``), stacked block-diagonally."""
    b, Q = unit.shape[:2]
    P = B.shape[-1]
    k = unit[:, :, :, None, :, None] * B[:, :, None, :, None, :]
    return _blockdiag(k.reshape(b, Q, 2 * P, 2 * P))


def _step_blocks(ls: torch.Tensor, dts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Every step's unit transitions and unit process noises, (b, T-1, Q, 2, 2) each."""
    dt = torch.as_tensor(dts, dtype=ls.dtype, device=ls.device)[None, :, None]
    A1, Q1, _ = _unit_blocks(ls[:, None, :], dt)
    return A1, Q1


def _apply_left(A1: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """``kron(A_q, I)`` applied to (b, Q, 2, M) along axis 2, latent by latent, without forming it."""
    a00, a01, a10, a11 = (A1[:, :, i, j].contiguous()[:, :, None] for i in (0, 1) for j in (0, 1))
    x0, x1 = X[:, :, 0], X[:, :, 1]
    return torch.stack([a00 * x0 + a01 * x1, a10 * x0 + a11 * x1], 2)


def _block_index(Q: int, P: int, device: torch.device) -> torch.Tensor:
    """Flat indices (into n x n) of the Q diagonal (2P x 2P) blocks, in (q, row, col) order."""
    m = 2 * P
    q, i, j = np.meshgrid(np.arange(Q), np.arange(m), np.arange(m), indexing="ij")
    return torch.as_tensor(((q * m + i) * (Q * m) + q * m + j).ravel(), device=device)


def _predict_cov(A1: torch.Tensor, S: torch.Tensor, Q1: torch.Tensor, B: torch.Tensor, blk: torch.Tensor) -> torch.Tensor:
    """``A S A' + Qn`` with the block-Kronecker ``A`` and ``Qn``, in O(n^2) per pixel."""
    b, n, _ = S.shape
    Q, P = B.shape[1], B.shape[-1]
    L = _apply_left(A1, S.view(b, Q, 2, P * n)).reshape(b, n, n)
    R = _apply_left(A1, L.transpose(-1, -2).reshape(b, Q, 2, P * n)).reshape(b, n * n)
    Qn = Q1[:, :, :, None, :, None] * B[:, :, None, :, None, :]  # (b, Q, 2, P, 2, P) = kron(Q_q, B_q)
    return R.index_add(1, blk, Qn.reshape(b, -1)).view(b, n, n)


def state_matrices(ls: torch.Tensor, B: torch.Tensor, dt: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The state-space matrices of the LCM for one step of ``dt`` days.

    Parameters
    ----------
    ls : torch.Tensor
        (b, Q) length scales, days.
    B : torch.Tensor
        (b, Q, P, P) coregionalisation matrices.
    dt : float
        Step, days (> 0).

    Returns
    -------
    tuple of torch.Tensor
        Transition ``A``, process noise ``Q`` and stationary covariance
        ``Pinf``, each (b, n, n) with ``n = 2 P Q``.
    """
    A1, Q1, P1 = _unit_blocks(ls, dt)
    P = B.shape[-1]
    eyes = torch.eye(P, dtype=B.dtype, device=B.device).expand_as(B)
    return _kron_state(A1, eyes), _kron_state(Q1, B), _kron_state(P1, B)


def kalman(
    y: torch.Tensor,
    m: torch.Tensor,
    grid: np.ndarray,
    ls: torch.Tensor,
    B: torch.Tensor,
    noise: torch.Tensor,
    *,
    query: np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Log marginal likelihood by Kalman filter and, optionally, the RTS-smoothed posterior.

    Parameters
    ----------
    y : torch.Tensor
        (b, P, T) observations on ``grid`` (any finite value where not observed).
    m : torch.Tensor
        (b, P, T) bool, True where observed.
    grid : numpy.ndarray
        (T,) strictly increasing dates, days, shared by the batch.
    ls, B, noise : torch.Tensor
        (b, Q) length scales, (b, Q, P, P) coregionalisation matrices,
        (b, P) noise variances.
    query : numpy.ndarray, optional
        Indices into ``grid`` where the posterior is wanted (runs the smoother).

    Returns
    -------
    tuple
        ``loglik`` (b,), and with ``query`` the posterior mean and variance of
        the noise-free outputs (b, P, len(query)), else None twice.
    """
    b, P, T = y.shape
    Q = ls.shape[1]
    n = 2 * P * Q
    obs_idx = [torch.tensor([q * 2 * P + p for q in range(Q)], device=y.device) for p in range(P)]
    any_obs = m.any(0).cpu().numpy()  # (P, T): which sequential updates are needed at all
    mf = m.to(y.dtype)
    y = torch.where(m, y, torch.zeros((), dtype=y.dtype, device=y.device))
    _, _, Pinf = state_matrices(ls, B, 1.0)
    steps = _step_blocks(ls, np.diff(grid))
    blk = _block_index(Q, P, y.device)
    x = torch.zeros(b, n, dtype=y.dtype, device=y.device)
    S = Pinf
    ll = torch.zeros(b, dtype=y.dtype, device=y.device)
    keep = query is not None
    xs_f, Ss_f, xs_p, Ss_p, As = [], [], [], [], []
    for k in range(T):
        if k > 0:
            A1 = steps[0][:, k - 1]
            x = _apply_left(A1, x.view(b, Q, 2, P)).reshape(b, n)
            S = _predict_cov(A1, S, steps[1][:, k - 1], B, blk)
            if keep:
                As.append(A1)
        if keep:
            xs_p.append(x)
            Ss_p.append(S)
        for p in range(P):
            if not any_obs[p, k]:
                continue
            idx = obs_idx[p]
            hS = S.index_select(1, idx).sum(1)  # (b, n): h' S
            s = hS.index_select(1, idx).sum(1) + noise[:, p]
            v = y[:, p, k] - x.index_select(1, idx).sum(1)
            w = mf[:, p, k] / s
            x = x + (w * v)[:, None] * hS
            S = S - w[:, None, None] * hS[:, :, None] * hS[:, None, :]
            ll = ll - 0.5 * mf[:, p, k] * (torch.log(s) + v * v / s + _LOG2PI)
        if keep:
            xs_f.append(x)
            Ss_f.append(S)
    if not keep:
        return ll, None, None
    mean, var = _smooth(xs_f, Ss_f, xs_p, Ss_p, As, np.asarray(query), P, Q)
    return ll, mean, var


def _smooth(
    xs_f: list[torch.Tensor], Ss_f: list[torch.Tensor], xs_p: list[torch.Tensor], Ss_p: list[torch.Tensor], As: list[torch.Tensor],
    query: np.ndarray, P: int, Q: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RTS smoother backwards over the stored filter; mean and variance of each output at the query steps."""
    T = len(xs_f)
    want: dict[int, list[int]] = {}
    for j, k in enumerate(query):
        want.setdefault(int(k), []).append(j)
    b = xs_f[0].shape[0]
    mean = torch.empty(b, P, len(query), dtype=xs_f[0].dtype, device=xs_f[0].device)
    var = torch.empty_like(mean)
    x, S = xs_f[-1], Ss_f[-1]

    def _emit(k: int, x: torch.Tensor, S: torch.Tensor) -> None:
        for j in want.get(k, []):
            xv = x.view(b, Q, 2, P)[:, :, 0, :]  # (b, Q, P)
            Sv = S.view(b, Q, 2, P, Q, 2, P)[:, :, 0, :, :, 0, :]  # (b, Q, P, Q, P)
            mean[:, :, j] = xv.sum(1)
            var[:, :, j] = torch.diagonal(Sv.sum((1, 3)), dim1=-2, dim2=-1)

    _emit(T - 1, x, S)
    for k in range(T - 2, -1, -1):
        A1, Sp, xp = As[k], Ss_p[k + 1], xs_p[k + 1]
        n = Sp.shape[-1]
        # G = S_f A' Sp^-1, from Sp G' = A S_f (Sp symmetric positive definite)
        AS = _apply_left(A1, Ss_f[k].view(b, Q, 2, P * n)).reshape(b, n, n)
        G = torch.cholesky_solve(AS, torch.linalg.cholesky(Sp)).transpose(-1, -2)
        x = xs_f[k] + (G @ (x - xp)[:, :, None])[:, :, 0]
        S = Ss_f[k] + G @ (S - Sp) @ G.transpose(-1, -2)
        if k in want:
            _emit(k, x, S)
    return mean, var


def grid_layout(days: np.ndarray, qdays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The time grid of a batch: sorted unique dates of observations and queries.

    Parameters
    ----------
    days, qdays : numpy.ndarray
        (T,) observation and (Tq,) query dates, days.

    Returns
    -------
    tuple of numpy.ndarray
        ``grid`` (G,), the position of each observation date in it (T,) and of
        each query date (Tq,).
    """
    grid, inv = np.unique(np.concatenate([days, qdays]), return_inverse=True)
    return grid, inv[: days.size], inv[days.size :]


def on_grid(values: np.ndarray, obs_pos: np.ndarray, G: int) -> tuple[np.ndarray, np.ndarray]:
    """(b, P, T) values with NaN -> (b, P, G) values (0 where missing) and the observed mask.

    Parameters
    ----------
    values : numpy.ndarray
        (b, P, T), NaN where not observed.
    obs_pos : numpy.ndarray
        (T,) positions of the dates on the grid (distinct dates; a date given
        twice keeps its last finite value).
    G : int
        Grid length.

    Returns
    -------
    tuple of numpy.ndarray
        Values and boolean mask on the grid.
    """
    b, P, _T = values.shape
    y = np.zeros((b, P, G))
    m = np.zeros((b, P, G), dtype=bool)
    ok = np.isfinite(values)
    y[:, :, obs_pos] = np.where(ok, values, 0.0)
    m[:, :, obs_pos] = ok
    return y, m


def posterior(
    values: np.ndarray,
    days: np.ndarray,
    query_days: np.ndarray,
    lengthscale: np.ndarray,
    B: np.ndarray,
    noise: np.ndarray,
) -> dict[str, np.ndarray]:
    """Log marginal likelihood and posterior by Kalman filter and RTS smoother (float64).

    The same quantities as :func:`fusets_dl.baselines.gp.posterior` (the
    dense reference), by the state-space route.

    Parameters
    ----------
    values : numpy.ndarray
        (pixels, P, T), NaN where not observed; used as given.
    days, query_days : numpy.ndarray
        (T,) distinct observation and (Tq,) prediction dates, days.
    lengthscale : numpy.ndarray
        (pixels, Q) length scales, days.
    B : numpy.ndarray
        (pixels, Q, P, P) coregionalisation matrices.
    noise : numpy.ndarray
        (pixels, P) noise variances.

    Returns
    -------
    dict
        ``loglik`` (pixels,), ``mean`` and ``var`` (pixels, P, Tq) of the
        noise-free outputs.
    """
    f64 = torch.float64
    grid, opos, qpos = grid_layout(np.asarray(days, np.float64), np.asarray(query_days, np.float64))
    y, m = on_grid(np.asarray(values, np.float64), opos, grid.size)
    with torch.no_grad():
        ll, mean, var = kalman(
            torch.as_tensor(y, dtype=f64), torch.as_tensor(m), grid, torch.as_tensor(np.asarray(lengthscale), dtype=f64),
            torch.as_tensor(np.asarray(B), dtype=f64), torch.as_tensor(np.asarray(noise), dtype=f64), query=qpos,
        )
    assert mean is not None and var is not None
    return {"loglik": ll.numpy(), "mean": mean.numpy(), "var": var.numpy()}


# --------------------------------------------------------------------------- fitting

def _fit_device(device: str | None) -> torch.device:
    """The device of a state-space fit: ``"auto"`` is the CPU wherever the compiled filter serves.

    The filter is a recursion over the dates with small (2Q x 2Q) blocks: on
    CUDA each step is a handful of tiny kernels, so the GPU waits on their
    launches. Measured with ``benchmarks.mogpr`` (FuseTS field series, default
    L-BFGS fit): 8.5 pixels/s on an NVIDIA H200 (torch filter, 256 pixels)
    against about 600 pixels/s for the compiled lane kernels on 2 CPU cores.
    An explicit ``"cuda"`` is honoured, with a warning.
    """
    from ..options import option
    from ..runtime import resolve_device

    if option("device", device) == "auto" and statespace_batch.available():
        return torch.device("cpu")
    dev = resolve_device(device)
    if dev.type == "cuda" and statespace_batch.available():
        warnings.warn(
            f"mogpr: engine='statespace' on {dev} runs the torch Kalman filter, about 70 times slower per pixel than "
            "the compiled CPU filter (8.5 against ~600 pixels/s measured); use device='auto' or 'cpu' for it, "
            "or engine='dense' for a GPU fit",
            UserWarning, stacklevel=3,
        )
    return dev


def _compiled(y: torch.Tensor) -> bool:
    """Whether the compiled filter (:mod:`.statespace_batch`) serves this batch: Numba installed, CPU tensors."""
    return statespace_batch.available() and y.device.type == "cpu"


def _loglik(y: torch.Tensor, m: torch.Tensor, grid: np.ndarray, ls: torch.Tensor, B: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """(b,) log likelihood, differentiable: the compiled filter and its adjoint where it serves, else :func:`kalman`."""
    if _compiled(y):
        return statespace_batch.loglik_ls(y, m, grid, ls, B, noise)
    return kalman(y, m, grid, ls, B, noise)[0]


def _standardise(values: np.ndarray, min_obs: int) -> tuple[np.ndarray, OutputStats]:
    """Per (pixel, output) standardised values (NaN where missing or the output is not fitted) and the statistics."""
    st = output_stats(values, min_obs)
    z = np.where(np.isfinite(values) & st.usable[..., None], (values - st.mu[..., None]) / np.where(st.usable, st.sd, 1.0)[..., None], np.nan)
    return z, st


def _adam(
    p: dict[str, torch.Tensor], y: torch.Tensor, m: torch.Tensor, grid: np.ndarray, cfg: GPConfig, n_iter: int, lr: float,
    group: torch.Tensor | None = None,
) -> None:
    """Maximise the log likelihood with Adam, in place on ``p``.

    ``p`` holds one parameter set per row of ``y`` or, with ``group`` (b,),
    one per group shared by its rows; the objective is each set's mean log
    likelihood, so every set moves as if it were fitted alone.
    """
    if n_iter <= 0:
        return
    for v in p.values():
        v.requires_grad_(True)
    opt = torch.optim.Adam(list(p.values()), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n_iter, eta_min=lr / 10)
    weight = None
    if group is not None:
        weight = 1.0 / torch.bincount(group).to(y.dtype)[group]
    for _ in range(n_iter):
        opt.zero_grad()
        q = p if group is None else {k: v[group] for k, v in p.items()}
        ls, B, noise = _constrained(q, cfg)
        ll = _loglik(y, m, grid, ls, B, noise)
        ll = torch.where(torch.isfinite(ll), ll, torch.zeros_like(ll))
        (-(ll if weight is None else ll * weight).sum()).backward()
        for v in p.values():
            if v.grad is not None:
                v.grad.nan_to_num_(0.0, 0.0, 0.0)
        opt.step()
        sched.step()
    for v in p.values():
        v.requires_grad_(False)


def _sample(idx: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` evenly spaced entries of ``idx``."""
    if idx.size <= k:
        return idx
    return idx[np.linspace(0, idx.size - 1, k).round().astype(int)]


def _group_sample(groups: np.ndarray, cfg: GPConfig, dev: torch.device) -> tuple[int, int, np.ndarray, torch.Tensor]:
    """Groups ``G``, restarts ``R``, the sampled pixels (up to ``share_pixels`` per group) and their parameter-set index (R * G sets)."""
    G = int(groups.max()) + 1
    rows = [_sample(np.flatnonzero(groups == g), cfg.share_pixels) for g in range(G)]
    sel = np.concatenate(rows)
    gsel = np.concatenate([np.full(r.size, g) for g, r in enumerate(rows)])
    R = cfg.restarts
    return G, R, sel, torch.as_tensor(np.concatenate([gsel + r * G for r in range(R)]), device=dev)


def _shared_fit(
    y: torch.Tensor, m: torch.Tensor, grid: np.ndarray, groups: np.ndarray, P: int, Q: int, cfg: GPConfig,
) -> dict[str, torch.Tensor]:
    """One parameter set per group (0..G-1), fitted on up to ``share_pixels`` pixels of it; best of the restarts."""
    G, R, sel, grp = _group_sample(groups, cfg, y.device)
    dev, dt = y.device, y.dtype
    inits = [_init_params(G, P, Q, cfg.rank, r, cfg, dev, dt) for r in range(R)]
    p = {k: torch.cat([i[k] for i in inits]) for k in inits[0]}  # (R * G, ...)
    ysel, msel = y[sel].repeat(R, 1, 1), m[sel].repeat(R, 1, 1)
    _adam(p, ysel, msel, grid, cfg, cfg.n_iter, cfg.lr, group=grp)
    with torch.no_grad():
        ls, B, noise = _constrained({k: v[grp] for k, v in p.items()}, cfg)
        ll = _loglik(ysel, msel, grid, ls, B, noise)
        ll = torch.where(torch.isfinite(ll), ll, torch.full_like(ll, -1e30))
        tot = torch.zeros(R * G, dtype=dt, device=dev).index_add(0, grp, ll).view(R, G)
        best = tot.argmax(0) * G + torch.arange(G, device=dev)
    return {k: v[best].detach() for k, v in p.items()}


def _lbfgs_shared(
    y: torch.Tensor, m: torch.Tensor, grid: np.ndarray, groups: np.ndarray, P: int, Q: int, cfg: GPConfig,
) -> torch.Tensor:
    """One flat parameter vector per group (G, d), fitted by L-BFGS on up to ``share_pixels`` pixels of it; best of the restarts."""
    G, R, sel, grp = _group_sample(groups, cfg, y.device)
    dev, dt = y.device, y.dtype
    theta0 = torch.cat([statespace_lbfgs.theta_from_params(_init_params(G, P, Q, cfg.rank, r, cfg, dev, dt), cfg) for r in range(R)])
    theta, f, _ = statespace_lbfgs.fit(y[sel].repeat(R, 1, 1), m[sel].repeat(R, 1, 1), grid, theta0, grp, cfg, (P, Q, cfg.rank), _loglik,
                                       2 * cfg.lbfgs_iter)
    best = torch.where(torch.isfinite(f), f, torch.full_like(f, float("inf"))).view(R, G).argmin(0) * G + torch.arange(G, device=dev)
    return theta[best]


def _fit_lbfgs(y: torch.Tensor, m: torch.Tensor, grid: np.ndarray, groups: np.ndarray, P: int, Q: int, cfg: GPConfig) -> dict[str, torch.Tensor]:
    """Parameters of every pixel: one L-BFGS fit per group (``share``), or per pixel from the fixed starts (best of ``restarts``).

    Per-pixel fits start from :func:`~.gp_config._init_params`, never from
    the batch, so a pixel gets the same hyperparameters whatever its chunk.
    """
    if cfg.share != "none":
        shared = _lbfgs_shared(y, m, grid, groups, P, Q, cfg)
        return statespace_lbfgs.params_from_theta(shared[torch.as_tensor(groups, device=y.device)], P, Q, cfg.rank)
    b, dev, dt = y.shape[0], y.device, y.dtype
    bs = max(cfg.batch_size, 4096) if _compiled(y) else cfg.batch_size
    best_theta: torch.Tensor | None = None
    best_f = torch.full((b,), float("inf"), dtype=dt, device=dev)
    for r in range(cfg.restarts):
        theta = statespace_lbfgs.theta_from_params(_init_params(b, P, Q, cfg.rank, r, cfg, dev, dt), cfg)
        f = torch.empty(b, dtype=dt, device=dev)
        for a in range(0, b, bs):
            theta[a : a + bs], f[a : a + bs], _ = statespace_lbfgs.fit(y[a : a + bs], m[a : a + bs], grid, theta[a : a + bs], None, cfg,
                                                                       (P, Q, cfg.rank), _loglik, cfg.lbfgs_iter)
        if best_theta is None:
            best_theta, best_f = theta, torch.where(torch.isfinite(f), f, best_f)
        else:
            better = torch.isfinite(f) & (f < best_f)
            best_theta = torch.where(better[:, None], theta, best_theta)
            best_f = torch.where(better, f, best_f)
    assert best_theta is not None
    return statespace_lbfgs.params_from_theta(best_theta, P, Q, cfg.rank)


def fit_predict(
    values: np.ndarray,
    days: np.ndarray,
    query_days: np.ndarray,
    config: GPConfig | None = None,
    *,
    target_index: int = 0,
    classes: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Fit the LCM by Kalman filter and predict every output at ``query_days`` by RTS smoothing.

    Hyperparameters follow ``config.share``: ``"none"`` fits each pixel's
    own set (Adam, ``n_iter`` steps, as the dense engine; independent of the
    batch); ``"region"`` fits one set on up to ``share_pixels`` pixels of the
    call and smooths all with it; ``"class"`` one set per value of
    ``classes``. Computation is float64 whatever ``config.dtype``.

    Parameters
    ----------
    values : numpy.ndarray
        (pixels, P, T): P outputs on T distinct dates, NaN where not observed.
    days, query_days : numpy.ndarray
        (T,) observation and (Tq,) prediction dates, days.
    config : GPConfig, optional
        Fit settings.
    target_index : int
        The master output; pixels where it has fewer than ``min_obs``
        observations get NaN everywhere. An output constant on its dates
        (at least ``min_obs`` of them) is returned as that constant with
        std 0, and the pixel's other outputs are fitted without it.
    classes : numpy.ndarray, optional
        (pixels,) integer class of each pixel, for ``share="class"``
        (negative: not fitted, NaN).

    Returns
    -------
    dict
        ``mean`` and ``std`` (pixels, P, Tq) in the input units; ``std`` is
        the posterior std of the noise-free process (plus the noise when
        ``include_noise``); ``loglik`` (pixels,) and ``lengthscale``
        (pixels, Q).

    Raises
    ------
    ConfigError
        When ``share="class"`` comes without ``classes`` of one per pixel.
    """
    cfg = config or GPConfig()
    values = np.asarray(values, dtype=np.float64)
    nb, P, _T = values.shape
    Q = cfg.n_latent or P
    days = np.asarray(days, dtype=np.float64)
    qdays = np.asarray(query_days, dtype=np.float64)
    out = {"mean": np.full((nb, P, qdays.size), np.nan), "std": np.full((nb, P, qdays.size), np.nan),
           "loglik": np.full(nb, np.nan), "lengthscale": np.full((nb, Q), np.nan)}
    z, st = _standardise(values, cfg.min_obs)
    mu, sd, usable = st.mu, st.sd, st.usable
    kept = st.kept(target_index)
    if cfg.share == "class":
        if classes is None or np.shape(classes) != (nb,):
            raise ConfigError(f"mogpr: share='class' expects one class per pixel ({nb}), found {None if classes is None else np.shape(classes)}")
        kept &= np.asarray(classes) >= 0
    fit = kept & usable.any(-1)
    if not fit.any():
        fill_constant(out["mean"], out["std"], st, target_index, kept)
        return out
    dev, f64 = _fit_device(cfg.device), torch.float64
    sel = np.flatnonzero(fit)
    grid, opos, qpos = grid_layout(days - days.min(), qdays - days.min())
    yg, mg = on_grid(z[sel], opos, grid.size)
    y, m = torch.as_tensor(yg, dtype=f64, device=dev), torch.as_tensor(mg, device=dev)
    if cfg.share == "class":
        _, groups = np.unique(np.asarray(classes)[sel], return_inverse=True)
    elif cfg.share == "region":
        groups = np.zeros(sel.size, dtype=np.int64)
    else:
        groups = np.arange(sel.size)
    if cfg.optimizer == "lbfgs":
        p = _fit_lbfgs(y, m, grid, groups, P, Q, cfg)
    elif cfg.share == "none":  # every pixel alone, in batches: the result does not depend on its batch mates
        bs = max(cfg.batch_size, 1024) if _compiled(y) else cfg.batch_size  # the compiled filter: large batches amortise torch's per-step cost
        parts = [_shared_fit(y[a : a + bs], m[a : a + bs], grid, groups[: min(bs, sel.size - a)], P, Q, cfg)
                 for a in range(0, sel.size, bs)]
        p = {k: torch.cat([q[k] for q in parts]) for k in parts[0]}
    else:
        shared = _shared_fit(y, m, grid, groups, P, Q, cfg)
        g = torch.as_tensor(groups, device=dev)
        p = {k: v[g].clone() for k, v in shared.items()}
    mean, var, ll = _predict_all(p, y, m, grid, qpos, cfg)
    good = np.isfinite(ll)
    scale = np.where(usable[sel], sd[sel], np.nan)[..., None]
    out["mean"][sel] = np.where(good[:, None, None], mean * scale + mu[sel][..., None], np.nan)
    out["std"][sel] = np.where(good[:, None, None], np.sqrt(np.clip(var, 0.0, None)) * scale, np.nan)
    out["loglik"][sel] = ll
    with torch.no_grad():
        out["lengthscale"][sel] = _constrained(p, cfg)[0].cpu().numpy()
    fill_constant(out["mean"], out["std"], st, target_index, kept)  # after the fit, which leaves them NaN
    return out


def _predict_all(
    p: dict[str, torch.Tensor], y: torch.Tensor, m: torch.Tensor, grid: np.ndarray, qpos: np.ndarray, cfg: GPConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Smoothed mean and variance (standardised units) and loglik of every pixel, in chunks that bound the smoother's memory."""
    b = y.shape[0]
    mean = np.empty((b, y.shape[1], qpos.size))
    var = np.empty_like(mean)
    ll = np.empty(b)
    step = 1024 if _compiled(y) else max(1, min(cfg.batch_size, 128))
    with torch.no_grad():
        for a in range(0, b, step):
            ls, B, noise = _constrained({k: v[a : a + step] for k, v in p.items()}, cfg)
            if _compiled(y):
                nb_ = min(step, b - a)
                mu_np, vv_np = np.empty((nb_, y.shape[1], qpos.size)), np.empty((nb_, y.shape[1], qpos.size))
                ll_np = statespace_lanes.smooth_ls(np.ascontiguousarray(y[a : a + step].numpy()),
                                                   np.ascontiguousarray(m[a : a + step].numpy().astype(np.uint8)),
                                                   np.diff(np.asarray(grid, np.float64)), np.ascontiguousarray(ls.numpy()),
                                                   np.ascontiguousarray(B.numpy()), np.ascontiguousarray(noise.numpy()),
                                                   np.asarray(qpos, np.int64), mu_np, vv_np)
                lla, mu, vv = torch.as_tensor(ll_np), torch.as_tensor(mu_np), torch.as_tensor(vv_np)
            else:
                lla, mu, vv = kalman(y[a : a + step], m[a : a + step], grid, ls, B, noise, query=qpos)
            assert mu is not None and vv is not None
            if cfg.include_noise:
                vv = vv + noise[:, :, None]
            mean[a : a + step], var[a : a + step] = mu.cpu().numpy(), vv.cpu().numpy()
            ll[a : a + step] = lla.cpu().numpy()
    return mean, var, np.where(np.isfinite(ll), ll, np.nan)
