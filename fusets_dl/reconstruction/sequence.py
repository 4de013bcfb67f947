"""Reconstruction with a :class:`~fusets_dl.models.SequenceModel`: clear observations kept, the rest filled.

At every cube date: the clear NDVI where observed (std ``obs_std``, source
``observed``), otherwise the model's mean and std (source ``predicted``),
``missing`` where the pixel has no radar. ``smooth=True`` adds a weighted
Whittaker pass (weights ``(obs_std / std)**2`` on a daily grid). With
``freq`` the result is linearly interpolated onto a regular grid (mean and
std, between each series' finite values), flagged ``interpolated`` between
cube dates; a grid day on a cube date keeps that date's value and flag.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._warn import warn_user
from ..cf import CONVENTIONS, apply_cf, cube_site, pixel_coords
from ..errors import ConfigError, InsufficientDataError, ModelError
from ..evaluation.gaps import hide_gaps, s2_view_days
from ..inference.sequence import predict_sequence
from ..models.sequence_model import cube_span, fit_std_scale
from ..readers.cube import check_cube_values
from ..smoothing import whittaker
from ..validate import check_cube, freq_days, is_finite_positive
from .kernels import SOURCE_FLAGS, freq_grid, interpolate_views, observed_std
from .predicted import check_prediction_grid, check_prediction_model
from .sequence_decision import SequenceDecision
from .transfer import FOREIGN_CUBE_WARNING, SKILL_FLOOR, TransferSkill, skill_window, transfer_skill

__all__ = ["STD_REFIT_MAX_PIXELS", "reconstruct_sequence"]

#: Most pixels (the centre of the skill window) on whose held-out spells the std factor is refitted on a cube the
#: model's std was not fitted on (3 spells of 60 days per pixel, a seed of its own).
STD_REFIT_MAX_PIXELS = 1024
_REFIT_SEED = 104729

_OBS, _PRED, _INTERP, _MISSING = (SOURCE_FLAGS[k] for k in ("observed", "predicted", "interpolated", "missing"))


def _interp(v: np.ndarray, in_days: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Linear interpolation along the last axis from ``in_days`` to ``grid`` between each series' finite values.

    A grid day between two finite values (however many missing dates lie
    between them) is interpolated; before the first or after the last finite
    value of its series it is NaN, except that a grid day outside the cube's
    dates holds the first (last) date's value.
    """
    n = in_days.size
    idx = np.arange(n)
    fin = np.isfinite(v)
    prev = np.maximum.accumulate(np.where(fin, idx, -1), axis=-1)  # last finite date at or before each date
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(fin, idx, n), axis=-1), axis=-1), axis=-1)  # first at or after
    # a grid day before the first (after the last) cube date, as the grid's first day can be, holds that date's value
    before = np.clip(np.searchsorted(in_days, grid, side="right") - 1, 0, n - 1)
    after = np.clip(np.searchsorted(in_days, grid, side="left"), 0, n - 1)
    lo, hi = prev[..., before], nxt[..., after]
    ok = (lo >= 0) & (hi < n)
    lo_c, hi_c = np.clip(lo, 0, n - 1), np.clip(hi, 0, n - 1)
    d_lo, d_hi = in_days[lo_c], in_days[hi_c]
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(d_hi > d_lo, (grid - d_lo) / (d_hi - d_lo), 0.0)
    v_lo, v_hi = np.take_along_axis(v, lo_c, axis=-1), np.take_along_axis(v, hi_c, axis=-1)
    return np.where(ok, v_lo * (1.0 - w) + v_hi * w, np.nan)


