"""Predict: batched NDVI inference over Dask chunks, on GPU when present (module ``predict``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_EXPORTS = {"predict_ndvi": ".predict"}
__getattr__, __dir__ = attach(__name__, _EXPORTS, ("predict",))

if TYPE_CHECKING:
    from .predict import predict_ndvi as predict_ndvi

__all__ = ["predict_ndvi"]
