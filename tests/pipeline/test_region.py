"""One region: kill-and-resume to identical output, a class map restricting phenology."""

from __future__ import annotations

import json
import os
import signal
import time

import numpy as np
import xarray as xr

from fusets_dl.pipeline import run
from tests.pipeline.helpers import assert_same_stores, cli_run, sample_config, write_config


def test_killed_run_resumes_to_identical_output(tmp_path):
    full_root, killed_root = tmp_path / "full", tmp_path / "killed"
    (tmp_path / "f").mkdir()
    (tmp_path / "k").mkdir()
    full = cli_run(write_config(tmp_path / "f", sample_config(full_root)))
    assert full.wait(timeout=300) == 0, full.stderr.read().decode()
    proc = cli_run(write_config(tmp_path / "k", sample_config(killed_root)))
    marker = killed_root / "a.zarr.progress" / "tile-00001"
    deadline = time.time() + 240
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)  # kill -9 in the middle of region a's tiles
    proc.wait()
    assert not (killed_root / "a.zarr.progress" / "ALL_DONE").exists()
    resumed = cli_run(tmp_path / "k" / "run.yaml")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    for name in ("a", "b"):
        assert_same_stores(full_root / f"{name}.zarr", killed_root / f"{name}.zarr")


def test_run_with_a_class_map_restricts_phenology_to_the_kept_classes(tmp_path):
    root = tmp_path / "out"
    cfg = sample_config(root)
    cfg["regions"] = cfg["regions"][:1]
    cfg["regions"][0]["classes"] = {"n_classes": 3, "epochs": 6, "keep": [0]}
    cfg["report"] = False
    run(cfg)
    ds = xr.open_zarr(root / "a.zarr")
    cls = ds["class"].values
    assert cls.dtype == np.int16 and set(np.unique(cls)) <= {-1, 0, 1, 2}
    n = ds["n_seasons"].values
    assert (n[cls != 0] == 0).all()  # phenology only on the kept class
    assert (n[cls == 0] > 0).mean() > 0.5
    frac = ds["observed_fraction"].values  # how much of each season clear S2 saw, from the reconstruction's source
    assert ds["observed_fraction"].dims == ("season", "y", "x") and ds["longest_gap"].attrs["units"] == "days"
    assert np.array_equal(np.isfinite(frac), ds["pos"].notnull().values) and np.nanmax(frac) <= 1.0
    metrics = json.loads((root / "a.metrics.json").read_text())
    rows = metrics["phenology_by_class"]
    assert rows and {r["class"] for r in rows} == {0}
    assert (root / "a.segmenter.safetensors").exists() and (root / "a.segmenter.json").exists()


def test_a_by_year_phenology_section_gives_the_stores_and_class_rows_a_year(tmp_path):
    import fusets_dl as fdl

    root = tmp_path / "out"
    cfg = sample_config(root)
    cfg["regions"] = cfg["regions"][:1]
    pheno = {"max_seasons": 2, "by_year": 2, "smooth": 100, "main_months": [4, 9], "envelope": 1}
    cfg["defaults"]["phenology"] = pheno
    cfg["regions"][0]["classes"] = {"n_classes": 2, "epochs": 4, "keep": [0]}
    run(cfg)
    assert (root / "a.report" / "figures" / "maps.png").is_file()  # the maps of the year with the most seasons (it failed on year)
    ds = xr.open_zarr(root / "a.zarr")
    assert ds["n_seasons"].dims == ("year", "y", "x") and list(ds["year"].values) == [2021, 2022]
    assert ds["pos"].dims == ("year", "season", "y", "x")
    # the store holds what fdl.phenology gives its reconstruction with the same options
    want = fdl.phenology(ds["NDVI"].load().where(ds["class"] == 0), **{**pheno, "main_months": (4, 9)}, observed=ds["source"].load())
    np.testing.assert_array_equal(ds["n_seasons"].values, want["n_seasons"].values)
    np.testing.assert_array_equal(ds["pos"].values, want["pos"].values)
    assert (ds["n_seasons"].values > 0).any() and ds["is_main"].dims == ("year", "season", "y", "x")
    rows = json.loads((root / "a.metrics.json").read_text())["phenology_by_class"]
    assert {r["year"] for r in rows} == {2021, 2022} and {r["class"] for r in rows} == {0}
    assert all(r["pos"][:4] == str(r["year"]) for r in rows)  # a row per year of peak


