"""Sequence-model inference over Dask chunks: lazy, chunk-invariant, weights in the graph once."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ModelError
from fusets_dl.inference.sequence import predict_sequence
from fusets_dl.testing import raise_if_dask_computes
from tests.models.test_sequence import tiny_model


def test_shapes_values_and_predict_ndvi_dispatch(small_cube: xr.Dataset) -> None:
    m = tiny_model()
    out = predict_sequence(small_cube, m, device="cpu")
    assert out["NDVI_pred"].dims == ("time", "y", "x") and out["NDVI_pred"].shape == small_cube["VV"].shape
    assert np.isfinite(out["NDVI_pred"].values).all() and (out["NDVI_pred_std"].values > 0).all()
    da = fdl.predict_ndvi(small_cube, m, device="cpu")
    np.testing.assert_array_equal(da.values, out["NDVI_pred"].values)
    np.testing.assert_array_equal(da["NDVI_pred_std"].values, out["NDVI_pred_std"].values)
    s1 = predict_sequence(small_cube, m, s1_only=True, device="cpu")["NDVI_pred"].values
    s1b = predict_sequence(small_cube.drop_vars("NDVI"), m, device="cpu")["NDVI_pred"].values
    np.testing.assert_array_equal(s1, s1b)
    assert not np.allclose(s1, out["NDVI_pred"].values)


def test_lazy_chunked_equals_unchunked_and_time_chunks(small_cube: xr.Dataset) -> None:
    m = tiny_model()
    ref = predict_sequence(small_cube, m, device="cpu")
    with raise_if_dask_computes():
        lazy = predict_sequence(small_cube.chunk({"y": 7, "x": 9}), m, device="cpu")
        split_t = predict_sequence(small_cube.chunk({"time": 10, "y": 12}), m, device="cpu")
    keys = [k for k in dict(lazy["NDVI_pred"].data.__dask_graph__()) if "fusets-seqmodel" in str(k)]
    assert len(keys) == 1  # the weights are one key of the graph
    for got in (lazy, split_t):
        assert got["NDVI_pred"].chunks is not None
        np.testing.assert_allclose(got["NDVI_pred"].values, ref["NDVI_pred"].values, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["NDVI_pred_std"].values, ref["NDVI_pred_std"].values, rtol=1e-5, atol=1e-6)


def test_wrong_model_kind_is_refused(small_cube: xr.Dataset) -> None:
    with pytest.raises(ModelError, match="expected a SequenceModel"):
        predict_sequence(small_cube, object())  # type: ignore[arg-type]


def test_the_incidence_angle_is_read_only_by_a_model_that_learnt_from_it(small_cube: xr.Dataset) -> None:
    import dataclasses
    import warnings

    assert "incidence_angle" in small_cube.coords  # the synthetic scenes carry one
    small_cube = small_cube.drop_vars("incidence_angle")
    angle = xr.DataArray(np.linspace(33.0, 45.0, small_cube.sizes["time"]), dims="time")
    with_angle = small_cube.assign_coords(incidence_angle=angle)
    m = tiny_model()  # records nothing (models saved before): the angle is read when present, as before
    assert m.reads_angle() is None
    plain = predict_sequence(small_cube, m, device="cpu")["NDVI_pred"].values
    assert not np.allclose(predict_sequence(with_angle, m, device="cpu")["NDVI_pred"].values, plain)
    span = {"start": "2021-01-01", "end": "2021-12-31"}
    without = dataclasses.replace(m, info={"cubes": [{**span, "incidence_angle": False}]})
    assert without.reads_angle() is False  # its angle weights never learnt: the cube's angle is left out
    np.testing.assert_array_equal(predict_sequence(with_angle, without, device="cpu")["NDVI_pred"].values,
                                  predict_sequence(small_cube, without, device="cpu")["NDVI_pred"].values)
    learnt = dataclasses.replace(m, info={"cubes": [{**span, "incidence_angle": True}, {**span, "incidence_angle": False}]})
    assert learnt.reads_angle() is True
    with pytest.warns(UserWarning, match="trained with an incidence_angle and this cube has none"):
        predict_sequence(small_cube, learnt, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict_sequence(with_angle, learnt, device="cpu")
    from fusets_dl.models.sequence import CHANNELS

    no_channel = dataclasses.replace(learnt, architecture={**learnt.architecture, "inputs": [c for c in CHANNELS if c != "angle"]})
    assert "angle" not in no_channel.inputs and no_channel.reads_angle() is False  # no angle channel: reads none, whatever its cubes had


def test_an_angle_set_after_the_reader_is_checked_by_the_sequence_stages(small_cube: xr.Dataset) -> None:
    """cube.assign_coords(incidence_angle=...) bypasses open_s1's checks: radians (0.58), a fill value of 0 or 95 degrees moved
    a sequence model's NDVI by 0.06-0.135 silently (hunt F4). Both stages now warn outside 15-60 and refuse outside 0-90."""
    from fusets_dl.errors import EncodingError
    from fusets_dl.training.sequence import train_sequence
    from tests.training.test_sequence import FAST

    m = tiny_model()
    nt = small_cube.sizes["time"]
    rad = small_cube.assign_coords(incidence_angle=("time", np.full(nt, 0.58)))
    with pytest.warns(UserWarning, match=r"predict_sequence: incidence_angle: \d+ of \d+ incidence angles lie outside 15-60 "
                                         r"degrees .*radians"):
        predict_sequence(rad, m, device="cpu")
    with pytest.warns(UserWarning, match=r"train\(model='sequence'\): incidence_angle: .* outside 15-60 degrees"):
        train_sequence(rad, fdl.TrainConfig(**{**FAST, "max_epochs": 1}))
    with pytest.raises(EncodingError, match=r"predict_sequence: incidence_angle: expected an incidence angle in 0-90 degrees, "
                                            r"found \d+ of \d+ values outside \(from 95 to 95\)"):
        predict_sequence(small_cube.assign_coords(incidence_angle=("time", np.full(nt, 95.0))), m, device="cpu")


