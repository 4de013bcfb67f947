"""predict_ndvi: laziness, chunking, NaNs, accessor, model shipped once, distributed."""

from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.testing import raise_if_dask_computes
from fusets_dl.training.config import TrainConfig


@pytest.fixture(scope="module")
def trained(small_scene):
    s1r, s2r, _ = small_scene
    cube = fdl.align(fdl.open_s1(s1r), fdl.open_s2(s2r))
    model = fdl.train(cube, config=TrainConfig(hidden=(32, 16), max_epochs=3, block_size=4))
    return cube, model


def test_lazy_and_chunk_invariant(trained):
    cube, model = trained
    eager = fdl.predict_ndvi(cube, model)
    assert eager.chunks is None and eager.dtype == np.float32
    with raise_if_dask_computes():
        lazy = cube.chunk({"time": -1, "y": 7, "x": 9}).fusion.predict_ndvi(model)
    assert lazy.chunks is not None and lazy.dims == ("time", "y", "x")
    np.testing.assert_allclose(lazy.values, eager.values, rtol=1e-6, atol=1e-6)
    assert lazy.attrs["units"] == "1" and lazy.attrs["model_sha256"] == model.sha256
    finite = eager.values[np.isfinite(eager.values)]
    assert finite.size > 0 and (np.abs(finite) <= 1).all()


def test_nan_where_backscatter_is_missing(trained):
    cube, model = trained
    holed = cube.copy(deep=True)
    holed["VV"][4, 2, 3] = np.nan
    pred = fdl.predict_ndvi(holed, model)
    assert np.isnan(pred.values[4, 2, 3])
    assert np.isfinite(pred.values[10, 2, 3])


def test_weights_enter_the_graph_once(trained):
    cube, model = trained
    lazy = fdl.predict_ndvi(cube.chunk({"time": -1, "y": 6, "x": 5}), model)
    graph = dict(lazy.data.__dask_graph__())
    model_keys = [k for k in graph if "fusets-model" in str(k)]
    assert len(model_keys) == 1
    assert lazy.data.npartitions == 16


def test_saved_model_gives_same_predictions(trained, tmp_path):
    cube, model = trained
    model.save(tmp_path / "m")
    again = fdl.load_model(tmp_path / "m")
    xr.testing.assert_identical(fdl.predict_ndvi(cube, again).drop_attrs(), fdl.predict_ndvi(cube, model).drop_attrs())


def test_distributed_cluster_matches_threaded(trained):
    from distributed import Client, LocalCluster

    cube, model = trained
    lazy = fdl.predict_ndvi(cube.chunk({"time": -1, "y": 12, "x": 10}), model)
    expected = lazy.compute(scheduler="threads")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster):
        got = lazy.compute()
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-6, atol=1e-6)


def test_options_apply_when_arguments_are_left_out(trained):
    import torch

    cube, model = trained
    f32 = fdl.predict_ndvi(cube, model, precision="float32").values
    bf16 = fdl.predict_ndvi(cube, model, precision="bfloat16").values
    assert not np.allclose(f32, bf16, equal_nan=True)  # the two precisions are told apart
    chunked = cube.chunk({"time": -1, "y": 12, "x": 10})
    with fdl.set_options(precision="float32"):
        np.testing.assert_array_equal(fdl.predict_ndvi(cube, model).values, f32)
    with fdl.set_options(precision="bfloat16"):
        np.testing.assert_array_equal(fdl.predict_ndvi(cube, model).values, bf16)
        np.testing.assert_array_equal(fdl.predict_ndvi(cube, model, precision="float32").values, f32)  # explicit wins
        lazy = fdl.predict_ndvi(chunked, model)
    # the option in force when the graph was built holds when it is computed later
    np.testing.assert_array_equal(lazy.values, fdl.predict_ndvi(chunked, model, precision="bfloat16").values)
    with fdl.set_options(batch_size=7):
        np.testing.assert_allclose(fdl.predict_ndvi(cube, model, precision="float32").values, f32, rtol=0, atol=1e-6)
    if not torch.cuda.is_available():
        with fdl.set_options(device="cuda"):
            with pytest.raises(fdl.errors.ModelError, match="CUDA is not available"):
                fdl.predict_ndvi(cube, model)
            np.testing.assert_array_equal(fdl.predict_ndvi(cube, model, device="cpu", precision="float32").values, f32)


