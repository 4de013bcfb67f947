"""open_terrain: a DEM as users have it (rioxarray's band, nodata, CF packing, units, names, dims, CRS) into static layers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusets_dl.errors import ConfigError, DimensionError, MissingVariableError
from fusets_dl.readers.terrain import FLAT_ASPECT, open_terrain
from fusets_dl.testing import raise_if_dask_computes

CRS = "EPSG:32631"
Y = 5600000.0 - 10.0 * (np.arange(4) + 0.5)
X = 500000.0 + 10.0 * (np.arange(5) + 0.5)


def _layer(values, name=None, attrs=None, dims=("y", "x"), coords=None):
    coords = coords if coords is not None else {"y": Y, "x": X}
    return xr.DataArray(np.asarray(values), dims=dims, coords=coords, name=name, attrs=attrs or {})


def test_a_dem_as_rioxarray_opens_it_is_decoded():
    # open_rasterio without masked=True: (band=1, y, x) int16, _FillValue, scale_factor/add_offset, no name
    raw = np.full((1, 4, 5), 1500, np.int16)
    raw[0, 1, 2] = -32768
    da = _layer(raw, dims=("band", "y", "x"), coords={"band": [1], "y": Y, "x": X},
                attrs={"_FillValue": -32768, "scale_factor": 0.1, "add_offset": 100.0, "units": "m"}).rio.write_crs(CRS)
    out = open_terrain(da)
    elev = out["elevation"]
    assert elev.dims == ("y", "x") and elev.dtype == np.float32
    assert np.isnan(elev.values[1, 2]) and np.isnan(elev.values).sum() == 1
    np.testing.assert_allclose(elev.values[0, 0], 250.0)  # 1500 x 0.1 + 100 (was 1500: the packing was not applied)
    assert not {"scale_factor", "add_offset", "_FillValue"} & set(elev.attrs) and elev.attrs["units"] == "m"
    assert out.rio.crs.to_epsg() == 32631


@pytest.mark.parametrize(("name", "units", "value", "want"), [
    ("elevation", "ft", 1000.0, 304.8),
    ("elevation", "km", 0.25, 250.0),
    ("elevation", "metres", 250.0, 250.0),
    ("slope", "percent", 100.0, 45.0),
    ("slope", "%", 100.0, 45.0),
    ("slope", "rad", np.pi / 6, 30.0),
    ("slope", "1", 1.0, 45.0),
    ("aspect", "radians", np.pi, 180.0),
    ("aspect", "degree", 270.0, 270.0),
])
def test_units_are_converted_to_metres_and_degrees(name, units, value, want):
    out = open_terrain(xr.Dataset({name: _layer(np.full((4, 5), value), attrs={"units": units})}))
    np.testing.assert_allclose(out[name].values, want, rtol=1e-6)
    assert out[name].attrs["units"] == ("m" if name == "elevation" else "degree")


def test_unknown_units_are_refused():
    with pytest.raises(ConfigError, match=r"terrain: 'slope': expected units degrees, percent, radians or a ratio .*found "
                                          r"units='gradians'"):
        open_terrain(xr.Dataset({"slope": _layer(np.ones((4, 5)), attrs={"units": "gradians"})}))


@pytest.mark.parametrize("name", ["DEM", "dem", "DTM", "height", "band_data"])
def test_dem_names_are_read_as_elevation(name):
    out = open_terrain(xr.Dataset({name: _layer(np.full((4, 5), 80.0))}))
    assert list(out.data_vars) == ["elevation"]
    np.testing.assert_array_equal(out["elevation"].values, 80.0)


def test_no_terrain_layer_is_named_with_what_was_found():
    with pytest.raises(MissingVariableError, match=r"terrain: expected variables elevation, slope or aspect .*found \['hoehe'\]; "
                                                   r"rename the layer"):
        open_terrain(xr.Dataset({"hoehe": _layer(np.ones((4, 5)))}))
    with pytest.raises(ConfigError, match=r"expected an xarray Dataset of elevation/slope/aspect .*found dict"):
        open_terrain({"elevation": _layer(np.ones((4, 5)))})


def test_lat_lon_dims_time_repeats_and_extra_dims():
    lat = _layer(np.full((4, 5), 80.0), dims=("lat", "lon"), coords={"lat": np.linspace(51.01, 51.0, 4), "lon": np.linspace(3.0, 3.01, 5)})
    out = open_terrain(xr.Dataset({"elevation": lat}).rio.write_crs("EPSG:4326"))
    assert out["elevation"].dims == ("y", "x") and out.rio.crs.to_epsg() == 4326
    t = pd.date_range("2021-01-01", periods=3, freq="10D")
    rep = np.stack([np.full((4, 5), 80.0), np.full((4, 5), np.nan), np.full((4, 5), 80.0)])
    out = open_terrain(xr.Dataset({"elevation": _layer(rep, dims=("t", "y", "x"), coords={"t": t, "y": Y, "x": X})}))
    np.testing.assert_array_equal(out["elevation"].values, 80.0)  # a layer on every date (openEO): its mean
    two = _layer(np.ones((2, 4, 5)), dims=("band", "y", "x"), coords={"band": [1, 2], "y": Y, "x": X})
    with pytest.raises(DimensionError, match=r"terrain: expected 'elevation' on \(y, x\), found the extra dimension 'band' of "
                                             r"length 2 .*terrain.isel\(band=0\)"):
        open_terrain(xr.Dataset({"elevation": two}))


def test_a_crs_in_an_epsg_attribute_is_found():
    out = open_terrain(xr.Dataset({"elevation": _layer(np.ones((4, 5)))}, attrs={"epsg": 32631}))
    assert out.rio.crs.to_epsg() == 32631


def test_flat_aspect_conventions_become_the_flat_value():
    aspect = np.array([[-1.0, 0.0, 90.0, 0.0, 359.0]] * 4)
    slope = np.array([[0.0, 0.0, 0.0, 5.0, 5.0]] * 4)
    out = open_terrain(xr.Dataset({"aspect": _layer(aspect), "slope": _layer(slope)}))
    # -1 (richdem), 0 with slope 0 (gdaldem -zero_for_flat): flat; 90 on slope 0 kept (the features treat it as flat);
    # 0 on a slope: north
    np.testing.assert_array_equal(out["aspect"].values[0], [FLAT_ASPECT, FLAT_ASPECT, 90.0, 0.0, 359.0])


def test_implausible_values_are_warned():
    elev = np.full((4, 5), 120.0)
    elev[0, :2] = -32768  # voids, the nodata not declared
    with pytest.warns(UserWarning, match=r"terrain: 'elevation': 2 of 20 pixels lie outside -500 to 9000 \(found -32768 to "
                                         r"-32768\).*write_nodata"):
        open_terrain(xr.Dataset({"elevation": _layer(elev)}))
    with pytest.warns(UserWarning, match=r"'slope': median 89.9 degrees: steep nearly everywhere.*gdaldem slope without -s"):
        open_terrain(xr.Dataset({"slope": _layer(np.full((4, 5), 89.9))}))


def test_lazy_on_dask():
    raw = _layer(np.full((1, 4, 5), 1500, np.int16), dims=("band", "y", "x"), coords={"band": [1], "y": Y, "x": X},
                 attrs={"_FillValue": -32768, "scale_factor": 0.1, "units": "ft"}).chunk({"y": 2})
    with raise_if_dask_computes():
        out = open_terrain(raw)
    assert out["elevation"].chunks is not None
    np.testing.assert_allclose(out["elevation"].values, 150.0 * 0.3048, rtol=1e-6)
