"""Several inputs of one sensor (readers.combine): float rounding between files, tiles, CRSs, files of other dates."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (the .rio accessor)
import xarray as xr

import fusets_dl as fdl

LAT, LON = 50.5 - 0.00018 * np.arange(8), 4.4 + 0.00028 * np.arange(8)


def _s1(date: str, dtype: str = "float64", shift_px: float = 0.0) -> xr.Dataset:
    """One S1 date on a lat/lon grid, its coordinates stored as ``dtype``, shifted east by ``shift_px`` pixels."""
    rng = np.random.default_rng(int(pd.Timestamp(date).day))
    vv = rng.normal(-12, 1, (1, 8, 8)).astype(np.float32)
    return xr.Dataset(
        {"VV": (("time", "y", "x"), vv), "VH": (("time", "y", "x"), vv - 6)},
        coords={"time": pd.DatetimeIndex([date]), "y": LAT.astype(dtype), "x": (LON + shift_px * 0.00028).astype(dtype)},
    ).rio.write_crs("EPSG:4326")


def test_s1_files_whose_coordinates_differ_by_float_rounding_are_combined(caplog):
    a, b = _s1("2021-06-01T17:30"), _s1("2021-06-13T17:30", "float32")  # float32 lat/lon: up to 0.0094 pixel off (latitude)
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = fdl.open_s1([a, b], units="dB")
    # before: GridMismatchError "expected the same grid ... found {'time': 1, 'y': 8, 'x': 8} ...; {'time': 1, 'y': 8, 'x': 8}"
    assert s1.sizes == {"time": 2, "y": 8, "x": 8}
    np.testing.assert_array_equal(s1["x"].values, LON)  # the first file's coordinates
    np.testing.assert_allclose(s1["VV"].values[1], b["VV"].values[0], rtol=1e-6)
    msg = next(r.getMessage() for r in caplog.records if "float rounding" in r.getMessage())
    assert "input 2 (<Dataset>)" in msg and "by up to 0.0094 pixel" in msg


def test_s1_files_offset_by_a_fraction_of_a_pixel_are_refused_with_the_offset():
    a, b = _s1("2021-06-01T17:30"), _s1("2021-06-13T17:30", shift_px=0.3)
    with pytest.raises(fdl.errors.GridMismatchError, match=r"the same size, offset by up to 0\.3 pixel \(more than the 0\.05"):
        fdl.open_s1([a, b], units="dB")


def test_s1_files_stored_in_other_orders_along_y_are_combined():
    a, b = _s1("2021-06-01T17:30"), _s1("2021-06-13T17:30").sortby("y")
    s1 = fdl.open_s1([a, b], units="dB")
    np.testing.assert_allclose(s1["VV"].values[1], b["VV"].values[0, ::-1], rtol=1e-6)


def test_s1_tiles_are_refused_with_their_bounds_and_the_remedy():
    a, b = _s1("2021-06-01T17:30").isel(x=slice(0, 4)), _s1("2021-06-01T17:30").isel(x=slice(4, 8))
    with pytest.raises(fdl.errors.GridMismatchError) as err:
        fdl.open_s1([a, b], units="dB")
    msg = str(err.value)
    assert "input 1 (<Dataset>): 8 x 4 pixels of 0.00028 x 0.00018, bounds (4.39986, 50.49865, 4.40098, 50.50009), EPSG:4326" in msg
    assert "input 2 (<Dataset>): 8 x 4 pixels" in msg and "combine_first" in msg and "merge_datasets" in msg


def test_s1_files_in_other_crs_are_refused_naming_both():
    a = _s1("2021-06-01T17:30")
    b = _s1("2021-06-13T17:30").rio.write_crs("EPSG:32631")
    with pytest.raises(fdl.errors.CRSMismatchError, match=r"expected every input in one CRS, found EPSG:4326 and EPSG:32631"):
        fdl.open_s1([a, b], units="dB")


# --------------------------------------------------------------------------- open_s2: a list of files

X10, Y10 = 600005.0 + 10 * np.arange(8), 5599995.0 - 10 * np.arange(6)


def _s2(dates, x=X10, y=Y10, bands=("B04", "B08", "SCL"), crs="EPSG:32631", offset=0, baseline=None, seed=0):
    """S2 L2A digital numbers (uint16) on ``dates``; ``offset`` DN added (baseline 04.00), SCL 4 or 8."""
    t = pd.DatetimeIndex(dates)
    rng = np.random.default_rng(seed)
    shape = (t.size, len(y), len(x))
    data = {"B04": rng.integers(300, 900, shape) + offset, "B08": rng.integers(2500, 4500, shape) + offset,
            "SCL": rng.choice([4, 8], shape)}
    ds = xr.Dataset({b: (("time", "y", "x"), data[b].astype(np.uint8 if b == "SCL" else np.uint16)) for b in bands},
                    coords={"time": t, "y": y, "x": x})
    if baseline is not None:
        ds = ds.assign_coords({"s2:processing_baseline": ("time", [baseline] * t.size)})
    return ds.rio.write_crs(crs)


def _ndvi(ds, offset=0):
    red, nir = (ds[b].values.astype(float) - offset for b in ("B04", "B08"))
    return (nir - red) / (nir + red)


def test_s2_files_of_other_dates_are_concatenated_along_time_sorted():
    y21 = _s2(["2021-06-01", "2021-06-11"], baseline="02.14", seed=1)
    y22 = _s2(["2022-06-01", "2022-06-11"], offset=1000, baseline="04.00", seed=2)
    s2 = fdl.open_s2([y22, y21])  # any order
    # before: DimensionError "expected the same dates in every file"
    assert s2.sizes == {"time": 4, "y": 6, "x": 8}
    assert s2.indexes["time"].is_monotonic_increasing
    expected = np.concatenate([_ndvi(y21), _ndvi(y22, 1000)])  # each file's dates harmonised by its own baseline
    np.testing.assert_allclose(s2["NDVI"].values, expected, rtol=1e-5)
    assert list(s2["s2:processing_baseline"].values) == ["02.14", "02.14", "04.00", "04.00"]
    # per-band files of one grid, one pair per year: the dates concatenated per band set, then the bands merged
    scl = [_s2(d, x=X10[::2] + 5, y=Y10[::2] - 5, bands=("SCL",), seed=s) for d, s in ((["2021-06-01", "2021-06-11"], 3),
                                                                                      (["2022-06-01", "2022-06-11"], 4))]
    both = fdl.open_s2([y21.drop_vars("SCL"), y22.drop_vars("SCL"), *scl])
    assert both.sizes == {"time": 4, "y": 6, "x": 8}
    fine = np.concatenate([np.repeat(np.repeat(s["SCL"].values, 2, 1), 2, 2) for s in scl])
    np.testing.assert_array_equal(both["SCL"].values, fine)


def test_s2_a_date_in_two_files_follows_duplicates():
    a, b = _s2(["2021-06-01", "2021-06-11"], seed=1), _s2(["2021-06-11", "2021-06-21"], seed=2)
    with pytest.raises(fdl.errors.DuplicateTimeError, match="duplicates='first' or 'mean'"):
        fdl.open_s2([a, b])
    assert fdl.open_s2([a, b], duplicates="first").sizes["time"] == 3
    # two tiles of one grid, each nodata where the other has data (before: tile B's pixels dropped, NDVI finite on 0.625)
    west, east = _s2(["2021-06-01"], seed=1), _s2(["2021-06-01"], seed=1)
    west["B04"][:, :, 5:] = 0
    east["B04"][:, :, :5] = 0
    s2 = fdl.open_s2([west, east], duplicates="first")
    assert float(np.isfinite(s2["NDVI"]).mean()) == 1.0


def test_s2_tiles_are_refused_with_their_bounds():
    west, east = _s2(["2021-06-01"]), _s2(["2021-06-01"], x=X10 + 80)
    with pytest.raises(fdl.errors.GridMismatchError) as err:
        fdl.open_s2([west, east])
    # before: the result held the west tile only (6 x 8 pixels), east's area and values gone, no warning
    msg = str(err.value)
    assert "input 1 (<Dataset>): 6 x 8 pixels of 10 x 10, bounds (600000, 5599940, 600080, 5600000), EPSG:32631" in msg
    assert "input 2 (<Dataset>): 6 x 8 pixels of 10 x 10, bounds (600080, 5599940, 600160, 5600000), EPSG:32631" in msg
    assert "offset by up to 8 pixels: other footprints (tiles)" in msg and "combine_first" in msg


def test_s2_files_in_other_crs_are_refused_naming_both():
    bands = _s2(["2021-06-01"], bands=("B04", "B08"))
    zone32 = _s2(["2021-06-01"], x=X10[::2] + 5 - 400000, y=Y10[::2] - 5, bands=("SCL",), crs="EPSG:32632")
    # before: clear False everywhere (the SCL reindexed by its numbers onto the bands' grid), no warning
    with pytest.raises(fdl.errors.CRSMismatchError, match=r"found EPSG:32631 and EPSG:32632 \(input 1.*reproject_match"):
        fdl.open_s2([bands, zone32])
    degrees = _s2(["2021-06-01"], x=4.41 + 0.00028 * np.arange(4), y=50.54 - 0.00018 * np.arange(3), bands=("SCL",), crs="EPSG:4326")
    # before: the bands put onto the degree coordinates (all NaN) labelled EPSG:32631
    with pytest.raises(fdl.errors.CRSMismatchError, match=r"found EPSG:32631 and EPSG:4326"):
        fdl.open_s2([bands, degrees])


def test_s2_band_file_that_does_not_cover_the_finest_grid_is_refused():
    bands = _s2(["2021-06-01"], bands=("B04", "B08"))
    half = _s2(["2021-06-01"], x=X10[::2][:2] + 5, y=Y10[::2] - 5, bands=("SCL",))  # SCL of the western 40 m only
    with pytest.raises(fdl.errors.GridMismatchError, match=r"found 4 of 8 columns and 0 of 6 rows of it outside input 2"):
        fdl.open_s2([bands, half])
