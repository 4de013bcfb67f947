"""The batched LCM Gaussian process against a direct dense NumPy computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusets_dl.baselines import gp
from fusets_dl.errors import ConfigError
from fusets_dl.validate import found_value


def _matern32(d: np.ndarray, ls: float) -> np.ndarray:
    r = np.sqrt(3.0) * np.abs(d) / ls
    return (1.0 + r) * np.exp(-r)


def _dense(values: np.ndarray, days: np.ndarray, qdays: np.ndarray, ls: np.ndarray, B: np.ndarray, noise: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Textbook GP for one pixel: build the full covariance of the observed (output, date) pairs."""
    P, T = values.shape
    obs = [(p, t) for p in range(P) for t in range(T) if np.isfinite(values[p, t])]
    y = np.array([values[p, t] for p, t in obs])
    K = np.zeros((len(obs), len(obs)))
    for i, (pi, ti) in enumerate(obs):
        for j, (pj, tj) in enumerate(obs):
            K[i, j] = sum(B[q, pi, pj] * _matern32(days[ti] - days[tj], ls[q]) for q in range(len(ls)))
        K[i, i] += noise[pi]
    sign, logdet = np.linalg.slogdet(K)
    assert sign > 0
    ll = -0.5 * y @ np.linalg.solve(K, y) - 0.5 * logdet - 0.5 * len(y) * np.log(2 * np.pi)
    mean = np.zeros((P, qdays.size))
    var = np.zeros((P, qdays.size))
    for p in range(P):
        Ks = np.array([[sum(B[q, p, pj] * _matern32(tq - days[tj], ls[q]) for q in range(len(ls))) for pj, tj in obs] for tq in qdays])
        mean[p] = Ks @ np.linalg.solve(K, y)
        var[p] = B[:, p, p].sum() - np.einsum("ij,ji->i", Ks, np.linalg.solve(K, Ks.T))
    return ll, mean, var


def _case(seed: int = 0, nb: int = 3, P: int = 3, T: int = 25) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(nb, P, T))
    values[rng.random(values.shape) < 0.45] = np.nan  # outputs on different dates, different counts per pixel
    days = np.sort(rng.uniform(0, 200, T))
    Q = 2
    ls = rng.uniform(5, 60, (nb, Q))
    W = rng.normal(size=(nb, Q, P, 1))
    B = W @ W.transpose(0, 1, 3, 2) + np.eye(P) * rng.uniform(0.05, 0.3, (nb, Q, 1, P))
    noise = rng.uniform(0.01, 0.2, (nb, P))
    return {"values": values, "days": days, "qdays": np.linspace(-10, 210, 13), "ls": ls, "B": B, "noise": noise}


