"""Seasons attributed to the calendar year of their peak."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
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


def test_a_peak_on_the_afternoon_of_31_december_stays_in_its_year():
    days = pd.date_range("2021-01-01", "2022-12-31", freq="D")
    stacked = np.full((1, 1, 2), np.nan)
    stacked[0, 0] = [300, 364.75]  # 31 December 2021, 18:00: rounding would give 1 January 2022
    out = by_year_block(stacked, pos_years=days.year.to_numpy(), year0=2021, n_years=2, per_year=1, pos_index=1)
    np.testing.assert_array_equal(out[0, 0, 0], [300, 364.75])
    assert np.isnan(out[0, 1]).all()


def test_phenology_by_year_and_period_end_date_keep_a_31_december_afternoon_peak():
    import xarray as xr

    import fusets_dl as fdl

    t = pd.date_range("2021-06-01", "2022-08-01", freq="D")
    d = ((t - t[0]) / pd.Timedelta(days=1)).to_numpy()
    peak = 213.75  # 2021-12-31 18:00
    y = 0.2 + 0.6 * (1 / (1 + np.exp(-0.1 * (d - peak + 70))) - 1 / (1 + np.exp(-0.1 * (d - peak - 70))))
    nd = xr.DataArray(y[:, None].astype(np.float32), dims=("time", "x"), coords={"time": t})
    pos = pd.Timestamp(fdl.phenology(nd, max_seasons=1)["pos"].values[0, 0])
    assert pos.date() == pd.Timestamp("2021-12-31").date() and pos.hour >= 12
    yearly = fdl.phenology(nd, max_seasons=1, by_year=True)
    assert yearly["n_seasons"].sel(year=2021).item() == 1 and yearly["n_seasons"].sel(year=2022).item() == 0
    assert fdl.phenology(nd, max_seasons=1, period=("2021-01-01", "2021-12-31"))["n_seasons"].item() == 1
    assert fdl.phenology(nd, max_seasons=1, period=("2022-01-01", "2022-12-31"))["n_seasons"].item() == 0


@pytest.mark.parametrize("dask", [False, True])
def test_each_year_keeps_its_own_largest_seasons(dask):
    """2021: a cover crop (amplitude 0.45) then the main crop (0.6); 2022: one crop (0.3). With one slot a year, 2021
    reported the cover crop and 2022 nothing (the largest two overall, then each year's first); now each year its largest."""
    t = pd.date_range("2021-01-01", "2022-12-31", freq="5D")
    d = ((t - t[0]) / pd.Timedelta(days=1)).to_numpy()
    y = (0.15 + 0.45 * np.exp(-0.5 * ((d - 50) / 18) ** 2) + 0.6 * np.exp(-0.5 * ((d - 210) / 25) ** 2)
         + 0.3 * np.exp(-0.5 * ((d - 575) / 25) ** 2))
    da = xr.DataArray(np.tile(y[:, None], (1, 4)).astype(np.float32), dims=("time", "x"), coords={"time": t})
    if dask:
        da = da.chunk({"x": 2})
    one = fdl.phenology(da, by_year=1)
    pos = one["pos"].isel(season=0, x=0).values
    assert pd.Timestamp(pos[0]).month == 7 and pd.Timestamp(pos[1]).month == 7  # the main crops, 2021-07 and 2022-07
    np.testing.assert_allclose(one["aos"].isel(season=0, x=0).values, [0.6, 0.3], atol=0.02)
    assert one["n_seasons"].isel(x=0).values.tolist() == [1, 1]
    two = fdl.phenology(da, by_year=2)  # slots enough: both 2021 seasons, in start order
    assert pd.DatetimeIndex(two["pos"].sel(year=2021).isel(x=0).values).month.tolist() == [2, 7]


def _southern_series():
    """A summer crop whose peak drifts across 1 January (2020-01-05, 2020-12-27, 2022-01-04; amplitude 0.6) and a small
    winter crop peaking each mid-July (amplitude 0.2), 5-day steps from July 2019 to June 2022."""
    origin = pd.Timestamp("2019-07-01")
    dates = pd.date_range(origin, "2022-06-30", freq="5D")
    t = ((dates - origin) / pd.Timedelta(days=1)).to_numpy()

    def dl(c, half, amp):
        return amp / (1 + np.exp(-0.08 * (t - (c - half)))) - amp / (1 + np.exp(-0.08 * (t - (c + half))))

    v = np.full(t.size, 0.2)
    for p in ("2020-01-05", "2020-12-27", "2022-01-04"):
        v += dl((pd.Timestamp(p) - origin).days, 75, 0.6)
    for p in ("2020-07-15", "2021-07-15"):
        v += dl((pd.Timestamp(p) - origin).days, 40, 0.2)
    return xr.DataArray(v[:, None, None], dims=("time", "y", "x"), coords={"time": dates, "y": [0.0], "x": [0.0]})


def _per_year(ds, name):
    return {int(y): int(v) for y, v in zip(ds["year"].values, ds[name].values, strict=True)}


def test_a_season_year_from_july_counts_a_summer_crop_across_new_year_once_a_year():
    """In calendar years the crop peaked twice in 2020 and not in 2021, so the 2021 winter crop (alone in its year) was
    'main' and 2020 had two main seasons; main_months only moved the error. year_start=7 counts July to June."""
    a = _southern_series()
    cal = fdl.phenology(a, by_year=True, max_seasons=3).isel(x=0, y=0)
    assert _per_year(cal, 'n_main_seasons') == {2019: 0, 2020: 2, 2021: 1, 2022: 1}
    sy = fdl.phenology(a, by_year=True, max_seasons=3, year_start=7).isel(x=0, y=0)
    assert _per_year(sy, 'n_main_seasons') == {2019: 1, 2020: 1, 2021: 1}
    assert _per_year(sy, 'n_seasons') == {2019: 1, 2020: 2, 2021: 2}  # the July winter crops join the next summer's
    assert "from month 7" in sy["year"].attrs["long_name"]
    flat = fdl.phenology(a, max_seasons=6, year_start=7).isel(x=0, y=0)
    mains = [str(p)[:7] for p, m in zip(flat.pos.values, flat.is_main.values, strict=True) if m == 1]
    assert mains == ["2020-01", "2020-12", "2022-01"]  # the summer crop, not the 2021 winter crop
    with pytest.raises(fdl.errors.ConfigError, match="year_start"):
        fdl.phenology(a, year_start=13)
