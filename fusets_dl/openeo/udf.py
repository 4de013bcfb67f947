"""UDF entry points: an openEO ``XarrayDataCube`` in, the fusion stages, an ``XarrayDataCube`` out.

The cube openEO hands a UDF has dims ``(t, bands, y, x)``. Its Sentinel-1
bands (``VV``, ``VH``: ``SENTINEL1_GRD`` after ``sar_backscatter``, linear
power; or ``S1-SIGMA0-VV``/``VH`` in the uint16 "compressed" dB of openEO
extractions) and Sentinel-2 bands (``B04``, ``B08``, ``SCL`` of
``SENTINEL2_L2A``: harmonised DN) usually come from ``merge_cubes``, so each
sensor has values on its own dates only. The flow, one helper each:

1. ``_cube_array``: check the dims, put them in openEO order;
2. ``_sensor_datasets``: split the bands by sensor (``sar_backscatter``'s
   ``mask`` and angle bands are Sentinel-1 bands: ``_apply_sar_mask``,
   ``_sar_extras``), keep the dates where each sensor has a value in the
   tile, rename ``t`` to ``time``;
3. ``_fusion_cube``: :func:`fusets_dl.open_s1`, :func:`fusets_dl.open_s2`
   and :func:`fusets_dl.align` with the context's options;
4. :func:`fusets_dl.predict_ndvi`, :func:`fusets_dl.reconstruct`,
   :func:`fusets_dl.phenology`;
5. ``_to_openeo``: back to ``(t, bands, y, x)`` float32.

Warnings raised during a run are re-issued in the UDF's terms
(``_udf_warnings``, :func:`udf_wording`): a remedy the stages name as a
Python argument (``harmonize=True``) becomes the context entry that sets it
(``{"s2": {"harmonize": true}}``), one a UDF cannot use (a per-date
``s2:processing_baseline`` coordinate) is left out, and the orbit warning
names the likely cause when Sentinel-1 was resampled onto the Sentinel-2
dates.

openEO's client is imported only to wrap the result (the back-end's UDF
runtime has it); ``import fusets_dl.openeo`` does not load it.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._logging import logger
from .._warn import warn_user
from ..errors import DimensionError, EncodingError, InsufficientDataError, MissingVariableError
from ..readers.conventions import band_for, bands_for, canonical_band_name
from ..validate import cftime_hint
from .context import KINDS, SECTION_KEYS, check_context, merge_context, model_from_context, section
from .names import (
    PHENOLOGY_COUNT_BAND,
    PREDICT_BANDS,
    RECONSTRUCT_BANDS,
    SAR_MASK_BAND,
    backscatter_bands,
    phenology_bands,
    season_metrics,
    sensor_bands,
    signals_compressed,
)

__all__ = ["OPENEO_DIMS", "PHENOLOGY_MIN_DATES", "apply_phenology", "apply_predict", "apply_reconstruct", "apply_udf", "s1_units",
           "udf_wording"]

#: The dims of an openEO raster cube in a UDF, in order.
OPENEO_DIMS: tuple[str, str, str, str] = ("t", "bands", "y", "x")


def s1_units(labels: list[str], declared: str | None) -> str:
    """Units of the backscatter bands: the declared ones, else by their names.

    Parameters
    ----------
    labels : list of str
        The Sentinel-1 band labels of the cube.
    declared : str, optional
        ``context["s1"]["units"]`` when given.

    Returns
    -------
    str
        ``declared``; else ``"compressed"`` for the ``S1-SIGMA0-*`` names of
        openEO extractions, ``"linear"`` for bands named exactly ``VV``/``VH``
        (``sar_backscatter`` delivers linear power), and ``"auto"`` for other
        names (``VV_db``, ``Sigma0_VV_db``: the readers' conventions and the
        values decide; they were forced to linear, and every tile failed).
    """
    if declared is not None:
        return declared
    if signals_compressed(labels):
        return "compressed"
    return "linear" if labels and all(str(b) in ("VV", "VH") for b in labels) else "auto"


def _cube_array(cube: Any, what: str) -> xr.DataArray:
    """The DataArray of an ``XarrayDataCube`` (or a DataArray), dims and unique band labels checked, in openEO order."""
    arr = cube.get_array() if hasattr(cube, "get_array") else cube
    if not isinstance(arr, xr.DataArray):
        raise DimensionError(f"{what}: expected an openEO XarrayDataCube or xarray.DataArray, found {type(cube).__name__}")
    if set(arr.dims) != set(OPENEO_DIMS):
        raise DimensionError(f"{what}: expected dims {OPENEO_DIMS} (apply_neighborhood or apply_dimension over 't'), found {arr.dims}")
    if "bands" not in arr.coords:
        raise DimensionError(f"{what}: expected labels on the 'bands' dimension, found none")
    labels = [str(b) for b in arr["bands"].values]
    dup = sorted({b for b in labels if labels.count(b) > 1})
    if dup:
        raise DimensionError(f"{what}: expected each band label once, found {dup} more than once in {labels} "
                             "(rename the bands of one cube before merge_cubes, or filter_bands)")
    return arr.transpose(*OPENEO_DIMS)


def _require_bands(have: list[str], kind: str, what: str) -> tuple[list[str], list[str]]:
    """The S1 and S2 band labels; raise when a band this kind needs is absent."""
    s1, s2 = sensor_bands(have)
    canon = {canonical_band_name(b) for b in s2}
    has_s2 = {band_for("red"), band_for("nir")} <= canon or band_for("ndvi") in canon
    missing = [b for b in ("VV", "VH") if b not in {canonical_band_name(x) for x in s1}]
    if kind != "predict" and not has_s2:
        missing += [b for b in ("B04", "B08") if b not in canon]
    if missing:
        needs = "VV, VH (SENTINEL1_GRD with sar_backscatter, or S1-SIGMA0-VV/VH)"
        if kind != "predict":
            needs += " and B04, B08 with SCL or CLM (SENTINEL2_L2A), or NDVI"
        raise MissingVariableError(f"{what}: expected bands {needs}; missing {missing}, found {have}")
    return s1, (s2 if has_s2 else [])


def _dates_with_values(arr: xr.DataArray, bands: list[str]) -> np.ndarray:
    """Indices of the dates where any of ``bands`` has a finite value in the tile."""
    vals = np.asarray(arr.sel(bands=bands).values, dtype=np.float64)
    return np.flatnonzero(np.isfinite(vals).any(axis=(1, 2, 3)))


def _sensor_dataset(arr: xr.DataArray, bands: list[str], crs: Any, date_bands: list[str] | None = None) -> xr.Dataset:
    """One sensor's bands on the dates where it has values (in ``date_bands``, default ``bands``), as a Dataset on ``(time, y, x)``."""
    idx = _dates_with_values(arr, date_bands or bands)
    sub = arr.isel(t=idx).sel(bands=bands)
    ds = sub.to_dataset(dim="bands").rename(t="time")
    ds = ds.drop_vars([c for c in ds.coords if c not in ("time", "y", "x")])
    hint = cftime_hint(ds["time"].values)
    if hint:  # pandas' "<class 'cftime...'> is not convertible to datetime" said nothing of the calendar
        raise DimensionError(f"openEO UDF: expected the cube's 't' labels as dates of the standard calendar, found{hint}")
    ds["time"] = pd.DatetimeIndex(ds["time"].values).as_unit("ns")
    if crs is not None:
        ds = ds.rio.write_crs(crs)
    return ds


