"""The ensemble network: the mean of its members, fused or not, and built from an architecture dict."""

from __future__ import annotations

import pytest
import torch

from fusets_dl.errors import ModelError
from fusets_dl.models.ensemble import Ensemble, MeanOf
from fusets_dl.models.mlp import MLP
from fusets_dl.models.registry import build_network


def _members(k: int = 3) -> list[MLP]:
    torch.manual_seed(0)
    nets = [MLP(5, (8, 4), 0.1, True) for _ in range(k)]
    for n in nets:  # non-trivial BatchNorm statistics, so folding them matters
        n.train()
        n(torch.randn(64, 5) * 2 + 1)
        n.eval()
    return nets


def test_the_ensemble_is_the_mean_of_its_members():
    nets = _members()
    ens = Ensemble(nets).eval()
    x = torch.randn(10, 5)
    with torch.no_grad():
        expected = (nets[0](x) + nets[1](x) + nets[2](x)) / 3
        torch.testing.assert_close(ens(x), expected)
        fused = ens.fused()
        assert isinstance(fused, MeanOf) and not fused.training
        torch.testing.assert_close(fused(x).squeeze(-1), expected, rtol=1e-5, atol=1e-6)


def test_an_ensemble_needs_two_members():
    with pytest.raises(ValueError, match="at least 2 members, found 1"):
        Ensemble(_members(1))


def test_build_network_makes_an_ensemble_of_members_networks():
    arch = {"type": "mlp", "n_in": 5, "hidden": [8, 4], "dropout": 0.1, "batch_norm": True, "members": 3}
    net = build_network(arch)
    assert isinstance(net, Ensemble) and len(net.members) == 3 and all(isinstance(m, MLP) for m in net.members)
    assert sorted({k.split(".")[1] for k in net.state_dict()}) == ["0", "1", "2"]
    for bad in (1, 0, 2.5, True, "3"):
        with pytest.raises(ModelError, match="members: expected a whole number >= 2"):
            build_network({**arch, "members": bad})


def test_an_ensemble_of_modality_networks_averages_their_weights():
    arch = {"type": "late", "n_in": 4, "modalities": {"sar": [0, 1], "time": [2], "optical": [3]},
            "encoder": [8], "hidden": [4], "dropout": 0.0, "members": 2}
    net = build_network(arch).eval()
    x = torch.randn(6, 4)
    with torch.no_grad():
        w = net.modality_weights(x)
        torch.testing.assert_close(w, (net.members[0].modality_weights(x) + net.members[1].modality_weights(x)) / 2)
    torch.testing.assert_close(w.sum(dim=1), torch.ones(6))
    assert net.names == net.members[0].names


def test_an_ensemble_runs_fused_in_bfloat16_close_to_float32(tmp_path):
    """On CPU with native bf16 each member runs as a OneDNNStack; elsewhere the plain bf16 path: both near float32."""
    import numpy as np

    import fusets_dl as fdl
    from fusets_dl.features import FeatureSpec
    from fusets_dl.models.fused import inference_network
    from fusets_dl.models.fusion_model import FusionModel
    from fusets_dl.models.scaler import Scaler

    spec = FeatureSpec()
    n = len(spec.names)
    torch.manual_seed(1)
    arch = {"type": "mlp", "n_in": n, "hidden": [16, 8], "dropout": 0.0, "batch_norm": True, "members": 2}
    net = build_network(arch).eval()
    scaler = Scaler(np.zeros(n, np.float32), np.ones(n, np.float32), 0.5, 0.2)
    model = FusionModel(network=net, spec=spec, scaler=scaler, architecture=arch)
    x = np.random.default_rng(0).normal(size=(300, n)).astype(np.float32)
    f32 = model.predict_array(x, precision="float32")
    bf = model.predict_array(x, precision="bfloat16")
    assert np.abs(bf - f32).max() < 0.02 and np.abs(bf - f32).mean() < 0.005
    body = inference_network(model, torch.device("cpu"), torch.bfloat16, raw=True).body
    assert isinstance(body, MeanOf)
    back = fdl.load_model(model.save(tmp_path / "e"))
    np.testing.assert_allclose(back.predict_array(x, precision="float32"), f32, atol=1e-6)


def test_modality_weights_of_an_ensemble_model_are_its_members_mean():
    import numpy as np

    from fusets_dl.features import FeatureSpec
    from fusets_dl.models.fusion_model import FusionModel
    from fusets_dl.models.registry import architecture
    from fusets_dl.models.scaler import Scaler
    from fusets_dl.training.config import TrainConfig

    spec = FeatureSpec(groups=("sar", "time", "optical"))
    n = len(spec.names)
    torch.manual_seed(2)
    arch = architecture(spec, TrainConfig(fusion="late", ensemble=2))
    net = build_network(arch).eval()
    model = FusionModel(network=net, spec=spec, scaler=Scaler(np.zeros(n, np.float32), np.ones(n, np.float32), 0.5, 0.2), architecture=arch)
    x = np.random.default_rng(1).normal(size=(20, n)).astype(np.float32)
    w = model.modality_weights_array(x)
    assert w.shape == (20, len(net.names))
    with torch.no_grad():
        xs = torch.from_numpy(x)
        expected = ((net.members[0].modality_weights(xs) + net.members[1].modality_weights(xs)) / 2).numpy()
    np.testing.assert_allclose(w, expected, atol=1e-5)
