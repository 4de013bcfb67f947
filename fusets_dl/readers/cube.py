"""Reopening a fusion cube written by fusets_dl (netCDF or Zarr), validated."""

from __future__ import annotations

import warnings
from functools import partial
from pathlib import Path
from typing import Any

import xarray as xr

from .._warn import warn_user
from ..errors import EncodingError, SourceError
from ..validate import check_cube
from .normalise import _sample, _time_chunks
from .radar import warn_if_pair_implausible
from .sanity import (
    DB_RANGE,
    check_backscatter_units,
    check_db_range,
    check_ndvi_range,
    checked,
    mask_outside,
)
from .sources import PathLike, describe, is_zarr

__all__ = ["RUN_DONE_FLAG", "RUN_PROGRESS_SUFFIX", "backscatter_coefficient", "check_cube_values", "open_cube", "open_store", "store_kind", "warn_if_unfinished"]

#: The region pipeline keeps ``<store><RUN_PROGRESS_SUFFIX>/`` beside each store it writes, and writes
#: ``RUN_DONE_FLAG`` in it last (:mod:`fusets_dl.pipeline.region`): a store without the flag is unfinished.
RUN_PROGRESS_SUFFIX = ".progress"
RUN_DONE_FLAG = "ALL_DONE"

#: First bytes of a netCDF classic (CDF1/2/5) and of a netCDF-4 (HDF5) file.
_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
#: Where an HDF5 superblock may start (after a user block of 512 bytes times a power of 2).
_HDF5_OFFSETS = (0, 512, 1024, 2048)


def store_kind(path: PathLike) -> str:
    """What ``path`` holds, judged by its metadata files or first bytes (nothing is decoded).

    Parameters
    ----------
    path : path
        A file or folder.

    Returns
    -------
    str
        ``"missing"``, ``"zarr"`` (a ``.zarr`` path or a folder with Zarr
        metadata), ``"folder"`` (any other folder), ``"netcdf"`` (netCDF
        classic or HDF5/netCDF-4 signature), ``"json"`` (text starting with
        ``{`` or ``[``), ``"empty"`` (a file of 0 bytes), or ``"other"``.
    """
    p = Path(path)
    if not p.exists():
        return "missing"
    if is_zarr(p):
        return "zarr"
    if p.is_dir():
        return "folder"
    try:
        with p.open("rb") as f:
            head = f.read(_HDF5_OFFSETS[-1] + len(_HDF5_MAGIC))
    except OSError:
        return "other"
    if not head:
        return "empty"
    if head[:4] in _NETCDF_MAGIC or any(head[o:o + len(_HDF5_MAGIC)] == _HDF5_MAGIC for o in _HDF5_OFFSETS):
        return "netcdf"
    if head.lstrip()[:1] in (b"{", b"["):
        return "json"
    return "other"


#: How messages name what :func:`store_kind` found.
_FOUND = {
    "folder": "a folder without Zarr metadata (zarr.json, .zgroup or .zattrs)",
    "json": "a JSON file (a model's .json sidecar? the cube comes first, the model second)",
    "empty": "an empty file",
    "other": "a file that is neither (no netCDF/HDF5 signature)",
}


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
        When the store does not exist, or is not a netCDF file or a Zarr
        store (a JSON file, a plain folder, a text file), or cannot be
        read as one: the message says what was found.
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
        ds = open_store(source, chunks=chunks, what="fusion cube")
    check_cube(ds)
    ds = ds.chunk(_time_chunks(chunks)) if chunks is not None else ds
    return check_cube_values(ds, "open_cube(" + describe(source) + ")", units_error=True)


