"""SHAPE modality relevance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError
from fusets_dl.evaluation.relevance import shapley


def test_shapley_of_an_additive_game_is_each_players_share() -> None:
    players = ["a", "b", "c"]
    gain = {"a": 0.5, "b": 0.2, "c": 0.0}
    vals = {}
    for k in range(4):
        import itertools

        for S in itertools.combinations(players, k):
            vals[frozenset(S)] = sum(gain[p] for p in S) + (0.1 if {"a", "b"} <= set(S) else 0.0)
    phi = shapley(vals, players)
    assert phi["a"] == pytest.approx(0.55) and phi["b"] == pytest.approx(0.25) and phi["c"] == pytest.approx(0.0)
    assert sum(phi.values()) == pytest.approx(vals[frozenset(players)] - vals[frozenset()])


def test_an_ignored_modality_scores_zero(small_cube: xr.Dataset) -> None:
    """Zero the first-layer weights of the optical columns: the model ignores them, its SHAPE score is 0."""
    spec = fdl.FeatureSpec(groups=("sar", "optical", "time"), windows=(45,), trends=(), lags=1, rolling=0)
    model = fdl.train(small_cube, spec, fdl.TrainConfig(max_epochs=4, min_samples=50, hidden=(32, 16)))
    cols = [i for i, n in enumerate(spec.names) if spec.modality[n] == "optical"]
    with torch.no_grad():
        model.network.net[0].weight[:, cols] = 0.0
    model.__dict__.pop("_fused", None)
    res = fdl.evaluation.modality_relevance(model, small_cube, metric="r2", detail=True)
    for part in ("overall", "clear", "cloudy"):
        assert res[part]["optical"] == pytest.approx(0.0, abs=1e-6)
        assert res[part]["sar"] > 0.1
    total = res["subsets"]["overall"]["sar+optical+time"] - res["subsets"]["overall"]["none"]
    assert sum(res["overall"].values()) == pytest.approx(total, abs=1e-9)
    simple = fdl.evaluation.modality_relevance(model, small_cube, metric="rmse")
    assert set(simple) == {"sar", "optical", "time"} and simple["optical"] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ConfigError, match="metric"):
        fdl.evaluation.modality_relevance(model, small_cube, metric="auc")


def test_used_optical_context_has_positive_relevance(small_cube: xr.Dataset) -> None:
    spec = fdl.FeatureSpec(groups=("sar", "optical", "time"), windows=(45,), trends=(), lags=1, rolling=0)
    model = fdl.train(small_cube, spec, fdl.TrainConfig(max_epochs=10, min_samples=50, modality_dropout=0.2))
    res = fdl.evaluation.modality_relevance(model, small_cube, detail=True)
    assert res["clear"]["optical"] > 0.0
    # with long simulated spells the optical context is further away and counts for less
    assert res["cloudy"]["optical"] < res["clear"]["optical"]
    assert np.isfinite(list(res["overall"].values())).all()
