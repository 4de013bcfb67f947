"""The fast bf16 CPU network (OneDNNStack) and its accuracy against float32 on real data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import fusets_dl as fdl
from fusets_dl.models.fused import InferenceNet, OneDNNStack, inference_network
from fusets_dl.models.io import load_model
from fusets_dl.models.mlp import MLP
from tests.paths import GF_S1, GF_S2, WC_S1, WC_S2_10, WC_S2_20

fast = pytest.mark.skipif(not OneDNNStack.supports(MLP(4, (8,), dropout=0).fused()), reason="no oneDNN bf16 on this CPU/torch")


def _mlp(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    net = MLP(6, hidden=(32, 16), dropout=0.0).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics to fold
        for m in net.net:
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return net.fused()


def test_only_linear_gelu_stacks_with_one_output_are_taken():
    body = _mlp()
    assert OneDNNStack.supports(body) == OneDNNStack.supports(_mlp(1))
    for bad in (nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)), nn.Sequential(nn.Linear(4, 8), nn.GELU(), nn.Linear(8, 2)), nn.Linear(4, 1)):
        assert not OneDNNStack.supports(bad)
        with pytest.raises(ValueError, match="expected Linear, GELU"):
            OneDNNStack(bad)


@fast
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_stack_matches_the_float64_network(approximate):
    body = _mlp()
    for m in body:
        if isinstance(m, nn.GELU):
            m.approximate = approximate
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(3000, 6)).astype(np.float32)) * 2
    want = body.double()(x.double()).float()
    got = OneDNNStack(body.float())(x)
    assert got.dtype == torch.float32 and got.shape == (3000, 1)
    err = (got - want).abs()
    assert float(err.max()) < 0.03 * float(want.abs().max())
    assert OneDNNStack(body.float()).algorithms == [approximate, approximate]  # oneDNN's erf or tanh form, as trained


@fast
def test_the_default_bf16_cpu_network_is_the_stack_and_float32_is_not():
    model = load_model("pretrained")
    cpu = torch.device("cpu")
    assert isinstance(inference_network(model, cpu, torch.bfloat16, raw=True).body, OneDNNStack)
    assert isinstance(inference_network(model, cpu, torch.float32, raw=True).body, nn.Sequential)


def _features(cube, model) -> np.ndarray:
    f = fdl.compute_features(cube, model.spec)
    return np.asarray(f.values).reshape(-1, f.shape[-1])


@pytest.mark.realdata
@pytest.mark.parametrize("site", ["flanders", "gfmap"])
def test_default_precision_within_1e3_ndvi_rmse_of_float32_on_real_patches(site):
    """Issue 24: whatever precision="auto" computes stays within 1e-3 NDVI RMSE of float32 with the shipped weights."""
    model = load_model("pretrained")
    if site == "flanders":
        cube = fdl.align(fdl.open_s1(WC_S1), fdl.open_s2([WC_S2_10, WC_S2_20]), outlier_filter=True)
    else:
        cube = fdl.align(fdl.open_s1(GF_S1), fdl.open_s2(GF_S2))
    x = _features(cube.load(), model)
    exact = model.predict_array(x, precision="float32")
    ok = np.isfinite(exact)
    assert ok.sum() > 20_000
    # float32 is the network computed layer by layer in float32, batch by batch, as before issue 24
    ref = InferenceNet(model.network.fused(), torch.float32, model.scaler, model.spec.required).eval()
    with torch.inference_mode():
        inline = np.concatenate([ref.predict(torch.from_numpy(x[i : i + 16384])).numpy() for i in range(0, len(x), 16384)])
    np.testing.assert_array_equal(exact, inline)
    # the former bf16 network (layer by layer, bf16 input and output): 9.0e-4 and 1.4e-3 NDVI RMSE here
    plain = InferenceNet(model.network.fused(), torch.bfloat16, model.scaler, model.spec.required).eval()
    with torch.inference_mode():
        before = plain.predict(torch.from_numpy(x)).numpy()
    rmse_before = np.sqrt(np.mean((before[ok] - exact[ok]) ** 2))
    for precision in ("auto", "bfloat16"):
        got = model.predict_array(x, precision=precision)
        np.testing.assert_array_equal(np.isnan(got), ~ok)
        d = got[ok] - exact[ok]
        rmse = np.sqrt(np.mean(d**2))
        assert rmse <= 1e-3, precision
        assert np.abs(d).max() < 0.02 and abs(d.mean()) < 3e-4
        if OneDNNStack.supports(model.network.fused()):  # the hi/lo input and float32 last layer: measured 4.6e-4 and 6.9e-4
            assert rmse < 0.7 * rmse_before
