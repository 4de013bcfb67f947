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
``SCL`` classes, or a cloud mask built from Cloud Score+ (``cs_cdf >=
cloud_score_threshold``), a GEE ``mask`` flag (1 = clear) and a ``CLM`` flag
(1 = cloud), all that are present; a row without a score is cloudy. Cloud
Score+ does not flag snow: with green and SWIR-1 columns a row whose NDSI
(green - swir1) / (green + swir1) reaches ``SNOW_NDSI`` and whose green
reflectance reaches ``SNOW_GREEN`` is not clear either (SCL's class 11, which
the raster path leaves out).
WorldCereal/openEO composites carry no cloud column: their cloud-masked
values are nodata (65535), so every valid value is clear.
"""

from __future__ import annotations

import ast
import json
import re
import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from .._logging import logger
from .._warn import warn_user
from ..errors import DuplicateTimeError, SourceError, TableError
from .conventions import canonical_band_name
from .encoding import DEFAULT_CLEAR_CLASSES
from .optical import open_s2
from .radar import open_s1
from .table_columns import FLOAT_NODATA, resolve_columns
from .wide import is_wide, melt_wide

__all__ = ["open_points", "read_table"]

_S1_ROLES = ("vv", "vh")
_S2_ROLES = ("red", "nir")
_CLOUD_ROLES = ("cloud_score", "clear_flag", "cloud_flag", "scl")
_SNOW_ROLES = ("green", "swir1")
#: Snow: NDSI at least this (the MODIS/Landsat snow test, Hall et al. 1995; Sen2Cor's class 11 uses a similar one)...
SNOW_NDSI = 0.4
#: ... and green reflectance at least this (water, also of high NDSI, is dark in green: 0.02-0.08).
SNOW_GREEN = 0.1
_COORD_ROLES = ("lon", "lat", "geojson", "wkb")
_SCENE_TIME = re.compile(r"(\d{8}T\d{6})")
_UINT16_NODATA = 65535
#: Median spacing of the distinct dates (days) above which a table is taken for coarse composites.
MAX_REVISIT_DAYS = 16
_WKT_POINT = re.compile(r"^\s*POINT\s*Z?M?\s*\(\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)", re.IGNORECASE)


def read_table(source: Any) -> pd.DataFrame:
    """Read a long-format table: CSV, Parquet/GeoParquet (needs ``pyarrow``), a DataFrame, or a list of them.

    Parameters
    ----------
    source : path, pandas.DataFrame or sequence of them
        ``.csv`` (also ``.csv.gz``), ``.parquet``/``.geoparquet``/``.pq``; a
        list is concatenated (for example one file per region and year).

    Returns
    -------
    pandas.DataFrame
        The rows of every table.

    Raises
    ------
    SourceError
        A missing file, or one of another format.
    ImportError
        Parquet without ``pyarrow`` (``pip install 'fusets-dl[tables]'``).
    """
    if isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, (list, tuple)):
        if not source:
            raise SourceError("read_table: expected at least one table, found an empty list")
        return pd.concat([read_table(s) for s in source], ignore_index=True)
    if not isinstance(source, (str, Path)) and not hasattr(source, "__fspath__"):
        raise SourceError(f"read_table: expected a CSV or Parquet path, a DataFrame or a list of them, found {type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise SourceError(f"read_table: expected a CSV or Parquet file, found no file at {path}")
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(path)
    if name.endswith((".parquet", ".geoparquet", ".pq")):
        try:
            import pyarrow  # noqa: F401
        except ImportError as err:
            raise ImportError(f"read_table({path.name}): Parquet needs pyarrow; pip install 'fusets-dl[tables]'") from err
        return pd.read_parquet(path)
    raise SourceError(f"read_table: expected a .csv, .csv.gz, .parquet or .geoparquet file, found {path.name}")


def open_points(
    s1: Any,
    s2: Any = None,
    *,
    columns: Mapping[str, str] | None = None,
    cloud_score_threshold: float = 0.6,
    clear_classes: Iterable[int] = DEFAULT_CLEAR_CLASSES,
    harmonize: Literal["auto", "all"] | bool = "auto",
    points: Sequence[Any] | None = None,
    wide_freq: Literal["month", "dekad"] | None = None,
) -> tuple[xr.Dataset, xr.Dataset]:
    """Open S1 and S2 point tables as the readers' S1 and S2 datasets on a shared point pseudo-grid.

    Parameters
    ----------
    s1 : path, DataFrame or list of them
        Table(s) with an id, a date and VV/VH columns (see
        :data:`~fusets_dl.readers.table_columns.TABLE_COLUMNS`).
    s2 : path, DataFrame or list of them, optional
        Table(s) with an id, a date, red and NIR and any cloud columns.
        Default: the ``s1`` table holds both (WorldCereal extractions).
    columns : mapping, optional
        Role -> column name for columns under other names
        (``{"vv": "VV_gamma0"}``); applies to both tables.
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
        period cannot be read.
    DuplicateTimeError
        Two rows for one point and time.
    """
    if s1 is None:
        raise TableError("open_points: expected an S1 table (or one table with S1 and S2 columns) as the first argument, found None; "
                         "the models fuse S1 with S2, an S2-only table cannot be fused")
    same = s2 is None
    t1 = _long(read_table(s1), columns, "open_points(S1 and S2)" if same else "open_points(S1)", wide_freq)
    t2 = t1 if same else _long(read_table(s2), columns, "open_points(S2)", wide_freq)
    try:
        c1 = resolve_columns(t1.columns, ("id", "time", *_S1_ROLES), ("scene", "orbit", *_COORD_ROLES), columns, "open_points(S1)")
        c2 = resolve_columns(t2.columns, ("id", "time", *_S2_ROLES), ("time_start", *_CLOUD_ROLES, *_SNOW_ROLES, *_COORD_ROLES), columns,
                             "open_points(S2)")
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
    if same:
        t1 = t2 = t1[t1[c1["vv"]].notna() | t1[c2["red"]].notna()]
    layout = _point_layout([(t1, c1), (t2, c2)], points)
    ds1 = _s1_dataset(t1, c1, layout)
    ds2 = _s2_dataset(t2, c2, layout, cloud_score_threshold, clear_classes, harmonize)
    coarse = [(name, *got) for name, ds in (("S1", ds1), ("S2", ds2)) if (got := _coarse_step(ds)) is not None]
    if same and len(coarse) == 2:  # one table: one warning for its dates, not one per sensor
        _warn_coarse_dates(max(c[1] for c in coarse), max(c[2] for c in coarse), "open_points(S1 and S2)")
    else:
        for name, step, n in coarse:
            _warn_coarse_dates(step, n, f"open_points({name})")
    return ds1, ds2


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
    try:
        col = table[cols["time"]]
        date = pd.to_datetime(col, utc=True, format=None if pd.api.types.is_datetime64_any_dtype(col) else "ISO8601").dt.tz_localize(None)
    except (ValueError, TypeError) as err:
        sample = table[cols["time"]].head(3).tolist()
        raise TableError(f"{what}: expected dates in column {cols['time']!r} (ISO 8601), found {sample}: {err}") from err
    exact = None
    if "time_start" in cols:
        exact = pd.to_datetime(table[cols["time_start"]].astype("float64"), unit="ms")
    elif "scene" in cols:
        stamp = table[cols["scene"]].astype(str).str.extract(_SCENE_TIME, expand=False)
        exact = pd.to_datetime(stamp, format="%Y%m%dT%H%M%S", errors="coerce")
    if exact is not None:
        same_day = exact.notna() & (exact.dt.normalize() == date.dt.normalize())
        if not same_day.all():
            bad = int((~same_day).sum())
            logger.warning("%s: %d rows whose acquisition time is missing or on another day than %r keep the date", what, bad, cols["time"])
        date = date.where(~same_day, exact)
    return pd.DatetimeIndex(date.to_numpy("datetime64[ns]"))


def _point_ids(col: pd.Series) -> pd.Series:
    """The point ids as strings (whole-number floats as integers: ``101.0`` is ``"101"``); missing ids stay NaN."""
    if pd.api.types.is_float_dtype(col):
        finite = col[np.isfinite(col)]
        if bool(np.all(finite == np.round(finite))):
            return col.map(lambda v: str(int(v)) if np.isfinite(v) else np.nan)
    return col.map(lambda v: np.nan if pd.isna(v) else str(v))


def _coords_of(table: pd.DataFrame, cols: dict[str, str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Longitude and latitude of each row, from lon/lat, a GeoJSON ``.geo`` or WKB points; None when absent."""
    if "lon" in cols and "lat" in cols:
        return table[cols["lon"]].to_numpy(np.float64), table[cols["lat"]].to_numpy(np.float64)
    if "geojson" in cols:
        xy = np.array([json.loads(g)["coordinates"][:2] if isinstance(g, str) else (np.nan, np.nan) for g in table[cols["geojson"]]])
        return xy[:, 0], xy[:, 1]
    if "wkb" in cols:
        xy = np.array([_geometry_point(g) for g in table[cols["wkb"]]], dtype=np.float64).reshape(-1, 2)
        filled = table[cols["wkb"]].notna().to_numpy()
        if filled.any() and not np.isfinite(xy[filled]).all():
            bad = table[cols["wkb"]][filled & ~np.isfinite(xy).all(axis=1)].iloc[0]
            warn_user(f"open_points: column {cols['wkb']!r}: expected point geometries (WKB, hex WKB or WKT 'POINT (lon lat)'), "
                      f"found {int((filled & ~np.isfinite(xy).all(axis=1)).sum())} rows of another kind such as {str(bad)[:60]!r}; "
                      "those points have no lon/lat and are not ordered west to east (give lon and lat columns)")
        return xy[:, 0], xy[:, 1]
    return None


