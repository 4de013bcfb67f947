"""The pseudo-residual noise estimate against known noise on curved series with gaps."""

from __future__ import annotations

import numpy as np
import pytest

from fusets_dl.phenometrics.noise import MIN_RESIDUALS, pseudo_residual_noise


@pytest.mark.parametrize("sd", [0.02, 0.05])
def test_recovers_the_noise_sd_of_a_seasonal_curve_with_gaps(sd):
    rng = np.random.default_rng(0)
    d = np.arange(146) * 5.0
    y = 0.2 + 0.5 * np.exp(-(((d - 200) / 40) ** 2)) + 0.4 * np.exp(-(((d - 560) / 30) ** 2))
    g = y[None, :] + rng.normal(0, sd, (400, d.size))
    g[rng.random(g.shape) < 0.3] = np.nan
    est = pseudo_residual_noise(g)
    assert abs(np.median(est) / sd - 1) < 0.1  # curvature of the seasons does not inflate it
    assert np.percentile(est, 90) < 1.35 * sd


def test_too_few_residuals_give_nan():
    g = np.full((2, 20), np.nan)
    g[0, : MIN_RESIDUALS + 2] = np.arange(MIN_RESIDUALS + 2) * 0.1  # a straight line: zero noise
    g[1, ::2] = 0.3  # no value has both neighbours
    est = pseudo_residual_noise(g)
    assert est[0] == pytest.approx(0.0, abs=1e-6) and np.isnan(est[1])