def test_a_bbox_off_the_s1_grid_leaves_every_s1_pixel_its_s2(tmp_path):
    """S2 (10 m) is clipped to the edges of the S1 pixels (20 m) the bbox keeps, not to the bbox itself."""
    import pandas as pd

    from fusets_dl.pipeline import load_config
    from fusets_dl.pipeline.region import _open_region

    t1 = pd.to_datetime(["2021-06-01T17:30", "2021-06-13T17:30"])
    t2 = pd.to_datetime(["2021-06-01T10:30", "2021-06-13T10:30"])
    x1, y1 = 600010.0 + 20 * np.arange(24), 5599990.0 - 20 * np.arange(24)
    x2, y2 = 600005.0 + 10 * np.arange(48), 5599995.0 - 10 * np.arange(48)
    vv = np.random.default_rng(0).normal(-12, 1, (2, 24, 24)).astype("float32")
    s1 = xr.Dataset({"VV": (("time", "y", "x"), vv, {"units": "dB"}), "VH": (("time", "y", "x"), vv - 6, {"units": "dB"})},
                    coords={"time": t1, "y": y1, "x": x1}).rio.write_crs("EPSG:32631")
    shape = (2, 48, 48)
    s2 = xr.Dataset({"B04": (("time", "y", "x"), np.full(shape, 0.05, "float32")), "B08": (("time", "y", "x"), np.full(shape, 0.25, "float32")),
                     "SCL": (("time", "y", "x"), np.full(shape, 4, "uint8"))}, coords={"time": t2, "y": y2, "x": x2}).rio.write_crs("EPSG:32631")
    s1.to_netcdf(tmp_path / "s1.nc")
    s2.to_netcdf(tmp_path / "s2.nc")
    cfg = {"output_root": str(tmp_path / "out"), "model": {"mode": "train"},
           "regions": [{"name": "r", "s1": str(tmp_path / "s1.nc"), "s2": str(tmp_path / "s2.nc"), "chunk": 16,
                        "bbox": [600015, 5599600, 600405, 5599985]}]}  # 5 m off the 20 m grid on three sides
    cube, _ = _open_region(load_config(write_config(tmp_path, cfg)).regions[0])
    ndvi = cube["NDVI"].isel(time=0).values
    assert ndvi.shape == (20, 21) and np.isfinite(ndvi).all()  # before: 59 of 420 edge pixels without NDVI
    np.testing.assert_allclose(ndvi, (0.25 - 0.05) / 0.3, rtol=1e-5)


def test_a_store_whose_rows_run_the_other_way_is_laid_out_again(tmp_path):
    """A store laid out before align put cubes north-up (S1 stored y-increasing) has this run's sizes but mirrored rows:
    resuming into it wrote the remaining tiles mirrored (rows twice, others lost). Its coordinates are compared now."""
    from fusets_dl.pipeline.region import _coords_problem

    out = xr.Dataset({"a": (("y", "x"), np.zeros((4, 3)))}, coords={"y": [40.0, 30.0, 20.0, 10.0], "x": [1.0, 2.0, 3.0]})
    out.to_zarr(tmp_path / "same.zarr")
    out.sortby("y").to_zarr(tmp_path / "up.zarr")
    assert _coords_problem(tmp_path / "same.zarr", out) is None
    assert "its y coordinates (10 .. 40) are not this run's (40 .. 10)" in _coords_problem(tmp_path / "up.zarr", out)


def _lazy_output(tmp_path):
    """A lazy two-variable output of 40 x 40 pixels in chunks of 16, its layout written to a store."""
    import dask
    import dask.array as da

    from fusets_dl.pipeline import region

    rng = da.random.RandomState(0)
    ds = xr.Dataset({"NDVI": (("time", "y", "x"), rng.random_sample((4, 40, 40), chunks=(4, 16, 16)).astype("float32")),
                     "sos": (("y", "x"), rng.random_sample((40, 40), chunks=16))},
                    coords={"time": np.arange(4), "y": np.arange(40), "x": np.arange(40)})
    ds = ds.map_blocks(lambda b: b * 2)  # a task chain per tile, as in a real run
    store, progress = tmp_path / "o.zarr", tmp_path / "o.progress"
    progress.mkdir(parents=True)
    with dask.config.set(scheduler="threads"):
        ds.to_zarr(store, compute=False, mode="w")
    return region, ds, store, progress, region._tiles(40, 40, 16)


def test_tiles_written_concurrently_equal_tiles_one_after_another(tmp_path):
    import dask

    from fusets_dl.pipeline.config import RegionConfig

    rc = RegionConfig(name="t", s1=[], s2=[], tile_size=16)
    stores = []
    for workers in (1, 4):
        region, ds, store, progress, tiles = _lazy_output(tmp_path / f"w{workers}")
        calls, timings = [], {}
        with dask.config.set(num_workers=workers, scheduler="threads"):
            assert region._tile_workers(len(tiles)) == workers
            n = region._write_tiles(rc, ds, store, progress, tiles, lambda *a, _c=calls: _c.append(a), timings)
        assert n == len(tiles) == 9 and len(list(progress.glob("tile-*"))) == 9
        assert [c[1] for c in calls] == list(range(1, 10))  # tiles done so far, whatever the completion order
        stores.append(store)
    assert_same_stores(*stores)
    np.testing.assert_allclose(xr.open_zarr(stores[1])["NDVI"].values, ds["NDVI"].values)


