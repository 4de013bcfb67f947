"""Networks and :class:`FusionModel`: network + scaler + feature spec + metadata.

Models are saved without pickle: weights in safetensors, everything else
(feature spec, scaler, architecture, training configuration, metrics,
held-out blocks, version, SHA-256 of the weights) in a JSON sidecar.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._safeio import read_pair, write_pair
from ..errors import ModelError
from ..features import FeatureSpec
from ..runtime import _run_batches, resolve_device, resolve_precision

__all__ = ["FusionModel", "Scaler", "load_model", "model_from_parts"]

FORMAT_VERSION = 1


@dataclass
class Scaler:
    """Standardisation of features and target (mean and standard deviation)."""

    feature_mean: np.ndarray
    feature_std: np.ndarray
    target_mean: float
    target_std: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "feature_mean": [float(v) for v in self.feature_mean],
            "feature_std": [float(v) for v in self.feature_std],
            "target_mean": float(self.target_mean),
            "target_std": float(self.target_std),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scaler:
        """Inverse of :meth:`to_dict`."""
        return cls(
            np.asarray(d["feature_mean"], dtype=np.float32),
            np.asarray(d["feature_std"], dtype=np.float32),
            float(d["target_mean"]),
            float(d["target_std"]),
        )

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray) -> Scaler:
        """Fit on training samples (features (n, f), target (n,)); NaN (absent optional features) is skipped."""
        ok = np.isfinite(x)
        cnt = ok.sum(axis=0)
        mean = np.where(cnt > 0, np.where(ok, x, 0.0).sum(axis=0) / np.maximum(cnt, 1), 0.0)
        std = np.sqrt(np.where(ok, (x - mean) ** 2, 0.0).sum(axis=0) / np.maximum(cnt, 1))
        return cls(
            mean.astype(np.float32),
            np.where(std > 1e-6, std, 1.0).astype(np.float32),
            float(y.mean()),
            float(max(y.std(), 1e-6)),
        )


@dataclass
class FusionModel:
    """A trained fusion network with everything needed to apply it honestly.

    Attributes
    ----------
    network : MLP
        The torch module (standardised in, standardised out).
    spec : FeatureSpec
        The features it was trained on, in order.
    scaler : Scaler
        Feature and target standardisation.
    architecture : dict
        ``{"type": "mlp", "n_in", "hidden", "dropout", "batch_norm"}``.
    config : dict
        The training configuration.
    metrics : dict
        Held-out metrics (validation and test blocks).
    history : list of dict
        Per epoch: train loss, validation loss, learning rate, seconds.
    blocks : dict
        The spatial-block split: block size and the held-out block indices.
    info : dict
        Package version, creation time, training data summary.
    """

    network: nn.Module
    spec: FeatureSpec
    scaler: Scaler
    architecture: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    blocks: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ inference
    def standardise(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised features and the rows usable for prediction.

        A row needs every SAR and time feature; an absent optional feature
        (optical context, terrain: NaN) becomes 0, the modality baseline.
        """
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(self.spec.names):
            raise ModelError(f"predict: expected features of shape (n, {len(self.spec.names)}), found {x.shape}")
        ok = np.isfinite(x[:, self.spec.required]).all(axis=1)
        xs = (x - self.scaler.feature_mean) / self.scaler.feature_std
        return np.where(np.isfinite(xs), xs, 0.0).astype(np.float32), ok

    def modality_weights_array(self, x: np.ndarray, *, device: str | torch.device = "cpu") -> np.ndarray | None:
        """Per-sample modality weights (n, M) of a ``late`` or ``attention`` model (None otherwise).

        Columns follow ``self.network.names``; rows with missing SAR or time
        features are NaN. Shows where the model trusts the radar over the
        optical context.
        """
        if not hasattr(self.network, "modality_weights") or self.architecture.get("type") not in ("late", "attention"):
            return None
        xs, ok = self.standardise(x)
        out = np.full((xs.shape[0], len(self.network.names)), np.nan, dtype=np.float32)
        dev = resolve_device(device)
        net = _fused_cache(self, dev, torch.float32)
        with torch.inference_mode():
            for i in range(0, int(ok.sum()), 65536):
                rows = np.flatnonzero(ok)[i : i + 65536]
                out[rows] = net.body.modality_weights(torch.from_numpy(xs[rows]).to(dev)).float().cpu().numpy()
        return out

    def predict_array(
        self,
        x: np.ndarray,
        *,
        batch_size: int | None = None,
        device: str | torch.device | None = None,
        precision: str | None = None,
    ) -> np.ndarray:
        """NDVI for a feature matrix (n, f); rows with a missing SAR or time feature give NaN.

        The network runs in ``torch.inference_mode`` with BatchNorm folded into
        the linear layers; outputs are mapped back from the standardised target
        and clipped to [-1, 1]. ``precision="auto"`` computes in bfloat16 on
        CUDA and on CPUs with native bf16 (about twice as fast; predictions
        differ from float32 by 5e-4 NDVI on average, 0.015 at most on the
        bundled sample), float32 elsewhere; ``"float32"`` forces full precision.
        """
        dev = resolve_device(device)
        dtype = resolve_precision(precision, dev)
        # the network standardises each batch itself: one gather of the usable rows, no NumPy passes over them
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != len(self.spec.names):
            raise ModelError(f"predict: expected features of shape (n, {len(self.spec.names)}), found {x.shape}")
        ok = np.isfinite(x[:, self.spec.required]).all(axis=1)
        rows = x[ok]
        optional = np.setdiff1d(np.arange(x.shape[1]), self.spec.required)
        if optional.size:  # an absent optional feature takes its mean: 0 after standardisation, the baseline
            sub = rows[:, optional]
            bad = ~np.isfinite(sub)
            if bad.any():
                rows[:, optional] = np.where(bad, self.scaler.feature_mean[optional], sub)
        net = _fused_cache(self, dev, dtype, raw=True)
        out = np.full(ok.shape[0], np.nan, dtype=np.float32)
        if not ok.any():
            return out
        out[ok] = _run_batches(net, rows, batch_size=batch_size, device=dev) * self.scaler.target_std + self.scaler.target_mean
        np.clip(out, -1.0, 1.0, out=out)
        return out

    # ------------------------------------------------------------------ persistence
    def to_json_dict(self, weights_sha256: str) -> dict[str, Any]:
        """The JSON sidecar content."""
        return {
            "format": "fusets_dl.FusionModel",
            "format_version": FORMAT_VERSION,
            "weights_sha256": weights_sha256,
            "feature_spec": self.spec.to_dict(),
            "feature_names": self.spec.names,
            "scaler": self.scaler.to_dict(),
            "architecture": self.architecture,
            "config": self.config,
            "metrics": self.metrics,
            "history": self.history,
            "blocks": self.blocks,
            "info": self.info,
        }

    def state_bytes(self) -> bytes:
        """The weights as safetensors bytes."""
        from safetensors.torch import save

        state = {k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()}
        return save(state)

    @property
    def sha256(self) -> str:
        """SHA-256 of the weights as saved."""
        return hashlib.sha256(self.state_bytes()).hexdigest()

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.safetensors`` and ``<path>.json``; return the JSON path.

        ``path`` may end with ``.json`` or ``.safetensors`` or have no suffix.
        Files are written to temporary names and renamed, so an interrupted
        save never leaves a half-written model under the final name.
        """
        return write_pair(path, self.state_bytes(), self.to_json_dict)

    def check_compatible(self, spec: FeatureSpec) -> None:
        """Refuse features that differ from the ones the model was trained on."""
        if spec.names != self.spec.names or spec != self.spec:
            raise ModelError(
                "feature spec mismatch: the model expects features "
                f"{self.spec.names} from {self.spec.to_json()}, found {spec.names} from {spec.to_json()}"
            )


class _Inference(nn.Module):
    """An inference network taking float32 features, optionally standardising them itself.

    With a scaler the network takes raw features: each batch is standardised
    in float32 (in cache-sized batches, on the inference device, instead of
    NumPy passes over the whole chunk) and then cast to ``dtype``, so bf16
    inference does not round raw values such as dB or days.
    """

    def __init__(self, body: nn.Module, dtype: torch.dtype, scaler: Scaler | None = None) -> None:
        super().__init__()
        self.body = body.to(dtype)
        self.dtype = dtype
        self.standardise = scaler is not None
        if scaler is not None:
            self.register_buffer("shift", torch.from_numpy(np.asarray(scaler.feature_mean, dtype=np.float32)).clone())
            self.register_buffer("scale", torch.from_numpy(1.0 / np.asarray(scaler.feature_std, dtype=np.float32)).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Prediction in ``dtype`` (callers cast)."""
        if self.standardise:
            x = (x - self.shift) * self.scale
        return self.body(x.to(self.dtype))