def open_store(source: PathLike, *, chunks: Any = None, what: str = "input") -> xr.Dataset:
    """Open a netCDF file or Zarr store as it is (no check of its variables), CRS written when it holds one.

    Parameters
    ----------
    source : path
        A netCDF file or a Zarr store.
    chunks : dict, "auto" or None
        Dask chunks, as :func:`xarray.open_dataset` takes them.
    what : str
        What the store should be, for the message (``"fusion cube"``, ``"phenology input"``).

    Returns
    -------
    xarray.Dataset
        The store's contents (lazy).

    Raises
    ------
    SourceError
        ``source`` does not exist, is neither a netCDF file nor a Zarr store
        (judged by :func:`store_kind`), or cannot be read as one.
    """
    path = Path(source)
    kind = store_kind(path)
    if kind == "missing":
        raise SourceError(f"{what} not found: expected an existing netCDF file or Zarr store, found no {str(path)!r}")
    if kind not in ("netcdf", "zarr"):
        raise SourceError(f"{what} {str(path)!r}: expected a netCDF file or a Zarr store, found {_FOUND[kind]}")
    try:
        if kind == "zarr":
            ds = xr.open_zarr(path, chunks=chunks, decode_coords="all")
        else:
            ds = xr.open_dataset(path, chunks=chunks, decode_coords="all")
    except (OSError, ValueError, KeyError) as exc:
        raise SourceError(f"{what} {str(path)!r}: expected a readable {'Zarr store' if kind == 'zarr' else 'netCDF file'}, "
                          f"found one that cannot be opened ({type(exc).__name__}: {exc})") from exc
    if kind == "zarr":
        warn_if_unfinished(path, what)
    return ds.rio.write_crs(ds.rio.crs) if ds.rio.crs is not None else ds


def warn_if_unfinished(store: PathLike, what: str) -> None:
    """A warning when ``store`` is the output of a region run that has not finished.

    The region pipeline (:func:`fusets_dl.run`) keeps ``<store>.progress/``
    beside its store and writes ``ALL_DONE`` in it last; a store whose
    progress folder lacks it was interrupted (or is being written), and its
    unwritten tiles read as missing. The store itself carries the root
    attribute ``fusets_dl_complete``, false until its last tile is written:
    a store that says false warns too, without its progress folder (a copy).
    Stores without the attribute (written before it, or by ``to_zarr``)
    are judged by their progress folder alone.

    Parameters
    ----------
    store : path
        A Zarr store.
    what : str
        What the store is read as, for the message.
    """
    path = Path(store)
    progress = path.with_name(path.name + RUN_PROGRESS_SUFFIX)
    if progress.is_dir() and not (progress / RUN_DONE_FLAG).exists():
        warn_user(f"{what} {str(path)!r}: the region run that writes it has not finished ({str(progress)!r} has no ALL_DONE): "
                  "its unwritten tiles read as missing; resume the run (fusets-dl run CONFIG) before using it")
        return
    from ..writers.zarr import COMPLETE_ATTR, store_complete

    if store_complete(path) is False:  # the store's own say, which travels with a copy made without its .progress folder
        warn_user(f"{what} {str(path)!r}: expected a finished store, found one whose region run had not finished (root "
                  f"attribute {COMPLETE_ATTR} is false; a copy taken before the run ended, or one still being written): its "
                  "unwritten tiles read as missing; resume the run that writes it (fusets-dl run CONFIG, where its "
                  f"{RUN_PROGRESS_SUFFIX} folder is) and copy it again once done")


def backscatter_coefficient(cube: xr.Dataset) -> str | None:
    """The backscatter coefficient of a cube's ``VV``/``VH`` ("sigma0" or "gamma0"), None when the readers could not tell.

    Parameters
    ----------
    cube : xarray.Dataset
        A fusion cube (or an S1 dataset from :func:`fusets_dl.open_s1`).

    Returns
    -------
    str or None
        The ``backscatter`` attribute :func:`fusets_dl.open_s1` recorded on the
        bands (kept by ``align``) or on the dataset.
    """
    for where in (cube["VV"].attrs if "VV" in cube.data_vars else {}, cube["VH"].attrs if "VH" in cube.data_vars else {}, cube.attrs):
        value = where.get("backscatter")
        if isinstance(value, str) and value:
            return value
    return None


