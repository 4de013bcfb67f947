"""The ``optical`` group: optical context of every date and, optionally, the nearest cloudy NDVI."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from .._rng import hash_uniform
from .._series import take as _take
from .._series import valid_neighbours
from ..alignment.summary import SUMMARY_ATTR

if TYPE_CHECKING:
    from .inputs import FeatureInputs
    from .spec import FeatureSpec

__all__ = ["CLOUDY_FEATURES", "OPTICAL_FEATURES", "nearest_within", "optical_context", "optical_features", "optical_names",
           "pairing_tolerance", "same_view_windows"]

OPTICAL_FEATURES = ("NDVI_prev", "dt_prev", "NDVI_next", "dt_next", "NDVI_interp")
CLOUDY_FEATURES = ("NDVI_cloudy", "dt_cloudy")


def optical_names(spec: FeatureSpec) -> list[str]:
    """Names of the ``optical`` group's features, in column order.

    Parameters
    ----------
    spec : FeatureSpec
        The spec (``cloudy_input`` switch).

    Returns
    -------
    list of str
        :data:`OPTICAL_FEATURES`, then :data:`CLOUDY_FEATURES` when ``spec.cloudy_input``.
    """
    return list(OPTICAL_FEATURES) + (list(CLOUDY_FEATURES) if spec.cloudy_input else [])


def optical_features(inputs: FeatureInputs) -> xr.DataArray:
    """The ``optical`` group's features (time, y, x, feature), lazy on Dask input.

    Parameters
    ----------
    inputs : FeatureInputs
        The prepared inputs; the cube must have ``NDVI`` (clear NDVI, NaN
        where cloudy) and, for ``spec.cloudy_input``, may have ``NDVI_cloudy``
        (absent: NaN).

    Returns
    -------
    xarray.DataArray
        float32, one feature per name of :func:`optical_names`.
    """
    ndvi = _clear_ndvi(inputs)
    context = _context_features(inputs, ndvi)
    if not inputs.spec.cloudy_input:
        return context
    return xr.concat([context, _cloudy_features(inputs, ndvi)], dim="feature")


def _clear_ndvi(inputs: FeatureInputs) -> xr.DataArray:
    """The cube's clear NDVI on (time, y, x), chunked like the S1 series (one time chunk)."""
    ndvi = inputs.cube["NDVI"].transpose("time", "y", "x")
    chunks = inputs.spatial_chunks
    if chunks is not None:
        ndvi = ndvi.chunk({"time": -1, **chunks})
    return ndvi


def pairing_tolerance(cube: xr.Dataset) -> float | None:
    """The S1-S2 pairing tolerance (days) :func:`~fusets_dl.align` recorded in the cube's ``fusion_summary``, or None.

    Parameters
    ----------
    cube : xarray.Dataset
        A fusion cube.

    Returns
    -------
    float or None
        ``tolerance_days`` of a pairing cube; None when not recorded (a
        composite cube, or a cube not made by ``align``).
    """
    try:
        summary = json.loads(cube.attrs.get(SUMMARY_ATTR, "{}"))
    except (TypeError, ValueError):
        return None
    tol = summary.get("tolerance_days") if isinstance(summary, dict) else None
    return float(tol) if isinstance(tol, (int, float)) and not isinstance(tol, bool) and np.isfinite(tol) and tol >= 0 else None


