"""The k-means baseline: class range, agreement with the crops, chunk-invariance, refused and degenerate inputs."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.evaluation.metrics import clustering_scores
from fusets_dl.segmentation.kmeans import kmeans, kmeans_segment
from fusets_dl.testing import raise_if_dask_computes


def test_kmeans_baseline(crop_scene):
    cube, crop = crop_scene
    km = kmeans_segment(cube, 6, n_bins=24, max_pixels=3000)
    assert km.dims == ("y", "x") and set(np.unique(km.values)) <= set(range(-1, 6))
    assert clustering_scores(crop.values, km.values)["ari"] > 0.1
    km_lazy = kmeans_segment(cube.chunk({"time": -1, "y": 32, "x": 32}), 6, n_bins=24, max_pixels=3000)
    np.testing.assert_array_equal(km_lazy.values, km.values)


def _same_pixels(cube: xr.Dataset, n_distinct: int = 1) -> xr.Dataset:
    """``cube`` with every pixel a copy of one of its first ``n_distinct`` pixels of row 0 (split into row bands)."""
    out = cube.copy()
    ny = cube.sizes["y"]
    for v in ("VV", "VH", "NDVI"):
        a = cube[v].transpose("time", "y", "x").values
        new = np.empty_like(a)
        for i, rows in enumerate(np.array_split(np.arange(ny), n_distinct)):
            new[:, rows, :] = a[:, :1, i : i + 1]
        out[v] = (("time", "y", "x"), new, cube[v].attrs)
    return out


def test_kmeans_without_clear_ndvi_is_refused_like_segment(crop_scene):
    cube, _ = crop_scene
    no_s2 = cube.assign(NDVI=cube["NDVI"] * np.nan)
    with pytest.raises(fdl.errors.InsufficientDataError, match="kmeans_segment: the S2 view needs clear NDVI"):
        kmeans_segment(no_s2, 4, n_bins=24, max_pixels=3000)
    assert kmeans_segment(no_s2, 4, views=("s1",), n_bins=24, max_pixels=3000).dims == ("y", "x")  # S1 only still works


def test_kmeans_on_identical_points_has_finite_centres_and_no_scipy_warnings():
    x = np.tile(np.array([[0.5, -1.0, 2.0]]), (50, 1))
    x[:10] = [1.0, 1.0, 1.0]  # two distinct points, four clusters asked for
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        centres, labels = kmeans(x, 4)
    assert centres.shape == (4, 3) and np.isfinite(centres).all()
    assert set(labels.tolist()) == {0, 1}
    np.testing.assert_array_equal(centres[labels], x)  # each point sits on its centre


@pytest.mark.parametrize("n_distinct, n_classes", [(1, 4), (2, 8)])
def test_kmeans_segment_warns_on_fewer_distinct_profiles_than_classes(crop_scene, caplog, n_distinct, n_classes):
    cube, _ = crop_scene
    same = _same_pixels(cube.isel(y=slice(0, 16), x=slice(0, 16)), n_distinct)
    with warnings.catch_warnings(record=True) as rec, caplog.at_level(logging.WARNING, logger="fusets_dl"):
        warnings.simplefilter("always")
        km = kmeans_segment(same, n_classes, n_bins=24)
    msgs = [str(w.message) for w in rec]
    assert len(msgs) == 1 and issubclass(rec[0].category, UserWarning), msgs  # ours only, not SciPy's empty clusters
    assert f"found {n_distinct} distinct profile(s)" in msgs[0] and f"n_classes={n_classes}" in msgs[0]
    assert any("distinct profile" in r.getMessage() for r in caplog.records)
    assert sorted(np.unique(km.values).tolist()) == list(range(n_distinct))
    with pytest.warns(UserWarning, match="distinct profile"), raise_if_dask_computes(max_computes=1):
        lazy = kmeans_segment(same.chunk({"time": -1, "y": 5, "x": 7}), n_classes, n_bins=24)  # only the training draw computes
    np.testing.assert_array_equal(lazy.values, km.values)


@pytest.mark.parametrize("bad", [2.5, "4", True, 1, 40_000, float("nan")])
def test_kmeans_refuses_bad_n_classes(crop_scene, bad):
    cube, _ = crop_scene
    with pytest.raises(fdl.errors.ConfigError, match=r"n_classes: expected at least 2 and at most 32768.*found"):
        kmeans_segment(cube, bad, n_bins=24, max_pixels=3000)
