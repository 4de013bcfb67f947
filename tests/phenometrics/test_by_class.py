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