@pytest.mark.parametrize("groups", [("sar", "time"), ("sar", "optical", "terrain", "time")], ids=["s1-only", "optical+terrain"])
def test_fused_path_equals_the_feature_cube_through_the_network(small_cube, groups, monkeypatch):
    """Features computed per batch of pixels inside the chunk give the rows of the feature cube, so the same NDVI."""
    from fusets_dl.inference import predict as predict_mod

    cube = small_cube.copy()
    ramp = np.linspace(0, 1, cube.sizes["y"] * cube.sizes["x"], dtype=np.float32).reshape(cube.sizes["y"], cube.sizes["x"])
    cube["elevation"], cube["slope"], cube["aspect"] = (("y", "x"), 200 * ramp), (("y", "x"), 20 * ramp.T.reshape(ramp.shape)), (("y", "x"), 360 * ramp[::-1])
    model = fdl.train(cube, fdl.FeatureSpec(groups=groups), TrainConfig(hidden=(16, 8), max_epochs=1, block_size=4))
    feats = fdl.compute_features(cube, model.spec).values
    want = model.predict_array(feats.reshape(-1, feats.shape[-1]), precision="float32").reshape(feats.shape[:-1])
    monkeypatch.setattr(predict_mod, "_MIN_FUSED_ROWS", 1)  # many batches per chunk, the last one short
    got = fdl.predict_ndvi(cube.chunk({"time": -1, "y": 7, "x": 9}), model, precision="float32", batch_size=250).values
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    assert np.isfinite(got).mean() > 0.5


def test_optical_model_needs_ndvi(small_cube):
    model = fdl.train(small_cube, fdl.FeatureSpec(groups=("sar", "optical", "time")), TrainConfig(hidden=(8,), max_epochs=1, block_size=4))
    with pytest.raises(fdl.errors.MissingVariableError, match="NDVI"):
        fdl.predict_ndvi(small_cube.drop_vars("NDVI"), model)


def test_backscatter_in_linear_power_is_warned_now_or_when_computed(trained):
    """A cube built by hand (not by the readers) with linear VV: suspicious but possible (bright targets), so a warning."""
    cube, model = trained
    linear = cube.assign(VV=10 ** (cube["VV"] / 10))  # no units attribute: only the values tell
    with pytest.warns(UserWarning, match=r"predict_ndvi: VV: the values look like linear power, not dB.*10 \* log10"):
        fdl.predict_ndvi(linear.load(), model)
    with raise_if_dask_computes():
        lazy = fdl.predict_ndvi(linear.chunk({"y": 8}), model)  # nothing computed to check it
    with pytest.warns(UserWarning, match="look like linear power"):
        lazy.compute()
    scaled = cube.assign(NDVI=cube["NDVI"] * 10000)
    with pytest.raises(fdl.errors.EncodingError, match=r"reconstruct: NDVI: expected NDVI in \[-1, 1\]"):
        fdl.reconstruct(scaled.load(), model)


def test_duplicate_times_point_to_the_readers(trained):
    cube, model = trained
    dup = xr.concat([cube, cube.isel(time=[2])], "time").sortby("time")
    with pytest.raises(fdl.errors.DuplicateTimeError, match=r"fdl.open_s1 / fdl.open_s2\(\.\.\., duplicates='first' or 'mean'\)"):
        fdl.predict_ndvi(dup, model)


def test_a_feature_missing_everywhere_is_warned(small_cube):
    """A 30-day trend on a monthly series is NaN at every date: the model predicts nothing, and says why."""
    monthly = small_cube.isel(time=slice(None, None, 5))  # about one date a month
    spec = fdl.FeatureSpec(trends=(20,))
    model = fdl.train(small_cube, spec, TrainConfig(hidden=(8,), max_epochs=1, block_size=4, min_samples=50))
    with pytest.warns(UserWarning, match=r"features \['dVV_trend20', 'dVH_trend20'\] are missing at every pixel-date with radar "
                                         r"\(this cube's median revisit: \d+ days\)"):
        pred = fdl.predict_ndvi(monthly, model)
    assert not np.isfinite(pred.values).any()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the series it fits: no warning
        fdl.predict_ndvi(small_cube, model)


