"""The tool commands: synth, run, compare."""

from __future__ import annotations

import json

from fusets_dl.cli import main
from fusets_dl.sample import find_sample


def test_synth_writes_a_readable_scene(tmp_path):
    import fusets_dl as fdl

    assert main(["-q", "synth", "-o", str(tmp_path), "--ny", "12", "--nx", "10", "--end", "2021-03-31"]) == 0
    s1 = fdl.open_s1(tmp_path / "s1.nc")
    s2 = fdl.open_s2(tmp_path / "s2.nc")
    assert s1.sizes["y"] == 12 and s2.sizes["x"] == 10


def test_run_subcommand_prints_the_summary_table(tmp_path, capsys):
    import yaml

    sample = find_sample()
    cfg = {
        "output_root": str(tmp_path / "out"),
        "model": {"train": {"max_epochs": 1, "hidden": [8], "block_size": 8}},
        "defaults": {"tile_size": 64, "chunk": 32},
        "regions": [{"name": "s", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc")}],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["-q", "run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "| s | done |" in out and "outputs in" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**cfg, "regions": [{"name": "s", "s1": "missing.nc", "s2": "missing.nc"}]}))
    assert main(["-q", "run", str(bad)]) == 2
    assert "region 's' s1: file not found" in capsys.readouterr().err


def test_compare_subcommand_on_a_synthetic_scene(tmp_path, capsys):
    args = ["-q", "compare", "--synthetic", "24", "--max-pixels", "30", "--epochs", "3", "--gap-days", "45",
            "--methods", "fusion", "whittaker", "linear", "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Gap-filling comparison on synthetic 24 x 24 scene" in out
    assert "| DL fusion (reconstruct) |" in out and "| Linear interpolation (S2 only) |" in out
    assert {p.name for p in tmp_path.iterdir()} >= {"compare.md", "compare.csv", "compare.json", "compare.png"}
    rows = json.loads((tmp_path / "compare.json").read_text())["rows"]
    assert [r["method"] for r in rows] == ["fusion", "whittaker", "linear"]
