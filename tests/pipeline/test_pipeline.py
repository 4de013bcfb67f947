"""Batch runs: config validation, lock, kill-and-resume, schedulers, outputs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from fusets_dl.errors import ConfigError
from fusets_dl.pipeline.core import LockError, load_config, output_lock, run
from fusets_dl.sample import find_sample
from tests.paths import REPO


def _config(root: Path, **extra) -> dict:
    sample = find_sample()
    cfg = {
        "output_root": str(root),
        "model": {"mode": "train", "train": {"max_epochs": 2, "hidden": [32, 16], "seed": 0, "block_size": 8}},
        "defaults": {"tile_size": 32, "chunk": 32, "freq": "5D", "phenology": {"max_seasons": 4}},
        "regions": [
            {"name": "a", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc")},
            {"name": "b", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc"), "time_range": ["2021-01-01", "2021-12-31"]},
        ],
    }
    cfg.update(extra)
    return cfg


def _write(tmp: Path, cfg: dict) -> Path:
    p = tmp / "run.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _arrays(store: Path) -> dict[str, np.ndarray]:
    ds = xr.open_zarr(store)
    return {str(v): ds[v].values for v in ds.data_vars}


def _assert_same(a: Path, b: Path) -> None:
    xa, xb = _arrays(a), _arrays(b)
    assert xa.keys() == xb.keys()
    for k in xa:
        np.testing.assert_array_equal(xa[k], xb[k], err_msg=k)


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"colour": "red"}, r"top level: unknown keys \['colour'\]"),
        ({"regions": [{"name": "x", "s1": "nope.nc", "s2": "nope.nc"}]}, r"region 'x' s1: file not found"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "time_range": ["2021-13-45", "2022-01-01"]}]}, r"region 'x' time_range: expected a date"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "speed": 3}]}, r"region 'x': unknown keys \['speed'\]"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "tile_size": "big"}]}, r"region 'x' tile_size: expected an integer"),
        ({"model": {"mode": "load", "path": "missing_model"}}, r"model path: model not found"),
        ({"model": {"mode": "train", "train": {"epochs": 3}}}, r"TrainConfig: unknown keys \['epochs'\]"),
        ({"regions": [{"name": "../escape", "s1": "S1", "s2": "S2"}]}, r"name: expected letters"),
    ],
)
def test_bad_configs_fail_before_any_work(tmp_path, patch, message):
    sample = find_sample()
    cfg = _config(tmp_path / "out")
    for r in patch.get("regions", []):
        r["s1"] = str(sample / "s1.nc") if r["s1"] == "S1" else r["s1"]
        r["s2"] = str(sample / "s2.nc") if r["s2"] == "S2" else r["s2"]
    cfg.update(patch)
    with pytest.raises(ConfigError, match=message):
        run(_write(tmp_path, cfg))
    assert not (tmp_path / "out").exists()  # nothing was started


def test_run_writes_outputs_and_skips_finished_regions(tmp_path):
    root = tmp_path / "out"
    calls = []
    rows = run(_config(root), progress=lambda region, done, total: calls.append((region, done, total)))
    assert [r["status"] for r in rows] == ["done", "done"]
    assert calls == [("a", 1, 4), ("a", 2, 4), ("a", 3, 4), ("a", 4, 4), ("b", 1, 4), ("b", 2, 4), ("b", 3, 4), ("b", 4, 4)]
    for name in ("a", "b"):
        ds = xr.open_zarr(root / f"{name}.zarr", decode_coords="all")
        assert {"NDVI", "NDVI_std", "source", "sos", "eos", "n_seasons"} <= set(ds.data_vars)
        assert ds.rio.crs is not None and ds.attrs["model_sha256"]
        assert (root / f"{name}.metrics.json").exists() and (root / f"{name}.log").read_text()
        assert (root / f"{name}.model.safetensors").exists()
        md = (root / f"{name}.report" / "report.md").read_text()  # one report per region
        assert "Held-out metrics (spatial blocks)" in md and "](figures/maps.png)" in md
        assert (root / f"{name}.report" / "report.html").exists()
    assert xr.open_zarr(root / "b.zarr").time.values[-1] < np.datetime64("2022-01-01")
    again = run(_config(root))
    assert [r["status"] for r in again] == ["skipped (done)", "skipped (done)"]
    assert not (root / ".fusets-dl.lock").exists()


def test_a_second_run_on_the_same_root_is_refused(tmp_path):
    root = tmp_path / "out"
    with output_lock(root), pytest.raises(LockError, match="locked by another run"):
        run(_config(root))
    # a stale lock (its process is gone) is taken over
    stale = {"pid": 999999999, "host": socket.gethostname(), "started": "x"}
    (root / ".fusets-dl.lock").write_text(json.dumps(stale))
    with output_lock(root):
        pass


def _env() -> dict:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # same float results in every process
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cli_run(cfg_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fusets_dl", "-q", "run", str(cfg_path)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_killed_run_resumes_to_identical_output(tmp_path):
    full_root, killed_root = tmp_path / "full", tmp_path / "killed"
    (tmp_path / "f").mkdir()
    (tmp_path / "k").mkdir()
    full = _cli_run(_write(tmp_path / "f", _config(full_root)))
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()
    proc = _cli_run(_write(tmp_path / "k", _config(killed_root)))
    marker = killed_root / "a.zarr.progress" / "tile-00001"
    deadline = time.time() + 240
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)  # kill -9 in the middle of region a's tiles
    proc.wait()
    assert not (killed_root / "a.zarr.progress" / "ALL_DONE").exists()
    resumed = _cli_run(tmp_path / "k" / "run.yaml")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    for name in ("a", "b"):
        _assert_same(full_root / f"{name}.zarr", killed_root / f"{name}.zarr")


def test_local_cluster_gives_the_same_output(tmp_path):
    cfg = _config(tmp_path / "threads")
    run(cfg)
    cfg2 = dict(cfg, output_root=str(tmp_path / "cluster"))
    run(cfg2, workers=2)
    for name in ("a", "b"):  # two regions, threaded scheduler vs a 2-worker LocalCluster
        _assert_same(tmp_path / "threads" / f"{name}.zarr", tmp_path / "cluster" / f"{name}.zarr")


def test_load_config_resolves_relative_paths(tmp_path):
    cfg = load_config(REPO / "pipelines" / "sample.yaml")
    assert cfg.output_root == (REPO / "outputs" / "sample_run").resolve() or cfg.output_root.name == "sample_run"
    assert [r.name for r in cfg.regions] == ["sample", "sample_2021"]
    assert cfg.regions[1].time_range == ("2021-01-01", "2021-12-31")


def test_run_with_a_class_map_restricts_phenology_to_the_kept_classes(tmp_path):
    root = tmp_path / "out"
    cfg = _config(root)
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


def test_bad_class_config_is_refused(tmp_path):
    cfg = _config(tmp_path / "out")
    cfg["regions"][0]["classes"] = {"keep": [0]}
    with pytest.raises(ConfigError, match="classes: expected 'segmenter'"):
        load_config(cfg)
    cfg["regions"][0]["classes"] = {"n_classes": 3, "keep": ["rice"]}
    with pytest.raises(ConfigError, match="classes keep: expected a list of class ids"):
        load_config(cfg)
    cfg["regions"][0]["classes"] = {"segmenter": str(tmp_path / "nope")}
    with pytest.raises(ConfigError, match="segmenter not found"):
        load_config(cfg)
