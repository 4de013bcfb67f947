"""Coordinates, grid mapping and datetime encodings filled in by apply_cf and prepare_output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusets_dl.cf import CONVENTIONS, DATETIME_ENCODING, apply_cf, prepare_output, xy_attrs
from fusets_dl.testing import raise_if_dask_computes


def _gridded(crs: str | None = "EPSG:32631", chunked: bool = False) -> xr.Dataset:
    t = pd.date_range("2021-01-01", periods=3, freq="5D")
    ds = xr.Dataset(
        {
            "NDVI": (("time", "y", "x"), np.full((3, 2, 2), 0.5, np.float32)),
            "sos": (("y", "x"), np.array([["2021-05-01", "NaT"], ["2021-06-02", "2021-04-30"]], "datetime64[ns]")),
            "n": (("time",), np.arange(3)),
        },
        coords={"time": t, "y": [5.0, 4.0], "x": [1.0, 2.0], "orbit": ("time", [37, 110, 37])},
    )
    if crs is not None:
        ds = ds.rio.write_crs(crs)
    return ds.chunk() if chunked else ds


def test_xy_attrs_from_the_crs():
    from pyproj import CRS

    utm = xy_attrs(CRS.from_epsg(32631))
    assert utm["x"] == {"axis": "X", "long_name": "x coordinate of projection", "standard_name": "projection_x_coordinate", "units": "m"}
    assert utm["y"]["standard_name"] == "projection_y_coordinate" and utm["y"]["units"] == "m"
    geo = xy_attrs(CRS.from_epsg(4326))
    assert geo["x"]["standard_name"] == "longitude" and geo["x"]["units"] == "degrees_east"
    assert geo["y"]["standard_name"] == "latitude" and geo["y"]["units"] == "degrees_north"
    feet = xy_attrs(CRS.from_epsg(2227))  # California zone 3, US survey foot
    assert feet["x"]["units"] != "m"
    assert xy_attrs(None) == {"x": {"axis": "X", "long_name": "x coordinate"}, "y": {"axis": "Y", "long_name": "y coordinate"}}


def test_apply_cf_describes_coordinates_links_the_crs_and_encodes_dates_lazily():
    ds = _gridded(chunked=True)
    with raise_if_dask_computes():
        out = apply_cf(ds, "reconstruct")
    assert out["x"].attrs["standard_name"] == "projection_x_coordinate" and out["y"].attrs["axis"] == "Y"
    assert out["time"].attrs == {"long_name": "time", "standard_name": "time", "axis": "T"}
    assert out["orbit"].attrs["units"] == "1"
    assert out["NDVI"].encoding["grid_mapping"] == "spatial_ref" and out["sos"].encoding["grid_mapping"] == "spatial_ref"
    assert "grid_mapping" not in out["n"].encoding and "grid_mapping" not in out["n"].attrs  # not on the grid
    assert out["sos"].encoding["units"] == DATETIME_ENCODING["units"] and out["sos"].encoding["dtype"] == "float64"
    assert out.attrs["Conventions"] == CONVENTIONS
    # the input is left as it was
    assert ds["x"].attrs == {} and "Conventions" not in ds.attrs and "grid_mapping" not in ds["NDVI"].attrs


def test_coordinate_attributes_are_filled_in_never_replaced():
    ds = _gridded()
    ds["x"].attrs = {"units": "metre", "long_name": "easting"}
    ds.attrs["Conventions"] = "CF-1.6"
    out = apply_cf(ds, "cube", fill=True)
    assert out["x"].attrs["units"] == "metre" and out["x"].attrs["long_name"] == "easting"
    assert out["x"].attrs["axis"] == "X"
    assert out.attrs["Conventions"] == "CF-1.6"


def test_no_crs_gives_axes_only_and_no_grid_mapping():
    out = apply_cf(_gridded(crs=None), "cube")
    assert out["x"].attrs == {"axis": "X", "long_name": "x coordinate"}
    assert "grid_mapping" not in out["NDVI"].encoding and "spatial_ref" not in out.coords


def test_zarr_round_trip_keeps_spatial_ref_a_coordinate_and_dates_as_days(tmp_path):
    from fusets_dl.writers import to_zarr

    ds = _gridded()
    to_zarr(ds, tmp_path / "a.zarr")
    back = xr.open_zarr(tmp_path / "a.zarr")  # plain: no decode_coords="all"
    assert "spatial_ref" in back.coords and "spatial_ref" not in back.data_vars
    assert back.rio.crs.to_epsg() == 32631
    np.testing.assert_array_equal(back["sos"].values, ds["sos"].values)  # NaT survives
    import zarr

    raw = zarr.open_group(str(tmp_path / "a.zarr"), mode="r")
    assert raw["sos"].attrs["units"] == "seconds since 1970-01-01" and raw["sos"].dtype == np.float64
    assert raw.attrs["Conventions"] == CONVENTIONS


def test_cf_xarray_finds_the_axes(tmp_path):
    pytest.importorskip("cf_xarray", reason="cf_xarray not installed (it is in the test extra)")
    from fusets_dl.writers import to_zarr

    to_zarr(_gridded(), tmp_path / "a.zarr")
    back = xr.open_zarr(tmp_path / "a.zarr")
    axes = back.cf.axes
    assert axes["X"] == ["x"] and axes["Y"] == ["y"] and axes["T"] == ["time"]
    assert back.cf["projection_x_coordinate"].name == "x"
    assert back.cf.grid_mapping_names == {"transverse_mercator": ["spatial_ref"]}


def test_netcdf_preparation_references_the_crs_by_grid_mapping_only(tmp_path):
    out = prepare_output(_gridded(), netcdf=True)
    assert out["NDVI"].encoding["grid_mapping"] == "spatial_ref" and "grid_mapping" not in out["NDVI"].attrs
    out.to_netcdf(tmp_path / "a.nc")
    import netCDF4

    with netCDF4.Dataset(tmp_path / "a.nc") as nc:
        assert nc.variables["NDVI"].grid_mapping == "spatial_ref"
        assert "spatial_ref" not in getattr(nc.variables["NDVI"], "coordinates", "")
        assert nc.variables["sos"].units == "seconds since 1970-01-01"
    back = xr.open_dataset(tmp_path / "a.nc", decode_coords="all")
    assert "spatial_ref" in back.coords
