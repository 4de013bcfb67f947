"""Linear interpolation of the clear S2 series."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusets_dl.baselines import interpolate_linear
from fusets_dl.errors import DimensionError
from fusets_dl.testing import raise_if_dask_computes


def _series(values: list[float], start: str = "2021-01-01", step: int = 5) -> xr.DataArray:
    t = pd.date_range(start, periods=len(values), freq=f"{step}D")
    return xr.DataArray(np.array(values, dtype=float), dims="time", coords={"time": t})


def test_linear_hand_computed() -> None:
    s = _series([np.nan, 0.2, np.nan, np.nan, 0.8, np.nan])
    out = interpolate_linear(s).values
    np.testing.assert_allclose(out, [np.nan, 0.2, 0.4, 0.6, 0.8, np.nan], atol=1e-7)  # no extrapolation
    q = pd.to_datetime(["2021-01-06", "2021-01-08", "2021-01-21", "2021-01-30"])
    got = interpolate_linear(s, times=q).values
    # day 5 -> 0.2, day 7 -> 0.2 + 0.6 * 2/15, day 20 -> 0.8, day 29 beyond the last observation
    np.testing.assert_allclose(got, [0.2, 0.2 + 0.6 * 2 / 15, 0.8, np.nan], atol=1e-6)


def test_linear_lazy_and_chunked_equals_unchunked() -> None:
    rng = np.random.default_rng(0)
    v = rng.random((30, 4, 5))
    v[rng.random(v.shape) < 0.5] = np.nan
    arr = xr.DataArray(v, dims=("time", "y", "x"), coords={"time": pd.date_range("2021-01-01", periods=30, freq="7D")})
    eager = interpolate_linear(arr)
    with raise_if_dask_computes():
        lazy = interpolate_linear(arr.chunk({"y": 2, "x": 3}))
    assert isinstance(lazy.data, da.Array)
    xr.testing.assert_allclose(lazy.compute(), eager)


def test_bad_input() -> None:
    with pytest.raises(DimensionError, match="'time' dimension"):
        interpolate_linear(xr.DataArray(np.zeros(3), dims="t"))
