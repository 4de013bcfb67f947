"""The compiled Kalman filter, its adjoint and smoother against the dense GP and the torch filter."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusets_dl.baselines import gp, statespace, statespace_batch, statespace_lanes
from tests.baselines.test_gp import _case

pytest.importorskip("numba", reason="numba (extra 'fast') not installed: the compiled engine is not used")


def _blocks(ls: torch.Tensor, grid: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    A1, Q1 = statespace._step_blocks(ls, np.diff(grid))
    return A1, Q1, statespace._unit_blocks(ls, 1.0)[2]


@pytest.mark.parametrize("P", [2, 3])
def test_loglik_and_gradient_equal_the_dense_gp_and_the_torch_filter(P: int) -> None:
    """Irregular dates, 45 % missing per output, 2 latents, random hyper-parameters per pixel."""
    c = _case(seed=P, nb=4, P=P)
    cfg = gp.GPConfig(n_latent=2)
    pk = gp._pack(c["values"], c["days"], cfg.min_obs)
    f64 = torch.float64
    gen = torch.Generator().manual_seed(P)
    p0 = gp._init_params(4, P, 2, 1, 0, cfg, torch.device("cpu"), f64)
    p0 = {k: v + 0.3 * torch.randn(v.shape, generator=gen, dtype=f64) for k, v in p0.items()}
    y, t, m, n = (torch.as_tensor(pk[k], dtype=f64) for k in ("y", "t", "m", "n"))
    ll_dense, grads = gp._loglik_and_grad(p0, gp._precompute(t, torch.as_tensor(pk["pidx"]), m, P), y, n, torch.zeros(4, dtype=f64), cfg)
    grid, opos, _ = statespace.grid_layout(c["days"], c["days"])
    z = np.where(pk["usable"][..., None], (c["values"] - pk["mu"][..., None]) / pk["sd"][..., None], np.nan)
    yg, mg = statespace.on_grid(z, opos, grid.size)
    p = {k: v.clone().requires_grad_(True) for k, v in p0.items()}
    ls, B, noise = gp._constrained(p, cfg)
    ll = statespace_batch.loglik(torch.as_tensor(yg), torch.as_tensor(mg), *_blocks(ls, grid), B, noise)
    ll.sum().backward()
    torch.testing.assert_close(ll.detach(), ll_dense, rtol=1e-9, atol=1e-6)
    for k, g in grads.items():
        torch.testing.assert_close(p[k].grad, g, rtol=1e-6, atol=1e-6)
    # the torch filter (per-step autograd) gives the same gradient to rounding
    q = {k: v.clone().requires_grad_(True) for k, v in p0.items()}
    ls, B, noise = gp._constrained(q, cfg)
    statespace.kalman(torch.as_tensor(yg), torch.as_tensor(mg), grid, ls, B, noise)[0].sum().backward()
    for k in p:
        torch.testing.assert_close(p[k].grad, q[k].grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", [0, 2])
def test_smoothed_mean_and_var_equal_the_dense_posterior(seed: int) -> None:
    c = _case(seed=seed)
    dense = gp.posterior(c["values"], c["days"], c["qdays"], c["ls"], c["B"], c["noise"])
    grid, opos, qpos = statespace.grid_layout(c["days"], c["qdays"])
    yg, mg = statespace.on_grid(c["values"], opos, grid.size)
    ls = torch.as_tensor(c["ls"])
    ll, mean, var = statespace_batch.smooth(yg, mg, *(a.numpy() for a in _blocks(ls, grid)), c["B"], c["noise"], qpos)
    np.testing.assert_allclose(ll, dense["loglik"], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(mean, dense["mean"], rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(var, dense["var"], rtol=1e-7, atol=1e-6)


def _two_speeds() -> tuple[np.ndarray, np.ndarray]:
    days = np.arange(0.0, 300.0, 3.0)
    rng = np.random.default_rng(5)
    slow = np.sin(2 * np.pi * days / 250.0)
    fast = np.sin(2 * np.pi * days / 20.0)
    values = np.stack([slow, fast])[:, None, :] + rng.normal(0, 0.05, (2, 1, days.size))
    return values, days


def test_per_pixel_hyperparameters_follow_each_pixels_smoothness() -> None:
    """A slow and a fast sine in one batch: the slow one gets the longer length scale; a batch of one gives the same fit."""
    values, days = _two_speeds()
    cfg = gp.GPConfig(engine="statespace", n_iter=60, dtype="float64")
    both = statespace.fit_predict(values, days, days, cfg)
    # Adam moves a length scale about lr (0.1) days per step from its start (24.5 days): 60 steps separate them by ~6 days
    assert both["lengthscale"][0, 0] > 24.5 > both["lengthscale"][1, 0] + 1.0, both["lengthscale"]
    alone = statespace.fit_predict(values[1:], days, days, cfg)  # chunked == unchunked: batch mates do not matter
    np.testing.assert_allclose(alone["lengthscale"], both["lengthscale"][1:], rtol=1e-9)
    np.testing.assert_allclose(alone["mean"], both["mean"][1:], rtol=1e-9, atol=1e-12)
    truth = np.sin(2 * np.pi * days / 250.0)
    assert np.sqrt(np.mean((both["mean"][0, 0] - truth) ** 2)) < 0.05


def test_loglik_from_length_scales_equals_the_torch_filter_and_its_gradient() -> None:
    """The compiled blocks (and their derivative in the length scale) against autograd through the torch filter."""
    rng = np.random.default_rng(1)
    b, P, T = 5, 3, 40
    grid = np.sort(rng.choice(np.arange(200), T, replace=False)).astype(float)
    y = torch.as_tensor(rng.normal(size=(b, P, T)))
    m = torch.as_tensor(rng.random((b, P, T)) < 0.5)
    cfg = gp.GPConfig()
    p0 = gp._init_params(b, P, P, 1, 0, cfg, torch.device("cpu"), torch.float64)
    p0["raw_ls"] = p0["raw_ls"] + torch.as_tensor(rng.normal(size=(b, P)))
    got = []
    for fn in (lambda *a: statespace.kalman(*a)[0], statespace_batch.loglik_ls):
        p = {k: v.clone().requires_grad_(True) for k, v in p0.items()}
        ls, B, noise = gp._constrained(p, cfg)
        ll = fn(y, m, grid, ls, B, noise)
        ll.sum().backward()
        got.append((ll.detach(), {k: v.grad for k, v in p.items()}))
    torch.testing.assert_close(got[1][0], got[0][0], rtol=1e-10, atol=1e-9)
    for k in p0:
        torch.testing.assert_close(got[1][1][k], got[0][1][k], rtol=1e-8, atol=1e-9)


@pytest.mark.parametrize(("P", "Q", "b"), [(2, 2, 11), (3, 1, 8), (1, 2, 3)])
def test_lane_kernel_equals_the_per_pixel_kernel(P: int, Q: int, b: int) -> None:
    """Eight pixels per lane group (padded last group, lanes observing different dates) give each pixel's own result."""
    rng = np.random.default_rng(P * 10 + b)
    T = 30
    dts = np.diff(np.sort(rng.choice(np.arange(150), T, replace=False)).astype(float))
    y = rng.normal(size=(b, P, T))
    mk = (rng.random((b, P, T)) < 0.5).astype(np.uint8)
    ls = rng.uniform(5.0, 60.0, (b, Q))
    W = rng.normal(size=(b, Q, P, 1))
    B = W @ W.transpose(0, 1, 3, 2) + np.eye(P) * rng.uniform(0.05, 0.3, (b, Q, 1, 1))
    noise = rng.uniform(0.01, 0.2, (b, P))
    k = statespace_batch._kernels()
    res = []
    for name in ("loglik_ls", "loglik_ls_pixel"):
        g = [np.zeros_like(a) for a in (ls, B, noise)]
        res.append((k[name](y, mk, dts, ls, B, noise, True, *g), *g))
    for a, r in zip(res[0], res[1], strict=True):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("P", "Q", "b"), [(2, 2, 11), (3, 3, 8), (1, 2, 3)])
