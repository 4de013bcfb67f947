"""Features: the ``FeatureSpec``, the registry of feature groups and the feature cube the networks read.

Modules, in the order of the flow:

- :mod:`.spec`: :class:`FeatureSpec`, which features to compute (JSON, travels with every model);
- :mod:`.groups`: :data:`FEATURE_GROUPS`, the one table of feature groups (add a group there);
- :mod:`.sar`: the S1 series kernel, the ``sar`` and ``time`` groups;
- :mod:`.optical`: optical context and cloudy input, the ``optical`` group;
- :mod:`.terrain`: DEM features, the ``terrain`` group;
- :mod:`.orbits`: relative-orbit groups of the acquisitions;
- :mod:`.speckle`: the multi-temporal speckle filter of the S1 backscatter;
- :mod:`.inputs`: what a group's compute function receives;
- :mod:`.compute`: :func:`compute_features`, which runs the groups of a spec on a cube.
"""

from __future__ import annotations

from .compute import compute_features
from .groups import FEATURE_GROUPS, MODALITIES, REQUIRED_MODALITIES, FeatureGroup
from .inputs import FeatureInputs
from .optical import nearest_within, optical_context
from .orbits import orbit_groups, revisit_days
from .sar import feature_kernel
from .spec import S1_NORMALISE, FeatureSpec
from .speckle import speckle_filter

__all__ = [
    "FEATURE_GROUPS",
    "MODALITIES",
    "REQUIRED_MODALITIES",
    "S1_NORMALISE",
    "FeatureGroup",
    "FeatureInputs",
    "FeatureSpec",
    "compute_features",
    "feature_kernel",
    "nearest_within",
    "optical_context",
    "orbit_groups",
    "revisit_days",
    "speckle_filter",
]
