"""The run record: digests of config, inputs and model; resume that verifies chunks, refuses changes, restarts on request."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil

import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ModelError, ResumeError, StoreExistsError
from fusets_dl.pipeline import load_config, run
from fusets_dl.pipeline import record as record
from fusets_dl.pipeline.record import check_record, missing_tiles, region_digest, store_grid
from fusets_dl.readers.cube import open_store, warn_if_unfinished
from fusets_dl.sample import find_sample
from fusets_dl.writers import set_store_complete, store_complete
from tests.pipeline.helpers import assert_same_stores, sample_config


def _one_region(root, **region):
    cfg = sample_config(root, report=False)
    cfg["regions"] = [{**cfg["regions"][0], **region}]
    return cfg


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One finished region ``a`` (4 tiles of 32 pixels), copied by each test before it is damaged."""
    root = tmp_path_factory.mktemp("ref") / "out"
    rows = run(_one_region(root))
    assert rows[0]["status"] == "done"
    return root


def _copy(reference, tmp_path):
    root = tmp_path / "out"
    shutil.copytree(reference, root)
    return root


def _chunk_files(store, var):
    return sorted(p for p in (store / var).rglob("*") if p.is_file() and p.name != "zarr.json")


def test_every_chunk_of_every_tile_is_on_disk(reference):
    """write_empty_chunks=True: resume can trust presence (an all-NaN chunk is a file too)."""
    store = reference / "a.zarr"
    assert store_grid(store) == (64, 64)
    tiles = [(slice(i, i + 32), slice(j, j + 32)) for i in (0, 32) for j in (0, 32)]
    assert missing_tiles(store, tiles) == []
    ds = xr.open_zarr(store)
    assert len(_chunk_files(store, "NDVI")) == 4 * int(np.prod([len(c) for c in ds["NDVI"].chunks[:-2]]))
    assert json.loads((reference / "a.zarr.progress" / "RECORD.json").read_text())["digest"] == ds.attrs["fusets_dl_run_digest"]


def test_a_deleted_chunk_is_found_and_its_tile_redone(reference, tmp_path, caplog):
    root = _copy(reference, tmp_path)
    store = root / "a.zarr"
    victim = next(p for p in _chunk_files(store, "NDVI") if p.relative_to(store / "NDVI").parts[-2:] == ("1", "1"))  # last tile (y 1, x 1)
    victim.unlink()
    tiles = [(slice(i, i + 32), slice(j, j + 32)) for i in (0, 32) for j in (0, 32)]
    assert missing_tiles(store, tiles) == [3]
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        rows = run(_one_region(root))
    assert rows[0]["status"] == "done" and rows[0]["written"] == 1  # not "skipped (done)", and only that tile
    assert "marked complete but" in caplog.text and "tile 4/4 was marked done but some of its chunks are missing" in caplog.text
    assert_same_stores(reference / "a.zarr", store)


def test_a_deleted_finished_store_is_written_again_not_reported_done(reference, tmp_path):
    root = _copy(reference, tmp_path)
    shutil.rmtree(root / "a.zarr")
    rows = run(_one_region(root))
    assert rows[0]["status"] == "done" and rows[0]["written"] == 4
    assert_same_stores(reference / "a.zarr", root / "a.zarr")
    assert run(_one_region(root))[0]["status"] == "skipped (done)"


def test_a_deleted_variable_rebuilds_the_layout(reference, tmp_path):
    root = _copy(reference, tmp_path)
    shutil.rmtree(root / "a.zarr" / "NDVI_std")
    assert store_grid(root / "a.zarr") is None  # consolidated metadata name it, its own metadata are gone
    rows = run(_one_region(root))
    assert rows[0]["written"] == 4
    assert_same_stores(reference / "a.zarr", root / "a.zarr")


