"""Warnings raised inside a UDF name the remedies a UDF can use: context entries, not Python arguments.

Before, the S2 offset warnings told a UDF user to pass ``harmonize=True`` or to
declare ``s2:processing_baseline`` per date (a UDF gets neither), and the orbit
warning, where Sentinel-1 had been resampled onto the Sentinel-2 dates, blamed
only the missing time of day.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusets_dl.openeo import apply_udf
from fusets_dl.openeo.udf import udf_wording
from tests.openeo.conftest import sample_openeo_cube
from tests.paths import REPO

SAMPLE = REPO / "data" / "sample"

pytestmark = pytest.mark.filterwarnings("ignore:reconstruct. the model was not trained on this cube:UserWarning")


def test_keyword_remedies_become_context_entries():
    said = ("open_s2: ... leaves them near 0.1. Pass harmonize=True if the data carry it (or declare it per date with "
            "s2:processing_baseline). Reprocessed data carry it on these dates too: pass harmonize='all' (every date), or declare "
            "it per date with the s2:processing_baseline coordinate ('05.00').")
    out = udf_wording(said, "predict")
    assert 'Pass the context {"s2": {"harmonize": true}} if the data carry it.' in out
    assert 'pass the context {"s2": {"harmonize": "all"}} (every date).' in out
    assert "processing_baseline" not in out and "harmonize=" not in out
    assert udf_wording("Pass weights='auto' to choose", "reconstruct") == 'Pass the context {"reconstruct": {"weights": "auto"}} to choose'
    assert udf_wording("Pass weights='auto' to choose", "predict") == "Pass weights='auto' to choose"  # no such section there
    code = "calibrate once: fdl.reconstruct(part, model, weights='auto'), then pass freq='5D' or harmonize=False"
    assert udf_wording(code, "reconstruct") == code.replace("harmonize=False", 'the context {"s2": {"harmonize": false}}')


@pytest.fixture(scope="module")
def offset_cube():
    """A corner of the sample over 2021-2022 with the +1000 DN offset on the S2 dates from 2022-01-25 (raw DN, as load_stac gave)."""
    cube = sample_openeo_cube(SAMPLE).isel(y=slice(0, 16), x=slice(4, 20)).copy(deep=True)
    late = pd.DatetimeIndex(cube["t"].values) >= pd.Timestamp("2022-01-25")
    for b in ("B04", "B08"):
        cube.loc[{"bands": b, "t": cube["t"].values[late]}] = cube.sel(bands=b, t=late) + 1000.0
    return cube


def _messages(kind, cube, **ctx):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_udf(kind, cube, {"model": "pretrained", "crs": 32749} | ctx)
    return [str(w.message) for w in caught]


def test_the_s2_offset_warning_of_a_udf_names_the_context(offset_cube):
    msgs = [m for m in _messages("predict", offset_cube) if "offset" in m]
    assert any("un-removed processing-baseline 04.00 offset" in m and '{"s2": {"harmonize": true}}' in m for m in msgs), msgs
    assert not any("harmonize=" in m or "s2:processing_baseline" in m for m in msgs), msgs


def _midnight(cube):
    return cube.assign_coords(t=pd.DatetimeIndex(cube["t"].values).normalize())


def test_the_orbit_warning_names_a_temporal_resampling_of_s1_onto_the_s2_dates():
    cube = _midnight(sample_openeo_cube(SAMPLE).isel(y=slice(0, 8), x=slice(0, 8)).sel(t=slice("2021-01-01", "2021-06-30")))
    cube = cube.groupby("t").mean()  # S1 and S2 of one day on one label, as merge_cubes gives them at midnight
    s1 = cube.sel(bands=["VV", "VH"])
    s1 = s1.isel(t=np.flatnonzero(np.isfinite(s1.values).any(axis=(1, 2, 3))))
    s2 = cube.sel(bands=["B04", "B08", "SCL"])
    s2 = s2.isel(t=np.flatnonzero(np.isfinite(s2.values).any(axis=(1, 2, 3))))
    resampled = s1.sel(t=s2["t"].values, method="nearest").assign_coords(t=s2["t"].values)  # resample_cube_temporal(s1, s2)
    on_s2 = xr.concat([s2, resampled], dim="bands").transpose("t", "bands", "y", "x")
    orbit = [m for m in _messages("predict", on_s2) if m.startswith("orbit groups")]
    assert orbit and all("likely cause is Sentinel-1 resampled onto the Sentinel-2 dates (resample_cube_temporal)" in m for m in orbit)
    assert not any(m.startswith("orbit groups") for m in _messages("predict", cube))  # each sensor on its own dates: no warning


@pytest.mark.realdata
def test_the_orbit_warning_of_mixed_orbits_on_their_own_dates_does_not_blame_a_resampling():
    from tests.openeo.conftest import gfmap_openeo_cube
    from tests.paths import GF_S1, GF_S2

    cube = gfmap_openeo_cube(GF_S1, GF_S2).isel(y=slice(0, 16), x=slice(0, 16))  # CDSE: S1 at midnight, several orbits
    orbit = [m for m in _messages("predict", cube, crs=32631) if m.startswith("orbit groups")]
    assert orbit and not any("resample_cube_temporal" in m for m in orbit)
    assert all("filter S1 to it when loading" in m for m in orbit)
