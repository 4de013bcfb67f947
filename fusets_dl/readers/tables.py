"""Point and field tables (long format: one row per point and acquisition) as fusion-ready datasets.

Layout: the points are laid on a **pseudo-grid** ``(y=1, x=n_points)`` so that
every stage of the chain (``align``, ``train``, ``predict_ndvi``,
``reconstruct``, ``phenology``, ``compare``) runs on them unchanged. ``x`` is
the point's position (0 .. n-1), ``y`` is 0; the coordinates ``point`` (the
id), ``lon`` and ``lat`` ride along ``x``. No CRS is written: the grid is not
a map. Points are ordered west to east (then south to north) when their
coordinates are known, so that the spatial blocks of the training split
(``TrainConfig.block_size``) are groups of ``block_size`` neighbouring
**whole points**: a held-out block holds out every date of its points.

Decoding goes through :func:`fusets_dl.open_s1` and :func:`fusets_dl.open_s2`,
so a table value is decoded exactly as the same band in a file would be
(openEO uint16 compressed dB, DN x 1e-4, harmonisation, nodata); the
column names are looked up in
:data:`~fusets_dl.readers.table_columns.TABLE_COLUMNS`. Cloud masking:
``SCL`` classes, Cloud Score+ (``cs_cdf >= cloud_score_threshold``), a GEE
``mask`` flag (1 = clear), a ``CLM`` flag (cloudy above 0), and the other
cloud bands the raster readers know (``QA60``, ``MSK_CLDPRB``,
``probability``, ``CLP``, ... decoded as :func:`fusets_dl.open_s2` decodes
them; left out beside ``SCL``, as for rasters), all that are present must
say clear; a row without a score is cloudy, and a fractional flag or class
(a polygon mean) is cloudy, warned. Cloud
Score+ does not flag snow: with green and SWIR-1 columns a row whose NDSI
(green - swir1) / (green + swir1) reaches ``SNOW_NDSI`` and whose green
reflectance reaches ``SNOW_GREEN`` is not clear either (SCL's class 11, which
the raster path leaves out).
Point identity: an ``id`` column of image ids (GEE ``getRegion``) is
refused, and so is one kept id whose rows lie more than 100 m apart (two
tables' ids that both start at 1; metres also for lon/lat, at the id's
latitude); fewer than half of the points with both
S1 and S2 rows is warned.
WorldCereal/openEO composites carry no cloud column: their cloud-masked
values are nodata (65535), so every valid value is clear.
The services' zonal statistics (openEO ``aggregate_spatial`` JSON and
netCDF vector cubes, Sentinel Hub Statistical API responses) are turned
into this long layout first (:mod:`.vector_tables`) and decoded as any
table; geometries (WKT, WKB, GeoJSON) give the point's lon/lat, polygons
their centroid. ``columns``, ``bands`` and ``date_format`` take one value
for both tables or ``{"s1": ..., "s2": ...}``.
"""

from __future__ import annotations

import ast
import gzip
import json
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from .._logging import logger
from .._warn import warn_user
from ..errors import ConfigError, DuplicateTimeError, SourceError, TableError
from .cloud_bands import CLOUD_BAND_ROLES, clear_from_cloud_band
from .conventions import BANDS, canonical_band_name
from .encoding import DEFAULT_CLEAR_CLASSES
from .optical import open_s2
from .radar import open_s1
from .table_columns import FLOAT_NODATA, TABLE_COLUMNS, resolve_columns
from .vector_tables import VECTOR_SUFFIXES, geometry_lonlat, is_vector_source, vector_table
from .wide import is_wide, melt_wide

__all__ = ["open_points", "read_table"]

#: ``open_s1``'s backscatter units, as ``open_points(s1_units=...)`` passes them on.
S1Units = Literal["auto", "dB", "linear", "compressed", "amplitude"]

_S1_ROLES = ("vv", "vh")
#: Keys of the per-table form of ``columns``, ``bands`` and ``date_format``.
_TABLE_KEYS = ("s1", "s2")
_S2_ROLES = ("red", "nir")
_CLOUD_ROLES = ("cloud_score", "clear_flag", "cloud_flag", "scl")
_SNOW_ROLES = ("green", "swir1")
#: Snow: NDSI at least this (the MODIS/Landsat snow test, Hall et al. 1995; Sen2Cor's class 11 uses a similar one)...
SNOW_NDSI = 0.4
#: ... and green reflectance at least this (water, also of high NDSI, is dark in green: 0.02-0.08).
SNOW_GREEN = 0.1
_COORD_ROLES = ("lon", "lat", "geojson", "wkb")
_SCENE_TIME = re.compile(r"(\d{8}T\d{6})")
_HAS_SCENE_TIME = re.compile(r"\d{8}T\d{6}")
_UINT16_NODATA = 65535
#: Median spacing of the distinct dates (days) above which a table is taken for coarse composites.
MAX_REVISIT_DAYS = 16
_WKT_POINT = re.compile(r"^\s*POINT\s*Z?M?\s*\(\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)", re.IGNORECASE)
#: A date at local midnight with a UTC offset: ``2022-01-08T00:00:00+01:00`` (the date is the label, not the instant).
_MIDNIGHT_OFFSET = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]00:00(?::00(?:\.0*)?)?\s*([+-]\d{2}:?\d{2})$")
#: Numeric dates that are not ISO: ``08/01/2022``, ``8.1.2022``, ``01-08-2022`` (day or month first), time of day allowed.
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})([./-])(\d{1,2})[./-]\d{4}(?:[ T].*)?$")
#: A number written with a decimal comma (European spreadsheets).
_DECIMAL_COMMA = re.compile(r"^\s*-?\d+,\d+\s*$")
#: Whole-number times by magnitude: YYYYMMDD below 1e8, seconds since 1970 below 1e11, milliseconds below 1e14.
_EPOCH_UNITS = ((1e7, 1e8, "YYYYMMDD"), (1e8, 1e11, "s"), (1e11, 1e14, "ms"))
#: Rows of one id further apart than this (metres; lon/lat converted at the id's latitude) are two places, not one point.
MAX_POINT_SPREAD_M = 100.0
#: Metres per degree of latitude (and of longitude at the equator) on the mean Earth sphere (R = 6 371 008.8 m).
METRES_PER_DEGREE = 6_371_008.8 * np.pi / 180
#: Below this share of the points with both S1 and S2 rows, the ids of the two tables are taken not to match.
MIN_PAIRED_POINTS = 0.5
#: Reflectance in percent: a median of red and NIR at least 1.5 (not 0-1 reflectance) with the 99th percentile at most this.
PERCENT_MAX = 150.0
#: The cloud columns' names the tables' own roles read (other cloud bands go through the raster readers' decoding).
_TABLE_CLOUD_NAMES = frozenset(n.lower() for r in _CLOUD_ROLES for n in TABLE_COLUMNS[r].names)


