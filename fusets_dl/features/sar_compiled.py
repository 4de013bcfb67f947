"""The compiled S1 series kernel: the ``sar`` and ``time`` columns, pixel by pixel.

:func:`kernel_columns` computes what
:func:`~fusets_dl.features.sar.feature_kernel_numpy` computes (the NumPy
formulation, the reference) with one numba-compiled loop per pixel and per
feature family, written straight into the output: no full-size temporaries.
It is compiled on first use (numba is imported then, never at ``import
fusets_dl``), without fast-math and with the reference's dtype at every
operation (float32 where it computes in float32, float64 accumulations where
it accumulates in float64, NumPy's order of summation for the z-scores), so
that its columns are bit-identical to the reference's. The one part computed
with NumPy is the linear power ``10 ** (dB / 10)`` of the RVI and ratio
columns, block by block: NumPy's vectorised ``power`` rounds differently
from the C library's ``powf`` in the last bit.

The compiled loop holds no GIL (``nogil``): callers (Dask threads) run blocks
in parallel; it is single-threaded itself.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .spec import FeatureSpec

__all__ = ["kernel_columns"]

_DB_FLOOR = np.float32(-40.0)  # dB; darker values are noise floor (as sar._DB_FLOOR)
_BLOCK = 1024  # pixels per compiled call: the linear-power buffers stay in cache

# positions in the ``opts`` vector of the compiled loop
_SAR, _DOY, _BACKSCATTER, _RVI, _RATIOS, _INTERACTION, _LAGS, _DIFFS, _DT, _HALF, _NWIN, _NTREND, _ANOMALY, _NORM, _PAIRWISE = range(15)

_compiled: Callable[..., None] | bool | None = None
_compile_lock = threading.Lock()


# --------------------------------------------------------------------------- compiled helpers (plain Python, numba-compatible)

def _pairwise_block(a: np.ndarray, lo: int, n: int) -> float:  # pragma: no cover - compiled by numba
    """NumPy's pairwise summation of ``a[lo:lo+n]`` for ``n <= 128`` (one block: eight running sums)."""
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    stop = n - n % 8
    while i < stop:
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


def _pairwise_sum(a: np.ndarray, n: int) -> float:  # pragma: no cover - compiled by numba
    """NumPy's pairwise summation of ``a[:n]`` (float64): the same additions in the same order.

    Above 128 values NumPy halves the range (at a multiple of 8) and adds
    the two halves' sums; the halving is done here with an explicit stack
    (numba's cache does not keep recursive functions).
    """
    if n <= 128:
        return _pairwise_block(a, 0, n)
    f_lo = np.empty(64, np.int64)
    f_n = np.empty(64, np.int64)
    f_state = np.empty(64, np.int64)
    vals = np.empty(64, np.float64)
    sp, nv = 1, 0
    f_lo[0], f_n[0], f_state[0] = 0, n, 0
    while sp > 0:
        top = sp - 1
        lo, m = f_lo[top], f_n[top]
        if m <= 128:
            vals[nv] = _pairwise_block(a, lo, m)
            nv += 1
            sp -= 1
            continue
        half = m // 2
        half -= half % 8
        if f_state[top] == 0:  # the first half
            f_state[top] = 1
            f_lo[sp], f_n[sp], f_state[sp] = lo, half, 0
            sp += 1
        elif f_state[top] == 1:  # then the second
            f_state[top] = 2
            f_lo[sp], f_n[sp], f_state[sp] = lo + half, m - half, 0
            sp += 1
        else:  # both done: their sum
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
            sp -= 1
    return vals[0]


def _sum(a: np.ndarray, n: int, pairwise: bool) -> float:  # pragma: no cover - compiled by numba
    """``a[:n].sum()`` as the reference's ``sum(axis=-1)`` adds: pairwise, or one value after the other from 0."""
    if pairwise:
        return 0.0 + _pairwise_sum(a, n)
    res = 0.0
    for j in range(n):
        res += a[j]
    return res