def test_lane_smoother_equals_the_rts_smoother(P: int, Q: int, b: int) -> None:
    """The Bryson-Frazier lane smoother against the per-pixel RTS smoother: likelihood, mean, variance; repeated query dates."""
    rng = np.random.default_rng(P + b)
    T = 30
    grid = np.sort(rng.choice(np.arange(150), T, replace=False)).astype(float)
    y = rng.normal(size=(b, P, T))
    mk = (rng.random((b, P, T)) < 0.5).astype(np.uint8)
    ls = rng.uniform(5.0, 60.0, (b, Q))
    W = rng.normal(size=(b, Q, P, 1))
    B = W @ W.transpose(0, 1, 3, 2) + np.eye(P) * rng.uniform(0.05, 0.3, (b, Q, 1, 1))
    noise = rng.uniform(0.01, 0.2, (b, P))
    qpos = np.array([0, 5, 5, T - 1, 13], dtype=np.int64)
    A1, Q1, P1 = _blocks(torch.as_tensor(ls), grid)
    ll0, m0, v0 = statespace_batch.smooth(y, mk.astype(bool), A1.numpy(), Q1.numpy(), P1.numpy(), B, noise, qpos)
    m1, v1 = np.full_like(m0, np.nan), np.full_like(v0, np.nan)
    ll1 = statespace_lanes.smooth_ls(y, mk, np.diff(grid), ls, B, noise, qpos, m1, v1)
    np.testing.assert_allclose(ll1, ll0, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(m1, m0, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(v1, v0, rtol=1e-9, atol=1e-10)
