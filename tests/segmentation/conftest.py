"""Fixtures of the segmentation tests: a synthetic crop scene and a segmenter trained on it (once per session)."""

from __future__ import annotations

import pytest

import fusets_dl as fdl
from fusets_dl.segmentation import SegmentConfig, train_segmenter
from tests.segmentation.helpers import FAST


@pytest.fixture(scope="session")
def crop_scene():
    """64 x 64 synthetic scene with six land-cover classes, its fusion cube and the true class map."""
    s1, s2, truth = fdl.synthetic.make_scene(64, 64, "2021-01-01", "2022-12-31", seed=5)
    cube = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2), outlier_filter=True).load()
    return cube, truth["crop"]


@pytest.fixture(scope="session")
def trained(crop_scene):
    cube, _ = crop_scene
    return train_segmenter(cube, SegmentConfig(n_classes=6, **FAST))
