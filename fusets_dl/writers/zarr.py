"""Zarr outputs with CF metadata, a CRS, compression and provenance."""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
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
from ..errors import ConfigError, DimensionError, OutputError, StoreExistsError
from ..validate import check_date_range

__all__ = ["COMPLETE_ATTR", "StoreExistsError", "check_replaceable", "encoding_for", "is_our_store", "provenance_attrs", "set_store_complete", "store_complete", "to_zarr", "unwritten_fill_values"]


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


#: Root attribute of a store that the region pipeline writes tile by tile: false from its layout on, true once every
#: tile is written (set just before the region's ``ALL_DONE`` flag). It travels with the store (a copy without its
#: ``.progress`` folder still says whether it was finished); stores written otherwise have none.
COMPLETE_ATTR = "fusets_dl_complete"


def _root_meta(path: Path) -> tuple[Path, str | None] | None:
    """The file holding a local store's root attributes and the key they sit under (None: the whole file), or None."""
    if (path / "zarr.json").is_file():
        return path / "zarr.json", "attributes"
    if (path / ".zgroup").is_file():
        return path / ".zattrs", None
    return None


def store_complete(path: str | os.PathLike) -> bool | None:
    """What a store's root attribute :data:`COMPLETE_ATTR` says: True (finished), False (unfinished), None (absent).

    Parameters
    ----------
    path : path
        A local Zarr store (v3 or v2).

    Returns
    -------
    bool or None
        None when the store has no such attribute (written by :func:`to_zarr`
        alone, or by a fusets_dl of before the attribute) or its metadata
        cannot be read.
    """
    meta = _root_meta(Path(path))
    if meta is None:
        return None
    try:
        doc = json.loads(meta[0].read_text())
    except (OSError, ValueError):
        return None
    attrs = doc.get(meta[1], {}) if meta[1] and isinstance(doc, dict) else doc
    value = attrs.get(COMPLETE_ATTR) if isinstance(attrs, dict) else None
    return value if isinstance(value, bool) else None


def _replace_json(path: Path, doc: Any) -> None:
    """Write ``doc`` as JSON to ``path`` atomically (a temporary file beside it, then renamed)."""
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(json.dumps(doc, indent=2))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def set_store_complete(path: str | os.PathLike, complete: bool) -> None:
    """Set a local store's root attribute :data:`COMPLETE_ATTR`, in its metadata and its consolidated metadata.

    Parameters
    ----------
    path : path
        A local Zarr store written by :func:`to_zarr` (v3: the root
        ``zarr.json``, which also holds the consolidated metadata of the
        arrays, is rewritten atomically; v2: ``.zattrs``, then the root's
        entry in ``.zmetadata``).
    complete : bool
        Whether every tile of the store is written.

    Raises
    ------
    OutputError
        The store has no root metadata, or they cannot be read or written.
    """
    p = Path(path)
    meta = _root_meta(p)
    if meta is None:
        raise OutputError(f"marking {str(p)!r} {'complete' if complete else 'incomplete'}: expected a Zarr store with root "
                          "metadata (zarr.json or .zgroup), found none")
    f, key = meta
    try:
        doc = json.loads(f.read_text()) if f.is_file() else {}
        if key is None:
            doc[COMPLETE_ATTR] = complete
            _replace_json(f, doc)
            zmeta = p / ".zmetadata"
            if zmeta.is_file():
                cons = json.loads(zmeta.read_text())
                cons.setdefault("metadata", {}).setdefault(".zattrs", {})[COMPLETE_ATTR] = complete
                _replace_json(zmeta, cons)
        else:
            doc.setdefault(key, {})[COMPLETE_ATTR] = complete
            _replace_json(f, doc)
    except (OSError, ValueError) as exc:
        raise OutputError(f"marking {str(p)!r} {'complete' if complete else 'incomplete'}: expected readable, writable root "
                          f"metadata at {str(f)!r}, found an error ({exc})") from exc


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
        variables are stored as float64 in their own encoding's units, else
        seconds since 1970-01-01 (whole seconds exact; in days they read
        back up to 256 ns off). Integer counts and flags get a fill value, so
        that a chunk never written (a layout written with ``compute=False``
        and filled tile by tile, interrupted) does not read as a real value
        (see :func:`_unwritten_fill`): in Zarr v3 as the array's fill value
        only (no CF ``_FillValue``: xarray reads it as a value, the dtype
        stays integer): ``source`` reads 3 ("missing"), the phenology counts
        and flags (``n_seasons``, ``n_main_seasons``, ``is_main``,
        ``sos_extrapolated``, ``eos_extrapolated``) -1, below their
        ``valid_min`` 0. In Zarr v2, where xarray takes an array's fill
        value for a CF ``_FillValue`` (a mask), only a value no data take,
        the one below ``valid_min``, is declared so: those phenology
        variables read as float with NaN where never written (their
        written values unchanged); ``source`` gets none there (its
        "missing" 3 is a value the data take, which a mask would hide).
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
        # a chunk not written yet (a layout written with compute=False, filled by region writes) must not read as a
        # count or flag 0 ("observed", "minor", no season)
        if zarr_format == 3:
            fill = _unwritten_fill(var)
            if fill is not None:  # the Zarr fill value only, no CF _FillValue: no masking, the dtype stays integer
                enc[str(name)]["fill_value"] = fill
        else:
            fill = _below_valid_min(var)
            if fill is not None and "_FillValue" not in var.attrs:  # v2: xarray's only fill value is a CF _FillValue (a mask)
                enc[str(name)]["_FillValue"] = fill
        if np.issubdtype(var.dtype, np.datetime64):  # a unit the variable carries (time bounds share their time's) is kept
            # seconds: float64 holds whole seconds exactly (in days a date at 11:02:56 read back 256 ns early)
            enc[str(name)].update({"units": var.encoding.get("units", "seconds since 1970-01-01"), "dtype": "float64"})
    return enc


