""":class:`FusionModel`: network + scaler + feature spec + metadata, and how it predicts.

Models are saved without pickle: weights in safetensors, everything else
(feature spec, scaler, architecture, training configuration, metrics,
held-out blocks, version, SHA-256 of the weights) in a JSON sidecar.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._safeio import write_pair
from ..errors import ModelError
from ..features import FeatureSpec
from ..options import option
from ..runtime import predict_rows, resolve_device, resolve_precision
from ..validate import is_whole
from . import weights as _weights
from .fused import inference_network
from .registry import has_modality_weights
from .scaler import Scaler

__all__ = ["FORMAT_VERSION", "FusionModel", "check_batch_size", "check_device_name", "inference_device"]

#: Version of the saved format (JSON sidecar + safetensors weights).
FORMAT_VERSION = 1
#: Device types a network can be sent to (``mps``: where this torch has it).
_DEVICE_TYPES = ("cpu", "cuda", "mps")
_DEVICE_EXPECTED = "'auto', 'cpu', 'cuda' or 'cuda:N' (a str or torch.device)"


def check_device_name(device: str | torch.device | None) -> None:
    """Refuse a device that is not a name of one (``"gpu"``, ``"CPU"``, ``"meta"``), without asking whether it is present.

    For lazy results: a bad name fails when the call is made, while whether
    CUDA is present is decided where the chunks run.

    Parameters
    ----------
    device : str, torch.device or None
        None takes ``fdl.set_options(device=...)``.

    Raises
    ------
    ModelError
        Not ``"auto"``, ``"cpu"``, ``"cuda[:N]"`` (or ``"mps"``) or such a ``torch.device``.
    """
    device = option("device", device)
    if isinstance(device, str) and device == "auto":
        return
    try:
        dev = device if isinstance(device, torch.device) else torch.device(device) if isinstance(device, str) else None
    except (RuntimeError, ValueError) as exc:
        raise ModelError(f"device: expected {_DEVICE_EXPECTED}, found {device!r}") from exc
    if dev is None or dev.type not in _DEVICE_TYPES:
        raise ModelError(f"device: expected {_DEVICE_EXPECTED}, found {device!r}")


def inference_device(device: str | torch.device | None) -> torch.device:
    """:func:`~fusets_dl.runtime.resolve_device`, refusing a device this machine does not have.

    Parameters
    ----------
    device : str, torch.device or None
        ``"auto"``, ``"cpu"``, ``"cuda[:N]"``; None takes ``fdl.set_options(device=...)``.

    Returns
    -------
    torch.device
        A device the network can be sent to.

    Raises
    ------
    ModelError
        An unknown device name; CUDA (also as a ``torch.device``) where there
        is none, or a CUDA index beyond the devices present (``"cuda:7"`` on
        a one-GPU machine); ``"mps"`` where this torch has none.
    """
    check_device_name(device)
    dev = resolve_device(device)
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ModelError(f"device {str(dev)!r} requested but CUDA is not available here; use device='auto' or 'cpu'")
        if dev.index is not None and dev.index >= n:
            raise ModelError(f"device {str(dev)!r}: expected an index in 0..{n - 1} (this machine has {n} CUDA device(s)), found {dev.index}")
    elif dev.type == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ModelError(f"device {str(dev)!r} requested but this torch has no MPS device here; use device='auto' or 'cpu'")
    return dev


def check_batch_size(batch_size: Any) -> None:
    """Refuse a batch size that is not None or a positive integer (0 silently meant the default, 2.5 meant 2).

    Parameters
    ----------
    batch_size : object
        Rows per forward pass as given; None takes ``fdl.set_options(batch_size=...)``.

    Raises
    ------
    ModelError
        A bool, a number that is not whole (2.5; 65536.0 passes), or below 1.
    """
    if batch_size is None:
        return
    # a whole float (65536.0, as JSON clients may send it) is accepted, as int() read it before
    if isinstance(batch_size, np.bool_) or not is_whole(batch_size) or batch_size < 1:
        raise ModelError(f"batch_size: expected a positive integer (rows per forward pass) or None, found {batch_size!r} ({type(batch_size).__name__})")


@dataclass
class FusionModel:
    """A trained fusion network with everything needed to apply it honestly.

    Parameters
    ----------
    network : torch.nn.Module
        The torch module (standardised in, standardised out), one of the
        networks of :data:`fusets_dl.models.registry.NETWORKS`.
    spec : FeatureSpec
        The features it was trained on, in order.
    scaler : Scaler
        Feature and target standardisation.
    architecture : dict
        ``{"type": ..., **parameters}`` (see :func:`fusets_dl.models.registry.architecture`).
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

        Parameters
        ----------
        x : numpy.ndarray
            Features (n, f) in the order of ``spec.names``.

        Returns
        -------
        xs : numpy.ndarray
            Standardised features (n, f), float32, no NaN.
        ok : numpy.ndarray
            Boolean (n,): the row has every required feature.

        Raises
        ------
        ModelError
            ``x`` is not (n, f).
        """
        x = self._check_features(x)
        ok = np.isfinite(x[:, self.spec.required]).all(axis=1)
        xs = (x - self.scaler.feature_mean) / self.scaler.feature_std
        return np.where(np.isfinite(xs), xs, 0.0).astype(np.float32), ok

    def modality_weights_array(self, x: np.ndarray, *, device: str | torch.device | None = None) -> np.ndarray | None:
        """Per-sample modality weights (n, M) of a network that has them (``late``, ``attention``).

        Columns follow ``self.network.names``; rows with missing SAR or time
        features are NaN. Shows where the model trusts the radar over the
        optical context.

        Parameters
        ----------
        x : numpy.ndarray
            Features (n, f).
        device : str or torch.device, optional
            Where to compute; None takes ``fdl.set_options(device=...)``.

        Returns
        -------
        numpy.ndarray or None
            float32 (n, M); None when the network has no modality weights
            (see ``NetworkEntry.modality_weights``).
        """
        if not hasattr(self.network, "modality_weights") or not has_modality_weights(self.architecture):
            return None
        xs, ok = self.standardise(x)
        out = np.full((xs.shape[0], len(self.network.names)), np.nan, dtype=np.float32)
        dev = inference_device(device)
        net = inference_network(self, dev, torch.float32)
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
        and clipped to [-1, 1].

        Parameters
        ----------
        x : numpy.ndarray
            Features (n, f) in the order of ``spec.names`` (not modified).
        batch_size : int, optional
            Rows per forward pass; None takes ``fdl.set_options(batch_size=...)``
            (default: 16,384 on CPU, 1,048,576 on CUDA).
        device : str or torch.device, optional
            ``"auto"``, ``"cpu"``, ``"cuda[:n]"``; None takes
            ``fdl.set_options(device=...)``.
        precision : {"auto", "float32", "bfloat16"}, optional
            None takes ``fdl.set_options(precision=...)``. ``"auto"`` computes
            in bfloat16 on CUDA and on CPUs with native bf16 (about twice as
            fast; on CPU the fused :class:`~fusets_dl.models.fused.OneDNNStack`:
            4.6e-4 and 6.9e-4 NDVI RMSE to float32 with the pretrained model on
            the Flanders and gfmap patches), float32 elsewhere;
            ``"float32"`` forces full precision.

        Returns
        -------
        numpy.ndarray
            float32 (n,) in [-1, 1], NaN where a required feature is missing.

        Raises
        ------
        ModelError
            ``x`` is not (n, f) or not numbers (strings, booleans, complex,
            objects), or a bad device (also a CUDA device this machine does
            not have), precision or batch size (not None or a positive integer).
        """
        check_batch_size(batch_size)
        dev = inference_device(device)
        dtype = resolve_precision(precision, dev)
        # the network standardises, selects the usable rows and fills absent optional features per batch, on its device
        x = self._check_features(x)
        net = inference_network(self, dev, dtype, raw=True)
        return predict_rows(net, x, batch_size=batch_size, device=dev)

    def _check_features(self, x: np.ndarray) -> np.ndarray:
        """``x`` as float32 (n, f), or a ModelError naming the expected shape or dtype."""
        if hasattr(x, "dtypes") and hasattr(x, "to_numpy"):  # a pandas frame: nullable numbers with pd.NA become NaN
            import pandas as pd

            if all(pd.api.types.is_numeric_dtype(d) and not pd.api.types.is_bool_dtype(d) for d in x.dtypes):
                x = x.to_numpy(dtype=np.float32, na_value=np.nan)
        raw = np.asarray(x)
        # strings were parsed, booleans read as 0/1 and complex lost its imaginary part; an object array of numbers and
        # missing values (a pandas nullable frame, lists with None) is converted, its missing values NaN as before
        if raw.dtype.kind == "O" and not any(isinstance(v, (str, bytes, bool, np.bool_, complex, np.complexfloating)) for v in raw.ravel()):
            try:
                raw = np.asarray(x, dtype=np.float32)
            except (TypeError, ValueError) as exc:
                raise ModelError(f"predict: expected real-valued features, found an object array that is not numbers ({exc})") from exc
        if raw.dtype.kind not in "iuf":
            raise ModelError(f"predict: expected real-valued features (a float or integer array), found dtype {raw.dtype}")
        x = raw.astype(np.float32, copy=False)
        if x.ndim != 2 or x.shape[1] != len(self.spec.names):
            raise ModelError(f"predict: expected features of shape (n, {len(self.spec.names)}), found {x.shape}")
        return x

    # ------------------------------------------------------------------ persistence
    def to_json_dict(self, weights_sha256: str) -> dict[str, Any]:
        """The JSON sidecar content.

        Parameters
        ----------
        weights_sha256 : str
            SHA-256 of the safetensors bytes it travels with.

        Returns
        -------
        dict
            Format, version, hash, feature spec and names, scaler,
            architecture, config, metrics, history, blocks and info.
        """
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

    def _weights(self) -> tuple[bytes, str]:
        """The weights as safetensors bytes and their SHA-256, serialised once while they stay the same.

        Cached on the model, keyed on the network object and
        :func:`~fusets_dl.models.weights.weights_key` (the tensors' storage
        and version counters), so an optimiser step, ``load_state_dict`` or
        a new network invalidates it.
        """
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
        """SHA-256 of the weights as saved (computed once while the weights stay the same)."""
        return self._weights()[1]

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.safetensors`` and ``<path>.json``.

        Files are written to temporary names and renamed, so an interrupted
        save never leaves a half-written model under the final name.

        An existing model of the same name is replaced (each file by a
        rename); a JSON file there that is not a fusets_dl sidecar is never
        replaced. Missing folders are created.

        Parameters
        ----------
        path : str or Path
            May end with ``.json`` or ``.safetensors`` or have no suffix;
            ``~`` is expanded.

        Returns
        -------
        Path
            The JSON sidecar's path.

        Raises
        ------
        ModelError
            ``path`` is not a ``str`` or path.
        StoreExistsError
            A JSON file of that name exists and is not a fusets_dl sidecar.
        """
        from .files import model_path

        return write_pair(model_path(path, "save"), self.state_bytes(), self.to_json_dict)

    def check_compatible(self, spec: FeatureSpec) -> None:
        """Refuse features that differ from the ones the model was trained on.

        Parameters
        ----------
        spec : FeatureSpec
            The features about to be fed.

        Raises
        ------
        ModelError
            ``spec`` differs from ``self.spec`` (names or options).
        """
        if spec.names != self.spec.names or spec != self.spec:
            raise ModelError(
                "feature spec mismatch: the model expects features "
                f"{self.spec.names} from {self.spec.to_json()}, found {spec.names} from {spec.to_json()}"
            )
