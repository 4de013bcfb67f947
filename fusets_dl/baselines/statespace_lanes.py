"""The state-space MOGPR's likelihood and adjoint, eight pixels per SIMD lane group (Numba).

The same filter, adjoint and length-scale chain rule as
:func:`fusets_dl.baselines.statespace_batch._loglik_ls_batch` (which stays as
the per-pixel reference), with every array given a trailing lane axis of
``LANES`` pixels: each scalar operation of the per-pixel code becomes one
loop over the lanes, which the compiler turns into vector instructions. With
``n = 2 P Q`` states as small as 8, the per-pixel loops are too short to
vectorise; across pixels they always are.

Pixels of a lane group share the time grid but not the observations: an
update is applied with weight ``mask / s``, so a lane that did not observe
at that date is left unchanged (and its adjoint terms vanish). A date and
output observed by no lane of the group is skipped. The last group is padded
with unobserved copies of its first pixel, whose results are dropped.
"""

from __future__ import annotations

import math

import numpy as np

from ._numba import njit as _njit
from ._numba import pnjit as _pnjit
from ._numba import prange as _prange

__all__ = ["LANES", "loglik_ls", "smooth_ls"]

LANES = 8
_LOG2PI = math.log(2.0 * math.pi)
_SQRT3 = math.sqrt(3.0)


@_njit
def _blocks(ls, dts, A1, Q1, P1, dA, dQ, dP):  # type: ignore[no-untyped-def]
    """Unit Matern-3/2 blocks per lane (``ls`` (Q, L); blocks (T-1, Q, 2, 2, L)) and their derivatives in ``lam``."""
    L = ls.shape[1]
    for q in range(ls.shape[0]):
        for ln in range(L):
            lam = _SQRT3 / ls[q, ln]
            l2 = lam * lam
            P1[q, 0, 0, ln] = 1.0
            P1[q, 0, 1, ln] = 0.0
            P1[q, 1, 0, ln] = 0.0
            P1[q, 1, 1, ln] = l2
            dP[q, 0, 0, ln] = 0.0
            dP[q, 0, 1, ln] = 0.0
            dP[q, 1, 0, ln] = 0.0
            dP[q, 1, 1, ln] = 2.0 * lam
            for k in range(dts.shape[0]):
                dt = dts[k]
                e = math.exp(-lam * dt)
                a00, a01, a10, a11 = e * (1.0 + lam * dt), e * dt, -e * l2 * dt, e * (1.0 - lam * dt)
                d00, d01 = -e * lam * dt * dt, -e * dt * dt
                d10, d11 = e * lam * dt * (lam * dt - 2.0), -e * dt * (2.0 - lam * dt)
                A1[k, q, 0, 0, ln] = a00
                A1[k, q, 0, 1, ln] = a01
                A1[k, q, 1, 0, ln] = a10
                A1[k, q, 1, 1, ln] = a11
                dA[k, q, 0, 0, ln] = d00
                dA[k, q, 0, 1, ln] = d01
                dA[k, q, 1, 0, ln] = d10
                dA[k, q, 1, 1, ln] = d11
                q00 = 1.0 - (a00 * a00 + l2 * a01 * a01)
                q01 = -(a00 * a10 + l2 * a01 * a11)
                q11 = l2 - (a10 * a10 + l2 * a11 * a11)
                Q1[k, q, 0, 0, ln] = q00
                Q1[k, q, 0, 1, ln] = q01
                Q1[k, q, 1, 0, ln] = q01
                Q1[k, q, 1, 1, ln] = q11
                e00 = -(2.0 * a00 * d00 + 2.0 * lam * a01 * a01 + 2.0 * l2 * a01 * d01)
                e01 = -(d00 * a10 + a00 * d10 + 2.0 * lam * a01 * a11 + l2 * (d01 * a11 + a01 * d11))
                e11 = 2.0 * lam - (2.0 * a10 * d10 + 2.0 * lam * a11 * a11 + 2.0 * l2 * a11 * d11)
                dQ[k, q, 0, 0, ln] = e00
                dQ[k, q, 0, 1, ln] = e01
                dQ[k, q, 1, 0, ln] = e01
                dQ[k, q, 1, 1, ln] = e11


