"""align at the edges: S2 footprint edges in the clear fraction, calendar periods, bad ``freq``, lazy terrain."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pyproj import Transformer
from rasterio.enums import Resampling

import fusets_dl as fdl
from fusets_dl.alignment.grid import s2_onto_s1, static_onto_s1
from fusets_dl.errors import ConfigError
from fusets_dl.testing import raise_if_dask_computes

X0, Y0, CRS = 500000.0, 5600000.0, "EPSG:32631"


def _grid(ny, nx, res, x0=X0, y0=Y0):
    return {"y": y0 - (np.arange(ny) + 0.5) * res, "x": x0 + (np.arange(nx) + 0.5) * res}


def _s1(times, ny=4, nx=4, res=20.0):
    t = pd.DatetimeIndex(times)
    vv = np.random.default_rng(0).uniform(-14, -8, (t.size, ny, nx)).astype(np.float32)
    return xr.Dataset(
        {"VV": (("time", "y", "x"), vv, {"units": "dB"}), "VH": (("time", "y", "x"), vv - 6, {"units": "dB"})},
        coords={"time": t, **_grid(ny, nx, res)},
    ).rio.write_crs(CRS)


def _s2(times, ny, nx, res=10.0, x0=X0, y0=Y0, value=None):
    t = pd.DatetimeIndex(times)
    rng = np.random.default_rng(1)
    nd = rng.uniform(0.2, 0.8, (t.size, ny, nx)).astype(np.float32) if value is None else np.full((t.size, ny, nx), value, np.float32)
    return xr.Dataset(
        {"NDVI": (("time", "y", "x"), nd), "clear": (("time", "y", "x"), np.ones(nd.shape, bool))},
        coords={"time": t, **_grid(ny, nx, res, x0, y0)},
    ).rio.write_crs(CRS)


# ---- 1. the clear fraction counts the area outside the S2 footprint as not clear --------------------------------

T2 = pd.date_range("2021-01-01", periods=2, freq="6D")


def test_clear_fraction_counts_area_outside_the_s2_footprint_as_in_the_nested_path():
    # S1 4 x 4 at 20 m; S2 at 10 m over S1 rows 0, 1 and the top half of row 2 (5 rows of 10 m)
    s1 = _s1(T2)
    nested = _s2(T2, ny=5, nx=8)
    shifted = _s2(T2, ny=5, nx=9, x0=X0 - 5)  # 5 m off the S1 grid: reprojection
    _, cf_n, how_n, _ = s2_onto_s1(nested, s1, reproject=False)
    _, cf_s, how_s, _ = s2_onto_s1(shifted, s1, reproject=False)
    assert how_n.startswith("exact block mean") and how_s.startswith("reprojection")
    for cf in (cf_n, cf_s):
        np.testing.assert_allclose(cf.values[0, :, 0], [1.0, 1.0, 0.5, 0.0], atol=1e-6)  # was 1.0 in row 2 when reprojected
        assert cf.dims == ("time", "y", "x")
    cubes = {name: fdl.align(s1, s2) for name, s2 in (("nested", nested), ("shifted", shifted))}
    for c in cubes.values():  # min_clear_fraction 1.0: the half-covered row is not clear in either path
        assert np.isnan(c["NDVI"].values[:, 2:]).all() and np.isfinite(c["NDVI"].values[:, :2]).all()
        assert json.loads(c.attrs["fusion_summary"])["paired_pixel_dates"] == 16  # was 24 for the shifted S2
    half = fdl.align(s1, shifted, min_clear_fraction=0.5)  # a half-covered pixel passes at 0.5, averaged over its S2 half
    assert np.isfinite(half["NDVI"].values[:, 2]).all() and np.isnan(half["NDVI"].values[:, 3]).all()
    s2v = shifted["NDVI"].values
    # S1 pixel (2, 1) spans x 500020..500040: S2 columns 2 (half), 3 and 4 (half); S2 row 4 is its covered half
    want = (0.5 * s2v[:, 4, 2] + s2v[:, 4, 3] + 0.5 * s2v[:, 4, 4]) / 2
    np.testing.assert_allclose(half["NDVI"].values[:, 2, 1], want, rtol=1e-5)


def test_footprint_coverage_is_lazy_and_does_not_depend_on_the_chunks():
    s1, s2 = _s1(T2, ny=6, nx=6), _s2(T2, ny=7, nx=11, x0=X0 - 5)  # S2 covers 3.5 S1 rows and 5.25 S1 columns
    _, eager, _, _ = s2_onto_s1(s2, s1, reproject=False)
    with raise_if_dask_computes():
        _, lazy, _, _ = s2_onto_s1(s2.chunk({"y": 3, "x": 4}), s1.chunk({"y": 2, "x": 4}), reproject=False)
    assert lazy.chunks is not None
    np.testing.assert_allclose(lazy.values, eager.values, atol=1e-6)
    np.testing.assert_allclose(eager.values[0, :, 0], [1, 1, 1, 0.5, 0, 0], atol=1e-6)
    np.testing.assert_allclose(eager.values[0, 0, :], [1, 1, 1, 1, 1, 0.25], atol=1e-6)


# ---- 2. calendar frequencies: a short first period from the span start ------------------------------------------

S1_T = pd.date_range("2021-01-15", "2021-06-20", freq="6D")
S2_T = pd.date_range("2021-01-16", "2021-06-20", freq="5D")  # common span 2021-01-16 .. 2021-06-20


def _composite(freq):
    return fdl.align(_s1(S1_T, ny=2, nx=2), _s2(S2_T, ny=4, nx=4), freq=freq)


def _bounds(cube, i):
    return [str(v)[:10] for v in cube["time_bnds"].values[i]]


def test_month_start_periods_begin_with_a_short_period_at_the_span_start():
    cube = _composite("MS")
    assert cube.sizes["time"] == 6
    assert _bounds(cube, 0) == ["2021-01-16", "2021-02-01"]  # was 2021-02-01 .. 2021-03-01 (16 days dropped)
    assert _bounds(cube, 1) == ["2021-02-01", "2021-03-01"]
    assert _bounds(cube, -1) == ["2021-06-01", "2021-07-01"]  # a whole last period, holding the span end
    assert cube["time"].values[0] == np.datetime64("2021-01-24")  # the middle of the short period
    assert cube["time"].values[1] == np.datetime64("2021-02-15")
    np.testing.assert_array_equal(cube["n_s1"].values[:, 0, 0], [2, 5, 5, 5, 5, 4])
    assert int(cube["n_s1"].values[:, 0, 0].sum()) == int((S1_T >= "2021-01-16").sum()) == 26  # was 24
    assert int(cube["n_s2_clear"].values[:, 0, 0].sum()) == S2_T.size == 32  # was 28


@pytest.mark.parametrize(("freq", "first", "periods", "s1_used"), [
    ("QS", ["2021-01-16", "2021-04-01"], 2, 26),  # was 1 period from 2021-04-01, 14 of 26 S1 dates
    ("W", ["2021-01-16", "2021-01-17"], 24, 26),  # Sundays; a one-day first period
    ("YS", ["2021-01-16", "2022-01-01"], 1, 26),  # was TimeOverlapError "holds no full period"
    ("10D", ["2021-01-16", "2021-01-26"], 16, 26),  # fixed length: unchanged
])
def test_calendar_frequencies_keep_every_date_of_the_span(freq, first, periods, s1_used):
    cube = _composite(freq)
    assert _bounds(cube, 0) == first
    assert cube.sizes["time"] == periods
    assert int(cube["n_s1"].values[:, 0, 0].sum()) == s1_used
    assert int(cube["n_s2_clear"].values[:, 0, 0].sum()) == S2_T.size
    bnds = cube["time_bnds"].values
    np.testing.assert_array_equal(cube["time"].values, bnds[:, 0] + (bnds[:, 1] - bnds[:, 0]) / 2)
    np.testing.assert_array_equal(bnds[1:, 0], bnds[:-1, 1])  # contiguous
    assert json.loads(cube.attrs["fusion_summary"])["freq"] == freq


# ---- 3. freq that is not a positive period ----------------------------------------------------------------------

@pytest.mark.parametrize(("freq", "found"), [
    ("0D", "found '0D', a period of length zero or less"),
    ("0h", "found '0h', a period of length zero or less"),
    ("-5D", "found '-5D', a period of length zero or less"),
    ("banana", "found 'banana', which is not a pandas frequency"),
    ("300YS", "found '300YS', a period longer than pandas dates can hold"),
    (5, "found int 5"),
])
def test_a_freq_that_is_not_a_positive_period_is_a_config_error_before_any_work(freq, found):
    s1 = _s1(["2021-01-01", "2021-01-07"], ny=2, nx=2)
    s2 = _s2(["2030-01-01"], ny=4, nx=4)  # no common span: the freq check comes first
    with pytest.raises(ConfigError, match=r"align: freq: expected a positive period \(a pandas frequency\) such as "
                                          r"'5D', '10D' or 'MS', " + found):
        fdl.align(s1, s2, freq=freq)


@pytest.mark.parametrize("freq", ["1s", "1min"])
def test_a_freq_of_seconds_or_minutes_is_refused_before_building_millions_of_periods(freq):
    """Before: "1s" over a few weeks built millions of empty periods (minutes and gigabytes) before anything was said."""
    from fusets_dl.alignment.periods import MAX_PERIODS

    s1, s2 = _s1(S1_T, ny=2, nx=2), _s2(S2_T, ny=4, nx=4)
    with pytest.raises(ConfigError, match=rf"align: freq: expected at most {MAX_PERIODS:,} periods over the span .*, found "
                                          rf"'{freq}', which makes about [\d,]+: compositing periods are days long"):
        fdl.align(s1, s2, freq=freq)
    assert fdl.align(s1, s2, freq="12h").sizes["time"] > 0  # sub-daily periods stay possible


def test_a_pandas_offset_is_a_freq_too():
    cube = fdl.align(_s1(S1_T, ny=2, nx=2), _s2(S2_T, ny=4, nx=4), freq=pd.offsets.MonthBegin())
    assert _bounds(cube, 0) == ["2021-01-16", "2021-02-01"]
    assert json.loads(cube.attrs["fusion_summary"])["freq"] == "MS"


# ---- 4. terrain on another grid stays lazy, with the values of the in-memory reprojection -----------------------

def _terrain(ny, nx, res, x0, y0, crs=CRS, dtype=np.float32, smooth=False):
    coords = _grid(ny, nx, res, x0, y0)
    if smooth:  # a hillside: GDAL's approximate transformer moves a sample ~1e-3 pixel, invisible on it
        yy, xx = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
        elev = (100 + 2.0 * xx + 1.5 * yy + 10 * np.sin(xx / 4.0)).astype(dtype)
    else:
        elev = (np.random.default_rng(2).random((ny, nx)) * 300).astype(dtype)
    return xr.Dataset({"elevation": (("y", "x"), elev, {"units": "m"})}, coords=coords).rio.write_crs(crs)


def _lonlat_terrain():
    lon0, lat0 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(X0 - 30, Y0 + 30)
    return _terrain(20, 25, 1e-4, lon0, lat0, crs="EPSG:4326", smooth=True)


# GDAL's kernel scale (S1 pixels per terrain pixel, 20 m S1): fixed for the grid, not derived per warped region
@pytest.mark.parametrize(("terrain", "scale"), [
    (_terrain(5, 5, 25.0, X0, Y0), 25 / 20),  # coarser, covering only part of S1 (NaN outside)
    (_terrain(40, 40, 3.0, X0 - 3, Y0 + 3), 3 / 20),  # finer: downsampled, the kernel 6.7 pixels wide
    (_terrain(9, 9, 17.0, X0 - 11, Y0 + 13, dtype=np.int16), 17 / 20),
    (_lonlat_terrain(), None),  # covers S1: GDAL's own scale
], ids=["coarser-partial", "finer", "int16", "lonlat"])
def test_dask_terrain_on_another_grid_stays_lazy_and_equals_the_eager_reprojection(terrain, scale):
    t = pd.date_range("2021-01-01", periods=4, freq="6D")
    s1, s2 = _s1(t, ny=6, nx=6), _s2(t, ny=12, nx=12)
    eager = fdl.align(s1, s2, terrain=terrain)["elevation"]
    assert eager.chunks is None
    # rioxarray's bilinear reproject_match onto the S1 grid, on the layer as float32 (an int16 one was rounded)
    kw = {} if scale is None else {"XSCALE": scale, "YSCALE": scale}
    direct = terrain["elevation"].astype(np.float32).rio.write_crs(terrain.rio.crs).rio.reproject_match(
        s1["VV"].isel(time=0, drop=True), resampling=Resampling.bilinear, **kw)
    lonlat = scale is None
    np.testing.assert_allclose(eager.values, direct.values, rtol=1e-6, atol=1e-3 if lonlat else 1e-4)
    for s1_chunks, t_chunks in (({"y": 3, "x": 3}, {"y": 2}), ({"y": 4, "x": 5}, {"y": 7, "x": 3}), ({"y": 6, "x": 6}, {"y": -1})):
        with raise_if_dask_computes():  # was one computation, and a NumPy elevation
            cube = fdl.align(s1.chunk(s1_chunks), s2.chunk({"y": 6, "x": 6}), terrain=terrain.chunk(t_chunks))
        elev = cube["elevation"]
        assert elev.chunks is not None and elev.chunks == cube["VV"].chunks[1:]
        assert elev.dtype == np.float32 and elev.attrs["units"] == "m"
        # the same NaN (where the terrain does not reach) and values: each chunk warps its own window (a chunk one
        # pixel wide included); float32 rounding, and with a change of CRS GDAL's approximate transformer
        np.testing.assert_allclose(elev.values, eager.values, rtol=1e-6, atol=1e-3 if lonlat else 1e-4)


def test_a_dask_terrain_chunk_reads_only_the_terrain_under_it():
    # a 400 x 400 terrain at 5 m in 40-pixel chunks (100 chunks) under a 100 x 100 S1 grid at 20 m in 25-pixel chunks
    import dask
    import dask.array as dsa

    t = pd.date_range("2021-01-01", periods=2, freq="6D")
    s1 = _s1(t, ny=100, nx=100).chunk({"y": 25, "x": 25})
    terrain = _terrain(400, 400, 5.0, X0, Y0)
    read = []

    def _read(block, block_info=None):
        read.append(tuple(block_info[0]["chunk-location"]))
        return block

    lazy = terrain.copy()
    lazy["elevation"] = (("y", "x"), dsa.from_array(terrain["elevation"].values, chunks=40).map_blocks(_read, dtype=np.float32),
                         terrain["elevation"].attrs)
    out = static_onto_s1(lazy["elevation"], s1, regrid=True)
    assert out.data.numblocks == (4, 4) and not read
    for i, j in ((0, 0), (1, 2), (3, 3)):
        read.clear()
        with dask.config.set(scheduler="synchronous"):
            out.data.blocks[i, j].compute()
        # its 100 x 100 terrain pixels and the kernel's margin: 3 x 3 or 4 x 4 of the 100 chunks (all 100 before)
        assert 0 < len(set(read)) <= 16, (i, j, sorted(set(read)))
    np.testing.assert_allclose(out.values, static_onto_s1(terrain["elevation"], s1.compute(), regrid=True).values,
                               rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("chunked", [False, True])
def test_terrain_nodata_and_the_area_beyond_the_terrain_are_nan_not_elevations(chunked):
    # an int16 DEM (rioxarray.open_rasterio without masked=True): -32768 is its _FillValue, and it covers
    # only the top-left of S1; a DEM on the S1 grid with -9999 as nodata
    s1 = _s1(T2, ny=6, nx=6)
    part = _terrain(3, 3, 17.0, X0, Y0, dtype=np.int16)
    part["elevation"].values[1, 1] = -32768
    part["elevation"].attrs["_FillValue"] = -32768
    same = xr.Dataset({"elevation": (("y", "x"), np.full((6, 6), 120, np.int16), {"nodata": -9999, "units": "m"})},
                      coords=_grid(6, 6, 20.0)).rio.write_crs(CRS)
    same["elevation"].values[2, 3] = -9999
    if chunked:
        s1, part, same = s1.chunk({"y": 3, "x": 3}), part.chunk({"y": 2}), same.chunk({"y": 3})
    elev = static_onto_s1(part["elevation"], s1, regrid=True).values
    assert np.nanmin(elev) > 0 and np.nanmax(elev) <= 300  # was -32768 beyond the DEM and next to its void
    assert np.isnan(elev[3:, :]).all() and np.isnan(elev[:, 3:]).all()  # the DEM spans 51 m: S1 rows/columns 0-2
    assert np.isfinite(elev[0, 0])
    on_grid = static_onto_s1(same["elevation"], s1, regrid=True)
    assert np.isnan(on_grid.values[2, 3]) and np.isnan(on_grid.values).sum() == 1 and np.nanmin(on_grid.values) == 120
    assert "nodata" not in on_grid.attrs and on_grid.attrs["units"] == "m"


def test_aspect_is_regridded_as_a_direction_not_across_the_0_360_wrap():
    # a north-facing hillside (350 and 10 degrees alternating) at 10 m, half a pixel off the 20 m S1 grid
    s1 = _s1(T2, ny=6, nx=6)
    asp = np.where((np.arange(13)[:, None] + np.arange(13)[None, :]) % 2 == 0, 350.0, 10.0).astype(np.float32)
    terr = xr.Dataset({"aspect": (("y", "x"), asp)}, coords=_grid(13, 13, 10.0, X0 - 5, Y0 + 5)).rio.write_crs(CRS)
    for t in (terr, terr.chunk({"y": 5})):
        got = fdl.align(s1, _s2(T2, ny=12, nx=12), terrain=t)["aspect"].values
        north = np.minimum(got, 360 - got)  # degrees from north
        assert np.nanmax(north) < 10.0, got  # was 88 % of pixels facing 90..270 degrees (bilinear on degrees)
    flat = terr.copy()
    flat["aspect"].values[:] = -1.0  # richdem/WhiteboxTools/SAGA: -1 on flat ground
    assert (fdl.align(s1, _s2(T2, ny=12, nx=12), terrain=flat)["aspect"].values == -1.0).all()


def test_a_terrain_beside_s1_is_refused_and_one_over_part_of_it_warned():
    s1 = _s1(T2, ny=6, nx=6)
    far = _terrain(5, 5, 25.0, X0 + 5e4, Y0)  # 50 km east
    with pytest.raises(fdl.errors.GridMismatchError, match=r"align: terrain 'elevation': expected a layer over the S1 grid, "
                                                           r"found none of its pixels under it .*EPSG:32631"):
        fdl.align(s1, _s2(T2, ny=12, nx=12), terrain=far)
    with pytest.warns(UserWarning, match=r"align: terrain 'elevation' covers about 25% of the S1 grid"):
        fdl.align(s1, _s2(T2, ny=12, nx=12), terrain=_terrain(3, 3, 20.0, X0 - 5, Y0 + 5))


def test_a_rotated_dem_is_warped_whole_as_rioxarray_does(tmp_path):
    """A GeoTIFF with a rotated transform: open_rasterio gives x/y as pixel numbers (map coordinates in 2-D xc/yc). The
    windowed warp and the coverage check read x/y and refused it; it is warped whole, equal to rio.reproject_match."""
    import warnings

    import rasterio
    import rioxarray
    from affine import Affine

    t = pd.date_range("2021-01-01", periods=2, freq="6D")
    s1, s2 = _s1(t, ny=6, nx=6), _s2(t, ny=12, nx=12)
    tr = Affine.translation(X0 - 50, Y0 + 50) * Affine.rotation(10) * Affine.scale(5, -5)
    path = tmp_path / "rot.tif"
    elev = (100 + np.arange(60)[None, :] + np.zeros((60, 1))).astype("f4")
    with rasterio.open(path, "w", driver="GTiff", width=60, height=60, count=1, dtype="float32", crs=CRS, transform=tr) as f:
        f.write(elev, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rioxarray: "Transform that is non-rectilinear ... Unable to recalculate"
        da = rioxarray.open_rasterio(path).squeeze("band", drop=True)
        ref = da.rio.reproject_match(s1["VV"].isel(time=0, drop=True), resampling=Resampling.bilinear).values
        for terr in (da.to_dataset(name="elevation"), da.chunk({"x": 20, "y": 20}).to_dataset(name="elevation")):
            got = fdl.align(s1, s2, terrain=terr)["elevation"].values
            np.testing.assert_allclose(got, ref, rtol=1e-6)
    assert np.isfinite(ref).all() and ref.min() > 100


def test_static_layer_without_a_crs_to_regrid_says_so():
    s1 = _s1(T2, ny=6, nx=6)
    terr = _terrain(5, 5, 25.0, X0, Y0)
    terr = terr.drop_vars("spatial_ref")
    with pytest.raises(fdl.errors.CRSMismatchError, match=r"align: terrain 'elevation': expected a CRS.*found none"):
        static_onto_s1(terr["elevation"], s1, regrid=True)
