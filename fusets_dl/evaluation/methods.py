"""The methods of the gap-filling comparison: one registry table, one entry per method.

Each entry of :data:`COMPARISON_METHODS` says how a method is named in the
tables (``label``), drawn in the figures (``color``) and how it fills the
hidden gaps (``fill``), as flox's ``AGGREGATIONS`` table does for its
reductions. A new baseline is one entry::

    from fusets_dl.evaluation.methods import COMPARISON_METHODS, Method

    def _fill_mine(inputs):
        return my_filler(inputs.ndvi).transpose("time", "pixel").values

    COMPARISON_METHODS["mine"] = Method("My baseline (S2 only)", "#a6761d", _fill_mine)

after which ``CompareConfig(methods=("mine", ...))`` runs it, and its row,
label and colour appear in the table and the figure.

This module imports neither torch nor matplotlib: the methods load what they
need when they run.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import xarray as xr

from ..errors import ConfigError
from .splits import model_blocks, season_split

if TYPE_CHECKING:
    from .comparison import CompareConfig

__all__ = ["COMPARISON_METHODS", "EXTRA_COLORS", "LABELS", "SEQUENCE_NOT_CALIBRATED", "Filled", "GapInputs", "Method", "color_of", "label_of",
           "s1_prediction"]


@dataclass(frozen=True)
class GapInputs:
    """What every method of the comparison gets: the cube with the gaps hidden and the pixels scored.

    Parameters
    ----------
    cube : xarray.Dataset
        The loaded fusion cube with the hidden clear NDVI set to NaN (every
        pixel of the scene, so scene-wide methods can run on it).
    pixels : dict
        Vectorised indexer ``{"y": ..., "x": ...}`` on a ``pixel`` dimension:
        the evaluated pixels, in the order of the result arrays.
    model : FusionModel
        The trained fusion model of the comparison.
    config : CompareConfig
        The comparison settings (``lam``, ``mogpr``, ...).
    prediction : xarray.DataArray, optional
        The model's S1 prediction on ``cube`` (``time, y, x``), computed once
        for the methods with ``uses_prediction``; ``None`` otherwise.
    train_config : TrainConfig or dict, optional
        The caller's training settings (``compare(train_config=...)``): the
        ``sequence`` row trains its own model with them (as
        ``model="sequence"``); None: the defaults.
    notes : dict
        What the methods chose on their own (the Whittaker row's lambda),
        added to the result's ``info``.
    """

    cube: xr.Dataset
    pixels: dict[str, xr.DataArray]
    model: Any
    config: CompareConfig
    prediction: xr.DataArray | None = None
    train_config: Any = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def ndvi(self) -> xr.DataArray:
        """The clear NDVI left after hiding, at the evaluated pixels (``time, pixel``)."""
        return self.cube["NDVI"].isel(self.pixels)

    @property
    def views(self) -> xr.DataArray:
        """Every clear view left after hiding at the evaluated pixels: :attr:`ndvi`, and on a cube that keeps
        them (``align(unpaired_views=True)``) the unpaired views at their own dates (``time`` their union)."""
        from ..reconstruction.views import cube_views, on_union

        extra = cube_views(self.cube)
        if extra is None:
            return self.ndvi
        return on_union(self.cube["NDVI"], None, extra)[0].isel(self.pixels)


class Filled(NamedTuple):
    """A method's reconstruction with its standard deviation, both ``(time, pixel)``.

    A ``fill`` that returns one is also scored on its uncertainty (the
    shares of hidden values within 1 and 2 std:
    :func:`~fusets_dl.evaluation.metrics.coverage_metrics`).
    """

    values: np.ndarray
    std: np.ndarray


@dataclass(frozen=True)
class Method:
    """One method of the gap-filling comparison.

    Parameters
    ----------
    label : str
        Name in the tables and figure legends.
    color : str
        Matplotlib colour of its bars and lines.
    fill : callable
        ``fill(inputs: GapInputs) -> numpy.ndarray``: the reconstruction at
        the evaluated pixels, ``(time, pixel)`` on the cube's dates, NaN where
        the method cannot fill; or a :class:`Filled` with its std as well.
    uses_prediction : bool
        The method uses ``inputs.prediction``; its time includes the
        prediction's.
    scene_wide : bool
        The method processes every pixel of the scene (not only the
        evaluated ones): its time per pixel divides by the scene's size.
    default : bool
        Run by default (``CompareConfig().methods``); opt-in methods (the
        sequence model, which trains its own model) are named explicitly.
    """

    label: str
    color: str
    fill: Callable[[GapInputs], np.ndarray | Filled]
    uses_prediction: bool = False
    scene_wide: bool = False
    default: bool = True


def _at_pixels(da: xr.DataArray, inputs: GapInputs) -> np.ndarray:
    return da.isel(inputs.pixels).transpose("time", "pixel").values


def _filled(rec: xr.Dataset, inputs: GapInputs) -> Filled:
    """``NDVI`` and ``NDVI_std`` of a reconstruction at the evaluated pixels (computed together)."""
    rec = rec[["NDVI", "NDVI_std"]].compute()
    return Filled(_at_pixels(rec["NDVI"], inputs), _at_pixels(rec["NDVI_std"], inputs))


def _fill_fusion(inputs: GapInputs) -> Filled:
    """The fusion reconstruction as ``reconstruct`` gives it by default (the model's calibration when it has one)."""
    from ..reconstruction import reconstruct
    from ..reconstruction.api import FOREIGN_CUBE_WARNING

    with warnings.catch_warnings():  # scoring the default on another site is the point here, not a user's oversight
        warnings.filterwarnings("ignore", message=re.escape(FOREIGN_CUBE_WARNING), category=UserWarning)
        rec = reconstruct(inputs.cube, inputs.model, predicted=inputs.prediction)  # no lam: given, it would ask for the fixed setting
    return _filled(rec, inputs)


def _fill_fusion_fixed(inputs: GapInputs) -> Filled:
    """The fusion reconstruction with the fixed setting (inverse-variance weights, lambda, no guard, no residual correction)."""
    from ..reconstruction import reconstruct

    return _filled(reconstruct(inputs.cube, inputs.model, lam=inputs.config.lam, weights=None, predicted=inputs.prediction), inputs)


#: Why a sequence model has no ``fusion_calibrated`` row (nor ``score_sites``' calibrated columns).
SEQUENCE_NOT_CALIBRATED = (
    "a sequence model has no calibrated reconstruction: reconstruct(weights='auto') chooses the per-date model's prediction "
    "weight, lambda and long-gap guard on held-out spells, and a sequence model fills the gaps with its own mean instead "
    "(observations kept; reconstruct refits its std on a cube it was not fitted on), so a 'calibrated' score would repeat "
    "the uncalibrated one"
)


def _fill_fusion_calibrated(inputs: GapInputs) -> Filled:
    """The fusion reconstruction with weights, lambda and long-gap guard calibrated on held-out spells (never test blocks)."""
    from ..reconstruction import reconstruct

    if getattr(inputs.model, "kind", None) == "sequence":  # compare leaves the row out; reached only by a direct call
        raise ConfigError(f"fusion_calibrated: expected a per-date model, found a sequence model: {SEQUENCE_NOT_CALIBRATED}")
    opts = {"seed": inputs.config.seed, "gap_days": inputs.config.gap_days, "n_gaps": min(3, inputs.config.n_gaps)}
    if inputs.config.period is not None:
        # spells where the scored ones are (leave-season-out: the unseen season), so the calibration trusts the
        # prediction as much as that period deserves; still on validation/training blocks only
        opts["period"] = inputs.config.period
    return _filled(reconstruct(inputs.cube, inputs.model, weights="auto", predicted=inputs.prediction, calibration=opts), inputs)


def s1_prediction(cube: xr.Dataset, model: Any) -> xr.DataArray:
    """The model's prediction from S1 (and its own features) that does not read the clear NDVI it is scored on.

    The per-date model's :func:`~fusets_dl.predict_ndvi`; a sequence model
    reads the clear NDVI of the whole series, so its S1-only mode
    (``s1_only=True``: every NDVI hidden).

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube.
    model : FusionModel or SequenceModel
        Trained model.

    Returns
    -------
    xarray.DataArray
        ``NDVI_pred(time, y, x)``, lazy on Dask input.
    """
    if getattr(model, "kind", None) == "sequence":
        from ..inference.sequence import predict_sequence

        return predict_sequence(cube, model, s1_only=True)["NDVI_pred"]
    from ..inference import predict_ndvi

    return predict_ndvi(cube, model)


def _fill_fusion_s1_only(inputs: GapInputs) -> np.ndarray:
    """The model's S1 prediction alone (a sequence model's S1-only mode: it does not see the clear NDVI around the spell)."""
    if getattr(inputs.model, "kind", None) == "sequence":
        return _at_pixels(s1_prediction(inputs.cube, inputs.model).compute(), inputs)
    if inputs.prediction is None:
        raise ValueError("fusion_s1_only: expected the model's prediction in the inputs, found None")
    return _at_pixels(inputs.prediction, inputs)


def _fill_mogpr(inputs: GapInputs) -> Filled:
    """MOGPR with NDVI and the RVI of each relative orbit as outputs (NDVI at every clear view the cube keeps)."""
    from ..baselines import GPConfig, mogpr, mogpr_inputs

    sub = mogpr_inputs(inputs.cube.isel(inputs.pixels))
    views = inputs.views
    if views.sizes["time"] != sub.sizes["time"]:  # the unpaired views: NDVI at their own dates, no radar there
        sub = sub.reindex(time=views["time"].values).assign(NDVI=views.transpose(*sub["NDVI"].dims))
    res = mogpr(sub, target="NDVI", config=GPConfig(**inputs.config.mogpr)).compute().sel(time=inputs.cube["time"].values)
    return Filled(res["NDVI"].transpose("time", "pixel").values, res["NDVI_std"].transpose("time", "pixel").values)


#: The lambdas the Whittaker row chooses from (``CompareConfig(whittaker_lam="auto")``; 1-day grid: a scale of about
#: ``lam ** 0.25`` days, 2 to 32).
WHITTAKER_LAMS = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 1e4, 3e4, 1e5, 3e5, 1e6)
#: Fewest values the Whittaker row's own spells must hide to choose its lambda (else ``CompareConfig.lam``).
WHITTAKER_MIN_HIDDEN = 100
#: Added to the comparison's seed for the Whittaker row's own spells (other positions than the scored ones).
_WHITTAKER_SEED = 7919


def whittaker_lam(inputs: GapInputs) -> tuple[float, str]:
    """The Whittaker row's lambda, and how it was chosen.

    ``CompareConfig.whittaker_lam`` when a number. ``"auto"``: the lambda of
    :data:`WHITTAKER_LAMS` with the lowest RMSE on spells of the same length
    and number hidden again in the clear views the comparison left visible
    (other positions: the scored values stay hidden from the choice), as the
    fusion's setting is chosen on held-out spells. The fixed 1000 suited
    patch A (chosen there too: 0.1746 against linear 0.1506 on 3 x 60-day
    spells) but not a synthetic Demak-like rice scene of 2-3 crops a year
    (0.2914 against linear 0.2036; the chosen 1e6: 0.2011).

    Parameters
    ----------
    inputs : GapInputs
        The comparison's inputs.

    Returns
    -------
    tuple of (float, str)
        The lambda and a description for the result's ``info``.

    Raises
    ------
    ConfigError
        Never for valid inputs; ``CompareConfig`` checks ``whittaker_lam``.
    """
    from ..baselines import whittaker_baseline
    from .gaps import hide_gaps

    cfg = inputs.config
    if cfg.whittaker_lam != "auto":
        return float(cfg.whittaker_lam), "given"
    views = inputs.views.transpose("time", "pixel")
    vals = views.values.astype(np.float64)
    t = views["time"].values
    days = ((t - t[0]) / np.timedelta64(1, "D")).astype(np.float64)
    iy, ix = np.asarray(inputs.pixels["y"]), np.asarray(inputs.pixels["x"])
    extra = hide_gaps(vals, days, iy, ix, gap_days=cfg.gap_days, n_gaps=cfg.n_gaps, seed=cfg.seed + _WHITTAKER_SEED)
    if int(extra.sum()) < WHITTAKER_MIN_HIDDEN:
        return float(cfg.lam), f"CompareConfig.lam: {int(extra.sum())} values hidden to choose it, under {WHITTAKER_MIN_HIDDEN}"
    shown = views.where(~extra)
    scores = {}
    for lam in WHITTAKER_LAMS:
        fit = whittaker_baseline(shown, t, lam=lam).transpose("time", "pixel").values
        ok = extra & np.isfinite(fit)
        scores[lam] = float(np.sqrt(np.mean((fit[ok] - vals[ok]) ** 2))) if ok.any() else np.inf
    best = min(scores, key=lambda k: (scores[k], k))
    return best, (f"chosen on {int(extra.sum())} values of other spells (RMSE " + ", ".join(f"{k:g}: {v:.4f}" for k, v in scores.items()) + ")")


def _fill_whittaker(inputs: GapInputs) -> np.ndarray:
    """Whittaker smoother of the remaining clear NDVI, its lambda chosen on other spells of the visible views (:func:`whittaker_lam`)."""
    from ..baselines import whittaker_baseline

    lam, how = whittaker_lam(inputs)
    inputs.notes["whittaker_lam"] = lam
    inputs.notes["whittaker_lam_choice"] = how
    return whittaker_baseline(inputs.views, inputs.cube["time"].values, lam=lam).transpose("time", "pixel").values


def _fill_linear(inputs: GapInputs) -> np.ndarray:
    """Linear interpolation of the remaining clear NDVI."""
    from ..baselines import interpolate_linear

    return interpolate_linear(inputs.views, inputs.cube["time"].values).transpose("time", "pixel").values


def _sequence_model(inputs: GapInputs) -> Any:
    """The comparison's sequence model: ``inputs.model`` when it is one, else one trained here on the same blocks."""
    if getattr(inputs.model, "kind", None) == "sequence":
        return inputs.model
    from ..training.sequence import train_sequence

    # the split the scored pixels were drawn from: this site's own for a model trained on several (the top-level one is the first site's)
    blocks = model_blocks(inputs.cube, inputs.model) or _foreign_split(inputs.cube, inputs.model.blocks)
    split = {k: blocks[k] for k in ("block_size", "grid", "val", "test")}
    seed = int(dict(getattr(inputs.model, "config", {}) or {}).get("seed", 0))
    cube = inputs.cube
    if inputs.config.mode == "season":  # leave-season-out: it trains on the dates before split_date only, as the fusion model
        cube = cube.isel(time=season_split(cube["time"].values, inputs.config.split_date))
    # the caller's settings (epochs, seq_* options, device, threads), on the fusion model's blocks and seed; one network
    from ..training.config import MLP_ONLY_FIELDS, TrainConfig

    base = TrainConfig()  # the per-date options of a config shared by both rows are the fusion row's, not the sequence model's
    config = replace(_train_config(inputs.train_config), model="sequence", ensemble=1, block_size=int(blocks["block_size"]), seed=seed,
                     **{f: getattr(base, f) for f in MLP_ONLY_FIELDS})
    return train_sequence(cube, config, split=split)


def _train_config(given: Any) -> Any:
    """``compare``'s ``train_config`` as a TrainConfig (a dict of its fields, or None: the defaults)."""
    from ..training.config import TrainConfig

    if given is None:
        return TrainConfig()
    if isinstance(given, Mapping):
        return TrainConfig.from_dict(dict(given))
    if not isinstance(given, TrainConfig):
        raise ConfigError(f"compare: train_config: expected a TrainConfig (or a dict of its fields), found {type(given).__name__}")
    return given


def _foreign_split(cube: xr.Dataset, blocks: Mapping[str, Any]) -> dict[str, Any]:
    """A model's split drawn for another cube, laid on this one: the same block ids on this cube's grid (those outside dropped).

    ``compare`` scores the pixels of those blocks here (with a warning that they were drawn for another cube); the sequence
    row's own model must hold out the same ones, and its training checks the grid against the cube.
    """
    size = int(blocks["block_size"])
    grid = [-(-int(cube.sizes[d]) // size) for d in ("y", "x")]

    def inside(ids: Any) -> list[list[int]]:
        return [[int(i), int(j)] for i, j in ids if int(i) < grid[0] and int(j) < grid[1]]

    return {"block_size": size, "grid": grid, "val": inside(blocks["val"]), "test": inside(blocks["test"])}


def _fill_sequence(inputs: GapInputs) -> Filled:
    """The sequence model's reconstruction (observations kept, the model's mean elsewhere, no smoothing)."""
    from ..reconstruction.sequence import reconstruct_sequence

    return _filled(reconstruct_sequence(inputs.cube, _sequence_model(inputs), smooth=False), inputs)


#: Every method of the comparison, by name, in the order of the tables.
COMPARISON_METHODS: dict[str, Method] = {
    "fusion": Method("DL fusion (reconstruct)", "#1b9e77", _fill_fusion, uses_prediction=True, scene_wide=True),
    "fusion_fixed": Method("DL fusion, fixed setting (reconstruct weights=None)", "#a6d854", _fill_fusion_fixed, uses_prediction=True,
                           scene_wide=True, default=False),
    "fusion_calibrated": Method("DL fusion, calibrated (reconstruct weights='auto')", "#00441b", _fill_fusion_calibrated, uses_prediction=True, scene_wide=True),
    "fusion_s1_only": Method("DL S1 prediction alone", "#66c2a5", _fill_fusion_s1_only, uses_prediction=True, scene_wide=True),
    "sequence": Method("DL sequence model (whole series)", "#e7298a", _fill_sequence, scene_wide=True, default=False),
    "mogpr": Method("MOGPR (NDVI + RVI per orbit)", "#d95f02", _fill_mogpr),
    "whittaker": Method("Whittaker (S2 only)", "#7570b3", _fill_whittaker),
    "linear": Method("Linear interpolation (S2 only)", "#777777", _fill_linear),
}

#: Colours for series without a colour of their own (``fusion[name]`` rows of extra models, baselines in figures).
EXTRA_COLORS: tuple[str, ...] = ("#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4", "#b2df8a")


def label_of(name: str) -> str:
    """The table and legend label of a comparison row.

    Parameters
    ----------
    name : str
        A registry key, or ``fusion[<name>]`` for an extra fusion model.

    Returns
    -------
    str
        The registered label, ``"DL fusion <name>"`` for extra models, else ``name``.
    """
    if name in COMPARISON_METHODS:
        return COMPARISON_METHODS[name].label
    if name.startswith("fusion["):
        return f"DL fusion {name[6:]}"
    return name


def color_of(name: str) -> str:
    """The figure colour of a comparison row.

    Parameters
    ----------
    name : str
        A registry key or any other row name.

    Returns
    -------
    str
        The registered colour; for other rows, a colour of a fixed palette
        chosen from the name (stable across runs).
    """
    if name in COMPARISON_METHODS:
        return COMPARISON_METHODS[name].color
    return EXTRA_COLORS[sum(map(ord, name)) % len(EXTRA_COLORS)]


class _Labels(Mapping[str, str]):
    """Read-only live view ``name -> label`` of :data:`COMPARISON_METHODS`."""

    def __getitem__(self, name: str) -> str:
        return COMPARISON_METHODS[name].label

    def __iter__(self) -> Iterator[str]:
        return iter(COMPARISON_METHODS)

    def __len__(self) -> int:
        return len(COMPARISON_METHODS)

    def __repr__(self) -> str:
        return f"LABELS({dict(self)!r})"


#: ``name -> label`` of every registered method (a live, read-only view of the registry).
LABELS: Mapping[str, str] = _Labels()