def same_view_windows(offset: np.ndarray, exclude_before: np.ndarray | float, exclude_after: np.ndarray | float,
                      tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Exclusion windows widened so that no S1 date paired with a date's own S2 acquisition is its context.

    ``align`` pairs each S1 date with the nearest clear S2 acquisition
    within ``tolerance`` days, so the S2 view at ``t + offset`` is also the
    target of every S1 date within ``tolerance`` of it: from ``t + offset -
    tolerance`` to ``t + offset + tolerance``. The window before ``t`` is
    widened to ``tolerance - offset`` and the one after to ``tolerance +
    offset`` (where ``offset`` is NaN, nothing changes). On the Flanders
    cube (two orbits a day apart) 13.7 % of the clear targets had their own
    value as ``NDVI_prev`` or ``NDVI_next`` with the fixed ±3-day window.

    Parameters
    ----------
    offset : numpy.ndarray
        ``NDVI_offset`` (days, S2 minus S1) of each pixel-date (..., time).
    exclude_before, exclude_after : float or numpy.ndarray
        The windows before widening (broadcastable to ``offset``).
    tolerance : float
        The pairing tolerance of the cube (:func:`pairing_tolerance`).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        The windows before and after each pixel-date (days).
    """
    o = np.asarray(offset, dtype=np.float64)
    eb = np.broadcast_to(np.asarray(exclude_before, dtype=np.float64), o.shape)
    ea = np.broadcast_to(np.asarray(exclude_after, dtype=np.float64), o.shape)
    with np.errstate(invalid="ignore"):
        return (np.where(np.isfinite(o), np.fmax(eb, tolerance - o), eb), np.where(np.isfinite(o), np.fmax(ea, tolerance + o), ea))


def _context_features(inputs: FeatureInputs, ndvi: xr.DataArray) -> xr.DataArray:
    """:func:`optical_context` of ``ndvi``, with the training gaps of ``inputs.context_gaps``.

    On a pairing cube the windows are widened so that a date's own S2
    acquisition, paired with a neighbouring S1 date too, is never its
    context (:func:`same_view_windows`).
    """
    days, gaps = inputs.days, inputs.context_gaps
    ex = float(inputs.spec.context_exclude_days)
    tol = pairing_tolerance(inputs.cube)
    offset = inputs.cube["NDVI_offset"].transpose("time", "y", "x") if tol is not None and "NDVI_offset" in inputs.cube else None
    if offset is None:
        offset = xr.full_like(ndvi, np.nan)
        tol = 0.0
    elif ndvi.chunks is not None:
        offset = offset.chunk({"time": -1, "y": ndvi.chunks[1], "x": ndvi.chunks[2]})
    iy = xr.DataArray(np.arange(inputs.cube.sizes["y"]), dims="y")
    ix = xr.DataArray(np.arange(inputs.cube.sizes["x"]), dims="x")
    if "sample_iy" in inputs.cube.coords:  # pixels gathered by the training sampler: their scene indices
        iy, ix = inputs.cube["sample_iy"].drop_vars(["y", "x"]), inputs.cube["sample_ix"].drop_vars(["y", "x"])
    if ndvi.chunks is not None:
        iy = iy.chunk({d: ndvi.chunks[1 + ("y", "x").index(d)] for d in iy.dims})
        ix = ix.chunk({d: ndvi.chunks[1 + ("y", "x").index(d)] for d in ix.dims})

    def _kernel(v: np.ndarray, off: np.ndarray, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        # v: (y, x, time) after apply_ufunc moves the core dim last
        eb, ea = _exclusion_windows(gaps, ex, v.shape[-1], yy, xx)
        eb, ea = same_view_windows(off, eb, ea, tol)
        return optical_context(v, days, eb, ea)

    return xr.apply_ufunc(
        _kernel,
        ndvi,
        offset,
        iy,
        ix,
        input_core_dims=[["time"], ["time"], [], []],
        output_core_dims=[["time", "feature"]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"feature": len(OPTICAL_FEATURES)}},
    ).transpose("time", "y", "x", "feature")


def _exclusion_windows(
    context_gaps: tuple[int, float] | None, ex: float, nt: int, yy: np.ndarray, xx: np.ndarray
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Days excluded before and after each pixel-date: ``ex``, or a simulated cloudy spell of at least ``ex``.

    The spell's length is uniform in ``[0, max_days]`` and its share before the
    date uniform in ``[0, 1]``, both a counter-based hash of (seed, date, pixel).
    """
    if context_gaps is None:
        return ex, ex
    seed, max_days = context_gaps
    tt = np.arange(nt)[None, None, :]
    length = hash_uniform(int(seed), 21, tt, yy[..., None], xx[..., None]) * float(max_days)
    share = hash_uniform(int(seed), 22, tt, yy[..., None], xx[..., None])
    return np.maximum(length * share, ex), np.maximum(length * (1.0 - share), ex)


def _cloudy_features(inputs: FeatureInputs, ndvi: xr.DataArray) -> xr.DataArray:
    """:func:`nearest_within` of the cube's ``NDVI_cloudy`` (NaN when absent), chunked like ``ndvi``."""
    cube, days = inputs.cube, inputs.days
    if "NDVI_cloudy" in cube.data_vars:
        cl = cube["NDVI_cloudy"].transpose("time", "y", "x")
        if ndvi.chunks is not None:
            cl = cl.chunk({"time": -1, "y": ndvi.chunks[1], "x": ndvi.chunks[2]})
    else:
        cl = xr.full_like(ndvi, np.nan)
    win = float(inputs.spec.cloudy_window_days)
    return xr.apply_ufunc(
        lambda v: nearest_within(v, days, win),
        cl,
        input_core_dims=[["time"]],
        output_core_dims=[["time", "feature"]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"feature": len(CLOUDY_FEATURES)}},
    ).transpose("time", "y", "x", "feature")


