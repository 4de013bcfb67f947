"""Features against hand-computed values; laziness; chunking; spec serialisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError
from fusets_dl.features import FeatureSpec, compute_features, orbit_groups
from fusets_dl.testing import raise_if_dask_computes

# acquisitions every 6 days; the second one is missing (NaN)
TIMES = pd.to_datetime(["2021-01-01T06:00", "2021-01-07T06:00", "2021-01-13T06:00", "2021-01-19T06:00", "2021-01-25T06:00"])
VV = np.array([-10.0, np.nan, -12.0, -8.0, -9.0], dtype=np.float32)


def _cube(vv=VV, vh=None, times=TIMES, ny=1, nx=1, orbit=None):
    vh = vv - 6 if vh is None else vh
    shape = (len(times), ny, nx)
    ds = xr.Dataset(
        {
            "VV": (("time", "y", "x"), np.broadcast_to(np.asarray(vv, np.float32)[:, None, None], shape).copy(), {"units": "dB"}),
            "VH": (("time", "y", "x"), np.broadcast_to(np.asarray(vh, np.float32)[:, None, None], shape).copy(), {"units": "dB"}),
        },
        coords={"time": times, "y": np.arange(ny, dtype=float), "x": np.arange(nx, dtype=float)},
    )
    if orbit is not None:
        ds = ds.assign_coords(orbit=("time", orbit))
    return ds


def _series(f, name):
    return f.sel(feature=name).isel(y=0, x=0).values


def test_hand_computed_values_with_a_missing_date():
    f = compute_features(_cube(), FeatureSpec(windows=(15,), trends=(30,), rolling=5, lags=2))
    nan = np.nan
    np.testing.assert_allclose(_series(f, "VV"), [-10, nan, -12, -8, -9])
    lin_vv, lin_vh = 10 ** (-1.0), 10 ** (-1.6)
    np.testing.assert_allclose(_series(f, "RVI")[0], 4 * lin_vh / (lin_vv + lin_vh), rtol=1e-5)
    np.testing.assert_allclose(_series(f, "VV_VH_dB"), [6, nan, 6, 6, 6])
    np.testing.assert_allclose(_series(f, "VH_VV")[0], 10**-0.6, rtol=1e-5)
    np.testing.assert_allclose(_series(f, "VVxVH")[0], (-10 * -16) / 100, rtol=1e-6)
    # lag 1 is the previous *valid* acquisition: 01-13 looks back to 01-01 (12 days), not the missing 01-07
    np.testing.assert_allclose(_series(f, "VV_lag1"), [nan, nan, -10, -12, -8])
    np.testing.assert_allclose(_series(f, "dt_lag1"), [nan, nan, 12, 6, 6])
    np.testing.assert_allclose(_series(f, "dVV_lag1"), [nan, nan, -2, 4, -1])
    np.testing.assert_allclose(_series(f, "VV_lag2"), [nan, nan, nan, -10, -12])
    np.testing.assert_allclose(_series(f, "dt_lag2"), [nan, nan, nan, 18, 12])
    # rolling mean over 2 previous + current + 2 next valid acquisitions
    np.testing.assert_allclose(_series(f, "VV_roll"), [np.mean([-10, -12, -8]), nan, -9.75, -9.75, np.mean([-12, -8, -9])], rtol=1e-6)
    # 15-day centred window: acquisitions within +-7.5 days
    np.testing.assert_allclose(_series(f, "VV_w15"), [-10, nan, -10, np.mean([-12, -8, -9]), -8.5], rtol=1e-6)
    np.testing.assert_allclose(_series(f, "VV_VH_w15"), [6, nan, 6, 6, 6], rtol=1e-6)
    # trend: mean of the next 30 days minus mean of the previous 30 days
    np.testing.assert_allclose(_series(f, "dVV_trend30"), [nan, nan, -8.5 - -10, -9 - -11, nan], rtol=1e-6)
    # anomaly from the median (-9.5) of the valid acquisitions
    np.testing.assert_allclose(_series(f, "VV_anom"), [-0.5, nan, -2.5, 1.5, 0.5], rtol=1e-6)
    doy = np.array([0, 6, 12, 18, 24]) + 0.25
    np.testing.assert_allclose(_series(f, "doy_sin")[[0, 2]], np.sin(2 * np.pi * doy[[0, 2]] / 365.25), rtol=1e-5)


def test_lags_follow_the_same_relative_orbit():
    times = pd.to_datetime(["2021-01-01T17:32", "2021-01-02T17:40", "2021-01-07T17:32", "2021-01-08T17:40", "2021-01-13T17:32"])
    vv = np.array([-10, -14, -11, -15, -12], dtype=np.float32)
    cube = _cube(vv, times=times)
    assert list(orbit_groups(cube)) == [0, 1, 0, 1, 0]
    f = compute_features(cube, FeatureSpec(lags=1))
    np.testing.assert_allclose(_series(f, "VV_lag1"), [np.nan, np.nan, -10, -14, -11])
    np.testing.assert_allclose(_series(f, "dt_lag1"), [np.nan, np.nan, 6, 6, 6])
    # per-orbit anomaly removes the 4 dB incidence offset between the two orbits
    np.testing.assert_allclose(_series(f, "VV_anom"), [1, 0.5, 0, -0.5, -1])
    g = compute_features(cube, FeatureSpec(lags=1, lag_mode="any"))
    np.testing.assert_allclose(_series(g, "VV_lag1"), [np.nan, -10, -14, -11, -15])
    # a descending pass twelve hours later is a third group; midnight wraps
    night = pd.to_datetime(["2021-01-01T23:59", "2021-01-02T00:01", "2021-01-03T11:00"])
    assert list(orbit_groups(_cube(np.array([-9.0, -9.0, -9.0]), times=night))) == [0, 0, 1]


def test_spec_composition_and_json_round_trip():
    small = FeatureSpec(rvi=False, ratios=False, interaction=False, lags=0, rolling=0, windows=(), trends=(), anomaly=False, doy=False)
    assert small.names == ["VV", "VH"]
    assert FeatureSpec(lags=3).names.count("dt_lag3") == 1
    spec = FeatureSpec(lags=1, windows=(10, 20))
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    import json

    assert json.loads(spec.to_json())["windows"] == [10, 20]
    with pytest.raises(ConfigError, match="unknown keys"):
        FeatureSpec.from_dict({"lagz": 1})
    with pytest.raises(ConfigError, match="odd window"):
        FeatureSpec(rolling=4)
    with pytest.raises(ConfigError, match="lag_mode"):
        FeatureSpec(lag_mode="nearest")
    with pytest.raises(ConfigError, match="at least one"):
        FeatureSpec(backscatter=False, rvi=False, ratios=False, interaction=False, lags=0, rolling=0, windows=(), trends=(), anomaly=False, doy=False)


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


def test_invalid_acquisitions_give_nan_features():
    f = compute_features(_cube())
    assert np.isnan(f.isel(time=1).values).all()
    assert np.isfinite(f.isel(time=3).values).all()  # third valid acquisition: two lags exist


def test_accessor_features_matches_function():
    cube = _cube()
    xr.testing.assert_identical(cube.fusion.features(), compute_features(cube))


# --------------------------------------------------------------------------- optical context and terrain

def _optical_cube(ndvi, times=TIMES, ny=1, nx=1):
    ds = _cube(times=times, ny=ny, nx=nx)
    shape = (len(times), ny, nx)
    ds["NDVI"] = (("time", "y", "x"), np.broadcast_to(np.asarray(ndvi, np.float32)[:, None, None], shape).copy())
    return ds


OPT = FeatureSpec(groups=("sar", "optical", "time"), context_exclude_days=0.0)


def test_optical_context_hand_computed_and_never_the_date_itself():
    # NDVI observed on days 0, 12 and 24 (dates 0, 2, 4)
    ndvi = [0.2, np.nan, 0.4, np.nan, 0.8]
    f = compute_features(_optical_cube(ndvi), OPT)
    np.testing.assert_allclose(_series(f, "NDVI_prev"), [np.nan, 0.2, 0.2, 0.4, 0.4])
    np.testing.assert_allclose(_series(f, "dt_prev"), [np.nan, 6, 12, 6, 12])
    np.testing.assert_allclose(_series(f, "NDVI_next"), [0.4, 0.4, 0.8, 0.8, np.nan])
    np.testing.assert_allclose(_series(f, "dt_next"), [12, 6, 12, 6, np.nan])
    # date 2 (day 12, observed 0.4) is interpolated from days 0 and 24, not copied from itself
    np.testing.assert_allclose(_series(f, "NDVI_interp"), [0.4, 0.3, 0.5, 0.6, 0.4], atol=1e-6)
    # with a 7-day exclusion window, date 3 (day 18) skips day 12 and uses day 0
    f7 = compute_features(_optical_cube(ndvi), FeatureSpec(groups=("sar", "optical", "time"), context_exclude_days=7.0))
    assert _series(f7, "NDVI_prev")[3] == pytest.approx(0.2) and _series(f7, "dt_prev")[3] == pytest.approx(18)
    assert FeatureSpec(groups=("sar", "optical")).modality["NDVI_prev"] == "optical"


def test_training_spells_exclude_more_context_and_are_chunk_invariant(small_cube):
    spec = FeatureSpec(groups=("sar", "optical", "time"))
    plain = compute_features(small_cube, spec).sel(feature="dt_prev")
    gapped = compute_features(small_cube, spec, context_gaps=(3, 90.0)).sel(feature="dt_prev")
    ok = np.isfinite(plain.values) & np.isfinite(gapped.values)
    assert (gapped.values[ok] >= plain.values[ok] - 1e-6).all() and gapped.values[ok].mean() > plain.values[ok].mean() + 10
    with raise_if_dask_computes():
        lazy = compute_features(small_cube.chunk({"y": 7, "x": 9}), spec, context_gaps=(3, 90.0))
    xr.testing.assert_allclose(lazy.sel(feature="dt_prev").compute(), gapped)


def test_terrain_features_and_absent_terrain():
    ds = _optical_cube([0.2, np.nan, 0.4, np.nan, 0.8])
    spec = FeatureSpec(groups=("sar", "terrain", "time"))
    absent = compute_features(ds, spec)
    assert np.isnan(_series(absent, "elevation")).all()
    ds["elevation"] = (("y", "x"), np.array([[120.0]]))
    ds["slope"] = (("y", "x"), np.array([[4.0]]))
    ds["aspect"] = (("y", "x"), np.array([[90.0]]))
    f = compute_features(ds, spec)
    np.testing.assert_allclose(_series(f, "elevation"), 120.0)
    np.testing.assert_allclose(_series(f, "aspect_sin"), 1.0, atol=1e-6)
    np.testing.assert_allclose(_series(f, "aspect_cos"), 0.0, atol=1e-6)
    assert list(f["feature"].values) == spec.names and spec.names[-2:] == ["doy_sin", "doy_cos"]


def test_cloudy_input_features():
    ds = _optical_cube([0.2, np.nan, 0.4, np.nan, 0.8])
    ds["NDVI_cloudy"] = (("time", "y", "x"), np.array([np.nan, 0.05, np.nan, np.nan, np.nan], np.float32)[:, None, None])
    spec = FeatureSpec(groups=("sar", "optical", "time"), cloudy_input=True, cloudy_window_days=6.0)
    f = compute_features(ds, spec)
    np.testing.assert_allclose(_series(f, "NDVI_cloudy"), [0.05, 0.05, 0.05, np.nan, np.nan])
    np.testing.assert_allclose(_series(f, "dt_cloudy"), [6, 0, 6, np.nan, np.nan])
    with pytest.raises(ConfigError, match="optical"):
        FeatureSpec(cloudy_input=True)
