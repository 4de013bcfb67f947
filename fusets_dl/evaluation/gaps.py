"""Simulated cloudy spells of the gap-filling comparison: where they fall and which pixels are scored.

Plain NumPy: positions come from a counter-based hash of (seed, spell, y, x),
so they do not depend on the order pixels are processed in.

A spell hides S2 *views*: on a pairing cube (``align`` in pairing mode) one
S2 view is paired to every S1 date within the tolerance, so it sits at
several dates of the cube (``NDVI_offset`` says how far, S2 minus S1). A
value is hidden when its view's date, ``time + NDVI_offset``
(:func:`s2_view_days`), falls in a spell, at every S1 date that carries
it; otherwise a copy 1-3 days outside the spell would stay visible to the
methods. On a composite cube (no offset) a value's view date is its own date.
"""

from __future__ import annotations

import numbers

import numpy as np

from .._rng import hash_uniform
from ..errors import ConfigError

__all__ = ["hide_gaps", "hide_views", "pick_pixels", "s2_view_days", "spell_starts"]


def s2_view_days(days: np.ndarray, offset: np.ndarray | None) -> np.ndarray | None:
    """Date of the S2 view behind each value of a pairing cube, in the units and origin of ``days``.

    Parameters
    ----------
    days : numpy.ndarray
        (time,) dates in days from any origin.
    offset : numpy.ndarray, optional
        ``NDVI_offset`` (days, S2 minus S1) with time first, (time, ...);
        NaN where no view is paired. ``None`` (a composite cube): ``None``.

    Returns
    -------
    numpy.ndarray or None
        float64 ``days + offset`` of ``offset``'s shape, the value's own date
        where the offset is NaN; ``None`` when ``offset`` is.
    """
    if offset is None:
        return None
    off = np.asarray(offset, dtype=np.float64)
    own = np.broadcast_to(np.asarray(days, dtype=np.float64).reshape((-1,) + (1,) * (off.ndim - 1)), off.shape)
    return np.where(np.isfinite(off), own + off, own)


def hide_gaps(
    ndvi: np.ndarray, days: np.ndarray, iy: np.ndarray, ix: np.ndarray, *, gap_days: float, n_gaps: int, seed: int,
    span: tuple[float, float] | None = None, view_days: np.ndarray | None = None,
) -> np.ndarray:
    """Mask (time, pixel) of clear observations inside simulated cloudy spells.

    The series span is cut into ``n_gaps`` equal parts and one spell of
    ``gap_days`` starts at a uniform random day of each part (so spells do not
    overlap when ``gap_days`` is at most a part's length); positions come from
    a counter-based hash of (seed, spell, y, x), so they do not depend on the
    order pixels are processed in. A value is hidden when the date of its S2
    view (``view_days``; default its own date) falls in a spell: every date of
    a pairing cube that carries a hidden view is hidden.

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
    view_days : numpy.ndarray, optional
        (time, pixel) date of each value's S2 view in the units and origin of
        ``days`` (:func:`s2_view_days` of a pairing cube's ``NDVI_offset``);
        NaN entries, and the default, take the value's own date.

    Returns
    -------
    numpy.ndarray
        Boolean (time, pixel): the observed values whose view lies in a spell.

    Raises
    ------
    ConfigError
        When ``n_gaps`` spells of ``gap_days`` do not fit into the span, or
        ``gap_days`` is not a number > 0 or ``n_gaps`` not a whole number >= 1,
        or ``view_days`` is not of ``ndvi``'s shape.
    """
    starts = spell_starts(days, iy, ix, gap_days=gap_days, n_gaps=n_gaps, seed=seed, span=span)
    own = np.asarray(days, dtype=np.float64)[:, None]
    if view_days is None:
        when = own
    else:
        when = np.asarray(view_days, dtype=np.float64)
        if when.shape != np.shape(ndvi):
            raise ConfigError(f"simulated cloudy spells: expected view_days of the NDVI's shape {np.shape(ndvi)}, found {when.shape}")
        when = np.where(np.isfinite(when), when, own)
    return _in_spells(when, starts, gap_days, np.shape(ndvi)) & np.isfinite(ndvi)


def _in_spells(when: np.ndarray, starts: np.ndarray, gap_days: float, shape: tuple[int, ...]) -> np.ndarray:
    """Boolean ``shape``: the dates ``when`` (broadcast to it) within ``[start, start + gap_days)`` of any spell of their pixel."""
    hidden = np.zeros(shape, dtype=bool)
    for start in starts:
        hidden |= (when >= start[None]) & (when < start[None] + gap_days)
    return hidden


def hide_views(
    views: np.ndarray, view_days: np.ndarray, days: np.ndarray, iy: np.ndarray, ix: np.ndarray, *, gap_days: float, n_gaps: int,
    seed: int, span: tuple[float, float] | None = None,
) -> np.ndarray:
    """Mask (view, pixel) of a cube's unpaired S2 views inside the spells :func:`hide_gaps` puts at the same pixels.

    The spells are those of the cube's own dates (``days``, ``span``, seed,
    pixel): a view and the paired values around it are hidden together, so
    a spell hides every clear view of its days, paired or not.

    Parameters
    ----------
    views : numpy.ndarray
        (view, pixel) the unpaired views' NDVI (``NDVI_unpaired``), NaN where none.
    view_days : numpy.ndarray
        (view,) their dates, in the units and origin of ``days``.
    days, iy, ix, gap_days, n_gaps, seed, span
        As for :func:`hide_gaps` of the cube's paired NDVI.

    Returns
    -------
    numpy.ndarray
        Boolean (view, pixel): the finite views whose date lies in a spell.
    """
    starts = spell_starts(days, iy, ix, gap_days=gap_days, n_gaps=n_gaps, seed=seed, span=span)
    when = np.asarray(view_days, dtype=np.float64)[:, None]
    return _in_spells(when, starts, gap_days, np.shape(views)) & np.isfinite(views)


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
    max_pixels: int | None, span: tuple[float, float] | None = None, view_days: np.ndarray | None = None,
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
    view_days : numpy.ndarray, optional
        (time, y, x) date of each value's S2 view (:func:`s2_view_days`);
        default: the value's own date (a composite cube).

    Returns
    -------
    tuple of numpy.ndarray
        ``iy``, ``ix`` (pixel,) and the hidden mask (time, pixel).
    """
    iy, ix = np.nonzero(mask)
    obs = ndvi[:, iy, ix]
    views = None if view_days is None else np.asarray(view_days)[:, iy, ix]
    hidden = hide_gaps(obs, days, iy, ix, gap_days=gap_days, n_gaps=n_gaps, seed=seed, span=span, view_days=views)
    keep = (hidden.sum(0) > 0) & ((np.isfinite(obs) & ~hidden).sum(0) >= min_clear)
    iy, ix, hidden = iy[keep], ix[keep], hidden[:, keep]
    if max_pixels is not None and iy.size > max_pixels:
        order = np.argsort(hash_uniform(seed, 11, 0, iy, ix), kind="stable")[:max_pixels]
        order.sort()
        iy, ix, hidden = iy[order], ix[order], hidden[:, order]
    return iy, ix, hidden