def test_training_records_whether_each_cube_had_an_angle(small_cube: xr.Dataset, tmp_path) -> None:
    from fusets_dl.training.sequence import train_sequence
    from tests.training.test_sequence import FAST

    cfg = fdl.TrainConfig(**{**FAST, "max_epochs": 1})
    m = train_sequence([small_cube, small_cube.drop_vars("incidence_angle").assign_coords(x=small_cube["x"] + 1e4)], cfg)
    assert [c["incidence_angle"] for c in m.info["cubes"]] == [True, False] and m.reads_angle() is True
    m = fdl.train(small_cube.drop_vars("incidence_angle"), config=cfg)
    assert m.reads_angle() is False
    assert fdl.load_model(m.save(tmp_path / "m")).reads_angle() is False


def test_one_or_two_dates_are_warned_and_zero_dates_refused(small_cube: xr.Dataset) -> None:
    """Before: 1 or 2 dates predicted silently without any series to read; 0 dates gave NumPy's empty-slice warnings."""
    from fusets_dl.errors import DimensionError

    m = tiny_model()
    for n in (1, 2):
        with pytest.warns(UserWarning, match=f"this cube has {n} date"):
            out = predict_sequence(small_cube.isel(time=slice(0, n)), m, device="cpu")
        assert out["NDVI_pred"].shape[0] == n
    with pytest.raises(DimensionError, match="0 dates"):
        predict_sequence(small_cube.isel(time=slice(0, 0)), m, device="cpu")


@pytest.mark.parametrize("kw", [{"device": "gpu"}, {"precision": "fp16"}])
def test_a_bad_device_or_precision_fails_at_the_call_on_dask(small_cube: xr.Dataset, kw: dict) -> None:
    """Before: the lazy result was returned and failed at compute."""
    with raise_if_dask_computes(), pytest.raises(ModelError, match="device: expected|precision: expected"):
        predict_sequence(small_cube.chunk({"y": 7}), tiny_model(), **kw)


def test_a_cube_of_another_backscatter_coefficient_than_the_sequence_models_is_warned(small_cube: xr.Dataset) -> None:
    """The per-date path warned of gamma0 given to a sigma0 model; the sequence path (predict_ndvi, reconstruct) said nothing."""
    import warnings

    from fusets_dl.training.sequence import train_sequence
    from tests.training.test_sequence import FAST

    sigma0 = small_cube.assign(VV=small_cube["VV"].assign_attrs(backscatter="sigma0"), VH=small_cube["VH"].assign_attrs(backscatter="sigma0"))
    m = train_sequence(sigma0, fdl.TrainConfig(**{**FAST, "max_epochs": 1}))
    assert [c["backscatter"] for c in m.info["cubes"]] == ["sigma0"]
    gamma0 = small_cube.assign(VV=(small_cube["VV"] + 1.0).assign_attrs(backscatter="gamma0"), VH=small_cube["VH"] + 1.0)
    with pytest.warns(UserWarning, match=r"predict_sequence: the cube's backscatter is gamma0, the model was trained on sigma0"):
        fdl.predict_ndvi(gamma0, m, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict_sequence(sigma0, m, device="cpu")  # the same coefficient
        predict_sequence(small_cube, m, device="cpu")  # unknown on the cube's side


def test_the_prediction_records_its_mode_and_std_calibration(small_cube: xr.Dataset) -> None:
    """``reconstruct(predicted=...)`` compares them with the model's: a recalibrated copy keeps the weights' SHA-256."""
    import dataclasses

    m = dataclasses.replace(tiny_model(), calibration={"std_scale": 1.3, "std_scale_s1_only": 1.7})
    with raise_if_dask_computes():
        lazy = predict_sequence(small_cube.chunk({"y": 12}), m, device="cpu")
    for v in ("NDVI_pred", "NDVI_pred_std"):
        assert lazy[v].attrs["std_scale"] == 1.3 and lazy[v].attrs["s1_only"] == 0 and lazy[v].attrs["model_sha256"] == m.sha256
    s1 = predict_sequence(small_cube, m, s1_only=True, device="cpu")
    assert s1["NDVI_pred"].attrs["std_scale"] == 1.7 and s1["NDVI_pred"].attrs["s1_only"] == 1
    assert fdl.predict_ndvi(small_cube, m, device="cpu").attrs["std_scale"] == 1.3  # the DataArray keeps them
    assert predict_sequence(small_cube, tiny_model(), device="cpu")["NDVI_pred"].attrs["std_scale"] == 1.0  # uncalibrated
