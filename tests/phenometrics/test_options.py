"""Phenology options: refused with the option, what was expected and what was found; suspicious input warned about."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError
from fusets_dl.phenometrics.options import check_options, parse_period
from fusets_dl.testing import raise_if_dask_computes

T5 = pd.date_range("2021-01-01", "2021-12-31", freq="5D")


def _series(n=4, noise=0.01, sos=100, eos=250, seed=0):
    d = ((T5 - T5[0]) / pd.Timedelta(days=1)).to_numpy()
    y = 0.2 + 0.6 * (1 / (1 + np.exp(-0.1 * (d - sos))) - 1 / (1 + np.exp(-0.1 * (d - eos))))
    v = y[:, None] + np.random.default_rng(seed).normal(0, noise, (d.size, n))
    return xr.DataArray(v.astype(np.float32), dims=("time", "x"), coords={"time": T5, "x": np.arange(n) * 20.0})


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("min_amplitude", float("nan"), r"min_amplitude: expected a finite number > 0 \(NDVI\), found nan"),
        ("noise_factor", float("nan"), r"noise_factor: expected a finite number >= 0 .*, found nan"),
        ("min_length", float("inf"), r"min_length: expected a finite number of days > 0, found inf"),
        ("step_days", -5, r"step_days: expected a finite number of days > 0, or None .*, found -5"),
        ("step_days", 0, r"step_days: expected a finite number of days > 0, or None .*, found 0"),
        ("step_days", float("nan"), r"step_days: expected a finite number of days > 0, or None .*, found nan"),
        ("by_year", -1, r"by_year: expected true, false or a whole number of season slots per year .*, found -1"),
        ("smooth", -200, r"smooth: expected a finite Whittaker lambda >= 0, or None .*, found -200"),
        ("smooth", float("nan"), r"smooth: expected a finite Whittaker lambda >= 0, or None .*, found nan"),
        ("max_seasons", 2.5, r"max_seasons: expected a whole number >= 1, found 2.5"),
        ("max_seasons", True, r"max_seasons: expected a whole number >= 1, found True"),
        ("noise", -0.5, r"noise: expected a noise sd >= 0 \(NDVI\), .*found -0.5"),
        ("min_valid", -1, r"min_valid: expected a whole number of values >= 1, found -1"),
        ("main_months", (6.7, 9), r"main_months: expected \(first, last\) whole months in 1..12, or None, found \(6.7, 9\)"),
    ],
)
def test_bad_option_is_a_config_error_naming_option_expected_and_found(option, value, expected):
    with pytest.raises(ConfigError, match=rf"^phenology: {expected}"):
        fdl.phenology(_series(), **{option: value})


def test_nan_min_amplitude_and_noise_factor_no_longer_split_a_season():
    nd = _series(n=9, seed=0)
    assert (fdl.phenology(nd)["n_seasons"].values == 1).all()
    for option in ("min_amplitude", "noise_factor"):
        with pytest.raises(ConfigError, match=rf"{option}: expected a finite number .* found nan"):
            fdl.phenology(nd, **{option: np.float64("nan")})


def test_min_valid_larger_than_the_series_names_both():
    with pytest.raises(ConfigError, match=r"min_valid: expected at most the 73 dates of the series \(2021-01-01 .. 2021-12-27\), found 1000"):
        fdl.phenology(_series(), min_valid=1000)


def test_step_days_too_large_for_the_series_is_refused():
    with pytest.raises(ConfigError, match=r"step_days: expected at most 120 days .* found 400"):
        fdl.phenology(_series(), step_days=400)


def test_every_problem_is_listed_at_once():
    with pytest.raises(ConfigError, match=r"max_seasons: expected .* found 0; .*min_amplitude: expected .* found -1"):
        check_options({"max_seasons": 0, "min_amplitude": -1})


def test_valid_options_pass_and_zero_smoothing_is_interpolation():
    check_options({"max_seasons": 2, "step_days": None, "smooth": 0, "by_year": 0, "envelope": True, "main_months": (11, 2)})
    a = fdl.phenology(_series(), smooth=0)
    b = fdl.phenology(_series(), smooth=None)
    np.testing.assert_array_equal(a["sos"].values, b["sos"].values)


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        (("2021-12-31", "2021-01-01"), r"period: expected the start on or before the end, found start 2021-12-31 .* after end 2021-01-01"),
        (("2021-06-01", None), r"period: expected an end date such as '2021-06-01' \(a period has both ends\), found None"),
        ((None, "2021-06-01"), r"period: expected a start date .*, found None"),
        (("garbage", "2021-12-31"), r"period start: expected a date in ISO 8601 form \(YYYY-MM-DD, year first\) .*, found 'garbage'"),
        (("2021-13-45", "2021-12-31"), r"period start: expected a date in ISO 8601 form .*, found '2021-13-45' \(not a date"),
        # day and month order: '01-03-2021' was read as 3 January, '13-03-2021' as 13 March, silently
        (("01-03-2021", "2021-12-01"), r"period start: expected a date in ISO 8601 form .* found '01-03-2021': the order of day and month is ambiguous"),
        ((1, 2), r"period start: expected a date in ISO 8601 form .*, found 1: a number is not a date"),
        ("2021", r"period: expected \(start, end\) dates .* or None, found '2021'"),
    ],
)
def test_bad_period_is_a_config_error(period, expected):
    with pytest.raises(ConfigError, match=rf"^phenology: {expected}"):
        fdl.phenology(_series(), period=period)


def test_period_outside_the_series_names_the_period_and_the_series_dates():
    with pytest.raises(ConfigError, match=r"period: expected a period overlapping the series' dates 2021-01-01 00:00:00 .. 2021-12-27 00:00:00, "
                                          r"found 2030-01-01 00:00:00 .. 2030-12-31 23:59:59.999999999"):
        fdl.phenology(_series(), period=("2030-01-01", "2030-12-31"))


def test_period_end_given_as_a_date_includes_that_whole_day():
    start, end = parse_period(("2021-01-01", "2021-12-31"))
    assert start == pd.Timestamp("2021-01-01") and end == pd.Timestamp("2021-12-31 23:59:59.999999999")
    # an end with a time of day is kept as given
    assert parse_period(("2021-01-01", "2021-12-31 12:00"))[1] == pd.Timestamp("2021-12-31 12:00")


def test_absolute_threshold_outside_ndvi_warns_at_call_and_uncrossed_thresholds_at_compute():
    nd = _series()
    with pytest.warns(UserWarning, match=r"start_threshold 5 is an absolute NDVI outside \[-1, 1\]"):
        fdl.phenology(nd, threshold_type="absolute", start_threshold=5.0, end_threshold=0.5)
    with pytest.warns(UserWarning, match=r"absolute thresholds start 0.9 / end 0.5 \(NDVI\): of the 4 seasons found, 4 never cross "
                                         r"the start threshold .*SOS NaT.* NDVI spans 0.1\d*..0.8\d*"):
        ph = fdl.phenology(nd, threshold_type="absolute", start_threshold=0.9, end_threshold=0.5)
    assert (ph["n_seasons"].values == 1).all() and np.isnat(ph["sos"].values[0]).all()


def test_fraction_thresholds_outside_zero_one_are_refused():
    with pytest.raises(ConfigError, match=r"start_threshold: expected a fraction of the amplitude in \(0, 1\) .* found 1.5"):
        fdl.phenology(_series(), start_threshold=1.5)


@pytest.mark.parametrize(("scale", "offset", "what"), [(100.0, 0.0, "percent"), (10000.0, 0.0, "x10000"), (10.0, -20.0, "dB")])
def test_values_that_cannot_be_ndvi_warn_naming_the_range(scale, offset, what):
    x = _series() * scale + offset
    lo, hi = float(x.min()), float(x.max())
    with pytest.warns(UserWarning, match=rf"phenology: expected NDVI in \[-1, 1\], found values {lo:.4g}..{hi:.4g} \(100% of the sampled"):
        fdl.phenology(x)


def test_ndvi_check_is_lazy_on_dask_and_warns_at_compute():
    x = _series() * 100
    with raise_if_dask_computes(), warnings.catch_warnings():
        warnings.simplefilter("error")
        ph = fdl.phenology(x.chunk({"x": 2}))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")  # Python's own rule: a message shown once per place
        ph.compute()
    msgs = [str(w.message) for w in seen if "expected NDVI" in str(w.message)]
    assert msgs and set(msgs) == {msgs[0]} and "found a Dask chunk with more than 1 % of its values outside" in msgs[0]
    assert len(msgs) == 1, f"one warning for the {x.chunk({'x': 2}).data.npartitions} chunks, found {len(msgs)}"


def test_true_ndvi_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fdl.phenology(_series())
        fdl.phenology(_series().chunk({"x": 2})).compute()


def test_input_without_a_valid_pixel_warns_with_counts():
    x = _series().copy()
    x[:, :] = np.nan
    x[:3, 0] = 0.5  # one pixel with 3 values, fewer than min_valid
    with pytest.warns(UserWarning, match=r"none of the 4 pixels has the 6 valid values a season needs \(min_valid\) over the 73 dates "
                                         r"\(1 pixels have any valid value, at most 3\)"):
        ph = fdl.phenology(x)
    assert (ph["n_seasons"].values == 0).all()


def test_smooth_false_means_no_smoothing_as_before():
    """phenology(smooth=False) was accepted before the option checks (no smoothing), as reconstruct's smooth: false is."""
    check_options({"smooth": False})
    with pytest.raises(ConfigError, match="smooth"):
        check_options({"smooth": True})


