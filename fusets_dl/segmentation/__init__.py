"""Segmentation: unsupervised land-cover classes from S1/S2 profiles (contrastive + VQ, or k-means).

Modules, one job each:

- :mod:`~fusets_dl.segmentation.config`: :class:`SegmentConfig`, the settings.
- :mod:`~fusets_dl.segmentation.profiles`: annual day-of-year profiles
  (:func:`segment_inputs`), their standardisation and the training draw.
- :mod:`~fusets_dl.segmentation.network`: the encoders and code book
  (:class:`SegmentNet`), :class:`Segmenter`, saving and :func:`load_segmenter`.
- :mod:`~fusets_dl.segmentation.fit`: :func:`train_segmenter` (InfoNCE,
  augmentation, code initialisation, the VQ and usage losses).
- :mod:`~fusets_dl.segmentation.kmeans`: k-means and the :func:`kmeans_segment` baseline.
- :mod:`~fusets_dl.segmentation.apply`: :func:`segment`, lazily per Dask chunk.
- :mod:`~fusets_dl.segmentation.classes`: the ``class(y, x)`` map both methods return.
"""

from __future__ import annotations

from .apply import segment
from .config import SegmentConfig
from .fit import train_segmenter
from .kmeans import kmeans_segment
from .network import Segmenter, SegmentNet, load_segmenter
from .profiles import segment_inputs

__all__ = [
    "SegmentConfig",
    "SegmentNet",
    "Segmenter",
    "kmeans_segment",
    "load_segmenter",
    "segment",
    "segment_inputs",
    "train_segmenter",
]
