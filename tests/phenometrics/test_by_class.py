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