def test_absolute_thresholds_must_be_given():
    """threshold_type='absolute' without thresholds used amplitude_fraction (0.5) as an absolute NDVI, silently."""
    import fusets_dl as fdl

    t = pd.date_range("2021-01-01", "2021-12-31", freq="5D")
    da = xr.DataArray(np.full((t.size, 1), 0.5, np.float32), dims=("time", "x"), coords={"time": t})
    with pytest.raises(ConfigError, match=r"start_threshold and end_threshold: expected an NDVI value with threshold_type='absolute'"):
        fdl.phenology(da, threshold_type="absolute")
    with pytest.raises(ConfigError, match=r"phenology: end_threshold: expected an NDVI value"):
        fdl.phenology(da, threshold_type="absolute", start_threshold=0.3)


def test_std_and_noise_inputs_are_checked():
    """A NumPy std raised AttributeError; a std with y the other way raised xarray's AlignmentError; a noise of -1 or inf
    switched the noise test off silently (in memory now, per chunk as computed on Dask)."""
    import fusets_dl as fdl
    from fusets_dl.errors import DimensionError

    t = pd.date_range("2021-01-01", "2021-12-31", freq="5D")
    rng = np.random.default_rng(0)
    da = xr.DataArray(rng.random((t.size, 3, 4)).astype(np.float32), dims=("time", "y", "x"),
                      coords={"time": t, "y": [3.0, 2.0, 1.0], "x": [0.0, 1.0, 2.0, 3.0]})
    with pytest.raises(ConfigError, match=r"std: expected a DataArray of per-value uncertainties .*found a numpy array of shape \(73, 3, 4\)"):
        fdl.phenology(da, std=np.ones(da.shape))
    std = da.copy(data=np.where(np.arange(3)[None, :, None] == 0, 0.01, 0.05) * np.ones(da.shape, np.float32))
    flipped = fdl.phenology(da, std=std.isel(y=slice(None, None, -1)))
    np.testing.assert_allclose(flipped["noise"].values, fdl.phenology(da, std=std)["noise"].values)
    with pytest.raises(DimensionError, match=r"expected std on the NDVI's y labels, found labels that differ"):
        fdl.phenology(da, std=std.assign_coords(y=[9.0, 8.0, 7.0]))
    bad = xr.DataArray(np.full((3, 4), -1.0), dims=("y", "x"), coords={"y": da.y, "x": da.x})
    with pytest.raises(ConfigError, match=r"noise: expected noise sds >= 0 \(NDVI\) or NaN, found 12 negative or infinite values"):
        fdl.phenology(da, noise=bad)
    lazy = fdl.phenology(da.chunk({"x": 2}), noise=bad.chunk({"x": 2}))  # nothing computed at the call
    with pytest.raises(ConfigError, match=r"noise: expected noise sds >= 0"):
        lazy["n_seasons"].compute()


def test_period_takes_the_dates_of_a_cube_and_refuses_those_beyond_nanoseconds():
    t = xr.DataArray(pd.date_range("2021-03-01", periods=3, freq="D"), dims="time")
    start, end = parse_period((t[0], t[-1]))  # ds.time[0]: a 0-d DataArray (refused before)
    assert start == pd.Timestamp("2021-03-01") and end == pd.Timestamp("2021-03-03T23:59:59.999999999")
    with pytest.raises(ConfigError, match=r"period end: expected a date .*found '2300-01-01'"):
        parse_period(("2021-01-01", "2300-01-01"))
