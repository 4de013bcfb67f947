"""Gap-free NDVI from clear S2 observations and S1-based predictions.

Each output value carries a ``source`` flag (observed, predicted,
interpolated, missing) and an uncertainty ``NDVI_std``.

Uncertainty, and why: the standard deviation of each value comes from the
*validation residuals by source*: clear observations get ``obs_std`` (S2
noise, residual cloud and the up-to-3-day pairing offset; 0.03 by default),
predictions get the RMSE of the model on its held-out test blocks in the
range of the predicted value, and interpolated values (output dates with no
data) get the larger neighbouring std plus 0.004 NDVI per day to the nearest
data (green-up changes NDVI by up to about 0.01 a day). Residuals on
held-out blocks are measured, honest and free at prediction time; an ensemble
would cost several models per scene. The std of smoothed values is that of
their source. With a calibrated setting (the model's own, or
``weights="auto"``), the std of every value that is not an observation is
then multiplied by the calibration's ``std_scale`` (in pixels with a clear
view somewhere in the series): fitted on the same hidden
spells, so that about 68 % and 95 % of them fall within 1 and 2 std (the
residual correction and the observations around a gap make the filled values
better than the model's held-out RMSE says). In the calibrated settings and the
transfer setting that std first grows with the days to the nearest clear view
(:func:`.kernels.std_growth`): a value filled next to a view is better known
than one in the middle of a long spell.

The flow: check the options (``check_reconstruct_options``), build the time grid
(``_rec_grid``), line up observations and predictions (``_rec_inputs``), run
the kernel of :mod:`.kernels` over pixel blocks (``_rec_apply``) and wrap the
result with its CF attributes (``_rec_dataset``). On a cube the model was not
trained on, the setting is first chosen on held-out spells of the cube's own
clear views (``_foreign_calibration``), or, on a cube too small for that,
:mod:`.transfer` checks that the prediction explains its clear views at all.
"""

from __future__ import annotations

import inspect
import logging
import numbers
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers .rio, used for the CRS)
import xarray as xr

from .._series import nearest_cells
from .._warn import once_per_call, warn_user
from ..alignment.chunking import check_output_memory
from ..cf import CONVENTIONS, CUBE_TITLE, apply_cf, cube_site, pixel_coords
from ..errors import ConfigError, InsufficientDataError
from ..evaluation.splits import training_site, with_split, within_extent
from ..inference import predict_ndvi
from ..models import FusionModel, load_model
from ..readers.cube import check_cube_values
from ..validate import check_cube, freq_days, is_finite_positive
from .calibrate import (
    MIN_HIDDEN,
    STORED_KEY,
    STORED_VIEWS_KEY,
    Calibration,
    calibrate,
    is_calibration,
    model_blocks,
    reads_ndvi,
    spell_window,
)
from .kernels import SOURCE_FLAGS, STD_GROWTH_DAYS, freq_grid, reconstruct_block
from .predicted import check_prediction_grid, check_prediction_model
from .sequence_decision import is_sequence_decision, sequence_decision
from .transfer import FOREIGN_CUBE_WARNING, SKILL_FLOOR, TransferSkill, skill_window, transfer_skill
from .uncertainty import pred_std_table
from .views import cube_views, on_union

__all__ = ["CALIBRATION_MAX_DAYS", "FOREIGN_CALIBRATION_MAX_PIXELS", "FOREIGN_CALIBRATION_MIN_PIXELS", "FOREIGN_CALIBRATION_SEED", "FOREIGN_CUBE_WARNING", "SITE_SETTING_MIN_HIDDEN", "SOURCE_FLAGS", "TRANSFER_SETTING", "TRANSFER_SPREAD_FLOOR", "check_reconstruct_options", "given_calibration", "reconstruct"]

log = logging.getLogger("fusets_dl")


class _RecGrid(NamedTuple):
    """Input dates and the working grid, in days from the first date's midnight."""

    in_days: np.ndarray
    grid_days: np.ndarray
    out_idx: np.ndarray  # grid cells returned, in output order
    out_times: pd.DatetimeIndex


def check_reconstruct_options(
    weights: dict[str, float] | None, lam: float, obs_std: float, pred_gap_days: float | None = None, debias_days: float | None = None,
) -> dict[str, float]:
    """The smoother weights, after checking the options.

    Parameters
    ----------
    weights : dict or None
        ``{"observed": w, "predicted": w}`` (either key optional), or None.
    lam, obs_std : float
        The smoothing and the observation standard deviation.
    pred_gap_days, debias_days : float, optional
        As for :func:`reconstruct`.

    Returns
    -------
    dict
        The weights with defaults filled in.

    Raises
    ------
    ConfigError
        An option out of range or of the wrong type, with the value found.
    """
    for name, v in (("pred_gap_days", pred_gap_days), ("debias_days", debias_days)):
        if v is not None and not (isinstance(v, numbers.Real) and not isinstance(v, bool)):
            raise ConfigError(f"reconstruct: {name}: expected a number of days or None, found {type(v).__name__} {v!r}")
    if pred_gap_days is not None and not pred_gap_days >= 0:
        raise ConfigError(f"reconstruct: expected pred_gap_days >= 0 or None, found {pred_gap_days}")
    if debias_days is not None and not debias_days > 0:
        raise ConfigError(f"reconstruct: expected debias_days > 0 or None, found {debias_days}")
    if weights is not None and not isinstance(weights, Mapping):
        raise ConfigError(f"reconstruct: weights: expected a dict, 'model', 'auto' or None, found {type(weights).__name__} {weights!r}")
    weights = dict(weights or {})
    unknown = set(weights) - {"observed", "predicted"}
    if unknown and {"model_sha256", "smoothing"} <= unknown:  # the attrs of an output: one made without a calibration
        raise ConfigError("reconstruct: weights: expected a calibration (a Calibration, its dict, or the attrs of a calibrated "
                          "output) or keys 'observed' and 'predicted', found the attrs of an output made without a calibration "
                          f"(smoothing {weights.get('smoothing')!r}, no calibration_* keys): pass weights=None for that fixed setting")
    if unknown:
        raise ConfigError(f"reconstruct: weights: expected keys 'observed' and 'predicted', found {sorted(unknown)}")
    for key, v in weights.items():
        ok = is_finite_positive(v) or (key == "predicted" and isinstance(v, numbers.Real) and not isinstance(v, bool) and v == 0)
        if not ok:
            raise ConfigError(f"reconstruct: weights[{key!r}]: expected a finite number {'> 0' if key == 'observed' else '>= 0'}, found {v!r}")
    if not (is_finite_positive(lam) and is_finite_positive(obs_std)):
        raise ConfigError(f"reconstruct: expected finite lam > 0 and obs_std > 0, found lam={lam!r}, obs_std={obs_std!r}")
    if obs_std >= 1.0:  # NDVI spans -1..1: a std this large is most likely in percent (3 for 0.03)
        warn_user(f"reconstruct: obs_std={obs_std:g} is the std of a clear observation in NDVI units (-1..1); "
                      "expected about 0.01-0.1 (0.03 by default): was it given in percent?")
    return weights


