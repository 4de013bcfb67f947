"""Modality relevance: SHAPE scores (Shapley values of each modality's presence, Hu et al. 2022)."""

from __future__ import annotations

import itertools
import logging
import math
from typing import Any

import numpy as np
import torch
import xarray as xr

from ..errors import ConfigError, InsufficientDataError
from .metrics import regression_metrics
from .splits import block_mask, own_blocks

__all__ = ["modality_relevance", "modality_weights", "shapley"]

log = logging.getLogger("fusets_dl")

_METRICS = ("r2", "rmse", "mae")


def shapley(values: dict[frozenset[str], float], players: list[str]) -> dict[str, float]:
    """Exact Shapley values of a set function given on every subset of ``players``.

    ``phi_m = sum_{S not containing m} |S|! (M - |S| - 1)! / M! * (v(S + m) - v(S))``.

    Parameters
    ----------
    values : dict
        ``v(S)`` for every subset ``S`` (a frozenset) of ``players``.
    players : list of str
        The players (here: modalities).

    Returns
    -------
    dict
        ``{player: phi}``; the values add up to ``v(all) - v(none)``.
    """
    M = len(players)
    out = {}
    for m in players:
        others = [p for p in players if p != m]
        phi = 0.0
        for k in range(M):
            w = math.factorial(k) * math.factorial(M - k - 1) / math.factorial(M)
            for S in itertools.combinations(others, k):
                s = frozenset(S)
                phi += w * (values[s | {m}] - values[s])
        out[m] = phi
    return out


def _score(obs: np.ndarray, pred: np.ndarray, metric: str) -> float:
    m = regression_metrics(obs, pred)
    return float(m["r2"]) if metric == "r2" else -float(m[metric])


def _subset_values(model: Any, xs: np.ndarray, y: np.ndarray, metric: str) -> dict[frozenset[str], float]:
    """The metric with only the modalities of each subset present (the others at their baseline, 0)."""
    mods = model.spec.modalities
    col_mod = np.array([model.spec.modality[n] for n in model.spec.names])
    net = model.network.fused() if hasattr(model.network, "fused") else model.network
    net = net.float().eval()
    out = {}
    for k in range(len(mods) + 1):
        for S in itertools.combinations(mods, k):
            keep = np.isin(col_mod, S).astype(np.float32)
            with torch.inference_mode():
                z = net(torch.from_numpy(xs * keep)).float().numpy()
            pred = np.clip(z * model.scaler.target_std + model.scaler.target_mean, -1.0, 1.0)
            out[frozenset(S)] = _score(y, pred, metric)
    return out


def modality_relevance(
    model: Any,
    cube: xr.Dataset,
    metric: str = "r2",
    *,
    which: str = "test",
    cloudy_gap_days: float = 60.0,
    max_samples: int = 100_000,
    seed: int = 0,
    detail: bool = False,
) -> dict[str, Any]:
    """How much each modality contributes to the model's skill: SHAPE scores.

    Parameters
    ----------
    model : FusionModel
        A trained model.
    cube : xarray.Dataset
        Fusion cube with the clear ``NDVI`` (scored on the model's ``which``
        blocks, by default its held-out test blocks).
    metric : {"r2", "rmse", "mae"}
        The set function is R2, or minus the error for ``rmse``/``mae`` (so a
        positive score always means the modality helps).
    which : str
        Blocks scored: ``"test"`` (default), ``"val"`` or ``"train"``.
    cloudy_gap_days : float
        Cloudy samples: each date's optical context excludes a simulated
        cloudy spell around it, of a length drawn uniformly in
        ``[0, 2 * cloudy_gap_days]``. Clear samples: the context excludes only
        the date's own observation (``FeatureSpec.context_exclude_days``).
    max_samples, seed : int
        Cap on the scored samples and seed of the draws.
    detail : bool
        Return the full result instead of the overall scores.

    Returns
    -------
    dict
        ``{modality: score}`` on clear and cloudy samples pooled; with
        ``detail=True``: ``overall``, ``clear`` and ``cloudy`` scores, the
        metric of every subset of modalities (``subsets``, keys joined by
        ``+``, ``"none"`` for the empty set), and the sample counts.

    Notes
    -----
    A modality is removed by setting its standardised features to zero, the
    baseline the network sees for absent modalities (and learns under
    modality dropout). With M modalities the metric is evaluated on all 2^M
    subsets and the Shapley value of each modality's presence computed
    exactly; the scores add up to ``v(all) - v(none)``.

    Raises
    ------
    ConfigError
        On an unknown ``metric``; a model with blocks none of which belong to
        ``cube`` (another cube, size, part or site).
    InsufficientDataError
        With fewer than 10 samples in the ``which`` blocks.
    """
    if metric not in _METRICS:
        raise ConfigError(f"modality_relevance: metric: expected one of {_METRICS}, found {metric!r}")
    mods = model.spec.modalities
    parts = _relevance_samples(model, cube, which=which, cloudy_gap_days=cloudy_gap_days, max_samples=max_samples, seed=seed)
    result: dict[str, Any] = {"metric": metric, "modalities": mods, "n": {k: int(v[1].size) for k, v in parts.items()}, "subsets": {}}
    for name, (xs, y) in parts.items():
        result[name], result["subsets"][name] = _relevance_scores(model, xs, y, metric)
    xs = np.concatenate([p[0] for p in parts.values()])
    y = np.concatenate([p[1] for p in parts.values()])
    result["overall"], result["subsets"]["overall"] = _relevance_scores(model, xs, y, metric)
    log.info("modality_relevance (%s): %s", metric, result["overall"])
    return result if detail else dict(result["overall"])