def _apply_sar_mask(arr: xr.DataArray, s1_bands: list[str], what: str) -> tuple[xr.DataArray, list[str]]:
    """``arr`` with ``sar_backscatter``'s ``mask`` applied to the backscatter bands and dropped; the S1 bands left.

    ``mask`` is 1 where the backscatter is valid, 0 where it is not (layover,
    radar shadow) and null for no data: backscatter where it is below 1 (0,
    or a fraction left by a temporal aggregation of the mask, which then
    mixed in invalid values; warned) becomes missing, as a nodata pixel-date
    is. Before, the mask was read as a Sentinel-2 clear flag.
    """
    if SAR_MASK_BAND not in s1_bands:
        return arr, s1_bands
    bs = backscatter_bands(s1_bands)
    mask = np.asarray(arr.sel(bands=SAR_MASK_BAND).values, dtype=np.float64)
    finite = np.isfinite(mask)
    odd = finite & (mask != 0) & (mask != 1)
    if odd.any():
        shown = np.unique(mask[odd])[:5].tolist()
        warn_user(f"{what}: band {SAR_MASK_BAND!r} (sar_backscatter's validity mask): expected 1 (valid), 0 (invalid) or null, "
                  f"found {int(odd.sum())} other values (e.g. {[round(v, 3) for v in shown]}: a temporal aggregation or a "
                  "bilinear resampling of the mask?); the backscatter there is taken as invalid (below 1). Aggregate or resample "
                  "after masking VV/VH with it, or drop the mask")
    invalid = finite & (mask < 1)
    values = arr.sel(bands=bs)
    hit = invalid[:, None] & np.isfinite(np.asarray(values.values, dtype=np.float64))
    logger.info("%s: sar_backscatter mask: %d backscatter values of %d pixel-dates marked invalid set to missing", what,
                int(hit.sum()), int(invalid.sum()))
    keep = [b for b in map(str, arr["bands"].values) if b != SAR_MASK_BAND]
    out = arr.sel(bands=keep).copy()
    if invalid.any():
        out.loc[{"bands": bs}] = np.where(invalid[:, None], np.nan, values.values).astype(values.dtype)
    return out, [b for b in s1_bands if b != SAR_MASK_BAND]


