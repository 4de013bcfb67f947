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
    required : numpy.ndarray, optional
        Boolean mask (f,) of the features a row cannot do without (used by
        :meth:`predict`); default: all.
    """

    def __init__(self, body: nn.Module, dtype: torch.dtype, scaler: Scaler | None = None, required: np.ndarray | None = None) -> None:
        super().__init__()
        self.body = body.to(dtype)
        self.dtype = dtype
        self.standardise = scaler is not None
        if scaler is not None:
            self.register_buffer("shift", torch.from_numpy(np.asarray(scaler.feature_mean, dtype=np.float32)).clone())
            self.register_buffer("scale", torch.from_numpy(1.0 / np.asarray(scaler.feature_std, dtype=np.float32)).clone())
            self.target = (scaler.target_mean, scaler.target_std)
        req = None if required is None or bool(np.all(required)) else np.flatnonzero(np.asarray(required, dtype=bool))
        self.register_buffer("required_idx", None if req is None else torch.from_numpy(req.astype(np.int64)))

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

    def predict(self, x: torch.Tensor, *, select: bool | None = None) -> torch.Tensor:
        """NDVI of raw feature rows, NaN where a required feature is not finite: one batch, all on ``x``'s device.

        The row selection happens here, on the device, instead of NumPy
        passes over a whole chunk: a row is usable when its required
        features are finite; an absent (non-finite) optional feature takes
        its training mean, which is 0 after standardisation. Each row's
        result depends on that row only, so running the unusable rows
        through the network too and masking them afterwards gives the same
        values as gathering the usable ones first.

        Parameters
        ----------
        x : torch.Tensor
            Raw features (batch, f), float32 (needs the scaler given at construction).
        select : bool, optional
            Gather the usable rows before the network (saves compute when
            many rows are unusable, costs a sync and a gather); None decides
            on CPU by the usable share (below 3/4), never on CUDA (no host
            synchronisation per batch).

        Returns
        -------
        torch.Tensor
            float32 (batch,) in [-1, 1], NaN where a required feature is missing.
        """
        z = (x - self.shift) * self.scale
        # one reduction instead of an elementwise isfinite: a row sum is finite only when every term is
        # (a finite sum overflowing to inf, |z| near 1e38, would mark the row unusable: NaN, never a wrong number)
        ok = torch.isfinite((z if self.required_idx is None else z.index_select(1, self.required_idx)).sum(dim=1))
        z = torch.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)  # optional features: their mean; required ones: row masked below
        if select is None:
            select = x.device.type == "cpu" and 4 * int(ok.sum()) < 3 * ok.shape[0]
        mean, std = self.target
        if select:
            out = torch.full((x.shape[0],), float("nan"), dtype=torch.float32, device=x.device)
            if bool(ok.any()):
                y = self.body(z[ok].to(self.dtype)).float().reshape(-1)
                out[ok] = (y * std + mean).clamp_(-1.0, 1.0)
            return out
        y = self.body(z.to(self.dtype)).float().reshape(-1)
        y = (y * std + mean).clamp_(-1.0, 1.0)
        return torch.where(ok, y, torch.full_like(y, float("nan")))


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
    net = InferenceNet(model.network.fused(), dtype, model.scaler if raw else None, model.spec.required if raw else None)
    net = net.to(dev).eval()
    cache[key] = (model.network, model.scaler, version, net)
    return net
