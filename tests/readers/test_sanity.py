"""Sanity checks on hand-built cubes (readers.sanity, and the readers using them): units, NDVI x 10000, reflectance scale, numeric times, sigma0/gamma0."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, DimensionError, EncodingError
from fusets_dl.readers.sanity import check_reflectance
from fusets_dl.testing import raise_if_dask_computes

T = pd.date_range("2021-05-01", periods=4, freq="6D")
SHAPE = (4, 8, 8)


def _ds(data_vars, time=T, attrs=None):
    return xr.Dataset(
        data_vars, coords={"time": time, "y": 5000.0 - 20 * np.arange(8), "x": 300000.0 + 20 * np.arange(8)},
        attrs={"epsg": 32631, **(attrs or {})},
    )


def _s1(vv, vh=None, **var_attrs):
    vh = vv if vh is None else vh
    return _ds({"VV": (("time", "y", "x"), vv, dict(var_attrs)), "VH": (("time", "y", "x"), vh, dict(var_attrs))})


LINEAR = np.random.default_rng(0).uniform(0.01, 0.2, SHAPE).astype(np.float32)


def test_linear_power_declared_as_db_on_dask_fails_when_computed_not_at_open():
    with raise_if_dask_computes():
        s1 = fdl.open_s1(_s1(LINEAR).chunk({"y": 4}), units="dB", chunks={"y": 4})
    with pytest.raises(EncodingError, match=r"declared units='dB' but the values look linear \(median 0\.1"):
        s1["VV"].compute()
    good = fdl.open_s1(_s1(10 * np.log10(LINEAR)).chunk({"y": 4}), units="dB", chunks={"y": 4})
    np.testing.assert_allclose(good["VV"].values, 10 * np.log10(LINEAR), rtol=1e-6)


def test_compressed_counts_declared_as_db_are_refused():
    """openEO's uint16 compressed backscatter with ``units='dB'`` was taken as dB (VV median 3437 'dB'), silently."""
    counts = np.random.default_rng(1).integers(1200, 4500, SHAPE).astype(np.float32)
    with pytest.raises(EncodingError, match=r"declared units='dB' but the median is \d+.*units='compressed'"):
        fdl.open_s1(_s1(counts), units="dB")
    bright = np.random.default_rng(2).uniform(-5.0, 12.0, SHAPE).astype(np.float32)  # bright targets: still dB
    assert float(fdl.open_s1(_s1(bright), units="dB")["VV"].median()) > 3.0


def test_linear_cube_that_says_db_is_refused_by_open_cube(tmp_path):
    cube = _s1(LINEAR, units="dB")
    with pytest.raises(EncodingError, match=r"open_cube\(<Dataset>\): VV: declared units='dB' but the values look linear"):
        fdl.open_cube(cube)
    path = tmp_path / "cube.nc"
    cube.to_netcdf(path)
    with raise_if_dask_computes():
        lazy = fdl.open_cube(path, chunks={"y": 4})
    with pytest.raises(EncodingError, match="look linear"):
        lazy["VH"].compute()
    db = fdl.open_cube(_s1(10 * np.log10(LINEAR), units="dB"))
    np.testing.assert_allclose(db["VV"].values, 10 * np.log10(LINEAR), rtol=1e-6)


def test_auto_units_warn_when_the_units_attribute_disagrees(caplog):
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        s1 = fdl.open_s1(_s1(LINEAR, units="dB"))
    np.testing.assert_allclose(s1["VV"].values, 10 * np.log10(LINEAR), rtol=1e-5)  # the values win
    assert "attribute units='dB' but the values look linear" in caplog.text


def test_ndvi_times_10000_is_named_in_memory_and_caught_per_chunk_on_dask():
    nd = np.random.default_rng(1).uniform(0.2, 0.8, SHAPE)
    raw = _ds({"NDVI": (("time", "y", "x"), np.round(nd * 10000).astype(np.float32))})
    with pytest.raises(EncodingError, match=r"expected NDVI in \[-1, 1\].*NDVI x 10000"):
        fdl.open_s2(raw)
    with raise_if_dask_computes():
        lazy = fdl.open_s2(raw.chunk({"y": 4}), chunks={"y": 4})
    with pytest.raises(EncodingError, match="NDVI x 10000"):
        lazy["NDVI"].compute()
    ok = fdl.open_s2(raw.assign(NDVI=raw["NDVI"].assign_attrs(scale_factor=1e-4)))
    np.testing.assert_allclose(ok["NDVI"].values, np.round(nd * 10000) * 1e-4, atol=1e-6)


