"""The library's keyword advice said as the command's options when it runs from fusets-dl."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusets_dl.cli import main
from fusets_dl.cli.parser import build_parser
from fusets_dl.cli.words import flag_words


@pytest.mark.parametrize(
    ("command", "message", "expected"),
    [
        ("phenology", "pass a larger max_seasons, or by_year=True for 3 a calendar year; max_seasons=5 keeps them all",
         "pass a larger --max-seasons, or --by-year for 3 a calendar year; --max-seasons 5 keeps them all"),
        # by_year's slots a year are --max-seasons with --by-year on the command line (it said "pass by_year=4")
        ("phenology", "pass by_year=4 to keep them all; pass a larger by_year", "pass --max-seasons 4 (with --by-year) to keep them all; "
         "pass a larger --max-seasons (with --by-year)"),
        # a choice the command line spells in lower case ("--harmonize False" was refused by argparse)
        ("align", "open the data again with harmonize=False, or harmonize=True", "open the data again with --harmonize false, or --harmonize true"),
        ("reconstruct", "pass weights='auto' to calibrate, or weights=None for the fixed setting (lam=100)",
         "pass --weights auto to calibrate, or --weights fixed for the fixed setting (--lam 100)"),
        ("align", "align(..., unpaired_views=True) keeps them; outlier_filter=False", "--unpaired-views keeps them; outlier_filter=False"),
        ("reconstruct", "reconstruct: smooth=False, and the setting works by smoothing (pass weights=None); smooth=True smooths",
         "reconstruct: --no-smooth, and the setting works by smoothing (pass --weights fixed); smooth=True smooths"),
        # a keyword the command does not have, an attribute, a value with no command-line spelling: left as they are
        ("phenology", "reconstruct(weights='auto'); rec.attrs['x']; obs.max_seasons=3; std=None", "reconstruct(weights='auto'); rec.attrs['x']; obs.max_seasons=3; std=None"),
        (None, "max_seasons=5", "max_seasons=5"),
    ],
)
def test_keywords_become_the_commands_options(command, message, expected):
    assert flag_words(build_parser(), command)(message) == expected


def test_a_phenology_warning_names_the_option(tmp_path, capsys):
    t = pd.date_range("2021-01-01", "2021-12-31", freq="5D")
    days = np.arange(t.size) * 5.0
    ndvi = 0.45 + 0.3 * np.sin(2 * np.pi * days / 60.0)  # six seasons a year
    ds = xr.Dataset({"NDVI": (("time", "y", "x"), np.broadcast_to(ndvi[:, None, None], (t.size, 2, 2)).astype(np.float32))},
                    coords={"time": t, "y": [1.0, 0.0], "x": [0.0, 1.0]})
    src = tmp_path / "ndvi.nc"
    ds.to_netcdf(src)
    with pytest.warns(UserWarning) as seen:
        assert main(["-q", "phenology", str(src), "-o", str(tmp_path / "ph.nc"), "--max-seasons", "2"]) == 0
    texts = [str(w.message) for w in seen if "max_seasons" in str(w.message) or "--max-seasons" in str(w.message)]
    assert texts and all("max_seasons=" not in t for t in texts) and any("--max-seasons" in t or "--by-year" in t for t in texts)


def test_warnings_print_as_plain_lines_not_the_scripts_place(tmp_path):
    """Run as a command (a subprocess, outside pytest's warning capture): one "warning: ..." line, no script place."""
    import os
    import subprocess
    import sys

    from tests.paths import REPO

    t = pd.date_range("2021-01-01", "2021-12-31", freq="5D")
    days = np.arange(t.size) * 5.0
    ndvi = 0.45 + 0.3 * np.sin(2 * np.pi * days / 60.0)
    ds = xr.Dataset({"NDVI": (("time", "y", "x"), np.broadcast_to(ndvi[:, None, None], (t.size, 1, 2)).astype(np.float32))},
                    coords={"time": t, "y": [0.0], "x": [0.0, 1.0]})
    src = tmp_path / "ndvi.nc"
    ds.to_netcdf(src)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": ""}
    out = subprocess.run([sys.executable, "-m", "fusets_dl", "-q", "phenology", str(src), "-o", str(tmp_path / "ph.nc"), "--max-seasons", "2"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if "--max-seasons" in ln]
    assert lines and all(ln.startswith("warning: phenology") for ln in lines), out.stderr
    assert "UserWarning" not in out.stderr and "max_seasons=" not in out.stderr
