"""The registry of networks: one table from fusion strategy to network.

Each entry of :data:`NETWORKS` says everything the package needs to know about
a network: the ``type`` it writes into a model's ``architecture`` dict (the
JSON sidecar), how to build the torch module from that dict, how to derive
the dict from a :class:`~fusets_dl.features.FeatureSpec` and a
:class:`~fusets_dl.training.TrainConfig`, and whether it exposes per-sample
modality weights. :data:`FUSION_STRATEGIES`, ``TrainConfig(fusion=...)``
validation, the CLI's ``--fusion`` choices, :func:`build_network` and the
modality-weight checks all derive from this table.

Adding a network is one entry here plus its class (in its own module, with
``forward`` giving the standardised NDVI (batch,) from standardised features
(batch, n_features) and ``fused()`` giving an inference copy)::

    def _build_sequence(arch):
        from .sequence import SequenceNet

        return SequenceNet(int(arch["n_in"]), ...)

    NETWORKS["sequence"] = NetworkEntry("sequence", _build_sequence, _sequence_architecture)

This module does not import torch: the builders import their class when
called, so the CLI can list the strategies cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ModelError

if TYPE_CHECKING:
    from torch import nn

    from ..features import FeatureSpec
    from ..training.config import TrainConfig
__all__ = [
    "FUSION_STRATEGIES",
    "NETWORKS",
    "NetworkEntry",
    "architecture",
    "build_network",
    "entry_for_architecture",
    "has_modality_weights",
    "modality_weight_strategies",
    "register_network",
]


@dataclass(frozen=True)
class NetworkEntry:
    """One network of the registry.

    Parameters
    ----------
    arch_type : str
        The ``type`` written into the model's ``architecture`` dict (saved
        in the JSON sidecar; :func:`build_network` looks entries up by it).
    build : callable
        ``build(arch) -> torch.nn.Module``: the network described by an
        ``architecture`` dict.
    architecture : callable
        ``architecture(spec, config) -> dict``: the architecture parameters
        for a feature spec and a training configuration (without ``type``,
        which the registry adds).
    modality_weights : bool
        The network has ``names`` and ``modality_weights(x)`` giving each
        sample's weight per modality (see
        :meth:`~fusets_dl.models.FusionModel.modality_weights_array`).
    description : str
        One line for documentation and ``--help``.
    """

    arch_type: str
    build: Callable[[Mapping[str, Any]], nn.Module]
    architecture: Callable[[FeatureSpec, TrainConfig], dict[str, Any]]
    modality_weights: bool = False
    description: str = ""


# --------------------------------------------------------------------------- builders

def _build_mlp(arch: Mapping[str, Any]) -> nn.Module:
    from .mlp import MLP

    return MLP(int(arch["n_in"]), tuple(arch["hidden"]), float(arch["dropout"]), bool(arch["batch_norm"]))


def _mlp_architecture(spec: FeatureSpec, config: TrainConfig) -> dict[str, Any]:
    return {"n_in": len(spec.names), "hidden": list(config.hidden), "dropout": config.dropout, "batch_norm": config.batch_norm}


def _build_modality(arch: Mapping[str, Any]) -> nn.Module:
    from .modality import ModalityNet

    return ModalityNet(
        str(arch["type"]),
        {k: list(v) for k, v in arch["modalities"].items()},
        tuple(arch["encoder"]),
        tuple(arch["hidden"]),
        float(arch["dropout"]),
    )


def _modality_architecture(spec: FeatureSpec, config: TrainConfig) -> dict[str, Any]:
    mods: dict[str, list[int]] = {}
    for i, n in enumerate(spec.names):
        mods.setdefault(spec.modality[n], []).append(i)
    return {
        "n_in": len(spec.names),
        "modalities": mods,
        "encoder": list(config.encoder),
        "hidden": list(config.head),
        "dropout": config.dropout,
    }


# --------------------------------------------------------------------------- the table

#: Fusion strategy (``TrainConfig.fusion``) -> its network.
NETWORKS: dict[str, NetworkEntry] = {
    "early": NetworkEntry("mlp", _build_mlp, _mlp_architecture, description="one MLP on all features"),
    "mid": NetworkEntry("mid", _build_modality, _modality_architecture, description="one encoder per modality, concatenated, then a head"),
    "late": NetworkEntry(
        "late", _build_modality, _modality_architecture, modality_weights=True,
        description="one encoder and prediction per modality, blended with learned weights",
    ),
    "attention": NetworkEntry(
        "attention", _build_modality, _modality_architecture, modality_weights=True,
        description="one encoder per modality, averaged with per-sample attention weights, then a head",
    ),
}

#: The fusion strategies of the built-in networks, in the table's order.
FUSION_STRATEGIES: tuple[str, ...] = tuple(NETWORKS)


def register_network(name: str, entry: NetworkEntry, *, replace: bool = False) -> NetworkEntry:
    """Add a network to :data:`NETWORKS` (at run time; built-in ones are entries of the table).

    Parameters
    ----------
    name : str
        The fusion strategy name (``TrainConfig(fusion=name)``).
    entry : NetworkEntry
        The network.
    replace : bool
        Allow replacing an entry of the same name.

    Returns
    -------
    NetworkEntry
        ``entry``.

    Raises
    ------
    ModelError
        ``name`` or ``entry.arch_type`` is already registered (and ``replace`` is false).
    """
    if not replace:
        if name in NETWORKS:
            raise ModelError(f"register_network: expected a new fusion name, found {name!r} already registered")
        taken = {e.arch_type: n for n, e in NETWORKS.items()}
        if entry.arch_type in taken:
            raise ModelError(
                f"register_network: expected a new architecture type, found {entry.arch_type!r} already used by {taken[entry.arch_type]!r}"
            )
    NETWORKS[name] = entry
    return entry


def entry_for_architecture(arch: Mapping[str, Any]) -> NetworkEntry:
    """The registry entry of a model's ``architecture`` dict (looked up by its ``type``).

    Parameters
    ----------
    arch : mapping
        An ``architecture`` dict as saved in a model's JSON sidecar.

    Returns
    -------
    NetworkEntry
        The entry whose ``arch_type`` is ``arch["type"]``.

    Raises
    ------
    ModelError
        No registered network has that type.
    """
    kind = arch.get("type")
    for entry in NETWORKS.values():
        if entry.arch_type == kind:
            return entry
    types = [e.arch_type for e in NETWORKS.values()]
    raise ModelError(f"unknown architecture {kind!r}; expected one of {types}")


def build_network(arch: Mapping[str, Any]) -> nn.Module:
    """The torch module described by a model's ``architecture`` dict.

    Parameters
    ----------
    arch : mapping
        ``{"type": ..., ...}`` as written by :func:`architecture`.

    Returns
    -------
    torch.nn.Module
        A freshly initialised network.

    Raises
    ------
    ModelError
        An unknown ``type``, or ``members`` that is not a whole number >= 2.

    Notes
    -----
    ``arch["members"] = K`` (``TrainConfig(ensemble=K)``) builds an
    :class:`~fusets_dl.models.ensemble.Ensemble` of K networks of ``type``.
    """
    entry = entry_for_architecture(arch)
    if "members" not in arch:
        return entry.build(arch)
    k = arch["members"]
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise ModelError(f"architecture: members: expected a whole number >= 2 (an ensemble), found {k!r}")
    from .ensemble import Ensemble

    base = {key: v for key, v in arch.items() if key != "members"}
    return Ensemble([entry.build(base) for _ in range(k)])


def architecture(spec: FeatureSpec, config: TrainConfig) -> dict[str, Any]:
    """The architecture dict (saved in the model's JSON) for a spec and a training config.

    Parameters
    ----------
    spec : FeatureSpec
        The features the network takes, in order.
    config : TrainConfig
        The training options; ``config.fusion`` picks the network.

    Returns
    -------
    dict
        ``{"type": ..., **parameters}``, with ``"members": K`` for
        ``config.ensemble`` K > 1.

    Raises
    ------
    ModelError
        ``config.fusion`` is not a registered network.
    """
    entry = NETWORKS.get(config.fusion)
    if entry is None:
        raise ModelError(f"architecture: expected a fusion strategy in {tuple(NETWORKS)}, found {config.fusion!r}")
    arch = {"type": entry.arch_type, **entry.architecture(spec, config)}
    if config.ensemble > 1:
        arch["members"] = config.ensemble
    return arch


def has_modality_weights(arch: Mapping[str, Any]) -> bool:
    """True when the network of ``arch`` exposes per-sample modality weights.

    Parameters
    ----------
    arch : mapping
        A model's ``architecture`` dict.

    Returns
    -------
    bool
        False for an unknown type too.
    """
    try:
        return entry_for_architecture(arch).modality_weights
    except ModelError:
        return False


def modality_weight_strategies() -> tuple[str, ...]:
    """The fusion strategies whose networks expose modality weights (for messages).

    Returns
    -------
    tuple of str
        In the table's order.
    """
    return tuple(n for n, e in NETWORKS.items() if e.modality_weights)
