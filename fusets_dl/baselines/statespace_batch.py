"""Compiled Kalman filter, its adjoint and the RTS smoother of the state-space MOGPR (Numba).

The same model and state layout as :mod:`fusets_dl.baselines.statespace`
(``n = 2 P Q`` states, index ``q * 2P + d * P + p``; transition
``kron(A_q, I_P)``, process noise ``kron(Qn_q, B_q)``, start
``kron(Pinf_q, B_q)``; scalar sequential updates), but every pixel runs its
own filter in compiled code, pixels spread over the CPU threads. The gradient
of each pixel's log likelihood is the hand-written adjoint (reverse sweep) of
the filter, wrapped as a :class:`torch.autograd.Function` whose inputs are
the per-step unit blocks ``A_q``, ``Qn_q``, ``Pinf_q``, ``B_q`` and the noise:
torch carries the chain rule from the hyper-parameters to those blocks.
Nothing is taped per step, so memory is ``O(T n^2)`` per thread, and the
cost per pixel and step is ``O(n^2)`` flops with no Python in the loop.

Numba is a dependency (if it fails to import, the engine still runs); :func:`available` says
whether it is installed, and :mod:`.statespace` falls back to its torch
filter when it is not.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ._numba import nb as _nb
from ._numba import njit as _njit
from ._numba import pnjit as _pnjit
from ._numba import prange as _prange
from .statespace_lanes import loglik_ls as _loglik_ls_lanes

__all__ = ["available", "loglik", "loglik_ls", "smooth"]

_LOG2PI = math.log(2.0 * math.pi)


def available() -> bool:
    """Whether the compiled engine can run (Numba installed).

    Returns
    -------
    bool
        True when :mod:`numba` imports.
    """
    return _nb is not None


@_njit
def _start(P1: np.ndarray, B: np.ndarray, S: np.ndarray) -> None:
    Q, P = B.shape[0], B.shape[1]
    m = 2 * P
    S[:] = 0.0
    for q in range(Q):
        for i in range(2):
            for j in range(2):
                for a in range(P):
                    for c in range(P):
                        S[q * m + i * P + a, q * m + j * P + c] = P1[q, i, j] * B[q, a, c]

@_njit
def _predict(A1: np.ndarray, Q1: np.ndarray, B: np.ndarray, x: np.ndarray, S: np.ndarray, W: np.ndarray) -> None:
    """x <- A x, S <- A S A' + kron(Q1, B), in place (W: n x n work)."""
    Q, P = B.shape[0], B.shape[1]
    m = 2 * P
    n = S.shape[0]
    for q in range(Q):
        for p in range(P):
            r0, r1 = q * m + p, q * m + P + p
            x0, x1 = x[r0], x[r1]
            x[r0] = A1[q, 0, 0] * x0 + A1[q, 0, 1] * x1
            x[r1] = A1[q, 1, 0] * x0 + A1[q, 1, 1] * x1
            for c in range(n):
                s0, s1 = S[r0, c], S[r1, c]
                W[r0, c] = A1[q, 0, 0] * s0 + A1[q, 0, 1] * s1
                W[r1, c] = A1[q, 1, 0] * s0 + A1[q, 1, 1] * s1
    for q in range(Q):
        for p in range(P):
            c0, c1 = q * m + p, q * m + P + p
            for r in range(n):
                w0, w1 = W[r, c0], W[r, c1]
                S[r, c0] = w0 * A1[q, 0, 0] + w1 * A1[q, 0, 1]
                S[r, c1] = w0 * A1[q, 1, 0] + w1 * A1[q, 1, 1]
        for i in range(2):
            for j in range(2):
                for a in range(P):
                    for c in range(P):
                        S[q * m + i * P + a, q * m + j * P + c] += Q1[q, i, j] * B[q, a, c]

@_njit
def _obs_u(S: np.ndarray, p: int, Q: int, m: int, u: np.ndarray) -> None:
    n = S.shape[0]
    for r in range(n):
        acc = 0.0
        for q in range(Q):
            acc += S[r, q * m + p]
        u[r] = acc

