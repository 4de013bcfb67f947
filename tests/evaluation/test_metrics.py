"""Metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from fusets_dl.evaluation.metrics import coverage_metrics, metrics_by_range, regression_metrics


def test_regression_metrics_by_hand():
    m = regression_metrics([0.0, 1.0, 2.0, 3.0, np.nan], [0.0, 1.0, 2.0, 4.0, 1.0])
    assert m["n"] == 4
    assert m["rmse"] == pytest.approx(0.5)
    assert m["mae"] == pytest.approx(0.25)
    assert m["bias"] == pytest.approx(0.25)
    assert m["r2"] == pytest.approx(1 - 1 / 5)
    assert np.isnan(regression_metrics([1.0], [1.0])["r2"])


def test_metrics_by_range_splits_on_observed_values():
    obs = np.array([0.1, 0.15, 0.5, 0.55, 0.9, 1.0])
    pred = obs + np.array([0.0, 0.1, 0.0, 0.0, 0.0, -0.2])
    rows = metrics_by_range(obs, pred)
    assert [r["n"] for r in rows] == [2, 0, 2, 0, 2]
    assert rows[0]["bias"] == pytest.approx(0.05)
    assert rows[4]["mae"] == pytest.approx(0.1)


def test_clustering_scores_against_hand_computed_values():
    from fusets_dl.evaluation.metrics import clustering_scores

    same = clustering_scores([0, 0, 1, 1, 2], [5, 5, 3, 3, 9])  # the same partition under other names
    assert same["ari"] == pytest.approx(1.0) and same["nmi"] == pytest.approx(1.0)
    # scikit-learn's documented example: ARI 0.24242...; NMI = MI / mean entropy = (2/3 ln 2) / (ln 6 / 2)
    ex = clustering_scores([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    assert ex["ari"] == pytest.approx(8 / 33)
    assert ex["nmi"] == pytest.approx((4 / 3) * np.log(2) / np.log(6))
    # missing labels (NaN, negative) are left out; a split against a constant has NMI 0
    part = clustering_scores([0, 0, np.nan, 1, 1, -1], [1, 1, 0, 0, 0, 2])
    assert part["n"] == 4 and part["ari"] == pytest.approx(1.0)  # pixels 0, 1, 3, 4: the same two groups
    assert clustering_scores([0, 0, 1, 1], [7, 7, 7, 7])["nmi"] == 0.0
    with pytest.raises(ValueError, match="same size"):
        clustering_scores([0, 1], [0, 1, 2])


def test_coverage_metrics_by_hand():
    obs = np.zeros(6)
    pred = np.array([0.05, -0.15, 0.25, 0.0, np.nan, 0.0])
    std = np.array([0.1, 0.1, 0.1, 0.2, 0.1, 0.0])  # the NaN prediction is left out; std 0 with no error is within
    m = coverage_metrics(obs, pred, std)
    assert m["n_std"] == 5
    assert m["within_1std"] == pytest.approx(3 / 5)  # |z| = 0.5, 1.5, 2.5, 0, 0
    assert m["within_2std"] == pytest.approx(4 / 5)
    assert m["mean_std"] == pytest.approx(0.5 / 5)
    z = np.array([0.5, 1.5, 2.5, 0.0])
    s = np.array([0.1, 0.1, 0.1, 0.2])
    assert m["nll"] == pytest.approx(np.mean(np.log(s) + 0.5 * np.log(2 * np.pi) + 0.5 * z**2))  # of the std > 0 values
    # std 0 where wrong (a constant fit that missed): a miss, not left out, and an infinite NLL
    missed = coverage_metrics(np.zeros(4), np.array([0.05, 0.4, 0.4, 0.0]), np.array([0.1, 0.0, 0.0, 0.0]))
    assert missed["n_std"] == 4 and missed["within_1std"] == pytest.approx(2 / 4) and missed["within_2std"] == pytest.approx(2 / 4)
    assert missed["nll"] == np.inf
    assert coverage_metrics(np.zeros(2), np.zeros(2), np.array([-0.1, np.nan]))["n_std"] == 0  # a negative std is not a std
    none = coverage_metrics(obs, pred, np.full(6, np.nan))
    assert none["n_std"] == 0 and np.isnan(none["within_1std"]) and np.isnan(none["nll"])
    with pytest.raises(ValueError, match="one size, found 6, 6 and 5"):
        coverage_metrics(obs, pred, std[:5])


def test_coverage_of_a_calibrated_gaussian():
    rng = np.random.default_rng(0)
    std = rng.uniform(0.05, 0.2, 200_000)
    m = coverage_metrics(np.zeros_like(std), rng.normal(0.0, std), std)
    assert m["within_1std"] == pytest.approx(0.6827, abs=0.005)
    assert m["within_2std"] == pytest.approx(0.9545, abs=0.003)


def test_mismatched_sizes_are_dimension_errors_and_shapes_warned():
    """A size mismatch raised IndexError or a broadcasting ValueError; a transposed array was paired silently."""
    from fusets_dl.errors import DimensionError

    for f in (regression_metrics, metrics_by_range):
        with pytest.raises(DimensionError, match=r"expected observed and predicted of one size, found \(10,\) \(10 values\) and \(1,\)"):
            f(np.linspace(0, 1, 10), np.array([0.5]))
        with pytest.raises(DimensionError, match=r"found \(10,\) \(10 values\) and \(9,\)"):
            f(np.linspace(0, 1, 10), np.linspace(0, 1, 9))
    with pytest.warns(UserWarning, match=r"observed \(3, 4\) and predicted \(4, 3\) differ in shape"):
        regression_metrics(np.arange(12.0).reshape(3, 4), np.arange(12.0).reshape(4, 3))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a column against a row of the same values is fine
        assert regression_metrics(np.arange(3.0)[:, None], np.arange(3.0))["rmse"] == 0.0
    with pytest.raises(DimensionError, match="of one size, found 3, 3 and 2"):
        coverage_metrics(np.arange(3.0), np.arange(3.0), np.ones(2))
    from fusets_dl.evaluation.metrics import clustering_scores

    with pytest.raises(DimensionError, match="two maps of the same size"):
        clustering_scores(np.arange(3.0), np.arange(2.0))


def test_all_nan_and_constant_truth():
    nan = np.full(5, np.nan)
    m = regression_metrics(nan, nan)
    assert m["n"] == 0 and all(np.isnan(m[k]) for k in ("r2", "rmse", "mae", "bias"))
    const = regression_metrics(np.full(5, 0.5), np.array([0.4, 0.5, 0.6, 0.5, 0.5]))
    assert np.isnan(const["r2"]) and const["rmse"] == pytest.approx(np.sqrt(0.02 / 5)) and const["bias"] == pytest.approx(0.0)


def test_metrics_by_range_refuses_edges_that_are_not_ranges():
    from fusets_dl.errors import ConfigError

    o = np.linspace(0, 1, 10)
    for edges in ((1.0, 0.0), (0.0,), (0.0, 0.5, 0.5, 1.0)):  # gave [] or empty ranges, silently
        with pytest.raises(ConfigError, match="expected at least two increasing range edges"):
            metrics_by_range(o, o, edges)


def test_infinite_values_are_refused_and_an_infinite_std_covers():
    """An infinite prediction was left out like a NaN: [.1, inf, .3] against [.1, .2, .3] scored RMSE 0 on n 2."""
    import pytest

    from fusets_dl.errors import EncodingError
    from fusets_dl.evaluation.metrics import coverage_metrics, regression_metrics

    with pytest.raises(EncodingError, match=r"regression_metrics: expected finite values \(NaN where missing\), found infinite ones: 1 in predicted"):
        regression_metrics([0.1, 0.2, 0.3], [0.1, np.inf, 0.3])
    with pytest.raises(EncodingError, match=r"coverage_metrics: .*1 in observed"):
        coverage_metrics([-np.inf, 0.2], [0.1, 0.2], [0.1, 0.1])
    cov = coverage_metrics([0.1, 0.2], [0.5, 0.2], [np.inf, 0.1])
    assert cov["n_std"] == 2 and cov["within_1std"] == 1.0 and np.isinf(cov["nll"])
