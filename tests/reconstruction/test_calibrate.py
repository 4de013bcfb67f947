"""calibrate: the long-gap guard (analytic), the choice on held-out spells, attrs, laziness, bad input."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, InsufficientDataError
from fusets_dl.models.fusion_model import FusionModel
from fusets_dl.models.mlp import MLP
from fusets_dl.models.scaler import Scaler
from fusets_dl.reconstruction import kernels
from fusets_dl.reconstruction.calibrate import CalibrationGrid, calibrate, score_settings
from fusets_dl.reconstruction.kernels import follow_prediction, obs_distance, prediction_curve
from fusets_dl.testing import raise_if_dask_computes


def _model(rmse=0.1, blocks=None):
    spec = fdl.FeatureSpec()
    n = len(spec.names)
    m = FusionModel(MLP(n, (4,)), spec, Scaler(np.zeros(n, np.float32), np.ones(n, np.float32), 0.5, 0.2),
                    {"type": "mlp", "n_in": n, "hidden": [4], "dropout": 0.1, "batch_norm": True})
    m.metrics = {"test": {"rmse": rmse}}
    m.blocks = blocks or {}
    return m


def _rice_cube(ny=4, nx=10, clear_every=4, seed=0, n=70):
    """Fast crop cycles (period 110 d) on 6-day dates; a clear view every ``clear_every`` dates; the prediction is the truth."""
    t = pd.date_range("2021-01-01T10:00", periods=n, freq="6D")
    days = np.arange(n) * 6.0
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 110, (ny, nx))
    truth = 0.45 + 0.3 * np.sin(2 * np.pi * (days[:, None, None] + phase[None]) / 110.0)
    obs = np.where((np.arange(n) % clear_every == 0)[:, None, None], truth, np.nan)
    cube = xr.Dataset(
        {"VV": (("time", "y", "x"), np.full(truth.shape, -10.0, np.float32), {"units": "dB"}),
         "VH": (("time", "y", "x"), np.full(truth.shape, -16.0, np.float32), {"units": "dB"}),
         "NDVI": (("time", "y", "x"), obs.astype(np.float32))},
        coords={"time": t, "y": np.arange(ny, dtype=float), "x": np.arange(nx, dtype=float)},
    )
    pred = xr.DataArray(truth.astype(np.float32), dims=("time", "y", "x"), coords=cube["VV"].coords)
    return cube, pred, truth


def test_guard_functions_analytic():
    grid = np.arange(0.0, 11.0)
    has_o = np.zeros((1, 11), bool)
    has_o[0, [2, 8]] = True
    dist = obs_distance(has_o, grid)
    np.testing.assert_array_equal(dist[0], [2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2])
    assert np.isinf(obs_distance(np.zeros((1, 3), bool), grid[:3])).all()
    # predictions at days 0, 4 and 10 (0.2, 0.6, 0.0): linear in between, NaN outside
    pred = np.array([[0.2, 0.6, 0.0]])
    curve = prediction_curve(pred, np.array([0.0, 4.0, 10.0]), grid)
    np.testing.assert_allclose(curve[0, [0, 2, 4, 7, 10]], [0.2, 0.4, 0.6, 0.3, 0.0])
    val = np.full((1, 11), 0.5)
    out = follow_prediction(val, curve, dist, gap_days=2.0)
    # weight of the prediction: dist / 2, capped at 1; observed cells keep the smoothed value
    np.testing.assert_allclose(out[0, 2], 0.5)
    np.testing.assert_allclose(out[0, 3], 0.5 * 0.5 + 0.5 * curve[0, 3])
    np.testing.assert_allclose(out[0, 5], curve[0, 5])
    out0 = follow_prediction(val, curve, dist, gap_days=0.0)
    np.testing.assert_allclose(out0[0, [2, 8]], 0.5)
    np.testing.assert_allclose(out0[0, [0, 1, 5, 10]], curve[0, [0, 1, 5, 10]])


def test_guard_in_reconstruct_follows_the_prediction_in_long_gaps():
    cube, pred, truth = _rice_cube(ny=1, nx=3)
    m = _model()
    old = fdl.reconstruct(cube, m, predicted=pred)
    guarded = fdl.reconstruct(cube, m, predicted=pred, pred_gap_days=0.0)
    free = ~np.isfinite(cube["NDVI"].values)
    np.testing.assert_allclose(guarded["NDVI"].values[free], truth[free], atol=1e-6)
    err_old = np.sqrt(np.mean((old["NDVI"].values[free] - truth[free]) ** 2))
    assert err_old > 0.02  # the fixed smoother flattens 110-day cycles seen every 24 days
    assert guarded.attrs["pred_gap_days"] == 0.0 and "pred_gap_days" not in old.attrs


def test_calibration_never_worse_than_the_perfect_prediction():
    cube, pred, _ = _rice_cube()
    cal = calibrate(cube, _model(), predicted=pred, gap_days=40, n_gaps=3, max_pixels=40)
    assert cal.rmse_prediction == pytest.approx(0.0, abs=1e-6)
    assert cal.rmse <= cal.rmse_prediction + 1e-6
    assert cal.rmse_default > 0.02 and cal.blocks == "all" and cal.n_pixels == 40
    assert cal.settings["pred_gap_days"] is not None
    assert len(cal.table) == len(CalibrationGrid().settings())


def test_calibration_prefers_the_smoother_when_the_prediction_is_biased():
    """A constant prediction bias of 0.2: bridging near observations must beat the prediction alone."""
    cube, pred, _truth = _rice_cube(clear_every=2)
    grid = CalibrationGrid(debias_days=(None,))  # without the residual correction (which removes a constant bias exactly)
    cal = calibrate(cube, _model(), predicted=pred + 0.2, gap_days=20, n_gaps=3, max_pixels=40, grid=grid)
    assert cal.rmse_prediction == pytest.approx(0.2, abs=1e-5)
    assert cal.rmse < 0.5 * cal.rmse_prediction
    assert cal.settings["pred_gap_days"] != 0.0


def test_score_settings_hand_case():
    days = np.arange(0.0, 50.0, 5.0)
    obs = np.linspace(0.2, 0.65, 10)[None]
    hidden = np.zeros((1, 10), bool)
    hidden[0, 4:6] = True
    pred = obs + 0.1
    rows = score_settings(obs, pred, hidden, days, [{"w_pred": 1.0, "lam": None, "pred_gap_days": 0.0}])
    # no smoothing and the guard at 0: the prediction at the hidden dates -> RMSE = bias = 0.1
    assert rows[0]["rmse"] == pytest.approx(0.1) and rows[0]["bias"] == pytest.approx(0.1)
    assert rows[-1]["method"] == "prediction" and rows[-1]["rmse"] == pytest.approx(0.1) and rows[0]["n"] == 2


def test_auto_weights_record_the_choice_in_attrs():
    cube, pred, _ = _rice_cube()
    m = _model()
    rec = fdl.reconstruct(cube, m, predicted=pred, weights="auto", calibration={"gap_days": 40, "n_gaps": 3, "max_pixels": 40})
    cal = calibrate(cube, m, predicted=pred, gap_days=40, n_gaps=3, max_pixels=40)
    g = cal.settings["pred_gap_days"]
    w = cal.settings["w_pred"]
    assert rec.attrs["calibration_w_pred"] == (-1.0 if w is None else w)  # -1: the inverse-variance weight
    assert rec.attrs["calibration_lam"] == cal.settings["lam"]
    assert rec.attrs["calibration_pred_gap_days"] == (-1.0 if g is None else g)
    assert rec.attrs["calibration_rmse"] == pytest.approx(cal.rmse)
    assert f"lambda {cal.settings['lam']}" in rec.attrs["smoothing"]
    manual = fdl.reconstruct(cube, m, predicted=pred, weights=None if w is None else {"predicted": w}, lam=cal.settings["lam"], pred_gap_days=g)
    xr.testing.assert_allclose(rec["NDVI"], manual["NDVI"])


def test_calibration_samples_validation_blocks_never_test():
    blocks = {"block_size": 2, "grid": [2, 5], "test": [[0, 0], [1, 4]], "val": [[0, 1]]}
    cube, pred, _ = _rice_cube()
    # poison the test blocks' predictions: a sample touching them would give a large RMSE
    bad = pred.copy()
    bad.values[:, 0:2, 0:2] = 5.0
    bad.values[:, 2:4, 8:10] = 5.0
    cal = calibrate(cube, _model(blocks=blocks), predicted=bad, gap_days=40, n_gaps=3, max_pixels=1)
    assert cal.blocks == "val" and cal.n_pixels == 1 and cal.rmse_prediction < 1e-6
    cal2 = calibrate(cube, _model(blocks=blocks), predicted=bad, gap_days=40, n_gaps=3, max_pixels=20)
    assert cal2.blocks == "val+train" and cal2.n_pixels == 20 and cal2.rmse_prediction < 1e-6


def test_reconstruct_with_guard_stays_lazy_and_chunk_invariant():
    cube, pred, _ = _rice_cube()
    m = _model()
    eager = fdl.reconstruct(cube, m, predicted=pred, pred_gap_days=20.0, weights={"predicted": 1.0}, lam=100.0)
    with raise_if_dask_computes():
        lazy = fdl.reconstruct(cube.chunk({"time": -1, "y": 3, "x": 4}), m, predicted=pred.chunk({"time": -1, "y": 3, "x": 4}),
                               pred_gap_days=20.0, weights={"predicted": 1.0}, lam=100.0)
    assert lazy["NDVI"].chunks is not None
    xr.testing.assert_allclose(lazy.compute(), eager, rtol=1e-5, atol=1e-6)


def test_auto_reconstruct_output_stays_lazy_after_the_bounded_calibration():
    cube, pred, _ = _rice_cube()
    m = _model()
    ck = {"time": -1, "y": 2, "x": 5}
    # the calibration computes its sample once (one compute); the reconstruction itself stays lazy
    with raise_if_dask_computes(max_computes=2):
        lazy = fdl.reconstruct(cube.chunk(ck), m, predicted=pred.chunk(ck), weights="auto", calibration={"max_pixels": 10, "gap_days": 40})
    assert lazy["NDVI"].chunks is not None
    eager = fdl.reconstruct(cube, m, predicted=pred, weights="auto", calibration={"max_pixels": 10, "gap_days": 40})
    xr.testing.assert_allclose(lazy.compute(), eager, rtol=1e-5, atol=1e-6)
    assert lazy.attrs["calibration_pixels"] == 10


def test_bad_input_errors():
    cube, pred, _ = _rice_cube()
    m = _model()
    with pytest.raises(ConfigError, match="expected a dict, 'model', 'auto' or None"):
        fdl.reconstruct(cube, m, predicted=pred, weights="best")
    with pytest.raises(ConfigError, match="pred_gap_days >= 0"):
        fdl.reconstruct(cube, m, predicted=pred, pred_gap_days=-5)
    with pytest.raises(ConfigError, match="reconstruct's own"):
        fdl.reconstruct(cube, m, predicted=pred, weights="auto", calibration={"obs_std": 0.1})
    with pytest.raises(ConfigError, match=r"weights > 0 \(or None\) and lambdas > 0"):
        CalibrationGrid(lams=(0.0,)).settings()
    with pytest.raises(ConfigError, match=r"weights > 0 \(or None\)"):
        CalibrationGrid(pred_weights=(None, -1.0)).settings()
    with pytest.raises(ConfigError, match="empty axis"):
        CalibrationGrid(pred_weights=()).settings()
    with pytest.raises(ConfigError, match="gap_days > 0"):
        calibrate(cube, m, predicted=pred, gap_days=0)
    with pytest.raises(ConfigError, match="do not fit"):
        calibrate(cube, m, predicted=pred, gap_days=400, n_gaps=3)
    empty = cube.copy()
    empty["NDVI"] = cube["NDVI"] * np.nan
    with pytest.raises(InsufficientDataError, match="with at least 4 clear observations, found at most 0: nothing to hold out"):
        calibrate(empty, m, predicted=pred)  # not "use shorter or fewer spells": no spell length helps


@pytest.mark.parametrize("grid", [CalibrationGrid(pred_weights=(float("nan"),)), CalibrationGrid(lams=(float("inf"),)),
                                  CalibrationGrid(pred_gap_days=(float("nan"),)), CalibrationGrid(debias_days=(float("nan"),))])
def test_a_grid_with_nan_or_inf_is_refused_not_chosen(grid):
    """A NaN passes neither ``<= 0`` nor ``> 0``: such a grid made weights='auto' pick a NaN setting and fill all-NaN."""
    cube, pred, _ = _rice_cube()
    with pytest.raises(ConfigError, match="CalibrationGrid: expected"):
        fdl.reconstruct(cube, _model(), predicted=pred, weights="auto", calibration={"grid": grid})


def test_calibration_options_of_the_wrong_kind_are_config_errors():
    cube, pred, _ = _rice_cube()
    m = _model()
    for bad in ({"n_gaps": 2.5}, {"max_pixels": 1.5}, {"gap_days": float("nan")}):
        with pytest.raises(ConfigError, match="calibrate: expected gap_days > 0, whole n_gaps"):
            fdl.reconstruct(cube, m, predicted=pred, weights="auto", calibration=bad)
    with pytest.raises(ConfigError, match=r"calibrate: period: expected \(start, end\) dates, found '2021'"):
        fdl.reconstruct(cube, m, predicted=pred, weights="auto", calibration={"period": "2021"})
    with pytest.raises(ConfigError, match="calibrate: grid: expected CalibrationGrid fields"):
        fdl.reconstruct(cube, m, predicted=pred, weights="auto", calibration={"grid": {"weights": (1.0,)}})
    as_dict = fdl.reconstruct(cube, m, predicted=pred, weights="auto", calibration={"grid": {"pred_weights": (1.0,), "lams": (10.0,)}})
    assert as_dict.attrs["calibration_w_pred"] in (1.0, 0.0)  # the one weight, or the S2-only setting
    with pytest.raises(ConfigError, match=r"calibrate: 3 spells of 400 days do not fit.*weights='auto'"):
        fdl.reconstruct(cube, m, predicted=pred, weights="auto", calibration={"gap_days": 400})
    with pytest.warns(UserWarning, match="calibration options are used only with weights='auto'"):
        fdl.reconstruct(cube, m, predicted=pred, calibration={"gap_days": -5})


def test_calibration_all_but_ignores_a_prediction_that_does_not_travel():
    """A prediction anti-correlated with the truth: the lowest weight (0.01) wins, far better than 0.1 would be."""
    cube, pred, _truth = _rice_cube(clear_every=3)
    wrong = 0.9 - pred
    cal = calibrate(cube, _model(), predicted=wrong, gap_days=20, n_gaps=3, max_pixels=40)
    assert cal.settings["w_pred"] == 0.01 and cal.settings["pred_gap_days"] is None
    old = [r for r in cal.table if r["w_pred"] == 0.1 and r["pred_gap_days"] is None]
    assert cal.rmse < 0.8 * min(r["rmse"] for r in old)
    assert cal.rmse < 0.3 * cal.rmse_prediction


def test_calibration_period_places_the_spells():
    """The prediction is right after 2021-07-01 only: calibrating there trusts it, over the whole series it does not."""
    cube, pred, _truth = _rice_cube(n=80)
    late = cube["time"] >= np.datetime64("2021-07-01")
    mixed = pred.where(late, 0.9 - pred)
    whole = calibrate(cube, _model(), predicted=mixed, gap_days=30, n_gaps=3, max_pixels=40)
    season = calibrate(cube, _model(), predicted=mixed, gap_days=30, n_gaps=3, max_pixels=40, period=("2021-07-01", "2022-04-30"))
    assert season.rmse_prediction == pytest.approx(0.0, abs=1e-6)
    assert whole.rmse_prediction > 0.1
    assert season.settings["pred_gap_days"] is not None and season.rmse < 1e-3
    with pytest.raises(ConfigError, match="start < end"):
        calibrate(cube, _model(), predicted=mixed, period=("2021-08-01", "2021-07-01"))


def test_model_blocks_belong_to_the_cube():
    from fusets_dl.reconstruction.calibrate import model_blocks

    cube, _pred, _ = _rice_cube(ny=8, nx=8)
    split = {"block_size": 4, "grid": [2, 2], "test": [[0, 0]], "val": [[1, 1]]}
    assert model_blocks(cube, _model(blocks=split)) == split
    # a split of another scene (a model trained elsewhere): every pixel may be sampled
    assert model_blocks(cube, _model(blocks={**split, "grid": [5, 5]})) == {}
    assert model_blocks(cube, _model()) == {}
    other = {"block_size": 4, "grid": [3, 1], "test": [[0, 0]], "val": [[1, 0]]}
    multi = {**other, "sites": {"a": other, "b": split}}
    cube.attrs["site"] = "b"
    assert model_blocks(cube, _model(blocks=multi)) == split
    cube.attrs["site"] = "c"  # not a training site and the first split does not fit
    assert model_blocks(cube, _model(blocks=multi)) == {}
    cal = calibrate(cube, _model(blocks={**split, "grid": [5, 5]}), predicted=_pred, gap_days=40, n_gaps=3, max_pixels=20)
    assert cal.blocks == "all"
    # a model that records its training scene's size: a 7 x 8 crop of its 8 x 8 scene has the same 2 x 2 grid of blocks,
    # but not its pixels
    del cube.attrs["site"]
    sized = _model(blocks=split)
    sized.info = {"scene": {"ny": 8, "nx": 8}}
    assert model_blocks(cube, sized) == split
    assert model_blocks(cube.isel(y=slice(1, None)), sized) == {}
    # a split drawn for the cube at hand (a window, one of several training sites, a scoring split) is that cube's own,
    # whatever the size of the scene the model records: with_split says so
    from fusets_dl.evaluation.splits import with_split

    crop = cube.isel(y=slice(1, None))
    own = with_split(sized, split)
    assert model_blocks(crop, own) == split and own.info["scene"] == sized.info["scene"] and sized.info == {"scene": {"ny": 8, "nx": 8}}


def test_s2_only_setting_is_linear_interpolation_of_the_observations():
    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=5)
    cube["NDVI"][:, 1, 2] = np.nan  # a pixel without any clear view keeps its prediction
    wrong = 0.9 - pred
    rec = fdl.reconstruct(cube, _model(), predicted=wrong, weights={"predicted": 0.0}, smooth=False)
    obs = cube["NDVI"].values
    t = np.arange(obs.shape[0]) * 6.0
    for y, x in [(0, 0), (1, 1)]:
        ok = np.isfinite(obs[:, y, x])
        expect = np.interp(t, t[ok], obs[ok, y, x])  # edges held, as np.interp does
        np.testing.assert_allclose(rec["NDVI"].values[:, y, x], expect, atol=1e-6)
        src = rec["source"].values[:, y, x]
        assert (src[ok] == 0).all() and (src[~ok] == 2).all()
    np.testing.assert_allclose(rec["NDVI"].values[:, 1, 2], wrong.values[:, 1, 2], atol=1e-6)
    assert (rec["source"].values[:, 1, 2] == 1).all()
    # the std grows with the distance to the nearest observation
    std = rec["NDVI_std"].values[:, 0, 0]
    assert std[0] == pytest.approx(0.03) and std[2] > std[1] > std[0]
    # smoothed too: a pixel with clear views does not depend on its prediction at all
    a = fdl.reconstruct(cube, _model(), predicted=wrong, weights={"predicted": 0.0})
    b = fdl.reconstruct(cube, _model(), predicted=pred, weights={"predicted": 0.0})
    np.testing.assert_array_equal(a["NDVI"].values[:, 0, :], b["NDVI"].values[:, 0, :])
    assert not np.allclose(a["NDVI"].values[:, 1, 2], b["NDVI"].values[:, 1, 2])  # the blind pixel follows its prediction


def test_auto_can_choose_s2_only():
    cube, pred, truth = _rice_cube(clear_every=3)
    rec = fdl.reconstruct(cube, _model(), predicted=0.9 - pred, weights="auto",
                          calibration={"gap_days": 20, "n_gaps": 3, "max_pixels": 40,
                                       "grid": CalibrationGrid(pred_weights=(0.1, 1.0), lams=(1000.0,), pred_gap_days=(None,))})
    assert rec.attrs["calibration_w_pred"] == 0.0 and rec.attrs["calibration_lam"] == -1.0
    assert rec.attrs["smoothing"] == "none"
    free = ~np.isfinite(cube["NDVI"].values)
    err = np.sqrt(np.mean((rec["NDVI"].values[free] - truth[free]) ** 2))
    assert err < 0.1


def test_debias_prediction_analytic():
    from fusets_dl.reconstruction.kernels import debias_prediction

    days = np.arange(0.0, 100.0, 10.0)  # 10 dates
    pred = np.full((3, 10), 0.5)
    obs = np.full((3, 10), np.nan)
    obs[0, [2, 6]] = [0.6, 0.8]  # residuals +0.1 and +0.3
    obs[1, 4] = 0.4  # one residual, -0.1
    out = debias_prediction(obs, pred, days, debias_days=20.0)
    # at an observation: the observation itself
    np.testing.assert_allclose(out[0, [2, 6]], [0.6, 0.8])
    # between: the interpolated residual weighted exp(-d/20), the median residual (0.2) for the rest
    a = np.exp(-10.0 / 20.0)
    np.testing.assert_allclose(out[0, 3], 0.5 + a * 0.15 + (1 - a) * 0.2)
    np.testing.assert_allclose(out[0, 4], 0.5 + np.exp(-1.0) * 0.2 + (1 - np.exp(-1.0)) * 0.2)
    # beyond the last observation: the edge residual held, relaxing to the median
    np.testing.assert_allclose(out[0, 9], 0.5 + np.exp(-30.0 / 20.0) * 0.3 + (1 - np.exp(-30.0 / 20.0)) * 0.2)
    np.testing.assert_allclose(out[1], 0.4)  # one residual: a constant shift
    np.testing.assert_allclose(out[2], 0.5)  # no clear view: the prediction


def test_reconstruct_debias_removes_a_constant_bias():
    cube, pred, truth = _rice_cube(ny=2, nx=3, clear_every=4)
    rec = fdl.reconstruct(cube, _model(), predicted=pred + 0.15, pred_gap_days=0.0, debias_days=30.0)
    free = ~np.isfinite(cube["NDVI"].values)
    np.testing.assert_allclose(rec["NDVI"].values[free], truth[free], atol=1e-5)
    assert rec.attrs["debias_days"] == 30.0
    plain = fdl.reconstruct(cube, _model(), predicted=pred + 0.15, pred_gap_days=0.0)
    assert np.abs(plain["NDVI"].values[free] - truth[free]).mean() > 0.14
    with pytest.raises(ConfigError, match="debias_days > 0"):
        fdl.reconstruct(cube, _model(), predicted=pred, debias_days=0.0)
    # lazy and the same chunked
    with raise_if_dask_computes():
        lazy = fdl.reconstruct(cube.chunk({"x": 1}), _model(), predicted=(pred + 0.15).chunk({"x": 1}), pred_gap_days=0.0, debias_days=30.0)
    np.testing.assert_array_equal(lazy["NDVI"].values, rec["NDVI"].values)


def test_calibration_chooses_debias_for_a_biased_prediction():
    cube, pred, _truth = _rice_cube(clear_every=3)
    cal = calibrate(cube, _model(), predicted=pred + 0.2, gap_days=30, n_gaps=3, max_pixels=40)
    assert cal.settings["debias_days"] == 30.0
    assert cal.rmse < 1e-3 and cal.rmse_prediction == pytest.approx(0.2, abs=1e-5)
    assert cal.std_growth_days == kernels.STD_GROWTH_DAYS and cal.to_attrs()["calibration_std_growth_days"] == kernels.STD_GROWTH_DAYS


def _stored(settings):
    return {"settings": settings, "rmse": 0.05, "rmse_prediction": 0.06, "rmse_default": 0.07, "n_pixels": 10, "n_hidden": 50,
            "blocks": "val", "gap_days": 60.0, "n_gaps": 3, "seed": 0}


def test_reconstruct_uses_the_models_stored_calibration():
    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=4)
    m = _model()
    setting = {"w_pred": 1.0, "lam": 100.0, "pred_gap_days": 0.0, "debias_days": 30.0}
    scene = {"start": str(cube.time.values[0])[:10], "end": str(cube.time.values[-1])[:10]}
    m.info = {"reconstruction": _stored(setting), "scene": scene}
    rec = fdl.reconstruct(cube, m, predicted=pred + 0.15)  # default weights="model"
    explicit = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights={"predicted": 1.0}, lam=100.0, pred_gap_days=0.0, debias_days=30.0)
    np.testing.assert_array_equal(rec["NDVI"].values, explicit["NDVI"].values)
    assert rec.attrs["calibration_source"].startswith("the model's validation blocks")
    assert rec.attrs["calibration_debias_days"] == 30.0 and rec.attrs["calibration_lam"] == 100.0
    # a stored calibration without a std factor (saved before it existed): the std as it is
    assert rec.attrs["calibration_std_scale"] == 1.0
    np.testing.assert_array_equal(rec["NDVI_std"].values, explicit["NDVI_std"].values)
    # with one: the std of values that are not observations scaled, nothing else
    m.info = {"reconstruction": {**_stored(setting), "std_scale": 0.5}, "scene": scene}
    scaled = fdl.reconstruct(cube, m, predicted=pred + 0.15)
    obs = explicit["source"].values == 0
    np.testing.assert_array_equal(scaled["NDVI"].values, explicit["NDVI"].values)
    np.testing.assert_allclose(scaled["NDVI_std"].values[~obs], 0.5 * explicit["NDVI_std"].values[~obs], rtol=1e-6)
    np.testing.assert_array_equal(scaled["NDVI_std"].values[obs], explicit["NDVI_std"].values[obs])
    assert scaled.attrs["calibration_std_scale"] == 0.5 and obs.any() and (~obs).any()
    assert rec.attrs["calibration_std_growth_days"] == -1.0 and "std_growth_days" not in rec.attrs
    # a stored std growth: the std of values that are not observations grows with the days to the nearest view
    m.info = {"reconstruction": {**_stored(setting), "std_scale": 0.5, "std_growth_days": 20.0}, "scene": scene}
    grown = fdl.reconstruct(cube, m, predicted=pred + 0.15)
    np.testing.assert_array_equal(grown["NDVI"].values, explicit["NDVI"].values)
    dist = np.array([0.0, 6.0, 12.0, 6.0])[np.arange(cube.sizes["time"]) % 4]  # a view every 4th date, 6 days apart
    factor = np.broadcast_to(kernels.std_growth(dist, 20.0)[:, None, None], obs.shape)
    np.testing.assert_allclose(grown["NDVI_std"].values[~obs], 0.5 * factor[~obs] * explicit["NDVI_std"].values[~obs], rtol=1e-5)
    np.testing.assert_array_equal(grown["NDVI_std"].values[obs], explicit["NDVI_std"].values[obs])
    assert grown.attrs["calibration_std_growth_days"] == 20.0 and grown.attrs["std_growth_days"] == 20.0
    m.info = {"reconstruction": _stored(setting), "scene": scene}
    # the fixed setting: weights=None, or the caller's own smoother options
    fixed = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=None)
    own = fdl.reconstruct(cube, m, predicted=pred + 0.15, lam=1000.0, pred_gap_days=20.0)
    assert "calibration_source" not in fixed.attrs and own.attrs["pred_gap_days"] == 20.0 and "calibration_source" not in own.attrs
    assert not np.array_equal(fixed["NDVI"].values, rec["NDVI"].values)
    # another period (a model trained elsewhere): the fixed weights with the residual correction; a training site of a
    # multi-site model: its own setting
    transfer = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=None, debias_days=30.0)
    m.info = {"reconstruction": _stored(setting), "scene": {"start": "2019-01-01", "end": "2019-12-31"}}
    with pytest.warns(UserWarning, match=r"the model was not trained on this cube .*Pass weights='auto'") as seen:
        foreign = fdl.reconstruct(cube, m, predicted=pred + 0.15)
    assert [w.filename for w in seen if "not trained on" in str(w.message)] == [__file__]  # the user's line, not the library's
    with pytest.warns(UserWarning, match="not trained on") as seen:
        cube.fusion.reconstruct(m, predicted=pred + 0.15)  # also through the accessor
    assert [w.filename for w in seen if "not trained on" in str(w.message)] == [__file__]
    np.testing.assert_array_equal(foreign["NDVI"].values, transfer["NDVI"].values)
    assert foreign.attrs["calibration_source"].startswith("a cube the model was not trained on")
    assert foreign.attrs["std_growth_days"] == kernels.STD_GROWTH_DAYS  # the transfer setting's std grows too
    assert (foreign["NDVI_std"].values != transfer["NDVI_std"].values).any()
    assert not np.array_equal(transfer["NDVI"].values, fixed["NDVI"].values)
    m.info["sites"] = {"a": {"start": "2019-01-01", "end": "2019-12-31"}, "b": scene}
    np.testing.assert_array_equal(fdl.reconstruct(cube, m, predicted=pred + 0.15)["NDVI"].values, rec["NDVI"].values)
    # the same dates but another named site (a site left out of training): the transfer setting
    other = cube.assign_attrs(site="c")
    np.testing.assert_array_equal(fdl.reconstruct(other, m, predicted=pred + 0.15)["NDVI"].values, transfer["NDVI"].values)
    np.testing.assert_array_equal(fdl.reconstruct(cube.assign_attrs(site="b"), m, predicted=pred + 0.15)["NDVI"].values, rec["NDVI"].values)
    m.info = {"reconstruction": _stored(setting), "scene": {**scene, "site": "b"}}
    np.testing.assert_array_equal(fdl.reconstruct(other, m, predicted=pred + 0.15)["NDVI"].values, transfer["NDVI"].values)
    np.testing.assert_array_equal(fdl.reconstruct(cube, m, predicted=pred + 0.15)["NDVI"].values, rec["NDVI"].values)
    # a model without a stored calibration (older versions): the fixed setting
    m.info = {"scene": scene}
    np.testing.assert_array_equal(fdl.reconstruct(cube, m, predicted=pred + 0.15)["NDVI"].values, fixed["NDVI"].values)
    # the stored S2-only choice: observations interpolated, no smoothing
    m.info = {"reconstruction": _stored({"w_pred": 0.0, "lam": None, "pred_gap_days": None, "debias_days": None}), "scene": scene}
    s2 = fdl.reconstruct(cube, m, predicted=pred + 0.15)
    assert s2.attrs["smoothing"] == "none" and s2.attrs["calibration_w_pred"] == 0.0
    # with a stored growth: none applied (the interpolated std grows already), and the attrs do not claim one
    m.info["reconstruction"]["std_growth_days"] = 20.0
    s2g = fdl.reconstruct(cube, m, predicted=pred + 0.15)
    assert "std_growth_days" not in s2g.attrs
    np.testing.assert_array_equal(s2g["NDVI_std"].values, s2["NDVI_std"].values)


def test_the_transfer_floor_depends_on_whether_the_model_reads_ndvi(monkeypatch):
    """S1-only: half the residual spread; a model with optical context (tested with clear views nearby): all of it."""
    from fusets_dl.reconstruction import api

    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=4)
    m = _model()
    m.info = {"reconstruction": _stored({"w_pred": 1.0, "lam": 100.0, "pred_gap_days": 0.0, "debias_days": 30.0}),
              "scene": {"start": "2019-01-01", "end": "2019-12-31"}}  # another period: the transfer setting
    seen = []

    def spy(obs, prd, **kw):
        seen.append(kw["spread_floor"])
        return kernels.reconstruct_block(obs, prd, **kw)

    monkeypatch.setattr(api, "reconstruct_block", spy)
    noisy = pred + 0.4 * np.sin(np.arange(cube.sizes["time"]))[:, None, None]  # a residual spread of about 0.28
    s1 = fdl.reconstruct(cube, m, predicted=noisy)
    assert seen[-1] == api.TRANSFER_SPREAD_FLOOR["s1"] == 0.5
    m.spec = fdl.FeatureSpec(groups=("sar", "time", "optical"))
    opt = fdl.reconstruct(cube, m, predicted=noisy)
    assert seen[-1] == api.TRANSFER_SPREAD_FLOOR["optical"] == 1.0
    filled = s1["source"].values != 0
    assert (opt["NDVI_std"].values[filled] >= s1["NDVI_std"].values[filled] - 1e-7).all()
    assert (opt["NDVI_std"].values[filled] > s1["NDVI_std"].values[filled] + 1e-4).any()
    np.testing.assert_array_equal(opt["NDVI"].values, s1["NDVI"].values)
    # on the model's own period (calibrated) the whole spread, whatever the model
    m.info["scene"] = {"start": str(cube.time.values[0])[:10], "end": str(cube.time.values[-1])[:10]}
    fdl.reconstruct(cube, m, predicted=noisy)
    assert seen[-1] == 1.0


def test_an_optical_model_is_calibrated_without_seeing_the_hidden_values(monkeypatch):
    """Its optical context would read the values hidden for the calibration: it predicts again with them removed."""
    import fusets_dl.inference as inference
    from fusets_dl.reconstruction import calibrate as cal_mod

    cube, pred, _truth = _rice_cube(ny=2, nx=5)
    m = _model()
    assert not cal_mod.reads_ndvi(m)
    m.spec = fdl.FeatureSpec(groups=("sar", "time", "optical"))
    assert cal_mod.reads_ndvi(m)
    seen = {}

    def fake_predict(sub, model, **kw):
        seen["ndvi"] = sub["NDVI"].values.copy()
        return xr.zeros_like(sub["NDVI"]) + 0.5

    monkeypatch.setattr(inference, "predict_ndvi", fake_predict)
    cal = calibrate(cube, m, predicted=pred, gap_days=40, n_gaps=3, max_pixels=10)
    # the given (perfect) prediction was not used: the model's own, made without the hidden values, was
    assert cal.rmse_prediction > 0.05
    n_clear = int(np.isfinite(cube["NDVI"].values).sum())
    assert int(np.isfinite(seen["ndvi"]).sum()) == n_clear - cal.n_hidden


def test_grid_and_pooling_refuse_bad_input():
    from fusets_dl.reconstruction.calibrate import Calibration, pool_calibrations

    with pytest.raises(ConfigError, match="debias_days None or > 0"):
        CalibrationGrid(debias_days=(0.0,)).settings()
    with pytest.raises(ConfigError, match="debias_days None or > 0"):
        CalibrationGrid(debias_days=()).settings()
    with pytest.raises(ConfigError, match="at least one calibration"):
        pool_calibrations([])
    a = Calibration({}, 0.1, 0.2, 0.3, 1, 10, "val", [{"w_pred": 0.1, "lam": 10.0, "rmse": 0.1, "bias": 0.0, "n": 10}])
    b = Calibration({}, 0.1, 0.2, 0.3, 1, 10, "val", [{"w_pred": 0.3, "lam": 10.0, "rmse": 0.1, "bias": 0.0, "n": 10}])
    with pytest.raises(ConfigError, match="same grid"):
        pool_calibrations([a, b])
    with pytest.raises(ConfigError, match="same std growth"):
        pool_calibrations([a, replace(a, std_growth_days=20.0)])
    assert pool_calibrations([replace(a, std_growth_days=20.0)] * 2).std_growth_days == 20.0
    assert len(CalibrationGrid().settings()) == 2 * 6 * 3 * 9 + 1  # residual x weight x lambda x guard, + S2-only


def test_the_grid_tries_the_inverse_variance_weight_and_reconstruct_applies_it():
    """``w_pred`` None (the model's error table as weights) is a grid setting; chosen, it is the fixed setting's weighting."""
    assert sum(s["w_pred"] is None for s in CalibrationGrid().settings()) == 2 * 3 * 9
    cube, pred, _ = _rice_cube()
    m = _model()
    grid = CalibrationGrid(pred_weights=(None,), lams=(1000.0,), pred_gap_days=(None,), debias_days=(None,), s2_only=False)
    noisy = pred + 0.1
    cal = calibrate(cube, m, predicted=noisy, gap_days=40, n_gaps=3, max_pixels=40, grid=grid)
    row = next(r for r in cal.table if r["pred_gap_days"] is None)
    assert row["w_pred"] is None and row["rmse"] == pytest.approx(cal.rmse_default)  # the fixed setting's weights and lambda
    chosen = replace(cal, settings={"w_pred": None, "lam": 1000.0, "pred_gap_days": None, "debias_days": None})
    rec = fdl.reconstruct(cube, m, predicted=noisy, weights=chosen)
    fixed = fdl.reconstruct(cube, m, predicted=noisy, weights=None, lam=1000.0)
    xr.testing.assert_allclose(rec["NDVI"], fixed["NDVI"])
    assert rec.attrs["calibration_w_pred"] == -1.0
    assert fdl.reconstruction.Calibration.from_dict(rec.attrs).settings["w_pred"] is None


def test_std_scale_matches_the_residual_spread():
    # the prediction is the truth plus N(0, 0.05) noise; its table std says 0.10: the factor is about 0.5
    from fusets_dl.reconstruction.calibrate import std_scale_for

    rng = np.random.default_rng(0)
    days = np.arange(0.0, 360.0, 6.0)
    truth = 0.5 + 0.3 * np.sin(2 * np.pi * days / 365.0)[None, :].repeat(400, 0)
    pred = truth + rng.normal(0.0, 0.05, truth.shape)
    hidden = np.zeros(truth.shape, bool)
    hidden[:, 10:20] = True
    setting = {"w_pred": 1.0, "lam": None, "pred_gap_days": 0.0, "debias_days": None}
    scale, n = std_scale_for(truth, pred, hidden, days, setting, edges=np.array([-1.0, 1.0]), table=np.array([0.10]))
    assert n == 4000
    assert 0.45 < scale < 0.55
    # a table std that matches the noise needs no factor
    scale, _ = std_scale_for(truth, pred, hidden, days, setting, edges=np.array([-1.0, 1.0]), table=np.array([0.05]))
    assert 0.9 < scale < 1.1


def test_the_std_factor_widens_or_narrows_only_values_that_are_not_observed():
    from fusets_dl.reconstruction.api import _rec_dataset

    vals = np.array([[0.5, 0.1, 0.0], [0.6, 0.2, 1.0], [0.7, 0.3, 2.0]], np.float32)  # (time, var): NDVI, std, source
    stacked = xr.DataArray(vals[:, None, None, :], dims=("time", "y", "x", "var"))
    out = _rec_dataset(stacked, std_scale=0.5)
    np.testing.assert_allclose(out["NDVI_std"].values[:, 0, 0], [0.1, 0.1, 0.15], rtol=1e-6)
    np.testing.assert_array_equal(out["source"].values[:, 0, 0], [0, 1, 2])
    np.testing.assert_allclose(_rec_dataset(stacked)["NDVI_std"].values[:, 0, 0], [0.1, 0.2, 0.3], rtol=1e-6)


def test_calibrate_refuses_an_empty_list_of_settings():
    cube, pred, _truth = _rice_cube(clear_every=3)
    with pytest.raises(ConfigError, match="settings: expected at least one setting"):
        calibrate(cube, _model(), predicted=pred, gap_days=30, n_gaps=3, max_pixels=40, settings=[])
    one = {"w_pred": 1.0, "lam": 100.0, "pred_gap_days": None, "debias_days": 30.0}
    cal = calibrate(cube, _model(), predicted=pred + 0.2, gap_days=30, n_gaps=3, max_pixels=40, settings=[one])
    assert cal.settings == one and len(cal.table) == 1


# --- hostile inputs -----------------------------------------------------------------------------------------


def test_min_clear_seed_and_period_of_the_wrong_kind_are_config_errors():
    cube, pred, _ = _rice_cube()
    m = _model()
    for kw, msg in (({"min_clear": -1}, "whole min_clear >= 0.*found min_clear=-1"), ({"min_clear": "4"}, "found min_clear='4'"),
                    ({"seed": "a"}, "whole seed.*seed='a'"), ({"seed": 1.5}, "seed=1.5")):
        with pytest.raises(ConfigError, match=msg):
            calibrate(cube, m, predicted=pred, **kw)
    # a period outside the cube said so, not "no sampled pixel keeps 4 clear observations"
    with pytest.raises(ConfigError, match=r"period: expected dates that overlap the cube's 2021-01-01\.\.2022-02-19"):
        calibrate(cube, m, predicted=pred, gap_days=30, n_gaps=1, period=("2030-01-01", "2030-06-01"))


def test_a_calibration_on_a_handful_of_hidden_values_is_warned():
    """One pixel, one spell: the setting is chosen on a few values (noise), with a warning; enough values: none."""
    import warnings

    from fusets_dl.reconstruction.calibrate import MIN_HIDDEN

    cube, pred, _ = _rice_cube(ny=1, nx=1)
    with pytest.warns(UserWarning, match=rf"chosen on \d+ hidden values only \(1 pixels; expected at least {MIN_HIDDEN}\)"):
        cal = calibrate(cube, _model(), predicted=pred, n_gaps=1)
    assert cal.n_hidden < MIN_HIDDEN
    cube, pred, _ = _rice_cube()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert calibrate(cube, _model(), predicted=pred).n_hidden >= MIN_HIDDEN


def test_calibrate_sites_falls_back_to_the_fixed_setting_and_logs_why(caplog):
    """No site holds a 60-day spell (a short series): None, the fixed setting, and a log record (a short season is valid input)."""
    import logging
    import warnings

    from fusets_dl.reconstruction.calibrate import calibrate_sites

    short, _, _ = _rice_cube(n=20)  # 114 days: 3 spells of 60 do not fit
    with caplog.at_level(logging.WARNING, logger="fusets_dl"), warnings.catch_warnings():
        warnings.simplefilter("error")  # one season is a valid training cube: no warning
        assert calibrate_sites(_model(), [short], [{}], ["short"]) is None
    assert "no reconstruction calibration" in caplog.text and "keeps the fixed setting" in caplog.text
    cube, _, _ = _rice_cube()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        out = calibrate_sites(_model(), [short, cube], [{}, {}], ["short", "long"])
    assert "sites ['short'] hold no calibration spell; the setting is chosen on ['long']" in caplog.text
    assert out is not None and list(out["sites"]) == ["long"]


def _calibration(**over):
    from fusets_dl.reconstruction import Calibration

    fields = {**_stored({"w_pred": 1.0, "lam": 100.0, "pred_gap_days": 0.0, "debias_days": 30.0}), "std_scale": 0.5,
              "std_growth_days": 20.0}
    fields = {k: v for k, v in fields.items() if k not in ("gap_days", "n_gaps", "seed")}
    return Calibration(**{**fields, **over})


def test_a_given_calibration_is_used_as_it_is_on_any_cube():
    """One setting for every tile: a Calibration (or its dict, or a calibrated output's attrs) as weights."""
    from fusets_dl.reconstruction import Calibration

    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=4)
    cal = _calibration()
    m = _model()
    scene = {"start": str(cube.time.values[0])[:10], "end": str(cube.time.values[-1])[:10]}
    m.info = {"reconstruction": {**cal.to_dict(), "gap_days": 60.0, "n_gaps": 3, "seed": 0}, "scene": scene}
    stored = fdl.reconstruct(cube, m, predicted=pred + 0.15)  # the same calibration, stored with the model
    m.info = {"scene": {"start": "2019-01-01", "end": "2019-12-31"}}  # now a model of another period: no calibration at the call
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        given = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=cal)
    np.testing.assert_array_equal(given["NDVI"].values, stored["NDVI"].values)
    np.testing.assert_array_equal(given["NDVI_std"].values, stored["NDVI_std"].values)
    assert given.attrs["calibration_source"] == "given (weights=Calibration, chosen on 10 pixels, blocks 'val')"
    assert given.attrs["calibration_std_scale"] == 0.5 and given.attrs["std_growth_days"] == 20.0
    fixed = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=None)
    assert not np.array_equal(given["NDVI"].values, fixed["NDVI"].values)
    # the same from its dict (JSON) and from the attrs of the output: the tile-by-tile route
    from_json = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=json.loads(json.dumps(cal.to_dict())))
    from_attrs = cube.fusion.reconstruct(m, predicted=pred + 0.15, weights=dict(given.attrs))
    for other in (from_json, from_attrs):
        np.testing.assert_array_equal(other["NDVI"].values, given["NDVI"].values)
        np.testing.assert_array_equal(other["NDVI_std"].values, given["NDVI_std"].values)
    back = Calibration.from_dict(given.attrs)
    assert back.settings == cal.settings and back.std_scale == 0.5 and back.std_growth_days == 20.0 and back.table == []
    # the calibration sets the smoother: the caller's own options clash
    for kw, word in (({"lam": 1000.0}, "lam"), ({"pred_gap_days": 5.0}, "pred_gap_days=5.0"), ({"debias_days": 10.0}, "debias_days=10.0")):
        with pytest.raises(ConfigError, match=rf"a calibration sets lam, pred_gap_days and debias_days itself, found {word} given"):
            fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=cal, **kw)
    # the S2-only choice: interpolated, or smoothed when smooth=True is asked for
    s2 = _calibration(settings={"w_pred": 0.0, "lam": None, "pred_gap_days": None, "debias_days": None})
    plain = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=s2)
    smoothed = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=s2, smooth=True)
    assert plain.attrs["smoothing"] == "none" and smoothed.attrs["smoothing"] == "weighted Whittaker, lambda 1000.0 (1-day grid)"
    fixed_s2 = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights={"predicted": 0.0}, smooth=True)
    np.testing.assert_array_equal(smoothed["NDVI"].values, fixed_s2["NDVI"].values)
    assert not np.array_equal(plain["NDVI"].values, smoothed["NDVI"].values)