@pytest.mark.parametrize("change", ["config", "inputs"])
def test_a_changed_config_or_input_is_refused_then_restarted_on_request(reference, tmp_path, change):
    root = _copy(reference, tmp_path)
    cfg = _one_region(root)
    if change == "config":
        cfg["defaults"]["freq"] = "10D"
    else:
        sample = find_sample()
        s1 = tmp_path / "s1.nc"
        shutil.copy(sample / "s1.nc", s1)
        with open(s1, "ab") as fh:  # same data variables, different bytes
            fh.write(b"\0" * 16)
        cfg["regions"][0]["s1"] = str(s1)
    before = {p.name: p.stat().st_mtime_ns for p in root.iterdir()}
    what = "its configuration" if change == "config" else "its input files"
    with pytest.raises(ResumeError, match=rf"region a: cannot resume: {what} changed .*--restart"):
        run(cfg)
    assert {p.name: p.stat().st_mtime_ns for p in root.iterdir() if not p.name.endswith(".log")} == {k: v for k, v in before.items() if not k.endswith(".log")}
    rows = run(cfg, restart=True)
    assert rows[0]["status"] == "done" and rows[0]["written"] == 4
    ds = xr.open_zarr(root / "a.zarr")
    ref = xr.open_zarr(reference / "a.zarr")
    if change == "config":
        assert np.diff(ds.time.values)[0] == np.timedelta64(10, "D") and ds.sizes["time"] < ref.sizes["time"]
        conf = json.loads(ds.attrs["fusets_dl_config"])
        assert conf["freq"] == "10D"
        # every option that shaped the store is in its provenance (bbox, time_range, phenology, reader options)
        assert {"bbox", "time_range", "phenology", "tolerance", "outlier_filter", "harmonize", "s1_units", "tile_size"} <= set(conf)
    assert ds.attrs["fusets_dl_run_digest"] != ref.attrs["fusets_dl_run_digest"]
    assert run(cfg)[0]["status"] == "skipped (done)"


@pytest.mark.parametrize("typo", [{"time_range": ["2015-01-01", "2015-06-30"]}, {"s1": "missing-s1.nc"}])
def test_restart_with_a_bad_config_keeps_the_finished_region(reference, tmp_path, typo):
    """--restart deleted a finished region's store, model, metrics and report before the new configuration opened its
    inputs: a typo (a year, a path) cost the finished output. The inputs are opened and checked first now."""
    root = _copy(reference, tmp_path)
    cfg = _one_region(root)
    if "s1" in typo:
        typo = {"s1": str(tmp_path / typo["s1"])}
    bad = _one_region(root, **typo)
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.name.endswith(".log"))
    with pytest.raises(Exception, match=r"open_s1|time_range|no dates|not found|No such file"):
        run(bad, restart=True)
    after = sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.name.endswith(".log"))
    assert after == before  # store, model, metrics, progress markers: all kept
    assert run(cfg)[0]["status"] == "skipped (done)"
    assert_same_stores(reference / "a.zarr", root / "a.zarr")


def test_a_region_that_failed_before_writing_anything_runs_with_the_corrected_config(tmp_path, caplog):
    """A typo in an input (the S1 file given as S2) fails the region before any output; the corrected config was then
    refused as a changed resume (only the run record was on disk) and needed --restart."""
    root = tmp_path / "out"
    sample = find_sample()
    bad = _one_region(root, s2=str(sample / "s1.nc"))
    with caplog.at_level(logging.ERROR, logger="fusets_dl"), pytest.raises(Exception, match="open_s2") as info:
        run(bad)
    assert "run: region a (1/1) failed:" in caplog.text
    assert any("while running region 'a'" in n for n in getattr(info.value, "__notes__", ["while running region 'a'"]))
    assert sorted(p.name for p in (root / "a.zarr.progress").iterdir()) == ["RECORD.json"] and not (root / "a.zarr").exists()
    rows = run(_one_region(root))
    assert rows[0]["status"] == "done"


def test_a_folder_we_did_not_write_is_never_touched(tmp_path):
    root = tmp_path / "out"
    (root / "a.zarr").mkdir(parents=True)
    (root / "a.zarr" / "thesis.tex").write_text("precious")
    for restart in (False, True):
        with pytest.raises((ResumeError, StoreExistsError), match="a folder that is not a fusets_dl Zarr store"):
            run(_one_region(root), restart=restart)
    assert (root / "a.zarr" / "thesis.tex").read_text() == "precious"


