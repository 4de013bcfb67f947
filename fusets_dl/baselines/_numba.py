"""Numba, when installed, and the compile flags of the state-space kernels.

``nb`` is the module or None; ``njit`` / ``pnjit`` compile (serial / parallel
over ``prange``) with cached machine code and fast reductions that keep the
meaning of NaN and inf (no ``nnan`` / ``ninf``). Without numba they return
the Python function unchanged (never called: the torch filter serves then).
"""

from __future__ import annotations

from typing import Any

__all__ = ["nb", "njit", "pnjit", "prange"]

try:  # optional at run time: the torch filter of .statespace is the fallback
    import numba as nb
except ImportError:  # pragma: no cover - exercised where numba is absent
    nb = None

_FM = {"contract", "reassoc", "arcp", "nsz"}

if nb is not None:
    njit = nb.njit(cache=True, fastmath=_FM, nogil=True, error_model="numpy")
    pnjit = nb.njit(parallel=True, cache=True, fastmath=_FM, nogil=True, error_model="numpy")
    prange = nb.prange
else:  # pragma: no cover - plain Python functions, never called without numba
    def njit(f: Any) -> Any:
        """Identity (numba is not installed)."""
        return f

    pnjit = njit
    prange = range
