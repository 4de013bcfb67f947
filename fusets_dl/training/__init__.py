"""Train: sampling over Dask chunks, spatial-block hold-outs and the training loop.

Modules: ``config`` (:class:`TrainConfig`), ``sampling``
(:func:`collect_samples`), ``loop`` (:func:`train`) and ``crossval``
(:func:`cross_validate`). Names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_EXPORTS = {
    "TrainConfig": ".config",
    "collect_samples": ".sampling",
    "cross_validate": ".crossval",
    "train": ".loop",
}
__getattr__, __dir__ = attach(__name__, _EXPORTS, ("config", "crossval", "loop", "sampling"))

if TYPE_CHECKING:
    from .config import TrainConfig as TrainConfig
    from .crossval import cross_validate as cross_validate
    from .loop import train as train
    from .sampling import collect_samples as collect_samples

__all__ = ["TrainConfig", "cross_validate", "train"]