def read_table(source: Any, *, bands: Sequence[str] | None = None) -> pd.DataFrame:
    """Read a long-format table: CSV, Parquet/GeoParquet (needs ``pyarrow``), a DataFrame, openEO/Sentinel Hub outputs, or a list of them.

    Parameters
    ----------
    source : path, pandas.DataFrame, xarray.Dataset, dict or sequence of them
        ``.csv`` (also ``.csv.gz``), ``.tsv``, ``.parquet``/``.geoparquet``/``.pq``; a
        list is concatenated (for example one file per region and year). A
        CSV whose header has more ``;`` than ``,`` is read with ``;`` (and
        decimal commas when its numbers have them, as European spreadsheets
        write them), logged. The zonal statistics of the services, as
        files (``.json``, ``.nc``) or in memory: openEO ``aggregate_spatial``
        JSON (a parsed ``dict``), openEO vector cubes (netCDF, or the
        ``xarray.Dataset``), Sentinel Hub Statistical API responses (a
        ``dict``, or a list of them, one per geometry) are turned into the
        same long layout (:mod:`.vector_tables`).
    bands : sequence of str, optional
        Band names, in order, for the services' outputs that carry none
        (openEO JSON, ``band_0`` ..., Sentinel Hub outputs of several bands
        ``B0``, ``B1``, ...); they rename the source's own labels otherwise.
        Not used for CSV and Parquet tables.

    Returns
    -------
    pandas.DataFrame
        The rows of every table.

    Raises
    ------
    SourceError
        A missing file, or one of another format.
    TableError
        A service output without band labels and without ``bands=``, or of
        an unknown structure.
    ImportError
        Parquet without ``pyarrow`` (``pip install 'fusets-dl[tables]'``).
    """
    if isinstance(source, pd.DataFrame):
        return source
    if is_vector_source(source):
        return vector_table(source, bands)
    if isinstance(source, (list, tuple)):
        if not source:
            raise SourceError("read_table: expected at least one table, found an empty list")
        return pd.concat([read_table(s, bands=bands) for s in source], ignore_index=True)
    if not isinstance(source, (str, Path)) and not hasattr(source, "__fspath__"):
        raise SourceError(f"read_table: expected a CSV or Parquet path, a DataFrame, an openEO or Sentinel Hub output or a list "
                          f"of them, found {type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise SourceError(f"read_table: expected a CSV or Parquet file, found no file at {path}")
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".tsv", ".tsv.gz")):
        return pd.read_csv(path, **_csv_dialect(path))
    if name.endswith((".parquet", ".geoparquet", ".pq")):
        try:
            import pyarrow  # noqa: F401
        except ImportError as err:
            raise ImportError(f"read_table({path.name}): Parquet needs pyarrow; pip install 'fusets-dl[tables]'") from err
        return pd.read_parquet(path)
    raise SourceError(f"read_table: expected a .csv, .csv.gz, .tsv, .parquet or .geoparquet file, or openEO/Sentinel Hub "
                      f"zonal statistics ({', '.join(VECTOR_SUFFIXES)}), found {path.name}")


