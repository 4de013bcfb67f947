"""The std of a prediction from the model's held-out residuals by predicted-NDVI range."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from fusets_dl.reconstruction.uncertainty import FALLBACK_STD, lookup_std, pred_std_table


def _model(metrics):
    return SimpleNamespace(metrics=metrics)


def test_rows_give_edges_and_std_with_sparse_rows_on_the_overall_rmse():
    rows = [
        {"range": [-1.0, 0.2], "n": 5, "rmse": 0.5},  # too few samples: overall
        {"range": [0.2, 0.6], "n": 100, "rmse": 0.04},
        {"range": [0.6, 1.0], "n": 100, "rmse": float("nan")},  # not finite: overall
    ]
    edges, std = pred_std_table(_model({"test": {"rmse": 0.08}, "test_by_pred_range": rows}))
    np.testing.assert_array_equal(edges, [-1.0, 0.2, 0.6, 1.0])
    np.testing.assert_array_equal(std, [0.08, 0.04, 0.08])
    assert edges.dtype == np.float64


def test_without_rows_one_range_and_without_rmse_the_fallback():
    edges, std = pred_std_table(_model({"test": {"rmse": 0.07}}))
    np.testing.assert_array_equal(edges, [-1.0, 1.0])
    np.testing.assert_array_equal(std, [0.07])
    _, std = pred_std_table(_model({}))
    np.testing.assert_array_equal(std, [FALLBACK_STD])


def test_lookup_clips_values_outside_the_edges():
    edges, table = np.array([-1.0, 0.4, 1.0]), np.array([0.05, 0.12])
    got = lookup_std(np.array([[-3.0, 0.0, 0.4, 0.9, 5.0]]), edges, table)
    np.testing.assert_array_equal(got, [[0.05, 0.05, 0.12, 0.12, 0.12]])
