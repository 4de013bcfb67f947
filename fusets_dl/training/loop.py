"""The training loop: samples -> spatial-block split -> AdamW with early stopping -> a :class:`FusionModel`."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from .._logging import logger
from .._months import month_shares, months_told, thin_months_message
from .._version import __version__
from .._warn import once_per_call, warn_user
from ..errors import ConfigError, InsufficientDataError, MissingVariableError, ModelError
from ..evaluation.metrics import metrics_by_range, regression_metrics
from ..evaluation.splits import block_mask, scene_extent
from ..features import REQUIRED_MODALITIES, FeatureSpec, orbit_groups, revisit_days
from ..inference.checks import revisit_by_year
from ..models.ensemble import Ensemble
from ..models.fusion_model import FusionModel
from ..models.registry import architecture, build_network
from ..models.scaler import Scaler
from ..options import option
from ..progress import progress_bar
from ..readers.cube import backscatter_coefficient, check_cube_values
from ..runtime import resolve_device
from ..validate import found_value
from ._checks import check_distinct_scenes, check_site_cube, cube_list, site_names, site_splits
from .config import MAX_SEED, TrainConfig, batch_schedule, epoch_limit
from .sampling import collect_samples

__all__ = ["site_names", "train"]

_PARTS = ("train", "val", "test")
_FUNNEL_PART = {"train": "train", "val": "validation", "test": "test"}


@once_per_call
def train(
    cube: xr.Dataset | Sequence[xr.Dataset],
    features: FeatureSpec | Mapping[str, Any] | None = None,
    config: TrainConfig | Mapping[str, Any] | None = None,
    *,
    split: dict[str, Any] | Sequence[dict[str, Any]] | None = None,
    init: FusionModel | None = None,
) -> FusionModel:
    """Train a fusion network that predicts NDVI from the S1 features of one cube or of several sites.

    With several cubes (sites of other dates, orbits and sizes), each cube
    gets its own spatial-block split (its own held-out validation and test
    blocks); samples are drawn per cube with one shared budget
    ``config.max_samples``, split between the cubes in proportion to their
    clear pixel-dates (every clear pixel-date has the same chance to be
    drawn, whichever cube it is in); one scaler is fitted on all training
    samples, and the metrics are reported overall and per site.

    Parameters
    ----------
    cube : xarray.Dataset or sequence of xarray.Dataset
        Fusion cube(s) with ``VV``, ``VH`` and the clear ``NDVI`` target
        (NumPy- or Dask-backed). A site is named by its ``attrs["site"]``,
        else ``attrs["title"]``, else its position (``site0``, ..).
    features : FeatureSpec or dict, optional
        Default: ``init.spec`` when fine-tuning, else ``FeatureSpec()``; a
        dict is read with :meth:`FeatureSpec.from_dict`.
    config : TrainConfig or dict, optional
        Default ``TrainConfig()`` (when fine-tuning: the configuration
        ``init`` was trained with, so a :class:`SequenceModel` ``init``
        trains the sequence model); a dict is read with
        :meth:`TrainConfig.from_dict`; ``config.fusion`` picks the network from
        :data:`fusets_dl.models.registry.NETWORKS`, and ``config.device``
        None takes ``fdl.set_options(device=...)``. Fine-tuning uses
        ``config.learning_rate`` as given (a lower rate than from scratch,
        e.g. 5e-4, keeps more of what ``init`` learned).
    split : dict or sequence of dict, optional
        An explicit block split (as returned by
        :func:`fusets_dl.evaluation.splits.split_blocks`: keys
        ``block_size``, ``grid``, ``val``, ``test``), one per cube, each
        checked against its cube (:func:`~fusets_dl.evaluation.splits.check_split`);
        default: a seeded random one per cube (seed ``config.seed + k`` for
        the k-th cube).
    init : FusionModel, str or path, optional
        Start from this model's weights **and scaler** (fine-tuning); a path
        or a registered name (``"pretrained"``) is loaded first; it must
        have the same feature spec and architecture. Its weights are also the
        starting point of early stopping: the result is never worse on the
        validation blocks than ``init``.

    Returns
    -------
    FusionModel
        The trained model, with its validation and test metrics (on held-out
        spatial blocks), history and the block split. With several cubes,
        ``metrics["sites"]`` holds each site's ``train``/``val``/``test``
        metrics, ``blocks`` is the first cube's split with
        ``blocks["sites"]`` (site -> split) for all, and ``info["sites"]``
        each site's size, dates and data funnel.

    Raises
    ------
    ConfigError
        An argument of the wrong type (a cube in a list that is not a
        Dataset, named by its position; a TrainConfig given as the features;
        a split that is not a dict or a list of them), a split that does not
        fit its cube, or a seed too large for the cubes and members.
    InsufficientDataError
        Fewer than ``config.min_samples`` training samples; the message lists
        how many pixel-dates survived each mask. A site too small for 3
        blocks (named, with several cubes).
    MissingVariableError
        A cube lacks a variable the feature spec needs (named, with the site).
    ModelError
        ``init`` was trained on other features or another architecture, or
        is a model of the other kind than ``config.model``.
    """
    if isinstance(init, str | Path):
        from ..models.io import load_model

        init = load_model(init)  # a path or a registered name, e.g. "pretrained"
    cubes = cube_list(cube, "train")
    features = _features_arg(features)
    config = _config_arg(config)
    if config is None and getattr(init, "kind", None) == "sequence":  # fine-tuning: the configuration init was trained with
        config = TrainConfig.from_dict(init.config) if init.config else TrainConfig(model="sequence")  # type: ignore[union-attr]
    if config is not None and config.model == "sequence":  # the whole-series model (features: not used)
        from .sequence import train_sequence

        if features is not None and features != FeatureSpec():  # a default spec (pipelines pass one) loses nothing
            warnings.warn("train: the sequence model reads its own input channels (TrainConfig.seq_inputs); the feature spec "
                          f"given is not used ({features})", UserWarning, stacklevel=2)

        one = cube if isinstance(cube, xr.Dataset) else cubes  # one cube is passed on as one (as given)
        return train_sequence(one, config, split=split, init=init)  # type: ignore[return-value,arg-type]
    if getattr(init, "kind", None) == "sequence":
        raise ModelError(
            "train(init=...): init is a sequence model (SequenceModel), but the configuration trains the per-date model "
            f"(TrainConfig.model={config.model!r}); fine-tune it with TrainConfig(model=\"sequence\", ...) "  # type: ignore[union-attr]
            "(e.g. TrainConfig.from_dict(init.config)), or leave config out"
        )
    if init is not None and not isinstance(init, FusionModel):
        raise ModelError(f"train(init=...): expected a FusionModel, a saved model's path or 'pretrained', found {type(init).__name__}")
    spec = features or (init.spec if init is not None else FeatureSpec())
    if config is None:
        config = TrainConfig.from_dict(init.config) if init is not None and init.config else TrainConfig()
    return _train_mlp(cubes, spec, config, split, init)


def _features_arg(features: Any) -> FeatureSpec | None:
    """``train``'s ``features`` argument as a FeatureSpec (a dict read with :meth:`FeatureSpec.from_dict`), or None."""
    return _typed_arg(features, FeatureSpec, TrainConfig, "features (the second argument)", "third or as config=...",
                      "train(cube, config=TrainConfig(...))")


