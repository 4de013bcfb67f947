"""Models: the networks (one registry), ``FusionModel`` and its safe save/load.

Modules: ``registry`` (fusion strategy -> network; no torch import),
``mlp`` and ``modality`` (the networks), ``scaler``, ``weights`` (bytes,
hash, version key), ``fused`` (the inference form), ``fusion_model``
(:class:`FusionModel`) and ``io`` (:func:`load_model`). Names load on first
use, so ``fusets_dl.models.registry`` is cheap to import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import attach

_EXPORTS = {
    "FusionModel": ".fusion_model",
    "Scaler": ".scaler",
    "load_model": ".io",
    "model_from_parts": ".io",
    "FUSION_STRATEGIES": ".registry",
    "NETWORKS": ".registry",
    "NetworkEntry": ".registry",
    "architecture": ".registry",
    "build_network": ".registry",
    "register_network": ".registry",
}
__getattr__, __dir__ = attach(__name__, _EXPORTS, ("fused", "fusion_model", "io", "mlp", "modality", "registry", "scaler", "weights"))

if TYPE_CHECKING:
    from .fusion_model import FusionModel as FusionModel
    from .io import load_model as load_model
    from .io import model_from_parts as model_from_parts
    from .registry import FUSION_STRATEGIES as FUSION_STRATEGIES
    from .registry import NETWORKS as NETWORKS
    from .registry import NetworkEntry as NetworkEntry
    from .registry import architecture as architecture
    from .registry import build_network as build_network
    from .registry import register_network as register_network
    from .scaler import Scaler as Scaler

__all__ = sorted(set(_EXPORTS) - {"model_from_parts"})