def test_a_failing_tile_stops_new_tiles_marks_the_finished_ones_and_raises(tmp_path, monkeypatch):
    import dask
    import pytest

    from fusets_dl.errors import OutputError
    from fusets_dl.pipeline.config import RegionConfig

    region, ds, store, progress, tiles = _lazy_output(tmp_path)
    real = region._write_tile

    def flaky(rc, out, store, k, n, ys, xs):
        if k == 2:
            raise OutputError("tile 3 failed")
        real(rc, out, store, k, n, ys, xs)

    monkeypatch.setattr(region, "_write_tile", flaky)
    with dask.config.set(num_workers=2, scheduler="threads"), pytest.raises(OutputError, match="tile 3 failed"):
        region._write_tiles(RegionConfig(name="t", s1=[], s2=[], tile_size=16), ds, store, progress, tiles, None, {})
    done = sorted(int(p.name[5:]) for p in progress.glob("tile-*"))
    assert 2 not in done and {0, 1} <= set(done) and len(done) < len(tiles)


def test_a_store_laid_out_on_another_output_grid_is_written_again_on_resume(tmp_path, monkeypatch):
    """An interrupted run of an older fusets_dl (a freq grid one date shorter) crashed the resume with a raw ValueError."""
    import fusets_dl.reconstruction.api as api
    from fusets_dl.reconstruction.kernels import freq_grid

    cfg = sample_config(tmp_path / "ref")
    cfg["regions"] = cfg["regions"][1:]  # region b alone
    run(cfg)
    old_cfg = sample_config(tmp_path / "old")
    old_cfg["regions"] = old_cfg["regions"][1:]
    monkeypatch.setattr(api, "freq_grid", lambda t, freq: freq_grid(t, freq)[:-1])  # the older, shorter grid
    run(old_cfg)
    progress = tmp_path / "old" / "b.zarr.progress"
    assert xr.open_zarr(tmp_path / "old" / "b.zarr").sizes["time"] == xr.open_zarr(tmp_path / "ref" / "b.zarr").sizes["time"] - 1
    (progress / "ALL_DONE").unlink()  # interrupted after its second tile
    for marker in sorted(progress.glob("tile-*"))[2:]:
        marker.unlink()
    monkeypatch.undo()
    rows = run(old_cfg)
    assert [r["status"] for r in rows] == ["done"]
    assert_same_stores(tmp_path / "ref" / "b.zarr", tmp_path / "old" / "b.zarr")


def test_output_dates_phenology_cannot_use_are_refused_before_training(tmp_path, monkeypatch):
    """``freq: 400D`` (one output date) or a time_range of a few weeks failed in phenology only after the model was
    trained; the region is now refused first, with the dates it would have had, and nothing is trained or written."""
    import pytest

    from fusets_dl.errors import ConfigError
    from fusets_dl.pipeline import region as region_mod

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the output dates were checked")

    monkeypatch.setattr(region_mod, "_region_model", no_training)
    cases = [
        ({"freq": "400D"}, {}, r"region a: phenology of the reconstruction's 3 dates \(freq 400D, cube 2021-01-01 \.\. 2022-12-28\): "
                               r"expected at least 4 dates, found 3: a shorter freq or a longer time_range"),
        ({}, {"time_range": ["2021-03-01", "2021-03-20"]}, r"region a: phenology of the reconstruction's \d dates \(freq 5D.*min_valid: "
                                                            r"expected at most the \d dates of the series"),
        ({"phenology": {"period": ["2030-01-01", "2030-12-31"]}}, {}, r"region a: .*period: expected a period overlapping the series"),
    ]
    for k, (defaults, region, message) in enumerate(cases):
        cfg = sample_config(tmp_path / f"out{k}")
        cfg["defaults"].update(defaults)
        cfg["regions"] = [dict(cfg["regions"][0], **region)]
        with pytest.raises(ConfigError, match=message):
            run(cfg)
        assert not list((tmp_path / f"out{k}").glob("a.model*")) and not (tmp_path / f"out{k}" / "a.zarr").exists()


