"""Seasons at the edges of what phenology sees: seasons dropped by max_seasons, seasons green at a series edge, a series covering the middle of
one season, the integral on any grid, smoother overshoot across a gap. Analytic double-logistic cases."""

from __future__ import annotations

import warnings

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.integrate import quad

import fusets_dl as fdl

ORIGIN = pd.Timestamp("2021-01-01")


def _dl(t, sos, eos, base=0.2, amp=0.6, k=0.08):
    """Double logistic whose 50 % crossings are exactly ``sos`` and ``eos`` (days)."""
    return base + amp * (1 / (1 + np.exp(-k * (t - sos))) - 1 / (1 + np.exp(-k * (t - eos))))


def _da(values, dates, n=1):
    v = np.tile(np.asarray(values, dtype=float)[:, None, None], (1, 1, n))
    return xr.DataArray(v, dims=("time", "y", "x"), coords={"time": pd.DatetimeIndex(dates), "y": [0], "x": np.arange(n)})


def _days(dates):
    return ((pd.DatetimeIndex(dates) - ORIGIN) / pd.Timedelta(days=1)).to_numpy()


def _doy(a):
    return (np.asarray(a) - np.datetime64(ORIGIN)) / np.timedelta64(1, "D")


def _double_cropping():
    """Three years of two crops a year (6 seasons, amplitudes 0.55-0.60)."""
    dates = pd.date_range(ORIGIN, "2023-12-31", freq="5D")
    t = _days(dates)
    v = 0.2 + sum(_dl(t, c - 50, c + 50, amp=0.55 + 0.01 * i) - 0.2 for i, c in enumerate(np.arange(100, 1096, 183)))
    return dates, v


def test_max_seasons_cap_warns_with_counts_and_the_way_out():
    """Six seasons with max_seasons=3 kept three without a word (n_seasons 3 read as a count of seasons)."""
    dates, v = _double_cropping()
    with pytest.warns(UserWarning, match=r"phenology: 2 of 2 pixels have more seasons than max_seasons=3 \(up to 6\): the 3 "
                                         r"largest are kept, and n_seasons counts the seasons kept; pass max_seasons=6 to "
                                         r"keep them all, or by_year=True for 3 a year of peak"):
        ph = fdl.phenology(_da(v, dates, n=2))
    assert ph["n_seasons"].values.ravel().tolist() == [3, 3]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no cap warning when every season fits
        assert fdl.phenology(_da(v, dates, n=2), max_seasons=6)["n_seasons"].values.ravel().tolist() == [6, 6]
        assert (fdl.phenology(_da(v, dates), by_year=True)["n_seasons"].values.ravel() == 2).all()
    with pytest.warns(UserWarning, match=r"1 of 1 pixels have more seasons peaking in one year \(calendar, or the season year of year_start\) than by_year's 1 "
                                         r"slots \(up to 2 in a year\).*pass by_year=2"):
        fdl.phenology(_da(v, dates), by_year=1)


def test_max_seasons_cap_on_dask_warns_at_compute_once_per_chunk_text_and_stays_lazy():
    dates, v = _double_cropping()
    lazy = _da(v, dates, n=4).chunk({"x": 2})
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ph = fdl.phenology(lazy)
    assert not [x for x in w if "max_seasons" in str(x.message)]  # nothing computed, nothing said yet
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = ph.compute()
    texts = {str(x.message) for x in w if "max_seasons" in str(x.message)}
    assert texts == {"phenology: pixels with more seasons than max_seasons=3 keep only the largest, and n_seasons counts the "
                     "seasons kept (Dask input, counted per chunk in the log): pass a larger max_seasons, or by_year=True"}
    with pytest.warns(UserWarning, match="max_seasons=3"):
        xr.testing.assert_identical(got, fdl.phenology(_da(v, dates, n=4)))


