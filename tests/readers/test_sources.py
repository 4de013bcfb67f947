"""Opening GeoTIFF folders and lists of GeoTIFF files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (.rio on the helpers' arrays: run alone, nothing else registers it)
import xarray as xr

import fusets_dl as fdl
from tests.readers.helpers import s1_raw


def test_open_geotiff_folder_by_band_descriptions(tmp_path):
    raw = s1_raw(nt=3, ny=4, nx=5).rename(t="time")
    for i, t in enumerate(raw.time.values):
        day = raw.isel(time=i)
        stack = xr.concat([day["VV"], day["VH"]], dim="band").assign_coords(band=[1, 2])
        stack.attrs["long_name"] = ("VV", "VH")
        stack = stack.rio.write_crs("EPSG:32631")
        stack.rio.to_raster(tmp_path / f"S1_{pd.Timestamp(t):%Y%m%d}.tif")
    s1 = fdl.open_s1(tmp_path)
    assert s1.sizes == {"time": 3, "y": 4, "x": 5}
    np.testing.assert_allclose(s1["VH"].values, raw["VH"].values, rtol=1e-6)
    assert s1.rio.crs.to_epsg() == 32631


def test_open_geotiff_single_band_names_from_file_names(tmp_path):
    raw = s1_raw(nt=2, ny=3, nx=3).rename(t="time")
    files = []
    for i, t in enumerate(raw.time.values):
        for b in ("VV", "VH"):
            da = raw[b].isel(time=i).expand_dims(band=[1]).rio.write_crs("EPSG:32631")
            p = tmp_path / f"{b}_{pd.Timestamp(t):%Y-%m-%d}.tif"
            da.rio.to_raster(p)
            files.append(p)
    s1 = fdl.open_s1(files)
    np.testing.assert_allclose(s1["VV"].values, raw["VV"].values, rtol=1e-6)
    with pytest.raises(fdl.errors.SourceError, match="expected a date"):
        (tmp_path / "nodate").mkdir()
        raw["VV"].isel(time=0).expand_dims(band=[1]).rio.write_crs("EPSG:32631").rio.to_raster(tmp_path / "nodate" / "VV.tif")
        fdl.open_s1(tmp_path / "nodate")


def test_a_point_table_given_as_a_raster_points_to_open_points(tmp_path):
    """`fusets-dl align table.csv ...` showed xarray's backend-engine text with no word of open_points."""
    from fusets_dl.errors import SourceError

    table = tmp_path / "ts_NB_1.csv"
    table.write_text("PLOTID,Date,VV,VH\nA,2022-03-01,-10,-16\n")
    with pytest.raises(SourceError, match=r"found a table \(\.csv\); read point tables with fdl\.open_points"):
        fdl.open_s1(table)
