"""fusets_mogpr: FuseTS's mogpr arguments and output layout, answered by fusets_dl's MOGPR."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusets_dl.baselines import fusets_mogpr, mogpr
from fusets_dl.errors import ConfigError, DimensionError, MissingVariableError

_FIT = {"n_iter": 25, "restarts": 1, "device": "cpu", "dtype": "float64"}


def _series(n_pix: int = 2) -> xr.Dataset:
    """NDVI every 10 days with gaps, RVI every 6 days, on FuseTS's 't' dimension."""
    t = pd.date_range("2021-03-01", "2021-10-31", freq="2D")
    d = ((t - t[0]) / pd.Timedelta(days=1)).to_numpy()
    rng = np.random.default_rng(0)
    curve = 0.2 + 0.6 * np.exp(-(((d - 120.0) / 40.0) ** 2))
    ndvi = np.where((np.arange(t.size) % 5 == 0) & ((d < 100) | (d > 140)), curve, np.nan)
    rvi = np.where(np.arange(t.size) % 3 == 0, 0.3 + 0.5 * curve, np.nan)
    pix = np.arange(n_pix)
    return xr.Dataset(
        {
            "NDVI": (("t", "p"), ndvi[:, None] + 0.01 * rng.standard_normal((t.size, n_pix))),
            "RVI": (("t", "p"), rvi[:, None] + 0.01 * rng.standard_normal((t.size, n_pix))),
            "crs": ((), 0),
        },
        coords={"t": t, "p": pix},
    )


def test_layout_dates_and_values_match_the_direct_call():
    ds = _series()
    out = fusets_mogpr(ds, prediction_period="5D", include_uncertainties=True, include_raw_inputs=True, **_FIT)
    grid = pd.date_range(ds.t.values[0], ds.t.values[-1], freq="5D")
    assert sorted(out.data_vars) == ["NDVI_FUSED", "NDVI_RAW", "NDVI_STD", "RVI_FUSED", "RVI_RAW", "RVI_STD"]
    assert out["NDVI_FUSED"].dims[0] == "t" and "p" in out["NDVI_FUSED"].dims
    # raw inputs on their own dates: the time axis is the union of the grid and the input dates (FuseTS's concat)
    assert pd.DatetimeIndex(out.t.values).equals(grid.union(pd.DatetimeIndex(ds.t.values)))
    direct = mogpr(ds.drop_vars("crs"), "NDVI", grid.values, time_dim="t", **_FIT)
    np.testing.assert_allclose(out["NDVI_FUSED"].sel(t=grid).transpose(*direct["NDVI"].dims).values, direct["NDVI"].values, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out["RVI_STD"].sel(t=grid).transpose(*direct["RVI_std"].dims).values, direct["RVI_std"].values, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(out["NDVI_RAW"].sel(t=ds.t).transpose("t", "p").values, ds["NDVI"].values.astype(np.float32))
    # the gap between days 100 and 140 is filled near the true peak, with a std larger than at observed dates
    peak = out["NDVI_FUSED"].sel(t="2021-06-29", method="nearest")
    assert np.all(np.abs(peak.values - 0.8) < 0.15)
    assert float(out["NDVI_STD"].sel(t="2021-06-29", method="nearest").mean()) > float(out["NDVI_STD"].sel(t="2021-03-26").mean())


def test_defaults_keep_the_input_dates_and_take_any_time_name():
    ds = _series(1).rename(t="time")
    out = fusets_mogpr(ds, variables=["NDVI", "RVI"], **_FIT)  # 't' absent: 'time' is found, and kept
    assert sorted(out.data_vars) == ["NDVI_FUSED", "RVI_FUSED"]
    assert pd.DatetimeIndex(out.time.values).equals(pd.DatetimeIndex(ds.time.values))


def test_bad_inputs_say_what_was_expected():
    ds = _series(1)
    with pytest.raises(DimensionError, match="expected a time dimension"):
        fusets_mogpr(ds.rename(t="when"), **_FIT)
    with pytest.raises(MissingVariableError, match=r"\['EVI'\] not in the Dataset"):
        fusets_mogpr(ds, variables=["NDVI", "EVI"], **_FIT)
    with pytest.raises(ConfigError, match="prediction_period"):
        fusets_mogpr(ds, prediction_period="every week", **_FIT)
    with pytest.raises(DimensionError, match="expected datetime64"):
        fusets_mogpr(ds.assign_coords(t=np.arange(ds.sizes["t"])), **_FIT)
