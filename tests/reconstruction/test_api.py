"""reconstruct: flags and values on a hand-built cube, uncertainty, laziness, chunking."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError
from fusets_dl.models.fusion_model import FusionModel
from fusets_dl.models.mlp import MLP
from fusets_dl.models.scaler import Scaler
from fusets_dl.reconstruction import SOURCE_FLAGS
from fusets_dl.testing import raise_if_dask_computes


def _model_with_rmse(rmse=0.1):
    spec = fdl.FeatureSpec()
    n = len(spec.names)
    m = FusionModel(MLP(n, (4,)), spec, Scaler(np.zeros(n, np.float32), np.ones(n, np.float32), 0.5, 0.2),
                    {"type": "mlp", "n_in": n, "hidden": [4], "dropout": 0.1, "batch_norm": True})
    m.metrics = {"test": {"rmse": rmse}, "test_by_pred_range": [
        {"range": [-1.0, 0.4], "n": 100, "rmse": 0.05}, {"range": [0.4, 1.0], "n": 100, "rmse": 0.12}]}
    return m


def _hand_cube():
    t = pd.date_range("2021-06-01T10:00", periods=6, freq="6D")
    obs = np.array([0.3, np.nan, np.nan, 0.6, np.nan, np.nan], dtype=np.float32)
    pred = np.array([0.31, 0.35, 0.5, 0.58, np.nan, np.nan], dtype=np.float32)
    pred2 = np.full(6, np.nan, dtype=np.float32)  # second pixel: no data at all
    obs2 = np.full(6, np.nan, dtype=np.float32)
    cube = xr.Dataset(
        {"VV": (("time", "y", "x"), np.full((6, 1, 2), -10.0, np.float32), {"units": "dB"}),
         "VH": (("time", "y", "x"), np.full((6, 1, 2), -16.0, np.float32), {"units": "dB"}),
         "NDVI": (("time", "y", "x"), np.stack([obs, obs2], axis=-1)[:, None, :])},
        coords={"time": t, "y": [0.0], "x": [0.0, 1.0]},
    )
    predicted = xr.DataArray(np.stack([pred, pred2], axis=-1)[:, None, :], dims=("time", "y", "x"), coords=cube["VV"].coords)
    return cube, predicted


def test_flags_values_and_std_without_smoothing():
    cube, predicted = _hand_cube()
    rec = fdl.reconstruct(cube, _model_with_rmse(), predicted=predicted, smooth=False, obs_std=0.03)
    src = rec["source"].values[:, 0, 0]
    np.testing.assert_array_equal(src, [0, 1, 1, 0, 3, 3])  # nothing after the last data: missing
    np.testing.assert_allclose(rec["NDVI"].values[:4, 0, 0], [0.3, 0.35, 0.5, 0.6], rtol=1e-6)
    assert np.isnan(rec["NDVI"].values[4:, 0, 0]).all()
    np.testing.assert_allclose(rec["NDVI_std"].values[:4, 0, 0], [0.03, 0.05, 0.12, 0.03], rtol=1e-6)
    assert (rec["source"].values[:, 0, 1] == 3).all() and np.isnan(rec["NDVI"].values[:, 0, 1]).all()
    assert rec["source"].attrs["flag_meanings"] == "observed predicted interpolated missing"
    np.testing.assert_array_equal(rec["source"].attrs["flag_values"], [0, 1, 2, 3])
    assert rec["source"].dtype == np.uint8 and rec["NDVI"].dtype == np.float32


def test_regular_grid_interpolates_between_data():
    cube, predicted = _hand_cube()
    rec = fdl.reconstruct(cube, _model_with_rmse(), predicted=predicted, smooth=False, freq="3D")
    src = rec["source"].values[:, 0, 0]
    # data every 6 days on a 3-day grid: cells in between are interpolated
    assert list(src[:7]) == [0, 2, 1, 2, 1, 2, 0]
    np.testing.assert_allclose(rec["NDVI"].values[1, 0, 0], (0.3 + 0.35) / 2, rtol=1e-5)
    assert rec["NDVI_std"].values[1, 0, 0] > 0.05  # larger than either neighbour


def test_smoothing_weights_observations_more():
    cube, predicted = _hand_cube()
    m = _model_with_rmse()
    heavy = fdl.reconstruct(cube, m, predicted=predicted, smooth=True, lam=1e4)
    obs_weighted = fdl.reconstruct(cube, m, predicted=predicted, smooth=True, lam=1e4, weights={"observed": 1.0, "predicted": 1.0})
    # with inverse-variance weights the smooth curve stays closer to the observations
    err_default = abs(heavy["NDVI"].values[[0, 3], 0, 0] - [0.3, 0.6]).sum()
    err_equal = abs(obs_weighted["NDVI"].values[[0, 3], 0, 0] - [0.3, 0.6]).sum()
    assert err_default < err_equal
    assert (heavy["source"].values[:4, 0, 0] == [0, 1, 1, 0]).all()
    assert (heavy["source"].values[4:, 0, 0] == 2).all()  # the smoother extends the series
    with pytest.raises(ConfigError, match="weights"):
        fdl.reconstruct(cube, m, predicted=predicted, weights={"cloudy": 1.0})


@pytest.mark.parametrize("kw", [{}, {"freq": "5D"}, {"smooth": False}])
def test_lazy_and_chunk_invariant(small_scene, kw):
    s1r, s2r, _ = small_scene
    cube = fdl.align(fdl.open_s1(s1r), fdl.open_s2(s2r))
    model = fdl.train(cube, config=fdl.TrainConfig(hidden=(16,), max_epochs=2, block_size=4))
    eager = fdl.reconstruct(cube, model, **kw)
    with raise_if_dask_computes():
        lazy = cube.chunk({"time": -1, "y": 9, "x": 7}).fusion.reconstruct(model, **kw)
    assert lazy["NDVI"].chunks is not None
    xr.testing.assert_allclose(lazy.compute(), eager, rtol=1e-5, atol=1e-6)
    assert int((eager["source"] == 3).sum()) < eager["source"].size * 0.05


def test_outputs_carry_the_cf_table_attributes_and_dtypes():
    from fusets_dl.cf import _entries as cf_entries
    from fusets_dl.cf import cf_attrs

    cube, predicted = _hand_cube()
    rec = fdl.reconstruct(cube, _model_with_rmse(), predicted=predicted)
    for name in ("NDVI", "NDVI_std", "source"):
        attrs = rec[name].attrs
        want = cf_attrs(f"reconstruct.{name}")
        assert attrs.keys() == want.keys()
        for k, v in want.items():
            np.testing.assert_array_equal(attrs[k], v)
        assert rec[name].dtype == np.dtype(cf_entries()[f"reconstruct.{name}"]["dtype"])
    assert rec["source"].attrs["flag_values"].dtype == rec["source"].dtype
    assert rec.attrs["title"] == "fusets_dl reconstructed NDVI" and rec.attrs["freq"] == "cube dates"


@pytest.mark.parametrize(("kw", "msg"), [
    ({"lam": float("nan")}, "finite lam > 0"), ({"lam": float("inf")}, "finite lam > 0"), ({"obs_std": float("nan")}, "obs_std > 0"),
    ({"weights": {"predicted": -1.0}}, r"weights\['predicted'\]: expected a finite number >= 0, found -1.0"),
    ({"weights": {"predicted": float("nan")}}, r"weights\['predicted'\]"), ({"weights": {"observed": 0.0}}, r"weights\['observed'\]: .*> 0"),
    ({"weights": {"predicted": "a"}}, r"weights\['predicted'\]"), ({"weights": [1, 2]}, "weights: expected a dict, .* found list"),
])
def test_options_that_would_fill_nan_are_refused(kw, msg):
    """Each of these returned all-NaN NDVI flagged observed or predicted before."""
    cube, pred = _hand_cube()
    with pytest.raises(ConfigError, match=msg):
        fdl.reconstruct(cube, _model_with_rmse(), predicted=pred, weights=kw.pop("weights", None), **kw)


def test_a_one_date_grid_with_smoothing_is_refused():
    cube, pred = _hand_cube()
    span = (cube["time"].values[-1] - cube["time"].values[0]) / np.timedelta64(1, "D")
    freq = f"{int(span) + 30}D"
    with pytest.raises(ConfigError, match=rf"freq '{freq}' gives 1 output date.*smooth=False"):
        fdl.reconstruct(cube, _model_with_rmse(), predicted=pred, weights=None, freq=freq)
    out = fdl.reconstruct(cube, _model_with_rmse(), predicted=pred, weights=None, freq=freq, smooth=False)
    assert out.sizes["time"] == 1 and np.isfinite(out["NDVI"].values[out["source"].values != 3]).all()


def test_a_timezone_aware_time_is_refused_with_the_fix():
    cube, pred = _hand_cube()
    aware = cube.assign_coords(time=cube.indexes["time"].tz_localize("UTC"))
    with pytest.raises(fdl.errors.DimensionError, match="naive UTC datetime64.*tz_localize\\(None\\)"):
        fdl.reconstruct(aware, _model_with_rmse(), predicted=pred)


@pytest.mark.parametrize("smooth", ["false", "no", 0, 1.0])
def test_smooth_must_be_a_boolean(smooth):
    """The JSON string "false" (an openEO context) read as True before."""
    cube, pred = _hand_cube()
    with pytest.raises(ConfigError, match=r"smooth: expected True, False or None, found (str|int|float) "):
        fdl.reconstruct(cube, _model_with_rmse(), predicted=pred, smooth=smooth)


# --- hostile inputs -----------------------------------------------------------------------------------------


def _one_view_cube(pred_nan: bool = False):
    """Two pixels on 8 dates 5 days apart: one clear view each (dates 2 and 5); the prediction everywhere or nowhere."""
    t = pd.date_range("2021-05-01T10:00", periods=8, freq="5D")
    obs = np.full((8, 1, 2), np.nan, np.float32)
    obs[2, 0, 0], obs[5, 0, 1] = 0.42, 0.61
    pred = np.full((8, 1, 2), np.nan if pred_nan else 0.5, np.float32)
    cube = xr.Dataset(
        {"VV": (("time", "y", "x"), np.full((8, 1, 2), -10.0, np.float32), {"units": "dB"}),
         "VH": (("time", "y", "x"), np.full((8, 1, 2), -16.0, np.float32), {"units": "dB"}),
         "NDVI": (("time", "y", "x"), obs)},
        coords={"time": t, "y": [0.0], "x": [0.0, 1.0]},
    )
    return cube, xr.DataArray(pred, dims=("time", "y", "x"), coords=cube["VV"].coords)


@pytest.mark.parametrize("kw", [{"weights": {"predicted": 0}}, {"weights": None, "pred_nan": True}, {"weights": None, "pred_nan": True, "freq": "5D"}])
def test_a_single_clear_view_survives_smoothing(kw):
    """One clear view and nothing else to smooth with: the view is kept and held, never lost to NaN (chunked the same)."""
    kw = dict(kw)
    cube, pred = _one_view_cube(kw.pop("pred_nan", False))
    m = _model_with_rmse()
    rec = fdl.reconstruct(cube, m, predicted=pred, smooth=True, **kw)
    v, s, src = rec["NDVI"].values[:, 0], rec["NDVI_std"].values[:, 0], rec["source"].values[:, 0]
    assert v[2, 0] == pytest.approx(0.42) and v[5, 1] == pytest.approx(0.61)
    assert src[2, 0] == src[5, 1] == SOURCE_FLAGS["observed"]
    np.testing.assert_allclose(v[:, 0], 0.42, rtol=1e-6)  # held on both sides of the single view
    assert np.isfinite(s).all() and (src != SOURCE_FLAGS["missing"]).all()
    assert s[2, 0] == pytest.approx(0.03) and s[0, 0] > 0.03  # the held value's std grows away from the view
    lazy = fdl.reconstruct(cube.chunk({"x": 1}), m, predicted=pred.chunk({"x": 1}), smooth=True, **kw).compute()
    for var in ("NDVI", "NDVI_std", "source"):
        np.testing.assert_array_equal(lazy[var].values, rec[var].values)


def test_option_types_are_config_errors():
    cube, predicted = _hand_cube()
    m = _model_with_rmse()
    for kw, msg in (({"pred_gap_days": "10"}, "pred_gap_days: expected a number of days or None, found str '10'"),
                    ({"pred_gap_days": True}, "pred_gap_days: expected a number of days or None, found bool"),
                    ({"debias_days": "30"}, "debias_days: expected a number of days or None, found str '30'"),
                    ({"weights": "auto", "calibration": [("gap_days", 10)]}, "calibration: expected a dict of calibrate"),
                    ({"weights": "auto", "calibration": {"gapdays": 10}}, r"calibration: expected options among \[.*'gap_days'.*found \['gapdays'\]")):
        with pytest.raises(ConfigError, match=msg):
            fdl.reconstruct(cube, m, predicted=predicted, **kw)


def test_an_obs_std_in_percent_is_warned():
    cube, predicted = _hand_cube()
    with pytest.warns(UserWarning, match=r"obs_std=3 .*in percent"):
        fdl.reconstruct(cube, _model_with_rmse(), predicted=predicted, obs_std=3.0)


def test_the_freq_grid_covers_the_last_date_so_every_clear_view_is_used():
    """freq '5D' on dates 0..54 days: the grid ended at day 50 and the clear view of day 54 was dropped silently."""
    t = pd.date_range("2021-06-01T10:00", periods=10, freq="6D")
    obs = np.full((10, 1, 1), np.nan, np.float32)
    obs[[0, 5, 9], 0, 0] = [0.3, 0.5, 0.8]
    cube = xr.Dataset({"VV": (("time", "y", "x"), np.full((10, 1, 1), -10.0, np.float32), {"units": "dB"}),
                       "VH": (("time", "y", "x"), np.full((10, 1, 1), -16.0, np.float32), {"units": "dB"}),
                       "NDVI": (("time", "y", "x"), obs)}, coords={"time": t, "y": [0.0], "x": [0.0]})
    pred = xr.full_like(cube["NDVI"], 0.5)
    rec = fdl.reconstruct(cube, _model_with_rmse(), predicted=pred, freq="5D", smooth=False)
    assert rec["time"].values[-1] == np.datetime64("2021-07-26")  # day 55: the cell of day 54.4
    assert rec["NDVI"].values[-1, 0, 0] == pytest.approx(0.8) and rec["source"].values[-1, 0, 0] == SOURCE_FLAGS["observed"]
    # a grid whose last date already covers the last cube date is not extended
    rec3 = fdl.reconstruct(cube, _model_with_rmse(), predicted=pred, freq="3D", smooth=False)
    assert rec3["time"].values[-1] == np.datetime64("2021-07-25") and rec3["NDVI"].values[-1, 0, 0] == pytest.approx(0.8)


def test_dates_at_noon_keep_their_own_day_cell_with_smoothing():
    """Composite dates labelled at 12:00 (``align(freq="5D")``): every clear view is read back from its own cell.

    The kernel put a date at noon into the earlier day's cell, the output read
    ``rint`` of it (the even day): half the dates came back from the next day's
    cell, clear views flagged interpolated with a larger std.
    """
    t = pd.date_range("2021-06-01T12:00", periods=12, freq="5D")
    obs = np.where(np.arange(12) % 3 == 1, np.nan, 0.3 + 0.04 * np.arange(12)).astype(np.float32)
    cube = xr.Dataset(
        {"VV": (("time", "y", "x"), np.full((12, 1, 1), -10.0, np.float32), {"units": "dB"}),
         "VH": (("time", "y", "x"), np.full((12, 1, 1), -16.0, np.float32), {"units": "dB"}),
         "NDVI": (("time", "y", "x"), obs[:, None, None])},
        coords={"time": t, "y": [0.0], "x": [0.0]},
    )
    predicted = xr.DataArray(np.full((12, 1, 1), 0.5, np.float32), dims=("time", "y", "x"), coords=cube["VV"].coords)
    rec = fdl.reconstruct(cube, _model_with_rmse(), predicted=predicted, weights=None, obs_std=0.03)
    src = rec["source"].values[:, 0, 0]
    clear = np.isfinite(obs)
    np.testing.assert_array_equal(src[clear], SOURCE_FLAGS["observed"])
    np.testing.assert_array_equal(src[~clear], SOURCE_FLAGS["predicted"])
    assert np.abs(rec["NDVI"].values[clear, 0, 0] - obs[clear]).max() < 0.03  # smoothed, near its own view


def test_the_corrected_prediction_stays_within_ndvi_range_without_smoothing():
    """The residual correction (``debias_days``) lifts predictions near 1 above 1; the output is clipped with or without smoothing."""
    t = pd.date_range("2021-06-01", periods=10, freq="5D")
    obs = np.full(10, np.nan, np.float32)
    obs[[0, 4, 8]] = 0.99
    pred = np.where(np.isfinite(obs), 0.9, 0.99).astype(np.float32)  # the model under-predicts where it is seen
    cube = xr.Dataset(
        {"VV": (("time", "y", "x"), np.full((10, 1, 1), -10.0, np.float32), {"units": "dB"}),
         "VH": (("time", "y", "x"), np.full((10, 1, 1), -16.0, np.float32), {"units": "dB"}),
         "NDVI": (("time", "y", "x"), obs[:, None, None])},
        coords={"time": t, "y": [0.0], "x": [0.0]},
    )
    predicted = xr.DataArray(pred[:, None, None], dims=("time", "y", "x"), coords=cube["VV"].coords)
    for smooth in (False, True):
        rec = fdl.reconstruct(cube, _model_with_rmse(), predicted=predicted, weights=None, debias_days=30, smooth=smooth)
        v = rec["NDVI"].values[:, 0, 0]
        assert np.nanmax(v) <= 1.0 and np.isfinite(v).all()
        assert (v[~np.isfinite(obs)] > 0.99).any()  # the correction did lift them (to the cap)


def test_a_given_prediction_must_be_the_models_on_the_cubes_dates_and_pixels():
    cube, predicted = _hand_cube()
    m = _model_with_rmse()
    ok = fdl.reconstruct(cube, m, predicted=predicted.assign_attrs(model_sha256=m.sha256), smooth=False)
    as_ds = fdl.reconstruct(cube, m, predicted=xr.Dataset({"NDVI_pred": predicted}), smooth=False)
    np.testing.assert_array_equal(ok["NDVI"].values, as_ds["NDVI"].values)
    with pytest.raises(ConfigError, match=r"predicted: made by model 0123456789ab, not by this one"):
        fdl.reconstruct(cube, m, predicted=predicted.assign_attrs(model_sha256="0123456789abcdef"), smooth=False)
    with pytest.raises(ConfigError, match=r"predicted: expected the prediction on the cube's x \(1 values"):
        fdl.reconstruct(cube.isel(x=[0]), m, predicted=predicted, smooth=False)  # a tile, with the whole scene's prediction
    with pytest.raises(ConfigError, match=r"predicted: expected the prediction on the cube's time"):
        fdl.reconstruct(cube, m, predicted=predicted.assign_coords(time=predicted.time + np.timedelta64(1, "D")), smooth=False)
    with pytest.raises(ConfigError, match=r"expected predict_ndvi's DataArray or a Dataset with NDVI_pred"):
        fdl.reconstruct(cube, m, predicted=xr.Dataset({"x_pred": predicted}), smooth=False)


def test_a_cube_chunked_in_time_with_an_in_memory_prediction():
    cube, predicted = _hand_cube()
    m = _model_with_rmse()
    a = fdl.reconstruct(cube, m, predicted=predicted)
    b = fdl.reconstruct(cube.chunk({"time": 2}), m, predicted=predicted)
    np.testing.assert_array_equal(a["NDVI"].values, b["NDVI"].values)
    np.testing.assert_array_equal(a["source"].values, b["source"].values)


def test_reconstruct_loads_a_model_given_by_path(tmp_path):
    cube, predicted = _hand_cube()
    m = _model_with_rmse()
    path = m.save(tmp_path / "m")
    a = fdl.reconstruct(cube, m, predicted=predicted, weights=None)
    b = fdl.reconstruct(cube, str(path), predicted=predicted, weights=None)
    np.testing.assert_array_equal(a["NDVI"].values, b["NDVI"].values)


@pytest.mark.parametrize("freq", [None, "3D"])
def test_a_point_cubes_ids_and_positions_are_kept(freq):
    """reconstruct dropped a point cube's point, lon and lat (predict_ndvi and phenology keep them): the documented
    chain wrote seasons to Zarr without plot ids."""
    cube, predicted = _hand_cube()
    cube = cube.assign_coords(point=("x", ["plot-7", "plot-9"]), lon=("x", [17.1, 17.2]), lat=("x", [48.1, 48.2]))
    rec = fdl.reconstruct(cube, _model_with_rmse(), predicted=predicted, smooth=False, freq=freq)
    assert rec["point"].values.tolist() == ["plot-7", "plot-9"] and rec["lon"].dims == ("x",)
    np.testing.assert_array_equal(rec["lat"].values, [48.1, 48.2])
    ph = rec.fusion.phenology(min_valid=2, min_span=0)
    assert ph["point"].values.tolist() == ["plot-7", "plot-9"]


def test_an_observed_cell_that_the_smoother_moves_carries_that_spread_in_its_std():
    """Heavy smoothing moved values up to 0.38 from their observation while the cell kept the observation's std (0.03):
    52-57 % of observations within 1 std on Slovak grassland at lambda 1000. The std at observed cells now adds the
    pixel's robust spread of smoothed minus observed; without smoothing it is the observation's."""
    from tests.reconstruction.test_calibrate import _model, _rice_cube

    cube, pred, _truth = _rice_cube(ny=3, nx=8, clear_every=2)
    heavy = fdl.reconstruct(cube, _model(), predicted=pred, lam=20000.0, obs_std=0.03, weights={"predicted": 1.0})
    obs = cube["NDVI"].values
    at = (heavy["source"].values == 0) & np.isfinite(obs)
    d = np.abs(heavy["NDVI"].values - obs)[at]
    sd = heavy["NDVI_std"].values[at]
    assert np.median(d) > 0.03  # the smoother flattens the 110-day cycles: far from the observations
    assert (sd > 0.03).all() and 0.55 < np.mean(d <= sd) < 0.95 and np.mean(d <= 0.03) < 0.5  # a sine's residuals: not normal
    plain = fdl.reconstruct(cube, _model(), predicted=pred, smooth=False, obs_std=0.03)
    np.testing.assert_allclose(plain["NDVI_std"].values[(plain["source"].values == 0)], 0.03, rtol=1e-6)


def test_a_long_daily_output_grid_is_checked_against_memory_without_computing(monkeypatch):
    """10 years daily in one 256 x 256 chunk: the output grid (3653 days), not the cube's 3 dates, sizes the warning."""
    from fusets_dl.alignment import chunking

    monkeypatch.setattr(chunking, "total_memory_bytes", lambda: 16 * 2**30)
    t = pd.DatetimeIndex(["2016-01-01T10:00", "2021-01-01T10:00", "2025-12-31T10:00"])
    shape = (3, 256, 256)
    coords = {"time": t, "y": np.arange(256.0), "x": np.arange(256.0)}
    cube = xr.Dataset({"VV": (("time", "y", "x"), np.full(shape, -10.0, np.float32), {"units": "dB"}),
                       "VH": (("time", "y", "x"), np.full(shape, -16.0, np.float32), {"units": "dB"}),
                       "NDVI": (("time", "y", "x"), np.full(shape, 0.5, np.float32))}, coords=coords).chunk({"time": -1, "y": 256, "x": 256})
    predicted = xr.DataArray(np.full(shape, 0.5, np.float32), dims=("time", "y", "x"), coords=coords).chunk({"time": -1, "y": 256, "x": 256})
    m = _model_with_rmse()
    # 65,536 pixels x 3653 days x 110 B = 24.5 GiB, one chunk in flight, over half of 16 GiB
    with raise_if_dask_computes(), pytest.warns(UserWarning, match=r"reconstruct: the output has 3653 dates per pixel \(freq '1D', "
                                                r"2016-01-01\.\.2025-12-31\).*65536 pixels.*24\.5 GiB a chunk.*coarser freq"):
        rec = fdl.reconstruct(cube, m, predicted=predicted, weights=None, freq="1D")
    assert rec.sizes["time"] == 3653 and rec["NDVI"].chunks is not None
    with raise_if_dask_computes(), warnings.catch_warnings():  # every 10 days: 366 dates, 2.5 GiB: no warning
        warnings.simplefilter("error")
        fdl.reconstruct(cube, m, predicted=predicted, weights=None, freq="10D")