def _config_arg(config: Any) -> TrainConfig | None:
    """``train``'s ``config`` argument as a TrainConfig (a dict read with :meth:`TrainConfig.from_dict`), or None."""
    return _typed_arg(config, TrainConfig, FeatureSpec, "config (the third argument)", "second or as features=...",
                      "train(cube, features=FeatureSpec(...))")


def _typed_arg(value: Any, cls: type, swapped: type, what: str, place: str, example: str) -> Any:
    """``value`` as a ``cls`` (a dict read with ``cls.from_dict``), None as None; the other class in its place named."""
    if value is None or isinstance(value, cls):
        return value
    if isinstance(value, swapped):
        raise ConfigError(f"train: {what}: expected a {cls.__name__} or None, found a {swapped.__name__}; a {swapped.__name__} "
                          f"goes {place}, e.g. {example}")
    if isinstance(value, Mapping):
        try:
            return cls.from_dict(dict(value))  # type: ignore[attr-defined]
        except ConfigError as exc:
            raise ConfigError(f"train: {what.split(' ')[0]} (a dict read with {cls.__name__}.from_dict): {exc}") from exc
    raise ConfigError(f"train: {what}: expected a {cls.__name__}, a dict of its fields or None, found {found_value(value)}")


def _train_mlp(
    cubes: list[xr.Dataset],
    spec: FeatureSpec,
    config: TrainConfig,
    split: dict[str, Any] | Sequence[dict[str, Any]] | None,
    init: FusionModel | None,
) -> FusionModel:
    """The per-date network on the samples of one or several cubes (see :func:`train`)."""
    if not cubes:
        raise InsufficientDataError("train: expected a fusion cube or a non-empty sequence of cubes, found an empty sequence")
    names = site_names(cubes)
    top = config.seed + max(len(cubes), config.ensemble) - 1  # cube k draws with seed + k, member j trains from seed + j
    if top > MAX_SEED:
        raise ConfigError(f"train: TrainConfig.seed: expected at most {MAX_SEED - max(len(cubes), config.ensemble) + 1} with "
                          f"{len(cubes)} cubes and ensemble={config.ensemble} (seeds up to seed + {max(len(cubes), config.ensemble) - 1} "
                          f"are drawn, and torch's seeds are 64-bit), found {config.seed}")
    for k, (name, c) in enumerate(zip(names, cubes, strict=True)):
        check_site_cube(c, name, k, len(cubes), "train")
        _check_spec_inputs(c, spec, name, len(cubes))
    splits = site_splits(cubes, names, split, config, "train")  # the sizes only: before the values are read
    cubes = [check_cube_values(c, f"train: {name}") for name, c in zip(names, cubes, strict=True)]
    check_distinct_scenes(cubes, names, "train")
    t_start = time.perf_counter()
    device = _train_setup(config)
    s, parts, funnels = _site_samples(cubes, names, splits, spec, config)
    if len(cubes) > 1:
        empty = [n for n, f in zip(names, funnels, strict=True) if f["train"] == 0]
        if empty:
            raise InsufficientDataError(
                f"train: expected every site to give training samples, found none from {empty} "
                f"(funnels {[f for n, f in zip(names, funnels, strict=True) if n in empty]}); drop those cubes or check their NDVI"
            )
    funnel = _train_funnel(s, parts, config)
    _warn_few_dates(s, parts)
    _warn_empty_groups(s, parts, spec)
    months = _training_months(s, parts, cubes, spec)
    arch = architecture(spec, config)
    if init is not None:
        _check_init(init, spec, arch)
        scaler = init.scaler
    else:
        scaler = Scaler.fit(s["x"][parts["train"]], s["y"][parts["train"]])
    net, history, best_epochs = _fit_members(arch, init, _train_tensors(s, parts, scaler, device), spec, config, device)
    info: dict[str, Any] = {
        "package": "fusets_dl",
        "version": __version__,
        "created": pd.Timestamp.now(tz="UTC").isoformat(),
        "device": str(device),
        "best_epoch": best_epochs[0],
        "train_seconds": time.perf_counter() - t_start,
        "funnel": funnel,
        "scene": _scene_info(cubes[0]),
        "training_months": months,
    }
    if len(best_epochs) > 1:
        info["member_best_epochs"] = best_epochs
    blocks = splits[0]
    if len(cubes) > 1:
        info["sites"] = {n: {**_scene_info(c), "funnel": f} for n, c, f in zip(names, cubes, funnels, strict=True)}
        blocks = {**splits[0], "sites": dict(zip(names, splits, strict=True))}
    if init is not None:
        info["init"] = {"version": init.info.get("version"), "created": init.info.get("created"), "loaded_from": init.info.get("loaded_from"),
                        "learning_rate": config.learning_rate}
    model = FusionModel(
        network=net.cpu().eval(), spec=spec, scaler=scaler, architecture=arch, config=config.to_dict(),
        history=history, blocks=blocks, info=info,
    )
    model.metrics = _train_metrics(model, s, parts)
    if len(cubes) > 1:
        model.metrics["sites"] = {n: _train_metrics(model, s, parts, s["site"] == k, by_range=False) for k, n in enumerate(names)}
    if config.calibrate_reconstruction:
        from ..reconstruction.calibrate import calibrate_stored

        # the setting on the paired views, and (cubes that keep them) one with the unpaired views shown; the months warning
        # was given above (its predictions would give it again: a catch_warnings on the way resets Python's once-per-line)
        with months_told():
            model.info.update(calibrate_stored(model, cubes, splits, names, seed=config.seed, device=str(device)))
    test = model.metrics["test"]
    logger.info("train: held-out test blocks R2 %.3f RMSE %.4f MAE %.4f bias %+.4f (n=%d)", test["r2"], test["rmse"], test["mae"], test["bias"], test["n"])
    for site, m in model.metrics.get("sites", {}).items():  # the pooled number can hide a site that fails
        t = m["test"]
        logger.info("train: site %s: held-out test blocks R2 %.3f RMSE %.4f bias %+.4f (n=%d)", site, t["r2"], t["rmse"], t["bias"], t["n"])
    return model


