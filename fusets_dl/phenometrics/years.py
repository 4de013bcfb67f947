"""Seasons attributed to years: one slot per year and season, as TIMESAT writes them."""

from __future__ import annotations

import numpy as np

__all__ = ["by_year_block"]


def by_year_block(stacked: np.ndarray, *, pos_years: np.ndarray, year0: int, n_years: int, per_year: int, pos_index: int) -> np.ndarray:
    """Reorder ``(..., season, var)`` into ``(..., year, season, var)`` by the year of each peak.

    Parameters
    ----------
    stacked : numpy.ndarray
        Kernel output, seasons ordered by start; NaN rows are absent seasons.
    pos_years : numpy.ndarray
        Calendar year of each day from the origin, for the days
        ``0 .. pos_years.size - 1`` (a peak belongs to the day it falls in:
        its days are floored).
    year0 : int
        First year of the output.
    n_years : int
        Years in the output.
    per_year : int
        Season slots per year; further seasons of a year are dropped.
    pos_index : int
        Index of ``pos`` (days) in the ``var`` axis.

    Returns
    -------
    numpy.ndarray
        ``(..., n_years, per_year, var)`` float64, NaN where absent.
    """
    lead, (n_s, n_v) = stacked.shape[:-2], stacked.shape[-2:]
    flat = stacked.reshape(-1, n_s, n_v)
    out = np.full((flat.shape[0], n_years, per_year, n_v), np.nan)
    pos = flat[:, :, pos_index]
    ok = np.isfinite(pos)
    # the calendar day the peak falls in (a peak on 31 Dec at 18:00 belongs to that year, not the next)
    day = np.clip(np.floor(np.nan_to_num(pos)).astype(np.int64), 0, pos_years.size - 1)
    year = np.where(ok, pos_years[day] - year0, -1)
    for s in range(n_s):
        # rank of season s among the earlier seasons of its year
        rank = ((year[:, :s] == year[:, s : s + 1]) & ok[:, :s]).sum(axis=1)
        put = ok[:, s] & (year[:, s] >= 0) & (year[:, s] < n_years) & (rank < per_year)
        rows = np.flatnonzero(put)
        out[rows, year[rows, s], rank[rows]] = flat[rows, s]
    return out.reshape(*lead, n_years, per_year, n_v)