def _refl(red, nir, **attrs):
    return _ds({"B04": (("time", "y", "x"), red, attrs), "B08": (("time", "y", "x"), nir, attrs)})


def test_reflectance_scale_that_contradicts_the_values_is_refused():
    rng = np.random.default_rng(2)
    red = rng.uniform(0.03, 0.09, SHAPE).astype(np.float32)
    nir = rng.uniform(0.2, 0.45, SHAPE).astype(np.float32)
    with pytest.raises(EncodingError, match=r"B04 \(reflectance scale 0.0001\).*0..1 reflectance scaled again.*reflectance_scale=1"):
        fdl.open_s2(_refl(red, nir), reflectance_scale=1e-4)
    with pytest.raises(EncodingError, match=r"B04 \(reflectance scale 1\).*found median 5\d\d.*digital numbers.*reflectance_scale=1e-4"):
        fdl.open_s2(_refl(red * 1e4, nir * 1e4), reflectance_scale=1.0)
    s2 = fdl.open_s2(_refl(red, nir))  # auto: 0..1 floats are reflectance
    np.testing.assert_allclose(s2["NDVI"].values, (nir - red) / (nir + red), atol=1e-6)
    # on Dask the sample of clear red that judges the offset (a DN scale: the date rule) meets it at open
    with raise_if_dask_computes(max_computes=1), pytest.raises(EncodingError, match="scaled again"):
        fdl.open_s2(_refl(red, nir).chunk({"y": 4}), reflectance_scale=1e-4, chunks={"y": 4})


def test_check_reflectance_ignores_nodata_and_small_samples():
    check_reflectance(np.array([0.0] * 100 + [np.nan] * 10), "x")  # nothing valid: nothing to say
    check_reflectance(np.full(10, 5.0), "x")  # too few values to conclude
    with pytest.raises(EncodingError, match="median 5"):
        check_reflectance(np.full(100, 5.0), "x")


def test_uint16_65535_is_nodata_in_dn_bands():
    red = np.full(SHAPE, 500, np.uint16)
    nir = np.full(SHAPE, 3000, np.uint16)
    red[0, 0, 0] = nir[0, 0, 0] = 65535
    nd = fdl.open_s2(_refl(red, nir))["NDVI"].values
    assert np.isnan(nd[0, 0, 0])
    np.testing.assert_allclose(nd.ravel()[1:], 2500 / 3500, atol=1e-6)


def test_numeric_times_decoded_from_units_or_yyyymmdd_else_refused(caplog):
    vv = np.full(SHAPE, -10.0, np.float32)
    days = np.array([0.0, 6.0, 12.0, 18.0])
    ds = _s1(vv).assign_coords(time=("time", days, {"units": "days since 2021-05-01"}))
    s1 = fdl.open_s1(ds)
    np.testing.assert_array_equal(s1["time"].values, T.values)
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        s1 = fdl.open_s1(_s1(vv).assign_coords(time=[20210501, 20210507, 20210513, 20210519]))
    np.testing.assert_array_equal(s1["time"].values, T.values)
    assert "read as YYYYMMDD" in caplog.text
    with pytest.raises(DimensionError, match=r"found numbers without units .*1.6198\d*e\+12.*unit='ms'"):
        fdl.open_s1(_s1(vv).assign_coords(time=T.values.astype("datetime64[ms]").astype(np.int64).astype(float)))


@pytest.mark.parametrize("calendar", ["noleap", "365_day", "360_day", "julian", "all_leap"])
def test_cf_numeric_times_in_a_non_standard_calendar_are_refused_with_a_conversion_that_works(calendar):
    """REPRO hunttime (C): days since 2000-01-01 in a noleap (climate model) calendar, as a Dataset opened with
    decode_times=False holds them, raised a bare TypeError ("DatetimeNoLeap is not convertible to datetime")."""
    vv = np.full(SHAPE, -10.0, np.float32)
    days = (T.values - np.datetime64("2000-01-01")) / np.timedelta64(1, "D")
    ds = _s1(vv).assign_coords(time=("time", days, {"units": "days since 2000-01-01", "calendar": calendar}))
    with pytest.raises(DimensionError, match=rf"expected times in the standard \(Gregorian\) calendar, found CF numeric times "
                                             rf"\('days since 2000-01-01'\) in the calendar '{calendar}'.*xr.decode_cf\(ds, decode_times="
                                             r"xr.coders.CFDatetimeCoder\(use_cftime=True\)\), then ds = ds.convert_calendar\(\"standard\", "
                                             r"align_on=\"date\", use_cftime=False\)"):
        fdl.open_s1(ds)
    converted = xr.decode_cf(ds, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)).convert_calendar(
        "standard", align_on="date", use_cftime=False)  # the message's advice, as given
    s1 = fdl.open_s1(converted)
    assert s1["time"].dtype == np.dtype("datetime64[ns]") and s1.sizes["time"] == 4
    name = {"365_day": "noleap"}.get(calendar, calendar)  # cftime's name for it
    with pytest.raises(DimensionError, match=rf"found cftime dates \(calendar '{name}', .* first\).*ds = ds.convert_calendar"
                                             r"\(\"standard\", align_on=\"date\", use_cftime=False\)"):
        fdl.open_s1(xr.decode_cf(ds, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)))  # already decoded, to cftime


