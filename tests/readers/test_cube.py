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


def test_a_few_values_that_are_not_ndvi_are_masked_with_a_warning(small_scene):
    """Up to 1 % of NDVI outside [-1, 1] (undeclared -9999 nodata) passed the range check and were used: training targets
    (test RMSE 500) and 'observed' values clipped to -1 in a reconstruction. They are now missing, with a warning."""
    import numpy as np

    from fusets_dl.readers.cube import check_cube_values
    from fusets_dl.testing import raise_if_dask_computes

    s1, s2, _ = small_scene
    cube = fdl.align(fdl.open_s1(s1, units="dB"), fdl.open_s2(s2)).load()
    nd = cube["NDVI"].values.copy()
    finite = np.argwhere(np.isfinite(nd))
    finite = finite[finite[:, 0] >= 4]  # not in the first dates, the range check's sample
    where = tuple(finite[np.random.default_rng(0).choice(len(finite), len(finite) // 500, replace=False)].T)  # 0.2 %
    nd[where] = -9999.0
    bad = cube.assign(NDVI=cube["NDVI"].copy(data=nd))
    n = len(where[0])
    with pytest.warns(UserWarning, match=rf"test: NDVI: {n} values outside \[-1, 1\] \(from -9999 to -9999\) are not NDVI .*treated as missing"):
        out = check_cube_values(bad, "test")
    assert np.isnan(out["NDVI"].values[where]).all() and int(np.isfinite(out["NDVI"].values).sum()) == int(np.isfinite(nd).sum()) - n
    with raise_if_dask_computes():
        lazy = check_cube_values(bad.chunk({"y": 8}), "test")
    with pytest.warns(UserWarning, match=r"test: NDVI: values outside \[-1, 1\] in a chunk are not NDVI"):
        np.testing.assert_array_equal(lazy["NDVI"].values, out["NDVI"].values)
    model = fdl.train(bad, config=fdl.TrainConfig(hidden=(8,), max_epochs=2, max_samples=5000, num_threads=1, block_size=4))
    assert model.metrics["test"]["rmse"] < 0.5
    rec = fdl.reconstruct(bad, model)
    assert (rec["source"].values[where] != 0).all() and (np.abs(rec["NDVI"].values[where]) <= 1).all()


def test_a_store_of_an_unfinished_region_run_warns(tmp_path):
    """A store whose run was interrupted read as complete (its unwritten tiles as missing data), without a word."""
    import warnings

    import numpy as np

    from fusets_dl.readers.cube import open_store

    store = tmp_path / "region.zarr"
    xr.Dataset({"NDVI": (("time", "y", "x"), np.zeros((2, 3, 3), np.float32))}).to_zarr(store)
    progress = tmp_path / "region.zarr.progress"
    progress.mkdir()
    with pytest.warns(UserWarning, match=r"the region run that writes it has not finished .* no ALL_DONE.*resume the run"):
        open_store(store, what="phenology input")
    (progress / "ALL_DONE").write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        open_store(store, what="phenology input")