@_njit
def _forward_one(y: np.ndarray, mk: np.ndarray, A1: np.ndarray, Q1: np.ndarray, P1: np.ndarray, B: np.ndarray, noise: np.ndarray,
                Spost: np.ndarray, xpost: np.ndarray, U: np.ndarray, sv: np.ndarray, W: np.ndarray, keep: bool) -> float:
    """One pixel's filter; with ``keep`` stores post-update S, x per step and u, (s, v) per observation."""
    P, T = y.shape
    Q = B.shape[0]
    m = 2 * P
    n = m * Q
    S = np.empty((n, n))
    x = np.zeros(n)
    u = np.empty(n)
    _start(P1, B, S)
    ll = 0.0
    e = 0
    for k in range(T):
        if k > 0:
            _predict(A1[k - 1], Q1[k - 1], B, x, S, W)
        for p in range(P):
            if not mk[p, k]:
                continue
            _obs_u(S, p, Q, m, u)
            s = noise[p]
            hx = 0.0
            for q in range(Q):
                s += u[q * m + p]
                hx += x[q * m + p]
            v = y[p, k] - hx
            g = v / s
            for r in range(n):
                x[r] += u[r] * g
            for r in range(n):
                ur = u[r] / s
                for c in range(n):
                    S[r, c] -= ur * u[c]
            ll -= 0.5 * (math.log(s) + v * g + _LOG2PI)
            if keep:
                U[e, :] = u
                sv[e, 0] = s
                sv[e, 1] = v
            e += 1
        if keep:
            Spost[k] = S
            xpost[k] = x
    return ll

@_njit
def _backward_one(mk: np.ndarray, A1: np.ndarray, Q1: np.ndarray, P1: np.ndarray, B: np.ndarray,
                 Spost: np.ndarray, xpost: np.ndarray, U: np.ndarray, sv: np.ndarray, ne: int,
                 gA: np.ndarray, gQ: np.ndarray, gP: np.ndarray, gB: np.ndarray, gN: np.ndarray, W: np.ndarray) -> None:
    """Adjoint of ``forward_one`` (d loglik / d inputs), accumulated into the g* arrays."""
    P, T = mk.shape
    Q = B.shape[0]
    m = 2 * P
    n = m * Q
    xb = np.zeros(n)
    Sb = np.zeros((n, n))
    ub = np.empty(n)
    tmp = np.empty(n)
    e = ne
    for k in range(T - 1, -1, -1):
        for p in range(P - 1, -1, -1):
            if not mk[p, k]:
                continue
            e -= 1
            s, v = sv[e, 0], sv[e, 1]
            u = U[e]
            sb = -0.5 * (1.0 / s - v * v / (s * s))
            vb = -v / s
            xu = 0.0
            for r in range(n):
                xu += xb[r] * u[r]
            vb += xu / s
            sb -= xu * v / (s * s)
            uSu = 0.0
            for r in range(n):
                acc = 0.0
                for c in range(n):
                    acc += (Sb[r, c] + Sb[c, r]) * u[c]
                tmp[r] = acc
                uSu += 0.5 * acc * u[r]
            sb += uSu / (s * s)
            for r in range(n):
                ub[r] = xb[r] * (v / s) - tmp[r] / s
            for q in range(Q):
                ub[q * m + p] += sb
                xb[q * m + p] -= vb
            gN[p] += sb
            # u = S h: Sb += ub h'
            for r in range(n):
                for q in range(Q):
                    Sb[r, q * m + p] += ub[r]
        if k == 0:
            break
        S = Spost[k - 1]
        x = xpost[k - 1]
        A = A1[k - 1]
        # process noise kron(Q1, B): its adjoint is Sb's diagonal blocks
        for q in range(Q):
            for i in range(2):
                for j in range(2):
                    acc = 0.0
                    for a in range(P):
                        for c in range(P):
                            sbv = Sb[q * m + i * P + a, q * m + j * P + c]
                            acc += sbv * B[q, a, c]
                            gB[q, a, c] += sbv * Q1[k - 1, q, i, j]
                    gQ[k - 1, q, i, j] += acc
        # W = A S (S: filtered at k-1); gA_blk += [(Sb + Sb') W]_blk + [xb x']_blk
        for q in range(Q):
            for p in range(P):
                r0, r1 = q * m + p, q * m + P + p
                for c in range(n):
                    s0, s1 = S[r0, c], S[r1, c]
                    W[r0, c] = A[q, 0, 0] * s0 + A[q, 0, 1] * s1
                    W[r1, c] = A[q, 1, 0] * s0 + A[q, 1, 1] * s1
        for q in range(Q):
            for i in range(2):
                for j in range(2):
                    acc = 0.0
                    for p in range(P):
                        ri, rj = q * m + i * P + p, q * m + j * P + p
                        acc += xb[ri] * x[rj]
                        for c in range(n):
                            acc += (Sb[ri, c] + Sb[c, ri]) * W[c, rj]
                    gA[k - 1, q, i, j] += acc
        # xb <- A' xb ; Sb <- A' Sb A
        for q in range(Q):
            for p in range(P):
                r0, r1 = q * m + p, q * m + P + p
                b0, b1 = xb[r0], xb[r1]
                xb[r0] = A[q, 0, 0] * b0 + A[q, 1, 0] * b1
                xb[r1] = A[q, 0, 1] * b0 + A[q, 1, 1] * b1
                for c in range(n):
                    s0, s1 = Sb[r0, c], Sb[r1, c]
                    W[r0, c] = A[q, 0, 0] * s0 + A[q, 1, 0] * s1
                    W[r1, c] = A[q, 0, 1] * s0 + A[q, 1, 1] * s1
        for q in range(Q):
            for p in range(P):
                c0, c1 = q * m + p, q * m + P + p
                for r in range(n):
                    w0, w1 = W[r, c0], W[r, c1]
                    Sb[r, c0] = w0 * A[q, 0, 0] + w1 * A[q, 1, 0]
                    Sb[r, c1] = w0 * A[q, 0, 1] + w1 * A[q, 1, 1]
    # start kron(P1, B)
    for q in range(Q):
        for i in range(2):
            for j in range(2):
                acc = 0.0
                for a in range(P):
                    for c in range(P):
                        sbv = Sb[q * m + i * P + a, q * m + j * P + c]
                        acc += sbv * B[q, a, c]
                        gB[q, a, c] += sbv * P1[q, i, j]
                gP[q, i, j] += acc

