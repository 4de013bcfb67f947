"""Evaluate: metrics, the spatial-block split, the gap-filling comparison, modality relevance, figures and reports.

Modules, one job each:

- ``metrics``: accuracy metrics (plain NumPy; used by training too);
- ``splits``: the spatial-block split and its pixel masks (plain NumPy);
- ``scoring``: a model's metrics on its held-out blocks, phenology against a truth;
- ``gaps``: the simulated cloudy spells of the comparison;
- ``methods``: the registry of comparison methods (label, colour, gap filler);
- ``comparison``: the gap-filling comparison (:func:`compare`);
- ``relevance``: modality relevance (SHAPE scores) and modality weights;
- ``plots``: figures; ``report``: Markdown and HTML reports.

Everything loads on first use (torch and matplotlib only when needed).
"""

from __future__ import annotations

from .._lazy import attach

_EXPORTS = {
    "regression_metrics": ".metrics",
    "metrics_by_range": ".metrics",
    "clustering_scores": ".metrics",
    "NDVI_RANGES": ".metrics",
    "block_mask": ".splits",
    "check_split": ".splits",
    "fold_splits": ".splits",
    "split_blocks": ".splits",
    "evaluate": ".scoring",
    "score_phenology": ".scoring",
    "leave_one_site_out": ".cross_site",
    "score_sites": ".cross_site",
    "compare": ".comparison",
    "CompareConfig": ".comparison",
    "CompareResult": ".comparison",
    "COMPARISON_METHODS": ".methods",
    "Method": ".methods",
    "modality_relevance": ".relevance",
    "modality_weights": ".relevance",
    "Report": ".report",
    "report_from_store": ".report",
}
__getattr__, __dir__ = attach(__name__, _EXPORTS, ("comparison", "gaps", "methods", "metrics", "plots", "relevance", "report", "scoring", "splits"))

__all__ = sorted(_EXPORTS)
