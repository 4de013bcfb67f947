"""Multi-band stacks (readers.stacked): stackstac/rioxarray arrays with a band dimension, GEE/SNAP dated band names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.readers.conventions import split_dated_name
from fusets_dl.testing import raise_if_dask_computes

T = pd.DatetimeIndex(["2022-01-10", "2022-01-30", "2022-02-19"])
Y = 5000.0 - 10 * np.arange(6)
X = 300000.0 + 10 * np.arange(5)


def _stackstac(names=("red", "nir", "scl"), baselines=("03.01", "04.00", "05.09"), offset=True):
    """A stackstac-like array: (time, band, y, x) float64 DN with NaN fill, per-time and per-band coordinates."""
    rng = np.random.default_rng(5)
    red = rng.integers(300, 900, (3, 6, 5)).astype(float)
    nir = rng.integers(2500, 4500, (3, 6, 5)).astype(float)
    scl = rng.choice([4, 5, 8], (3, 6, 5)).astype(float)
    red[2, 0, 0] = np.nan
    add = np.array([1000.0 if float(b) >= 4 else 0.0 for b in baselines])[:, None, None] if offset else 0.0
    data = np.stack([red + add, nir + add, scl], axis=1)
    da = xr.DataArray(
        data, dims=("time", "band", "y", "x"), name="stackstac-4be1",
        coords={"time": T, "band": list(names), "y": Y, "x": X, "s2:processing_baseline": ("time", list(baselines)),
                "eo:cloud_cover": ("time", [1.0, 5.0, 3.0]), "title": ("band", ["Red", "NIR", "Scene classification"]),
                "common_name": ("band", ["red", "nir", None]), "epsg": 32631},
        attrs={"spec": "RasterSpec(...)", "crs": "epsg:32631", "transform": (10, 0, 0, 0, -10, 0), "resolution": 10},
    )
    return da, red, nir, scl


def test_stackstac_dataarray_is_read_per_band_and_harmonised_per_date():
    da, red, nir, scl = _stackstac()
    s2 = fdl.open_s2(da)
    expected = (nir - red) / (nir + red)
    np.testing.assert_allclose(s2["NDVI"].values, expected, atol=1e-6, rtol=0)
    np.testing.assert_array_equal(s2["clear"].values, np.isin(scl, [4, 5]) & np.isfinite(expected))
    assert s2.rio.crs.to_epsg() == 32631
    assert s2.attrs["source"] == "<DataArray stackstac-4be1>"


def test_stackstac_dataarray_stays_lazy_and_its_error_path_is_fast():
    da, red, nir, _ = _stackstac()
    # one read of the per-time coordinates (chunked with the array), one small DN-or-reflectance sample per float band,
    # and the sample of clear red that judges the offset
    with raise_if_dask_computes(max_computes=4):
        s2 = fdl.open_s2(da.chunk({"time": 1, "band": 1, "y": 3}), chunks={"y": 3})
    assert s2["NDVI"].chunks is not None
    np.testing.assert_allclose(s2["NDVI"].values, (nir - red) / (nir + red), atol=1e-6)
    big = xr.DataArray(
        np.zeros((20, 2, 128, 128), np.float32), dims=("time", "band", "y", "x"),
        coords={"time": pd.date_range("2022-01-01", periods=20), "band": ["foo", "bar"], "y": np.arange(128.0), "x": np.arange(128.0)},
    ).chunk({"time": 1, "band": 1})
    # the error path computes nothing (it described every element before: minutes on this array)
    with raise_if_dask_computes(), pytest.raises(fdl.errors.MissingVariableError, match=r"expected backscatter bands VV and VH.*found \['bar', 'foo'\]"):
        fdl.open_s1(big)


def test_s1_stack_with_band_dimension():
    vv = np.full((3, 6, 5), 0.1, np.float32)
    da = xr.DataArray(np.stack([vv, vv / 10], axis=1), dims=("time", "band", "y", "x"),
                      coords={"time": T, "band": ["vv", "vh"], "y": Y, "x": X}, attrs={"crs": "EPSG:32631"})
    s1 = fdl.open_s1(da)
    np.testing.assert_allclose(s1["VV"].values, -10.0, rtol=1e-6)
    np.testing.assert_allclose(s1["VH"].values, -20.0, rtol=1e-6)


def _gee(names, values):
    """A rioxarray-like (band, y, x) array of a GEE export: numbered bands, names in long_name."""
    return xr.DataArray(np.stack(values), dims=("band", "y", "x"), coords={"band": np.arange(1, len(names) + 1), "y": Y, "x": X},
                        attrs={"long_name": tuple(names)}).rio.write_crs("EPSG:32631")


def test_gee_multiband_stack_with_dated_band_names():
    names = ["20210105_VV", "20210105_VH", "20210117_VV", "20210117_VH"]
    vals = [np.full((6, 5), v, np.float32) for v in (-8.0, -14.0, -9.0, -15.0)]
    s1 = fdl.open_s1(_gee(names, vals))
    assert list(pd.DatetimeIndex(s1["time"].values)) == [pd.Timestamp("2021-01-05"), pd.Timestamp("2021-01-17")]
    np.testing.assert_allclose(s1["VV"].values[:, 0, 0], [-8.0, -9.0])
    np.testing.assert_allclose(s1["VH"].values[:, 0, 0], [-14.0, -15.0])


def test_gee_geotiff_without_a_date_in_its_name(tmp_path):
    names = ["VV_20210105", "VH_20210105", "VV_20210117", "VH_20210117"]
    vals = [np.full((6, 5), v, np.float32) for v in (0.1, 0.01, 0.2, 0.02)]
    path = tmp_path / "export.tif"
    _gee(names, vals).rio.to_raster(path)
    import rasterio

    with rasterio.open(path, "r+") as dst:
        for i, n in enumerate(names, start=1):
            dst.set_band_description(i, n)
    s1 = fdl.open_s1(path)
    assert s1.sizes["time"] == 2
    np.testing.assert_allclose(s1["VV"].values[:, 2, 2], [-10.0, 10 * np.log10(0.2)], rtol=1e-5)
    np.testing.assert_allclose(s1["VH"].values[:, 2, 2], [-20.0, 10 * np.log10(0.02)], rtol=1e-5)


def test_dated_s2_names_in_a_dataset_and_a_missing_band_date():
    rng = np.random.default_rng(2)
    red = rng.uniform(0.03, 0.08, (2, 6, 5)).astype(np.float32)
    nir = rng.uniform(0.25, 0.4, (2, 6, 5)).astype(np.float32)
    ds = xr.Dataset(
        {"B4_2021-06-01": (("y", "x"), red[0]), "B8_2021-06-01": (("y", "x"), nir[0]),
         "20210611T105031_20210611T105026_T31UFS_B4": (("y", "x"), red[1]),
         "20210611T105031_20210611T105026_T31UFS_B8": (("y", "x"), nir[1]),
         "B8_2021-06-21": (("y", "x"), nir[1])},
        coords={"y": Y, "x": X}, attrs={"epsg": 32631},
    )
    s2 = fdl.open_s2(ds)
    assert list(pd.DatetimeIndex(s2["time"].values).strftime("%m-%d")) == ["06-01", "06-11", "06-21"]
    np.testing.assert_allclose(s2["NDVI"].values[:2], (nir - red) / (nir + red), atol=1e-6)
    assert np.isnan(s2["NDVI"].values[2]).all()  # no red on 06-21


def test_unknown_names_are_refused_with_what_was_found_and_how_to_rename():
    ds = xr.Dataset({"20210105_VV": (("y", "x"), np.zeros((6, 5))), "20210105_VH": (("y", "x"), np.zeros((6, 5))),
                     "angle": (("y", "x"), np.zeros((6, 5)))}, coords={"y": Y, "x": X})
    with pytest.raises(fdl.errors.DimensionError, match=r"2 are, these are not: \['angle'\].*ds.rename\(\{'angle': '20210105_VV'\}\).*CONVENTIONS"):
        fdl.open_s1(ds)
    dup = xr.Dataset({"20210105_VV": (("y", "x"), np.zeros((6, 5))), "VV_2021-01-05": (("y", "x"), np.zeros((6, 5)))}, coords={"y": Y, "x": X})
    with pytest.raises(fdl.errors.DimensionError, match="VV on 2021-01-05 appears twice"):
        fdl.open_s1(dup)
    numbered = xr.DataArray(np.zeros((2, 6, 5)), dims=("band", "y", "x"), coords={"band": [1, 2], "y": Y, "x": X})
    with pytest.raises(fdl.errors.SourceError, match=r"expected band names along 'band'.*found band numbers \['1', '2'\]"):
        fdl.open_s1(numbered)


@pytest.mark.parametrize(
    ("name", "band", "date"),
    [("20210105_VV", "VV", "2021-01-05"), ("VH_20210105", "VH", "2021-01-05"), ("B4_2021-01-05", "B04", "2021-01-05"),
     ("2021-01-05_B8A", "B8A", "2021-01-05"), ("Sigma0_VV_mst_05Jan2021", "VV", "2021-01-05"),
     ("Sigma0_VH_db_slv2_17Jan2021", "VH", "2021-01-17"), ("Gamma0_VV_20210105", "VV", "2021-01-05"),
     ("S1A_IW_GRDH_1SDV_20210105T054112_20210105T054137_035986_0437C2_5B2F_VV", "VV", "2021-01-05T05:41:12"),
     ("20210105T105431_20210105T105426_T31UFS_SCL", "SCL", "2021-01-05T10:54:31"), ("NDVI_20210105", "NDVI", "2021-01-05"),
     # GEE COPERNICUS/S1_GRD toBands(): the per-pixel incidence angle band
     ("S1A_IW_GRDH_1SDV_20210105T054112_20210105T054137_035986_0437C2_5B2F_angle", "angle", "2021-01-05T05:41:12")],
)
def test_split_dated_name(name, band, date):
    assert split_dated_name(name) == (band, pd.Timestamp(date).to_pydatetime())


@pytest.mark.parametrize("name", ["VV", "20210105_foo", "20211305_VV", "B04", "azimuth_20210105_x"])
def test_split_dated_name_refuses_what_it_cannot_read(name):
    assert split_dated_name(name) is None


def _gee_stack(path, ids_and_shifts, nodata_rows=None):
    """A GEE COPERNICUS/S1_GRD toBands() export: bands '<system:index>_VV' / '_VH' with descriptions, -9999 nodata."""
    import rasterio
    from rasterio.transform import from_origin

    names, bands = [], []
    for k, (sid, shift) in enumerate(ids_and_shifts):
        vv = np.full((6, 5), -11.0 + shift, np.float32)
        if nodata_rows is not None:
            vv[nodata_rows[k]] = -9999.0
        vh = np.where(vv == -9999.0, -9999.0, vv - 7.0).astype(np.float32)
        names += [f"{sid}_VV", f"{sid}_VH"]
        bands += [vv, vh]
    with rasterio.open(path, "w", driver="GTiff", height=6, width=5, count=len(bands), dtype="float32", crs="EPSG:32631",
                       transform=from_origin(600000.0, 5600000.0, 10.0, 10.0), nodata=-9999.0) as dst:
        for i, (n, b) in enumerate(zip(names, bands, strict=True), 1):
            dst.write(b, i)
            dst.set_band_description(i, n)
    return path


_ID = "S1A_IW_GRDH_1SDV_{}_{}_038220_0482A4_{}"


def test_a_gee_stack_keeps_the_acquisition_times_and_both_passes_of_a_day(tmp_path):
    """Before: every pass at 00:00 (orbit groups merged), and two passes on one day refused: 'band VV on 2021-06-05 appears twice'."""
    path = _gee_stack(tmp_path / "s1_stack.tif", [(_ID.format("20210605T054112", "20210605T054137", "1A2B"), 0.0),
                                                  (_ID.format("20210605T172530", "20210605T172555", "3C4D"), 1.0),
                                                  (_ID.format("20210611T054112", "20210611T054137", "5E6F"), 0.5)])
    s1 = fdl.open_s1(path)
    assert [str(t)[:19] for t in s1.time.values] == ["2021-06-05T05:41:12", "2021-06-05T17:25:30", "2021-06-11T05:41:12"]
    np.testing.assert_allclose(s1["VV"].values[:, 0, 0], [-11.0, -10.0, -10.5])


def test_two_slices_of_one_pass_in_a_gee_stack_are_merged(tmp_path):
    """A field on a GRD frame border is in two images of each pass, 25 s apart. Before: 'appears twice'."""
    top, bottom = (slice(3, 6), slice(None)), (slice(0, 3), slice(None))
    path = _gee_stack(tmp_path / "s1_stack.tif", [(_ID.format("20210605T054047", "20210605T054112", "AAAA"), 0.0),
                                                  (_ID.format("20210605T054112", "20210605T054137", "BBBB"), 0.0)],
                      nodata_rows=[top, bottom])
    s1 = fdl.open_s1(path)
    assert s1.sizes["time"] == 1 and str(s1.time.values[0])[:19] == "2021-06-05T05:40:47"
    assert np.isfinite(s1["VV"].values).all()


def test_a_gee_stack_with_a_date_range_in_its_file_name_is_read_as_a_stack(tmp_path):
    """Before: read as one date from the file name: MissingVariableError listing the dated band names."""
    path = _gee_stack(tmp_path / "S1_20210601_20210630.tif", [(_ID.format("20210605T054112", "20210605T054137", "1A2B"), 0.0),
                                                              (_ID.format("20210611T054112", "20210611T054137", "5E6F"), 0.5)])
    s1 = fdl.open_s1(path)
    assert [str(t)[:19] for t in s1.time.values] == ["2021-06-05T05:41:12", "2021-06-11T05:41:12"]
