"""The simulated cloudy spells of the gap-filling comparison."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError
from fusets_dl.evaluation.gaps import hide_gaps, s2_view_days, spell_starts


def test_spells_are_inside_their_part_and_hide_only_clear_values() -> None:
    days = np.arange(0.0, 365.0, 5.0)
    iy, ix = np.arange(6), np.arange(6)[::-1]
    starts = spell_starts(days, iy, ix, gap_days=30, n_gaps=4, seed=3)
    part = 360.0 / 4
    for k in range(4):
        assert np.all(starts[k] >= k * part) and np.all(starts[k] + 30 <= (k + 1) * part + 1e-9)
    ndvi = np.full((days.size, 6), 0.5)
    ndvi[::3] = np.nan
    hidden = hide_gaps(ndvi, days, iy, ix, gap_days=30, n_gaps=4, seed=3)
    assert not hidden[np.isnan(ndvi)].any()
    assert np.all(hidden.sum(0) >= 4 * 3)  # each 30-day spell covers 6 dates, a third of them cloudy
    assert np.array_equal(hidden[:, 2], hide_gaps(ndvi[:, 2:3], days, iy[2:3], ix[2:3], gap_days=30, n_gaps=4, seed=3)[:, 0])
    with pytest.raises(ConfigError, match="do not fit"):
        spell_starts(days, iy, ix, gap_days=100, n_gaps=4, seed=0)
    # the largest length that fits, readable for very many spells too (it read 'gap_days <= 0' for 10**6 of them)
    with pytest.raises(ConfigError, match=r"expected gap_days <= 0.00036 \(or fewer spells\)"):
        spell_starts(days, iy, ix, gap_days=1, n_gaps=10**6, seed=0)
    inside = spell_starts(days, iy, ix, gap_days=20, n_gaps=3, seed=1, span=(200.0, 350.0))
    assert inside.min() >= 200.0 and (inside + 20).max() <= 350.0 + 1e-9


@pytest.mark.parametrize(("gap_days", "n_gaps"), [(30, 0), (30, -2), (30, 2.5), (30, True), (0, 2), (-5, 2), (float("nan"), 2)])
def test_spell_options_out_of_range_are_config_errors(gap_days, n_gaps) -> None:
    """n_gaps 0 divided by zero; gap_days 0, negative or NaN hid nothing, silently."""
    days = np.arange(0.0, 365.0, 5.0)
    with pytest.raises(ConfigError, match=r"expected gap_days > 0 and a whole n_gaps >= 1, found"):
        hide_gaps(np.full((days.size, 2), 0.5), days, np.arange(2), np.arange(2), gap_days=gap_days, n_gaps=n_gaps, seed=0)


def test_spells_that_do_not_fit_name_the_span_they_may_fall_in():
    """With a period (or a season) the message named the period's length as 'a 56-day series' though the cube spans 354."""
    import pytest

    from fusets_dl.errors import ConfigError
    from fusets_dl.evaluation.gaps import spell_starts

    days = np.arange(0.0, 355.0, 5.0)
    one = np.zeros(1, dtype=np.int64)
    with pytest.raises(ConfigError, match=r"3 spells of 60 days do not fit into the 56 days they may fall in \(the comparison's period, "
                                          r"or its season from split_date on, within a 350-day series\)"):
        spell_starts(days, one, one, gap_days=60, n_gaps=3, seed=0, span=(294.0, 350.0))
    with pytest.raises(ConfigError, match=r"do not fit into a 350-day series"):
        spell_starts(days, one, one, gap_days=200, n_gaps=3, seed=0)
    with pytest.raises(ConfigError, match=r"expected a span of dates to hide 1 spells of 60 days in, found a 0-day series \(a single date\)"):
        spell_starts(np.zeros(1), one, one, gap_days=60, n_gaps=1, seed=0)


def _paired_pixel(spell_start: float) -> tuple[xr.Dataset, float]:
    """A 1 x 2 pairing cube (two equal pixels) (S1 every 2 days over 90 days, 3-day tolerance) whose S2 views lie 12 days apart, one of them
    (NDVI 0.5) a day after ``spell_start`` (days from the first S1 date); with that view's date in days."""
    t0 = pd.Timestamp("2021-03-01T17:00")
    s1_t = t0 + pd.to_timedelta(np.arange(0, 92, 2), unit="D")
    view = t0 + pd.Timedelta(days=spell_start + 1.0)
    s2_t = pd.DatetimeIndex([view + pd.Timedelta(days=12 * k) for k in range(-8, 9)])
    s2_t = s2_t[(s2_t > t0 - pd.Timedelta(days=3)) & (s2_t < s1_t[-1] + pd.Timedelta(days=3))].round("s")
    nd = np.where(s2_t == view.round("s"), 0.5, 0.2 + 0.01 * np.arange(s2_t.size)).astype(np.float32)[:, None, None].repeat(2, 2)
    coords = {"y": [5000010.0], "x": [300010.0, 300030.0]}
    s1 = xr.Dataset({"VV": (("time", "y", "x"), np.full((s1_t.size, 1, 2), -10.0, np.float32), {"units": "dB"}),
                     "VH": (("time", "y", "x"), np.full((s1_t.size, 1, 2), -16.0, np.float32), {"units": "dB"})},
                    coords={"time": s1_t, **coords})
    s2 = xr.Dataset({"NDVI": (("time", "y", "x"), nd), "clear": (("time", "y", "x"), np.ones(nd.shape, bool))},
                    coords={"time": s2_t, **coords})
    cube = fdl.align(s1, s2, tolerance="3D").load()
    return cube, (view.round("s") - t0) / pd.Timedelta(days=1)


