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


@pytest.mark.parametrize(
    ("make", "found"),
    [
        (lambda p: (p / "model.json").write_text('{"config": {}}') and p / "model.json", "found a JSON file"),
        (lambda p: (p / "scene").mkdir() or p / "scene", "found a folder without Zarr metadata"),
        (lambda p: (p / "notes.txt").write_text("hello") and p / "notes.txt", "found a file that is neither"),
        (lambda p: (p / "empty.nc").write_bytes(b"") or p / "empty.nc", "found an empty file"),
    ],
)
def test_open_cube_on_the_wrong_kind_of_input_says_what_it_found(tmp_path, make, found):
    from fusets_dl.errors import SourceError

    path = make(tmp_path)
    with pytest.raises(SourceError, match=f"fusion cube '.*': expected a netCDF file or a Zarr store, {found}"):
        fdl.open_cube(path)


def test_open_cube_on_a_corrupt_netcdf_is_a_source_error(tmp_path):
    from fusets_dl.errors import SourceError
    from fusets_dl.readers.cube import store_kind

    bad = tmp_path / "cut.nc"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)  # an HDF5 signature, then nothing readable
    assert store_kind(bad) == "netcdf"
    with pytest.raises(SourceError, match=r"expected a readable netCDF file, found one that cannot be opened"):
        fdl.open_cube(bad)
