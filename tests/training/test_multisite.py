"""Training across sites: one model from cubes of other dates, orbits and sizes; fine-tuning with init=."""

from __future__ import annotations

import numpy as np
import pytest

from fusets_dl.errors import MissingVariableError, ModelError
from fusets_dl.evaluation.splits import ORDER_KEY, block_mask, split_blocks
from fusets_dl.features import FeatureSpec
from fusets_dl.models.scaler import Scaler
from fusets_dl.training.config import TrainConfig
from fusets_dl.training.loop import _site_samples, _train_parts, site_names, train
from fusets_dl.training.sampling import collect_samples

CFG = TrainConfig(max_epochs=3, block_size=4, hidden=(32, 16), max_samples=4000, num_threads=1, seed=0)


@pytest.fixture(scope="module")
def other_cube():
    """A smaller site, another year, one relative orbit, mostly maize and grassland."""
    from fusets_dl.alignment import align
    from fusets_dl.readers import open_s1, open_s2
    from fusets_dl.synthetic import make_scene

    s1, s2, _ = make_scene(16, 12, "2019-03-01", "2020-02-28", seed=3, s1_orbits=(12,),
                           proportions={"maize": 0.5, "grassland": 0.4, "forest": 0.1})
    cube = align(open_s1(s1), open_s2(s2), outlier_filter=True).load()
    cube.attrs["site"] = "north"
    return cube


@pytest.fixture(scope="module")
def sites(small_cube, other_cube):
    a = small_cube.copy()
    a.attrs = {**small_cube.attrs, "site": "south"}
    return [a, other_cube]


@pytest.fixture(scope="module")
def multi_model(sites):
    return train(sites, config=CFG)


def test_one_model_with_per_site_metrics(multi_model, sites):
    sm = multi_model.metrics["sites"]
    assert list(sm) == ["south", "north"]
    for part in ("train", "val", "test"):
        assert sum(sm[s][part]["n"] for s in sm) == multi_model.metrics[part]["n"]
        assert all(sm[s][part]["n"] > 0 for s in sm)
    assert np.isfinite(multi_model.metrics["test"]["rmse"])
    info = multi_model.info["sites"]
    assert (info["north"]["ny"], info["north"]["nx"], info["north"]["start"]) == (16, 12, str(sites[1].time.values[0])[:10])
    assert info["south"]["start"].startswith("2021")
    assert set(multi_model.blocks["sites"]) == {"south", "north"}
    assert multi_model.blocks["sites"]["south"]["grid"] == [6, 5] and multi_model.blocks["sites"]["north"]["grid"] == [4, 3]
    # one reconstruction setting for both sites, chosen on their validation spells together
    rec = multi_model.info["reconstruction"]
    assert set(rec["sites"]) == {"south", "north"}
    assert rec["n_hidden"] == sum(v["n_hidden"] for v in rec["sites"].values())
    assert rec["rmse"] <= rec["rmse_prediction"] + 1e-12


def test_held_out_blocks_per_cube_disjoint_from_training(sites):
    names = site_names(sites)
    splits = [split_blocks(c.sizes["y"], c.sizes["x"], TrainConfig(block_size=4, seed=k)) for k, c in enumerate(sites)]
    s, parts, funnels = _site_samples(sites, names, splits, FeatureSpec(), CFG)
    for k, c in enumerate(sites):
        mine = s["site"] == k
        train_px = set(zip(s["iy"][mine & parts["train"]], s["ix"][mine & parts["train"]], strict=True))
        test_px = set(zip(s["iy"][mine & parts["test"]], s["ix"][mine & parts["test"]], strict=True))
        assert test_px and train_px and not (train_px & test_px)
        test_mask = block_mask(c.sizes["y"], c.sizes["x"], splits[k], "test")
        assert all(test_mask[y, x] for y, x in test_px)
        assert funnels[k]["test"] == int((mine & parts["test"]).sum())
    # the budget is shared in proportion to each cube's clear pixel-dates
    clear = [int(c["NDVI"].notnull().sum()) for c in sites]
    drawn = [int((s["site"] == k).sum()) for k in range(2)]
    assert sum(drawn) == pytest.approx(CFG.max_samples, rel=0.1)
    assert drawn[0] / drawn[1] == pytest.approx(clear[0] / clear[1], rel=0.15)