@_pnjit
def _loglik_batch(y, mk, A1, Q1, P1, B, noise, grad, gA, gQ, gP, gB, gN):
    nb, P, T = y.shape
    Q = B.shape[1]
    n = 2 * P * Q
    ll = np.empty(nb)
    ne_max = 0
    for i in range(nb):
        c = 0
        for p in range(P):
            for k in range(T):
                c += mk[i, p, k]
        ne_max = max(ne_max, c)
    for i in _prange(nb):
        W = np.empty((n, n))
        if grad:
            Spost = np.empty((T, n, n))
            xpost = np.empty((T, n))
            U = np.empty((max(ne_max, 1), n))
            sv = np.empty((max(ne_max, 1), 2))
        else:
            Spost = np.empty((1, n, n))
            xpost = np.empty((1, n))
            U = np.empty((1, n))
            sv = np.empty((1, 2))
        ll[i] = _forward_one(y[i], mk[i], A1[i], Q1[i], P1[i], B[i], noise[i], Spost, xpost, U, sv, W, grad)
        if grad:
            ne = 0
            for p in range(P):
                for k in range(T):
                    ne += mk[i, p, k]
            _backward_one(mk[i], A1[i], Q1[i], P1[i], B[i], Spost, xpost, U, sv, ne, gA[i], gQ[i], gP[i], gB[i], gN[i], W)
    return ll