def test_a_calibration_object_is_checked_and_stored_records_are_accepted():
    """A Calibration object is checked like its dict; calibrate_sites' record (and a model's info) is accepted as it is;
    the transfer setting's inverse-variance weight (w_pred None) survives the attrs round trip."""
    from fusets_dl.reconstruction import Calibration
    from fusets_dl.reconstruction.api import TRANSFER_SETTING
    from fusets_dl.reconstruction.calibrate import calibrate_sites

    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=4)
    m = _model()
    m.info = {"scene": {"start": "2019-01-01", "end": "2019-12-31"}}
    with pytest.raises(ConfigError, match=r"std_scale: expected a number > 0, found float -1.0"):
        fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=_calibration(std_scale=-1.0))
    with pytest.raises(ConfigError, match=r"calibration setting: expected keys \['w_pred', 'lam', 'pred_gap_days'\]"):
        fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=_calibration(settings={"w_pred": 1.0, "lam": 100.0}))
    with pytest.raises(ConfigError, match=r"w_pred: expected a number >= 0 or None, found str '1'"):
        fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=_calibration(settings={"w_pred": "1", "lam": 1.0, "pred_gap_days": 0.0}))
    bad = {**_calibration().to_dict(), "rmse": "x", "n_pixels": 10.5, "blocks": 5}
    with pytest.raises(ConfigError, match=r"rmse: expected a number, found str 'x'; n_pixels: expected a whole number >= 0, found "
                                          r"float 10.5; blocks: expected a string, found int 5"):
        Calibration.from_dict(bad)
    with pytest.raises(ConfigError, match=r"found both \(keys \['predicted'\] beside a calibration's\)"):
        fdl.reconstruct(cube, m, predicted=pred + 0.15, weights={"predicted": 0.5, **_calibration().to_attrs()})
    with pytest.raises(ConfigError, match=r"attrs: calibration_pixels: expected a number, found bool True"):
        Calibration.from_dict({**_calibration().to_attrs(), "calibration_pixels": True})
    # the transfer setting (w_pred None: inverse variances; its std growth inside the setting)
    transfer = {**_calibration().to_dict(), "settings": dict(TRANSFER_SETTING), "std_growth_days": None}
    cal = Calibration.from_dict(transfer)
    assert cal.settings["w_pred"] is None and cal.std_growth_days == TRANSFER_SETTING["std_growth_days"]
    rec = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=transfer)
    assert rec.attrs["calibration_w_pred"] == -1.0 and Calibration.from_dict(rec.attrs).settings == cal.settings
    np.testing.assert_array_equal(fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=dict(rec.attrs))["NDVI"].values, rec["NDVI"].values)
    # calibrate_sites' record, as a model keeps it in info["reconstruction"] (gap_days, n_gaps, seed, sites beside the fields)
    cube4, pred4, _ = _rice_cube(ny=4, nx=10)
    record = calibrate_sites(_model(), [cube4, cube4.isel(x=slice(0, 6))], [{}, {}], ["a", "b"])
    assert {"gap_days", "n_gaps", "seed", "sites"} <= set(record)
    pooled = fdl.reconstruct(cube4, m, predicted=pred4, weights=record)
    assert pooled.attrs["calibration_w_pred"] == record["settings"]["w_pred"]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"w_pred": 1.0}, r"expected Calibration.to_dict\(\) \(a 'settings' key\) or a reconstruction's attrs .*found keys \['w_pred'\]"),
        ({"settings": {"w_pred": 1.0, "lam": 10.0, "pred_gap_days": None}}, r"expected the fields .*missing \['rmse'"),
        ("auto", r"expected a mapping, found str"),
        ({"calibration_w_pred": 1.0}, r"attrs: expected every calibration_\* key .*found no \['calibration_lam'"),
    ],
)
def test_calibration_from_dict_bad_input(data, match):
    from fusets_dl.reconstruction import Calibration

    with pytest.raises(ConfigError, match=match):
        Calibration.from_dict(data)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"w_pred": -1.0, "lam": 10.0, "pred_gap_days": None}, r"w_pred: expected a number >= 0 or None, found float -1.0"),
        ({"w_pred": 1.0, "lam": 0.0, "pred_gap_days": None}, r"lam: expected a number > 0 or None, found float 0.0"),
        ({"w_pred": 1.0, "lam": 10.0, "pred_gap_days": "10"}, r"pred_gap_days: expected a number >= 0 or None, found str '10'"),
        ({"w_pred": 1.0, "lam": 10.0}, r"expected keys \['w_pred', 'lam', 'pred_gap_days'\]"),
        ({"w_pred": 1.0, "lam": 10.0, "pred_gap_days": None, "x": 1}, r"expected keys .*found \['lam', 'pred_gap_days', 'w_pred', 'x'\]"),
    ],
)
def test_a_given_calibrations_setting_is_checked(settings, match):
    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=4)
    with pytest.raises(ConfigError, match=match):
        fdl.reconstruct(cube, _model(), predicted=pred, weights={**_calibration().to_dict(), "settings": settings})
    with pytest.raises(ConfigError, match=r"std_scale: expected a number > 0, found float -1.0"):
        fdl.reconstruct(cube, _model(), predicted=pred, weights={**_calibration().to_dict(), "std_scale": -1.0})


