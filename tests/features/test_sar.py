"""The ``sar`` (and ``time``) kernel against hand-computed values; orbit-following lags; invalid acquisitions."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from fusets_dl.features import FeatureSpec, compute_features, orbit_groups
from tests.features.cubes import make_cube, series


def test_hand_computed_values_with_a_missing_date():
    f = compute_features(make_cube(), FeatureSpec(windows=(15,), trends=(30,), rolling=5, lags=2, anomaly=True))
    nan = np.nan
    np.testing.assert_allclose(series(f, "VV"), [-10, nan, -12, -8, -9])
    lin_vv, lin_vh = 10 ** (-1.0), 10 ** (-1.6)
    np.testing.assert_allclose(series(f, "RVI")[0], 4 * lin_vh / (lin_vv + lin_vh), rtol=1e-5)
    np.testing.assert_allclose(series(f, "VV_VH_dB"), [6, nan, 6, 6, 6])
    np.testing.assert_allclose(series(f, "VH_VV")[0], 10**-0.6, rtol=1e-5)
    np.testing.assert_allclose(series(f, "VVxVH")[0], (-10 * -16) / 100, rtol=1e-6)
    # lag 1 is the previous *valid* acquisition: 01-13 looks back to 01-01 (12 days), not the missing 01-07
    np.testing.assert_allclose(series(f, "VV_lag1"), [nan, nan, -10, -12, -8])
    np.testing.assert_allclose(series(f, "dt_lag1"), [nan, nan, 12, 6, 6])
    np.testing.assert_allclose(series(f, "dVV_lag1"), [nan, nan, -2, 4, -1])
    np.testing.assert_allclose(series(f, "VV_lag2"), [nan, nan, nan, -10, -12])
    np.testing.assert_allclose(series(f, "dt_lag2"), [nan, nan, nan, 18, 12])
    # rolling mean over 2 previous + current + 2 next valid acquisitions
    np.testing.assert_allclose(series(f, "VV_roll"), [np.mean([-10, -12, -8]), nan, -9.75, -9.75, np.mean([-12, -8, -9])], rtol=1e-6)
    # 15-day centred window: acquisitions within +-7.5 days
    np.testing.assert_allclose(series(f, "VV_w15"), [-10, nan, -10, np.mean([-12, -8, -9]), -8.5], rtol=1e-6)
    np.testing.assert_allclose(series(f, "VV_VH_w15"), [6, nan, 6, 6, 6], rtol=1e-6)
    # trend: mean of the next 30 days minus mean of the previous 30 days
    np.testing.assert_allclose(series(f, "dVV_trend30"), [nan, nan, -8.5 - -10, -9 - -11, nan], rtol=1e-6)
    # anomaly from the median (-9.5) of the valid acquisitions
    np.testing.assert_allclose(series(f, "VV_anom"), [-0.5, nan, -2.5, 1.5, 0.5], rtol=1e-6)
    doy = np.array([0, 6, 12, 18, 24]) + 0.25
    np.testing.assert_allclose(series(f, "doy_sin")[[0, 2]], np.sin(2 * np.pi * doy[[0, 2]] / 365.25), rtol=1e-5)


def test_lags_follow_the_same_relative_orbit():
    times = pd.to_datetime(["2021-01-01T17:32", "2021-01-02T17:40", "2021-01-07T17:32", "2021-01-08T17:40", "2021-01-13T17:32"])
    vv = np.array([-10, -14, -11, -15, -12], dtype=np.float32)
    cube = make_cube(vv, times=times)
    assert list(orbit_groups(cube)) == [0, 1, 0, 1, 0]
    f = compute_features(cube, FeatureSpec(lags=1, anomaly=True))
    np.testing.assert_allclose(series(f, "VV_lag1"), [np.nan, np.nan, -10, -14, -11])
    np.testing.assert_allclose(series(f, "dt_lag1"), [np.nan, np.nan, 6, 6, 6])
    # per-orbit anomaly removes the 4 dB incidence offset between the two orbits
    np.testing.assert_allclose(series(f, "VV_anom"), [1, 0.5, 0, -0.5, -1])
    g = compute_features(cube, FeatureSpec(lags=1, lag_mode="any"))
    np.testing.assert_allclose(series(g, "VV_lag1"), [np.nan, -10, -14, -11, -15])
    # a descending pass twelve hours later is a third group; midnight wraps
    night = pd.to_datetime(["2021-01-01T23:59", "2021-01-02T00:01", "2021-01-03T11:00"])
    assert list(orbit_groups(make_cube(np.array([-9.0, -9.0, -9.0]), times=night))) == [0, 0, 1]


def test_invalid_acquisitions_give_nan_features():
    f = compute_features(make_cube(), FeatureSpec(lags=2))
    assert np.isnan(f.isel(time=1).values).all()
    assert np.isfinite(f.isel(time=3).values).all()  # third valid acquisition: two lags exist


def test_orbit_coordinates_as_text_label_the_groups_and_unusable_ones_warn():
    """Dates at midnight with the orbit as text ('54', 'ASCENDING') or with a missing value: the text labelled nothing
    and a NaN disabled the coordinate, silently, so all acquisitions became one group (predictions moved by 0.03)."""
    days = pd.date_range("2021-01-01", periods=6, freq="6D")
    flat = np.full(6, -10.0, np.float32)
    for orbit in (np.array(["54", "127"] * 3), np.array(["ASCENDING", "descending "] * 3, dtype=object), np.array([54.0, 127.0] * 3)):
        assert list(orbit_groups(make_cube(flat, times=days, orbit=orbit))) == [0, 1, 0, 1, 0, 1]
    with pytest.warns(UserWarning, match=r"orbit coordinate 'orbit' \(1 missing, 0 fractional\) cannot label every acquisition: "
                                         r"all dates are one group"):
        assert list(orbit_groups(make_cube(flat, times=days, orbit=np.array([54.0, np.nan, 54.0, 127.0, 54.0, 127.0])))) == [0] * 6


def test_dates_without_time_of_day_that_mix_relative_orbits_are_warned(caplog):
    """Patch A floored to dates (two ascending orbits, 1 and 5 days apart; its orbit coordinate says only ASCENDING)
    became one group without a word: the sequence model's predictions moved by up to 0.47 NDVI. Every call on the
    timed cube also logged that 'the relative orbit numbers [0] give 1' group. Composites are not warned."""
    import warnings

    days = pd.DatetimeIndex(sorted(pd.date_range("2021-01-01", periods=8, freq="6D").append(
        pd.date_range("2021-01-02", periods=8, freq="6D"))))  # two relative orbits, one day apart
    flat = np.full(days.size, -10.0, np.float32)
    for cube, why in ((make_cube(flat, times=days), "no relative orbit numbers"),
                      (make_cube(flat, times=days, orbit=np.array(["ASCENDING"] * days.size, dtype=object)), "only a pass direction")):
        with pytest.warns(UserWarning, match=rf"orbit groups: the dates have no time of day and the cube has {why}.*: 15 of 15 "
                                             r"consecutive acquisitions of a group are less than 5.5 days apart"):
            assert list(orbit_groups(cube)) == [0] * days.size
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        numbered = make_cube(flat, times=days, orbit=np.array([88, 161] * 8))
        assert list(orbit_groups(numbered)) == [0, 1] * 8  # relative orbit numbers: each group 6 days apart, no warning
        for freq in ("MS", "10D", "6D"):  # composites, and one orbit, are not warned
            orbit_groups(make_cube(np.full(12, -10.0, np.float32), times=pd.date_range("2021-01-01", periods=12, freq=freq)))
        composite = make_cube(flat, times=days)  # align(freq="2D") periods: bounds mark them, the passes are averaged
        composite = composite.assign(time_bnds=(("time", "bnds"), np.stack([days.values, (days + pd.Timedelta("2D")).values], axis=1)))
        composite["time"].attrs["bounds"] = "time_bnds"
        orbit_groups(composite)
    times = days + pd.to_timedelta(np.where(np.arange(days.size) % 2 == 0, 17 * 60 + 32, 17 * 60 + 40), unit="min")
    timed = make_cube(flat, times=times, orbit=np.array(["ASCENDING"] * days.size, dtype=object))
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        assert list(orbit_groups(timed)) == [0, 1] * 8
    assert "orbit groups" not in caplog.text  # two times of day within one pass direction: nothing to say


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_the_orbit_mixing_test_reads_dates_of_any_time_unit(unit):
    """datetime64[D] input becomes [s] in xarray; the test read the dates' integers as nanoseconds, so every 6-day gap was
    6e-9 days and one orbit's date-only acquisitions were warned as mixed (59 of 59)."""
    import warnings

    days = pd.date_range("2021-01-01", periods=12, freq="6D").values.astype(f"datetime64[{unit}]")
    cube = make_cube(np.full(12, -10.0, np.float32), times=pd.DatetimeIndex(days))
    assert cube["time"].dtype == np.dtype(f"datetime64[{unit}]")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert list(orbit_groups(cube)) == [0] * 12
    two = pd.DatetimeIndex(sorted(pd.date_range("2021-01-01", periods=8, freq="6D").append(
        pd.date_range("2021-01-02", periods=8, freq="6D")))).values.astype(f"datetime64[{unit}]")
    with pytest.warns(UserWarning, match="15 of 15 consecutive acquisitions"):  # two orbits a day apart: still warned
        orbit_groups(make_cube(np.full(16, -10.0, np.float32), times=pd.DatetimeIndex(two)))


def test_dates_without_time_of_day_group_by_the_relative_orbit_numbers(caplog):
    """Point tables give dates at midnight: the orbit coordinate's numbers are the groups (all were one group)."""
    days = pd.date_range("2021-01-01", periods=6, freq="6D")
    cube = make_cube(np.full(6, -10.0, np.float32), times=days, orbit=np.array([88, 161, 88, 161, 88, 161]))
    assert list(orbit_groups(cube)) == [0, 1, 0, 1, 0, 1]
    timed = make_cube(np.full(6, -10.0, np.float32), times=days + pd.Timedelta("17h30min"), orbit=np.array([88, 161] * 3))
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        assert list(orbit_groups(timed)) == [0] * 6  # the time of day wins, with a warning
    assert "the time of day gives 1 groups, the relative orbit numbers [88, 161] give 2" in caplog.text
    caplog.clear()
    drifting = days + pd.to_timedelta(np.arange(6) * 37, unit="min")
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        assert len(set(orbit_groups(make_cube(np.full(6, -10.0, np.float32), times=drifting)))) == 6
    assert "6 groups for 6 acquisitions" in caplog.text