@_njit
def _mul_left(A, X, Y, Q, P):  # type: ignore[no-untyped-def]
    """Y = kron(A_q, I_P) X, row pairs (q, p), lanes last (``A`` (Q, 2, 2, L), ``X`` (n, n, L))."""
    m = 2 * P
    n = X.shape[1]
    L = X.shape[2]
    for q in range(Q):
        for p in range(P):
            r0, r1 = q * m + p, q * m + P + p
            for c in range(n):
                for ln in range(L):
                    s0, s1 = X[r0, c, ln], X[r1, c, ln]
                    Y[r0, c, ln] = A[q, 0, 0, ln] * s0 + A[q, 0, 1, ln] * s1
                    Y[r1, c, ln] = A[q, 1, 0, ln] * s0 + A[q, 1, 1, ln] * s1


@_njit
def _forward(y, mk, A1, Q1, P1, B, noise, Spost, xpost, U, sv, S, x, W, u, keep, ll, prior=False):  # type: ignore[no-untyped-def]
    """The filter over one lane group; returns the number of stored update events.

    With ``keep`` it stores per step the post-update (default) or, with
    ``prior``, the pre-update covariance and mean, and per update event ``u``,
    ``s`` and ``v``.
    """
    P, T, L = y.shape
    Q = B.shape[0]
    m = 2 * P
    n = m * Q
    S[:] = 0.0
    x[:] = 0.0
    ll[:] = 0.0
    for q in range(Q):
        for i in range(2):
            for j in range(2):
                for a in range(P):
                    for c in range(P):
                        for ln in range(L):
                            S[q * m + i * P + a, q * m + j * P + c, ln] = P1[q, i, j, ln] * B[q, a, c, ln]
    e = 0
    s = np.empty(L)
    g = np.empty(L)
    w = np.empty(L)
    for k in range(T):
        if k > 0:
            A = A1[k - 1]
            for q in range(Q):
                for p in range(P):
                    r0, r1 = q * m + p, q * m + P + p
                    for ln in range(L):
                        x0, x1 = x[r0, ln], x[r1, ln]
                        x[r0, ln] = A[q, 0, 0, ln] * x0 + A[q, 0, 1, ln] * x1
                        x[r1, ln] = A[q, 1, 0, ln] * x0 + A[q, 1, 1, ln] * x1
            _mul_left(A, S, W, Q, P)
            for q in range(Q):
                for p in range(P):
                    c0, c1 = q * m + p, q * m + P + p
                    for r in range(n):
                        for ln in range(L):
                            w0, w1 = W[r, c0, ln], W[r, c1, ln]
                            S[r, c0, ln] = w0 * A[q, 0, 0, ln] + w1 * A[q, 0, 1, ln]
                            S[r, c1, ln] = w0 * A[q, 1, 0, ln] + w1 * A[q, 1, 1, ln]
                for i in range(2):
                    for j in range(2):
                        for a in range(P):
                            for c in range(P):
                                for ln in range(L):
                                    S[q * m + i * P + a, q * m + j * P + c, ln] += Q1[k - 1, q, i, j, ln] * B[q, a, c, ln]
        if keep and prior:
            Spost[k] = S
            xpost[k] = x
        for p in range(P):
            seen = 0.0
            for ln in range(L):
                seen += mk[p, k, ln]
            if seen == 0.0:
                continue
            for r in range(n):
                for ln in range(L):
                    u[r, ln] = 0.0
                for q in range(Q):
                    for ln in range(L):
                        u[r, ln] += S[r, q * m + p, ln]
            for ln in range(L):
                s[ln] = noise[p, ln]
                g[ln] = y[p, k, ln]
            for q in range(Q):
                for ln in range(L):
                    s[ln] += u[q * m + p, ln]
                    g[ln] -= x[q * m + p, ln]
            for ln in range(L):
                v = g[ln]
                w[ln] = mk[p, k, ln] / s[ln]
                g[ln] = v * w[ln]
                ll[ln] -= 0.5 * mk[p, k, ln] * (math.log(s[ln]) + v * v / s[ln] + _LOG2PI)
                if keep:
                    sv[e, 0, ln] = s[ln]
                    sv[e, 1, ln] = v
            for r in range(n):
                for ln in range(L):
                    x[r, ln] += u[r, ln] * g[ln]
            for r in range(n):
                for c in range(n):
                    for ln in range(L):
                        S[r, c, ln] -= u[r, ln] * w[ln] * u[c, ln]
            if keep:
                U[e] = u
            e += 1
        if keep and not prior:
            Spost[k] = S
            xpost[k] = x
    return e