def test_region_digest_parts_and_check_record(tmp_path):
    cfg = load_config(_one_region(tmp_path / "out"))
    rc = cfg.regions[0]
    d = region_digest(rc, cfg.model)
    assert set(d) == {"config", "inputs", "model", "digest", "version", "files"}
    assert all(len(d[k]) == 64 for k in ("config", "inputs", "model", "digest")) and d["version"] == fdl.__version__
    assert region_digest(rc, cfg.model) == d  # stable
    other = region_digest(rc, {**cfg.model, "train": {**cfg.model["train"], "seed": 1}})
    assert other["config"] != d["config"] and other["inputs"] == d["inputs"]
    check_record(d, d, "a")
    with pytest.raises(ResumeError, match=r"its configuration changed .*\(expected digest [0-9a-f]{16}\.\.\., found"):
        check_record(other, d, "a")
    # another fusets_dl started it: one store, one version
    with pytest.raises(ResumeError, match=r"started by fusets_dl 0\.0\.old, this is .*would mix two versions"):
        check_record({**d, "version": "0.0.old"}, d, "a")
    with pytest.raises(ResumeError, match=r"started by fusets_dl of an older version"):
        check_record({k: v for k, v in d.items() if k != "version"}, d, "a")


def test_a_store_without_its_root_metadata_is_rebuilt(reference, tmp_path):
    root = _copy(reference, tmp_path)
    (root / "a.zarr" / "zarr.json").unlink()
    rows = run(_one_region(root))
    assert rows[0]["written"] == 4
    assert_same_stores(reference / "a.zarr", root / "a.zarr")


def test_a_model_left_without_a_record_is_not_reused_silently(reference, tmp_path):
    root = _copy(reference, tmp_path)
    shutil.rmtree(root / "a.zarr")
    shutil.rmtree(root / "a.zarr.progress")  # only the model of an unknown configuration is left
    with pytest.raises(ResumeError, match=r"expected a run record .* found none"):
        run(_one_region(root))


def _last_tile_chunk(store, var="NDVI"):
    return next(p for p in _chunk_files(store, var) if p.relative_to(store / var).parts[-2:] == ("1", "1"))  # tile 4/4


@pytest.mark.parametrize("damage", ["truncate", "same-size"])
def test_a_damaged_chunk_of_a_finished_region_is_found_and_its_tile_redone(reference, tmp_path, caplog, damage):
    """Resume verifies the data: a truncated chunk (or one overwritten with as many bytes) is not reported done."""
    root = _copy(reference, tmp_path)
    store = root / "a.zarr"
    victim = _last_tile_chunk(store)
    size = victim.stat().st_size
    if damage == "truncate":
        victim.write_bytes(b"")
        why = rf"chunk NDVI/c/\S+ has 0 bytes, {size} were written"
    else:
        victim.write_bytes(bytes(size))
        why = r"chunk NDVI/c/\S+ changed since it was written \(its SHA-256 differs from the record\)"
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        rows = run(_one_region(root))
    assert rows[0]["status"] == "done" and rows[0]["written"] == 1  # recomputed, not "skipped (done)", only that tile
    assert re.search(rf"marked complete but tile 4/4: {why}", caplog.text)
    assert re.search(rf"tile 4/4 was marked done but some of its chunks are missing or damaged \({why}\)", caplog.text)
    assert_same_stores(reference / "a.zarr", store)
    assert run(_one_region(root))[0]["status"] == "skipped (done)"


def test_an_untouched_copy_is_skipped_and_a_marker_without_a_record_is_decoded(reference, tmp_path, caplog):
    """New file times (a plain copy) cost a hash, not a redo; a marker of an older version is checked by decoding its chunks."""
    root = tmp_path / "out"
    shutil.copytree(reference, root, copy_function=shutil.copyfile)  # new mtimes
    store, progress = root / "a.zarr", root / "a.zarr.progress"
    assert run(_one_region(root))[0]["status"] == "skipped (done)"
    for k in range(4):  # markers as an older fusets_dl wrote them
        m = progress / f"tile-{k:05d}"
        m.write_text(json.dumps({key: v for key, v in json.loads(m.read_text()).items() if key != "chunks"}))
    tiles = [(slice(i, i + 32), slice(j, j + 32)) for i in (0, 32) for j in (0, 32)]
    assert missing_tiles(store, tiles) == []
    _last_tile_chunk(store, "NDVI_std").write_bytes(b"\0" * 7)
    assert missing_tiles(store, tiles) == [3]
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        rows = run(_one_region(root))
    assert rows[0]["written"] == 1 and re.search(r"tile 4/4: chunk NDVI_std/c/\S+ cannot be decoded", caplog.text)
    assert all("chunks" in json.loads((progress / f"tile-{k:05d}").read_text()) for k in range(4))  # recorded again
    assert_same_stores(reference / "a.zarr", store)


