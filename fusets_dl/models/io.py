"""Reading models: from files (:func:`load_model`) or from their parts (:func:`model_from_parts`)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from .._safeio import stem
from .._warn import warn_user
from ..errors import ConfigError, ModelError
from ..features import FeatureSpec
from .files import PRETRAINED, check_metadata, is_real, model_path, read_model_pair
from .fusion_model import FORMAT_VERSION, FusionModel
from .registry import build_network
from .scaler import Scaler

__all__ = ["PRETRAINED", "load_model", "model_from_parts", "pretrained_path"]

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
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:  # RuntimeError: torch refuses a negative or zero size
        raise ModelError(f"{name}: architecture {arch} is incomplete or malformed (expected the parameters of a registered "
                         f"network, with positive sizes): {exc}") from exc
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
    # numbers, not quoted numbers or booleans (np.asarray and float() would read "0.5" and true)
    bad = [k for k in keys[:2] if not isinstance(d[k], list) or not all(is_real(v) for v in d[k])]
    bad += [k for k in keys[2:] if not is_real(d[k])]
    if bad:
        raise ModelError(f"{name}: the sidecar's scaler: expected lists of numbers for feature_mean and feature_std and "
                         f"numbers for target_mean and target_std, found {', '.join(f'{k}={d[k]!r:.80}' for k in bad)}")
    try:
        sc = Scaler.from_dict(d)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{name}: the sidecar's scaler is malformed: {exc}") from exc
    if sc.feature_mean.shape != (n_features,) or sc.feature_std.shape != (n_features,):
        raise ModelError(f"{name}: the sidecar's scaler: expected {n_features} feature means and standard deviations, "
                         f"found {sc.feature_mean.shape} and {sc.feature_std.shape}")
    finite = np.isfinite(sc.feature_mean).all() and np.isfinite(sc.feature_std).all() and np.isfinite([sc.target_mean, sc.target_std]).all()
    if not (finite and (sc.feature_std > 0).all() and sc.target_std > 0):
        raise ModelError(f"{name}: the sidecar's scaler: expected finite statistics with positive standard deviations, found {d!r:.200}")
    return sc


def _legacy_spec(d: Any, names: Any, name: str, *, warn: bool) -> FeatureSpec | None:
    """The feature spec of a model saved before repeated windows or trends were refused, or None when that is not the problem.

    Such a spec names each repeated window's features twice, and the
    network's input width (``n_in``) and the scaler count those columns:
    the model can only run with the spec as saved. It is rebuilt from the
    spec with the repeats removed (validating every other field) and then
    given back the saved ``windows``/``trends``; its names must be the
    sidecar's ``feature_names``.
    """
    if not isinstance(d, dict):
        return None
    repeated = {k: d[k] for k in ("windows", "trends")
                if isinstance(d.get(k), list) and all(is_real(w) and float(w).is_integer() for w in d[k]) and len(set(d[k])) < len(d[k])}
    if not repeated:
        return None
    try:
        spec = FeatureSpec.from_dict({**d, **{k: list(dict.fromkeys(v)) for k, v in repeated.items()}})
    except ConfigError:
        return None
    for k, v in repeated.items():
        object.__setattr__(spec, k, tuple(int(w) for w in v))
    if spec.names != names:
        return None
    if warn:
        what = ", ".join(f"{k}={tuple(spec.to_dict()[k])}" for k in repeated)
        warn_user(
            f"{name}: saved by an older fusets_dl with repeated values in its feature spec ({what}), which FeatureSpec now "
            f"refuses (each repeat gives the same features). Its network takes {len(names)} inputs, the repeated columns "
            "included, so it is loaded with the spec as saved and predicts as it did when saved. Train a new model with "
            "distinct values to get a spec that FeatureSpec(...) accepts (fine-tuning keeps this spec)",
        )
    return spec


def model_from_parts(meta: dict[str, Any], blob: bytes, *, name: str = "weights", warn_legacy: bool = True) -> FusionModel:
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
    warn_legacy : bool
        Warn when the feature spec is one of an older version that
        FeatureSpec now refuses (repeated windows or trends; the model is
        loaded with it, see below). False where the model is rebuilt from
        a payload already warned about (inference workers).

    Returns
    -------
    FusionModel
        With its network in eval mode. A model saved before repeated
        ``windows``/``trends`` were refused keeps its spec as saved (its
        network reads the repeated columns), with a ``UserWarning``.

    Raises
    ------
    ModelError
        A sidecar without ``feature_spec``, ``feature_names``, ``scaler`` or
        ``architecture``, a malformed scaler, metadata (``config``,
        ``metrics``, ``history``, ``blocks``, ``info``) of the wrong type,
        unreadable weights, feature names that differ from the spec, an
        unknown or malformed architecture, or weights that do not fit it.
    """
    missing = [k for k in _REQUIRED if k not in meta]
    if missing:
        raise ModelError(f"{name}: the sidecar lacks {missing}; expected the keys {list(_REQUIRED)}, found {sorted(meta)}")
    check_metadata(meta, name)
    state = _load_state(blob, name)
    try:
        spec = FeatureSpec.from_dict(meta["feature_spec"])
    except ConfigError as exc:
        legacy = _legacy_spec(meta["feature_spec"], meta.get("feature_names"), name, warn=warn_legacy)
        if legacy is None:
            raise ModelError(f"{name}: the sidecar's feature_spec is invalid: {exc}") from exc
        spec = legacy
    if spec.names != meta.get("feature_names"):
        raise ModelError(f"{name}: feature names {meta.get('feature_names')} do not match its spec {spec.names}")
    arch = meta["architecture"]
    if not isinstance(arch, dict):
        raise ModelError(f"{name}: the sidecar's architecture: expected a mapping with a 'type', found {type(arch).__name__} {arch!r:.80}")
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

    s = stem(path)
    try:
        meta = json.loads(s.with_name(s.name + ".json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("kind") if isinstance(meta, dict) else None


def _check_found(path: Path, given: Any) -> None:
    """Name what was expected when ``path`` has no model pair: the folder's models, or the shipped names for a bare name."""
    s = stem(path)
    if s.with_name(s.name + ".json").exists() and s.with_name(s.name + ".safetensors").exists():
        return
    if path.is_dir():
        found = sorted(p.stem for p in path.glob("*.json") if p.with_suffix(".safetensors").is_file())
        raise ModelError(f"load_model: expected a model's .json sidecar, .safetensors weights or their common stem, found the folder "
                         f"{str(path)!r}; the models in it: {found[:20] or 'none'} (pass one of them, e.g. {str(path / (found[0] if found else 'model'))!r})")
    if isinstance(given, str) and not s.with_name(s.name + ".json").exists() and not s.with_name(s.name + ".safetensors").exists():
        raise ModelError(f"load_model: expected the path of a saved model or one of the shipped model names {sorted(PRETRAINED)}, "
                         f"found {given!r}: model file missing: neither {s.name}.json nor {s.name}.safetensors is in {str(s.parent)!r}")


def load_model(path: str | Path, *, expect_spec: FeatureSpec | None = None) -> FusionModel:
    """Load a model written by :meth:`FusionModel.save`, or a model shipped with the package by name.

    Parameters
    ----------
    path : str or Path
        The ``.json`` sidecar, the ``.safetensors`` file or their common stem
        (``~`` is expanded); or a name of :data:`PRETRAINED` (a ``str``;
        ``"pretrained"``: the general pre-trained model, see
        ``docs/pretrained.md``). To load a file of yours with such a name,
        pass a path (``"./pretrained"``).
    expect_spec : FeatureSpec, optional
        Refuse the model unless it was trained on exactly these features.

    Returns
    -------
    FusionModel
        With ``info["loaded_from"]`` and ``info["loaded_at"]`` set.

    Raises
    ------
    ModelError
        Missing or truncated files (a folder or an unknown name: the message
        lists the models in the folder or the shipped names), a weights hash
        that does not match the sidecar, a sidecar edited after saving (its
        own SHA-256, tampering), a sidecar missing a key or with a value of
        the wrong type, an unknown format, or a feature-spec mismatch.
        ``path`` not a ``str`` or path.
    ConfigError
        ``expect_spec`` is not a :class:`FeatureSpec`.

    Warns
    -----
    UserWarning
        A model saved by an older fusets_dl with repeated ``windows`` or
        ``trends`` in its feature spec: loaded with that spec (its network
        reads the repeated columns), see :func:`model_from_parts`.
    """
    if expect_spec is not None and not isinstance(expect_spec, FeatureSpec):
        raise ConfigError(f"load_model: expect_spec: expected a FeatureSpec or None, found {type(expect_spec).__name__} {expect_spec!r:.80}")
    given = path
    if isinstance(path, str) and path in PRETRAINED:
        path = pretrained_path(path)
    path = model_path(path)
    _check_found(path, given)
    if _kind(path) == "sequence":  # a SequenceModel (sidecar "kind": "sequence")
        from .sequence_model import load_sequence_model

        return load_sequence_model(path)  # type: ignore[return-value]
    meta, blob, w_path, j_path = read_model_pair(path, "fusets_dl.FusionModel", FORMAT_VERSION)
    model = model_from_parts(meta, blob, name=w_path.name)
    model.info.update({"loaded_from": str(j_path), "loaded_at": datetime.now(timezone.utc).isoformat()})
    if expect_spec is not None:
        model.check_compatible(expect_spec)
    return model