def _two_zones(tmp_path):
    """S1 on UTM 31N (20 m, 40 x 40 pixels at 5.95 E, 50 N, by the 6 E zone edge) and S2 on UTM 32N (10 m, 2.4 km a side
    around it, its NDVI random per pixel, a fifth of it cloudy), written as files."""
    import pandas as pd

    t1 = pd.to_datetime(["2021-06-01T17:30", "2021-06-13T17:30", "2021-06-25T17:30"])
    t2 = pd.to_datetime(["2021-06-01T10:30", "2021-06-13T10:30", "2021-06-25T10:30"])
    x1, y1 = 711010.0 + 20 * np.arange(40), 5543190.0 - 20 * np.arange(40)
    x2, y2 = 280205.0 + 10 * np.arange(240), 5544295.0 - 10 * np.arange(240)
    rng = np.random.default_rng(0)
    vv = rng.normal(-12, 1, (3, 40, 40)).astype("float32")
    s1 = xr.Dataset({"VV": (("time", "y", "x"), vv, {"units": "dB"}), "VH": (("time", "y", "x"), vv - 6, {"units": "dB"})},
                    coords={"time": t1, "y": y1, "x": x1}).rio.write_crs("EPSG:32631")
    shape = (3, 240, 240)
    nir = rng.uniform(0.15, 0.45, shape).astype("float32")
    scl = np.where(rng.random(shape) < 0.2, 9, 4).astype("uint8")
    s2 = xr.Dataset({"B04": (("time", "y", "x"), np.full(shape, 0.05, "float32")), "B08": (("time", "y", "x"), nir),
                     "SCL": (("time", "y", "x"), scl)}, coords={"time": t2, "y": y2, "x": x2}).rio.write_crs("EPSG:32632")
    s1.to_netcdf(tmp_path / "s1.nc")
    s2.to_netcdf(tmp_path / "s2.nc")
    return tmp_path / "s1.nc", tmp_path / "s2.nc"


def test_a_region_bbox_with_s1_and_s2_in_two_utm_zones_is_the_whole_cube_cropped(tmp_path):
    """S2 was clipped to the S1 footprint in S2's CRS, refused when they differ (S1 from HyP3 in one zone, S2 tiles in
    the next). The footprint is now carried into S2's CRS: a region's bbox, in lon/lat or in S1's CRS, gives the cube
    of the whole scene cropped to the S1 pixels it keeps: the same pixels missing, S1 equal to the last bit, what comes
    from S2 equal within float32 rounding (1.2e-6 at most, measured: the reprojection averages, per S1 pixel, the S2
    pixels under it, all of them inside the footprint's envelope in S2's CRS, but GDAL sums them from a source window
    at another offset)."""
    from fusets_dl.pipeline import load_config
    from fusets_dl.pipeline.region import _open_region

    s1, s2 = _two_zones(tmp_path)
    region = {"name": "r", "s1": str(s1), "s2": str(s2), "chunk": 16}
    cfg = {"output_root": str(tmp_path / "out"), "model": {"mode": "train"},
           "regions": [region, {**region, "name": "lonlat", "bbox": [5.947, 49.9985, 5.9525, 50.002], "bbox_crs": "EPSG:4326"},
                       {**region, "name": "utm", "bbox": [711195, 5542595, 711605, 5542905]}]}
    whole, lonlat, utm = (_open_region(rc)[0] for rc in load_config(write_config(tmp_path, cfg)).regions)
    # 5.947..5.9525 E x 49.9985..50.002 N is, in 31N, within 711178.0..711587.4 x 5542626.2..5543030.8 (its envelope):
    # the 20 m pixels it touches, of centres 711170..711590 and 5542630..5543030
    assert (lonlat.sizes["y"], lonlat.sizes["x"]) == (21, 22)
    assert (float(lonlat.x.min()), float(lonlat.y.min())) == (711170.0, 5542630.0)
    assert (utm.sizes["y"], utm.sizes["x"]) == (17, 22)  # the pixels of edges 5542580..5542920 and 711180..711620
    for part in (lonlat, utm):
        assert part.rio.crs.to_epsg() == 32631
        ref = whole.sel(x=part["x"], y=part["y"])
        assert set(part.data_vars) == set(whole.data_vars)
        for v in part.data_vars:
            a, b = part[v].values, ref[v].values
            if v in ("VV", "VH") or a.dtype.kind not in "f":
                np.testing.assert_array_equal(a, b, err_msg=v)  # S1 is only clipped
            else:  # what S2 gives: the same pixels missing, values within float32 rounding of GDAL's sums (2 ulp)
                np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=v)
                np.testing.assert_allclose(a, b, rtol=4e-7 * 8, atol=0, err_msg=v)
        assert np.isfinite(part["NDVI"].values).sum() > 100
