"""The synthetic generator: physics, clouds, truth, determinism, chunking and laziness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError
from fusets_dl.synthetic import CLASSES, make_scene
from fusets_dl.testing import raise_if_dask_computes

RICE, MAIZE, GRASS, FOREST, URBAN, WATER = range(6)


@pytest.fixture(scope="module")
def scene():
    return make_scene(40, 40, "2021-01-01", "2022-12-31", seed=11)


def test_outputs_are_in_reader_forms(scene):
    s1r, s2r, truth = scene
    s1 = fdl.open_s1(s1r)
    s2 = fdl.open_s2(s2r)
    assert s1.attrs["encoding"] == "VV:dB,VH:dB"
    assert s2r["B04"].dtype == np.uint16 and s2r["SCL"].dtype == np.uint8
    assert s1.rio.crs.to_epsg() == 32749 and s2.rio.crs.to_epsg() == 32749
    assert set(np.unique(s1["orbit"].values)) == {54}
    assert truth["crop"].attrs["flag_meanings"].split() == list(CLASSES)
    assert set(np.unique(truth["crop"].values)) == set(range(6))  # every class present
    # revisits: S1 every 6 days, S2 every 5 days
    assert (np.diff(s1r.time.values) == np.timedelta64(6, "D")).all()
    assert (np.diff(s2r.t.values) == np.timedelta64(5, "D")).all()


def test_vh_rises_with_vegetation(scene):
    s1r, _, truth = scene
    crop = truth["crop"].values
    veg = np.isin(crop, [RICE, MAIZE])
    vh = s1r["VH"].values[:, veg]
    nd = truth["NDVI"].values[:, veg]
    assert np.corrcoef(vh.ravel(), nd.ravel())[0, 1] > 0.5
    assert vh[nd > 0.6].mean() - vh[nd < 0.3].mean() > 3.0  # dB
    # water is darkest, urban brightest in VV
    vv = s1r["VV"].values
    assert vv[:, crop == WATER].mean() < vv[:, crop == MAIZE].mean() < vv[:, crop == URBAN].mean()


def test_rice_flooding_drops_vv(scene):
    s1r, _, truth = scene
    crop = truth["crop"].values
    days = pd.DatetimeIndex(s1r.time.values)
    sos = truth["sos"].values  # (season, y, x)
    flood_vv, dry_vv = [], []
    for i, j in zip(*np.nonzero(crop == RICE), strict=True):
        for s in sos[:, i, j]:
            if np.isnat(s):
                continue
            lag = (days - pd.Timestamp(s)) / pd.Timedelta(days=1)
            flood = (lag >= -30) & (lag <= -8)
            if flood.any():
                flood_vv.append(s1r["VV"].values[flood, i, j].mean())
    # between seasons the bare (not flooded) paddy: rice pixels with low NDVI outside the flood windows
    nd = truth["NDVI"].values[:, crop == RICE]
    vv = s1r["VV"].values[:, crop == RICE]
    lowveg = nd < 0.25
    dry_vv = vv[lowveg]
    assert len(flood_vv) > 20
    # flooded paddies are darker than the rest of the low-vegetation rice pixel-dates (which include the floods)
    assert np.mean(flood_vv) < np.mean(dry_vv) - 3.0


@pytest.mark.parametrize("cover", [0.2, 0.6])
def test_cloud_fraction_matches_setting(cover):
    _, s2r, truth = make_scene(48, 48, "2021-01-01", "2021-12-31", seed=5, cloud_cover=cover)
    cloud = truth["cloud"].values
    assert abs((cloud == 1).mean() - cover) < 0.05
    scl = s2r["SCL"].values
    flagged = np.isin(scl, [8, 9, 10])
    # SCL flags most, not all, of the true cloud (some thin cloud stays undetected)
    assert 0.75 < flagged[cloud == 1].mean() < 0.99
    assert np.isin(scl[cloud == 2], [3]).mean() > 0.9  # shadows flagged as class 3
    # the rainy season (Nov-Apr by default) is cloudier
    months = pd.DatetimeIndex(s2r.t.values).month
    rainy = np.isin(months, [11, 12, 1, 2, 3, 4])
    assert (cloud[rainy] == 1).mean() > (cloud[~rainy] == 1).mean() + 0.1


def test_clouds_are_spatially_correlated():
    _, _, truth = make_scene(64, 64, "2021-01-01", "2021-03-31", seed=2, cloud_cover=0.5)
    c = (truth["cloud"].values == 1).astype(float)
    # neighbouring pixels agree far more often than independent draws would
    agree = (c[:, :, 1:] == c[:, :, :-1]).mean()
    p = c.mean()
    assert agree > 0.85 > p**2 + (1 - p) ** 2 + 0.2


def test_truth_dates_match_the_curves(scene):
    _, _, truth = scene
    crop = truth["crop"].values
    nd = truth["NDVI_s2"]
    days = pd.DatetimeIndex(nd.time_s2.values)
    checked = 0
    for i, j in list(zip(*np.nonzero(crop == MAIZE), strict=True))[:40]:
        series = nd.values[:, i, j]
        for k in range(truth.sizes["season"]):
            sos, pos, eos = (truth[v].values[k, i, j] for v in ("sos", "pos", "eos"))
            if np.isnat(sos) or pd.Timestamp(sos) < days[0] + pd.Timedelta(days=40) or pd.Timestamp(eos) > days[-1]:
                continue
            f = np.interp([(pd.Timestamp(x) - days[0]) / pd.Timedelta(days=1) for x in (sos, pos, eos)],
                          (days - days[0]) / pd.Timedelta(days=1), series)
            lo = series[(days > pd.Timestamp(sos) - pd.Timedelta(days=60)) & (days < pd.Timestamp(sos) - pd.Timedelta(days=30))].mean()
            mid = lo + 0.5 * (f[1] - lo)
            assert sos < pos < eos
            assert abs(f[0] - mid) < 0.08 and abs(f[2] - mid) < 0.1  # 50 % of the amplitude at sos and eos
            assert f[1] >= series.max() - 0.03  # peak of season is the maximum
            checked += 1
    assert checked > 10


def test_season_counts_by_class(scene):
    _, _, truth = scene
    crop = truth["crop"].values
    n = truth["n_seasons"].values
    assert set(np.unique(n[crop == RICE])) <= {3, 4, 5, 6, 7}  # 2-3 a year over two years, edges cut
    assert n[crop == RICE].max() >= 5
    assert set(np.unique(n[crop == MAIZE])) <= {1, 2}
    assert (n[np.isin(crop, [FOREST, URBAN, WATER])] == 0).all()


def test_same_seed_same_scene_and_chunk_invariance():
    a = make_scene(18, 22, "2021-01-01", "2021-06-30", seed=3)
    b = make_scene(18, 22, "2021-01-01", "2021-06-30", seed=3, chunks={"y": 7, "x": 9})
    for x, y in zip(a, b, strict=True):
        assert any(v.chunks is not None for v in y.data_vars.values())
        xr.testing.assert_equal(x, y.compute())
    c = make_scene(18, 22, "2021-01-01", "2021-06-30", seed=4)
    assert not np.array_equal(a[0]["VV"].values, c[0]["VV"].values)


def test_demak_sized_scene_is_lazy():
    with raise_if_dask_computes():
        s1, s2, _truth = make_scene(671, 893, "2021-01-01", "2022-12-31", seed=0, s1_revisit_days=12, chunks={"y": 256, "x": 256})
        cube = fdl.align(fdl.open_s1(s1, units="dB"), fdl.open_s2(s2), freq="12D")
    assert s1["VV"].shape[1:] == (671, 893) and s1.sizes["time"] in (60, 61)
    assert cube.sizes["time"] in (60, 61) and cube["NDVI"].chunks is not None
    block = s1["VV"][:, :32, :32].values  # computes only the first chunk
    assert np.isfinite(block).all() and -35 < block.mean() < 5


def test_bad_parameters_raise_config_error():
    with pytest.raises(ConfigError, match="cloud_cover"):
        make_scene(8, 8, cloud_cover=1.5)
    with pytest.raises(ConfigError, match="unknown"):
        make_scene(8, 8, proportions={"banana": 1.0})
    with pytest.raises(ConfigError, match="end after start"):
        make_scene(8, 8, start="2022-01-01", end="2021-01-01")
    with pytest.raises(TypeError):
        make_scene(8, 8, not_an_option=1)
