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