def _csv_dialect(path: Path) -> dict[str, str]:
    """``sep`` and ``decimal`` of a CSV from its header and first lines: ``;`` and ``\\t`` when they outnumber ``,``."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace") as f:
        head = f.readline()
        body = [f.readline() for _ in range(50)]
    seps = {sep: head.count(sep) for sep in (",", ";", "\t")}
    sep = max(seps, key=lambda k: (seps[k], k == ","))
    if sep == ",":
        return {}
    fields = [v.strip().strip('"') for line in body for v in line.rstrip("\r\n").split(sep)]
    decimal = "," if any(_DECIMAL_COMMA.match(v) for v in fields) else "."
    logger.info("read_table(%s): columns separated by %r, decimal %r (from the header and first lines)", path.name, sep, decimal)
    return {"sep": sep, "decimal": decimal}


def open_points(
    s1: Any,
    s2: Any = None,
    *,
    columns: Mapping[str, Any] | None = None,
    cloud_score_threshold: float = 0.6,
    clear_classes: Iterable[int] = DEFAULT_CLEAR_CLASSES,
    harmonize: Literal["auto", "all"] | bool = "auto",
    points: Sequence[Any] | None = None,
    wide_freq: Literal["month", "dekad"] | None = None,
    s1_units: S1Units = "auto",
    bands: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    date_format: str | Mapping[str, str] | None = None,
) -> tuple[xr.Dataset, xr.Dataset]:
    """Open S1 and S2 point tables as the readers' S1 and S2 datasets on a shared point pseudo-grid.

    Parameters
    ----------
    s1 : path, DataFrame, xarray.Dataset, dict or list of them
        Table(s) with an id, a date and VV/VH columns (see
        :data:`~fusets_dl.readers.table_columns.TABLE_COLUMNS`); or the
        zonal statistics of openEO (``aggregate_spatial`` JSON, netCDF
        vector cubes) or Sentinel Hub (Statistical API responses), as
        :func:`read_table` reads them.
    s2 : path, DataFrame, xarray.Dataset, dict or list of them, optional
        Table(s) with an id, a date, red and NIR and any cloud columns.
        Default: the ``s1`` table holds both (WorldCereal extractions).
    columns : mapping, optional
        Role -> column name for columns under other names
        (``{"vv": "VV_gamma0"}``), for both tables; or one mapping per
        table, ``{"s1": {"id": "PLOTID"}, "s2": {"id": "feature_index"}}``
        (with one table, the two are merged).
    cloud_score_threshold : float
        Cloud Score+ value (``cs_cdf``) from which an observation is clear.
    clear_classes : iterable of int
        SCL classes counted as clear, when the table has SCL.
    harmonize : "auto", "all", True or False
        As for :func:`fusets_dl.open_s2`.
    points : sequence, optional
        The point ids to keep, in this order along ``x``. Default: every id of
        either table, west to east (by id without coordinates).
    wide_freq : {"month", "dekad"}, optional
        A wide table (WorldCereal extractions: one column per band and time
        step, ``OPTICAL-B04-ts0-10m``, with ``start_date``) is melted to one
        row per point and composite (:mod:`.wide`), each dated by the start
        of its composite window; this is the composite period. Default: read
        from ``start_date`` and ``end_date``.
    s1_units : {"auto", "dB", "linear", "compressed", "amplitude"}
        Encoding of the S1 backscatter, as ``units`` of
        :func:`fusets_dl.open_s1` (``"amplitude"``: the square root of
        linear power). Default: recognised from the values.
    bands : sequence of str or mapping, optional
        Band names, in order, of service outputs that carry none (openEO
        JSON, ``band_0`` ..., Sentinel Hub outputs of several bands), as
        :func:`read_table` takes them: one list for both tables, or
        ``{"s1": ["VV", "VH"], "s2": ["B04", "B08", "SCL"]}``.
    date_format : str or mapping, optional
        strftime format of text dates that are not ISO 8601
        (``"%d/%m/%Y"``, ``"%d.%m.%Y"``, ``"%b %d, %Y"``), for both tables
        or ``{"s1": ..., "s2": ...}``; datetime and whole-number time
        columns are read as without it. Default: ISO 8601.

    Returns
    -------
    (xarray.Dataset, xarray.Dataset)
        The outputs of :func:`fusets_dl.open_s1` (``VV``, ``VH`` dB, ``orbit``
        when the table has it) and :func:`fusets_dl.open_s2` (``NDVI``,
        ``clear``) on ``(time, y=1, x=n_points)``, with ``point``, ``lon``,
        ``lat`` along ``x`` and ``attrs["point_table"]`` (JSON: rows, points,
        dates, valid and clear rows), ready for :func:`fusets_dl.align`.

    Raises
    ------
    TableError
        Missing or ambiguous columns (found vs expected), unparseable dates,
        ``points`` that neither table holds, a wide table whose composite
        period cannot be read, an ``id`` column of image ids (GEE
        ``getRegion``), one kept id (of ``points``) at places more than 100 m
        apart, reflectance in percent, a value column that is not numeric.
    DuplicateTimeError
        Two rows for one point and time (ascending and descending passes of
        one date without a time of day: named by the orbit column).

    Warns
    -----
    UserWarning
        Fewer than half of the points with both S1 and S2 rows (ids that
        do not match between the tables); fractional cloud flags; the
        readers' warnings (``open_s1``'s with ``s1_units=`` for ``units=``).
    """
    if s1 is None:
        raise TableError("open_points: expected an S1 table (or one table with S1 and S2 columns) as the first argument, found None; "
                         "the models fuse S1 with S2, an S2-only table cannot be fused")
    same = s2 is None
    m1, m2 = (_per_table(columns, k, "columns", "role -> column mapping") for k in ("s1", "s2"))
    b1, b2 = (_per_table(bands, k, "bands", "list of band names") for k in ("s1", "s2"))
    f1, f2 = (_per_table(date_format, k, "date_format", "format") for k in ("s1", "s2"))
    if same and (m1 is not m2 or b1 is not b2):  # one table: both tables' settings
        m1 = m2 = {**(m1 or {}), **(m2 or {})} or None
        b1 = b2 = b1 if b1 is not None else b2
    t1 = _long(read_table(s1, bands=b1), m1, "open_points(S1 and S2)" if same else "open_points(S1)", wide_freq)
    t2 = t1 if same else _long(read_table(s2, bands=b2), m2, "open_points(S2)", wide_freq)
    try:
        c1 = _resolve(t1, _S1_ROLES, ("scene", "time_start", "orbit", *_COORD_ROLES), m1, "open_points(S1)")
        c2 = _resolve(t2, _S2_ROLES, ("scene", "time_start", *_CLOUD_ROLES, *_SNOW_ROLES, *_COORD_ROLES), m2, "open_points(S2)")
    except TableError as exc:
        wide = list(dict.fromkeys(c for t in (t1, t2) for c in t.columns if is_wide(pd.Index([c]))))
        if wide:  # a wide table read as a long one because it also has a date-named column
            raise TableError(f"{exc}. The table is also wide ({len(wide)} band columns such as {wide[:2]}) and was read as a long "
                             "one because it has a date column: drop that column to melt it (one row per point and composite)") from exc
        raise
    for name, table, cols in (("S1", t1, c1), ("S2", t2, c2)):
        if same and name == "S2":
            continue
        ignored = [c for c in table.columns if c not in cols.values()]
        logger.info("open_points(%s): columns used %s; ignored %d others %s", name, cols, len(ignored), ignored[:12])
    for name, table, cols, mapping in (("S1", t1, c1, m1), ("S2", t2, c2, m2)):
        if not (mapping and "id" in mapping):
            _refuse_image_ids(table, cols, f"open_points({name})")
    t1 = _with_date_format(t1, c1, f1 if f1 is not None else f2 if same else None, "open_points(S1 and S2)" if same else "open_points(S1)")
    t2 = t1 if same else _with_date_format(t2, c2, f2, "open_points(S2)")
    if same:
        t1 = t2 = t1[t1[c1["vv"]].notna() | t1[c2["red"]].notna()]
    layout = _point_layout([(t1, c1), (t2, c2)], points)
    if not same:
        _warn_unpaired_ids(t1, c1, t2, c2, layout)
    ds1 = _s1_dataset(t1, c1, layout, s1_units)
    ds2 = _s2_dataset(t2, c2, layout, cloud_score_threshold, clear_classes, harmonize)
    coarse = [(name, *got) for name, ds in (("S1", ds1), ("S2", ds2)) if (got := _coarse_step(ds)) is not None]
    if same and len(coarse) == 2:  # one table: one warning for its dates, not one per sensor
        _warn_coarse_dates(max(c[1] for c in coarse), max(c[2] for c in coarse), "open_points(S1 and S2)")
    else:
        for name, step, n in coarse:
            _warn_coarse_dates(step, n, f"open_points({name})")
    return ds1, ds2


def _per_table(value: Any, key: str, name: str, kind: str) -> Any:
    """The setting of one table (``key`` "s1" or "s2"): ``value[key]`` when ``value`` is keyed by table, else ``value``."""
    if not isinstance(value, Mapping) or not set(value) & set(_TABLE_KEYS):
        return value
    extra = sorted(set(value) - set(_TABLE_KEYS))
    if extra:
        raise ConfigError(f"open_points: {name}=: expected one {kind} for both tables, or one per table as "
                          f"{{'s1': ..., 's2': ...}}, found keys {sorted(value)} mixing the two ({extra})")
    return value.get(key)


def _with_date_format(table: pd.DataFrame, cols: dict[str, str], fmt: str | None, what: str) -> pd.DataFrame:
    """The time column of text parsed with ``date_format`` (strftime); other columns and ``fmt=None`` as they are."""
    name = cols["time"]
    if fmt is None or name == cols.get("scene") or not (table[name].dtype == object or pd.api.types.is_string_dtype(table[name])):
        return table
    text = table[name].where(table[name].isna(), table[name].astype(str))
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    bad = text.notna() & parsed.isna()
    if bad.any():
        raise TableError(f"{what}: column {name!r}: expected dates written as date_format={fmt!r}, found {int(bad.sum())} of "
                         f"{int(text.notna().sum())} values that are not, such as {text[bad].iloc[0]!r}")
    logger.info("%s: column %r read with date_format=%r (first %s)", what, name, fmt, parsed.dropna().iloc[0] if parsed.notna().any() else None)
    return table.assign(**{name: parsed})


def _resolve(
    table: pd.DataFrame, required: tuple[str, ...], optional: tuple[str, ...], columns: Mapping[str, str] | None, what: str
) -> dict[str, str]:
    """The columns of ``id``, ``time`` and ``required``; without a date column, ``system:time_start`` or ``system:index`` is the time."""
    if not (columns and "time" in columns):
        own = resolve_columns(table.columns, (), ("time", "time_start", "scene"), columns, what)
        if "time" not in own and ("time_start" in own or "scene" in own):
            src = own.get("time_start", own.get("scene"))
            logger.info("%s: no date column; the time is read from %r (%s)", what, src,
                        "ms since 1970" if "time_start" in own else "the scene id's YYYYMMDDTHHMMSS")
            columns = {**(columns or {}), "time": src}
    return resolve_columns(table.columns, ("id", "time", *required), optional, columns, what)


def _refuse_image_ids(table: pd.DataFrame, cols: dict[str, str], what: str) -> None:
    """Refuse an id column of image ids (scene or product ids with their acquisition time), as GEE's getRegion writes."""
    ids = table[cols["id"]].dropna().astype(str)
    if ids.empty or not bool(ids.str.contains(_HAS_SCENE_TIME).all()):
        return
    raise TableError(
        f"{what}: column {cols['id']!r}: expected point ids, found image ids ({ids.nunique()} distinct, one per acquisition, "
        f"such as {ids.iloc[0]!r}), as ee.ImageCollection.getRegion writes them: every acquisition would be a point of its "
        "own, and S1 and S2 would never share one. Give the points their own id column (sample with sampleRegions or "
        "reduceRegions keeping the features' id, or call getRegion once per point and add its id) and pass "
        "columns={'id': '<that column>'}; when S1 and S2 rows carry the same coordinates, an id made of them also works: "
        "t['point'] = t['longitude'].round(5).astype(str) + '_' + t['latitude'].round(5).astype(str)"
    )