def test_an_explicit_lam_of_1000_asks_for_the_fixed_setting():
    """lam defaults to None: lam=1000 given is the caller's choice, not the default, and is no longer mistaken for it."""
    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=4)
    m = _model()
    scene = {"start": str(cube.time.values[0])[:10], "end": str(cube.time.values[-1])[:10]}
    m.info = {"reconstruction": _stored({"w_pred": 1.0, "lam": 100.0, "pred_gap_days": 0.0, "debias_days": 30.0}), "scene": scene}
    default = fdl.reconstruct(cube, m, predicted=pred + 0.15)
    given = fdl.reconstruct(cube, m, predicted=pred + 0.15, lam=1000.0)
    fixed = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=None)
    assert default.attrs["calibration_lam"] == 100.0 and "calibration_source" not in given.attrs
    np.testing.assert_array_equal(given["NDVI"].values, fixed["NDVI"].values)
    assert not np.array_equal(given["NDVI"].values, default["NDVI"].values)


def test_std_scale_applies_to_gaps_not_to_pixels_without_any_clear_view():
    """The factor was fitted on spells between clear views; a pixel with none keeps the prediction's own std."""
    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=4)
    cube["NDVI"][:, 0, 0] = np.nan  # pixel (0, 0): never clear
    m = _model()
    m.info = {"scene": {"start": "2019-01-01", "end": "2019-12-31"}}
    half = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=_calibration(std_scale=0.5))
    one = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=_calibration(std_scale=1.0))
    np.testing.assert_allclose(half["NDVI_std"].values[:, 0, 0], one["NDVI_std"].values[:, 0, 0], rtol=1e-6)
    gap = half["source"].values[:, 1, 1] != 0
    assert gap.any()
    np.testing.assert_allclose(half["NDVI_std"].values[gap, 1, 1], 0.5 * one["NDVI_std"].values[gap, 1, 1], rtol=1e-5)


