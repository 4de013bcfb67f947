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


def test_the_validation_residuals_set_the_std_not_the_test_ones(small_cube):
    """The std came from the test blocks' residuals, on which its coverage is then scored (noise added to the test-block NDVI
    changed the std factor 0.476 -> 0.250 and the coverage 0.711 -> 0.784, leaving the network unchanged)."""
    import fusets_dl as fdl

    val = [{"range": [-1.0, 0.5], "n": 100, "rmse": 0.03}, {"range": [0.5, 1.0], "n": 100, "rmse": 0.06}]
    test = [{"range": [-1.0, 0.5], "n": 100, "rmse": 0.3}, {"range": [0.5, 1.0], "n": 100, "rmse": 0.6}]
    _, std = pred_std_table(_model({"val": {"rmse": 0.05}, "val_by_pred_range": val, "test": {"rmse": 0.5}, "test_by_pred_range": test}))
    np.testing.assert_array_equal(std, [0.03, 0.06])
    model = fdl.train(small_cube, config=fdl.TrainConfig(hidden=(8,), max_epochs=1, block_size=4, calibrate_reconstruction=False))
    assert model.metrics["val_by_pred_range"] and model.metrics["test_by_pred_range"]
    rows = model.metrics["val_by_pred_range"]
    ok = [r["rmse"] for r in rows if r["n"] >= 30 and np.isfinite(r["rmse"])]
    assert set(ok) <= set(pred_std_table(model)[1].tolist())
