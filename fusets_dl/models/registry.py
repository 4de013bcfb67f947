"""Which network an architecture dict describes: the registry of networks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import nn

from ..errors import ModelError
from .mlp import MLP
from .modality import ModalityNet

if TYPE_CHECKING:
    from ..features import FeatureSpec
    from ..training.core import TrainConfig


def build_network(arch: dict[str, Any]) -> nn.Module:
    """The torch module described by a model's ``architecture`` dict."""
    kind = arch.get("type")
    if kind == "mlp":
        return MLP(int(arch["n_in"]), tuple(arch["hidden"]), float(arch["dropout"]), bool(arch["batch_norm"]))
    if kind in ("mid", "late", "attention"):
        return ModalityNet(kind, {k: list(v) for k, v in arch["modalities"].items()}, tuple(arch["encoder"]), tuple(arch["hidden"]), float(arch["dropout"]))
    raise ModelError(f"unknown architecture {kind!r}; expected 'mlp', 'mid', 'late' or 'attention'")


def architecture(spec: FeatureSpec, config: TrainConfig) -> dict[str, Any]:
    """The architecture dict (saved in the model's JSON) for a spec and a training config."""
    if config.fusion == "early":
        return {"type": "mlp", "n_in": len(spec.names), "hidden": list(config.hidden), "dropout": config.dropout, "batch_norm": config.batch_norm}
    mods: dict[str, list[int]] = {}
    for i, n in enumerate(spec.names):
        mods.setdefault(spec.modality[n], []).append(i)
    return {
        "type": config.fusion,
        "n_in": len(spec.names),
        "modalities": mods,
        "encoder": list(config.encoder),
        "hidden": list(config.head),
        "dropout": config.dropout,
    }