def test_init_fine_tunes_from_given_weights(multi_model, sites):
    scratch = train(sites[1], config=CFG)
    tuned = train(sites[1], config=CFG, init=multi_model)
    assert tuned.history[0]["loss"] < scratch.history[0]["loss"]
    assert tuned.scaler.to_dict() == multi_model.scaler.to_dict()
    assert tuned.info["init"]["learning_rate"] == CFG.learning_rate
    assert tuned.info["best_epoch"] >= 0  # the start competes as epoch 0: never worse on validation


def test_init_by_path_loads_the_saved_model(multi_model, sites, tmp_path):
    path = multi_model.save(tmp_path / "start")
    by_path = train(sites[1], config=CFG, init=str(path))
    assert by_path.scaler.to_dict() == multi_model.scaler.to_dict()
    assert by_path.sha256 == train(sites[1], config=CFG, init=multi_model).sha256
    with pytest.raises(ModelError, match=r"init=...\): expected a FusionModel, a saved model's path or 'pretrained', found int"):
        train(sites[1], config=CFG, init=3)


def test_init_with_other_features_or_architecture_is_refused(multi_model, small_cube):
    with pytest.raises(ModelError, match="feature spec mismatch"):
        train(small_cube, FeatureSpec(lags=1), CFG, init=multi_model)
    with pytest.raises(ModelError, match="architecture"):
        train(small_cube, None, TrainConfig(max_epochs=1, block_size=4, hidden=(8,)), init=multi_model)


def test_spec_needing_a_missing_variable_names_the_site(sites):
    spec = FeatureSpec(groups=("sar", "terrain", "time"))
    with pytest.raises(MissingVariableError, match=r"site 'south'.*elevation|elevation.*site 'south'"):
        train(sites, spec, CFG)


def test_single_cube_path_unchanged(small_cube):
    cfg = TrainConfig(max_epochs=2, block_size=4, hidden=(16,), max_samples=3000, num_threads=1, seed=3)
    model = train(small_cube, config=cfg)
    # the pre-multisite recipe: one split seeded by config.seed, one draw seeded by config.seed, a scaler on its train part
    blocks = split_blocks(small_cube.sizes["y"], small_cube.sizes["x"], cfg)
    s = collect_samples(small_cube, FeatureSpec(), max_samples=cfg.max_samples, seed=cfg.seed, context_gap_days=cfg.context_gap_days)
    parts = _train_parts(s, blocks, small_cube.sizes["y"], small_cube.sizes["x"])
    assert model.blocks == {**blocks, ORDER_KEY: [False, False]} and "sites" not in model.metrics and "sites" not in model.info
    assert model.info["funnel"]["sampled"] == s["y"].size and model.info["funnel"]["test"] == int(parts["test"].sum())
    ref = Scaler.fit(s["x"][parts["train"]], s["y"][parts["train"]])
    np.testing.assert_array_equal(model.scaler.feature_mean, ref.feature_mean)
    again = train([small_cube], config=cfg)
    assert again.metrics["test"] == model.metrics["test"]
    assert [h["loss"] for h in again.history] == [h["loss"] for h in model.history]


