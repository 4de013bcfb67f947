"""Zonal-statistics outputs of openEO and Sentinel Hub as long point tables.

The field series users of openEO (CDSE, VITO/Terrascope) and Sentinel Hub
get come in the services' own formats, not as CSV. This module turns them
into the long table layout of :mod:`fusets_dl.readers.tables` (one row per
point and time, one column per band), so that they go through the same
column roles and decoding as a CSV table; it decodes no value itself.

openEO ``aggregate_spatial`` JSON
    ``{"2021-01-05T00:00:00Z": [[b0, b1, ...], [...], ...], ...}``: per date,
    one list per geometry (empty or ``null`` where it has no data), one
    value per band. No band labels and no geometry: the bands are named by
    ``bands=[...]`` in order, the points are the geometries' positions
    (``feature_index`` 0, 1, ...).
openEO vector cube (netCDF, or the :class:`xarray.Dataset` opened from it)
    As the geopyspark back-end writes ``save_result(format="netCDF")`` after
    ``aggregate_spatial``: dimensions ``(feature, t)``, one variable per
    band (the band labels, or ``band_0`` ... without band metadata),
    ``feature_names`` and the ``lat``/``lon`` of each geometry's
    representative point. Also read: a ``bands`` dimension (its labels),
    ``geometry``/``geometries`` as the feature dimension, ``time``/``date``
    as the time dimension, and geometries as WKT or WKB (their centroid is
    the point's lon/lat, logged).
Sentinel Hub Statistical API response (JSON)
    ``{"data": [{"interval": {"from", "to"}, "outputs": {<output id>:
    {"bands": {"B0": {"stats": {"mean", "sampleCount", "noDataCount", ...}}}}}}]}``,
    one response per geometry (a list of them, or a file each). The
    ``mean`` is the value; a band whose ``noDataCount`` equals its
    ``sampleCount`` is missing, and a row missing in every band is dropped.
    Band names: an output of one band is named by its output id (the
    evalscript's ``id``: ``B04``, ``CLM``); ``bands=[...]`` names the bands
    in order (needed for outputs of several bands ``B0``, ``B1``, ...).
    The point id is the response's ``id`` (or ``identifier``), else the
    file name, else its position in the list. The time is the interval's
    ``from``: for daily intervals the acquisition day; longer intervals are
    composites (mosaics over the interval) dated by their start, warned.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._logging import logger
from .._warn import warn_user
from ..errors import FusionError, SourceError, TableError

__all__ = ["VECTOR_SUFFIXES", "geometry_lonlat", "is_vector_source", "vector_table"]

#: File suffixes of the services' outputs this module reads.
VECTOR_SUFFIXES = (".json", ".nc", ".nc4", ".netcdf")
#: Band labels that name no band: openEO's ``band_0`` (no band metadata).
_GENERIC_BAND = re.compile(r"^band_?\d+$", re.IGNORECASE)
#: Sentinel Hub's positional band keys inside an output (``B0``, ``B1``, ...).
_SH_BAND = re.compile(r"^B\d+$")
_TIME_DIMS = ("t", "time", "date", "dates")
_BAND_DIMS = ("bands", "band")
_ID_VARS = ("feature_names", "feature_ids", "feature_id", "feature_index", "id", "fid", "name", "names")
_LON_VARS, _LAT_VARS = ("lon", "longitude"), ("lat", "latitude")
_GEOMETRY_VARS = ("geometry", "geometries", "geom", "wkt", "wkb")
_WKT = re.compile(r"^\s*(?:SRID=\d+;\s*)?(POINT|MULTIPOINT|LINESTRING|MULTILINESTRING|POLYGON|MULTIPOLYGON)\s*(?:ZM|Z|M)?\s*(\(.*\))\s*$",
                  re.IGNORECASE | re.DOTALL)
_WKT_TUPLE = re.compile(r"([-+]?[\d.]+(?:[eE][-+]?\d+)?)\s+([-+]?[\d.]+(?:[eE][-+]?\d+)?)(?:\s+[-+]?[\d.]+(?:[eE][-+]?\d+)?)*")
_WKB_TYPES = {1: "Point", 2: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString", 6: "MultiPolygon"}
#: Column names of the tables made here (the table reader's ``id``, ``time``, ``lon``, ``lat`` roles).
OPENEO_ID, SH_ID, TIME, LON, LAT = "feature_index", "id", "date", "lon", "lat"


def is_vector_source(source: Any) -> bool:
    """Whether ``source`` is one of this module's formats (not a CSV/Parquet table or a DataFrame).

    Parameters
    ----------
    source : Any
        A path, an :class:`xarray.Dataset`/``DataArray``, a parsed JSON
        ``dict``, a list of Sentinel Hub responses, or anything else.

    Returns
    -------
    bool
        True for ``.json``/``.nc`` paths, xarray objects, dicts and lists of dicts.
    """
    if isinstance(source, (xr.Dataset, xr.DataArray, dict)):
        return True
    if isinstance(source, (list, tuple)):
        return bool(source) and all(isinstance(s, dict) for s in source)
    if isinstance(source, (str, Path)) or hasattr(source, "__fspath__"):
        return Path(source).name.lower().endswith(VECTOR_SUFFIXES)
    return False


def vector_table(source: Any, bands: Sequence[str] | None = None, what: str = "read_table") -> pd.DataFrame:
    """A long point table from an openEO ``aggregate_spatial`` output or Sentinel Hub Statistical API responses.

    Parameters
    ----------
    source : path, xarray.Dataset, xarray.DataArray, dict or list of dict
        A ``.json`` file (openEO JSON or a Sentinel Hub response), a
        ``.nc`` vector cube, the Dataset opened from one, a parsed JSON
        object, or a list of Sentinel Hub responses (one per geometry).
    bands : sequence of str, optional
        The band names in the order the source lists them; needed where it
        carries none (openEO JSON, ``band_0`` variables, Sentinel Hub
        outputs of several bands), and renaming the source's own otherwise.
    what : str
        The caller, for messages.

    Returns
    -------
    pandas.DataFrame
        One row per point and time: ``feature_index`` (openEO) or ``id``
        (Sentinel Hub), ``date``, one column per band, and ``lon``/``lat``
        where the source has geometries.

    Raises
    ------
    TableError
        A structure none of the formats has, band labels missing without
        ``bands=``, or ``bands=`` of the wrong length.
    SourceError
        A path that is not a file.
    """
    name = None
    if isinstance(source, (str, Path)) or hasattr(source, "__fspath__"):
        path = Path(source)
        if not path.is_file():
            raise SourceError(f"{what}: expected a JSON or netCDF file, found no file at {path}")
        what, name = f"{what}({path.name})", path.stem
    try:
        if name is not None:
            if path.name.lower().endswith(".json"):
                source = json.loads(path.read_text(encoding="utf-8-sig"))
            else:
                with xr.open_dataset(path) as ds:
                    source = ds.load()
        if isinstance(source, (xr.Dataset, xr.DataArray)):
            return _cube_table(source, bands, what)
        return _json_table(source, bands, what, name)
    except FusionError:
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError, OSError) as err:  # a malformed file or object
        raise TableError(f"{what}: expected an openEO aggregate_spatial output (JSON {{date: [[band values] per geometry]}}, a "
                         "netCDF vector cube) or Sentinel Hub Statistical API responses ({'data': [{'interval', 'outputs'}]}), "
                         f"found one that cannot be read: {type(err).__name__}: {err}") from err


def _band_names(bands: Sequence[str] | None, found: list[str], generic: bool, what: str, why: str) -> list[str]:
    """``bands`` when given (one per band), else the source's labels; a :class:`TableError` when it has none."""
    if bands is not None:
        names = [str(b) for b in ([bands] if isinstance(bands, str) else bands)]
        if len(names) != len(found):
            raise TableError(f"{what}: bands={names}: expected {len(found)} names, one per band in the order the source lists "
                             f"them ({found}), found {len(names)}")
        if names != found:
            logger.info("%s: bands named %s", what, dict(zip(found, names, strict=True)))
        return names
    if generic:
        raise TableError(f"{what}: expected band labels, found none ({why}: {len(found)} bands {found}); name them in order "
                         "with bands=[...] (read_table(source, bands=['B04', 'B08', 'SCL']); open_points(s1, s2, "
                         "bands={'s1': ['VV', 'VH'], 's2': ['B04', 'B08', 'SCL']}))")
    return found


