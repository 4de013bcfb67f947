"""Readers on in-memory, GeoTIFF and Zarr inputs; errors for bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.readers.core import canonical_band_name
from fusets_dl.testing import raise_if_dask_computes


def _s1_raw(nt=4, ny=3, nx=5, *, time_name="t", prefix="", values=None):
    rng = np.random.default_rng(0)
    t = pd.date_range("2021-03-01", periods=nt, freq="6D")
    vv = rng.normal(-11, 2, (nt, ny, nx)).astype(np.float32) if values is None else values
    vh = (vv - 6).astype(np.float32)
    ds = xr.Dataset(
        {f"{prefix}VV": ((time_name, "y", "x"), vv), f"{prefix}VH": ((time_name, "y", "x"), vh)},
        coords={time_name: t, "y": 5000.0 - 20 * np.arange(ny), "x": 300000.0 + 20 * np.arange(nx)},
        attrs={"epsg": 32631},
    )
    return ds


@pytest.mark.parametrize(
    ("name", "expected"),
    [("S1-SIGMA0-VV", "VV"), ("vh", "VH"), ("S2-L2A-B04", "B04"), ("B4", "B04"), ("B8A", "B8A"),
     ("S2-L2A-SCL", "SCL"), ("DEM", "elevation"), ("slope", "slope"), ("CLM", "CLM"), ("foo", "foo")],
)
def test_canonical_band_names(name, expected):
    assert canonical_band_name(name) == expected


@pytest.mark.parametrize("time_name", ["t", "timestamp", "time"])
def test_open_s1_normalises_time_names_prefixes_and_crs(time_name):
    raw = _s1_raw(time_name=time_name, prefix="S1-SIGMA0-")
    s1 = fdl.open_s1(raw)
    assert s1["VV"].dims == ("time", "y", "x")
    assert s1["VV"].dtype == np.float32 and s1["VV"].attrs["units"] == "dB"
    assert s1.rio.crs.to_epsg() == 32631
    np.testing.assert_array_equal(s1["VV"].values, raw["S1-SIGMA0-VV"].values)


def test_open_s1_detects_and_converts_linear():
    raw = _s1_raw()
    lin = raw.copy()
    for v in ("VV", "VH"):
        lin[v] = 10 ** (raw[v] / 10)
    s1 = fdl.open_s1(lin)
    assert s1.attrs["encoding"] == "VV:linear,VH:linear"
    np.testing.assert_allclose(s1["VV"].values, raw["VV"].values, atol=1e-4)
    # declared units win over detection
    s1d = fdl.open_s1(lin, units="linear")
    np.testing.assert_allclose(s1d["VH"].values, raw["VH"].values, atol=1e-4)


def test_open_s1_scaled_integers_and_fill_value():
    raw = _s1_raw()
    ints = (raw["VV"] * 1e4).round().astype(np.int32)
    ints[0, 0, 0] = 0
    ds = raw.copy()
    ds["VV"] = ints.assign_attrs(scale_factor=1e-4, _FillValue=np.int32(0))
    ds["VH"] = (raw["VH"] * 1e4).round().astype(np.int32).assign_attrs(scale_factor=1e-4, _FillValue=np.int32(0))
    s1 = fdl.open_s1(ds)
    assert np.isnan(s1["VV"].values[0, 0, 0])
    np.testing.assert_allclose(s1["VV"].values.ravel()[1:], ints.values.ravel()[1:] * 1e-4, rtol=1e-6)


def test_open_s1_openeo_compressed_uint16_stored_as_int16():
    dn = np.array([[[3928, 65534], [65535, 12000]]], dtype=np.uint16)
    ds = xr.Dataset(
        {b: (("t", "y", "x"), dn.view(np.int16), {"_Unsigned": "true"}) for b in ("S1-SIGMA0-VV", "S1-SIGMA0-VH")},
        coords={"t": [np.datetime64("2023-04-03")], "y": [1.0, 0.0], "x": [0.0, 1.0]},
    )
    s1 = fdl.open_s1(ds)
    v = s1["VV"].values[0]
    np.testing.assert_allclose(v[0, 0], 20 * np.log10(3928) - 83, rtol=1e-6)
    np.testing.assert_allclose(v[1, 1], 20 * np.log10(12000) - 83, rtol=1e-6)
    assert np.isnan(v[0, 1]) and np.isnan(v[1, 0])


def test_open_s1_sorts_time_and_handles_duplicates():
    raw = _s1_raw().isel(t=[2, 0, 1, 3])
    s1 = fdl.open_s1(raw)
    assert pd.DatetimeIndex(s1.time.values).is_monotonic_increasing
    dup = xr.concat([_s1_raw(), _s1_raw().isel(t=[1])], dim="t")
    with pytest.raises(fdl.errors.DuplicateTimeError, match="duplicates"):
        fdl.open_s1(dup)
    assert fdl.open_s1(dup, duplicates="first").sizes["time"] == 4


def test_open_s1_errors_say_expected_and_found(tmp_path):
    with pytest.raises(fdl.errors.MissingVariableError, match=r"missing \['VH'\].*found \['VV'\]"):
        fdl.open_s1(_s1_raw().drop_vars("VH"))
    with pytest.raises(fdl.errors.DimensionError, match="time dimension"):
        fdl.open_s1(_s1_raw().isel(t=0, drop=True))
    with pytest.raises(fdl.errors.SourceError, match="found no"):
        fdl.open_s1(tmp_path / "missing.nc")
    bad = _s1_raw()
    bad["VV"] = bad["VV"].astype(np.int32)
    bad["VH"] = bad["VH"].astype(np.int32)
    with pytest.raises(fdl.errors.EncodingError, match="without a scale_factor"):
        fdl.open_s1(bad)
    assert issubclass(fdl.errors.MissingVariableError, fdl.errors.FusionError)


def test_open_s1_chunks_are_lazy_with_time_as_one_chunk(tmp_path):
    raw = _s1_raw(nt=6, ny=8, nx=8)
    path = tmp_path / "s1.nc"
    raw.to_netcdf(path)
    with raise_if_dask_computes():
        s1 = fdl.open_s1(path, chunks={"y": 4, "x": 4}, units="dB")
    assert s1["VV"].chunks == ((6,), (4, 4), (4, 4))
    np.testing.assert_allclose(s1["VV"].values, raw["VV"].values)


def test_open_s1_zarr_and_subsetting(tmp_path):
    raw = _s1_raw(nt=6, ny=8, nx=8)
    store = tmp_path / "s1.zarr"
    raw.to_zarr(store)
    s1 = fdl.open_s1(store, time_range=("2021-03-07", "2021-03-19"), bbox=(299995, 4900, 300045, 5010))
    assert s1.sizes["time"] == 3
    assert s1.sizes["x"] == 3


def test_open_geotiff_folder_by_band_descriptions(tmp_path):
    raw = _s1_raw(nt=3, ny=4, nx=5).rename(t="time")
    for i, t in enumerate(raw.time.values):
        day = raw.isel(time=i)
        stack = xr.concat([day["VV"], day["VH"]], dim="band").assign_coords(band=[1, 2])
        stack.attrs["long_name"] = ("VV", "VH")
        stack = stack.rio.write_crs("EPSG:32631")
        stack.rio.to_raster(tmp_path / f"S1_{pd.Timestamp(t):%Y%m%d}.tif")
    s1 = fdl.open_s1(tmp_path)
    assert s1.sizes == {"time": 3, "y": 4, "x": 5}
    np.testing.assert_allclose(s1["VH"].values, raw["VH"].values, rtol=1e-6)
    assert s1.rio.crs.to_epsg() == 32631


def test_open_geotiff_single_band_names_from_file_names(tmp_path):
    raw = _s1_raw(nt=2, ny=3, nx=3).rename(t="time")
    files = []
    for i, t in enumerate(raw.time.values):
        for b in ("VV", "VH"):
            da = raw[b].isel(time=i).expand_dims(band=[1]).rio.write_crs("EPSG:32631")
            p = tmp_path / f"{b}_{pd.Timestamp(t):%Y-%m-%d}.tif"
            da.rio.to_raster(p)
            files.append(p)
    s1 = fdl.open_s1(files)
    np.testing.assert_allclose(s1["VV"].values, raw["VV"].values, rtol=1e-6)
    with pytest.raises(fdl.errors.SourceError, match="expected a date"):
        (tmp_path / "nodate").mkdir()
        raw["VV"].isel(time=0).expand_dims(band=[1]).rio.write_crs("EPSG:32631").rio.to_raster(tmp_path / "nodate" / "VV.tif")
        fdl.open_s1(tmp_path / "nodate")


def _s2_raw(nt=3, ny=4, nx=4):
    rng = np.random.default_rng(3)
    t = pd.date_range("2021-03-02", periods=nt, freq="5D")
    red = rng.integers(200, 900, (nt, ny, nx)).astype(np.uint16)
    nir = rng.integers(2000, 4000, (nt, ny, nx)).astype(np.uint16)
    scl = rng.choice([4, 5, 8, 9, 3], (nt, ny, nx)).astype(np.uint8)
    red[0, 0, 0] = 0
    return xr.Dataset(
        {
            "B04": (("t", "y", "x"), red, {"scale_factor": 1e-4, "_FillValue": 0}),
            "B08": (("t", "y", "x"), nir, {"scale_factor": 1e-4, "_FillValue": 0}),
            "SCL": (("t", "y", "x"), scl, {"_FillValue": 0}),
        },
        coords={"t": t, "y": 5000.0 - 10 * np.arange(ny), "x": 300000.0 + 10 * np.arange(nx)},
        attrs={"epsg": 32631},
    )


def test_open_s2_ndvi_and_clear_by_hand():
    raw = _s2_raw()
    s2 = fdl.open_s2(raw)
    r = raw["B04"].values.astype(float)
    n = raw["B08"].values.astype(float)
    expected = (n - r) / (n + r)
    expected[0, 0, 0] = np.nan
    np.testing.assert_allclose(s2["NDVI"].values, expected, rtol=1e-5)
    np.testing.assert_array_equal(s2["clear"].values, np.isin(raw["SCL"].values, [4, 5]) & np.isfinite(expected))
    assert s2["clear"].dtype == bool and s2["NDVI"].dtype == np.float32


def test_open_s2_custom_clear_classes_and_missing_bands():
    raw = _s2_raw()
    s2 = fdl.open_s2(raw, clear_classes=[4])
    assert not (s2["clear"].values & (raw["SCL"].values == 5)).any()
    with pytest.raises(fdl.errors.MissingVariableError, match="B04 and B08"):
        fdl.open_s2(raw.drop_vars("B08"))


def test_open_s2_merges_resolutions_onto_finest_grid():
    fine = _s2_raw(ny=4, nx=4).drop_vars("SCL")
    coarse_scl = np.array([[[4, 9], [5, 3]]] * 3, dtype=np.uint8)
    coarse = xr.Dataset(
        {"SCL": (("t", "y", "x"), coarse_scl)},
        coords={"t": fine.t, "y": 5000.0 - 5 - 20 * np.arange(2) + 0.0, "x": 300000.0 + 5 + 20 * np.arange(2)},
        attrs={"epsg": 32631},
    )
    # fine pixel centres 5000, 4990 lie in the coarse pixel centred at 4995
    s2 = fdl.open_s2([fine, coarse])
    assert s2.sizes == {"time": 3, "y": 4, "x": 4}
    np.testing.assert_array_equal(s2["SCL"].values[0], np.repeat(np.repeat(coarse_scl[0], 2, 0), 2, 1))


def test_open_s2_laziness(tmp_path):
    raw = _s2_raw(nt=4, ny=8, nx=8)
    path = tmp_path / "s2.nc"
    raw.to_netcdf(path)
    with raise_if_dask_computes():
        s2 = fdl.open_s2(path, chunks={"y": 4, "x": 4})
    assert s2["NDVI"].chunks is not None
    eager = fdl.open_s2(path)
    np.testing.assert_allclose(s2["NDVI"].values, eager["NDVI"].values)


def test_open_cube_validates(tmp_path):
    with pytest.raises(fdl.errors.DimensionError, match="expected dims"):
        fdl.open_cube(xr.Dataset({"VV": ("time", [1.0]), "VH": ("time", [1.0])}))
    s1 = fdl.open_s1(_s1_raw())
    path = tmp_path / "cube.nc"
    s1.to_netcdf(path)
    cube = fdl.open_cube(path, chunks={"y": 2})
    assert cube["VV"].chunks[0] == (4,)
