"""STAC-loader conventions: Earth Search and Planetary Computer names, SNAP names, ``nodata`` attrs, netCDF default fills."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.readers import canonical_band_name
from fusets_dl.testing import raise_if_dask_computes

T = pd.date_range("2021-05-01", periods=3, freq="5D")
NETCDF_FILL = np.float32(9.96921e36)


def _grid(data_vars, ny=3, nx=4):
    return xr.Dataset(
        data_vars,
        coords={"time": T, "y": 5000.0 - 10 * np.arange(ny), "x": 300000.0 + 10 * np.arange(nx)},
        attrs={"epsg": 32631},
    )


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("red", "B04"), ("nir", "B08"), ("nir08", "B8A"), ("green", "B03"), ("blue", "B02"), ("scl", "SCL"),
     ("vv", "VV"), ("vh", "VH"), ("Sigma0_VV_db", "VV"), ("Sigma0_VH_db", "VH"), ("Sigma0_VV", "VV")],
)
def test_stac_and_snap_names_are_registered(name, canonical):
    assert canonical_band_name(name) == canonical


def test_earth_search_names_with_odc_stac_nodata_give_the_right_ndvi():
    rng = np.random.default_rng(2)
    red = rng.integers(300, 900, (3, 3, 4)).astype(np.uint16)
    nir = rng.integers(2500, 4000, (3, 3, 4)).astype(np.uint16)
    scl = np.array([4, 5, 8, 9] * 9, dtype=np.uint8).reshape(3, 3, 4)
    red[1, 2, 3] = 0  # nodata as odc-stac declares it
    raw = _grid({
        "red": (("time", "y", "x"), red, {"nodata": 0}),
        "nir": (("time", "y", "x"), nir, {"nodata": 0}),
        "scl": (("time", "y", "x"), scl, {"nodata": 0}),
    })
    s2 = fdl.open_s2(raw)
    r, n = red / 1e4, nir / 1e4
    expected = (n - r) / (n + r)
    expected[1, 2, 3] = np.nan
    np.testing.assert_allclose(s2["NDVI"].values, expected, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(s2["clear"].values, np.isin(scl, [4, 5]) & np.isfinite(expected))
    np.testing.assert_array_equal(s2["SCL"].values, scl)


@pytest.mark.parametrize(("dtype", "nodata"), [(np.int16, -32768), (np.int16, -9999), (np.uint16, 65535), (np.float32, -9999.0), (np.float32, np.nan)])
def test_nodata_attribute_values_become_nan(dtype, nodata):
    red = np.full((3, 3, 4), 500, dtype=dtype)
    nir = np.full((3, 3, 4), 3000, dtype=dtype)
    red[0, 0, 0] = nodata
    nir[2, 1, 1] = nodata
    raw = _grid({"B04": (("time", "y", "x"), red, {"nodata": nodata}), "B08": (("time", "y", "x"), nir, {"nodata": nodata})})
    nd = fdl.open_s2(raw)["NDVI"].values
    assert np.isnan(nd[0, 0, 0]) and np.isnan(nd[2, 1, 1])
    valid = np.ones(nd.shape, bool)
    valid[0, 0, 0] = valid[2, 1, 1] = False
    np.testing.assert_allclose(nd[valid], (3000 - 500) / 3500, atol=1e-6)


def test_planetary_computer_s1_rtc_linear_vv_vh_with_nodata():
    rng = np.random.default_rng(4)
    vv = rng.uniform(0.02, 0.3, (3, 3, 4)).astype(np.float32)
    vh = (vv / 5).astype(np.float32)
    vv[1, 0, 0] = -32768.0
    raw = _grid({"vv": (("time", "y", "x"), vv, {"nodata": -32768.0}), "vh": (("time", "y", "x"), vh, {"nodata": -32768.0})})
    s1 = fdl.open_s1(raw)
    assert s1.attrs["encoding"] == "VV:linear,VH:linear"
    expected = 10 * np.log10(np.where(vv > 0, vv, np.nan).astype(np.float64))
    np.testing.assert_allclose(s1["VV"].values, expected, rtol=1e-6)
    np.testing.assert_allclose(s1["VH"].values, 10 * np.log10(vh.astype(np.float64)), rtol=1e-6)


def test_snap_db_names_and_the_undeclared_netcdf_fill():
    rng = np.random.default_rng(5)
    vv = rng.normal(-11, 2, (3, 3, 4)).astype(np.float32)
    vh = (vv - 6).astype(np.float32)
    vv[0, 1, 2] = NETCDF_FILL  # no _FillValue declared
    vh[2, 0, 1] = -9999.0  # declared as odc-stac does
    raw = _grid({"Sigma0_VV_db": (("time", "y", "x"), vv), "Sigma0_VH_db": (("time", "y", "x"), vh, {"nodata": -9999.0})})
    s1 = fdl.open_s1(raw)
    assert s1.attrs["encoding"] == "VV:dB,VH:dB"
    expected = vv.astype(np.float64)
    expected[0, 1, 2] = np.nan
    np.testing.assert_allclose(s1["VV"].values, expected, rtol=1e-7)
    expected = vh.astype(np.float64)
    expected[2, 0, 1] = np.nan
    np.testing.assert_allclose(s1["VH"].values, expected, rtol=1e-7)


def test_undeclared_netcdf_fill_in_a_float_ndvi_band():
    nd = np.full((3, 3, 4), 0.6, dtype=np.float32)
    nd[2, 2, 2] = NETCDF_FILL
    out = fdl.open_s2(_grid({"NDVI": (("time", "y", "x"), nd)}))["NDVI"].values
    assert np.isnan(out[2, 2, 2]) and np.isfinite(out).sum() == out.size - 1


def test_nodata_decoding_stays_lazy():
    vv = np.full((3, 3, 4), 0.1, dtype=np.float32)
    vv[0, 0, 0] = -32768.0
    raw = _grid({"vv": (("time", "y", "x"), vv, {"nodata": -32768.0}), "vh": (("time", "y", "x"), vv / 4, {"nodata": -8192.0})})
    with raise_if_dask_computes():
        s1 = fdl.open_s1(raw.chunk({"y": 2}), units="linear", chunks={"y": 2})
    assert s1["VV"].chunks is not None
    assert np.isnan(s1["VV"].values[0, 0, 0]) and np.allclose(s1["VV"].values.ravel()[1:], -10.0)