def _geometry_point(geom: Any) -> tuple[float, float]:
    """(x, y) of a point geometry: WKB bytes, hex WKB, the ``b'...'`` text of WKB written to CSV, or WKT; NaN otherwise."""
    if isinstance(geom, str):
        text = geom.strip()
        m = _WKT_POINT.match(text)
        if m:
            return float(m.group(1)), float(m.group(2))
        if text[:2] in ("b'", 'b"'):
            try:
                geom = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return (np.nan, np.nan)
        else:
            try:
                geom = bytes.fromhex(text)
            except ValueError:
                return (np.nan, np.nan)
    return _wkb_point(geom)


def _wkb_point(geom: Any) -> tuple[float, float]:
    """(x, y) of a 2-D WKB point (ISO or EWKB); NaN for anything else."""
    if not isinstance(geom, (bytes, bytearray)) or len(geom) < 21:
        return (np.nan, np.nan)
    order = "<" if geom[0] == 1 else ">"
    kind = struct.unpack(order + "I", geom[1:5])[0]
    offset = 9 if kind & 0x20000000 else 5  # EWKB with an SRID
    if kind & 0xFFFF not in (1, 1001):
        return (np.nan, np.nan)
    return struct.unpack(order + "dd", geom[offset : offset + 16])


def _point_layout(tables: list[tuple[pd.DataFrame, dict[str, str]]], points: Sequence[Any] | None) -> pd.DataFrame:
    """The points along ``x``: id, lon, lat, ordered west to east (or by id, or as given)."""
    frames = []
    for table, cols in tables:
        xy = _coords_of(table, cols)
        f = pd.DataFrame({"point": _point_ids(table[cols["id"]]).to_numpy()})
        f["lon"], f["lat"] = xy if xy is not None else (np.nan, np.nan)
        frames.append(f)
    allp = pd.concat(frames, ignore_index=True).dropna(subset=["point"])
    per = allp.groupby("point", sort=True)[["lon", "lat"]].agg(["min", "max"])
    spread = np.nanmax((per.xs("max", axis=1, level=1) - per.xs("min", axis=1, level=1)).to_numpy(), initial=0.0)
    if spread > 1e-4:
        logger.warning("open_points: a point's coordinates vary by up to %.2g degrees between rows; the first is kept", spread)
    layout = allp.groupby("point", sort=True)[["lon", "lat"]].first().reset_index()
    if points is not None:
        want = [str(p) for p in points]
        unknown = sorted(set(want) - set(layout["point"]))
        if unknown:
            raise TableError(f"open_points: points={unknown[:10]} not in the tables; found {len(layout)} ids such as {layout['point'].head(5).tolist()}")
        return layout.set_index("point").loc[want].reset_index()
    if layout[["lon", "lat"]].notna().all().all():
        layout = layout.sort_values(["lon", "lat", "point"], kind="stable").reset_index(drop=True)
    return layout


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
        raise DuplicateTimeError(
            f"{what}: expected one row per point and time, found {int(dup.sum())} duplicated, "
            f"e.g. point {layout['point'].iloc[code[i]]!r} at {pd.Timestamp(times[i])}; drop or average them first"
        )
    shape = (uniq.size, 1, len(layout))
    data = {}
    for name, col in names.items():
        values = rows[col].to_numpy()
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