def test_an_aligned_cube_of_a_training_site_is_the_models_own():
    """The aligned cube's generic title, and the names ``train`` makes up for unnamed cubes, name no site.

    The shipped pre-trained model took its own training cubes, as ``align``
    builds them, for another place: the transfer setting and a warning.
    """
    from fusets_dl.cf import CUBE_TITLE

    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=4)
    cube = cube.assign_attrs(title=CUBE_TITLE)
    m = _model()
    setting = {"w_pred": 1.0, "lam": 100.0, "pred_gap_days": 0.0, "debias_days": 30.0}
    scene = {"start": str(cube.time.values[0])[:10], "end": str(cube.time.values[-1])[:10]}
    other = {"start": "2019-01-01", "end": "2019-12-31"}
    for sites in ({"flanders-2018": scene, "slovakia-LR": other}, {f"{CUBE_TITLE}#0": scene, f"{CUBE_TITLE}#1": other},
                  {"site0": scene, "site1": other}):
        m.info = {"reconstruction": _stored(setting), "sites": sites}
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rec = fdl.reconstruct(cube, m, predicted=pred + 0.15)
        assert rec.attrs["calibration_source"].startswith("the model's validation blocks"), sites
    # a named cube of another site on the same dates stays foreign
    m.info = {"reconstruction": _stored(setting), "sites": {"flanders-2018": scene}}
    with pytest.warns(UserWarning, match="not trained on this cube"):
        fdl.reconstruct(cube.assign_attrs(site="elsewhere"), m, predicted=pred + 0.15)


