"""The stage commands: align, summary, train, predict, reconstruct, phenology, segment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusets_dl.cli import main
from fusets_dl.sample import find_sample


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


def test_align_passes_harmonize_to_open_s2(tmp_path, monkeypatch, capsys):
    import fusets_dl.readers

    sample = find_sample()
    seen = []
    real = fusets_dl.readers.open_s2

    def spy(*args, **kwargs):
        seen.append(kwargs.get("harmonize"))
        return real(*args, **kwargs)

    monkeypatch.setattr(fusets_dl.readers, "open_s2", spy)
    for flag, expected in (([], "auto"), (["--harmonize", "false"], False), (["--harmonize", "true"], True), (["--harmonize", "all"], "all")):
        out = tmp_path / f"cube{len(seen)}.nc"
        assert main(["-q", "align", "--s1", str(sample / "s1.nc"), "--s2", str(sample / "s2.nc"), "-o", str(out), "--freq", "12D", *flag]) == 0
        assert seen[-1] == expected
    with pytest.raises(SystemExit):
        main(["-q", "align", "--s1", "a", "--s2", "b", "-o", "c", "--harmonize", "maybe"])
    assert "invalid choice: 'maybe'" in capsys.readouterr().err


def test_missing_input_exits_with_a_clear_error(tmp_path, capsys):
    code = main(["-q", "align", "--s1", str(tmp_path / "nope.nc"), "--s2", str(tmp_path / "nope2.nc"), "-o", str(tmp_path / "c.nc")])
    assert code == 2
    assert "found no" in capsys.readouterr().err


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
    rec_auto = tmp_path / "rec_auto.nc"  # --weights auto: chosen on held-out spells of this cube, recorded in the attrs
    assert main(["-q", "reconstruct", str(cube), str(tmp_path / "m"), "-o", str(rec_auto), "--weights", "auto"]) == 0
    assert xr.open_dataset(rec_auto).attrs["calibration_source"] == "this cube (weights='auto')"
    # that setting reused as it is on another tile (here the same cube): the same values, no calibration
    rec_from = tmp_path / "rec_from.nc"
    assert main(["-q", "reconstruct", str(cube), str(tmp_path / "m"), "-o", str(rec_from), "--calibration-from", str(rec_auto)]) == 0
    with xr.open_dataset(rec_auto) as a, xr.open_dataset(rec_from) as b:
        np.testing.assert_array_equal(a["NDVI"].values, b["NDVI"].values)
        np.testing.assert_array_equal(a["NDVI_std"].values, b["NDVI_std"].values)
        assert b.attrs["calibration_source"].startswith("given (weights=Calibration") and b.attrs["calibration_lam"] == a.attrs["calibration_lam"]
    assert main(["-q", "reconstruct", str(cube), str(tmp_path / "m"), "-o", str(tmp_path / "r2.nc"), "--calibration-from", str(pred)]) == 2
    assert "--calibration-from" in capsys.readouterr().err and not (tmp_path / "r2.nc").exists()
    ph = tmp_path / "ph.nc"
    assert main(["-q", "phenology", str(rec), "-o", str(ph), "--start", "2021-01-01", "--end", "2021-12-31"]) == 0
    assert "seasons" in capsys.readouterr().out
    with xr.open_dataset(ph) as p:  # the reconstruction's source: how much of each season was seen
        assert p["observed_fraction"].attrs["units"] == "1" and float(p["observed_fraction"].max()) <= 1.0
        np.testing.assert_array_equal(np.isfinite(p["observed_fraction"].values), p["pos"].notnull().values)
    assert main(["-q", "phenology", str(rec), "-o", str(tmp_path / "x.nc"), "--variable", "EVI"]) == 2
    # a tampered model is refused with exit status 2 and no output written
    w = tmp_path / "m.safetensors"
    w.write_bytes(w.read_bytes()[:-3] + b"xyz")
    assert main(["-q", "predict", str(cube), str(tmp_path / "m"), "-o", str(tmp_path / "p2.nc")]) == 2
    assert "SHA-256" in capsys.readouterr().err and not (tmp_path / "p2.nc").exists()


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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "CUBE", "-o", "m", "--features", "{lags: 1}"], r"--features: expected a JSON object .*not JSON"),
        (["train", "CUBE", "-o", "m", "--features", "[1, 2]"], r"--features: expected a JSON object .*found list"),
        (["train", "CUBE", "-o", "m", "--features", '{"windows": ["soon"]}'], r"--features: FeatureSpec: windows: expected a list of integers"),
        (["train", "CUBE", "-o", "m", "--features", '{"lags": "1"}'], r"lags: expected an integer, found '1'"),
        (["train", "CUBE", "-o", "m", "--epochs", "0", "--block-size", "-3"], r"2 problems.*--epochs: expected an integer >= 1, found 0.*--block-size"),
        (["train", "CUBE", "-o", "m", "--ensemble", "0"], r"--ensemble: expected an integer >= 1, found 0"),
        (["align", "--s1", "S1", "--s2", "S2", "-o", "c.nc", "--min-clear-fraction", "80"], r"--min-clear-fraction: expected a fraction in \[0, 1\]"),
        (["align", "--s1", "S1", "--s2", "S2", "-o", "c.nc", "--tolerance", "soon"], r"--tolerance: expected a duration"),
        (["align", "--s1", "S1", "--s2", "S2", "-o", "c.nc", "--freq", "1M"], r"--freq.*calendar length"),
        (["reconstruct", "CUBE", "m", "-o", "r.nc", "--freq", "12h"], r"--freq: expected a whole number of days"),
        (["reconstruct", "CUBE", "m", "-o", "r.nc", "--calibration-from", "c.json", "--lam", "10"],
         r"--calibration-from: the calibration sets the weights and lambda itself; expected no --lam and no --weights"),
        (["phenology", "CUBE", "-o", "p.nc", "--max-seasons", "0", "--chunk", "0"], r"--chunk: expected an integer >= 1.*--max-seasons"),
        (["segment", "CUBE", "-o", "OUTDIR"], r"expected a file path .*found a folder"),
        # a netCDF file named .zarr, which 'summary cube.zarr' then could not open (before: written)
        (["align", "--s1", "S1", "--s2", "S2", "-o", "cube.zarr"], r"these commands write netCDF, expected a \.nc path .*cube\.nc"),
        # a saved segmenter has its own classes, views and epochs; k-means no epochs (silently ignored before)
        (["segment", "CUBE", "-o", "c.nc", "--segmenter", "seg.json", "--n-classes", "3"], r"--n-classes set how a segmenter is trained, but --segmenter"),
        (["segment", "CUBE", "-o", "c.nc", "--segmenter", "seg.json", "--views", "s1", "--epochs", "5"], r"--views, --epochs set how"),
        (["segment", "CUBE", "-o", "c.nc", "--kmeans", "--epochs", "5"], r"--kmeans has no epochs"),
    ],
)
def test_bad_options_are_refused_before_any_input_is_opened(tmp_path, capsys, argv, message):
    sample = find_sample()
    (tmp_path / "OUTDIR").mkdir()
    subst = {"CUBE": str(tmp_path / "never-opened.nc"), "S1": str(sample / "s1.nc"), "S2": str(sample / "s2.nc"), "OUTDIR": str(tmp_path / "OUTDIR")}
    argv = [subst.get(a, a) for a in argv]
    argv = [str(tmp_path / a) if a in ("m", "c.nc", "r.nc", "p.nc") else a for a in argv]
    assert main(["-q", *argv]) == 2
    err = capsys.readouterr().err
    assert __import__("re").search(message, err, flags=__import__("re").S), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["OUTDIR"]  # nothing written, no .tmp


def test_features_accept_durations_as_days():
    from fusets_dl.cli.stages import parse_features

    assert parse_features('{"windows": ["15D", 45], "trends": ["30D"]}').windows == (15, 45)
    assert parse_features(None) == parse_features("{}")


def test_an_output_path_that_fails_leaves_no_temporary(tmp_path, monkeypatch):
    import errno

    import fusets_dl.cli.output as output
    from fusets_dl.errors import OutputError

    ds = xr.Dataset({"v": ("x", [1.0, 2.0])})

    def full(self, path, *a, **k):
        Path(path).write_bytes(b"half")  # a half-written temporary, as a full disk leaves
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", full)
    with pytest.raises(OutputError, match=r"output '.*o\.nc': writing failed \(\[Errno 28\] No space left on device\)"):
        output.write_netcdf(ds, tmp_path / "o.nc", overwrite=False)
    assert list(tmp_path.iterdir()) == []


def test_report_on_a_missing_store_is_a_clear_error(tmp_path, capsys):
    assert main(["-q", "report", str(tmp_path / "nope.zarr")]) == 2
    assert "expected a Zarr store" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["predict", "JSON", "m", "-o", "p.nc"], r"fusion cube '.*model\.json': expected a netCDF file or a Zarr store, found a JSON file"),
        (["predict", "FOLDER", "m", "-o", "p.nc"], r"expected a netCDF file or a Zarr store, found a folder without Zarr metadata"),
        (["summary", "JSON"], r"expected a netCDF file or a Zarr store, found a JSON file"),
        (["phenology", "JSON", "-o", "p.nc"], r"phenology input '.*model\.json': expected a netCDF file or a Zarr store, found a JSON file"),
        (["phenology", "FOLDER", "-o", "p.nc"], r"phenology input .*found a folder without Zarr metadata"),
        (["phenology", "MISSING", "-o", "p.nc"], r"phenology input not found: expected an existing netCDF file or Zarr store, found no"),
        (["report", "FOLDER"], r"report: expected a Zarr store .*found a folder without Zarr metadata"),
    ],
)
def test_an_input_of_the_wrong_kind_is_a_source_error(tmp_path, capsys, argv, message):
    (tmp_path / "model.json").write_text('{"config": {}}')
    (tmp_path / "scene").mkdir()
    subst = {"JSON": str(tmp_path / "model.json"), "FOLDER": str(tmp_path / "scene"), "MISSING": str(tmp_path / "nope.nc"),
             "m": str(tmp_path / "model"), "p.nc": str(tmp_path / "p.nc")}
    assert main(["-q", *[subst.get(a, a) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert __import__("re").search(message, err), err
    assert "unexpected" not in err and "[Errno" not in err
    assert not (tmp_path / "p.nc").exists()


@pytest.mark.parametrize("command", [["predict", "IN", "MODEL"], ["reconstruct", "IN", "MODEL"], ["phenology", "IN"]])
def test_an_output_that_is_the_input_is_refused_before_any_work(tmp_path, capsys, command):
    cube = tmp_path / "same.nc"
    xr.Dataset({"v": ("x", [1.0])}).to_netcdf(cube)
    before = cube.read_bytes()
    argv = [{"IN": str(cube), "MODEL": str(tmp_path / "model")}.get(a, a) for a in command]
    assert main(["-q", *argv, "-o", str(tmp_path / "." / "same.nc"), "--overwrite"]) == 2
    assert "expected a path other than the inputs, found the input" in capsys.readouterr().err
    assert cube.read_bytes() == before


def test_an_output_that_is_the_model_is_refused(tmp_path, capsys):
    assert main(["-q", "predict", str(tmp_path / "c.nc"), str(tmp_path / "model"), "-o", str(tmp_path / "model.json"), "--overwrite"]) == 2
    assert "found the input" in capsys.readouterr().err


def test_overwrite_replaces_only_a_netcdf_file_of_ours(tmp_path, capsys):
    import fusets_dl.cli.output as output
    from fusets_dl.errors import StoreExistsError

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    assert main(["-q", "phenology", str(tmp_path / "c.nc"), "-o", str(notes), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "was not written by fusets_dl (found a file that is not netCDF" in err
    assert "--overwrite replaces only a netCDF file written by fusets_dl; delete it by hand or choose another path" in err
    assert notes.read_text() == "my notes"
    foreign = tmp_path / "foreign.nc"
    xr.Dataset({"v": ("x", [1.0])}).to_netcdf(foreign)
    with pytest.raises(StoreExistsError, match=r"found a netCDF file without fusets_dl's marker \(global attribute 'fusets_dl_version'"):
        output.write_netcdf(xr.Dataset({"v": ("x", [2.0])}), foreign, overwrite=True)
    ours = tmp_path / "ours.nc"
    output.write_netcdf(xr.Dataset({"v": ("x", [1.0])}), ours, overwrite=False)
    assert output.is_our_netcdf(ours) and not output.is_our_netcdf(foreign) and not output.is_our_netcdf(notes)
    output.write_netcdf(xr.Dataset({"v": ("x", [2.0])}), ours, overwrite=True)
    with xr.open_dataset(ours) as ds:
        assert float(ds["v"][0]) == 2.0 and "fusets_dl_version" in ds.attrs


def test_write_netcdf_uses_a_unique_temporary_and_keeps_a_users_tmp_file(tmp_path, monkeypatch):
    import fusets_dl.cli.output as output

    users = tmp_path / "o.nc.tmp"
    users.write_text("the user's file")
    seen = []
    real = xr.Dataset.to_netcdf

    def spy(self, path, *a, **k):
        seen.append(Path(path))
        return real(self, path, *a, **k)

    monkeypatch.setattr(xr.Dataset, "to_netcdf", spy)
    output.write_netcdf(xr.Dataset({"v": ("x", [1.0])}), tmp_path / "o.nc", overwrite=False)
    output.write_netcdf(xr.Dataset({"v": ("x", [1.0])}), tmp_path / "o.nc", overwrite=True)
    assert users.read_text() == "the user's file"
    assert len(seen) == 2 and seen[0] != seen[1] and all(p.parent == tmp_path and p.name.endswith(".tmp") for p in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.nc", "o.nc.tmp"]


def test_overwrite_refuses_a_foreign_netcdf_with_standard_cf_long_names(tmp_path, capsys):
    """A user's netCDF whose variables carry CF long_names (ours too) was taken for ours and replaced by --overwrite."""
    from fusets_dl.cf import cf_attrs
    from fusets_dl.cli.output import is_our_netcdf

    zeros = np.zeros((2, 2), np.float32)
    foreign = tmp_path / "ndvi.nc"
    assert cf_attrs("NDVI")["long_name"].lower() == "normalized difference vegetation index"  # the standard name, ours too
    xr.Dataset({"NDVI": (("y", "x"), zeros, cf_attrs("NDVI"))}).to_netcdf(foreign)
    assert not is_our_netcdf(foreign)
    before = foreign.read_bytes()
    assert main(["-q", "phenology", str(tmp_path / "in.nc"), "-o", str(foreign), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert f"output {str(foreign)!r} was not written by fusets_dl" in err
    assert "delete it by hand or choose another path" in err
    assert foreign.read_bytes() == before
    marked = tmp_path / "marked.nc"  # the marker, not the variables, makes a file ours
    xr.Dataset({"v": ("x", [1.0])}, attrs={"fusets_dl_version": "0.0.1"}).to_netcdf(marked)
    assert is_our_netcdf(marked)


@pytest.mark.parametrize("extra", [["--segmenter", "seg.json", "--kmeans"], ["--segmenter", "seg.json", "--save-segmenter", "new"],
                                   ["--kmeans", "--save-segmenter", "new"]])
def test_segment_refuses_options_it_would_ignore(tmp_path, capsys, extra):
    """--segmenter, --save-segmenter and --kmeans exclude each other (before: the others were silently dropped)."""
    with pytest.raises(SystemExit) as exc:
        main(["segment", str(tmp_path / "cube.nc"), "-o", str(tmp_path / "out.nc"), *extra])
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "out.nc").exists()


@pytest.mark.parametrize("command", ["train", "segment"])
def test_a_model_path_holding_a_users_json_is_refused_before_any_work(tmp_path, capsys, monkeypatch, command):
    """A user's ``m.json`` at the model/segmenter path is refused before training (before: after it, the work lost)."""
    import fusets_dl.readers

    def no_open(*a, **k):
        raise AssertionError("the cube was opened")

    monkeypatch.setattr(fusets_dl.readers, "open_cube", no_open)
    (tmp_path / "m.json").write_text('{"notes": "mine"}')
    opt = ["-o", str(tmp_path / "m")] if command == "train" else ["-o", str(tmp_path / "c.nc"), "--save-segmenter", str(tmp_path / "m.json")]
    assert main(["-q", command, str(tmp_path / "cube.nc"), *opt]) == 2
    assert "is not a fusets_dl model sidecar" in capsys.readouterr().err
    assert (tmp_path / "m.json").read_text() == '{"notes": "mine"}'



@pytest.mark.parametrize(("command", "found"), [("train", "fusets_dl.Segmenter"), ("segment", "fusets_dl.FusionModel")])
def test_a_model_path_holding_the_other_kind_of_model_is_refused(tmp_path, capsys, monkeypatch, command, found):
    """``segment --save-segmenter model`` replaced a trained fusion model (and ``train -o`` a segmenter), silently."""
    import fusets_dl.readers

    monkeypatch.setattr(fusets_dl.readers, "open_cube", lambda *a, **k: (_ for _ in ()).throw(AssertionError("opened")))
    sidecar = json.dumps({"format": found, "weights_sha256": "0" * 64})
    (tmp_path / "m.json").write_text(sidecar)
    opt = ["-o", str(tmp_path / "m")] if command == "train" else ["-o", str(tmp_path / "c.nc"), "--save-segmenter", str(tmp_path / "m")]
    assert main(["-q", command, str(tmp_path / "cube.nc"), *opt]) == 2
    assert f"holds a {found}" in capsys.readouterr().err
    assert (tmp_path / "m.json").read_text() == sidecar


def test_a_home_relative_path_given_with_equals_is_expanded(tmp_path, capsys, monkeypatch):
    """``--output=~/x.nc`` reached the writers with a literal '~' (a temporary left in the home folder, a wrong message)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    s1, s2 = tmp_path / "s1.nc", tmp_path / "s2.nc"
    assert main(["-q", "synth", "-o", str(tmp_path), "--ny", "8", "--nx", "8"]) == 0
    assert main(["-q", "align", "--s1", str(s1), "--s2", str(s2), "--output=~/cube.nc"]) == 0
    assert (tmp_path / "cube.nc").is_file() and not (tmp_path / "~").exists() and not Path("~").exists()


def test_a_binary_file_given_as_the_run_config_is_a_config_error(tmp_path, capsys):
    cfg = tmp_path / "cube.nc"
    cfg.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)))
    assert main(["-q", "run", str(cfg)]) == 2  # before: 1, 'unexpected UnicodeDecodeError ... please report it'
    assert "expected a YAML text file, found binary data" in capsys.readouterr().err


def _tiny_scene(folder: Path, *, scl: bool = True) -> tuple[Path, Path]:
    """An 8 x 8 synthetic scene over half a year as s1.nc and s2.nc in ``folder`` (without SCL when ``scl`` is false)."""
    from fusets_dl.sample import write_scene
    from fusets_dl.synthetic import make_scene

    s1, s2, truth = make_scene(8, 8, "2021-01-01", "2021-06-30", seed=3)
    write_scene(folder, s1, s2, truth)
    if not scl:
        with xr.open_dataset(folder / "s2.nc") as ds:
            ds.drop_vars("SCL").load().to_netcdf(folder / "s2_noscl.nc")
        return folder / "s1.nc", folder / "s2_noscl.nc"
    return folder / "s1.nc", folder / "s2.nc"


@pytest.mark.parametrize(("scl", "label"), [(True, "clear (SCL)"), (False, "clear (no cloud mask: every valid NDVI)")])
def test_align_summary_names_the_clear_mask_that_was_used(tmp_path, capsys, scl, label):
    """The funnel said 'clear (SCL)' for an S2 input without SCL, where every valid NDVI counted as clear."""
    s1, s2 = _tiny_scene(tmp_path, scl=scl)
    cube = tmp_path / "cube.nc"
    assert main(["-q", "align", "--s1", str(s1), "--s2", str(s2), "-o", str(cube)]) == 0
    assert main(["-q", "summary", str(cube)]) == 0  # the label is kept with the cube
    out = capsys.readouterr().out
    assert out.count(f"  {label} ") == 2, out
    if not scl:
        assert "SCL" not in out


def test_a_cube_of_unknown_clear_mask_claims_none():
    from fusets_dl.cli.output import funnel_rows

    assert funnel_rows({"s2_clear_pixel_dates": 5}) == [("  clear", 5)]
    assert funnel_rows({"s2_clear_pixel_dates": 5, "s2_clear_mask": "cloud mask band"}) == [("  clear (cloud mask band)", 5)]


def test_segment_messages_name_the_command_line_flags(tmp_path, capsys):
    """--kmeans --n-classes 5000 said 'raise max_pixels', a Python option the command line does not have."""
    s1, s2 = _tiny_scene(tmp_path)
    cube = tmp_path / "cube.nc"
    assert main(["-q", "align", "--s1", str(s1), "--s2", str(s2), "-o", str(cube)]) == 0
    assert main(["-q", "segment", str(cube), "-o", str(tmp_path / "k.nc"), "--kmeans", "--n-classes", "5000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: segment --kmeans: expected at least 5000 pixels") and "lower --n-classes" in err, err
    assert "max_pixels" not in err and "kmeans_segment" not in err
    assert main(["-q", "segment", str(cube), "-o", str(tmp_path / "k.nc"), "--kmeans", "--n-classes", "50000"]) == 2
    err = capsys.readouterr().err
    assert err == "error: --n-classes: expected an integer <= 32768, found 50000\n"
    assert not (tmp_path / "k.nc").exists()


def test_segment_message_rewords_the_s2_view_advice():
    import argparse

    from fusets_dl.cli.stages import segment_message

    args = argparse.Namespace(kmeans=False, n_classes=4)
    text = "train_segmenter: the S2 view needs clear NDVI, found none in the training pixels; use views=('s1',)"
    assert segment_message(text, args) == "segment: the S2 view needs clear NDVI, found none in the training pixels; use --views s1"


def test_the_largest_n_classes_is_the_segmenters():
    from fusets_dl.cli.stages import _MAX_INT
    from fusets_dl.segmentation.config import MAX_CLASSES

    assert _MAX_INT["n_classes"] == MAX_CLASSES


@pytest.mark.parametrize("freq", ["1M", "1Y", "Q", "soon"])
def test_a_bad_freq_shows_only_our_message(tmp_path, capsys, freq):
    """--freq 1M showed pandas's FutureWarning ('M' is deprecated) before our message."""
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        code = main(["-q", "reconstruct", str(tmp_path / "c.nc"), str(tmp_path / "m"), "-o", str(tmp_path / "r.nc"), "--freq", freq])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --freq: expected a whole number of days such as '5D' or '12D', found {freq!r}") and err.count("\n") == 1, err
    assert not [w for w in seen if issubclass(w.category, FutureWarning)], [str(w.message) for w in seen]
    assert "freq expected" not in err


def _seasonal_ndvi(path: Path) -> None:
    """NDVI of 4 x 4 pixels every 5 days over 2020-2022, one clean season a year (peak in July)."""
    t = pd.date_range("2020-01-01", "2022-12-31", freq="5D")
    doy = t.dayofyear.to_numpy()
    season = 0.2 + 0.6 * np.exp(-(((doy - 190) / 35.0) ** 2))
    ndvi = np.broadcast_to(season[:, None, None], (t.size, 4, 4)).astype(np.float32)
    xr.Dataset({"NDVI": (("time", "y", "x"), ndvi)}, coords={"time": t, "y": np.arange(4.0), "x": np.arange(4.0)}).to_netcdf(path)


def test_phenology_by_year_prints_shares_of_pixels_per_year_within_the_period(tmp_path, capsys):
    """--by-year printed shares of pixel-years as 'pixels', counting years outside --start/--end (no season there)."""
    src = tmp_path / "ndvi.nc"
    _seasonal_ndvi(src)
    out = tmp_path / "ph.nc"
    assert main(["-q", "phenology", str(src), "-o", str(out), "--by-year", "--start", "2021-01-01", "--end", "2021-12-31"]) == 0
    printed = capsys.readouterr().out
    assert "pixels with 0/1/2/3+ seasons peaking in each year:\n  2021: 0.0% / 100.0% / 0.0% / 0.0%" in printed, printed
    assert "2020" not in printed and "2022" not in printed
    with xr.open_dataset(out) as ph:
        assert ph["year"].values.tolist() == [2021] and int(ph["n_seasons"].sum()) == 16
    assert main(["-q", "phenology", str(src), "-o", str(tmp_path / "all.nc"), "--by-year"]) == 0
    assert "  2020: 0.0% / 100.0%" in capsys.readouterr().out  # without a period every year is kept


def test_phenology_year_start_counts_southern_seasons_in_their_season_year(tmp_path, capsys):
    """--year-start did not exist: a summer season peaking in January (southern hemisphere) was counted by calendar year, so
    the first year of a July-June series showed no season. With --year-start 7 each season year (July-June) holds one."""
    src = tmp_path / "ndvi.nc"
    t = pd.date_range("2020-07-01", "2022-06-30", freq="5D")
    days = np.asarray((t - pd.Timestamp("2020-07-01")).days, dtype=float) % 365
    season = 0.2 + 0.6 * np.exp(-(((days - 200) / 35.0) ** 2))  # peaks mid-January
    xr.Dataset({"NDVI": (("time", "y", "x"), np.broadcast_to(season[:, None, None], (t.size, 4, 4)).astype(np.float32))},
               coords={"time": t, "y": np.arange(4.0), "x": np.arange(4.0)}).to_netcdf(src)
    out = tmp_path / "ph.nc"
    assert main(["-q", "phenology", str(src), "-o", str(out), "--by-year", "--year-start", "7"]) == 0
    printed = capsys.readouterr().out
    assert ("pixels with 0/1/2/3+ seasons peaking in each season year:\n  2020 (Jul 2020 - Jun 2021): 0.0% / 100.0% / 0.0% / 0.0%\n"
            "  2021 (Jul 2021 - Jun 2022): 0.0% / 100.0%") in printed, printed
    with xr.open_dataset(out) as ph:
        assert ph["year"].values.tolist() == [2020, 2021] and int(ph["n_seasons"].sum()) == 32
    # --main-months: a main season may peak only in those months (June-August: none of these January peaks is main)
    for months, mains in ((["12", "2"], 32), (["6", "8"], 0)):
        mm = tmp_path / f"mm{months[0]}.nc"
        assert main(["-q", "phenology", str(src), "-o", str(mm), "--year-start", "7", "--main-months", *months]) == 0
        with xr.open_dataset(mm) as ph:
            assert int(ph["is_main"].sum()) == mains, months
    with pytest.raises(SystemExit):  # argparse: a month 1-12
        main(["-q", "phenology", str(src), "-o", str(tmp_path / "bad.nc"), "--year-start", "13"])


def test_train_ensemble_reaches_the_training_config(tmp_path, monkeypatch, capsys):
    """``train --ensemble K`` trains with ``TrainConfig(ensemble=K)`` (the trainer is replaced: only the option is checked here)."""
    import fusets_dl.training as training

    seen = {}

    class _Stop(Exception):
        pass

    def fake_train(cube, spec, cfg):
        seen["ensemble"] = cfg.ensemble
        raise _Stop

    sample = find_sample()
    cube = tmp_path / "cube.nc"
    assert main(["-q", "align", "--s1", str(sample / "s1.nc"), "--s2", str(sample / "s2.nc"), "-o", str(cube)]) == 0
    monkeypatch.setattr(training, "train", fake_train)
    assert main(["-q", "train", str(cube), "-o", str(tmp_path / "m"), "--ensemble", "3"]) != 0  # the fake trainer stops it
    assert seen == {"ensemble": 3}


def test_a_sequence_models_decision_is_reused_by_calibration_from(tmp_path, small_cube, monkeypatch):
    """``--calibration-from`` a sequence model's reconstruction: a part of the cube fills with the whole cube's decision
    (its fill and std factor, read back from the netCDF attrs), value for value, with no check or refit of its own."""
    import dataclasses

    from fusets_dl.reconstruction import sequence as seq_mod
    from fusets_dl.reconstruction.transfer import TransferSkill
    from tests.models.test_sequence import tiny_model

    monkeypatch.setattr(seq_mod, "_s1_skill", lambda cube, model, **kw: TransferSkill(0.5, 120, "window"))
    dataclasses.replace(tiny_model(), info={"cubes": [{"start": "2015-01-01", "end": "2015-12-31"}]}).save(tmp_path / "seq")
    small_cube.to_netcdf(tmp_path / "cube.nc")
    small_cube.isel(y=slice(0, 12), x=slice(0, 10)).to_netcdf(tmp_path / "part.nc")
    whole = tmp_path / "whole.nc"
    with pytest.warns(UserWarning, match="its factor was refitted"):
        assert main(["-q", "reconstruct", str(tmp_path / "cube.nc"), str(tmp_path / "seq"), "-o", str(whole), "--device", "cpu"]) == 0
    part = tmp_path / "part_rec.nc"
    assert main(["-q", "reconstruct", str(tmp_path / "part.nc"), str(tmp_path / "seq"), "-o", str(part), "--device", "cpu",
                 "--calibration-from", str(whole)]) == 0
    with xr.open_dataset(whole) as a, xr.open_dataset(part) as b:
        ref = a.isel(y=slice(0, 12), x=slice(0, 10))
        np.testing.assert_allclose(b["NDVI"].values, ref["NDVI"].values, atol=1e-6)
        np.testing.assert_allclose(b["NDVI_std"].values, ref["NDVI_std"].values, rtol=1e-6)
        assert b.attrs["calibration_source"].startswith("given (weights)") and b.attrs["std_refit_factor"] == a.attrs["std_refit_factor"]


def test_align_keeps_the_unpaired_views_through_the_file_to_reconstruct(tmp_path):
    """--unpaired-views: NDVI_unpaired on time_s2 survives the netCDF, and reconstruct reads it back (its attrs say so)."""
    sample = find_sample()
    out = tmp_path / "cube.nc"
    assert main(["-q", "align", "--s1", str(sample / "s1.nc"), "--s2", str(sample / "s2.nc"), "-o", str(out), "--unpaired-views"]) == 0
    with xr.open_dataset(out) as ds:
        assert ds["NDVI_unpaired"].dims == ("time_s2", "y", "x") and int(ds["NDVI_unpaired"].notnull().sum()) > 0
        assert np.issubdtype(ds["time_s2"].dtype, np.datetime64)
        summary = json.loads(ds.attrs["fusion_summary"])
        assert int(ds["NDVI_unpaired"].notnull().sum()) == summary["s2_views_unpaired"]
    rec = tmp_path / "rec.nc"
    assert main(["-q", "reconstruct", str(out), "pretrained", "-o", str(rec), "--freq", "10D"]) == 0
    with xr.open_dataset(rec) as r:
        assert "NDVI_unpaired" in r.attrs["unpaired_views"]
