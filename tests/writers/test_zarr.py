"""to_zarr: round trip of values, CRS and attributes; formats; no silent overwrite; atomic writes."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.writers.zarr import StoreExistsError, provenance_attrs


@pytest.fixture(scope="module")
def cube(small_scene):
    s1r, s2r, _ = small_scene
    return fdl.align(fdl.open_s1(s1r, chunks={"y": 12, "x": 10}, units="dB"), fdl.open_s2(s2r, chunks={"y": 12, "x": 10}))


@pytest.mark.parametrize("fmt", [3, 2])
def test_round_trip_values_crs_attrs_and_chunks(cube, tmp_path, fmt):
    store = fdl.to_zarr(cube, tmp_path / "c.zarr", zarr_format=fmt, provenance=provenance_attrs(model_sha256="ab" * 32, config={"a": 1}, inputs=["x.nc"]))
    back = xr.open_zarr(store, decode_coords="all")
    for v in ("VV", "VH", "NDVI"):
        np.testing.assert_array_equal(back[v].values, cube[v].values)
    assert back.rio.crs == cube.rio.crs
    assert back["VV"].attrs["units"] == "dB" and back["VV"].encoding["grid_mapping"] == "spatial_ref"
    assert back["NDVI"].attrs["valid_min"] == -1.0
    assert back.attrs["model_sha256"] == "ab" * 32 and json.loads(back.attrs["fusets_dl_config"]) == {"a": 1}
    assert "fusets_dl_version" in back.attrs and "date_created" in back.attrs
    assert back["VV"].encoding["chunks"] == (cube.sizes["time"], 12, 10)  # aligned with the Dask chunks
    if fmt == 3:
        assert (store / "zarr.json").exists()
    else:
        assert (store / ".zgroup").exists()


def test_reconstruction_flags_survive(cube, tmp_path):
    model = fdl.train(cube, config=fdl.TrainConfig(hidden=(8,), max_epochs=1, block_size=4))
    rec = fdl.reconstruct(cube, model, freq="5D")
    back = xr.open_zarr(fdl.to_zarr(rec, tmp_path / "r.zarr"), decode_coords="all")
    assert back["source"].attrs["flag_meanings"] == "observed predicted interpolated missing"
    assert list(back["source"].attrs["flag_values"]) == [0, 1, 2, 3]
    np.testing.assert_array_equal(back["source"].values, rec["source"].values)


def test_existing_store_is_never_silently_overwritten(cube, tmp_path):
    path = fdl.to_zarr(cube, tmp_path / "c.zarr")
    with pytest.raises(StoreExistsError, match="overwrite=True"):
        fdl.to_zarr(cube, path)
    fdl.to_zarr(cube.isel(time=slice(0, 5)), path, overwrite=True)
    assert xr.open_zarr(path).sizes["time"] == 5
    with pytest.raises(fdl.errors.ConfigError, match="zarr_format"):
        fdl.to_zarr(cube, tmp_path / "x.zarr", zarr_format=4)


def test_failed_write_leaves_the_old_store_untouched(cube, tmp_path):
    path = fdl.to_zarr(cube, tmp_path / "c.zarr")

    def boom(block):
        raise OSError("disk full (simulated)")

    bad = cube.copy()
    bad["VV"] = (bad["VV"].dims, da.map_blocks(boom, bad["VV"].data, dtype=np.float32))
    with pytest.raises(OSError, match="disk full"):
        fdl.to_zarr(bad, path, overwrite=True)
    back = xr.open_zarr(path)
    np.testing.assert_array_equal(back["VV"].values, cube["VV"].values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.zarr"]  # no temporary left behind


def test_overwrite_replaces_only_a_store_fusets_dl_wrote(cube, tmp_path):
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("precious")
    afile = tmp_path / "notes.txt"
    afile.write_text("keep me")
    foreign = tmp_path / "other.zarr"  # a Zarr store, but not ours (no fusets_dl provenance)
    xr.Dataset({"v": ("x", np.arange(3.0))}).to_zarr(foreign, zarr_format=3)
    for path, kind in ((folder, "a folder that is not a fusets_dl Zarr store"), (afile, "a file"), (foreign, "a folder that is not")):
        with pytest.raises(StoreExistsError, match=rf"refusing to replace .*expected a Zarr store written by fusets_dl .*found {kind}"):
            fdl.to_zarr(cube, path, overwrite=True)
    assert (folder / "chapter1.tex").read_text() == "precious" and afile.read_text() == "keep me"
    assert xr.open_zarr(foreign)["v"].values.tolist() == [0.0, 1.0, 2.0]
    ours = fdl.to_zarr(cube, tmp_path / "c.zarr")
    fdl.to_zarr(cube.isel(time=slice(0, 3)), ours, overwrite=True)
    assert xr.open_zarr(ours).sizes["time"] == 3


def test_os_errors_become_output_errors_naming_the_path(cube, tmp_path, monkeypatch):
    import errno

    path = fdl.to_zarr(cube, tmp_path / "c.zarr")

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(xr.Dataset, "to_zarr", full)
    with pytest.raises(fdl.errors.OutputError, match=r"to_zarr: writing '.*c\.zarr' failed: \[Errno 28\] No space left on device"):
        fdl.to_zarr(cube, path, overwrite=True)
    monkeypatch.undo()
    np.testing.assert_array_equal(xr.open_zarr(path)["VV"].values, cube["VV"].values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.zarr"]