def _warn_unpaired_ids(t1: pd.DataFrame, c1: dict[str, str], t2: pd.DataFrame, c2: dict[str, str], layout: pd.DataFrame) -> None:
    """Warn when fewer than :data:`MIN_PAIRED_POINTS` of the points have both S1 and S2 rows (ids that do not match)."""
    keep = set(layout["point"])
    p1 = set(_point_ids(t1[c1["id"]]).dropna()) & keep
    p2 = set(_point_ids(t2[c2["id"]]).dropna()) & keep
    both, n = p1 & p2, len(p1 | p2)
    if not n or len(both) >= MIN_PAIRED_POINTS * n:
        return
    strip = {v.lstrip("0") or "0" for v in p1} & {v.lstrip("0") or "0" for v in p2}
    hint = ""
    if len(strip) > len(both):
        hint = (" The ids differ in leading zeros ('001' in one table, '1' in the other: a CSV reads '001' as the number 1): "
                "read them as text in both (pd.read_csv(path, dtype={'<id column>': str})).")
    warn_user(f"open_points: {len(both)} of {n} points have both S1 and S2 rows (expected most: the models pair S1 with S2 "
              f"at each point); S1 only: {_some(p1 - p2)}, S2 only: {_some(p2 - p1)}.{hint} "
              f"Check that the id columns ({c1['id']!r}, {c2['id']!r}) name the same points in both tables")


def _some(ids: set[str]) -> str:
    """``"3 such as ['a', 'b', 'c']"`` (at most 4 named), or ``"none"``."""
    return f"{len(ids)} such as {sorted(ids)[:4]}" if ids else "none"


def _long(table: pd.DataFrame, columns: Mapping[str, str] | None, what: str, freq: Literal["month", "dekad"] | None) -> pd.DataFrame:
    """The table in long form: a wide one (WorldCereal ``OPTICAL-B04-ts0-10m`` without a date column) melted (:mod:`.wide`)."""
    if not is_wide(table.columns) or resolve_columns(table.columns, (), ("time",), columns, what):
        return table
    long = melt_wide(table, what=what, freq=freq, columns=columns)
    logger.info("%s: a wide table of %d rows melted to %d rows, one per point and composite", what, len(table), len(long))
    return long


def _coarse_step(ds: xr.Dataset) -> tuple[float, int] | None:
    """The median days between the dates of ``ds`` and their count, when further apart than the models' revisit (monthly composites)."""
    days = pd.DatetimeIndex(ds["time"].values).normalize().unique()
    if days.size < 2:
        return None
    step = float(np.median(np.diff((days - days[0]) / pd.Timedelta(days=1))))  # any time unit (asi8 counts in the index's own)
    return (step, int(days.size)) if step > MAX_REVISIT_DAYS else None


def _warn_coarse_dates(step: float, n: int, what: str) -> None:
    """The warning for dates ``step`` days apart (median over ``n`` dates)."""
    warn_user(
        f"{what}: the dates are {step:.0f} days apart (median over {n} dates: monthly or coarser composites); "
        f"the models expect 6-12-day revisits (S1 every 6-12 days, S2 every 5 days or ten-day composites): "
        "gap filling, training and phenology dates from such a series are coarse, and a model trained on 6-12-day series does not apply to it"
    )


def _times(table: pd.DataFrame, cols: dict[str, str], what: str) -> pd.DatetimeIndex:
    """Time of each row: the date column, refined by a GEE scene id or ``system:time_start`` on the same day."""
    col = table[cols["time"]]
    if cols["time"] == cols.get("scene") and cols["time"] != cols.get("time_start"):
        date = _scene_times(col)
        if date.isna().all():
            raise TableError(f"{what}: expected scene ids with a YYYYMMDDTHHMMSS time in column {cols['time']!r} (the time, as "
                             f"there is no date column), found {col.head(3).tolist()}")
    elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        date = _number_times(col, cols["time"], what)
    else:
        date = _date_labels(col, cols["time"], what)
    exact = None
    if "time_start" in cols:
        exact = pd.to_datetime(table[cols["time_start"]].astype("float64"), unit="ms")
    elif "scene" in cols:
        exact = _scene_times(table[cols["scene"]])
    if exact is not None:
        same_day = exact.notna() & (exact.dt.normalize() == date.dt.normalize())
        if not same_day.all():
            bad = int((~same_day).sum())
            logger.warning("%s: %d rows whose acquisition time is missing or on another day than %r keep the date", what, bad, cols["time"])
        date = date.where(~same_day, exact)
    return pd.DatetimeIndex(date.to_numpy("datetime64[ns]"))


def _scene_times(col: pd.Series) -> pd.Series:
    """The acquisition time in GEE scene ids and S1 product ids (their first ``YYYYMMDDTHHMMSS``); NaT without one."""
    stamp = col.astype(str).str.extract(_SCENE_TIME, expand=False)
    return pd.to_datetime(stamp, format="%Y%m%dT%H%M%S", errors="coerce")


def _number_times(col: pd.Series, name: str, what: str) -> pd.Series:
    """Whole-number times by magnitude (:data:`_EPOCH_UNITS`): ``YYYYMMDD``, seconds or milliseconds since 1970."""
    v = col.astype("float64")
    finite = v[np.isfinite(v)]
    if finite.empty:
        return pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns]")
    lo, hi = float(finite.min()), float(finite.max())
    unit = next((u for a, b, u in _EPOCH_UNITS if a <= lo and hi < b), None)
    if unit is None or (unit == "YYYYMMDD" and not bool(np.all(finite == np.round(finite)))):
        raise TableError(f"{what}: column {name!r}: expected times as dates (ISO 8601) or whole numbers of one kind: YYYYMMDD "
                         "(8 digits), seconds since 1970 (1e8 to 1e11) or milliseconds since 1970 (1e11 to 1e14, GEE's time "
                         f"and system:time_start); found numbers from {lo:g} to {hi:g}. Convert the column to dates first "
                         "(an Excel day number d: pd.Timestamp('1899-12-30') + pd.to_timedelta(d, unit='D'))")
    logger.info("%s: column %r holds numbers from %.0f to %.0f: read as %s", what, name, lo, hi,
                "YYYYMMDD dates" if unit == "YYYYMMDD" else f"{'seconds' if unit == 's' else 'milliseconds'} since 1970 (UTC)")
    if unit == "YYYYMMDD":
        text = v.where(np.isfinite(v)).astype("Int64").astype(str)
        return pd.to_datetime(text, format="%Y%m%d", errors="coerce")
    whole = bool(np.all(finite == np.round(finite)))
    return pd.to_datetime(v.astype("Int64") if whole else v, unit=unit)


