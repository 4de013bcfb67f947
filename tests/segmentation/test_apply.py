"""Applying a segmenter: chunked equals unchunked and is lazy, the S1-only view, sparse S1 unclassified, refused inputs."""

from __future__ import annotations

import dask
import numpy as np
import pytest

import fusets_dl as fdl
from fusets_dl.segmentation.apply import segment
from tests.segmentation.helpers import FAST


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


def test_s1_only_view(crop_scene):
    cube, _ = crop_scene
    s1_only = segment(cube, 6, views=("s1",), **FAST)
    assert (np.bincount(s1_only.values[s1_only.values >= 0]) > 0).sum() >= 3


def test_sparse_s1_pixels_are_unclassified(crop_scene, trained):
    cube, _ = crop_scene
    holed = cube.copy()
    holed["VV"] = cube["VV"].where((cube["y"] != cube["y"][0]) | (cube["x"] != cube["x"][0]))
    classes = segment(holed, segmenter=trained)
    assert classes.values[0, 0] == -1 and (classes.values[1:, 1:] >= 0).all()


def test_an_s2_view_segmenter_refuses_a_cube_without_ndvi(crop_scene, trained):
    cube, _ = crop_scene
    with pytest.raises(fdl.errors.MissingVariableError, match=r"S2 view.*expects the clear NDVI variable, found \['NDVI_offset', 'VH', 'VV'"):
        segment(cube.drop_vars("NDVI"), segmenter=trained)


def test_a_segmenter_passed_positionally_is_refused_clearly(crop_scene, trained):
    cube, _ = crop_scene
    with pytest.raises(fdl.errors.ConfigError, match=r"found a Segmenter; pass a trained segmenter by keyword: segment\(cube, segmenter=seg\)") as err:
        segment(cube, trained)
    assert "Linear" not in str(err.value)  # not the network's repr


def test_training_settings_a_trained_segmenter_or_config_would_ignore_are_refused_naming_them(crop_scene, trained):
    from fusets_dl.segmentation import SegmentConfig

    cube, _ = crop_scene
    # before: n_classes, epochs and views were silently ignored (6 classes, views s1+s2)
    with pytest.raises(fdl.errors.ConfigError, match=r"segment: expected no training settings with segmenter=, found n_classes=3, epochs=99, "
                                                     r"views=\('s1',\); segmenter= is a trained segmenter \(6 classes, views s1\+s2\)"):
        segment(cube, 3, segmenter=trained, epochs=99, views=("s1",))
    with pytest.raises(fdl.errors.ConfigError, match=r"with segmenter=, found config;"):
        segment(cube, segmenter=trained, config=SegmentConfig(n_classes=6))
    with pytest.raises(fdl.errors.ConfigError, match=r"with config=, found n_classes=3, epochs=2; config= is a SegmentConfig \(4 classes\).*"
                                                     r"dataclasses.replace\(config, \*\*settings\)"):
        segment(cube, 3, config=SegmentConfig(n_classes=4), epochs=2)  # refused before any training
    # the segmenter's own number of classes repeats it: accepted, the same map
    np.testing.assert_array_equal(segment(cube, 6, segmenter=trained).values, segment(cube, segmenter=trained).values)


def test_the_accessor_passes_no_number_of_classes_with_a_segmenter(crop_scene, trained):
    """``cube.fusion.segment(segmenter=seg)`` of a 6-class segmenter: the accessor's old default n_classes=8 would now be
    refused as a setting the segmenter ignores; it passes None, so the segmenter's map comes back."""
    cube, _ = crop_scene
    np.testing.assert_array_equal(cube.fusion.segment(segmenter=trained).values, segment(cube, segmenter=trained).values)