#: ``sar_backscatter``'s ellipsoid incidence angle, read as the incidence angle :func:`fusets_dl.open_s1` keeps.
_ELLIPSOID_ANGLE = "ellipsoid_incidence_angle"


def _sar_extras(s1: xr.Dataset, extras: list[str], what: str) -> xr.Dataset:
    """The S1 Dataset with ``sar_backscatter``'s angle bands read or dropped.

    ``ellipsoid_incidence_angle`` is the incidence angle the readers keep
    (per date: its mean over the tile) and the sequence model reads: it
    becomes ``incidence_angle`` (degrees). ``local_incidence_angle`` (to the
    terrain's normal, not the ellipsoid's: on slopes a different quantity
    from the one a model learnt) and ``contributing_area`` are dropped, and
    the log says so.
    """
    if _ELLIPSOID_ANGLE in extras:
        s1 = s1.rename({_ELLIPSOID_ANGLE: "incidence_angle"})
        s1["incidence_angle"].attrs["units"] = "degree"  # the openEO process: in degrees
    dropped = [b for b in extras if b != _ELLIPSOID_ANGLE]
    if dropped:
        logger.info("%s: sar_backscatter band(s) %s not used (the local incidence angle is to the terrain's normal, not the "
                    "ellipsoid incidence angle the models read: request ellipsoid_incidence_angle=True for that)", what, dropped)
        s1 = s1.drop_vars(dropped)
    return s1


def _sensor_datasets(arr: xr.DataArray, kind: str, context: Mapping[str, Any], what: str) -> tuple[xr.Dataset, xr.Dataset | None]:
    """S1 (with static layers and sar_backscatter's extras) and, when present, S2 Datasets of the cube, each on its own dates."""
    labels = [str(b) for b in arr["bands"].values]
    s1_bands, s2_bands = _require_bands(labels, kind, what)
    arr, s1_bands = _apply_sar_mask(arr, s1_bands, what)
    backscatter = backscatter_bands(s1_bands)
    if _dates_with_values(arr, backscatter).size == 0:
        raise InsufficientDataError(f"{what}: expected backscatter values, found none of {arr.sizes['t']} dates with a finite {backscatter} value in this tile")
    crs = context.get("crs")
    s1 = _sar_extras(_sensor_dataset(arr, s1_bands, crs, backscatter), [b for b in s1_bands if b not in backscatter], what)
    for b in (b for b in labels if canonical_band_name(b) in bands_for("static")):
        s1[b] = arr.sel(bands=b).max("t").drop_vars([c for c in arr.coords if c not in ("y", "x")], errors="ignore")
    optical = [b for b in s2_bands if canonical_band_name(b) not in bands_for("static")]
    if optical and _dates_with_values(arr, optical).size == 0:
        if kind == "predict":
            return s1, None  # predict from S1 alone, as without S2 bands
        # one tile's error fails the whole job (this raised InsufficientDataError): the tile is read as one whose every
        # view is cloudy, the S2 bands all missing on the S1 dates, and filled from S1 as such a tile is
        warn_user(f"{what}: no Sentinel-2 value in this tile ({optical} missing on all {arr.sizes['t']} dates: clouds masked "
                  "out with SCL, a short winter extent, or the edge of the Sentinel-2 footprint): reconstructed from "
                  "Sentinel-1 alone, as a tile whose every view is cloudy (no observed value, source 1 or 3)")
        return s1, _sensor_dataset(arr, optical, crs, backscatter)
    s2 = _sensor_dataset(arr, optical, crs) if optical else None
    return s1, s2