def test_a_spell_hides_an_s2_view_at_every_s1_date_that_carries_it() -> None:
    """Spells were cut by S1 date: a hidden S2 view paired to 3 S1 dates stayed visible at the one just before the spell."""
    days = np.arange(0.0, 92.0, 2.0)
    one = np.zeros(1, dtype=np.int64)
    start = float(spell_starts(days, one, one, gap_days=20, n_gaps=1, seed=5)[0, 0])
    cube, view = _paired_pixel(start)
    obs = cube["NDVI"].values[:, :, 0].astype(np.float64)
    offset = cube["NDVI_offset"].values[:, :, 0]
    when = s2_view_days(days, offset)
    carries = np.flatnonzero(np.isclose(when[:, 0], view, atol=1e-4))  # offset = S2 minus S1, in days
    assert carries.size == 3 and np.all(obs[carries, 0] == np.float32(0.5))
    assert (days[carries] < start).sum() == 1  # one of them before the spell, two inside
    before = hide_gaps(obs, days, one, one, gap_days=20, n_gaps=1, seed=5)
    after = hide_gaps(obs, days, one, one, gap_days=20, n_gaps=1, seed=5, view_days=when)
    assert before[carries, 0].tolist() == [False, True, True]
    assert after[carries, 0].tolist() == [True, True, True]
    assert int(before.sum()) == 5 and int(after.sum()) == 6  # the view a day in (3 dates) and the one 13 days in (3 dates)
    assert 0.5 not in obs[~after & np.isfinite(obs)]  # nothing of the hidden view is left to read
    assert np.isnan(offset[~np.isfinite(obs)]).all() and s2_view_days(days, None) is None
    with pytest.raises(ConfigError, match=r"expected view_days of the NDVI's shape \(46, 1\), found \(45, 1\)"):
        hide_gaps(obs, days, one, one, gap_days=20, n_gaps=1, seed=5, view_days=when[1:])


def test_without_view_dates_the_spells_hide_the_values_own_dates() -> None:
    """A composite cube (no NDVI_offset) hides what it hid before: the view dates default to the values' own dates."""
    days = np.arange(0.0, 365.0, 5.0)
    iy, ix = np.arange(6), np.arange(6)[::-1]
    ndvi = np.full((days.size, 6), 0.5)
    ndvi[::3] = np.nan
    plain = hide_gaps(ndvi, days, iy, ix, gap_days=30, n_gaps=4, seed=3)
    own = np.broadcast_to(days[:, None], ndvi.shape).copy()
    own[::2] = np.nan  # NaN view dates: the value's own date
    assert int(plain.sum()) == 96
    np.testing.assert_array_equal(hide_gaps(ndvi, days, iy, ix, gap_days=30, n_gaps=4, seed=3, view_days=own), plain)
    np.testing.assert_array_equal(s2_view_days(days, np.full(ndvi.shape, np.nan)), np.broadcast_to(days[:, None], ndvi.shape))


def test_unpaired_views_are_hidden_by_the_spells_of_the_cubes_dates():
    """hide_views puts the spells where hide_gaps puts them for the same pixels: views at the cube's own dates get its mask."""
    from fusets_dl.evaluation.gaps import hide_views

    rng = np.random.default_rng(3)
    days = np.arange(0, 360, 6.0)
    ndvi = np.where(rng.uniform(size=(days.size, 7)) > 0.3, 0.5, np.nan)
    iy, ix = np.zeros(7, int), np.arange(7)
    kw = {"gap_days": 60.0, "n_gaps": 3, "seed": 5}
    np.testing.assert_array_equal(hide_views(ndvi, days, days, iy, ix, **kw), hide_gaps(ndvi, days, iy, ix, **kw))
    # views between the dates: hidden exactly when inside a spell of their pixel
    vdays = days[:-1] + 2.5
    views = np.full((vdays.size, 7), 0.4)
    views[::5] = np.nan
    got = hide_views(views, vdays, days, iy, ix, **kw)
    starts = spell_starts(days, iy, ix, **kw)
    inside = ((vdays[:, None, None] >= starts.T[None]) & (vdays[:, None, None] < starts.T[None] + 60.0)).any(-1)
    np.testing.assert_array_equal(got, inside & np.isfinite(views))
    assert got.any() and not got[::5].any()
