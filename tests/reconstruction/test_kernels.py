"""The reconstruction kernels: batches of pixels give the same result as one pass."""

from __future__ import annotations

import numpy as np
import pytest

from fusets_dl.reconstruction import kernels


def _inputs(n_pix=37, n_t=20, seed=0):
    rng = np.random.default_rng(seed)
    obs = rng.uniform(0.1, 0.8, (n_pix, n_t))
    obs[rng.random(obs.shape) < 0.6] = np.nan
    pred = rng.uniform(0.1, 0.8, (n_pix, n_t))
    pred[rng.random(pred.shape) < 0.2] = np.nan
    in_days = np.arange(n_t) * 6.0
    kw = {
        "in_days": in_days, "grid_days": np.arange(0.0, in_days[-1] + 1), "out_idx": (in_days).astype(int),
        "obs_std": 0.03, "w_obs": 1.0, "w_pred": None, "edges": np.array([-1.0, 1.0]), "table": np.array([0.1]),
    }
    return obs, pred, kw


@pytest.mark.parametrize("lam", [None, 1000.0])
def test_batches_give_the_same_result(monkeypatch, lam):
    obs, pred, kw = _inputs()
    whole = kernels.reconstruct_pixels(obs, pred, lam=lam, **kw)
    monkeypatch.setattr(kernels, "BATCH", 8)
    batched = kernels.reconstruct_block(obs.reshape(37, 1, -1), pred.reshape(37, 1, -1), lam=lam, **kw)
    assert batched.shape == (37, 1, 20, 3) and batched.dtype == np.float32
    np.testing.assert_array_equal(batched[:, 0], whole)


def test_source_flags_follow_the_table():
    obs, pred, kw = _inputs()
    src = kernels.reconstruct_pixels(obs, pred, lam=None, **kw)[..., 2]
    o_ok, p_ok = np.isfinite(obs), np.isfinite(pred)
    assert (src[o_ok] == kernels.SOURCE_FLAGS["observed"]).all()
    assert (src[~o_ok & p_ok] == kernels.SOURCE_FLAGS["predicted"]).all()


def test_an_empty_block_keeps_its_shape():
    obs, pred, kw = _inputs()
    out = kernels.reconstruct_block(obs[:0].reshape(0, 0, 20), pred[:0].reshape(0, 0, 20), lam=None, **kw)
    assert out.shape == (0, 0, 20, 3)


def test_series_edges_hold_the_edge_value_instead_of_extrapolating_the_slope():
    """A green-up seen only from day 30 on: the smoother must not extend its slope back to day 0."""
    n_t = 20
    in_days = np.arange(n_t) * 6.0
    obs = np.full((2, n_t), np.nan)
    obs[:, 5:15] = 0.2 + 0.05 * np.arange(10)  # rising 0.2 -> 0.65, days 30..84
    pred = np.full((2, n_t), np.nan)  # no predictions either (first S1 dates have no lags)
    kw = {
        "in_days": in_days, "grid_days": np.arange(0.0, in_days[-1] + 1), "out_idx": in_days.astype(int),
        "obs_std": 0.03, "w_obs": 1.0, "w_pred": None, "edges": np.array([-1.0, 1.0]), "table": np.array([0.1]),
    }
    out = kernels.reconstruct_pixels(obs, pred, lam=1000.0, **kw)
    val, std, src = out[0, :, 0], out[0, :, 1], out[0, :, 2]
    first, last = val[5], val[14]
    # held, not extrapolated: a linear extension would reach 0.2 - 5 * 0.05 = -0.05 at day 0
    np.testing.assert_allclose(val[:5], first, atol=1e-6)
    np.testing.assert_allclose(val[15:], last, atol=1e-6)
    assert first == pytest.approx(0.2, abs=0.03) and last == pytest.approx(0.65, abs=0.03)
    # flagged as not observed, with a std that grows with the distance to the data
    assert (src[:5] == kernels.SOURCE_FLAGS["interpolated"]).all() and (src[5:15] == kernels.SOURCE_FLAGS["observed"]).all()
    assert np.all(np.isfinite(std)) and np.all(np.diff(std[:6]) < 0) and np.all(np.diff(std[14:]) > 0)
    np.testing.assert_allclose(std[0] - std[5], kernels.GROWTH_PER_DAY * 30.0, rtol=1e-5)


def test_residual_spread_is_the_rms_about_the_median_residual():
    obs = np.array([[0.6, 0.8, 0.7, np.nan, 0.5], [0.5, np.nan, np.nan, np.nan, 0.5]])
    pred = np.array([[0.5, 0.5, 0.5, 0.5, np.nan], [0.4, 0.4, 0.4, 0.4, 0.4]])
    # pixel 0: residuals 0.1, 0.3, 0.2 -> median 0.2, deviations -0.1, 0.1, 0; pixel 1: two dates, too few
    np.testing.assert_allclose(kernels.residual_spread(obs, pred), [np.sqrt(0.02 / 3), 0.0], rtol=1e-9)
    np.testing.assert_allclose(kernels.residual_spread(obs, pred, min_dates=2), [np.sqrt(0.02 / 3), 0.0], atol=1e-12)


