"""The state-space MOGPR (Kalman filter + RTS smoother) against the dense GP it must equal."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusets_dl.baselines import gp, statespace
from fusets_dl.errors import ConfigError
from tests.baselines.test_gp import _case


def test_state_matrices_are_the_exact_matern_discretisation() -> None:
    """Stationarity (A Pinf A' + Q = Pinf) and the Matern-3/2 covariance k(dt) = [A Pinf]_00."""
    ls = torch.tensor([[7.0, 40.0]], dtype=torch.float64)
    B = torch.eye(2, dtype=torch.float64).expand(1, 2, 2, 2).clone()
    dt = 5.0
    A, Qn, Pinf = statespace.state_matrices(ls, B, dt)
    torch.testing.assert_close(A @ Pinf @ A.transpose(-1, -2) + Qn, Pinf, rtol=1e-12, atol=1e-12)
    cov = (A @ Pinf)[0]
    for q, ell in enumerate((7.0, 40.0)):
        r = np.sqrt(3) * dt / ell
        # state q*4 + 0 is f_q of output 0: cov(f(t+dt), f(t)) = (1 + r) exp(-r)
        assert cov[q * 4, q * 4].item() == pytest.approx((1 + r) * np.exp(-r), rel=1e-12)
    assert torch.linalg.matrix_exp(torch.tensor([[0.0, 1.0], [-3 / 49, -2 * np.sqrt(3) / 7]], dtype=torch.float64) * dt)[0, 1].item() == pytest.approx(A[0, 0, 2].item(), rel=1e-12)


@pytest.mark.parametrize("seed", [0, 2])
def test_loglik_mean_and_var_equal_the_dense_posterior(seed: int) -> None:
    """Irregular dates, 45 % missing per output (different dates per output), 3 outputs, 2 latents."""
    c = _case(seed=seed)
    dense = gp.posterior(c["values"], c["days"], c["qdays"], c["ls"], c["B"], c["noise"])
    ss = statespace.posterior(c["values"], c["days"], c["qdays"], c["ls"], c["B"], c["noise"])
    np.testing.assert_allclose(ss["loglik"], dense["loglik"], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(ss["mean"], dense["mean"], rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(ss["var"], dense["var"], rtol=1e-7, atol=1e-6)
    # query dates coinciding with observation dates give the same numbers as nearby ones computed apart
    q2 = np.concatenate([c["qdays"], c["days"][:3]])
    both = statespace.posterior(c["values"], c["days"], q2, c["ls"], c["B"], c["noise"])
    np.testing.assert_allclose(both["mean"][..., : c["qdays"].size], ss["mean"], rtol=1e-9, atol=1e-9)


def test_gradient_equals_the_dense_analytic_gradient() -> None:
    c = _case(seed=1, nb=4)
    cfg = gp.GPConfig(n_latent=2)
    pk = gp._pack(c["values"], c["days"], cfg.min_obs)
    f64 = torch.float64
    gen = torch.Generator().manual_seed(0)
    p0 = gp._init_params(4, 3, 2, 1, 0, cfg, torch.device("cpu"), f64)
    p0 = {k: v + 0.3 * torch.randn(v.shape, generator=gen, dtype=f64) for k, v in p0.items()}
    y, t, m, n = (torch.as_tensor(pk[k], dtype=f64) for k in ("y", "t", "m", "n"))
    jitter = torch.zeros(4, dtype=f64)
    ll_dense, grads = gp._loglik_and_grad(p0, gp._precompute(t, torch.as_tensor(pk["pidx"]), m, 3), y, n, jitter, cfg)
    p = {k: v.clone().requires_grad_(True) for k, v in p0.items()}
    grid, opos, _ = statespace.grid_layout(c["days"], c["days"])
    z = np.where(pk["usable"][..., None], (c["values"] - pk["mu"][..., None]) / pk["sd"][..., None], np.nan)
    yg, mg = statespace.on_grid(z, opos, grid.size)
    ls, B, noise = gp._constrained(p, cfg)
    ll, _, _ = statespace.kalman(torch.as_tensor(yg), torch.as_tensor(mg), grid, ls, B, noise)
    ll.sum().backward()
    torch.testing.assert_close(ll.detach(), ll_dense, rtol=1e-9, atol=1e-6)
    for k, g in grads.items():
        torch.testing.assert_close(p[k].grad, g, rtol=1e-6, atol=1e-6)


def _signal(nb: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    days = np.arange(0.0, 240.0, 6.0)
    base = np.sin(2 * np.pi * days / 180.0)
    rng = np.random.default_rng(3)
    target = 0.5 + 0.2 * base[None] + rng.normal(0, 0.01, (nb, days.size))
    helper = 2.0 - 1.0 * base[None] + rng.normal(0, 0.02, (nb, days.size))
    gap = (days > 60) & (days < 130)
    return np.stack([np.where(gap, np.nan, target), helper], axis=1), days, gap, 0.5 + 0.2 * base


@pytest.mark.slow
def test_fit_fills_a_gap_from_the_helper_output_and_std_is_the_noise_free_ndvi_std() -> None:
    values, days, gap, truth = _signal()
    cfg = gp.GPConfig(n_iter=60)
    out = statespace.fit_predict(values, days, days, cfg)
    assert np.sqrt(np.mean((out["mean"][:, 0, gap] - truth[gap]) ** 2)) < 0.03
    # std: posterior std of the noise-free target, NDVI units (the input's scale, not standardised)
    assert np.all(out["std"][:, 0, gap] > out["std"][:, 0, ~gap].mean())
    assert np.all(out["std"][:, 0] < 0.2 * np.nanstd(values[:, 0], -1)[:, None])
    noisy = statespace.fit_predict(values, days, days, gp.GPConfig(n_iter=60, include_noise=True))
    assert np.all(noisy["std"][:, 0] > out["std"][:, 0])
    # per-pixel fits do not depend on batch mates
    alone = statespace.fit_predict(values[1:2], days, days, cfg)
    np.testing.assert_allclose(alone["mean"], out["mean"][1:2], rtol=1e-6, atol=1e-8)
    # the same hyperparameters through the dense engine give the same posterior
    dense = gp.fit_predict(values, days, days, gp.GPConfig(n_iter=60, engine="dense", dtype="float64"))
    assert np.abs(dense["mean"][:, 0] - out["mean"][:, 0]).max() < 0.02


@pytest.mark.slow
def test_shared_hyperparameters_region_and_class() -> None:
    values, days, gap, truth = _signal(nb=6)
    reg = statespace.fit_predict(values, days, days, gp.GPConfig(n_iter=60, engine="statespace", share="region"))
    assert np.allclose(reg["lengthscale"], reg["lengthscale"][:1])  # one set for all
    assert np.sqrt(np.mean((reg["mean"][:, 0, gap] - truth[gap]) ** 2)) < 0.03
    cls = np.array([0, 0, 0, 1, 1, -1])
    out = statespace.fit_predict(values, days, days, gp.GPConfig(n_iter=40, engine="statespace", share="class"), classes=cls)
    assert np.allclose(out["lengthscale"][:3], out["lengthscale"][0]) and np.allclose(out["lengthscale"][3:5], out["lengthscale"][3])
    assert np.isnan(out["mean"][5]).all()
    with pytest.raises(ConfigError, match="one class per pixel"):
        statespace.fit_predict(values, days, days, gp.GPConfig(engine="statespace", share="class"))


def test_config_checks_engine_and_share() -> None:
    with pytest.raises(ConfigError, match="engine"):
        gp.GPConfig(engine="kalman")
    with pytest.raises(ConfigError, match="share"):
        gp.GPConfig(share="pixel")
    with pytest.raises(ConfigError, match="needs engine='statespace'"):
        gp.GPConfig(engine="dense", share="region")


def _gp_draws(nb: int, ls: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """nb draws of a 2-output Matern-3/2 LCM (length scale ``ls`` days, correlation 0.9) on 120 irregular dates, 30 % missing."""
    rng = np.random.default_rng(seed)
    days = np.sort(rng.choice(np.arange(400), 120, replace=False)).astype(float)
    r = np.sqrt(3) * np.abs(days[:, None] - days[None]) / ls
    K = (1 + r) * np.exp(-r)
    Bm = np.array([[1.0, 0.9], [0.9, 1.0]])
    L = np.linalg.cholesky(np.kron(Bm, K) + 1e-8 * np.eye(240))
    f = (L @ rng.normal(size=(240, nb))).T.reshape(nb, 2, 120)
    values = f + rng.normal(0, 0.1, f.shape)
    values[rng.random(values.shape) < 0.3] = np.nan
    return values, days


def test_lbfgs_fit_recovers_the_length_scale_and_beats_the_start() -> None:
    """Per-pixel L-BFGS (the default): length scale of simulated draws, higher likelihood than the start and than Adam's."""
    values, days = _gp_draws(24, ls=25.0)
    cfg = gp.GPConfig(engine="statespace", n_latent=1)
    out = statespace.fit_predict(values, days, days, cfg)
    assert 18.0 < np.median(out["lengthscale"]) < 34.0, np.median(out["lengthscale"])
    start = statespace.fit_predict(values, days, days, gp.GPConfig(engine="statespace", n_latent=1, optimizer="adam", n_iter=0))
    adam = statespace.fit_predict(values, days, days, gp.GPConfig(engine="statespace", n_latent=1, optimizer="adam"))
    assert (out["loglik"] > start["loglik"] + 1.0).all()
    assert np.median(out["loglik"] - adam["loglik"]) > -1e-3  # at least as good as 100 Adam steps


def test_lbfgs_per_pixel_fit_does_not_depend_on_the_batch() -> None:
    values, days = _gp_draws(6, ls=15.0, seed=3)
    cfg = gp.GPConfig(engine="statespace", restarts=2, lbfgs_iter=15)
    full = statespace.fit_predict(values, days, days[::3], cfg)
    alone = statespace.fit_predict(values[4:5], days, days[::3], cfg)
    np.testing.assert_allclose(alone["mean"][0], full["mean"][4], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(alone["lengthscale"][0], full["lengthscale"][4], rtol=1e-9)


def test_optimizer_is_checked() -> None:
    with pytest.raises(ConfigError, match="optimizer"):
        gp.GPConfig(optimizer="newton")


@pytest.mark.skipif(not statespace.statespace_batch.available(), reason="needs numba (the compiled CPU filter)")
def test_auto_device_keeps_the_fit_on_the_cpu_where_the_compiled_filter_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a GPU machine, device='auto' still fits on the CPU: the torch filter on CUDA is ~70x slower per pixel."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert statespace._fit_device("auto") == torch.device("cpu")
    assert statespace._fit_device(None) == torch.device("cpu")
    assert statespace._fit_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(not statespace.statespace_batch.available(), reason="needs numba (the compiled CPU filter)")
def test_explicit_cuda_for_the_statespace_fit_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    import fusets_dl.runtime as runtime

    monkeypatch.setattr(runtime, "resolve_device", lambda device=None: torch.device("cuda"))
    with pytest.warns(UserWarning, match=r"torch Kalman filter, about 70 times slower.*device='auto' or 'cpu'"):
        assert statespace._fit_device("cuda") == torch.device("cuda")
