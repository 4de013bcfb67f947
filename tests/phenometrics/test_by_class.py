"""phenology_by_class on a hand-built phenology: medians, counts, NaT, attributes."""

from __future__ import annotations

import numpy as np
import xarray as xr

from fusets_dl.cf import _entries as cf_entries
from fusets_dl.cf import cf_attrs
from fusets_dl.phenometrics import phenology_by_class


def _pheno():
    day = np.timedelta64(1, "D")
    t0 = np.datetime64("2021-01-01", "ns")
    sos = np.array([[t0 + 100 * day, t0 + 110 * day, t0 + 130 * day, np.datetime64("NaT")]], "datetime64[ns]")
    pos, eos = sos + 50 * day, sos + 100 * day
    los = np.array([[100, 100, 100, np.nan]], np.float32)
    aos = np.array([[0.4, 0.5, 0.6, np.nan]], np.float32)
    dims = ("season", "x")
    return xr.Dataset({"sos": (dims, sos), "pos": (dims, pos), "eos": (dims, eos), "los": (dims, los), "aos": (dims, aos)})


def test_medians_counts_and_attributes():
    classes = xr.DataArray([0, 0, 0, 1], dims="x")
    out = phenology_by_class(_pheno(), classes)
    assert out["class"].values.tolist() == [0, 1]
    assert out["sos"].values[0, 0] == np.datetime64("2021-01-01", "ns") + np.timedelta64(110, "D")
    assert np.isnat(out["sos"].values[1, 0]) and np.isnan(out["aos"].values[1, 0])
    np.testing.assert_allclose(out["aos"].values[0, 0], 0.5)
    assert out["n_with_season"].values.tolist() == [[3], [0]]
    assert out["n_pixels"].values.tolist() == [3, 1]
    np.testing.assert_array_equal(out["fraction_with_season"].values, [[1.0], [0.0]])
    for name in out.data_vars:
        key = f"phenology_by_class.{name}"
        if key in cf_entries():
            assert out[name].attrs == cf_attrs(key) and out[name].dtype == np.dtype(cf_entries()[key]["dtype"])
        else:
            assert out[name].attrs == {}  # fraction_with_season: as before the table


def _two_crops():
    """4 x 4 pixels in raster order (y descending): an early crop in the top two rows (class 1), a late one below (class 2)."""
    import pandas as pd

    t = pd.date_range("2021-01-01", "2021-12-31", freq="5D")
    d = ((t - t[0]) / pd.Timedelta(days=1)).to_numpy()

    def crop(sos, eos):
        return 0.2 + 0.6 * (1 / (1 + np.exp(-0.1 * (d - sos))) - 1 / (1 + np.exp(-0.1 * (d - eos))))

    rows = [crop(60, 160)] * 2 + [crop(180, 300)] * 2
    data = np.stack([np.repeat(r[:, None], 4, axis=1) for r in rows], axis=1).astype(np.float32)
    y, x = np.arange(4)[::-1] * 20.0, np.arange(4) * 20.0
    nd = xr.DataArray(data, dims=("time", "y", "x"), coords={"time": t, "y": y, "x": x})
    cls = xr.DataArray(np.r_[np.ones((2, 4)), 2 * np.ones((2, 4))].astype(int), dims=("y", "x"), coords={"y": y, "x": x})
    return nd, cls


def test_class_map_in_another_order_is_matched_by_coordinates():
    import fusets_dl as fdl

    nd, cls = _two_crops()
    ref = fdl.phenology(nd, by=cls)
    assert ref["sos"].sel({"class": 1, "season": 0}).values < ref["sos"].sel({"class": 2, "season": 0}).values
    for other in (cls.sortby("y"), cls.sortby("x", ascending=False).transpose("x", "y"), cls.sortby("y").assign_coords(x=cls.x + 1e-6)):
        out = fdl.phenology(nd, by=other)
        for k in ("sos", "pos", "eos", "los", "aos", "n_with_season", "n_pixels"):
            np.testing.assert_array_equal(out[k].values, ref[k].values)
    ph = fdl.phenology(nd)
    xr.testing.assert_identical(phenology_by_class(ph, cls.sortby("y")), phenology_by_class(ph, cls))


