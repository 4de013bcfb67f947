"""stackstac's upper-left corner labels (xy_coords="topleft") moved to pixel centres, judged from attrs["transform"]."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from affine import Affine

import fusets_dl as fdl

T = pd.DatetimeIndex(["2021-06-01T10:30", "2021-06-13T10:30"])
# pixel centres of the truth: 10 m S2 and 20 m S1 grids, both with their upper-left corner at (600000, 5600000)
X10, Y10 = 600005.0 + 10 * np.arange(8), 5599995.0 - 10 * np.arange(8)
X20, Y20 = 600010.0 + 20 * np.arange(4), 5599990.0 - 20 * np.arange(4)


def _field(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """NDVI linear in metres (0.002 per 10 m east, -0.001 per 10 m north): a misplaced pixel shows as a number."""
    xx, yy = np.meshgrid(x, y)
    return 0.5 + 2e-4 * (xx - 600000) - 1e-4 * (yy - 5600000)


def _s2_stack(xy: str = "topleft") -> xr.DataArray:
    """An S2 array as stackstac.stack makes it: (time, band, y, x) reflectance, the affine in attrs['transform']."""
    nd = _field(X10, Y10)
    red = np.full_like(nd, 0.05)
    data = np.stack([red, red * (1 + nd) / (1 - nd), np.full_like(nd, 4.0)])
    shift = 0.0 if xy == "center" else 5.0
    return xr.DataArray(
        np.repeat(data[None], T.size, 0), dims=("time", "band", "y", "x"), name="stackstac-s2",
        coords={"time": T, "band": ["B04", "B08", "SCL"], "x": X10 - shift, "y": Y10 + shift, "epsg": 32631},
        attrs={"spec": "RasterSpec(...)", "crs": "epsg:32631", "transform": Affine(10, 0, 600000, 0, -10, 5600000), "resolution": 10},
    )


def _s1_stack() -> xr.DataArray:
    vv = np.full((T.size, 4, 4), -12.0)
    return xr.DataArray(
        np.stack([vv, vv - 6], axis=1), dims=("time", "band", "y", "x"), name="stackstac-s1",
        coords={"time": T + pd.Timedelta("7h"), "band": ["vv", "vh"], "x": X20 - 10, "y": Y20 + 10, "epsg": 32631},
        attrs={"crs": "epsg:32631", "transform": Affine(20, 0, 600000, 0, -20, 5600000), "resolution": 20},
    )


def _s2_file() -> xr.Dataset:
    """The same S2 scene labelled by pixel centres, as a file or odc-stac gives it."""
    da = _s2_stack("center")
    ds = da.to_dataset("band").drop_vars("epsg")
    ds.attrs = {}
    for v in ds.data_vars:
        ds[v].attrs = {}
    return ds.rio.write_crs("EPSG:32631")


def test_topleft_labels_are_moved_to_pixel_centres_with_a_log_line(caplog):
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s2 = fdl.open_s2(_s2_stack())
    # before: x from 600000 and y from 5600000, the corners read as centres (half a pixel west and north)
    np.testing.assert_array_equal(s2["x"].values, X10)
    np.testing.assert_array_equal(s2["y"].values, Y10)
    np.testing.assert_allclose(s2["NDVI"].values[0], _field(X10, Y10), atol=1e-6)
    assert any("upper-left corners" in r.getMessage() and "(+5, -5)" in r.getMessage() for r in caplog.records)


def test_centre_labels_and_arrays_without_transform_stay_as_they_are(caplog):
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        centred = fdl.open_s2(_s2_stack("center"))  # stackstac xy_coords="center": x[0] == c + a / 2
    np.testing.assert_array_equal(centred["x"].values, X10)
    np.testing.assert_array_equal(centred["y"].values, Y10)
    assert not any("upper-left corners" in r.getMessage() for r in caplog.records)
    bare = _s2_stack()
    del bare.attrs["transform"]  # no way to tell: the labels are taken for centres
    np.testing.assert_array_equal(fdl.open_s2(bare)["x"].values, X10 - 5)


def test_a_subset_and_a_dataset_of_bands_are_judged_too():
    sub = fdl.open_s2(_s2_stack().isel(x=slice(3, None), y=slice(2, 6)))  # the transform still that of the whole stack
    np.testing.assert_array_equal(sub["x"].values, X10[3:])
    np.testing.assert_array_equal(sub["y"].values, Y10[2:6])
    flipped = fdl.open_s2(_s2_stack().sortby("y"))  # y ascending: still the upper edges of the pixels
    np.testing.assert_array_equal(np.sort(flipped["y"].values), np.sort(Y10))
    ds = _s2_stack().to_dataset("band")  # stackstac.stack(...).to_dataset("band"): the transform in the Dataset's attrs
    assert "transform" in ds.attrs
    np.testing.assert_array_equal(fdl.open_s2(ds)["x"].values, X10)


def test_labels_the_transform_does_not_describe_are_kept_with_a_warning():
    coarse = _s2_stack().coarsen(x=2, y=2).mean()  # 20 m labels against a 10 m transform: stale
    coarse.attrs = _s2_stack().attrs
    with pytest.warns(UserWarning, match=r"spaced otherwise than the pixel size.*xy_coords='center'"):
        s2 = fdl.open_s2(coarse)
    np.testing.assert_array_equal(s2["x"].values, coarse["x"].values)


@pytest.mark.parametrize("both", [True, False])
def test_aligned_ndvi_sits_on_the_true_pixels(both):
    s1 = fdl.open_s1(_s1_stack(), units="dB")
    s2 = fdl.open_s2(_s2_stack() if both else _s2_file())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cube = fdl.align(s1, s2)
    # before: mean NDVI - truth -0.0015 (both from stackstac) and -0.0030 (S1 stackstac, S2 a file), georeferenced 10 m off
    np.testing.assert_array_equal(cube["x"].values, X20)
    np.testing.assert_allclose(cube["NDVI"].values[0], _field(X20, Y20), atol=1e-5)
    assert tuple(cube.rio.transform())[:6] == (20.0, 0.0, 600000.0, 0.0, -20.0, 5600000.0)