def _kernel(
    obs: np.ndarray, mean: np.ndarray, std: np.ndarray, *, in_days: np.ndarray, grid_days: np.ndarray | None, obs_std: float, lam: float | None,
    s2_only: bool = False,
) -> np.ndarray:
    """(..., time_out, 3): NDVI, std and source of pixel series (time on the last axis).

    ``s2_only``: the clear views interpolated (:func:`.kernels.interpolate_views`) replace the model's fill in
    every series with a view, flagged interpolated; a series without any keeps the model's.
    """
    seen = np.isfinite(obs)
    fill_src = np.full(obs.shape, _PRED, dtype=np.float32)
    if s2_only:
        v, s = interpolate_views(obs, obs_std, in_days)
        viewed = seen.any(axis=-1, keepdims=True)
        mean, std = np.where(viewed, v, mean), np.where(viewed, s, std)
        fill_src = np.where(viewed, np.float32(_INTERP), fill_src)
    val = np.where(seen, obs, mean)
    sd = np.where(seen, obs_std, std)
    src = np.where(seen, _OBS, np.where(np.isfinite(mean), fill_src, _MISSING)).astype(np.float32)
    if lam is not None:
        daily = np.arange(0.0, np.ceil(in_days[-1]) + 1.0)
        cell = np.clip(np.rint(in_days).astype(np.int64), 0, daily.size - 1)
        y = np.zeros((*val.shape[:-1], daily.size))
        w = np.zeros_like(y)
        ok = np.isfinite(val) & np.isfinite(sd)
        wi = np.where(ok, (obs_std / np.where(ok, sd, 1.0)) ** 2, 0.0)
        np.add.at(y, (..., cell), np.where(ok, val, 0.0) * wi)  # several dates in one day: weighted mean
        np.add.at(w, (..., cell), wi)
        y = np.where(w > 0, y / np.where(w > 0, w, 1.0), np.nan)
        z = whittaker(y, w, lam)
        # a series with a single weighted day has no smoothed curve (NaN): its values are kept as they are
        z = np.where(((w > 0).sum(axis=-1) == 1)[..., None], y, z)
        val = np.where(np.isfinite(val), z[..., cell], np.nan)
        sd = np.where(seen, observed_std(val, obs, seen, obs_std), sd)  # how far the pass moved the pixel's views
    if grid_days is not None:
        after = np.clip(np.searchsorted(in_days, grid_days), 0, in_days.size - 1)
        before = np.clip(after - 1, 0, in_days.size - 1)
        near = np.where(np.abs(in_days[before] - grid_days) <= np.abs(in_days[after] - grid_days), before, after)  # the nearest date
        on_date = np.abs(in_days[near] - grid_days) <= 0.5
        # a grid day on a cube date with a value takes that value (an observation is never lost to a missing neighbour)
        hit = on_date & np.isfinite(val[..., near])
        val_g = np.where(hit, val[..., near], _interp(val, in_days, grid_days))
        sd_g = np.where(hit, sd[..., near], _interp(sd, in_days, grid_days))
        src_g = np.where(hit, src[..., near], _INTERP).astype(np.float32)
        src_g = np.where(np.isfinite(val_g), src_g, _MISSING)
        val, sd, src = val_g, sd_g, src_g
    # observations are kept as they are (their range is checked on input); the fill is bounded, and so is every smoothed
    # value (the Whittaker curve overshoots a sharp peak of clear views, flagged observed, beyond 1)
    bounded = np.ones(src.shape, dtype=bool) if lam is not None else src != _OBS
    return np.stack([np.where(bounded, np.clip(val, -1.0, 1.0), val), sd, src], axis=-1).astype(np.float32)


def _check_predicted(predicted: xr.Dataset, cube: xr.Dataset, model: Any, s1_only: bool) -> None:
    """``predicted`` must hold the mean and std of this model (in this mode and calibration) on this cube's dates and pixels."""
    missing = [v for v in ("NDVI_pred", "NDVI_pred_std") if v not in predicted.variables]
    if missing:
        raise ConfigError(f"reconstruct: predicted: expected NDVI_pred and NDVI_pred_std (predict_sequence), found no {missing}")
    check_prediction_grid(predicted["NDVI_pred"], cube)
    check_prediction_model(predicted["NDVI_pred"], model, s1_only)