@pytest.mark.parametrize("calendar", [None, "standard", "gregorian", "proleptic_gregorian"])
def test_cf_numeric_times_in_the_standard_calendars_still_decode_and_out_of_range_ones_are_named(calendar):
    vv = np.full(SHAPE, -10.0, np.float32)
    days = (T.values - np.datetime64("2000-01-01")) / np.timedelta64(1, "D")
    attrs = {"units": "days since 2000-01-01"} | ({"calendar": calendar} if calendar else {})
    s1 = fdl.open_s1(_s1(vv).assign_coords(time=("time", days, attrs)))
    np.testing.assert_array_equal(s1["time"].values, T.values)
    with pytest.raises(DimensionError, match=r"expected dates within 1677-09-21 \.\. 2262-04-11 .*found CF numeric times "
                                             r"\('days since 2000-01-01', calendar '(standard|gregorian|proleptic_gregorian)'\) that "
                                             r"decode to 2\d{4}-.*check the units"):
        fdl.open_s1(_s1(vv).assign_coords(time=("time", days * 1000, attrs)))  # milliseconds declared as days


def test_a_netcdf_file_in_a_noleap_calendar_names_cftime_and_the_conversion(tmp_path):
    """xarray decodes a noleap file to cftime objects: 'expected time values that parse as dates' now names cftime."""
    vv = np.full(SHAPE, -10.0, np.float32)
    path = tmp_path / "s1_noleap.nc"
    _s1(vv).convert_calendar("noleap").to_netcdf(path)
    with pytest.raises(DimensionError, match=r"s1_noleap.nc\): expected 'time' values that parse as dates, found cftime dates "
                                             r"\(calendar 'noleap', 2021-05-01 00:00:00 first\).*xr.open_dataset\(path\) first"):
        fdl.open_s1(str(path))
    with xr.open_dataset(path) as ds:
        s1 = fdl.open_s1(ds.convert_calendar("standard", align_on="date", use_cftime=False))
        np.testing.assert_array_equal(s1["time"].values, T.values)


@pytest.mark.parametrize("calendar", ["standard", "proleptic_gregorian"])
def test_cftime_dates_of_the_standard_calendar_are_read_as_the_same_dates(calendar, tmp_path):
    """xr.open_dataset(path, use_cftime=True) gives cftime objects of numpy's own calendar: the same dates, read (they were
    refused with a conversion recipe); dates before the Gregorian reform in the 'standard' calendar are Julian: refused."""
    vv = np.full(SHAPE, -10.0, np.float32)
    ds = _s1(vv)
    stamps = T + pd.Timedelta("10h17min3.5s")
    path = tmp_path / "s1.nc"
    ds.assign_coords(time=stamps).to_netcdf(path, encoding={"time": {"calendar": calendar, "units": "seconds since 2000-01-01"}})
    with xr.open_dataset(path, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)) as cf:
        assert cf["time"].dtype == object
        s1 = fdl.open_s1(cf)
        np.testing.assert_array_equal(s1["time"].values, stamps.values)
    import cftime

    old = ds.assign_coords(time=[cftime.datetime(1500, 5, d, calendar="standard") for d in range(1, T.size + 1)])
    with pytest.raises(DimensionError, match=r"cftime dates of the 'standard' calendar from 1500-05-01 .*before the Gregorian reform"):
        fdl.open_s1(old)


