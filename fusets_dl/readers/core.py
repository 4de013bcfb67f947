"""Readers that normalise Sentinel-1 and Sentinel-2 inputs into the canonical form.

``open_s1`` returns a Dataset with ``VV`` and ``VH`` (float32, dB) on
``(time, y, x)``; ``open_s2`` returns ``NDVI`` (float32) and a boolean
``clear`` mask (plus ``SCL`` when present). Both write the CRS with
rioxarray, accept netCDF, Zarr, GeoTIFF files or folders, lists of them,
and in-memory Datasets, and return Dask-backed data when ``chunks`` is given.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import rioxarray
import xarray as xr
from pyproj import CRS

from .._logging import logger
from ..cf import cf_attrs
from ..errors import (
    DimensionError,
    DuplicateTimeError,
    EncodingError,
    GridMismatchError,
    MissingVariableError,
    SourceError,
)
from ..validate import TIME_NAMES, check_time
from .encoding import (
    DEFAULT_CLEAR_CLASSES,
    compressed_to_db,
    detect_backscatter_units,
    linear_to_db,
    mask_from_cloud_band,
    mask_from_scl,
    ndvi,
)

__all__ = ["open_cube", "open_s1", "open_s2"]

PathLike = str | os.PathLike
Source = PathLike | xr.Dataset | Sequence[PathLike | xr.Dataset]

_PREFIXES = ("S1-SIGMA0-", "S1_SIGMA0_", "SIGMA0_", "SIGMA0-", "S1-", "S1_", "S2-L2A-", "S2_L2A_", "S2-", "S2_")
_CLOUD_BANDS = ("CLM", "CLOUD_MASK", "CLOUDMASK", "CLOUD", "CLOUDS", "MASK")
_STATIC = ("elevation", "slope", "aspect", "dem")
_TIFF = (".tif", ".tiff")
_DATE_RE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})(?:[T_]?(\d{2})(\d{2})(\d{2}))?")


# --------------------------------------------------------------------------- names

def canonical_band_name(name: str) -> str:
    """Canonical band name: prefixes stripped, polarisations and bands upper-case.

    ``S1-SIGMA0-VV`` -> ``VV``, ``vh`` -> ``VH``, ``S2-L2A-B04`` -> ``B04``,
    ``B4`` -> ``B04``, ``S2-L2A-SCL`` -> ``SCL``; static layers (``elevation``,
    ``slope``, ``aspect``) stay lower-case.
    """
    n = str(name)
    for p in _PREFIXES:
        if n.upper().startswith(p):
            n = n[len(p):]
            break
    u = n.upper()
    if u in ("VV", "VH", "HH", "HV", "SCL", "NDVI") or u in _CLOUD_BANDS:
        return u
    if u == "B8A":
        return "B8A"
    m = re.fullmatch(r"B0?(\d{1,2})", u)
    if m:
        return f"B{int(m.group(1)):02d}"
    if n.lower() in _STATIC:
        return "elevation" if n.lower() == "dem" else n.lower()
    return n


# --------------------------------------------------------------------------- opening

def _is_zarr(path: Path) -> bool:
    return path.suffix == ".zarr" or (path.is_dir() and any((path / f).exists() for f in ("zarr.json", ".zgroup", ".zattrs")))


def _date_from_name(name: str) -> pd.Timestamp:
    m = _DATE_RE.search(name)
    if not m:
        raise SourceError(
            f"GeoTIFF {name!r}: expected a date in the file name (YYYYMMDD or YYYY-MM-DD), found none"
        )
    y, mo, d, hh, mm, ss = m.groups()
    return pd.Timestamp(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0))


def _open_geotiffs(paths: Sequence[Path], chunks: Any) -> xr.Dataset:
    """Open single-date GeoTIFFs (bands named by their descriptions) as one Dataset."""
    by_date: dict[pd.Timestamp, list[xr.Dataset]] = {}
    for p in sorted(paths):
        da = rioxarray.open_rasterio(p, chunks=chunks, mask_and_scale=True)
        assert isinstance(da, xr.DataArray)
        names = da.attrs.get("long_name")
        if isinstance(names, str):
            names = (names,)
        if not names or len(names) != da.sizes["band"]:
            # single band named by a token of the file name (e.g. S1_VV_20200101.tif)
            tokens = re.split(r"[_\-.]", p.stem)
            known = [t for t in tokens if canonical_band_name(t) in ("VV", "VH", "SCL", "NDVI") or re.fullmatch(r"B\d{1,2}A?", t.upper())]
            if da.sizes["band"] != 1 or len(known) != 1:
                raise SourceError(
                    f"GeoTIFF {p.name}: expected band descriptions (one per band) or a single band "
                    f"named in the file name; found {da.sizes['band']} bands and descriptions {names!r}"
                )
            names = (known[0],)
        ds = xr.Dataset({str(n): da.isel(band=i, drop=True) for i, n in enumerate(names)})
        for v in ds.data_vars:
            ds[v].attrs = {k: v2 for k, v2 in da.attrs.items() if k not in ("long_name", "scale_factor", "add_offset", "_FillValue")}
        ds = ds.rio.write_crs(da.rio.crs)
        by_date.setdefault(_date_from_name(p.name), []).append(ds)
    steps = []
    for t, parts in sorted(by_date.items()):
        merged = xr.merge(parts, join="exact", compat="override")
        steps.append(merged.expand_dims(time=[t]))
    out = xr.concat(steps, dim="time", join="exact")
    crs = steps[0].rio.crs
    return out.rio.write_crs(crs)


def _open_one(source: PathLike | xr.Dataset, chunks: Any) -> xr.Dataset:
    if isinstance(source, xr.Dataset):
        return source
    if isinstance(source, xr.DataArray):
        raise SourceError(
            "expected a path or an xarray.Dataset with named bands, found a DataArray; "
            "use da.to_dataset(name=...) or da.to_dataset(dim='band')"
        )
    path = Path(source)
    if not path.exists():
        raise SourceError(f"input not found: expected an existing file or folder, found no {str(path)!r}")
    if _is_zarr(path):
        return xr.open_zarr(path, chunks={} if chunks is not None else None, mask_and_scale=False)
    if path.is_dir():
        tifs = sorted(p for p in path.iterdir() if p.suffix.lower() in _TIFF)
        if not tifs:
            raise SourceError(f"folder {str(path)!r}: expected GeoTIFF files (*.tif) or a Zarr store, found neither")
        return _open_geotiffs(tifs, chunks)
    if path.suffix.lower() in _TIFF:
        return _open_geotiffs([path], chunks)
    try:
        # chunks={} keeps the file's own chunks; _finish rechunks with time as one chunk
        return xr.open_dataset(path, chunks={} if chunks is not None else None, mask_and_scale=False, decode_times=True)
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read {str(path)!r}: expected netCDF, Zarr or GeoTIFF ({exc})") from exc


def _open(source: Source, chunks: Any) -> list[xr.Dataset]:
    if isinstance(source, (str, os.PathLike, xr.Dataset, xr.DataArray)):
        items: list[Any] = [source]
    else:
        items = list(source)
        if not items:
            raise SourceError("expected at least one input file or Dataset, found an empty list")
    tifs = [Path(i) for i in items if isinstance(i, (str, os.PathLike)) and Path(i).suffix.lower() in _TIFF]
    if tifs and len(tifs) == len(items):
        for t in tifs:
            if not t.exists():
                raise SourceError(f"input not found: expected an existing file, found no {str(t)!r}")
        return [_open_geotiffs(tifs, chunks)]
    return [_open_one(i, chunks) for i in items]


# --------------------------------------------------------------------------- normalisation

def _find_crs(ds: xr.Dataset) -> CRS | None:
    """Find the CRS from rioxarray, a CF grid-mapping variable, or ``epsg``/``crs`` attrs."""
    names = {str(ds[v].attrs.get("grid_mapping")) for v in ds.data_vars if "grid_mapping" in ds[v].attrs}
    names |= {str(ds[v].encoding.get("grid_mapping")) for v in ds.data_vars if "grid_mapping" in ds[v].encoding}
    names |= {"spatial_ref", "crs"}
    for n in names:
        if n in ds.variables:
            a = ds[n].attrs
            for key in ("crs_wkt", "spatial_ref"):
                if key in a:
                    return CRS.from_user_input(a[key])
            if "epsg_code" in a:
                return CRS.from_user_input(a["epsg_code"])
    try:
        crs = ds.rio.crs
    except Exception:
        crs = None
    if crs is not None:
        return CRS.from_user_input(crs.to_wkt())
    for key in ("epsg", "EPSG", "crs"):
        val = ds.attrs.get(key)
        if val is None:
            continue
        m = re.search(r"(?:epsg:)?(\d{4,5})", str(val), flags=re.IGNORECASE)
        if m:
            return CRS.from_epsg(int(m.group(1)))
        return CRS.from_user_input(val)
    return None


def _normalise_dims(ds: xr.Dataset, what: str) -> xr.Dataset:
    tnames = [n for n in TIME_NAMES if n in ds.dims]
    if len(tnames) > 1:
        raise DimensionError(f"{what}: expected one time dimension, found several: {tnames}")
    if tnames and tnames[0] != "time":
        ds = ds.rename({tnames[0]: "time"})
    if "time" not in ds.dims:
        raise DimensionError(
            f"{what}: expected a time dimension named one of {TIME_NAMES}, found dims {tuple(ds.dims)}"
        )
    ren = {}
    for y, x in (("lat", "lon"), ("latitude", "longitude"), ("northing", "easting")):
        if y in ds.dims and x in ds.dims and "y" not in ds.dims:
            ren.update({y: "y", x: "x"})
    ds = ds.rename(ren) if ren else ds
    if "y" not in ds.dims or "x" not in ds.dims:
        raise DimensionError(f"{what}: expected spatial dims ('y', 'x'), found dims {tuple(ds.dims)}")
    extra = [d for d in ds.dims if d not in ("time", "y", "x")]
    for d in extra:
        if ds.sizes[d] == 1:
            ds = ds.squeeze(d, drop=True)
    tidx = ds.indexes.get("time")
    if getattr(tidx, "tz", None) is not None:
        logger.warning("%s: timezone-aware times (%s) converted to naive UTC", what, tidx.tz)
        ds = ds.assign_coords(time=tidx.tz_convert("UTC").tz_localize(None))
    if not pd.api.types.is_datetime64_any_dtype(ds["time"].dtype):
        try:
            ds = ds.assign_coords(time=pd.to_datetime(ds["time"].values))
        except (ValueError, TypeError) as exc:
            raise DimensionError(f"{what}: expected 'time' values that parse as dates, found {ds['time'].values[:3]!r}") from exc
    return ds


def _normalise_time(ds: xr.Dataset, what: str, duplicates: str) -> xr.Dataset:
    idx = pd.DatetimeIndex(ds["time"].values)
    if idx.tz is not None:
        ds = ds.assign_coords(time=idx.tz_convert("UTC").tz_localize(None).values)
    if not idx.is_monotonic_increasing:
        ds = ds.sortby("time")
    if pd.DatetimeIndex(ds["time"].values).has_duplicates:
        if duplicates == "raise":
            check_time(ds, what)
        elif duplicates == "first":
            keep = ~pd.DatetimeIndex(ds["time"].values).duplicated(keep="first")
            ds = ds.isel(time=np.flatnonzero(keep))
        elif duplicates == "mean":
            ds = ds.groupby("time").mean(keep_attrs=True)
        else:
            raise DuplicateTimeError(f"duplicates: expected 'raise', 'first' or 'mean', found {duplicates!r}")
    return ds


def _decode(da: xr.DataArray) -> xr.DataArray:
    """Apply ``_Unsigned``, fill values, ``scale_factor`` and ``add_offset`` (CF packing).

    Returns float (float64 for scaled integers, to keep exact decoding; callers
    cast) with NaN for nodata; leaves already-decoded float arrays alone.
    """
    attrs = dict(da.attrs)
    enc = dict(da.encoding)
    data = da
    if str(attrs.pop("_Unsigned", "")).lower() == "true" and np.issubdtype(da.dtype, np.signedinteger):
        udt = np.dtype(f"u{da.dtype.itemsize}")
        data = da.copy(data=da.data.view(udt))
    fills = []
    for key in ("_FillValue", "missing_value"):
        if key in attrs:
            fills.append(attrs.pop(key))
    scale = attrs.pop("scale_factor", None)
    offset = attrs.pop("add_offset", None)
    if np.issubdtype(data.dtype, np.integer) and (fills or scale is not None or offset is not None):
        out = data.astype(np.float64)
        for f in fills:
            for fv in np.atleast_1d(f):
                out = out.where(data != fv)
        if scale is not None:
            out = out * float(np.asarray(scale).ravel()[0])
        if offset is not None:
            out = out + float(np.asarray(offset).ravel()[0])
        out.attrs = attrs
        out.encoding = enc
        return out
    if np.issubdtype(data.dtype, np.floating):
        out = data
        for f in fills:
            for fv in np.atleast_1d(f):
                if np.isfinite(fv):
                    out = out.where(data != fv)
        if scale is not None:
            out = out * float(np.asarray(scale).ravel()[0])
        if offset is not None:
            out = out + float(np.asarray(offset).ravel()[0])
        out.attrs = attrs
        return out
    data.attrs = attrs
    return data


def _prepare(raw: xr.Dataset, what: str, duplicates: str) -> tuple[xr.Dataset, CRS | None, dict[str, str]]:
    """Common normalisation: dims, canonical names, CRS; returns (ds, crs, original names)."""
    crs = _find_crs(raw)
    ds = _normalise_dims(raw, what)
    drop = [v for v in ds.variables if v in ("crs", "spatial_ref") or (ds[v].dtype.kind in "SU" and ds[v].ndim == 0)]
    ds = ds.drop_vars(drop, errors="ignore")
    original: dict[str, str] = {}
    rename: dict[str, str] = {}
    for v in ds.data_vars:
        c = canonical_band_name(str(v))
        original[c] = str(v)
        if c != v:
            if c in rename.values() or (c in ds.data_vars and c != v):
                raise DimensionError(f"{what}: variables {v!r} and {c!r} both map to band {c!r}")
            rename[str(v)] = c
    ds = ds.rename(rename) if rename else ds
    ds = _normalise_time(ds, what, duplicates)
    return ds, crs, original


def _finish(ds: xr.Dataset, crs: CRS | None, chunks: Any, what: str) -> xr.Dataset:
    if crs is not None:
        ds = ds.rio.write_crs(crs)
    else:
        logger.warning("%s: no CRS found (expected a CF grid mapping, spatial_ref or an 'epsg' attribute)", what)
    ds = ds.transpose("time", "y", "x", ...)
    if chunks is not None:
        spec = _time_chunks(chunks)
        ds = ds.assign({v: ds[v].chunk({k: c for k, c in spec.items() if k in ds[v].dims} if isinstance(spec, dict) else spec) for v in ds.data_vars})
    # small per-time or static coordinates (orbit, incidence angle) stay in memory
    small = {c: ds[c].compute() for c in ds.coords if c not in ds.dims and ds[c].chunks is not None and ds[c].ndim <= 1}
    return ds.assign_coords(small) if small else ds


def _time_chunks(chunks: Any) -> Any:
    """Time-series kernels need ``time`` as one chunk: default it to -1."""
    if isinstance(chunks, Mapping):
        out = dict(chunks)
        out.setdefault("time", -1)
        return out
    if chunks == "auto":
        return {"time": -1, "y": "auto", "x": "auto"}
    return chunks


def _subset(ds: xr.Dataset, time_range: tuple[Any, Any] | None, bbox: Sequence[float] | None, what: str) -> xr.Dataset:
    if time_range is not None:
        t0, t1 = (pd.Timestamp(t) if t is not None else None for t in time_range)
        ds = ds.sel(time=slice(t0, t1))
        if ds.sizes["time"] == 0:
            raise DimensionError(f"{what}: no dates left in time_range {time_range}")
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        ds = ds.rio.clip_box(minx, miny, maxx, maxy)
    return ds


def _orbit_from(ds: xr.Dataset, raw: xr.Dataset, source: Any, orbit: Any) -> xr.Dataset:
    """Attach the ``orbit`` coordinate (and ``incidence_angle`` when ``raw`` has it)."""
    if "incidence_angle" in raw.variables and raw["incidence_angle"].dims == ("time",):
        ds = ds.assign_coords(incidence_angle=("time", np.asarray(raw["incidence_angle"].values, dtype=np.float32)))
    if orbit is not None:
        vals = np.asarray(orbit)
        if vals.ndim == 0:
            vals = np.full(ds.sizes["time"], vals.item())
        if vals.shape != (ds.sizes["time"],):
            raise DimensionError(f"orbit: expected a scalar or {ds.sizes['time']} values, found shape {vals.shape}")
        return ds.assign_coords(orbit=("time", vals))
    for name in ("orbit", "relative_orbit", "sat:relative_orbit", "orbit_direction", "sat:orbit_state"):
        if name in raw.variables and raw[name].dims == ("time",):
            return ds.assign_coords(orbit=("time", np.asarray(raw[name].values)))
    text = str(source).upper() if isinstance(source, (str, os.PathLike)) else str(ds.attrs.get("name", "")).upper()
    for direction in ("ASCENDING", "DESCENDING"):
        if direction in text:
            return ds.assign_coords(orbit=("time", np.full(ds.sizes["time"], direction)))
    return ds


# --------------------------------------------------------------------------- S1

def open_s1(
    source: Source,
    *,
    units: Literal["auto", "dB", "linear", "compressed"] = "auto",
    chunks: Any = None,
    orbit: Any = None,
    time_range: tuple[Any, Any] | None = None,
    bbox: Sequence[float] | None = None,
    duplicates: Literal["raise", "first", "mean"] = "raise",
) -> xr.Dataset:
    """Open Sentinel-1 backscatter as ``VV``/``VH`` float32 in dB on ``(time, y, x)``.

    Parameters
    ----------
    source : path, Dataset or list of them
        netCDF, Zarr store, GeoTIFF file, folder of single-date GeoTIFFs
        (date in the file name, bands named by their descriptions), a list of
        these, or an in-memory :class:`xarray.Dataset`.
    units : {"auto", "dB", "linear", "compressed"}
        Encoding of the backscatter after CF decoding. ``"compressed"`` is the
        openEO uint16 encoding ``dB = 20 log10(DN) - 83`` (DN 65534/65535
        nodata); ``"auto"`` recognises it from an integer dtype without scale
        factor and otherwise tells dB from linear power on a small sample.
    chunks : dict, "auto" or None
        Dask chunks; ``time`` defaults to a single chunk. None gives NumPy.
    orbit : scalar or sequence, optional
        Orbit label(s) for the ``orbit`` coordinate. By default taken from an
        ``orbit``/``relative_orbit`` variable, or ASCENDING/DESCENDING in the
        file name.
    time_range : (start, end), optional
        Dates to keep (inclusive).
    bbox : (minx, miny, maxx, maxy), optional
        Box in the data CRS to keep.
    duplicates : {"raise", "first", "mean"}
        What to do with duplicated timestamps.

    Returns
    -------
    xarray.Dataset
        ``VV`` and ``VH`` (float32, attrs ``units="dB"``), the ``orbit``
        coordinate when known, static ``elevation``/``slope``/``aspect`` when
        present, CRS written with rioxarray.

    Raises
    ------
    MissingVariableError
        When VV or VH is absent.
    EncodingError
        When the values are neither dB nor linear power.
    """
    what = f"open_s1({_describe(source)})"
    parts = _open(source, chunks)
    prepared = [_prepare(p, what, duplicates) for p in parts]
    ds = prepared[0][0] if len(prepared) == 1 else xr.merge([p[0] for p in prepared], join="exact", compat="override")
    crs = next((p[1] for p in prepared if p[1] is not None), None)
    originals = {k: v for p in prepared for k, v in p[2].items()}
    missing = [b for b in ("VV", "VH") if b not in ds.data_vars]
    if missing:
        raise MissingVariableError(
            f"{what}: expected backscatter bands VV and VH (or S1-SIGMA0-VV/VH), missing {missing}; "
            f"found {sorted(map(str, ds.data_vars))}"
        )
    out = xr.Dataset(coords={k: v for k, v in ds.coords.items() if k in ("time", "y", "x")})
    detected = {}
    for band in ("VV", "VH"):
        raw = ds[band]
        prefixed = originals.get(band, band).upper().startswith(("S1-SIGMA0", "S1_SIGMA0"))
        dec = _decode(raw)
        u = units
        if u == "auto":
            integer_unscaled = np.issubdtype(dec.dtype, np.integer)
            if integer_unscaled and (prefixed or dec.dtype in (np.uint16, np.dtype("uint16"))):
                u = "compressed"
            elif integer_unscaled:
                raise EncodingError(
                    f"{what}: {band} holds integers of dtype {dec.dtype} without a scale_factor; expected "
                    "float dB/linear, scaled integers, or the openEO uint16 compressed encoding; "
                    "pass units='compressed', 'dB' or 'linear'"
                )
            else:
                u = detect_backscatter_units(_sample(dec))
        if u == "compressed":
            db = compressed_to_db(dec if np.issubdtype(dec.dtype, np.integer) else dec.fillna(0).astype(np.uint16))
        elif u == "linear":
            db = linear_to_db(dec.astype(np.float64))
        elif u == "dB":
            db = dec
        else:
            raise EncodingError(f"{what}: units: expected 'auto', 'dB', 'linear' or 'compressed', found {units!r}")
        if units in ("dB", "linear") and not np.issubdtype(dec.dtype, np.integer) and dec.chunks is None:
            # in-memory data only: a declaration on Dask input is trusted, so opening stays lazy
            _check_declared_units(_sample(dec), units, f"{what}: {band}")
        detected[band] = u
        db = db.where(np.isfinite(db)).astype(np.float32)
        db.attrs = cf_attrs(band, source_encoding=u)
        out[band] = db
    for name in ("elevation", "slope", "aspect"):
        if name in ds.data_vars:
            s = _decode(ds[name]).astype(np.float32)
            if "time" in s.dims:
                s = s.max("time")
            s.attrs = cf_attrs(name)
            out[name] = s
    out.attrs = {"source": _describe(source), "sensor": "Sentinel-1", "encoding": ",".join(f"{k}:{v}" for k, v in detected.items())}
    out = _orbit_from(out, ds, source if not isinstance(source, (list, tuple)) else source[0], orbit)
    if crs is not None:
        out = out.rio.write_crs(crs)
    out = _subset(out, time_range, bbox, what)
    logger.info("%s: %d dates, %d x %d pixels, encoding %s", what, out.sizes["time"], out.sizes["y"], out.sizes["x"], out.attrs["encoding"])
    return _finish(out, crs, chunks, what)


def _check_declared_units(sample: np.ndarray, declared: str, what: str) -> None:
    """Refuse backscatter whose values contradict the declared units (linear declared as dB and the reverse)."""
    try:
        found = detect_backscatter_units(sample)
    except EncodingError:
        return  # nothing conclusive in the sample: trust the declaration
    if found != declared:
        v = sample[np.isfinite(sample)]
        raise EncodingError(
            f"{what}: declared units={declared!r} but the values look {found} (median {np.median(v):.4g}, "
            f"{100 * np.mean(v < 0):.0f}% negative); expected {'dB: mostly negative, about -35..+5' if declared == 'dB' else 'linear power: non-negative, median below 1'}. "
            "Pass units='auto' to use the detected units, or fix the declaration"
        )


def _sample(da: xr.DataArray, n: int = 4096) -> np.ndarray:
    """A small strided sample of ``da`` (computes only that sample on Dask input)."""
    nt = da.sizes.get("time", 1)
    sub = da.isel(time=slice(0, min(nt, 4))) if "time" in da.dims else da
    sy = max(1, sub.sizes.get("y", 1) // 32)
    sx = max(1, sub.sizes.get("x", 1) // 32)
    sub = sub.isel(y=slice(None, None, sy), x=slice(None, None, sx))
    vals = np.asarray(sub.values, dtype=np.float64).ravel()
    if np.isfinite(vals).sum() == 0 and nt > 4:
        vals = np.asarray(da.isel(y=slice(None, None, sy), x=slice(None, None, sx)).values, dtype=np.float64).ravel()
    return vals[:n * 16]


def _describe(source: Any) -> str:
    if isinstance(source, xr.Dataset):
        return "<Dataset>"
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    try:
        return "[" + ", ".join(_describe(s) for s in source) + "]"
    except TypeError:
        return type(source).__name__


# --------------------------------------------------------------------------- S2

def _resolution(ds: xr.Dataset) -> float:
    if ds.sizes["x"] < 2:
        raise GridMismatchError(f"cannot infer the resolution of a grid {ds.sizes['x']} pixel(s) wide")
    return float(abs(ds["x"].values[1] - ds["x"].values[0]))


def _onto_grid(coarse: xr.Dataset, fine: xr.Dataset, what: str) -> xr.Dataset:
    """Nearest-neighbour copy of ``coarse`` onto the coordinates of ``fine``.

    Where the grids nest (fine pixel centres inside coarse pixels) this
    replicates each coarse value over the fine pixels it covers, exactly.
    """
    res = _resolution(coarse)
    try:
        out = coarse.reindex(y=fine["y"], x=fine["x"], method="nearest", tolerance=res / 2 + 1e-6)
    except (KeyError, ValueError) as exc:
        raise GridMismatchError(f"{what}: cannot bring the {res:g} m bands onto the finer grid ({exc})") from exc
    return out


def open_s2(
    source: Source,
    *,
    clear_classes: Iterable[int] = DEFAULT_CLEAR_CLASSES,
    chunks: Any = None,
    time_range: tuple[Any, Any] | None = None,
    bbox: Sequence[float] | None = None,
    reflectance_scale: float | Literal["auto"] = "auto",
    boa_offset: float = 0.0,
    duplicates: Literal["raise", "first", "mean"] = "raise",
) -> xr.Dataset:
    """Open Sentinel-2 L2A data as ``NDVI`` (float32) and a boolean ``clear`` mask.

    Parameters
    ----------
    source : path, Dataset or list of them
        As for :func:`open_s1`. A list of files holding different bands at
        different resolutions (WorldCereal: B04/B08 at 10 m, SCL at 20 m) is
        merged onto the **finest** grid: coarser bands are copied by nearest
        neighbour onto it (exact replication where the grids nest), so NDVI
        keeps its full resolution and :func:`fusets_dl.align` aggregates it
        onto the S1 grid later.
    clear_classes : iterable of int
        SCL classes counted as clear (default 4 vegetation, 5 bare soil).
        Without SCL, a cloud mask band (``CLM``: 1 = cloud) is used; without
        either, every valid NDVI counts as clear and a warning is logged.
    chunks : dict, "auto" or None
        Dask chunks (``time`` defaults to one chunk).
    time_range, bbox, duplicates
        As for :func:`open_s1`.
    reflectance_scale : float or "auto"
        Factor from stored values to reflectance after CF decoding. "auto":
        a CF ``scale_factor`` gives reflectance directly; integers without
        scale factor are DN x 1e-4; floats without one are DN x 1e-4 when a
        small sample (read now) exceeds 1.5.
    boa_offset : float
        Offset added to reflectance after scaling (-0.1 for L2A processing
        baseline 04.00 and later when not already applied).

    Returns
    -------
    xarray.Dataset
        ``NDVI`` (float32, NaN where reflectance is nodata), ``clear``
        (bool) and ``SCL`` (uint8, 0 where nodata) when present.
    """
    what = f"open_s2({_describe(source)})"
    parts = [_prepare(p, what, duplicates) for p in _open(source, chunks)]
    crs = next((p[1] for p in parts if p[1] is not None), None)
    datasets = [p[0] for p in parts]
    if len(datasets) > 1:
        finest = min(datasets, key=_resolution)
        aligned = []
        for d in datasets:
            if d is not finest and not (np.array_equal(d["x"].values, finest["x"].values) and np.array_equal(d["y"].values, finest["y"].values)):
                d = _onto_grid(d, finest, what)
            aligned.append(d)
        times = [d["time"].values for d in aligned]
        if not all(np.array_equal(times[0], t) for t in times[1:]):
            raise DimensionError(
                f"{what}: expected the same dates in every file, found "
                + ", ".join(f"{len(t)} dates {str(t[0])[:10]}..{str(t[-1])[:10]}" for t in times)
            )
        ds = xr.merge([d.drop_vars([c for c in d.coords if c not in ("time", "y", "x")]) for d in aligned], join="override", compat="override")
    else:
        ds = datasets[0]
    have = set(map(str, ds.data_vars))
    if not ({"B04", "B08"} <= have or "NDVI" in have):
        raise MissingVariableError(
            f"{what}: expected red and NIR bands B04 and B08 (or S2-L2A-B04/B08), or an NDVI band; "
            f"found {sorted(have)}"
        )
    out = xr.Dataset(coords={k: v for k, v in ds.coords.items() if k not in ("spatial_ref", "crs")})
    if {"B04", "B08"} <= have:
        refl = {}
        for b in ("B04", "B08"):
            cf_scaled = "scale_factor" in ds[b].attrs
            dec = _decode(ds[b])
            scale = reflectance_scale
            if scale == "auto":
                if cf_scaled:
                    scale = 1.0  # the CF scale_factor already gave reflectance
                elif np.issubdtype(dec.dtype, np.integer):
                    scale = 1e-4
                    dec = dec.where(dec > 0)  # DN 0 is nodata in L2A products
                else:  # floats without scale information: look at a small sample
                    peak = np.nanmax(_sample(dec)) if dec.size else 0.0
                    scale = 1e-4 if peak > 1.5 else 1.0
            refl[b] = dec.astype(np.float32) * np.float32(scale) + np.float32(boa_offset)
        out["NDVI"] = ndvi(refl["B04"], refl["B08"])
    else:
        nd = _decode(ds["NDVI"]).astype(np.float32)
        smp = _sample(nd) if nd.chunks is None else np.zeros(0)  # Dask input stays lazy: only the mask below applies
        smp = smp[np.isfinite(smp)]
        outside = float(np.mean(np.abs(smp) > 1.0)) if smp.size else 0.0
        if outside > 0.01:
            raise EncodingError(
                f"{what}: expected NDVI in [-1, 1], found {outside:.0%} of sampled values outside it "
                f"(range {smp.min():.4g}..{smp.max():.4g}): an unapplied scale factor (e.g. x10000) or reflectance instead of NDVI?"
            )
        if outside > 0:
            logger.warning("%s: %.2f%% of sampled NDVI values outside [-1, 1] are set to NaN", what, 100 * outside)
        out["NDVI"] = nd.where((nd >= -1) & (nd <= 1))
        out["NDVI"].attrs = cf_attrs("NDVI")
    if "SCL" in have:
        scl_f = _decode(ds["SCL"])
        out["clear"] = mask_from_scl(scl_f, clear_classes) & out["NDVI"].notnull()
        out["SCL"] = scl_f.fillna(0).astype(np.uint8) if np.issubdtype(scl_f.dtype, np.floating) else scl_f.astype(np.uint8)
        out["SCL"].attrs = cf_attrs("SCL")
        mask_src = f"SCL classes {sorted(int(c) for c in clear_classes)}"
    else:
        cloud = next((c for c in _CLOUD_BANDS if c in have), None)
        if cloud is not None:
            out["clear"] = mask_from_cloud_band(_decode(ds[cloud])) & out["NDVI"].notnull()
            mask_src = f"cloud band {cloud}"
        else:
            logger.warning("%s: no SCL or cloud mask band; every valid NDVI counts as clear", what)
            out["clear"] = out["NDVI"].notnull()
            out["clear"].attrs = cf_attrs("clear", source="valid NDVI (no cloud information)")
            mask_src = "none (valid NDVI)"
    out.attrs = {"source": _describe(source), "sensor": "Sentinel-2", "clear_mask": mask_src}
    if crs is not None:
        out = out.rio.write_crs(crs)
    out = _subset(out, time_range, bbox, what)
    logger.info("%s: %d dates, %d x %d pixels, clear mask from %s", what, out.sizes["time"], out.sizes["y"], out.sizes["x"], mask_src)
    return _finish(out, crs, chunks, what)


def open_cube(source: PathLike | xr.Dataset, *, chunks: Any = None) -> xr.Dataset:
    """Open a fusion cube written by fusets_dl (netCDF or Zarr) and validate it.

    Parameters
    ----------
    source : path or Dataset
        A store with ``VV``, ``VH`` (dB) and optionally ``NDVI`` on ``(time, y, x)``.
    chunks : dict, "auto" or None
        Dask chunks (``time`` defaults to one chunk).
    """
    from ..validate import check_cube

    if isinstance(source, xr.Dataset):
        ds = source
    else:
        path = Path(source)
        if not path.exists():
            raise SourceError(f"fusion cube not found: expected an existing store, found no {str(path)!r}")
        ds = xr.open_zarr(path, chunks=chunks, decode_coords="all") if _is_zarr(path) else xr.open_dataset(path, chunks=chunks, decode_coords="all")
        ds = ds.rio.write_crs(ds.rio.crs) if ds.rio.crs is not None else ds
    check_cube(ds)
    return ds.chunk(_time_chunks(chunks)) if chunks is not None else ds