def _missing(v: Any) -> float:
    """A JSON value as a float: ``null``, ``"NaN"`` and text that is no number are NaN."""
    if v is None:
        return np.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return np.nan


# --- JSON: openEO aggregate_spatial and Sentinel Hub Statistical API ------------------------------------------------


def _json_table(obj: Any, bands: Sequence[str] | None, what: str, name: str | None) -> pd.DataFrame:
    """Dispatch a parsed JSON object: Sentinel Hub responses (one, wrapped, a list, a mapping id -> response) or openEO's."""
    if isinstance(obj, dict) and ("data" in obj or "response" in obj):
        return _sh_table([_sh_entry(obj, name, 0)], bands, what)
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(o, dict) and ("data" in o or "response" in o) for o in obj):
        return _sh_table([_sh_entry(o, None, i) for i, o in enumerate(obj)], bands, what)
    if isinstance(obj, dict) and obj and all(isinstance(v, dict) and ("data" in v or "response" in v) for v in obj.values()):
        return _sh_table([(str(k), v.get("response", v)) for k, v in obj.items()], bands, what)
    if isinstance(obj, dict) and obj and all(isinstance(v, list) for v in obj.values()):
        return _openeo_json_table(obj, bands, what)
    found = (f"a dict with keys {list(obj)[:5]}" if isinstance(obj, dict)
             else f"a {type(obj).__name__} of {len(obj)} items" if isinstance(obj, (list, tuple)) else type(obj).__name__)
    raise TableError(f"{what}: expected openEO aggregate_spatial JSON ({{date: [[band values] per geometry]}}) or Sentinel Hub "
                     f"Statistical API responses ({{'data': [{{'interval', 'outputs'}}]}}, one per geometry), found {found}")


