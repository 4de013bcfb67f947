"""Reading models: from files (:func:`load_model`) or from their parts (:func:`model_from_parts`)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .._safeio import read_pair
from ..errors import ConfigError, ModelError
from ..features import FeatureSpec
from .fusion_model import FORMAT_VERSION, FusionModel
from .registry import build_network
from .scaler import Scaler

__all__ = ["PRETRAINED", "load_model", "model_from_parts", "pretrained_path"]

#: Names :func:`load_model` resolves to models shipped in the package
#: (``fusets_dl/models/pretrained/<stem>.json`` and ``.safetensors``):
#: name -> file stem. ``"pretrained"`` is the general model of
#: ``pipelines/pretrain.py`` (see ``docs/pretrained.md``).
PRETRAINED: dict[str, str] = {"pretrained": "general", "pretrained-general": "general"}


def _load_state(blob: bytes, name: str) -> dict[str, Any]:
    """The tensors of a safetensors blob, or a ModelError naming ``name``."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(blob)
    except (SafetensorError, ValueError) as exc:
        raise ModelError(f"{name}: not a readable safetensors file: {exc}") from exc


def _network(arch: dict[str, Any], state: dict[str, Any], name: str) -> nn.Module:
    """The registered network of ``arch`` with the weights ``state`` loaded, in eval mode."""
    try:
        net = build_network(arch)
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{name}: architecture {arch} is incomplete or malformed: {exc}") from exc
    except ModelError as exc:
        raise ModelError(f"{name}: {exc}") from exc
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{name}: weights do not fit the architecture in the sidecar: {exc}") from exc
    return net.eval()


_REQUIRED = ("feature_spec", "feature_names", "scaler", "architecture")


def _scaler(d: Any, n_features: int, name: str) -> Scaler:
    """The sidecar's scaler, or a ModelError naming what is wrong with it."""
    keys = ("feature_mean", "feature_std", "target_mean", "target_std")
    if not isinstance(d, dict) or any(k not in d for k in keys):
        raise ModelError(f"{name}: the sidecar's scaler: expected a mapping with {list(keys)}, found {d!r:.200}")
    try:
        sc = Scaler.from_dict(d)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{name}: the sidecar's scaler is malformed: {exc}") from exc
    if sc.feature_mean.shape != (n_features,) or sc.feature_std.shape != (n_features,):
        raise ModelError(f"{name}: the sidecar's scaler: expected {n_features} feature means and standard deviations, "
                         f"found {sc.feature_mean.shape} and {sc.feature_std.shape}")
    if not (np.isfinite(sc.feature_std).all() and (sc.feature_std > 0).all() and np.isfinite([sc.target_mean, sc.target_std]).all() and sc.target_std > 0):
        raise ModelError(f"{name}: the sidecar's scaler: expected finite statistics with positive standard deviations, found {d!r:.200}")
    return sc


def model_from_parts(meta: dict[str, Any], blob: bytes, *, name: str = "weights") -> FusionModel:
    """Build a :class:`FusionModel` from its JSON sidecar content and safetensors bytes.

    Checks that the feature names match the spec and that the weights fit the
    architecture; does not check the hash (callers do).

    Parameters
    ----------
    meta : dict
        The sidecar content (as written by :meth:`FusionModel.to_json_dict`).
    blob : bytes
        The safetensors weights.
    name : str
        What to call the weights in error messages (e.g. the file name).

    Returns
    -------
    FusionModel
        With its network in eval mode.

    Raises
    ------
    ModelError
        A sidecar without ``feature_spec``, ``feature_names``, ``scaler`` or
        ``architecture``, a malformed scaler, unreadable weights, feature
        names that differ from the spec, an unknown or malformed
        architecture, or weights that do not fit it.
    """
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise ModelError(f"{name}: the sidecar lacks {missing}; expected the keys {list(_REQUIRED)}, found {sorted(meta)}")
    state = _load_state(blob, name)
    try:
        spec = FeatureSpec.from_dict(meta["feature_spec"])
    except ConfigError as exc:
        raise ModelError(f"{name}: the sidecar's feature_spec is invalid: {exc}") from exc
    if spec.names != meta.get("feature_names"):
        raise ModelError(f"{name}: feature names {meta.get('feature_names')} do not match its spec {spec.names}")
    arch = meta["architecture"]
    return FusionModel(
        network=_network(arch, state, name),
        spec=spec,
        scaler=_scaler(meta["scaler"], len(spec.names), name),
        architecture=arch,
        config=meta.get("config", {}),
        metrics=meta.get("metrics", {}),
        history=meta.get("history", []),
        blocks=meta.get("blocks", {}),
        info=dict(meta.get("info", {})),
    )


def pretrained_path(name: str) -> Path:
    """The JSON sidecar of a model shipped with the package.

    Parameters
    ----------
    name : str
        A key of :data:`PRETRAINED` (e.g. ``"pretrained"``).

    Returns
    -------
    Path
        ``fusets_dl/models/pretrained/<stem>.json``.

    Raises
    ------
    ModelError
        An unknown name, or the package installed without its model files.
    """
    if name not in PRETRAINED:
        raise ModelError(f"pretrained model: expected one of {sorted(PRETRAINED)}, found {name!r}")
    path = Path(__file__).resolve().parent / "pretrained" / f"{PRETRAINED[name]}.json"
    if not path.is_file() or not path.with_suffix(".safetensors").is_file():
        raise ModelError(f"pretrained model {name!r}: expected {path} and its .safetensors in the installed package, found them missing; "
                         "reinstall fusets_dl (the files are package data) or run pipelines/pretrain.py")
    return path


def _kind(path: str | Path) -> str | None:
    """The sidecar's ``kind`` field (None when absent or unreadable: the full read reports why)."""
    import json

    from .._safeio import stem

    s = stem(path)
    try:
        meta = json.loads(s.with_name(s.name + ".json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("kind") if isinstance(meta, dict) else None


def load_model(path: str | Path, *, expect_spec: FeatureSpec | None = None) -> FusionModel:
    """Load a model written by :meth:`FusionModel.save`, or a model shipped with the package by name.

    Parameters
    ----------
    path : str or Path
        The ``.json`` sidecar, the ``.safetensors`` file or their common stem;
        or a name of :data:`PRETRAINED` (a ``str``; ``"pretrained"``: the
        general pre-trained model, see ``docs/pretrained.md``). To load a
        file of yours with such a name, pass a path (``"./pretrained"``).
    expect_spec : FeatureSpec, optional
        Refuse the model unless it was trained on exactly these features.

    Returns
    -------
    FusionModel
        With ``info["loaded_from"]`` and ``info["loaded_at"]`` set.

    Raises
    ------
    ModelError
        Missing or truncated files, a weights hash that does not match the
        sidecar, a sidecar edited after saving (its own SHA-256, tampering),
        a sidecar missing a key, an unknown format, or a feature-spec mismatch.
    """
    if isinstance(path, str) and path in PRETRAINED:
        path = pretrained_path(path)
    if _kind(path) == "sequence":  # a SequenceModel (sidecar "kind": "sequence")
        from .sequence_model import load_sequence_model

        return load_sequence_model(path)  # type: ignore[return-value]
    meta, blob, w_path, j_path = read_pair(path, "fusets_dl.FusionModel", FORMAT_VERSION)
    model = model_from_parts(meta, blob, name=w_path.name)
    model.info.update({"loaded_from": str(j_path), "loaded_at": datetime.now(timezone.utc).isoformat()})
    if expect_spec is not None:
        model.check_compatible(expect_spec)
    return model
