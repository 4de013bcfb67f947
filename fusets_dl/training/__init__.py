"""Train: sampling over Dask chunks, spatial-block hold-outs and the training loop."""

from __future__ import annotations

from .core import TrainConfig, cross_validate, train

__all__ = ["TrainConfig", "cross_validate", "train"]
