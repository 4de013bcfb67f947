"""The fusets-dl command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import xarray as xr

from fusets_dl.cli.core import main
from fusets_dl.sample import find_sample


def test_demo_runs_on_the_bundled_sample(tmp_path, capsys):
    assert main(["-q", "demo", "--out", str(tmp_path), "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert "cube pixel-dates with NDVI" in out and "12-day composites" in out
    assert "Held-out metrics" in out and "vs the true NDVI" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["model"]["metrics"]["test"]["n"] > 1000
    assert "Reconstruction" in out and "Phenology vs truth" in out
    assert summary["reconstruction"]["source_shares"]["missing"] < 0.05
    rec = xr.open_dataset(tmp_path / "reconstruction.nc")
    assert set(rec.data_vars) >= {"NDVI", "NDVI_std", "source"}
    ph = xr.open_dataset(tmp_path / "phenology.nc")
    assert ph["sos"].dims == ("season", "y", "x")
    z = xr.open_zarr(tmp_path / "demo.zarr", decode_coords="all")
    assert z.rio.crs is not None and {"NDVI", "source", "sos"} <= set(z.data_vars) and z.attrs["model_sha256"]
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "model.json").exists()
    # the run report: printed at the end, every figure linked and present
    assert f"report: {tmp_path / 'report.html'}" in out
    md = (tmp_path / "report.md").read_text()
    for name in ("evaluation", "pixel_1", "pixel_2", "maps"):
        assert f"](figures/{name}.png)" in md and (tmp_path / "figures" / f"{name}.png").exists()
    for title in ("What survived each mask", "Held-out metrics vs observed clear NDVI", "Reconstruction", "Phenology vs truth"):
        assert title in md
    assert (tmp_path / "report.html").read_text().count("data:image/png;base64,") == 4
    assert summary["pair"]["s2_clear_fraction"] > 0.2
    cube = xr.open_dataset(tmp_path / "cube.nc")
    assert {"VV", "VH", "NDVI"} <= set(cube.data_vars)
    assert int(cube["NDVI"].notnull().sum()) == summary["pair"]["paired_pixel_dates"]


def test_align_and_summary_subcommands(tmp_path, capsys):
    sample = find_sample()
    out = tmp_path / "cube.nc"
    assert main(["-q", "align", "--s1", str(sample / "s1.nc"), "--s2", str(sample / "s2.nc"), "-o", str(out), "--freq", "12D"]) == 0
    assert out.exists()
    assert main(["-q", "summary", str(out)]) == 0
    assert "composite" in capsys.readouterr().out
    # an existing output is never overwritten silently
    assert main(["-q", "align", "--s1", str(sample / "s1.nc"), "--s2", str(sample / "s2.nc"), "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_missing_input_exits_with_a_clear_error(tmp_path, capsys):
    code = main(["-q", "align", "--s1", str(tmp_path / "nope.nc"), "--s2", str(tmp_path / "nope2.nc"), "-o", str(tmp_path / "c.nc")])
    assert code == 2
    assert "found no" in capsys.readouterr().err


def test_synth_writes_a_readable_scene(tmp_path):
    import fusets_dl as fdl

    assert main(["-q", "synth", "-o", str(tmp_path), "--ny", "12", "--nx", "10", "--end", "2021-03-31"]) == 0
    s1 = fdl.open_s1(tmp_path / "s1.nc")
    s2 = fdl.open_s2(tmp_path / "s2.nc")
    assert s1.sizes["y"] == 12 and s2.sizes["x"] == 10


def test_module_entry_point_and_version():
    res = subprocess.run([sys.executable, "-m", "fusets_dl", "--version"], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "fusets_dl" in res.stdout


@pytest.mark.parametrize("bad", [["demo", "--bogus"], ["nope"]])
def test_bad_arguments_exit_nonzero(bad):
    with pytest.raises(SystemExit) as exc:
        main(bad)
    assert exc.value.code != 0


def test_train_and_predict_subcommands(tmp_path, capsys):
    sample = find_sample()
    cube = tmp_path / "cube.nc"
    assert main(["-q", "align", "--s1", str(sample / "s1.nc"), "--s2", str(sample / "s2.nc"), "-o", str(cube)]) == 0
    spec = '{"lags": 1, "windows": [15, 45]}'
    assert main(["-q", "train", str(cube), "-o", str(tmp_path / "m"), "--epochs", "2", "--features", spec]) == 0
    out = capsys.readouterr().out
    assert "Held-out metrics" in out and "sha256" in out
    pred = tmp_path / "pred.nc"
    assert main(["-q", "predict", str(cube), str(tmp_path / "m"), "-o", str(pred)]) == 0
    ds = xr.open_dataset(pred)
    assert ds["NDVI_pred"].dims == ("time", "y", "x") and float(ds["NDVI_pred"].notnull().mean()) > 0.5
    rec = tmp_path / "rec.nc"
    assert main(["-q", "reconstruct", str(cube), str(tmp_path / "m"), "-o", str(rec), "--freq", "5D"]) == 0
    assert xr.open_dataset(rec)["source"].attrs["flag_meanings"] == "observed predicted interpolated missing"
    ph = tmp_path / "ph.nc"
    assert main(["-q", "phenology", str(rec), "-o", str(ph), "--start", "2021-01-01", "--end", "2021-12-31"]) == 0
    assert "seasons" in capsys.readouterr().out
    assert main(["-q", "phenology", str(rec), "-o", str(tmp_path / "x.nc"), "--variable", "EVI"]) == 2
    # a tampered model is refused with exit status 2 and no output written
    w = tmp_path / "m.safetensors"
    w.write_bytes(w.read_bytes()[:-3] + b"xyz")
    assert main(["-q", "predict", str(cube), str(tmp_path / "m"), "-o", str(tmp_path / "p2.nc")]) == 2
    assert "SHA-256" in capsys.readouterr().err and not (tmp_path / "p2.nc").exists()


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


def test_segment_subcommand_trains_saves_and_reuses(tmp_path, capsys):
    sample = find_sample()
    cube = tmp_path / "cube.nc"
    assert main(["-q", "align", "--s1", str(sample / "s1.nc"), "--s2", str(sample / "s2.nc"), "-o", str(cube)]) == 0
    out = tmp_path / "classes.nc"
    assert main(["-q", "segment", str(cube), "-o", str(out), "--n-classes", "3", "--epochs", "3", "--save-segmenter", str(tmp_path / "seg")]) == 0
    assert "pixels per class" in capsys.readouterr().out
    first = xr.open_dataset(out)["class"].values
    assert first.shape == (64, 64) and first.max() <= 2
    again = tmp_path / "again.nc"
    assert main(["-q", "segment", str(cube), "-o", str(again), "--segmenter", str(tmp_path / "seg.json")]) == 0
    assert (xr.open_dataset(again)["class"].values == first).all()
    km = tmp_path / "km.nc"
    assert main(["-q", "segment", str(cube), "-o", str(km), "--kmeans", "--n-classes", "3"]) == 0
    assert set(xr.open_dataset(km)["class"].values.ravel()) <= {-1, 0, 1, 2}