def test_a_lazy_calls_chunk_warnings_come_once_for_the_call_computed_tile_by_tile():
    """A batch run computes one tile at a time, with a catch_warnings between (the writer's): the cap warning came once
    per tile ("always" shows every one, as here). Now once per phenology call; a new call warns again."""
    dates, v = _double_cropping()
    ph = fdl.phenology(_da(v, dates, n=4).chunk({"x": 1}))
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        for i in range(4):  # tile by tile
            ph.isel(x=[i]).compute()
    assert sum("max_seasons=3" in str(x.message) for x in w) == 1
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fdl.phenology(_da(v, dates, n=4).chunk({"x": 1})).compute()
    assert sum("max_seasons=3" in str(x.message) for x in w) == 1


GREEN_END = pd.date_range(ORIGIN, "2021-09-15", freq="5D")


def test_a_crop_still_green_at_the_series_end_has_its_season():
    """Green-up (50 % on day 120) then a plateau to the last date: no season at all before, while a 0.03 decline gave
    SOS + NaT EOS. Now the season is there: SOS measured, EOS NaT (extrapolate: nothing to extrapolate, unflagged), POS the
    first date within 2 % of the top (the top is reached: 0.8 - 0.02 x 0.6 = 0.788 on day 120 + ln(49) / 0.08)."""
    t = _days(GREEN_END)
    v = _dl(t, 120, 10_000)
    for kw in ({}, {"extrapolate": True}):
        ph = fdl.phenology(_da(v, GREEN_END), **kw).isel(y=0, x=0)
        assert int(ph["n_seasons"]) == 1
        s = ph.isel(season=0)
        assert abs(_doy(s["sos"].values) - 120) <= 1.0
        assert np.isnat(s["eos"].values) and int(s["eos_extrapolated"]) == 0 and np.isnan(float(s["los"]))
        assert abs(_doy(s["pos"].values) - (120 + np.log(49) / 0.08)) <= 3.0
        assert float(s["pos_value"]) == pytest.approx(0.8, abs=0.005)
        assert float(s["aos"]) == pytest.approx(0.6, abs=0.005)
    # the same values on monthly composites (0.78 then 0.77, 0.76, 0.75, 0.75): 0 seasons before
    months = pd.date_range("2016-12-01", periods=12, freq="MS")
    mv = [0.2, 0.2, 0.2, 0.25, 0.4, 0.6, 0.75, 0.78, 0.77, 0.76, 0.75, 0.75]
    m = fdl.phenology(_da(mv, months)).isel(y=0, x=0, season=0)
    assert np.isnat(m["eos"].values)
    # 50 % of trough 0.2 .. top 0.78 = 0.49, between 1 April (0.40) and 1 May (0.60): 14.5 April (linear)
    assert abs((pd.Timestamp(m["sos"].values) - pd.Timestamp("2017-04-14T12:00")) / pd.Timedelta(days=1)) <= 1.0


def test_a_series_starting_on_the_plateau_then_senescence_is_the_mirror():
    """Reversed in time, the green-end case: SOS NaT, EOS measured (50 % on day 250), POS the last date within 2 % of the
    top; a series starting 16 days after a 150-day season's peak is still no season (its peak lies before the data)."""
    dates = pd.date_range("2021-03-01", "2021-12-31", freq="5D")
    t = _days(dates)
    ph = fdl.phenology(_da(_dl(t, -10_000, 250), dates), extrapolate=True).isel(y=0, x=0)
    assert int(ph["n_seasons"]) == 1
    s = ph.isel(season=0)
    assert np.isnat(s["sos"].values) and int(s["sos_extrapolated"]) == 0
    assert abs(_doy(s["eos"].values) - 250) <= 1.0
    assert abs(_doy(s["pos"].values) - (250 - np.log(49) / 0.08)) <= 3.0
    assert float(s["aos"]) == pytest.approx(0.6, abs=0.005)
    late = pd.date_range("2021-06-20", "2021-12-31", freq="5D")
    assert int(fdl.phenology(_da(_dl(_days(late), 100, 210, k=1 / 8), late))["n_seasons"].max()) == 0