def test_several_sites_get_one_pooled_reconstruction_setting():
    from fusets_dl.reconstruction.calibrate import Calibration, pool_calibrations

    rows = lambda r: [{"w_pred": 0.1, "lam": 10.0, "pred_gap_days": None, "debias_days": None, "rmse": r[0], "bias": 0.0, "n": 0},  # noqa: E731
                      {"w_pred": 1.0, "lam": 10.0, "pred_gap_days": None, "debias_days": None, "rmse": r[1], "bias": 0.0, "n": 0}]
    a = Calibration({}, 0.1, 0.2, 0.3, 10, 300, "val", rows((0.10, 0.20)))
    b = Calibration({}, 0.1, 0.2, 0.3, 10, 100, "val+train", rows((0.30, 0.05)))
    pooled = pool_calibrations([a, b])
    # setting 0: sqrt((300*0.01 + 100*0.09)/400) = 0.1732; setting 1: sqrt((300*0.04 + 100*0.0025)/400) = 0.1750
    assert pooled.settings["w_pred"] == 0.1 and pooled.rmse == pytest.approx(np.sqrt(12.0 / 400))
    assert pooled.n_hidden == 400 and pooled.blocks == "val+train"
    assert pooled.rmse_prediction == pytest.approx(0.2) and pooled.rmse_default == pytest.approx(0.3)
    # the std factor: the sites' factors weighted by their hidden values, (300 * 0.6 + 100 * 1.0) / 400
    a2, b2 = Calibration({}, 0.1, 0.2, 0.3, 10, 300, "val", a.table, 0.6), Calibration({}, 0.1, 0.2, 0.3, 10, 100, "val", b.table, 1.0)
    assert pool_calibrations([a2, b2]).std_scale == pytest.approx(0.7)
    assert pooled.std_scale == 1.0


def test_the_same_scene_twice_and_a_site_without_samples_are_refused(small_cube):
    """Two copies leaked each other's held-out blocks into training; a site with no clear NDVI was dropped silently."""
    from fusets_dl.errors import ConfigError, InsufficientDataError

    cfg = TrainConfig(max_epochs=1)
    with pytest.raises(ConfigError, match=r"expected distinct scenes, found .* on the same dates and grid"):
        train([small_cube, small_cube.copy()], config=cfg)
    other = small_cube.isel(x=slice(0, 24)).assign_coords(x=small_cube["x"].values[:24] + 1e5)
    cloudy = other.assign(NDVI=other["NDVI"] * np.nan)
    cloudy.attrs["site"] = "cloudy"
    with pytest.raises(InsufficientDataError, match=r"expected every site to give training samples, found none from \['cloudy'\]"):
        train([small_cube, cloudy], config=cfg)


def test_training_on_one_clear_date_warns(small_cube):
    t = int(np.argmax(small_cube["NDVI"].notnull().sum(("y", "x")).values))
    one = small_cube.assign(NDVI=small_cube["NDVI"].where(small_cube["time"] == small_cube["time"][t]))
    with pytest.warns(UserWarning, match=r"training samples come from 1 date\(s\) with clear NDVI"):
        model = train(one, config=TrainConfig(max_epochs=1, min_samples=20, calibrate_reconstruction=False))
    assert model.info["funnel"]["train"] >= 20


def test_a_site_too_small_or_without_ndvi_is_named(sites):
    """Before: the errors named no site ('1 x 1 scene; lower TrainConfig.block_size', 'missing ['NDVI']')."""
    from fusets_dl.errors import InsufficientDataError

    tiny = sites[1].isel(y=[0], x=[0])
    tiny.attrs = {**tiny.attrs, "site": "tiny"}
    with pytest.raises(InsufficientDataError, match=r"train: site 'tiny' \(position 1\): spatial-block split: .* on a 1 x 1 scene; "
                                                    r"no block_size can split fewer than 3 pixels") as err:
        train([sites[0], tiny], config=CFG)
    assert "lower TrainConfig.block_size" not in str(err.value)
    with pytest.raises(MissingVariableError, match=r"train: site 'north' \(position 1\): fusion cube: expected variables .*missing \['NDVI'\]"):
        train([sites[0], sites[1].drop_vars("NDVI")], config=CFG)


def test_each_sites_split_is_checked_against_that_site(sites):
    from fusets_dl.errors import ConfigError

    own = [split_blocks(c.sizes["y"], c.sizes["x"], CFG) for c in sites]
    with pytest.raises(ConfigError, match=r"train: split of site 'north': grid: expected \[4, 3\] \(a 16 x 12 scene in blocks of 4 px\), found \[6, 5\]"):
        train(sites, config=CFG, split=[own[0], own[0]])
    with pytest.raises(ConfigError, match=r"train: split: expected one split per cube \(2: \['south', 'north'\]\), found 1"):
        train(sites, config=CFG, split=own[0])
