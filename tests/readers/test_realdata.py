"""Readers on every file of ../shared/data, checked against values decoded by hand from the raw integers."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from tests.paths import FIELD_S2, GF_S1, GF_S2, MONTHLY, WC_S1, WC_S2_10, WC_S2_20

pytestmark = pytest.mark.realdata


def _raw(path):
    return xr.open_dataset(path, mask_and_scale=False)


def test_worldcereal_s1_int32_scaled_db():
    s1 = fdl.open_s1(WC_S1)
    raw = _raw(WC_S1)
    assert s1.sizes == {"time": 159, "y": 32, "x": 32}
    assert s1.attrs["encoding"] == "VV:dB,VH:dB"
    for band in ("VV", "VH"):
        ints = raw[band].values
        expected = np.where(ints == 0, np.nan, ints * 1e-4)
        np.testing.assert_allclose(s1[band].values, expected, rtol=1e-6)
    assert s1.rio.crs.to_epsg() == 32631
    assert (s1["orbit"].values == "ASCENDING").all()
    # two relative orbits, about 17:32 and 17:40 UTC
    minutes = np.unique(s1.time.dt.hour.values * 60 + s1.time.dt.minute.values)
    assert set(minutes) <= set(range(17 * 60 + 30, 17 * 60 + 43))


def test_worldcereal_s2_two_resolutions():
    s2 = fdl.open_s2([WC_S2_10, WC_S2_20])
    r10, r20 = _raw(WC_S2_10), _raw(WC_S2_20)
    assert s2.sizes == {"time": 118, "y": 64, "x": 64}
    red = r10["B04"].values.astype(float)
    nir = r10["B08"].values.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where((red == 0) | (nir == 0), np.nan, (nir - red) / (nir + red))
    np.testing.assert_allclose(s2["NDVI"].values, expected, rtol=2e-6, atol=1e-7)
    scl_fine = np.repeat(np.repeat(r20["SCL"].values, 2, axis=1), 2, axis=2)
    np.testing.assert_array_equal(s2["SCL"].values, scl_fine)
    np.testing.assert_array_equal(s2["clear"].values, np.isin(scl_fine, [4, 5]) & np.isfinite(expected))
    frac = float(s2["clear"].mean())
    assert 0.35 < frac < 0.45  # README: about 40-45 % of pixel-dates are clear


def test_gfmap_openeo_compressed_s1_and_dn_s2():
    s1 = fdl.open_s1(GF_S1)
    raw = _raw(GF_S1)
    assert s1.attrs["encoding"] == "VV:compressed,VH:compressed"
    dn = raw["S1-SIGMA0-VV"].values.view(np.uint16).astype(float)
    with np.errstate(divide="ignore"):
        expected = np.where(np.isin(dn, [0, 65534, 65535]), np.nan, 20 * np.log10(dn) - 83)
    np.testing.assert_allclose(s1["VV"].values, expected, rtol=1e-6)
    assert np.isnan(s1["VV"].values).any()  # the file holds nodata DN
    s2 = fdl.open_s2(GF_S2)
    r2 = _raw(GF_S2)
    red = r2["S2-L2A-B04"].values.view(np.uint16).astype(float) * 1e-4
    nir = r2["S2-L2A-B08"].values.view(np.uint16).astype(float) * 1e-4
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where((red == 0) | (nir == 0), np.nan, (nir - red) / (nir + red))
    np.testing.assert_allclose(s2["NDVI"].values, expected, rtol=2e-6, atol=1e-7)
    assert s2.rio.crs.to_epsg() == 32631
    assert s2.sizes["time"] == 12


def test_monthly_composites_with_terrain():
    s1 = fdl.open_s1(MONTHLY)
    raw = _raw(MONTHLY)
    assert s1["elevation"].dims == ("y", "x")
    np.testing.assert_array_equal(s1["elevation"].values, raw["elevation"].values.view(np.uint16).max(axis=0))
    dn = raw["S1-SIGMA0-VH"].values.view(np.uint16).astype(float)
    with np.errstate(divide="ignore"):
        expected = np.where(np.isin(dn, [0, 65534, 65535]), np.nan, 20 * np.log10(dn) - 83)
    np.testing.assert_allclose(s1["VH"].values, expected, rtol=1e-6)
    s2 = fdl.open_s2(MONTHLY)
    assert s2.sizes == {"time": 12, "y": 100, "x": 100}
    assert s2.attrs["clear_mask"].startswith("none")  # composites carry no SCL


def test_fusets_field_cf_crs_and_float_dn():
    s2 = fdl.open_s2(FIELD_S2)
    raw = xr.open_dataset(FIELD_S2)
    assert s2.rio.crs.to_epsg() == 32630
    np.testing.assert_allclose(s2["NDVI"].values, raw["NDVI"].values, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(s2["clear"].values, np.isin(raw["SCL"].values, [4, 5]) & np.isfinite(raw["NDVI"].values))


def test_real_files_open_lazily():
    from fusets_dl.testing import raise_if_dask_computes

    with raise_if_dask_computes(max_computes=1):  # the sample of clear red that judges the S2 offset (DN without metadata)
        s1 = fdl.open_s1(WC_S1, chunks={"y": 16, "x": 16}, units="dB")
        s2 = fdl.open_s2([WC_S2_10, WC_S2_20], chunks={"y": 32, "x": 32})
    assert s1["VV"].chunks == ((159,), (16, 16), (16, 16))
    assert s2["NDVI"].chunks[0] == (118,)
