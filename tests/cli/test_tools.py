"""The tool commands: synth, run, compare."""

from __future__ import annotations

import json

import pytest

from fusets_dl.cli import main
from fusets_dl.sample import find_sample


def test_synth_writes_a_readable_scene(tmp_path):
    import fusets_dl as fdl

    assert main(["-q", "synth", "-o", str(tmp_path), "--ny", "12", "--nx", "10", "--end", "2021-03-31"]) == 0
    s1 = fdl.open_s1(tmp_path / "s1.nc")
    s2 = fdl.open_s2(tmp_path / "s2.nc")
    assert s1.sizes["y"] == 12 and s2.sizes["x"] == 10


def test_synth_makes_a_tropical_scene_from_the_command_line(tmp_path, capsys):
    """--s1-revisit-days, --rainy-months, --rice-third-season (a Demak-like scene needed Python before)."""
    import numpy as np

    import fusets_dl as fdl

    out = tmp_path / "rice"
    assert main(["-q", "synth", "-o", str(out), "--ny", "8", "--nx", "8", "--end", "2021-06-30", "--s1-revisit-days", "12",
                 "--rainy-months", "6", "7", "--rice-third-season", "0.5"]) == 0
    s1 = fdl.open_s1(out / "s1.nc")
    assert set(np.diff(s1["time"].values).astype("timedelta64[D]").astype(int)) == {12}
    assert main(["-q", "synth", "-o", str(tmp_path / "bad"), "--rainy-months", "13"]) == 2
    assert "--rainy-months: expected months 1-12, found [13]" in capsys.readouterr().err


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


def test_compare_checks_out_before_any_work(tmp_path, capsys, monkeypatch):
    import fusets_dl.cli.tools as tools

    def no_work(*a, **k):
        raise AssertionError("the cube was opened before --out was checked")

    monkeypatch.setattr(tools, "_compare_cube", no_work)
    a_file = tmp_path / "cube.nc"
    a_file.write_text("not a folder")
    assert main(["-q", "compare", "--out", str(a_file)]) == 2
    assert "--out" in (err := capsys.readouterr().err) and "expected a folder" in err and "found a file" in err
    user = tmp_path / "userdir"
    user.mkdir()
    (user / "compare.md").write_text("my own notes")
    assert main(["-q", "compare", "--out", str(user)]) == 2
    assert "holds ['compare.md']: expected a folder without compare results, or pass --overwrite" in capsys.readouterr().err
    assert main(["-q", "compare", "--out", str(user), "--overwrite"]) == 2
    assert "--overwrite replaces only results written by compare" in capsys.readouterr().err
    assert (user / "compare.md").read_text() == "my own notes"
    assert main(["-q", "compare", str(a_file), "--out", str(a_file)]) == 2
    assert "expected a path other than the inputs" in capsys.readouterr().err


def test_compare_overwrite_replaces_its_own_results(tmp_path, monkeypatch):
    from fusets_dl.cli.output import check_compare_out
    from fusets_dl.errors import StoreExistsError

    (tmp_path / "compare.md").write_text("old")
    (tmp_path / "compare.json").write_text(json.dumps({"rows": [], "info": {}}))
    check_compare_out(tmp_path, overwrite=True)
    with pytest.raises(StoreExistsError, match="pass --overwrite"):
        check_compare_out(tmp_path, overwrite=False)


_SYNTH = ["-q", "synth", "--ny", "6", "--nx", "5", "--end", "2021-02-28"]


def test_synth_refuses_an_existing_scene_without_overwrite(tmp_path, capsys, monkeypatch):
    """synth replaced s1.nc, s2.nc and truth.nc in its folder without --overwrite."""
    import fusets_dl.synthetic as synthetic

    assert main([*_SYNTH, "-o", str(tmp_path)]) == 0
    before = (tmp_path / "s1.nc").read_bytes()
    real = synthetic.make_scene
    monkeypatch.setattr(synthetic, "make_scene", lambda *a, **k: (_ for _ in ()).throw(AssertionError("work before the check")))
    assert main([*_SYNTH, "-o", str(tmp_path), "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert f"-o {str(tmp_path)!r}: {str(tmp_path / 's1.nc')!r} exists (and 2 more of synth's outputs)" in err
    assert "or pass --overwrite to replace them" in err
    assert (tmp_path / "s1.nc").read_bytes() == before
    monkeypatch.setattr(synthetic, "make_scene", real)
    assert main([*_SYNTH, "-o", str(tmp_path), "--seed", "1", "--overwrite"]) == 0
    assert (tmp_path / "s1.nc").read_bytes() != before


def test_synth_overwrite_refuses_a_file_it_did_not_write(tmp_path, capsys):
    (tmp_path / "truth.nc").write_text("my field survey")
    assert main([*_SYNTH, "-o", str(tmp_path), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert f"output {str(tmp_path / 'truth.nc')!r} was not written by fusets_dl" in err and "delete it by hand" in err
    assert (tmp_path / "truth.nc").read_text() == "my field survey" and not (tmp_path / "s1.nc").exists()


@pytest.mark.parametrize("command", [["synth", "-o", "FILE"], ["report", "STORE", "-o", "FILE"]])
def test_a_file_given_as_the_output_folder_is_a_clear_error(tmp_path, capsys, command):
    """synth -o FILE and report -o FILE ended with a raw errno message ('[Errno 17] File exists')."""
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    argv = [{"FILE": str(a_file), "STORE": str(tmp_path / "s.zarr")}.get(a, a) for a in command]
    assert main(["-q", *argv]) == 2
    err = capsys.readouterr().err
    assert f"error: -o: expected a folder, found a file: {str(a_file)!r}" in err and "[Errno" not in err, err
    assert a_file.read_text() == "mine"


def test_report_refuses_an_existing_report_without_overwrite(tmp_path, capsys):
    """report -o DIR replaced the report.md in DIR silently."""
    out = tmp_path / "rep"
    out.mkdir()
    (out / "report.md").write_text("# fusets_dl report: old.zarr\n")
    store = str(tmp_path / "missing.zarr")
    assert main(["-q", "report", store, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"-o {str(out)!r}: {str(out / 'report.md')!r} exists: expected a folder without report's outputs, or pass --overwrite" in err
    assert main(["-q", "report", store, "-o", str(out), "--overwrite"]) == 2  # past the output check: the store is missing
    assert "report: expected a Zarr store" in capsys.readouterr().err
    (out / "report.md").write_text("my own notes")
    assert main(["-q", "report", store, "-o", str(out), "--overwrite"]) == 2
    assert "was not written by fusets_dl" in capsys.readouterr().err
    assert (out / "report.md").read_text() == "my own notes"
