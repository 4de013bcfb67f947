"""compute_features: laziness, chunk invariance, the accessor."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.features import FeatureSpec, compute_features
from fusets_dl.testing import raise_if_dask_computes
from tests.features.cubes import make_cube, optical_cube


def test_features_are_lazy_and_chunk_invariant(small_scene):
    s1r, s2r, _ = small_scene
    eager_cube = fdl.align(fdl.open_s1(s1r), fdl.open_s2(s2r))
    eager = compute_features(eager_cube)
    with raise_if_dask_computes():
        cube = fdl.align(fdl.open_s1(s1r, chunks={"y": 9, "x": 6}, units="dB"), fdl.open_s2(s2r, chunks={"y": 9, "x": 6}))
        lazy = compute_features(cube)
    assert lazy.dims == ("time", "y", "x", "feature")
    assert lazy.dtype == np.float32 and lazy.chunks is not None
    np.testing.assert_array_equal(lazy.values, eager.values)
    assert list(lazy.feature.values) == FeatureSpec().names


def test_accessor_features_matches_function():
    cube = make_cube()
    xr.testing.assert_identical(cube.fusion.features(), compute_features(cube))


def test_minus_infinity_is_missing_not_the_noise_floor():
    """-inf dB (zero power, e.g. masked borders converted to dB) was floored to a valid -40 dB."""
    vv = np.array([-10.0, -np.inf, -12.0, -8.0, -9.0], dtype=np.float32)
    f = compute_features(make_cube(vv=vv, vh=vv - 6, nx=2))
    assert np.isnan(f.sel(feature="VV").values[1]).all() and np.isnan(f.sel(feature="VV_VH_dB").values[1]).all()
    ref = compute_features(make_cube(vv=np.where(np.isinf(vv), np.nan, vv), nx=2))
    np.testing.assert_array_equal(f.values, ref.values)


def test_vh_split_along_time_alone_is_rechunked_and_zero_dates_refused():
    cube = make_cube(nx=3, ny=2)
    mixed = cube.assign(VV=cube["VV"].chunk({"time": -1}), VH=cube["VH"].chunk({"time": 2}))
    np.testing.assert_array_equal(compute_features(mixed).values, compute_features(cube).values)
    with pytest.raises(fdl.errors.DimensionError, match="at least one date, found 0"):
        compute_features(cube.isel(time=slice(0, 0)))


def test_values_are_checked_as_train_and_predict_check_them():
    """NDVI x 10000 is refused and linear power under dB is warned, eagerly and (lazily) per chunk on Dask."""
    from fusets_dl.errors import EncodingError

    spec = FeatureSpec(groups=("sar", "time", "optical"))
    ndvi = np.array([0.2, np.nan, 0.4, 0.5, 0.6], dtype=np.float32)
    cube = optical_cube(ndvi * 10000, ny=4, nx=4)
    with pytest.raises(EncodingError, match=r"compute_features: NDVI.*\[-1, 1\]"):
        compute_features(cube, spec)
    with raise_if_dask_computes():
        lazy = compute_features(cube.chunk({"y": 2}), spec)
    with pytest.raises(EncodingError, match="compute_features: NDVI"):
        lazy.compute()
    linear = make_cube(vv=np.array([0.1, np.nan, 0.05, 0.2, 0.12], dtype=np.float32), ny=4, nx=4)
    linear["VH"] = linear["VV"] / 5
    with pytest.warns(UserWarning, match="compute_features: VV: the values look like linear power"):
        compute_features(linear)
    # the trainer has checked its cube already: no second check of each gathered block
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compute_features(linear, check_values=False)
        np.testing.assert_array_equal(compute_features(optical_cube(ndvi, ny=2, nx=2), spec).values,
                                      compute_features(optical_cube(ndvi, ny=2, nx=2), spec, check_values=False).values)


def test_a_cube_chunked_one_date_at_a_time_is_not_made_one_chunk_of_everything(small_cube):
    """(1, 4096, 4096) chunks (odc-stac, open_zarr) became one chunk of every date and pixel (206 GiB of features): time is
    joined, the pixels split to Dask's auto size. Values are the unchunked ones."""
    import dask

    from fusets_dl.features import FeatureSpec, compute_features, speckle_filter

    per_date = small_cube.chunk({"time": 1, "y": -1, "x": -1})
    with dask.config.set({"array.chunk-size": "16KiB"}):
        f = compute_features(per_date, FeatureSpec())
        sp = speckle_filter(per_date)
    assert len(f.chunks[0]) == 1 and (len(f.chunks[1]) > 1 or len(f.chunks[2]) > 1)
    assert len(sp["VV"].chunks[0]) == 1 and (len(sp["VV"].chunks[1]) > 1 or len(sp["VV"].chunks[2]) > 1)
    xr.testing.assert_allclose(f.compute(), compute_features(small_cube, FeatureSpec()))
    xr.testing.assert_allclose(sp["VV"].compute(), speckle_filter(small_cube)["VV"])


