"""Staging a region's cube: computed once, read back bit for bit with the same chunks, attributes and encodings."""

from __future__ import annotations

import threading

import dask.array as da
import numpy as np
import xarray as xr

from fusets_dl.pipeline.stage import staged_cube
from fusets_dl.testing import raise_if_dask_computes


def _counted_cube():
    """A lazy cube whose every chunk computation is counted; uneven x chunks, NaNs, ints, bools, a lazy coordinate."""
    calls = {"n": 0}
    lock = threading.Lock()
    rng = np.random.default_rng(0)
    vv = rng.normal(-12, 3, (5, 20, 23)).astype(np.float32)
    vv[vv > -10] = np.nan

    def count(block):
        with lock:
            calls["n"] += 1
        return block

    def lazy(a, chunks):
        return da.from_array(a, chunks=chunks).map_blocks(count, dtype=a.dtype)

    chunks3 = ((5,), (8, 8, 4), (7, 9, 7))  # x: uneven, which Zarr cannot store as is
    ds = xr.Dataset(
        {
            "VV": (("time", "y", "x"), lazy(vv, chunks3), {"units": "dB", "valid": np.array([1, 2])}),
            "DN": (("time", "y", "x"), lazy(rng.integers(0, 60000, (5, 20, 23)).astype(np.uint16), chunks3)),
            "clear": (("time", "y", "x"), lazy(rng.random((5, 20, 23)) > 0.5, chunks3)),
            "elevation": (("y", "x"), lazy(rng.random((20, 23)), ((8, 8, 4), (7, 9, 7)))),
            "label": (("y", "x"), np.arange(460).reshape(20, 23)),  # NumPy-backed: left as is
        },
        coords={"time": np.array(["2021-01-01", "2021-01-13", "2021-01-25", "2021-02-06", "2021-02-18"], dtype="datetime64[ns]"),
                "y": np.arange(20.0), "x": np.arange(23.0), "mask": (("y", "x"), lazy(rng.random((20, 23)) > 0.2, ((8, 8, 4), (7, 9, 7))))},
        attrs={"site": "demo", "crs": "EPSG:32749"},
    )
    ds["VV"].encoding = {"dtype": "float32"}
    return ds, calls


def test_staged_cube_is_the_cube_computed_once(tmp_path):
    cube, calls = _counted_cube()
    expected = cube.compute()
    calls["n"] = 0
    with raise_if_dask_computes(1):  # one computation: the write
        out = staged_cube(cube, tmp_path / "s.zarr")
    n_chunks = sum(cube[v].data.npartitions for v in ("VV", "DN", "clear", "elevation", "mask"))
    assert calls["n"] == n_chunks  # every chunk of the source computed exactly once
    for name in ("VV", "DN", "clear", "elevation", "label", "mask"):
        assert out[name].dtype == cube[name].dtype, name
        assert out[name].chunks == cube[name].chunks, name
        assert out[name].attrs.keys() == cube[name].attrs.keys(), name
        np.testing.assert_array_equal(out[name].values, expected[name].values, err_msg=name)
    assert calls["n"] == n_chunks  # reading the staged cube never runs the source graph again
    assert out["VV"].encoding == {"dtype": "float32"} and out.attrs == cube.attrs and "mask" in out.coords
    np.testing.assert_array_equal(out["VV"].attrs["valid"], [1, 2])
    assert out["label"].chunks is None  # NumPy-backed variables are not staged


def test_staged_cube_reads_lazily_and_replaces_an_old_store(tmp_path):
    cube, _ = _counted_cube()
    path = tmp_path / "s.zarr"
    path.mkdir()
    (path / "leftover").write_text("from a killed run")
    out = staged_cube(cube, path)
    assert not (path / "leftover").exists()
    with raise_if_dask_computes():
        sub = out.isel(y=slice(2, 9)) * 2
    assert sub["VV"].chunks is not None


def test_a_numpy_cube_is_returned_unchanged(tmp_path):
    cube = xr.Dataset({"VV": (("time", "y", "x"), np.zeros((2, 3, 4), np.float32))})
    assert staged_cube(cube, tmp_path / "s.zarr") is cube
    assert not (tmp_path / "s.zarr").exists()


def test_a_region_stages_its_cube_only_when_this_run_trains(tmp_path):
    from fusets_dl.pipeline import RegionConfig, RunConfig
    from fusets_dl.pipeline.region import _trains

    rc = RegionConfig(name="a", s1=[], s2=[])
    train = RunConfig(output_root=tmp_path, regions=[rc], model={"mode": "train"}, dask={})
    assert _trains(train, rc)
    (tmp_path / "a.model.json").write_text("{}")  # trained by an earlier run: reloaded, not trained
    assert not _trains(train, rc)
    with_classes = RegionConfig(name="a", s1=[], s2=[], classes={"n_classes": 3})
    assert _trains(train, with_classes)  # the segmenter is still to train
    (tmp_path / "a.segmenter.json").write_text("{}")
    assert not _trains(train, with_classes)
    loaded = RunConfig(output_root=tmp_path, regions=[rc], model={"mode": "load", "path": str(tmp_path / "m")}, dask={})
    assert not _trains(loaded, RegionConfig(name="b", s1=[], s2=[]))
    assert not _trains(loaded, RegionConfig(name="b", s1=[], s2=[], classes={"segmenter": str(tmp_path / "seg")}))
