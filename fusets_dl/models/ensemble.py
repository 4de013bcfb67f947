"""A mean of several networks of one architecture (a deep ensemble of the per-date model).

The members are trained on the same samples and blocks from other initial
weights and batch orders (``TrainConfig(ensemble=K)``); their mean is a
network like any other: standardised features in, standardised NDVI out,
and ``fused()`` for inference. Averaging removes part of what each member
learnt by chance; where the model is applied outside its training scene
that gains about 0.01 of R2 or of RMSE over linear interpolation
(docs/results.md, "Ensembles of the per-date model").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["Ensemble", "MeanOf"]


class MeanOf(nn.Module):
    """The mean of the outputs of several modules given the same input.

    Members with per-sample modality weights (``names`` and
    ``modality_weights``) give the members' mean weights.

    Parameters
    ----------
    members : sequence of torch.nn.Module
        Modules with outputs of one shape.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        names = getattr(members[0], "names", None) if members else None
        if names is not None:
            self.names = names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The members' mean output.

        Parameters
        ----------
        x : torch.Tensor
            The input every member reads.

        Returns
        -------
        torch.Tensor
            The mean over the members, of a member's output shape.
        """
        out = self.members[0](x)
        for m in self.members[1:]:
            out = out + m(x)
        return out / len(self.members)

    def modality_weights(self, x: torch.Tensor) -> torch.Tensor:
        """The members' mean per-sample modality weights (networks that have them).

        Parameters
        ----------
        x : torch.Tensor
            Standardised features (batch, n_in).

        Returns
        -------
        torch.Tensor
            (batch, n_modalities), rows summing to 1.

        Raises
        ------
        AttributeError
            The members have no modality weights.
        """
        out = self.members[0].modality_weights(x)
        for m in self.members[1:]:
            out = out + m.modality_weights(x)
        return out / len(self.members)


class Ensemble(MeanOf):
    """K networks of one registered architecture whose prediction is their mean.

    Parameters
    ----------
    members : sequence of torch.nn.Module
        At least two networks, each with ``fused()`` (see
        :mod:`fusets_dl.models.registry`). Networks with per-sample
        modality weights (``names`` and ``modality_weights``) give the
        members' mean weights.

    Raises
    ------
    ValueError
        Fewer than two members.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        if len(members) < 2:
            raise ValueError(f"Ensemble: expected at least 2 members, found {len(members)}")
        super().__init__(members)

    def fused(self) -> MeanOf:
        """An inference copy: the mean of the members' fused copies.

        Returns
        -------
        MeanOf
            In eval mode.
        """
        return MeanOf([m.fused() for m in self.members]).eval()
