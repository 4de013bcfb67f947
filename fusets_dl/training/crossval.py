"""K-fold cross-validation over spatial blocks: every pixel-date predicted by a model that never saw its block."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._logging import logger
from ..errors import InsufficientDataError
from ..evaluation.metrics import metrics_by_range, regression_metrics
from ..evaluation.splits import block_mask
from ..features import FeatureSpec
from ..inference.predict import predict_ndvi
from .config import TrainConfig
from .loop import train

__all__ = ["cross_validate", "fold_splits"]


def fold_splits(ny: int, nx: int, config: TrainConfig, folds: int) -> list[dict[str, Any]]:
    """Deal the spatial blocks into ``folds`` disjoint test sets, each with its own validation blocks.

    The blocks of ``config.block_size`` are shuffled (seeded by
    ``config.seed``) and dealt into ``folds`` parts; fold ``k`` tests on part
    ``k`` and validates on a share ``config.val_fraction`` of the other
    blocks (seeded by ``config.seed + 1 + k``).

    Parameters
    ----------
    ny, nx : int
        Scene size in pixels.
    config : TrainConfig
        ``block_size``, ``val_fraction`` and ``seed``.
    folds : int
        Number of folds, at least 2 and fewer than the blocks.

    Returns
    -------
    list of dict
        One split per fold, in the form of
        :func:`fusets_dl.evaluation.splits.split_blocks` (``block_size``,
        ``grid``, ``test``, ``val``), accepted by ``train(split=...)`` and
        :func:`fusets_dl.evaluation.splits.block_mask`.

    Raises
    ------
    InsufficientDataError
        Fewer than ``folds + 1`` blocks, or fewer than 2 folds.
    """
    size = config.block_size
    gy, gx = -(-ny // size), -(-nx // size)
    n = gy * gx
    if folds < 2 or n < folds + 1:
        raise InsufficientDataError(f"cross_validate: expected 2 <= folds < {n} blocks of {size} px, found folds={folds}")
    order = np.random.default_rng(config.seed).permutation(n)
    n_val = max(1, round(config.val_fraction * n))
    out = []
    for k, test in enumerate(np.array_split(order, folds)):
        rest = np.setdiff1d(order, test)
        val = np.random.default_rng(config.seed + 1 + k).choice(rest, size=min(n_val, rest.size - 1), replace=False)
        out.append({
            "block_size": size,
            "grid": [gy, gx],
            "test": [[int(b) // gx, int(b) % gx] for b in sorted(test)],
            "val": [[int(b) // gx, int(b) % gx] for b in sorted(val)],
        })
    return out


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
