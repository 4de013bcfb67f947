"""Relative-orbit groups of a cube's acquisitions, from their time of day."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from .._logging import logger
from .._warn import warn_user

__all__ = ["ONE_ORBIT_MIN_DAYS", "orbit_groups", "revisit_days"]

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
    and split the dates differently, when most groups hold a single
    date (times that are not acquisition times), or when dates without a
    time of day leave groups whose acquisitions are closer than one orbit's
    revisit (no orbit numbers, or only a pass direction; not for the
    composites of ``align(freq=...)``, whose ``time_bnds`` mark periods), a warning says so: the
    per-orbit lags, rolling means and anomaly are then not what they seem
    (``FeatureSpec(lag_mode="any")`` ignores the groups).
    """
    groups = _time_of_day_groups(cube, gap_minutes)
    t = cube["time"].to_index()
    midnight = bool(t.size) and bool(np.all((t.hour == 0) & (t.minute == 0) & (t.second == 0)))
    composite = "time_bnds" in cube.variables or bool(cube["time"].attrs.get("bounds"))  # align(freq=...): periods, not passes
    numbers, directions = _orbit_numbers(cube, read_chunked=midnight, warn=midnight)  # a chunked coordinate: read only where it decides
    if numbers is not None:
        by_number = np.unique(numbers, return_inverse=True)[1].astype(np.int64)
        if midnight:
            if directions and not composite:
                _warn_if_orbits_mixed(t, by_number, "only a pass direction (ASCENDING / DESCENDING), not relative orbit numbers")
            return by_number
        # pass directions are coarser than relative orbits: the time of day need only split them further
        agrees = _refines(groups, by_number) if directions else _same_partition(groups, by_number)
        if not agrees:
            logger.warning("orbit groups: the time of day gives %d groups, the relative orbit %s %s give %d; "
                           "the time of day is used", len(np.unique(groups)), "directions" if directions else "numbers",
                           sorted(set(numbers.tolist()))[:6], len(np.unique(by_number)))
    elif midnight and not composite:
        _warn_if_orbits_mixed(t, groups, "no relative orbit numbers")
    n_groups = len(np.unique(groups))
    if t.size >= 6 and n_groups > t.size / 2:
        logger.warning("orbit groups: %d groups for %d acquisitions (most hold one date): the times do not look like "
                       "acquisition times of a few relative orbits; per-orbit lags and anomalies will be nearly empty "
                       "(FeatureSpec(lag_mode='any') ignores the groups)", n_groups, t.size)
    return groups


def _orbit_numbers(cube: xr.Dataset, *, read_chunked: bool = False, warn: bool = False) -> tuple[np.ndarray | None, bool]:
    """Orbit labels along ``time`` from a coordinate (integers; numbers as text; other text such as a pass direction as
    labels), or None; a Dask coordinate only if ``read_chunked``. ``warn``: say why a coordinate that exists is not used.
    The flag is True when the labels are text that is not numbers (a pass direction)."""
    unusable = []
    for name in _ORBIT_NUMBER_COORDS:
        if name in cube.coords and cube[name].dims == ("time",):
            if cube[name].chunks is not None and not read_chunked:
                continue
            v = np.asarray(cube[name].values)
            if v.dtype.kind in "iu":
                return v.astype(np.int64), False
            if v.dtype.kind == "f":
                if np.all(np.isfinite(v)) and np.all(v == np.round(v)):
                    return v.astype(np.int64), False
                unusable.append(f"{name!r} ({int((~np.isfinite(v)).sum())} missing, {int((np.isfinite(v) & (v != np.round(v))).sum())} fractional)")
                continue
            if v.dtype.kind in "OUS":
                text = pd.Series(v, dtype=object)
                if text.isna().any() or (text.astype(str).str.strip() == "").any():
                    unusable.append(f"{name!r} ({int(text.isna().sum())} missing)")
                    continue
                num = pd.to_numeric(text, errors="coerce")
                if num.notna().all() and bool(np.all(num == np.round(num))):
                    return num.to_numpy().astype(np.int64), False
                return pd.factorize(text.astype(str).str.strip().str.upper())[0].astype(np.int64), True  # e.g. ASCENDING / DESCENDING
    if warn and unusable:
        warn_user(f"orbit groups: the dates have no time of day and the orbit coordinate {', '.join(unusable)} cannot label every "
                  "acquisition: all dates are one group, so per-orbit lags, rolling means and anomalies mix the orbits. Give "
                  "every date its relative orbit number (or the acquisition time)")
    return None, False


#: One relative orbit revisits a site every 6 days (two satellites) or 12 (one): acquisitions of one group closer than
#: this are of several relative orbits.
ONE_ORBIT_MIN_DAYS = 5.5


def _warn_if_orbits_mixed(t: pd.DatetimeIndex, groups: np.ndarray, why: str) -> None:
    """Warn when dates without a time of day leave groups whose acquisitions come closer than one orbit's revisit.

    Such a group mixes relative orbits (incidence angles, offsets of 1-2 dB):
    the per-orbit lags, rolling means, anomalies and normalisation, and the
    sequence model's per-orbit statistics, then compare acquisitions of
    different geometries. Composites (ten-day, monthly) are not warned.
    """
    close = total = 0
    for g in np.unique(groups):
        tg = t[groups == g].normalize()
        days = np.unique(((tg - tg[0]) / pd.Timedelta(days=1)).to_numpy(np.float64)) if tg.size else np.empty(0)  # any time unit
        gaps = np.diff(days)
        close += int((gaps < ONE_ORBIT_MIN_DAYS).sum())
        total += gaps.size
    if total >= 5 and close > total / 4:
        warn_user(f"orbit groups: the dates have no time of day and the cube has {why}: {close} of {total} consecutive "
                  f"acquisitions of a group are less than {ONE_ORBIT_MIN_DAYS:g} days apart, which one relative orbit never is, so "
                  "the groups mix relative orbits (other incidence angles) in the per-orbit lags, anomalies and normalisation "
                  "and in the sequence model's inputs. Keep the acquisition times, or give a relative_orbit coordinate (an openEO UDF, "
                  "whose 't' labels carry no orbit, can only be given one relative orbit: filter S1 to it when loading)")


def _refines(fine: np.ndarray, coarse: np.ndarray) -> bool:
    """Whether every group of ``fine`` lies within one group of ``coarse``."""
    return np.unique(np.stack([fine, coarse]), axis=1).shape[1] == len(np.unique(fine))


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


def revisit_days(days: np.ndarray, groups: np.ndarray) -> float | None:
    """Median days between consecutive acquisitions of one group (an orbit group, or all dates as one group).

    Parameters
    ----------
    days : numpy.ndarray
        Dates (days from any origin), sorted.
    groups : numpy.ndarray
        Group of each date (:func:`orbit_groups`; zeros for all as one).

    Returns
    -------
    float or None
        The median gap (days) over every group; None with fewer than two dates in any group.
    """
    d, g = np.asarray(days, dtype=np.float64), np.asarray(groups)
    gaps = np.concatenate([np.diff(d[g == k]) for k in np.unique(g)] or [np.empty(0)])
    gaps = gaps[gaps > 0]
    return float(np.median(gaps)) if gaps.size else None