@_pnjit
def _smooth_batch(y, mk, A1, Q1, P1, B, noise, qpos, mean, var):
    nb, P, T = y.shape
    Q = B.shape[1]
    m = 2 * P
    n = m * Q
    nq = qpos.shape[0]
    ll = np.empty(nb)
    for i in _prange(nb):
        W = np.empty((n, n))
        Sf = np.empty((T, n, n))
        xf = np.empty((T, n))
        ne = 1
        for p in range(P):
            for k in range(T):
                ne += mk[i, p, k]
        U = np.empty((ne, n))
        sv = np.empty((ne, 2))
        ll[i] = _forward_one(y[i], mk[i], A1[i], Q1[i], P1[i], B[i], noise[i], Sf, xf, U, sv, W, True)
        xs = xf[T - 1].copy()
        Ss = Sf[T - 1].copy()
        Sp = np.empty((n, n))
        xp = np.empty(n)
        for k in range(T - 1, -1, -1):
            if k < T - 1:
                # predicted from k: xp = A xf, Sp = A Sf A' + Qn; G' = Sp^-1 (A Sf)
                xp[:] = xf[k]
                Sp[:, :] = Sf[k]
                _predict(A1[i, k], Q1[i, k], B[i], xp, Sp, W)
                AS = np.empty((n, n))
                for q in range(Q):
                    for p in range(P):
                        r0, r1 = q * m + p, q * m + P + p
                        for c in range(n):
                            s0, s1 = Sf[k, r0, c], Sf[k, r1, c]
                            AS[r0, c] = A1[i, k, q, 0, 0] * s0 + A1[i, k, q, 0, 1] * s1
                            AS[r1, c] = A1[i, k, q, 1, 0] * s0 + A1[i, k, q, 1, 1] * s1
                Sp = 0.5 * (Sp + Sp.T)
                Gt = np.linalg.solve(Sp, AS)
                G = Gt.T.copy()
                xs = xf[k] + G @ (xs - xp)
                Ss = Sf[k] + G @ (Ss - Sp) @ Gt
            for j in range(nq):
                if qpos[j] != k:
                    continue
                for p in range(P):
                    acc = 0.0
                    vv = 0.0
                    for q in range(Q):
                        acc += xs[q * m + p]
                        for q2 in range(Q):
                            vv += Ss[q * m + p, q2 * m + p]
                    mean[i, p, j] = acc
                    var[i, p, j] = vv
    return ll


_SQRT3 = math.sqrt(3.0)


@_njit
def _blocks(ls: np.ndarray, dts: np.ndarray, A1: np.ndarray, Q1: np.ndarray, P1: np.ndarray,
            dA: np.ndarray, dQ: np.ndarray, dP: np.ndarray) -> None:
    """Unit Matern-3/2 blocks of one pixel (transitions, process noises, stationary covariance) and their derivatives in ``lam``."""
    for q in range(ls.shape[0]):
        lam = _SQRT3 / ls[q]
        l2 = lam * lam
        P1[q, 0, 0], P1[q, 0, 1], P1[q, 1, 0], P1[q, 1, 1] = 1.0, 0.0, 0.0, l2
        dP[q, 0, 0], dP[q, 0, 1], dP[q, 1, 0], dP[q, 1, 1] = 0.0, 0.0, 0.0, 2.0 * lam
        for k in range(dts.shape[0]):
            dt = dts[k]
            e = math.exp(-lam * dt)
            a00, a01, a10, a11 = e * (1.0 + lam * dt), e * dt, -e * l2 * dt, e * (1.0 - lam * dt)
            d00, d01 = -e * lam * dt * dt, -e * dt * dt
            d10, d11 = e * lam * dt * (lam * dt - 2.0), -e * dt * (2.0 - lam * dt)
            A1[k, q, 0, 0], A1[k, q, 0, 1], A1[k, q, 1, 0], A1[k, q, 1, 1] = a00, a01, a10, a11
            dA[k, q, 0, 0], dA[k, q, 0, 1], dA[k, q, 1, 0], dA[k, q, 1, 1] = d00, d01, d10, d11
            # Qn = Pinf - A Pinf A', Pinf = diag(1, lam^2)
            q00 = 1.0 - (a00 * a00 + l2 * a01 * a01)
            q01 = -(a00 * a10 + l2 * a01 * a11)
            q11 = l2 - (a10 * a10 + l2 * a11 * a11)
            Q1[k, q, 0, 0], Q1[k, q, 0, 1], Q1[k, q, 1, 0], Q1[k, q, 1, 1] = q00, q01, q01, q11
            e00 = -(2.0 * a00 * d00 + 2.0 * lam * a01 * a01 + 2.0 * l2 * a01 * d01)
            e01 = -(d00 * a10 + a00 * d10 + 2.0 * lam * a01 * a11 + l2 * (d01 * a11 + a01 * d11))
            e11 = 2.0 * lam - (2.0 * a10 * d10 + 2.0 * lam * a11 * a11 + 2.0 * l2 * a11 * d11)
            dQ[k, q, 0, 0], dQ[k, q, 0, 1], dQ[k, q, 1, 0], dQ[k, q, 1, 1] = e00, e01, e01, e11