def _relevance_samples(
    model: Any, cube: xr.Dataset, *, which: str, cloudy_gap_days: float, max_samples: int, seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Standardised features and targets of the ``which`` blocks: ``clear`` and (with optical features) ``cloudy``."""
    from ..training.sampling import collect_samples

    spec = model.spec
    ny, nx = cube.sizes["y"], cube.sizes["x"]
    # the cube's own split (a model of several sites: the site's; before, the first site's blocks were scored on every
    # site, training pixels among them); a model without blocks: every pixel
    sel = block_mask(ny, nx, own_blocks(cube, model, "modality_relevance"), which) if model.blocks else np.ones((ny, nx), dtype=bool)
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    settings = {"clear": 0.0}
    if "optical" in spec.groups:
        settings["cloudy"] = 2.0 * cloudy_gap_days
    for name, gap in settings.items():
        s = collect_samples(cube, spec, max_samples=max_samples * 4, seed=seed + 1, context_gap_days=gap)
        keep = sel[s["iy"], s["ix"]]
        x, y = s["x"][keep], s["y"][keep]
        if x.shape[0] > max_samples:
            idx = np.random.default_rng(seed).choice(x.shape[0], max_samples, replace=False)
            x, y = x[idx], y[idx]
        if x.shape[0] < 10:
            raise InsufficientDataError(f"modality_relevance: expected at least 10 samples in the {which} blocks, found {x.shape[0]}")
        xs, ok = model.standardise(x)
        parts[name] = (xs[ok], y[ok])
    return parts


def _relevance_scores(model: Any, xs: np.ndarray, y: np.ndarray, metric: str) -> tuple[dict[str, float], dict[str, float]]:
    """Shapley value of each modality, and the metric of every subset (keys joined by ``+``, ``"none"``)."""
    mods = model.spec.modalities
    vals = _subset_values(model, xs, y, metric)
    return shapley(vals, mods), {"+".join(m for m in mods if m in S) or "none": v for S, v in vals.items()}


def modality_weights(model: Any, cube: xr.Dataset) -> xr.DataArray:
    """Per-pixel-date modality weights of a ``late`` or ``attention`` model: where it trusts SAR over optical.

    Parameters
    ----------
    model : FusionModel
        A model trained with ``fusion="late"`` or ``"attention"``.
    cube : xarray.Dataset
        Fusion cube the model's features are computed from.

    Returns
    -------
    xarray.DataArray
        ``modality_weight(time, y, x, modality)`` float32, summing to 1 over
        ``modality`` (NaN where SAR or time features are missing); lazy on
        Dask input.

    Raises
    ------
    ConfigError
        When the model is not a ``late`` or ``attention`` fusion.
    """
    from ..features import compute_features
    from ..models.registry import has_modality_weights, modality_weight_strategies

    if not has_modality_weights(model.architecture):
        raise ConfigError(
            f"modality_weights: expected a model trained with fusion in {modality_weight_strategies()}, found {model.architecture.get('type')!r}"
        )
    names = list(model.network.names)
    feats = compute_features(cube, model.spec)

    def _kernel(f: np.ndarray) -> np.ndarray:
        flat = f.reshape(-1, f.shape[-1])
        return model.modality_weights_array(flat).reshape(*f.shape[:-1], len(names))

    out = xr.apply_ufunc(
        _kernel,
        feats,
        input_core_dims=[["feature"]],
        output_core_dims=[["modality"]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"modality": len(names)}},
    )
    return out.assign_coords(modality=names).rename("modality_weight")