def _check_spec_inputs(cube: xr.Dataset, spec: FeatureSpec, name: str, n_sites: int) -> None:
    """Every variable the spec reads must be in the cube (so every site gives the same columns)."""
    needs = {"VV": "sar", "VH": "sar", "NDVI": "optical"}
    if "terrain" in spec.groups:
        needs.update({"elevation": "terrain", "slope": "terrain"})
    if spec.cloudy_input:
        needs["NDVI_cloudy"] = "optical (cloudy_input)"
    missing = [f"{v} (group {g})" for v, g in needs.items() if g.split(" ")[0] in spec.groups and v not in cube.variables]
    if missing:
        where = f"site {name!r}" if n_sites > 1 else "the cube"
        raise MissingVariableError(
            f"train: the feature spec (groups {list(spec.groups)}) needs {missing} in every cube; {where} lacks them "
            f"(it has {sorted(map(str, cube.data_vars))}). Add them, or train with a spec without those groups"
        )


def _check_init(init: FusionModel, spec: FeatureSpec, arch: dict[str, Any]) -> None:
    """Fine-tuning needs the same features and architecture as the starting model."""
    if not isinstance(init, FusionModel):
        raise ModelError(f"train(init=...): expected a FusionModel, found {type(init).__name__}")
    init.check_compatible(spec)
    if dict(init.architecture) != dict(arch):
        raise ModelError(
            f"train(init=...): the starting model's architecture {init.architecture} differs from the one this "
            f"configuration builds {arch}; train with the same TrainConfig widths/fusion (e.g. TrainConfig.from_dict(init.config))"
        )