def test_a_damaged_coordinate_rebuilds_the_store(reference, tmp_path, caplog):
    root = _copy(reference, tmp_path)
    store = root / "a.zarr"
    next(p for p in (store / "x").rglob("*") if p.is_file() and p.name != "zarr.json").write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        rows = run(_one_region(root))
    assert rows[0]["status"] == "done" and rows[0]["written"] == 4
    assert "array 'x' cannot be decoded" in caplog.text
    assert_same_stores(reference / "a.zarr", store)


def test_a_finished_region_with_older_markers_is_recorded_once_when_skipped(reference, tmp_path):
    """A complete region of an older version: decoded once, its markers then carry records (no decode on every run)."""
    root = tmp_path / "out"
    shutil.copytree(reference, root)
    progress = root / "a.zarr.progress"
    for k in range(4):
        m = progress / f"tile-{k:05d}"
        m.write_text(json.dumps({key: v for key, v in json.loads(m.read_text()).items() if key != "chunks"}))
    assert run(_one_region(root))[0]["status"] == "skipped (done)"
    assert all("chunks" in json.loads((progress / f"tile-{k:05d}").read_text()) for k in range(4))


def test_restart_discards_only_changed_regions_and_no_file_of_the_user(reference, tmp_path):
    """``--restart`` resumes a region whose record still matches; it deletes ``<name>.report`` itself, not a kept copy."""
    root = _copy(reference, tmp_path)
    kept = root / "a.report.2026-11-27-kept"
    kept.mkdir()
    (kept / "notes.md").write_text("mine")
    (root / "a.reports-notes.txt").write_text("mine too")
    before = (root / "a.model.json").stat().st_mtime_ns
    rows = run(_one_region(root), restart=True)  # unchanged: resumed, nothing written again
    assert rows[0]["status"] == "skipped (done)"
    assert (root / "a.model.json").stat().st_mtime_ns == before
    rows = run(_one_region(root, freq="10D"), restart=True)  # changed: discarded and run again
    assert rows[0]["written"] == 4 and (root / "a.model.json").stat().st_mtime_ns != before
    assert (kept / "notes.md").read_text() == "mine" and (root / "a.reports-notes.txt").read_text() == "mine too"


def test_a_save_stopped_between_its_renames_is_finished_not_trained_again(reference, tmp_path):
    """A kill between the weights' and the sidecar's rename left weights without ``.json``: every resume trained, then failed."""
    root = _copy(reference, tmp_path)
    shutil.rmtree(root / "a.zarr")
    for p in (root / "a.zarr.progress").iterdir():
        if p.name != "RECORD.json":
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    (root / "a.model.json").rename(root / "a.model.json.tmp")
    rows = run(_one_region(root))
    assert rows[0]["status"] == "done" and (root / "a.model.json").exists() and not (root / "a.model.json.tmp").exists()
    assert "train" not in json.loads((root / "a.metrics.json").read_text())["timings_s"]  # loaded, not trained again
    assert_same_stores(reference / "a.zarr", root / "a.zarr")


def test_a_restart_interrupted_while_deleting_can_restart_again(reference, tmp_path):
    """``--restart`` killed mid-delete left the store without its root metadata; a second ``--restart`` refused it as not ours."""
    root = _copy(reference, tmp_path)
    (root / "a.zarr" / "zarr.json").unlink()
    shutil.rmtree(root / "a.zarr" / "NDVI")
    rows = run(_one_region(root, freq="10D"), restart=True)  # changed: discarded (what is left of the store too), run again
    assert rows[0]["status"] == "done" and rows[0]["written"] == 4


def test_a_layout_with_the_older_fill_values_is_written_again_on_resume(reference, tmp_path, caplog):
    """A store laid out before the counts and flags got fill value -1 (fill 0: an unwritten tile read as "no season") is
    laid out again when its interrupted region resumes, and every tile is written again."""
    root = _copy(reference, tmp_path)
    store, progress = root / "a.zarr", root / "a.zarr.progress"
    before = xr.open_zarr(store)["n_seasons"].values
    meta = json.loads((store / "n_seasons" / "zarr.json").read_text())
    assert meta["fill_value"] == -1
    meta["fill_value"] = 0  # the layout of an older fusets_dl
    (store / "n_seasons" / "zarr.json").write_text(json.dumps(meta))
    (progress / "ALL_DONE").unlink()  # interrupted after its second tile
    for marker in sorted(progress.glob("tile-*"))[2:]:
        marker.unlink()
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        rows = run(_one_region(root))
    assert rows[0]["status"] == "done" and rows[0]["written"] == 4
    assert "its array 'n_seasons' reads 0 where a tile is not written yet, this run's layout -1" in caplog.text
    assert json.loads((store / "n_seasons" / "zarr.json").read_text())["fill_value"] == -1
    np.testing.assert_array_equal(xr.open_zarr(store)["n_seasons"].values, before)


