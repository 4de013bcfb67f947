"""Relative-orbit groups of a cube's acquisitions, from their time of day."""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["orbit_groups"]


def orbit_groups(cube: xr.Dataset, *, gap_minutes: float = 3.0) -> np.ndarray:
    """Integer relative-orbit group of each acquisition, from its time of day.

    A relative orbit passes over a site at the same UTC time (within
    seconds), different relative orbits minutes (same pass direction) or
    about twelve hours (ascending/descending) apart. Sorted times of day
    separated by more than ``gap_minutes`` start a new group. Only the time
    index is read, so grouping never computes Dask data and is the same
    chunked or not.

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
    """
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
