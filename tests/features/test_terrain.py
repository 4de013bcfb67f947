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
