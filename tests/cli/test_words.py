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
         "pass a larger max_seasons, or --by-year for 3 a calendar year; --max-seasons 5 keeps them all"),
        ("reconstruct", "pass weights='auto' to calibrate, or weights=None for the fixed setting (lam=100)",
         "pass --weights auto to calibrate, or --weights fixed for the fixed setting (--lam 100)"),
        ("align", "align(..., unpaired_views=True) keeps them; outlier_filter=False", "align(..., --unpaired-views) keeps them; outlier_filter=False"),
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
