"""Batched multi-output Gaussian process regression (linear model of coregionalisation).

The numerical core of the MOGPR baseline, on plain arrays: many independent
pixels, each with ``P`` outputs observed on a shared set of dates (NaN where an
output was not observed), are fitted together in PyTorch.

Model, for one pixel (Pipia et al. 2019; the LCM of FuseTS's GPy setup)::

    cov(f_p(t), f_p'(t')) = sum_q B_q[p, p'] k_q(|t - t'|)
    B_q = W_q W_q' + diag(kappa_q)                  (W_q: P x rank)
    k_q(d) = (1 + sqrt(3) d / l_q) exp(-sqrt(3) d / l_q)     (Matern-3/2)
    y_p(t) = f_p(t) + eps,  eps ~ N(0, sigma_p^2)

Each output is standardised per pixel. The hyperparameters (``l_q``, ``W_q``,
``kappa_q``, ``sigma_p``) maximise each pixel's log marginal likelihood. The
GPy Matern variance is left out: it multiplies ``B_q`` and is redundant with it.

Pixels have different numbers of observations. Each pixel's observations are
gathered to the front of a padded vector of the batch's largest count, and the
padding rows and columns of the covariance are replaced by the identity with a
zero target, which adds exactly nothing to the log likelihood and leaves the
posterior at the real observations unchanged. So one batched Cholesky serves
all pixels, and Adam (an element-wise optimiser) updates every pixel's
parameters as if it were optimised alone.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ._gp_data import fill_constant, output_stats
from .gp_config import GPConfig, _constrained, _init_params

__all__ = ["GPConfig", "fit_predict", "posterior"]

_SQRT3 = math.sqrt(3.0)


def _matern32(d: torch.Tensor, ls: torch.Tensor) -> torch.Tensor:
    r = _SQRT3 * d / ls
    return (1.0 + r) * torch.exp(-r)


def _cross_cov(
    ta: torch.Tensor, pa: torch.Tensor, tb: torch.Tensor, pb: torch.Tensor, ls: torch.Tensor, B: torch.Tensor
) -> torch.Tensor:
    """sum_q B_q[pa_i, pb_j] k_q(|ta_i - tb_j|): (nb, Na, Nb)."""
    _nb, Q, P, _ = B.shape
    d = (ta[:, :, None] - tb[:, None, :]).abs()
    ea = torch.nn.functional.one_hot(pa, P).to(B.dtype)  # (nb, Na, P)
    eb = torch.nn.functional.one_hot(pb, P).to(B.dtype)
    out = torch.zeros(d.shape, dtype=B.dtype, device=B.device)
    for q in range(Q):
        bq = ea @ B[:, q] @ eb.transpose(-1, -2)
        out = out + bq * _matern32(d, ls[:, q, None, None])
    return out


def _train_cov(t: torch.Tensor, pidx: torch.Tensor, m: torch.Tensor, ls: torch.Tensor, B: torch.Tensor, noise: torch.Tensor, jitter: torch.Tensor) -> torch.Tensor:
    """Covariance of the padded observations; padding rows/columns are the identity."""
    K = _cross_cov(t, pidx, t, pidx, ls, B)
    mm = m[:, :, None] * m[:, None, :]
    diag = torch.where(m > 0, torch.gather(noise, 1, pidx) + jitter[:, None], torch.ones_like(m))
    return K * mm + torch.diag_embed(diag)


def _cholesky(K: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cholesky factor; pixels that fail get more jitter (up to 3 tries), then are flagged."""
    L, info = torch.linalg.cholesky_ex(K)
    bump = 1e-6
    for _ in range(3):
        bad = info > 0
        if not bool(bad.any()):
            break
        extra = torch.where(bad, torch.as_tensor(bump, dtype=K.dtype, device=K.device), torch.zeros((), dtype=K.dtype, device=K.device))
        K = K + torch.diag_embed(extra[:, None] * m)
        L, info = torch.linalg.cholesky_ex(K)
        bump *= 100.0
    return L, info > 0


