"""Trainer: sampling, spatial-block split, reproducibility, errors, learning."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, InsufficientDataError
from fusets_dl.evaluation.splits import split_blocks
from fusets_dl.training.config import TrainConfig
from fusets_dl.training.sampling import collect_samples

FAST = dict(hidden=(32, 16), max_epochs=4, patience=2, batch_size=256, block_size=4)


@pytest.fixture(scope="module")
def cube(small_scene):
    s1r, s2r, _ = small_scene
    return fdl.align(fdl.open_s1(s1r), fdl.open_s2(s2r))


def test_split_blocks_is_disjoint_and_seeded():
    cfg = TrainConfig(block_size=4, test_fraction=0.25, val_fraction=0.125)
    a = split_blocks(24, 20, cfg)
    assert a["grid"] == [6, 5]
    test, val = set(map(tuple, a["test"])), set(map(tuple, a["val"]))
    assert len(test) == round(0.25 * 30) and len(val) == round(0.125 * 30) and not test & val
    assert split_blocks(24, 20, cfg) == a
    assert split_blocks(24, 20, TrainConfig(block_size=4, seed=1)) != a
    with pytest.raises(InsufficientDataError, match="at least 3 blocks"):
        split_blocks(8, 8, TrainConfig(block_size=8))


def test_samples_do_not_depend_on_chunking_and_respect_the_cap(cube):
    spec = fdl.FeatureSpec()
    a = collect_samples(cube, spec, max_samples=10**9, seed=0)
    b = collect_samples(cube.chunk({"y": 7, "x": 5}), spec, max_samples=10**9, seed=0)
    order_a = np.lexsort((a["it"], a["ix"], a["iy"]))
    order_b = np.lexsort((b["it"], b["ix"], b["iy"]))
    np.testing.assert_array_equal(a["x"][order_a], b["x"][order_b])
    np.testing.assert_array_equal(a["y"][order_a], b["y"][order_b])
    assert a["n_complete"] == a["y"].size <= a["n_target"] <= a["n_total"]
    capped = collect_samples(cube, spec, max_samples=2000, seed=0)
    assert 1500 < capped["y"].size <= 2000 * 1.15  # uniform draw with p = cap / n_target
    # the draw is spread over the scene, not taken from the first chunk
    assert capped["iy"].min() < 4 and capped["iy"].max() > 19


def test_train_records_split_history_and_metrics(cube):
    m = fdl.train(cube, config=TrainConfig(**FAST))
    assert {"train", "val", "test", "test_by_range"} <= set(m.metrics)
    assert m.metrics["test"]["n"] == m.info["funnel"]["test"] > 0
    assert len(m.history) <= 4 and {"loss", "val_loss", "lr", "seconds"} <= set(m.history[0])
    assert m.blocks["block_size"] == 4 and m.blocks["test"]
    # held-out metrics are computed on test blocks only
    from fusets_dl.evaluation.scoring import evaluate

    ev = evaluate(m, cube)
    assert ev["overall"]["n"] == m.metrics["test"]["n"]
    assert ev["overall"]["rmse"] == pytest.approx(m.metrics["test"]["rmse"], rel=1e-5)


def test_training_is_reproducible(cube):
    a = fdl.train(cube, config=TrainConfig(**FAST, seed=3))
    b = fdl.train(cube, config=TrainConfig(**FAST, seed=3))
    for (ka, va), (kb, vb) in zip(a.network.state_dict().items(), b.network.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)


def test_too_few_samples_lists_the_funnel(cube):
    sparse = cube.copy()
    nd = sparse["NDVI"].values.copy()
    nd[:, :, :] = np.nan
    nd[5, 0, 0] = 0.5
    sparse["NDVI"] = (("time", "y", "x"), nd)
    with pytest.raises(InsufficientDataError, match=r"pixel-dates -> 1 with clear NDVI -> 1 with complete features"):
        fdl.train(sparse, config=TrainConfig(**FAST))
    with pytest.raises(fdl.errors.MissingVariableError, match="NDVI"):
        fdl.train(cube.drop_vars("NDVI"))


def test_config_validation_and_round_trip():
    with pytest.raises(ConfigError, match="dropout"):
        TrainConfig(dropout=1.5)
    with pytest.raises(ConfigError, match="loss"):
        TrainConfig(loss="l1")
    with pytest.raises(ConfigError, match="unknown keys"):
        TrainConfig.from_dict({"epochs": 3})
    cfg = TrainConfig(hidden=(8, 4))
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_model_learns_on_a_synthetic_scene(small_scene):
    s1r, s2r, truth = small_scene
    cube = fdl.align(fdl.open_s1(s1r), fdl.open_s2(s2r), outlier_filter=True)
    m = fdl.train(cube, config=TrainConfig(block_size=4, max_epochs=25, seed=0))
    assert m.metrics["test"]["r2"] > 0.5
    # against the true NDVI on the held-out blocks too
    from fusets_dl.evaluation.metrics import regression_metrics
    from fusets_dl.evaluation.splits import block_mask

    pred = fdl.predict_ndvi(cube, m)
    mask = xr.DataArray(block_mask(24, 20, m.blocks, "test"), dims=("y", "x"))
    vs_truth = regression_metrics(truth["NDVI"].where(mask).values, pred.where(mask).values)
    assert vs_truth["r2"] > 0.5


def test_cross_validate_predicts_every_block_once(cube):
    cv = fdl.training.cross_validate(cube, config=TrainConfig(**FAST), folds=3)
    assert len(cv["folds"]) == 3
    assert cv["pooled"]["n"] == sum(f["n"] for f in cv["folds"])
    assert cv["pooled"]["n"] == int(cube["NDVI"].notnull().sum()) - _incomplete(cube)


def _incomplete(cube):
    f = fdl.compute_features(cube)
    return int((cube["NDVI"].notnull() & f.isnull().any("feature")).sum())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal of CUDA where there is none")
def test_device_option_applies_to_training(cube):
    with fdl.set_options(device="cuda"), pytest.raises(fdl.errors.ModelError, match="CUDA is not available"):
        fdl.train(cube, config=TrainConfig(**FAST))
    with fdl.set_options(device="cuda"):
        m = fdl.train(cube, config=TrainConfig(**{**FAST, "max_epochs": 1}, device="cpu"))  # explicit wins
    assert m.info["device"] == "cpu"


def test_progress_option_logs_epochs_with_their_count_and_time_left(cube, caplog):
    cfg = TrainConfig(**{**FAST, "max_epochs": 2, "patience": 10})
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        fdl.train(cube, config=cfg)
    lines = [r.getMessage() for r in caplog.records if "train: epoch" in r.getMessage()]
    assert len(lines) == 2 and lines[0].startswith("train: epoch 1/2 ") and "s left" in lines[0]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fusets_dl"), fdl.set_options(progress=False):
        fdl.train(cube, config=cfg)
    assert not [r for r in caplog.records if "train: epoch" in r.getMessage()]



def test_train_calibrates_the_reconstruction_on_validation_blocks(cube, tmp_path):
    from fusets_dl.reconstruction.calibrate import calibrate

    m = fdl.train(cube, config=TrainConfig(**FAST))
    rec = m.info["reconstruction"]
    assert rec["blocks"] in ("val", "val+train") and rec["n_hidden"] > 0 and rec["gap_days"] == 60.0
    assert rec["rmse"] <= rec["rmse_prediction"] + 1e-12  # the guard at 0 days is the prediction alone
    assert set(rec["settings"]) == {"w_pred", "lam", "pred_gap_days", "debias_days"}
    assert 0.05 < rec["std_scale"] < 20.0  # the std factor fitted on the same spells
    assert rec["std_growth_days"] == 20.0  # on top of the growth with the distance to a clear view
    # the same choice as calibrate() on the same blocks and seed
    again = calibrate(cube, m, gap_days=60.0, n_gaps=3, max_pixels=300, seed=0)
    assert again.settings == rec["settings"] and again.rmse == pytest.approx(rec["rmse"])
    assert again.std_scale == pytest.approx(rec["std_scale"])
    # saved in the sidecar and used by reconstruct after loading
    m.save(tmp_path / "m")
    loaded = fdl.load_model(tmp_path / "m")
    assert loaded.info["reconstruction"]["settings"] == rec["settings"]
    out = fdl.reconstruct(cube, loaded)
    assert out.attrs["calibration_source"].startswith("the model's validation blocks")
    assert out.attrs["std_growth_days"] == 20.0
    # switched off: nothing stored, the fixed setting
    off = fdl.train(cube, config=TrainConfig(**FAST, calibrate_reconstruction=False))
    assert "reconstruction" not in off.info
    assert "calibration_source" not in fdl.reconstruct(cube, off).attrs


def test_an_explicit_split_is_checked_against_the_cube_before_training(cube):
    """Before: val == test trained (early stopping on the test blocks), a split of another scene size trained on the wrong
    blocks, a missing grid was a KeyError, block_size '4px' a ValueError and 0 an empty training set."""
    cfg = TrainConfig(**FAST)
    sp = split_blocks(cube.sizes["y"], cube.sizes["x"], cfg)
    with pytest.raises(ConfigError, match=r"train: split: expected disjoint val and test blocks, found \d+ in both"):
        fdl.train(cube, config=cfg, split={**sp, "val": sp["test"]})
    with pytest.raises(ConfigError, match=r"train: split: grid: expected \[6, 5\] \(a 24 x 20 scene in blocks of 4 px\), found \[16, 16\]"):
        fdl.train(cube, config=cfg, split=split_blocks(64, 64, cfg))
    with pytest.raises(ConfigError, match=r"train: split: expected the keys .* missing \['grid'\]"):
        fdl.train(cube, config=cfg, split={k: v for k, v in sp.items() if k != "grid"})
    for bad in ("4px", 0, -1):
        with pytest.raises(ConfigError, match=r"train: split: block_size: expected a positive whole number of pixels, found"):
            fdl.train(cube, config=cfg, split={**sp, "block_size": bad})
    with pytest.raises(ConfigError, match=r"train: split: test: expected block ids \[by, bx\] with 0 <= by < 6"):
        fdl.train(cube, config=cfg, split={**sp, "test": [[6, 0]]})


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("CFG",), {}, r"train: features \(the second argument\): expected a FeatureSpec or None, found a TrainConfig; "
                       r"a TrainConfig goes third or as config="),
        ((), {"config": fdl.FeatureSpec()}, r"train: config \(the third argument\): expected a TrainConfig or None, found a FeatureSpec"),
        (("sar",), {}, r"train: features \(the second argument\): expected a FeatureSpec, a dict of its fields or None, found the string 'sar'"),
        (({"lagz": 2},), {}, r"train: features \(a dict read with FeatureSpec.from_dict\): FeatureSpec: unknown keys \['lagz'\]"),
        ((None, {"max_epoch": 2}), {}, r"train: config \(a dict read with TrainConfig.from_dict\): TrainConfig: unknown keys \['max_epoch'\]"),
        ((), {"split": [1]}, r"train: split: expected a block split \(a dict with keys \['block_size', 'grid', 'val', 'test'\].*found 1 \(int\)"),
        ((), {"split": "random"}, r"train: split: expected a block split .* or a list of them, one per cube; found the string 'random'"),
    ],
)
def test_arguments_of_the_wrong_type_are_named(cube, args, kwargs, match):
    """Before: AttributeError ('TrainConfig' object has no attribute 'groups', 'dict' ... 'model'), TypeError, or 'found 6 splits'."""
    args = tuple(TrainConfig(**FAST) if a == "CFG" else a for a in args)
    kwargs = {"config": TrainConfig(**FAST), **kwargs} if len(args) < 2 else kwargs
    with pytest.raises(ConfigError, match=match):
        fdl.train(cube, *args, **kwargs)


def test_a_cube_that_is_not_a_dataset_is_named_by_its_position(cube):
    """Before: AttributeError: 'NoneType' object has no attribute 'attrs'."""
    with pytest.raises(ConfigError, match=r"train: cube: expected a list of fusion cubes \(xarray.Dataset, one per site\), "
                                          r"found NoneType at position 1 in a list of 2"):
        fdl.train([cube, None], config=TrainConfig(**FAST))
    with pytest.raises(ConfigError, match=r"train: cube: expected a fusion cube \(xarray.Dataset\) or a list of them .*found str"):
        fdl.train("cube.zarr", config=TrainConfig(**FAST))


def test_dicts_are_read_as_the_feature_spec_and_the_config(cube, monkeypatch):
    """As compare(config=dict) does; before: AttributeError ('dict' object has no attribute 'groups' / 'model')."""
    from fusets_dl.training import loop

    seen = {}
    monkeypatch.setattr(loop, "_train_mlp", lambda cubes, spec, config, split, init: seen.update(spec=spec, config=config))
    fdl.train(cube, {"lags": 1}, {"max_epochs": 2, "hidden": [8]})
    assert seen == {"spec": fdl.FeatureSpec(lags=1), "config": TrainConfig(max_epochs=2, hidden=(8,))}