def _rec_grid(t: pd.DatetimeIndex, freq: str | None, smooth: bool, t_in: pd.DatetimeIndex | None = None) -> _RecGrid:
    """The output grid: regular at ``freq``, else daily (smoothing) or the cube dates themselves.

    ``t_in``: the input dates when they are more than the cube's (its dates
    and its unpaired views', :func:`.views.on_union`, within its span); the
    output stays on ``t`` (or the ``freq`` grid of its span).
    """
    origin = t[0].floor("D")
    t_in = t if t_in is None else t_in
    in_days = ((t_in - origin) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
    t_days = ((t - origin) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
    if freq is not None:
        step = freq_days(freq, "reconstruct")
        if step < 1 or step != int(step):
            raise ConfigError(f"reconstruct: freq must be a whole number of days (e.g. '5D'), found {freq!r}")
        out_times = freq_grid(t, freq)
        if smooth and out_times.size < 2:
            raise ConfigError(f"reconstruct: freq {freq!r} gives {out_times.size} output date over this {in_days[-1]:.0f}-day series; "
                              "the smoother needs at least 2: a shorter freq, or smooth=False")
        grid_days = ((out_times - origin) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
        return _RecGrid(in_days, grid_days, np.arange(grid_days.size), out_times)
    if smooth:
        grid_days = np.arange(0.0, np.ceil(in_days[-1]) + 1.0)
        out_idx = nearest_cells(t_days, grid_days)[0]  # the cell the kernel put each date in (noon: the earlier day, not rint's even one)
        return _RecGrid(in_days, grid_days, out_idx, t)
    return _RecGrid(in_days, in_days, np.searchsorted(in_days, t_days), t)


def _rec_inputs(ndvi: xr.DataArray, pred: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Observations and predictions on ``(time_in, y, x)`` with the same chunks (one along time), pixel coords only."""
    obs = ndvi.transpose("time", "y", "x")
    prd = pred.transpose("time", "y", "x")
    if obs.chunks is not None and len(obs.chunks[0]) > 1:  # a cube chunked in time: each pixel's series in one chunk
        obs = obs.chunk({"time": -1})
    if prd.chunks is not None and len(prd.chunks[0]) > 1:  # a given prediction chunked in time: each pixel's series in one chunk
        prd = prd.chunk({"time": -1})
    if prd.chunks is not None and obs.chunks is None:
        obs = obs.chunk(dict(zip(prd.dims, prd.chunks, strict=True)))
    elif obs.chunks is not None and prd.chunks is None:
        prd = prd.chunk(dict(zip(obs.dims, obs.chunks, strict=True)))
    elif obs.chunks is not None and prd.chunks is not None and obs.chunks != prd.chunks:
        obs = obs.chunk(dict(zip(prd.dims, prd.chunks, strict=True)))

    def _time_in(a: xr.DataArray) -> xr.DataArray:
        a = a.rename(time="time_in")
        return a.drop_vars([c for c in a.coords if c not in ("y", "x", "time_in")])

    return _time_in(obs), _time_in(prd)


def _rec_apply(obs_in: xr.DataArray, prd_in: xr.DataArray, grid: _RecGrid, **kwargs: Any) -> xr.DataArray:
    """The kernel over pixel blocks: ``(time, y, x, var)`` with var = NDVI, std, source."""
    stacked = xr.apply_ufunc(
        reconstruct_block,
        obs_in,
        prd_in,
        input_core_dims=[["time_in"], ["time_in"]],
        output_core_dims=[["time", "var"]],
        kwargs={"in_days": grid.in_days, "grid_days": grid.grid_days, "out_idx": grid.out_idx, **kwargs},
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"time": len(grid.out_idx), "var": 3}},
    )
    return stacked.assign_coords(time=np.asarray(grid.out_times)).transpose("time", "y", "x", "var")


def _rec_dataset(stacked: xr.DataArray, std_scale: float = 1.0) -> xr.Dataset:
    """``NDVI``, ``NDVI_std`` and the uint8 ``source`` flag, with their CF attributes.

    The std is multiplied by ``std_scale`` where a pixel's value is not
    observed but the pixel has clear views elsewhere in the series: the
    factor was fitted on spells hidden between clear views. A pixel without
    any clear view holds the prediction alone, whose std is the model's
    test error as it is (the factor made it too narrow there: 44 % within
    ±1 std on patch A).
    """
    src = stacked.isel(var=2).fillna(SOURCE_FLAGS["missing"]).astype(np.uint8)
    std = stacked.isel(var=1, drop=True)
    if std_scale != 1.0:
        observed = src.drop_vars("var", errors="ignore") == SOURCE_FLAGS["observed"]
        std = std.where(observed | ~observed.any("time"), std * np.float32(std_scale))
    out = xr.Dataset(
        {
            "NDVI": stacked.isel(var=0, drop=True),
            "NDVI_std": std,
            "source": src.drop_vars("var", errors="ignore"),
        }
    )
    return apply_cf(out, "reconstruct")


def _rec_calibrated(
    cube: xr.Dataset, model: FusionModel, pred: xr.DataArray | None, options: dict[str, Any] | None, obs_std: float
) -> Calibration:
    """``weights="auto"``: the weights, lambda, guard and residual correction chosen by :func:`.calibrate.calibrate` on held-out spells."""
    if options is not None and not isinstance(options, Mapping):
        raise ConfigError(f"reconstruct: calibration: expected a dict of calibrate() options, found {type(options).__name__} {options!r}")
    opts = dict(options or {})
    if "predicted" in opts or "obs_std" in opts:
        raise ConfigError("reconstruct: calibration options: 'predicted' and 'obs_std' are reconstruct's own arguments")
    allowed = [k for k in inspect.signature(calibrate).parameters if k not in ("cube", "model", "predicted", "obs_std")]
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ConfigError(f"reconstruct: calibration: expected options among {allowed}, found {unknown}")
    opts.setdefault("max_days", CALIBRATION_MAX_DAYS)  # bounded in time too: the whole series' cost grows with it
    return calibrate(cube, model, predicted=pred, obs_std=obs_std, **opts)


#: ``weights="model"`` on a cube the model was not trained on: the fixed inverse-variance weights, with the
#: prediction first corrected by the cube's own clear views (cross-site, 6 of 8 cases better than the fixed
#: setting alone, by up to 16 %, 2 worse by up to 5 %: docs/reconstruction.md).
TRANSFER_SETTING: dict[str, Any] = {"w_pred": None, "lam": 1000.0, "pred_gap_days": None, "debias_days": 30.0, "std_growth_days": STD_GROWTH_DAYS}


#: The transfer setting's std floor, as a fraction of the pixel's residual spread
#: (:func:`~.kernels.residual_spread`), by whether the model reads the cube's NDVI. An S1-only model's test
#: RMSE is the error of its prediction without any clear view, and a filled value in a spell is pulled towards
#: the views around it: half the spread as a floor covered 71-76 % of hidden values within 1 std on six cubes
#: it was not trained on (the whole spread: 80-91 %). A model with optical context was tested with clear views
#: nearby, so its test RMSE understates a spell's error: the whole spread (71-72 %; its test RMSE alone: 57-58 %).
#: docs/reconstruction.md, "Uncertainty of the filled values".
TRANSFER_SPREAD_FLOOR: dict[str, float] = {"s1": 0.5, "optical": 1.0}

_CAL_FIELDS = ("settings", "rmse", "rmse_prediction", "rmse_default", "n_pixels", "n_hidden", "blocks")


#: Fewest pixels (or points) in the central window (:func:`.transfer.skill_window`) for ``weights="model"`` to calibrate
#: on a cube the model was not trained on; smaller cubes keep the transfer setting and its skill check. On 15 cases of
#: 500-1,024 pixels the calibration filled 60-day spells better than the transfer setting in 9, as well in 3, worse in 3
#: (by at most 0.010 x linear interpolation; the largest gain 0.12 x); on the Slovak point series (41-77 points) it was
#: worse by 0.01-0.08 x: a grid of ~150 settings chosen on so few pixels' spells follows their noise
#: (docs/reconstruction.md, "A cube the model was not trained on"). Re-checked with the 325-setting grid of
#: 2026-11-27 (leave-one-site-out, shipped configuration, seed 0): 0.78 / 0.80 / 0.79 -> 0.84 / 0.80 / 0.78 on
#: slovakia-LR / NB / NS, the same mean and a loss of 0.06 on one site, so the floor stays.
FOREIGN_CALIBRATION_MIN_PIXELS = 200
#: Most pixels that calibration samples from the window: with 300 (``calibrate``'s default) the choice on the other
#: WorldCereal patch moved with the calibration's seed (0.81-0.84 x linear for one model), with 1,000 by at most 0.009
#: (docs/reconstruction.md).
FOREIGN_CALIBRATION_MAX_PIXELS = 1000
#: Longest stretch of the series (days) a calibration at the call (``weights="model"`` on a cube the model was not trained
#: on, ``weights="auto"``) places its spells in: a longer series (or unseen period) is calibrated on its central 730 days
#: (:func:`.calibrate.spell_window`, 90 days of context either side). The whole series cost grew with its length for the
#: same 3 spells per pixel (96 x 96 pixels, 1 core: 4 s / +138 MB for 1 year, 45 s / +825 MB for 10, most of a 10-year
#: pipeline); with the window 10 years take 12 s / +112 MB and chose the same setting; on 3 years the window's choice
#: (prediction weight 0.3 instead of 1.0) scored 0.0937 on the whole series' spells against the best 0.0930.
CALIBRATION_MAX_DAYS = 730.0
#: Seed of that calibration's pixel sample and spells: one of its own, so that its spells are not the hidden spells of
#: a comparison run with a small seed (0, 1, ...) on the same pixels, which are already gone from the cube it sees.
FOREIGN_CALIBRATION_SEED = 104729


def _model_scenes(model: FusionModel) -> list[dict[str, Any]]:
    """The model's training scenes (``start``, ``end``, ``site``): one per site of a multi-site model."""
    info = getattr(model, "info", None) or {}
    sites = info.get("sites") or {}
    return [{**sc, "site": name} for name, sc in sites.items()] if sites else [info.get("scene") or {}]


#: Titles every cube of a kind carries (the aligned fusion cube's), which name no site.
GENERIC_TITLES = frozenset({CUBE_TITLE})


#: The names ``train`` gives unnamed sites of a multi-site model (``site0``; a generic title with ``#k``).
_GENERIC_SITE = re.compile(r"site\d+|(?P<title>.+)#\d+")


def _site_name(value: Any) -> str | None:
    """A site name, or None for none, a generic title, or a name ``train`` made up for an unnamed cube."""
    if not value or value in GENERIC_TITLES:
        return None
    made_up = _GENERIC_SITE.fullmatch(str(value))
    if made_up and (made_up.group("title") is None or made_up.group("title") in GENERIC_TITLES):
        return None
    return str(value)


def _same_site(scene: dict[str, Any], name: str | None) -> bool:
    """A name on only one side does not count against it (generic titles and made-up names are no names)."""
    theirs = _site_name(scene.get("site"))
    return not theirs or not name or theirs == name


def _same_scene(scene: dict[str, Any], cube: xr.Dataset) -> bool:
    """Positively the place the model was trained on: the same site name, or (a name missing) the same size, and not outside its extent.

    Stricter than :func:`_same_site`: it decides which dates and pixels the
    model saw, so an unnamed cube from elsewhere must not pass for its own.
    """
    mine = cube_site(cube.attrs)
    theirs = _site_name(scene.get("site"))
    if within_extent(scene, cube) is False:  # named alike or of one size, but elsewhere
        return False
    if mine and theirs:
        return mine == theirs
    return scene.get("ny") == cube.sizes["y"] and scene.get("nx") == cube.sizes["x"]


def _checked_prediction(predicted: xr.DataArray | xr.Dataset, cube: xr.Dataset, model: Any) -> xr.DataArray:
    """A per-date model's prediction given to :func:`reconstruct`, checked against the cube and the model.

    Parameters
    ----------
    predicted : xarray.DataArray or xarray.Dataset
        :func:`~fusets_dl.predict_ndvi`'s output, or a Dataset holding it as ``NDVI_pred``.
    cube : xarray.Dataset
        The cube being reconstructed.
    model : FusionModel
        The model whose calibration and std table the reconstruction uses.

    Returns
    -------
    xarray.DataArray
        The prediction.

    Raises
    ------
    ConfigError
        A Dataset without ``NDVI_pred``; another type; a prediction on
        other dates or pixels than the cube's (a whole scene's prediction
        with a tile of it); a prediction made by another model (its
        ``model_sha256`` attribute): the model's calibration and std would
        be applied to values they do not describe.
    """
    if isinstance(predicted, xr.Dataset):
        if "NDVI_pred" not in predicted.data_vars:
            raise ConfigError(f"reconstruct: predicted: expected predict_ndvi's DataArray or a Dataset with NDVI_pred, found a Dataset "
                              f"of {sorted(map(str, predicted.data_vars))}")
        predicted = predicted["NDVI_pred"]
    if not isinstance(predicted, xr.DataArray):
        raise ConfigError(f"reconstruct: predicted: expected predict_ndvi's DataArray, found {type(predicted).__name__}")
    check_prediction_grid(predicted, cube)
    check_prediction_model(predicted, model)
    return predicted


def _check_smooth_off(smooth_off: bool, weights: Any, given: Calibration | None) -> None:
    """Refuse ``smooth=False`` with a calibrated setting that smooths: given, or chosen at the call (``weights="auto"``)."""
    if not smooth_off:
        return
    if given is not None and given.settings.get("lam") is not None:
        raise ConfigError(f"reconstruct: smooth=False, and the given calibration's setting smooths (lambda {given.settings['lam']:g}): "
                          "it would be used without the smoothing it was chosen with; expected one of them: drop smooth=False, "
                          "or pass weights=None for the fixed setting without smoothing")
    if isinstance(weights, str) and weights == "auto":
        raise ConfigError("reconstruct: smooth=False with weights='auto': the calibration chooses a smoothing (lambda) on held-out "
                          "spells; expected one of them: drop smooth=False, or pass weights=None for the fixed setting without smoothing")


def _own_period(cube: xr.Dataset, model: FusionModel) -> bool:
    """Whether the cube is (part of) a scene the model was trained on: the same first and last date, and the same site name.

    A name on only one side does not count against it; a model trained on
    several sites knows each by name (``info["sites"]``).
    """
    t = cube["time"].values
    span = (str(t[0])[:10], str(t[-1])[:10])
    name = cube_site(cube.attrs)  # the aligned cube's generic title names no site
    return any((sc.get("start"), sc.get("end")) == span and _same_site(sc, name) and _same_place(sc, cube) for sc in _model_scenes(model))


def _same_place(scene: dict[str, Any], cube: xr.Dataset) -> bool:
    """The cube can be (part of) the training scene: within its extent, or (not recorded) no larger than it.

    Another region with the same dates (the Slovak LR plots, 100 km from the NB plots a model was
    trained on, both 2021-01-01 .. 2023-12-29) passed for the model's own cube and got its stored
    calibration: RMSE 0.197 and 53 % within 1 std on hidden spells, against 0.164 and 63 % with the
    setting chosen on its own spells.
    """
    inside = within_extent(scene, cube)
    if inside is not None:
        return inside
    ny, nx = scene.get("ny"), scene.get("nx")
    return not (isinstance(ny, int) and isinstance(nx, int) and (cube.sizes["y"] > ny or cube.sizes["x"] > nx))


def _unseen_period(cube: xr.Dataset, model: FusionModel) -> tuple[str, str] | None:
    """The longest stretch of the cube's dates outside the model's training dates at this site; None: the whole series.

    On another site (:func:`_same_scene`) every date is unseen (None). On the model's own site in
    another period (a later season), the calibration hides its spells where
    the model was not trained: spells in its training dates trust the
    prediction more than the unseen season deserves (patch A, leave-season-out,
    the optical model: 0.85 x linear with spells anywhere, 0.80 in the unseen season).
    """
    run = _longest_unseen_run(cube, model)
    if run is None or run[0] < 0:
        return None
    t = cube["time"].values
    return str(t[run[1]])[:10], str(t[run[2]])[:10]


def _longest_unseen_run(cube: xr.Dataset, model: FusionModel) -> tuple[int, int, int] | None:
    """On the model's own site: (days spanned, first, last index) of the longest run of dates it was not trained on.

    None on another site, or where every date is unseen; ``(-1, 0, 0)`` where every date was seen.
    """
    t = pd.DatetimeIndex(cube["time"].values)
    seen = []
    for sc in _model_scenes(model):
        if sc.get("start") and sc.get("end") and _same_scene(sc, cube):
            seen.append((pd.Timestamp(sc["start"]), pd.Timestamp(sc["end"]) + pd.Timedelta(days=1)))
    free = np.ones(t.size, dtype=bool)
    for a, b in seen:
        free &= ~((t >= a) & (t < b))
    if free.all():  # another site: the whole series
        return None
    best, start = (-1, 0, 0), None
    for i, f in enumerate([*free, False]):  # the longest run of unseen dates
        if f and start is None:
            start = i
        elif not f and start is not None:
            best, start = max(best, (int((t[i - 1] - t[start]).days), start, i - 1)), None
    return best


def _window_split(split: dict[str, Any], wy: slice, wx: slice, ny: int, nx: int) -> tuple[dict[str, Any], slice, slice]:
    """The model's block split in a window of the cube, the window moved to block boundaries so the blocks line up."""
    bs = int(split["block_size"])
    y0, x0 = wy.start // bs * bs, wx.start // bs * bs
    wy, wx = slice(y0, min(ny, y0 + wy.stop - wy.start)), slice(x0, min(nx, x0 + wx.stop - wx.start))
    grid = [-(-(wy.stop - y0) // bs), -(-(wx.stop - x0) // bs)]

    def shift(blocks: list[Any]) -> list[list[int]]:
        moved = ([int(b[0]) - y0 // bs, int(b[1]) - x0 // bs] for b in blocks)
        return [b for b in moved if 0 <= b[0] < grid[0] and 0 <= b[1] < grid[1]]

    return {"block_size": bs, "grid": grid, "val": shift(split.get("val", [])), "test": shift(split.get("test", []))}, wy, wx


def _foreign_calibration(
    cube: xr.Dataset, model: FusionModel, predicted: xr.DataArray | None, obs_std: float, device: str | None,
) -> tuple[Calibration | None, str]:
    """``weights="model"`` on a cube the model was not trained on: the setting calibrated on held-out spells of its central window.

    Returns the calibration and the window's name, or None (with the reason,
    logged) where the window holds fewer than :data:`FOREIGN_CALIBRATION_MIN_PIXELS`
    pixels, fewer of them keep a hidden spell and enough clear views, or the
    cube cannot be calibrated (too short a series): the transfer setting and
    its skill check then decide. On the model's own site (:func:`_same_scene`)
    its test blocks are never sampled (the window moved to block boundaries)
    and the spells lie in the dates it was not trained on; there its training
    blocks are as held out as its validation blocks, and both are sampled.
    """
    ny, nx = cube.sizes["y"], cube.sizes["x"]
    wy, wx = skill_window(ny, nx)
    own = any(_same_scene(sc, cube) for sc in _model_scenes(model))
    period = _unseen_period(cube, model) if own else None
    split = model_blocks(cube, model) if own else {}
    if split:
        window_split, wy, wx = _window_split(split, wy, wx, ny, nx)
        if period is not None:  # dates it never saw: its training blocks there are held out too (only test blocks are not)
            test = set(map(tuple, window_split["test"]))
            window_split["val"] = [list(b) for b in np.ndindex(*window_split["grid"]) if b not in test]
    window = f"y {wy.start}:{wy.stop}, x {wx.start}:{wx.stop}"
    dates = _calibration_dates(cube, period, CALIBRATION_MAX_DAYS)
    if dates is not None:
        window += f", {dates[0].date()}..{dates[1].date()}"
    n = (wy.stop - wy.start) * (wx.stop - wx.start)
    if n < FOREIGN_CALIBRATION_MIN_PIXELS:
        log.info("reconstruct: a window of %d pixels is too small to calibrate on (fewer than %d): the transfer setting", n,
                 FOREIGN_CALIBRATION_MIN_PIXELS)
        return None, window
    sub = cube.isel(y=wy, x=wx)
    pred = None if predicted is None or reads_ndvi(model) else predicted.isel(y=wy, x=wx)
    # another site's split says nothing about this cube; the window's own split is drawn for the window, so the training
    # scene's size (which model_blocks compares with the cube's) is left out of the copy that calibrates on it
    on = with_split(model, window_split if split else {})
    try:
        with warnings.catch_warnings():  # too few hidden values: decided below, not warned about
            warnings.filterwarnings("ignore", message="calibrate: the setting was chosen on", category=UserWarning)
            cal = calibrate(sub, on, predicted=pred, obs_std=obs_std, period=period, max_pixels=FOREIGN_CALIBRATION_MAX_PIXELS,
                            seed=FOREIGN_CALIBRATION_SEED, device=device, max_days=CALIBRATION_MAX_DAYS)
    except (InsufficientDataError, ConfigError) as exc:
        log.info("reconstruct: cannot calibrate on this cube (%s): the transfer setting", exc)
        return None, window
    if split and period is not None and cal.blocks == "val":
        cal = replace(cal, blocks="val+train")  # the "validation" blocks given above were both
    if cal.n_pixels < FOREIGN_CALIBRATION_MIN_PIXELS or cal.n_hidden < MIN_HIDDEN:
        log.info("reconstruct: only %d pixels (%d hidden values) of the window keep a hidden spell and enough clear views "
                 "(fewer than %d): the transfer setting", cal.n_pixels, cal.n_hidden, FOREIGN_CALIBRATION_MIN_PIXELS)
        return None, window
    return cal, window


def _calibration_dates(
    cube: xr.Dataset, period: tuple[str, str] | None, max_days: float | None = CALIBRATION_MAX_DAYS,
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The dates the call's calibration places its spells in when the series (or period) is longer than ``max_days``; else None."""
    t = pd.DatetimeIndex(cube["time"].values)
    span = None
    if period is not None:
        span = tuple(float((pd.Timestamp(p) - t[0].floor("D")) / pd.Timedelta(days=1)) for p in period)
    return spell_window(t, span, max_days)  # type: ignore[arg-type]


def given_calibration(weights: Any, lam_given: bool, pred_gap_days: float | None, debias_days: float | None) -> Calibration | None:
    """``weights`` as a calibration (a :class:`Calibration`, its ``to_dict()`` or a calibrated output's attrs), else None.

    Parameters
    ----------
    weights : object
        The ``weights`` argument of :func:`reconstruct`.
    lam_given : bool
        Whether the call gives ``lam`` itself.
    pred_gap_days, debias_days : float or None
        The call's own options.

    Returns
    -------
    Calibration or None
        The checked calibration; None when ``weights`` is not one.

    Raises
    ------
    ConfigError
        A calibration with a bad field, or given together with ``lam``,
        ``pred_gap_days`` or ``debias_days`` (it sets them itself).
    """
    if not is_calibration(weights):
        return None
    given = Calibration.from_dict(weights)  # an object is checked too (its to_dict())
    clash = [f"{k}={v!r}" for k, v in (("pred_gap_days", pred_gap_days), ("debias_days", debias_days)) if v is not None]
    if lam_given or clash:
        raise ConfigError(f"reconstruct: weights: a calibration sets lam, pred_gap_days and debias_days itself, found "
                          f"{', '.join((['lam'] if lam_given else []) + clash)} given as well: pass the calibration or the options")
    return given


def _stored_calibration(
    cube: xr.Dataset, model: FusionModel, lam_given: bool, pred_gap_days: float | None, debias_days: float | None,
) -> dict[str, Any] | None:
    """The model's own calibration (``info["reconstruction"]``) on its own period, unless the call sets the smoother itself.

    On a cube that keeps unpaired views, the setting chosen with them shown
    (``info["reconstruction_views"]``) when the model has one.
    """
    info = getattr(model, "info", None) or {}
    stored = (info.get(STORED_VIEWS_KEY) if cube_views(cube) is not None else None) or info.get(STORED_KEY)
    if not stored or any(k not in stored for k in _CAL_FIELDS):
        return None
    if lam_given or pred_gap_days is not None or debias_days is not None:
        log.info("reconstruct: lam, pred_gap_days or debias_days given: the fixed setting, not the model's calibration")
        return None
    if not _own_period(cube, model):
        run = _longest_unseen_run(cube, model)
        if run is not None and run[0] < float(stored.get("gap_days", 60.0)):
            # its own site, and no stretch of unseen dates long enough for a spell (a date or two more, or a part of
            # its training dates): the setting chosen on its validation blocks there holds
            return _site_setting(_views_match(stored, cube), cube, model)
        return {"settings": dict(TRANSFER_SETTING), "foreign": True}
    return _site_setting(_views_match(stored, cube), cube, model)


#: Fewest hidden values a site's own stored choice needs for ``reconstruct`` to use it there instead of the pooled one.
SITE_SETTING_MIN_HIDDEN = 200


def _site_setting(stored: dict[str, Any], cube: xr.Dataset, model: FusionModel) -> dict[str, Any]:
    """On one of a multi-site model's training sites, that site's own stored choice instead of the pooled one.

    The site is the cube's ``attrs["site"]``, or the site it matches in
    place and size (:func:`~fusets_dl.evaluation.splits.training_site`). The
    pooled setting follows the site with the most hidden values: the shipped
    model's is Flanders' (3,206 of 4,457), and on its Slovak sites' test
    blocks each site's own choice filled 60-day spells 7-18 % better on two
    of three with the paired views, 5-20 % on all three with every view
    (docs/reconstruction.md). Used when the site's choice was made on at
    least :data:`SITE_SETTING_MIN_HIDDEN` values and the model stored its std
    factor (models saved before 2026-11-28 keep the pooled one).
    """
    sites = stored.get("sites")
    name = training_site(cube, model)
    per = sites.get(name) if isinstance(sites, Mapping) and len(sites) > 1 else None
    if not isinstance(per, Mapping) or "std_scale" not in per or int(per.get("n_hidden", 0)) < SITE_SETTING_MIN_HIDDEN:
        return stored
    return {**stored, **{k: per[k] for k in (*_CAL_FIELDS, "std_scale") if k in per}, "site": str(name)}


def _views_match(stored: dict[str, Any], cube: xr.Dataset) -> dict[str, Any]:
    """The stored setting, marked ``views_differ`` when it was chosen with (without) the unpaired views this cube lacks (keeps).

    A setting chosen on the paired views alone trusts the prediction as much
    as gaps between them deserve; with every clear view the gaps are shorter
    (and the reverse), so ``reconstruct`` chooses again on this cube's spells.
    """
    kept = cube_views(cube) is not None
    if bool(stored.get("unpaired_views", False)) == kept:
        return stored
    return {**stored, "views_differ": True}


def _setting_words(st: dict[str, Any]) -> str:
    """A calibrated setting in words."""
    if st.get("w_pred") == 0:
        return "the clear views alone, linearly interpolated (the S2-only setting: the prediction does not help here)"
    weight = "inverse-variance prediction weights" if st.get("w_pred") is None else f"prediction weight {st['w_pred']:g}"
    words = [weight, "no smoothing" if st.get("lam") is None else f"lambda {st['lam']:g}"]
    if st.get("pred_gap_days") is not None:
        words.append(f"the prediction alone from {st['pred_gap_days']:g} days away from a clear view")
    if st.get("debias_days") is not None:
        words.append(f"the prediction corrected by each pixel's clear views ({st['debias_days']:g} days)")
    return ", ".join(words)


def _warn_foreign_calibration(cal: Calibration, window: str | None) -> None:
    """What ``weights="model"`` chose on a cube the model was not trained on, and on what."""
    s2 = next((r["rmse"] for r in cal.table if r.get("w_pred") == 0), np.nan)
    warn_user(f"{FOREIGN_CUBE_WARNING}, so the setting was chosen on held-out spells of this cube's clear views ({cal.n_hidden} values "
              f"of {cal.n_pixels} pixels in the window {window}): {_setting_words(cal.settings)}; RMSE {cal.rmse:.3f} there, against "
              f"{s2:.3f} for linear interpolation and {cal.rmse_prediction:.3f} for the prediction alone. Training or fine-tuning "
              "on this region usually does better")


def _warn_views_differ(stored: dict[str, Any], cal: Calibration | None, window: str | None) -> None:
    """The model's setting was chosen with the unpaired views and the cube has none, or the reverse: what was done instead."""
    chosen = "with" if stored.get("unpaired_views") else "without"
    has = "holds none" if stored.get("unpaired_views") else "keeps them (align(..., unpaired_views=True))"
    if cal is None:
        warn_user(f"reconstruct: the model's stored setting was chosen {chosen} the clear views no S1 date took, and this cube {has}; "
                  f"it could not be chosen again on this cube's spells (window {window}: too few pixels or clear views), so the "
                  f"stored one is used ({_setting_words(stored['settings'])}): pass weights='auto' to calibrate on a sample of the whole cube")
        return
    warn_user(f"reconstruct: the model's stored setting was chosen {chosen} the clear views no S1 date took, and this cube {has}; "
              f"the setting was chosen again on held-out spells of this cube ({cal.n_hidden} values of {cal.n_pixels} pixels in the "
              f"window {window}): {_setting_words(cal.settings)}; RMSE {cal.rmse:.3f} there, against {cal.rmse_prediction:.3f} for "
              "the prediction alone")


def _transfer_check(cube: xr.Dataset, pred: xr.DataArray) -> TransferSkill:
    """The transfer setting's skill check (:mod:`.transfer`), with the warning that says what it decided."""
    skill = transfer_skill(cube, pred)
    if skill.useless:
        warn_user(f"{FOREIGN_CUBE_WARNING}, and its S1 prediction, corrected by each pixel's clear views, explains none of "
                  f"their variance here (skill {skill.describe()}, not above {SKILL_FLOOR:g}): the gaps are filled from the clear views alone "
                  "(the S2-only setting, linear interpolation). Train or fine-tune on this region, or pass weights='auto' to "
                  "choose on held-out spells of this cube")
    else:
        warn_user(f"{FOREIGN_CUBE_WARNING}: its skill on this cube's clear views is {skill.describe()}, so the fixed transfer setting is used (inverse-variance weights, the "
                  "prediction corrected by this cube's clear views), which can fill gaps worse than linear interpolation where "
                  "the model does not travel. Pass weights='auto' to choose the weights on held-out spells of this cube (a "
                  "bounded sample of it is computed at the call)")
    return skill


@once_per_call
def reconstruct(
    cube: xr.Dataset,
    model: FusionModel,
    *,
    freq: str | None = None,
    smooth: bool | None = None,
    lam: float | None = None,
    obs_std: float = 0.03,
    weights: dict[str, Any] | Calibration | str | None = "model",
    predicted: xr.DataArray | None = None,
    pred_gap_days: float | None = None,
    calibration: dict[str, Any] | None = None,
    debias_days: float | None = None,
    s1_only: bool | None = None,
    **predict_kwargs: Any,
) -> xr.Dataset:
    """Gap-filled NDVI: clear observations where they exist, S1 predictions elsewhere.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` and the paired clear ``NDVI``. With
        ``NDVI_unpaired`` (``align(..., unpaired_views=True)``: the clear
        views no S1 date took, on ``time_s2``), a per-date model's
        reconstruction also takes those within the cube's span as
        observations at their own dates (the output stays on the cube's
        dates or ``freq``): the smoother and a ``freq`` grid use them; on
        the cube's own dates without smoothing they change nothing (each
        date holds its own view or the prediction). The stored setting
        chosen with them shown is used (``info["reconstruction_views"]``);
        a model without one chooses again on the cube's spells (warned). A
        sequence model does not read them (warned).
    model : FusionModel, str or path
        Trained model for the predictions, or what :func:`fusets_dl.load_model`
        loads (a saved model's path, ``"pretrained"``). With ``predicted``
        given, its calibration and std table still apply: the prediction
        must be this model's (its ``model_sha256``).
    freq : str, optional
        Output on a regular grid (``"5D"``, ``"1D"``) from midnight of the
        first cube date until it covers the last one (one step beyond the
        last date at most, so that every clear view is used); default: the
        cube's own dates.
    smooth : bool, optional
        Apply the weighted Whittaker smoother (second differences). Default
        None: on for the per-date model, off for the whole-series sequence
        model (its own output was better unsmoothed on patch A: 0.68 / 0.64
        against 0.73 / 0.69 x linear interpolation, seeds 0 / 1). It runs on
        the output grid when ``freq`` is given, otherwise on a daily grid
        sampled back at the cube dates.
    lam : float, optional
        Whittaker smoothing parameter for a 1-day grid (converted to the grid
        step as ``lam / step**3``); 1000 keeps features of about a month.
        Default None: 1000 in the fixed setting, the calibration's own in a
        calibrated one. Given (even as 1000), it asks for the fixed setting
        under ``weights="model"``.
    obs_std : float
        Standard deviation of a clear observation (NDVI units).
    weights : dict, Calibration, "model", "auto" or None
        ``"model"`` (default): the setting the model chose on hidden spells of
        its own validation blocks when it was trained
        (``model.info["reconstruction"]``, :class:`~fusets_dl.TrainConfig`
        ``calibrate_reconstruction``): prediction weight, ``lam``, long-gap
        guard and residual correction; the output attrs say so
        (``calibration_source``). It is used on a cube of the model's own
        period (the first and last date of a training scene, e.g. a tile of
        the region it was trained on). On another cube (a model trained
        elsewhere, such as the pre-trained one, or another period) its skill
        may differ, and the setting is chosen on held-out spells of that
        cube's own clear views instead: :func:`.calibrate.calibrate` on the
        central window of :func:`.transfer.skill_window` (at most
        :data:`FOREIGN_CALIBRATION_MAX_PIXELS` pixels sampled, computed at the
        call; on the model's own site only in the dates it was not trained
        on; a series longer than :data:`CALIBRATION_MAX_DAYS` in its central
        730 days, so the cost does not grow with the series), the S2-only
        setting among the candidates. A window of fewer than
        :data:`FOREIGN_CALIBRATION_MIN_PIXELS` pixels, or a series too short
        for the spells, gets :data:`TRANSFER_SETTING` (the fixed weights, the
        prediction first corrected by the cube's own clear views) unless the
        prediction's skill on the window's clear views (:mod:`.transfer`) is
        0 or below: then the gaps are filled from the clear views alone (the
        S2-only setting). A warning says which. A model without one (trained with
        ``calibrate_reconstruction=False``, or saved before models kept
        one), or a call that sets ``lam``,
        ``pred_gap_days`` or ``debias_days`` itself, gets the fixed
        setting instead. None: the fixed setting, inverse variances
        (``observed`` 1, ``predicted`` ``(obs_std / model RMSE)**2``, about
        0.1 for a model RMSE of 0.1) with ``lam`` and ``pred_gap_days`` as
        given. ``{"observed": w_o, "predicted": w_p}``: these weights
        (``predicted`` 0 ignores the prediction: S2 only).
        ``"auto"``: the prediction weight, ``lam`` and ``pred_gap_days`` are
        chosen on held-out spells of this cube by
        :func:`~fusets_dl.reconstruction.calibrate.calibrate` (a bounded
        sample of validation/training-block pixels is computed now; the
        reconstruction itself stays lazy); the given ``lam`` and
        ``pred_gap_days`` are then ignored and the choice is recorded in the
        output attrs (``calibration_*``).
        A :class:`~fusets_dl.reconstruction.calibrate.Calibration` (or its
        ``to_dict()``, or the attrs of a calibrated reconstruction): that
        setting, std factor and std growth as they are, with no calibration
        at the call: one setting for every tile of a region (calibrate once,
        pass it to each; the openEO context takes the dict). ``lam``,
        ``pred_gap_days`` and ``debias_days`` are then the calibration's.
        With ``smooth=True`` given, a calibration that chose the S2-only
        setting smooths the clear views (``lam``, default 1000) instead of
        interpolating them.
        With a sequence model, the per-date options above do not apply (a
        warning says so) except one: the attrs of another reconstruction with
        this model (``dict(rec.attrs)``, or a
        :class:`~fusets_dl.reconstruction.sequence_decision.SequenceDecision`),
        whose fill (the model's, or the clear views alone) and std factor are
        then used with no skill check or std refit on this cube: every tile
        of a job fills as that call did.
    predicted : xarray.DataArray or xarray.Dataset, optional
        ``model``'s predictions already computed on this cube (by
        :func:`predict_ndvi`; a Dataset: its ``NDVI_pred``).
    pred_gap_days : float, optional
        The long-gap guard: the S1 prediction alone at this distance (days)
        from the nearest clear observation and beyond, blended linearly with
        the smoothed curve closer in (0: the prediction at every date without
        an observation). Default None: the smoothed curve everywhere.
    calibration : dict, optional
        Options of :func:`~fusets_dl.reconstruction.calibrate.calibrate` for
        ``weights="auto"`` (``grid``, ``gap_days``, ``n_gaps``, ``max_pixels``, ``seed``, ``period``,
        ``max_days``: default :data:`CALIBRATION_MAX_DAYS`, None for the whole series).
    debias_days : float, optional
        First correct the S1 prediction by its residuals at each pixel's clear
        observations (the local residual near them, relaxing to the pixel's
        median residual with this e-folding distance in days:
        :func:`~fusets_dl.reconstruction.kernels.debias_prediction`). Default
        None: the prediction as it is. ``weights="auto"`` chooses it too.
    s1_only : bool, optional
        Sequence model only: fill from its S1-only reading (every NDVI hidden
        from it) instead of reading the clear views too; default None: the
        model's own ``spec["s1_only"]``. A per-date model's inputs are fixed by
        its :class:`~fusets_dl.FeatureSpec`: ``True`` is refused there.
    **predict_kwargs
        Passed to :func:`predict_ndvi` (``device``, ``precision``, ``batch_size``).

    Returns
    -------
    xarray.Dataset
        ``NDVI`` (float32), ``NDVI_std`` (float32) and ``source`` (uint8 CF
        flags: 0 observed, 1 predicted, 2 interpolated, 3 missing) on
        ``(time, y, x)``; lazy on Dask input, identical chunked and unchunked.
        The attrs say which setting filled it (``calibration_source``, and
        the ``calibration_*`` of a calibrated one); on a cube the model was
        not trained on and too small to calibrate, the skill check's
        ``transfer_skill`` (when measurable), ``transfer_skill_pixels`` and
        ``transfer_skill_window``.

    Raises
    ------
    ConfigError
        ``s1_only=True`` with a per-date model; unknown ``weights`` keys or string, ``lam`` or ``obs_std`` not
        positive, a negative ``pred_gap_days``, a ``freq`` that is not a
        whole number of days, or a calibration given as ``weights`` together
        with ``lam``, ``pred_gap_days`` or ``debias_days``; ``smooth=False``
        with ``weights="auto"`` or a given calibration that smooths; a
        sequence model's decision given to a per-date model, or one of another
        sequence model or mode;
        ``predicted`` on other dates or pixels than the cube's, or made by
        another model.
    InsufficientDataError
        ``weights="auto"`` on a cube where no sampled pixel keeps enough clear
        observations around a hidden spell.
    DimensionError, MissingVariableError, EncodingError
        The cube is not a fusion cube with ``NDVI`` in NDVI and ``VV``,
        ``VH`` in dB (see :func:`fusets_dl.validate.check_cube`).

    Warns
    -----
    UserWarning
        ``obs_std`` of 1 or more (NDVI units; percent?); ``weights="model"``
        on a cube the model was not trained on (the setting chosen on the
        cube's held-out spells and their RMSEs; on a small cube the transfer
        setting, or the S2-only setting where the model has no skill on its
        clear views); ``smooth=False`` with the model's own calibrated
        setting, which smooths (the fixed setting is used instead); an
        output grid so long that its chunks in flight would take more than
        half of the memory (about 110 bytes per pixel and output date, the
        whole series of a chunk in one piece: ``freq="1D"`` over years;
        :func:`~fusets_dl.alignment.chunking.check_output_memory`), with the
        chunk side that fits.
    """
    if smooth is not None and not isinstance(smooth, (bool, np.bool_)):
        raise ConfigError(f"reconstruct: smooth: expected True, False or None, found {type(smooth).__name__} {smooth!r}")
    lam_given = lam is not None
    if isinstance(model, (str, os.PathLike)):  # a path or a shipped name, as predict_ndvi takes them (either kind of model)
        model = load_model(model)
    if s1_only is not None and not isinstance(s1_only, (bool, np.bool_)):
        raise ConfigError(f"reconstruct: s1_only: expected True, False or None, found {type(s1_only).__name__} {s1_only!r}")
    if getattr(model, "kind", None) == "sequence":  # the whole-series model: its own reconstruction
        from .sequence import reconstruct_sequence

        decision = sequence_decision(weights) if is_sequence_decision(weights) else None
        ignored = [k for k, v in (("weights", None if decision is not None or (isinstance(weights, str) and weights == "model") else weights),
                                  ("calibration", calibration), ("pred_gap_days", pred_gap_days), ("debias_days", debias_days))
                   if v is not None]
        if weights is None:  # the per-date model's fixed setting
            ignored.append("weights=None")
        if lam_given and not smooth:  # lambda is the Whittaker pass's, which a sequence model runs only with smooth=True
            ignored.append("lam (without smooth=True)")
        if ignored:
            warn_user(f"reconstruct: {', '.join(ignored)} set the per-date model's smoother; a sequence model fills with its own "
                      "mean and std (and its std's refit on a cube it was not trained on): ignored")
        if cube_views(cube) is not None:
            warn_user("reconstruct: a sequence model reads the cube's own dates; the clear views no S1 date took (NDVI_unpaired, "
                      "align(..., unpaired_views=True)) are not used by it: a per-date model smooths them in")
        return reconstruct_sequence(cube, model, freq=freq, smooth=bool(smooth), lam=1000.0 if lam is None else lam, obs_std=obs_std,
                                    predicted=predicted, s1_only=s1_only, decision=decision, **predict_kwargs)
    if is_sequence_decision(weights):
        raise ConfigError("reconstruct: weights: expected a per-date model's calibration, found a sequence model's decision (attrs "
                          "with model_kind 'sequence'): it sets a sequence model's fill; this model is a per-date model")
    if s1_only:
        raise ConfigError("reconstruct: s1_only=True asks a sequence model to hide the clear views from itself; this per-date model's "
                          f"inputs are fixed by its FeatureSpec (groups {list(model.spec.groups)}): for an S1-only prediction train one "
                          "with FeatureSpec(groups=('sar', 'time')), or leave s1_only out")
    lam = 1000.0 if lam is None else lam
    given = given_calibration(weights, lam_given, pred_gap_days, debias_days)
    if given is not None:
        weights = None
    smooth_given = smooth is not None
    smooth = True if smooth is None else bool(smooth)
    check_cube(cube, need_target=True)
    cube = check_cube_values(cube, "reconstruct")
    if cube.sizes["time"] < 2:
        raise InsufficientDataError(f"reconstruct: expected a series of at least 2 dates, found {cube.sizes['time']} (widen the time range)")
    if isinstance(weights, str) and weights not in ("auto", "model"):
        raise ConfigError(f"reconstruct: weights: expected a dict, 'model', 'auto' or None, found {weights!r}")
    _check_smooth_off(smooth_given and not smooth, weights, given)
    stored = None
    if weights == "model":
        stored = _stored_calibration(cube, model, lam_given, pred_gap_days, debias_days)
        weights = None
        if stored is not None and not stored.get("foreign") and smooth_given and not smooth and stored["settings"]["lam"] is not None:
            warn_user(f"reconstruct: smooth=False, and the model's calibrated setting (prediction weight {stored['settings']['w_pred']}, "
                      f"lambda {stored['settings']['lam']:g}) works by smoothing: it is not used; the gaps take the fixed setting "
                      "without smoothing (pass weights=None to choose that without this warning)")
            stored = None
    auto = weights == "auto"
    user_lam = lam
    if calibration is not None and not auto:
        warnings.warn("reconstruct: calibration options are used only with weights='auto'; they were ignored",
                      UserWarning, stacklevel=2)
    weights = check_reconstruct_options(None if auto else weights, lam, obs_std, pred_gap_days, debias_days)  # type: ignore[arg-type]
    if predicted is not None:
        predicted = _checked_prediction(predicted, cube, model)
    pred = predicted if predicted is not None else predict_ndvi(cube, model, **predict_kwargs)
    cal = None
    foreign = stored is not None and bool(stored.get("foreign"))
    views_differ = stored is not None and bool(stored.get("views_differ"))
    cal_window = None
    # the given prediction, else None: the model then predicts the sampled pixels only (bounded)
    if auto:
        cal = _rec_calibrated(cube, model, predicted, calibration, obs_std)
        opts = calibration if isinstance(calibration, Mapping) else {}
        dates = _calibration_dates(cube, opts.get("period"), opts.get("max_days", CALIBRATION_MAX_DAYS))
        cal_window = None if dates is None else f"{dates[0].date()}..{dates[1].date()}"
    elif given is not None:
        cal = given
    elif (foreign or views_differ) and not smooth_given:  # an explicit smooth would undo a chosen setting (a low weight works by smoothing)
        cal, cal_window = _foreign_calibration(cube, model, predicted, obs_std, predict_kwargs.get("device"))
        if views_differ:
            _warn_views_differ(stored, cal, cal_window)
    if cal is not None or stored is not None:
        st = cal.settings if cal is not None else stored["settings"]  # type: ignore[index]
        weights, lam, pred_gap_days, debias_days = {"predicted": st["w_pred"]}, st["lam"], st["pred_gap_days"], st.get("debias_days")
    if foreign and cal is not None:
        _warn_foreign_calibration(cal, cal_window)
    skill = _transfer_check(cube, pred) if foreign and cal is None else None
    if skill is not None and skill.useless:
        weights, lam, pred_gap_days, debias_days = {"predicted": 0.0}, None, None, None
    if (cal is not None or stored is not None) and lam is None:  # the S2-only setting: no smoothing, unless asked for
        if smooth_given and smooth:
            log.info("reconstruct: the calibration chose the clear views alone; smooth=True: they are smoothed (lambda %g)", user_lam)
        else:
            smooth = False
        lam = user_lam
    growth = None  # the std of filled values grows with the distance to a clear view in the calibrated settings
    if cal is not None:
        growth = cal.std_growth_days
    elif stored is not None:
        growth = stored["settings"].get("std_growth_days") if stored.get("foreign") else stored.get("std_growth_days")
    if weights.get("predicted") == 0:  # the S2-only setting: the interpolated std already grows with the distance
        growth = None
    obs, views = cube["NDVI"], cube_views(cube)
    if views is not None:  # align(unpaired_views=True): the clear views no S1 date took, binned at their own dates
        obs, pred = on_union(obs, pred.transpose("time", "y", "x"), views)
    grid = _rec_grid(pd.DatetimeIndex(cube["time"].values), freq, smooth, None if views is None else pd.DatetimeIndex(obs["time"].values))
    edges, table = pred_std_table(model)
    obs_in, prd_in = _rec_inputs(obs, pred)
    span = f"{grid.out_times[0].date()}..{grid.out_times[-1].date()}"
    check_output_memory(obs_in, len(grid.out_idx), grid=f"freq {freq!r}, {span}" if freq else f"the cube's dates, {span}")
    stacked = _rec_apply(
        obs_in,
        prd_in,
        grid,
        obs_std=float(obs_std),
        w_obs=float(weights.get("observed", 1.0)),
        w_pred=weights.get("predicted"),
        edges=edges,
        table=table,
        lam=float(lam) if smooth else None,
        pred_gap_days=None if pred_gap_days is None else float(pred_gap_days),
        debias_days=None if debias_days is None else float(debias_days),
        std_growth_days=None if growth is None else float(growth),
        spread_floor=TRANSFER_SPREAD_FLOOR["optical" if reads_ndvi(model) else "s1"] if foreign and cal is None else 1.0,
    )
    std_scale = 1.0
    if cal is not None:
        std_scale = cal.std_scale
    elif stored is not None and not stored.get("foreign"):
        std_scale = float(stored.get("std_scale", 1.0))
    out = _rec_dataset(stacked, std_scale)
    out.attrs = {
        "Conventions": CONVENTIONS,
        "title": "fusets_dl reconstructed NDVI",
        "model_sha256": model.sha256,
        "smoothing": f"weighted Whittaker, lambda {lam} (1-day grid)" if smooth else "none",
        "obs_std": obs_std,
        "freq": freq or "cube dates",
    }
    if views is not None:
        out.attrs["unpaired_views"] = "kept: the clear S2 views no S1 date took (NDVI_unpaired) are observations at their own dates"
    if pred_gap_days is not None:
        out.attrs["pred_gap_days"] = float(pred_gap_days)
    if debias_days is not None:
        out.attrs["debias_days"] = float(debias_days)
    if growth is not None:
        out.attrs["std_growth_days"] = float(growth)
    if cal is not None:
        out.attrs.update(cal.to_attrs())
        out.attrs["calibration_source"] = (f"this cube{f', spells in {cal_window}' if cal_window else ''} (weights='auto')") if auto else (
            f"given (weights=Calibration, chosen on {cal.n_pixels} pixels, blocks {cal.blocks!r})") if given is not None else (
            f"this cube, {'whose unpaired views the stored setting did not match' if views_differ else 'a cube the model was not trained on'}"
            f": held-out spells of its window {cal_window} (weights='model')")
    elif skill is not None:
        out.attrs["calibration_source"] = ("a cube the model was not trained on: " + (
            "S2 only, the prediction left out (its skill on the cube's clear views is 0 or below)" if skill.useless
            else "fixed weights, residual correction") + " (weights='model')")
        out.attrs.update({"transfer_skill_pixels": int(skill.pixels), "transfer_skill_window": skill.window})
        if np.isfinite(skill.skill):
            out.attrs["transfer_skill"] = float(skill.skill)
    elif stored is not None:
        out.attrs.update(Calibration(**{k: stored[k] for k in _CAL_FIELDS}, std_scale=float(stored.get("std_scale", 1.0)),
                                     std_growth_days=stored.get("std_growth_days")).to_attrs())
        blocks = " and training blocks" if stored.get("blocks") == "val+train" else ""  # too few validation pixels: both
        site = f" of its site {stored['site']}" if "site" in stored else ""
        out.attrs["calibration_source"] = f"the model's validation blocks{blocks}{site} (weights='model')"
    out = pixel_coords(out, cube)  # a point cube's point, lon and lat
    if cube.rio.crs is not None:
        out = out.rio.write_crs(cube.rio.crs)
    return out
