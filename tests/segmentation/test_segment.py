"""Unsupervised segmentation: profiles, training without labels, no collapse, chunking, save/load, k-means baseline."""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.evaluation.metrics import clustering_scores
from fusets_dl.segmentation.core import (
    SegmentConfig,
    _bin_matrix,
    _profile_block,
    kmeans_segment,
    load_segmenter,
    segment,
    segment_inputs,
    train_segmenter,
)

FAST = {"epochs": 12, "warmup": 4, "max_pixels": 3000, "batch_size": 128, "hidden": (64,), "embed": 16, "n_bins": 24}


@pytest.fixture(scope="module")
def crop_scene():
    """64 x 64 synthetic scene with six land-cover classes, its fusion cube and the true class map."""
    s1, s2, truth = fdl.synthetic.make_scene(64, 64, "2021-01-01", "2022-12-31", seed=5)
    cube = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2), outlier_filter=True).load()
    return cube, truth["crop"]


@pytest.fixture(scope="module")
def trained(crop_scene):
    cube, _ = crop_scene
    return train_segmenter(cube, SegmentConfig(n_classes=6, **FAST))


def test_profile_block_matches_hand_computed_bin_means():
    times = pd.to_datetime(["2021-01-02", "2021-01-05", "2021-08-01", "2022-01-03"])
    onehot = _bin_matrix(times.values, 4)
    assert onehot.argmax(axis=1).tolist() == [0, 0, 2, 0]  # two years fold into one: 3 January is bin 0 again
    vv = np.array([-10.0, -12.0, -8.0, np.nan]).reshape(4, 1, 1)
    vh = np.array([-16.0, -18.0, -14.0, -20.0]).reshape(4, 1, 1)
    nd = np.array([0.2, np.nan, 0.8, 0.4]).reshape(4, 1, 1)
    p = _profile_block(vv, vh, nd, onehot)[0, 0]
    b = 4
    np.testing.assert_allclose(p[:b], [-11.0, np.nan, -8.0, np.nan])  # date 4 has no VV: not in the S1 means
    np.testing.assert_allclose(p[b : 2 * b], [-17.0, np.nan, -14.0, np.nan])
    np.testing.assert_array_equal(p[2 * b : 3 * b], [1, 0, 1, 0])
    np.testing.assert_allclose(p[3 * b : 4 * b], [0.3, np.nan, 0.8, np.nan])  # clear NDVI of dates 1 and 4
    np.testing.assert_array_equal(p[4 * b :], [1, 0, 1, 0])


def test_codes_are_used_and_classes_follow_the_crops(crop_scene, trained):
    cube, crop = crop_scene
    classes = segment(cube, segmenter=trained)
    assert classes.dims == ("y", "x") and classes.dtype == np.int16
    counts = np.bincount(classes.values[classes.values >= 0].ravel(), minlength=6)
    assert (counts > 0).sum() >= 4, counts  # no collapse onto one or two codes
    assert counts.max() < 0.6 * counts.sum(), counts
    scores = clustering_scores(crop.values, classes.values)
    assert scores["ari"] > 0.2 and scores["nmi"] > 0.3, scores  # far above chance (about 0) on six true classes


def test_chunked_inference_equals_unchunked_and_is_lazy(crop_scene, trained):
    cube, _ = crop_scene
    eager = segment(cube, segmenter=trained)
    with dask.config.set(scheduler="sync"):
        calls = []
        with dask.callbacks.Callback(pretask=lambda key, dsk, state: calls.append(key)):
            lazy = segment(cube.chunk({"time": -1, "y": 24, "x": 40}), segmenter=trained)
        assert calls == []  # building the map computes nothing
        assert lazy.chunks is not None
        np.testing.assert_array_equal(lazy.values, eager.values)


def test_training_does_not_depend_on_chunking(crop_scene):
    cube, _ = crop_scene
    cfg = SegmentConfig(n_classes=4, **{**FAST, "epochs": 3, "warmup": 1})
    a = train_segmenter(cube, cfg)
    b = train_segmenter(cube.chunk({"time": -1, "y": 20, "x": 33}), cfg)
    assert a.info["train_pixels"] == b.info["train_pixels"]
    assert a.history[-1]["nce"] == pytest.approx(b.history[-1]["nce"], rel=1e-5)


