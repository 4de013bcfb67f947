"""Reconstruct: gap-free NDVI with a source flag and an uncertainty.

Modules: :mod:`.api` (``reconstruct``, the xarray flow), :mod:`.kernels`
(the NumPy kernels over pixel blocks, ``SOURCE_FLAGS``, the long-gap guard),
:mod:`.calibrate` (:func:`.calibrate.calibrate`: weights, lambda and guard chosen on held-out
spells, for ``reconstruct(weights="auto")``; a :class:`.calibrate.Calibration`
given as ``weights`` applies one setting to every tile) and :mod:`.uncertainty` (the std
of a prediction from the model's validation residuals, by predicted range).
"""

from __future__ import annotations

from .api import reconstruct
from .calibrate import Calibration
from .kernels import SOURCE_FLAGS

__all__ = ["SOURCE_FLAGS", "Calibration", "reconstruct"]