def optical_context(
    ndvi: np.ndarray,
    days: np.ndarray,
    exclude_before: np.ndarray | float = 3.0,
    exclude_after: np.ndarray | float = 3.0,
) -> np.ndarray:
    """Optical context of every date: the nearest clear NDVI before and after, outside an exclusion window.

    Parameters
    ----------
    ndvi : numpy.ndarray
        Clear NDVI (..., time), NaN where cloudy or missing.
    days : numpy.ndarray
        (time,) days since an origin, sorted.
    exclude_before, exclude_after : float or numpy.ndarray
        Days before and after each date whose observations are not context
        (broadcastable to ``ndvi``); the date's own observation is always
        excluded. Training draws them at random to simulate cloudy spells.

    Returns
    -------
    numpy.ndarray
        float32 (..., time, 5): ``NDVI_prev``, ``dt_prev``, ``NDVI_next``,
        ``dt_next``, ``NDVI_interp``; NaN where there is no such observation.
    """
    v = np.asarray(ndvi, dtype=np.float64)
    nt = v.shape[-1]
    days = np.asarray(days, dtype=np.float64)
    eb = np.broadcast_to(np.maximum(np.asarray(exclude_before, dtype=np.float64), 0.0), v.shape)
    ea = np.broadcast_to(np.maximum(np.asarray(exclude_after, dtype=np.float64), 0.0), v.shape)
    # strictly before t - eb, strictly after t + ea (so the date itself is never its own context)
    pj, nk = valid_neighbours(np.isfinite(v), days, days - eb, days + ea, strict=True)
    vp = _take(v, pj)
    vn = _take(v, nk)
    dp = np.where(pj >= 0, days - days[np.clip(pj, 0, nt - 1)], np.nan)
    dn = np.where(nk < nt, days[np.clip(nk, 0, nt - 1)] - days, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        interp = vp + (vn - vp) * dp / (dp + dn)
    interp = np.where(np.isfinite(interp), interp, np.where(np.isfinite(vp), vp, vn))
    return np.stack([vp, dp, vn, dn, interp], axis=-1).astype(np.float32)


def nearest_within(values: np.ndarray, days: np.ndarray, window: float) -> np.ndarray:
    """The nearest non-NaN value within ``window`` days of each date (the date itself included) and its distance.

    Parameters
    ----------
    values : numpy.ndarray
        Values (..., time), NaN where absent.
    days : numpy.ndarray
        (time,) days since an origin, sorted.
    window : float
        Largest distance in days.

    Returns
    -------
    numpy.ndarray
        float32 (..., time, 2): value and absolute days; NaN where none.
        Ties go to the earlier date.
    """
    v = np.asarray(values, dtype=np.float64)
    nt = v.shape[-1]
    prev_incl, next_incl = valid_neighbours(np.isfinite(v), days, days, days, strict=False)
    dp = np.where(prev_incl >= 0, days - days[np.clip(prev_incl, 0, nt - 1)], np.inf)
    dn = np.where(next_incl < nt, days[np.clip(next_incl, 0, nt - 1)] - days, np.inf)
    use_prev = dp <= dn
    best = np.where(use_prev, prev_incl, next_incl)
    dist = np.where(use_prev, dp, dn)
    val = _take(v, np.where(dist <= window, best, -1))
    return np.stack([val, np.where(dist <= window, dist, np.nan)], axis=-1).astype(np.float32)
