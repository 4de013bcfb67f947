""":class:`SequenceModel`: the whole-series network + its normalisation statistics + metadata, saved without pickle.

Saved like :class:`~fusets_dl.models.FusionModel`: weights in safetensors,
everything else in a JSON sidecar (``"kind": "sequence"``) carrying both
SHA-256, so :func:`fusets_dl.load_model` reads either kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from .._safeio import read_pair, write_pair
from ..errors import ModelError
from ..runtime import resolve_device
from . import weights as _weights
from .sequence import CHANNELS, SequenceNet, build_sequence_net, hide_ndvi, sequence_inputs

__all__ = ["SEQUENCE_FORMAT", "SequenceModel", "load_sequence_model", "sequence_from_parts"]

#: ``format`` field of the sidecar.
SEQUENCE_FORMAT = "fusets_dl.SequenceModel"
_VERSION = 1
_STATS = ("vv_mean", "vv_std", "vh_mean", "vh_std", "ratio_mean", "ratio_std", "ndvi_mean", "ndvi_std")


@dataclass
class SequenceModel:
    """A trained whole-series gap-filling network with everything needed to apply it.

    Parameters
    ----------
    network : SequenceNet
        The network (inputs of :func:`fusets_dl.models.sequence.sequence_inputs`).
    stats : dict
        Training-set means and standard deviations of VV, VH, VV-VH (dB) and NDVI.
    architecture : dict
        ``channels``, ``dilations``, ``kernel``.
    spec : dict
        ``s1_only`` (default inference mode), ``orbit_gap_minutes`` (orbit
        grouping), ``channels`` (input channel names).
    config : dict
        The training configuration.
    metrics : dict
        Held-out metrics (hidden spells and S1-only, on test blocks).
    history : list of dict
        Per epoch: training and validation loss, seconds.
    blocks : dict
        Block split of each training cube (``{"cubes": [split, ...]}``).
    info : dict
        Version, creation time, training data, provenance.
    """

    network: SequenceNet
    stats: dict[str, float]
    architecture: dict[str, Any]
    spec: dict[str, Any] = field(default_factory=lambda: {"s1_only": False, "orbit_gap_minutes": 3.0, "channels": list(CHANNELS)})
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    blocks: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    #: What dispatching code checks (``model.kind == "sequence"``).
    kind: ClassVar[str] = "sequence"

    @property
    def radius(self) -> int:
        """Dates on each side that one output sees (the window half-width needed)."""
        return int(self.network.radius)

    # ------------------------------------------------------------------ inference
    def predict_series(
        self,
        vv: np.ndarray,
        vh: np.ndarray,
        ndvi: np.ndarray,
        angle: np.ndarray | None,
        tchan: np.ndarray,
        groups: np.ndarray,
        *,
        s1_only: bool | None = None,
        batch_size: int | None = None,
        device: str | torch.device | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """NDVI mean and std at every date of P pixel series (P, T).

        Parameters
        ----------
        vv, vh, ndvi : numpy.ndarray
            (P, T): backscatter in dB and clear NDVI (NaN where not clear).
        angle : numpy.ndarray, optional
            Incidence angle (P, T) in degrees, or None.
        tchan : numpy.ndarray
            (3, T) time channels (:func:`fusets_dl.models.sequence.time_channels`).
        groups : numpy.ndarray
            Orbit group of each date (T,).
        s1_only : bool, optional
            Ignore the NDVI (pure S1 prediction); None takes ``spec["s1_only"]``.
        batch_size : int, optional
            Pixel series per forward pass (default 2048).
        device : str or torch.device, optional
            None takes ``fdl.set_options(device=...)``.

        Returns
        -------
        mean, std : numpy.ndarray
            float32 (P, T); NaN at pixels without any radar value.

        Raises
        ------
        ModelError
            Arrays of different shapes.
        """
        vv = np.asarray(vv, dtype=np.float32)
        if vv.ndim != 2 or np.shape(vh) != vv.shape or np.shape(ndvi) != vv.shape or tchan.shape != (3, vv.shape[1]):
            raise ModelError(f"SequenceModel: expected vv, vh, ndvi of one shape (pixels, time) and time channels (3, time), "
                             f"found {vv.shape}, {np.shape(vh)}, {np.shape(ndvi)}, {tchan.shape}")
        s1_only = bool(self.spec.get("s1_only", False)) if s1_only is None else bool(s1_only)
        p, t = vv.shape
        mean = np.full((p, t), np.nan, dtype=np.float32)
        std = np.full((p, t), np.nan, dtype=np.float32)
        if p == 0 or t == 0:
            return mean, std
        dev = resolve_device(device)
        net = self.network.to(dev).eval()
        bs = int(batch_size or 2048)
        r = self.radius
        with torch.inference_mode():
            for i in range(0, p, bs):
                sl = slice(i, i + bs)
                x = sequence_inputs(vv[sl], vh[sl], ndvi[sl], None if angle is None else angle[sl], tchan, groups, self.stats)
                if s1_only:
                    hide_ndvi(x, np.ones((x.shape[0], t), dtype=bool))
                xt = torch.nn.functional.pad(torch.from_numpy(x).to(dev), (r, r))
                out = net(xt)[:, :, r : r + t].float().cpu().numpy()
                mean[sl] = out[:, 0] * self.stats["ndvi_std"] + self.stats["ndvi_mean"]
                std[sl] = np.exp(0.5 * out[:, 1]) * self.stats["ndvi_std"]
        any_s1 = (np.isfinite(vv) & np.isfinite(np.asarray(vh, dtype=np.float32))).any(axis=1)
        mean[~any_s1] = np.nan
        std[~any_s1] = np.nan
        np.clip(mean, -1.0, 1.0, out=mean)
        return mean, std

    # ------------------------------------------------------------------ persistence
    def to_json_dict(self, weights_sha256: str) -> dict[str, Any]:
        """The JSON sidecar content.

        Parameters
        ----------
        weights_sha256 : str
            SHA-256 of the safetensors bytes.

        Returns
        -------
        dict
            ``format``, ``kind``, version, hash, stats, architecture, spec,
            config, metrics, history, blocks, info.
        """
        return {
            "format": SEQUENCE_FORMAT,
            "kind": self.kind,
            "format_version": _VERSION,
            "weights_sha256": weights_sha256,
            "stats": {k: float(self.stats[k]) for k in _STATS},
            "architecture": self.architecture,
            "spec": self.spec,
            "config": self.config,
            "metrics": self.metrics,
            "history": self.history,
            "blocks": self.blocks,
            "info": self.info,
        }

    def _weights(self) -> tuple[bytes, str]:
        return _weights.cached_weights(self, self.network)

    def state_bytes(self) -> bytes:
        """The weights as safetensors bytes.

        Returns
        -------
        bytes
            Serialised once while the weights stay the same.
        """
        return self._weights()[0]

    @property
    def sha256(self) -> str:
        """SHA-256 of the weights as saved."""
        return self._weights()[1]

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.safetensors`` and ``<path>.json`` (atomically).

        Parameters
        ----------
        path : str or Path
            May end with ``.json`` or ``.safetensors`` or have no suffix.

        Returns
        -------
        Path
            The JSON sidecar's path.
        """
        return write_pair(path, self.state_bytes(), self.to_json_dict)


