"""The ``terrain`` group: DEM features and absent terrain."""

from __future__ import annotations

import numpy as np

from fusets_dl.features import FeatureSpec, compute_features
from tests.features.cubes import optical_cube, series


def test_terrain_features_and_absent_terrain():
    ds = optical_cube([0.2, np.nan, 0.4, np.nan, 0.8])
    spec = FeatureSpec(groups=("sar", "terrain", "time"))
    absent = compute_features(ds, spec)
    assert np.isnan(series(absent, "elevation")).all()
    ds["elevation"] = (("y", "x"), np.array([[120.0]]))
    ds["slope"] = (("y", "x"), np.array([[4.0]]))
    ds["aspect"] = (("y", "x"), np.array([[90.0]]))
    f = compute_features(ds, spec)
    np.testing.assert_allclose(series(f, "elevation"), 120.0)
    np.testing.assert_allclose(series(f, "aspect_sin"), 1.0, atol=1e-6)
    np.testing.assert_allclose(series(f, "aspect_cos"), 0.0, atol=1e-6)
    assert list(f["feature"].values) == spec.names and spec.names[-2:] == ["doy_sin", "doy_cos"]


def test_terrain_repeated_along_time_is_read_and_other_dims_refused():
    """openEO and WorldCereal files store the DEM on every date; align keeps it on (time, y, x), and the layer read as NaN:
    a model trained on it learnt no terrain. It is now its mean over the dates (lazily); other dims are refused."""
    import pytest

    from fusets_dl.errors import DimensionError
    from fusets_dl.testing import raise_if_dask_computes

    ds = optical_cube([0.2, np.nan, 0.4, np.nan, 0.8])
    nt = ds.sizes["time"]
    ds["elevation"] = (("time", "y", "x"), np.full((nt, 1, 1), 120.0))
    ds["slope"] = (("time", "y", "x"), np.where(np.arange(nt)[:, None, None] == 0, np.nan, 4.0))  # a missing date: skipped
    ds["aspect"] = (("y", "x"), np.array([[90.0]]))
    spec = FeatureSpec(groups=("sar", "terrain", "time"))
    f = compute_features(ds, spec)
    np.testing.assert_allclose(series(f, "elevation"), 120.0)
    np.testing.assert_allclose(series(f, "slope"), 4.0)
    with raise_if_dask_computes():
        lazy = compute_features(ds.chunk({"time": 2}), spec)
    np.testing.assert_allclose(lazy.sel(feature="elevation").values, f.sel(feature="elevation").values)
    ds["elevation"] = (("band", "y", "x"), np.full((2, 1, 1), 120.0))
    with pytest.raises(DimensionError, match=r"terrain: expected 'elevation' on \(y, x\), or repeated along time .*found \('band', 'y', 'x'\)"):
        compute_features(ds, spec)


def test_flat_ground_has_no_direction():
    """richdem/WhiteboxTools/SAGA write aspect -1 on flat ground, gdaldem -zero_for_flat 0 where the slope is 0: both were
    read as a direction (sin/cos of -1 degree, or north); flat farmland is most of a scene."""
    ds = optical_cube([0.2, np.nan, 0.4, np.nan, 0.8])
    spec = FeatureSpec(groups=("sar", "terrain", "time"))
    ds["elevation"] = (("y", "x"), np.array([[12.0]]))
    for slope, aspect in ((0.5, -1.0), (0.0, 0.0), (0.0, 135.0)):
        ds["slope"] = (("y", "x"), np.array([[slope]]))
        ds["aspect"] = (("y", "x"), np.array([[aspect]]))
        f = compute_features(ds, spec)
        np.testing.assert_array_equal(series(f, "aspect_sin"), 0.0)
        np.testing.assert_array_equal(series(f, "aspect_cos"), 0.0)
    ds["slope"] = (("y", "x"), np.array([[3.0]]))
    ds["aspect"] = (("y", "x"), np.array([[0.0]]))  # a real north face
    np.testing.assert_allclose(series(compute_features(ds, spec), "aspect_cos"), 1.0)
