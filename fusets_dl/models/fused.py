"""The inference form of a model's network: BatchNorm folded, standardisation inside, one per device and dtype."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from .scaler import Scaler
from .weights import weights_key

if TYPE_CHECKING:
    from .fusion_model import FusionModel

__all__ = ["InferenceNet", "inference_network"]


class InferenceNet(nn.Module):
    """An inference network taking float32 features, optionally standardising them itself.

    With a scaler the network takes raw features: each batch is standardised
    in float32 (in cache-sized batches, on the inference device, instead of
    NumPy passes over the whole chunk) and then cast to ``dtype``, so bf16
    inference does not round raw values such as dB or days.

    Parameters
    ----------
    body : torch.nn.Module
        The (fused) network on standardised features.
    dtype : torch.dtype
        The dtype the body computes in.
    scaler : Scaler, optional
        Standardise raw features with it first.
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
        """Prediction in ``dtype`` (callers cast).

        Parameters
        ----------
        x : torch.Tensor
            Features (batch, f), float32: raw with a scaler, standardised without.

        Returns
        -------
        torch.Tensor
            Standardised NDVI (batch,) in ``dtype``.
        """
        if self.standardise:
            x = (x - self.shift) * self.scale
        return self.body(x.to(self.dtype))


def inference_network(model: FusionModel, dev: torch.device, dtype: torch.dtype, *, raw: bool = False) -> InferenceNet:
    """The inference network of ``model`` on ``dev`` in ``dtype``, built once per device, dtype and input kind.

    Cached on the model itself and checked against the network and scaler
    objects (not ``id``s, which Python reuses after garbage collection) and
    the weights' version (:func:`~fusets_dl.models.weights.weights_key`), so
    a new network, a new scaler or changed weights rebuild it.

    Parameters
    ----------
    model : FusionModel
        The model.
    dev : torch.device
        Where it runs.
    dtype : torch.dtype
        What it computes in.
    raw : bool
        The network takes unstandardised features (it standardises them itself).

    Returns
    -------
    InferenceNet
        In eval mode, on ``dev``.
    """
    cache = model.__dict__.setdefault("_fused", {})
    key = (str(dev), str(dtype), raw)
    version = weights_key(model.network)
    hit = cache.get(key)
    if hit is not None and hit[0] is model.network and hit[1] is model.scaler and hit[2] == version:
        return hit[3]
    net = InferenceNet(model.network.fused(), dtype, model.scaler if raw else None)
    net = net.to(dev).eval()
    cache[key] = (model.network, model.scaler, version, net)
    return net
