"""open_cube: validation and chunks."""

from __future__ import annotations

import pytest
import xarray as xr

import fusets_dl as fdl
from tests.readers.helpers import s1_raw


def test_open_cube_validates(tmp_path):
    with pytest.raises(fdl.errors.DimensionError, match="expected dims"):
        fdl.open_cube(xr.Dataset({"VV": ("time", [1.0]), "VH": ("time", [1.0])}))
    s1 = fdl.open_s1(s1_raw())
    path = tmp_path / "cube.nc"
    s1.to_netcdf(path)
    cube = fdl.open_cube(path, chunks={"y": 2})
    assert cube["VV"].chunks[0] == (4,)
