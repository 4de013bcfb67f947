"""to_zarr: round trip of values, CRS and attributes; formats; no silent overwrite; atomic writes."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import OutputError
from fusets_dl.writers.zarr import (
    COMPLETE_ATTR,
    StoreExistsError,
    provenance_attrs,
    set_store_complete,
    store_complete,
)


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
    with pytest.raises(StoreExistsError, match=r"overwrite=True to replace the whole store \(its dates too: to add dates, concatenate the cubes along time first"):
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


@pytest.mark.parametrize("fmt", [2, 3])
def test_non_finite_attributes_are_written_as_strict_json_strings_with_a_warning(cube, tmp_path, fmt):
    import json

    ds = cube.isel(time=slice(0, 2)).copy()
    ds.attrs["cloud_cover"] = float("nan")
    ds["NDVI"].attrs["valid_range"] = np.array([-np.inf, np.float32(np.inf)])
    ds["VV"].attrs["meta"] = {"noise_floor": -np.inf, "gain": 2.0}
    ds["VH"].attrs["missing_value"] = np.float32(np.nan)  # NaN already marks a float's missing values: dropped
    with pytest.warns(UserWarning, match=r"3 attribute\(s\) hold NaN or infinite values \(global 'cloud_cover', variable 'VV' 'meta', variable 'NDVI' 'valid_range'\)"):
        path = fdl.to_zarr(ds, tmp_path / "n.zarr", zarr_format=fmt)
    def strict(constant: str) -> None:
        pytest.fail(f"bare {constant} in a metadata file is not JSON")

    files = list(path.rglob("zarr.json" if fmt == 3 else ".zattrs"))
    assert files
    for meta in files:
        json.loads(meta.read_text(), parse_constant=strict)
    back = xr.open_zarr(path)
    assert back.attrs["cloud_cover"] == "NaN"
    assert back["NDVI"].attrs["valid_range"] == ["-Infinity", "Infinity"]
    assert back["VV"].attrs["meta"] == {"noise_floor": "-Infinity", "gain": 2.0}
    assert "missing_value" not in back["VH"].attrs and "missing_value" not in back["VH"].encoding
    np.testing.assert_array_equal(back["NDVI"].values, ds["NDVI"].values)
    assert np.isnan(ds.attrs["cloud_cover"])  # the caller's dataset is not changed


def test_finite_attributes_write_without_a_warning(cube, tmp_path):
    import warnings

    ds = cube.isel(time=slice(0, 2)).copy()
    ds.attrs["cloud_cover"] = 0.25
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="to_zarr: .*NaN or infinite")
        back = xr.open_zarr(fdl.to_zarr(ds, tmp_path / "f.zarr"))
    assert back.attrs["cloud_cover"] == 0.25


def test_timezone_aware_or_far_dates_are_refused_before_anything_is_written(cube, tmp_path):
    """A timezone-aware time gave numpy's "Cannot interpret 'datetime64[ns, UTC]' as a data type"; dates beyond 2262
    ([s] units) were written to a store that open_cube could not read back ("found dtype object")."""
    import pandas as pd

    ds = cube.isel(time=slice(0, 3))
    aware = ds.assign_coords(time=ds.indexes["time"].tz_localize("UTC"))
    with pytest.raises(fdl.errors.DimensionError, match=r"to_zarr: 'time': expected naive UTC datetime64 dates .* found timezone-aware "
                                                         r"datetime64\[ns, UTC\]; convert it first"):
        fdl.to_zarr(aware, tmp_path / "tz.zarr")
    far = ds.assign_coords(time=ds["time"].values.astype("datetime64[s]") + np.timedelta64(300 * 365, "D"))
    with pytest.raises(fdl.errors.DimensionError, match=r"to_zarr: 'time': expected dates within 1677-09-21 .. 2262-04-11 .* found 3 outside"):
        fdl.to_zarr(far, tmp_path / "far.zarr")
    assert not any(tmp_path.iterdir())
    fixed = aware.assign_coords(time=aware.indexes["time"].tz_convert("UTC").tz_localize(None))  # the recipe given
    back = fdl.open_cube(fdl.to_zarr(fixed, tmp_path / "ok.zarr"))
    assert pd.DatetimeIndex(back["time"].values).equals(pd.DatetimeIndex(ds["time"].values))


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


#: The phenology's integer counts and flags (int8): a tile never written must not read as 0 seasons, "minor", "measured".
_PHENO_INTS = ("n_seasons", "n_main_seasons", "is_main", "sos_extrapolated", "eos_extrapolated")


def _phenology(ny=8, nx=8):
    """A real phenology output (attributes from the CF table): two years of seasons, flat pixels with none."""
    import pandas as pd

    t = pd.date_range("2021-01-01", "2022-12-31", freq="5D")
    days = np.asarray((t - t[0]).days, np.float64)
    amp = np.random.default_rng(0).uniform(0.2, 0.6, (ny, nx))
    amp[::3, ::3] = 0.0  # no season: n_seasons 0 in every tile
    nd = 0.2 + amp[None] * np.clip(np.sin(2 * np.pi * (days[:, None, None] - 60) / 365), 0, None)
    da_ = xr.DataArray(nd.astype(np.float32), dims=("time", "y", "x"), name="NDVI",
                       coords={"time": t, "y": 100.0 - 10 * np.arange(ny), "x": 10.0 * np.arange(nx)})
    return fdl.phenology(da_, max_seasons=3)


def _write_tiles(ph, store, tiles):
    """Tiles written into a layout as the region pipeline writes them (``region=``, ``mode="r+"``)."""
    for ys, xs in tiles:
        tile = ph.isel(y=ys, x=xs)
        tile = tile.drop_vars([v for v in tile.variables if not set(tile[v].dims) & {"y", "x"}])
        tile.to_zarr(store, region={"y": ys, "x": xs}, mode="r+", write_empty_chunks=True)


@pytest.mark.parametrize("fmt", [3, 2])
def test_phenology_counts_and_flags_of_tiles_never_written_read_as_missing(tmp_path, fmt):
    """REPRO hunt20run item 11: a region run killed after its first tile; plain xarray read n_seasons 0,
    n_main_seasons 0, is_main 0 ("minor"), sos_extrapolated 0 ("measured") in the tiles never written.
    v3: they read -1, below the declared valid_min 0 (the dtype stays int8); v2 (whose fill value xarray reads as a
    CF _FillValue): NaN. The written tiles read back the in-memory values either way."""
    ph = _phenology().chunk({"y": 4, "x": 4})
    assert all(ph[v].dtype == np.int8 for v in _PHENO_INTS) and (ph["n_seasons"].values == 0).any()
    store = fdl.to_zarr(ph, tmp_path / "p.zarr", zarr_format=fmt, compute=False)
    _write_tiles(ph, store, [(slice(0, 4), slice(0, 4)), (slice(4, 8), slice(4, 8))])  # two of four tiles
    written = np.zeros((8, 8), bool)
    written[:4, :4] = written[4:, 4:] = True
    back = xr.open_zarr(store)
    for v in _PHENO_INTS:
        got, want = back[v].values, ph[v].values
        np.testing.assert_array_equal(got[..., written], want[..., written], err_msg=v)
        assert back[v].attrs["valid_min"] == 0 and "never written" in back[v].attrs["comment"], v
        if fmt == 3:
            assert back[v].dtype == np.int8 and (got[..., ~written] == -1).all(), v
        else:
            assert back[v].dtype == np.float32 and np.isnan(got[..., ~written]).all(), v
            raw = xr.open_zarr(store, mask_and_scale=False)[v]  # the stored integers
            assert raw.dtype == np.int8 and (raw.values[..., ~written] == -1).all(), v
    assert back["los"].isnull().values[..., ~written].all()  # floats: NaN, as before
    # the flags of the tiles written are the in-memory ones, 0 included
    assert (back["is_main"].values[..., written] == 0).any() and (back["n_seasons"].values[written] == 0).any()


def test_a_complete_phenology_store_reads_back_exactly(tmp_path):
    """A store written at once (v3) or every tile of a layout: the counts and flags keep their dtype and values."""
    ph = _phenology().chunk({"y": 4, "x": 4})
    whole = xr.open_zarr(fdl.to_zarr(ph, tmp_path / "a.zarr"))
    layout = fdl.to_zarr(ph, tmp_path / "b.zarr", compute=False)
    _write_tiles(ph, layout, [(slice(i, i + 4), slice(j, j + 4)) for i in (0, 4) for j in (0, 4)])
    tiled = xr.open_zarr(layout)
    from fusets_dl.readers.cube import open_store

    for back in (whole, tiled, open_store(layout)):
        for v in _PHENO_INTS:
            assert back[v].dtype == np.int8
            np.testing.assert_array_equal(back[v].values, ph[v].values)
            assert back[v].encoding["fill_value"] == -1 and "_FillValue" not in back[v].attrs


@pytest.mark.parametrize(("src", "dst"), [(2, 3), (3, 2), (2, 2)])
def test_a_phenology_store_of_either_format_written_again_keeps_its_integers(tmp_path, src, dst):
    """A v2 store's counts and flags decode to float with NaN (its fill value is a mask): written again they are
    int8 again, NaN as -1 (a tile never written stays recognisable)."""
    ph = _phenology().chunk({"y": 4, "x": 4})
    first = fdl.to_zarr(ph, tmp_path / "a.zarr", zarr_format=src, compute=False)
    _write_tiles(ph, first, [(slice(0, 4), slice(0, 8))])
    out = fdl.to_zarr(xr.open_zarr(first), tmp_path / "b.zarr", zarr_format=dst)
    raw = xr.open_zarr(out, mask_and_scale=False)
    for v in _PHENO_INTS:
        assert raw[v].dtype == np.int8, v
        np.testing.assert_array_equal(raw[v].values[..., :4, :], ph[v].values[..., :4, :])
        assert (raw[v].values[..., 4:, :] == -1).all()


def test_fill_values_of_the_encoding():
    from fusets_dl.writers.zarr import encoding_for

    ph = _phenology()
    rec = xr.Dataset({"source": (("y", "x"), np.zeros((2, 2), np.uint8),
                                 {"flag_values": np.array([0, 1, 2, 3], np.uint8), "flag_meanings": "observed predicted interpolated missing"}),
                      "count": (("y", "x"), np.zeros((2, 2), np.uint8), {"valid_min": 0}),  # no value below 0 in uint8
                      "class": (("y", "x"), np.zeros((2, 2), np.int16), {"comment": "-1: too little S1 to classify"})})
    v3 = {**encoding_for(ph, zarr_format=3), **encoding_for(rec, zarr_format=3)}
    v2 = {**encoding_for(ph, zarr_format=2), **encoding_for(rec, zarr_format=2)}
    for v in _PHENO_INTS:
        assert v3[v]["fill_value"] == -1 and "_FillValue" not in v3[v]
        assert v2[v]["_FillValue"] == -1 and "fill_value" not in v2[v]
    assert v3["source"]["fill_value"] == 3 and "_FillValue" not in v2["source"]  # a mask would hide real "missing" values
    for v in ("count", "class", "los"):
        assert "fill_value" not in v3[v] and "_FillValue" not in v2[v], v


def test_unwritten_fill_values_are_those_of_the_written_store(tmp_path):
    """``unwritten_fill_values`` (what the batch pipeline checks a resumed layout against) equals the written arrays' fill values."""
    import json

    from fusets_dl.writers import to_zarr, unwritten_fill_values

    ph = _phenology()
    fills = unwritten_fill_values(ph)
    assert fills == {v: -1 for v in _PHENO_INTS}
    to_zarr(ph, tmp_path / "p.zarr")
    for v, want in fills.items():
        assert json.loads((tmp_path / "p.zarr" / v / "zarr.json").read_text())["fill_value"] == want


