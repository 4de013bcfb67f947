"""Phenology scores per land-cover class, with the class names the truth carries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusets_dl.evaluation.scoring import class_names, score_phenology


def _truth(crop_attrs: dict, attrs: dict) -> xr.Dataset:
    """Two pixels of class 0 and one of class 1, one season each peaking in June."""
    pos = pd.Timestamp("2021-06-15").to_datetime64()
    one = np.full((1, 1, 3), pos)
    return xr.Dataset(
        {
            "crop": (("y", "x"), np.array([[0, 0, 1]], dtype=np.int8), crop_attrs),
            "pos": (("season", "y", "x"), one),
            "sos": (("season", "y", "x"), one - np.timedelta64(40, "D")),
            "eos": (("season", "y", "x"), one + np.timedelta64(40, "D")),
        },
        attrs=attrs,
    )


def test_class_names_come_from_the_truth() -> None:
    assert class_names(_truth({"flag_meanings": "rice maize"}, {"classes": "a b"})) == ["rice", "maize"]
    assert class_names(_truth({}, {"classes": "a b"})) == ["a", "b"]
    assert class_names(_truth({}, {})) == ["class 0", "class 1"]


def test_make_scene_truth_carries_the_class_names(small_scene) -> None:
    from fusets_dl.synthetic import CLASSES

    _s1, _s2, truth = small_scene
    assert class_names(truth) == list(CLASSES)


def test_score_phenology_names_and_errors() -> None:
    truth = _truth({"flag_meanings": "rice maize"}, {})
    found = truth[["sos", "pos", "eos"]].copy()
    found["sos"] = found["sos"] + np.timedelta64(4, "D")
    scores = score_phenology(found, truth)
    assert set(scores) == {"rice", "maize"}
    assert scores["rice"]["pixels"] == 2 and scores["maize"]["pixels"] == 1
    assert scores["rice"]["right_count"] == 1.0 and scores["rice"]["matched"] == 2
    assert scores["rice"]["sos_mae"] == pytest.approx(4.0) and scores["rice"]["eos_mae"] == pytest.approx(0.0)
    assert set(score_phenology(found, truth, classes=["x", "y"])) == {"x", "y"}
    assert set(score_phenology(found, truth, mask=np.array([[True, False, False]]))) == {"rice"}


def _site_cube(seed: int, site: str, ny: int = 24, nx: int = 24) -> xr.Dataset:
    import fusets_dl as fdl

    s1, s2, _ = fdl.synthetic.make_scene(ny, nx, "2021-01-01", "2021-12-31", seed=seed)
    cube = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2)).load()
    cube.attrs["site"] = site
    return cube


def test_evaluate_and_relevance_score_the_cubes_own_held_out_blocks() -> None:
    """A model of two sites: evaluate(m, site_b) scored site a's test blocks, all of them training pixels of b (R2 0.903
    against 0.889 on b's own). A cube none of the splits belongs to is refused instead of scoring aliased blocks."""
    import fusets_dl as fdl
    from fusets_dl.errors import ConfigError
    from fusets_dl.evaluation import evaluate
    from fusets_dl.evaluation.relevance import modality_relevance
    from fusets_dl.evaluation.splits import block_mask

    a, b = _site_cube(7, "a"), _site_cube(8, "b")
    m = fdl.train([a, b], None, fdl.TrainConfig(max_epochs=2, num_threads=1, block_size=8))
    own = m.blocks["sites"]["b"]
    assert block_mask(24, 24, own, "test").tolist() != block_mask(24, 24, m.blocks["sites"]["a"], "test").tolist()
    got = evaluate(m, b)
    pred = fdl.predict_ndvi(b, m)
    mask = xr.DataArray(block_mask(24, 24, own, "test"), dims=("y", "x"))
    want = fdl.evaluation.regression_metrics(b["NDVI"].where(mask).values, pred.where(mask).values)
    assert got["overall"]["n"] == want["n"] > 0 and got["overall"]["rmse"] == pytest.approx(want["rmse"])
    other = _site_cube(9, "c", 32, 32)  # never trained on: its blocks would be another cube's numbers
    with pytest.raises(ConfigError, match=r"evaluate: expected the cube the model was trained on .*found a 32 x 32 cube of site 'c'.*which='all'"):
        evaluate(m, other)
    assert evaluate(m, other, which="all")["overall"]["n"] > 0
    with pytest.raises(ConfigError, match=r"modality_relevance: expected the cube the model was trained on"):
        modality_relevance(m, other)


def test_block_mask_of_another_grid_marks_the_same_row_and_column_only() -> None:
    """A 3-wide grid laid on a 4-block-wide scene numbered blocks flat: test block (1, 0) also marked (0, 3)."""
    from fusets_dl.evaluation.splits import block_mask

    m = block_mask(32, 32, {"block_size": 8, "grid": [3, 3], "test": [[1, 0]], "val": []}, "test")
    rows, cols = np.nonzero(m)
    assert set(zip((rows // 8).tolist(), (cols // 8).tolist(), strict=True)) == {(1, 0)} and m.sum() == 64


def test_an_optical_model_is_scored_on_gaps_as_its_test_metrics_were(small_cube, monkeypatch) -> None:
    """With the optical context, evaluate hides a simulated cloudy spell around each date as training scored its test
    blocks: plain predict_ndvi context (only +-3 days hidden) copies a clear view a few days away and scores higher."""
    import fusets_dl as fdl
    from fusets_dl.errors import ConfigError
    from fusets_dl.evaluation import evaluate, scoring

    spec = fdl.FeatureSpec(groups=("sar", "optical", "time"), windows=(45,), trends=(), lags=1, rolling=0)
    m = fdl.train(small_cube, spec, fdl.TrainConfig(max_epochs=4, num_threads=1, block_size=8, seed=3))
    monkeypatch.setattr(scoring, "GAP_ROWS", 10)  # rows scored in parts keep their spells
    gaps = evaluate(m, small_cube)["overall"]
    short = evaluate(m, small_cube, context_gap_days=0)["overall"]
    test = m.metrics["test"]
    assert gaps["n"] == short["n"] > 0
    assert short["rmse"] < gaps["rmse"]  # the +-3-day context is the easier task
    # the default is the training's measure: the same spells of the same pixels (hashed by their index in the cube)
    assert gaps["n"] == test["n"] and gaps["rmse"] == pytest.approx(test["rmse"], rel=1e-4)
    pred = fdl.predict_ndvi(small_cube, m)  # given predictions are scored as they are
    assert evaluate(m, small_cube, predicted=pred)["overall"]["rmse"] == pytest.approx(short["rmse"], rel=1e-6)
    with pytest.raises(ConfigError, match="context_gap_days: expected a finite number of days >= 0"):
        evaluate(m, small_cube, context_gap_days=-1)
