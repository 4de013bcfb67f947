"""Whole runs: outputs of every region, finished regions skipped, threaded scheduler vs LocalCluster."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from fusets_dl.pipeline import run, summary_table
from tests.pipeline.helpers import assert_same_stores, sample_config


def test_run_writes_outputs_and_skips_finished_regions(tmp_path):
    root = tmp_path / "out"
    calls = []
    rows = run(sample_config(root), progress=lambda region, done, total: calls.append((region, done, total)))
    assert [r["status"] for r in rows] == ["done", "done"]
    assert calls == [("a", 1, 4), ("a", 2, 4), ("a", 3, 4), ("a", 4, 4), ("b", 1, 4), ("b", 2, 4), ("b", 3, 4), ("b", 4, 4)]
    for name in ("a", "b"):
        ds = xr.open_zarr(root / f"{name}.zarr", decode_coords="all")
        assert {"NDVI", "NDVI_std", "source", "sos", "eos", "n_seasons"} <= set(ds.data_vars)
        assert ds.rio.crs is not None and ds.attrs["model_sha256"]
        assert (root / f"{name}.metrics.json").exists() and (root / f"{name}.log").read_text()
        assert (root / f"{name}.model.safetensors").exists()
        metrics = json.loads((root / f"{name}.metrics.json").read_text())  # the cube staged once for training and tiles, then deleted
        assert metrics["timings_s"]["stage cube"] > 0 and not (root / f"{name}.zarr.progress" / "staged-cube.zarr").exists()
        md = (root / f"{name}.report" / "report.md").read_text()  # one report per region
        assert "Held-out metrics (spatial blocks)" in md and "](figures/maps.png)" in md
        assert (root / f"{name}.report" / "report.html").exists()
    assert xr.open_zarr(root / "b.zarr").time.values[-1] < np.datetime64("2022-01-01")
    again = run(sample_config(root))
    assert [r["status"] for r in again] == ["skipped (done)", "skipped (done)"]
    assert not (root / ".fusets-dl.lock").exists()


def test_local_cluster_gives_the_same_output(tmp_path):
    cfg = sample_config(tmp_path / "threads")
    run(cfg)
    cfg2 = dict(cfg, output_root=str(tmp_path / "cluster"))
    run(cfg2, workers=2)
    for name in ("a", "b"):  # two regions, threaded scheduler vs a 2-worker LocalCluster
        assert_same_stores(tmp_path / "threads" / f"{name}.zarr", tmp_path / "cluster" / f"{name}.zarr")


def test_summary_table_has_a_line_per_region():
    table = summary_table([{"region": "a", "status": "done", "tiles": 4}, {"region": "b", "status": "skipped (done)"}])
    lines = table.splitlines()
    assert lines[0].startswith("| region | status | tiles |") and lines[1].startswith("|---|")
    assert lines[2].startswith("| a | done | 4 |") and lines[3].startswith("| b | skipped (done) |")


def test_a_failing_region_does_not_stop_the_others(tmp_path, capsys):
    """The first region's failure is raised once the others have run, with every region's row; the CLI prints the table."""
    import pytest

    from fusets_dl.cli import main
    from fusets_dl.errors import DimensionError
    from tests.pipeline.helpers import write_config

    cfg = sample_config(tmp_path / "out", report=False)
    cfg["regions"][0]["time_range"] = ["2030-01-01", "2030-12-31"]  # region a: no date there
    with pytest.raises(DimensionError) as err:
        run(cfg)
    rows = err.value.run_rows
    assert [r["region"] for r in rows] == ["a", "b"] and rows[0]["status"] == "failed: DimensionError" and rows[1]["status"] == "done"
    assert (tmp_path / "out" / "b.zarr").exists()
    capsys.readouterr()
    assert main(["-q", "run", str(write_config(tmp_path, cfg))]) != 0  # b is skipped (done), a fails again: the table first
    out = capsys.readouterr().out
    assert "| a | failed: DimensionError |" in out and "| b | skipped (done) |" in out


def test_a_model_reading_the_cloudy_ndvi_gets_it_in_a_batch_run(tmp_path):
    """``FeatureSpec(cloudy_input=True)``: the region's cube keeps the cloudy NDVI (before: training failed after open and align,
    and a loaded such model predicted silently from its baseline)."""
    cfg = sample_config(tmp_path / "out", report=False)
    cfg["regions"] = cfg["regions"][:1]
    cfg["model"] = {"mode": "train", "features": {"groups": ["sar", "time", "optical"], "cloudy_input": True},
                    "train": {"max_epochs": 2, "hidden": [16], "seed": 0, "block_size": 8}}
    rows = run(cfg)
    assert rows[0]["status"] == "done"
    from fusets_dl.models import load_model

    assert load_model(tmp_path / "out" / "a.model").spec.cloudy_input


def test_a_loaded_model_claims_no_held_out_score_on_the_region(tmp_path):
    """``mode: load``: the row's test_r2 is not the model's own test score, and the report says whose numbers it shows."""
    import math

    first = sample_config(tmp_path / "first")
    first["regions"] = first["regions"][:1]
    run(first)
    cfg = sample_config(tmp_path / "second")
    cfg["regions"] = [{**cfg["regions"][1], "name": "c"}]
    cfg["model"] = {"mode": "load", "path": str(tmp_path / "first" / "a.model")}
    rows = run(cfg)
    assert rows[0]["status"] == "done" and math.isnan(rows[0]["test_r2"])
    md = (tmp_path / "second" / "c.report" / "report.md").read_text()
    assert "The loaded model's held-out metrics on its own training data" in md
    assert json.loads((tmp_path / "second" / "c.metrics.json").read_text())["model_loaded_from"].endswith("a.model")


def test_warnings_of_a_region_reach_its_log_and_the_caller(tmp_path, monkeypatch):
    """A Python warning raised in a region is copied to ``<region>.log`` and still reaches the caller (its filters too)."""
    import warnings

    import pytest

    from fusets_dl.pipeline import runner

    def _warns(cfg, rc, progress=None, restart=False):
        warnings.warn(f"suspicious input in {rc.name}", UserWarning, stacklevel=1)
        return {"region": rc.name, "status": "done"}

    monkeypatch.setattr(runner, "run_region", _warns)
    cfg = sample_config(tmp_path / "out", report=False)
    before = warnings.showwarning
    with pytest.warns(UserWarning, match="suspicious input in [ab]") as record:
        run(cfg)
    assert sorted(str(w.message) for w in record) == ["suspicious input in a", "suspicious input in b"]
    for name in ("a", "b"):
        log = (tmp_path / "out" / f"{name}.log").read_text()
        assert f"WARNING py.warnings: UserWarning: suspicious input in {name}" in log
        assert f"suspicious input in {'b' if name == 'a' else 'a'}" not in log  # each region's log has its own
    assert warnings.showwarning is before  # the hook is removed after the run
    with warnings.catch_warnings():  # an "error" filter still turns the warning into the region's failure
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="suspicious input in a"):
            run(sample_config(tmp_path / "again", report=False))
    assert "suspicious input in a" in (tmp_path / "again" / "a.log").read_text()


def test_a_full_disk_names_the_step_and_what_a_rerun_keeps(tmp_path, monkeypatch):
    """``[Errno 28]`` while staging or writing the metrics: an OutputError naming the step, the path and the free space."""
    import errno

    import pytest

    from fusets_dl.errors import OutputError
    from fusets_dl.pipeline import region

    def _full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    cfg = sample_config(tmp_path / "out", report=False)
    cfg["regions"] = cfg["regions"][:1]
    monkeypatch.setattr(region, "staged_cube", _full)
    with pytest.raises(OutputError, match=r"region a: staging the aligned cube at .*staged-cube.zarr' failed: No space left on "
                                          r"device \(free on that disk: [0-9.]+ MB\).*rerun the same command to resume") as err:
        run(cfg)
    assert isinstance(err.value.__cause__, OSError) and err.value.__cause__.errno == errno.ENOSPC
    assert not (tmp_path / "out" / ".fusets-dl.lock").exists()
    monkeypatch.undo()
    written = region.write_json_atomic

    def _metrics_full(path, *args, **kwargs):
        if str(path).endswith(".metrics.json"):
            _full()
        written(path, *args, **kwargs)

    monkeypatch.setattr(region, "write_json_atomic", _metrics_full)
    with pytest.raises(OutputError, match=r"region a: writing the metrics .* Every tile \(4\) is written and kept"):
        run(cfg)
    monkeypatch.undo()
    rows = run(cfg)  # space freed: the rerun finds every tile and writes only what is missing
    assert rows[0]["status"] == "done" and rows[0]["written"] == 0


def test_other_os_errors_pass_unchanged(tmp_path, monkeypatch):
    """Only a full disk or quota is reworded; a permission error keeps its own type and message."""
    import errno

    import pytest

    from fusets_dl.pipeline import region

    def _denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "somewhere")

    cfg = sample_config(tmp_path / "out", report=False)
    cfg["regions"] = cfg["regions"][:1]
    monkeypatch.setattr(region, "staged_cube", _denied)
    with pytest.raises(PermissionError, match="Permission denied"):
        run(cfg)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_sigterm_stops_a_run_cleanly_and_the_same_command_resumes(tmp_path, sig):
    """SIGTERM (a scheduler's time limit) or SIGHUP (the ssh session closed; before: exit 129 leaving the lock and the staged
    cube): exit 128 + the signal, the lock and the staged cube removed, the log says so, the rerun finishes."""
    import os
    import signal
    import time

    from tests.pipeline.helpers import cli_run, write_config

    root = tmp_path / "out"
    cfg = sample_config(root, report=False)
    cfg["regions"] = cfg["regions"][:1]
    path = write_config(tmp_path, cfg)
    proc = cli_run(path)
    marker = root / "a.zarr.progress" / "tile-00001"
    deadline = time.time() + 240
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be stopped: " + proc.stderr.read().decode()
    assert (root / ".fusets-dl.lock").exists() and (root / "a.zarr.progress" / "staged-cube.zarr").exists()
    os.kill(proc.pid, getattr(signal, sig))  # in the middle of the tiles
    assert proc.wait(timeout=120) == 128 + int(getattr(signal, sig))
    err = proc.stderr.read().decode()
    assert f"terminated ({sig})" in err and "Traceback" not in err
    assert not (root / ".fusets-dl.lock").exists() and not (root / "a.zarr.progress" / "staged-cube.zarr").exists()
    assert not (root / "a.zarr.progress" / "ALL_DONE").exists()
    assert f"stopped by {sig}" in (root / "a.log").read_text()
    resumed = cli_run(path)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    assert (root / "a.zarr.progress" / "ALL_DONE").exists()


def test_the_warnings_copy_is_inert_once_its_region_has_ended(tmp_path, monkeypatch, recwarn):
    """A thread's catch_warnings that ends after the region can put the region's hook back: it then passes warnings on
    without writing to the closed region log (before: every later warning was appended to that region's log)."""
    import warnings

    from fusets_dl.pipeline import runner

    hooks = []

    def _grab(cfg, rc, progress=None, restart=False):
        hooks.append(warnings.showwarning)
        return {"region": rc.name, "status": "done"}

    monkeypatch.setattr(runner, "run_region", _grab)
    cfg = sample_config(tmp_path / "out", report=False)
    cfg["regions"] = cfg["regions"][:1]
    run(cfg)
    before = warnings.showwarning
    recwarn.clear()
    try:
        warnings.showwarning = hooks[0]  # what a late catch_warnings exit would restore
        with warnings.catch_warnings():  # (record=True would bypass the hook)
            warnings.simplefilter("always")
            warnings.warn("after the region", UserWarning, stacklevel=1)
    finally:
        warnings.showwarning = before
    assert [str(w.message) for w in recwarn] == ["after the region"]  # the hook ran and passed the warning on
    assert "after the region" not in (tmp_path / "out" / "a.log").read_text()


def test_a_quota_and_a_full_disk_while_marking_a_tile_are_named(tmp_path, monkeypatch):
    """EDQUOT names the quota, not the disk's free space; ENOSPC while writing a tile's marker names the tile."""
    import errno

    import pytest

    from fusets_dl.errors import OutputError
    from fusets_dl.pipeline import region

    cfg = sample_config(tmp_path / "out", report=False)
    cfg["regions"] = cfg["regions"][:1]

    def _quota(*args, **kwargs):
        raise OSError(errno.EDQUOT, "Disk quota exceeded")

    monkeypatch.setattr(region, "staged_cube", _quota)
    with pytest.raises(OutputError, match=r"Disk quota exceeded \(free space within your quota\)") as err:
        run(cfg)
    assert "free on that disk" not in str(err.value)
    monkeypatch.undo()
    written = region.write_json_atomic

    def _marker_full(path, *args, **kwargs):
        if path.name.startswith("tile-"):
            raise OSError(errno.ENOSPC, "No space left on device")
        written(path, *args, **kwargs)

    monkeypatch.setattr(region, "write_json_atomic", _marker_full)
    with pytest.raises(OutputError, match=r"region a: marking tile \d done at .*tile-0000\d' failed: No space left on device"):
        run(cfg)


def test_a_scheduler_address_that_is_not_a_dask_scheduler_fails_within_the_timeout(tmp_path, monkeypatch):
    """The dashboard's port (8787 typed for 8786) or any HTTP server accepted the connection and the run hung forever."""
    import http.server
    import threading
    import time

    from fusets_dl.errors import ConfigError
    from fusets_dl.pipeline import runner

    monkeypatch.setattr(runner, "_CONNECT_TIMEOUT_S", 1.0)
    class _Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # the 400 for Dask's handshake: not this test's output
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"tcp://127.0.0.1:{server.server_address[1]}"
    start = time.monotonic()
    try:
        with pytest.raises(ConfigError, match=r"(?s)" + address + r".*expected a Dask scheduler.*8786.*8787"):
            run(sample_config(tmp_path / "out", report=False), scheduler=address)
    finally:
        server.shutdown()
        server.server_close()
    assert time.monotonic() - start < 10  # 1 s timeout + 2 s grace, not forever
    assert not (tmp_path / "out" / ".fusets-dl.lock").exists()  # nothing left behind
    from distributed import default_client

    with pytest.raises(ValueError, match="No clients found"):  # the client still connecting is not the default one:
        default_client()  # it took every later dask compute of the process, which then waited forever


class _FakeClient:
    def __init__(self, limits):
        self.limits = limits

    def scheduler_info(self):
        return {"workers": {f"tcp://w{i}:1": {"memory_limit": m} for i, m in enumerate(self.limits)}}


def test_workers_with_less_memory_than_torch_and_the_model_need_are_warned_of():
    """Workers limited to 700 MB paused at 81-83 % after training (torch + model idle at ~550 MB): the run hung silently."""
    from fusets_dl.pipeline.runner import _check_worker_memory

    with pytest.warns(UserWarning, match=r"1 of 2 workers have a memory limit below 2 GB \(the smallest 0\.70 GB.*--memory-limit"):
        _check_worker_memory(_FakeClient([7e8, 4e9]))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_worker_memory(_FakeClient([4e9, 2e9]))  # at the floor: fine
        _check_worker_memory(_FakeClient([0, None]))  # no limit set: nothing to judge


def test_a_warning_raised_in_a_worker_reaches_the_region_log_and_the_caller(tmp_path, monkeypatch):
    """Under workers: a per-chunk guard warned only in the worker process: neither the caller nor <region>.log had it."""
    import warnings

    import dask

    from fusets_dl._warn import warn_user
    from fusets_dl.pipeline import runner

    def _region(cfg, rc, progress=None, restart=False):
        dask.delayed(warn_user)("a worker's guard", pure=False).compute()
        return {"region": rc.name, "status": "done"}

    monkeypatch.setattr(runner, "run_region", _region)
    cfg = sample_config(tmp_path / "out", report=False)
    cfg["regions"] = cfg["regions"][:1]
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("default")
        run(cfg, workers=1)
    assert [str(w.message) for w in got if "guard" in str(w.message)] == ["a worker's guard"]
    assert "UserWarning: a worker's guard" in (tmp_path / "out" / "a.log").read_text()
