"""Main seasons: a cover crop before the main crop is a second season but not a second main season."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError

T5 = pd.date_range("2021-01-01", "2021-12-31", freq="5D")
DAYS = ((T5 - pd.Timestamp("2021-01-01")) / pd.Timedelta(days=1)).to_numpy()


def _cube(cover_amp: float) -> xr.DataArray:
    y = np.full(DAYS.shape, 0.15)
    for (sos, eos), a in (((20, 110), cover_amp), ((180, 270), 0.6)):
        y = y + a * (1 / (1 + np.exp(-(DAYS - sos) / 6)) - 1 / (1 + np.exp(-(DAYS - eos) / 6)))
    data = y[:, None] + np.random.default_rng(0).normal(0, 0.01, (DAYS.size, 10))
    return xr.DataArray(data.astype(np.float32), dims=("time", "x"), coords={"time": T5})


def test_small_cover_crop_and_main_crop_give_two_seasons_one_main():
    ph = fdl.phenology(_cube(0.2), max_seasons=3)
    assert (ph["n_seasons"].values == 2).all()
    assert (ph["n_main_seasons"].values == 1).all()
    np.testing.assert_array_equal(ph["is_main"].values[:2], np.tile([[0], [1]], (1, 10)))
    assert (ph["is_main"].values[2] == 0).all()  # absent season: 0


def test_main_fraction_sets_the_cut_and_main_months_pick_the_summer_crop():
    assert (fdl.phenology(_cube(0.2), main_fraction=0.3)["n_main_seasons"].values == 2).all()  # 0.2 >= 0.3 x 0.6
    big = _cube(0.6)
    assert (fdl.phenology(big)["n_main_seasons"].values == 2).all()
    ph = fdl.phenology(big, main_months=(6, 9))
    assert (ph["n_main_seasons"].values == 1).all()
    assert (pd.DatetimeIndex(ph["pos"].values[1]).month.isin([6, 7, 8, 9])).all()
    assert (ph["is_main"].values[1] == 1).all()


def test_main_per_year_with_by_year_and_bad_values():
    two = xr.concat([_cube(0.2), _cube(0.2).assign_coords(time=T5 + pd.DateOffset(years=1))], "time")
    ph = fdl.phenology(two, max_seasons=2, by_year=True)
    assert ph["n_main_seasons"].dims == ("year", "x")
    assert (ph["n_main_seasons"].sel(year=[2021, 2022]).values == 1).all()
    with pytest.raises(ConfigError, match="main_fraction"):
        fdl.phenology(_cube(0.2), main_fraction=0)
    with pytest.raises(ConfigError, match="main_months"):
        fdl.phenology(_cube(0.2), main_months=(0, 13))
