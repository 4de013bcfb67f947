"""Clouds, thin cloud, shadows and their scene classification for one date of the synthetic scene.

:func:`cloud_date` applies one date's smooth cloud field to a block of red
and NIR reflectance in place and writes its SCL classes and true-cloud flag.
:func:`cloud_date_numpy` is the NumPy formulation (the reference); the
compiled version (numba, no fast-math, so the same IEEE operations in the
same order) is bit-identical to it and avoids some twenty full-size
temporaries per date. The random draws are made by the caller, so both see
the same numbers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["cloud_date", "cloud_date_numpy", "interp_field"]

_compiled: Callable[..., None] | bool | None = None
_compile_lock = threading.Lock()  # Dask threads may make the first call together: build once


def interp_field(grid: np.ndarray, yy: np.ndarray, xx: np.ndarray, scale: float, ay: int, ax: int) -> np.ndarray:
    """Smoothstep interpolation of the coarse cloud ``grid`` at pixel rows ``yy`` and columns ``xx``."""
    gy = (np.asarray(yy) + ay + 1) / scale + 1
    gx = (np.asarray(xx) + ax + 1) / scale + 1
    y0 = np.clip(np.floor(gy).astype(int), 0, grid.shape[0] - 2)
    x0 = np.clip(np.floor(gx).astype(int), 0, grid.shape[1] - 2)
    fy = np.clip(gy - y0, 0, 1)
    fx = np.clip(gx - x0, 0, 1)
    # smoothstep weights give a smoother field than bilinear
    fy = fy * fy * (3 - 2 * fy)
    fx = fx * fx * (3 - 2 * fx)
    return (
        grid[y0, x0] * (1 - fy) * (1 - fx)
        + grid[y0 + 1, x0] * fy * (1 - fx)
        + grid[y0, x0 + 1] * (1 - fy) * fx
        + grid[y0 + 1, x0 + 1] * fy * fx
    )


def cloud_date_numpy(
    grid: np.ndarray, yi: np.ndarray, xi: np.ndarray, scale: float, shift: tuple[int, int], thr: float, band: float,
    fine: np.ndarray, u: np.ndarray, detect: np.ndarray, red: np.ndarray, nir: np.ndarray, scl: np.ndarray, flag: np.ndarray,
) -> None:
    """One date's clouds on a block, in NumPy (see the module docstring); ``red``, ``nir``, ``scl``, ``flag`` are written.

    ``fine`` is the fine-scale cloud noise (already scaled), ``u`` the cloud
    reflectance draw and ``detect`` the thin-cloud detection draw, each of the
    block's shape (by, bx); ``thr`` the date's cloud threshold and ``band``
    the width of the thin-cloud band.
    """
    sy, sx = shift
    ay, ax = abs(sy), abs(sx)
    Y, X = np.meshgrid(yi.astype(float), xi.astype(float), indexing="ij")
    v = interp_field(grid, Y, X, scale, ay, ax) + fine
    vs = interp_field(grid, Y - sy, X - sx, scale, ay, ax)
    cloud = v > thr
    thick = v > thr + band
    thin = cloud & ~thick
    shadow = (vs > thr + band) & ~cloud
    c_red = 0.32 + 0.25 * u
    c_nir = c_red * (1.03 + 0.08 * u)
    a = np.clip((v - thr) / band, 0.25, 1.0)
    r_i, n_i = red, nir
    r_i = np.where(thick, c_red, np.where(thin, (1 - a * 0.7) * r_i + a * 0.7 * c_red, r_i))
    n_i = np.where(thick, c_nir, np.where(thin, (1 - a * 0.7) * n_i + a * 0.7 * c_nir, n_i))
    r_i = np.where(shadow, 0.35 * r_i + 0.004, r_i)
    n_i = np.where(shadow, 0.35 * n_i + 0.004, n_i)
    red[...], nir[...] = r_i, n_i
    s_i = np.where(shadow, 3, scl)
    s_i = np.where(thin & (detect < 0.75), 10, s_i)  # a quarter of thin cloud goes undetected
    s_i = np.where(thick, np.where(v > thr + 2.5 * band, 9, 8), s_i)
    scl[...] = s_i
    flag[...] = np.where(cloud, 1, np.where(shadow, 2, 0))


def _field_at(grid: np.ndarray, y: float, x: float, scale: float, ay: int, ax: int, ny: int, nx: int) -> float:
    """:func:`interp_field` at one pixel (``ny``, ``nx``: the largest valid corner indices), the same operations in the same order."""
    gy = (y + ay + 1) / scale + 1
    gx = (x + ax + 1) / scale + 1
    y0 = min(max(int(np.floor(gy)), 0), ny)
    x0 = min(max(int(np.floor(gx)), 0), nx)
    fy = min(max(gy - y0, 0.0), 1.0)
    fx = min(max(gx - x0, 0.0), 1.0)
    fy = fy * fy * (3 - 2 * fy)
    fx = fx * fx * (3 - 2 * fx)
    return (grid[y0, x0] * (1 - fy) * (1 - fx) + grid[y0 + 1, x0] * fy * (1 - fx)
            + grid[y0, x0 + 1] * (1 - fy) * fx + grid[y0 + 1, x0 + 1] * fy * fx)


def _cloud_date_loop(  # pragma: no cover - compiled by numba, its result is tested against cloud_date_numpy
    grid: np.ndarray, yi: np.ndarray, xi: np.ndarray, scale: float, sy: int, sx: int, thr: float, band: float,
    fine: np.ndarray, u: np.ndarray, detect: np.ndarray, red: np.ndarray, nir: np.ndarray, scl: np.ndarray, flag: np.ndarray,
) -> None:
    """The per-pixel loop of :func:`cloud_date_numpy`, with every operation in the same order."""
    ay, ax = abs(sy), abs(sx)
    ny, nx = grid.shape[0] - 2, grid.shape[1] - 2
    hi, top = thr + band, thr + 2.5 * band
    for r in range(yi.shape[0]):
        y = float(yi[r])
        for c in range(xi.shape[0]):
            x = float(xi[c])
            # the field at the pixel, then at the pixel shifted by the shadow offset
            here = _field_at(grid, y, x, scale, ay, ax, ny, nx)
            vs = _field_at(grid, y - sy, x - sx, scale, ay, ax, ny, nx)
            v = here + fine[r, c]
            cloud = v > thr
            thick = v > hi
            thin = cloud and not thick
            shadow = (vs > hi) and not cloud
            uu = u[r, c]
            c_red = 0.32 + 0.25 * uu
            c_nir = c_red * (1.03 + 0.08 * uu)
            a = min(max((v - thr) / band, 0.25), 1.0)
            rr, nn = red[r, c], nir[r, c]
            if thick:
                rr, nn = c_red, c_nir
            elif thin:
                rr = (1 - a * 0.7) * rr + a * 0.7 * c_red
                nn = (1 - a * 0.7) * nn + a * 0.7 * c_nir
            if shadow:
                rr = 0.35 * rr + 0.004
                nn = 0.35 * nn + 0.004
            red[r, c], nir[r, c] = rr, nn
            if thick:
                scl[r, c] = 9 if v > top else 8
            elif thin and detect[r, c] < 0.75:
                scl[r, c] = 10
            elif shadow:
                scl[r, c] = 3
            flag[r, c] = 1 if cloud else (2 if shadow else 0)


def _compile() -> Callable[..., None] | None:
    """The compiled :func:`_cloud_date_loop` (built on first use), or None without numba."""
    global _compiled
    if _compiled is None:
        with _compile_lock:
            if _compiled is None:
                try:
                    import numba
                except ImportError:  # pragma: no cover - numba is a core dependency
                    _compiled = False
                else:
                    global _field_at
                    # the loop calls the module's _field_at: compiled first, so that the loop compiles against it
                    _field_at = numba.njit(cache=True, nogil=True)(_field_at)
                    _compiled = numba.njit(cache=True, nogil=True)(_cloud_date_loop)
    return _compiled or None


def cloud_date(grid: np.ndarray, yi: np.ndarray, xi: np.ndarray, scale: float, shift: tuple[int, int], thr: float, band: float,
               fine: np.ndarray, u: np.ndarray, detect: np.ndarray, red: np.ndarray, nir: np.ndarray, scl: np.ndarray,
               flag: np.ndarray, *, compiled: bool = True) -> None:
    """One date's clouds on a block (arguments as :func:`cloud_date_numpy`), compiled where numba is installed."""
    fn: Any = _compile() if compiled else None
    if fn is None:
        cloud_date_numpy(grid, yi, xi, scale, shift, thr, band, fine, u, detect, red, nir, scl, flag)
        return
    fn(np.ascontiguousarray(grid, dtype=np.float64), np.ascontiguousarray(yi), np.ascontiguousarray(xi), float(scale),
       int(shift[0]), int(shift[1]), float(thr), float(band), fine, u, detect, red, nir, scl, flag)
