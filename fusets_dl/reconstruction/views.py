"""The clear S2 views no S1 date took (``align(..., unpaired_views=True)``), lined up with the cube's dates for the kernel.

A pairing cube holds one S2 view per S1 date. ``NDVI_unpaired`` keeps the
others on their own dates (``time_s2``). The reconstruction bins them like
the paired views: the kernel reads observations and predictions on one input
axis, here the union of the cube's dates and the views' dates, with no
prediction at a view's date (there is no S1 acquisition there).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from ..alignment.pairing import UNPAIRED, UNPAIRED_TIME

__all__ = ["cube_views", "on_union", "union_arrays"]


def cube_views(cube: xr.Dataset) -> xr.DataArray | None:
    """The cube's unpaired views within its own time span, on ``(time, y, x)``; None when it keeps none.

    Views before the first or after the last date of the cube are left out,
    so the output grid (and a ``freq`` grid) is the one without them: a cube
    cut in time keeps the views of its span only.

    Parameters
    ----------
    cube : xarray.Dataset
        A fusion cube, with ``NDVI_unpaired`` on ``(time_s2, y, x)`` or not.

    Returns
    -------
    xarray.DataArray or None
        The views with ``time_s2`` renamed ``time``, pixel coordinates only.
    """
    if UNPAIRED not in cube.data_vars:
        return None
    views = cube[UNPAIRED]
    if UNPAIRED_TIME not in views.dims:
        return None
    t = pd.DatetimeIndex(cube["time"].values)
    tv = pd.DatetimeIndex(views[UNPAIRED_TIME].values)
    keep = np.flatnonzero((tv >= t[0]) & (tv <= t[-1]) & ~tv.isin(t))  # a view on a cube date was paired there
    if keep.size == 0:
        return None
    views = views.isel({UNPAIRED_TIME: keep}).rename({UNPAIRED_TIME: "time"}).transpose("time", "y", "x")
    return views.drop_vars([c for c in views.coords if c not in ("time", "y", "x")])


def on_union(ndvi: xr.DataArray, pred: xr.DataArray | None, views: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray | None]:
    """Observations (paired and unpaired views) and predictions on the union of their dates, sorted.

    Parameters
    ----------
    ndvi, pred : xarray.DataArray
        The paired clear NDVI and the prediction (None: none) on the cube's
        ``time`` and its pixel dimensions.
    views : xarray.DataArray
        :func:`cube_views`: the unpaired views on their own ``time``.

    Returns
    -------
    (xarray.DataArray, xarray.DataArray)
        Both on the union of dates: the observations hold the paired NDVI at
        the cube's dates and the views at theirs; the prediction is NaN at
        the views' dates (None when not given).
    """
    union = pd.DatetimeIndex(np.union1d(ndvi["time"].values, views["time"].values))
    obs = ndvi.reindex(time=union)
    obs = obs.where(obs.notnull(), views.reindex(time=union))
    return obs, None if pred is None else pred.reindex(time=union)


def union_arrays(
    obs: np.ndarray, pred: np.ndarray, hidden: np.ndarray, days: np.ndarray, views: np.ndarray, view_days: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pixel-major arrays of the calibration on the union of the cube's and the views' dates, sorted.

    Parameters
    ----------
    obs, pred, hidden : numpy.ndarray
        ``(pixel, time)`` paired clear NDVI, prediction and the values hidden
        (and scored) on the cube's dates.
    days : numpy.ndarray
        ``(time,)`` the cube's dates in days.
    views : numpy.ndarray
        ``(pixel, view)`` the unpaired views, those in a spell already NaN:
        shown to the reconstruction, never scored.
    view_days : numpy.ndarray
        ``(view,)`` their dates, in the units and origin of ``days``.

    Returns
    -------
    (obs, pred, hidden, days)
        On the union: no prediction and nothing hidden at a view's date.
    """
    n = obs.shape[0]
    order = np.argsort(np.concatenate([days, view_days]), kind="stable")

    def cat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.concatenate([a, b], axis=1)[:, order]

    return (cat(obs, views), cat(pred, np.full((n, view_days.size), np.nan)),
            cat(hidden, np.zeros((n, view_days.size), dtype=bool)), np.concatenate([days, view_days])[order])