def test_smooth_false_with_a_calibrated_setting_that_smooths():
    """Given or chosen at the call: refused; the model's own stored setting: dropped with a warning (it was used unsmoothed)."""
    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=4)
    m = _model()
    scene = {"start": str(cube.time.values[0])[:10], "end": str(cube.time.values[-1])[:10]}
    with pytest.raises(ConfigError, match=r"smooth=False, and the given calibration's setting smooths \(lambda 100\)"):
        fdl.reconstruct(cube, m, predicted=pred, weights=_calibration(), smooth=False)
    with pytest.raises(ConfigError, match=r"smooth=False with weights='auto'"):
        fdl.reconstruct(cube, m, predicted=pred, weights="auto", smooth=False)
    s2_only = _calibration(settings={"w_pred": 0.0, "lam": None, "pred_gap_days": None, "debias_days": None})
    fdl.reconstruct(cube, m, predicted=pred, weights=s2_only, smooth=False)  # no smoothing chosen: consistent
    m.info = {"reconstruction": _stored({"w_pred": 0.01, "lam": 1000.0, "pred_gap_days": None, "debias_days": None}), "scene": scene}
    with pytest.warns(UserWarning, match=r"smooth=False, and the model's calibrated setting .* is not used"):
        rec = fdl.reconstruct(cube, m, predicted=pred + 0.15, smooth=False)
    fixed = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights=None, smooth=False)
    np.testing.assert_array_equal(rec["NDVI"].values, fixed["NDVI"].values)
    assert "calibration_source" not in rec.attrs and rec.attrs["smoothing"] == "none"


