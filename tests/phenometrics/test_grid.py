"""A class map matched to the NDVI grid by coordinates: reordered, or refused naming sizes and ranges."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fusets_dl.errors import DimensionError
from fusets_dl.phenometrics.grid import align_class_map


def _like():
    return xr.DataArray(np.zeros((3, 4)), dims=("y", "x"), coords={"y": [40.0, 20.0, 0.0], "x": [0.0, 20.0, 40.0, 60.0]})


def test_reorders_transposes_and_takes_the_grid_coordinates():
    like = _like()
    cls = xr.DataArray(np.arange(12).reshape(3, 4), dims=("y", "x"), coords=like.coords)
    other = cls.sortby("y").transpose("x", "y").assign_coords(x=cls.x.values + 1e-6)
    out = align_class_map(other, like, ["y", "x"], "test")
    xr.testing.assert_identical(out, cls)


def test_without_coordinates_the_sizes_must_match():
    like = _like()
    out = align_class_map(xr.DataArray(np.ones((3, 4)), dims=("y", "x")), like, ["y", "x"], "test")
    np.testing.assert_array_equal(out["x"].values, like["x"].values)
    with pytest.raises(DimensionError, match=r"test: expected the class map on the grid of the NDVI, 'x': size 4, 0.0 .. 60.0; found 'x': size 3 \(no coordinate\)"):
        align_class_map(xr.DataArray(np.ones((3, 3)), dims=("y", "x")), like, ["y", "x"], "test")


def test_other_dims_or_a_shifted_grid_are_refused():
    like = _like()
    with pytest.raises(DimensionError, match=r"expected classes on the pixel dimensions \('y', 'x'\), found \('x',\)"):
        align_class_map(xr.DataArray(np.ones(4), dims="x"), like, ["y", "x"], "test")
    shifted = xr.DataArray(np.ones((3, 4)), dims=("y", "x"), coords={"y": like.y, "x": like.x + 5.0})
    with pytest.raises(DimensionError, match=r"'x': size 4, 0.0 .. 60.0; found 'x': size 4, 5.0 .. 65.0"):
        align_class_map(shifted, like, ["y", "x"], "test")
