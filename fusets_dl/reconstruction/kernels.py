"""NumPy kernels of the reconstruction: bin onto the output grid, smooth or fill, flag the source.

They work on blocks of pixels (time on the last axis) and are applied by
:func:`fusets_dl.reconstruction.reconstruct` through ``xarray.apply_ufunc``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .._series import nearest_cells, valid_neighbours
from ..smoothing import GROWTH_PER_DAY, fill_interpolated, whittaker
from .uncertainty import lookup_std

__all__ = ["BATCH", "MEAN_ABS_TO_SD", "SOURCE_FLAGS", "STD_GROWTH_CAP_DAYS", "STD_GROWTH_DAYS", "STD_GROWTH_REF_DAYS", "debias_prediction", "follow_prediction",
           "interpolate_views", "obs_distance", "observed_std", "prediction_curve", "prediction_skill", "reconstruct_block", "reconstruct_pixels", "residual_spread", "std_growth"]

#: Values and meanings of the ``source`` flag (the CF table's ``reconstruct.source`` lists the same).
SOURCE_FLAGS: dict[str, int] = {"observed": 0, "predicted": 1, "interpolated": 2, "missing": 3}

#: Pixels per kernel pass: bounds the (pixels x grid) temporaries.
BATCH = 4096
_OBSERVED, _PREDICTED, _INTERPOLATED, _MISSING = (SOURCE_FLAGS[k] for k in ("observed", "predicted", "interpolated", "missing"))

#: Growth of the std of a filled value with the distance to the nearest clear view (:func:`std_growth`):
#: the error variance grows by its value at the clear view every this many days. On hidden 60-day spells of
#: patch A (the model's own blocks) the Gaussian likelihood was best at 20-40 days, on another WorldCereal
#: patch the model was not trained on at 10-20: docs/reconstruction.md.
STD_GROWTH_DAYS = 20.0
#: The distance at which :func:`std_growth` is 1: a filled value this far from a clear view keeps its std
#: (about the median distance of a value inside a 60-day spell).
STD_GROWTH_REF_DAYS = 20.0
#: Distances beyond this count as this: the error of a value filled far from every view does not grow without
#: bound. A pixel without any clear view keeps its std (factor 1): its values are the prediction alone, whose
#: error is what the model's test RMSE measures.
STD_GROWTH_CAP_DAYS = 90.0


def _bin_to_grid(
    obs: np.ndarray, pred: np.ndarray, pred_std: np.ndarray, in_days: np.ndarray, grid_days: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Sums and counts of observations and predictions per grid cell (nearest cell).

    A prediction counts only at an input date without an observation.
    Returns ``o_sum, o_n, p_sum, p_n, p_var`` of shape ``(..., grid)``.
    """
    lead = obs.shape[:-1]
    ng = grid_days.size
    cell, inside = nearest_cells(in_days, grid_days)
    o_sum, o_n, p_sum, p_n, p_var = (np.zeros((*lead, ng)) for _ in range(5))
    for i in np.flatnonzero(inside):
        g = cell[i]
        oi = obs[..., i]
        pi = pred[..., i]
        ook = np.isfinite(oi)
        pok = np.isfinite(pi) & ~ook  # a prediction only where no observation exists
        o_sum[..., g] += np.where(ook, oi, 0.0)
        o_n[..., g] += ook
        p_sum[..., g] += np.where(pok, pi, 0.0)
        p_n[..., g] += pok
        p_var[..., g] += np.where(pok, pred_std[..., i] ** 2, 0.0)
    return o_sum, o_n, p_sum, p_n, p_var