def _s1_dataset(table: pd.DataFrame, cols: dict[str, str], layout: pd.DataFrame) -> xr.Dataset:
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
    out = open_s1(raw, orbit=orbit)
    valid = np.isfinite(out["VV"].values) & np.isfinite(out["VH"].values)
    funnel = {"rows": len(rows), "points": int(np.unique(rows["_p"]).size), "times": int(raw.sizes["time"]),
              "valid_rows": int(valid.sum())}
    logger.info("%s: %s", what, funnel)
    return _finish(out, raw, funnel)


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
    raw, rows = _pivot(table, cols, layout, names, what)
    clear_classes = [int(c) for c in clear_classes]
    scale = _reflectance_scale(rows, cols)
    clm = _cloud_mask(raw, cols, threshold, clear_classes)
    snow = _snow(raw, 1.0 if scale == 1.0 else 1e-4) if snow_test and clm is not None else None  # no cloud column: open_s2 warns
    if snow is not None:
        clm = np.maximum(clm, snow.astype(np.float32))
    raw = _rename_optical(raw, cols).drop_vars([f"_{r}" for r in (*_CLOUD_ROLES, *_SNOW_ROLES) if f"_{r}" in raw])
    if clm is not None:
        raw["CLM"] = clm
    out = open_s2(raw, clear_classes=clear_classes, harmonize=harmonize, reflectance_scale=scale)
    funnel = {"rows": len(rows), "points": int(np.unique(rows["_p"]).size), "times": int(raw.sizes["time"]),
              "valid_rows": int(np.isfinite(out["NDVI"].values).sum()), "clear_rows": int(out["clear"].values.sum()),
              "cloud_mask": _cloud_mask_name(cols, threshold) + (f" and not snow (NDSI >= {SNOW_NDSI:g}, green >= {SNOW_GREEN:g})"
                                                                 if snow_test else "")}
    if snow is not None:
        funnel["snow_rows"] = int((snow & np.isfinite(out["NDVI"])).sum())
    logger.info("%s: %s", what, funnel)
    return _finish(out, raw, funnel)


