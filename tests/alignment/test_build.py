"""align (alignment.build): pairing, compositing and grid matching on hand-built cubes; errors; laziness."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.testing import raise_if_dask_computes


def _s1(times, ny=1, nx=2, vv=-10.0, vh=-16.0, res=20.0, x0=300010.0, y0=5000010.0, crs="EPSG:32631"):
    t = pd.DatetimeIndex(times)
    shape = (t.size, ny, nx)
    vvv = np.broadcast_to(np.asarray(vv, dtype=np.float32), shape).copy() if np.ndim(vv) < 3 else np.asarray(vv, np.float32)
    vhv = np.broadcast_to(np.asarray(vh, dtype=np.float32), shape).copy() if np.ndim(vh) < 3 else np.asarray(vh, np.float32)
    ds = xr.Dataset(
        {"VV": (("time", "y", "x"), vvv, {"units": "dB"}), "VH": (("time", "y", "x"), vhv, {"units": "dB"})},
        coords={"time": t, "y": y0 - res * np.arange(ny), "x": x0 + res * np.arange(nx)},
    )
    return ds.rio.write_crs(crs) if crs else ds


def _s2(times, ndvi, clear, res=20.0, x0=300010.0, y0=5000010.0, crs="EPSG:32631"):
    t = pd.DatetimeIndex(times)
    ndvi = np.asarray(ndvi, dtype=np.float32)
    clear = np.asarray(clear, dtype=bool)
    ny, nx = ndvi.shape[1:]
    ds = xr.Dataset(
        {"NDVI": (("time", "y", "x"), ndvi), "clear": (("time", "y", "x"), clear)},
        coords={"time": t, "y": y0 - res * np.arange(ny), "x": x0 + res * np.arange(nx)},
    )
    return ds.rio.write_crs(crs) if crs else ds


S1_DATES = ["2021-06-01T17:00", "2021-06-07T17:00", "2021-06-13T17:00"]
S2_DATES = ["2021-06-02T10:00", "2021-06-07T00:00", "2021-06-08T10:00", "2021-06-14T10:00"]


def test_pairs_nearest_clear_observation_per_pixel():
    # pixel 0: all clear; pixel 1: cloudy on 06-07 and 06-08
    nd = np.array([[[0.2, 0.3]], [[0.4, 0.9]], [[0.5, 0.9]], [[0.6, 0.7]]])
    clear = np.array([[[1, 1]], [[1, 0]], [[1, 0]], [[1, 1]]])
    cube = fdl.align(_s1(S1_DATES), _s2(S2_DATES, nd, clear), tolerance="3D")
    got = cube["NDVI"].values[:, 0, :]
    # 06-01 -> 06-02 (17 h later); 06-07T17: 06-07T00 and 06-08T10 tie at 17 h: the earlier wins; 06-13 -> 06-14
    np.testing.assert_allclose(got[:, 0], [0.2, 0.4, 0.6])
    np.testing.assert_allclose(got[:, 1], [0.3, np.nan, 0.7])
    off = cube["NDVI_offset"].values[:, 0, 0]
    np.testing.assert_allclose(off, [17 / 24, -17 / 24, 17 / 24], atol=1e-5)
    assert cube["NDVI"].dtype == np.float32
    summary = json.loads(cube.attrs["fusion_summary"])
    assert summary["paired_pixel_dates"] == 5
    assert summary["s2_clear_pixel_dates"] == 6


def test_keep_cloudy_pairs_the_nearest_contaminated_acquisition():
    nd = np.array([[[0.2, 0.3]], [[0.4, 0.1]], [[0.5, 0.05]], [[0.6, 0.7]]])
    clear = np.array([[[1, 1]], [[1, 0]], [[1, 0]], [[1, 1]]])
    cube = fdl.align(_s1(S1_DATES), _s2(S2_DATES, nd, clear), tolerance="3D", keep_cloudy=True)
    got = cube["NDVI_cloudy"].values[:, 0, :]
    # pixel 0 is never cloudy; pixel 1 is cloudy on 06-07T00 (0.1) and 06-08 (0.05): the tie goes to the earlier
    assert np.isnan(got[:, 0]).all()
    np.testing.assert_allclose(got[:, 1], [np.nan, 0.1, np.nan])
    assert "NDVI_cloudy" not in fdl.align(_s1(S1_DATES), _s2(S2_DATES, nd, clear)).data_vars
    with pytest.raises(fdl.errors.ConfigError, match="keep_cloudy needs the pairing mode"):
        fdl.align(_s1(S1_DATES), _s2(S2_DATES, nd, clear), freq="12D", keep_cloudy=True)


def test_tolerance_limits_pairing():
    nd = np.full((4, 1, 2), 0.5)
    cube = fdl.align(_s1(S1_DATES), _s2(S2_DATES, nd, np.ones_like(nd)), tolerance="12h")
    assert cube["NDVI"].isnull().all()
    cube = fdl.align(_s1(S1_DATES), _s2(S2_DATES, nd, np.ones_like(nd)), tolerance="1D")
    assert cube["NDVI"].notnull().all()


def test_a_bare_number_tolerance_is_days():
    nd = np.full((4, 1, 2), 0.5)
    s1, s2 = _s1(S1_DATES), _s2(S2_DATES, nd, np.ones_like(nd))
    for days, text in ((1, "1D"), (0.5, "12h"), (np.int64(3), "3D"), ("1", "1D")):
        got, expected = fdl.align(s1, s2, tolerance=days), fdl.align(s1, s2, tolerance=text)
        xr.testing.assert_identical(got["NDVI"], expected["NDVI"])
    assert fdl.align(s1, s2, tolerance=1)["NDVI"].notnull().all()  # not 1 ns
    assert json.loads(fdl.align(s1, s2, tolerance=2).attrs["fusion_summary"])["tolerance_days"] == 2.0


@pytest.mark.parametrize(
    ("bad", "found"),
    [(-1, "found -1"), ("-2D", "found '-2D'"), ("soon", "found 'soon'"), (True, "found True"), ([3], r"found \[3\]")],
)
def test_bad_tolerances_are_refused(bad, found):
    nd = np.full((4, 1, 2), 0.5)
    with pytest.raises(fdl.errors.ConfigError, match=r"align: tolerance: expected a duration .*" + found):
        fdl.align(_s1(S1_DATES), _s2(S2_DATES, nd, np.ones_like(nd)), tolerance=bad)


def test_composite_linear_mean_and_clear_median():
    s1_t = ["2021-06-01", "2021-06-05", "2021-06-13", "2021-06-20"]
    vv = np.array([-10.0, -20.0, -7.0, -9.0]).reshape(4, 1, 1)
    s1 = _s1(s1_t, ny=1, nx=2, vv=np.repeat(vv, 2, axis=2), vh=np.repeat(vv, 2, axis=2) - 5)
    s2_t = ["2021-06-01", "2021-06-04", "2021-06-08", "2021-06-10", "2021-06-15", "2021-06-21"]
    nd = np.repeat(np.array([0.2, 0.4, 0.9, 0.1, 0.5, 0.6]).reshape(6, 1, 1), 2, axis=2)
    clear = np.repeat(np.array([1, 1, 1, 0, 1, 1]).reshape(6, 1, 1), 2, axis=2)
    cube = fdl.align(s1, _s2(s2_t, nd, clear), freq="12D")
    # periods start at 06-01: [06-01, 06-13) and [06-13, 06-25)
    assert cube.sizes["time"] == 2
    np.testing.assert_allclose(cube["VV"].values[:, 0, 0], [10 * np.log10((0.1 + 0.01) / 2), 10 * np.log10((10**-0.7 + 10**-0.9) / 2)], rtol=1e-5)
    np.testing.assert_allclose(cube["NDVI"].values[:, 0, 0], [0.4, 0.55], rtol=1e-6)
    np.testing.assert_array_equal(cube["n_s1"].values[:, 0, 0], [2, 2])
    np.testing.assert_array_equal(cube["n_s2_clear"].values[:, 0, 0], [3, 2])
    assert cube["time"].values[0] == np.datetime64("2021-06-07")  # period centre
    np.testing.assert_array_equal(cube["time_bnds"].values[0], np.array(["2021-06-01", "2021-06-13"], dtype="datetime64[ns]"))


def test_nested_10m_on_20m_block_mean_and_min_clear_fraction():
    s1 = _s1(["2021-06-01"], ny=1, nx=2, x0=300010.0, y0=5000010.0)
    # 10 m pixels centred 300005, 300015 / 5000015, 5000005 tile the first 20 m pixel exactly
    nd = np.array([[[0.2, 0.4, 0.1, 0.1], [0.6, 0.8, 0.1, 0.1]]])
    all_clear = fdl.align(s1, _s2(["2021-06-01"], nd, np.ones_like(nd), res=10.0, x0=300005.0, y0=5000015.0))
    np.testing.assert_allclose(all_clear["NDVI"].values.ravel(), [0.5, 0.1], rtol=1e-6)
    assert "exact block mean" in json.loads(all_clear.attrs["fusion_summary"])["grid"]
    one_cloudy = np.array([[[1, 1, 1, 1], [1, 0, 1, 1]]])
    strict = fdl.align(s1, _s2(["2021-06-01"], nd, one_cloudy, res=10.0, x0=300005.0, y0=5000015.0))
    assert np.isnan(strict["NDVI"].values[0, 0, 0]) and strict["NDVI"].values[0, 0, 1] == pytest.approx(0.1)
    loose = fdl.align(s1, _s2(["2021-06-01"], nd, one_cloudy, res=10.0, x0=300005.0, y0=5000015.0), min_clear_fraction=0.75)
    np.testing.assert_allclose(loose["NDVI"].values.ravel(), [0.4, 0.1], rtol=1e-6)


def test_non_nesting_grid_is_reprojected():
    s1 = _s1(["2021-06-01"], ny=4, nx=4)
    # S2 shifted by 7 m: pixels do not tile the S1 grid
    nd = np.full((1, 12, 12), 0.6)
    cube = fdl.align(s1, _s2(["2021-06-01"], nd, np.ones_like(nd), res=10.0, x0=299992.0, y0=5000022.0), min_clear_fraction=0.99)
    np.testing.assert_allclose(cube["NDVI"].values, 0.6, rtol=1e-5)
    assert "reproject" in json.loads(cube.attrs["fusion_summary"])["grid"]


def test_different_crs_is_reprojected():
    s1 = _s1(["2021-06-01"], ny=6, nx=6, res=20.0)
    s2u = _s2(["2021-06-01"], np.full((1, 20, 20), 0.3), np.ones((1, 20, 20)), res=10.0, x0=299985.0, y0=5000035.0)
    s2u["clear"] = s2u["clear"].astype(np.uint8)
    s2ll = s2u.rio.reproject("EPSG:4326", nodata=0)
    s2ll["clear"] = s2ll["clear"] == 1
    s2ll["NDVI"] = s2ll["NDVI"].where(s2ll["clear"])
    cube = fdl.align(s1, s2ll, min_clear_fraction=0.5)
    inner = cube["NDVI"].values[0, 1:-1, 1:-1]
    np.testing.assert_allclose(inner[np.isfinite(inner)], 0.3, rtol=1e-4)
    assert np.isfinite(inner).mean() > 0.9


def test_errors_name_what_was_expected_and_found():
    nd = np.full((4, 1, 2), 0.5)
    s2 = _s2(S2_DATES, nd, np.ones_like(nd))
    far = _s2(S2_DATES, nd, np.ones_like(nd), x0=900000.0)
    with pytest.raises(fdl.errors.GridMismatchError, match="overlap.*S1 bounds"):
        fdl.align(_s1(S1_DATES), far)
    with pytest.raises(fdl.errors.CRSMismatchError, match="found S1 CRS"):
        fdl.align(_s1(S1_DATES, crs=None), s2)
    late = _s2(["2022-01-01", "2022-01-05", "2022-01-10", "2022-01-15"], nd, np.ones_like(nd))
    with pytest.raises(fdl.errors.TimeOverlapError, match=r"2021-06-01\.\.2021-06-13.*2022-01-01\.\.2022-01-15"):
        fdl.align(_s1(S1_DATES), late)
    with pytest.raises(fdl.errors.MissingVariableError, match="clear"):
        fdl.align(_s1(S1_DATES), s2.drop_vars("clear"))
    assert issubclass(fdl.errors.CRSMismatchError, fdl.errors.GridMismatchError)


@pytest.mark.parametrize("freq", [None, "12D"])
def test_align_is_lazy_and_chunk_invariant(small_scene, freq):
    s1r, s2r, _ = small_scene
    eager = fdl.align(fdl.open_s1(s1r), fdl.open_s2(s2r), freq=freq, outlier_filter=True)
    with raise_if_dask_computes():
        s1 = fdl.open_s1(s1r, chunks={"y": 10, "x": 7}, units="dB")
        s2 = fdl.open_s2(s2r, chunks={"y": 10, "x": 7})
        lazy = fdl.align(s1, s2, freq=freq, outlier_filter=True)
    assert lazy["NDVI"].chunks is not None
    xr.testing.assert_allclose(lazy.compute(), eager)
    with raise_if_dask_computes(max_computes=1):
        s = fdl.alignment.summarise(lazy)
    assert s["paired_pixel_dates"] == int(eager["NDVI"].notnull().sum())


def test_the_cube_is_north_up_whichever_way_up_the_inputs_were_stored(small_scene):
    """y increasing (netCDF exports, sortby) or x decreasing: the same cube, north-up, so training draws the same blocks."""
    s1r, s2r, _ = small_scene
    want = fdl.align(fdl.open_s1(s1r), fdl.open_s2(s2r))
    assert (np.diff(want["y"].values) < 0).all() and (np.diff(want["x"].values) > 0).all()
    flipped = s1r.isel(y=slice(None, None, -1), x=slice(None, None, -1))
    with raise_if_dask_computes():
        lazy = fdl.align(fdl.open_s1(flipped, chunks={"y": 10, "x": 7}, units="dB"), fdl.open_s2(s2r.sortby("y")))
    xr.testing.assert_equal(lazy.compute(), want)  # values and coordinates (the funnel counts wait for summarise on Dask input)
    assert lazy.rio.transform() == want.rio.transform()
    # S2 stored y-increasing is put the same way up: the grids still nest (no reprojection, as for the north-up S2)
    assert json.loads(lazy.attrs["fusion_summary"])["grid"] == json.loads(want.attrs["fusion_summary"])["grid"]
    # rows and columns numbered from 0 (no ground coordinates) are the raster's own order: left as they are
    from fusets_dl.alignment.grid import north_up

    numbered = xr.Dataset({"a": (("y", "x"), np.arange(6.0).reshape(2, 3))}, coords={"y": [0, 1], "x": [0, 1, 2]})
    assert north_up(numbered) is numbered


@pytest.mark.realdata
def test_real_worldcereal_patch_pairing():
    from tests.paths import WC_S1, WC_S2_10, WC_S2_20

    s1 = fdl.open_s1(WC_S1)
    s2 = fdl.open_s2([WC_S2_10, WC_S2_20])
    cube = fdl.align(s1, s2, tolerance="3D")
    s = json.loads(cube.attrs["fusion_summary"])
    assert s["grid"].startswith("exact block mean (factor 2)")
    assert 0.35 < s["s2_clear_fraction"] < 0.45
    assert s["paired_pixel_dates"] == int(cube["NDVI"].notnull().sum()) > 50_000
    # brute-force reference for a few pixels: nearest clear 20 m block (all four 10 m clear) within 3 days
    t1 = cube.time.values
    t2 = s2.time.values
    for (i, j) in [(0, 0), (5, 17), (31, 31), (12, 3)]:
        blk_nd = s2["NDVI"].values[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].reshape(len(t2), 4)
        blk_ok = s2["clear"].values[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].reshape(len(t2), 4).all(axis=1)
        for k, t in enumerate(t1):
            d = (t2 - t) / np.timedelta64(1, "D")
            cand = [(abs(d[m]), d[m], m) for m in range(len(t2)) if blk_ok[m] and abs(d[m]) <= 3]
            want = np.nan if not cand else blk_nd[min(cand)[2]].mean()
            got = cube["NDVI"].values[k, i, j]
            if np.isnan(want):
                assert np.isnan(got)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize(("s1_every", "warned"), [(12, True), (6, False)])
def test_clear_views_no_s1_date_takes_are_counted_and_many_warned(s1_every, warned, recwarn):
    """Each S1 date takes one view: one Sentinel-1 (12 days) against 5-day S2 left 31-52 % of the Slovak clear views
    unused, and the funnel did not say so (a view paired to two S1 dates counted twice in paired_pixel_dates)."""
    import rioxarray  # noqa: F401  (the .rio accessor of the helpers)

    t1 = pd.date_range("2022-01-01T17:00", "2022-06-30", freq=f"{s1_every}D")
    t2 = pd.date_range("2022-01-01T10:00", "2022-06-30", freq="5D")
    s2 = _s2(t2, np.full((t2.size, 2, 2), 0.5), np.ones((t2.size, 2, 2)))
    cube = fdl.align(_s1(t1, ny=2), s2, tolerance="3D")
    s = json.loads(cube.attrs["fusion_summary"])
    days = ((cube.time - cube.time[0]) / np.timedelta64(1, "D")).values[:, None, None] + cube["NDVI_offset"].values
    used = sum(len(np.unique(np.round(d[np.isfinite(d)], 3))) for d in days.reshape(days.shape[0], -1).T)
    assert s["s2_views_paired"] == used and s["s2_views_unpaired"] == 4 * t2.size - used
    hits = [w for w in recwarn if "are paired to no S1 date" in str(w.message)]
    assert bool(hits) is warned
    if warned:
        assert f"{4 * t2.size - used} of {4 * t2.size} clear S2 views" in str(hits[0].message)
        assert hits[0].filename == __file__  # points at the caller
    # the demo's path, Dask with the summary computed: time was taken for the first axis there (95 % unpaired on the sample)
    lazy = fdl.align(_s1(t1, ny=2).chunk({"x": 1}), s2.chunk({"x": 1}), tolerance="3D", compute_summary=True)
    assert json.loads(lazy.attrs["fusion_summary"])["s2_views_paired"] == used
