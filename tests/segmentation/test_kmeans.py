"""The k-means baseline: class range, agreement with the crops, chunk-invariance."""

from __future__ import annotations

import numpy as np

from fusets_dl.evaluation.metrics import clustering_scores
from fusets_dl.segmentation.kmeans import kmeans_segment


def test_kmeans_baseline(crop_scene):
    cube, crop = crop_scene
    km = kmeans_segment(cube, 6, n_bins=24, max_pixels=3000)
    assert km.dims == ("y", "x") and set(np.unique(km.values)) <= set(range(-1, 6))
    assert clustering_scores(crop.values, km.values)["ari"] > 0.1
    km_lazy = kmeans_segment(cube.chunk({"time": -1, "y": 32, "x": 32}), 6, n_bins=24, max_pixels=3000)
    np.testing.assert_array_equal(km_lazy.values, km.values)