def test_a_series_covering_only_the_middle_of_one_season_cuts_both_sides():
    """Data 15 May .. 10 October of a season with SOS 30 April, EOS 27 September: EOS was 18 September with base the
    last value (0.386, still falling) and aos 0.41 (truth 0.6), unflagged. Neither edge is a trough: the season is its
    peak alone (SOS/EOS NaT, aos/base NaN), with or without extrapolate."""
    dates = pd.date_range("2020-05-15", "2020-10-10", freq="5D")
    t = ((dates - pd.Timestamp("2020-01-01")) / pd.Timedelta(days=1)).to_numpy()
    v = _dl(t, 120, 270)
    for kw in ({}, {"extrapolate": True}):
        s = fdl.phenology(_da(v, dates), **kw).isel(y=0, x=0)
        assert int(s["n_seasons"]) == 1
        s = s.isel(season=0)
        assert pd.Timestamp(s["pos"].values).strftime("%m-%d") == "07-14"
        assert np.isnat(s["sos"].values) and np.isnat(s["eos"].values)
        assert np.isnan(float(s["aos"])) and np.isnan(float(s["base"])) and np.isnan(float(s["base_end"]))
        assert int(s["sos_extrapolated"]) == int(s["eos_extrapolated"]) == int(s["is_main"]) == 0
    # ending at the trough instead (levelled off): the end side is measured as before
    full = pd.date_range("2020-05-15", "2020-12-31", freq="5D")
    s = fdl.phenology(_da(_dl(((full - pd.Timestamp("2020-01-01")) / pd.Timedelta(days=1)).to_numpy(), 120, 270), full))
    s = s.isel(y=0, x=0, season=0)
    assert np.isnat(s["sos"].values) and abs((pd.Timestamp(s["eos"].values) - pd.Timestamp("2020-09-27")).days) <= 1
    assert float(s["aos"]) == pytest.approx(0.6, abs=0.01)


SMALL = quad(lambda d: _dl(d, 120, 270) - 0.2, 120, 270)[0]  # 79.60: the analytic small integral from SOS to EOS


@pytest.mark.parametrize(
    "dates",
    [pd.date_range(ORIGIN + pd.Timedelta(days=k), "2021-12-31", freq="5D") for k in range(5)]
    + [pd.date_range(ORIGIN, "2021-12-31", freq="10D"), pd.date_range(ORIGIN, "2021-12-31", freq="16D")],
    ids=["5D+0", "5D+1", "5D+2", "5D+3", "5D+4", "10D", "16D"],
)
def test_integral_is_the_analytic_one_on_any_grid_phase_and_step(dates):
    """Whole cells from ceil(SOS) to floor(EOS) gave 80.96 on a 5-day grid from 1 January, 79.51 one day later, 82.27 on
    10-day and 77.66 on 16-day composites; now within 0.5 % of the analytic 79.60 (and 109.60 above zero) on each."""
    s = fdl.phenology(_da(_dl(_days(dates), 120, 270), dates)).isel(y=0, x=0, season=0)
    assert float(s["integral"]) == pytest.approx(SMALL, rel=0.005)
    assert float(s["integral_large"]) == pytest.approx(SMALL + 0.2 * 150, rel=0.005)
    # the small integral is the large one less the base over the season's length
    assert float(s["integral_large"]) == pytest.approx(float(s["integral"]) + float(s["base"]) * float(s["los"]), rel=1e-5)


