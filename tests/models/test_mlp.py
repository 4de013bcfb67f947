"""The per-date MLP: its default widths and their cost."""

from __future__ import annotations

import torch

from fusets_dl.models.mlp import MLP
from fusets_dl.training.config import TrainConfig


def test_default_widths_are_the_training_default() -> None:
    assert TrainConfig().hidden == (128, 64, 32, 16)
    net = MLP(36)
    widths = [m.out_features for m in net.net if isinstance(m, torch.nn.Linear)]
    assert widths == [128, 64, 32, 16, 1]


def test_default_network_cost_per_pixel_timestep() -> None:
    # 36 features: multiply-adds 36*128 + 128*64 + 64*32 + 32*16 + 16*1 = 15,376 (the former 256-128-64-32-16: 52,752)
    fused = MLP(36).fused()
    macs = sum(m.weight.numel() for m in fused if isinstance(m, torch.nn.Linear))
    assert macs == 15_376
    assert 52_752 / macs > 3.4
    out = fused(torch.zeros(5, 36))
    assert out.shape == (5, 1)