def test_class_map_on_another_grid_is_a_dimension_error_naming_both():
    import pytest

    import fusets_dl as fdl
    from fusets_dl.errors import DimensionError

    nd, cls = _two_crops()
    with pytest.raises(DimensionError, match=r"phenology_by_class: expected the class map on the grid of the NDVI, 'y': size 4, 60.0 .. 0.0; "
                                             r"found 'y': size 3, 60.0 .. 20.0"):
        fdl.phenology(nd, by=cls.isel(y=slice(0, 3)))
    with pytest.raises(DimensionError, match=r"'x': size 4, 0.0 .. 60.0; found 'x': size 4, 10.0 .. 70.0"):
        fdl.phenology(nd, by=cls.assign_coords(x=cls.x + 10.0))  # half a pixel off


def _slots(pos_days, aos=None):
    """A hand-built phenology on ``(season, x)`` from peak days (NaN: no season): sos 40 days before, eos 40 after."""
    pos_days = np.asarray(pos_days, dtype=np.float64)
    t0 = np.datetime64("2021-01-01", "ns")

    def dates(days):
        return np.where(np.isfinite(days), t0 + (np.nan_to_num(days) * 86400e9).astype("timedelta64[ns]"), np.datetime64("NaT"))

    aos = np.where(np.isfinite(pos_days), 0.5, np.nan) if aos is None else np.asarray(aos, dtype=np.float64)
    dims = ("season", "x")
    return xr.Dataset({"sos": (dims, dates(pos_days - 40)), "pos": (dims, dates(pos_days)), "eos": (dims, dates(pos_days + 40)),
                       "los": (dims, np.where(np.isfinite(pos_days), 80.0, np.nan).astype(np.float32)), "aos": (dims, aos.astype(np.float32))},
                      coords={"season": np.arange(pos_days.shape[0]), "x": np.arange(pos_days.shape[1])})


def _days(values):
    return (values - np.datetime64("2021-01-01", "ns")) / np.timedelta64(1, "D")