def test_a_chunk_of_all_features_stays_bounded(small_cube, monkeypatch):
    """All 36 features of the shipped spec in one chunk multiplied the input chunk 36 times (6.4 GiB for 182 dates of
    512 x 512 pixels, above Blosc's 2 GiB when written): y and x are split to keep it under MAX_FEATURE_CHUNK_BYTES."""
    import fusets_dl as fdl
    import fusets_dl.features.compute as fc

    spec = fdl.load_model("pretrained").spec
    cube = small_cube.isel(y=slice(0, 16), x=slice(0, 16))
    chunked = cube.chunk({"y": 16, "x": 16})
    per_feature = cube.sizes["time"] * 16 * 16 * 4  # bytes of one feature of one input chunk
    monkeypatch.setattr(fc, "MAX_FEATURE_CHUNK_BYTES", per_feature * len(spec.names) // 4)  # a quarter of the whole
    f = fc.compute_features(chunked, spec)
    assert f.chunks[3] == (len(spec.names),) and f.chunks[1] == (8, 8) and f.chunks[2] == (8, 8)
    assert max(f.chunks[1]) * max(f.chunks[2]) * f.sizes["time"] * f.sizes["feature"] * 4 <= fc.MAX_FEATURE_CHUNK_BYTES
    np.testing.assert_array_equal(f.values, fc.compute_features(cube, spec).values)
    monkeypatch.setattr(fc, "MAX_FEATURE_CHUNK_BYTES", 512 * 2**20)
    assert fc.compute_features(chunked, spec).chunks[1] == (16,)  # under the bound: the input's chunks
    points = xr.DataArray(np.zeros((100, 1, 4096, 36), np.float32), dims=("time", "y", "x", "feature")).chunk({"x": 4096})
    monkeypatch.setattr(fc, "MAX_FEATURE_CHUNK_BYTES", 100 * 1024 * 36 * 4)  # room for 1,024 points of the pseudo-grid
    assert fc._feature_chunks(points) == {"y": 1, "x": 1024}  # x takes what y = 1 leaves (it got 32 x 32's side: 32)


def test_a_spec_given_as_a_dict_is_read_as_train_reads_it(small_cube):
    """compute_features(cube, {"groups": [...]}) raised AttributeError: 'dict' object has no attribute 'groups'."""
    from fusets_dl.errors import ConfigError

    d = {"groups": ["sar", "time"], "lags": 1}
    xr.testing.assert_identical(compute_features(small_cube, d), compute_features(small_cube, FeatureSpec.from_dict(d)))
    with pytest.raises(ConfigError, match=r"compute_features: spec: expected a FeatureSpec or a dict of its fields, found TrainConfig .*"
                                          r"\(a TrainConfig is train\(\)'s config, not the features\)"):
        compute_features(small_cube, fdl.TrainConfig())