def reconstruct_sequence(
    cube: xr.Dataset,
    model: Any,
    *,
    freq: str | None = None,
    smooth: bool = False,
    lam: float = 1000.0,
    obs_std: float = 0.03,
    s1_only: bool | None = None,
    predicted: xr.Dataset | None = None,
    decision: SequenceDecision | None = None,
    **predict_kwargs: Any,
) -> xr.Dataset:
    """Gap-filled NDVI from a sequence model: observations kept, the model's mean and std elsewhere.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` and the clear ``NDVI``.
    model : SequenceModel
        Trained sequence model.
    freq : str, optional
        Output on a regular grid (``"5D"``) from the first cube date's day;
        default: the cube's dates.
    smooth : bool
        A weighted Whittaker pass (``lam`` on a 1-day grid, weights
        ``(obs_std / std)**2``) over the kept observations and the fill.
    lam : float
        Whittaker parameter (1-day grid), with ``smooth``.
    obs_std : float
        Standard deviation given to a clear observation (NDVI units).
    s1_only : bool, optional
        Passed to :func:`fusets_dl.inference.sequence.predict_sequence`.
    predicted : xarray.Dataset or xarray.DataArray, optional
        ``NDVI_pred`` and ``NDVI_pred_std`` already computed for ``cube``
        (the Dataset of :func:`~fusets_dl.inference.sequence.predict_sequence`
        or the DataArray of :func:`fusets_dl.predict_ndvi`, its std a coordinate).
    decision : SequenceDecision, optional
        The fill and std factor decided by another reconstruction with this
        model (:mod:`.sequence_decision`: the same region untiled, or a
        representative part of it): used as they are, with no skill check or
        std refit on this cube, so the tiles of one job fill alike.
    **predict_kwargs
        ``batch_size``, ``device``, ``precision`` for the prediction
        (:func:`~fusets_dl.inference.sequence.predict_sequence`).

    Returns
    -------
    xarray.Dataset
        ``NDVI``, ``NDVI_std`` (float32) and ``source`` (uint8: 0 observed,
        1 predicted, 2 interpolated, 3 missing) on ``(time, y, x)``; lazy on
        Dask input. ``sequence_fill`` (``"model"``, or ``"clear_views"``
        where the model's fill was left out) and ``std_refit_factor`` (where
        not 1) record the decision, for ``weights=dict(rec.attrs)`` on
        other tiles. On a cube the model's std was not fitted on, the attrs
        ``transfer_skill`` (when measurable), ``transfer_skill_pixels``,
        ``transfer_skill_window`` and ``calibration_source`` say what the
        skill check found and did.

    Raises
    ------
    ConfigError
        ``lam`` or ``obs_std`` not finite and positive, a ``freq`` that is
        not a whole number of days, or a ``predicted`` made by another model,
        in the other mode (its ``s1_only`` attribute), with another factor
        on its std (its ``std_scale``: the model recalibrated since, e.g. by
        :func:`~fusets_dl.training.sequence.calibrate_sequence`), or on
        other dates or pixels; a ``decision`` of another model, mode or std
        calibration.
    InsufficientDataError
        Fewer than 2 dates.

    Warns
    -----
    UserWarning
        A cube the model's std was not fitted on. There the S1-only mode's
        skill on the clear views of a central window of the cube is
        measured first (computed at the call, :mod:`.transfer`; also with
        ``s1_only=True``, whose fill is that very mode); at or below 0 the
        gaps are filled from the clear views alone (linear interpolation,
        flagged interpolated), with a warning that gives the skill. Above
        it, the std's factor is refitted on held-out spells of a central
        window of the cube (``_refit_std``, at most
        :data:`STD_REFIT_MAX_PIXELS` pixels, chosen alike in ``y`` and
        ``x``: a point table laid out as a column gets the factor of the
        same points as a row; attrs ``std_refit_factor``,
        ``std_refit_window``, ``std_refit_values``), with a warning that
        gives it and says what differs from the cubes the std was fitted
        on (their dates, or at the same dates their size or site).
    """
    check_cube(cube, need_target=True)
    cube = check_cube_values(cube, "reconstruct")
    if cube.sizes["time"] < 2:
        raise InsufficientDataError(f"reconstruct: expected a series of at least 2 dates, found {cube.sizes['time']}")
    if not (is_finite_positive(lam) and is_finite_positive(obs_std)):
        raise ConfigError(f"reconstruct: expected finite lam > 0 and obs_std > 0, found lam={lam}, obs_std={obs_std}")
    if isinstance(predicted, xr.DataArray):
        if "NDVI_pred_std" not in predicted.coords:
            raise ConfigError("reconstruct: predicted: expected the sequence model's prediction with its NDVI_pred_std "
                              f"coordinate (fdl.predict_ndvi), found coordinates {sorted(predicted.coords)}")
        predicted = xr.Dataset({"NDVI_pred": predicted.drop_vars("NDVI_pred_std"), "NDVI_pred_std": predicted["NDVI_pred_std"]})
    # the model's own mode when not asked: the std refit below must score the mode the prediction is in
    s1_only = bool(model.spec.get("s1_only", False)) if s1_only is None else bool(s1_only)
    if predicted is not None:
        _check_predicted(predicted, cube, model, s1_only)
    if decision is not None:
        _check_decision(decision, model, s1_only)
    foreign = decision is None and model.std_fitted_on(cube_span(cube), (cube.sizes["y"], cube.sizes["x"]), cube_site(cube.attrs)) is False
    skill = _s1_skill(cube, model, **predict_kwargs) if foreign else None
    pred = predicted if predicted is not None else predict_sequence(cube, model, s1_only=s1_only, **predict_kwargs)
    refit = None
    if foreign and (skill is None or not skill.useless):
        refit = _refit_std(cube, model, s1_only, **predict_kwargs)
        spans = _fitted_on(model, cube)
        if refit is None:
            warn_user(
                f"reconstruct: the sequence model's std was fitted on {spans}; on another place or period it can be far "
                "too narrow (on another WorldCereal patch 26-45 % of hidden values fell within 1 std instead of 68 %), and too few "
                "of this cube's clear views could be hidden to refit it; calibrate_sequence(model, cube) refits its factor on "
                "a cube's validation blocks")
        else:
            warn_user(f"reconstruct: the sequence model's std was fitted on {spans}: its factor was refitted on held-out "
                      f"spells of this cube's clear views ({refit['values']} values of the window {refit['window']}: x {refit['ratio']:.2f})")
            pred = pred.assign(NDVI_pred_std=pred["NDVI_pred_std"] * np.float32(refit["ratio"]))
    if decision is not None and decision.std_factor != 1.0:
        pred = pred.assign(NDVI_pred_std=pred["NDVI_pred_std"] * np.float32(decision.std_factor))
    clear_views = (skill is not None and skill.useless) or (decision is not None and decision.fill == "clear_views")
    t = pd.DatetimeIndex(cube["time"].values)
    origin = t[0].floor("D")
    in_days = ((t - origin) / pd.Timedelta(days=1)).to_numpy(np.float64)
    grid_days, out_times = None, t
    if freq is not None:
        step = freq_days(freq, "reconstruct")
        if step < 1 or step != int(step):
            raise ConfigError(f"reconstruct: freq must be a whole number of days (e.g. '5D'), found {freq!r}")
        out_times = freq_grid(t, freq)
        grid_days = ((out_times - origin) / pd.Timedelta(days=1)).to_numpy(np.float64)

    def _in(a: xr.DataArray) -> xr.DataArray:
        a = a.transpose("time", "y", "x").rename(time="time_in")
        return a.drop_vars([c for c in a.coords if c not in ("y", "x", "time_in")])

    obs = _in(cube["NDVI"])
    mean, std = _in(pred["NDVI_pred"]), _in(pred["NDVI_pred_std"])
    if mean.chunks is None and obs.chunks is not None:  # an in-memory prediction of a Dask cube: chunked like the cube, nothing computed
        obs = obs.chunk({"time_in": -1})
        mean, std = (a.chunk(dict(zip(obs.dims, obs.chunks, strict=True))) for a in (mean, std))
    if mean.chunks is not None:
        obs = obs.chunk(dict(zip(mean.dims, mean.chunks, strict=True)))
        std = std.chunk(dict(zip(mean.dims, mean.chunks, strict=True)))
    stacked = xr.apply_ufunc(
        _kernel, obs, mean, std,
        input_core_dims=[["time_in"]] * 3, output_core_dims=[["time", "var"]],
        kwargs={"in_days": in_days, "grid_days": grid_days, "obs_std": float(obs_std), "lam": float(lam) if smooth else None,
                "s2_only": clear_views},
        dask="parallelized", output_dtypes=[np.float32], keep_attrs=False,  # NDVI's attrs (valid range...) fit none of the outputs
        dask_gufunc_kwargs={"output_sizes": {"time": len(out_times), "var": 3}},
    ).assign_coords(time=np.asarray(out_times)).transpose("time", "y", "x", "var")
    out = apply_cf(xr.Dataset({  # the reconstruction's CF attributes, as the per-date model's (cf/variables.yml)
        "NDVI": stacked.isel(var=0, drop=True),
        "NDVI_std": stacked.isel(var=1, drop=True),
        "source": stacked.isel(var=2, drop=True).fillna(_MISSING).astype(np.uint8),
    }), "reconstruct", NDVI_std={"method": "the sequence model's std (obs_std at a clear view); see fusets_dl.reconstruct"})
    out.attrs = {
        "Conventions": CONVENTIONS, "title": "fusets_dl reconstructed NDVI (sequence model)", "model_sha256": model.sha256,
        "model_kind": "sequence", "smoothing": f"weighted Whittaker, lambda {lam} (1-day grid)" if smooth else "none",
        "obs_std": obs_std, "freq": freq or "cube dates",
        "s1_only": int(s1_only),  # the mode filled from: 1, the S1-only mode (NDVI differs by up to 0.1 from the other)
        "sequence_fill": "clear_views" if clear_views else "model",  # the decision, for weights=dict(rec.attrs) on other tiles
        "std_scale": float(model.std_scale(s1_only)),  # the std calibration the decision's factor is relative to
    }
    if refit is not None:
        out.attrs.update({"std_refit_factor": float(refit["ratio"]), "std_refit_window": refit["window"], "std_refit_values": int(refit["values"])})
    if decision is not None:
        if decision.std_factor != 1.0:
            out.attrs["std_refit_factor"] = decision.std_factor
        out.attrs["calibration_source"] = ("given (weights): " + ("S2 only, the model's fill left out" if clear_views else "the model's fill")
                                           + f", std x {decision.std_factor:.4g}; no skill check or std refit on this cube")
    if skill is not None:
        out.attrs.update({"transfer_skill_pixels": int(skill.pixels), "transfer_skill_window": skill.window,
                          "calibration_source": "a cube the model was not trained on: " + (
                              "S2 only, the model's fill left out (its S1-only skill on the cube's clear views is below 0)"
                              if skill.useless else "the model's fill")})
        if np.isfinite(skill.skill):
            out.attrs["transfer_skill"] = float(skill.skill)
    out = pixel_coords(out, cube)  # a point cube's point, lon and lat
    if cube.rio.crs is not None:
        out = out.rio.write_crs(cube.rio.crs)
    return out


