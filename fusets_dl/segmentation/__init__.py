"""Segmentation: unsupervised land-cover classes from S1/S2 profiles (contrastive + VQ, or k-means)."""

from __future__ import annotations

from .core import SegmentConfig, Segmenter, kmeans_segment, load_segmenter, segment, train_segmenter

__all__ = ["SegmentConfig", "Segmenter", "kmeans_segment", "load_segmenter", "segment", "train_segmenter"]
