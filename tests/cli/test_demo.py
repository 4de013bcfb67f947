"""fusets-dl demo: the whole flow on the bundled sample, its outputs and its report."""

from __future__ import annotations

import json

import xarray as xr

from fusets_dl.cli import main


def test_demo_runs_on_the_bundled_sample(tmp_path, capsys):
    assert main(["-q", "demo", "--out", str(tmp_path), "--epochs", "3", "--max-samples", "20000"]) == 0
    out = capsys.readouterr().out
    assert "cube pixel-dates with NDVI" in out and "12-day composites" in out
    assert "Held-out metrics" in out and "vs the true NDVI" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["model"]["metrics"]["test"]["n"] > 1000
    # the sample cap and the epoch bound reach the trainer; the closing lines say what it took and reached
    m = summary["model"]
    assert 0.5 * 20000 < m["train_samples"] < 0.8 * 20000 and m["max_epochs"] == 3 and 1 <= m["epochs"] <= 3
    sec = summary["seconds"]
    assert list(sec) == ["total", "align", "train", "predict", "reconstruct", "phenology", "report"]
    assert sum(v for k, v in sec.items() if k != "total") <= sec["total"] + 0.5
    test = m["metrics"]["test"]
    assert (f"model: {m['epochs']} epochs (best {m['best_epoch']}) on {m['train_samples']} training pixel-dates; "
            f"held-out test blocks R2 {test['r2']:.3f}, RMSE {test['rmse']:.4f}") in out
    assert f"outputs in {tmp_path} ({sec['total']:.1f} s: align {sec['align']:.1f}, train {sec['train']:.1f}" in out
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


_REACHED = "error: the demo's work started\n"


def _stop_at_work(monkeypatch):
    """Where the demo's work would start, a ConfigError (exit 2) says that the output check let it through."""
    import fusets_dl.cli.demo as demo
    from fusets_dl.errors import ConfigError

    def reached(*a, **k):
        raise ConfigError("the demo's work started")

    monkeypatch.setattr(demo, "_demo_cubes", reached)


def test_demo_refuses_its_earlier_outputs_without_overwrite(tmp_path, capsys, monkeypatch):
    """demo --out DIR replaced cube.nc (and the rest) in DIR without --overwrite."""
    from fusets_dl.cli.output import write_netcdf

    _stop_at_work(monkeypatch)
    write_netcdf(xr.Dataset({"v": ("x", [1.0])}), tmp_path / "cube.nc", overwrite=False)
    assert main(["-q", "demo", "--out", str(tmp_path), "--no-train"]) == 2
    err = capsys.readouterr().err
    assert f"--out {str(tmp_path)!r}: {str(tmp_path / 'cube.nc')!r} exists: expected a folder without demo's outputs, or pass --overwrite" in err
    assert main(["-q", "demo", "--out", str(tmp_path), "--no-train", "--overwrite"]) == 2
    assert capsys.readouterr().err == _REACHED
    (tmp_path / "report.md").write_text("my notes")
    assert main(["-q", "demo", "--out", str(tmp_path), "--overwrite"]) == 2
    assert f"output {str(tmp_path / 'report.md')!r} was not written by fusets_dl" in capsys.readouterr().err
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert main(["-q", "demo", "--out", str(a_file)]) == 2
    assert "--out: expected a folder, found a file" in capsys.readouterr().err


def test_demo_reruns_into_its_default_folder(tmp_path, capsys, monkeypatch):
    """`make demo` runs `fusets-dl demo` twice into outputs/demo: the default folder takes its own earlier outputs."""
    import fusets_dl.cli.demo as demo
    from fusets_dl.cli.output import write_netcdf

    _stop_at_work(monkeypatch)
    default = tmp_path / "outputs" / "demo"
    monkeypatch.setattr(demo, "DEMO_OUT", str(default))
    write_netcdf(xr.Dataset({"v": ("x", [1.0])}), default / "cube.nc", overwrite=False)
    assert main(["-q", "demo", "--no-train"]) == 2
    assert capsys.readouterr().err == _REACHED
    assert main(["-q", "demo", "--no-train", "--out", str(default)]) == 2  # the folder decides, named or not
    assert capsys.readouterr().err == _REACHED
    (default / "cube.nc").write_text("not the demo's")  # a file the demo did not write is still refused
    assert main(["-q", "demo", "--no-train"]) == 2
    assert "was not written by fusets_dl" in capsys.readouterr().err