def test_text_and_object_times_with_a_time_zone_become_naive_utc():
    """STAC datetime strings ("...Z", "+02:00") and aware datetime objects: naive UTC after the readers, as align and
    the Zarr writer expect (they stayed aware: align refused them, to_zarr raised a bare TypeError)."""
    import datetime as dt

    vv = np.full(SHAPE, -10.0, np.float32)
    for times, first in (
        ([t.strftime("%Y-%m-%dT10:30:00Z") for t in T], "2021-05-01T10:30"),
        ([t.strftime("%Y-%m-%dT10:30:00+02:00") for t in T], "2021-05-01T08:30"),
        (np.array([dt.datetime(t.year, t.month, t.day, 10, 30, tzinfo=dt.timezone.utc) for t in T], dtype=object), "2021-05-01T10:30"),
        ([t.strftime("%Y-%m-%d") for t in T], "2021-05-01T00:00"),
    ):
        s1 = fdl.open_s1(_s1(vv).assign_coords(time=np.asarray(times)))
        assert s1["time"].dtype == np.dtype("datetime64[ns]") and str(s1["time"].values[0])[:16] == first


def test_dask_input_with_one_date_per_chunk_comes_out_with_time_as_one_chunk():
    """odc-stac's default layout (a chunk per date) kept its time chunks through the readers, and align(freq=...)
    then failed with a raw xarray error; every stage reads whole series."""
    vv = LINEAR
    ds = _s1(vv, vv / 5).chunk({"time": 1, "y": 4})
    with raise_if_dask_computes():
        s1 = fdl.open_s1(ds, units="linear")
    assert s1["VV"].chunks[0] == (4,) and s1["VV"].chunks == s1["VH"].chunks
    np.testing.assert_allclose(s1["VV"].values, fdl.open_s1(ds.load(), units="linear")["VV"].values, rtol=1e-6)
    refl = _ds({"B04": (("time", "y", "x"), np.full(SHAPE, 500, np.uint16)), "B08": (("time", "y", "x"), np.full(SHAPE, 3000, np.uint16)),
                "SCL": (("time", "y", "x"), np.full(SHAPE, 4, np.uint8))}).chunk({"time": 1})
    with raise_if_dask_computes(max_computes=1):  # the sample of clear red that judges the offset (DN without metadata)
        s2 = fdl.open_s2(refl)
        cube = fdl.align(s1, s2, freq="12D")
    assert s2["NDVI"].chunks[0] == (4,) and cube.sizes["time"] == 2
    np.testing.assert_allclose(cube["NDVI"].values, 2500 / 3500, rtol=1e-6)


def test_backscatter_coefficient_recorded_from_names_attrs_or_argument():
    vv = np.full(SHAPE, 0.1, np.float32)
    gamma = _ds({"Gamma0_VV": (("time", "y", "x"), vv), "Gamma0_VH": (("time", "y", "x"), vv / 10)})
    s1 = fdl.open_s1(gamma)
    assert s1.attrs["backscatter"] == "gamma0" and s1["VH"].attrs["backscatter"] == "gamma0"
    np.testing.assert_allclose(s1["VH"].values, -20.0, rtol=1e-6)
    assert fdl.open_s1(_s1(vv, long_name="Sigma nought, VV")).attrs["backscatter"] == "sigma0"
    rtc = _s1(vv)
    rtc.attrs["collection"] = "sentinel-1-rtc"
    assert fdl.open_s1(rtc)["VV"].attrs["backscatter"] == "gamma0"
    assert "backscatter" not in fdl.open_s1(_s1(vv)).attrs  # the source says nothing: nothing recorded
    assert fdl.open_s1(_s1(vv), backscatter="beta0").attrs["backscatter"] == "beta0"
    with pytest.raises(ConfigError, match=r"backscatter: expected one of \('sigma0', 'gamma0', 'beta0'\).*'gamma'"):
        fdl.open_s1(_s1(vv), backscatter="gamma")


def test_dates_before_the_missions_launch_are_warned_as_a_wrong_epoch():
    """1991 or 1961 dates (an epoch or unit decoded wrongly) passed every stage without a word."""
    import warnings

    import fusets_dl as fdl
    from fusets_dl.synthetic import make_scene

    s1, s2, _ = make_scene(4, 4, "2021-01-01", "2021-03-31", seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        fdl.open_s1(s1)
        fdl.open_s2(s2)
    shift = np.timedelta64(30 * 365, "D")
    with pytest.warns(UserWarning, match=r"open_s1\(<Dataset>\): \d+ of \d+ dates fall before Sentinel-1's launch \(2014-04-03\), "
                                         r"first 1991-.*check the epoch or units"):
        fdl.open_s1(s1.assign_coords(time=s1["time"].values - shift))
    s2_2015 = s2.assign_coords(t=s2["t"].values - np.timedelta64(6 * 365, "D"))  # January-March 2015: before S2A
    with pytest.warns(UserWarning, match=r"open_s2\(<Dataset>\): \d+ of \d+ dates fall before Sentinel-2's launch \(2015-06-23\)"):
        fdl.open_s2(s2_2015)
