"""The inference form of a model's network: BatchNorm folded, standardisation inside, one per device and dtype.

On CPUs with native bfloat16 a folded Linear/GELU stack (the default MLP)
runs as :class:`OneDNNStack`: one oneDNN call per layer (matrix product, bias
and GELU fused), about a third less CPU time per row than the layer-by-layer
bfloat16 network, and closer to float32 (the last layer computes in float32).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from .ensemble import MeanOf
from .scaler import Scaler
from .weights import weights_key

if TYPE_CHECKING:
    from .fusion_model import FusionModel

__all__ = ["InferenceNet", "OneDNNStack", "inference_network"]


def _stack_layers(body: nn.Module) -> list[tuple[nn.Linear, str | None]] | None:
    """``[(linear, gelu algorithm or None), ...]`` when ``body`` is Linear, GELU, ..., Linear (one output); else None."""
    mods = list(body) if isinstance(body, nn.Sequential) else []
    if len(mods) < 3 or len(mods) % 2 == 0:
        return None
    layers: list[tuple[nn.Linear, str | None]] = []
    for i in range(0, len(mods), 2):
        lin = mods[i]
        act = mods[i + 1] if i + 1 < len(mods) else None
        if not isinstance(lin, nn.Linear) or lin.bias is None or (act is not None and not isinstance(act, nn.GELU)):
            return None
        layers.append((lin, None if act is None else act.approximate))
    if layers[-1][0].out_features != 1:
        return None
    return layers


def _onednn_bf16() -> bool:
    """True when this torch has oneDNN's fused linear op and the CPU computes bfloat16 in it."""
    try:
        return bool(torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise") and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class OneDNNStack(nn.Module):
    """A folded Linear/GELU stack on CPU in bfloat16, each hidden layer one oneDNN call with bias and GELU fused.

    The layer-by-layer network spends about a third of its CPU time in
    GELU, a separate pass over each hidden activation, and bias copies;
    here oneDNN applies bias and GELU (the same erf or tanh form as the
    trained ``nn.GELU``) to each output block while it is in cache. The
    last layer (16 -> 1 in the default MLP) computes in float32: its
    bfloat16 output alone rounds the standardised NDVI to 8 bits. The input
    enters as two bfloat16 terms, ``hi = bf16(x)`` and ``lo = bf16(x - hi)``,
    through the first layer's weights twice (one product with 2f inputs):
    rounding the standardised features to 8 bits was the largest error.

    NDVI RMSE to the float32 network with the pretrained model: 4.6e-4 on
    the Flanders patch (0.007 at most) and 6.9e-4 on the gfmap patch
    (0.005 at most); without the ``lo`` term 7.3e-4 and 1.1e-3, and the
    layer-by-layer bfloat16 network 9.0e-4 and 1.4e-3. The ``lo`` term costs
    about an eighth of the stack's time.

    Parameters
    ----------
    body : torch.nn.Sequential
        Linear, GELU, ..., Linear with one output, as
        :meth:`fusets_dl.models.mlp.MLP.fused` builds it (see
        :meth:`supports`).

    Raises
    ------
    ValueError
        ``body`` is not such a stack.
    """

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        layers = _stack_layers(body)
        if layers is None:
            raise ValueError(f"OneDNNStack: expected Linear, GELU, ..., Linear(out=1), found {body}")
        self.algorithms = [algo for _, algo in layers[:-1]]
        for i, (lin, _) in enumerate(layers):
            dtype = torch.float32 if i == len(layers) - 1 else torch.bfloat16
            w = lin.weight.detach().to(dtype)
            if i == 0:  # the same weights for the hi and the lo part of the input
                w = torch.cat([w, w], dim=1)
            self.register_buffer(f"w{i}", w.contiguous())
            self.register_buffer(f"b{i}", lin.bias.detach().to(dtype).contiguous())
        self.n_layers = len(layers)

    @staticmethod
    def supports(body: nn.Module) -> bool:
        """Whether ``body`` can run as a OneDNNStack here.

        Parameters
        ----------
        body : torch.nn.Module
            A folded network.

        Returns
        -------
        bool
            True for Linear, GELU, ..., Linear(out=1) when this torch
            exposes oneDNN's fused linear op and the CPU has native bfloat16.
        """
        return _stack_layers(body) is not None and _onednn_bf16()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The stack's output for float32 inputs.

        Parameters
        ----------
        x : torch.Tensor
            Standardised features (batch, f), float32, on CPU.

        Returns
        -------
        torch.Tensor
            float32 (batch, 1).
        """
        x = x.float()
        h = torch.empty((x.shape[0], 2 * x.shape[1]), dtype=torch.bfloat16, device=x.device)
        hi, lo = h[:, : x.shape[1]], h[:, x.shape[1] :]
        hi.copy_(x)
        lo.copy_(x - hi.float())
        for i, algo in enumerate(self.algorithms):
            h = torch.ops.mkldnn._linear_pointwise(h, getattr(self, f"w{i}"), getattr(self, f"b{i}"), "gelu", [], algo)
        last = self.n_layers - 1
        return nn.functional.linear(h.float(), getattr(self, f"w{last}"), getattr(self, f"b{last}"))


class InferenceNet(nn.Module):
    """An inference network taking float32 features, optionally standardising them itself.

    With a scaler the network takes raw features: each batch is standardised
    in float32 (in cache-sized batches, on the inference device, instead of
    NumPy passes over the whole chunk) and then cast to ``dtype``, so bf16
    inference does not round raw values such as dB or days.

    Parameters
    ----------
    body : torch.nn.Module
        The (fused) network on standardised features; a :class:`OneDNNStack`
        takes float32 and casts itself.
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
        own_cast = _casts_itself(body)
        self.body = body if own_cast else body.to(dtype)
        self.dtype = dtype
        self.input_dtype = torch.float32 if own_cast else dtype
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
        return self.body(x.to(self.input_dtype)).to(self.dtype)

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
                y = self.body(z[ok].to(self.input_dtype)).float().reshape(-1)
                out[ok] = (y * std + mean).clamp_(-1.0, 1.0)
            return out
        y = self.body(z.to(self.input_dtype)).float().reshape(-1)
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
        In eval mode, on ``dev``; in bfloat16 on CPU its body is a
        :class:`OneDNNStack` where :meth:`OneDNNStack.supports` it.
    """
    cache = model.__dict__.setdefault("_fused", {})
    key = (str(dev), str(dtype), raw)
    version = weights_key(model.network)
    hit = cache.get(key)
    if hit is not None and hit[0] is model.network and hit[1] is model.scaler and hit[2] == version:
        return hit[3]
    body = model.network.fused()
    if dev.type == "cpu" and dtype == torch.bfloat16:
        body = _onednn(body)
    net = InferenceNet(body, dtype, model.scaler if raw else None, model.spec.required if raw else None)
    net = net.to(dev).eval()
    cache[key] = (model.network, model.scaler, version, net)
    return net


def _onednn(body: nn.Module) -> nn.Module:
    """``body`` as a :class:`OneDNNStack` where it is one, or the mean of OneDNNStacks for an ensemble of them."""
    if OneDNNStack.supports(body):
        return OneDNNStack(body)
    if isinstance(body, MeanOf) and all(OneDNNStack.supports(m) for m in body.members):
        return MeanOf([OneDNNStack(m) for m in body.members]).eval()
    return body


def _casts_itself(body: nn.Module) -> bool:
    """Whether ``body`` takes float32 and casts itself (a OneDNNStack, or a mean of them)."""
    if isinstance(body, MeanOf):
        return all(isinstance(m, OneDNNStack) for m in body.members)
    return isinstance(body, OneDNNStack)