def _fusion_cube(arr: xr.DataArray, kind: str, context: Mapping[str, Any], what: str) -> xr.Dataset:
    """The fusion cube of the tile: readers and :func:`align` with the context's options."""
    from ..alignment.build import align
    from ..readers.optical import open_s2
    from ..readers.radar import open_s1

    s1_raw, s2_raw = _sensor_datasets(arr, kind, context, what)
    s1_kw = section(context, "s1")
    declared = s1_kw.get("units")
    s1_kw["units"] = s1_units(backscatter_bands(list(map(str, s1_raw.data_vars))), declared)
    try:
        s1 = open_s1(s1_raw, **s1_kw)
    except EncodingError as exc:
        if declared is not None:
            raise
        # the UDF assumed the units from the band names: say so, and which context key sets them
        raise EncodingError(f"{exc} [the UDF took the bands named {sorted(backscatter_bands(list(map(str, s1_raw.data_vars))))} for {s1_kw['units']} "
                            "(sar_backscatter delivers linear power as VV/VH); if they are dB (after linear_to_db) or amplitude, "
                            "set the context's s1 units: {\"s1\": {\"units\": \"dB\"}} (or \"auto\")]") from exc
    if s2_raw is None:
        logger.info("%s: no Sentinel-2 bands: the fusion cube holds S1 only", what)
        return s1
    s2 = open_s2(s2_raw, **section(context, "s2"))
    return align(s1, s2, **section(context, "align"))


def _to_openeo(ds: xr.Dataset, bands: list[str], like: xr.DataArray, time: Any = None) -> Any:
    """``ds``'s variables as an ``XarrayDataCube`` on ``(t, bands, y, x)`` float32; its y/x must be the input's."""
    from openeo.udf import XarrayDataCube

    arrays = [ds[b].astype(np.float32).transpose(*(["time"] if "time" in ds[b].dims else []), "y", "x") for b in bands]
    stacked = xr.concat([a.drop_vars([c for c in a.coords if c not in ("time", "y", "x")]) for a in arrays], dim="bands")
    if "time" not in stacked.dims:
        stacked = stacked.expand_dims(time=[time])
    out = stacked.rename(time="t").assign_coords(bands=list(bands))
    for dim in ("y", "x"):
        if out.sizes[dim] == like.sizes[dim] and np.array_equal(out[dim].values[::-1], like[dim].values):
            out = out.isel({dim: slice(None, None, -1)})  # align puts the cube north-up; the tile goes back in its own order
        if not np.array_equal(out[dim].values, like[dim].values):
            raise DimensionError(f"openEO UDF: the output's {dim} differs from the input's: expected {like.sizes[dim]} labels as given, found {out.sizes[dim]}")
    return XarrayDataCube(out.transpose(*OPENEO_DIMS))


def _phenology_dataset(ph: xr.Dataset, max_seasons: int, origin: pd.Timestamp) -> xr.Dataset:
    """Phenometrics as one float32 variable per metric and season; dates as day of year.

    Dates count days from ``origin`` (1 January of the first input year) plus
    one, so 1 is that day and values above 365 fall in the following years;
    a missing season is NaN.
    """
    from ..phenometrics.seasons import DATE_VARS, PIXEL_VARS

    origin64 = np.datetime64(origin.to_datetime64(), "ns")
    out = xr.Dataset()
    for s in range(max_seasons):
        for v in season_metrics():
            da = ph[v].isel(season=s, drop=True)
            if v in DATE_VARS:
                da = ((da - origin64) / np.timedelta64(1, "D") + 1.0).where(da.notnull())
            out[f"{v}_{s + 1}"] = da.astype(np.float32)
    for v in PIXEL_VARS:
        if v in ph:
            out[v] = ph[v].astype(np.float32)
    out[PHENOLOGY_COUNT_BAND] = ph["n_seasons"].astype(np.float32)
    return out