def _warn_empty_groups(s: dict[str, Any], parts: dict[str, np.ndarray], spec: FeatureSpec) -> None:
    """Warn when every feature of a requested group is missing in every training sample (the model learns nothing from it).

    A terrain layer that covers none of the training pixels, or a DEM that is
    all nodata, gave a terrain model whose terrain inputs were its baseline
    everywhere; its prediction then said the cube "has none", as if the
    training cube had had it.
    """
    from ..features.groups import FEATURE_GROUPS

    x = s["x"][parts["train"]]
    if x.shape[0] == 0:
        return
    finite = np.isfinite(x).any(axis=0)
    empty = []
    for group in spec.groups:
        cols = [spec.names.index(n) for n in FEATURE_GROUPS[group].names(spec) if n in spec.names]
        if cols and not finite[cols].any():
            empty.append(group)
    if empty:
        msg = (f"train: the feature group(s) {empty} are missing in every training sample ({x.shape[0]} samples): the model "
               "learns nothing from them (they read as their baseline); check that the cube's layers for them cover the "
               "training pixels, or train without those groups")
        logger.warning(msg)
        warnings.warn(msg, UserWarning, stacklevel=3)


def _warn_few_dates(s: dict[str, Any], parts: dict[str, np.ndarray]) -> None:
    """Warn when the training samples come from fewer than 3 dates (the day of year and the seasons are then not learnt)."""
    n_dates = np.unique(s["it"][parts["train"]]).size if "site" not in s else np.unique(
        np.stack([s["site"][parts["train"]], s["it"][parts["train"]]]), axis=1).shape[1]
    if n_dates < 3:
        msg = (f"train: the training samples come from {n_dates} date(s) with clear NDVI: the model cannot learn how NDVI "
               "changes through the season (its day-of-year features are nearly constant); widen the time range")
        logger.warning(msg)
        warnings.warn(msg, UserWarning, stacklevel=3)


