"""Seasons attributed to the calendar year of their peak."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fusets_dl.phenometrics.years import by_year_block


def test_seasons_go_to_the_year_of_their_peak_in_start_order():
    days = pd.date_range("2021-01-01", "2022-12-31", freq="D")
    stacked = np.full((2, 4, 2), np.nan)  # two pixels, four season slots, vars (sos, pos)
    stacked[0, :3] = [[10, 60], [200, 250], [380, 420]]  # two seasons in 2021, one in 2022
    stacked[1, :1] = [[300, 364]]  # peaks on 31 December 2021
    out = by_year_block(stacked, pos_years=days.year.to_numpy(), year0=2021, n_years=2, per_year=2, pos_index=1)
    assert out.shape == (2, 2, 2, 2)
    np.testing.assert_array_equal(out[0, 0], [[10, 60], [200, 250]])
    np.testing.assert_array_equal(out[0, 1, 0], [380, 420])
    assert np.isnan(out[0, 1, 1]).all()
    np.testing.assert_array_equal(out[1, 0, 0], [300, 364])
    assert np.isnan(out[1, 1]).all()
    # more seasons in a year than slots: the later ones are dropped
    one = by_year_block(stacked, pos_years=days.year.to_numpy(), year0=2021, n_years=2, per_year=1, pos_index=1)
    np.testing.assert_array_equal(one[0, 0, 0], [10, 60])