def test_save_load_round_trip(tmp_path, crop_scene, trained):
    cube, _ = crop_scene
    path = trained.save(tmp_path / "seg")
    assert path.name == "seg.json" and (tmp_path / "seg.safetensors").exists()
    again = load_segmenter(tmp_path / "seg")
    np.testing.assert_array_equal(segment(cube, segmenter=again).values, segment(cube, segmenter=trained).values)
    blob = bytearray((tmp_path / "seg.safetensors").read_bytes())
    blob[-3] ^= 0xFF
    (tmp_path / "seg.safetensors").write_bytes(bytes(blob))
    with pytest.raises(fdl.errors.ModelError, match="SHA-256"):
        load_segmenter(tmp_path / "seg.json")
    # a FusionModel's files are refused by format
    net = fdl.models.mlp.MLP(3, (4,))
    fm = fdl.FusionModel(net, fdl.FeatureSpec(), fdl.models.Scaler(np.zeros(3, np.float32), np.ones(3, np.float32), 0.0, 1.0), {"type": "mlp"})
    fm_path = fm.save(tmp_path / "fusion_model")
    with pytest.raises(fdl.errors.ModelError, match="expected format 'fusets_dl.Segmenter'"):
        load_segmenter(fm_path)


def test_s1_only_view_and_kmeans_baseline(crop_scene):
    cube, crop = crop_scene
    s1_only = segment(cube, 6, views=("s1",), **FAST)
    assert (np.bincount(s1_only.values[s1_only.values >= 0]) > 0).sum() >= 3
    km = kmeans_segment(cube, 6, n_bins=24, max_pixels=3000)
    assert km.dims == ("y", "x") and set(np.unique(km.values)) <= set(range(-1, 6))
    assert clustering_scores(crop.values, km.values)["ari"] > 0.1
    km_lazy = kmeans_segment(cube.chunk({"time": -1, "y": 32, "x": 32}), 6, n_bins=24, max_pixels=3000)
    np.testing.assert_array_equal(km_lazy.values, km.values)


def test_sparse_s1_pixels_are_unclassified(crop_scene, trained):
    cube, _ = crop_scene
    holed = cube.copy()
    holed["VV"] = cube["VV"].where((cube["y"] != cube["y"][0]) | (cube["x"] != cube["x"][0]))
    classes = segment(holed, segmenter=trained)
    assert classes.values[0, 0] == -1 and (classes.values[1:, 1:] >= 0).all()


def test_bad_config_and_input_errors(crop_scene):
    cube, _ = crop_scene
    with pytest.raises(fdl.errors.ConfigError, match="views: expected"):
        SegmentConfig(views=("s2",))
    with pytest.raises(fdl.errors.ConfigError, match="n_classes: expected at least 2"):
        SegmentConfig(n_classes=1)
    with pytest.raises(fdl.errors.ConfigError, match="epochs/warmup"):
        SegmentConfig(epochs=5, warmup=5)
    assert SegmentConfig(epochs=30).warmup == 10 and SegmentConfig(epochs=2).warmup == 0  # a third by default
    assert SegmentConfig.from_dict(SegmentConfig(epochs=9).to_dict()) == SegmentConfig(epochs=9)
    tiny = cube.isel(y=slice(0, 3), x=slice(0, 3))
    with pytest.raises(fdl.errors.InsufficientDataError, match="pixels with S1"):
        train_segmenter(tiny, SegmentConfig(n_classes=4, **FAST))
    no_s2 = cube.assign(NDVI=cube["NDVI"] * np.nan)
    with pytest.raises(fdl.errors.InsufficientDataError, match="S2 view needs clear NDVI"):
        train_segmenter(no_s2, SegmentConfig(n_classes=4, **FAST))


def test_segment_inputs_shape_and_names(crop_scene):
    cube, _ = crop_scene
    prof = segment_inputs(cube.chunk({"time": -1, "y": 32, "x": 32}), n_bins=12)
    assert prof.dims == ("y", "x", "channel") and prof.shape == (64, 64, 60)
    assert prof["channel"].values[0] == "VV_00" and prof["channel"].values[-1] == "S2_flag_11"
    assert isinstance(prof.data, dask.array.Array)
    eager = segment_inputs(cube, n_bins=12)
    xr.testing.assert_allclose(prof.compute(), eager)