def unwritten_fill_values(ds: xr.Dataset) -> dict[str, int]:
    """What each integer count or flag of ``ds`` reads as where :func:`to_zarr` never wrote it (Zarr v3).

    Parameters
    ----------
    ds : xarray.Dataset
        An output as given to :func:`to_zarr` (its CF attributes are filled
        in the same way first; nothing is computed).

    Returns
    -------
    dict
        Variable name -> the Zarr fill value its array gets (``source`` 3,
        the phenology counts and flags -1); variables without one are left out.
    """
    enc = encoding_for(_with_cf(ds), zarr_format=3)
    return {name: int(e["fill_value"]) for name, e in enc.items() if "fill_value" in e}


def _unwritten_fill(var: xr.DataArray) -> int | None:
    """What a chunk of ``var`` never written reads as in a Zarr v3 store: not a valid count or flag, or None.

    Parameters
    ----------
    var : xarray.DataArray
        A variable to write, with its CF attributes.

    Returns
    -------
    int or None
        For an integer variable: the value of its ``missing`` flag meaning
        (``source``: 3), else the value just below an integer ``valid_min``
        (the phenology counts and flags, ``valid_min`` 0: -1, which CF
        reads as out of the valid range); None for the others (floats are
        NaN where never written, xarray's default).
    """
    missing = _missing_flag(var)
    return missing if missing is not None else _below_valid_min(var)


def _below_valid_min(var: xr.DataArray, dtype: Any = None) -> int | None:
    """``valid_min - 1`` of an integer variable (of ``dtype``, default its own) with an integer ``valid_min``, else None.

    None too when ``valid_min - 1`` does not fit the dtype (``valid_min`` 0 of an unsigned type).
    """
    dtype = np.dtype(var.dtype if dtype is None else dtype)
    vmin = var.attrs.get("valid_min")
    if vmin is None or isinstance(vmin, bool) or not np.issubdtype(dtype, np.integer):
        return None
    v = np.asarray(vmin)
    if v.ndim != 0 or v.dtype.kind not in "iu":
        return None
    fill = int(v) - 1
    return fill if np.iinfo(dtype).min <= fill <= np.iinfo(dtype).max else None