def _sh_entry(obj: dict, name: str | None, index: int) -> tuple[str, dict]:
    """(point id, response) of one Sentinel Hub response, bare or wrapped (``{"id", "response"}``, batch statistics)."""
    response = obj.get("response", obj) if isinstance(obj.get("response"), dict) else obj
    for key in ("id", "identifier"):
        if obj.get(key) is not None:
            return str(obj[key]), response
    return (name if name is not None else str(index)), response


def _openeo_json_table(obj: dict, bands: Sequence[str] | None, what: str) -> pd.DataFrame:
    """openEO's ``{date: [[b0, b1, ...] per geometry]}`` as rows (date, feature_index, bands); empty lists are missing rows."""
    counts = {len(v) for per_geom in obj.values() for v in per_geom if v}
    if not counts:
        raise TableError(f"{what}: openEO aggregate_spatial JSON: expected band values, found only empty lists for {len(obj)} dates")
    if len(counts) > 1:
        raise TableError(f"{what}: openEO aggregate_spatial JSON: expected the same number of bands for every geometry and date, "
                         f"found {sorted(counts)}")
    n = counts.pop()
    names = _band_names(bands, [f"band_{i}" for i in range(n)], True, what, "openEO aggregate_spatial JSON carries no band labels")
    rows = [(str(i), date, *[_missing(x) for x in v]) for date, per_geom in obj.items() for i, v in enumerate(per_geom) if v]
    table = pd.DataFrame(rows, columns=[OPENEO_ID, TIME, *names])
    n_geom = max(len(v) for v in obj.values())
    logger.info("%s: openEO aggregate_spatial JSON: %d dates, %d geometries (ids 0..%d, their positions), %d rows with values",
                what, len(obj), n_geom, n_geom - 1, len(table))
    return table


