"""The registry of networks: derived names and checks, and a new network as one entry plus its class."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, ModelError
from fusets_dl.models import registry
from fusets_dl.models.registry import (
    FUSION_STRATEGIES,
    NETWORKS,
    NetworkEntry,
    build_network,
    has_modality_weights,
    register_network,
)


class _TinyNet(nn.Module):
    """A test-only network: one linear layer on the standardised features."""

    def __init__(self, n_in: int) -> None:
        super().__init__()
        self.lin = nn.Linear(n_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).squeeze(-1)

    def fused(self) -> nn.Module:
        return copy.deepcopy(self).eval()


def _tiny_entry() -> NetworkEntry:
    return NetworkEntry(
        "tiny",
        build=lambda arch: _TinyNet(int(arch["n_in"])),
        architecture=lambda spec, config: {"n_in": len(spec.names)},
        description="test only: one linear layer",
    )


@pytest.fixture
def tiny():
    entry = register_network("tiny", _tiny_entry())
    yield entry
    NETWORKS.pop("tiny")


def test_strategies_and_checks_derive_from_the_table():
    assert FUSION_STRATEGIES == ("early", "mid", "late", "attention") == tuple(NETWORKS)
    assert [n for n in NETWORKS if has_modality_weights({"type": NETWORKS[n].arch_type})] == ["late", "attention"]
    assert registry.modality_weight_strategies() == ("late", "attention")
    assert not has_modality_weights({"type": "nonsense"})
    assert NETWORKS["early"].arch_type == "mlp"  # saved models keep loading under their old type
    from fusets_dl.cli.parser import build_parser

    args = build_parser().parse_args(["compare", "--fusion", "attention"])
    assert args.fusion == "attention"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compare", "--fusion", "cross"])


def test_registering_twice_is_refused(tiny):
    with pytest.raises(ModelError, match="already registered"):
        register_network("tiny", _tiny_entry())
    with pytest.raises(ModelError, match="architecture type"):
        register_network("tiny2", _tiny_entry())
    assert register_network("tiny", _tiny_entry(), replace=True).arch_type == "tiny"


def test_a_registered_network_trains_saves_and_loads(tiny, small_cube: xr.Dataset, tmp_path):
    assert isinstance(build_network({"type": "tiny", "n_in": 3}), _TinyNet)
    cfg = fdl.TrainConfig(fusion="tiny", max_epochs=1, min_samples=50, block_size=4)
    model = fdl.train(small_cube, config=cfg)
    assert isinstance(model.network, _TinyNet) and len(model.history) == 1
    assert model.architecture == {"type": "tiny", "n_in": len(model.spec.names)}
    assert model.modality_weights_array(np.zeros((2, len(model.spec.names)), np.float32)) is None
    again = fdl.load_model(model.save(tmp_path / "tiny"))
    assert isinstance(again.network, _TinyNet) and again.sha256 == model.sha256
    np.testing.assert_array_equal(fdl.predict_ndvi(small_cube, again, precision="float32").values,
                                  fdl.predict_ndvi(small_cube, model, precision="float32").values)


def test_unregistered_names_are_refused():
    with pytest.raises(ConfigError, match=r"fusion: expected one of \('early', 'mid', 'late', 'attention'\)"):
        fdl.TrainConfig(fusion="tiny")
    with pytest.raises(ModelError, match="unknown architecture 'tiny'"):
        build_network({"type": "tiny", "n_in": 3})
