"""Reconstruction with a sequence model: observations kept, the model's mean and std elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError
from fusets_dl.inference.sequence import predict_sequence
from fusets_dl.reconstruction.sequence import reconstruct_sequence
from fusets_dl.testing import raise_if_dask_computes
from tests.models.test_sequence import tiny_model


def test_observations_kept_rest_from_the_model(small_cube: xr.Dataset) -> None:
    m = tiny_model()
    rec = fdl.reconstruct(small_cube, m, smooth=False, obs_std=0.04, device="cpu")  # dispatches on the model's kind
    pred = predict_sequence(small_cube, m, device="cpu")
    obs = small_cube["NDVI"].values
    seen = np.isfinite(obs)
    np.testing.assert_array_equal(rec["NDVI"].values[seen], obs[seen])
    np.testing.assert_allclose(rec["NDVI"].values[~seen], np.clip(pred["NDVI_pred"].values[~seen], -1, 1))
    np.testing.assert_allclose(rec["NDVI_std"].values[seen], 0.04)
    np.testing.assert_allclose(rec["NDVI_std"].values[~seen], pred["NDVI_pred_std"].values[~seen])
    assert set(np.unique(rec["source"].values[seen])) == {0} and set(np.unique(rec["source"].values[~seen])) == {1}
    assert rec["source"].dtype == np.uint8
    # the default does not smooth a sequence model (it smooths the per-date model)
    default = fdl.reconstruct(small_cube, m, obs_std=0.04, device="cpu")
    np.testing.assert_array_equal(default["NDVI"].values, rec["NDVI"].values)
    assert default.attrs["smoothing"] == "none"


def test_regular_grid_smoothing_and_laziness(small_cube: xr.Dataset) -> None:
    m = tiny_model()
    ref = reconstruct_sequence(small_cube, m, freq="5D", device="cpu")
    t = small_cube["time"].to_index()
    assert ref.sizes["time"] == len(pd.date_range(t[0].floor("D"), t[-1], freq="5D"))
    assert set(np.unique(ref["source"].values)) <= {0, 1, 2}
    assert (ref["source"].values == 2).any()
    with raise_if_dask_computes():
        lazy = reconstruct_sequence(small_cube.chunk({"y": 8, "x": 6}), m, freq="5D", device="cpu")
        sm = reconstruct_sequence(small_cube.chunk({"y": 8}), m, smooth=True, device="cpu")
    np.testing.assert_allclose(lazy["NDVI"].values, ref["NDVI"].values, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(lazy["source"].values, ref["source"].values)
    plain = reconstruct_sequence(small_cube, m, device="cpu")["NDVI"].values
    smv = sm["NDVI"].values
    assert np.isfinite(smv).all()
    # the smoothed series is smoother: smaller second differences
    assert np.abs(np.diff(smv, 2, axis=0)).mean() < np.abs(np.diff(plain, 2, axis=0)).mean()


def test_bad_options(small_cube: xr.Dataset) -> None:
    with pytest.raises(ConfigError, match="whole number of days"):
        reconstruct_sequence(small_cube, tiny_model(), freq="12h")
    with pytest.raises(ConfigError, match="lam > 0"):
        reconstruct_sequence(small_cube, tiny_model(), lam=0)


def test_accessor_and_a_given_prediction(small_cube: xr.Dataset) -> None:
    m = tiny_model()
    ref = reconstruct_sequence(small_cube, m, device="cpu")
    via = small_cube.fusion.reconstruct(m, smooth=False, device="cpu")
    np.testing.assert_array_equal(via["NDVI"].values, ref["NDVI"].values)
    f32 = small_cube.fusion.reconstruct(m, smooth=False, device="cpu", precision="float32")  # precision reaches the network
    assert np.nanmax(np.abs(f32["NDVI"].values - ref["NDVI"].values)) < 5e-3
    with fdl.set_options(precision="float32"):
        np.testing.assert_array_equal(reconstruct_sequence(small_cube, m, device="cpu")["NDVI"].values, f32["NDVI"].values)
    given = fdl.reconstruct(small_cube, m, smooth=False, predicted=fdl.predict_ndvi(small_cube, m, device="cpu"))
    np.testing.assert_array_equal(given["NDVI_std"].values, ref["NDVI_std"].values)
    with pytest.raises(ConfigError, match="NDVI_pred_std"):
        reconstruct_sequence(small_cube, m, predicted=small_cube["VV"])


def test_a_cube_the_std_was_not_fitted_on_warns(small_cube: xr.Dataset) -> None:
    import dataclasses
    import warnings

    from fusets_dl.models.sequence_model import cube_span

    m = tiny_model()
    assert m.std_fitted_on(cube_span(small_cube)) is None  # nothing recorded (models saved before): no claim either way
    own = dataclasses.replace(m, info={"cubes": [{"start": cube_span(small_cube)[0], "end": cube_span(small_cube)[1]}]})
    later = small_cube.isel(time=slice(4, None))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its own cube: no warning
        reconstruct_sequence(small_cube, own, device="cpu")
    with pytest.warns(UserWarning, match=r"std was fitted on cubes of \d{4}-\d\d-\d\d to .*calibrate_sequence\(model, cube\)") as rec:
        reconstruct_sequence(later, own, device="cpu")
    assert " to ".join(cube_span(later)) in str(rec[0].message)
    recal = dataclasses.replace(own, calibration={"std_scale": 1.5, "cubes": [cube_span(later), cube_span(small_cube)]})
    assert own.std_spans() == [cube_span(small_cube)] and recal.std_spans() == [cube_span(small_cube), cube_span(later)]  # no repeats
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refitted on that cube: no warning
        reconstruct_sequence(later, recal, device="cpu")