@_njit
def _backward(mk, A1, Q1, P1, B, Spost, xpost, U, sv, ne, gA, gQ, gP, gB, gN, W, Sb, xb, ub, tmp):  # type: ignore[no-untyped-def]
    """Adjoint of :func:`_forward` (d loglik / d inputs per lane), accumulated into the g* arrays."""
    P, T, L = mk.shape
    Q = B.shape[0]
    m = 2 * P
    n = m * Q
    xb[:] = 0.0
    Sb[:] = 0.0
    sb = np.empty(L)
    vb = np.empty(L)
    xu = np.empty(L)
    uSu = np.empty(L)
    e = ne
    for k in range(T - 1, -1, -1):
        for p in range(P - 1, -1, -1):
            seen = 0.0
            for ln in range(L):
                seen += mk[p, k, ln]
            if seen == 0.0:
                continue
            e -= 1
            u = U[e]
            for ln in range(L):
                xu[ln] = 0.0
                uSu[ln] = 0.0
            for r in range(n):
                for ln in range(L):
                    xu[ln] += xb[r, ln] * u[r, ln]
            for r in range(n):
                for ln in range(L):
                    tmp[r, ln] = 0.0
                for c in range(n):
                    for ln in range(L):
                        tmp[r, ln] += (Sb[r, c, ln] + Sb[c, r, ln]) * u[c, ln]
                for ln in range(L):
                    uSu[ln] += 0.5 * tmp[r, ln] * u[r, ln]
            for ln in range(L):
                s, v, mm = sv[e, 0, ln], sv[e, 1, ln], mk[p, k, ln]
                si = 1.0 / s
                sb[ln] = mm * (-0.5 * (si - v * v * si * si) - xu[ln] * v * si * si + uSu[ln] * si * si)
                vb[ln] = mm * (-v * si + xu[ln] * si)
                xu[ln] = mm * v * si  # reused: the factor of xb in ub
                uSu[ln] = mm * si  # reused: the factor of tmp in ub
            for r in range(n):
                for ln in range(L):
                    ub[r, ln] = xb[r, ln] * xu[ln] - tmp[r, ln] * uSu[ln]
            for q in range(Q):
                for ln in range(L):
                    ub[q * m + p, ln] += sb[ln]
                    xb[q * m + p, ln] -= vb[ln]
            for ln in range(L):
                gN[p, ln] += sb[ln]
            for r in range(n):
                for q in range(Q):
                    for ln in range(L):
                        Sb[r, q * m + p, ln] += ub[r, ln]
        if k == 0:
            break
        S = Spost[k - 1]
        x = xpost[k - 1]
        A = A1[k - 1]
        for q in range(Q):
            for i in range(2):
                for j in range(2):
                    for ln in range(L):
                        tmp[0, ln] = 0.0
                    for a in range(P):
                        for c in range(P):
                            for ln in range(L):
                                sbv = Sb[q * m + i * P + a, q * m + j * P + c, ln]
                                tmp[0, ln] += sbv * B[q, a, c, ln]
                                gB[q, a, c, ln] += sbv * Q1[k - 1, q, i, j, ln]
                    for ln in range(L):
                        gQ[k - 1, q, i, j, ln] += tmp[0, ln]
        _mul_left(A, S, W, Q, P)  # W = A S
        for q in range(Q):
            for i in range(2):
                for j in range(2):
                    for ln in range(L):
                        tmp[0, ln] = 0.0
                    for p in range(P):
                        ri, rj = q * m + i * P + p, q * m + j * P + p
                        for ln in range(L):
                            tmp[0, ln] += xb[ri, ln] * x[rj, ln]
                        for c in range(n):
                            for ln in range(L):
                                tmp[0, ln] += (Sb[ri, c, ln] + Sb[c, ri, ln]) * W[c, rj, ln]
                    for ln in range(L):
                        gA[k - 1, q, i, j, ln] += tmp[0, ln]
        # xb <- A' xb ; Sb <- A' Sb A
        for q in range(Q):
            for p in range(P):
                r0, r1 = q * m + p, q * m + P + p
                for ln in range(L):
                    b0, b1 = xb[r0, ln], xb[r1, ln]
                    xb[r0, ln] = A[q, 0, 0, ln] * b0 + A[q, 1, 0, ln] * b1
                    xb[r1, ln] = A[q, 0, 1, ln] * b0 + A[q, 1, 1, ln] * b1
                for c in range(n):
                    for ln in range(L):
                        s0, s1 = Sb[r0, c, ln], Sb[r1, c, ln]
                        W[r0, c, ln] = A[q, 0, 0, ln] * s0 + A[q, 1, 0, ln] * s1
                        W[r1, c, ln] = A[q, 0, 1, ln] * s0 + A[q, 1, 1, ln] * s1
        for q in range(Q):
            for p in range(P):
                c0, c1 = q * m + p, q * m + P + p
                for r in range(n):
                    for ln in range(L):
                        w0, w1 = W[r, c0, ln], W[r, c1, ln]
                        Sb[r, c0, ln] = w0 * A[q, 0, 0, ln] + w1 * A[q, 1, 0, ln]
                        Sb[r, c1, ln] = w0 * A[q, 0, 1, ln] + w1 * A[q, 1, 1, ln]
    for q in range(Q):
        for i in range(2):
            for j in range(2):
                for ln in range(L):
                    tmp[0, ln] = 0.0
                for a in range(P):
                    for c in range(P):
                        for ln in range(L):
                            sbv = Sb[q * m + i * P + a, q * m + j * P + c, ln]
                            tmp[0, ln] += sbv * B[q, a, c, ln]
                            gB[q, a, c, ln] += sbv * P1[q, i, j, ln]
                for ln in range(L):
                    gP[q, i, j, ln] += tmp[0, ln]