def test_a_model_recalibrated_between_a_run_and_its_resume_lays_the_store_out_again(reference, tmp_path, caplog):
    """The region's model re-saved with another calibration (the same weights: calibrate_sequence keeps them) between an
    interrupted run and its resume: the old tiles were kept and the rest written with the new std (a 17 % jump in
    NDVI_std at the tile boundary), the region reported done. The store records the calibration's digest now."""
    root = _copy(reference, tmp_path)
    store, progress = root / "a.zarr", root / "a.zarr.progress"
    attrs = json.loads((store / "zarr.json").read_text())["attributes"]
    assert len(attrs["model_calibration_sha256"]) == 64
    assert attrs["smoothing"].startswith("weighted Whittaker")  # the reconstruction's, no longer lost to phenology's
    model_path = root / "a.model"
    model = fdl.load_model(model_path)
    rec = dict(model.info.get("reconstruction") or {})
    rec["settings"] = {**dict(rec.get("settings") or {}), "w_pred": 7.0}  # another stored setting, the same weights
    model.info["reconstruction"] = rec
    model.save(model_path)
    (progress / "ALL_DONE").unlink()  # interrupted after its second tile
    for marker in sorted(progress.glob("tile-*"))[2:]:
        marker.unlink()
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        rows = run(_one_region(root))
    assert rows[0]["status"] == "done" and rows[0]["written"] == 4  # every tile again, not 2
    assert "written with another calibration of this model" in caplog.text


def _unfinish(root, keep=2):
    """Region ``a`` of ``root`` as a run interrupted after its first ``keep`` tiles left it (flag and later markers gone)."""
    progress = root / "a.zarr.progress"
    (progress / "ALL_DONE").unlink()
    for marker in sorted(progress.glob("tile-*"))[keep:]:
        marker.unlink()


def _zarr_remove(store, name):
    """Remove an array with zarr's API and consolidate the metadata again, as a slimming script does."""
    import zarr

    g = zarr.open_group(str(store), mode="r+")
    del g[name]
    zarr.consolidate_metadata(str(store))


class _Stop(Exception):
    pass


def test_a_copy_of_an_unfinished_store_says_it_is_unfinished(reference, tmp_path, recwarn):
    """ops hunt F3: the unfinished check lived only in ``<store>.progress/``: a store copied without it read as finished
    (report, open_store silent). The store says it now (root attribute fusets_dl_complete), and a finished one says true."""
    assert store_complete(reference / "a.zarr") is True
    root = tmp_path / "out"

    def stop_after_two(region, done, total):
        if done >= 2:
            raise _Stop("killed")

    with pytest.raises(_Stop):
        run(_one_region(root), progress=stop_after_two)
    assert store_complete(root / "a.zarr") is False
    copied = tmp_path / "copied" / "a.zarr"
    shutil.copytree(root / "a.zarr", copied)  # without its .progress sibling
    for check in (lambda: warn_if_unfinished(copied, "report"), lambda: open_store(copied, what="fusion cube")):
        with pytest.warns(UserWarning, match=r"fusets_dl_complete is false.*unwritten tiles read as missing"):
            check()
    assert xr.open_zarr(copied).attrs["fusets_dl_complete"] is False  # in the consolidated metadata too
    assert run(_one_region(root))[0]["status"] == "done"  # resumed: the store says finished again
    assert store_complete(root / "a.zarr") is True
    assert_same_stores(reference / "a.zarr", root / "a.zarr")
    recwarn.clear()
    for i, store in enumerate((root / "a.zarr", reference / "a.zarr")):  # copies of finished stores: no warning
        shutil.copytree(store, tmp_path / f"done{i}" / "a.zarr")
        warn_if_unfinished(tmp_path / f"done{i}" / "a.zarr", "report")
    old = tmp_path / "old" / "a.zarr"  # a store of before the attribute: no warning
    shutil.copytree(reference / "a.zarr", old)
    meta = json.loads((old / "zarr.json").read_text())
    del meta["attributes"]["fusets_dl_complete"]
    (old / "zarr.json").write_text(json.dumps(meta))
    assert store_complete(old) is None
    warn_if_unfinished(old, "report")
    assert not [w for w in recwarn if "unfinished" in str(w.message) or "not finished" in str(w.message)]


