"""Small hand-made fusion cubes shared by the feature tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

# acquisitions every 6 days; the second one is missing (NaN)
TIMES = pd.to_datetime(["2021-01-01T06:00", "2021-01-07T06:00", "2021-01-13T06:00", "2021-01-19T06:00", "2021-01-25T06:00"])
VV = np.array([-10.0, np.nan, -12.0, -8.0, -9.0], dtype=np.float32)


def make_cube(vv=VV, vh=None, times=TIMES, ny=1, nx=1, orbit=None):
    """A cube with the series ``vv`` (and ``vh``, default ``vv - 6``) at every pixel."""
    vh = vv - 6 if vh is None else vh
    shape = (len(times), ny, nx)
    ds = xr.Dataset(
        {
            "VV": (("time", "y", "x"), np.broadcast_to(np.asarray(vv, np.float32)[:, None, None], shape).copy(), {"units": "dB"}),
            "VH": (("time", "y", "x"), np.broadcast_to(np.asarray(vh, np.float32)[:, None, None], shape).copy(), {"units": "dB"}),
        },
        coords={"time": times, "y": np.arange(ny, dtype=float), "x": np.arange(nx, dtype=float)},
    )
    if orbit is not None:
        ds = ds.assign_coords(orbit=("time", orbit))
    return ds


def optical_cube(ndvi, times=TIMES, ny=1, nx=1):
    """:func:`make_cube` with the clear NDVI series ``ndvi`` at every pixel."""
    ds = make_cube(times=times, ny=ny, nx=nx)
    shape = (len(times), ny, nx)
    ds["NDVI"] = (("time", "y", "x"), np.broadcast_to(np.asarray(ndvi, np.float32)[:, None, None], shape).copy())
    return ds


def series(f, name):
    """The series of feature ``name`` at the first pixel."""
    return f.sel(feature=name).isel(y=0, x=0).values
