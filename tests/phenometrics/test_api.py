"""Phenology on analytic double-logistic curves, edge cases, laziness."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, DimensionError
from fusets_dl.testing import raise_if_dask_computes

T5 = pd.date_range("2021-01-01", "2021-12-31", freq="5D")


def _dl(days, seasons, base=0.15, amp=0.6, r=8.0):
    y = np.full(days.shape, base)
    for sos, eos in seasons:
        y = y + amp * (1 / (1 + np.exp(-(days - sos) / r)) - 1 / (1 + np.exp(-(days - eos) / r)))
    return y


def _series(seasons, times=T5, n=60, noise=0.02, seed=0, **kw):
    d = ((times - pd.Timestamp("2021-01-01")) / pd.Timedelta(days=1)).to_numpy()
    y = _dl(d, seasons, **kw)[:, None] + np.random.default_rng(seed).normal(0, noise, (d.size, n))
    return xr.DataArray(y.astype(np.float32), dims=("time", "x"), coords={"time": times})


def _doy(a):
    return (a - np.datetime64("2021-01-01")) / np.timedelta64(1, "D")


@pytest.mark.parametrize(
    "seasons",
    [[(120, 220)], [(60, 140), (200, 285)], [(25, 95), (150, 225), (270, 345)]],
    ids=["one", "two", "three"],
)
def test_recovers_dates_within_8_days_at_5_day_sampling(seasons):
    ph = fdl.phenology(_series(seasons), max_seasons=3)
    assert (ph["n_seasons"].values == len(seasons)).all()
    for k, (sos, eos) in enumerate(seasons):
        assert np.abs(_doy(ph["sos"].values[k]) - sos).max() <= 8
        assert np.abs(_doy(ph["eos"].values[k]) - eos).max() <= 8
        assert np.abs(ph["pos_value"].values[k] - 0.75).max() < 0.08
        assert np.abs(ph["aos"].values[k] - 0.6).max() < 0.1
    # ordered by start; unused seasons NaT/NaN
    starts = _doy(ph["sos"].values)
    assert (np.diff(starts[: len(seasons)], axis=0) > 0).all()
    if len(seasons) < 3:
        assert np.isnat(ph["sos"].values[len(seasons):]).all()


def test_metrics_by_hand_on_a_noise_free_season():
    ph = fdl.phenology(_series([(100, 200)], noise=0.0, n=1), max_seasons=1, smooth=None)
    los = float(ph["los"].values[0, 0])
    assert abs(los - 100) <= 5
    assert abs(float(ph["base"].values[0, 0]) - 0.15) < 0.01
    g = float(ph["rate_greenup"].values[0, 0])
    sos, pos = _doy(ph["sos"].values[0, 0]), _doy(ph["pos"].values[0, 0])
    assert g == pytest.approx((ph["pos_value"].values[0, 0] - ph["sos_value"].values[0, 0]) / (pos - sos), rel=1e-5)
    # integral of (NDVI - base) between sos and eos: about amplitude x length, less the shoulders
    assert 0.45 * 100 < float(ph["integral"].values[0, 0]) < 0.6 * 110


def test_season_crossing_the_year_boundary():
    times = pd.date_range("2020-07-01", "2022-06-30", freq="5D")
    # both seasons run from autumn into the next year (peaks in late November)
    da = _series([(-80, 20), (280, 380)], times=times)
    ph = fdl.phenology(da, max_seasons=4)
    assert (ph["n_seasons"].values == 2).all()
    np.testing.assert_array_less(np.abs(_doy(ph["sos"].values[0]) - -80), 8.01)
    np.testing.assert_array_less(np.abs(_doy(ph["eos"].values[0]) - 20), 8.01)
    np.testing.assert_array_less(np.abs(_doy(ph["eos"].values[1]) - 380), 8.01)
    only_2021 = fdl.phenology(da, max_seasons=2, period=("2021-01-01", "2021-12-31"))
    assert (only_2021["n_seasons"].values == 1).all()  # the 2020 season peaks in 2020, so only one is kept
    assert np.abs(_doy(only_2021["eos"].values[0]) - 380).max() <= 8  # kept whole across the year end


def test_edge_cases_give_nan_not_exceptions():
    da = _series([(120, 220)], n=4)
    values = da.values.copy()
    values[:, 0] = np.nan  # all-NaN pixel
    values[:, 1] = 0.5  # flat
    values[:, 2] = np.random.default_rng(0).normal(0.8, 0.02, values.shape[0])  # forest-like: no season
    values[::2, 3] = np.nan  # half the dates missing: still one season
    ph = fdl.phenology(da.copy(data=values))
    np.testing.assert_array_equal(ph["n_seasons"].values, [0, 0, 0, 1])
    assert np.isnat(ph["sos"].values[:, :3]).all() and np.isnan(ph["aos"].values[:, :3]).all()


def test_cut_season_keeps_its_complete_side():
    times = pd.date_range("2021-03-01", "2021-12-31", freq="5D")  # starts in the middle of a green-up
    ph = fdl.phenology(_series([(60, 160)], times=times, noise=0.005), max_seasons=2)
    assert (ph["n_seasons"].values == 1).all()
    assert np.isnat(ph["sos"].values[0]).all()
    assert np.abs(_doy(ph["eos"].values[0]) - 160).max() <= 8


def test_lazy_chunk_invariant_and_accessor():
    seasons = [(60, 140), (200, 285)]
    da = _series(seasons, n=50).expand_dims(y=2).transpose("time", "y", "x")
    eager = fdl.phenology(da)
    with raise_if_dask_computes():
        lazy = da.chunk({"time": -1, "x": 13}).fusion.phenology()
    assert lazy["sos"].chunks is not None and lazy["sos"].dims == ("season", "y", "x")
    xr.testing.assert_allclose(lazy.compute(), eager)
    assert lazy["los"].attrs["units"] == "days" and eager["sos"].dtype.kind == "M"


def test_bad_arguments():
    da = _series([(120, 220)], n=2)
    with pytest.raises(ConfigError, match="method"):
        fdl.phenology(da, method="derivative")
    with pytest.raises(ConfigError, match="amplitude_fraction"):
        fdl.phenology(da, amplitude_fraction=1.5)
    with pytest.raises(DimensionError, match="time"):
        fdl.phenology(da.isel(time=0))


def test_phenology_by_class_gives_medians_per_class_and_season():
    one = _series([(120, 220)], n=30, seed=1)
    two = _series([(60, 140), (200, 285)], n=30, seed=2)
    ndvi = xr.concat([one, two], dim="x")
    classes = xr.DataArray(np.r_[np.zeros(30, int), np.ones(30, int)], dims="x")
    classes[0] = -1  # unclassified: left out
    summary = fdl.phenology(ndvi, max_seasons=2, by=classes)
    assert summary["class"].values.tolist() == [0, 1] and summary.sizes["season"] == 2
    assert summary["n_pixels"].values.tolist() == [29, 30]
    assert summary["n_with_season"].sel({"class": 0}).values.tolist() == [29, 0]
    assert summary["n_with_season"].sel({"class": 1}).values.tolist() == [30, 30]
    sos = _doy(summary["sos"].values)
    eos = _doy(summary["eos"].values)
    np.testing.assert_allclose(sos[0, 0], 120, atol=8)
    np.testing.assert_allclose(eos[0, 0], 220, atol=8)
    np.testing.assert_allclose(sos[1], [60, 200], atol=8)
    np.testing.assert_allclose(eos[1], [140, 285], atol=8)
    assert np.isnat(summary["sos"].values[0, 1])  # class 0 has no second season
    # the same medians as by hand from the per-pixel phenology
    per_pixel = fdl.phenology(ndvi, max_seasons=2)
    by_hand = np.median(_doy(per_pixel["pos"].values[0, 30:]))
    np.testing.assert_allclose(_doy(summary["pos"].values[1, 0]), by_hand, atol=1e-6)
    only = fdl.phenometrics.phenology_by_class(per_pixel, classes, keep=[1])
    assert only["class"].values.tolist() == [1]
    with pytest.raises(DimensionError, match="expected classes on"):
        fdl.phenometrics.phenology_by_class(per_pixel, classes.rename(x="y"))


def test_outputs_carry_the_cf_table_attributes_and_dtypes():
    from fusets_dl.cf import _entries as cf_entries
    from fusets_dl.cf import cf_attrs

    ph = fdl.phenology(_series([(120, 220)], n=3))
    for name in ph.data_vars:
        want = cf_attrs(f"phenology.{name}")
        assert ph[name].attrs.keys() == want.keys(), name
        for key, value in want.items():
            np.testing.assert_array_equal(ph[name].attrs[key], value)
        if name in ("integral_large", "base_start", "base_end", "sos_extrapolated", "eos_extrapolated", "noise"):
            assert "units" in want, name  # every variable added with the noise-aware phenology has units
    for name in ("sos", "pos", "eos"):
        assert ph[name].encoding["units"] == "seconds since 1970-01-01"  # CF times, not "nanoseconds since"
        assert ph[name].dtype == np.dtype(cf_entries()[f"phenology.{name}"]["dtype"]), name
    assert ph.attrs["title"] == "fusets_dl phenology"


def test_no_spurious_seasons_at_noise_sd_0_05_with_gaps():
    rng = np.random.default_rng(3)
    times = pd.date_range("2021-01-01", "2022-12-31", freq="5D")
    da = _series([(120, 220), (485, 585)], times=times, n=300, noise=0.05, seed=3)
    da = da.where(rng.random(da.shape) > 0.3)
    ph = fdl.phenology(da, max_seasons=6)
    assert (ph["n_seasons"].values == 2).mean() >= 0.95
    np.testing.assert_allclose(ph["noise"].median(), 0.05, rtol=0.15)  # the per-pixel noise estimate
    # the old behaviour (no noise test) finds more seasons than there are on the same data
    loose = fdl.phenology(da, max_seasons=6, noise_factor=0)
    assert (loose["n_seasons"].values > 2).sum() > (ph["n_seasons"].values > 2).sum()
    # a given per-value std of 0.2 raises the bar (5 x 0.2) above both seasons' amplitude (0.6)
    std = xr.full_like(da, 0.2)
    assert (fdl.phenology(da, std=std, noise_factor=5)["n_seasons"].values == 0).all()
    assert (fdl.phenology(da, noise=0.01, noise_factor=3)["n_seasons"].values >= 2).all()


def test_peak_refined_on_a_broad_season():
    # asymmetric slopes are equal here, so the true peak is the middle of the plateau (day 170)
    ph = fdl.phenology(_series([(100, 240)], n=200, noise=0.05, seed=5), max_seasons=2)
    assert np.abs(_doy(ph["pos"].values[0]) - 170).mean() < 8


def test_short_series_warns_with_counts_and_gives_no_season():
    times = pd.date_range("2021-05-01", periods=10, freq="3D")  # 27 days
    da = _series([(120, 220)], times=times, n=7)
    with pytest.warns(UserWarning, match="spans 27 days.*7 pixels"):
        ph = fdl.phenology(da)
    assert (ph["n_seasons"].values == 0).all()


def test_cut_end_extrapolated_and_flagged_and_no_peak_outside_the_data():
    times = pd.date_range("2021-01-01", "2021-08-10", freq="5D")  # ends in the middle of senescence
    da = _series([(100, 210)], times=times, n=40, noise=0.005)
    plain = fdl.phenology(da, max_seasons=2)
    assert np.isnat(plain["eos"].values[0]).all() and (plain["eos_extrapolated"].values == 0).all()
    ext = fdl.phenology(da, max_seasons=2, extrapolate=True)
    assert (ext["eos_extrapolated"].values[0] == 1).all() and (ext["sos_extrapolated"].values[0] == 0).all()
    assert np.abs(_doy(ext["eos"].values[0]) - 210).max() <= 10  # the true end lies 11 days past the data
    # a series that starts after the peak: the peak is outside the data, so no season
    late = fdl.phenology(_series([(100, 210)], times=pd.date_range("2021-06-20", "2021-12-31", freq="5D"), n=5,
                                 noise=0.005), extrapolate=True)
    assert (late["n_seasons"].values == 0).all()


def test_absolute_thresholds_and_integrals_by_hand():
    ph = fdl.phenology(_series([(100, 200)], noise=0.0, n=1), max_seasons=1, smooth=None,
                       start_threshold=0.3, end_threshold=0.6, threshold_type="absolute")
    # base 0.15, amplitude 0.6, scale 8 d: NDVI = 0.3 at 100 - 8 ln 3, 0.6 at 200 - 8 ln 3
    assert abs(_doy(ph["sos"].values[0, 0]) - (100 - 8 * np.log(3))) <= 1.0
    assert abs(_doy(ph["eos"].values[0, 0]) - (200 - 8 * np.log(3))) <= 1.0
    np.testing.assert_allclose(ph["sos_value"].values[0, 0], 0.3, atol=0.01)
    large, small, los = (float(ph[k].values[0, 0]) for k in ("integral_large", "integral", "los"))
    assert large == pytest.approx(small + float(ph["base"].values[0, 0]) * (los + 5), rel=0.08)
    with pytest.raises(ConfigError, match="threshold_type"):
        fdl.phenology(_series([(100, 200)], n=1), threshold_type="percent")


def test_by_year_puts_two_seasons_a_year_on_year_and_season():
    times = pd.date_range("2021-01-01", "2022-12-31", freq="5D")
    da = _series([(60, 140), (200, 285), (425, 505), (565, 650)], times=times, n=20, noise=0.02)
    ph = fdl.phenology(da, max_seasons=2, by_year=True)
    assert ph["sos"].dims == ("year", "season", "x") and ph["year"].values.tolist() == [2021, 2022]
    assert (ph["n_seasons"].values == 2).all() and ph["n_seasons"].dims == ("year", "x")
    np.testing.assert_allclose(_doy(ph["sos"].values[1, 0]), 425, atol=8)
    lazy = fdl.phenology(da.chunk({"x": 7}), max_seasons=2, by_year=True)
    xr.testing.assert_allclose(lazy.compute(), ph)



def test_by_year_leaves_out_edge_years_whose_dates_cannot_hold_a_season():
    """Grassland friction 9: a freq="5D" reconstruction of 2021-2023 ends on 2024-01-01 (2021-01-01 + 219 x 5 days), and
    by_year gave a fourth year 2024 with n_seasons 0 everywhere. An edge year needs min_valid (6) dates spanning
    min_length (30) days (min_span when smaller)."""
    seasons = [(120 + 365 * k, 220 + 365 * k) for k in range(3)]  # one season a year, peaking about 1 June
    times = pd.date_range("2021-01-01", "2024-01-01", freq="5D")
    assert times[-1] == pd.Timestamp("2024-01-01") and times.size == 220
    ph = fdl.phenology(_series(seasons, times=times, n=3), by_year=True)
    assert ph["year"].values.tolist() == [2021, 2022, 2023] and (ph["n_seasons"].values == 1).all()
    np.testing.assert_allclose(_doy(ph["sos"].values[:, 0]), [[120] * 3, [485] * 3, [850] * 3], atol=8)  # (year, x): slot 0
    lazy = fdl.phenology(_series(seasons, times=times, n=3).chunk({"x": 1}), by_year=True)
    xr.testing.assert_allclose(lazy.compute(), ph)
    # to 2024-01-26: 6 dates in 2024 spanning 25 days < 30 (min_length) -> left out; min_length=20: kept (as an empty year)
    longer = _series(seasons, times=pd.date_range("2021-01-01", "2024-01-26", freq="5D"), n=3)
    assert fdl.phenology(longer, by_year=True)["year"].values.tolist() == [2021, 2022, 2023]
    kept = fdl.phenology(longer, by_year=True, min_length=20)
    assert kept["year"].values.tolist() == [2021, 2022, 2023, 2024] and kept["n_seasons"].sel(year=2024).values.tolist() == [0, 0, 0]
    assert fdl.phenology(longer, by_year=True, min_length=20, min_valid=7)["year"].values.tolist() == [2021, 2022, 2023]  # 6 < 7
    # a leading year too: from 2020-12-22, 2 dates in 2020
    early = _series([(s + 10, e + 10) for s, e in seasons], times=pd.date_range("2020-12-22", "2023-12-27", freq="5D"), n=3)
    assert fdl.phenology(early, by_year=True)["year"].values.tolist() == [2021, 2022, 2023]

def test_the_dataset_accessor_without_ndvi_names_what_it_found():
    ds = xr.Dataset({"VV": (("time", "x"), np.zeros((5, 2)))}, coords={"time": pd.date_range("2021-01-01", periods=5), "x": [0.0, 1.0]})
    with pytest.raises(fdl.errors.MissingVariableError, match=r"expected an 'NDVI' variable in the Dataset, found \['VV'\]"):
        ds.fusion.phenology()


def test_timezone_aware_or_nat_times_and_a_dataset_are_dimension_errors_naming_the_way_out():
    # mogpr_input.csv read with parse_dates gives UTC-aware dates: a raw numpy TypeError before
    x = _series([(120, 220)], n=2)
    aware = x.assign_coords(time=T5.tz_localize("UTC"))
    with pytest.raises(DimensionError, match=r"expected 'time' as naive UTC datetime64 dates, found timezone-aware datetime64\[ns, UTC\]"):
        fdl.phenology(aware)
    fixed = aware.assign_coords(time=aware.indexes["time"].tz_convert("UTC").tz_localize(None))  # the recipe given
    assert fdl.phenology(fixed)["n_seasons"].values.tolist() == [1, 1]
    # a NaT date: "unsorted dates (use ndvi.sortby('time'))" before, which sorting does not cure
    nat = x.assign_coords(time=np.r_[T5.to_numpy()[:-1], np.datetime64("NaT")])
    with pytest.raises(DimensionError, match=r"expected a date at every 'time', found 1 NaT of 73"):
        fdl.phenology(nat)
    assert fdl.phenology(nat.isel(time=nat["time"].notnull().values))["n_seasons"].values.tolist() == [1, 1]
    # the cube instead of its NDVI: AttributeError: 'Dataset' object has no attribute 'data' before
    with pytest.raises(DimensionError, match=r"expected an NDVI DataArray .* found a Dataset with variables \['NDVI'\] \(pass ds\['NDVI'\]"):
        fdl.phenology(x.to_dataset(name="NDVI"))


def test_repeated_dates_far_dates_and_cftime_dates_are_refused_naming_the_way_out():
    """A repeated date passed silently (one of its values dropped on the grid: a season lost); the other stages refuse it.
    Dates beyond 2262 ([s] units) crashed in pandas; cftime dates were told to decode times that were decoded."""
    x = _series([(120, 220)], n=2)
    k = 10
    dup = xr.concat([x.isel(time=slice(0, k + 1)), x.isel(time=[k]) * 0 + 0.05, x.isel(time=slice(k + 1, None))], "time")
    with pytest.raises(fdl.errors.DuplicateTimeError, match=rf"phenology: expected unique dates, found 1 repeated \(first: \['{T5[k]}'\]\); "
                                                             r"merge them first \(e\.g\. ndvi\.groupby\('time'\)\.mean\(\)\)"):
        fdl.phenology(dup)
    assert fdl.phenology(dup.groupby("time").mean())["n_seasons"].values.tolist() == [1, 1]  # the recipe given
    far = x.assign_coords(time=T5.to_numpy().astype("datetime64[s]") + np.timedelta64(300 * 365, "D"))
    with pytest.raises(DimensionError, match=r"phenology: expected dates within 1677-09-21 .. 2262-04-11"):
        fdl.phenology(far)
    noleap = x.assign_coords(time=xr.date_range("2021-01-01", periods=x.sizes["time"], freq="5D", calendar="noleap", use_cftime=True))
    with pytest.raises(DimensionError, match=r"cftime dates of the 'noleap' calendar\): convert them"):
        fdl.phenology(noleap)


def test_a_few_values_that_cannot_be_ndvi_are_gaps_not_dips():
    # one bad value (-1.5, under 1 % of the values: no range warning) at the top of a season split it in two
    times = pd.date_range("2021-01-01", "2022-12-31", freq="5D")
    x = _series([(120, 220), (485, 585)], times=times, n=3, noise=0.0)
    clean = fdl.phenology(x)
    bad = x.copy()
    bad[34] = -1.5  # 2021-06-20, at the top of the first season
    bad[100, 1] = 1.3  # a spike in the winter trough
    got = fdl.phenology(bad)
    assert got["n_seasons"].values.tolist() == clean["n_seasons"].values.tolist() == [2, 2, 2]
    assert np.abs((got["pos"] - clean["pos"]) / np.timedelta64(1, "D")).max() < 2
    # chunked gives the same
    lazy = fdl.phenology(bad.chunk({"x": 1})).compute()
    assert lazy["n_seasons"].equals(got["n_seasons"]) and lazy["pos"].equals(got["pos"])


@pytest.mark.parametrize(
    ("dates", "tol"),
    [
        (pd.date_range("2021-01-01", "2023-12-01", freq="MS"), 1.0),  # monthly composites: peaks were 5-12 days off
        (pd.DatetimeIndex([f"{y}-{m:02d}-{d:02d}" for y in (2021, 2022, 2023) for m in range(1, 13) for d in (1, 11, 21)]), 1.0),
        (pd.date_range("2021-01-01", "2023-12-31", freq="5D"), 1.0),  # regular: the 5-day grid itself
    ],
)
def test_default_grid_does_not_move_the_dates_of_irregular_series(dates, tol):
    """Three identical seasons a year apart come back a year apart: the default grid places irregular dates on a daily
    grid (the median spacing would move them by up to half of it, differently each year)."""
    from fusets_dl.phenometrics.api import default_step

    d = ((dates - dates[0]) / pd.Timedelta(days=1)).to_numpy()
    peaks = [180.0, 545.0, 910.0]
    v = 0.2 + sum(0.6 * np.exp(-0.5 * ((d - m) / 30.0) ** 2) for m in peaks)
    da = xr.DataArray(v[:, None, None], dims=("time", "y", "x"), coords={"time": dates, "y": [0.0], "x": [0.0]})
    pos = pd.DatetimeIndex(fdl.phenology(da, max_seasons=4).pos.values.ravel()[:3])
    err = [(p - (dates[0] + pd.Timedelta(days=m))) / pd.Timedelta(days=1) for p, m in zip(pos, peaks, strict=True)]
    assert max(abs(e) for e in err) <= tol, err
    assert default_step(d) == (5.0 if dates.freqstr == "5D" else 1.0)


def test_a_peak_at_midnight_is_that_midnight_and_dates_are_whole_seconds():
    """The day arithmetic in floats left nanosecond noise (a peak at 00:00:00.000151818); dates are whole seconds."""
    t = pd.date_range("2021-01-01", "2021-12-31", freq="1D")
    d = (t - pd.Timestamp("2021-07-01")).days.to_numpy()
    y = 0.2 + 0.6 * np.exp(-0.5 * (d / 30.0) ** 2)
    da = xr.DataArray(np.tile(y[:, None, None], (1, 2, 2)), dims=("time", "y", "x"),
                      coords={"time": t, "y": [0, 1], "x": [0, 1]}, name="NDVI")
    ph = fdl.phenology(da)
    assert (ph["pos"].values[0] == np.datetime64("2021-07-01T00:00:00", "ns")).all()
    for v in ("sos", "pos", "eos"):
        vals = ph[v].values
        ns = vals[~np.isnat(vals)].astype(np.int64)
        assert ns.size and (ns % 1_000_000_000 == 0).all()


def test_by_year_with_a_period_keeps_only_the_years_it_touches():
    t = pd.date_range("2020-01-01", "2022-12-31", freq="5D")
    d = t.dayofyear.to_numpy()
    y = 0.2 + 0.6 * np.exp(-0.5 * ((d - 180) / 25.0) ** 2)
    da = xr.DataArray(np.tile(y[:, None, None], (1, 2, 2)), dims=("time", "y", "x"),
                      coords={"time": t, "y": [0, 1], "x": [0, 1]}, name="NDVI")
    every = fdl.phenology(da, by_year=True)
    one = fdl.phenology(da, by_year=True, period=("2021-01-01", "2021-12-31"))
    assert list(every["year"].values) == [2020, 2021, 2022] and list(one["year"].values) == [2021]
    np.testing.assert_array_equal(one["pos"].sel(year=2021).values, every["pos"].sel(year=2021).values)  # NaT == NaT here
    assert int(one["n_seasons"].max()) == 1


def test_the_time_of_day_of_the_dates_changes_nothing():
    """The same 5-daily values stamped 13:00 (an afternoon overpass, a UTC stamp) made the working grid daily, the noise NaN
    for every pixel and the noise test silently off: 19 % of noisy pixels got an extra season. Now both read alike."""
    rng = np.random.default_rng(3)
    t = pd.date_range("2021-01-01", "2022-12-31", freq="5D")
    d = ((t - t[0]) / pd.Timedelta(days=1)).to_numpy()
    peaks = (150.0, 515.0)
    curve = 0.2 + sum(0.5 * np.exp(-(((d - p) / 35) ** 2)) for p in peaks)
    vals = (curve[:, None] + rng.normal(0, 0.05, (d.size, 120))).astype(np.float32)
    at = {h: xr.DataArray(vals[:, None, :], dims=("time", "y", "x"), coords={"time": t + pd.Timedelta(hours=h)}) for h in (0, 13)}
    ph = {h: fdl.phenology(a, max_seasons=6) for h, a in at.items()}
    assert ph[13]["noise"].notnull().all() and float(ph[13]["noise"].median()) == pytest.approx(0.05, rel=0.15)
    np.testing.assert_allclose(ph[13]["noise"].values, ph[0]["noise"].values, rtol=1e-6)
    assert (ph[0]["n_seasons"] == 2).mean() > 0.95 and (ph[13]["n_seasons"] == 2).mean() > 0.95


def test_a_noise_that_cannot_be_estimated_is_warned():
    """Clear views 40 days apart: no neighbours close enough, the noise is NaN and the noise test off, which is said once."""
    t = pd.date_range("2021-01-01", "2022-12-31", freq="5D")
    d = ((t - t[0]) / pd.Timedelta(days=1)).to_numpy()
    v = np.where(np.arange(d.size) % 8 == 0, 0.2 + 0.5 * np.exp(-(((d - 150) / 60) ** 2)), np.nan).astype(np.float32)
    da = xr.DataArray(np.tile(v[:, None, None], (1, 2, 3)), dims=("time", "y", "x"), coords={"time": t})
    with pytest.warns(UserWarning, match=r"the noise of some pixels could not be estimated .*noise test \(noise_factor\) is off"):
        ph = fdl.phenology(da, max_seasons=3)
    assert ph["noise"].isnull().all()


@pytest.mark.parametrize(("separation", "seasons"), [(60, 2), (80, 1)])
def test_min_separation_is_the_distance_between_peaks(separation, seasons):
    """Two peaks 70 days apart: min_separation=80 keeps one (the window was min_separation wide in all, +-40 days, and kept
    both); 60 keeps both. The default (min_length / 2 on either side) is the window the default always had."""
    t = pd.date_range("2021-01-01", "2021-12-31", freq="1D")
    d = np.arange(t.size, dtype=float)
    y = 0.15 + 0.6 * np.exp(-0.5 * ((d - 130) / 12) ** 2) + 0.5 * np.exp(-0.5 * ((d - 200) / 12) ** 2)
    ph = fdl.phenology(xr.DataArray(y[:, None], dims=("time", "x"), coords={"time": t}), min_separation=separation, min_length=20)
    assert int(ph["n_seasons"][0]) == seasons
    assert ph.attrs["min_separation_days"] == separation
    assert fdl.phenology(xr.DataArray(y[:, None], dims=("time", "x"), coords={"time": t}), min_length=20).attrs["min_separation_days"] == 10


def test_compute_time_warnings_are_one_text_per_call_on_dask_and_counted_in_memory():
    """Each Dask chunk warned with its own counts (one call on 5 chunks gave 7 differently worded warnings)."""
    import warnings

    import dask

    t = pd.date_range("2021-01-01", "2022-12-31", freq="5D")
    d = ((t - t[0]) / pd.Timedelta(days=1)).to_numpy()
    y = 0.2 + 0.5 * np.exp(-(((d - 100) / 30) ** 2)) + 0.5 * np.exp(-(((d - 465) / 30) ** 2))
    v = np.tile(y[:, None, None], (1, 2, 40)).astype(np.float32)
    v[41:, :, ::3] = np.nan
    v[:30, :, ::3] = np.nan  # every third pixel: valid over 50 days only
    nd = xr.DataArray(v, dims=("time", "y", "x"), coords={"time": t})
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fdl.phenology(nd.chunk({"x": 8}), max_seasons=3).compute()
    texts = {str(x.message) for x in w if "span fewer" in str(x.message)}
    assert texts == {"phenology: pixels whose valid values span fewer than 60 days (the shortest series that holds a season) get "
                     "no season (Dask input, counted per chunk in the log)"}
    with pytest.warns(UserWarning, match=r"phenology: 28 of 80 pixels have valid values spanning fewer than 60 days"):
        fdl.phenology(nd, max_seasons=3)