def _masked_integers(var: xr.DataArray) -> xr.DataArray | None:
    """A count or flag that xarray decoded to floats with NaN (read from a Zarr v2 store, whose fill value is a mask)
    as its integers again, NaN as the fill value below ``valid_min`` (-1); None for any other variable.

    Without this a v2 store opened and written again would store the phenology counts and flags as float32.
    """
    enc = var.encoding
    if var.dtype.kind != "f" or "dtype" not in enc or "scale_factor" in enc or "add_offset" in enc:
        return None
    dtype = np.dtype(enc["dtype"])
    fill = _below_valid_min(var, dtype)
    if fill is None or enc.get("_FillValue") is None or int(enc["_FillValue"]) != fill:
        return None
    out = var.fillna(fill).astype(dtype)
    out.encoding = {k: v for k, v in enc.items() if k not in ("_FillValue", "dtype", "missing_value")}
    return out


def _missing_flag(var: xr.DataArray) -> int | None:
    """The value of the ``missing`` meaning of an integer CF flag variable (``source``), else None."""
    meanings = str(var.attrs.get("flag_meanings", "")).split()
    values = var.attrs.get("flag_values")
    if "missing" not in meanings or values is None or not np.issubdtype(var.dtype, np.integer):
        return None
    values = np.atleast_1d(np.asarray(values))
    return int(values[meanings.index("missing")]) if values.size == len(meanings) else None


#: ``scheme://`` at the start of a store: a URL (s3, gs, memory, file, ...), not a local path.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

#: Encoding keys that belong to one Zarr format's codecs (or to the source store), not to the data.
_CODEC_KEYS = ("compressor", "compressors", "filters", "serializer", "codecs", "shards", "fill_value", "chunk_key_encoding",
               "preferred_chunks", "write_empty_chunks", "cache_metadata")


def _local_path(store: Any) -> Path:
    """``store`` as a local path; URLs and non-path objects are refused.

    Raises
    ------
    OutputError
        ``store`` is a URL (``s3://``, ``memory://``, ``file://``, ...) or
        not a ``str`` / ``os.PathLike``.
    """
    if not isinstance(store, (str, os.PathLike)):
        raise OutputError(f"to_zarr: store: expected a local folder path (str or os.PathLike), found {type(store).__name__}; "
                          "write to a local folder, then copy it where it belongs")
    text = os.fspath(store)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    m = _URL.match(text)
    if m:
        raise OutputError(
            f"to_zarr: store: expected a local folder path, found the URL {text!r} (scheme {m.group(0)!r}): only local "
            "paths are supported. Write the store to a local folder, then copy it (e.g. `aws s3 cp --recursive`, "
            "`gsutil -m cp -r`, fsspec); for a file:// URL give the path itself"
        )
    if not text:
        raise OutputError("to_zarr: store: expected a local folder path, found an empty string")
    return Path(text)


#: The attribute xarray's CF coder takes as the store's fill value: left as it is.
_CF_FILL_KEYS = ("_FillValue",)

