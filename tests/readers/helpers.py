"""Small raw S1 and S2 inputs shared by the reader tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr


def s1_raw(nt=4, ny=3, nx=5, *, time_name="t", prefix="", values=None):
    rng = np.random.default_rng(0)
    t = pd.date_range("2021-03-01", periods=nt, freq="6D")
    vv = rng.normal(-11, 2, (nt, ny, nx)).astype(np.float32) if values is None else values
    vh = (vv - 6).astype(np.float32)
    ds = xr.Dataset(
        {f"{prefix}VV": ((time_name, "y", "x"), vv), f"{prefix}VH": ((time_name, "y", "x"), vh)},
        coords={time_name: t, "y": 5000.0 - 20 * np.arange(ny), "x": 300000.0 + 20 * np.arange(nx)},
        attrs={"epsg": 32631},
    )
    return ds


def s2_raw(nt=3, ny=4, nx=4):
    rng = np.random.default_rng(3)
    t = pd.date_range("2021-03-02", periods=nt, freq="5D")
    red = rng.integers(200, 900, (nt, ny, nx)).astype(np.uint16)
    nir = rng.integers(2000, 4000, (nt, ny, nx)).astype(np.uint16)
    scl = rng.choice([4, 5, 8, 9, 3], (nt, ny, nx)).astype(np.uint8)
    red[0, 0, 0] = 0
    return xr.Dataset(
        {
            "B04": (("t", "y", "x"), red, {"scale_factor": 1e-4, "_FillValue": 0}),
            "B08": (("t", "y", "x"), nir, {"scale_factor": 1e-4, "_FillValue": 0}),
            "SCL": (("t", "y", "x"), scl, {"_FillValue": 0}),
        },
        coords={"t": t, "y": 5000.0 - 10 * np.arange(ny), "x": 300000.0 + 10 * np.arange(nx)},
        attrs={"epsg": 32631},
    )