@_pnjit
def _loglik_ls_batch(y, mk, dts, ls, B, noise, grad, gls, gB, gN):
    """Log likelihood per pixel from length scales (the blocks built in compiled code); gradient in ``ls``, ``B``, ``noise``."""
    nb, P, T = y.shape
    Q = B.shape[1]
    n = 2 * P * Q
    ll = np.empty(nb)
    for i in _prange(nb):
        A1 = np.empty((max(T - 1, 1), Q, 2, 2))
        Q1 = np.empty_like(A1)
        dA = np.empty_like(A1)
        dQ = np.empty_like(A1)
        P1 = np.empty((Q, 2, 2))
        dP = np.empty_like(P1)
        _blocks(ls[i], dts, A1, Q1, P1, dA, dQ, dP)
        W = np.empty((n, n))
        ne = 0
        for p in range(P):
            for k in range(T):
                ne += mk[i, p, k]
        if grad:
            Spost = np.empty((T, n, n))
            xpost = np.empty((T, n))
            U = np.empty((max(ne, 1), n))
            sv = np.empty((max(ne, 1), 2))
        else:
            Spost = np.empty((1, n, n))
            xpost = np.empty((1, n))
            U = np.empty((1, n))
            sv = np.empty((1, 2))
        ll[i] = _forward_one(y[i], mk[i], A1, Q1, P1, B[i], noise[i], Spost, xpost, U, sv, W, grad)
        if grad:
            gA = np.zeros_like(A1)
            gQ = np.zeros_like(A1)
            gP = np.zeros_like(P1)
            _backward_one(mk[i], A1, Q1, P1, B[i], Spost, xpost, U, sv, ne, gA, gQ, gP, gB[i], gN[i], W)
            for q in range(Q):
                acc = 0.0
                for a in range(2):
                    for c in range(2):
                        acc += gP[q, a, c] * dP[q, a, c]
                        for k in range(T - 1):
                            acc += gA[k, q, a, c] * dA[k, q, a, c] + gQ[k, q, a, c] * dQ[k, q, a, c]
                lam = _SQRT3 / ls[i, q]
                gls[i, q] = acc * (-lam / ls[i, q])
    return ll


def _kernels() -> dict[str, Any]:
    if _nb is None:
        from ..errors import ConfigError

        raise ConfigError("the compiled state-space engine needs numba (pip install numba); found it not installed")
    return {"loglik": _loglik_batch, "loglik_ls": _loglik_ls_lanes, "loglik_ls_pixel": _loglik_ls_batch, "smooth": _smooth_batch}


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to("cpu", torch.float64).numpy())


