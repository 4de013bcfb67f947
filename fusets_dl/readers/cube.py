"""Reopening a fusion cube written by fusets_dl (netCDF or Zarr), validated."""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path
from typing import Any

import xarray as xr

from ..errors import EncodingError, SourceError
from ..validate import check_cube
from .normalise import _time_chunks
from .sanity import check_backscatter_units, check_ndvi_range, checked
from .sources import PathLike, describe, is_zarr

__all__ = ["check_cube_values", "open_cube"]


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
    return check_cube_values(ds, "open_cube(" + describe(source) + ")", units_error=True)


def check_cube_values(cube: xr.Dataset, what: str, *, units_error: bool = False) -> xr.Dataset:
    """``cube`` whose ``NDVI`` must lie within [-1, 1] and whose ``VV``/``VH`` should look like dB.

    A cube built by hand (not by the readers, which check as they decode)
    can hold NDVI x 10000 or linear power: such values would train or fill
    silently wrong. NDVI outside [-1, 1] is an error; backscatter that looks
    like linear power is a warning (suspicious but possible: a block of
    bright targets looks so too), unless ``units_error``. In-memory values
    are checked now, on a strided sample; Dask values per chunk as the chunk
    is computed (nothing is computed here).

    Parameters
    ----------
    cube : xarray.Dataset
        A fusion cube (:func:`check_cube` passed).
    what : str
        The stage, for the message.
    units_error : bool
        Backscatter that looks linear is an :class:`EncodingError` (a store
        that says dB, :func:`open_cube`) instead of a warning.

    Returns
    -------
    xarray.Dataset
        ``cube`` (in memory) or ``cube`` with its Dask variables guarded.

    Raises
    ------
    EncodingError
        NDVI outside [-1, 1] (and, with ``units_error``, backscatter that is
        not dB); on Dask data when computed.
    """
    units = partial(check_backscatter_units, declared="dB") if units_error else _warn_not_db
    checks: dict[str, Any] = {"VV": units, "VH": units, "NDVI": check_ndvi_range}
    return cube.assign({v: checked(cube[v], c, f"{what}: {v}") for v, c in checks.items() if v in cube.data_vars})


def _warn_not_db(values: Any, what: str) -> None:
    """A warning when backscatter values look like linear power rather than dB."""
    try:
        check_backscatter_units(values, what, declared="dB")
    except EncodingError:
        warnings.warn(f"{what}: the values look like linear power, not dB (none negative, median between 0 and 1.5); the models "
                      "expect dB: convert with 10 * log10(x) if so (bright targets alone can look like this)", UserWarning, stacklevel=2)
