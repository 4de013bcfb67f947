"""The season kernels: batches give the same result, crossings interpolate, empty input keeps shape."""

from __future__ import annotations

import numpy as np
import pytest

from fusets_dl.phenometrics import seasons


def _kw(n_t):
    in_days = np.arange(n_t) * 5.0
    return {
        "in_days": in_days, "grid_days": np.arange(0.0, in_days[-1] + 2.5, 5.0), "max_seasons": 2,
        "fraction": 0.5, "min_amplitude": 0.1, "min_length": 30.0, "period": None, "min_valid": 6,
    }


def _values(n_pix=21, n_t=73, seed=0):
    d = np.arange(n_t) * 5.0
    rng = np.random.default_rng(seed)
    peak = rng.uniform(120, 240, n_pix)[:, None]
    y = 0.15 + 0.6 * np.exp(-(((d[None, :] - peak) / 40.0) ** 2)) + rng.normal(0, 0.02, (n_pix, n_t))
    y[rng.random(y.shape) < 0.3] = np.nan
    return y


@pytest.mark.parametrize("lam", [None, 200.0])
def test_batches_give_the_same_result(monkeypatch, lam):
    v = _values()
    whole = seasons.pheno_pixels(v, lam=lam, **_kw(v.shape[1]))
    monkeypatch.setattr(seasons, "BATCH", 4)
    batched = seasons.pheno_block(v.reshape(3, 7, -1), lam=lam, **_kw(v.shape[1]))
    assert batched.shape == (3, 7, 2, len(seasons.PHENO_VARS))
    np.testing.assert_array_equal(batched.reshape(whole.shape), whole)
    assert np.isfinite(whole[:, 0, seasons.PHENO_VARS.index("pos")]).sum() > 5  # not a trivial all-NaN comparison


def test_empty_input_keeps_its_shape():
    out = seasons.pheno_block(np.empty((0, 73)), lam=None, **_kw(73))
    assert out.shape == (0, 2, len(seasons.PHENO_VARS))
