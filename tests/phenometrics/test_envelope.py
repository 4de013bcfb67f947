"""Upper-envelope fit: single-date cloud dips neither split a season nor move its dates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError
from fusets_dl.phenometrics.envelope import upper_envelope

T5 = pd.date_range("2021-01-01", "2021-12-31", freq="5D")
DAYS = ((T5 - pd.Timestamp("2021-01-01")) / pd.Timedelta(days=1)).to_numpy()


def _season(noise: float, n: int = 20, seed: int = 0) -> np.ndarray:
    y = 0.15 + 0.6 * (1 / (1 + np.exp(-(DAYS - 120) / 8)) - 1 / (1 + np.exp(-(DAYS - 220) / 8)))
    return y[:, None] + np.random.default_rng(seed).normal(0, noise, (DAYS.size, n))


def _cube(y: np.ndarray) -> xr.DataArray:
    return xr.DataArray(y.astype(np.float32), dims=("time", "x"), coords={"time": T5})


def _doy(a: np.ndarray) -> np.ndarray:
    return (a - np.datetime64("2021-01-01")) / np.timedelta64(1, "D")


@pytest.mark.parametrize("dip_day", [150, 170, 195])
def test_one_dip_of_0_3_gives_one_season_with_dates_within_3_days(dip_day):
    y = _season(0.01)
    y[np.searchsorted(DAYS, dip_day)] -= 0.3
    ph = fdl.phenology(_cube(y), max_seasons=3, envelope=True)
    assert (ph["n_seasons"].values == 1).all()
    assert np.abs(_doy(ph["sos"].values[0]) - 120).max() <= 3
    assert np.abs(_doy(ph["eos"].values[0]) - 220).max() <= 3
    # the dip is dropped: the peak value is the top of the curve, not pulled down
    assert np.abs(ph["pos_value"].values[0] - 0.75).max() < 0.03


def test_dips_lower_the_fit_and_inflate_the_noise_without_the_envelope():
    y = _season(0.01)
    rng = np.random.default_rng(1)
    for j in range(y.shape[1]):  # 8 dips of 0.3 per pixel, on different dates
        y[rng.choice(DAYS.size, 8, replace=False), j] -= 0.3
    plain = fdl.phenology(_cube(y), max_seasons=3)
    env = fdl.phenology(_cube(y), max_seasons=3, envelope=2)
    # true sd 0.01: the dips inflate the plain estimate (measured 0.016), the envelope's is near the truth (0.011)
    assert float(env["noise"].median()) < 0.013 < float(plain["noise"].median())
    assert float(np.abs(env["pos_value"].values[0] - 0.75).mean()) < float(np.abs(plain["pos_value"].values[0] - 0.75).mean())
    assert (env["n_seasons"].values == 1).mean() >= 0.95


def test_upper_envelope_drops_only_the_dip_and_refits():
    g = np.tile(np.linspace(0.2, 0.8, 30), (2, 1))
    g[0, 15] -= 0.3
    c = np.ones_like(g)

    def fit(gg, cc, _sd):
        # a straight line through the kept values (a stand-in smoother with a known answer)
        out = np.empty(gg.shape)
        for i in range(gg.shape[0]):
            ok = cc[i] > 0
            out[i] = np.polyval(np.polyfit(np.flatnonzero(ok), gg[i, ok], 1), np.arange(gg.shape[1]))
        return out

    x, _sigma, dropped = upper_envelope(g, c, np.array([0.01, 0.01]), fit, 2)
    assert dropped.sum() == 1 and dropped[0, 15]
    np.testing.assert_allclose(x, np.tile(np.linspace(0.2, 0.8, 30), (2, 1)), atol=1e-12)


def test_envelope_off_is_the_plain_fit_and_bad_values_raise():
    y = _cube(_season(0.02, n=4))
    a, b = fdl.phenology(y), fdl.phenology(y, envelope=0)
    xr.testing.assert_identical(a, b)
    with pytest.raises(ConfigError, match=r"envelope: expected true, false or a whole number of refits >= 0, found -1"):
        fdl.phenology(y, envelope=-1)
