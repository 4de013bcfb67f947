"""The S2-only Whittaker baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusets_dl.baselines import whittaker_baseline
from fusets_dl.errors import ConfigError
from fusets_dl.smoothing import whittaker


def _series(values: list[float], step: int = 5) -> xr.DataArray:
    t = pd.date_range("2021-01-01", periods=len(values), freq=f"{step}D")
    return xr.DataArray(np.array(values, dtype=float), dims="time", coords={"time": t})


def test_whittaker_baseline_equals_daily_whittaker() -> None:
    rng = np.random.default_rng(1)
    vals = 0.5 + 0.3 * np.sin(np.arange(20) / 3.0) + rng.normal(0, 0.02, 20)
    vals[[3, 4, 10]] = np.nan
    s = _series(list(vals), step=5)
    out = whittaker_baseline(s, lam=500.0).values
    y = np.full(96, np.nan)
    y[::5] = vals
    w = np.isfinite(y).astype(float)
    ref = whittaker(y, w, 500.0)[::5]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_edges_are_not_extrapolated_and_bad_lambda_is_refused() -> None:
    out = whittaker_baseline(_series([np.nan, 0.2, 0.3, 0.5, np.nan])).values
    assert np.isnan(out[[0, 4]]).all() and np.isfinite(out[1:4]).all()
    with pytest.raises(ConfigError, match="lam"):
        whittaker_baseline(_series([0.1, 0.2, 0.3]), lam=0)
