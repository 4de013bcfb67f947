"""Lazy per-chunk reprojection of S2 onto the S1 grid (alignment.reproject) and the S2-pixels-per-S1-pixel funnel line."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pyproj import Transformer

import fusets_dl as fdl
from fusets_dl.alignment.reproject import grid_transform, reproject_average, s2_pixels_per_s1_pixel
from fusets_dl.errors import GridMismatchError
from fusets_dl.testing import raise_if_dask_computes

T = pd.DatetimeIndex(["2021-06-01", "2021-06-13"])
# S1 on UTM 31N near the zone edge (about 5.9 E, 50.6 N); S2 given on UTM 32N or on lon/lat
X0, Y0, RES1, N1 = 715010.0, 5610010.0, 20.0, 24


def _s1(chunks=None):
    shape = (T.size, N1, N1)
    ds = xr.Dataset(
        {"VV": (("time", "y", "x"), np.full(shape, -10.0, np.float32), {"units": "dB"}),
         "VH": (("time", "y", "x"), np.full(shape, -16.0, np.float32), {"units": "dB"})},
        coords={"time": T, "y": Y0 - RES1 * np.arange(N1), "x": X0 + RES1 * np.arange(N1)},
    ).rio.write_crs("EPSG:32631")
    return ds.chunk({"time": -1, "y": chunks, "x": chunks}) if chunks else ds


def _field(x31, y31):
    """A linear NDVI field in S1 (UTM 31N) coordinates: its area mean over a pixel is its value at the centre."""
    return 0.3 + 1e-4 * (x31 - X0) - 5e-5 * (y31 - Y0)


def _s2_on(crs, res, pad=120.0, clear_every=None):
    """S2 on ``crs`` at ``res`` covering the S1 grid with a margin, NDVI from :func:`_field`."""
    to = Transformer.from_crs("EPSG:32631", crs, always_xy=True)
    xmin, ymin, xmax, ymax = to.transform_bounds(X0 - 10 - pad, Y0 - RES1 * N1 + 10 - pad, X0 + RES1 * N1 - 10 + pad, Y0 + 10 + pad)
    xs = np.arange(xmin + res / 2, xmax, res)
    ys = np.arange(ymax - res / 2, ymin, -res)
    xx, yy = np.meshgrid(xs, ys)
    x31, y31 = Transformer.from_crs(crs, "EPSG:32631", always_xy=True).transform(xx, yy)
    nd = np.broadcast_to(_field(x31, y31), (T.size, ys.size, xs.size)).astype(np.float32).copy()
    clear = np.ones(nd.shape, bool)
    if clear_every:
        clear[1, ::clear_every, :] = False
    return xr.Dataset(
        {"NDVI": (("time", "y", "x"), nd), "clear": (("time", "y", "x"), clear)},
        coords={"time": T, "y": ys, "x": xs},
    ).rio.write_crs(crs)


def _centres():
    xx, yy = np.meshgrid(X0 + RES1 * np.arange(N1), Y0 - RES1 * np.arange(N1))
    return _field(xx, yy)


@pytest.mark.parametrize(("crs", "res"), [("EPSG:32632", 10.0), ("EPSG:4326", 1e-4)])
def test_other_utm_zone_and_lonlat_give_the_area_mean(crs, res):
    cube = fdl.align(_s1(), _s2_on(crs, res), min_clear_fraction=0.99)
    got = cube["NDVI"].values
    assert np.isfinite(got).all()
    # the mean of a linear field over an S1 pixel is its value at the pixel centre
    np.testing.assert_allclose(got[0], _centres(), atol=2e-4, rtol=0)
    np.testing.assert_allclose(got[1], _centres(), atol=2e-4, rtol=0)
    summary = json.loads(cube.attrs["fusion_summary"])
    assert summary["grid"].startswith("reprojection")


def test_clear_fraction_is_the_share_of_clear_s2_pixels():
    # every 2nd S2 row cloudy on date 2: about half of each S1 pixel clear
    cube = fdl.align(_s1(), _s2_on("EPSG:32632", 10.0, clear_every=2), min_clear_fraction=0.4, compute_summary=True)
    nd = cube["NDVI"].values
    np.testing.assert_allclose(nd[0], _centres(), atol=2e-4)
    assert np.isfinite(nd[1]).mean() > 0.9  # the clear half is averaged
    np.testing.assert_allclose(nd[1][np.isfinite(nd[1])], _centres()[np.isfinite(nd[1])], atol=6e-4)
    strict = fdl.align(_s1(), _s2_on("EPSG:32632", 10.0, clear_every=2), min_clear_fraction=0.99)
    assert np.isnan(strict["NDVI"].values[1]).all() and np.isfinite(strict["NDVI"].values[0]).all()


def test_reprojection_is_lazy_and_chunked_equals_unchunked():
    s2 = _s2_on("EPSG:4326", 1e-4)
    eager = fdl.align(_s1(), s2, min_clear_fraction=0.99)
    with raise_if_dask_computes():
        lazy = fdl.align(_s1(chunks=7), s2.chunk({"time": -1, "y": 50, "x": 40}), min_clear_fraction=0.99)
    assert lazy["NDVI"].chunks is not None and lazy["NDVI"].chunks[1][0] == 7
    np.testing.assert_allclose(lazy["NDVI"].values, eager["NDVI"].values, rtol=0, atol=1e-6)


def test_each_output_chunk_reads_only_the_source_under_it():
    s2 = _s2_on("EPSG:32632", 10.0).chunk({"time": -1, "y": 8, "x": 8})
    read = []

    def record(block, block_info=None):
        read.append(tuple(block_info[0]["chunk-location"]))
        return block

    src = xr.Dataset({"nd": s2["NDVI"].copy(data=s2["NDVI"].data.map_blocks(record, dtype=np.float32))})
    out = reproject_average(src, "EPSG:32632", _s1(chunks=8), "EPSG:32631")
    assert out["nd"].data.numblocks == (1, 3, 3)
    n_src = int(np.prod(s2["NDVI"].data.numblocks))
    one = out["nd"].data.blocks[0, 0, 0].compute(scheduler="sync")
    # one 8 x 8 S1 block (160 m) reads the few 80 m S2 chunks under it, not the whole source
    assert 0 < len(set(read)) <= 16 < n_src / 4
    np.testing.assert_allclose(one[0], _centres()[:8, :8], atol=2e-4)


def test_funnel_says_how_many_s2_pixels_fed_each_s1_pixel():
    cube = fdl.align(_s1(), _s2_on("EPSG:32632", 10.0), min_clear_fraction=0.99)
    line = json.loads(cube.attrs["fusion_summary"])["s2_pixels_per_s1_pixel"]
    # 10 m pixels in 20 m pixels, rotated by the zone change: 4 on average, 3..6 per pixel
    assert line["s1_pixels_counted"] == N1 * N1 and line["s1_pixels_without_s2"] == 0
    assert abs(line["mean"] - 4.0) < 0.1 and 2 <= line["min"] <= 4 <= line["max"] <= 6
    # same CRS, nested 10 m in 20 m: exactly 4 each
    s1 = _s1()
    xs = np.arange(X0 - 15, X0 + RES1 * N1 - 10, 10.0)
    ys = np.arange(Y0 + 15, Y0 - RES1 * N1 + 10, -10.0)
    nested = xr.Dataset(coords={"y": ys, "x": xs}).rio.write_crs("EPSG:32631")
    counts = s2_pixels_per_s1_pixel(nested, "EPSG:32631", s1, "EPSG:32631")
    np.testing.assert_array_equal(counts, np.full((N1, N1), 4))


def test_grid_transform_and_irregular_grids():
    t = grid_transform(_s1())
    assert (t.a, t.e, t.c, t.f) == (20.0, -20.0, X0 - 10, Y0 + 10)
    bad = _s1().assign_coords(x=np.r_[X0, X0 + 20 * np.arange(1, N1) + 3])
    with pytest.raises(GridMismatchError, match="evenly spaced x"):
        grid_transform(bad)


def test_float32_lonlat_coordinates_are_a_regular_grid():
    """netCDF exports store lon/lat as float32: centres up to a few hundredths of a pixel off the regular grid, read as it."""
    s2 = _s2_on("EPSG:4326", 1e-4)
    s2 = s2.assign_coords(x=s2["x"].values.astype(np.float32), y=s2["y"].values.astype(np.float32))
    off = np.abs(s2["y"].values.astype(np.float64) - np.linspace(float(s2["y"][0]), float(s2["y"][-1]), s2.sizes["y"])).max() / 1e-4
    assert 0.005 < off < 0.1  # what float32 does at 50 degrees north
    cube = fdl.align(_s1(), s2, min_clear_fraction=0.99)
    np.testing.assert_allclose(cube["NDVI"].values[0], _centres(), atol=2e-4, rtol=0)
    with pytest.raises(GridMismatchError, match=r"within 0.1 of a pixel of a regular grid.*0.143 pixels off"):
        grid_transform(_s1().assign_coords(x=np.r_[X0, X0 + 20 * np.arange(1, N1) + 3]))


@pytest.mark.parametrize("chunks", [None, 8])
def test_grids_without_a_crs_are_resampled_as_sharing_one(chunks):
    """Neither input has a CRS and the grids do not nest (S2 at 30 m): resampled between their own coordinates."""
    with_crs = fdl.align(_s1(), _s2_on("EPSG:32631", 30.0), min_clear_fraction=0.99)
    bare = fdl.align(_s1(chunks).drop_vars("spatial_ref"), _s2_on("EPSG:32631", 30.0).drop_vars("spatial_ref"), min_clear_fraction=0.99)
    assert bare.rio.crs is None and json.loads(bare.attrs["fusion_summary"])["grid"].startswith("reprojection")
    np.testing.assert_allclose(bare["NDVI"].values, with_crs["NDVI"].values, atol=1e-6, rtol=0)