def test_a_corrected_prediction_is_at_least_as_uncertain_as_its_residual_spread():
    days = np.arange(0.0, 100.0, 10.0)
    pred = np.full((1, days.size), 0.5)
    obs = np.full((1, days.size), np.nan)
    obs[0, [0, 3, 6, 9]] = [0.7, 0.5, 0.8, 0.6]  # residuals 0.2, 0, 0.3, 0.1: median 0.15, spread sqrt(0.0125)
    kw = {"in_days": days, "grid_days": days, "out_idx": np.arange(days.size), "obs_std": 0.03, "w_obs": 1.0, "w_pred": 1.0,
          "edges": np.array([-1.0, 1.0]), "table": np.array([0.05]), "lam": None}
    plain = kernels.reconstruct_pixels(obs, pred, **kw)
    corrected = kernels.reconstruct_pixels(obs, pred, debias_days=30.0, **kw)
    filled = np.isnan(obs[0])
    np.testing.assert_allclose(plain[0, filled, 1], 0.05, rtol=1e-6)
    np.testing.assert_allclose(corrected[0, filled, 1], np.sqrt(0.0125), rtol=1e-6)
    np.testing.assert_allclose(corrected[0, ~filled, 1], 0.03, rtol=1e-6)  # observations keep obs_std
    # a spread below the model's std leaves the model's std
    small = kernels.reconstruct_pixels(np.where(np.isnan(obs), np.nan, 0.5 + 0.01 * np.arange(days.size)), pred, debias_days=30.0, **kw)
    np.testing.assert_allclose(small[0, filled, 1], 0.05, rtol=1e-6)
    # a fraction of the spread as the floor (the transfer setting of an S1-only model): max(0.05, 0.5 * spread)
    half = kernels.reconstruct_pixels(obs, pred, debias_days=30.0, spread_floor=0.5, **kw)
    np.testing.assert_allclose(half[0, filled, 1], max(0.05, 0.5 * np.sqrt(0.0125)), rtol=1e-6)
    quarter = kernels.reconstruct_pixels(obs, pred, debias_days=30.0, spread_floor=0.25, **kw)
    np.testing.assert_allclose(quarter[0, filled, 1], 0.05, rtol=1e-6)  # 0.028 < the model's 0.05
    np.testing.assert_array_equal(half[..., 0], corrected[..., 0])


def test_std_growth_is_one_at_the_reference_distance_and_capped():
    tau, ref, cap = 20.0, kernels.STD_GROWTH_REF_DAYS, kernels.STD_GROWTH_CAP_DAYS
    d = np.array([0.0, ref, 40.0, cap, 500.0, np.inf, np.nan])
    expect = np.sqrt((1 + np.array([0.0, ref, 40.0, cap, cap, ref, ref]) / tau) / (1 + ref / tau))
    np.testing.assert_allclose(kernels.std_growth(d, tau), expect, rtol=1e-12)
    assert kernels.std_growth(np.array([np.inf]), tau)[0] == pytest.approx(1.0)  # no clear view at all: the prediction's own std
    assert kernels.std_growth(np.array([ref]), 5.0)[0] == pytest.approx(1.0)


def test_the_std_of_filled_values_grows_with_the_distance_to_a_clear_view():
    days = np.arange(0.0, 100.0, 10.0)
    pred = np.full((1, days.size), 0.5)
    obs = np.full((1, days.size), np.nan)
    obs[0, [0, 9]] = [0.5, 0.5]  # views at day 0 and 90: a filled value at day t is min(t, 90 - t) days from one
    kw = {"in_days": days, "grid_days": days, "out_idx": np.arange(days.size), "obs_std": 0.03, "w_obs": 1.0, "w_pred": 1.0,
          "edges": np.array([-1.0, 1.0]), "table": np.array([0.05]), "lam": None}
    flat = kernels.reconstruct_pixels(obs, pred, **kw)
    grown = kernels.reconstruct_pixels(obs, pred, std_growth_days=20.0, **kw)
    dist = np.minimum(days, 90.0 - days)
    filled = np.isnan(obs[0])
    np.testing.assert_allclose(grown[0, filled, 1], flat[0, filled, 1] * kernels.std_growth(dist[filled], 20.0), rtol=1e-6)
    np.testing.assert_allclose(grown[0, ~filled, 1], 0.03, rtol=1e-6)  # observations keep obs_std
    np.testing.assert_array_equal(grown[..., 0], flat[..., 0])  # values unchanged
    assert grown[0, 4, 1] > grown[0, 1, 1]  # 40 days from a view is less certain than 10
    # the S2-only setting keeps its own interpolated std (already growing with the distance)
    s2 = {**kw, "w_pred": 0.0}
    np.testing.assert_array_equal(kernels.reconstruct_pixels(obs, pred, std_growth_days=20.0, **s2), kernels.reconstruct_pixels(obs, pred, **s2))


@pytest.mark.parametrize("setting", [{"w_pred": None, "lam": 1000.0}, {"w_pred": 0.1, "lam": 10.0, "debias_days": 30.0},
                                     {"w_pred": 0.0, "lam": 100.0}, {"w_pred": 1.0, "lam": None}])
def test_values_only_gives_the_same_values(setting):
    """The calibration's scoring skips the std of smoothed values; the NDVI and the flags must not change."""
    obs, pred, kw = _inputs()
    kw = {**kw, "w_pred": setting["w_pred"]}
    full = kernels.reconstruct_pixels(obs, pred, lam=setting["lam"], debias_days=setting.get("debias_days"), **kw)
    fast = kernels.reconstruct_pixels(obs, pred, lam=setting["lam"], debias_days=setting.get("debias_days"), values_only=True, **kw)
    np.testing.assert_array_equal(fast[..., 0], full[..., 0])
    np.testing.assert_array_equal(fast[..., 2], full[..., 2])
