"""Reopening a fusion cube written by fusets_dl (netCDF or Zarr), validated."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import xarray as xr

from ..errors import SourceError
from ..validate import check_cube
from .normalise import _time_chunks
from .sanity import check_backscatter_units, check_ndvi_range, checked
from .sources import PathLike, describe, is_zarr

__all__ = ["open_cube"]


def open_cube(source: PathLike | xr.Dataset, *, chunks: Any = None) -> xr.Dataset:
    """Open a fusion cube written by fusets_dl (netCDF or Zarr) and validate it.

    Parameters
    ----------
    source : path or Dataset
        A store with ``VV``, ``VH`` (dB) and optionally ``NDVI`` on ``(time, y, x)``.
    chunks : dict, "auto" or None
        Dask chunks (``time`` defaults to one chunk).

    Returns
    -------
    xarray.Dataset
        The cube, CRS written with rioxarray when the store holds one.

    Raises
    ------
    SourceError
        When the store does not exist.
    DimensionError, MissingVariableError, EncodingError
        When the cube is not on ``(time, y, x)``, lacks ``VV``/``VH``, or
        holds them in other units than dB: by its ``units`` attribute, or by
        its values (linear power in a cube that says dB; NDVI outside
        [-1, 1], such as NDVI x 10000). Values are checked on a sample of
        in-memory cubes, and per chunk as it is computed on Dask cubes.
    """
    if isinstance(source, xr.Dataset):
        ds = source
    else:
        path = Path(source)
        if not path.exists():
            raise SourceError(f"fusion cube not found: expected an existing store, found no {str(path)!r}")
        ds = xr.open_zarr(path, chunks=chunks, decode_coords="all") if is_zarr(path) else xr.open_dataset(path, chunks=chunks, decode_coords="all")
        ds = ds.rio.write_crs(ds.rio.crs) if ds.rio.crs is not None else ds
    check_cube(ds)
    ds = ds.chunk(_time_chunks(chunks)) if chunks is not None else ds
    return _check_values(ds, "open_cube(" + describe(source) + ")")


def _check_values(ds: xr.Dataset, what: str) -> xr.Dataset:
    """VV/VH that look like dB and NDVI within [-1, 1]: a sample now (in memory), each chunk as computed (Dask)."""
    checks = {v: partial(check_backscatter_units, declared="dB") for v in ("VV", "VH")}
    checks["NDVI"] = check_ndvi_range
    return ds.assign({v: checked(ds[v], c, f"{what}: {v}") for v, c in checks.items() if v in ds.data_vars})
