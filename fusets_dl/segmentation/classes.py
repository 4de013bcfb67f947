"""The class map both methods return: an int16 ``class(y, x)`` with its attributes."""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from ..cf import apply_cf, cf_attrs
from .config import CLASS_DTYPE

__all__: list[str] = []


def _classes_array(profile: xr.DataArray, fn: Any, *args: Any, name: str, attrs: dict[str, Any]) -> xr.DataArray:
    """``class(y, x)`` int16 from ``fn(profile_block, *args)``, one task per chunk on Dask input."""
    if profile.chunks is None:
        data: Any = fn(np.asarray(profile.values), *args)
    else:
        data = da.map_blocks(fn, profile.data, *args, drop_axis=2, dtype=CLASS_DTYPE, meta=np.empty((0, 0), dtype=CLASS_DTYPE))
    coords = {"y": profile["y"], "x": profile["x"]}
    if "spatial_ref" in profile.coords:  # keep the CRS of the cube
        coords["spatial_ref"] = profile["spatial_ref"]
    out = xr.DataArray(data, dims=("y", "x"), coords=coords, name=name, attrs=cf_attrs("segment.class", **attrs))
    return apply_cf(out, "segment", fill=True)
