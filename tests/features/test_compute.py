"""compute_features: laziness, chunk invariance, the accessor."""

from __future__ import annotations

import numpy as np
import xarray as xr

import fusets_dl as fdl
from fusets_dl.features import FeatureSpec, compute_features
from fusets_dl.testing import raise_if_dask_computes
from tests.features.cubes import make_cube


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
