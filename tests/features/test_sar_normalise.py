"""``FeatureSpec(s1_normalise=...)``: per-pixel and per-pixel-orbit z-scores of the S1 columns (features/sar.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusets_dl.errors import ConfigError
from fusets_dl.features import S1_NORMALISE, FeatureSpec, compute_features
from fusets_dl.testing import raise_if_dask_computes
from tests.features.cubes import make_cube, series

# two orbit groups (06:00 and 18:00) alternating, the 18:00 orbit 4 dB darker
TIMES = pd.to_datetime(["2021-01-01T06:00", "2021-01-04T18:00", "2021-01-07T06:00", "2021-01-10T18:00", "2021-01-13T06:00", "2021-01-16T18:00"])
VV = np.array([-10, -14, -12, -16, -8, -12], np.float32)
ORB = np.array([0, 1, 0, 1, 0, 1])


def zscore(x):
    x = np.asarray(x, dtype=float)
    return (x - x.mean()) / x.std()


def test_pixel_normalisation_is_a_z_score_over_the_series():
    f = compute_features(make_cube(vv=VV, times=TIMES), FeatureSpec(s1_normalise="pixel", lags=1))
    np.testing.assert_allclose(series(f, "VV"), zscore(VV), rtol=1e-6)
    np.testing.assert_allclose(series(f, "VH"), zscore(VV - 6), rtol=1e-6)
    # lags follow the z-scores (lag 1 in the same orbit: two slots back)
    np.testing.assert_allclose(series(f, "VV_lag1")[2:], zscore(VV)[:-2], rtol=1e-6)


def test_pixel_orbit_normalisation_removes_the_offset_between_orbits():
    f = compute_features(make_cube(vv=VV, times=TIMES), FeatureSpec(s1_normalise="pixel_orbit"))
    z = np.empty(6)
    for g in (0, 1):
        z[ORB == g] = zscore(VV[ORB == g])
    np.testing.assert_allclose(series(f, "VV"), z, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(series(f, "VV"), [0, 0, -1.5**0.5, -1.5**0.5, 1.5**0.5, 1.5**0.5], atol=1e-6)
    for name in ("VV", "VH", "RVI", "VV_VH_dB", "VH_VV", "VVxVH"):
        col = series(f, name)
        for g in (0, 1):
            sel = col[ORB == g]
            assert abs(sel.mean()) < 1e-6, name
            assert sel.std() == pytest.approx(1.0, abs=1e-5) or np.allclose(sel, 0), name


def test_constant_series_and_missing_dates():
    vv = np.array([-10, np.nan, -12, -8, -9], np.float32)
    f = compute_features(make_cube(vv=vv), FeatureSpec(s1_normalise="pixel"))
    got = series(f, "VV")
    assert np.isnan(got[1])
    np.testing.assert_allclose(got[[0, 2, 3, 4]], zscore(vv[[0, 2, 3, 4]]), rtol=1e-6)
    # the ratio VV - VH is constant (6 dB): no variation gives 0, not NaN or inf
    np.testing.assert_array_equal(series(f, "VV_VH_dB")[[0, 2, 3, 4]], 0)


def test_none_is_the_default_and_leaves_db_unchanged():
    cube = make_cube(vv=VV, times=TIMES)
    assert FeatureSpec().s1_normalise == "none"
    np.testing.assert_array_equal(compute_features(cube, FeatureSpec(s1_normalise="none")).values, compute_features(cube).values)


def test_per_pixel_statistics_and_chunk_invariance():
    rng = np.random.default_rng(0)
    cube = make_cube(vv=VV, times=TIMES, ny=4, nx=5)
    cube["VV"] = cube["VV"] + xr.DataArray(rng.normal(0, 3, (6, 4, 5)).astype(np.float32), dims=("time", "y", "x"))
    spec = FeatureSpec(s1_normalise="pixel_orbit")
    ref = compute_features(cube, spec)
    with raise_if_dask_computes():
        lazy = compute_features(cube.chunk({"time": 2, "y": 2, "x": 3}), spec)
    np.testing.assert_array_equal(lazy.values, ref.values)
    vv = ref.sel(feature="VV").values
    for g in (0, 1):
        np.testing.assert_allclose(vv[ORB == g].mean(axis=0), 0, atol=1e-6)
        np.testing.assert_allclose(vv[ORB == g].std(axis=0), 1, rtol=1e-5)


def test_spec_round_trip_and_bad_values():
    spec = FeatureSpec(s1_normalise="pixel_orbit")
    assert FeatureSpec.from_dict(json.loads(spec.to_json())) == spec
    assert FeatureSpec.from_dict({k: v for k, v in spec.to_dict().items() if k != "s1_normalise"}).s1_normalise == "none"
    assert S1_NORMALISE == ("none", "pixel", "pixel_orbit")
    for bad in ("orbit", "Pixel", None, True):
        with pytest.raises(ConfigError, match=r"s1_normalise: expected one of \('none', 'pixel', 'pixel_orbit'\), found"):
            FeatureSpec(s1_normalise=bad)