def _check_decision(decision: SequenceDecision, model: Any, s1_only: bool) -> None:
    """A given decision must be this model's, in this mode and std calibration (the factor is relative to it)."""
    if decision.model_sha256 != model.sha256:
        raise ConfigError(f"reconstruct: weights: a decision of another model (SHA-256 {decision.model_sha256[:12]}...), expected this "
                          f"model's ({model.sha256[:12]}...): reconstruct a part of the region with this model and pass its attrs")
    if decision.s1_only != s1_only:
        raise ConfigError(f"reconstruct: weights: a decision made with s1_only={decision.s1_only}, expected one of this call's mode "
                          f"(s1_only={s1_only}): its std factor is the other mode's")
    now = float(model.std_scale(s1_only))
    if not np.isclose(decision.std_scale, now, rtol=1e-6, atol=0.0):
        raise ConfigError(f"reconstruct: weights: a decision made on the model's std calibration {decision.std_scale:.6g}, expected one "
                          f"of its calibration now ({now:.6g}): the model was recalibrated since (e.g. by calibrate_sequence); "
                          "reconstruct a part of the region again and pass its attrs")


def _refit_window(ny: int, nx: int) -> tuple[slice, slice]:
    """The central window of at most :data:`STD_REFIT_MAX_PIXELS` pixels the std is refitted on, its size alike in ``y`` and ``x``.

    At most 32 rows on a cube no taller than wide (all of a point table's one
    row), at most 32 columns on a taller one, and as many of the other as
    make the pixels; centred in :func:`.transfer.skill_window` where it fits
    there, else in the cube. A point table laid out as a column (``x=1``)
    gets the window of the same points laid out as a row (it used to get 1
    pixel, and a tall cube narrower than 32 columns only 32 rows of it).
    """
    sy, sx = skill_window(ny, nx)
    if ny > nx:
        w = min(nx, 32)
        h = min(ny, max(1, STD_REFIT_MAX_PIXELS // w))
    else:
        h = min(sy.stop - sy.start, 32)
        w = min(sx.stop - sx.start, max(1, STD_REFIT_MAX_PIXELS // h))

    def centred(win: slice, size: int, n: int) -> int:
        return win.start + (win.stop - win.start - size) // 2 if size <= win.stop - win.start else (n - size) // 2

    y0, x0 = centred(sy, h, ny), centred(sx, w, nx)
    return slice(y0, y0 + h), slice(x0, x0 + w)


def _fitted_on(model: Any, cube: xr.Dataset) -> str:
    """What the model's std was fitted on and how this cube differs, for the refit warnings.

    Other dates: the spans (as before). The dates of a training cube, of
    another size or at another site (a crop of the training cube, a point
    table sharing the dates of another): the sizes or sites, since the two
    spans alone would read the same.
    """
    span, (ny, nx), site = cube_span(cube), (cube.sizes["y"], cube.sizes["x"]), cube_site(cube.attrs)
    dates = " to ".join(span)
    same = [c for c in model.info.get("cubes", []) if [c.get("start"), c.get("end")] == list(span)]
    if not same:
        return f"cubes of {', '.join(' to '.join(sp) for sp in model.std_spans())}, not on this one ({dates})"
    sized = [c for c in same if c.get("ny") in (None, ny) and c.get("nx") in (None, nx)]
    if sized:  # the same dates and size: the site differs
        sites = ", ".join(dict.fromkeys(str(c["site"]) for c in sized if c.get("site")))
        return f"cubes of {dates} at the site {sites}, not on this one (the same dates and size, at the site {site})"
    sizes = ", ".join(dict.fromkeys(f"y={c.get('ny')}, x={c.get('nx')}" for c in same))
    return f"cubes of {dates} of {sizes} pixels, not on this one (the same dates, y={ny}, x={nx} pixels: another part or size of the scene)"


def _refit_std(cube: xr.Dataset, model: Any, s1_only: bool, **predict_kwargs: Any) -> dict[str, Any] | None:
    """The factor on the model's std that fits this cube's held-out values (NLL), as a ratio to the model's own; None: too few.

    A central window of at most :data:`STD_REFIT_MAX_PIXELS` pixels
    (:func:`_refit_window`): 3 spells of 60 days hidden in each (as the
    model's own calibration hides them), the model run with them hidden, the
    factor fitted on the hidden values; with ``s1_only`` on every clear date
    of the S1-only mode. Its std was fitted elsewhere and on another
    WorldCereal patch covered 31-45 % of hidden values within 1 std. The
    factor is :func:`~fusets_dl.models.sequence_model.fit_std_scale`'s
    ``"coverage"`` one (the shares within 1 and 2 std closest to a normal
    distribution's): there the NLL factor covered 73-80 % within 1 std (the
    errors have heavier tails than a normal distribution), this one 69-70 %.
    A point table laid out as a column (``x=1``) has its spells placed as
    laid out as a row (seeded by ``(0, point)``): both layouts of the same
    points get one factor.
    """
    ny, nx = cube.sizes["y"], cube.sizes["x"]
    wy, wx = _refit_window(ny, nx)
    y0, x0, h, w = wy.start, wx.start, wy.stop - wy.start, wx.stop - wx.start
    sub = cube.isel(y=wy, x=wx).load()
    obs = sub["NDVI"].transpose("time", "y", "x").values.reshape(sub.sizes["time"], -1)
    t = pd.DatetimeIndex(sub["time"].values)
    days = ((t - t[0].floor("D")) / pd.Timedelta(days=1)).to_numpy(np.float64)
    if s1_only:
        hidden = np.isfinite(obs)
    else:
        iy, ix = np.divmod(np.arange(h * w), w)
        iy, ix = iy + y0, ix + x0
        if nx == 1 < ny:  # points laid out as a column: the spells of the same points as a row
            iy, ix = ix, iy
        try:
            # a spell hides S2 views: on a pairing cube at every S1 date that carries one
            offset = (sub["NDVI_offset"].transpose("time", "y", "x").values.reshape(obs.shape)
                      if "NDVI_offset" in sub.data_vars else None)
            hidden = hide_gaps(obs, days, iy, ix, gap_days=60.0, n_gaps=3, seed=_REFIT_SEED,
                               view_days=s2_view_days(days, offset)) & np.isfinite(obs)
        except ConfigError:  # a series too short for the spells
            return None
        # a series whose every clear view is hidden is predicted in the S1-only mode (its own factor): not gap filling
        hidden &= (np.isfinite(obs) & ~hidden).any(axis=0, keepdims=True)
        tyx = sub["NDVI"].transpose("time", "y", "x")
        sub = sub.assign(NDVI=tyx.copy(data=np.where(hidden, np.nan, obs).reshape(tyx.shape).astype(tyx.dtype)))
    p = predict_sequence(sub, model, s1_only=s1_only, **predict_kwargs)
    mu = p["NDVI_pred"].transpose("time", "y", "x").values.reshape(obs.shape)
    sd = p["NDVI_pred_std"].transpose("time", "y", "x").values.reshape(obs.shape) / model.std_scale(s1_only)
    try:
        factor = fit_std_scale((obs - mu)[hidden], sd[hidden], "coverage")
    except ModelError:
        return None
    return {"ratio": factor / model.std_scale(s1_only), "values": int(hidden.sum()), "window": f"y {y0}:{y0 + h}, x {x0}:{x0 + w}"}


def _s1_skill(cube: xr.Dataset, model: Any, **predict_kwargs: Any) -> TransferSkill:
    """On a cube the model was not trained on: the skill of its S1-only mode on the clear views of the central window.

    Below 0 the model's S1 reading tells nothing about this cube's NDVI (a
    grassland-trained model on the Flanders crops: 1.98 x linear
    interpolation), and the fill is the clear views interpolated, with a
    warning. Only the window is predicted (:mod:`.transfer`).
    """
    wy, wx = skill_window(cube.sizes["y"], cube.sizes["x"])
    sub = cube.isel(y=wy, x=wx)
    pred = predict_sequence(sub, model, s1_only=True, **predict_kwargs)["NDVI_pred"]
    skill = transfer_skill(sub, pred, window=f"y {wy.start}:{wy.stop}, x {wx.start}:{wx.stop}")
    if skill.useless:
        warn_user(f"{FOREIGN_CUBE_WARNING} (a sequence model), and its S1-only prediction, corrected by each pixel's clear "
                  f"views, explains none of their variance here (skill {skill.describe()}, not above {SKILL_FLOOR:g}): the gaps "
                  "are filled from the clear views alone (linear interpolation). Train or fine-tune on this region")
    return skill