def test_a_gap_across_the_peak_invents_no_peak_value():
    """A 4-month gap (15 May .. 15 September) across the 2021 peak: the smoother overshot to pos_value 0.956, aos 0.756
    where no value above 0.797 is observed. The peak is held to the pixel's observed range: 0.797, aos 0.597."""
    dates = pd.date_range(ORIGIN, "2022-12-31", freq="5D")
    t = _days(dates)
    v = _dl(t, 120, 270) + _dl(t, 485, 635) - 0.2
    v[(dates >= "2021-05-15") & (dates <= "2021-09-15")] = np.nan
    s = fdl.phenology(_da(v, dates)).isel(y=0, x=0)
    assert int(s["n_seasons"]) == 2
    np.testing.assert_allclose(s["pos_value"].values[:2], np.nanmax(v), atol=1e-6)
    np.testing.assert_allclose(s["aos"].values[:2], 0.597, atol=0.002)
    assert float(s["rate_greenup"][0]) == pytest.approx(
        (float(s["pos_value"][0]) - float(s["sos_value"][0])) / (_doy(s["pos"].values[0]) - _doy(s["sos"].values[0])), rel=1e-5)


def test_edge_seasons_chunked_equal_unchunked_and_lazy():
    from fusets_dl.testing import raise_if_dask_computes

    t = _days(GREEN_END)
    vals = np.stack([_dl(t, 120, 10_000), _dl(t, 100, 200), _dl(t, 130, 10_000) - 0.01 * np.clip((t - 200) / 50, 0, 1)], axis=1)
    da = xr.DataArray(np.tile(vals[:, None, :], (1, 2, 1)), dims=("time", "y", "x"), coords={"time": GREEN_END})
    eager = fdl.phenology(da)
    with raise_if_dask_computes():
        lazy = fdl.phenology(da.chunk({"x": 2, "y": 1}))
    xr.testing.assert_identical(lazy.compute(), eager)
    assert (eager["n_seasons"].values == 1).all()
    assert np.isnat(eager["eos"].values[0, :, [0, 2]]).all() and not np.isnat(eager["eos"].values[0, :, 1]).any()


def _edge_truth(sos, eos, k, base=0.2, amp=0.6):
    """SOS and EOS of ``_dl`` in phenology's convention (50 % of each side's amplitude from that side's own trough), read
    on the noise-free curve extended far beyond any series (0.01-day grid), and its amplitude."""
    fine = np.arange(sos - 400.0, eos + 400.0, 0.01)
    c = _dl(fine, sos, eos, base=base, amp=amp, k=k)
    ip = int(np.argmax(c))
    lt, rt = c[:ip].min(), c[ip:].min()
    return fine[np.argmax(c >= 0.5 * (lt + c[ip]))], fine[ip + np.argmax(c[ip:] <= 0.5 * (rt + c[ip]))], c[ip] - 0.5 * (lt + rt)


def _part_way(f, k, length, at="start"):
    """One season (SOS day 300, 50 % crossings exact) on 5-day dates over 450 days, the first value ``f`` of the way up
    the green-up (``at="start"``), or the last value ``f`` of the way down the senescence above the base (``"end"``)."""
    sos, eos = 300.0, 300.0 + length
    if at == "start":
        t0 = round(sos + np.log(f / (1 - f)) / k)
        t = t0 + np.arange(0.0, 451.0, 5.0)
    else:
        t1 = round(eos - np.log(f / (1 - f)) / k)
        t = t1 - np.arange(0.0, 451.0, 5.0)[::-1]
    dates = ORIGIN + pd.to_timedelta(t, unit="D")
    return _da(_dl(t, sos, eos, k=k), dates), _edge_truth(sos, eos, k)


def _err(s, key, true_day):
    return _doy(s[key].values) - true_day


@pytest.mark.parametrize(("f", "k", "length", "old"), [(0.1, 0.08, 150.0, 2.40), (0.2, 0.08, 150.0, 5.11),
                                                      (0.1, 0.04, 200.0, 4.89), (0.1, 1 / 6, 90.0, 0.93)])
