"""Whole runs: outputs of every region, finished regions skipped, threaded scheduler vs LocalCluster."""

from __future__ import annotations

import json

import numpy as np
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
