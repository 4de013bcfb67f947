"""Backscatter declared linear power that cannot be power (a 0-255 display stretch): refused, naming what it is."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl


def _s1(vv: np.ndarray, vh: np.ndarray) -> xr.Dataset:
    t = pd.date_range("2021-06-05", periods=vv.shape[0], freq="6D")
    dims = ("time", "y", "x")
    return xr.Dataset({"VV": (dims, vv), "VH": (dims, vh)},
                      coords={"time": t, "y": 5600000.0 - 10 * np.arange(vv.shape[1]), "x": 600000.0 + 10 * np.arange(vv.shape[2])})


def _stretch(dtype: str = "float32") -> xr.Dataset:
    """Sentinel Hub sampleType AUTO: linear power 0..1 stretched to 0..255 (VV about -11 dB reads 20..30)."""
    rng = np.random.default_rng(0)
    vv_db = rng.uniform(-14, -8, (3, 8, 8))
    return _s1(np.round(255 * 10 ** (vv_db / 10)).astype(dtype), np.round(255 * 10 ** ((vv_db - 7) / 10)).astype(dtype))


def test_declared_linear_refuses_a_display_stretch():
    """Before: read without a word, VV median +14.5 dB (true about -11 dB), passing every later range check."""
    with pytest.raises(fdl.errors.EncodingError, match=r"declared units='linear' but the median is .*\+1\d\.\d dB read as power.*"
                                                       r"display stretch.*sampleType FLOAT32"):
        fdl.open_s1(_stretch(), units="linear")


def test_declared_linear_refuses_a_display_stretch_on_dask():
    with pytest.raises(fdl.errors.EncodingError, match="display stretch"):  # at open (its sample) or, at the latest, when computed
        fdl.open_s1(_stretch(), units="linear", chunks={"y": 4})["VV"].compute()


def test_declared_linear_refuses_uint8_stretches_too():
    """Before: integers skipped the declared-units check altogether."""
    with pytest.raises(fdl.errors.EncodingError, match="display stretch"):
        fdl.open_s1(_stretch("uint8"), units="linear")


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_the_auto_error_names_the_stretch_instead_of_suggesting_linear(dtype):
    """Before: 'Pass units='dB', 'linear' or 'compressed' explicitly', and units='linear' then read +14.5 dB."""
    with pytest.raises(fdl.errors.EncodingError) as err:
        fdl.open_s1(_stretch(dtype))
    msg = str(err.value)
    assert "display stretch" in msg and "sampleType FLOAT32" in msg and "'linear' or" not in msg


def test_declared_linear_power_of_land_is_read():
    rng = np.random.default_rng(1)
    vv_db = rng.uniform(-14, -2, (3, 8, 8))
    s1 = fdl.open_s1(_s1(10 ** (vv_db / 10), 10 ** ((vv_db - 7) / 10)), units="linear")
    np.testing.assert_allclose(s1["VV"].values, vv_db, atol=1e-4)
