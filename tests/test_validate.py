"""The option checks shared by the stages: finite positive numbers and whole numbers."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fusets_dl.validate import is_finite_positive, is_whole


@pytest.mark.parametrize(("value", "ok"), [
    (1, True), (0.5, True), (np.float32(2.0), True), (np.int64(3), True),
    (0, False), (-1.0, False), (float("nan"), False), (float("inf"), False), (True, False), ("1", False), (None, False),
])
def test_is_finite_positive(value, ok):
    assert is_finite_positive(value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    (3, True), (3.0, True), (np.int32(2), True), (0, True),
    (2.5, False), (float("nan"), False), (float("inf"), False), (True, False), ("3", False), (None, False),
])
def test_is_whole(value, ok):
    assert is_whole(value) is ok


def test_missing_spatial_coordinates_are_refused_by_the_readers_and_the_stages():
    """A NaN pixel centre put pixels nowhere: the stages took it and the readers named it 'not monotonic'."""
    import fusets_dl as fdl
    from fusets_dl.errors import DimensionError
    from fusets_dl.synthetic import make_scene

    s1, s2, _ = make_scene(ny=4, nx=5, start="2021-01-01", end="2021-03-01", seed=0)
    x = s1["x"].values.astype(float).copy()
    x[2] = np.nan
    with pytest.raises(DimensionError, match=r"expected finite x coordinates, found 1 of 5 missing or infinite \(at positions \[2\]\)"):
        fdl.open_s1(s1.assign_coords(x=x))
    cube = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2))
    y = cube["y"].values.astype(float).copy()
    y[0] = np.inf
    with pytest.raises(DimensionError, match="fusion cube: expected finite y coordinates"):
        fdl.compute_features(cube.assign_coords(y=y))


def test_is_finite_positive_takes_huge_integers_without_a_type_error():
    """``reconstruct(lam=10**30)`` raised a TypeError from np.isfinite on a Python int beyond int64."""
    assert is_finite_positive(10**30)
    assert not is_finite_positive(10**400)  # beyond float64: not usable as a number of the stages
    assert not is_finite_positive(np.bool_(True)) and not is_finite_positive(True)


def test_naive_utc_converts_zoned_dates_and_keeps_naive_ones():
    import pandas as pd

    from fusets_dl.validate import naive_utc

    zoned = pd.DatetimeIndex(["2021-06-01T02:00"]).tz_localize("Europe/Brussels")
    assert naive_utc(zoned)[0] == pd.Timestamp("2021-06-01T00:00") and naive_utc(zoned).tz is None
    assert naive_utc(pd.Timestamp("2021-06-01T09:00+09:00")) == pd.Timestamp("2021-06-01T00:00")
    naive = pd.DatetimeIndex(["2021-06-01T02:00"])
    assert naive_utc(naive) is naive


def _series(times) -> xr.Dataset:
    return xr.Dataset({"a": ("time", np.arange(len(times), dtype=float))}, coords={"time": times})


def test_dates_a_nanosecond_axis_cannot_hold_are_refused_before_any_stage_crashes_in_pandas():
    """xarray keeps datetime64[s] dates beyond 2262; the stages passed the checks and then crashed in pandas'
    OutOfBoundsDatetime (reconstruct after its calibration ran, align), and to_zarr wrote a store open_cube could not read."""
    from fusets_dl.errors import DimensionError
    from fusets_dl.validate import check_time

    far = _series(np.array(["2021-01-01", "2300-01-01", "2301-01-03"], dtype="datetime64[s]"))
    with pytest.raises(DimensionError, match=r"x: expected dates within 1677-09-21 .. 2262-04-11 .* found 2 outside \(first: 2300-01-01"):
        check_time(far, "x")
    check_time(_series(np.array(["1800-01-01", "2021-01-01"], dtype="datetime64[s]")), "x")  # out of range only below 1677
    with pytest.raises(DimensionError, match="found 1 outside"):
        check_time(_series(np.array(["1600-01-01", "2021-01-01"], dtype="datetime64[s]")), "x")
    check_time(_series(np.array(["2021-01-01", "2021-01-02"], dtype="datetime64[ns]")), "x")


def test_cftime_dates_are_named_with_the_conversion_that_reads_them():
    from fusets_dl.errors import DimensionError
    from fusets_dl.validate import check_time

    cf = _series(xr.date_range("2021-01-01", periods=4, freq="10D", calendar="noleap", use_cftime=True))
    with pytest.raises(DimensionError, match=r"found dtype object \(cftime dates of the 'noleap' calendar\): convert them .*"
                                             r"ds.convert_calendar\('standard', use_cftime=False, align_on='date'\)"):
        check_time(cf, "x")
    fixed = cf.convert_calendar("standard", use_cftime=False, align_on="date")  # the advice works
    check_time(fixed, "x")
    with pytest.raises(DimensionError, match=r"found dtype int64$"):
        check_time(_series(np.arange(3)), "x")  # no cftime hint for numbers


def test_unsorted_dates_are_refused_naming_where_the_order_breaks():
    from fusets_dl.errors import DimensionError
    from fusets_dl.validate import check_time

    ds = _series(np.array(["2021-01-01", "2021-01-05", "2021-01-03", "2021-01-09"], dtype="datetime64[ns]"))
    with pytest.raises(DimensionError, match=r"x: expected 'time' sorted ascending, found 2021-01-03 00:00:00 after 2021-01-05 "
                                             r"00:00:00 \(position 2 of 4\); sort it: ds.sortby\('time'\)"):
        check_time(ds, "x")
