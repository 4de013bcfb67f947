"""Sub-sample crossings, the refined peak and edge extrapolation, by hand."""

from __future__ import annotations

import numpy as np

from fusets_dl.phenometrics.refine import crossing, extrapolate_edge, interp_at, refine_peak


def test_crossing_interpolates_between_samples():
    x = np.array([[0.0, 0.2, 0.6, 1.0, 0.6, 0.2, 0.0]])
    lo, hi, thr = np.array([0]), np.array([6]), np.array([0.4])
    np.testing.assert_allclose(crossing(x, lo, np.array([3]), thr, rising=True), [1.5])
    np.testing.assert_allclose(crossing(x, np.array([3]), hi, thr, rising=False), [4.5])
    assert np.isnan(crossing(x, lo, hi, np.array([2.0]), rising=True)).all()
    np.testing.assert_allclose(interp_at(x, np.array([1.5])), [0.4])


def test_refined_peak_is_the_middle_of_a_flat_top_not_its_noisy_maximum():
    # plateau from 3 to 9 whose maximum (index 4) is off-centre; 90 % crossings at 2.9 and 9.1 -> 6
    x = np.array([[0.0, 0.0, 0.0, 0.95, 1.0, 0.96, 0.97, 0.95, 0.96, 0.95, 0.0, 0.0]])
    j, lo, hi, b = np.array([4]), np.array([0]), np.array([11]), np.array([0.0])
    mid = refine_peak(x, j, lo, hi, b, b, level=0.9)
    up = 2 + 0.9 / 0.95
    down = 9 + (0.95 - 0.9) / 0.95
    np.testing.assert_allclose(mid, [(up + down) / 2])
    # a side that never reaches the level keeps the grid maximum
    np.testing.assert_allclose(refine_peak(x, j, lo, np.array([4]), b, b, level=0.9), [4.0])


def test_extrapolation_continues_the_edge_slope_within_its_limit():
    x = np.array([[0.8, 0.7, 0.6, 0.5]])  # the series ends while falling 0.1 per cell
    end = extrapolate_edge(x, np.array([3]), np.array([0.3]), rising=False, span=2, max_cells=5)
    np.testing.assert_allclose(end, [5.0])  # 0.5 -> 0.3 in two more cells
    assert np.isnan(extrapolate_edge(x, np.array([3]), np.array([0.3]), rising=False, span=2, max_cells=1.5)).all()
    start = extrapolate_edge(x[:, ::-1].copy(), np.array([0]), np.array([0.3]), rising=True, span=2, max_cells=5)
    np.testing.assert_allclose(start, [-2.0])
    # flat or wrong-way edge: no extrapolation
    assert np.isnan(extrapolate_edge(np.array([[0.5, 0.5, 0.5]]), np.array([2]), np.array([0.3]), False, 2, 9)).all()


def test_refined_peak_of_a_double_hump_stays_on_its_top():
    x = np.array([[0.0, 0.95, 1.0, 0.3, 0.3, 0.3, 0.96, 0.0]])  # middle of the 90 % crossings is in the dip
    b = np.array([0.0])
    np.testing.assert_allclose(refine_peak(x, np.array([2]), np.array([0]), np.array([7]), b, b, level=0.9), [2.0])
