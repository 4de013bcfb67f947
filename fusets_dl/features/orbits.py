"""Relative-orbit groups of a cube's acquisitions, from their time of day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .._logging import logger
from .._warn import warn_user

__all__ = ["orbit_groups"]

#: Per-date coordinates that may hold relative orbit numbers (integers; pass directions are too coarse).
_ORBIT_NUMBER_COORDS = ("relative_orbit", "sat:relative_orbit", "orbit")


def orbit_groups(cube: xr.Dataset, *, gap_minutes: float = 3.0) -> np.ndarray:
    """Integer relative-orbit group of each acquisition, from its time of day.

    A relative orbit passes over a site at the same UTC time (within
    seconds), different relative orbits minutes (same pass direction) or
    about twelve hours (ascending/descending) apart. Sorted times of day
    separated by more than ``gap_minutes`` start a new group. Only the time
    index is read (and, for dates without a time of day, the orbit numbers:
    one small compute when that coordinate is a Dask array), so grouping is
    the same chunked or not.

    Parameters
    ----------
    cube : xarray.Dataset
        Any dataset with a ``time`` coordinate.
    gap_minutes : float
        Times of day further apart than this (after sorting) are different
        orbits; the groups wrap at midnight.

    Returns
    -------
    numpy.ndarray
        int64 group of each time position, shape (time,), numbered 0, 1, ..
        in the order of the time of day.

    Notes
    -----
    When every time is at midnight (dates without a time of day, as point
    tables give them) and the cube has relative orbit numbers along time
    (an integer ``relative_orbit``, ``sat:relative_orbit`` or ``orbit``
    coordinate), the groups follow those numbers instead. When both exist
    and split the dates differently, or when most groups hold a single
    date (times that are not acquisition times), a warning says so: the
    per-orbit lags, rolling means and anomaly are then not what they seem
    (``FeatureSpec(lag_mode="any")`` ignores the groups).
    """
    groups = _time_of_day_groups(cube, gap_minutes)
    t = cube["time"].to_index()
    midnight = bool(t.size) and bool(np.all((t.hour == 0) & (t.minute == 0) & (t.second == 0)))
    numbers = _orbit_numbers(cube, read_chunked=midnight, warn=midnight)  # a chunked coordinate is read only where it decides the groups
    if numbers is not None:
        by_number = np.unique(numbers, return_inverse=True)[1].astype(np.int64)
        if midnight:
            return by_number
        if not _same_partition(groups, by_number):
            logger.warning("orbit groups: the time of day gives %d groups, the relative orbit numbers %s give %d; "
                           "the time of day is used", len(np.unique(groups)), sorted(set(numbers.tolist()))[:6],
                           len(np.unique(by_number)))
    n_groups = len(np.unique(groups))
    if t.size >= 6 and n_groups > t.size / 2:
        logger.warning("orbit groups: %d groups for %d acquisitions (most hold one date): the times do not look like "
                       "acquisition times of a few relative orbits; per-orbit lags and anomalies will be nearly empty "
                       "(FeatureSpec(lag_mode='any') ignores the groups)", n_groups, t.size)
    return groups


def _orbit_numbers(cube: xr.Dataset, *, read_chunked: bool = False, warn: bool = False) -> np.ndarray | None:
    """Orbit labels along ``time`` from a coordinate (integers; numbers as text; other text such as a pass direction as
    labels), or None; a Dask coordinate only if ``read_chunked``. ``warn``: say why a coordinate that exists is not used."""
    unusable = []
    for name in _ORBIT_NUMBER_COORDS:
        if name in cube.coords and cube[name].dims == ("time",):
            if cube[name].chunks is not None and not read_chunked:
                continue
            v = np.asarray(cube[name].values)
            if v.dtype.kind in "iu":
                return v.astype(np.int64)
            if v.dtype.kind == "f":
                if np.all(np.isfinite(v)) and np.all(v == np.round(v)):
                    return v.astype(np.int64)
                unusable.append(f"{name!r} ({int((~np.isfinite(v)).sum())} missing, {int((np.isfinite(v) & (v != np.round(v))).sum())} fractional)")
                continue
            if v.dtype.kind in "OUS":
                text = pd.Series(v, dtype=object)
                if text.isna().any() or (text.astype(str).str.strip() == "").any():
                    unusable.append(f"{name!r} ({int(text.isna().sum())} missing)")
                    continue
                num = pd.to_numeric(text, errors="coerce")
                if num.notna().all() and bool(np.all(num == np.round(num))):
                    return num.to_numpy().astype(np.int64)
                return pd.factorize(text.astype(str).str.strip().str.upper())[0].astype(np.int64)  # e.g. ASCENDING / DESCENDING
    if warn and unusable:
        warn_user(f"orbit groups: the dates have no time of day and the orbit coordinate {', '.join(unusable)} cannot label every "
                  "acquisition: all dates are one group, so per-orbit lags, rolling means and anomalies mix the orbits. Give "
                  "every date its relative orbit number (or the acquisition time)")
    return None


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two labellings split the positions into the same groups."""
    pairs = np.unique(np.stack([a, b]), axis=1).shape[1]
    return pairs == len(np.unique(a)) == len(np.unique(b))


def _time_of_day_groups(cube: xr.Dataset, gap_minutes: float) -> np.ndarray:
    """Groups of the sorted times of day, ``gap_minutes`` apart, wrapping at midnight."""
    nt = cube.sizes["time"]
    t = cube["time"].to_index()
    minutes = (t.hour * 60 + t.minute + t.second / 60.0).to_numpy(dtype=np.float64)
    order = np.argsort(minutes)
    srt = minutes[order]
    starts = np.concatenate([[True], np.diff(srt) > gap_minutes])
    # times of day wrap at midnight: merge the last group into the first when close
    group_sorted = np.cumsum(starts) - 1
    if srt.size > 1 and (srt[0] + 1440 - srt[-1]) <= gap_minutes:
        group_sorted[group_sorted == group_sorted[-1]] = 0
    out = np.empty(nt, dtype=np.int64)
    out[order] = group_sorted
    return np.unique(out, return_inverse=True)[1].astype(np.int64)