def test_a_terrain_model_on_a_cube_without_terrain_says_so(small_cube):
    """The warning said the series was too sparse and nothing was predicted; in fact every value is predicted with the
    terrain inputs at their baseline."""
    import warnings

    rng = np.random.default_rng(0)
    shape = (small_cube.sizes["y"], small_cube.sizes["x"])
    with_terrain = small_cube.assign(elevation=(("y", "x"), rng.random(shape).astype("f4") * 100),
                                     slope=(("y", "x"), rng.random(shape).astype("f4")), aspect=(("y", "x"), rng.random(shape).astype("f4") * 360))
    model = fdl.train(with_terrain, fdl.FeatureSpec(groups=("sar", "time", "terrain")), TrainConfig(hidden=(8,), max_epochs=1, block_size=4))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        pred = fdl.predict_ndvi(small_cube, model)
    texts = [str(w.message) for w in seen]
    assert any("the model reads terrain (['elevation', 'slope', 'aspect_sin', 'aspect_cos']) and this cube has none" in t for t in texts)
    assert not any("too sparse" in t for t in texts) and float(pred.isnull().mean()) < 0.5


def test_features_far_from_the_training_data_are_warned(small_cube):
    """A terrain model trained with elevation in metres (20-40 m) given the DEM in feet (units undeclared): the prediction
    moved by 0.06 NDVI on average (0.30 at most) without a word. The warning names the feature and its distance."""
    import warnings

    rng = np.random.default_rng(0)
    shape = (small_cube.sizes["y"], small_cube.sizes["x"])
    elev = 20 + rng.random(shape).astype("f4") * 20
    metres = small_cube.assign(elevation=(("y", "x"), elev), slope=(("y", "x"), 1 + rng.random(shape).astype("f4")),
                               aspect=(("y", "x"), rng.random(shape).astype("f4") * 360))
    model = fdl.train(metres, fdl.FeatureSpec(groups=("sar", "time", "terrain")), TrainConfig(hidden=(8,), max_epochs=1, block_size=4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the training cube itself: nothing far
        fdl.predict_ndvi(metres, model).compute()
    feet = metres.assign(elevation=metres["elevation"] / 0.3048)
    from fusets_dl.inference import predict as pred_mod

    filters = list(warnings.filters)
    for cube in (feet, feet.chunk({"y": 6})):
        pred_mod._FAR_WARNED.clear()
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            fdl.predict_ndvi(cube, model).compute()
        far = [str(w.message) for w in seen if "far from anything" in str(w.message)]
        assert len(far) == 1, far  # once for the call, not once per chunk (4 chunks)
        assert re.search(r"predict_ndvi: features far from anything the model was trained on: elevation median 1\d\d\.\d+ "
                         r"\(training 3\d\.\d+ ± 5\.\d+, \+1\d sd\)", far[0])
    assert warnings.filters == filters  # the check leaves no warnings filter behind (catch_warnings in a thread did)


def test_training_on_a_terrain_missing_everywhere_is_warned(small_cube):
    """A DEM all nodata (or beside the training pixels) trained a terrain model that learnt nothing from terrain, silently."""
    shape = (small_cube.sizes["y"], small_cube.sizes["x"])
    empty = small_cube.assign(elevation=(("y", "x"), np.full(shape, np.nan, "f4")), slope=(("y", "x"), np.full(shape, np.nan, "f4")))
    with pytest.warns(UserWarning, match=r"train: the feature group\(s\) \['terrain'\] are missing in every training sample"):
        fdl.train(empty, fdl.FeatureSpec(groups=("sar", "time", "terrain")), TrainConfig(hidden=(8,), max_epochs=1, block_size=4))


def test_an_optical_model_without_its_optical_inputs_says_they_take_their_baseline(small_cube):
    """An optical model on a cube without clear NDVI (or a cloudy-input model without NDVI_cloudy): the warning blamed the
    series' sparseness for lags and windows and said nothing was predicted, while every value is predicted from the S1 inputs."""
    import warnings

    cube = small_cube.assign(NDVI_cloudy=small_cube["NDVI"].fillna(0.1))
    spec = fdl.FeatureSpec(groups=("sar", "time", "optical"), cloudy_input=True)
    model = fdl.train(cube, spec, TrainConfig(hidden=(8,), max_epochs=1, block_size=4, calibrate_reconstruction=False))
    for c, names in [(cube.drop_vars("NDVI_cloudy"), "['NDVI_cloudy', 'dt_cloudy']"), (cube.assign(NDVI=cube["NDVI"] * np.nan), "'NDVI_prev'")]:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            pred = fdl.predict_ndvi(c, model)
        texts = [str(w.message) for w in seen]
        assert any(f"the model's optional inputs [{names.strip('[]')}" in t and "set to their baseline" in t for t in texts), texts
        assert not any("too sparse" in t for t in texts)
        assert float(pred.notnull().mean()) == float((c["VV"].notnull() & c["VH"].notnull()).mean())


# --------------------------------------------------------------------------- hostile inputs (model side)

@pytest.mark.parametrize(("kw", "match"), [
    ({"device": "gpu"}, "device: expected 'auto', 'cpu'"),
    ({"precision": "fp16"}, "precision: expected"),
    ({"batch_size": 0}, "batch_size: expected a positive integer"),
    ({"batch_size": "x"}, "batch_size: expected a positive integer"),
])
def test_bad_run_options_fail_at_the_call_not_at_compute(small_cube, kw, match):
    """Before: a lazy result was returned and failed (or, for batch_size=0, silently took the default) at compute."""
    from fusets_dl.features import FeatureSpec
    from tests.models.test_model import _model

    model = _model(FeatureSpec(windows=(15,)))
    with raise_if_dask_computes(), pytest.raises(fdl.errors.ModelError, match=match):
        fdl.predict_ndvi(small_cube.chunk({"time": -1, "y": 12, "x": 10}), model, **kw)


def test_a_model_path_or_name_is_loaded_and_a_non_model_refused(small_cube, tmp_path):
    """Before: AttributeError ('str' object has no attribute 'spec') and IndexError; a path or name now loads as in train(init=)."""
    from fusets_dl.features import FeatureSpec
    from tests.models.test_model import _model

    model = _model(FeatureSpec(windows=(15,)))
    path = model.save(tmp_path / "m")
    ref = fdl.predict_ndvi(small_cube, model, device="cpu", precision="float32")
    xr.testing.assert_identical(fdl.predict_ndvi(small_cube, str(path), device="cpu", precision="float32"), ref)
    xr.testing.assert_identical(fdl.predict_ndvi(small_cube, tmp_path / "m", device="cpu", precision="float32"), ref)
    with pytest.raises(fdl.errors.ModelError, match=r"shipped model names \['pretrained', 'pretrained-general'\], found 'pretrainde'"):
        fdl.predict_ndvi(small_cube, "pretrainde")
    with pytest.raises(fdl.errors.ModelError, match=r"expected a FusionModel, a SequenceModel, a saved model's path .* found NoneType"):
        fdl.predict_ndvi(small_cube, None)
    with pytest.raises(fdl.errors.DimensionError, match="expected at least one date, found a cube with 0 dates"):
        fdl.predict_ndvi(small_cube.isel(time=slice(0, 0)), _model(FeatureSpec(windows=(15,))))


def test_a_model_with_repeated_windows_predicts_lazily_and_warns_once(small_cube):
    """The legacy model of tests/models/data (windows=(15, 15)): warned at load, not again per chunk or process."""
    import warnings
    from pathlib import Path

    with pytest.warns(UserWarning, match="repeated values"):
        model = fdl.load_model(Path(__file__).parents[1] / "models" / "data" / "fusion_repeated_windows")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eager = fdl.predict_ndvi(small_cube, model, device="cpu", precision="float32")
        with raise_if_dask_computes():
            lazy = fdl.predict_ndvi(small_cube.chunk({"time": -1, "y": 12, "x": 10}), model, device="cpu", precision="float32")
        np.testing.assert_allclose(lazy.values, eager.values, rtol=1e-6, atol=1e-6)
    assert np.isfinite(eager.values).mean() > 0.9


def test_a_cube_of_another_backscatter_coefficient_than_the_models_is_warned(small_cube):
    """gamma0 given to a model trained on sigma0 (+1 dB at 38 degrees) moved predictions by up to 0.1 NDVI without a word.
    The model now records its scenes' coefficient; nothing is said where either side is unknown."""
    import warnings

    sigma0 = small_cube.assign(VV=small_cube["VV"].assign_attrs(backscatter="sigma0"), VH=small_cube["VH"].assign_attrs(backscatter="sigma0"))
    model = fdl.train(sigma0, config=TrainConfig(hidden=(8,), max_epochs=1, block_size=4, calibrate_reconstruction=False))
    assert model.info["scene"]["backscatter"] == "sigma0"
    gamma0 = small_cube.assign(VV=(small_cube["VV"] + 1.0).assign_attrs(backscatter="gamma0"), VH=small_cube["VH"] + 1.0)
    with pytest.warns(UserWarning, match=r"predict_ndvi: the cube's backscatter is gamma0, the model was trained on sigma0"):
        fdl.predict_ndvi(gamma0, model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fdl.predict_ndvi(sigma0, model)  # the same coefficient
        fdl.predict_ndvi(small_cube, model)  # unknown on the cube's side


@pytest.mark.realdata
def test_a_cube_of_another_revisit_than_the_models_is_warned():
    """The shipped model (trained on Flanders' 6-day orbits and Slovakia's 12-day orbit) on Flanders composited to 20 days:
    R2 -1.92 (0.63 on the acquisitions), with no warning before. Beyond its training sites' revisits by half (18 days) it is
    warned; the acquisitions themselves are not."""
    import warnings

    from tests.paths import WC_S1, WC_S2_10, WC_S2_20

    s1 = fdl.open_s1(WC_S1)
    s2 = fdl.open_s2([WC_S2_10, WC_S2_20])
    m = fdl.load_model("pretrained")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fdl.predict_ndvi(fdl.align(s1, s2), m)
    assert {n: round(s["revisit_days"]["orbit"], 1) for n, s in m.info["sites"].items()} == {
        "flanders-2018": 6.0, "slovakia-LR": 12.0, "slovakia-NB": 12.0, "slovakia-NS": 12.0}  # pretrain.py --record-revisit
    with pytest.warns(UserWarning, match=r"predict_ndvi: this cube's acquisitions of one orbit come every 20.0 days \(median\), the "
                                         r"model's training scenes every 6.0 to 12.0 days"):
        fdl.predict_ndvi(fdl.align(s1, s2, freq="20D"), m)


def test_a_shorter_revisit_per_orbit_group_is_left_to_the_orbit_mixing_warning():
    """Date-only times put two relative orbits in one group (a 3-day 'revisit', the GFMap sample): the revisit check took it
    for composites and warned a second time, wrongly. Per orbit group only the upper end is checked; overall both."""
    import types
    import warnings

    from fusets_dl.features.spec import FeatureSpec
    from fusets_dl.inference.checks import check_revisit

    def model(lag_mode: str) -> object:
        spec = FeatureSpec(lags=1, lag_mode=lag_mode)
        return types.SimpleNamespace(spec=spec, scaler=object(), info={"sites": {"a": {"revisit_days": {"orbit": 6.0, "any": 6.0}}}})

    days = np.arange(0, 120, 3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_revisit(model("orbit"), days, np.zeros(days.size, dtype=np.int64), "predict_ndvi")
    with pytest.warns(UserWarning, match=r"acquisitions of one date to the next come every 3.0 days"):
        check_revisit(model("any"), days, np.zeros(days.size, dtype=np.int64), "predict_ndvi")
    with pytest.warns(UserWarning, match=r"acquisitions of one orbit come every 20.0 days"):
        check_revisit(model("orbit"), np.arange(0, 400, 20.0), np.zeros(20, dtype=np.int64), "predict_ndvi")


@pytest.mark.realdata
def test_the_gfmap_sample_gets_no_revisit_warning_from_the_shipped_model():
    import warnings

    from tests.paths import GF_S1, GF_S2

    cube = fdl.align(fdl.open_s1(GF_S1), fdl.open_s2(GF_S2))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fdl.predict_ndvi(cube, fdl.load_model("pretrained"))
    assert not [w for w in caught if "come every" in str(w.message)], [str(w.message) for w in caught]


def test_a_model_recording_its_training_revisit_warns_on_composites_of_another(small_scene):
    """Models record their training scenes' median revisit (per orbit group and overall, and per calendar year); a cube
    composited to 30 days is warned by a model trained on the acquisitions, and the acquisitions are not."""
    import warnings

    s1, s2, _ = small_scene
    s1d, s2d = fdl.open_s1(s1), fdl.open_s2(s2)
    cube = fdl.align(s1d, s2d)
    m = fdl.train(cube, fdl.FeatureSpec(lags=1), fdl.TrainConfig(max_epochs=1, min_samples=50, hidden=(8,)))
    rv = m.info["scene"]["revisit_days"]
    assert 0 < rv["any"] <= rv["orbit"] <= 12.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fdl.predict_ndvi(cube, m)
    assert set(m.info["scene"]["revisit_years"]) == {"orbit", "any"}
    with pytest.warns(UserWarning, match=r"predict_ndvi: this cube's acquisitions of one orbit come every 30.0 days in 2021 \(median "
                                         r"per year\), the model's training years every \d+\.\d days"):
        fdl.predict_ndvi(fdl.align(s1d, s2d, freq="30D"), m)
