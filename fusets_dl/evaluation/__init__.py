"""Evaluate: metrics, the spatial-block split, the gap-filling comparison, modality relevance, figures and reports.

``metrics`` and ``splits`` are plain NumPy and are used by training too; the
rest (which needs torch or matplotlib) loads on first use.
"""

from __future__ import annotations

from .._lazy import attach

_EXPORTS = {
    "regression_metrics": ".metrics",
    "metrics_by_range": ".metrics",
    "clustering_scores": ".metrics",
    "NDVI_RANGES": ".metrics",
    "block_mask": ".splits",
    "split_blocks": ".splits",
    "evaluate": ".scoring",
    "score_phenology": ".scoring",
    "compare": ".compare",
    "CompareConfig": ".compare",
    "CompareResult": ".compare",
    "modality_relevance": ".relevance",
    "modality_weights": ".relevance",
    "Report": ".report",
    "report_from_store": ".report",
}
__getattr__, __dir__ = attach(__name__, _EXPORTS, ("compare", "metrics", "plots", "relevance", "report", "scoring", "splits"))

__all__ = sorted(_EXPORTS)