def check_cube_values(cube: xr.Dataset, what: str, *, units_error: bool = False) -> xr.Dataset:
    """``cube`` whose ``NDVI`` (and ``NDVI_unpaired``, ``NDVI_cloudy``) must lie within [-1, 1] and whose ``VV``/``VH`` should look like dB.

    A cube built by hand (not by the readers, which check as they decode)
    can hold NDVI x 10000, dB x 100 or linear power: such values would train
    or fill silently wrong. NDVI mostly outside [-1, 1] (not one or two nodata values), or
    backscatter mostly outside -100 .. +60 dB (and not one fill value), is an
    error; fewer such values are set to NaN with a warning (undeclared nodata);
    backscatter that looks like linear power is a warning (suspicious but
    possible: a block of bright targets looks so too), unless
    ``units_error``. In-memory values
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
        NDVI mostly outside [-1, 1] (:func:`~.sanity.check_ndvi_range`) or backscatter
        mostly outside -100 .. +60 dB (with ``units_error`` also backscatter
        that looks linear); on Dask data when computed.
    """
    units = partial(check_backscatter_units, declared="dB") if units_error else _warn_not_db
    # the unpaired views (align(unpaired_views=True)) and the cloudy NDVI are NDVI too: a -9999 there pulled the reconstruction to -1
    ndvi_vars = ("NDVI", "NDVI_unpaired", "NDVI_cloudy")
    checks: dict[str, Any] = {"VV": units, "VH": units, **dict.fromkeys(ndvi_vars, check_ndvi_range)}
    out = cube.assign({v: checked(cube[v], c, f"{what}: {v}") for v, c in checks.items() if v in cube.data_vars})
    if {"VV", "VH"} <= set(out.data_vars) and out["VV"].chunks is None and out["VH"].chunks is None:  # in memory: a sample now
        warn_if_pair_implausible(_sample(out["VV"]), _sample(out["VH"]), what)
    masked = {v: _mask_not_db(out[v], f"{what}: {v}") for v in ("VV", "VH") if v in out.data_vars}
    masked.update({v: _mask_not_ndvi(out[v], what, v) for v in ndvi_vars if v in out.data_vars})
    return out.assign(masked)


def _mask_not_ndvi(nd: xr.DataArray, what: str, name: str = "NDVI") -> xr.DataArray:
    """``nd`` with its values outside [-1, 1] set to NaN, with a warning (:func:`~.sanity.check_ndvi_range` refused scaled NDVI).

    Such values are nodata that was not declared (-9999, -32768) or a few
    corrupt pixels; used as they are, they were training targets (test RMSE
    500) and "observed" values clipped to -1 in a reconstruction. In memory
    the warning counts them; on Dask each chunk that holds some warns when
    computed (the mask itself is lazy).
    """
    return mask_outside(nd, (-1.0, 1.0), f"{what}: {name}", "are not NDVI (undeclared nodata such as -9999?): treated as missing, "
                         "not as observations")


def _mask_not_db(da: xr.DataArray, what: str) -> xr.DataArray:
    """Backscatter with its values outside -100 .. +60 dB set to NaN, with a warning (:func:`check_db_range` refused scaled data).

    netCDF's default fill value (9.97e36) in 30 of 92,000 pixel-dates made
    the scaler's VV std 1e35 (the model lost VV) and moved 1,399 predictions
    by up to 1.8 NDVI, without a word.
    """
    lo, hi = DB_RANGE
    return mask_outside(da, DB_RANGE, what, f"are not backscatter in dB (undeclared nodata such as -9999 or 9.97e36?): treated as "
                         f"missing, not as radar values ({lo:g} .. {hi:g} dB kept)")


def _warn_not_db(values: Any, what: str) -> None:
    """An error when backscatter values cannot be dB (:func:`check_db_range`), a warning when they look like linear power."""
    check_db_range(values, what)
    try:
        check_backscatter_units(values, what, declared="dB")
    except EncodingError:
        warnings.warn(f"{what}: the values look like linear power, not dB (none negative, median between 0 and 1.5); the models "
                      "expect dB: convert with 10 * log10(x) if so (bright targets alone can look like this)", UserWarning, stacklevel=2)
