"""Training an ensemble of per-date networks (``TrainConfig(ensemble=K)``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, ModelError
from fusets_dl.models.ensemble import Ensemble
from fusets_dl.training.config import TrainConfig

FAST = dict(hidden=(32, 16), max_epochs=3, patience=2, batch_size=256, block_size=4, calibrate_reconstruction=False)


@pytest.fixture(scope="module")
def cube(small_scene):
    s1r, s2r, _ = small_scene
    return fdl.align(fdl.open_s1(s1r), fdl.open_s2(s2r))


@pytest.fixture(scope="module")
def pair(cube):
    """One network and an ensemble of two trained with the same seed."""
    return fdl.train(cube, config=TrainConfig(**FAST, seed=2)), fdl.train(cube, config=TrainConfig(**FAST, seed=2, ensemble=2))


def test_member_zero_is_the_single_network_and_the_other_differs(pair):
    one, ens = pair
    assert isinstance(ens.network, Ensemble) and ens.architecture["members"] == 2
    assert {k: v for k, v in ens.architecture.items() if k != "members"} == one.architecture
    for (k0, v0), (k1, v1) in zip(one.network.state_dict().items(), ens.network.members[0].state_dict().items(), strict=True):
        assert k0 == k1 and torch.equal(v0, v1)
    w0, w1 = ens.network.members[0].net[0].weight, ens.network.members[1].net[0].weight
    assert not torch.equal(w0, w1)
    assert len(ens.info["member_best_epochs"]) == 2 and ens.info["best_epoch"] == ens.info["member_best_epochs"][0]
    assert [h["member"] for h in ens.history if "member" in h] == [1] * sum(1 for h in ens.history if "member" in h) != []


def test_the_ensemble_predicts_the_mean_of_its_members(pair, cube):
    _, ens = pair
    x = np.random.default_rng(0).normal(size=(50, len(ens.spec.names))).astype(np.float32)
    got = ens.predict_array(x, precision="float32")
    with torch.no_grad():
        xs = torch.from_numpy(((x - ens.scaler.feature_mean) / ens.scaler.feature_std).astype(np.float32))
        per = [m.eval()(xs).numpy() * ens.scaler.target_std + ens.scaler.target_mean for m in ens.network.members]
    np.testing.assert_allclose(got, np.clip((per[0] + per[1]) / 2, -1, 1), atol=2e-5)
    # its held-out metrics are the ensemble's, not a member's
    assert ens.metrics["test"]["n"] > 0 and np.isfinite(ens.metrics["test"]["rmse"])


def test_an_ensemble_saves_loads_and_predicts_a_cube_the_same(pair, cube, tmp_path):
    _, ens = pair
    back = fdl.load_model(ens.save(tmp_path / "ens"))
    assert isinstance(back.network, Ensemble) and back.architecture == ens.architecture
    sub = cube.isel(y=slice(0, 8), x=slice(0, 8))
    a = fdl.predict_ndvi(sub, ens, precision="float32").values
    b = fdl.predict_ndvi(sub.chunk({"y": 4, "x": 4}), back, precision="float32").values
    np.testing.assert_allclose(a, b, atol=1e-6, equal_nan=True)
    assert np.isfinite(a).mean() > 0.5


def test_fine_tuning_an_ensemble_starts_each_member_from_its_own(pair, cube):
    one, ens = pair
    tuned = fdl.train(cube, config=TrainConfig(**{**FAST, "max_epochs": 1}, seed=5, ensemble=2), init=ens)
    assert isinstance(tuned.network, Ensemble)
    with pytest.raises(ModelError, match="architecture"):
        fdl.train(cube, config=TrainConfig(**FAST, ensemble=2), init=one)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(ensemble=0), "ensemble: expected >= 1"),
    (dict(ensemble=2.5), "ensemble: expected a whole number"),
    (dict(ensemble="3"), "ensemble: expected a whole number"),
    (dict(model="sequence", ensemble=2), "ensemble: expected 1 with model='sequence'"),
])
def test_bad_ensemble_options_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**kwargs)
    assert TrainConfig(ensemble=3.0).ensemble == 3


def test_a_seed_too_large_for_the_members_is_refused_before_training():
    top = 2**63 - 1
    assert TrainConfig(seed=top).seed == top
    with pytest.raises(ConfigError, match=rf"seed: expected at most {top - 2} with ensemble=3"):
        TrainConfig(seed=top - 1, ensemble=3)


def test_a_seed_too_large_for_the_cubes_is_refused_before_any_work(cube):
    top = 2**63 - 1
    with pytest.raises(ConfigError, match=rf"TrainConfig.seed: expected at most {top - 2} with 3 cubes"):
        fdl.train([cube, cube.isel(x=slice(0, 12)), cube.isel(y=slice(0, 12))], config=TrainConfig(**FAST, seed=top - 1))


def test_the_largest_seed_the_config_allows_trains_every_member_and_cube(cube):
    """Before: a ConfigError from inside training (after sampling) quoting seed + 1, a seed never given: the per-member and
    per-cube copies of the config were checked again against the ensemble."""
    top = 2**63 - 1
    fast = {**FAST, "max_epochs": 1, "max_samples": 2000}
    m = fdl.train(cube, config=TrainConfig(**fast, seed=top - 2, ensemble=3))
    assert m.architecture["members"] == 3 and m.config["seed"] == top - 2
    two = fdl.train([cube, cube.isel(x=slice(0, 12))], config=TrainConfig(**fast, seed=top - 1, ensemble=2))
    assert two.architecture["members"] == 2 and len(two.blocks["sites"]) == 2
