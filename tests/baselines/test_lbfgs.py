"""The batched L-BFGS: independent rows, analytic minima, failed steps."""

from __future__ import annotations

import numpy as np

from fusets_dl.baselines._lbfgs import minimize


def _quadratic(A: np.ndarray, c: np.ndarray):
    def fg(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = x - c[rows]
        Ad = (A[rows] @ d[:, :, None])[:, :, 0]
        return 0.5 * (d * Ad).sum(-1), Ad

    return fg


def test_quadratics_reach_their_minima_and_rows_are_independent() -> None:
    """Badly scaled quadratics (condition 1e3): minimum c, and a row alone gives the row in the batch."""
    rng = np.random.default_rng(0)
    b, d = 6, 5
    Qm = np.linalg.qr(rng.normal(size=(b, d, d)))[0]
    A = Qm @ (np.logspace(0, 3, d)[None, :, None] * Qm.transpose(0, 2, 1))
    c = rng.normal(size=(b, d))
    x, f, evals = minimize(_quadratic(A, c), np.zeros((b, d)), max_iter=100, gtol=1e-10, ftol=0.0)
    np.testing.assert_allclose(x, c, rtol=0, atol=1e-6)
    assert (f < 1e-10).all() and evals > 5
    x3, _, _ = minimize(_quadratic(A[3:4], c[3:4]), np.zeros((1, d)), max_iter=100, gtol=1e-10, ftol=0.0)
    np.testing.assert_allclose(x3[0], x[3], rtol=0, atol=1e-12)


def test_rosenbrock_rows_with_different_starts() -> None:
    def fg(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = x[:, 0], x[:, 1]
        f = (1 - a) ** 2 + 100 * (b - a * a) ** 2
        g = np.stack([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)], -1)
        return f, g

    x0 = np.array([[-1.2, 1.0], [0.0, 0.0], [2.0, 2.0]])
    x, f, _ = minimize(fg, x0, max_iter=200, gtol=1e-8, ftol=0.0, max_backtracks=30)
    np.testing.assert_allclose(x, 1.0, atol=1e-4)
    assert (f < 1e-8).all()


def test_non_finite_values_are_failed_steps_and_a_stuck_row_keeps_its_best_point() -> None:
    """f is inf beyond x = 1: the row must stay inside and still decrease; a row starting at NaN stays put."""
    def fg(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = (x[:, 0] - 3.0) ** 2
        with np.errstate(invalid="ignore"):
            f = np.where(x[:, 0] < 1.0, f, np.inf)
        return f, 2 * (x[:, :1] - 3.0)

    x, f, _ = minimize(fg, np.array([[0.0], [np.nan]]), max_iter=50)
    assert 0.0 < x[0, 0] < 1.0 and f[0] < 9.0
    assert np.isnan(x[1, 0]) and np.isinf(f[1])