def _training_months(s: dict[str, Any], parts: dict[str, np.ndarray], cubes: list[xr.Dataset], spec: FeatureSpec) -> list[float]:
    """Each calendar month's share of the training samples (``info["training_months"]``); a warning on months they hardly cover.

    The months are those of the cubes' dates; :func:`fusets_dl.predict_ndvi`
    warns the same on a cube whose dates fall in them.
    """
    sel = parts["train"]
    times = np.concatenate([np.asarray(c["time"].values)[s["it"][sel & (s["site"] == k)]] for k, c in enumerate(cubes)])
    shares = month_shares(times)
    msg = thin_months_message(shares, np.concatenate([np.asarray(c["time"].values) for c in cubes]), spec.doy)
    if msg is not None:
        warn_user(msg)
    return shares


def _site_samples(
    cubes: list[xr.Dataset], names: list[str], splits: list[dict[str, Any]], spec: FeatureSpec, config: TrainConfig
) -> tuple[dict[str, Any], dict[str, np.ndarray], list[dict[str, int]]]:
    """Samples of every cube, concatenated (``site`` = cube index), their train/val/test masks and per-cube funnels.

    One cube: ``config.max_samples`` from it. Several: the budget is split in
    proportion to each cube's clear pixel-dates, so every clear pixel-date
    has the same chance to be drawn.
    """
    if len(cubes) == 1:
        caps = [config.max_samples]
    else:
        n_clear = [int(c["NDVI"].notnull().sum().compute()) for c in cubes]
        total = max(sum(n_clear), 1)
        caps = [max(1, round(config.max_samples * n / total)) for n in n_clear]
    samples, masks, funnels = [], [], []
    for k, (c, blocks, cap) in enumerate(zip(cubes, splits, caps, strict=True)):
        s = collect_samples(c, spec, max_samples=cap, seed=config.seed + k, context_gap_days=config.context_gap_days)
        p = _train_parts(s, blocks, c.sizes["y"], c.sizes["x"])
        s["site"] = np.full(s["y"].size, k, dtype=np.int32)
        samples.append(s)
        masks.append(p)
        funnels.append({"pixel_dates": s["n_total"], "with_clear_ndvi": s["n_target"], "with_complete_features": s["n_complete"],
                        "sampled": int(s["y"].size), **{_FUNNEL_PART[q]: int(p[q].sum()) for q in _PARTS}})
        if len(cubes) > 1:
            logger.info("train: site %r funnel %s", names[k], funnels[-1])
    if len(cubes) == 1:
        return samples[0], masks[0], funnels
    out: dict[str, Any] = {key: np.concatenate([s[key] for s in samples]) for key in ("x", "y", "iy", "ix", "it", "site")}
    for key in ("n_total", "n_target", "n_complete"):
        out[key] = int(sum(s[key] for s in samples))
    parts = {q: np.concatenate([m[q] for m in masks]) for q in _PARTS}
    return out, parts, funnels


# --------------------------------------------------------------------------- data

def _train_setup(config: TrainConfig) -> torch.device:
    """Seed torch, set its CPU threads, and resolve the device (None: the ``device`` option)."""
    torch.manual_seed(config.seed)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    return resolve_device(config.device)


def _train_parts(s: dict[str, Any], blocks: dict[str, Any], ny: int, nx: int) -> dict[str, np.ndarray]:
    """Boolean masks over the samples: which fall in train, validation and test blocks."""
    is_test = block_mask(ny, nx, blocks, "test")[s["iy"], s["ix"]]
    is_val = block_mask(ny, nx, blocks, "val")[s["iy"], s["ix"]]
    return {"train": ~(is_test | is_val), "val": is_val, "test": is_test}


def _train_funnel(s: dict[str, Any], parts: dict[str, np.ndarray], config: TrainConfig) -> dict[str, int]:
    """How many pixel-dates survived each step; an error listing them when too few remain to train."""
    funnel = {
        "pixel_dates": s["n_total"],
        "with_clear_ndvi": s["n_target"],
        "with_complete_features": s["n_complete"],
        "sampled": int(s["y"].size),
        "train": int(parts["train"].sum()),
        "validation": int(parts["val"].sum()),
        "test": int(parts["test"].sum()),
    }
    logger.info("train: data funnel %s", funnel)
    if funnel["train"] < config.min_samples or funnel["validation"] < 2 or funnel["test"] < 2:
        raise InsufficientDataError(
            f"train: expected at least {config.min_samples} training samples (and 2 validation and test samples), "
            f"found {funnel['train']} training, {funnel['validation']} validation, {funnel['test']} test. "
            f"Data funnel: {funnel['pixel_dates']} pixel-dates -> {funnel['with_clear_ndvi']} with clear NDVI -> "
            f"{funnel['with_complete_features']} with complete features -> {funnel['sampled']} sampled"
        )
    return funnel