#: The fewest dates :func:`fusets_dl.phenology` takes (it raises ``DimensionError`` below).
PHENOLOGY_MIN_DATES = 4


def _phenology_default(name: str) -> Any:
    """The default of one of :func:`fusets_dl.phenology`'s keywords."""
    import inspect

    from ..phenometrics.api import phenology

    return inspect.signature(phenology).parameters[name].default


def _no_phenology(rec: xr.Dataset, max_seasons: int, what: str, least: int = PHENOLOGY_MIN_DATES) -> xr.Dataset:
    """The phenology bands of a tile too short for phenology: all NaN, ``n_seasons`` 0; warned.

    :func:`fusets_dl.phenology` refuses fewer than :data:`PHENOLOGY_MIN_DATES`
    dates, or than its ``min_valid`` (``least``: the larger), and on openEO
    one tile's error fails the whole job. A tile
    cannot tell whether the whole request is that short (then the job
    should fail) or only its own dates are (S1 absent over part of the
    extent): the warning says both.
    """
    t = pd.DatetimeIndex(rec["time"].values)
    shown = [str(d.date()) for d in t[:least]]
    warn_user(f"{what}: this tile's reconstruction has {t.size} date{'s' if t.size != 1 else ''} {shown}, and phenology needs "
              f"at least {least} (min_valid; a season about 60 days): its phenology bands are NaN and n_seasons 0 on every "
              "pixel, so that the job goes on. A tile cannot tell whether the whole request is this short: if it is, widen the "
              "temporal_extent to the seasons (with their rise and fall); the dates are those on which Sentinel-1 has a value "
              "in the tile (or reconstruct's freq grid over them)")
    like = rec["NDVI"].isel(time=0, drop=True)
    nan = xr.full_like(like, np.nan, dtype=np.float32)
    out = xr.Dataset({b: nan for b in phenology_bands(max_seasons)})
    out[PHENOLOGY_COUNT_BAND] = xr.zeros_like(nan)
    return out


#: Remedies of the stages' warnings that a UDF cannot use: a per-date coordinate (``s2:processing_baseline``) cannot
#: be given to a UDF, whose cube openEO builds.
_NOT_IN_A_UDF = (
    re.compile(r"\s*\(or declare it per date with s2:processing_baseline\)"),
    re.compile(r",? or declare it per date with the s2:processing_baseline coordinate \('[^']*'\)"),
)

#: A keyword argument with a Python literal, as the stages' warnings name a remedy: ``harmonize=True``, ``weights='auto'``.
_KEYWORD = re.compile(r"\b([a-z_]+)=(True|False|None|'[^']*'|\"[^\"]*\"|-?\d+(?:\.\d+)?(?:e-?\d+)?)(?![\w.])")

#: The start of the orbit-grouping warning (:mod:`fusets_dl.features.orbits`) when dates carry no time of day.
_ORBIT_WARNING = "orbit groups: the dates have no time of day"


def _json_literal(py: str) -> str:
    """A Python literal of a warning as the JSON value of the context."""
    if py in ("True", "False", "None"):
        return {"True": "true", "False": "false", "None": "null"}[py]
    return f'"{py[1:-1]}"' if py[0] in "'\"" else py


def _in_call(text: str, pos: int) -> bool:
    """Whether ``pos`` lies inside the parentheses of a call (``fdl.reconstruct(part, weights='auto')``): code, left as it is."""
    depth = 0
    for i in range(pos - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            if depth == 0:
                return i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_.]")
            depth -= 1
    return False


def udf_wording(message: str, kind: str) -> str:
    """A warning of the stages in the terms of a ``kind`` UDF.

    A keyword remedy (``harmonize=True``, ``weights='auto'``) becomes the
    context entry that sets it (``the context {"s2": {"harmonize": true}}``)
    where the key belongs to one section of the kind's
    (:data:`~fusets_dl.openeo.context.KINDS`); keys of several sections
    (``freq``, ``smooth``) and keywords inside a call are left as they are.
    Remedies a UDF cannot use (declaring ``s2:processing_baseline`` per
    date) are left out.

    Parameters
    ----------
    message : str
        The warning's text.
    kind : {"predict", "reconstruct", "phenology"}
        The UDF.

    Returns
    -------
    str
        The text, rewritten.
    """
    for pattern in _NOT_IN_A_UDF:
        message = pattern.sub("", message)
    owners: dict[str, list[str]] = {}
    for sec in KINDS[kind]:
        for key in SECTION_KEYS[sec]:
            owners.setdefault(key, []).append(sec)

    def _context(m: re.Match[str]) -> str:
        secs = owners.get(m.group(1), [])
        if len(secs) != 1 or _in_call(m.string, m.start()):
            return m.group(0)
        return f'the context {{"{secs[0]}": {{"{m.group(1)}": {_json_literal(m.group(2))}}}}}'

    return _KEYWORD.sub(_context, message)