def _loglik(y: torch.Tensor, m: torch.Tensor, n: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Log marginal likelihood per pixel, with the factor and ``alpha = K^-1 y``."""
    L, failed = _cholesky(K, m)
    alpha = torch.cholesky_solve(y[:, :, None], L)[:, :, 0]
    logdet = 2.0 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
    ll = -0.5 * (y * alpha).sum(-1) - 0.5 * logdet - 0.5 * n * math.log(2.0 * math.pi)
    ll = torch.where(failed, torch.full_like(ll, -1e30), ll)
    return ll, L, alpha, failed


def _precompute(t: torch.Tensor, pidx: torch.Tensor, m: torch.Tensor, P: int) -> dict[str, torch.Tensor]:
    """What stays fixed during the fit: distances and the masked output one-hot matrix."""
    E = torch.nn.functional.one_hot(pidx, P).to(t.dtype) * m[:, :, None]  # padding rows are zero
    return {"d": (t[:, :, None] - t[:, None, :]).abs(), "E": E, "Et": E.transpose(-1, -2).contiguous(), "m": m}


def _loglik_and_grad(
    p: dict[str, torch.Tensor], pre: dict[str, torch.Tensor], y: torch.Tensor, n: torch.Tensor, jitter: torch.Tensor, cfg: GPConfig
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Log likelihood per pixel and its analytic gradient w.r.t. the unconstrained parameters.

    With ``alpha = K^-1 y`` and ``M = alpha alpha' - K^-1``, the gradient of
    the log likelihood w.r.t. any covariance parameter ``theta`` is
    ``0.5 tr(M dK/dtheta)`` (Rasmussen & Williams 2006, eq. 5.9). Because the
    coregionalisation entry of a pair depends only on the two outputs, every
    trace reduces to ``E' (M o X) E`` with the output one-hot matrix ``E``.
    This needs about a third of the memory passes autograd makes, which is
    what bounds this computation on a CPU.
    """
    ls, B, noise = _constrained(p, cfg)
    d, E, Et, m = pre["d"], pre["E"], pre["Et"], pre["m"]
    _nb, Q = ls.shape
    K = torch.zeros_like(d)
    kern, dkern = [], []
    for q in range(Q):
        lam = (_SQRT3 / ls[:, q])[:, None, None]
        r = d * lam
        e = torch.exp(-r)
        k = e + r * e
        K += (E @ B[:, q] @ Et) * k
        kern.append(k)
        dkern.append(r * r * e / ls[:, q, None, None])  # dk/dl
    diag = torch.where(m > 0, (E * noise[:, None, :]).sum(-1) + jitter[:, None], torch.ones_like(m))
    K.diagonal(dim1=-2, dim2=-1).add_(diag)
    ll, L, alpha, failed = _loglik(y, m, n, K)
    M = torch.cholesky_inverse(L)
    M.neg_().add_(alpha[:, :, None] * alpha[:, None, :])
    gB = torch.stack([0.5 * (Et @ (M * kern[q]) @ E) for q in range(Q)], 1)  # (nb, Q, P, P)
    gls = torch.stack([0.5 * ((Et @ (M * dkern[q]) @ E) * B[:, q]).sum((-1, -2)) for q in range(Q)], 1)
    gnoise = 0.5 * (Et * torch.diagonal(M, dim1=-2, dim2=-1)[:, None, :]).sum(-1)
    ok = (~failed).to(d.dtype)
    grads = {
        "raw_ls": gls * torch.sigmoid(p["raw_ls"]) * ok[:, None],
        "W": ((gB + gB.transpose(-1, -2)) @ p["W"]) * ok[:, None, None, None],
        "raw_kappa": torch.diagonal(gB, dim1=-2, dim2=-1) * torch.exp(p["raw_kappa"]) * ok[:, None, None],
        "raw_noise": gnoise * torch.exp(p["raw_noise"]) * ok[:, None],
    }
    return ll, grads


def _predict(
    ls: torch.Tensor, B: torch.Tensor, noise: torch.Tensor, L: torch.Tensor, alpha: torch.Tensor,
    t: torch.Tensor, pidx: torch.Tensor, m: torch.Tensor, qdays: np.ndarray, *, include_noise: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior mean and variance of every output at ``qdays``: (nb, P, Tq) each (standardised units)."""
    nb, _Q, P, _ = B.shape
    nq = qdays.size
    dev, dt = B.device, B.dtype
    tq = torch.as_tensor(np.tile(qdays, P), dtype=dt, device=dev).expand(nb, -1)
    pq = torch.as_tensor(np.repeat(np.arange(P), nq), device=dev).expand(nb, -1)
    mu_q = torch.zeros(nb, P * nq, dtype=dt, device=dev)
    var_q = torch.zeros_like(mu_q)
    prior = torch.diagonal(B, dim1=-2, dim2=-1).sum(1)  # (nb, P): k_q(0) = 1
    if include_noise:
        prior = prior + noise
    step = max(1, 4096 // max(P, 1))
    for a in range(0, P * nq, step):
        b = min(a + step, P * nq)
        Ks = _cross_cov(tq[:, a:b], pq[:, a:b], t, pidx, ls, B) * m[:, None, :]
        mu_q[:, a:b] = (Ks @ alpha[:, :, None])[:, :, 0]
        v = torch.linalg.solve_triangular(L, Ks.transpose(-1, -2), upper=False)
        var_q[:, a:b] = torch.gather(prior, 1, pq[:, a:b]) - (v * v).sum(1)
    return mu_q.view(nb, P, nq), var_q.view(nb, P, nq)


# --------------------------------------------------------------------------- packing

def _pack(values: np.ndarray, days: np.ndarray, min_obs: int) -> dict[str, Any]:
    """Standardise each (pixel, output) and gather valid observations to the front.

    Outputs with fewer than ``min_obs`` dates, or constant on them (see
    :mod:`._gp_data`), are left out (``usable`` False).
    """
    st = output_stats(values, min_obs)
    valid = np.isfinite(values) & st.usable[..., None]
    z = np.where(valid, (values - st.mu[..., None]) / np.where(st.usable, st.sd, 1.0)[..., None], np.nan)
    return {**_pack_raw(z, days), "mu": st.mu, "sd": st.sd, "usable": st.usable, "stats": st}


def _pack_raw(z: np.ndarray, days: np.ndarray) -> dict[str, np.ndarray]:
    """Gather each pixel's finite values to the front of a padded (pixels, N) layout."""
    nb, P, T = z.shape
    flat_valid = np.isfinite(z).reshape(nb, P * T)
    n = flat_valid.sum(-1)
    N = max(int(n.max()) if nb else 0, 1)
    order = np.argsort(~flat_valid, axis=-1, kind="stable")[:, :N]
    m = np.take_along_axis(flat_valid, order, -1)
    y = np.where(m, np.take_along_axis(np.nan_to_num(z).reshape(nb, P * T), order, -1), 0.0)
    t = np.where(m, days[order % T], 0.0)
    return {"y": y, "m": m, "pidx": order // T, "t": t, "n": n}


# --------------------------------------------------------------------------- public

def posterior(
    values: np.ndarray,
    days: np.ndarray,
    query_days: np.ndarray,
    lengthscale: np.ndarray,
    B: np.ndarray,
    noise: np.ndarray,
) -> dict[str, np.ndarray]:
    """Log marginal likelihood and posterior of series under given hyperparameters (float64).

    Parameters
    ----------
    values : numpy.ndarray
        (pixels, P, T) with NaN where not observed; used as given (no
        standardisation).
    days, query_days : numpy.ndarray
        (T,) observation and (Tq,) prediction times, days.
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
        noise-free signal: exactly what the fit maximises and predicts, with
        the padding and batching of the fit; exposed so that it can be checked
        against a direct dense computation.
    """
    v = np.asarray(values, dtype=np.float64)
    nb = v.shape[0]
    pk = _pack_raw(v, np.asarray(days, dtype=np.float64))
    f64 = torch.float64
    y, t, m, n = (torch.as_tensor(pk[k], dtype=f64) for k in ("y", "t", "m", "n"))
    pidx = torch.as_tensor(pk["pidx"])
    ls = torch.as_tensor(np.asarray(lengthscale), dtype=f64)
    Bt = torch.as_tensor(np.asarray(B), dtype=f64)
    nz = torch.as_tensor(np.asarray(noise), dtype=f64)
    K = _train_cov(t, pidx, m, ls, Bt, nz, torch.zeros(nb, dtype=f64))
    ll, L, alpha, _failed = _loglik(y, m, n, K)
    mean, var = _predict(ls, Bt, nz, L, alpha, t, pidx, m, np.asarray(query_days, dtype=np.float64))
    return {"loglik": ll.numpy(), "mean": mean.numpy(), "var": var.numpy()}


def fit_predict(
    values: np.ndarray,
    days: np.ndarray,
    query_days: np.ndarray,
    config: GPConfig | None = None,
    *,
    target_index: int = 0,
    classes: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Fit the LCM per pixel and predict every output at ``query_days``.

    With ``config.engine == "statespace"`` this is
    :func:`fusets_dl.baselines.statespace.fit_predict`; the rest of this
    page describes the dense engine (the exactness reference).

    Parameters
    ----------
    values : numpy.ndarray
        (pixels, P, T): P outputs on T shared dates, NaN where not observed.
    days : numpy.ndarray
        (T,) observation times, days (any origin).
    query_days : numpy.ndarray
        (Tq,) prediction times on the same scale.
    config : GPConfig, optional
        Fit settings.
    target_index : int
        The master output; pixels where it has fewer than ``min_obs``
        observations get NaN everywhere. An output constant on its dates
        (at least ``min_obs`` of them) is returned as that constant with
        std 0, and the pixel's other outputs are fitted without it.
    classes : numpy.ndarray, optional
        (pixels,) class of each pixel, for ``share="class"``.

    Returns
    -------
    dict
        ``mean`` and ``std`` (pixels, P, Tq) in the original units (NaN for
        outputs left out of a pixel's fit), ``loglik`` (pixels,) and
        ``lengthscale`` (pixels, Q) of the chosen fit.
    """
    cfg = config or GPConfig()
    if cfg.engine == "statespace":
        from .statespace import fit_predict as ss_fit_predict

        return ss_fit_predict(values, days, query_days, cfg, target_index=target_index, classes=classes)
    from ..runtime import resolve_device

    dev = resolve_device(cfg.device)
    dt = torch.float64 if cfg.dtype == "float64" else torch.float32
    values = np.asarray(values, dtype=np.float64)
    nb, P, _T = values.shape
    Q = cfg.n_latent or P
    days = np.asarray(days, dtype=np.float64)
    query_days = np.asarray(query_days, dtype=np.float64)
    mean = np.full((nb, P, query_days.size), np.nan)
    std = np.full_like(mean, np.nan)
    loglik = np.full(nb, np.nan)
    lengthscale = np.full((nb, Q), np.nan)
    origin = float(days.min()) if days.size else 0.0
    for s in range(0, nb, cfg.batch_size):
        sl = slice(s, min(s + cfg.batch_size, nb))
        got = _fit_batch(values[sl], days - origin, query_days - origin, cfg, Q, target_index, dev, dt)
        mean[sl], std[sl], loglik[sl], lengthscale[sl] = got
    return {"mean": mean, "std": std, "loglik": loglik, "lengthscale": lengthscale}


def _fit_batch(
    values: np.ndarray, days: np.ndarray, qdays: np.ndarray, cfg: GPConfig, Q: int, target: int, dev: torch.device, dt: torch.dtype
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit one batch of pixels: mean, std (pixels, P, Tq), loglik (pixels,), length scales (pixels, Q)."""
    nb, P, _T = values.shape
    mean = np.full((nb, P, qdays.size), np.nan)
    std = np.full_like(mean, np.nan)
    ll_out = np.full(nb, np.nan)
    ls_out = np.full((nb, Q), np.nan)
    pk = _pack(values, days, cfg.min_obs)
    fit = pk["stats"].fitted(target)
    if not fit.any():
        fill_constant(mean, std, pk["stats"], target)
        return mean, std, ll_out, ls_out
    sel = np.flatnonzero(fit)
    data = _fit_tensors(pk, sel, cfg.restarts, dev, dt)
    p = _fit_params(sel.size, P, Q, cfg, dev, dt)
    jitter = torch.full((sel.size * cfg.restarts,), 1e-6, dtype=dt, device=dev)
    _fit_adam(p, data, jitter, P, cfg)
    with torch.no_grad():
        ls, mu_q, var_q, ll, failed = _fit_best(p, data, jitter, sel.size, qdays, cfg)
    mu_np = mu_q.cpu().numpy()
    sd_np = np.sqrt(np.clip(var_q.cpu().numpy(), 0.0, None))
    ok_out = pk["usable"][sel]  # outputs that took part
    good = ~failed.cpu().numpy()
    scale = np.where(ok_out, pk["sd"][sel], np.nan)[..., None]
    mean[sel] = np.where(good[:, None, None], mu_np * scale + pk["mu"][sel][..., None], np.nan)
    std[sel] = np.where(good[:, None, None], sd_np * scale, np.nan)
    ll_out[sel] = np.where(good, ll.cpu().numpy(), np.nan)
    ls_out[sel] = ls.cpu().numpy()
    fill_constant(mean, std, pk["stats"], target)  # after the fit, which leaves them NaN
    return mean, std, ll_out, ls_out


def _fit_tensors(pk: dict[str, np.ndarray], sel: np.ndarray, R: int, dev: torch.device, dt: torch.dtype) -> dict[str, torch.Tensor]:
    """The packed observations of the fitted pixels, repeated once per restart, as tensors."""

    def _t(a: np.ndarray, dtype: torch.dtype = dt) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(np.tile(a[sel], (R,) + (1,) * (a.ndim - 1))), dtype=dtype, device=dev)

    return {"y": _t(pk["y"]), "t": _t(pk["t"]), "m": _t(pk["m"]), "n": _t(pk["n"]), "pidx": _t(pk["pidx"], torch.int64)}


def _fit_params(nf: int, P: int, Q: int, cfg: GPConfig, dev: torch.device, dt: torch.dtype) -> dict[str, torch.Tensor]:
    """Starting parameters of every restart, concatenated along the pixel axis, with gradients on."""
    params: dict[str, list[torch.Tensor]] = {}
    for r in range(cfg.restarts):
        for k, v in _init_params(nf, P, Q, cfg.rank, r, cfg, dev, dt).items():
            params.setdefault(k, []).append(v)
    return {k: torch.cat(v).requires_grad_(True) for k, v in params.items()}


def _fit_adam(p: dict[str, torch.Tensor], data: dict[str, torch.Tensor], jitter: torch.Tensor, P: int, cfg: GPConfig) -> None:
    """Maximise every pixel's log likelihood with Adam and the analytic gradient (in place on ``p``)."""
    opt = torch.optim.Adam(list(p.values()), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.n_iter, 1), eta_min=cfg.lr / 10)
    pre = _precompute(data["t"], data["pidx"], data["m"], P)
    for _ in range(cfg.n_iter):
        with torch.no_grad():
            _ll, grads = _loglik_and_grad(p, pre, data["y"], data["n"], jitter, cfg)
        for k, g in grads.items():
            p[k].grad = -g
        opt.step()
        sched.step()


def _fit_best(
    p: dict[str, torch.Tensor], data: dict[str, torch.Tensor], jitter: torch.Tensor, nf: int, qdays: np.ndarray, cfg: GPConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Keep each pixel's best restart; its length scales, posterior mean and variance, loglik and failure flag."""
    y, t, m, n, pidx = (data[k] for k in ("y", "t", "m", "n", "pidx"))
    R = cfg.restarts
    ls, B, noise = _constrained(p, cfg)
    ll, L, alpha, failed = _loglik(y, m, n, _train_cov(t, pidx, m, ls, B, noise, jitter))
    best = ll.view(R, nf).argmax(0)
    pick = best * nf + torch.arange(nf, device=ll.device)
    ls, B, noise, L, alpha, ll, failed = (a[pick] for a in (ls, B, noise, L, alpha, ll, failed))
    mu_q, var_q = _predict(ls, B, noise, L, alpha, t[:nf], pidx[:nf], m[:nf], qdays, include_noise=cfg.include_noise)
    return ls, mu_q, var_q, ll, failed
