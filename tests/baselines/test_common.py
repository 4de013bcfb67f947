"""The baselines' shared input checks: dates (order, repeats, zones) and NDVI values, for linear, Whittaker and MOGPR."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.baselines import interpolate_linear, whittaker_baseline
from fusets_dl.errors import DuplicateTimeError, EncodingError
from fusets_dl.testing import raise_if_dask_computes

BASELINES = [interpolate_linear, whittaker_baseline]


def _series(n: int = 40, seed: int = 0) -> xr.DataArray:
    """Three pixels of a seasonal NDVI curve every 9 days, a third of the dates cloudy."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2021-01-03T10:30", periods=n, freq="9D")
    days = np.arange(n) * 9.0
    v = 0.45 + 0.3 * np.sin(2 * np.pi * days / 365.0)[:, None] + rng.normal(0, 0.02, (n, 3))
    v[rng.random((n, 3)) < 0.33] = np.nan
    return xr.DataArray(v, dims=("time", "pixel"), coords={"time": t})


@pytest.mark.parametrize("fn", BASELINES)
def test_dates_out_of_order_give_the_sorted_result(fn) -> None:
    """Before: linear interpolation searched unsorted days and returned NaN or another date's value, silently."""
    s = _series()
    order = np.random.default_rng(1).permutation(s.sizes["time"])
    shuffled = fn(s.isel(time=order))
    xr.testing.assert_allclose(shuffled, fn(s))
    assert pd.DatetimeIndex(shuffled["time"].values).is_monotonic_increasing


@pytest.mark.parametrize("fn", BASELINES)
def test_repeated_dates_are_refused(fn) -> None:
    """Before: linear interpolation returned the later value at both, Whittaker averaged them."""
    s = _series()
    dup = xr.concat([s.isel(time=slice(0, 5)), s.isel(time=[4]), s.isel(time=slice(5, None))], "time")
    with pytest.raises(DuplicateTimeError, match="expected unique timestamps, found 1 duplicates"):
        fn(dup)


@pytest.mark.parametrize("fn", [*BASELINES, lambda s: fdl.mogpr(s.to_dataset(name="NDVI"), n_iter=5)["NDVI"]])
def test_timezone_aware_dates_are_read_as_utc(fn) -> None:
    """Before: MOGPR raised TypeError on a zoned time coordinate, the others on zoned output ``times``."""
    s = _series()
    zoned = s.assign_coords(time=pd.DatetimeIndex(s["time"].values).tz_localize("UTC").tz_convert("Europe/Brussels"))
    xr.testing.assert_allclose(fn(zoned), fn(s))


@pytest.mark.parametrize("fn", BASELINES)
def test_zoned_output_times_are_read_as_utc(fn) -> None:
    s = _series()
    q = pd.date_range("2021-03-01", periods=5, freq="20D")
    got = fn(s, times=q.tz_localize("UTC").tz_convert("Asia/Tokyo"))
    xr.testing.assert_allclose(got, fn(s, times=q))


@pytest.mark.parametrize("fn", [*BASELINES, lambda s: fdl.mogpr(s.to_dataset(name="NDVI"), n_iter=5)["NDVI"]])
def test_ndvi_times_10000_is_refused(fn) -> None:
    """Before: int16 NDVI x 10000 with a -32768 fill came back as values in the thousands, with no word."""
    s = _series()
    scaled = xr.where(np.isfinite(s), s * 10000, -32768).astype(np.int16)
    with pytest.raises(EncodingError, match=r"NDVI in \[-1, 1\].*NDVI x 10000.*the nodata value -32768 undeclared"):
        fn(scaled)


@pytest.mark.parametrize("fn", BASELINES)
def test_a_few_undeclared_nodata_values_are_missing_not_observations(fn) -> None:
    s = _series(n=120)
    bad = s.copy()
    bad[7, 1] = -9999.0  # one value of 360: undeclared nodata
    with pytest.warns(UserWarning, match=r"1 values outside \[-1, 1\].*treated as missing"):
        got = fn(bad)
    masked = s.copy()
    masked[7, 1] = np.nan
    xr.testing.assert_allclose(got, fn(masked))
    assert float(np.nanmin(got.values)) > -1.0


@pytest.mark.parametrize("fn", BASELINES)
def test_the_checks_stay_lazy_on_dask(fn) -> None:
    s = _series()
    order = np.random.default_rng(2).permutation(s.sizes["time"])
    lazy_in = s.isel(time=order).chunk({"pixel": 1})
    with raise_if_dask_computes(), warnings.catch_warnings():
        warnings.simplefilter("error")
        lazy = fn(lazy_in)
    xr.testing.assert_allclose(lazy.compute(), fn(s))
