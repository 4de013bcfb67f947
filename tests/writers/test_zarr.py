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
    assert back["source"].dtype == np.uint8  # the fill value is not a mask


def test_chunks_of_a_layout_not_written_yet_read_as_missing(tmp_path):
    """A layout written with compute=False (filled later by region writes, as the region pipeline does): a chunk not
    written yet read as source 0 ('observed') beside NaN NDVI; it now reads as 3 ('missing')."""
    rec = xr.Dataset(
        {"NDVI": (("time", "y", "x"), np.ones((3, 8, 8), np.float32)),
         "source": (("time", "y", "x"), np.ones((3, 8, 8), np.uint8),
                    {"flag_values": np.array([0, 1, 2, 3], np.uint8), "flag_meanings": "observed predicted interpolated missing"})},
        coords={"time": np.array(["2021-01-01", "2021-01-06", "2021-01-11"], dtype="datetime64[ns]"), "y": np.arange(8.0), "x": np.arange(8.0)},
    ).chunk({"y": 4, "x": 4})
    store = fdl.to_zarr(rec, tmp_path / "layout.zarr", compute=False)
    back = xr.open_zarr(store)
    assert back["NDVI"].isnull().all() and back["source"].dtype == np.uint8 and set(np.unique(back["source"].values)) == {3}
    rec.isel(y=slice(0, 4), x=slice(0, 4)).drop_vars(["time", "y", "x"]).to_zarr(store, region={"y": slice(0, 4), "x": slice(0, 4)})
    src = xr.open_zarr(store)["source"].values
    assert (src[:, :4, :4] == 1).all() and (src[:, 4:, :] == 3).all()


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


@pytest.mark.parametrize("url", ["s3://bucket/out.zarr", "memory://out.zarr", "gs://b/c.zarr", "file:///tmp/x.zarr"])
def test_urls_are_refused_not_made_local_folders(cube, tmp_path, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(fdl.errors.OutputError, match=rf"expected a local folder path, found the URL '{url}'.*only local paths are supported.*then copy"):
        fdl.to_zarr(cube, url)
    assert list(tmp_path.iterdir()) == []  # no 's3:' folder


@pytest.mark.parametrize(("src", "dst"), [(3, 2), (2, 3)])
def test_a_store_opened_from_the_other_zarr_format_is_written_again(cube, tmp_path, src, dst):
    first = fdl.to_zarr(cube, tmp_path / "a.zarr", zarr_format=src)
    opened = xr.open_zarr(first, decode_coords="all")
    out = fdl.to_zarr(opened, tmp_path / "b.zarr", zarr_format=dst)
    back = xr.open_zarr(out, decode_coords="all")
    assert (out / ("zarr.json" if dst == 3 else ".zgroup")).exists()
    for v in ("VV", "VH", "NDVI"):
        np.testing.assert_array_equal(back[v].values, cube[v].values)
    np.testing.assert_array_equal(back["time"].values, cube["time"].values)
    np.testing.assert_array_equal(back["x"].values, cube["x"].values)
    assert back.rio.crs == cube.rio.crs
    assert "serializer" in opened["x"].encoding or src == 2  # the source's codecs were there, and did not break the write


def test_datetime_attributes_are_written_as_iso_strings(cube, tmp_path):
    import datetime

    import pandas as pd

    ds = cube.isel(time=slice(0, 2)).copy()
    ds.attrs["run_start"] = pd.Timestamp("2021-01-01 12:30", tz="UTC")
    ds.attrs["window"] = {"start": np.datetime64("2021-03-01"), "step": pd.Timedelta("1D")}
    ds["NDVI"].attrs["acquired"] = np.datetime64("2021-01-02T03:04:05")
    ds["NDVI"].attrs["dates"] = np.array(["2021-01-01", "2021-02-01"], dtype="datetime64[ns]")
    ds["x"].attrs["surveyed"] = datetime.date(2020, 5, 6)
    back = xr.open_zarr(fdl.to_zarr(ds, tmp_path / "d.zarr"))
    assert back.attrs["run_start"] == "2021-01-01T12:30:00+00:00"
    assert back.attrs["window"] == {"start": "2021-03-01T00:00:00", "step": "P1DT0H0M0S"}
    assert back["NDVI"].attrs["acquired"] == "2021-01-02T03:04:05"
    assert back["NDVI"].attrs["dates"] == ["2021-01-01T00:00:00", "2021-02-01T00:00:00"]
    assert back["x"].attrs["surveyed"] == "2020-05-06T00:00:00"
    assert isinstance(ds.attrs["run_start"], pd.Timestamp)  # the caller's dataset is not changed


def test_an_attribute_without_a_json_form_is_named(cube, tmp_path):
    ds = cube.isel(time=slice(0, 2)).copy()
    ds["VH"].attrs["flags"] = {1, 2}
    with pytest.raises(fdl.errors.ConfigError, match=r"variable 'VH' attribute 'flags': expected a value with a JSON form .*found set"):
        fdl.to_zarr(ds, tmp_path / "e.zarr")
    assert not (tmp_path / "e.zarr").exists()


def test_an_old_store_that_cannot_be_deleted_is_named_in_a_warning(cube, tmp_path, monkeypatch, caplog):
    import logging
    import shutil

    import fusets_dl.writers.zarr as zw

    path = fdl.to_zarr(cube.isel(time=slice(0, 2)), tmp_path / "c.zarr")
    real = shutil.rmtree

    def refuse_old(p, *args, **kwargs):
        if ".old-" in str(p) and not kwargs.get("ignore_errors"):
            raise PermissionError(13, "Permission denied", str(p))
        return real(p, *args, **kwargs)

    monkeypatch.setattr(zw.shutil, "rmtree", refuse_old)
    with caplog.at_level(logging.WARNING, logger="fusets_dl"), pytest.warns(
            UserWarning, match=r"new store is in place .*could not be deleted .*Permission denied.*stays as '.*\.c\.zarr\.old-[0-9a-f]{8}'"):
        fdl.to_zarr(cube.isel(time=slice(0, 3)), path, overwrite=True)
    assert "could not be deleted" in caplog.text
    assert xr.open_zarr(path).sizes["time"] == 3
    assert [p.name.startswith(".c.zarr.old-") for p in tmp_path.iterdir() if p.name != "c.zarr"] == [True]


def test_time_bounds_keep_the_unit_of_their_time(small_scene, tmp_path):
    """CF: the bounds of a coordinate share its units; the writer gave time_bnds days and time seconds."""
    s1r, s2r, _ = small_scene
    cube = fdl.align(fdl.open_s1(s1r, units="dB"), fdl.open_s2(s2r), freq="10D")
    raw = xr.open_zarr(fdl.to_zarr(cube, tmp_path / "p.zarr"), decode_times=False)
    assert raw["time"].attrs["units"] == raw["time_bnds"].attrs["units"] == "seconds since 1970-01-01"
    back = xr.open_zarr(tmp_path / "p.zarr")
    np.testing.assert_array_equal(back["time_bnds"].values, cube["time_bnds"].values)