#: Non-finite floats as Zarr 3 writes a float fill value: strict JSON has no NaN or Infinity.
_NONFINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _json_attr(value: Any, where: str, key: str, nonfinite: list[str] | None = None) -> Any:
    """An attribute value as plain JSON for Zarr: datetime-likes as ISO 8601 strings, NumPy values as Python ones.

    A NaN or infinite float becomes the string ``"NaN"``, ``"Infinity"`` or
    ``"-Infinity"`` (Zarr 3's spelling of a float fill value), and
    ``where``/``key`` is added to ``nonfinite``: zarr-python would write it as
    a bare ``NaN``, which is not JSON, so strict readers (zarrs, zarr.js,
    browsers) could not open the store at all.

    Raises
    ------
    ConfigError
        Naming ``where`` (the variable or the dataset) and ``key`` when the
        value has no JSON form.
    """
    if isinstance(value, (pd.Timestamp, _dt.datetime, _dt.date, np.datetime64)):
        ts = pd.Timestamp(value)
        return "NaT" if ts is pd.NaT else ts.isoformat()
    if isinstance(value, (pd.Timedelta, _dt.timedelta, np.timedelta64)):
        td = pd.Timedelta(value)
        return "NaT" if td is pd.NaT else td.isoformat()
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _json_attr(value[()], where, key, nonfinite)
        if value.dtype.kind in "mMO":  # tolist() would give datetime64[ns] as integers
            return [_json_attr(v, where, key, nonfinite) for v in value]
        return _json_attr(value.tolist(), where, key, nonfinite)
    if isinstance(value, np.generic):
        return _json_attr(value.item(), where, key, nonfinite)
    if isinstance(value, Mapping):
        return {str(k): _json_attr(v, where, key, nonfinite) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_attr(v, where, key, nonfinite) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        if nonfinite is not None:
            nonfinite.append(f"{where} {key!r}")
        return _NONFINITE[repr(value)]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise ConfigError(
        f"to_zarr: {where} attribute {key!r}: expected a value with a JSON form (str, number, bool, date/time, list, "
        f"dict, NumPy array), found {type(value).__name__} {value!r}; convert it (e.g. to a string) or drop it"
    )


def _json_attrs(attrs: Mapping[Any, Any], where: str, nonfinite: list[str] | None = None) -> dict[str, Any]:
    """Every attribute of ``attrs`` through :func:`_json_attr` (``_FillValue`` as it is).

    A NaN ``missing_value`` is dropped: NaN already marks a float's missing
    values, and xarray would write it as a bare ``NaN`` (not JSON).
    """
    out = {}
    for k, v in attrs.items():
        if str(k) == "missing_value" and np.ndim(v) == 0 and isinstance(np.asarray(v).item(), float) and np.isnan(np.asarray(v).item()):
            continue
        out[str(k)] = v if str(k) in _CF_FILL_KEYS else _json_attr(v, where, str(k), nonfinite)
    return out


def _warn_nonfinite(nonfinite: list[str]) -> None:
    """Say which attributes were written as the strings "NaN"/"Infinity" (they read back as strings)."""
    names = list(dict.fromkeys(nonfinite))  # one entry per attribute, in order
    if names:
        from .._warn import warn_user

        warn_user(
            f"to_zarr: {len(names)} attribute(s) hold NaN or infinite values ({', '.join(names[:5])}"
            f"{', ...' if len(names) > 5 else ''}): written as the strings 'NaN'/'Infinity'/'-Infinity' (JSON has no "
            "such numbers; a bare NaN would make the store unreadable to strict Zarr readers), so they read back as "
            "strings; give None for a missing value"
        )


def _check_dates(ds: xr.Dataset) -> None:
    """Refuse date variables the store could not hold as the stages read them (timezone-aware; beyond the ns range)."""
    for name, var in ds.variables.items():
        if isinstance(var.dtype, pd.DatetimeTZDtype):
            raise DimensionError(
                f"to_zarr: {str(name)!r}: expected naive UTC datetime64 dates (the data model's convention), found timezone-aware "
                f"{var.dtype}; convert it first: ds.assign_coords({name}=ds.indexes[{str(name)!r}].tz_convert('UTC').tz_localize(None))")
        if var.dtype.kind == "M" and var.chunks is None:  # a lazy date variable is left to the write
            check_date_range(var.values, f"to_zarr: {str(name)!r}")


def _warn_leftovers(path: Path) -> None:
    """Warn about hidden temporaries of earlier writes of ``path`` that were killed (``.name.tmp-*``) or could not delete
    the replaced store (``.name.old-*``): they are never read, and take disk space until deleted."""
    if not path.parent.is_dir():
        return
    left = sorted(p.name for p in path.parent.glob(f".{path.name}.*")
                  if re.fullmatch(rf"\.{re.escape(path.name)}\.(tmp|old)-[0-9a-f]{{8}}", p.name))
    if left:
        from .._warn import warn_user

        warn_user(f"to_zarr: {len(left)} hidden folder(s) beside {str(path)!r} are left from earlier writes that were killed, or "
                  f"from replaced stores that could not be deleted: {', '.join(left)}; they are never read and take disk space: "
                  "delete them once no other write of this store is running")


def _remove_old(old: Path, path: Path) -> None:
    """Delete the replaced store ``old``; when it cannot be, warn (and log) that it stays beside ``path``."""
    try:
        shutil.rmtree(old)
    except OSError as exc:
        msg = (f"to_zarr: the new store is in place at {str(path)!r}, but the replaced one could not be deleted ({exc}): "
               f"it stays as {str(old)!r}, taking disk space; delete it yourself (it needs write permission on its folders)")
        logger.warning(msg)
        warnings.warn(msg, UserWarning, stacklevel=3)


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
        Target directory (``.zarr``), a local path. URLs (``s3://``,
        ``memory://``, ``file://``, ...) are refused: write locally, then copy.
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
        ``zarr_format`` is not 2 or 3, or an attribute has no JSON form
        (the message names the variable and the attribute).
    DimensionError
        A timezone-aware date variable, or dates a nanosecond axis cannot
        hold (after 2262-04-11: the store would read back as objects that
        no stage takes); nothing is written.
    StoreExistsError
        ``store`` exists and ``overwrite`` is False, or ``overwrite`` is
        True but ``store`` is not a Zarr store written by fusets_dl (a file,
        or a folder without our provenance): only our own stores are replaced.
    OutputError
        ``store`` is a URL or not a path; or the file system refused the
        write (read-only, full, permissions): the OS error and the path; an
        existing store is left untouched.

    Warns
    -----
    UserWarning
        The new store replaced an old one, but the old one could not be
        deleted (e.g. folders without write permission): the warning names
        the hidden ``.<name>.old-XXXXXXXX`` folder left beside the store.

    Notes
    -----
    The data are written to a temporary store beside the target and renamed
    into place when complete (an existing store is replaced only then), so a
    failure never leaves a half-written store under the final name.

    Attributes are stored as JSON: NumPy values become Python numbers and
    lists, and date/time attributes (``pd.Timestamp``, ``np.datetime64``,
    ``datetime``, timedeltas) become ISO 8601 strings
    (``"2021-01-01T00:00:00"``, ``"P1DT0H0M0S"``). A dataset opened from
    another store (either Zarr format, or netCDF) is re-encoded: the data
    variables get this writer's chunks and compression, and the codec
    settings of the source (compressors, filters, serializer, shards) are
    dropped from the coordinates, whose dtype, ``_FillValue``, ``units``
    and ``calendar`` are kept.
    """
    if zarr_format not in (2, 3):
        raise ConfigError(f"to_zarr: zarr_format: expected 2 or 3, found {zarr_format!r}")
    _check_dates(ds)
    path = _local_path(store)
    if path.exists() or path.is_symlink():
        if not overwrite:
            raise StoreExistsError(f"to_zarr: {str(path)!r} exists: expected a new path, or pass overwrite=True to replace the whole store "
                                   "(its dates too: to add dates, concatenate the cubes along time first, or write them to another store)")
        check_replaceable(path, "to_zarr")
    _warn_leftovers(path)
    out = _with_cf(ds).copy(deep=False)  # own Variable objects: the attributes and encodings below stay off ``ds``
    nonfinite: list[str] = []
    out.attrs = _json_attrs({**out.attrs, **(provenance or {})}, "global", nonfinite)
    out.attrs.setdefault("fusets_dl_version", provenance_attrs()["fusets_dl_version"])
    for name in list(out.data_vars):
        ints = _masked_integers(out[name])
        if ints is not None:
            out[name] = ints
    enc = encoding_for(out, zarr_format=zarr_format, clevel=clevel)
    for name, var in out.variables.items():
        var.attrs = _json_attrs(var.attrs, f"variable {str(name)!r}", nonfinite)  # attributes must be JSON for Zarr
        if name not in enc:  # the source store's codecs (possibly of the other Zarr format) do not carry over
            var.encoding = {k: v for k, v in var.encoding.items() if k not in _CODEC_KEYS}
    _warn_nonfinite(nonfinite)
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
            except BaseException:  # a failed rename, or Ctrl-C / SIGTERM (Terminated) between the two renames
                if not path.exists():
                    old.rename(path)  # put the old store back: never lose data on a failed swap
                raise
            _remove_old(old, path)
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