@dataclass
class _Tensors:
    """Standardised training and validation samples on the training device."""

    xt: torch.Tensor
    yt: torch.Tensor
    xv: torch.Tensor
    yv: torch.Tensor


def _train_tensors(s: dict[str, Any], parts: dict[str, np.ndarray], scaler: Scaler, device: torch.device) -> _Tensors:
    """Standardise the train and validation samples (absent optional features: the baseline 0) onto ``device``."""

    def _prep(sel: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        xs = (s["x"][sel] - scaler.feature_mean) / scaler.feature_std
        xs = torch.from_numpy(np.where(np.isfinite(xs), xs, 0.0).astype(np.float32))
        ys = torch.from_numpy((s["y"][sel] - scaler.target_mean) / scaler.target_std)
        return xs.to(device), ys.to(device)

    xt, yt = _prep(parts["train"])
    xv, yv = _prep(parts["val"])
    return _Tensors(xt, yt, xv, yv)


def _scene_info(cube: xr.Dataset) -> dict[str, Any]:
    """Size, date range, name, backscatter coefficient (sigma0/gamma0 when known) and revisit of the training scene (the model's ``info``).

    ``revisit_days``: the median days between acquisitions of one orbit
    group (``orbit``) and of any (``any``); ``revisit_years``: the same per
    calendar year (``{"orbit": {"2018": 6.0, ...}, "any": {...}}``, years of
    too few dates left out, :func:`~fusets_dl.inference.checks.revisit_by_year`),
    whose range ``predict_ndvi`` compares with each year of a cube
    (:func:`fusets_dl.inference.checks.check_revisit`): an archive of 6-day
    and 12-day years (Sentinel-1B lost on 2021-12-23) records both.
    ``bounds`` / ``lonlat``: where it lies (:func:`~fusets_dl.evaluation.splits.scene_extent`),
    so that a cube of another place with the same dates is not taken for it.
    """
    t = pd.DatetimeIndex(cube["time"].values)
    days = ((t - t[0]) / pd.Timedelta(days=1)).to_numpy(np.float64)
    groups, one = orbit_groups(cube), np.zeros(days.size, dtype=np.int64)
    revisit = {"orbit": revisit_days(days, groups), "any": revisit_days(days, one)}
    years = {"orbit": revisit_by_year(t.values, groups), "any": revisit_by_year(t.values, one)}
    return {
        "site": cube.attrs.get("site") or cube.attrs.get("title"),
        "ny": cube.sizes["y"],
        "nx": cube.sizes["x"],
        "nt": cube.sizes["time"],
        "start": str(cube.time.values[0])[:10],
        "end": str(cube.time.values[-1])[:10],
        "backscatter": backscatter_coefficient(cube),
        "revisit_days": revisit,
        "revisit_years": years,
        **scene_extent(cube),
    }


# --------------------------------------------------------------------------- optimisation

def _loss_fn(name: str) -> nn.Module:
    return nn.HuberLoss(delta=1.0) if name == "huber" else nn.MSELoss()


def _fit_members(
    arch: dict[str, Any], init: FusionModel | None, t: _Tensors, spec: FeatureSpec, config: TrainConfig, device: torch.device
) -> tuple[nn.Module, list[dict[str, float]], list[int]]:
    """The network of ``arch`` trained on ``t``: one, or each member of an ensemble in turn (``arch["members"]``).

    Member ``j`` > 0 starts from torch seed ``config.seed + j`` (its initial
    weights, batch order and dropout); member 0 is the network a single-model
    training with ``config.seed`` gives. When fine-tuning, member ``j``
    starts from ``init``'s member ``j``. Returns the network (on ``device``),
    the history (records of members > 0 carry ``"member"``) and each member's
    best epoch.
    """
    k = int(arch.get("members", 1))
    if k == 1:
        net = build_network(arch).to(device)
        if init is not None:
            net.load_state_dict(init.network.state_dict())
        history, best = _train_fit(net, t, spec, config, device, keep_start=init is not None)
        return net, history, [best]
    base = {key: v for key, v in arch.items() if key != "members"}
    nets, history, bests = [], [], []
    for j in range(k):
        # the member seeds were checked with the config (seed + ensemble - 1 <= MAX_SEED): ensemble=1 keeps the copy
        # from checking seed + j against the members again
        cfg = config if j == 0 else replace(config, seed=config.seed + j, ensemble=1)
        if j:
            torch.manual_seed(cfg.seed)
        logger.info("train: ensemble member %d of %d (seed %d)", j + 1, k, cfg.seed)
        net = build_network(base).to(device)
        if init is not None:
            net.load_state_dict(init.network.members[j].state_dict())
        h, best = _train_fit(net, t, spec, cfg, device, keep_start=init is not None)
        history += [rec if j == 0 else {**rec, "member": j} for rec in h]
        nets.append(net)
        bests.append(best)
    return Ensemble(nets).to(device), history, bests


def _train_fit(
    net: nn.Module, t: _Tensors, spec: FeatureSpec, config: TrainConfig, device: torch.device, *, keep_start: bool = False
) -> tuple[list[dict[str, float]], int]:
    """Optimise ``net`` in place with AdamW and early stopping; it ends with the best epoch's weights.

    ``keep_start`` (fine-tuning): the starting weights compete as epoch 0,
    so the result is never worse on the validation samples than the start.
    Returns the per-epoch history and the best epoch (-1 when no epoch
    improved; 0 when the starting weights stayed best).
    """
    drop_cols = _dropout_columns(spec, config, device)
    bs, lr0 = batch_schedule(config, int(t.xt.shape[0]), fine_tune=keep_start)
    if bs != config.batch_size:
        logger.info("train: batch %d, learning rate %.2e (%d training samples; batch_size %d, max_batch_size %d)",
                    bs, lr0, int(t.xt.shape[0]), config.batch_size, config.max_batch_size)
    opt = torch.optim.AdamW(net.parameters(), lr=lr0, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=config.lr_factor, patience=config.lr_patience)
    loss_fn = _loss_fn(config.loss)
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    amp = config.mixed_precision and device.type == "cuda"
    history: list[dict[str, float]] = []
    best: tuple[float, dict[str, torch.Tensor] | None, int] = (float("inf"), None, -1)
    if keep_start:
        best = (_train_val_loss(net, t, loss_fn, device, amp), {k: v.detach().clone() for k, v in net.state_dict().items()}, 0)
    max_epochs = epoch_limit(config, int(t.xt.shape[0]))
    if max_epochs < config.max_epochs:
        logger.info("train: at most %d epochs (max_sample_passes %d over %d training samples; max_epochs %d)",
                    max_epochs, config.max_sample_passes, int(t.xt.shape[0]), config.max_epochs)
    with progress_bar(max_epochs, "train", unit="epoch") as bar:
        # the bar shows every epoch; without it (no terminal) each epoch is a log line at INFO
        level = logging.INFO if bar.disable and option("progress") else logging.DEBUG
        for epoch in range(max_epochs):
            t0 = time.perf_counter()
            loss = _train_epoch(net, t, opt, loss_fn, gen, drop_cols, config, device, amp, bs)
            vloss = _train_val_loss(net, t, loss_fn, device, amp)
            lr = opt.param_groups[0]["lr"]
            sched.step(vloss)
            rec = {"epoch": epoch + 1, "loss": loss, "val_loss": vloss, "lr": lr, "seconds": time.perf_counter() - t0}
            history.append(rec)
            eta = sum(h["seconds"] for h in history) / len(history) * (max_epochs - epoch - 1)
            bar.set_postfix({"loss": f"{loss:.4f}", "val_loss": f"{vloss:.4f}"}, refresh=False)
            bar.update(1)
            logger.log(level, "train: epoch %d/%d loss %.4f val_loss %.4f lr %.2e (%.1f s, at most %.0f s left)",
                       epoch + 1, max_epochs, loss, vloss, lr, rec["seconds"], eta)
            if vloss < best[0] - 1e-5:
                best = (vloss, {k: v.detach().clone() for k, v in net.state_dict().items()}, epoch + 1)
            elif epoch + 1 - best[2] >= config.patience:
                bar.set_postfix({"loss": f"{loss:.4f}", "val_loss": f"{vloss:.4f}", "early stop": f"best {best[2]}"})
                logger.info("train: early stop at epoch %d/%d (best %d)", epoch + 1, max_epochs, best[2])
                break
    if best[1] is None:  # no epoch had a finite validation loss: the weights are NaN or inf
        raise ModelError(
            f"train: training diverged: the validation loss was not finite in any of {len(history)} epochs "
            f"(last {history[-1]['val_loss'] if history else float('nan'):.4g}, training loss "
            f"{history[-1]['loss'] if history else float('nan'):.4g}); expected a finite loss. Lower learning_rate "
            f"(now {config.learning_rate:g}), or check the features and target for huge values"
        )
    net.load_state_dict(best[1])
    return history, best[2]


def _train_epoch(
    net: nn.Module,
    t: _Tensors,
    opt: torch.optim.Optimizer,
    loss_fn: nn.Module,
    gen: torch.Generator,
    drop_cols: torch.Tensor | None,
    config: TrainConfig,
    device: torch.device,
    amp: bool,
    batch_size: int,
) -> float:
    """One pass over the shuffled training samples in batches of ``batch_size``; the mean training loss."""
    net.train()
    n = t.xt.shape[0]
    bs = min(batch_size, n)
    perm = torch.randperm(n, generator=gen).to(device)
    total = torch.zeros((), device=device)  # summed on the device: no host sync per step
    steps = 0
    for i in range(0, n - bs + 1, bs):  # drop the last partial batch (BatchNorm needs > 1)
        idx = perm[i : i + bs]
        xb = t.xt[idx]
        if drop_cols is not None:
            xb = _modality_dropout(xb, drop_cols, config.modality_dropout, gen)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(net(xb).float(), t.yt[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        total += loss.detach()
        steps += 1
    return float(total) / max(steps, 1)


def _train_val_loss(net: nn.Module, t: _Tensors, loss_fn: nn.Module, device: torch.device, amp: bool) -> float:
    """The loss on the validation samples (eval mode, batched)."""
    net.eval()
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        return float(loss_fn(_batched(net, t.xv).float(), t.yv))


def _batched(net: nn.Module, x: torch.Tensor, bs: int = 65536) -> torch.Tensor:
    return torch.cat([net(x[i : i + bs]) for i in range(0, x.shape[0], bs)]) if x.shape[0] else x.new_zeros(0)


def _dropout_columns(spec: FeatureSpec, config: TrainConfig, device: torch.device) -> torch.Tensor | None:
    """(M_optional, n_features) 0/1 masks of the droppable modalities' columns, or None."""
    if config.modality_dropout <= 0:
        return None
    opt = [m for m in spec.modalities if m not in REQUIRED_MODALITIES]
    if not opt:
        return None
    mod = spec.modality
    cols = torch.tensor([[1.0 if mod[n] == m else 0.0 for n in spec.names] for m in opt])
    return cols.to(device)


def _modality_dropout(x: torch.Tensor, cols: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Set each optional modality of each sample to its baseline (0) with probability ``p``.

    SAR and time are never dropped, so at least one modality always stays.
    """
    drop = (torch.rand((x.shape[0], cols.shape[0]), generator=gen) < p).to(x.device, x.dtype)
    removed = (drop @ cols).clamp(max=1.0)  # (batch, n_features)
    return x * (1.0 - removed)


# --------------------------------------------------------------------------- metrics

def _train_metrics(
    model: FusionModel, s: dict[str, Any], parts: dict[str, np.ndarray], within: np.ndarray | None = None, *, by_range: bool = True
) -> dict[str, Any]:
    """Metrics of the trained model on its train, validation and test samples (on the CPU); ``within``: of one site only."""
    metrics: dict[str, Any] = {}
    for name in _PARTS:
        sel = parts[name] if within is None else parts[name] & within
        pred = model.predict_array(s["x"][sel], device="cpu")
        metrics[name] = regression_metrics(s["y"][sel], pred)
        if name == "val" and by_range:  # the std of a prediction comes from held-out residuals that are not the test's
            metrics["val_by_pred_range"] = [
                {"range": r["range"], "n": r["n"], "rmse": r["rmse"]} for r in metrics_by_range(pred, s["y"][sel])
            ]
        if name == "test" and by_range:
            metrics["test_by_range"] = metrics_by_range(s["y"][sel], pred)
            # residual RMSE binned on the *predicted* value: the uncertainty of a new prediction
            metrics["test_by_pred_range"] = [
                {"range": r["range"], "n": r["n"], "rmse": r["rmse"]} for r in metrics_by_range(pred, s["y"][sel])
            ]
    return metrics