class _LogLik(torch.autograd.Function):
    """Per-pixel log likelihood (b,) of the compiled filter, differentiable in its block inputs."""

    @staticmethod
    def forward(ctx: Any, y: torch.Tensor, mk: torch.Tensor, A1: torch.Tensor, Q1: torch.Tensor, P1: torch.Tensor,
                B: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        grad = any(ctx.needs_input_grad[2:])
        arrs = [_np(a) for a in (A1, Q1, P1, B, noise)]
        gs = [np.zeros_like(a) for a in arrs]
        ll = _kernels()["loglik"](_np(y), np.ascontiguousarray(mk.cpu().numpy().astype(np.uint8)), *arrs, grad, *gs)
        ctx.save_for_backward(*[torch.as_tensor(g, dtype=A1.dtype, device=A1.device) for g in gs])
        return torch.as_tensor(ll, dtype=A1.dtype, device=A1.device)

    @staticmethod
    def backward(ctx: Any, go: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        out = []
        for g in ctx.saved_tensors:
            out.append(g * go.view(-1, *([1] * (g.dim() - 1))))
        return (None, None, *out)


class _LogLikLs(torch.autograd.Function):
    """Per-pixel log likelihood (b,) from length scales, differentiable in ``ls``, ``B`` and ``noise``."""

    @staticmethod
    def forward(ctx: Any, y: torch.Tensor, mk: torch.Tensor, dts: np.ndarray, ls: torch.Tensor, B: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        grad = any(ctx.needs_input_grad[3:])
        arrs = [_np(a) for a in (ls, B, noise)]
        gs = [np.zeros_like(a) for a in arrs]
        ll = _kernels()["loglik_ls"](_np(y), np.ascontiguousarray(mk.cpu().numpy().astype(np.uint8)), np.ascontiguousarray(dts, dtype=np.float64),
                                     *arrs, grad, *gs)
        ctx.save_for_backward(*[torch.as_tensor(g, dtype=ls.dtype, device=ls.device) for g in gs])
        return torch.as_tensor(ll, dtype=ls.dtype, device=ls.device)

    @staticmethod
    def backward(ctx: Any, go: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        out = [g * go.view(-1, *([1] * (g.dim() - 1))) for g in ctx.saved_tensors]
        return (None, None, None, *out)


def loglik_ls(y: torch.Tensor, m: torch.Tensor, grid: np.ndarray, ls: torch.Tensor, B: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Each pixel's log marginal likelihood from its hyperparameters, the Matern blocks built in compiled code.

    The same value and gradient as :func:`loglik` fed with the blocks of
    ``ls``, without materialising the (b, T-1, Q, 2, 2) blocks in torch: the
    derivative in each length scale is accumulated in the compiled adjoint.

    Parameters
    ----------
    y, m : torch.Tensor
        (b, P, T) observations on the grid (0 where missing) and the bool mask.
    grid : numpy.ndarray
        (T,) increasing dates, days.
    ls : torch.Tensor
        (b, Q) length scales, days.
    B : torch.Tensor
        (b, Q, P, P) coregionalisation matrices.
    noise : torch.Tensor
        (b, P) noise variances.

    Returns
    -------
    torch.Tensor
        (b,) log likelihoods, differentiable in ``ls``, ``B`` and ``noise``.
    """
    return _LogLikLs.apply(y, m, np.diff(np.asarray(grid, dtype=np.float64)), ls, B, noise)


def loglik(y: torch.Tensor, m: torch.Tensor, A1: torch.Tensor, Q1: torch.Tensor, P1: torch.Tensor, B: torch.Tensor,
           noise: torch.Tensor) -> torch.Tensor:
    """Each pixel's log marginal likelihood by the compiled Kalman filter, with its adjoint as gradient.

    Parameters
    ----------
    y, m : torch.Tensor
        (b, P, T) observations on the grid (0 where missing) and the bool mask.
    A1, Q1 : torch.Tensor
        (b, T-1, Q, 2, 2) unit transitions and process noises between grid dates.
    P1 : torch.Tensor
        (b, Q, 2, 2) unit stationary covariances.
    B : torch.Tensor
        (b, Q, P, P) coregionalisation matrices.
    noise : torch.Tensor
        (b, P) noise variances.

    Returns
    -------
    torch.Tensor
        (b,) log likelihoods, float64 arithmetic, in the dtype of ``A1``;
        differentiable in ``A1, Q1, P1, B, noise``.
    """
    return _LogLik.apply(y, m, A1, Q1, P1, B, noise)


def smooth(y: np.ndarray, m: np.ndarray, A1: np.ndarray, Q1: np.ndarray, P1: np.ndarray, B: np.ndarray, noise: np.ndarray,
           qpos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log likelihood and RTS-smoothed mean and variance of the noise-free outputs at grid positions ``qpos``.

    Parameters
    ----------
    y, m, A1, Q1, P1, B, noise : numpy.ndarray
        As in :func:`loglik`, float64 (``m`` bool).
    qpos : numpy.ndarray
        (Tq,) indices into the grid.

    Returns
    -------
    tuple of numpy.ndarray
        ``loglik`` (b,), ``mean`` and ``var`` (b, P, Tq).
    """
    nb, P, _ = y.shape
    mean = np.full((nb, P, qpos.size), np.nan)
    var = np.full((nb, P, qpos.size), np.nan)
    args = [np.ascontiguousarray(a, dtype=np.float64) for a in (y,)]
    ll = _kernels()["smooth"](args[0], np.ascontiguousarray(m, dtype=np.uint8), *(np.ascontiguousarray(a, dtype=np.float64) for a in (A1, Q1, P1, B, noise)),
                              np.ascontiguousarray(qpos, dtype=np.int64), mean, var)
    return ll, mean, var
