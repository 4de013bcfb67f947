"""Which outputs of which pixels the MOGPR fits: per-output counts, means, stds; constant outputs.

Shared by the dense (:mod:`.gp`) and state-space (:mod:`.statespace`)
engines and the xarray front (:mod:`.lcm`), so that they agree on which
pixels are fitted, which are returned as a constant and which are NaN.

An output of a pixel with at least ``min_obs`` valid dates either varies
(it is standardised and fitted) or is constant on its dates: its standard
deviation is zero (to rounding). A constant cannot be standardised; the
maximum-likelihood GP of a constant series is that constant with no signal
variance, so such an output is returned as its mean with a std of 0, and
the pixel's other outputs are fitted without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["OutputStats", "fill_constant", "output_stats"]

#: A standard deviation at or below this fraction of ``max(|mean|, 1)`` is a constant series (rounding of equal values).
CONSTANT_RTOL = 1e-12


@dataclass(frozen=True)
class OutputStats:
    """Per (pixel, output) statistics of the valid values.

    Parameters
    ----------
    count : numpy.ndarray
        (pixels, P) number of finite values.
    mu, sd : numpy.ndarray
        (pixels, P) mean (for a constant output: its largest value) and
        (population) standard deviation of them.
    usable : numpy.ndarray
        (pixels, P) at least ``min_obs`` values that vary: standardised and fitted.
    constant : numpy.ndarray
        (pixels, P) at least ``min_obs`` values, all equal: returned as ``mu`` with std 0.
    """

    count: np.ndarray
    mu: np.ndarray
    sd: np.ndarray
    usable: np.ndarray
    constant: np.ndarray

    def kept(self, target: int) -> np.ndarray:
        """(pixels,) pixels whose ``target`` output has enough dates (usable or constant)."""
        return self.usable[:, target] | self.constant[:, target]

    def fitted(self, target: int) -> np.ndarray:
        """(pixels,) kept pixels with at least one output to fit."""
        return self.kept(target) & self.usable.any(-1)


def output_stats(values: np.ndarray, min_obs: int) -> OutputStats:
    """Counts, means and stds of every (pixel, output) and which are usable or constant.

    Parameters
    ----------
    values : numpy.ndarray
        (pixels, P, T), NaN where not observed.
    min_obs : int
        Fewest valid dates an output needs.

    Returns
    -------
    OutputStats
        The statistics.
    """
    valid = np.isfinite(values)
    count = valid.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.nansum(np.where(valid, values, 0.0), -1) / np.maximum(count, 1)
        sd = np.sqrt(np.nansum(np.where(valid, values - mu[..., None], 0.0) ** 2, -1) / np.maximum(count, 1))
    enough = count >= min_obs
    constant = enough & (sd <= CONSTANT_RTOL * np.maximum(np.abs(mu), 1.0))
    if constant.any():  # the value itself, not its mean's rounding (0.3 * 7 / 7 != 0.3)
        mu[constant] = np.where(valid[constant], values[constant], -np.inf).max(-1)
    return OutputStats(count=count, mu=mu, sd=sd, usable=enough & ~constant, constant=constant)


def fill_constant(mean: np.ndarray, std: np.ndarray, stats: OutputStats, target: int, kept: np.ndarray | None = None) -> None:
    """Set the constant outputs of kept pixels to their mean, std 0 (in place on (pixels, P, Tq) arrays).

    Parameters
    ----------
    mean, std : numpy.ndarray
        (pixels, P, Tq) outputs of the fit.
    stats : OutputStats
        From :func:`output_stats` on the same pixels.
    target : int
        The master output (pixels without enough of it stay NaN).
    kept : numpy.ndarray, optional
        (pixels,) the pixels to fill (default: ``stats.kept(target)``).
    """
    where = stats.constant & (stats.kept(target) if kept is None else kept)[:, None]
    if where.any():
        mean[where] = stats.mu[where][:, None]
        std[where] = 0.0