def sequence_from_parts(meta: dict[str, Any], blob: bytes, *, name: str = "weights") -> SequenceModel:
    """Build a :class:`SequenceModel` from its sidecar content and safetensors bytes.

    Parameters
    ----------
    meta : dict
        The sidecar (as :meth:`SequenceModel.to_json_dict` writes it).
    blob : bytes
        The safetensors weights.
    name : str
        What to call the weights in error messages.

    Returns
    -------
    SequenceModel
        With its network in eval mode.

    Raises
    ------
    ModelError
        Another kind, missing statistics or architecture, unreadable
        weights, or weights that do not fit the architecture.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    if meta.get("kind") != "sequence":
        raise ModelError(f"{name}: expected a sequence model (kind 'sequence'), found kind {meta.get('kind')!r}")
    stats = meta.get("stats")
    if not isinstance(stats, dict) or any(k not in stats for k in _STATS) or not all(np.isfinite(float(stats[k])) for k in _STATS):
        raise ModelError(f"{name}: the sidecar's stats: expected finite {list(_STATS)}, found {stats!r:.200}")
    if any(float(stats[k]) <= 0 for k in _STATS if k.endswith("_std")):
        raise ModelError(f"{name}: the sidecar's stats: expected positive standard deviations, found {stats!r:.200}")
    arch = meta.get("architecture")
    try:
        net = build_sequence_net(arch)  # type: ignore[arg-type]
        state = load(blob)
        net.load_state_dict(state, strict=True)
    except (KeyError, TypeError, ValueError, RuntimeError, SafetensorError) as exc:
        raise ModelError(f"{name}: weights do not load into the architecture {arch!r:.200}: {exc}") from exc
    return SequenceModel(
        network=net.eval(),
        stats={k: float(stats[k]) for k in _STATS},
        architecture=arch,
        spec=dict(meta.get("spec", {})),
        config=meta.get("config", {}),
        metrics=meta.get("metrics", {}),
        history=meta.get("history", []),
        blocks=meta.get("blocks", {}),
        info=dict(meta.get("info", {})),
    )


def load_sequence_model(path: str | Path) -> SequenceModel:
    """Load a model written by :meth:`SequenceModel.save` (hashes checked).

    Parameters
    ----------
    path : str or Path
        The ``.json`` sidecar, the ``.safetensors`` file or their stem.

    Returns
    -------
    SequenceModel
        With ``info["loaded_from"]`` and ``info["loaded_at"]``.

    Raises
    ------
    ModelError
        Missing files, hash mismatches, another format, bad content.
    """
    meta, blob, w_path, j_path = read_pair(path, SEQUENCE_FORMAT, _VERSION)
    model = sequence_from_parts(meta, blob, name=w_path.name)
    model.info.update({"loaded_from": str(j_path), "loaded_at": datetime.now(timezone.utc).isoformat()})
    return model