@_pnjit
def loglik_ls(y, mk, dts, ls, B, noise, grad, gls, gB, gN):  # type: ignore[no-untyped-def]
    """Per-pixel log likelihood from length scales, lane groups over the threads; gradient in ``ls``, ``B``, ``noise``.

    The same arguments and results as the per-pixel reference
    ``fusets_dl.baselines.statespace_batch._loglik_ls_batch``.

    Parameters
    ----------
    y : numpy.ndarray
        (b, P, T) float64 observations on the grid (any finite value where missing).
    mk : numpy.ndarray
        (b, P, T) uint8, 1 where observed.
    dts : numpy.ndarray
        (T-1,) steps between grid dates, days.
    ls : numpy.ndarray
        (b, Q) length scales, days.
    B : numpy.ndarray
        (b, Q, P, P) coregionalisation matrices.
    noise : numpy.ndarray
        (b, P) noise variances.
    grad : bool
        Also compute the gradient.
    gls, gB, gN : numpy.ndarray
        Zeros shaped as ``ls``, ``B``, ``noise``; with ``grad`` they receive
        the gradient of each pixel's log likelihood.

    Returns
    -------
    numpy.ndarray
        (b,) log likelihoods.
    """
    nb, P, T = y.shape
    Q = B.shape[1]
    n = 2 * P * Q
    L = LANES
    ng = (nb + L - 1) // L
    ll = np.empty(nb)
    nt = max(T - 1, 1)
    for gi in _prange(ng):
        lanes = np.empty(L, np.int64)
        for ln in range(L):
            i = gi * L + ln
            lanes[ln] = i if i < nb else gi * L
        yl = np.empty((P, T, L))
        ml = np.zeros((P, T, L))
        lsl = np.empty((Q, L))
        Bl = np.empty((Q, P, P, L))
        nl = np.empty((P, L))
        for ln in range(L):
            i = lanes[ln]
            real = gi * L + ln < nb
            for p in range(P):
                nl[p, ln] = noise[i, p]
                for k in range(T):
                    yl[p, k, ln] = y[i, p, k]
                    if real:
                        ml[p, k, ln] = mk[i, p, k]
            for q in range(Q):
                lsl[q, ln] = ls[i, q]
                for a in range(P):
                    for c in range(P):
                        Bl[q, a, c, ln] = B[i, q, a, c]
        A1 = np.empty((nt, Q, 2, 2, L))
        Q1 = np.empty_like(A1)
        dA = np.empty_like(A1)
        dQ = np.empty_like(A1)
        P1 = np.empty((Q, 2, 2, L))
        dP = np.empty_like(P1)
        _blocks(lsl, dts, A1, Q1, P1, dA, dQ, dP)
        ne = 0
        for p in range(P):
            for k in range(T):
                seen = 0.0
                for ln in range(L):
                    seen += ml[p, k, ln]
                if seen > 0.0:
                    ne += 1
        S = np.empty((n, n, L))
        x = np.empty((n, L))
        W = np.empty((n, n, L))
        u = np.empty((n, L))
        lll = np.empty(L)
        if grad:
            Spost = np.empty((T, n, n, L))
            xpost = np.empty((T, n, L))
            U = np.empty((max(ne, 1), n, L))
            sv = np.empty((max(ne, 1), 2, L))
        else:
            Spost = np.empty((1, n, n, L))
            xpost = np.empty((1, n, L))
            U = np.empty((1, n, L))
            sv = np.empty((1, 2, L))
        _forward(yl, ml, A1, Q1, P1, Bl, nl, Spost, xpost, U, sv, S, x, W, u, grad, lll)
        if grad:
            gA = np.zeros_like(A1)
            gQ = np.zeros_like(A1)
            gP = np.zeros_like(P1)
            gBl = np.zeros_like(Bl)
            gNl = np.zeros_like(nl)
            _backward(ml, A1, Q1, P1, Bl, Spost, xpost, U, sv, ne, gA, gQ, gP, gBl, gNl, W, S, x, u, np.empty((n, L)))
        for ln in range(L):
            i = gi * L + ln
            if i >= nb:
                continue
            ll[i] = lll[ln]
            if grad:
                for p in range(P):
                    gN[i, p] = gNl[p, ln]
                for q in range(Q):
                    for a in range(P):
                        for c in range(P):
                            gB[i, q, a, c] = gBl[q, a, c, ln]
                    acc = 0.0
                    for a in range(2):
                        for c in range(2):
                            acc += gP[q, a, c, ln] * dP[q, a, c, ln]
                            for k in range(T - 1):
                                acc += gA[k, q, a, c, ln] * dA[k, q, a, c, ln] + gQ[k, q, a, c, ln] * dQ[k, q, a, c, ln]
                    lam = _SQRT3 / lsl[q, ln]
                    gls[i, q] = acc * (-lam / lsl[q, ln])
    return ll


