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


def _curve(d):
    return 0.2 + 0.5 * np.exp(-(((d - 200) / 40) ** 2)) + 0.4 * np.exp(-(((d - 560) / 30) ** 2))


@pytest.mark.parametrize("sd", [0.02, 0.05])
def test_with_dates_irregular_series_recover_the_noise_sd(sd):
    """Dates jittered by up to 2 days (irregular clear views), 30 % missing: Gasser's weights recover the sd."""
    rng = np.random.default_rng(1)
    d = np.sort(np.arange(146) * 5.0 + rng.uniform(-2, 2, 146))
    g = _curve(d)[None, :] + rng.normal(0, sd, (400, d.size))
    g[rng.random(g.shape) < 0.3] = np.nan
    est = pseudo_residual_noise(g, d)
    assert abs(np.median(est) / sd - 1) < 0.1


def test_with_dates_the_estimate_does_not_depend_on_the_time_of_day_or_on_repeats():
    """The same values half a day later give the same estimate (it was NaN on the daily working grid); a value repeated on
    the next date (one S2 view paired with two S1 dates by align) counts once, where its zero residual halved the estimate."""
    rng = np.random.default_rng(2)
    d = np.arange(146) * 5.0
    g = _curve(d)[None, :] + rng.normal(0, 0.03, (300, d.size))
    np.testing.assert_allclose(pseudo_residual_noise(g, d + 0.54), pseudo_residual_noise(g, d))
    np.testing.assert_allclose(pseudo_residual_noise(g, d), pseudo_residual_noise(g), rtol=1e-5)  # regular dates: as on a grid
    pairs = np.repeat(d, 2) + np.tile([0.0, 1.0], d.size)  # every view on two dates a day apart
    doubled = np.repeat(g, 2, axis=1)
    np.testing.assert_allclose(pseudo_residual_noise(doubled, pairs), pseudo_residual_noise(g, d), rtol=0.15)
    assert np.median(pseudo_residual_noise(doubled, pairs)) > 0.025  # not the 0.5 x of zero residuals


def test_with_dates_neighbours_far_apart_are_not_compared():
    """Across a cloudy gap the curve's bend would read as noise: values whose neighbours lie more than MAX_SPAN_DAYS apart
    (or 2.5 date spacings) are left out, and a series with too few close neighbours has no estimate."""
    from fusets_dl.phenometrics.noise import MAX_SPAN_DAYS

    d = np.arange(0.0, 400.0, 20.0)  # neighbours 40 days apart on 5-day dates with gaps
    days = np.arange(0.0, 400.0, 5.0)
    g = np.full((1, days.size), np.nan)
    g[0, np.isin(days, d)] = _curve(d)
    assert MAX_SPAN_DAYS < 40 and np.isnan(pseudo_residual_noise(g, days)[0])
    monthly = np.arange(24) * 30.4  # composites a month apart: their neighbours are compared
    assert np.isfinite(pseudo_residual_noise(_curve(monthly)[None, :] + 0.01, monthly)[0])
    with pytest.raises(ValueError, match="expected 80 dates, found"):
        pseudo_residual_noise(g, days[:-1])


def test_quantised_ndvi_keeps_its_equal_neighbours_and_dates_must_increase():
    """NDVI decoded from integers (0.004 steps) has real equal neighbours (5-12 %): dropping them as repeated acquisitions
    raised the estimate by 8.5 % at sd 0.02. Decreasing dates gave wrong weights silently."""
    rng = np.random.default_rng(4)
    d = np.arange(146) * 5.0
    g = _curve(d)[None, :] + rng.normal(0, 0.02, (400, d.size))
    q = np.round(g / 0.004) * 0.004
    assert abs(np.median(pseudo_residual_noise(q, d)) / np.median(pseudo_residual_noise(q)) - 1) < 0.02  # as on the grid
    assert abs(np.median(pseudo_residual_noise(q, d)) / 0.02 - 1) < 0.1
    with pytest.raises(ValueError, match="expected increasing dates"):
        pseudo_residual_noise(g[:, ::-1], d[::-1])


def _double_logistic(t, sos, eos, amp, scale=10.0):
    return 0.25 + amp * (1 / (1 + np.exp(-(t - sos) / scale)) - 1 / (1 + np.exp(-(t - eos) / scale)))


@pytest.mark.parametrize(("sos", "eos", "amp"), [(180, 280, 0.5), (180, 280, 0.3), (150, 330, 0.3), (90, 200, 0.25)])
def test_monthly_noise_free_double_logistic_reads_no_noise(sos, eos, amp):
    """Monthly composites: the bend of a 100-200 day season (three or four values) read as noise (0.076 at amplitude
    0.5, 0.046 at 0.3), so a real season needed a prominence of 0.23; its flat base (equal values a month apart) was
    dropped as repeated acquisitions."""
    t = np.arange(12) * 30.4 + 14
    assert pseudo_residual_noise(_double_logistic(t, sos, eos, amp)[None, :], t)[0] < 0.025


@pytest.mark.parametrize("years", [1, 2])
def test_monthly_noise_sd_of_double_logistics_and_of_pure_noise(years):
    """Monthly double logistics (100-180 day seasons, logistic scale ~10 days, amplitude 0.3-0.5) with noise sd 0.03:
    0.055 before, now 0.040-0.043 (the bend of these steep seasons still adds; 0.029-0.031 on 15-25 day scales);
    noise-free 0.036-0.042 before, now below 0.015; a flat series with noise sd 0.03 is unbiased."""
    rng = np.random.default_rng(3)
    t = np.arange(12 * years) * 30.4 + 14
    y = np.zeros((1000, t.size))
    for yy in range(years):
        los = rng.uniform(100, 180, (1000, 1))
        sos = rng.uniform(40, 330 - los) + 365 * yy
        y += _double_logistic(t, sos, sos + los, rng.uniform(0.3, 0.5, (1000, 1)), rng.uniform(9, 11, (1000, 1))) - 0.25
    assert np.median(pseudo_residual_noise(0.25 + y, t)) < 0.015
    est = np.median(pseudo_residual_noise(0.25 + y + rng.normal(0, 0.03, y.shape), t))
    assert 0.03 <= est < 0.044
    flat = np.median(pseudo_residual_noise(0.3 + rng.normal(0, 0.03, y.shape), t))
    assert abs(flat / 0.03 - 1) < 0.06


@pytest.mark.parametrize("sd", [0.02, 0.05])
def test_five_day_estimate_is_unchanged_by_the_coarse_rule(sd):
    """5-day series keep the median pseudo-residual (the numbers of the code before the coarse rule, at sd 0.02 / 0.05
    on the curve with gaps): the coarse-composite estimate only starts at COARSE_DAYS."""
    from fusets_dl.phenometrics.noise import COARSE_DAYS

    rng = np.random.default_rng(0)
    d = np.arange(146) * 5.0
    g = _curve(d)[None, :] + rng.normal(0, sd, (400, d.size))
    g[rng.random(g.shape) < 0.3] = np.nan
    assert COARSE_DAYS > 10
    before = {0.02: 0.0204737, 0.05: 0.0502099}[sd]
    assert np.median(pseudo_residual_noise(g, d)) == pytest.approx(before, rel=1e-4)
