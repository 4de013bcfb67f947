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