def _sh_layout(responses: list[tuple[str, dict]]) -> list[tuple[str, str]]:
    """The (output id, band key) pairs of the responses, in the order first seen; ``dataMask`` left out (it is the mask)."""
    pairs: dict[tuple[str, str], None] = {}
    for _, response in responses:
        for item in response.get("data") or []:
            for out, body in (item.get("outputs") or {}).items():
                if out == "dataMask":
                    continue
                for band in (body or {}).get("bands") or {}:
                    pairs.setdefault((out, band), None)
    return list(pairs)


def _sh_names(pairs: list[tuple[str, str]], bands: Sequence[str] | None, what: str) -> list[str]:
    """Column names of the (output, band) pairs: an output of one ``B0`` band by its id; named bands by their names."""
    per_output: dict[str, list[str]] = {}
    for out, band in pairs:
        per_output.setdefault(out, []).append(band)
    found, generic = [], False
    for out, band in pairs:
        if not _SH_BAND.match(band):
            found.append(band)
        elif len(per_output[out]) == 1:
            found.append(out)
        else:
            found.append(f"{out}_{band}")
            generic = True
    return _band_names(bands, found, generic, what, "Sentinel Hub outputs of several bands name them B0, B1, ...")


def _sh_table(responses: list[tuple[str, dict]], bands: Sequence[str] | None, what: str) -> pd.DataFrame:
    """Sentinel Hub Statistical API responses (one per point) as rows (id, date, bands); fully no-data rows dropped."""
    pairs = _sh_layout(responses)
    if not pairs:
        raise TableError(f"{what}: Sentinel Hub Statistical API response: expected intervals with outputs and band statistics "
                         f"in 'data', found none in {len(responses)} responses (statuses: "
                         f"{sorted({str(r.get('status')) for _, r in responses})})")
    names = _sh_names(pairs, bands, what)
    rows, days, failed, empty = [], set(), 0, 0
    for pid, response in responses:
        for item in response.get("data") or []:
            outputs = item.get("outputs")
            interval = item.get("interval") or {}
            if not outputs or "from" not in interval:
                failed += 1
                continue
            values, all_nodata = [], True
            for out, band in pairs:
                stats = (((outputs.get(out) or {}).get("bands") or {}).get(band) or {}).get("stats") or {}
                nodata, samples = _missing(stats.get("noDataCount")), _missing(stats.get("sampleCount"))
                none_valid = np.isfinite(samples) and np.isfinite(nodata) and nodata >= samples
                values.append(np.nan if none_valid else _missing(stats.get("mean")))
                all_nodata &= none_valid or not np.isfinite(values[-1])
            if all_nodata:
                empty += 1
                continue
            start, end = pd.Timestamp(interval["from"]), pd.Timestamp(interval.get("to", interval["from"]))
            days.add(round((end - start) / pd.Timedelta(days=1), 3))
            rows.append((pid, interval["from"], *values))
    table = pd.DataFrame(rows, columns=[SH_ID, TIME, *names])
    logger.info("%s: Sentinel Hub Statistical API: %d responses (points), %d rows; the 'mean' of %s; %d intervals without a "
                "value in any band (noDataCount = sampleCount) dropped, %d without outputs (errors) skipped",
                what, len(responses), len(table), dict(zip(names, pairs, strict=True)), empty, failed)
    long = sorted(d for d in days if d > 1)
    if long:
        warn_user(f"{what}: Sentinel Hub intervals of {long[0]:g}{f' to {long[-1]:g}' if len(long) > 1 else ''} days "
                  "(aggregationInterval longer than P1D): each value is a composite over its interval (the evalscript's mosaic "
                  "of its acquisitions), dated here by the interval start, not an acquisition. Request P1D intervals for "
                  "acquisition-dated series (the models expect 6-12-day revisits)")
    return table


# --- netCDF / xarray vector cubes ----------------------------------------------------------------------------------


