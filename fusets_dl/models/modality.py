"""Fusion networks per strategy: early (one MLP), mid, late and attention (one branch per modality).

All take standardised features (batch, n_features) and return the
standardised NDVI (batch,). A modality whose features are all exactly zero
(its baseline after standardisation) is *absent*: modality dropout in training
produces such samples, and prediction gives them when a pixel has no clear S2
for months or a scene has no DEM. The late and attention networks leave an
absent modality out of their blend, and :meth:`ModalityNet.modality_weights`
exposes the per-sample weights.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ModelError
from ..runtime import Dropout

__all__ = ["ModalityNet"]


def _branch(n_in: int, widths: Sequence[int], dropout: float) -> tuple[nn.Sequential, int]:
    """Linear, LayerNorm, GELU (and Dropout) per width; returns the module and its output width."""
    layers: list[nn.Module] = []
    w = n_in
    for h in widths:
        layers += [nn.Linear(w, h), nn.LayerNorm(h), nn.GELU()]
        if dropout > 0:
            layers.append(Dropout(dropout))
        w = h
    return nn.Sequential(*layers), w


class ModalityNet(nn.Module):
    """One encoder per modality, fused in the middle, at the end, or by attention.

    Parameters
    ----------
    kind : {"mid", "late", "attention"}
        One of :attr:`KINDS`:
        ``mid``: encoder outputs concatenated, then a shared head.
        ``late``: each modality predicts NDVI on its own; the predictions are
        blended with learned weights (softmax over the modalities present).
        ``attention``: encoder outputs averaged with per-sample weights from
        a learned scorer (softmax over the modalities present), then a head.
    modalities : dict
        Modality name -> indices of its features in the input.
    encoder : sequence of int
        Widths of each modality encoder.
    hidden : sequence of int
        Widths of the head after fusion (``mid``, ``attention``).
    dropout : float
        Dropout after each hidden layer.
    """

    #: The fusion kinds this class builds (each is an entry of :data:`fusets_dl.models.registry.NETWORKS`).
    KINDS = ("mid", "late", "attention")

    def __init__(
        self,
        kind: str,
        modalities: dict[str, Sequence[int]],
        encoder: Sequence[int] = (64, 32),
        hidden: Sequence[int] = (64, 32),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ModelError(f"ModalityNet: expected kind in {self.KINDS}, found {kind!r}")
        if not modalities or any(len(ix) == 0 for ix in modalities.values()):
            raise ModelError(f"ModalityNet: every modality needs at least one feature, found {dict(modalities)}")
        self.kind = kind
        self.names = list(modalities)
        for m, ix in modalities.items():
            self.register_buffer(f"idx_{m}", torch.as_tensor(list(ix), dtype=torch.int64), persistent=False)
        self.encoders = nn.ModuleDict()
        width = 0
        for m, ix in modalities.items():
            enc, width = _branch(len(ix), encoder, dropout)
            self.encoders[m] = enc
        if kind == "mid":
            body, w = _branch(width * len(self.names), hidden, dropout)
            self.head = nn.Sequential(body, nn.Linear(w, 1))
        elif kind == "late":
            self.heads = nn.ModuleDict({m: nn.Linear(width, 1) for m in self.names})
            self.blend = nn.Parameter(torch.zeros(len(self.names)))
        else:
            self.scorers = nn.ModuleDict({m: nn.Sequential(nn.Linear(width, 16), nn.Tanh(), nn.Linear(16, 1)) for m in self.names})
            body, w = _branch(width, hidden, dropout)
            self.head = nn.Sequential(body, nn.Linear(w, 1))

    def _split(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        parts = [x[:, getattr(self, f"idx_{m}")] for m in self.names]
        present = torch.stack([(p != 0).any(dim=1) for p in parts], dim=1)  # (batch, M)
        return parts, present

    def _weights(self, enc: list[torch.Tensor], present: torch.Tensor) -> torch.Tensor:
        if self.kind == "late":
            logits = self.blend.to(enc[0].dtype).expand(present.shape[0], -1)
        else:
            logits = torch.cat([self.scorers[m](h) for m, h in zip(self.names, enc, strict=True)], dim=1)
        logits = logits.masked_fill(~present, float("-inf"))
        # a sample with no modality present at all: uniform weights instead of NaN
        none = ~present.any(dim=1, keepdim=True)
        logits = torch.where(none, torch.zeros_like(logits), logits)
        return torch.softmax(logits.float(), dim=1).to(enc[0].dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised prediction.

        Parameters
        ----------
        x : torch.Tensor
            Standardised features (batch, n_features); a modality whose
            features are all 0 is absent.

        Returns
        -------
        torch.Tensor
            Standardised NDVI (batch,).
        """
        parts, present = self._split(x)
        enc = [self.encoders[m](p) for m, p in zip(self.names, parts, strict=True)]
        if self.kind == "mid":
            return self.head(torch.cat(enc, dim=1)).squeeze(-1)
        w = self._weights(enc, present)
        if self.kind == "late":
            preds = torch.cat([self.heads[m](h) for m, h in zip(self.names, enc, strict=True)], dim=1)
            return (w * preds).sum(dim=1)
        fused = (w.unsqueeze(-1) * torch.stack(enc, dim=1)).sum(dim=1)
        return self.head(fused).squeeze(-1)

    def modality_weights(self, x: torch.Tensor) -> torch.Tensor | None:
        """Per-sample weight of each modality for ``late`` and ``attention``.

        Parameters
        ----------
        x : torch.Tensor
            Standardised features (batch, n_features).

        Returns
        -------
        torch.Tensor or None
            (batch, M) in the order of ``names``, summing to 1 over the
            modalities present (absent ones get 0); None for ``mid``.
        """
        if self.kind == "mid":
            return None
        parts, present = self._split(x)
        enc = [self.encoders[m](p) for m, p in zip(self.names, parts, strict=True)]
        return self._weights(enc, present)

    def fused(self) -> nn.Module:
        """An inference copy (no BatchNorm to fold here).

        Returns
        -------
        ModalityNet
            A deep copy in eval mode.
        """
        return copy.deepcopy(self).eval()


