"""Baselines the deep-learning fusion is measured against.

- :func:`mogpr`: multi-output Gaussian process regression (FuseTS's MOGPR),
  batched over pixels in PyTorch;
- :func:`interpolate_linear` and :func:`whittaker_baseline`: the clear S2
  series alone, interpolated linearly or smoothed.
"""

from __future__ import annotations

from .gp import GPConfig
from .interpolate import interpolate_linear
from .lcm import mogpr, mogpr_inputs, read_table
from .whittaker import whittaker_baseline

__all__ = ["GPConfig", "interpolate_linear", "mogpr", "mogpr_inputs", "read_table", "whittaker_baseline"]
