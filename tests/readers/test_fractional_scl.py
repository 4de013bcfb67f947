"""SCL holding non-integer values (a temporal median or mean of the class band) is warned about, not used silently."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.testing import raise_if_dask_computes


def _s2(scl: np.ndarray) -> xr.Dataset:
    t = pd.date_range("2021-06-01", periods=scl.shape[0], freq="10D")
    red = np.full(scl.shape, 0.05, np.float32)
    return xr.Dataset(
        {"B04": (("time", "y", "x"), red), "B08": (("time", "y", "x"), red * 6), "SCL": (("time", "y", "x"), scl)},
        coords={"time": t, "y": 5000.0 - 10 * np.arange(scl.shape[1]), "x": 300000.0 + 10 * np.arange(scl.shape[2])},
        attrs={"epsg": 32631},
    )


def _aggregated() -> np.ndarray:
    """A dekad median of SCL: 4.5 (vegetation and bare soil), 6.5 (water and cloud shadow), 4.0 (the median of 4, 4, 9)."""
    scl = np.full((3, 4, 5), 4.0, np.float32)
    scl[0, 0, :4] = 4.5
    scl[1, 1, :2] = 6.5
    scl[2, 3, 4] = np.nan  # nodata
    return scl


def test_fractional_scl_is_warned_with_its_count_and_treated_as_not_clear():
    with pytest.warns(UserWarning) as rec:
        s2 = fdl.open_s2(_s2(_aggregated()))
    msgs = [str(w.message) for w in rec if "SCL holds non-integer" in str(w.message)]
    # before: no warning; 4.5 was not clear but stored as class 4 in SCL
    assert len(msgs) == 1
    assert "on 6 of 59 valid pixel-dates (10.2 %, e.g. 4.5)" in msgs[0]
    assert "must not be aggregated" in msgs[0] and "mode" in msgs[0] and "before aggregating" in msgs[0]
    assert not s2["clear"].values[0, 0, :4].any() and s2["clear"].values[0, 0, 4]
    assert (s2["SCL"].values[0, 0, :4] == 0).all() and (s2["SCL"].values[1, 1, :2] == 0).all()
    assert int(s2["clear"].sum()) == 59 - 6


def test_fractional_scl_on_dask_warns_once_as_computed_and_integer_floats_do_not_warn():
    scl = _aggregated()
    scl[2, 3, 0] = 8.5  # in the second chunk too
    raw = _s2(scl).chunk({"y": 2})
    with raise_if_dask_computes(max_computes=3):  # nothing more than before is computed at open
        s2 = fdl.open_s2(raw, chunks={"y": 2})
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("default")  # as users see them: each message once
        clear = s2["clear"].values
    msgs = [str(w.message) for w in rec if "SCL holds non-integer" in str(w.message)]
    assert len(msgs) == 1 and "(Dask input, judged per chunk as computed)" in msgs[0] and "mode" in msgs[0]
    assert int(clear.sum()) == 59 - 7
    whole = _aggregated().round()  # SCL as floats with NaN fill, integer-valued: nothing to say
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fdl.open_s2(_s2(whole))