def test_the_models_own_site_with_a_date_more_keeps_its_calibration():
    """A stretch of unseen dates too short for a spell is no other period: the stored setting, no warning.

    The calibration on it failed ("start < end", logged at INFO) and the
    transfer setting with an 'another place or period' warning was used.
    """
    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=4)
    m = _model()
    setting = {"w_pred": 1.0, "lam": 100.0, "pred_gap_days": 0.0, "debias_days": 30.0}
    t = cube.time.values
    for end in (t[-2], t[-4]):  # trained up to one date, or three (18 days), before the cube's last
        m.info = {"reconstruction": _stored(setting), "scene": {"start": str(t[0])[:10], "end": str(end)[:10], "ny": 2, "nx": 3}}
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            rec = fdl.reconstruct(cube, m, predicted=pred + 0.15)
        assert rec.attrs["calibration_source"].startswith("the model's validation blocks")
    # a whole season it did not see (more than the 60-day spells): another period, as before
    m.info = {"reconstruction": _stored(setting), "scene": {"start": str(t[0])[:10], "end": str(t[-20])[:10], "ny": 2, "nx": 3}}
    with pytest.warns(UserWarning, match="not trained on this cube"):
        fdl.reconstruct(cube, m, predicted=pred + 0.15)


def test_the_attrs_of_an_uncalibrated_output_as_weights_say_so():
    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=4)
    m = _model()
    fixed = fdl.reconstruct(cube, m, predicted=pred, weights=None)
    with pytest.raises(ConfigError, match=r"found the attrs of an output made without a calibration .*pass weights=None"):
        fdl.reconstruct(cube, m, predicted=pred, weights=dict(fixed.attrs))