def test_a_series_starting_part_way_up_a_green_up_has_its_sos_on_time(f, k, length, old, monkeypatch):
    """The first value, 10 or 20 % up the green-up, passed the 80 % rule and was taken as the trough: the 50 % level was
    raised, SOS late by `old` days on noise-free data (logistic scale 12.5 days: 2.40 at 10 %, 5.11 at 20 %; 25 days:
    4.89 at 10 %; 6 days: 0.93). It climbs from there by more than half its excess over the season's other trough: the
    side is measured from that trough, within 0.3 days; `base_start` is it (0.2) and `aos` the season's (0.597)."""
    from fusets_dl.phenometrics import seasons

    da, (t_sos, t_eos, t_aos) = _part_way(f, k, length)
    s = fdl.phenology(da).isel(y=0, x=0, season=0)
    assert abs(_err(s, "sos", t_sos)) <= 0.3 and int(s["sos_extrapolated"]) == 0
    assert abs(_err(s, "eos", t_eos)) <= 0.05
    assert float(s["base_start"]) == pytest.approx(0.2, abs=0.002) and float(s["aos"]) == pytest.approx(t_aos, abs=0.003)
    monkeypatch.setattr(seasons, "EDGE_CLIMB", 1e9)  # the rule off: the edge value is the trough, as before
    before = fdl.phenology(da).isel(y=0, x=0, season=0)
    assert _err(before, "sos", t_sos) == pytest.approx(old, abs=0.02)
    assert float(before["base_start"]) > 0.2 + 0.9 * f * 0.6 - 0.01


@pytest.mark.parametrize(("f", "old"), [(0.1, -2.41), (0.2, -5.12)])
def test_a_series_ending_part_way_down_a_senescence_has_its_eos_on_time(f, old, monkeypatch):
    """The mirror: the last value 10 or 20 % of the amplitude above the base, still falling: EOS was `old` days early;
    now within 0.2 days, SOS unchanged, `base_end` the left trough."""
    from fusets_dl.phenometrics import seasons

    da, (t_sos, t_eos, _) = _part_way(f, 0.08, 150.0, at="end")
    s = fdl.phenology(da).isel(y=0, x=0, season=0)
    assert abs(_err(s, "eos", t_eos)) <= 0.2 and int(s["eos_extrapolated"]) == 0
    assert abs(_err(s, "sos", t_sos)) <= 0.05
    assert float(s["base_end"]) == pytest.approx(0.2, abs=0.002)
    monkeypatch.setattr(seasons, "EDGE_CLIMB", 1e9)
    assert _err(fdl.phenology(da).isel(y=0, x=0, season=0), "eos", t_eos) == pytest.approx(old, abs=0.02)


def test_a_series_starting_further_up_is_still_cut_and_extrapolates_to_the_other_trough():
    """30 % up the green-up the first value descends less than 80 % as far as the other side: SOS NaT as before; with
    extrapolate the crossing of the other trough's 50 % level, in the data, flagged (-0.16 d)."""
    da, (t_sos, _, _) = _part_way(0.3, 0.08, 150.0)
    s = fdl.phenology(da).isel(y=0, x=0, season=0)
    assert np.isnat(s["sos"].values) and np.isnan(float(s["base_start"]))
    x = fdl.phenology(da, extrapolate=True).isel(y=0, x=0, season=0)
    assert abs(_err(x, "sos", t_sos)) <= 0.3 and int(x["sos_extrapolated"]) == 1


def test_a_level_start_above_the_other_trough_stays_its_own_trough():
    """A series starting on a flat level 0.3 (a winter cover) that rises to 0.8 and falls to 0.2 after: the start does
    not climb, so SOS is at 50 % from 0.3 (0.55, day 200 exactly: the rise is a logistic from 0.3), not from 0.2 (0.5,
    5.1 days earlier): within 0.2 days (0.14, the smoother); `base_start` is 0.3."""
    t = np.arange(0.0, 451.0, 5.0)
    v = 0.3 + 0.5 / (1 + np.exp(-0.08 * (t - 200))) - 0.6 / (1 + np.exp(-0.08 * (t - 350)))
    s = fdl.phenology(_da(v, ORIGIN + pd.to_timedelta(t, unit="D"))).isel(y=0, x=0, season=0)
    assert abs(_doy(s["sos"].values) - 200.0) <= 0.2
    assert float(s["base_start"]) == pytest.approx(0.3, abs=0.002)