@pytest.mark.parametrize("finished", [True, False])
def test_a_variable_removed_with_zarr_is_found_and_the_layout_rebuilt(reference, tmp_path, caplog, finished):
    """ops hunt F4: NDVI_std removed with zarr's API (metadata consolidated again): a finished region was skipped as done
    without it; an unfinished one failed with xarray's "non-pre-existing variables" ValueError."""
    root = _copy(reference, tmp_path)
    if not finished:
        _unfinish(root)
    _zarr_remove(root / "a.zarr", "NDVI_std")
    assert "NDVI_std" not in xr.open_zarr(root / "a.zarr")
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        rows = run(_one_region(root))
    assert rows[0]["status"] == "done" and rows[0]["written"] == 4
    assert "array(s) ['NDVI_std'] are missing, this run writes them" in caplog.text
    if finished:
        assert "its array 'NDVI_std' (in the tile's record) is not in the store" in caplog.text
    assert_same_stores(reference / "a.zarr", root / "a.zarr")
    assert run(_one_region(root))[0]["status"] == "skipped (done)"


def test_a_finished_store_of_this_run_without_its_progress_folder_is_verified_not_refused(reference, tmp_path, caplog):
    """ops hunt F7: the progress folder of a finished region cleaned up: refused as "another program or an older fusets_dl"
    though the store carries this run's digest. It is adopted now: every chunk decoded once, nothing recomputed."""
    root = _copy(reference, tmp_path)
    shutil.rmtree(root / "a.zarr.progress")
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        rows = run(_one_region(root))
    assert rows[0]["status"] == "done" and rows[0]["written"] == 0
    assert "its progress folder" in caplog.text and "is a finished one of this run" in caplog.text
    assert_same_stores(reference / "a.zarr", root / "a.zarr")
    assert store_complete(root / "a.zarr") is True
    assert run(_one_region(root))[0]["status"] == "skipped (done)"


def test_an_unfinished_store_of_this_run_without_its_progress_folder_is_refused_by_name(reference, tmp_path):
    root = _copy(reference, tmp_path)
    _unfinish(root)
    (root / "a.zarr.progress" / "tile-00000").unlink()
    set_store_complete(root / "a.zarr", False)  # as a run interrupted during its tiles leaves it
    shutil.rmtree(root / "a.zarr.progress")
    with pytest.raises(ResumeError, match=r"is this run's \(same fusets_dl version and run digest .*progress folder .* is gone.*"
                                          r"fusets_dl_complete false .*--restart"):
        run(_one_region(root))
    other = _copy(reference, tmp_path / "other")  # another run's store (another digest): refused as before
    shutil.rmtree(other / "a.zarr.progress")
    with pytest.raises(ResumeError, match="made by another program or an older fusets_dl"):
        run(_one_region(other, freq="10D"))