def test_the_calibration_spells_hide_an_s2_view_at_every_date_it_is_paired_to(monkeypatch):
    """Its spells hid dates: a view paired to two dates was hidden at one and read (by an optical model, and by the
    reconstruction) at the other, just outside the spell. With the cube's NDVI_offset both copies are hidden."""
    import fusets_dl.inference as inference

    cube, pred, _truth = _rice_cube(ny=2, nx=5)
    ndvi = cube["NDVI"].values.copy()
    offset = np.where(np.isfinite(ndvi), 0.0, np.nan)
    ndvi[1::4], offset[1::4] = ndvi[::4][: ndvi[1::4].shape[0]], -6.0  # each view also paired to the next date, 6 days later
    paired = cube.assign(NDVI=(("time", "y", "x"), ndvi), NDVI_offset=(("time", "y", "x"), offset.astype(np.float32)))
    m = _model()
    m.spec = fdl.FeatureSpec(groups=("sar", "time", "optical"))
    seen = {}

    def fake_predict(sub, model, **kw):
        seen["ndvi"] = sub["NDVI"].values.copy()
        return xr.zeros_like(sub["NDVI"]) + 0.5

    monkeypatch.setattr(inference, "predict_ndvi", fake_predict)
    counts = {}
    for name, c in (("S2 view", paired), ("S1 date", paired.drop_vars("NDVI_offset"))):
        cal = calibrate(c, m, predicted=pred, gap_days=40, n_gaps=3, max_pixels=10)
        kept = np.isfinite(seen["ndvi"][:, 0])  # (time, pixel)
        counts[name] = (cal.n_hidden, int((kept[::4] != kept[1::4]).sum()))
    assert counts == {"S2 view": (94, 0), "S1 date": (96, 10)}  # before: 10 hidden views still read at their other date


