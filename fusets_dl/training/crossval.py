"""K-fold cross-validation over spatial blocks: every pixel-date predicted by a model that never saw its block."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._logging import logger
from ..evaluation.metrics import metrics_by_range, regression_metrics
from ..evaluation.splits import block_mask, fold_splits
from ..features import FeatureSpec
from ..inference.predict import predict_ndvi
from .config import TrainConfig
from .loop import train

__all__ = ["cross_validate"]


def _fold_scores(cube: xr.Dataset, spec: FeatureSpec, config: TrainConfig, split: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Train with ``split``'s test blocks held out; the observed and predicted NDVI on them (both finite)."""
    model = train(cube, spec, config, split=split)
    pred = predict_ndvi(cube, model)
    mask = xr.DataArray(block_mask(cube.sizes["y"], cube.sizes["x"], split, "test"), dims=("y", "x"))
    o = cube["NDVI"].where(mask).values.ravel()
    p = pred.where(mask).values.ravel()
    ok = np.isfinite(o) & np.isfinite(p)
    return o[ok], p[ok]


def cross_validate(
    cube: xr.Dataset,
    features: FeatureSpec | None = None,
    config: TrainConfig | None = None,
    *,
    folds: int = 4,
) -> dict[str, Any]:
    """K-fold cross-validation over spatial blocks.

    The blocks of ``config.block_size`` are shuffled (seeded) and dealt into
    ``folds`` disjoint test sets (:func:`fold_splits`); for each fold a model
    is trained with those blocks held out (and a share ``config.val_fraction``
    of the others for early stopping) and scored on them. Every pixel-date is
    thus predicted by a model that never saw its block.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` and the ``NDVI`` target.
    features : FeatureSpec, optional
        Default ``FeatureSpec()``.
    config : TrainConfig, optional
        Default ``TrainConfig()``.
    folds : int
        Number of folds.

    Returns
    -------
    dict
        ``folds`` (per-fold test metrics), ``pooled`` (metrics over all held-out
        pixel-dates together), ``pooled_by_range``, ``mean_r2``, ``std_r2`` and
        ``block_size``.

    Raises
    ------
    InsufficientDataError
        Too few blocks for ``folds``, or too few samples in a fold.
    """
    spec = features or FeatureSpec()
    config = config or TrainConfig()
    obs_all, pred_all, per_fold = [], [], []
    for k, split in enumerate(fold_splits(cube.sizes["y"], cube.sizes["x"], config, folds)):
        o, p = _fold_scores(cube, spec, config, split)
        obs_all.append(o)
        pred_all.append(p)
        per_fold.append(regression_metrics(o, p))
        logger.info("cross_validate: fold %d/%d R2 %.3f RMSE %.4f", k + 1, folds, per_fold[-1]["r2"], per_fold[-1]["rmse"])
    o, p = np.concatenate(obs_all), np.concatenate(pred_all)
    r2s = np.array([f["r2"] for f in per_fold])
    return {
        "folds": per_fold,
        "pooled": regression_metrics(o, p),
        "pooled_by_range": metrics_by_range(o, p),
        "mean_r2": float(np.nanmean(r2s)),
        "std_r2": float(np.nanstd(r2s)),
        "block_size": config.block_size,
    }