def _fused_cache(model: FusionModel, dev: torch.device, dtype: torch.dtype, *, raw: bool = False) -> nn.Module:
    """The inference network on ``dev`` in ``dtype``, built once per model object, device, dtype and input kind.

    ``raw=True``: the network takes unstandardised features.
    Cached on the model itself and checked against the network object (not
    ``id``s, which Python reuses after garbage collection).
    """
    cache = model.__dict__.setdefault("_fused", {})
    key = (str(dev), str(dtype), raw)
    hit = cache.get(key)
    if hit is not None and hit[0] is model.network:
        return hit[1]
    net = _Inference(model.network.fused(), dtype, model.scaler if raw else None)
    net = net.to(dev).eval()
    cache[key] = (model.network, net)
    return net


def model_from_parts(meta: dict[str, Any], blob: bytes, *, name: str = "weights") -> FusionModel:
    """Build a :class:`FusionModel` from its JSON sidecar content and safetensors bytes.

    Checks that the feature names match the spec and that the weights fit the
    architecture; does not check the hash (callers do).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        state = load(blob)
    except (SafetensorError, ValueError) as exc:
        raise ModelError(f"{name}: not a readable safetensors file: {exc}") from exc
    spec = FeatureSpec.from_dict(meta["feature_spec"])
    if spec.names != meta.get("feature_names"):
        raise ModelError(f"{name}: feature names {meta.get('feature_names')} do not match its spec {spec.names}")
    arch = meta["architecture"]
    from .registry import build_network

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
    net.eval()
    model = FusionModel(
        network=net,
        spec=spec,
        scaler=Scaler.from_dict(meta["scaler"]),
        architecture=arch,
        config=meta.get("config", {}),
        metrics=meta.get("metrics", {}),
        history=meta.get("history", []),
        blocks=meta.get("blocks", {}),
        info=dict(meta.get("info", {})),
    )
    return model


def load_model(path: str | Path, *, expect_spec: FeatureSpec | None = None) -> FusionModel:
    """Load a model written by :meth:`FusionModel.save`.

    Parameters
    ----------
    path : str or Path
        The ``.json`` sidecar, the ``.safetensors`` file or their common stem.
    expect_spec : FeatureSpec, optional
        Refuse the model unless it was trained on exactly these features.

    Raises
    ------
    ModelError
        Missing or truncated files, a weights hash that does not match the
        sidecar (tampering), an unknown format, or a feature-spec mismatch.
    """
    meta, blob, w_path, j_path = read_pair(path, "fusets_dl.FusionModel", FORMAT_VERSION)
    model = model_from_parts(meta, blob, name=w_path.name)
    model.info.update({"loaded_from": str(j_path), "loaded_at": datetime.now(timezone.utc).isoformat()})
    if expect_spec is not None:
        model.check_compatible(expect_spec)
    return model
