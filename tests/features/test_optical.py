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


def test_a_dates_own_s2_view_paired_with_a_neighbouring_s1_date_is_never_its_context():
    """align pairs one S2 view with every S1 date within the tolerance: with two orbits a day apart the view of day 3 is the
    target of S1 dates 1 and 5 (offsets +2 and -2); the fixed +-3-day window let date 5 take date 1's value (its own view) as
    NDVI_prev (13.7 % of the Flanders cube's clear targets). The windows now reach the tolerance around the view itself."""
    import json

    import pandas as pd

    from fusets_dl.features.block import block_constants, block_sources, feature_block

    times = pd.to_datetime(["2021-05-01", "2021-05-02", "2021-05-07", "2021-05-08", "2021-05-13", "2021-05-14"]) + pd.Timedelta(hours=17)
    ndvi = [0.30, 0.50, 0.50, 0.56, 0.62, 0.63]  # dates 1 and 2 (days 1 and 6): one S2 view of day 3.5, paired with both
    offset = [0.0, 2.5, -2.5, 0.0, 0.0, 0.0]
    from tests.features.cubes import make_cube

    cube = make_cube(vv=np.array([-10.0, -10.5, -9.8, -9.9, -9.0, -9.2], np.float32), times=times)
    cube["NDVI"] = (("time", "y", "x"), np.asarray(ndvi, np.float32)[:, None, None])
    cube["NDVI_offset"] = (("time", "y", "x"), np.asarray(offset, np.float32)[:, None, None])
    cube.attrs["fusion_summary"] = json.dumps({"mode": "pair", "tolerance_days": 3.0})
    spec = FeatureSpec(groups=("sar", "optical", "time"))  # context_exclude_days 3
    f = compute_features(cube, spec)
    prev, nxt = series(f, "NDVI_prev"), series(f, "NDVI_next")
    assert prev[2] == pytest.approx(0.30) and nxt[1] == pytest.approx(0.56)  # not 0.50, their own view
    assert not np.any(np.isclose(prev, ndvi) | np.isclose(nxt, ndvi))
    plain = cube.copy()
    plain.attrs = {}  # no pairing recorded: the fixed window as before
    assert series(compute_features(plain, spec), "NDVI_prev")[2] == pytest.approx(0.50)  # the leak
    # the block path (predict_ndvi) reads the same
    src = {k: np.moveaxis(np.asarray(v.values), 0, -1).reshape(-1, v.sizes["time"]) for k, v in block_sources(cube, spec).items()}
    blk = feature_block(src, block_constants(cube, spec))
    np.testing.assert_allclose(blk[0], f.isel(y=0, x=0).transpose("time", "feature").values, equal_nan=True, rtol=1e-6)
