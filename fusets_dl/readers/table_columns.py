"""Column-name conventions of long-format point tables (one row per point and acquisition).

:data:`TABLE_COLUMNS` is the one table of the names the point-table reader
(:mod:`fusets_dl.readers.tables`) accepts, by *role*:

==============  ===========================================================  ==========================================
role            accepted names (case-insensitive)                            meaning / encoding
==============  ===========================================================  ==========================================
``id``          PLOTID, plot_id, sample_id, point_id, id, fid,               the point (plot, sample) identifier; an
                feature_index (openEO)                                       ``id`` of image ids is refused (getRegion)
``time``        Date, date, timestamp, time, t, datetime                     acquisition or composite date: ISO 8601,
                                                                             datetime64, or whole numbers (below)
``scene``       system:index (GEE)                                           time of day from its YYYYMMDDTHHMMSS; the
                                                                             date when there is no ``time`` column
``time_start``  system:time_start (GEE, ms since 1970)                       acquisition time; the date when there is
                                                                             no ``time`` column
``orbit``       Orbit, relative_orbit, orbit                                 relative orbit (S1 ``orbit`` coordinate)
``vv``/``vh``   VV/VH (GEE ``COPERNICUS/S1_GRD``: float dB),                 backscatter; decoded by
                S1-SIGMA0-VV/VH (openEO/WorldCereal: uint16 compressed dB),  :func:`fusets_dl.open_s1`
                vv/vh (linear), Sigma0_VV_db                                 (the band registry)
``red``/``nir`` red/nir (GEE names: reflectance 0..1), B04/B08 (DN or        reflectance; decoded by
                reflectance), S2-L2A-B04/B08 (openEO uint16 DN x 1e-4,       :func:`fusets_dl.open_s2`
                harmonised)
``cloud_score`` cs_cdf, cs (GEE Cloud Score+, 1 = clear; both: ``cs_cdf``)   clear when >= the threshold
``clear_flag``  mask (GEE export: 1 = clear, 0 = cloudy)                     clear when 1
``cloud_flag``  CLM, cloud_mask (1 = cloud)                                  clear when 0 or missing; a fraction
                                                                             (polygon mean) is cloudy, warned
``scl``         SCL, S2-L2A-SCL (scene classification)                       clear classes (4, 5)
``green``       green, B03, B3, S2-L2A-B03                                   with ``swir1``: the snow test
``swir1``       swir1, B11, S2-L2A-B11                                       (NDSI >= 0.4 and green >= 0.1: not clear)
``lon``/``lat`` lon/lat, Longitude/Latitude, longitude/latitude              point coordinates, degrees
``geojson``     .geo (GEE: a GeoJSON point or polygon)                       point coordinates when lon/lat are absent
``wkb``         geometry (GeoParquet: WKB; WKT): points, polygons            point coordinates when lon/lat are absent
==============  ===========================================================  ==========================================

Other cloud bands: any column the raster readers know as a cloud band
(:data:`~fusets_dl.readers.cloud_bands.CLOUD_BAND_ROLES`: ``QA60``,
``MSK_CLDPRB``, ``probability`` (s2cloudless), ``CLP``, ``CLD``,
``MSK_CLASSI_OPAQUE``, ``Fmask``, ...) is decoded as
:func:`fusets_dl.open_s2` decodes that band in a file, and joins the cloud
columns above (every one present must say clear); beside ``SCL`` they are
left out, as in the raster path, where SCL decides.

Whole-number times: 8 digits are ``YYYYMMDD``; from 1e8 to 1e11 seconds
since 1970 (1973-03-03 .. 5138); from 1e11 to 1e14 milliseconds since 1970
(GEE's ``time`` and ``system:time_start``); anything else is refused. Dates
written at local midnight with a UTC offset (``2022-01-08T00:00:00+01:00``)
keep their calendar date (the offset is dropped, logged); other times with
an offset are converted to UTC.

Columns outside the table (plot attributes, textures, meteo, labels) are
ignored (and named in the log); a required role that no column fills is
refused with the found columns and the accepted names, and so are two
columns filling one role. A column under another name is given with
``columns={"vv": "my_vv_column"}`` (both tables), or per table with
``columns={"s1": {"id": "plot"}, "s2": {"id": "parcel"}}``.

Nodata in tables: ``-9999`` in float columns (GEE exports); ``65535`` in
uint16 columns (openEO/WorldCereal), decoded by the readers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .._logging import logger
from ..errors import ConfigError, TableError

__all__ = ["FLOAT_NODATA", "TABLE_COLUMNS", "TableColumn", "resolve_columns"]

#: Missing value of float columns in GEE exports.
FLOAT_NODATA = -9999.0


@dataclass(frozen=True)
class TableColumn:
    """A role a column plays in a point table and the names that fill it.

    Parameters
    ----------
    role : str
        ``"id"``, ``"time"``, ``"scene"``, ``"time_start"``, ``"orbit"``, ``"vv"``, ``"vh"``, ``"red"``, ``"nir"``,
        ``"cloud_score"``, ``"clear_flag"``, ``"cloud_flag"``, ``"scl"``,
        ``"lon"``, ``"lat"``, ``"geojson"`` or ``"wkb"``.
    names : tuple of str
        Accepted column names, matched case-insensitively.
    meaning : str
        What the column holds and how it is decoded (for messages and docs).
    prefer_first : bool
        Two or more columns of the role: take the one named first in
        ``names`` (logged) instead of refusing.
    """

    role: str
    names: tuple[str, ...]
    meaning: str
    prefer_first: bool = False


#: Every column role of a point table and its accepted names.
TABLE_COLUMNS: dict[str, TableColumn] = {
    c.role: c
    for c in (
        TableColumn("id", ("PLOTID", "plot_id", "sample_id", "point_id", "id", "fid", "feature_index"), "point identifier"),
        TableColumn("time", ("Date", "date", "timestamp", "time", "t", "datetime"), "acquisition or composite date"),
        TableColumn("scene", ("system:index",), "GEE scene id (acquisition time of day from its YYYYMMDDTHHMMSS)"),
        TableColumn("time_start", ("system:time_start",), "GEE acquisition time, ms since 1970"),
        TableColumn("orbit", ("Orbit", "relative_orbit", "orbit"), "relative orbit number"),
        TableColumn("vv", ("VV", "S1-SIGMA0-VV", "S1_SIGMA0_VV", "Sigma0_VV_db", "Sigma0_VV"), "VV backscatter"),
        TableColumn("vh", ("VH", "S1-SIGMA0-VH", "S1_SIGMA0_VH", "Sigma0_VH_db", "Sigma0_VH"), "VH backscatter"),
        TableColumn("red", ("red", "B04", "B4", "S2-L2A-B04", "S2_L2A_B04"), "red reflectance"),
        TableColumn("nir", ("nir", "B08", "B8", "S2-L2A-B08", "S2_L2A_B08"), "near-infrared reflectance"),
        TableColumn("cloud_score", ("cs_cdf", "cs"), "Cloud Score+ (1 = clear)", prefer_first=True),
        TableColumn("clear_flag", ("mask",), "clear flag (1 = clear, 0 = cloudy)"),
        TableColumn("cloud_flag", ("CLM", "cloud_mask"), "cloud flag (1 = cloud)"),
        TableColumn("scl", ("SCL", "S2-L2A-SCL", "S2_L2A_SCL"), "scene classification"),
        TableColumn("green", ("green", "B03", "B3", "S2-L2A-B03", "S2_L2A_B03"), "green reflectance (the snow test)"),
        TableColumn("swir1", ("swir1", "B11", "S2-L2A-B11", "S2_L2A_B11"), "shortwave-infrared reflectance (the snow test)"),
        TableColumn("lon", ("lon", "longitude", "Longitude"), "longitude, degrees"),
        TableColumn("lat", ("lat", "latitude", "Latitude"), "latitude, degrees"),
        TableColumn("geojson", (".geo",), "GeoJSON point or polygon (its centroid)"),
        TableColumn("wkb", ("geometry",), "WKB or WKT point or polygon (its centroid)"),
    )
}


def resolve_columns(
    found: Iterable[str], required: Iterable[str], optional: Iterable[str], columns: Mapping[str, str] | None, what: str
) -> dict[str, str]:
    """Map each role to the column of the table that fills it.

    Parameters
    ----------
    found : iterable of str
        The table's column names.
    required : iterable of str
        Roles that must be filled.
    optional : iterable of str
        Roles filled when a column is there.
    columns : mapping of str to str, optional
        Explicit role -> column name, taking precedence over the table.
    what : str
        The caller, for messages.

    Returns
    -------
    dict
        role -> column name, for every required role and the optional ones present.

    Raises
    ------
    TableError
        A required role that no column fills (the message lists the found
        columns and the accepted names), two columns for one role, or an
        explicit column that the table does not have.
    ConfigError
        An explicit mapping for an unknown role.
    """
    found = list(found)
    required, optional = list(required), list(optional)
    by_lower: dict[str, list[str]] = {}
    for name in found:
        by_lower.setdefault(name.lower(), []).append(name)
    explicit = dict(columns or {})
    bad_roles = sorted(set(explicit) - set(TABLE_COLUMNS))
    if bad_roles:
        raise ConfigError(f"{what}: columns=: expected roles among {sorted(TABLE_COLUMNS)}, found {bad_roles}")
    out: dict[str, str] = {}
    missing = []
    for role in required + optional:
        if role in explicit:
            if explicit[role] not in found:
                raise TableError(f"{what}: columns[{role!r}]={explicit[role]!r}: no such column; found {found}")
            out[role] = explicit[role]
            continue
        hits = [n for name in TABLE_COLUMNS[role].names for n in by_lower.get(name.lower(), [])]
        hits = list(dict.fromkeys(hits))
        if len(hits) > 1 and TABLE_COLUMNS[role].prefer_first:
            logger.info("%s: columns %s both fill %s (%s): %r is used", what, hits, role, TABLE_COLUMNS[role].meaning, hits[0])
            hits = hits[:1]
        if len(hits) > 1:
            raise TableError(
                f"{what}: expected one column for {role} ({TABLE_COLUMNS[role].meaning}), found {hits}; "
                f"pass columns={{{role!r}: ...}} to choose"
            )
        if hits:
            out[role] = hits[0]
        elif role in required:
            missing.append(role)
    if missing:
        expected = "; ".join(f"{r}: one of {list(TABLE_COLUMNS[r].names)}" for r in missing)
        raise TableError(
            f"{what}: expected columns for {missing} ({expected}), found {found}; "
            "rename the columns or pass columns={role: name}"
        )
    return out