def _cube_dims(ds: xr.Dataset, what: str) -> tuple[str, str | None, str, list[str]]:
    """Time, band (or None) and feature dimensions, and the data variables (numeric, over time and feature)."""
    time = next((d for d in _TIME_DIMS if d in ds.dims), None)
    if time is None:
        raise TableError(f"{what}: vector cube: expected a time dimension ({list(_TIME_DIMS)}), found dimensions {dict(ds.sizes)}")
    band = next((d for d in _BAND_DIMS if d in ds.dims), None)
    data = [str(v) for v, da in ds.data_vars.items() if time in da.dims and np.issubdtype(da.dtype, np.number)
            and len(set(da.dims) - {time, band}) == 1]
    others = {d for v in data for d in ds[v].dims} - {time, band}
    if not data or len(others) != 1:
        raise TableError(f"{what}: vector cube: expected band variables over ({time}, feature) (openEO's netCDF of "
                         f"aggregate_spatial: dimensions feature and t), found variables {list(ds.data_vars)} "
                         f"over dimensions {dict(ds.sizes)}")
    return time, band, others.pop(), data


def _cube_columns(ds: xr.Dataset, time: str, band: str | None, feature: str, data: list[str]) -> dict[str, np.ndarray]:
    """Label -> values (time, feature) of every band: a variable each, or the labels of a ``bands`` dimension."""
    out: dict[str, np.ndarray] = {}
    for var in data:
        da = ds[var]
        if band is not None and band in da.dims:
            labels = [str(b) for b in ds[band].values] if band in ds.coords else [f"band_{i}" for i in range(ds.sizes[band])]
            for i, label in enumerate(labels):
                key = label if len(data) == 1 else f"{var}_{label}"
                out[key] = da.isel({band: i}).transpose(time, feature).values
        else:
            out[var] = da.transpose(time, feature).values
    return out


def _cube_ids(ds: xr.Dataset, feature: str, data: list[str]) -> tuple[np.ndarray, str]:
    """The point ids along ``feature``: an id variable (``feature_names``), else the dimension's labels, else positions."""
    for name in _ID_VARS:
        if name in ds.variables and ds[name].dims == (feature,) and name not in data and ds[name].dtype.kind in "OUSiu":
            return np.array([str(v.decode() if isinstance(v, bytes) else v) for v in ds[name].values]), name
    if feature in ds.coords and ds[feature].dtype.kind in "OUSiu" and not _looks_geometry(ds[feature].values):
        return np.array([str(v) for v in ds[feature].values]), feature
    return np.arange(ds.sizes[feature]).astype(str), f"positions along {feature!r}"


def _looks_geometry(values: np.ndarray) -> bool:
    """Whether values are geometries (WKT, WKB, GeoJSON dicts or objects with ``__geo_interface__``)."""
    first = next((v for v in values.ravel() if v is not None), None)
    return first is not None and not np.isnan(geometry_lonlat(first)[0])


def _cube_coords(ds: xr.Dataset, feature: str, what: str) -> tuple[np.ndarray, np.ndarray] | None:
    """lon/lat of each feature: ``lon``/``lat`` variables, else the centroids of a geometry variable (WKT/WKB), logged."""
    lon = next((ds[n] for n in _LON_VARS if n in ds.variables and ds[n].dims == (feature,)), None)
    lat = next((ds[n] for n in _LAT_VARS if n in ds.variables and ds[n].dims == (feature,)), None)
    if lon is not None and lat is not None:
        return lon.values.astype(np.float64), lat.values.astype(np.float64)
    names = [n for n in (*_GEOMETRY_VARS, feature) if n in ds.variables and ds[n].dims == (feature,)]
    for name in names:
        geoms = ds[name].values
        if not _looks_geometry(geoms):
            continue
        xy = np.array([geometry_lonlat(g)[:2] for g in geoms], dtype=np.float64).reshape(-1, 2)
        kinds = sorted({geometry_lonlat(g)[2] for g in geoms} - {""})
        logger.info("%s: point coordinates from the %s geometries of %r (%s; the centroid of polygons)", what, len(geoms), name, kinds)
        return xy[:, 0], xy[:, 1]
    return None


