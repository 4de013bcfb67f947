"""The vectorised Whittaker smoother against a dense solution."""

from __future__ import annotations

import numpy as np
import pytest

from fusets_dl.smoothing import whittaker, whittaker_dense


@pytest.mark.parametrize("n", [3, 4, 5, 12, 73])
def test_matches_dense_solution_with_gaps_and_weights(n):
    rng = np.random.default_rng(n)
    y = rng.normal(size=(40, n))
    w = rng.random((40, n))
    w[w < 0.3] = 0.0
    y[w == 0] = np.nan
    got = whittaker(y, w, 25.0)
    for i in range(40):
        if (w[i] > 0).sum() >= 2:
            np.testing.assert_allclose(got[i], whittaker_dense(y[i], w[i], 25.0), rtol=1e-9, atol=1e-10)
        else:
            assert np.isnan(got[i]).all()


def test_shared_weights_factor_once_and_agree():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(30, 20))
    got = whittaker(y, np.ones_like(y), 7.0)
    ref = np.array([whittaker_dense(r, np.ones(20), 7.0) for r in y])
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_limits_of_lambda_and_linear_invariance():
    t = np.arange(15.0)
    line = 0.2 + 0.03 * t
    # second differences of a line are zero: any lambda returns it unchanged
    np.testing.assert_allclose(whittaker(line[None], np.ones((1, 15)), 1e6)[0], line, atol=1e-8)
    noisy = line + np.random.default_rng(1).normal(0, 0.05, 15)
    np.testing.assert_allclose(whittaker(noisy[None], np.ones((1, 15)), 1e-9)[0], noisy, atol=1e-6)
    # a gap is filled along the line
    gap = line.copy()
    gap[5:9] = np.nan
    w = np.isfinite(gap).astype(float)
    np.testing.assert_allclose(whittaker(gap[None], w[None], 10.0)[0], line, atol=1e-8)