def test_a_damaged_saved_model_of_an_unfinished_region_names_restart_and_restart_retrains(reference, tmp_path):
    """ops hunt F6: a truncated ``a.model.safetensors`` in an unfinished region failed every rerun, ``--restart`` too
    (the record was unchanged, so the region was resumed, and the model loaded again)."""
    root = _copy(reference, tmp_path)
    _unfinish(root)
    weights = root / "a.model.safetensors"
    with open(weights, "r+b") as fh:
        fh.truncate(weights.stat().st_size // 2)
    with pytest.raises(ModelError, match=r"region a: expected the model an earlier run .*Rerun with --restart.*delete a\.model\.json and a\.model\.safetensors"):
        run(_one_region(root))
    rows = run(_one_region(root), restart=True)
    assert rows[0]["status"] == "done" and rows[0]["written"] == 4
    fdl.load_model(root / "a.model")  # trained again, whole
    assert_same_stores(reference / "a.zarr", root / "a.zarr")  # seeded: the same model, the same output


def test_inputs_moved_or_copied_with_the_same_content_are_the_same_inputs(reference, tmp_path, caplog):
    """ops hunt F5: the inputs were identified by their absolute path: a project folder moved with ``mv`` (or inputs copied
    elsewhere, new times) made a finished region "changed", and the message named no file."""
    root = _copy(reference, tmp_path)
    sample = find_sample()
    moved = tmp_path / "moved"
    moved.mkdir()
    for name in ("s1.nc", "s2.nc"):
        shutil.copyfile(sample / name, moved / name)  # new path, new modification time, same bytes
    cfg = _one_region(root, s1=str(moved / "s1.nc"), s2=str(moved / "s2.nc"))
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        assert run(cfg)[0]["status"] == "skipped (done)"
    assert "input files moved, their content unchanged" in caplog.text
    rec = json.loads((root / "a.zarr.progress" / "RECORD.json").read_text())
    assert [e["path"] for e in rec["files"]] == [str(moved / "s1.nc"), str(moved / "s2.nc")]  # recorded where they are now
    with open(moved / "s2.nc", "ab") as fh:
        fh.write(b"\0" * 16)
    with pytest.raises(ResumeError, match=r"its input files changed since the region was started \[s2 file 1 '.*moved/s2\.nc': "
                                          r"its content changed \(size (\d+) -> (\d+) bytes; modified .*; SHA-256 "):
        run(cfg)


def test_a_large_input_copied_with_a_new_time_is_hashed_once_not_changed(tmp_path, monkeypatch):
    """Above 64 MiB an input was identified by its size, mtime and ends: a byte-identical copy (staged to node-local scratch,
    restored from a backup) was a change. It is hashed in full now when its time or path changes, and only then."""
    monkeypatch.setattr(record, "_FULL_HASH_LIMIT", 4096)  # the sample's files count as large
    monkeypatch.setattr(record, "_EDGE", 1024)
    src = find_sample()
    data = tmp_path / "data"
    data.mkdir()
    for name in ("s1.nc", "s2.nc"):
        shutil.copyfile(src / name, data / name)
    cfg = load_config(_one_region(tmp_path / "out", s1=str(data / "s1.nc"), s2=str(data / "s2.nc")))
    rc = cfg.regions[0]
    first = region_digest(rc, cfg.model)
    hashed = []
    real = record._sha256
    monkeypatch.setattr(record, "_sha256", lambda p: hashed.append(p.name) or real(p))
    record._FULL_HASHES.clear()
    assert region_digest(rc, cfg.model, recorded=first) == first and hashed == []  # untouched: the record is trusted
    st = (data / "s2.nc").stat()
    os.utime(data / "s2.nc", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a copy: new time, same bytes
    again = region_digest(rc, cfg.model, recorded=first)
    assert again["digest"] == first["digest"] and hashed == ["s2.nc"]
    check_record(first, again, "a")
    with open(data / "s2.nc", "r+b") as fh:  # the middle changed, size kept, a new time
        fh.seek(st.st_size // 2)
        fh.write(b"changed!")
    changed = region_digest(rc, cfg.model, recorded=again)
    with pytest.raises(ResumeError, match=r"\[s2 file 1 '.*s2\.nc': its content changed \(modified .* -> .*; SHA-256 "):
        check_record(again, changed, "a")


def test_a_run_record_of_an_older_fusets_dl_is_compared_as_it_was_written(tmp_path):
    cfg = load_config(_one_region(tmp_path / "out"))
    rc = cfg.regions[0]
    now = region_digest(rc, cfg.model)
    legacy = {k: now[k] for k in ("config", "model", "version")}
    legacy["inputs"] = record._legacy_inputs_digest(rc)
    legacy["digest"] = hashlib.sha256("".join(legacy[k] for k in ("config", "inputs", "model")).encode()).hexdigest()
    again = region_digest(rc, cfg.model, recorded=legacy)
    check_record(legacy, again, "a")  # same paths and files: resumed as before
    other = {**legacy, "inputs": "0" * 64, "digest": "1" * 64}  # an older record of moved inputs
    with pytest.raises(ResumeError, match=r"its input files changed .*the run record is of an older fusets_dl, which identified "
                                          r"input files by their absolute path"):
        check_record(other, region_digest(rc, cfg.model, recorded=other), "a")


def test_report_true_on_a_finished_region_writes_its_report(reference, tmp_path):
    """report: true added after a region finished wrote nothing and said nothing (report is not in the run record)."""
    root = _copy(reference, tmp_path)
    assert not (root / "a.report").exists()  # the reference ran with report: false
    cfg = _one_region(root)
    cfg["report"] = True
    rows = run(cfg)
    assert rows[0]["status"] == "skipped (done)"
    assert (root / "a.report" / "report.md").is_file()
    assert_same_stores(reference / "a.zarr", root / "a.zarr")