def test_a_multi_site_model_uses_each_sites_own_choice_on_that_site():
    """The pooled setting follows the site with the most hidden values; on a training site with enough of its own,
    that site's stored choice and std factor (the shipped model's Slovak test blocks: 7-20 % better on two of three)."""
    from fusets_dl.reconstruction.api import SITE_SETTING_MIN_HIDDEN

    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=4)
    m = _model()
    scene = {"start": str(cube.time.values[0])[:10], "end": str(cube.time.values[-1])[:10]}
    pooled = {"w_pred": 1.0, "lam": 100.0, "pred_gap_days": None, "debias_days": 30.0}
    own = {"w_pred": 0.01, "lam": 1000.0, "pred_gap_days": None, "debias_days": None}
    entry = {"settings": own, "rmse": 0.04, "n_hidden": SITE_SETTING_MIN_HIDDEN, "n_pixels": 40, "rmse_prediction": 0.06,
             "rmse_default": 0.07, "blocks": "val", "std_scale": 0.7}
    stored = {**_stored(pooled), "std_scale": 0.5, "sites": {"a": {**entry, "settings": pooled}, "b": entry}}
    m.info = {"reconstruction": stored, "sites": {"a": scene, "b": scene}}
    on_b = fdl.reconstruct(cube.assign_attrs(site="b"), m, predicted=pred + 0.15)
    explicit = fdl.reconstruct(cube, m, predicted=pred + 0.15, weights={"predicted": 0.01}, lam=1000.0)
    np.testing.assert_array_equal(on_b["NDVI"].values, explicit["NDVI"].values)
    assert on_b.attrs["calibration_w_pred"] == 0.01 and on_b.attrs["calibration_std_scale"] == 0.7
    assert on_b.attrs["calibration_source"] == "the model's validation blocks of its site b (weights='model')"
    on_a = fdl.reconstruct(cube.assign_attrs(site="a"), m, predicted=pred + 0.15)
    assert on_a.attrs["calibration_w_pred"] == 1.0 and on_a.attrs["calibration_std_scale"] == 0.7  # a's own choice is the pooled one
    # too few of its own values, or a model saved before the sites kept their std factor: the pooled setting
    for site_entry in ({**entry, "n_hidden": SITE_SETTING_MIN_HIDDEN - 1}, {k: v for k, v in entry.items() if k != "std_scale"}):
        m.info = {"reconstruction": {**stored, "sites": {"a": entry, "b": site_entry}}, "sites": {"a": scene, "b": scene}}
        rec = fdl.reconstruct(cube.assign_attrs(site="b"), m, predicted=pred + 0.15)
        assert rec.attrs["calibration_w_pred"] == 1.0 and rec.attrs["calibration_std_scale"] == 0.5
        assert rec.attrs["calibration_source"] == "the model's validation blocks (weights='model')"


def test_an_unnamed_cube_of_a_training_site_gets_that_sites_setting():
    from fusets_dl.evaluation.splits import scene_extent
    from fusets_dl.reconstruction.api import SITE_SETTING_MIN_HIDDEN

    cube, pred, _truth = _rice_cube(ny=2, nx=3, clear_every=4)
    far = cube.assign_coords(x=cube["x"] + 1000.0)
    scene = {"start": str(cube.time.values[0])[:10], "end": str(cube.time.values[-1])[:10], "ny": 2, "nx": 3}
    own = {"w_pred": 0.01, "lam": 1000.0, "pred_gap_days": None, "debias_days": None}
    entry = {"settings": own, "rmse": 0.04, "n_hidden": SITE_SETTING_MIN_HIDDEN, "n_pixels": 40, "rmse_prediction": 0.06,
             "rmse_default": 0.07, "blocks": "val", "std_scale": 0.7}
    pooled = {"w_pred": 1.0, "lam": 100.0, "pred_gap_days": None, "debias_days": 30.0}
    m = _model()
    m.info = {"reconstruction": {**_stored(pooled), "std_scale": 0.5, "sites": {"a": {**entry, "settings": pooled}, "b": entry}},
              "sites": {"a": {**scene, **scene_extent(far)}, "b": {**scene, **scene_extent(cube)}}}
    rec = fdl.reconstruct(cube, m, predicted=pred + 0.15)  # no attrs["site"]: b by place and size
    assert rec.attrs["calibration_w_pred"] == 0.01 and "of its site b" in rec.attrs["calibration_source"]
    m.info["reconstruction"]["sites"]["b"]["blocks"] = "val+train"  # too few validation pixels there: both, and said so
    rec = fdl.reconstruct(cube, m, predicted=pred + 0.15)
    assert rec.attrs["calibration_source"] == "the model's validation blocks and training blocks of its site b (weights='model')"
    rec_a = fdl.reconstruct(far, m, predicted=(pred + 0.15).assign_coords(x=far["x"]))
    assert rec_a.attrs["calibration_w_pred"] == 1.0 and "of its site a" in rec_a.attrs["calibration_source"]


def test_spell_window_is_the_central_stretch_of_a_long_series():
    from fusets_dl.reconstruction.calibrate import spell_window

    t = pd.date_range("2016-01-01T10:00", "2025-12-31T10:00", freq="6D")  # 3648 days from 2016-01-01 midnight
    lo, hi = spell_window(t, None, 730.0)
    # the middle of the first and last dates (days 10/24 and 3648 + 10/24 from midnight) +- 365 days
    assert (lo, hi) == (pd.Timestamp("2019-12-30T10:00"), pd.Timestamp("2021-12-29T10:00"))
    assert spell_window(t, (100.0, 500.0), 730.0) is None  # a period shorter than the bound: as given
    assert spell_window(t[:100], None, 730.0) is None and spell_window(t, None, None) is None  # 594 days; no bound
    lo, hi = spell_window(t, (0.0, 1000.0), 730.0)  # within the period
    assert (lo - pd.Timestamp("2016-01-01")) / pd.Timedelta(days=1) == pytest.approx((10 / 24 + 1000) / 2 - 365, abs=1e-6)
    with pytest.raises(ConfigError, match="max_days: expected a number of days > 0"):
        spell_window(t, None, -5.0)


def test_a_long_series_is_calibrated_on_a_bounded_window(monkeypatch):
    """4 and 10 years: the settings are scored on the same number of pixel-dates, the spells in the central 730 days."""
    from fusets_dl.reconstruction import calibrate as cal_mod

    seen = []
    real = cal_mod.score_settings

    def spy(obs, pred, hidden, days, settings, **kw):
        seen.append((obs.shape, days.copy(), hidden.copy()))
        return real(obs, pred, hidden, days, settings, **kw)

    monkeypatch.setattr(cal_mod, "score_settings", spy)
    grid = CalibrationGrid(pred_weights=(0.1,), lams=(100.0,), pred_gap_days=(None,), debias_days=(None,), s2_only=False)
    shapes = {}
    for n in (245, 610):  # 4 and 10 years of 6-day dates
        cube, pred, _ = _rice_cube(ny=2, nx=10, n=n)
        seen.clear()
        out = calibrate(cube, _model(), predicted=pred, grid=grid, max_pixels=20, max_days=730.0)
        (shape, days, hidden), = seen
        shapes[n] = shape
        # 730 days of spells and 90 of context either side: 910 days of 6-day dates
        assert days[-1] - days[0] <= 730 + 2 * 90 and shape[1] in (151, 152)
        hid = days[np.flatnonzero(hidden.any(0))]
        assert hid.min() >= 90 - 6 and hid.max() <= 90 + 730 + 6  # the spells lie in the window
        assert out.n_pixels == 20
        again = calibrate(cube, _model(), predicted=pred, grid=grid, max_pixels=20, max_days=730.0)
        assert again.to_dict() == out.to_dict()  # seeded: the same window, pixels and spells
    # the pixel-dates scored do not grow with the series (a date more or less: where the 6-day dates fall in the window)
    assert shapes[245][0] == shapes[610][0] == 20 and abs(shapes[245][1] - shapes[610][1]) <= 1
    seen.clear()
    calibrate(cube, _model(), predicted=pred, grid=grid, max_pixels=20)  # default: the whole series, as before
    assert seen[0][0] == (20, 610)


def test_reconstruct_calibrates_a_long_series_on_its_window_and_stays_lazy(monkeypatch):
    from fusets_dl.reconstruction import calibrate as cal_mod

    sizes = []
    real = cal_mod.score_settings
    monkeypatch.setattr(cal_mod, "score_settings", lambda obs, *a, **kw: sizes.append(obs.shape) or real(obs, *a, **kw))
    cube, pred, _ = _rice_cube(ny=2, nx=10, n=610)
    ck = {"time": -1, "y": 1, "x": 5}
    with raise_if_dask_computes(max_computes=2):
        lazy = fdl.reconstruct(cube.chunk(ck), _model(), predicted=pred.chunk(ck), weights="auto",
                               calibration={"max_pixels": 10, "gap_days": 40})
    assert lazy["NDVI"].chunks is not None and sizes[0][1] in (151, 152)  # 730 days + 2 x 90 of context, not 610 dates
    # the series' middle (day 1827 of 3654 from 2021-01-01) +- 365 days
    assert lazy.attrs["calibration_source"] == "this cube, spells in 2025-01-02..2027-01-02 (weights='auto')"
    sizes.clear()
    fdl.reconstruct(cube, _model(), predicted=pred, weights="auto", calibration={"max_pixels": 10, "gap_days": 40, "max_days": None})
    assert sizes[0] == (10, 610)