def test_a_season_cut_by_the_series_start_in_half_the_pixels_is_matched_by_peak_date_not_slot():
    import warnings

    # five pixels with the four seasons (peaks on days 65, 215, 430, 580), five whose first season is cut:
    # their slot 0 is the class's second season. Before: slot medians 140, 322, 505 (troughs where no pixel peaks), 580.
    full = [65, 215, 430, 580]
    cut = [215 + 2, 430 + 2, 580 + 2, np.nan]
    pheno = _slots(np.array([full] * 5 + [cut] * 5).T)
    classes = xr.DataArray(np.zeros(10, int), dims="x", coords={"x": np.arange(10)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every pixel season is matched: no warning
        out = phenology_by_class(pheno, classes)
    np.testing.assert_allclose(_days(out["pos"].values[0]), [65, 216, 431, 581])
    np.testing.assert_allclose(_days(out["sos"].values[0]), [25, 176, 391, 541])
    assert out["n_with_season"].values[0].tolist() == [5, 10, 10, 10]
    np.testing.assert_allclose(out["fraction_with_season"].values[0], [0.5, 1, 1, 1])
    chunked = phenology_by_class(pheno.chunk({"x": 3}), classes.chunk({"x": 4}))
    xr.testing.assert_identical(chunked, out)


def test_by_class_on_a_phenology_run_matches_the_seasons_of_pixels_with_a_cut_start():
    import pandas as pd

    import fusets_dl as fdl

    t = pd.date_range("2021-01-01", "2022-12-31", freq="5D")
    d = ((t - t[0]) / pd.Timedelta(days=1)).to_numpy()
    y = np.full(d.size, 0.15)
    for sos, eos in [(20, 110), (170, 260), (385, 475), (535, 625)]:
        y = y + 0.6 * (1 / (1 + np.exp(-(d - sos) / 8.0)) - 1 / (1 + np.exp(-(d - eos) / 8.0)))
    v = np.repeat(y[:, None], 6, axis=1).astype(np.float32)
    v[:20, 3:] = np.nan  # half the pixels start on 2021-04-11: their first season is cut
    nd = xr.DataArray(v, dims=("time", "x"), coords={"time": t, "x": np.arange(6.0)})
    classes = xr.DataArray(np.zeros(6, int), dims="x", coords={"x": nd.x})
    per_pixel = fdl.phenology(nd, max_seasons=4)
    assert _days(per_pixel["pos"].values[0, 3]) > 200  # slot 0 of a cut pixel is the second season
    out = fdl.phenology(nd, max_seasons=4, by=classes)
    want = _days(per_pixel["pos"].values[:, 0])  # the pixel with all four seasons
    np.testing.assert_allclose(_days(out["pos"].values[0]), want, atol=1)
    assert out["n_with_season"].values[0].tolist() == [3, 6, 6, 6]
    lazy = fdl.phenology(nd.chunk({"x": 2}), max_seasons=4, by=classes)
    xr.testing.assert_identical(lazy, out)


def test_seasons_that_cannot_be_matched_are_left_out_with_a_warning_and_counts():
    import pytest

    # one slot: 3 pixels peak in 2021, 2 in 2022 (max_seasons=1 over two years): two class seasons, one slot
    pheno = _slots(np.array([[100.0, 102, 104, 465, 467]]))
    classes = xr.DataArray([0, 0, 0, 0, 0], dims="x", coords={"x": np.arange(5)})
    with pytest.warns(UserWarning, match=r"class 0: 2 seasons found for 1 slots; the 1 with the fewest pixels \(2 pixel seasons\) left out"):
        out = phenology_by_class(pheno, classes)
    np.testing.assert_allclose(_days(out["pos"].values[0]), [102])  # not 104, the median of both years
    assert out["n_with_season"].values.tolist() == [[3]]
    # a pixel whose two seasons (20 days apart) both lie nearest the class's first season: the farther one is left out
    pheno = _slots(np.array([[100.0, 100, 100, 100, 100], [280, 280, 280, 280, 120]]))
    with pytest.warns(UserWarning, match=r"class 0: 1 of 10 pixel seasons peak more than 90 days from every class season"):
        out = phenology_by_class(pheno, classes)
    np.testing.assert_allclose(_days(out["pos"].values[0]), [100, 280])
    assert out["n_with_season"].values.tolist() == [[5, 4]]


def _yearly_cube():
    import pandas as pd

    t = pd.date_range("2021-01-01", "2022-12-31", freq="5D")
    d = ((t - t[0]) / pd.Timedelta(days=1)).to_numpy()

    def crop(seasons):
        y = np.full(d.size, 0.15)
        for sos, eos in seasons:
            y = y + 0.6 * (1 / (1 + np.exp(-(d - sos) / 8.0)) - 1 / (1 + np.exp(-(d - eos) / 8.0)))
        return y

    one, two = crop([(60, 140), (200, 285), (425, 505), (565, 650)]), crop([(120, 220), (490, 590)])
    data = np.stack([np.stack([one] * 3 + [two] * 3, axis=1)] * 2, axis=1).astype(np.float32)  # (time, y, x)
    nd = xr.DataArray(data, dims=("time", "y", "x"), coords={"time": t, "y": [10.0, 0.0], "x": np.arange(6.0)})
    cls = xr.DataArray(np.array([[1, 1, 1, 2, 2, 2]] * 2), dims=("y", "x"), coords={"y": nd.y, "x": nd.x})
    return nd, cls


def test_by_year_with_by_gives_class_medians_per_year():
    import fusets_dl as fdl
    from fusets_dl.testing import raise_if_dask_computes

    nd, cls = _yearly_cube()
    out = fdl.phenology(nd, by_year=True, max_seasons=2, by=cls)
    assert out["pos"].dims == ("class", "year", "season") and out["n_pixels"].dims == ("class",)
    assert out["year"].values.tolist() == [2021, 2022] and out["n_pixels"].values.tolist() == [6, 6]
    per_pixel = fdl.phenology(nd, by_year=True, max_seasons=2)
    for c, x in ((1, 0), (2, 3)):
        np.testing.assert_allclose(_days(out["pos"].sel({"class": c}).values), _days(per_pixel["pos"].values[:, :, 0, x]), atol=1)
    assert out["n_with_season"].values.tolist() == [[[6, 6], [6, 6]], [[6, 0], [6, 0]]]
    assert np.isnat(out["pos"].sel({"class": 2, "season": 1}).values).all()
    # a class map per year (on (year, y, x)): counts per year; chunked equals unchunked
    yearly = xr.concat([cls, cls.where(cls.x < 4, -1)], "year").assign_coords(year=[2021, 2022])
    with raise_if_dask_computes():
        lazy = fdl.phenology(nd.chunk({"x": 2}), by_year=True, max_seasons=2)
    per_year = phenology_by_class(lazy, yearly)
    assert per_year["n_pixels"].dims == ("class", "year") and per_year["n_pixels"].values.tolist() == [[6, 6], [6, 2]]
    assert per_year["n_with_season"].sel({"class": 2}).values.tolist() == [[6, 0], [2, 0]]
    xr.testing.assert_identical(phenology_by_class(lazy, cls), out)


def test_class_maps_and_params_of_the_wrong_kind_are_config_errors_saying_what_is_expected():
    import pytest

    import fusets_dl as fdl
    from fusets_dl.errors import ConfigError

    nd, cls = _two_crops()
    with pytest.raises(ConfigError, match=r"phenology: by: expected the class map as an "
                                          r"xarray.DataArray on the pixel dimensions of the NDVI .*found ndarray of shape \(4, 4\)"):
        fdl.phenology(nd, by=cls.values)
    with pytest.raises(ConfigError, match=r"phenology: classes: expected the class map as an xarray.DataArray .*found ndarray of shape \(4, 4\)"):
        fdl.phenology(nd, classes=cls.values, params={1: {"max_seasons": 1}})
    with pytest.raises(ConfigError, match=r"phenology: params: expected a mapping of class id \(int\) or 'default' to a dict of "
                                          r"phenology options, e\.g\. .*found list \[\(1, \{\}\)\]"):
        fdl.phenology(nd, classes=cls, params=[(1, {})])


def test_a_single_season_class_is_not_split_by_another_classes_double_peaks():
    """A class whose pixels have one season borrowed the map-wide spacing of another class's double peaks 35 days apart,
    and its season (peaks spread +-30 days) was cut in two."""
    import numpy as np
    import xarray as xr

    from fusets_dl.phenometrics.by_class import phenology_by_class

    rng = np.random.default_rng(0)
    ny, nx = 10, 10
    p = ny * nx
    pos = np.full((2, p), np.nan)
    pos[0, : p // 2] = 180 + rng.normal(0, 30, p // 2)
    pos[0, p // 2 :] = 150 + rng.normal(0, 3, p // 2)
    pos[1, p // 2 :] = 185 + rng.normal(0, 3, p // 2)
    epoch = np.datetime64("2020-01-01", "ns")
    dates = np.where(np.isfinite(pos), epoch + np.nan_to_num(pos * 86400e9).astype("timedelta64[ns]"), np.datetime64("NaT"))
    ds = xr.Dataset({v: (("season", "y", "x"), dates.reshape(2, ny, nx)) for v in ("sos", "pos", "eos")}
                    | {v: (("season", "y", "x"), np.where(np.isfinite(pos), 1.0, np.nan).reshape(2, ny, nx)) for v in ("los", "aos")},
                    coords={"season": [0, 1], "y": np.arange(ny), "x": np.arange(nx)})
    cls = xr.DataArray(np.repeat([0, 1], p // 2).reshape(ny, nx), dims=("y", "x"), coords={"y": np.arange(ny), "x": np.arange(nx)})
    out = phenology_by_class(ds, cls)
    assert out["n_with_season"].sel({"class": 0}).values.tolist() == [50, 0]
    assert out["n_with_season"].sel({"class": 1}).values.tolist() == [50, 50]
