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


def test_undeclared_ndvi_nodata_filling_a_chunk_is_masked_as_in_memory(small_scene):
    """A nodata border (-9999 over whole rows) is under 1 % of the cube but all of a Dask chunk: the chunk was refused
    ("more than 1 % outside") where the cube in memory was masked. The verdict now ignores the chunking, in
    check_cube_values (train, predict_ndvi, reconstruct) and in open_s2."""
    import warnings

    import numpy as np

    from fusets_dl.readers.cube import check_cube_values

    s1, s2, _ = small_scene
    cube = fdl.align(fdl.open_s1(s1, units="dB"), fdl.open_s2(s2)).load()
    nd = cube["NDVI"].values.copy()
    nd[:, -1, :] = np.where(np.isfinite(nd[:, -1, :]), -9999.0, np.nan)  # the last row: an undeclared nodata border
    nd[0, -1, 3] = 1.05  # and in it one NDVI just above 1 (slightly negative red): the border chunk was still refused
    bad = cube.assign(NDVI=cube["NDVI"].copy(data=nd))
    with pytest.warns(UserWarning, match="are not NDVI"):
        eager = check_cube_values(bad, "test")["NDVI"].values
    lazy = check_cube_values(bad.chunk({"y": 1}), "test")["NDVI"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(lazy.values, eager)  # the border chunk is 100 % -9999: masked, not refused
    assert np.isnan(eager[:, -1, :]).all() and np.isfinite(eager[:, :-1, :]).sum() == np.isfinite(nd[:, :-1, :]).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rows in (2, 5):  # other chunkings: the same values
            np.testing.assert_array_equal(check_cube_values(bad.chunk({"y": rows}), "test")["NDVI"].values, eager)
    s2n = xr.Dataset({"NDVI": bad["NDVI"]}).chunk({"y": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        opened = fdl.open_s2(s2n)["NDVI"].values
    assert np.isnan(opened[:, -1, :]).all()
    scaled = cube.assign(NDVI=cube["NDVI"] * 10000)  # NDVI x 10000: refused in any chunking
    for c in (scaled, scaled.chunk({"y": 1})):
        with pytest.raises(fdl.errors.EncodingError, match=r"expected NDVI in \[-1, 1\]"):
            _ = check_cube_values(c, "test")["NDVI"].values


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


def test_a_few_backscatter_values_that_are_not_db_are_masked_with_a_warning(small_scene):
    """netCDF's default fill (9.97e36) in a few VV values was used as backscatter: the scaler's VV std became 1e35 and
    predictions moved by up to 1.8 NDVI. Up to 1 % outside -100 .. +60 dB is now missing, with a warning; lazily on Dask."""
    import numpy as np

    from fusets_dl.readers.cube import check_cube_values
    from fusets_dl.testing import raise_if_dask_computes

    s1, s2, _ = small_scene
    cube = fdl.align(fdl.open_s1(s1, units="dB"), fdl.open_s2(s2)).load()
    vv = cube["VV"].values.copy()
    vv[5, 0, :3] = 9.96921e36
    bad = cube.assign(VV=cube["VV"].copy(data=vv))
    with pytest.warns(UserWarning, match=r"test: VV: 3 values outside \[-100, 60\] \(from 9.96921e\+36 to 9.96921e\+36\) are not "
                                         r"backscatter in dB .*treated as missing"):
        out = check_cube_values(bad, "test")
    assert np.isnan(out["VV"].values[5, 0, :3]).all()
    np.testing.assert_array_equal(np.isnan(out["VV"].values).sum(), np.isnan(vv).sum() + 3)
    with raise_if_dask_computes():
        lazy = check_cube_values(bad.chunk({"y": 8}), "test")
    with pytest.warns(UserWarning, match=r"test: VV: values outside \[-100, 60\] in a chunk are not backscatter"):
        np.testing.assert_array_equal(lazy["VV"].values, out["VV"].values)


@pytest.mark.parametrize(("scale", "cause"), [
    (10000, r"dB x 10000 stored without its scale factor \(median / 10000 = -\d+\.?\d* dB, interquartile range .*\): divide by 10000"),
    (100, r"dB x 100 stored without its scale factor .*declare scale_factor=0.01"),
])
def test_backscatter_in_scaled_db_is_refused_with_the_scale(small_scene, scale, cause):
    """dB x 10000 as WorldCereal's int32 netCDF stores it, read without its scale factor (median about -58,000): the median test
    found "nothing conclusive" and the pre-trained model predicted a mean NDVI of -0.65 instead of 0.50."""
    from fusets_dl.errors import EncodingError

    s1, s2, _ = small_scene
    cube = fdl.align(fdl.open_s1(s1, units="dB"), fdl.open_s2(s2)).load()
    bad = cube.assign(VV=(cube["VV"] * scale).round().astype("int32"), VH=(cube["VH"] * scale).round().astype("int32"))
    with pytest.raises(EncodingError, match=r"predict_ndvi: VV: 100.0% of the values declared dB lie outside -100 .. 60 dB .*" + cause):
        fdl.predict_ndvi(bad, "pretrained")


def test_undeclared_nodata_in_backscatter_is_masked_whatever_its_share_and_the_verdict_ignores_chunks():
    """One repeated value (-9999), however many, is nodata to mask, not a scale to refuse; varied values outside -100 .. +60 dB
    are refused only when they are most of the values, so a few in a small Dask chunk are masked as in memory."""
    import numpy as np

    from fusets_dl.errors import EncodingError
    from fusets_dl.readers.sanity import check_db_range

    v = np.full(1000, -12.0)
    v[:600] = -9999.0
    check_db_range(v, "x")  # 60 % of one fill value: the caller masks it
    w = np.full(1000, -12.0)
    w[:100] = np.linspace(-10, 10, 100) * 1e3  # 10 % varied garbage: masked too
    check_db_range(w, "x")
    check_db_range(np.array([np.inf, -np.inf, np.nan, -20.0]), "x")  # infinities and NaN are not counted
    rng = np.random.default_rng(0)
    bright, usual = rng.normal(-3.0, 3.0, 2000), rng.normal(-15.0, 4.0, 2000)
    for db, scales in ((bright, (100, 1000, 10000)), (usual, (10, 100, 1000, 10000))):  # bright x 100 was named "dB x 10"
        for scale in scales:  # (bright x 10 lies mostly inside -100 .. 60: not told from dB by its values)
            with pytest.raises(EncodingError, match=rf"Likely cause: dB x {scale} stored without its scale factor"):
                check_db_range(db * scale, "x")
    with pytest.raises(EncodingError, match=r"Likely cause: integer counts"):
        check_db_range(rng.integers(1200, 4500, 2000).astype(float), "x")


def test_a_few_undeclared_nodata_values_in_small_dask_chunks_are_masked_as_in_memory(small_scene):
    """The refuse-or-mask verdict was per chunk at 1 %: 0.1 % of -9999 were masked in memory and refused in chunks of 100."""
    import numpy as np

    from fusets_dl.readers.cube import check_cube_values

    s1, s2, _ = small_scene
    cube = fdl.align(fdl.open_s1(s1, units="dB"), fdl.open_s2(s2)).load()
    vv = cube["VV"].values.copy()
    vv[::7, ::5, ::4] = -9999.0
    bad = cube.assign(VV=cube["VV"].copy(data=vv))
    with pytest.warns(UserWarning, match=r"VV: .*outside \[-100, 60\]"):
        now = check_cube_values(bad, "test")["VV"].values
        lazy = check_cube_values(bad.chunk({"time": 1, "y": 10, "x": 10}), "test")["VV"].values
    np.testing.assert_array_equal(now, lazy)
    assert np.isnan(now[::7, ::5, ::4]).all()
