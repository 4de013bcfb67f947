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


@pytest.mark.parametrize("lam", [0, -10.0, float("nan"), float("inf"), "10", True, None])
def test_whittaker_refuses_a_lambda_that_is_not_positive(lam):
    """A negative lambda gave +-inf, 0 gave 0 in every gap, NaN and inf gave NaN: all silently."""
    from fusets_dl.errors import ConfigError

    with pytest.raises(ConfigError, match=r"whittaker: expected lam a finite number > 0, found"):
        whittaker(np.array([0.2, np.nan, 0.5, 0.6]), np.ones(4), lam)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_whittaker_refuses_negative_or_non_finite_weights(bad):
    from fusets_dl.errors import ConfigError

    w = np.ones(5)
    w[1] = bad
    with pytest.raises(ConfigError, match="expected finite weights >= 0 where the values are finite"):
        whittaker(np.linspace(0.2, 0.6, 5), w, 10.0)
    w_nan_y = np.where(np.arange(5) == 1, bad, 1.0)  # a bad weight where the value is missing is never used
    y = np.linspace(0.2, 0.6, 5)
    y[1] = np.nan
    assert np.isfinite(whittaker(y, np.where(np.isfinite(y), 1.0, w_nan_y), 10.0)).all()


def test_whittaker_shapes_empty_series_and_a_scalar_weight():
    from fusets_dl.errors import DimensionError

    with pytest.raises(DimensionError, match=r"expected weights of the shape of the values \(6,\), found \(5,\)"):
        whittaker(np.ones(6), np.ones(5), 10.0)
    assert whittaker(np.zeros((3, 0)), np.zeros((3, 0)), 10.0).shape == (3, 0)
    y = np.array([0.2, np.nan, 0.5, 0.6, np.nan, 0.3])
    np.testing.assert_array_equal(whittaker(y, 1.0, 10.0), whittaker(y, np.ones(6), 10.0))


def test_fill_interpolated_checks_its_days():
    from fusets_dl.errors import ConfigError, DimensionError
    from fusets_dl.smoothing import fill_interpolated

    v = np.array([0.2, np.nan, 0.4])
    with pytest.raises(DimensionError, match=r"expected days of shape \(3,\), one per time step, found \(2,\)"):
        fill_interpolated(v, np.zeros(3), np.arange(2.0))
    with pytest.raises(ConfigError, match="expected days in increasing order"):
        fill_interpolated(v, np.zeros(3), np.array([4.0, 2.0, 0.0]))  # gave NaN between the data, silently
    np.testing.assert_allclose(fill_interpolated(v, np.zeros(3), np.array([0.0, 1.0, 1.0]))[0], [0.2, 0.4, 0.4])


def test_series_without_two_weights_are_nan_without_numpy_warnings():
    """All-out-of-range input (every weight 0) overflowed the factorisation: RuntimeWarnings after the caller's own
    warning about the data. Such series are NaN, quietly, and the others are as when solved alone."""
    import warnings

    from fusets_dl.smoothing import whittaker

    y = np.random.default_rng(0).random((3, 50))
    w = np.ones_like(y)
    w[1] = 0.0
    w[2] = 0.0
    w[2, 5] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        z = whittaker(y, w, 100.0)
    assert np.isnan(z[1]).all() and np.isnan(z[2]).all()
    np.testing.assert_allclose(z[0], whittaker(y[:1], w[:1], 100.0)[0], rtol=1e-12)