def _date_labels(col: pd.Series, name: str, what: str) -> pd.Series:
    """Dates (naive UTC) of a text or datetime column; local-midnight dates with an offset keep their calendar date."""
    if isinstance(col.dtype, pd.DatetimeTZDtype):
        local = col.dt.tz_localize(None)
        offset = col.dt.tz_localize(None) - col.dt.tz_convert("UTC").dt.tz_localize(None)
        if local.dropna().size and bool((local.dropna() == local.dropna().dt.normalize()).all()) and bool((offset.dropna() != pd.Timedelta(0)).any()):
            logger.info("%s: column %r holds local midnights (%s): read as their calendar dates, not converted to UTC "
                        "(the previous day's evening east of Greenwich)", what, name, col.dt.tz)
            return local
        return col.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_datetime64_any_dtype(col):
        return col
    text = col.where(col.isna(), col.astype(str))
    parts = text.dropna().str.extract(_MIDNIGHT_OFFSET)
    if len(parts) and parts[0].notna().all() and bool((~parts[1].str.fullmatch(r"[+-]00:?00")).any()):
        logger.info("%s: column %r holds dates at local midnight with a UTC offset (such as %r): read as their calendar dates, "
                    "the offset dropped (in UTC they would be the previous day)", what, name, text.dropna().iloc[0])
        return pd.to_datetime(text.str.slice(0, 10), format="%Y-%m-%d")
    try:
        return pd.to_datetime(col, utc=True, format="ISO8601").dt.tz_localize(None)
    except (ValueError, TypeError) as err:
        sample = col.head(3).tolist()
        raise TableError(f"{what}: expected dates in column {name!r} (ISO 8601 such as 2022-01-08, datetime64, or whole numbers: "
                         f"YYYYMMDD, seconds or milliseconds since 1970), found {sample}.{_date_hint(text)} Other forms: pass "
                         "open_points(..., date_format=...) (a strftime format such as '%d/%m/%Y', '%d.%m.%Y' or '%b %d, %Y'; "
                         "{'s1': ..., 's2': ...} per table), or give the column as datetime64") from err


def _date_hint(text: pd.Series) -> str:
    """Which of day/month/year or month/day/year numeric dates look like, as a ``date_format=`` to pass ("" otherwise)."""
    parts = text.dropna().str.extract(_NUMERIC_DATE)
    if parts.empty or parts[0].isna().any():
        return ""
    first, second, sep = parts[0].astype(int), parts[2].astype(int), parts[1].iloc[0]
    day_first, month_first = f"%d{sep}%m{sep}%Y", f"%m{sep}%d{sep}%Y"
    if (first > 12).any() and not (second > 12).any():
        return f" They are day{sep}month{sep}year (a first number above 12): pass date_format={day_first!r}."
    if (second > 12).any() and not (first > 12).any():
        return f" They are month{sep}day{sep}year (a second number above 12): pass date_format={month_first!r}."
    return f" They are day{sep}month{sep}year or month{sep}day{sep}year: pass date_format={day_first!r} or {month_first!r}."


def _point_ids(col: pd.Series) -> pd.Series:
    """The point ids as strings (whole-number floats as integers: ``101.0`` is ``"101"``); missing ids stay NaN."""
    if pd.api.types.is_float_dtype(col):
        finite = col[np.isfinite(col)]
        if bool(np.all(finite == np.round(finite))):
            return col.map(lambda v: str(int(v)) if np.isfinite(v) else np.nan)
    return col.map(lambda v: np.nan if pd.isna(v) else str(v))