def _smooth(
    val: np.ndarray,
    std: np.ndarray,
    grid_days: np.ndarray,
    *,
    has_o: np.ndarray,
    has_p: np.ndarray,
    o_n: np.ndarray,
    p_n: np.ndarray,
    p_sd: np.ndarray,
    obs_std: float,
    w_obs: float,
    w_pred: float | None,
    lam: float,
    values_only: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted Whittaker smoothing of the binned values; std of their source, filled in gaps (NaN with ``values_only``)."""
    step = float(grid_days[1] - grid_days[0]) if grid_days.size > 1 else 1.0  # regular whenever smoothing
    if w_pred is None:
        wp = (obs_std / np.maximum(p_sd, 1e-6)) ** 2 * w_obs
    else:
        wp = np.full(p_sd.shape, w_pred)
    w = np.where(has_o, w_obs * o_n, np.where(has_p, wp * p_n, 0.0))
    val_out = whittaker(val, w, lam / step**3)
    # a series with a single weighted cell (one clear view and no prediction): the smoother is singular there and
    # returns NaN; the value of that cell, held beyond it by _hold_edges, is what the data say
    single = ((w > 0).sum(axis=-1) == 1)[..., None] & (w > 0)
    val_out = np.where(single, val, val_out)
    if values_only:  # the calibration scores values only: the std's interpolation is most of a smoothing's cost
        std_out = np.full_like(val_out, np.nan)
    else:
        std = np.where(has_o, observed_std(val_out, val, has_o, obs_std), std)
        _, filled_std = fill_interpolated(val, std, grid_days)
        std_out = np.where(np.isfinite(std), std, filled_std)
    val_out, std_out = _hold_edges(val_out, std_out, w > 0, grid_days)
    return val_out, np.where(np.isfinite(val_out), std_out, np.nan)


#: Standard deviation of a normal sample from its mean absolute value (sqrt(pi / 2)).
MEAN_ABS_TO_SD = 1.2533


def observed_std(smoothed: np.ndarray, observed: np.ndarray, has_o: np.ndarray, obs_std: float) -> np.ndarray:
    """The std of a smoothed value at an observed cell: the observation's, and how far the smoother strays from the pixel's views.

    ``sqrt(obs_std**2 + s**2)``, ``s`` the pixel's spread of smoothed minus
    observed (1.2533 x the mean absolute difference over its observed
    cells: a median's sort cost the reconstruction 10 %). A heavy smoothing (lambda 1000 on Slovak grassland)
    sat up to 0.38 from an observation while the cell was labelled
    ``observed`` with the observation's 0.03: 52-57 % of the observations
    within 1 std.

    Parameters
    ----------
    smoothed, observed : numpy.ndarray
        ``(..., grid)`` the smoothed series and the binned observations (NaN elsewhere).
    has_o : numpy.ndarray
        ``(..., grid)`` boolean, where a cell holds an observation.
    obs_std : float
        The observations' own std.

    Returns
    -------
    numpy.ndarray
        ``(..., 1)`` the std of each pixel's observed cells.
    """
    d = np.where(has_o, np.abs(smoothed - observed), 0.0)
    n = has_o.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.where(n > 0, MEAN_ABS_TO_SD * d.sum(axis=-1, keepdims=True) / n, 0.0)  # no sort: the kernel's hot path
    return np.sqrt(float(obs_std) ** 2 + np.nan_to_num(spread) ** 2)


def _hold_edges(val: np.ndarray, std: np.ndarray, weighted: np.ndarray, grid_days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Before the first and after the last weighted cell: the edge value held, its std growing with the distance.

    A second-difference smoother extrapolates the slope of the data beyond
    them (an overshoot at the start of a series, where the first S1 dates
    have no lagged prediction and the first clear view may come weeks
    later); holding the edge value is bounded and says it is not data.
    """
    n = val.shape[-1]
    if n == 0:
        return val, std
    first = np.argmax(weighted, axis=-1)
    last = n - 1 - np.argmax(weighted[..., ::-1], axis=-1)
    any_w = weighted.any(axis=-1)
    idx = np.arange(n)
    before = idx < first[..., None]
    after = idx > last[..., None]
    edge = np.where(before, first[..., None], np.where(after, last[..., None], idx))
    v_edge = np.take_along_axis(val, edge, -1)
    s_edge = np.take_along_axis(std, edge, -1)
    dist = np.abs(grid_days - grid_days[edge])
    outside = (before | after) & any_w[..., None]
    return np.where(outside, v_edge, val), np.where(outside, s_edge + GROWTH_PER_DAY * dist, std)


def interpolate_views(obs: np.ndarray, obs_std: float, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The clear views alone: linear interpolation between them, the edge views held beyond the first and last.

    The S2-only setting's fill (``w_pred`` 0 without smoothing) on the
    dates themselves, for a model whose prediction is left out.

    Parameters
    ----------
    obs : numpy.ndarray
        ``(..., time)`` clear NDVI, NaN where absent.
    obs_std : float
        Std of a clear view; it grows by ``GROWTH_PER_DAY`` a day away from
        the nearer view.
    days : numpy.ndarray
        ``(time,)`` day of each date (increasing).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Values and std, float64; NaN in a series without any view.
    """
    o = np.asarray(obs, dtype=np.float64)
    seen = np.isfinite(o)
    val, std = fill_interpolated(o, np.where(seen, float(obs_std), np.nan), days)
    return _hold_edges(val, std, seen, np.asarray(days, dtype=np.float64))


def obs_distance(has_o: np.ndarray, grid_days: np.ndarray) -> np.ndarray:
    """Days from each grid cell to the nearest cell with an observation (inf where a series has none).

    Parameters
    ----------
    has_o : numpy.ndarray
        Boolean ``(..., grid)``: the cells holding a clear observation.
    grid_days : numpy.ndarray
        Day of each grid cell (1-D, increasing).

    Returns
    -------
    numpy.ndarray
        float64 ``(..., grid)``; 0 at observed cells.
    """
    n = grid_days.size
    prev, nxt = valid_neighbours(has_o, grid_days, grid_days, grid_days, strict=False)
    d_prev = np.where(prev >= 0, grid_days - grid_days[np.clip(prev, 0, n - 1)], np.inf)
    d_next = np.where(nxt < n, grid_days[np.clip(nxt, 0, n - 1)] - grid_days, np.inf)
    return np.minimum(d_prev, d_next)


def std_growth(dist: np.ndarray, growth_days: float) -> np.ndarray:
    """The factor on the std of a filled value at ``dist`` days from the nearest clear view.

    ``sqrt((1 + d / growth_days) / (1 + STD_GROWTH_REF_DAYS / growth_days))``
    with ``d = min(dist, STD_GROWTH_CAP_DAYS)``: the error variance grows
    linearly with the distance (the residual correction and the smoother pin
    a filled value to the views around it, less so further away), 1 at
    :data:`STD_GROWTH_REF_DAYS`. On hidden spells the error of a filled value
    grew from about 0.07 NDVI next to a view to 0.13 beyond 45 days while a
    flat std covered 83 % and 52 % of them within 1 std (patch A, its own
    model; docs/reconstruction.md).

    Parameters
    ----------
    dist : numpy.ndarray
        Days to the nearest clear view (inf or NaN where a series has none:
        factor 1, the prediction's own std).
    growth_days : float
        Days over which the error variance grows by its value at a view (> 0).

    Returns
    -------
    numpy.ndarray
        float64, same shape.
    """
    dist = np.asarray(dist, dtype=np.float64)
    d = np.minimum(np.where(np.isfinite(dist), dist, STD_GROWTH_REF_DAYS), STD_GROWTH_CAP_DAYS)
    return np.sqrt((1.0 + d / growth_days) / (1.0 + STD_GROWTH_REF_DAYS / growth_days))


def prediction_curve(pred: np.ndarray, in_days: np.ndarray, grid_days: np.ndarray) -> np.ndarray:
    """Every prediction (observed dates included) binned onto the grid and interpolated linearly between them.

    Parameters
    ----------
    pred : numpy.ndarray
        ``(..., time_in)`` predicted NDVI, NaN where absent.
    in_days, grid_days : numpy.ndarray
        Days of the input dates and of the grid cells.

    Returns
    -------
    numpy.ndarray
        ``(..., grid)`` float64; NaN before the first and after the last prediction.
    """
    cell, inside = nearest_cells(in_days, grid_days)
    p_sum = np.zeros((*pred.shape[:-1], grid_days.size))
    p_n = np.zeros_like(p_sum)
    for i in np.flatnonzero(inside):
        ok = np.isfinite(pred[..., i])
        p_sum[..., cell[i]] += np.where(ok, pred[..., i], 0.0)
        p_n[..., cell[i]] += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        val = np.where(p_n > 0, p_sum / p_n, np.nan)
    return fill_interpolated(val, np.zeros_like(val), grid_days)[0]


def follow_prediction(val: np.ndarray, curve: np.ndarray, dist: np.ndarray, gap_days: float) -> np.ndarray:
    """The guard of long gaps: the reconstruction hands over to the S1 prediction away from observations.

    The weight of the prediction grows linearly with the distance to the
    nearest observation, from 0 at an observed cell to 1 at ``gap_days``
    (``gap_days`` 0: the prediction at every cell without an observation), so
    the smoother only bridges near observations and a long gap follows the
    prediction it contains instead of a curve flattened by the smoother.

    Parameters
    ----------
    val : numpy.ndarray
        ``(..., grid)`` smoothed (or interpolated) values.
    curve : numpy.ndarray
        ``(..., grid)`` prediction curve (:func:`prediction_curve`); NaN cells keep ``val``.
    dist : numpy.ndarray
        ``(..., grid)`` days to the nearest observation (:func:`obs_distance`).
    gap_days : float
        Distance from which the prediction alone is used, days (>= 0).

    Returns
    -------
    numpy.ndarray
        ``(..., grid)`` float64.
    """
    if gap_days <= 0:
        alpha = (dist > 0).astype(np.float64)
    else:
        alpha = np.clip(dist / gap_days, 0.0, 1.0)
    use = np.isfinite(curve) & (alpha > 0)
    blended = np.where(np.isfinite(val), (1.0 - alpha) * val + alpha * curve, curve)
    return np.where(use, blended, val)


def residual_spread(obs: np.ndarray, pred: np.ndarray, min_dates: int = 3) -> np.ndarray:
    """Per pixel, the spread of the prediction's residuals at the clear dates about their median.

    ``sqrt(mean((r - median(r))**2))`` with ``r = obs - pred`` at the dates
    where both are finite: the error a level correction
    (:func:`debias_prediction`) leaves, in the pixel's own clear views.

    Parameters
    ----------
    obs, pred : numpy.ndarray
        ``(..., time)`` clear and predicted NDVI, NaN where absent.
    min_dates : int
        Fewest clear dates for a spread; fewer give 0 (no information).

    Returns
    -------
    numpy.ndarray
        ``(...)`` float64, 0 where the pixel has fewer than ``min_dates``.
    """
    resid = np.asarray(obs, dtype=np.float64) - np.asarray(pred, dtype=np.float64)
    ok = np.isfinite(resid)
    n = ok.sum(axis=-1)
    out = np.zeros(resid.shape[:-1])
    enough = n >= min_dates
    if enough.any():
        r = np.where(ok, resid, np.nan)[enough]
        out[enough] = np.sqrt(np.nanmean((r - np.nanmedian(r, axis=-1, keepdims=True)) ** 2, axis=-1))
    return out


def prediction_skill(obs: np.ndarray, pred: np.ndarray, min_dates: int = 5) -> tuple[float, int]:
    """How much of the pixels' clear-view variance the prediction explains once each pixel's level is corrected.

    ``1 - sum(n_i * spread_i**2) / sum(n_i * var_i)`` over the pixels with at
    least ``min_dates`` dates where both are finite: ``spread_i`` is the
    spread of the residuals about their median (:func:`residual_spread`,
    what :func:`debias_prediction` cannot remove), ``var_i`` the variance of
    the clear views on those dates, ``n_i`` their number. 1: the corrected
    prediction follows every view; 0 or less: it tells no more about the
    views than their own mean does.

    Parameters
    ----------
    obs, pred : numpy.ndarray
        ``(pixel, time)`` clear and predicted NDVI, NaN where absent.
    min_dates : int
        Fewest dates with both for a pixel to count.

    Returns
    -------
    (float, int)
        The skill (NaN when no pixel counts, or the views do not vary) and
        the number of pixels that counted.
    """
    o = np.asarray(obs, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    both = np.isfinite(o) & np.isfinite(p)
    n = both.sum(axis=-1)
    keep = n >= min_dates
    if not keep.any():
        return float("nan"), 0
    o_k = np.where(both, o, np.nan)[keep]
    spread = residual_spread(o_k, p[keep], min_dates=min_dates)
    var = np.nanvar(o_k, axis=-1)
    w = n[keep].astype(np.float64)
    total = float(np.sum(w * var))
    skill = 1.0 - float(np.sum(w * spread**2)) / total if total > 0 else float("nan")
    return skill, int(keep.sum())


def debias_prediction(obs: np.ndarray, pred: np.ndarray, days: np.ndarray, debias_days: float) -> np.ndarray:
    """The S1 prediction corrected by its residuals at the pixel's clear observations.

    A model that is right about the shape of a series may be off in level at
    a place or season it never saw. Each pixel's residuals ``obs - pred`` at
    its clear dates tell by how much: near an observation the prediction is
    shifted by the residual interpolated linearly between the neighbouring
    observations (the edge residual held beyond the first and last); away from
    them the shift relaxes to the pixel's median residual, with weight
    ``exp(-d / debias_days)`` on the local one at ``d`` days from the nearest
    observation. At a clear date the result is the observation itself. A pixel
    without any clear observation keeps its prediction.

    Parameters
    ----------
    obs, pred : numpy.ndarray
        ``(..., time)`` clear and predicted NDVI, NaN where absent.
    days : numpy.ndarray
        ``(time,)`` day of each date.
    debias_days : float
        Relaxation distance of the local residual, days (> 0).

    Returns
    -------
    numpy.ndarray
        ``(..., time)`` float64, NaN where the prediction is.
    """
    pred = np.asarray(pred, dtype=np.float64)
    resid = np.asarray(obs, dtype=np.float64) - pred
    ok = np.isfinite(resid)
    local, _ = fill_interpolated(np.where(ok, resid, np.nan), np.zeros_like(resid), days)
    local, _ = _hold_edges(local, np.zeros_like(local), ok, days)
    seen = ok.any(axis=-1)
    median = np.zeros((*resid.shape[:-1], 1))
    median[seen] = np.nanmedian(np.where(ok, resid, np.nan)[seen], axis=-1, keepdims=True)  # rows with a clear date only
    a = np.exp(-obs_distance(ok, days) / float(debias_days))
    shift = np.where(seen[..., None], a * local + (1.0 - a) * median, 0.0)
    return pred + shift


def _observations_only(
    val: np.ndarray, std: np.ndarray, source: np.ndarray, has_o: np.ndarray, has_p: np.ndarray, grid_days: np.ndarray, *,
    o_n: np.ndarray, obs_std: float, w_obs: float, lam: float | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``w_pred`` 0: the clear observations alone (smoothed or interpolated, edges held); the prediction only for a pixel without any."""
    v_o = np.where(has_o, val, np.nan)
    s_o = np.where(has_o, std, np.nan)
    none = np.zeros_like(has_o)
    if lam is not None:
        v_out, s_out = _smooth(v_o, s_o, grid_days, has_o=has_o, has_p=none, o_n=o_n, p_n=np.zeros_like(o_n),
                               p_sd=np.ones_like(v_o), obs_std=obs_std, w_obs=w_obs, w_pred=0.0, lam=lam)
    else:
        v_out, s_out = _hold_edges(*fill_interpolated(v_o, s_o, grid_days), has_o, grid_days)
    blind = ~has_o.any(axis=-1, keepdims=True)  # no clear view at all: the prediction, as the default would give
    p_out, ps_out = fill_interpolated(val, std, grid_days)
    v_out = np.where(blind, p_out, v_out)
    s_out = np.where(blind, ps_out, s_out)
    source = np.where(has_p & ~blind, _MISSING, source)  # a prediction cell now holds an interpolated value
    return v_out, s_out, source


def reconstruct_pixels(
    obs: np.ndarray,
    pred: np.ndarray,
    *,
    in_days: np.ndarray,
    grid_days: np.ndarray,
    out_idx: np.ndarray,
    obs_std: float,
    w_obs: float,
    w_pred: float | None,
    edges: np.ndarray,
    table: np.ndarray,
    lam: float | None,
    pred_gap_days: float | None = None,
    debias_days: float | None = None,
    std_growth_days: float | None = None,
    spread_floor: float = 1.0,
    values_only: bool = False,
) -> np.ndarray:
    """Reconstructed NDVI, its std and its source for a block of pixels.

    Parameters
    ----------
    obs, pred : numpy.ndarray
        Clear observed and predicted NDVI, ``(..., time_in)``, NaN where absent.
    in_days : numpy.ndarray
        Day of each input date from the origin.
    grid_days : numpy.ndarray
        Days of the working grid (regular when ``lam`` is given).
    out_idx : numpy.ndarray
        Grid cells returned, in output order.
    obs_std : float
        Std of a clear observation.
    w_obs, w_pred : float
        Smoother weights of an observation and of a prediction (``w_pred``
        None: inverse variances, ``(obs_std / pred std)**2 * w_obs``).
        ``w_pred`` 0: the prediction is ignored (S2 only: the observations
        smoothed, or linearly interpolated with ``lam`` None, the edge values
        held beyond the first and last); a pixel without any clear
        observation still gets its prediction.
    edges, table : numpy.ndarray
        Prediction std by predicted-NDVI range (:func:`pred_std_table`).
    lam : float or None
        Whittaker lambda on a 1-day grid; None: linear interpolation of gaps only.
    pred_gap_days : float, optional
        The long-gap guard (:func:`follow_prediction`): at this distance (days)
        from the nearest observation and beyond, the S1 prediction alone;
        None (default): the smoothed curve everywhere.
    debias_days : float, optional
        Correct the prediction by its residuals at the clear observations
        first (:func:`debias_prediction`); None (default): as predicted. The
        output std of the corrected prediction is then at least the spread of
        the pixel's residuals (:func:`residual_spread`): what a level shift
        cannot remove, measured where the model is used, so that a model
        weaker here than on its own test blocks says so (the smoother's
        weights keep the model's std).
    std_growth_days : float, optional
        Multiply the std of every value that is not an observation by
        :func:`std_growth` of its distance to the nearest clear view (not in
        the S2-only setting, ``w_pred`` 0, whose interpolated std already
        grows with it). An interpolated value (no S1 prediction either, e.g.
        a gap in the S1 series) keeps its additive growth with the distance
        to the nearest data as well. None (default): as it is.
    spread_floor : float
        With ``debias_days``: the std of a corrected prediction is at least
        this fraction of the residual spread (default 1: the whole spread).
    values_only : bool
        Skip the std of smoothed values (NaN there; the NDVI is the same):
        for scoring many settings on their values
        (:func:`~fusets_dl.reconstruction.calibrate.score_settings`).

    Returns
    -------
    numpy.ndarray
        ``(..., time_out, 3)`` float32: NDVI, std, source flag (as float,
        NaN never: 3 where missing).
    """
    spread = None
    if debias_days is not None:
        spread = residual_spread(obs, pred)[..., None]
        pred = debias_prediction(obs, pred, in_days, debias_days)
    o_sum, o_n, p_sum, p_n, p_var = _bin_to_grid(
        obs, pred, lookup_std(np.nan_to_num(pred, nan=0.0), edges, table), in_days, grid_days
    )
    has_o = o_n > 0
    has_p = (p_n > 0) & ~has_o
    with np.errstate(invalid="ignore", divide="ignore"):
        o_val = o_sum / o_n
        p_val = p_sum / p_n
        p_sd = np.sqrt(p_var / np.maximum(p_n, 1))
    val = np.where(has_o, o_val, np.where(has_p, p_val, np.nan))
    # the weights keep the model's std; the output std of a corrected prediction is at least the residual spread
    std = np.where(has_o, obs_std, np.where(has_p, p_sd if spread is None else np.maximum(p_sd, spread_floor * spread), np.nan))
    source = np.where(has_o, _OBSERVED, np.where(has_p, _PREDICTED, _MISSING)).astype(np.float64)
    if w_pred is not None and w_pred == 0:
        val_out, std_out, source = _observations_only(val, std, source, has_o, has_p, grid_days, o_n=o_n, obs_std=obs_std, w_obs=w_obs, lam=lam)
    elif lam is not None:
        val_out, std_out = _smooth(
            val, std, grid_days, has_o=has_o, has_p=has_p, o_n=o_n, p_n=p_n, p_sd=p_sd,
            obs_std=obs_std, w_obs=w_obs, w_pred=w_pred, lam=lam, values_only=values_only,
        )
    else:
        val_out, std_out = fill_interpolated(val, std, grid_days)
    fused = not (w_pred is not None and w_pred == 0)  # the S2-only setting neither follows the prediction nor grows the std
    dist = obs_distance(has_o, grid_days) if fused and (pred_gap_days is not None or std_growth_days is not None) else None
    if pred_gap_days is not None and dist is not None:
        val_out = follow_prediction(val_out, prediction_curve(pred, in_days, grid_days), dist, pred_gap_days)
    source = np.where((source == _MISSING) & np.isfinite(val_out), _INTERPOLATED, source)
    if std_growth_days is not None and dist is not None:
        std_out = np.where(has_o, std_out, std_out * std_growth(dist, std_growth_days))
    out = np.stack([val_out[..., out_idx], std_out[..., out_idx], source[..., out_idx]], axis=-1)
    # smoothing, and without it the residual correction of the prediction, can leave [-1, 1]; clear views never do
    out[..., 0] = np.clip(out[..., 0], -1.0, 1.0)
    return out.astype(np.float32)


def reconstruct_block(obs: np.ndarray, pred: np.ndarray, **kw: Any) -> np.ndarray:
    """Run :func:`reconstruct_pixels` over batches of ``BATCH`` pixels (bounded memory).

    Parameters
    ----------
    obs, pred : numpy.ndarray
        ``(..., time_in)`` observed and predicted NDVI of one Dask block.
    **kw
        The keyword arguments of :func:`reconstruct_pixels`.

    Returns
    -------
    numpy.ndarray
        ``(..., time_out, 3)`` float32, as :func:`reconstruct_pixels`.
    """
    lead = obs.shape[:-1]
    o = obs.reshape(-1, obs.shape[-1])
    p = pred.reshape(-1, pred.shape[-1])
    parts = [reconstruct_pixels(o[i : i + BATCH], p[i : i + BATCH], **kw) for i in range(0, max(o.shape[0], 1), BATCH)]
    out = np.concatenate(parts, axis=0) if parts else np.empty((0, len(kw["out_idx"]), 3), np.float32)
    return out.reshape(*lead, *out.shape[1:])


def freq_grid(t: pd.DatetimeIndex, freq: str | pd.DateOffset) -> pd.DatetimeIndex:
    """The regular output dates at ``freq`` from the first day of ``t``, reaching its last date.

    The grid starts at midnight of the first date. When the last date lies
    beyond the half step that the last grid date covers, one more step is
    added, so every date of the cube falls in a grid cell: cut at the last
    date, a clear view up to a step after the grid's end was dropped.

    Parameters
    ----------
    t : pandas.DatetimeIndex
        The cube's dates, sorted.
    freq : str or pandas.DateOffset
        A fixed step of whole days (checked by the caller).

    Returns
    -------
    pandas.DatetimeIndex
        The grid, ending on or before the last date, or (one step more)
        less than a step after it.
    """
    origin = t[0].floor("D")
    out = pd.date_range(origin, t[-1], freq=freq)
    grid = ((out - origin) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
    last = np.array([(t[-1] - origin) / pd.Timedelta(days=1)])
    if out.size > 1 and not nearest_cells(last, grid)[1][0]:
        out = pd.date_range(origin, periods=out.size + 1, freq=freq)
    return out

