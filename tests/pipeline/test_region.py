"""One region: kill-and-resume to identical output, a class map restricting phenology."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import xarray as xr

from fusets_dl.pipeline import run
from tests.pipeline.helpers import assert_same_stores, cli_run, sample_config, write_config


def test_killed_run_resumes_to_identical_output(tmp_path):
    full_root, killed_root = tmp_path / "full", tmp_path / "killed"
    (tmp_path / "f").mkdir()
    (tmp_path / "k").mkdir()
    full = cli_run(write_config(tmp_path / "f", sample_config(full_root)))
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()
    proc = cli_run(write_config(tmp_path / "k", sample_config(killed_root)))
    marker = killed_root / "a.zarr.progress" / "tile-00001"
    deadline = time.time() + 240
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)  # kill -9 in the middle of region a's tiles
    proc.wait()
    assert not (killed_root / "a.zarr.progress" / "ALL_DONE").exists()
    resumed = cli_run(tmp_path / "k" / "run.yaml")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    for name in ("a", "b"):
        assert_same_stores(full_root / f"{name}.zarr", killed_root / f"{name}.zarr")


def test_run_with_a_class_map_restricts_phenology_to_the_kept_classes(tmp_path):
    root = tmp_path / "out"
    cfg = sample_config(root)
    cfg["regions"] = cfg["regions"][:1]
    cfg["regions"][0]["classes"] = {"n_classes": 3, "epochs": 6, "keep": [0]}
    cfg["report"] = False
    run(cfg)
    ds = xr.open_zarr(root / "a.zarr")
    cls = ds["class"].values
    assert cls.dtype == np.int16 and set(np.unique(cls)) <= {-1, 0, 1, 2}
    n = ds["n_seasons"].values
    assert (n[cls != 0] == 0).all()  # phenology only on the kept class
    assert (n[cls == 0] > 0).mean() > 0.5
    metrics = json.loads((root / "a.metrics.json").read_text())
    rows = metrics["phenology_by_class"]
    assert rows and {r["class"] for r in rows} == {0}
    assert (root / "a.segmenter.safetensors").exists() and (root / "a.segmenter.json").exists()