def test_an_edge_excess_within_the_noise_is_left_alone():
    """The excess of the first value over the other trough (0.06, 10 % up a 0.6 green-up) and its climb must stand out of
    the pixel's noise (2 sd): with noise=0.02 the side is measured from the other trough (on time), with noise=0.05 the
    first value stays the trough (2.3 days late, as before; 2.4 at noise 0.02 without the rule): on a flat noisy start
    the smoothed edge stands above the other trough and climbs by noise alone."""
    da, (t_sos, _, _) = _part_way(0.1, 0.08, 150.0)
    on = fdl.phenology(da, noise=xr.full_like(da.isel(time=0, drop=True), 0.02)).isel(y=0, x=0, season=0)
    off = fdl.phenology(da, noise=xr.full_like(da.isel(time=0, drop=True), 0.05)).isel(y=0, x=0, season=0)
    assert abs(_err(on, "sos", t_sos)) <= 0.3
    assert _err(off, "sos", t_sos) == pytest.approx(2.27, abs=0.05)


def test_edge_troughs_leave_interior_seasons_bit_identical(monkeypatch):
    """Three years of two crops a year starting 19 % up the first green-up and ending 20 % down the last senescence:
    only the first season's start side and the last season's end side move; every other value of every season is
    bit-identical to the rule switched off (EDGE_CLIMB = 1e9, the code before)."""
    from fusets_dl.phenometrics import seasons

    k = 0.08
    centres = np.arange(100, 1096, 183)
    t1 = round(centres[-1] + 50 - np.log(0.2 / 0.8) / k)  # day 1082, 20 % down the last senescence
    t = np.arange(t1 - 1050.0, t1 + 1, 5.0)  # from day 32, 19 % up the first green-up
    v = 0.2 + sum(_dl(t, c - 50, c + 50, k=k) - 0.2 for c in centres)
    da = _da(v, ORIGIN + pd.to_timedelta(t, unit="D"))
    new = fdl.phenology(da, max_seasons=6).isel(y=0, x=0)
    monkeypatch.setattr(seasons, "EDGE_CLIMB", 1e9)
    old = fdl.phenology(da, max_seasons=6).isel(y=0, x=0)
    assert int(new["n_seasons"]) == int(old["n_seasons"]) == 6
    for var in ("sos", "sos_value", "base_start"):
        np.testing.assert_array_equal(new[var].values[1:], old[var].values[1:])
    for var in ("eos", "eos_value", "base_end"):
        np.testing.assert_array_equal(new[var].values[:-1], old[var].values[:-1])
    for var in ("pos", "pos_value", "aos", "base", "los", "integral", "integral_large", "rate_greenup", "rate_senescence"):
        np.testing.assert_array_equal(new[var].values[1:-1], old[var].values[1:-1])
    # the edge sides were 3.85 days late / 4.19 days early, their trough the edge value (0.311, 0.319); now measured from
    # the trough between two crops (0.242: their tails lift it above the base 0.2), they lie where the interior seasons
    # lie against the logistic midpoints (+0.8 / -0.8 days: the own-trough convention on close crops)
    off_sos, off_eos = _doy(new["sos"].values) - (centres - 50.0), _doy(new["eos"].values) - (centres + 50.0)
    assert _doy(old["sos"].values[0]) - (centres[0] - 50.0) > 3.5 and _doy(old["eos"].values[-1]) - (centres[-1] + 50.0) < -3.5
    assert abs(off_sos[0] - off_sos[1:].mean()) <= 0.1 and abs(off_eos[-1] - off_eos[:-1].mean()) <= 0.1
    assert float(new["base_start"][0]) == pytest.approx(0.242, abs=0.002) and float(new["base_end"][-1]) == pytest.approx(0.242, abs=0.002)