def _s1_on_s2_dates(arr: xr.DataArray) -> int:
    """How many S1 dates the tile has when every one is also an S2 date, all at midnight (S1 resampled onto S2's dates); else 0."""
    s1_bands, s2_bands = sensor_bands([str(b) for b in arr["bands"].values])
    optical = [b for b in s2_bands if canonical_band_name(b) not in bands_for("static")]
    backscatter = backscatter_bands(s1_bands)
    if not optical or not backscatter:
        return 0
    t = pd.DatetimeIndex(arr["t"].values)
    s1 = t[_dates_with_values(arr, backscatter)]
    s2 = t[_dates_with_values(arr, optical)]
    if s1.size < 2 or not (s1 == s1.normalize()).all() or not s1.isin(s2).all():
        return 0
    return int(s1.size)


def _orbit_cause(arr: xr.DataArray) -> str:
    """What to add to the orbit warning when S1 looks resampled onto the S2 dates; empty otherwise."""
    n = _s1_on_s2_dates(arr)
    if not n:
        return ""
    return (f". In this tile every one of the {n} Sentinel-1 dates is also a Sentinel-2 date, all at midnight: the likely cause is "
            "Sentinel-1 resampled onto the Sentinel-2 dates (resample_cube_temporal), which repeats acquisitions on the "
            "Sentinel-2 dates a few days apart; merge_cubes the Sentinel-1 cube on its own dates instead (the UDF pairs the "
            "Sentinel-2 views to them itself)")


@contextlib.contextmanager
def _udf_warnings(kind: str, arr: xr.DataArray) -> Iterator[None]:
    """Warnings of the stages, re-issued in the UDF's terms (:func:`udf_wording`) when the block ends, an error included.

    Each is recorded as the filters in force let it through and shown again
    with the same category and place; the orbit warning gets
    :func:`_orbit_cause`.
    """
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            yield
    finally:
        cause = None
        for w in caught:
            text = str(w.message)
            if isinstance(w.message, UserWarning):
                text = udf_wording(text, kind)
                if text.startswith(_ORBIT_WARNING):
                    cause = _orbit_cause(arr) if cause is None else cause
                    text += cause
            warnings.warn_explicit(text, w.category, w.filename, w.lineno, source=w.source)


def apply_udf(kind: str, cube: Any, context: Mapping[str, Any] | None, runtime_context: Mapping[str, Any] | None = None) -> Any:
    """Run the ``kind`` UDF on an openEO cube.

    Parameters
    ----------
    kind : {"predict", "reconstruct", "phenology"}
        ``predict``: ``NDVI`` predicted from S1 on the fusion cube's dates
        (the S1 dates, or the period centres with ``align: {"freq": ...}``);
        ``reconstruct``: ``NDVI``, ``NDVI_std`` and ``source`` (0 observed,
        1 predicted, 2 interpolated, 3 missing) on the reconstruction's dates;
        ``phenology``: one band per metric and season of the reconstructed
        NDVI (see :func:`fusets_dl.openeo.names.phenology_bands`), on a single
        ``t`` label, 1 January of the first input year, from which the date
        metrics (``sos``, ``pos``, ``eos``) count as day of year (1 = that day);
        a tile of fewer than :data:`PHENOLOGY_MIN_DATES` dates gives every
        band NaN and ``n_seasons`` 0, with a warning (not an error, which
        would fail the whole job).
    cube : openeo.udf.XarrayDataCube or xarray.DataArray
        Dims ``(t, bands, y, x)`` with ``VV``/``VH`` and (required except for
        ``predict``) ``B04``/``B08`` with ``SCL`` or ``CLM``.
    context : mapping or None
        See :func:`fusets_dl.openeo.context.check_context`.
    runtime_context : mapping, optional
        A context merged over ``context`` section by section (what openEO
        passes at run time, over the one baked into the UDF code).

    Returns
    -------
    openeo.udf.XarrayDataCube
        float32 on ``(t, bands, y, x)``, with the input's ``y``/``x``.

    Raises
    ------
    DimensionError
        Dims other than ``(t, bands, y, x)``, or a band label given more than once.
    MissingVariableError
        Bands the UDF needs are absent (the message lists expected and found).
    ModelError, ConfigError
        No model or an unreadable one; unknown context keys or bad options.
    FusionError
        Whatever the stages raise on this tile's data.
    """
    ctx = check_context(kind, merge_context(context, runtime_context))
    what = f"openEO UDF {kind!r}"
    arr = _cube_array(cube, what)
    with _udf_warnings(kind, arr):
        return _run(kind, arr, ctx, what)


