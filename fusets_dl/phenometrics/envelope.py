"""Upper-envelope smoothing: values far below the fit (residual cloud or shadow dips) lose their weight.

Clear-sky NDVI still holds dips from undetected clouds, haze and shadows
(0.5 among 0.8), never spikes of the same size upwards. Like TIMESAT's
envelope iterations and Chen et al. (2004, "A simple method for
reconstructing a high-quality NDVI time-series data set based on the
Savitzky-Golay filter"), the series is fitted, the values lying more than
``ENVELOPE_K`` noise sd below the fit are dropped (weight 0) and the series
is fitted again, ``iterations`` times. The pixel's noise is then
re-estimated without the dropped values (a dip inflates it, and with it the
prominence a season needs), unless the caller gave the noise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .noise import pseudo_residual_noise

__all__ = ["ENVELOPE_K", "ENVELOPE_MIN_SD", "upper_envelope"]

#: Values more than this many noise sd below the fit are dropped.
ENVELOPE_K = 2.0
#: Floor of the noise sd in that test (NDVI): a nearly noise-free series keeps values within 2 x 0.02 of its fit.
ENVELOPE_MIN_SD = 0.02


def upper_envelope(
    g: np.ndarray,
    c: np.ndarray,
    sigma: np.ndarray,
    fit: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    iterations: int,
    *,
    estimate_noise: bool = True,
    noise_of: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Refit each row without the values far below its fit, ``iterations`` times.

    Parameters
    ----------
    g : numpy.ndarray
        Gridded values ``(pixels, grid)``, NaN where no data.
    c : numpy.ndarray
        Values per cell (0: no data).
    sigma : numpy.ndarray
        ``(pixels,)`` noise sd (NaN: unknown, ``ENVELOPE_MIN_SD`` is used).
    fit : callable
        ``fit(g, c, sigma) -> (pixels, grid)`` gap-free smoothed series.
    iterations : int
        Refits (0: the plain fit).
    estimate_noise : bool
        Re-estimate ``sigma`` from the values kept (pseudo-residuals); False
        keeps the given noise.
    noise_of : callable, optional
        ``noise_of(rows, dropped) -> (len(rows),)``: the noise of those rows
        without their dropped cells (``dropped``: ``(len(rows), grid)``),
        e.g. from the input values at their own dates; default: the
        pseudo-residuals of the gridded values kept.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, numpy.ndarray)
        The fitted series, the noise sd per pixel and the mask of dropped
        cells ``(pixels, grid)``.
    """
    x = fit(g, c, sigma)
    dropped = np.zeros(g.shape, dtype=bool)
    for _ in range(iterations):
        s = np.maximum(np.nan_to_num(sigma, nan=ENVELOPE_MIN_SD), ENVELOPE_MIN_SD)
        with np.errstate(invalid="ignore"):
            low = (g - x) < -ENVELOPE_K * s[:, None]
        if not (low & ~dropped).any():
            break
        rows = np.flatnonzero((low & ~dropped).any(axis=1))  # only rows with new drops are refitted
        dropped |= low
        gm = np.where(dropped[rows], np.nan, g[rows])
        cm = np.where(dropped[rows], 0.0, c[rows])
        sigma = np.array(sigma, dtype=np.float64, copy=True)
        if estimate_noise:
            new = pseudo_residual_noise(gm) if noise_of is None else noise_of(rows, dropped[rows])
            sigma[rows] = np.where(np.isfinite(new), np.fmin(new, sigma[rows]), sigma[rows])
        x = x.copy()
        x[rows] = fit(gm, cm, sigma[rows])
    return x, sigma, dropped
