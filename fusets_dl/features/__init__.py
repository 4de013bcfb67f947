"""Features: the ``FeatureSpec`` and the feature cube the networks read."""

from __future__ import annotations

from .core import FeatureSpec, compute_features

__all__ = ["FeatureSpec", "compute_features"]