def test_an_interrupt_between_the_two_renames_of_an_overwrite_puts_the_old_store_back(cube, tmp_path, monkeypatch):
    """Ctrl-C (or SIGTERM's Terminated) after the old store was moved aside and before the new one took its name: the
    rollback caught only OSError, the new data were deleted, and the path held nothing (the old store hidden beside it)."""
    from pathlib import Path

    path = fdl.to_zarr(cube, tmp_path / "c.zarr")
    real = Path.rename

    def interrupted(self, target):
        if self.name.startswith(".c.zarr.tmp-"):  # the new store taking the path's name
            raise KeyboardInterrupt
        return real(self, target)

    monkeypatch.setattr(Path, "rename", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fdl.to_zarr(cube.isel(time=slice(0, 3)), path, overwrite=True)
    monkeypatch.undo()
    back = xr.open_zarr(path)
    assert back.sizes["time"] == cube.sizes["time"]  # the old store, intact, under its name
    np.testing.assert_array_equal(back["VV"].values, cube["VV"].values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.zarr"]  # nothing hidden left beside it


@pytest.mark.parametrize("fmt", [2, 3])
def test_dates_in_whole_seconds_read_back_exactly(tmp_path, fmt):
    """Phenology dates (whole seconds) stored as float64 days read back up to 256 ns off (11:02:56 -> 11:02:55.999999744)."""
    when = np.array(["2021-05-03T11:02:56", "2022-07-30T22:10:07", "NaT"], dtype="datetime64[ns]")
    ds = xr.Dataset({"sos": (("season", "x"), when.reshape(3, 1))}, coords={"x": [0.0]})
    back = xr.open_zarr(fdl.to_zarr(ds, tmp_path / "d.zarr", zarr_format=fmt))
    np.testing.assert_array_equal(back["sos"].values, ds["sos"].values)


def test_temporaries_of_a_killed_write_are_named_on_the_next_write(cube, tmp_path):
    """A write killed by SIGKILL leaves its hidden .name.tmp-XXXXXXXX store (70 MB in a hunt) that nothing reported."""
    stale = tmp_path / ".c.zarr.tmp-0123abcd"
    stale.mkdir()
    (tmp_path / ".other.zarr.tmp-0123abcd").mkdir()  # another store's: not this write's business
    with pytest.warns(UserWarning, match=r"1 hidden folder\(s\) beside .*c\.zarr' are left from earlier writes .*\.c\.zarr\.tmp-0123abcd"):
        fdl.to_zarr(cube, tmp_path / "c.zarr")
    assert stale.exists()  # named, not deleted: another write of the store may be running


@pytest.mark.parametrize("fmt", [3, 2])
def test_the_complete_attribute_is_set_in_the_metadata_and_the_consolidated_metadata(cube, tmp_path, fmt):
    """A store filled tile by tile says whether it is finished, in the metadata a copy carries (ops hunt F3)."""
    store = fdl.to_zarr(cube, tmp_path / "c.zarr", zarr_format=fmt, provenance={COMPLETE_ATTR: False}, compute=False)
    assert store_complete(store) is False and xr.open_zarr(store).attrs[COMPLETE_ATTR] is False
    set_store_complete(store, True)
    assert store_complete(store) is True
    assert xr.open_zarr(store).attrs[COMPLETE_ATTR] is True  # consolidated metadata (what xarray reads)
    assert xr.open_zarr(store, consolidated=False).attrs[COMPLETE_ATTR] is True
    assert not list(store.glob(".*.tmp-*"))
    plain = fdl.to_zarr(cube, tmp_path / "plain.zarr", zarr_format=fmt)
    assert store_complete(plain) is None  # written otherwise: nothing said
    with pytest.raises(OutputError, match=r"expected a Zarr store with root metadata \(zarr.json or .zgroup\), found none"):
        set_store_complete(tmp_path, True)
