"""open_s2: NDVI and the clear mask, clear classes, several resolutions, laziness."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.testing import raise_if_dask_computes
from tests.readers.helpers import s2_raw


def test_open_s2_ndvi_and_clear_by_hand():
    raw = s2_raw()
    s2 = fdl.open_s2(raw)
    r = raw["B04"].values.astype(float)
    n = raw["B08"].values.astype(float)
    expected = (n - r) / (n + r)
    expected[0, 0, 0] = np.nan
    np.testing.assert_allclose(s2["NDVI"].values, expected, rtol=1e-5)
    np.testing.assert_array_equal(s2["clear"].values, np.isin(raw["SCL"].values, [4, 5]) & np.isfinite(expected))
    assert s2["clear"].dtype == bool and s2["NDVI"].dtype == np.float32


def test_open_s2_custom_clear_classes_and_missing_bands():
    raw = s2_raw()
    s2 = fdl.open_s2(raw, clear_classes=[4])
    assert not (s2["clear"].values & (raw["SCL"].values == 5)).any()
    with pytest.raises(fdl.errors.MissingVariableError, match="B04 and B08"):
        fdl.open_s2(raw.drop_vars("B08"))


def test_open_s2_merges_resolutions_onto_finest_grid():
    fine = s2_raw(ny=4, nx=4).drop_vars("SCL")
    coarse_scl = np.array([[[4, 9], [5, 3]]] * 3, dtype=np.uint8)
    coarse = xr.Dataset(
        {"SCL": (("t", "y", "x"), coarse_scl)},
        coords={"t": fine.t, "y": 5000.0 - 5 - 20 * np.arange(2) + 0.0, "x": 300000.0 + 5 + 20 * np.arange(2)},
        attrs={"epsg": 32631},
    )
    # fine pixel centres 5000, 4990 lie in the coarse pixel centred at 4995
    s2 = fdl.open_s2([fine, coarse])
    assert s2.sizes == {"time": 3, "y": 4, "x": 4}
    np.testing.assert_array_equal(s2["SCL"].values[0], np.repeat(np.repeat(coarse_scl[0], 2, 0), 2, 1))


def test_open_s2_laziness(tmp_path):
    raw = s2_raw(nt=4, ny=8, nx=8)
    path = tmp_path / "s2.nc"
    raw.to_netcdf(path)
    with raise_if_dask_computes():
        s2 = fdl.open_s2(path, chunks={"y": 4, "x": 4})
    assert s2["NDVI"].chunks is not None
    eager = fdl.open_s2(path)
    np.testing.assert_allclose(s2["NDVI"].values, eager["NDVI"].values)
