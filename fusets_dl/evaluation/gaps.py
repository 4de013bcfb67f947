"""Simulated cloudy spells of the gap-filling comparison: where they fall and which pixels are scored.

Plain NumPy: positions come from a counter-based hash of (seed, spell, y, x),
so they do not depend on the order pixels are processed in.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._rng import hash_uniform
from ..errors import ConfigError

__all__ = ["hide_gaps", "pick_pixels", "spell_starts"]


def hide_gaps(
    ndvi: np.ndarray, days: np.ndarray, iy: np.ndarray, ix: np.ndarray, *, gap_days: float, n_gaps: int, seed: int,
    span: tuple[float, float] | None = None,
) -> np.ndarray:
    """Mask (time, pixel) of clear observations inside simulated cloudy spells.

    The series span is cut into ``n_gaps`` equal parts and one spell of
    ``gap_days`` starts at a uniform random day of each part (so spells do not
    overlap when ``gap_days`` is at most a part's length); positions come from
    a counter-based hash of (seed, spell, y, x), so they do not depend on the
    order pixels are processed in.

    Parameters
    ----------
    ndvi : numpy.ndarray
        (time, pixel) clear NDVI, NaN where not observed.
    days : numpy.ndarray
        (time,) dates in days from any origin.
    iy, ix : numpy.ndarray
        (pixel,) row and column of each pixel in the scene (seed the spells).
    gap_days : float
        Length of each spell, days.
    n_gaps : int
        Spells per pixel.
    seed : int
        Seed of the spell positions.
    span : (float, float), optional
        Place the spells within these days only; default: the whole series.

    Returns
    -------
    numpy.ndarray
        Boolean (time, pixel): the observed values inside a spell.

    Raises
    ------
    ConfigError
        When ``n_gaps`` spells of ``gap_days`` do not fit into the span, or
        ``gap_days`` is not a number > 0 or ``n_gaps`` not a whole number >= 1.
    """
    starts = spell_starts(days, iy, ix, gap_days=gap_days, n_gaps=n_gaps, seed=seed, span=span)
    hidden = np.zeros(ndvi.shape, dtype=bool)
    for start in starts:
        hidden |= (days[:, None] >= start[None]) & (days[:, None] < start[None] + gap_days)
    return hidden & np.isfinite(ndvi)


def spell_starts(
    days: np.ndarray, iy: np.ndarray, ix: np.ndarray, *, gap_days: float, n_gaps: int, seed: int,
    span: tuple[float, float] | None = None,
) -> np.ndarray:
    """First day of each simulated spell, in the units of ``days``; within ``span`` when given.

    Parameters
    ----------
    days, iy, ix, gap_days, n_gaps, seed, span
        As for :func:`hide_gaps`.

    Returns
    -------
    numpy.ndarray
        (n_gaps, pixel) float64 start days.

    Raises
    ------
    ConfigError
        When ``n_gaps`` spells of ``gap_days`` do not fit into the span, or
        ``gap_days`` is not a number > 0 or ``n_gaps`` not a whole number >= 1.
    """
    whole = isinstance(n_gaps, numbers.Real) and not isinstance(n_gaps, bool) and float(n_gaps).is_integer() and n_gaps >= 1
    length = isinstance(gap_days, numbers.Real) and not isinstance(gap_days, bool) and np.isfinite(gap_days) and gap_days > 0
    if not (whole and length):
        raise ConfigError(f"simulated cloudy spells: expected gap_days > 0 and a whole n_gaps >= 1, found gap_days={gap_days!r}, n_gaps={n_gaps!r}")
    n_gaps = int(n_gaps)
    lo, hi = (float(days.min()), float(days.max())) if span is None else (float(span[0]), float(span[1]))
    part = (hi - lo) / n_gaps
    if gap_days > part:
        where = (f"the {hi - lo:.0f} days they may fall in (the comparison's period, or its season from split_date on, within a "
                 f"{float(days.max() - days.min()):.0f}-day series)" if span is not None else f"a {hi - lo:.0f}-day series")
        if hi - lo <= 0:
            raise ConfigError(f"simulated cloudy spells: expected a span of dates to hide {n_gaps} spells of {gap_days:g} days in, "
                              f"found {where} (a single date)")
        raise ConfigError(
            f"simulated cloudy spells: {n_gaps} spells of {gap_days:g} days do not fit into {where}; "
            f"expected gap_days <= {part:.3g} (or fewer spells)"
        )
    return np.stack([lo + k * part + hash_uniform(seed, 7, k, iy, ix) * (part - gap_days) for k in range(n_gaps)])


def pick_pixels(
    mask: np.ndarray, ndvi: np.ndarray, days: np.ndarray, *, gap_days: float, n_gaps: int, seed: int, min_clear: int,
    max_pixels: int | None, span: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The evaluated pixels of ``mask`` and their hidden observations.

    A pixel is kept when a spell hides at least one observation and at least
    ``min_clear`` clear observations remain; at most ``max_pixels`` of them,
    chosen by a seeded hash of their position, are returned in scene order.

    Parameters
    ----------
    mask : numpy.ndarray
        Boolean (y, x): the candidate pixels (e.g. the held-out blocks).
    ndvi : numpy.ndarray
        (time, y, x) clear NDVI.
    days : numpy.ndarray
        (time,) dates in days.
    gap_days, n_gaps, seed, span
        As for :func:`hide_gaps`.
    min_clear : int
        Fewest clear observations a pixel must keep outside the spells.
    max_pixels : int, optional
        Most pixels returned; ``None``: all.

    Returns
    -------
    tuple of numpy.ndarray
        ``iy``, ``ix`` (pixel,) and the hidden mask (time, pixel).
    """
    iy, ix = np.nonzero(mask)
    obs = ndvi[:, iy, ix]
    hidden = hide_gaps(obs, days, iy, ix, gap_days=gap_days, n_gaps=n_gaps, seed=seed, span=span)
    keep = (hidden.sum(0) > 0) & ((np.isfinite(obs) & ~hidden).sum(0) >= min_clear)
    iy, ix, hidden = iy[keep], ix[keep], hidden[:, keep]
    if max_pixels is not None and iy.size > max_pixels:
        order = np.argsort(hash_uniform(seed, 11, 0, iy, ix), kind="stable")[:max_pixels]
        order.sort()
        iy, ix, hidden = iy[order], ix[order], hidden[:, order]
    return iy, ix, hidden