def _coords_of(table: pd.DataFrame, cols: dict[str, str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Longitude and latitude of each row, from lon/lat, a GeoJSON ``.geo`` or WKB/WKT geometries; None when absent.

    Polygons (field tables: openEO's GeoParquet, GEE ``reduceRegions`` of
    fields) give their area-weighted centroid, logged.
    """
    if "lon" in cols and "lat" in cols:
        return table[cols["lon"]].to_numpy(np.float64), table[cols["lat"]].to_numpy(np.float64)
    role = "geojson" if "geojson" in cols else "wkb" if "wkb" in cols else None
    if role is None:
        return None
    col = table[cols[role]]
    try:
        parsed = {g: _geometry_point(g) for g in pd.unique(col.dropna())}
        points = [parsed[g] if g in parsed else (np.nan, np.nan, "") for g in col]
    except TypeError:  # unhashable values (GeoJSON dicts)
        points = [_geometry_point(g) if g is not None else (np.nan, np.nan, "") for g in col]
        parsed = dict(enumerate(points))
    xy = np.array([p[:2] for p in points], dtype=np.float64).reshape(-1, 2)
    kinds = sorted({p[2] for p in parsed.values()} - {"", "Point"})
    if kinds:
        logger.info("open_points: column %r holds %s geometries: each point's lon/lat is their centroid", cols[role], kinds)
    filled = col.notna().to_numpy()
    if filled.any() and not np.isfinite(xy[filled]).all():
        bad = col[filled & ~np.isfinite(xy).all(axis=1)].iloc[0]
        warn_user(f"open_points: column {cols[role]!r}: expected geometries (WKB, hex WKB, WKT or GeoJSON points or polygons), "
                  f"found {int((filled & ~np.isfinite(xy).all(axis=1)).sum())} rows of another kind such as {str(bad)[:60]!r}; "
                  "those points have no lon/lat and are not ordered west to east (give lon and lat columns)")
    return xy[:, 0], xy[:, 1]


def _geometry_point(geom: Any) -> tuple[float, float, str]:
    """(x, y, type) of a geometry: WKB bytes, hex WKB, the ``b'...'`` text of WKB written to CSV, WKT or GeoJSON; NaN otherwise.

    Points give their coordinates, polygons their centroid
    (:func:`~fusets_dl.readers.vector_tables.geometry_lonlat`).
    """
    if isinstance(geom, str):
        text = geom.strip()
        m = _WKT_POINT.match(text)
        if m:
            return float(m.group(1)), float(m.group(2)), "Point"
        if text[:2] in ("b'", 'b"'):
            try:
                geom = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return (np.nan, np.nan, "")
    return geometry_lonlat(geom)


def _point_layout(tables: list[tuple[pd.DataFrame, dict[str, str]]], points: Sequence[Any] | None) -> pd.DataFrame:
    """The points along ``x``: id, lon, lat, ordered west to east (or by id, or as given).

    The one-place check (:func:`_check_spread`) looks at the kept ids only:
    ``points=["B"]`` is not refused for another id's rows.
    """
    frames = []
    for table, cols in tables:
        xy = _coords_of(table, cols)
        f = pd.DataFrame({"point": _point_ids(table[cols["id"]]).to_numpy()})
        f["lon"], f["lat"] = xy if xy is not None else (np.nan, np.nan)
        frames.append(f)
    allp = pd.concat(frames, ignore_index=True).dropna(subset=["point"])
    if points is not None:
        want = [str(p) for p in points]
        ids = pd.unique(allp["point"])
        unknown = sorted(set(want) - set(ids))
        if unknown:
            raise TableError(f"open_points: points={unknown[:10]} not in the tables; found {len(ids)} ids such as {sorted(ids)[:5]}")
        allp = allp[allp["point"].isin(want)]
    _check_spread(allp)
    layout = allp.groupby("point", sort=True)[["lon", "lat"]].first().reset_index()
    if points is not None:
        return layout.set_index("point").loc[want].reset_index()
    if layout[["lon", "lat"]].notna().all().all():
        layout = layout.sort_values(["lon", "lat", "point"], kind="stable").reset_index(drop=True)
    return layout


def _spread_m(per: pd.DataFrame, projected: bool) -> pd.Series:
    """Diagonal of each id's bounding box in metres (NaN without coordinates): the distance of two places under one id.

    Projected coordinates are metres already; lon/lat are scaled by an
    equirectangular approximation at the id's mid latitude (one degree of
    latitude :data:`METRES_PER_DEGREE`, of longitude that times the cosine
    of the latitude), well within 1 % of the great-circle distance at 100 m.
    """
    lo, hi = per.xs("min", axis=1, level=1), per.xs("max", axis=1, level=1)
    dx, dy = hi["lon"] - lo["lon"], hi["lat"] - lo["lat"]
    if not projected:
        mid = np.radians((hi["lat"] + lo["lat"]) / 2)
        dx, dy = dx * METRES_PER_DEGREE * np.cos(mid), dy * METRES_PER_DEGREE
    return np.hypot(dx, dy)


def _check_spread(allp: pd.DataFrame) -> None:
    """Refuse ids whose rows lie more than :data:`MAX_POINT_SPREAD_M` (100 m) apart: two places under one id."""
    per = allp.groupby("point", sort=True)[["lon", "lat"]].agg(["min", "max"])
    if per.empty:
        return
    projected = bool(np.nanmax(np.abs(allp[["lon", "lat"]].to_numpy(np.float64)), initial=0.0) > 360)
    spread = _spread_m(per, projected)
    bad = spread[spread > MAX_POINT_SPREAD_M].sort_values(ascending=False)
    if not bad.empty:
        named = ", ".join(f"{p!r} ({v:.0f} m)" for p, v in bad.head(8).items())
        raise TableError(
            f"open_points: expected the rows of one id at one place (within {MAX_POINT_SPREAD_M:g} m), found {bad.size} of {spread.size} ids "
            f"whose coordinates spread further: {named}. Ids must be unique across the tables of one call: tables of two regions "
            "or years whose ids both start at 1 merge different places into one series. Make them unique per table "
            "(t['PLOTID'] = 'NB_' + t['PLOTID'].astype(str)) or open the tables separately")
    top = float(np.nanmax(spread.to_numpy(np.float64), initial=0.0))
    if top > MAX_POINT_SPREAD_M / 10:
        logger.warning("open_points: a point's coordinates vary by up to %.0f m between rows; the first is kept", top)


def _uint16_like(values: np.ndarray) -> bool:
    """Whether a column holds uint16 digital numbers under another dtype (a CSV gives int64; missing rows float64).

    Integers within 0..65535; floats whose finite values are whole numbers
    within 0..65535, at least one of them above 1 (so 0/1 flags and values
    already in reflectance or linear power are not taken for DNs).
    """
    if values.dtype.kind in "iu":
        return bool(values.size) and int(values.min()) >= 0 and int(values.max()) <= _UINT16_NODATA
    if values.dtype.kind != "f":
        return False
    v = values[np.isfinite(values)]
    return bool(v.size) and bool(np.all(v == np.round(v))) and v.min() >= 0 and v.max() <= _UINT16_NODATA and v.max() > 1


def _pivot(
    table: pd.DataFrame, cols: dict[str, str], layout: pd.DataFrame, names: dict[str, str], what: str, *, nodata_attr: bool = True
) -> tuple[xr.Dataset, pd.DataFrame]:
    """The table's value columns on ``(time, y=1, x=point)``; rows of other points are dropped.

    uint16 columns stay uint16 with 65535 where a row is missing (and a
    ``nodata`` attr when ``nodata_attr``; S1's compressed decoding knows
    65535 itself and needs the integers); other columns become float64 with
    NaN for missing rows and -9999.
    """
    times = _times(table, cols, what)
    ids = _point_ids(table[cols["id"]])
    code = pd.Index(layout["point"]).get_indexer(ids)
    lost = ids.isna().to_numpy() | np.asarray(times.isna())
    if lost.any():
        warn_user(f"{what}: {int(lost.sum())} of {len(table)} rows have no {cols['id']!r} or no {cols['time']!r} "
                  f"(expected both in every row); they are dropped")
    keep = (code >= 0) & ~lost
    times, code, rows = times[keep], code[keep], table[keep]
    if rows.empty:
        raise TableError(f"{what}: expected rows of the points {layout['point'].head(5).tolist()}..., found none")
    uniq, t_code = np.unique(times.to_numpy(), return_inverse=True)
    flat = t_code * len(layout) + code
    dup = pd.Index(flat).duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        _refuse_two_orbits(rows, cols, flat, layout["point"].iloc[code[i]], pd.Timestamp(times[i]), what)
        raise DuplicateTimeError(
            f"{what}: expected one row per point and time, found {int(dup.sum())} duplicated, "
            f"e.g. point {layout['point'].iloc[code[i]]!r} at {pd.Timestamp(times[i])}; drop or average them first"
        )
    shape = (uniq.size, 1, len(layout))
    data = {}
    for name, col in names.items():
        values = _numeric(rows[col], what)
        if values.dtype != np.uint16 and _uint16_like(values):
            logger.info("%s: column %r (%s, whole numbers in 0..65535) read as the uint16 digital numbers of openEO's "
                        "point tables (65535 = nodata), as a CSV or Parquet round trip stores them", what, col, values.dtype)
            values = np.where(np.isfinite(values.astype(np.float64)), values, _UINT16_NODATA).astype(np.uint16)
        if values.dtype == np.uint16:
            arr = np.full(shape, _UINT16_NODATA, np.uint16)
            attrs = {"nodata": _UINT16_NODATA} if nodata_attr else {}
        else:
            values = values.astype(np.float64)
            values = np.where(values == FLOAT_NODATA, np.nan, values)
            arr = np.full(shape, np.nan, np.float64)
            attrs = {}
        arr.reshape(uniq.size, -1)[t_code, code] = values
        data[name] = (("time", "y", "x"), arr, attrs)
    ds = xr.Dataset(data, coords=_grid_coords(uniq, layout))
    return ds, rows.assign(_t=t_code, _p=code)


def _refuse_two_orbits(rows: pd.DataFrame, cols: dict[str, str], flat: np.ndarray, point: str, time: pd.Timestamp, what: str) -> None:
    """Refuse duplicates that are two relative orbits on one date (no time of day tells them apart), naming the orbit column."""
    if "orbit" not in cols:
        return
    orbits = pd.DataFrame({"k": flat, "o": rows[cols["orbit"]].to_numpy()}).groupby("k")["o"].unique()
    two = orbits[orbits.map(len) > 1]
    if two.empty:
        return
    pair = sorted(int(o) if isinstance(o, float) and o.is_integer() else o for o in two.iloc[0].tolist())  # 175.0 as 175
    raise DuplicateTimeError(
        f"{what}: expected one row per point and time, found {two.size} point-dates with rows of two relative orbits "
        f"(column {cols['orbit']!r}: {pair}, e.g. point {point!r} on {time.date()}): the dates carry no time of day, so an "
        "ascending and a descending pass of one day fall on one time. Give the acquisition time (GEE's system:index scene ids "
        "or system:time_start, which open_points reads), or keep one orbit (t[t[" + repr(cols["orbit"]) + f"] == {pair[0]!r}]); "
        "averaging the two passes mixes two viewing geometries"
    )


def _numeric(col: pd.Series, what: str) -> np.ndarray:
    """A value column as numbers; text that is not (decimal commas, words) is a :class:`TableError` naming the column."""
    values = col.to_numpy()
    if values.dtype.kind not in "OUS":
        return values
    try:
        return values.astype(np.float64)
    except (ValueError, TypeError) as err:
        text = col.dropna().astype(str)
        bad = text[pd.to_numeric(text, errors="coerce").isna()]
        comma = bool(bad.str.match(_DECIMAL_COMMA).all()) and not bad.empty
        hint = (" (numbers with a decimal comma: read the CSV with pd.read_csv(path, sep=..., decimal=',') and pass the DataFrame)"
                if comma else "")
        raise TableError(f"{what}: column {col.name!r}: expected numbers, found {bad.size} values that are not, such as "
                         f"{bad.iloc[0] if not bad.empty else None!r}{hint}") from err


def _grid_coords(times: np.ndarray, layout: pd.DataFrame) -> dict[str, Any]:
    """The pseudo-grid: time, y=[0], x=0..n-1, and point/lon/lat along x."""
    n = len(layout)
    return {
        "time": times,
        "y": ("y", np.zeros(1)),
        "x": ("x", np.arange(n, dtype=np.float64)),
        "point": ("x", layout["point"].to_numpy(str)),
        "lon": ("x", layout["lon"].to_numpy(np.float64)),
        "lat": ("x", layout["lat"].to_numpy(np.float64)),
    }


def _finish(out: xr.Dataset, raw: xr.Dataset, funnel: dict[str, Any]) -> xr.Dataset:
    """Point coordinates back on the reader's output, and the table funnel in its attrs."""
    out = out.assign_coords(point=("x", raw["point"].values), lon=("x", raw["lon"].values), lat=("x", raw["lat"].values))
    out.attrs["point_table"] = json.dumps(funnel)
    out.attrs["layout"] = "points on a pseudo-grid: y=1, x=point (see coords point, lon, lat)"
    return out


def _s1_dataset(table: pd.DataFrame, cols: dict[str, str], layout: pd.DataFrame, units: S1Units = "auto") -> xr.Dataset:
    """Pivot the S1 columns under their own names and decode them with :func:`open_s1`."""
    what = "open_points(S1)"
    names = {_registered(cols["vv"], "VV"): cols["vv"], _registered(cols["vh"], "VH"): cols["vh"]}
    raw, rows = _pivot(table, cols, layout, names, what, nodata_attr=False)
    orbit = None
    if "orbit" in cols:
        per_time = rows.groupby("_t")[cols["orbit"]].agg(["nunique", "first"])
        if (per_time["nunique"] <= 1).all():
            orbit = per_time["first"].reindex(range(raw.sizes["time"])).to_numpy()
            if np.issubdtype(orbit.dtype, np.floating) and np.all(np.isfinite(orbit)) and np.all(orbit == np.round(orbit)):
                orbit = orbit.astype(np.int64)
        else:
            logger.warning("%s: some times hold several orbits in %r; no orbit coordinate", what, cols["orbit"])
    out = _open_s1_warned(raw, orbit, units)
    valid = np.isfinite(out["VV"].values) & np.isfinite(out["VH"].values)
    funnel = {"rows": len(rows), "points": int(np.unique(rows["_p"]).size), "times": int(raw.sizes["time"]),
              "valid_rows": int(valid.sum())}
    logger.info("%s: %s", what, funnel)
    return _finish(out, raw, funnel)


def _open_s1_warned(raw: xr.Dataset, orbit: Any, units: S1Units) -> xr.Dataset:
    """:func:`open_s1` on the pivoted table, its warnings shown as raised but naming ``s1_units=`` (open_points' option) for ``units=``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = open_s1(raw, orbit=orbit, units=units)
    for w in caught:
        text = re.sub(r"(?<![\w.])units=", "s1_units=", str(w.message))
        warnings.warn_explicit(text if text != str(w.message) else w.message, w.category, w.filename, w.lineno)
    return out


def _s2_dataset(
    table: pd.DataFrame, cols: dict[str, str], layout: pd.DataFrame, threshold: float, clear_classes: Iterable[int],
    harmonize: Literal["auto", "all"] | bool,
) -> xr.Dataset:
    """Pivot red, NIR and the cloud columns, build the cloud mask, decode with :func:`open_s2`."""
    what = "open_points(S2)"
    names = {cols["red"]: cols["red"], cols["nir"]: cols["nir"]}
    snow_test = all(r in cols for r in _SNOW_ROLES)
    for role in (*_CLOUD_ROLES, *(_SNOW_ROLES if snow_test else ())):
        if role in cols:
            names[f"_{role}"] = cols[role]
    bands = _raster_cloud_columns(table, cols, what)
    names.update({f"_band_{band}": col for col, band in bands.items()})
    raw, rows = _pivot(table, cols, layout, names, what)
    clear_classes = [int(c) for c in clear_classes]
    scale = _reflectance_scale(rows, cols, what)
    clm, rules = _cloud_mask(raw, cols, threshold, clear_classes, bands, what)
    snow = _snow(raw, 1.0 if scale == 1.0 else 1e-4) if snow_test and clm is not None else None  # no cloud column: open_s2 warns
    if snow is not None:
        clm = np.maximum(clm, snow.astype(np.float32))
    helpers = [v for v in raw.data_vars if str(v).startswith("_")]
    raw = _rename_optical(raw, cols).drop_vars(helpers)
    if clm is not None:
        raw["CLM"] = clm
    mask_text = ((" and ".join(rules) or "valid reflectance (nodata is the cloud mask)")
                 + (f" and not snow (NDSI >= {SNOW_NDSI:g}, green >= {SNOW_GREEN:g})" if snow_test else ""))
    named = f"the table's columns {mask_text}" if rules else f"the table: {mask_text}"
    out = open_s2(raw, clear_classes=clear_classes, harmonize=harmonize, reflectance_scale=scale)
    if clm is not None:  # the mask open_points built, named by the table's columns (open_s2 saw a CLM band the table lacks)
        out.attrs["clear_mask"] = named
    funnel = {"rows": len(rows), "points": int(np.unique(rows["_p"]).size), "times": int(raw.sizes["time"]),
              "valid_rows": int(np.isfinite(out["NDVI"].values).sum()), "clear_rows": int(out["clear"].values.sum()),
              "cloud_mask": mask_text}
    if snow is not None:
        funnel["snow_rows"] = int((snow & np.isfinite(out["NDVI"])).sum())
    logger.info("%s: %s", what, funnel)
    return _finish(out, raw, funnel)


def _reflectance_scale(rows: pd.DataFrame, cols: dict[str, str], what: str = "open_points(S2)") -> float | Literal["auto"]:
    """1.0 for float red/NIR whose median over the whole table is reflectance (< 1.5), else the readers' "auto".

    The whole table is in memory, so its median decides: a sample of a few
    values can hold snow or cloud above 1.5 and be taken for DN. Reflectance
    in percent (median at least 1.5, 99th percentile at most
    :data:`PERCENT_MAX`) is refused: read as DN, it is 100 times too dark,
    and the date rule's 1000 DN offset from 2022-01-25 leaves nothing.
    """
    values = np.column_stack([_numeric(rows[cols[r]], what).astype(np.float64) for r in ("red", "nir")])
    v = values[np.isfinite(values) & (values != FLOAT_NODATA) & (values != _UINT16_NODATA)]
    if not v.size:
        return "auto"
    median, p99 = float(np.median(v)), float(np.percentile(v, 99))
    if median >= 1.5 and p99 <= PERCENT_MAX:
        raise TableError(f"{what}: columns {cols['red']!r} and {cols['nir']!r}: expected reflectance (0-1) or digital numbers "
                         f"(reflectance x 10,000), found values of median {median:.3g} and 99th percentile {p99:.3g}: reflectance "
                         "in percent. Divide them by 100 (t[['red', 'nir']] / 100, leaving -9999 as it is) and pass the DataFrame")
    return 1.0 if rows[[cols["red"], cols["nir"]]].to_numpy().dtype.kind == "f" and median < 1.5 else "auto"


def _registered(column: str, band: str) -> str:
    """The column's own name when the band registry reads it as ``band`` (keeping its convention), else ``band``."""
    return column if canonical_band_name(column) == band else band


def _rename_optical(raw: xr.Dataset, cols: dict[str, str]) -> xr.Dataset:
    """GEE ``red``/``nir`` as ``B04``/``B08``; prefixed openEO names keep their convention (harmonised DN)."""
    ren = {}
    for role, band in (("red", "B04"), ("nir", "B08")):
        if not cols[role].upper().startswith(("S2-", "S2_")):
            ren[cols[role]] = band
    return raw.rename({k: v for k, v in ren.items() if k != v})


def _raster_cloud_columns(table: pd.DataFrame, cols: dict[str, str], what: str) -> dict[str, str]:
    """Column -> canonical band of the cloud bands the raster readers know (QA60, MSK_CLDPRB, ...) beyond the tables' own.

    Left out beside ``SCL``, as in the raster path (SCL decides there), and
    when not numeric.
    """
    known = {b for role in CLOUD_BAND_ROLES for b in BANDS if BANDS[b].role == role}
    out: dict[str, str] = {}
    for col in table.columns:
        if not isinstance(col, str) or col.lower() in _TABLE_CLOUD_NAMES or col in cols.values():
            continue
        band = canonical_band_name(col)
        if band in known and pd.api.types.is_numeric_dtype(table[col]) and not pd.api.types.is_bool_dtype(table[col]):
            out[col] = band
    if out and "scl" in cols:
        logger.info("%s: cloud columns %s left out: the scene classification %r decides, as for rasters", what, list(out), cols["scl"])
        return {}
    return out


def _fractional(v: xr.DataArray, column: str, what: str) -> xr.DataArray:
    """Where a 0/1 flag or a class holds a fraction (a polygon or period mean), warned with their count; those rows are cloudy."""
    frac = v.notnull() & (v != np.floor(v))
    n = int(frac.sum())
    if n:
        example = float(v.values[np.asarray(frac.values)][0])
        warn_user(f"{what}: column {column!r} holds fractional values on {n} of {int(v.notnull().sum())} rows (e.g. {example:g}): "
                  "a 0/1 flag or a class band averaged over a polygon or a period (a polygon mean of Sentinel Hub's CLM, an "
                  "openEO aggregate_spatial mean). A class or flag must not be averaged; these rows are counted cloudy (any "
                  "cloud fraction), as the raster readers count fractional SCL. Aggregate the flag with max (or the class with "
                  "its mode), or mask the clouds before aggregating, to keep the partly clear rows")
    return frac


def _cloud_mask(
    raw: xr.Dataset, cols: dict[str, str], threshold: float, clear_classes: list[int], bands: Mapping[str, str], what: str
) -> tuple[xr.DataArray | None, list[str]]:
    """``CLM`` (1 = cloud) from every cloud column present (all must say clear), and the rules in words; None without any.

    The tables' own columns: Cloud Score+ (``>= threshold``; missing is
    cloudy), ``mask`` (clear when 1), ``CLM`` (cloudy when above 0,
    missing is clear, as the raster readers read it), ``SCL`` (the clear
    classes; nodata is cloudy); fractions of the flags and SCL are cloudy,
    warned. Other cloud bands (``bands``) are decoded by
    :func:`~fusets_dl.readers.cloud_bands.clear_from_cloud_band`, as in a file.
    """
    cloudy, rules = None, []
    for role, test, rule in (
        ("cloud_score", lambda v: ~(v >= threshold), f"{cols.get('cloud_score')} >= {threshold:g}"),  # a missing score is cloudy
        ("clear_flag", lambda v: v != 1, f"{cols.get('clear_flag')} == 1"),
        ("cloud_flag", lambda v: v.fillna(0) > 0, f"{cols.get('cloud_flag')} == 0"),
        ("scl", lambda v: ~v.isin(clear_classes), f"{cols.get('scl')} classes"),  # nodata SCL is cloudy
    ):
        if f"_{role}" in raw:
            v = raw[f"_{role}"].astype(np.float64)
            bad = test(v)
            if role != "cloud_score":
                bad = bad | _fractional(v, cols[role], what)
            cloudy = bad if cloudy is None else cloudy | bad
            rules.append(rule)
    for column, band in bands.items():
        da = raw[f"_band_{band}"].rename(band)
        if BANDS[band].role == "cloud_mask":  # 0/1 flags under other names (MSK_CLASSI_OPAQUE): as CLM above
            v = da.astype(np.float64)
            bad = (v.fillna(0) > 0) | _fractional(v, column, what)
            rules.append(f"{column} == 0")
        else:
            clear, source = clear_from_cloud_band(xr.Dataset({band: da}), {band}, what, clear_classes)
            bad = ~clear.astype(bool)
            rules.append(source)
        cloudy = bad if cloudy is None else cloudy | bad
    if cloudy is None:
        if cols["red"].upper().startswith(("S2-", "S2_")):
            logger.info("open_points(S2): no cloud column; openEO composites are cloud-masked to nodata, every valid value is clear")
            return xr.zeros_like(raw[cols["red"]], dtype=np.float32), []
        return None, []  # open_s2 warns that every valid NDVI counts as clear
    return cloudy.astype(np.float32), rules


def _snow(raw: xr.Dataset, to_reflectance: float) -> xr.DataArray:
    """Rows that look like snow: NDSI >= ``SNOW_NDSI`` and green reflectance >= ``SNOW_GREEN`` (False where unknown).

    ``to_reflectance`` takes the table's green to reflectance (1 for GEE's
    floats, 1e-4 for DN); NDSI, a ratio, needs no scale. On the Slovak
    grassland tables 19 % of the rows Cloud Score+ counts clear (3,675 of 19,143) are
    snow (NDVI below 0.1 from December to March, blue about 0.74).
    """
    green = raw["_green"].astype(np.float64).where(lambda v: v != FLOAT_NODATA)
    swir = raw["_swir1"].astype(np.float64).where(lambda v: v != FLOAT_NODATA)
    with np.errstate(invalid="ignore", divide="ignore"):
        ndsi = (green - swir) / (green + swir)
    return ((ndsi >= SNOW_NDSI) & (green * to_reflectance >= SNOW_GREEN)).fillna(False).astype(bool)