def _standardise(x: np.ndarray, valid: np.ndarray, pos: np.ndarray, start: np.ndarray, z: np.ndarray,
                 dev: np.ndarray, sq: np.ndarray, pairwise: bool) -> None:  # pragma: no cover - compiled by numba
    """``sar._standardise`` of one pixel's series ``x`` into ``z`` (float64): z-scores within each group of positions.

    Group ``g`` holds the positions ``pos[start[g]:start[g+1]]`` (increasing);
    ``dev`` and ``sq`` are scratch of at least the largest group's size.
    ``pairwise``: NumPy sums a single series (a contiguous row) pairwise,
    but a batch of series (whose time subsets ``x[..., sel]`` are laid out
    time-major) one time after the other.
    """
    for g in range(start.shape[0] - 1):
        a, b = start[g], start[g + 1]
        ng = b - a
        cnt = 0
        for j in range(ng):
            t = pos[a + j]
            v = np.float64(x[t])
            if valid[t] and math.isfinite(v):
                dev[j] = v
                cnt += 1
            else:
                dev[j] = 0.0
        n = np.float64(max(cnt, 1))
        mean = _sum(dev, ng, pairwise) / n
        for j in range(ng):
            t = pos[a + j]
            v = np.float64(x[t])
            d = v - mean if (valid[t] and math.isfinite(v)) else 0.0
            dev[j] = d
            sq[j] = d * d
        std = np.sqrt(_sum(sq, ng, pairwise) / n)
        for j in range(ng):
            t = pos[a + j]
            v = np.float64(x[t])
            if valid[t] and math.isfinite(v):
                z[t] = dev[j] / std if std > 1e-9 else 0.0
            else:
                z[t] = np.nan


def _put(out: np.ndarray, i: int, c: int, x: np.ndarray, valid: np.ndarray) -> None:  # pragma: no cover - compiled by numba
    """Column ``c`` of pixel ``i`` from the series ``x`` at its valid times (cast to float32)."""
    for t in range(x.shape[0]):
        if valid[t]:
            out[i, t, c] = np.float32(x[t])


