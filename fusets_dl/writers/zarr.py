"""Zarr outputs with CF metadata, a CRS, compression and provenance."""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers .rio, used for the CRS)
import xarray as xr

from .._logging import logger
from ..cf import CONVENTIONS, prepare_output
from ..errors import ConfigError, OutputError, StoreExistsError

__all__ = ["StoreExistsError", "check_replaceable", "encoding_for", "is_our_store", "provenance_attrs", "to_zarr"]


def provenance_attrs(
    *,
    model_sha256: str | None = None,
    config: Mapping[str, Any] | None = None,
    inputs: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Global attributes recording what produced a store.

    Parameters
    ----------
    model_sha256 : str, optional
        SHA-256 of the model that made the data.
    config : mapping, optional
        The run's configuration, stored as sorted JSON (``fusets_dl_config``).
    inputs : sequence of str, optional
        Input files, stored as a JSON list (``input_files``).

    Returns
    -------
    dict
        ``Conventions``, ``fusets_dl_version``, ``date_created`` (UTC, ISO
        8601) and those of the above that are given.
    """
    from .._version import __version__

    attrs: dict[str, Any] = {
        "Conventions": CONVENTIONS,
        "fusets_dl_version": __version__,
        "date_created": pd.Timestamp.now(tz="UTC").isoformat(),
    }
    if model_sha256:
        attrs["model_sha256"] = model_sha256
    if config is not None:
        attrs["fusets_dl_config"] = json.dumps(config, sort_keys=True, default=str)
    if inputs:
        attrs["input_files"] = json.dumps([str(i) for i in inputs])
    return attrs


def is_our_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Zarr store written by fusets_dl (root attributes carry ``fusets_dl_version``).

    Parameters
    ----------
    path : path
        A folder.

    Returns
    -------
    bool
        True for a Zarr v3 or v2 group whose attributes name fusets_dl.
    """
    p = Path(path)
    if p.is_symlink() or not p.is_dir():
        return False
    for meta, key in (("zarr.json", "attributes"), (".zattrs", None)):
        f = p / meta
        if f.is_file():
            try:
                doc = json.loads(f.read_text())
            except (OSError, ValueError):
                return False
            attrs = doc.get(key, {}) if key else doc
            return isinstance(attrs, dict) and "fusets_dl_version" in attrs
    return False


def check_replaceable(path: str | os.PathLike, what: str) -> None:
    """Refuse to replace anything at ``path`` but a Zarr store that fusets_dl wrote.

    Parameters
    ----------
    path : path
        The existing target.
    what : str
        The caller, for the message.

    Raises
    ------
    StoreExistsError
        ``path`` is a file, a link, or a folder without our provenance.
    """
    p = Path(path)
    if is_our_store(p):
        return
    kind = "a link" if p.is_symlink() else "a file" if p.is_file() else "a folder that is not a fusets_dl Zarr store"
    raise StoreExistsError(
        f"{what}: refusing to replace {str(p)!r}: expected a Zarr store written by fusets_dl (root attribute "
        f"'fusets_dl_version'), found {kind}; move it away or choose another path"
    )


def _uniform_chunks(chunks: tuple[int, ...]) -> bool:
    """Whether Dask chunks along one axis map onto Zarr chunks (all equal, the last no larger)."""
    return len(chunks) <= 1 or (len(set(chunks[:-1])) == 1 and chunks[-1] <= chunks[0])


def encoding_for(ds: xr.Dataset, *, zarr_format: int = 3, clevel: int = 5, default_chunk: int = 256) -> dict[str, dict[str, Any]]:
    """Per-variable Zarr encoding: Zarr chunks equal to the Dask chunks, Blosc zstd compression.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset to write; scalar variables get no encoding.
    zarr_format : {3, 2}
        Zarr format, which decides the codec classes (zarr or numcodecs).
    clevel : int
        Blosc/zstd compression level.
    default_chunk : int
        Chunk size along ``y`` and ``x`` of variables without Dask chunks
        (other dimensions are one chunk).

    Returns
    -------
    dict
        ``{variable: {"chunks": ..., "compressors": [...]}}``; datetime
        variables are stored as float64 days since 1970-01-01.
    """
    enc: dict[str, dict[str, Any]] = {}
    if zarr_format == 3:
        from zarr.codecs import BloscCodec

        comp: dict[str, Any] = {"compressors": [BloscCodec(cname="zstd", clevel=clevel, shuffle="bitshuffle")]}
    else:
        from numcodecs import Blosc

        comp = {"compressors": [Blosc(cname="zstd", clevel=clevel, shuffle=Blosc.BITSHUFFLE)]}
    for name, var in ds.data_vars.items():
        if var.ndim == 0:
            continue
        if var.chunks is not None:
            chunks = tuple(c[0] for c in var.chunks)
        else:
            chunks = tuple(min(n, default_chunk) if d in ("y", "x") else n for d, n in zip(var.dims, var.shape, strict=True))
        enc[str(name)] = {"chunks": chunks, **comp}
        if np.issubdtype(var.dtype, np.datetime64):
            enc[str(name)].update({"units": "days since 1970-01-01", "dtype": "float64"})
    return enc


def _with_cf(ds: xr.Dataset) -> xr.Dataset:
    """A shallow copy with the CF table's cube attributes filled in and the CRS as a grid mapping."""
    return prepare_output(ds)


def to_zarr(
    ds: xr.Dataset,
    store: str | os.PathLike,
    *,
    overwrite: bool = False,
    zarr_format: int = 3,
    clevel: int = 5,
    provenance: Mapping[str, Any] | None = None,
    compute: bool = True,
) -> Path:
    """Write ``ds`` to a Zarr store with CF attributes, the CRS and provenance.

    Parameters
    ----------
    ds : xarray.Dataset
        Any fusets_dl output (cube, reconstruction, phenology, or their merge).
    store : path
        Target directory (``.zarr``).
    overwrite : bool
        Replace an existing store. Without it an existing store raises
        :class:`StoreExistsError` and is left untouched.
    zarr_format : {3, 2}
        Zarr format (3 by default).
    clevel : int
        Blosc/zstd compression level.
    provenance : mapping, optional
        Extra global attributes, e.g. from :func:`provenance_attrs`.
    compute : bool
        False writes the layout (metadata and coordinates) only, for later
        ``region=`` writes of tiles.

    Returns
    -------
    Path
        The store path.

    Raises
    ------
    ConfigError
        ``zarr_format`` is not 2 or 3.
    StoreExistsError
        ``store`` exists and ``overwrite`` is False, or ``overwrite`` is
        True but ``store`` is not a Zarr store written by fusets_dl (a file,
        or a folder without our provenance): only our own stores are replaced.
    OutputError
        The file system refused the write (read-only, full, permissions):
        the OS error and the path; an existing store is left untouched.

    Notes
    -----
    The data are written to a temporary store beside the target and renamed
    into place when complete (an existing store is replaced only then), so a
    failure never leaves a half-written store under the final name.
    """
    if zarr_format not in (2, 3):
        raise ConfigError(f"to_zarr: zarr_format: expected 2 or 3, found {zarr_format!r}")
    path = Path(store)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise StoreExistsError(f"to_zarr: {str(path)!r} exists: expected a new path, or pass overwrite=True")
        check_replaceable(path, "to_zarr")
    out = _with_cf(ds)
    out.attrs = {**out.attrs, **(provenance or {})}
    out.attrs.setdefault("fusets_dl_version", provenance_attrs()["fusets_dl_version"])
    for name in out.data_vars:  # attributes must be JSON for Zarr
        out[name].attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in out[name].attrs.items()}
    enc = encoding_for(out, zarr_format=zarr_format, clevel=clevel)
    for name, e in enc.items():
        var = out[name]
        if var.chunks is not None and not all(_uniform_chunks(c) for c in var.chunks):
            out[name] = var.chunk(dict(zip(var.dims, e["chunks"], strict=True)))
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with warnings.catch_warnings():
            # consolidated metadata is not in the Zarr 3 spec yet, but xarray and zarr-python read it
            warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
            out.to_zarr(tmp, mode="w-", encoding=enc, zarr_format=zarr_format, compute=compute, consolidated=True)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{uuid.uuid4().hex[:8]}")
            path.rename(old)
            try:
                tmp.rename(path)
            except OSError:
                old.rename(path)  # put the old store back: never lose data on a failed swap
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"to_zarr: writing {str(path)!r} failed: {exc}; expected a writable folder with free space "
                          "(any existing store there is left untouched)") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("to_zarr: wrote %s (zarr format %d)", path, zarr_format)
    return path
