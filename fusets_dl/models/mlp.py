"""The per-date MLP (the seed notebook's network)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..runtime import Dropout


class MLP(nn.Module):
    """Fully connected network: [Linear, BatchNorm, GELU, Dropout] per hidden layer, then Linear.

    Parameters
    ----------
    n_in : int
        Number of input features.
    hidden : sequence of int
        Widths of the hidden layers (default: ``TrainConfig.hidden``'s).
    dropout : float
        Dropout probability after each hidden layer.
    batch_norm : bool
        Batch normalisation after each hidden linear layer.
    """

    def __init__(self, n_in: int, hidden: Sequence[int] = (128, 64, 32, 16), dropout: float = 0.1, batch_norm: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = n_in
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.GELU())
            if dropout > 0:
                layers.append(Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised prediction.

        Parameters
        ----------
        x : torch.Tensor
            Standardised features (batch, n_in).

        Returns
        -------
        torch.Tensor
            Standardised NDVI (batch,).
        """
        return self.net(x).squeeze(-1)

    def fused(self) -> nn.Sequential:
        """An inference-only copy with each BatchNorm folded into its Linear layer and no Dropout.

        Returns
        -------
        torch.nn.Sequential
            In eval mode; its output has shape (batch, 1).
        """
        out: list[nn.Module] = []
        mods = list(self.net)
        i = 0
        while i < len(mods):
            m = mods[i]
            if isinstance(m, nn.Linear):
                lin = nn.Linear(m.in_features, m.out_features)
                w, b = m.weight.detach().clone(), m.bias.detach().clone()
                if i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm1d):
                    bn = mods[i + 1]
                    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
                    w = w * scale[:, None]
                    b = (b - bn.running_mean) * scale + bn.bias.detach()
                    i += 1
                lin.weight.data.copy_(w)
                lin.bias.data.copy_(b)
                out.append(lin)
            elif isinstance(m, nn.GELU):
                out.append(nn.GELU())
            i += 1
        return nn.Sequential(*out).eval()
