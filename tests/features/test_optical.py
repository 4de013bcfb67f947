"""The ``optical`` group: optical context against hand-computed values, training spells, cloudy input."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fusets_dl.errors import ConfigError
from fusets_dl.features import FeatureSpec, compute_features
from fusets_dl.testing import raise_if_dask_computes
from tests.features.cubes import optical_cube, series

OPT = FeatureSpec(groups=("sar", "optical", "time"), context_exclude_days=0.0)


def test_optical_context_hand_computed_and_never_the_date_itself():
    # NDVI observed on days 0, 12 and 24 (dates 0, 2, 4)
    ndvi = [0.2, np.nan, 0.4, np.nan, 0.8]
    f = compute_features(optical_cube(ndvi), OPT)
    np.testing.assert_allclose(series(f, "NDVI_prev"), [np.nan, 0.2, 0.2, 0.4, 0.4])
    np.testing.assert_allclose(series(f, "dt_prev"), [np.nan, 6, 12, 6, 12])
    np.testing.assert_allclose(series(f, "NDVI_next"), [0.4, 0.4, 0.8, 0.8, np.nan])
    np.testing.assert_allclose(series(f, "dt_next"), [12, 6, 12, 6, np.nan])
    # date 2 (day 12, observed 0.4) is interpolated from days 0 and 24, not copied from itself
    np.testing.assert_allclose(series(f, "NDVI_interp"), [0.4, 0.3, 0.5, 0.6, 0.4], atol=1e-6)
    # with a 7-day exclusion window, date 3 (day 18) skips day 12 and uses day 0
    f7 = compute_features(optical_cube(ndvi), FeatureSpec(groups=("sar", "optical", "time"), context_exclude_days=7.0))
    assert series(f7, "NDVI_prev")[3] == pytest.approx(0.2) and series(f7, "dt_prev")[3] == pytest.approx(18)
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


def test_cloudy_input_features():
    ds = optical_cube([0.2, np.nan, 0.4, np.nan, 0.8])
    ds["NDVI_cloudy"] = (("time", "y", "x"), np.array([np.nan, 0.05, np.nan, np.nan, np.nan], np.float32)[:, None, None])
    spec = FeatureSpec(groups=("sar", "optical", "time"), cloudy_input=True, cloudy_window_days=6.0)
    f = compute_features(ds, spec)
    np.testing.assert_allclose(series(f, "NDVI_cloudy"), [0.05, 0.05, 0.05, np.nan, np.nan])
    np.testing.assert_allclose(series(f, "dt_cloudy"), [6, 0, 6, np.nan, np.nan])
    with pytest.raises(ConfigError, match="optical"):
        FeatureSpec(cloudy_input=True)