def _cube_table(cube: xr.Dataset | xr.DataArray, bands: Sequence[str] | None, what: str) -> pd.DataFrame:
    """An openEO vector cube ``(feature, t[, bands])`` as rows (feature_index, date, bands, lon, lat); all-NaN rows dropped."""
    ds = cube.to_dataset(name=cube.name or "band_0") if isinstance(cube, xr.DataArray) else cube
    time, band, feature, data = _cube_dims(ds, what)
    columns = _cube_columns(ds, time, band, feature, data)
    found = list(columns)
    names = _band_names(bands, found, any(_GENERIC_BAND.match(c) for c in found), what,
                        "openEO writes band_0, band_1, ... when the cube has no band metadata")
    ids, id_source = _cube_ids(ds, feature, data)
    n_t, n_f = ds.sizes[time], ds.sizes[feature]
    table = pd.DataFrame({OPENEO_ID: np.tile(ids, n_t), TIME: np.repeat(ds[time].values, n_f)})
    for name, values in zip(names, columns.values(), strict=True):
        table[name] = np.asarray(values, dtype=np.float64).ravel()
    xy = _cube_coords(ds, feature, what)
    if xy is not None:
        table[LON], table[LAT] = np.tile(xy[0], n_t), np.tile(xy[1], n_t)
    keep = table[names].notna().any(axis=1).to_numpy()
    logger.info("%s: vector cube: %d times x %d features (ids from %s), bands %s; %d rows without a value dropped",
                what, n_t, n_f, id_source, names, int((~keep).sum()))
    return table[keep].reset_index(drop=True)


# --- geometries -------------------------------------------------------------------------------------------------------


def geometry_lonlat(geom: Any) -> tuple[float, float, str]:
    """The point of a geometry: a point's coordinates, the area-weighted centroid of (multi)polygons.

    Parameters
    ----------
    geom : str, bytes, dict or object
        WKT (``POINT (x y)``, ``POLYGON ((...))``, ``MULTIPOLYGON``, with an
        optional ``SRID=...;``), WKB (bytes or hex, ISO or EWKB, 2-4
        dimensions), a GeoJSON geometry (dict or its text), or an object
        with ``__geo_interface__`` (shapely).

    Returns
    -------
    (float, float, str)
        x (lon), y (lat) and the geometry type; ``(nan, nan, "")`` for
        anything else. Lines and multi-points give the mean of their
        vertices.
    """
    try:
        kind, coords = _parse_geometry(geom)
    except (ValueError, TypeError, KeyError, IndexError, struct.error, json.JSONDecodeError):
        return (np.nan, np.nan, "")
    if kind is None:
        return (np.nan, np.nan, "")
    x, y = _centroid(kind, coords)
    return (x, y, kind)


def _parse_geometry(geom: Any) -> tuple[str | None, Any]:
    """(GeoJSON type, coordinates) of WKT, WKB, GeoJSON or ``__geo_interface__``; (None, None) when not a geometry."""
    if hasattr(geom, "__geo_interface__"):
        geom = geom.__geo_interface__
    if isinstance(geom, Mapping):
        kind = {k.lower(): k for k in _WKB_TYPES.values()}.get(str(geom.get("type", "")).lower())
        return (kind, geom["coordinates"]) if kind else (None, None)
    if isinstance(geom, (bytes, bytearray, memoryview)):
        kind, coords, _ = _read_wkb(bytes(geom), 0)
        return kind, coords
    if not isinstance(geom, str):
        return None, None
    text = geom.strip()
    if text.startswith("{"):
        return _parse_geometry(json.loads(text))
    m = _WKT.match(text)
    if m:
        kind = {k.upper(): k for k in _WKB_TYPES.values()}[m.group(1).upper()]
        body = re.sub(r"\(\s*([-+\d.eE]+\s+[-+\d.eE]+[^,()]*)\s*\)", r"\1", m.group(2)) if kind == "MultiPoint" else m.group(2)
        nested = _WKT_TUPLE.sub(r"[\1,\2]", body).replace("(", "[").replace(")", "]")
        coords = json.loads(nested)
        return kind, (coords[0] if kind == "Point" else coords)
    if re.fullmatch(r"[0-9a-fA-F]{42,}", text):
        kind, coords, _ = _read_wkb(bytes.fromhex(text), 0)
        return kind, coords
    return None, None