def _run(kind: str, arr: xr.DataArray, ctx: Mapping[str, Any], what: str) -> Any:
    """The stages of :func:`apply_udf` on the checked cube and context."""
    model = model_from_context(ctx)
    fusion = _fusion_cube(arr, kind, ctx, what)
    if kind == "predict":
        from ..inference.predict import predict_ndvi

        pred = predict_ndvi(fusion, model, **section(ctx, "predict"))
        return _to_openeo(xr.Dataset({"NDVI": pred}), list(PREDICT_BANDS), arr)
    from ..reconstruction.api import reconstruct

    rec = reconstruct(fusion, model, **section(ctx, "reconstruct"), **section(ctx, "predict"))
    if kind == "reconstruct":
        return _to_openeo(rec, list(RECONSTRUCT_BANDS), arr)
    from ..phenometrics.api import phenology

    opts = section(ctx, "phenology")
    origin = pd.Timestamp(year=pd.Timestamp(rec["time"].values[0]).year, month=1, day=1)
    # phenology refuses fewer than 4 dates, or than min_valid (6 by default): one short tile failed the whole job
    least = max(PHENOLOGY_MIN_DATES, int(opts.get("min_valid", _phenology_default("min_valid"))))
    if rec.sizes["time"] < least:
        n = int(opts.get("max_seasons", _phenology_default("max_seasons")))
        return _to_openeo(_no_phenology(rec, n, what, least), phenology_bands(n), arr, time=origin.to_datetime64())
    ph = phenology(rec["NDVI"], **opts, observed=rec["source"])
    n = int(ph.sizes["season"])
    return _to_openeo(_phenology_dataset(ph, n, origin), phenology_bands(n), arr, time=origin.to_datetime64())


def apply_predict(cube: Any, context: Mapping[str, Any] | None) -> Any:
    """NDVI predicted from Sentinel-1: :func:`apply_udf` with ``kind="predict"``.

    Parameters
    ----------
    cube : openeo.udf.XarrayDataCube
        Dims ``(t, bands, y, x)``.
    context : mapping
        The UDF context (``model`` required).

    Returns
    -------
    openeo.udf.XarrayDataCube
        Band ``NDVI`` on the fusion cube's dates.
    """
    return apply_udf("predict", cube, context)


def apply_reconstruct(cube: Any, context: Mapping[str, Any] | None) -> Any:
    """Gap-filled NDVI: :func:`apply_udf` with ``kind="reconstruct"``.

    Parameters
    ----------
    cube : openeo.udf.XarrayDataCube
        Dims ``(t, bands, y, x)``.
    context : mapping
        The UDF context (``model`` required).

    Returns
    -------
    openeo.udf.XarrayDataCube
        Bands ``NDVI``, ``NDVI_std``, ``source``.
    """
    return apply_udf("reconstruct", cube, context)


def apply_phenology(cube: Any, context: Mapping[str, Any] | None) -> Any:
    """Phenometrics of the gap-filled NDVI: :func:`apply_udf` with ``kind="phenology"``.

    Parameters
    ----------
    cube : openeo.udf.XarrayDataCube
        Dims ``(t, bands, y, x)``.
    context : mapping
        The UDF context (``model`` required).

    Returns
    -------
    openeo.udf.XarrayDataCube
        One band per metric and season, then ``n_seasons``, on one ``t`` label.
    """
    return apply_udf("phenology", cube, context)
