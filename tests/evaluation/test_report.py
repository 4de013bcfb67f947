"""Run reports: every figure and table is linked, HTML is self-contained, reports from stores."""

from __future__ import annotations

import re

import numpy as np
import pytest
import xarray as xr
from matplotlib.figure import Figure

import fusets_dl as fdl
from fusets_dl.evaluation.report import Report, report_from_store


def _fig() -> Figure:
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


def test_report_links_every_figure_and_table(tmp_path) -> None:
    rep = Report("A run")
    rep.heading("Section")
    rep.paragraph("Some words & <symbols>")
    rep.table("Metrics", [{"split": "test", "r2": 0.91234, "n": 1200}])
    rep.table("Funnel", {"pixel-dates": 5000, "clear": 0.4})
    rep.figure("First figure", _fig(), "first")
    rep.figure("Second figure", _fig(), "second")
    paths = rep.write(tmp_path)
    md = paths["md"].read_text()
    html = paths["html"].read_text()
    for name in rep.figures:
        assert f"](figures/{name}.png)" in md and (tmp_path / "figures" / f"{name}.png").stat().st_size > 1000
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', html)) == len(rep.figures) == 2
    for title in rep.tables:
        assert f"**{title}**" in md and f"<h3>{title}</h3>" in html
    assert "| test | 0.9123 | 1,200 |" in md
    assert "&amp; &lt;symbols&gt;" in html and "src=\"figures/" not in html  # self-contained
    with pytest.raises(ValueError, match="duplicate"):
        rep.figure("again", _fig(), "first")


def test_report_from_a_store(small_cube: xr.Dataset, tmp_path) -> None:
    model = fdl.train(small_cube, config=fdl.TrainConfig(max_epochs=2, min_samples=50))
    rec = fdl.reconstruct(small_cube, model)
    ph = fdl.phenology(rec["NDVI"], max_seasons=2)
    store = fdl.to_zarr(xr.merge([rec, ph], compat="override", combine_attrs="drop_conflicts"), tmp_path / "r.zarr")
    metrics = {"funnel": {"s2_pixel_dates": 100, "paired_pixel_dates": 40}, "model_metrics": model.metrics, "timings_s": {"align": 1.5}}
    paths = report_from_store(store, metrics=metrics)
    assert paths["html"].parent == tmp_path / "r.zarr.report"
    md = paths["md"].read_text()
    for t in ("What survived each mask", "Held-out metrics (spatial blocks)", "Stage timings (s)", "Source of the values", "Store attributes"):
        assert t in md
    figs = re.findall(r"\]\(figures/([\w.]+)\)", md)
    assert figs == ["maps.png", "pixel_1.png", "pixel_2.png"]
    share = float((rec["source"] == 0).mean())
    assert f"| observed | {share:.4g} |" in md
    assert np.isfinite(share)


def test_report_subcommand(small_cube: xr.Dataset, tmp_path, capsys) -> None:
    from fusets_dl.cli import main

    model = fdl.train(small_cube, config=fdl.TrainConfig(max_epochs=2, min_samples=50))
    rec = fdl.reconstruct(small_cube, model)
    store = fdl.to_zarr(rec, tmp_path / "x.zarr")
    assert main(["-q", "report", str(store), "-o", str(tmp_path / "rep")]) == 0
    assert "report: " in capsys.readouterr().out
    assert (tmp_path / "rep" / "report.html").exists() and (tmp_path / "rep" / "figures" / "maps.png").exists()


def test_markdown_cells_escape_pipes_and_line_breaks(tmp_path):
    from fusets_dl.evaluation.report import Report

    r = Report("t")
    r.table("a | b", [{"col|1": "x | y", "c2": "line\nbreak", "c3": 1.5}])
    md = r.write(tmp_path)["md"].read_text()
    rows = [line for line in md.splitlines() if line.startswith("|")]
    assert len(rows) == 3
    for line in rows:  # every row has as many unescaped separators as the header
        assert line.replace("\\|", "").count("|") == 4
    assert "x \\| y" in rows[2] and "line break" in rows[2]


def test_metrics_rows_label_the_training_fit():
    from fusets_dl.evaluation.report import metrics_rows

    m = {"train": {"r2": 0.9, "rmse": 0.05, "n": 10}, "test": {"r2": 0.7, "rmse": 0.08, "n": 5}}
    rows = metrics_rows(m)
    assert rows[0]["blocks"].startswith("train (seen in training") and rows[1]["blocks"] == "test (never used)"
    assert rows[1]["r2"] == 0.7


def test_the_report_funnel_names_the_clear_mask_only_when_it_is_known():
    from fusets_dl.alignment.summary import CLEAR_MASK_KEY
    from fusets_dl.evaluation.report import funnel_rows

    counts = {"s2_pixel_dates": 100, "s2_clear_pixel_dates": 40}
    assert "clear S2 pixel-dates" in funnel_rows(counts)  # no claim of SCL or a cloud mask when none is recorded
    rows = funnel_rows({**counts, CLEAR_MASK_KEY: "no cloud mask: every valid NDVI"})
    assert rows["clear S2 pixel-dates (no cloud mask: every valid NDVI)"] == 40


def test_a_sequence_models_metrics_are_labelled_as_gap_filling_and_s1_only():
    """Its ``test`` is the gap filling of hidden spells: the report says so, and shows the S1-only mode and the coverage."""
    from fusets_dl.evaluation.report import metrics_rows

    gaps = {"r2": 0.81, "rmse": 0.07, "mae": 0.05, "bias": 0.01, "n": 500}
    m = {"test": dict(gaps), "test_gaps": gaps, "coverage_1std": 0.69, "coverage_2std": 0.95, "nll": -1.2,
         "test_s1_only": {"r2": 0.62, "rmse": 0.11, "n": 900}, "test_s1_only_coverage": {"coverage_1std": 0.66, "coverage_2std": 0.93}}
    rows = metrics_rows(m)
    assert [r["blocks"].split(" (")[0] for r in rows] == ["test, gap filling", "test, S1 only"]
    assert rows[0]["r2"] == 0.81 and rows[0]["within_1std"] == 0.69 and rows[0]["within_2std"] == 0.95
    assert rows[1]["r2"] == 0.62 and rows[1]["within_1std"] == 0.66 and "mae" not in rows[1]
    assert not any("test (never used)" == r["blocks"] for r in rows)  # the per-date model's label is not reused
    old = {k: v for k, v in m.items() if k != "test_s1_only_coverage"}  # saved before the S1-only coverage was measured
    assert "within_1std" not in metrics_rows(old)[1] and metrics_rows(old)[0]["within_1std"] == 0.69
    only_s1 = metrics_rows({"test_s1_only": {"r2": 0.5, "n": 10}})  # a series too short for gap spells: S1-only alone
    assert len(only_s1) == 1 and only_s1[0]["blocks"].startswith("test, S1 only")
