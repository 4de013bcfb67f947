"""Per-pixel noise of an NDVI series from pseudo-residuals (each value against its two neighbours).

On a regular grid, a value whose two neighbouring cells both hold data is
compared with their mean; with independent noise of sd ``s`` that residual
has sd ``s * sqrt(1.5)``, so the scaled residuals estimate ``s`` by their
median absolute value (x 1.4826), robust to the curvature of green-up and
senescence and to a few outliers (Gasser et al. 1986, "Residual variance
and residual pattern in nonlinear regression").
"""

from __future__ import annotations

import numpy as np

from .._series import nanmedian_last

__all__ = ["MIN_RESIDUALS", "pseudo_residual_noise"]

#: Fewer residuals than this give NaN (no estimate).
MIN_RESIDUALS = 5


def pseudo_residual_noise(g: np.ndarray) -> np.ndarray:
    """Robust noise sd of each row of a gridded series (NaN where missing).

    Parameters
    ----------
    g : numpy.ndarray
        Values ``(pixels, grid)`` on a regular grid, NaN where missing.

    Returns
    -------
    numpy.ndarray
        ``(pixels,)`` noise sd (float64); NaN where fewer than
        ``MIN_RESIDUALS`` values have data on both sides.
    """
    g = np.asarray(g, dtype=np.float32)
    if g.shape[-1] < 3:
        return np.full(g.shape[:-1], np.nan)
    r = np.abs(g[..., 1:-1] - 0.5 * (g[..., :-2] + g[..., 2:]))  # NaN unless all three have data
    n = np.isfinite(r).sum(axis=-1)
    med = nanmedian_last(r)[..., 0].astype(np.float64) * (1.4826 / np.sqrt(1.5))
    return np.where(n >= MIN_RESIDUALS, med, np.nan)
