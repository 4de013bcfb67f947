"""Counter-based random numbers: a hash of (seed, stream, t, y, x).

The same index always gives the same number, so results do not depend on
how an array is chunked or in which order chunks are processed.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hash_normal", "hash_uniform"]

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


def _mix(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def hash_uniform(seed: int, stream: int, t: np.ndarray | int, y: np.ndarray | int, x: np.ndarray | int) -> np.ndarray:
    """Uniform numbers in (0, 1) for broadcastable integer indices ``t``, ``y``, ``x``."""
    with np.errstate(over="ignore"):
        key = np.uint64((seed * 1_000_003 + stream * 7919) & 0xFFFFFFFFFFFF)
        z = _mix(np.asarray(t, dtype=np.uint64) * _GOLD + key)
        z = _mix(z ^ (np.asarray(y, dtype=np.uint64) * _M1 + np.uint64(0x632BE59BD9B4E019)))
        z = _mix(z ^ (np.asarray(x, dtype=np.uint64) * _M2 + np.uint64(0x8CB92BA72F3D8DD7)))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def hash_normal(seed: int, stream: int, t: np.ndarray | int, y: np.ndarray | int, x: np.ndarray | int) -> np.ndarray:
    """Standard normal numbers (Box-Muller on two hash streams)."""
    u1 = hash_uniform(seed, stream, t, y, x)
    u2 = hash_uniform(seed, stream + 1000, t, y, x)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
