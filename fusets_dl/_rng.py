"""Counter-based random numbers: a hash of (seed, stream, t, y, x).

The same index always gives the same number, so results do not depend on
how an array is chunked or in which order chunks are processed.

The last hashing stage (the one over the full broadcast shape) runs as one
compiled ufunc when numba is installed and the output is large: the same
integer arithmetic and the same conversion to float, so the numbers are
bit-identical to the NumPy path, without its seven full-size temporaries.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

__all__ = ["hash_normal", "hash_uniform"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_CY = np.uint64(0x632BE59BD9B4E019)
_CX = np.uint64(0x8CB92BA72F3D8DD7)
_SCALE = 1.0 / 9007199254740992.0  # 2**-53
_FUSE_MIN = 1 << 16  # outputs smaller than this stay in NumPy (no numba import for small draws)
_fused: Callable[[np.ndarray, np.ndarray], np.ndarray] | bool | None = None
_fuse_lock = threading.Lock()


def _mix(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _last_stage(z: np.uint64, x: np.uint64) -> float:  # pragma: no cover - compiled by numba, not run as Python
    """The x stage of the hash and the conversion to (0, 1), for one element (the body of the compiled ufunc)."""
    z = z ^ (x * np.uint64(0x94D049BB133111EB) + np.uint64(0x8CB92BA72F3D8DD7))
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (np.float64(z >> np.uint64(11)) + 0.5) * (1.0 / 9007199254740992.0)


def _compiled_last_stage() -> Callable[[np.ndarray, np.ndarray], np.ndarray] | None:
    """The compiled ufunc of :func:`_last_stage` (built on first use), or None without numba."""
    global _fused
    if _fused is None:
        with _fuse_lock:  # Dask threads may make the first call together: build once
            if _fused is None:
                try:
                    import numba
                except ImportError:  # pragma: no cover - numba is a core dependency
                    _fused = False
                else:
                    _fused = numba.vectorize(["float64(uint64, uint64)"], nopython=True, cache=True)(_last_stage)
    return _fused or None


def hash_uniform(seed: int, stream: int, t: np.ndarray | int, y: np.ndarray | int, x: np.ndarray | int) -> np.ndarray:
    """Uniform numbers in (0, 1) for broadcastable integer indices ``t``, ``y``, ``x``."""
    with np.errstate(over="ignore"):
        key = np.uint64((seed * 1_000_003 + stream * 7919) & 0xFFFFFFFFFFFF)
        z = _mix(np.asarray(t, dtype=np.uint64) * _GOLD + key)
        z = _mix(z ^ (np.asarray(y, dtype=np.uint64) * _M1 + _CY))
        xs = np.asarray(x, dtype=np.uint64)
        if np.prod(np.broadcast_shapes(np.shape(z), xs.shape)) >= _FUSE_MIN and (last := _compiled_last_stage()) is not None:
            return np.asarray(last(z, xs), dtype=np.float64)
        z = _mix(z ^ (xs * _M2 + _CX))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * _SCALE


def hash_normal(seed: int, stream: int, t: np.ndarray | int, y: np.ndarray | int, x: np.ndarray | int) -> np.ndarray:
    """Standard normal numbers (Box-Muller on two hash streams)."""
    u1 = hash_uniform(seed, stream, t, y, x)
    u2 = hash_uniform(seed, stream + 1000, t, y, x)
    if u1.ndim == 0:
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    # the same operations in place: sqrt(-2 log u1) * cos(2 pi u2), without four full-size temporaries
    np.log(u1, out=u1)
    u1 *= -2.0
    np.sqrt(u1, out=u1)
    u2 *= 2.0 * np.pi
    np.cos(u2, out=u2)
    u1 *= u2
    return u1
