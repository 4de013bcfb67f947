"""reconstruct with a cube's unpaired views (``align(unpaired_views=True)``): observations at their own dates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.alignment.pairing import UNPAIRED, UNPAIRED_TIME
from fusets_dl.reconstruction.views import cube_views, on_union
from fusets_dl.testing import raise_if_dask_computes
from tests.reconstruction.test_api import _model_with_rmse

T0 = pd.Timestamp("2022-05-01T17:00")


def _cube(view_value=0.8, nx=2):
    """S1 every 12 days (7 dates), clear NDVI 0.2 paired at the first and last; one unpaired view on day 30 (S2 at 10:00)."""
    t = T0 + pd.to_timedelta(np.arange(0, 84, 12), "D")
    ndvi = np.full((t.size, 1, nx), np.nan, np.float32)
    ndvi[[0, -1]] = 0.2
    tv = pd.DatetimeIndex([T0.normalize() + pd.Timedelta(days=d, hours=10) for d in (-20, 5, 30, 100)])
    views = np.full((tv.size, 1, nx), np.nan, np.float32)
    views[2] = view_value  # day 30: between the S1 dates of days 24 and 36
    views[0] = views[3] = 0.9  # before and after the cube's dates: left out
    cube = xr.Dataset(
        {"VV": (("time", "y", "x"), np.full((t.size, 1, nx), -10.0, np.float32), {"units": "dB"}),
         "VH": (("time", "y", "x"), np.full((t.size, 1, nx), -16.0, np.float32), {"units": "dB"}),
         "NDVI": (("time", "y", "x"), ndvi),
         UNPAIRED: ((UNPAIRED_TIME, "y", "x"), views)},
        coords={"time": t, UNPAIRED_TIME: tv, "y": [0.0], "x": np.arange(nx, dtype=float)},
    )
    pred = xr.DataArray(np.full((t.size, 1, nx), 0.2, np.float32), dims=("time", "y", "x"), coords=cube["VV"].coords)
    return cube, pred


def test_an_unpaired_view_is_an_observation_at_its_own_date():
    cube, pred = _cube()
    kw = {"predicted": pred, "freq": "6D", "smooth": False, "weights": None}
    rec = fdl.reconstruct(cube, _model_with_rmse(), **kw)
    day30 = int(np.flatnonzero(pd.DatetimeIndex(rec["time"].values) == T0.normalize() + pd.Timedelta(days=30))[0])
    np.testing.assert_allclose(rec["NDVI"].values[day30, 0], 0.8, rtol=1e-6)
    assert (rec["source"].values[day30, 0] == 0).all()  # observed
    assert "NDVI_unpaired" in rec.attrs["unpaired_views"]
    without = fdl.reconstruct(cube.drop_vars(UNPAIRED), _model_with_rmse(), **kw)
    np.testing.assert_allclose(without["NDVI"].values[day30, 0], 0.2, rtol=1e-6)  # between two predictions of 0.2
    assert (without["source"].values[day30, 0] == 2).all() and "unpaired_views" not in without.attrs
    np.testing.assert_array_equal(rec["time"].values, without["time"].values)  # the same grid: views outside are left out


def test_smoothing_on_the_cube_dates_follows_the_view():
    cube, pred = _cube()
    rec = fdl.reconstruct(cube, _model_with_rmse(), predicted=pred, weights=None, lam=100.0)
    without = fdl.reconstruct(cube.drop_vars(UNPAIRED), _model_with_rmse(), predicted=pred, weights=None, lam=100.0)
    np.testing.assert_array_equal(rec["time"].values, cube["time"].values)  # output on the cube's own dates
    near = [2, 3]  # days 24 and 36
    assert (rec["NDVI"].values[near, 0] > without["NDVI"].values[near, 0] + 0.05).all()
    np.testing.assert_allclose(without["NDVI"].values, 0.2, atol=1e-5)
    np.testing.assert_array_equal(rec["source"].values, without["source"].values)  # no cube date is observed by it


def test_no_view_left_changes_nothing():
    cube, pred = _cube(view_value=np.nan)
    cube[UNPAIRED][:] = np.nan
    for kw in ({}, {"freq": "5D"}, {"smooth": False, "weights": None}):
        a = fdl.reconstruct(cube, _model_with_rmse(), predicted=pred, **kw)
        b = fdl.reconstruct(cube.drop_vars(UNPAIRED), _model_with_rmse(), predicted=pred, **kw)
        np.testing.assert_array_equal(a["NDVI"].values, b["NDVI"].values)
        np.testing.assert_array_equal(a["NDVI_std"].values, b["NDVI_std"].values)


def test_views_outside_the_span_of_a_cube_cut_in_time_are_left_out():
    cube, pred = _cube()
    cut = cube.isel(time=slice(0, 3))  # days 0..24: the day-30 view lies beyond
    assert cube_views(cut)["time"].size == 1 and cube_views(cube)["time"].size == 2  # day 5 (empty); and 30 (-20, 100 outside)
    assert cube_views(cube.isel(time=slice(0, 1))) is None
    a = fdl.reconstruct(cut, _model_with_rmse(), predicted=pred.isel(time=slice(0, 3)), freq="6D")
    b = fdl.reconstruct(cut.drop_vars(UNPAIRED), _model_with_rmse(), predicted=pred.isel(time=slice(0, 3)), freq="6D")
    np.testing.assert_array_equal(a["NDVI"].values, b["NDVI"].values)


def test_on_union_puts_no_prediction_at_a_views_date():
    cube, pred = _cube()
    obs, prd = on_union(cube["NDVI"], pred, cube_views(cube))
    assert obs["time"].size == cube.sizes["time"] + 2 and (np.diff(obs["time"].values) > np.timedelta64(0)).all()
    at = pd.DatetimeIndex(obs["time"].values).isin(cube["time"].values)
    assert np.isnan(prd.values[~at]).all() and np.isfinite(prd.values[at]).all()
    np.testing.assert_allclose(np.nanmax(obs.values[~at]), 0.8, rtol=1e-6)


@pytest.mark.parametrize("kw", [{}, {"freq": "5D"}])
def test_lazy_and_chunk_invariant(kw):
    cube, pred = _cube(nx=5)
    cube[UNPAIRED][2, 0, :] = np.linspace(0.5, 0.9, 5)
    eager = fdl.reconstruct(cube, _model_with_rmse(), predicted=pred, **kw)
    with raise_if_dask_computes():
        lazy = fdl.reconstruct(cube.chunk({"x": 2}), _model_with_rmse(), predicted=pred.chunk({"x": 2}), **kw)
    assert lazy["NDVI"].chunks is not None
    np.testing.assert_allclose(lazy["NDVI"].values, eager["NDVI"].values, atol=1e-6)
    np.testing.assert_allclose(lazy["NDVI_std"].values, eager["NDVI_std"].values, atol=1e-6)


def test_calibration_shows_the_views_hides_them_in_its_spells_and_never_scores_them():
    from fusets_dl.reconstruction.calibrate import calibrate
    from tests.reconstruction.test_calibrate import _model, _rice_cube

    cube, pred, truth = _rice_cube(clear_every=4)
    t = pd.DatetimeIndex(cube["time"].values)
    mid = np.arange(2, t.size, 4)  # a view 3 days after every 4th date + 2: between the paired ones
    tv = t[mid] + pd.Timedelta(days=3)
    phase_truth = truth[mid]  # close to the truth 3 days later (a 110-day cycle moves little in 3 days)
    views = cube.assign_coords({UNPAIRED_TIME: tv}).assign({UNPAIRED: ((UNPAIRED_TIME, "y", "x"), phase_truth.astype(np.float32))})
    noise = np.random.default_rng(1).normal(0.0, 0.1, pred.shape).astype(np.float32)
    kw = {"predicted": pred + noise, "gap_days": 40, "n_gaps": 3, "max_pixels": 40}  # a noisy prediction: the views matter
    plain = calibrate(cube, _model(), **kw)
    empty = calibrate(views.assign({UNPAIRED: views[UNPAIRED] * np.nan}), _model(), **kw)
    assert empty.rmse == plain.rmse and empty.settings == plain.settings and empty.n_hidden == plain.n_hidden
    with_views = calibrate(views, _model(), **kw)
    assert with_views.n_hidden == plain.n_hidden and with_views.n_pixels == plain.n_pixels  # the same values scored
    assert with_views.rmse < 0.95 * plain.rmse and with_views.rmse_default < 0.9 * plain.rmse_default  # 0.040 / 0.044, 0.072 / 0.085
    assert with_views.rmse > 0.01  # the views inside the spells stay hidden: no near-copy of a hidden value leaks


def test_a_sequence_model_says_it_does_not_use_them():
    from tests.models.test_sequence import tiny_model

    cube, _ = _cube(nx=3)
    cube["NDVI"][:] = 0.4
    with pytest.warns(UserWarning, match="not used by it"):
        rec = fdl.reconstruct(cube, tiny_model())
    np.testing.assert_array_equal(rec["time"].values, cube["time"].values)


def _with_views(cube):
    """The rice cube with an unpaired view 3 days after every 4th date + 2 (the truth-like value of that date)."""
    t = pd.DatetimeIndex(cube["time"].values)
    mid = np.arange(2, t.size, 4)
    vals = cube["NDVI"].values.copy()
    vals[mid] = np.nanmean(cube["NDVI"].values)
    return cube.assign_coords({UNPAIRED_TIME: t[mid] + pd.Timedelta(days=3)}).assign(
        {UNPAIRED: ((UNPAIRED_TIME, "y", "x"), vals[mid].astype(np.float32))})


def test_a_model_keeps_a_setting_for_cubes_with_views_and_reconstruct_takes_the_matching_one():
    from fusets_dl.reconstruction.calibrate import STORED_KEY, STORED_VIEWS_KEY, calibrate_stored
    from tests.reconstruction.test_calibrate import _model, _rice_cube, _stored

    cube, pred, _ = _rice_cube(ny=3, nx=10, clear_every=4)
    views = _with_views(cube)
    noisy = pred + np.random.default_rng(2).normal(0, 0.08, pred.shape).astype(np.float32)
    m = _model()
    only = calibrate_stored(m, [cube], [{}], ["a"])
    assert set(only) == {STORED_KEY} and only[STORED_KEY]["unpaired_views"] is False
    both = calibrate_stored(m, [views], [{}], ["a"])  # the same cube: the paired setting as without the views
    assert set(both) == {STORED_KEY, STORED_VIEWS_KEY} and both[STORED_VIEWS_KEY]["unpaired_views"] is True
    assert both[STORED_KEY]["unpaired_views"] is False and both[STORED_KEY]["settings"] == only[STORED_KEY]["settings"]
    # reconstruct on the model's own period: the stored setting that matches the cube
    scene = {"start": str(cube.time.values[0])[:10], "end": str(cube.time.values[-1])[:10]}
    paired_s = {"w_pred": 1.0, "lam": 100.0, "pred_gap_days": None, "debias_days": None}
    views_s = {"w_pred": 0.01, "lam": 1000.0, "pred_gap_days": None, "debias_days": None}
    m.info = {STORED_KEY: {**_stored(paired_s), "unpaired_views": False}, STORED_VIEWS_KEY: {**_stored(views_s), "unpaired_views": True},
              "scene": scene}
    a = fdl.reconstruct(views, m, predicted=noisy)
    assert a.attrs["calibration_w_pred"] == 0.01 and a.attrs["calibration_lam"] == 1000.0
    b = fdl.reconstruct(cube, m, predicted=noisy)
    assert b.attrs["calibration_w_pred"] == 1.0 and b.attrs["calibration_lam"] == 100.0


def test_a_setting_chosen_without_the_views_is_chosen_again_on_a_cube_that_keeps_them():
    from fusets_dl.reconstruction.api import FOREIGN_CALIBRATION_MIN_PIXELS
    from fusets_dl.reconstruction.calibrate import STORED_KEY
    from tests.reconstruction.test_calibrate import _model, _rice_cube, _stored

    setting = {"w_pred": 1.0, "lam": 100.0, "pred_gap_days": None, "debias_days": None}
    for ny, nx in ((2, 5), (16, 16)):
        cube, pred, _ = _rice_cube(ny=ny, nx=nx, clear_every=4)
        views = _with_views(cube)
        noisy = pred + np.random.default_rng(2).normal(0, 0.08, pred.shape).astype(np.float32)
        m = _model()
        m.info = {STORED_KEY: _stored(setting), "scene": {"start": str(cube.time.values[0])[:10], "end": str(cube.time.values[-1])[:10]}}
        plain = fdl.reconstruct(cube, m, predicted=noisy)  # no views, a setting chosen without: no warning, as before
        assert plain.attrs["calibration_source"].startswith("the model's validation blocks")
        with pytest.warns(UserWarning, match="chosen without the clear views no S1 date took, and this cube keeps them") as seen:
            rec = fdl.reconstruct(views, m, predicted=noisy)
        if ny * nx < FOREIGN_CALIBRATION_MIN_PIXELS:  # too small to choose again: the stored one, said so
            assert "could not be chosen again" in str(seen[0].message)
            assert rec.attrs["calibration_source"].startswith("the model's validation blocks") and rec.attrs["calibration_lam"] == 100.0
        else:
            assert "chosen again on held-out spells of this cube" in str(seen[0].message)
            assert "whose unpaired views the stored setting did not match" in rec.attrs["calibration_source"]


def test_an_undeclared_nodata_among_the_views_is_masked_and_warned_not_smoothed_in():
    cube, pred = _cube(nx=3)
    cube[UNPAIRED][2, 0, 1] = -9999.0
    with pytest.warns(UserWarning, match="NDVI_unpaired.*are not NDVI"):
        rec = fdl.reconstruct(cube, _model_with_rmse(), predicted=pred, freq="6D", smooth=False, weights=None)
    day30 = int(np.flatnonzero(pd.DatetimeIndex(rec["time"].values) == T0.normalize() + pd.Timedelta(days=30))[0])
    np.testing.assert_allclose(rec["NDVI"].values[day30, 0], [0.8, 0.2, 0.8], rtol=1e-6)  # the -9999 left out
