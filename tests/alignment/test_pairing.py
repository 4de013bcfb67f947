"""Pairing mode's unpaired views: the clear S2 views no S1 date took, kept at their own dates (``unpaired_views=True``)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

import fusets_dl as fdl
from fusets_dl.alignment import summarise
from fusets_dl.alignment.pairing import UNPAIRED, UNPAIRED_TIME
from fusets_dl.errors import ConfigError
from tests.alignment.test_build import _s1, _s2

T1 = ["2022-05-01T17:00", "2022-05-13T17:00"]
#: days 0, 2, 5, 10, 12 from the first S1 date (S2 at 10:00): S1 day 0 takes day 0, day 12 takes day 12
T2 = ["2022-05-01T10:00", "2022-05-03T10:00", "2022-05-06T10:00", "2022-05-11T10:00", "2022-05-13T10:00"]


def _inputs(clear=None):
    ndvi = np.array([0.1, 0.2, 0.3, 0.4, 0.5], np.float32)[:, None, None] * np.ones((1, 1, 2), np.float32)
    ndvi[:, 0, 1] += 0.01
    clear = np.ones(ndvi.shape, bool) if clear is None else clear
    return _s1(T1), _s2(T2, ndvi, clear)


def test_the_views_no_s1_date_took_are_kept_at_their_own_dates():
    s1, s2 = _inputs()
    cube = fdl.align(s1, s2, tolerance="3D", unpaired_views=True)
    left = cube[UNPAIRED]
    assert left.dims == (UNPAIRED_TIME, "y", "x") and left.dtype == np.float32
    np.testing.assert_array_equal(left[UNPAIRED_TIME].values, pd.DatetimeIndex(T2).values)
    np.testing.assert_allclose(cube["NDVI"].values[:, 0, 0], [0.1, 0.5])  # the nearest, within 3 days
    # day 10 is within 3 days of S1 day 12, but day 12 is nearer and the S1 date takes one view: left, like days 2 and 5
    np.testing.assert_allclose(left.values[:, 0, 0], [np.nan, 0.2, 0.3, 0.4, np.nan])
    np.testing.assert_allclose(left.values[:, 0, 1], [np.nan, 0.21, 0.31, 0.41, np.nan], rtol=1e-6)
    assert left.attrs["units"] == "1" and "no S1 date" in left.attrs["long_name"]
    summary = json.loads(cube.attrs["fusion_summary"])
    assert summary["s2_views_unpaired"] == int(left.notnull().sum()) == 6
    # the funnel a batch run records counts the views the cube keeps (on a lazy cube too)
    assert summarise(cube)["s2_views_unpaired_kept"] == 6
    assert summarise(cube.chunk({"x": 1}))["s2_views_unpaired_kept"] == 6
    # without the option: no variable, the same cube otherwise
    with pytest.warns(UserWarning, match="are paired to no S1 date"):
        plain = fdl.align(s1, s2, tolerance="3D")
    assert UNPAIRED not in plain and UNPAIRED_TIME not in plain.dims
    assert "s2_views_unpaired_kept" not in summarise(plain) and summarise(plain)["s2_views_unpaired"] == 6
    np.testing.assert_array_equal(plain["NDVI"].values, cube["NDVI"].values)


def test_a_cloudy_view_is_not_kept_and_a_paired_view_is_never_kept_twice():
    clear = np.ones((5, 1, 2), bool)
    clear[0, 0, 0] = False  # S1 day 0 of pixel 0 now takes day 2 (within 3 days)
    clear[2, 0, 0] = False
    s1, s2 = _inputs(clear)
    cube = fdl.align(s1, s2, tolerance="3D", unpaired_views=True)
    np.testing.assert_allclose(cube["NDVI"].values[:, 0, 0], [0.2, 0.5])
    np.testing.assert_allclose(cube[UNPAIRED].values[:, 0, 0], [np.nan, np.nan, np.nan, 0.4, np.nan])
    paired = cube["NDVI"].notnull().sum().item()
    assert paired + int(cube[UNPAIRED].notnull().sum()) == int(clear.sum())  # every clear view once, paired or left


def test_lazy_and_chunk_invariant():
    import dask

    t1 = pd.date_range("2022-01-01T17:00", "2022-06-30", freq="12D")
    t2 = pd.date_range("2022-01-01T10:00", "2022-06-30", freq="5D")
    rng = np.random.default_rng(0)
    ndvi = rng.uniform(0, 0.9, (t2.size, 3, 4))
    clear = rng.uniform(size=ndvi.shape) > 0.4
    s1, s2 = _s1(t1, ny=3, nx=4), _s2(t2, ndvi, clear)
    eager = fdl.align(s1, s2, unpaired_views=True)
    with dask.config.set(scheduler=lambda *a, **k: pytest.fail("computed before asked")):
        lazy = fdl.align(s1.chunk({"x": 2, "y": 2}), s2.chunk({"x": 2, "y": 2}), unpaired_views=True)
        assert lazy[UNPAIRED].chunks is not None
    np.testing.assert_array_equal(lazy[UNPAIRED].values, eager[UNPAIRED].values)
    assert int(eager[UNPAIRED].notnull().sum()) > 0


def test_composites_refuse_it():
    s1, s2 = _inputs()
    with pytest.raises(ConfigError, match="unpaired_views needs the pairing mode"):
        fdl.align(s1, s2, freq="12D", unpaired_views=True)


def test_kept_views_are_logged_not_warned(recwarn, caplog):
    t1 = pd.date_range("2022-01-01T17:00", "2022-06-30", freq="12D")
    t2 = pd.date_range("2022-01-01T10:00", "2022-06-30", freq="5D")
    s2 = _s2(t2, np.full((t2.size, 2, 2), 0.5), np.ones((t2.size, 2, 2)))
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        fdl.align(_s1(t1, ny=2), s2, tolerance="3D", unpaired_views=True)
    assert not [w for w in recwarn if "are paired to no S1 date" in str(w.message)]
    assert "kept as NDVI_unpaired" in caplog.text
    fdl.align(_s1(t1, ny=2), s2, tolerance="3D")
    hits = [w for w in recwarn if "are paired to no S1 date" in str(w.message)]
    assert hits and "align(..., unpaired_views=True) keeps them" in str(hits[0].message)


@pytest.mark.parametrize("kw", [{"unpaired_views": "false"}, {"keep_cloudy": 1}, {"outlier_filter": None}])
def test_switches_that_are_not_booleans_are_refused(kw):
    s1, s2 = _inputs()
    name, value = next(iter(kw.items()))
    with pytest.raises(ConfigError, match=rf"align: expected True or False for {name}, found {name}={value!r}"):
        fdl.align(s1, s2, **kw)


def test_a_view_on_a_pixel_date_without_s1_is_kept_as_an_observation():
    """Intended: pairing does not look at VV/VH. A clear view paired to a pixel-date whose S1 is missing (swath edge, border
    noise) stays there: training drops the row (no S1 features), the reconstruction keeps the view as an observation; left
    out it would be lost (or moved to NDVI_unpaired). Two slices of one pass no longer make two dates (open_s1 merges them)."""
    s1, s2 = _inputs()
    s1["VV"][0, 0, 1] = np.nan
    s1["VH"][0, 0, 1] = np.nan
    cube = fdl.align(s1, s2, tolerance="3D", unpaired_views=True)
    np.testing.assert_allclose(cube["NDVI"].values[:, 0, 1], [0.11, 0.51], rtol=1e-6)
    np.testing.assert_allclose(cube[UNPAIRED].values[:, 0, 1], [np.nan, 0.21, 0.31, 0.41, np.nan], rtol=1e-6)
    summary = summarise(cube)
    assert summary["s1_valid_pixel_dates"] == 3 and summary["paired_pixel_dates"] == 4 and summary["s2_views_paired"] == 4
