"""Baselines the deep-learning fusion is measured against.

- :func:`mogpr`: multi-output Gaussian process regression (FuseTS's MOGPR),
  batched over pixels in PyTorch; ``lcm`` is its xarray front (with
  :func:`mogpr_inputs` and :func:`read_table`), ``gp`` the dense batched
  GP core on arrays (:class:`GPConfig`); :func:`fusets_mogpr` answers
  FuseTS's ``mogpr`` call with its output layout;
- :func:`interpolate_linear` and :func:`whittaker_baseline`: the clear S2
  series alone, interpolated linearly or smoothed (plain NumPy).

Names load on first use, so the single-sensor baselines do not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_EXPORTS = {
    "GPConfig": ".gp",
    "fusets_mogpr": ".fusets_compat",
    "interpolate_linear": ".interpolate",
    "mogpr": ".lcm",
    "mogpr_inputs": ".lcm",
    "read_table": ".lcm",
    "whittaker_baseline": ".whittaker",
}
__getattr__, __dir__ = attach(__name__, _EXPORTS, ("fusets_compat", "gp", "interpolate", "lcm", "whittaker"))

if TYPE_CHECKING:  # what static tools and IDEs see
    from .fusets_compat import fusets_mogpr
    from .gp import GPConfig
    from .interpolate import interpolate_linear
    from .lcm import mogpr, mogpr_inputs, read_table
    from .whittaker import whittaker_baseline

__all__ = ["GPConfig", "fusets_mogpr", "interpolate_linear", "mogpr", "mogpr_inputs", "read_table", "whittaker_baseline"]
