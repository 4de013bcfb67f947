"""Predict: batched NDVI inference over Dask chunks, on GPU when present."""

from __future__ import annotations

from .core import predict_ndvi

__all__ = ["predict_ndvi"]