def _median(s: np.ndarray, pos: np.ndarray, a: int, b: int, buf: np.ndarray) -> np.float32:  # pragma: no cover - compiled by numba
    """``nanmedian_last`` of ``s`` at positions ``pos[a:b]``, as the float32 that ``sar._anomaly_columns`` stores."""
    n = 0
    for j in range(a, b):
        v = s[pos[j]]
        if math.isfinite(v):
            buf[n] = v
            n += 1
    if n == 0:
        return np.float32(np.nan)
    if n <= 64:  # insertion sort: no call, no allocation, fast on a short series
        for j in range(1, n):
            v = buf[j]
            k = j - 1
            while k >= 0 and buf[k] > v:
                buf[k + 1] = buf[k]
                k -= 1
            buf[k + 1] = v
    else:
        buf[:n].sort()
    return np.float32((buf[(n - 1) // 2] + buf[n // 2]) * 0.5)


def _window_mean(c_vv: np.ndarray, c_vh: np.ndarray, c_n: np.ndarray, i0: int, i1: int) -> tuple[float, float]:  # pragma: no cover - compiled by numba
    """``_WindowSums.mean`` at one date from the pixel's cumulative sums (NaN where the window is empty)."""
    n = c_n[i1] - c_n[i0]
    if n > 0:
        return (c_vv[i1] - c_vv[i0]) / n, (c_vh[i1] - c_vh[i0]) / n
    return np.nan, np.nan


def _series_columns(i: int, sv: np.ndarray, sh: np.ndarray, valid: np.ndarray, days: np.ndarray, prev: np.ndarray,
                    nxt: np.ndarray, g_pos: np.ndarray, g_start: np.ndarray, opts: np.ndarray, wi0: np.ndarray,
                    wi1: np.ndarray, out: np.ndarray, c: int, c_vv: np.ndarray, c_vh: np.ndarray, c_n: np.ndarray,
                    buf: np.ndarray) -> int:  # pragma: no cover - compiled by numba
    """Lag, rolling, window, trend and anomaly columns of pixel ``i`` from column ``c`` on; returns the next column.

    ``sv``, ``sh`` are the pixel's VV, VH series in the dtype of the
    reference's arithmetic (float32 in dB, float64 as z-scores); ``buf`` is
    scratch of that dtype. Only valid dates are written.
    """
    nt = sv.shape[0]
    for k in range(1, opts[_LAGS] + 1):
        for t in range(nt):
            if not valid[t]:
                continue
            p = prev[t]
            for _ in range(k - 1):
                if p < 0:
                    break
                p = prev[p]
            cc = c
            if p < 0:
                for j in range(2 + 2 * opts[_DIFFS] + opts[_DT]):
                    out[i, t, c + j] = np.nan
                continue
            out[i, t, cc] = np.float32(sv[p])
            out[i, t, cc + 1] = np.float32(sh[p])
            cc += 2
            if opts[_DIFFS]:
                out[i, t, cc] = np.float32(sv[t] - sv[p])
                out[i, t, cc + 1] = np.float32(sh[t] - sh[p])
                cc += 2
            if opts[_DT]:
                out[i, t, cc] = np.float32(days[t] - days[p])
        c += 2 + 2 * opts[_DIFFS] + opts[_DT]
    h = opts[_HALF]
    if h > 0:
        for t in range(nt):
            if not valid[t]:
                continue
            acc_v, acc_h, cnt = np.float64(sv[t]), np.float64(sh[t]), 1.0
            for side in range(2):  # the h previous, then the h next valid acquisitions, as the reference adds them
                pointer = prev if side == 0 else nxt
                missing = -1 if side == 0 else nt
                p = t
                for _ in range(h):
                    if p != missing:
                        p = pointer[p]
                    if p != missing:
                        acc_v += np.float64(sv[p])
                        acc_h += np.float64(sh[p])
                        cnt += 1.0
                    else:  # the reference adds a zero there (which turns a -0.0 sum into 0.0)
                        acc_v += 0.0
                        acc_h += 0.0
            out[i, t, c] = np.float32(acc_v / cnt)
            out[i, t, c + 1] = np.float32(acc_h / cnt)
        c += 2
    n_win, n_trend = opts[_NWIN], opts[_NTREND]
    if n_win + n_trend > 0:
        c_vv[0], c_vh[0], c_n[0] = 0.0, 0.0, 0.0
        for t in range(nt):
            a_v = np.float64(sv[t]) if valid[t] else 0.0
            a_h = np.float64(sh[t]) if valid[t] else 0.0
            a_n = 1.0 if valid[t] else 0.0
            if t == 0:  # np.cumsum starts from the first element, not from 0 + it
                c_vv[1], c_vh[1], c_n[1] = a_v, a_h, a_n
            else:
                c_vv[t + 1], c_vh[t + 1], c_n[t + 1] = c_vv[t] + a_v, c_vh[t] + a_h, c_n[t] + a_n
        for w in range(n_win):
            for t in range(nt):
                if valid[t]:
                    m_v, m_h = _window_mean(c_vv, c_vh, c_n, wi0[w, t], wi1[w, t])
                    out[i, t, c] = np.float32(m_v)
                    out[i, t, c + 1] = np.float32(m_h)
                    out[i, t, c + 2] = np.float32(m_v - m_h)
            c += 3
        for w in range(n_win, n_win + 2 * n_trend, 2):  # rows: the forward, then the backward window of each trend
            for t in range(nt):
                if valid[t]:
                    f_v, f_h = _window_mean(c_vv, c_vh, c_n, wi0[w, t], wi1[w, t])
                    b_v, b_h = _window_mean(c_vv, c_vh, c_n, wi0[w + 1, t], wi1[w + 1, t])
                    out[i, t, c] = np.float32(f_v - b_v)
                    out[i, t, c + 1] = np.float32(f_h - b_h)
            c += 2
    if opts[_ANOMALY]:
        for g in range(g_start.shape[0] - 1):
            a, b = g_start[g], g_start[g + 1]
            med_v = _median(sv, g_pos, a, b, buf)
            med_h = _median(sh, g_pos, a, b, buf)
            for j in range(a, b):
                t = g_pos[j]
                if valid[t]:
                    out[i, t, c] = np.float32(sv[t] - med_v)
                    out[i, t, c + 1] = np.float32(sh[t] - med_h)
        c += 2
    return c


def _instant_column(out: np.ndarray, i: int, c: int, col: np.ndarray, valid: np.ndarray, norm: bool, z_pos: np.ndarray,
                    z_start: np.ndarray, zc: np.ndarray, dev: np.ndarray, sq: np.ndarray, pairwise: bool) -> int:  # pragma: no cover - compiled by numba
    """Write one per-date column (its z-scores when ``norm``); returns the next column."""
    if norm:
        _standardise(col, valid, z_pos, z_start, zc, dev, sq, pairwise)
        _put(out, i, c, zc, valid)
    else:
        _put(out, i, c, col, valid)
    return c + 1


def _kernel_loop(vv: np.ndarray, vh: np.ndarray, lin_vv: np.ndarray, lin_vh: np.ndarray, days: np.ndarray,
                 doy_sin: np.ndarray, doy_cos: np.ndarray, grp: np.ndarray, g_pos: np.ndarray, g_start: np.ndarray,
                 z_pos: np.ndarray, z_start: np.ndarray, opts: np.ndarray, wi0: np.ndarray, wi1: np.ndarray,
                 out: np.ndarray) -> None:  # pragma: no cover - compiled by numba
    """All columns of the pixels of ``vv``, ``vh`` (float32 dB, (pixel, time)) into ``out`` (float32, (pixel, time, column)).

    ``lin_vv``, ``lin_vh``: the linear powers (read only for the RVI and
    ratio columns); ``grp``: lag group (0..G-1) of each date, whose dates are
    ``g_pos[g_start[g]:g_start[g+1]]``; ``z_pos``, ``z_start``: the groups
    of the z-scores; ``wi0``, ``wi1``: the cumulative-sum bounds of each
    window, then of the forward and backward window of each trend.
    """
    npix, nt = vv.shape
    n_grp = g_start.shape[0] - 1
    sar, norm, pairwise = opts[_SAR] != 0, opts[_NORM] != 0, opts[_PAIRWISE] != 0
    cv = np.empty(nt, np.float32)
    ch = np.empty(nt, np.float32)
    col = np.empty(nt, np.float32)
    buf32 = np.empty(nt, np.float32)
    valid = np.empty(nt, np.bool_)
    prev = np.empty(nt, np.int64)
    nxt = np.empty(nt, np.int64)
    last = np.empty(max(n_grp, 1), np.int64)
    zv = np.empty(nt, np.float64)
    zh = np.empty(nt, np.float64)
    zc = np.empty(nt, np.float64)
    dev = np.empty(nt, np.float64)
    sq = np.empty(nt, np.float64)
    buf64 = np.empty(nt, np.float64)
    c_vv = np.empty(nt + 1, np.float64)
    c_vh = np.empty(nt + 1, np.float64)
    c_n = np.empty(nt + 1, np.float64)
    four, hundred, zero, two = np.float32(4.0), np.float32(100.0), np.float32(0.0), np.float32(2.0)
    for i in range(npix):
        c = 0
        if sar:
            for t in range(nt):
                a, b = vv[i, t], vh[i, t]
                a = _DB_FLOOR if a < _DB_FLOOR else a
                b = _DB_FLOOR if b < _DB_FLOOR else b
                ok = math.isfinite(a) and math.isfinite(b)
                valid[t] = ok
                cv[t] = a if ok else np.nan
                ch[t] = b if ok else np.nan
            for g in range(n_grp):
                last[g] = -1
            for t in range(nt):
                prev[t] = last[grp[t]]
                if valid[t]:
                    last[grp[t]] = t
            for g in range(n_grp):
                last[g] = nt
            for t in range(nt - 1, -1, -1):
                nxt[t] = last[grp[t]]
                if valid[t]:
                    last[grp[t]] = t
            if norm:
                _standardise(cv, valid, z_pos, z_start, zv, dev, sq, pairwise)
                _standardise(ch, valid, z_pos, z_start, zh, dev, sq, pairwise)
            if opts[_BACKSCATTER]:
                if norm:
                    _put(out, i, 0, zv, valid)
                    _put(out, i, 1, zh, valid)
                else:
                    _put(out, i, 0, cv, valid)
                    _put(out, i, 1, ch, valid)
                c = 2
            if opts[_RVI]:
                for t in range(nt):
                    col[t] = four * lin_vh[i, t] / (lin_vv[i, t] + lin_vh[i, t]) if valid[t] else np.nan
                c = _instant_column(out, i, c, col, valid, norm, z_pos, z_start, zc, dev, sq, pairwise)
            if opts[_RATIOS]:
                for t in range(nt):
                    col[t] = cv[t] - ch[t]
                c = _instant_column(out, i, c, col, valid, norm, z_pos, z_start, zc, dev, sq, pairwise)
                for t in range(nt):
                    r = lin_vh[i, t] / lin_vv[i, t]
                    col[t] = (zero if r < zero else (two if r > two else r)) if valid[t] else np.nan
                c = _instant_column(out, i, c, col, valid, norm, z_pos, z_start, zc, dev, sq, pairwise)
            if opts[_INTERACTION]:
                for t in range(nt):
                    col[t] = cv[t] * ch[t] / hundred
                c = _instant_column(out, i, c, col, valid, norm, z_pos, z_start, zc, dev, sq, pairwise)
            if norm:
                c = _series_columns(i, zv, zh, valid, days, prev, nxt, g_pos, g_start, opts, wi0, wi1, out, c, c_vv, c_vh, c_n, buf64)
            else:
                c = _series_columns(i, cv, ch, valid, days, prev, nxt, g_pos, g_start, opts, wi0, wi1, out, c, c_vv, c_vh, c_n, buf32)
        if opts[_DOY]:
            for t in range(nt):
                out[i, t, c] = doy_sin[t]
                out[i, t, c + 1] = doy_cos[t]
            c += 2
        if sar:
            for t in range(nt):
                if not valid[t]:
                    for j in range(c):
                        out[i, t, j] = np.nan


def _compile() -> Callable[..., None] | None:
    """The compiled :func:`_kernel_loop` (built once, on first use, whichever thread asks first), or None without numba."""
    global _compiled
    if _compiled is not None:
        return _compiled or None
    with _compile_lock:  # Dask threads call the kernel at once: one of them compiles, the others wait
        if _compiled is None:
            _build()
    return _compiled or None


def _build() -> None:
    """Compile the loop and its helpers (with ``_compile_lock`` held)."""
    global _compiled
    if _compiled is None:
        try:
            import numba
        except ImportError:  # pragma: no cover - numba is a core dependency
            _compiled = False
        else:
            global _pairwise_block, _pairwise_sum, _sum, _standardise, _put, _median, _window_mean, _series_columns, _instant_column
            # callees first: each compiles against the module's (already compiled) helpers
            jit = numba.njit(cache=True, nogil=True)
            _pairwise_block = jit(_pairwise_block)
            _pairwise_sum = jit(_pairwise_sum)
            _sum = jit(_sum)
            _standardise = jit(_standardise)
            _put = jit(_put)
            _median = jit(_median)
            _window_mean = jit(_window_mean)
            _series_columns = jit(_series_columns)
            _instant_column = jit(_instant_column)
            _compiled = jit(_kernel_loop)


def available() -> bool:
    """Whether the compiled kernel can be used (numba importable); compiles nothing yet.

    Returns
    -------
    bool
        True where numba is installed.
    """
    return _compile() is not None


# --------------------------------------------------------------------------- preparation (NumPy, per call)

def _positions(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group index (0..G-1) of each date, and the dates of each group (increasing) as ``pos[start[g]:start[g+1]]``."""
    _, inv = np.unique(groups, return_inverse=True)
    inv = inv.reshape(-1).astype(np.int64)
    pos = np.argsort(inv, kind="stable").astype(np.int64)
    start = np.concatenate([[0], np.cumsum(np.bincount(inv))]).astype(np.int64)
    return inv, pos, start


def _window_bounds(days: np.ndarray, spec: FeatureSpec) -> tuple[np.ndarray, np.ndarray]:
    """``_WindowSums.mean``'s cumulative-sum bounds: one row per window, then a forward and a backward row per trend."""
    bounds = [(-w / 2, w / 2) for w in spec.windows]
    for w in spec.trends:
        bounds += [(1e-6, w), (-w, -1e-6)]
    nt = days.shape[0]
    i0 = np.empty((len(bounds), nt), dtype=np.int64)
    i1 = np.empty((len(bounds), nt), dtype=np.int64)
    for r, (lo, hi) in enumerate(bounds):
        i0[r] = np.searchsorted(days, days + lo, side="left")
        i1[r] = np.searchsorted(days, days + hi, side="right")
    return i0, i1


def _options(spec: FeatureSpec) -> np.ndarray:
    """The switches of ``spec`` as the compiled loop reads them (see the ``_SAR``.. positions)."""
    opts = np.zeros(15, dtype=np.int64)
    opts[_SAR] = "sar" in spec.groups
    opts[_DOY] = "time" in spec.groups and spec.doy
    opts[_BACKSCATTER], opts[_RVI], opts[_RATIOS], opts[_INTERACTION] = spec.backscatter, spec.rvi, spec.ratios, spec.interaction
    opts[_LAGS], opts[_DIFFS], opts[_DT] = spec.lags, spec.differences, spec.dt
    opts[_HALF] = spec.rolling // 2 if spec.rolling > 1 else 0
    opts[_NWIN], opts[_NTREND] = len(spec.windows), len(spec.trends)
    opts[_ANOMALY] = spec.anomaly
    opts[_NORM] = spec.s1_normalise != "none"
    return opts


def kernel_columns(vv: np.ndarray, vh: np.ndarray, days: np.ndarray, doy: np.ndarray, spec: FeatureSpec,
                   groups: np.ndarray | None, out: np.ndarray) -> np.ndarray:
    """The ``sar`` and ``time`` columns of ``spec`` for pixel series, written into ``out``.

    Parameters
    ----------
    vv, vh : numpy.ndarray
        float32 backscatter in dB, C-contiguous, shape (pixel, time).
    days, doy : numpy.ndarray
        Days since an origin and fractional day of year of each time, shape (time,).
    spec : FeatureSpec
        What to compute.
    groups : numpy.ndarray or None
        Relative-orbit group of each time (see ``sar.feature_kernel``).
    out : numpy.ndarray
        float32 (pixel, time, column), any strides; every element is written.

    Returns
    -------
    numpy.ndarray
        ``out``.

    Raises
    ------
    RuntimeError
        Where numba is not installed (check :func:`available` first).
    """
    fn: Any = _compile()
    if fn is None:  # pragma: no cover - numba is a core dependency
        raise RuntimeError("the compiled feature kernel needs numba")
    npix, nt = vv.shape
    days = np.asarray(days, dtype=np.float64).reshape(nt)
    one = np.zeros(nt, dtype=np.int64)
    lag_groups = one if groups is None or spec.lag_mode == "any" else np.asarray(groups).reshape(nt)
    grp, g_pos, g_start = _positions(lag_groups)
    norm_groups = one if spec.s1_normalise == "pixel" or groups is None else np.asarray(groups).reshape(nt)
    _, z_pos, z_start = _positions(norm_groups)
    wi0, wi1 = _window_bounds(days, spec)
    ang = 2 * np.pi * np.asarray(doy).reshape(nt) / 365.25
    doy_sin, doy_cos = np.sin(ang).astype(np.float32), np.cos(ang).astype(np.float32)
    opts = _options(spec)
    opts[_PAIRWISE] = npix == 1  # how NumPy's sum(axis=-1) adds in the reference (see _standardise)
    need_lin = bool(opts[_SAR] and (spec.rvi or spec.ratios))
    rows = min(_BLOCK, max(npix, 1))
    lin_vv = np.empty((rows, nt), dtype=np.float32)
    lin_vh = np.empty((rows, nt), dtype=np.float32)
    for s in range(0, npix, rows):
        e = min(s + rows, npix)
        lv, lh = lin_vv[: e - s], lin_vh[: e - s]
        if need_lin:  # as the reference: 10 ** (floored dB / 10) in float32, by NumPy's power
            for src, lin in ((vv, lv), (vh, lh)):
                np.maximum(src[s:e], _DB_FLOOR, out=lin)
                np.divide(lin, np.float32(10.0), out=lin)
                np.power(np.float32(10.0), lin, out=lin)
        fn(vv[s:e], vh[s:e], lv, lh, days, doy_sin, doy_cos, grp, g_pos, g_start, z_pos, z_start, opts, wi0, wi1, out[s:e])
    return out