def _read_wkb(buf: bytes, at: int) -> tuple[str, Any, int]:
    """(GeoJSON type, coordinates, next offset) of the WKB geometry at ``at`` (ISO or EWKB; Z/M read and dropped)."""
    order = "<" if buf[at] == 1 else ">"
    code = struct.unpack_from(order + "I", buf, at + 1)[0]
    at += 5
    if code & 0x20000000:  # EWKB SRID
        at += 4
    ndim = 2 + bool(code & 0x80000000) + bool(code & 0x40000000) + {1: 1, 2: 1, 3: 2}.get((code & 0xFFFF) // 1000, 0)
    base = (code & 0xFFFF) % 1000
    kind = _WKB_TYPES[base]

    def points(n: int, at: int) -> tuple[list[list[float]], int]:
        vals = struct.unpack_from(order + "d" * (n * ndim), buf, at)
        return [list(vals[i * ndim : i * ndim + 2]) for i in range(n)], at + 8 * n * ndim

    def count(at: int) -> tuple[int, int]:
        return struct.unpack_from(order + "I", buf, at)[0], at + 4

    if base == 1:
        pts, at = points(1, at)
        return kind, pts[0], at
    n, at = count(at)
    if base == 2:
        pts, at = points(n, at)
        return kind, pts, at
    if base == 3:
        rings = []
        for _ in range(n):
            m, at = count(at)
            ring, at = points(m, at)
            rings.append(ring)
        return kind, rings, at
    parts = []
    for _ in range(n):
        _, part, at = _read_wkb(buf, at)
        parts.append(part)
    return kind, parts, at


def _ring_area_centroid(ring: Any) -> tuple[float, float, float]:
    """|area| and centroid of a ring (shoelace); a degenerate ring: area 0 at the mean of its vertices."""
    xy = np.asarray(ring, dtype=np.float64)[:, :2]
    x, y = xy[:, 0], xy[:, 1]
    x1, y1 = np.roll(x, -1), np.roll(y, -1)
    cross = x * y1 - x1 * y
    a = cross.sum() / 2
    if abs(a) < 1e-300:
        return 0.0, float(x.mean()), float(y.mean())
    return abs(a), float(((x + x1) * cross).sum() / (6 * a)), float(((y + y1) * cross).sum() / (6 * a))


def _centroid(kind: str, coords: Any) -> tuple[float, float]:
    """x, y of a parsed geometry: the point, the mean of vertices (lines, multi-points), the area-weighted centroid of polygons."""
    if kind == "Point":
        return float(coords[0]), float(coords[1])
    if kind in ("MultiPoint", "LineString"):
        xy = np.asarray(coords, dtype=np.float64)[:, :2]
        return float(xy[:, 0].mean()), float(xy[:, 1].mean())
    if kind == "MultiLineString":
        xy = np.concatenate([np.asarray(c, dtype=np.float64)[:, :2] for c in coords])
        return float(xy[:, 0].mean()), float(xy[:, 1].mean())
    polygons = [coords] if kind == "Polygon" else coords
    area = sx = sy = 0.0
    for rings in polygons:
        for i, ring in enumerate(rings):  # the first ring is the outer one, the others are holes
            a, cx, cy = _ring_area_centroid(ring)
            a = a if i == 0 else -a
            area, sx, sy = area + a, sx + a * cx, sy + a * cy
    if area <= 0:
        xy = np.concatenate([np.asarray(r[0], dtype=np.float64)[:, :2] for r in polygons])
        return float(xy[:, 0].mean()), float(xy[:, 1].mean())
    return sx / area, sy / area