def _reflectance_scale(rows: pd.DataFrame, cols: dict[str, str]) -> float | Literal["auto"]:
    """1.0 for float red/NIR whose median over the whole table is reflectance (< 1.5), else the readers' "auto".

    The whole table is in memory, so its median decides: a sample of a few
    values can hold snow or cloud above 1.5 and be taken for DN.
    """
    values = rows[[cols["red"], cols["nir"]]].to_numpy()
    if values.dtype.kind != "f":
        return "auto"
    v = values[np.isfinite(values) & (values != FLOAT_NODATA)]
    return 1.0 if v.size and float(np.median(v)) < 1.5 else "auto"


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


def _cloud_mask(raw: xr.Dataset, cols: dict[str, str], threshold: float, clear_classes: list[int]) -> xr.DataArray | None:
    """``CLM`` (1 = cloud) from every cloud column present (all must say clear); None without any."""
    cloudy = None
    for role, test in (
        ("cloud_score", lambda v: ~(v >= threshold)),  # a missing score is cloudy
        ("clear_flag", lambda v: v != 1),
        ("cloud_flag", lambda v: v == 1),
        ("scl", lambda v: ~v.isin(clear_classes)),  # nodata SCL is cloudy
    ):
        if f"_{role}" in raw:
            bad = test(raw[f"_{role}"].astype(np.float64))
            cloudy = bad if cloudy is None else cloudy | bad
    if cloudy is None:
        if cols["red"].upper().startswith(("S2-", "S2_")):
            logger.info("open_points(S2): no cloud column; openEO composites are cloud-masked to nodata, every valid value is clear")
            return xr.zeros_like(raw[cols["red"]], dtype=np.float32)
        return None  # open_s2 warns that every valid NDVI counts as clear
    return cloudy.astype(np.float32)


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


def _cloud_mask_name(cols: dict[str, str], threshold: float) -> str:
    """How the clear mask was made, in words, for the funnel."""
    parts = []
    if "cloud_score" in cols:
        parts.append(f"{cols['cloud_score']} >= {threshold:g}")
    if "clear_flag" in cols:
        parts.append(f"{cols['clear_flag']} == 1")
    if "cloud_flag" in cols:
        parts.append(f"{cols['cloud_flag']} == 0")
    if "scl" in cols:
        parts.append(f"{cols['scl']} classes")
    return " and ".join(parts) or "valid reflectance (nodata is the cloud mask)"
