"""Uncertainty of predicted NDVI: the model's validation residuals by predicted-NDVI range."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ..models import FusionModel

__all__ = ["lookup_std", "pred_std_table"]

#: Rows of ``val_by_pred_range`` with fewer samples than this use the overall RMSE.
MIN_ROW_SAMPLES = 30
#: Std used when the model carries no test RMSE at all.
FALLBACK_STD = 0.1


def pred_std_table(model: FusionModel) -> tuple[np.ndarray, np.ndarray]:
    """Std of a prediction by predicted-NDVI range, from the model's validation residuals.

    The validation blocks, not the test blocks: the coverage of the std is
    scored on the test blocks, which must not have set it (models saved
    before 2026-11-28 carry only the test table, which is then used).

    Parameters
    ----------
    model : FusionModel
        A trained model; reads ``metrics["val_by_pred_range"]`` (rows of
        ``{"range": [lo, hi], "n": ..., "rmse": ...}``) and
        ``metrics["val"]["rmse"]``, else ``test_by_pred_range`` and
        ``metrics["test"]["rmse"]``.

    Returns
    -------
    edges : numpy.ndarray
        Range edges (float64), one more than ``std``.
    std : numpy.ndarray
        RMSE of each range; the overall test RMSE for ranges with fewer than
        ``MIN_ROW_SAMPLES`` samples or a non-finite RMSE, and for the single
        range ``[-1, 1]`` when the model has no rows (``FALLBACK_STD`` when it
        has no test RMSE either).
    """
    part = "val" if model.metrics.get("val_by_pred_range") else "test"
    rows = model.metrics.get(f"{part}_by_pred_range") or []
    edges = [r["range"][0] for r in rows] + ([rows[-1]["range"][1]] if rows else [])
    overall = float(model.metrics.get(part, {}).get("rmse", np.nan))
    if not np.isfinite(overall):
        overall = FALLBACK_STD
    if not rows:
        return np.array([-1.0, 1.0]), np.array([overall])
    std = np.array([r["rmse"] if r.get("n", 0) >= MIN_ROW_SAMPLES and np.isfinite(r["rmse"]) else overall for r in rows])
    return np.asarray(edges, dtype=np.float64), std


def lookup_std(values: np.ndarray, edges: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Std of each value from the table of :func:`pred_std_table`.

    Parameters
    ----------
    values : numpy.ndarray
        Predicted NDVI (finite), any shape.
    edges, table : numpy.ndarray
        The output of :func:`pred_std_table`; values outside the edges take
        the first or last range.

    Returns
    -------
    numpy.ndarray
        The std of each value, shape of ``values``.
    """
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, table.size - 1)
    return table[idx]