@_pnjit
def smooth_ls(y, mk, dts, ls, B, noise, qpos, mean, var):  # type: ignore[no-untyped-def]
    """Log likelihood and smoothed mean and variance of each output's noise-free sum at grid positions ``qpos``.

    Kalman filter forward, then the modified Bryson-Frazier smoother backward
    (adjoint state ``lam`` and matrix ``Lam`` through each scalar update and
    each transition): ``x_s = x_k^- - P_k^- lam``, ``P_s = P_k^- - P_k^- Lam
    P_k^-`` at every date, with no matrix inverse, ``O(n^2)`` per update and
    step like the filter. The same results as the RTS smoother of
    ``statespace_batch.smooth``.

    Parameters
    ----------
    y, mk, dts, ls, B, noise : numpy.ndarray
        As in :func:`loglik_ls`.
    qpos : numpy.ndarray
        (Tq,) int64 indices into the grid.
    mean, var : numpy.ndarray
        (b, P, Tq) float64 outputs, written in place.

    Returns
    -------
    numpy.ndarray
        (b,) log likelihoods.
    """
    nb, P, T = y.shape
    Q = B.shape[1]
    m = 2 * P
    n = m * Q
    L = LANES
    ng = (nb + L - 1) // L
    nq = qpos.shape[0]
    ll = np.empty(nb)
    nt = max(T - 1, 1)
    for gi in _prange(ng):
        yl = np.empty((P, T, L))
        ml = np.zeros((P, T, L))
        lsl = np.empty((Q, L))
        Bl = np.empty((Q, P, P, L))
        nl = np.empty((P, L))
        for ln in range(L):
            i = min(gi * L + ln, nb - 1) if gi * L + ln < nb else gi * L
            real = gi * L + ln < nb
            for p in range(P):
                nl[p, ln] = noise[i, p]
                for k in range(T):
                    yl[p, k, ln] = y[i, p, k]
                    if real:
                        ml[p, k, ln] = mk[i, p, k]
            for q in range(Q):
                lsl[q, ln] = ls[i, q]
                for a in range(P):
                    for c in range(P):
                        Bl[q, a, c, ln] = B[i, q, a, c]
        A1 = np.empty((nt, Q, 2, 2, L))
        Q1 = np.empty_like(A1)
        dA = np.empty_like(A1)
        dQ = np.empty_like(A1)
        P1 = np.empty((Q, 2, 2, L))
        dP = np.empty_like(P1)
        _blocks(lsl, dts, A1, Q1, P1, dA, dQ, dP)
        ne = 0
        for p in range(P):
            for k in range(T):
                seen = 0.0
                for ln in range(L):
                    seen += ml[p, k, ln]
                if seen > 0.0:
                    ne += 1
        S = np.empty((n, n, L))
        x = np.empty((n, L))
        W = np.empty((n, n, L))
        u = np.empty((n, L))
        lll = np.empty(L)
        Sprior = np.empty((T, n, n, L))
        xprior = np.empty((T, n, L))
        U = np.empty((max(ne, 1), n, L))
        sv = np.empty((max(ne, 1), 2, L))
        _forward(yl, ml, A1, Q1, P1, Bl, nl, Sprior, xprior, U, sv, S, x, W, u, True, lll, True)
        lam = np.zeros((n, L))
        Lam = np.zeros((n, n, L))
        a = np.empty((n, L))
        c1 = np.empty(L)
        c2 = np.empty(L)
        wv = np.empty((n, L))
        mq = np.empty((P, nq, L))
        vq = np.empty((P, nq, L))
        e = ne
        for k in range(T - 1, -1, -1):
            for p in range(P - 1, -1, -1):
                seen = 0.0
                for ln in range(L):
                    seen += ml[p, k, ln]
                if seen == 0.0:
                    continue
                e -= 1
                uu = U[e]
                # lam <- C' lam - h v / s ; Lam <- C' Lam C + h h' / s, C = I - u h' / s (masked lanes: unchanged)
                for ln in range(L):
                    c1[ln] = 0.0
                for r in range(n):
                    for ln in range(L):
                        c1[ln] += uu[r, ln] * lam[r, ln]
                for r in range(n):
                    for ln in range(L):
                        a[r, ln] = 0.0
                    for cc in range(n):
                        for ln in range(L):
                            a[r, ln] += Lam[r, cc, ln] * uu[cc, ln]
                for ln in range(L):
                    c2[ln] = 0.0
                for r in range(n):
                    for ln in range(L):
                        c2[ln] += uu[r, ln] * a[r, ln]
                for ln in range(L):
                    s_, v_, mm = sv[e, 0, ln], sv[e, 1, ln], ml[p, k, ln]
                    si = mm / s_
                    c1[ln] = (c1[ln] + v_) * si  # lam correction on the observed states
                    c2[ln] = mm * (c2[ln] / (s_ * s_) + 1.0 / s_)  # h h' coefficient
                    for r in range(n):
                        a[r, ln] *= si  # Lam u / s, masked
                for q in range(Q):
                    hq = q * m + p
                    for ln in range(L):
                        lam[hq, ln] -= c1[ln]
                for q in range(Q):
                    hq = q * m + p
                    for r in range(n):
                        for ln in range(L):
                            Lam[hq, r, ln] -= a[r, ln]
                            Lam[r, hq, ln] -= a[r, ln]
                    for q2 in range(Q):
                        h2 = q2 * m + p
                        for ln in range(L):
                            Lam[hq, h2, ln] += c2[ln]
            # smoothed outputs at step k from the prior
            Sk = Sprior[k]
            xk = xprior[k]
            for j in range(nq):
                if qpos[j] != k:
                    continue
                for p in range(P):
                    for r in range(n):
                        for ln in range(L):
                            wv[r, ln] = 0.0
                        for q in range(Q):
                            for ln in range(L):
                                wv[r, ln] += Sk[r, q * m + p, ln]
                    for ln in range(L):
                        c1[ln] = 0.0
                        c2[ln] = 0.0
                    for q in range(Q):
                        for ln in range(L):
                            c1[ln] += xk[q * m + p, ln]
                            c2[ln] += wv[q * m + p, ln]
                    for r in range(n):
                        for ln in range(L):
                            c1[ln] -= wv[r, ln] * lam[r, ln]
                        for cc in range(n):
                            for ln in range(L):
                                c2[ln] -= wv[r, ln] * Lam[r, cc, ln] * wv[cc, ln]
                    for ln in range(L):
                        mq[p, j, ln] = c1[ln]
                        vq[p, j, ln] = c2[ln]
            if k == 0:
                break
            # through the transition k-1 -> k: lam <- A' lam, Lam <- A' Lam A
            A = A1[k - 1]
            for q in range(Q):
                for p in range(P):
                    r0, r1 = q * m + p, q * m + P + p
                    for ln in range(L):
                        b0, b1 = lam[r0, ln], lam[r1, ln]
                        lam[r0, ln] = A[q, 0, 0, ln] * b0 + A[q, 1, 0, ln] * b1
                        lam[r1, ln] = A[q, 0, 1, ln] * b0 + A[q, 1, 1, ln] * b1
                    for cc in range(n):
                        for ln in range(L):
                            s0, s1 = Lam[r0, cc, ln], Lam[r1, cc, ln]
                            W[r0, cc, ln] = A[q, 0, 0, ln] * s0 + A[q, 1, 0, ln] * s1
                            W[r1, cc, ln] = A[q, 0, 1, ln] * s0 + A[q, 1, 1, ln] * s1
            for q in range(Q):
                for p in range(P):
                    c0, c1i = q * m + p, q * m + P + p
                    for r in range(n):
                        for ln in range(L):
                            w0, w1 = W[r, c0, ln], W[r, c1i, ln]
                            Lam[r, c0, ln] = w0 * A[q, 0, 0, ln] + w1 * A[q, 1, 0, ln]
                            Lam[r, c1i, ln] = w0 * A[q, 0, 1, ln] + w1 * A[q, 1, 1, ln]
        for ln in range(L):
            i = gi * L + ln
            if i >= nb:
                continue
            ll[i] = lll[ln]
            for p in range(P):
                for j in range(nq):
                    mean[i, p, j] = mq[p, j, ln]
                    var[i, p, j] = vq[p, j, ln]
    return ll
