"""Training without labels: no collapse, classes that follow the crops, chunk-invariance, refused inputs."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

import fusets_dl as fdl
from fusets_dl.evaluation.metrics import clustering_scores
from fusets_dl.segmentation.apply import segment
from fusets_dl.segmentation.config import SegmentConfig
from fusets_dl.segmentation.fit import train_segmenter
from fusets_dl.segmentation.kmeans import kmeans_segment
from tests.segmentation.helpers import FAST


def test_codes_are_used_and_classes_follow_the_crops(crop_scene, trained):
    cube, crop = crop_scene
    classes = segment(cube, segmenter=trained)
    assert classes.dims == ("y", "x") and classes.dtype == np.int16
    counts = np.bincount(classes.values[classes.values >= 0].ravel(), minlength=6)
    assert (counts > 0).sum() >= 4, counts  # no collapse onto one or two codes
    assert counts.max() < 0.6 * counts.sum(), counts
    scores = clustering_scores(crop.values, classes.values)
    assert scores["ari"] > 0.2 and scores["nmi"] > 0.3, scores  # far above chance (about 0) on six true classes


def test_training_does_not_depend_on_chunking(crop_scene):
    cube, _ = crop_scene
    cfg = SegmentConfig(n_classes=4, **{**FAST, "epochs": 3, "warmup": 1})
    a = train_segmenter(cube, cfg)
    b = train_segmenter(cube.chunk({"time": -1, "y": 20, "x": 33}), cfg)
    assert a.info["train_pixels"] == b.info["train_pixels"]
    assert a.history[-1]["nce"] == pytest.approx(b.history[-1]["nce"], rel=1e-5)


def test_training_does_not_depend_on_which_way_up_the_cube_is_stored(crop_scene):
    """The training sample followed the pixel index: the same cube with y ascending (or x descending) drew other pixels in
    another order and gave other weights. Positions now count as on a north-up raster; the classes follow the pixels."""
    cube, _ = crop_scene
    assert cube["y"].values[0] > cube["y"].values[-1]  # north-up, as the readers give real rasters
    cfg = SegmentConfig(n_classes=4, **{**FAST, "epochs": 2, "warmup": 1})
    a = train_segmenter(cube, cfg)
    for flipped in (cube.isel(y=slice(None, None, -1)), cube.isel(x=slice(None, None, -1)).chunk({"y": 16})):
        b = train_segmenter(flipped, cfg)
        assert b.info["train_pixels"] == a.info["train_pixels"]
        assert b.history[-1]["nce"] == pytest.approx(a.history[-1]["nce"], rel=1e-5)
        np.testing.assert_array_equal(segment(flipped, segmenter=b).sortby(["y", "x"]).values,
                                      segment(cube, segmenter=a).sortby(["y", "x"]).values)


def test_row_numbers_as_y_are_read_as_rows_from_the_top():
    """y = 0, 1, 2, ... (row numbers, no ground coordinates: row 0 is the top) is not a south-up raster to flip."""
    import xarray as xr

    from fusets_dl.segmentation.profiles import _against_raster_order

    prof = xr.DataArray(np.zeros((4, 3)), dims=("y", "x"), coords={"y": np.arange(4), "x": np.arange(3)})
    assert not _against_raster_order(prof, "y") and not _against_raster_order(prof, "x")
    assert _against_raster_order(prof.assign_coords(y=[10.0, 30.0, 50.0, 70.0]), "y")  # ground coordinates, south-up
    assert not _against_raster_order(prof.assign_coords(y=[70.0, 50.0, 30.0, 10.0]), "y")
    assert _against_raster_order(prof.assign_coords(x=[5.0, 3.0, 1.0]), "x")


def test_too_few_pixels_or_no_clear_ndvi_are_refused(crop_scene):
    cube, _ = crop_scene
    tiny = cube.isel(y=slice(0, 3), x=slice(0, 3))
    with pytest.raises(fdl.errors.InsufficientDataError, match="pixels with S1"):
        train_segmenter(tiny, SegmentConfig(n_classes=4, **FAST))
    no_s2 = cube.assign(NDVI=cube["NDVI"] * np.nan)
    with pytest.raises(fdl.errors.InsufficientDataError, match="S2 view needs clear NDVI"):
        train_segmenter(no_s2, SegmentConfig(n_classes=4, **FAST))


def test_kmeans_segment_refuses_what_train_segmenter_refuses(crop_scene):
    cube, _ = crop_scene
    no_s2 = cube.assign(NDVI=cube["NDVI"] * np.nan)
    for fn in (lambda: train_segmenter(no_s2, SegmentConfig(n_classes=4, **FAST)), lambda: kmeans_segment(no_s2, 4, n_bins=24)):
        with pytest.raises(fdl.errors.InsufficientDataError, match="the S2 view needs clear NDVI, found none"):
            fn()


def test_identical_pixels_warn_without_scipy_noise(crop_scene, caplog):
    cube, _ = crop_scene
    same = cube.copy()
    for v in ("VV", "VH", "NDVI"):
        a = cube[v].transpose("time", "y", "x").values
        same[v] = (("time", "y", "x"), np.broadcast_to(a[:, :1, :1], a.shape).copy(), cube[v].attrs)
    with warnings.catch_warnings(record=True) as rec, caplog.at_level(logging.WARNING, logger="fusets_dl"):
        warnings.simplefilter("always")
        seg = train_segmenter(same, SegmentConfig(n_classes=4, **{**FAST, "epochs": 3, "warmup": 1}))
    msgs = [str(w.message) for w in rec]
    assert len(msgs) == 1 and "train_segmenter: found 1 distinct profile(s)" in msgs[0] and "n_classes=4" in msgs[0], msgs
    assert any("distinct profile" in r.getMessage() for r in caplog.records)
    assert np.isfinite(seg.network.codes.detach().numpy()).all()  # empty clusters leave no NaN code behind
    counts = seg.info["train_class_counts"]
    assert sum(counts) == seg.info["train_pixels"] and sum(c > 0 for c in counts) == 1


def test_too_few_pixels_names_max_pixels(crop_scene):
    cube, _ = crop_scene  # 4096 pixels, all with enough S1: the draw, not the data, is too small
    with pytest.raises(fdl.errors.InsufficientDataError, match=r"in the training draw \(about max_pixels=20 pixels"):
        train_segmenter(cube, SegmentConfig(n_classes=4, **{**FAST, "max_pixels": 20}))