def test_loglik_and_posterior_match_dense_numpy() -> None:
    c = _case()
    got = gp.posterior(c["values"], c["days"], c["qdays"], c["ls"], c["B"], c["noise"])
    for b in range(c["values"].shape[0]):
        ll, mean, var = _dense(c["values"][b], c["days"], c["qdays"], c["ls"][b], c["B"][b], c["noise"][b])
        assert got["loglik"][b] == pytest.approx(ll, rel=1e-10, abs=1e-9)
        np.testing.assert_allclose(got["mean"][b], mean, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(got["var"][b], var, rtol=1e-8, atol=1e-10)


def test_analytic_gradient_matches_autograd() -> None:
    c = _case(seed=1, nb=4)
    cfg = gp.GPConfig(n_latent=2)
    pk = gp._pack(c["values"], c["days"], cfg.min_obs)
    f64 = torch.float64
    y, t, m, n = (torch.as_tensor(pk[k], dtype=f64) for k in ("y", "t", "m", "n"))
    pidx = torch.as_tensor(pk["pidx"])
    p = gp._init_params(4, 3, 2, 1, 0, cfg, torch.device("cpu"), f64)
    gen = torch.Generator().manual_seed(0)
    p = {k: (v + 0.3 * torch.randn(v.shape, generator=gen, dtype=f64)).requires_grad_(True) for k, v in p.items()}
    jitter = torch.full((4,), 1e-6, dtype=f64)
    ls, B, noise = gp._constrained(p, cfg)
    ll, *_ = gp._loglik(y, m, n, gp._train_cov(t, pidx, m, ls, B, noise, jitter))
    ll.sum().backward()
    with torch.no_grad():
        ll2, grads = gp._loglik_and_grad(p, gp._precompute(t, pidx, m, 3), y, n, jitter, cfg)
    torch.testing.assert_close(ll2, ll.detach(), rtol=1e-10, atol=1e-9)
    for k, g in grads.items():
        torch.testing.assert_close(g, p[k].grad, rtol=1e-8, atol=1e-9)


def test_fit_recovers_a_shared_signal_and_is_batch_invariant() -> None:
    """NDVI hidden in a gap follows a correlated second output; each pixel's fit ignores its batch mates."""
    days = np.arange(0.0, 360.0, 6.0)
    base = np.sin(2 * np.pi * days / 180.0)
    rng = np.random.default_rng(3)
    nb = 5
    target = 0.5 + 0.2 * base[None] + rng.normal(0, 0.01, (nb, days.size))
    helper = 2.0 - 1.0 * base[None] + rng.normal(0, 0.02, (nb, days.size))
    gap = (days > 100) & (days < 170)
    values = np.stack([np.where(gap, np.nan, target), helper], axis=1)
    cfg = gp.GPConfig(device="cpu", dtype="float64", n_iter=120, engine="dense")
    out = gp.fit_predict(values, days, days, cfg)
    err = out["mean"][:, 0, gap] - (0.5 + 0.2 * base[gap])
    assert np.sqrt(np.mean(err**2)) < 0.03  # the gap spans a whole half-cycle; interpolation would be off by ~0.2
    lin = np.interp(days[gap], days[~gap], target[0, ~gap])
    assert np.sqrt(np.mean((lin - (0.5 + 0.2 * base[gap])) ** 2)) > 0.1
    assert np.all(out["std"][:, 0, gap] > out["std"][:, 0, ~gap].mean())  # less certain inside the gap
    alone = gp.fit_predict(values[2:3], days, days, cfg)
    np.testing.assert_allclose(alone["mean"], out["mean"][2:3], rtol=1e-6, atol=1e-8)
    one_batch = gp.fit_predict(values, days, days, gp.GPConfig(device="cpu", dtype="float64", n_iter=120, batch_size=2, engine="dense"))
    np.testing.assert_allclose(one_batch["mean"], out["mean"], rtol=1e-6, atol=1e-8)


def test_pixels_without_enough_target_are_nan_and_sparse_outputs_are_left_out() -> None:
    days = np.arange(0.0, 100.0, 5.0)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(3, 2, days.size))
    values[0, 0] = np.nan  # no target at all
    values[1, 0, 2:] = np.nan  # two target observations < min_obs=3
    values[2, 1, 1:] = np.nan  # helper with one observation: left out, target still fitted
    out = gp.fit_predict(values, days, days, gp.GPConfig(device="cpu", n_iter=20))
    assert np.isnan(out["mean"][:2]).all()
    assert np.isfinite(out["mean"][2, 0]).all()
    assert np.isnan(out["mean"][2, 1]).all()


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ConfigError, match="n_iter"):
        gp.GPConfig(n_iter=-1)
    with pytest.raises(ConfigError, match="dtype"):
        gp.GPConfig(dtype="float16")


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("noise_floor", float("inf"), "a finite number > 0"),
        ("min_lengthscale", float("inf"), "a finite number > 0"),
        ("lr", float("inf"), "a finite number > 0"),
        ("lr", float("nan"), "a finite number > 0"),
        ("lengthscale_init", (1.0, float("inf")), "two finite numbers"),
        ("batch_size", 2.5, "a whole number >= 1"),
        ("restarts", True, "a whole number >= 1"),
        ("n_iter", "10", "a whole number >= 0"),
        ("lbfgs_iter", 2.5, "a whole number >= 0"),
        ("n_latent", 0, "a whole number >= 1 or None"),
        ("include_noise", "yes", "True or False"),
    ],
)
def test_config_names_the_field_what_it_expects_and_the_value_found_with_its_type(field: str, value: object, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        gp.GPConfig(**{field: value})  # type: ignore[arg-type]
    msg = str(err.value)
    assert f"{field}: expected {expected}" in msg
    assert f"found {found_value(value)}" in msg  # "2.5 (float)", "the string '10'"


def test_config_stores_whole_numbers_given_as_floats_or_numpy_as_int() -> None:
    cfg = gp.GPConfig(restarts=2.0, batch_size=np.int64(8), lengthscale_init=[5, 50])  # type: ignore[arg-type]
    assert type(cfg.restarts) is int and cfg.restarts == 2
    assert type(cfg.batch_size) is int and cfg.batch_size == 8
    assert cfg.lengthscale_init == (5.0, 50.0)


@pytest.mark.parametrize("engine", ["dense", "statespace"])
def test_a_constant_output_is_returned_as_its_constant_with_std_zero(engine: str) -> None:
    """The GP of a constant series is that constant: the target of pixel 0 and the helper of pixel 1 are constant."""
    days = np.arange(0.0, 150.0, 5.0)
    rng = np.random.default_rng(1)
    sig = np.sin(2 * np.pi * days / 120.0)
    values = np.stack([np.stack([0.5 + 0.2 * sig, 0.4 + 0.1 * sig])] * 3) + rng.normal(0, 0.01, (3, 2, days.size))
    values[:, 0, rng.random(days.size) < 0.5] = np.nan
    values[0, 0] = np.where(np.isfinite(values[0, 0]), 0.3, np.nan)  # constant target (its dates stay NaN elsewhere)
    values[1, 1] = 0.7  # constant helper output
    cfg = gp.GPConfig(device="cpu", dtype="float64", n_iter=20, engine=engine)
    out = gp.fit_predict(values, days, days, cfg)
    np.testing.assert_array_equal(out["mean"][0, 0], 0.3)
    np.testing.assert_array_equal(out["std"][0, 0], 0.0)
    assert np.isfinite(out["mean"][0, 1]).all() and (out["std"][0, 1] > 0).all()  # the helper fitted without the target
    np.testing.assert_array_equal(out["mean"][1, 1], 0.7)
    np.testing.assert_array_equal(out["std"][1, 1], 0.0)
    assert np.isfinite(out["mean"][1, 0]).all()
    assert np.isfinite(out["mean"][2]).all()
    single = gp.fit_predict(values[:1, :1], days, days, cfg)  # nothing else to fit
    np.testing.assert_array_equal(single["mean"][0, 0], 0.3)
    np.testing.assert_array_equal(single["std"][0, 0], 0.0)
