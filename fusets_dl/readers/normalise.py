"""Normalising a raw input: dims, time, canonical band names, CF decoding, subsetting, chunks, orbit.

The helpers here are shared by the readers of this subpackage only.
"""

from __future__ import annotations

import datetime as _dt
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError, ProjError

from .._logging import logger
from ..errors import ConfigError, CRSMismatchError, DimensionError, DuplicateTimeError
from ..validate import DATE_RANGE_TEXT as _DATE_RANGE
from ..validate import cftime_calendar, check_spatial_coords, check_time, naive_utc, parse_date
from .conventions import BANDS, TIME_NAMES, canonical_band_name
from .crs import find_crs
from .stacked import bands_from_band_dim, centre_labels, time_from_dated_bands

__all__: list[str] = ["LAUNCH", "check_bbox_crs", "check_slice_window", "warn_before_launch"]

_SPATIAL_NAMES = (("lat", "lon"), ("latitude", "longitude"), ("northing", "easting"))
_ORBIT_NAMES = ("orbit", "relative_orbit", "sat:relative_orbit", "orbit_direction", "sat:orbit_state")


# --------------------------------------------------------------------------- dims and time

def _rename_time_dim(ds: xr.Dataset, what: str) -> xr.Dataset:
    tnames = [n for n in TIME_NAMES if n in ds.dims]
    if len(tnames) > 1:
        raise DimensionError(f"{what}: expected one time dimension, found several: {tnames}")
    if tnames and tnames[0] != "time":
        ds = ds.rename({tnames[0]: "time"})
    if "time" not in ds.dims:
        raise DimensionError(
            f"{what}: expected a time dimension named one of {TIME_NAMES}, found dims {tuple(ds.dims)}"
        )
    return ds


def _rename_spatial_dims(ds: xr.Dataset, what: str) -> xr.Dataset:
    ren = {}
    for y, x in _SPATIAL_NAMES:
        if y in ds.dims and x in ds.dims and "y" not in ds.dims:
            ren.update({y: "y", x: "x"})
    ds = ds.rename(ren) if ren else ds
    if "y" not in ds.dims or "x" not in ds.dims:
        raise DimensionError(f"{what}: expected spatial dims ('y', 'x'), found dims {tuple(ds.dims)}")
    return ds


def _parse_time_values(ds: xr.Dataset, what: str) -> xr.Dataset:
    tidx = ds.indexes.get("time")
    if ds["time"].dtype.kind in "iuf" and getattr(tidx, "tz", None) is None:
        return ds.assign_coords(time=_numeric_times(ds["time"], what))
    if getattr(tidx, "tz", None) is None and not pd.api.types.is_datetime64_any_dtype(ds["time"].dtype):
        cal = cftime_calendar(ds["time"].values)
        if cal is not None and cal.lower() in _STANDARD_CALENDARS:  # cftime objects of numpy's own calendar: the same dates
            tidx = _standard_cftime(ds["time"].values, cal, what)
            return ds.assign_coords(time=tidx)
        if cal is not None:  # decoded by xarray from a CF calendar numpy datetimes cannot hold (noleap, 360_day, ...)
            raise DimensionError(
                f"{what}: expected 'time' values that parse as dates, found cftime dates (calendar {cal!r}, "
                f"{ds['time'].values[0]!s} first), which numpy datetime64 cannot hold; convert them to the standard calendar "
                f"and pass the Dataset (xr.open_dataset(path) first for a file): {_CONVERT_CALENDAR}"
            )
        try:  # text or objects, e.g. STAC datetime strings "2021-05-01T10:30:00Z"
            tidx = pd.DatetimeIndex(pd.to_datetime(ds["time"].values, utc=_has_tz(ds["time"].values)))
        except (ValueError, TypeError) as exc:
            raise DimensionError(f"{what}: expected 'time' values that parse as dates, found {ds['time'].values[:3]!r}") from exc
        ds = ds.assign_coords(time=tidx)
    if getattr(tidx, "tz", None) is not None:
        logger.warning("%s: timezone-aware times (%s) converted to naive UTC", what, tidx.tz)
        ds = ds.assign_coords(time=naive_utc(tidx))
    return ds


#: How to bring cftime dates (or CF numbers in a calendar other than the standard one) to numpy datetimes; ``align_on="date"``
#: keeps each date's year, month and day (required from and to 360_day) and drops those the standard calendar lacks (30 February).
_CONVERT_CALENDAR = ('ds = ds.convert_calendar("standard", align_on="date", use_cftime=False) '
                     "(dim=... if the time dimension is not named 'time'; dates the standard calendar lacks, such as 30 February, are dropped)")

#: CF calendars whose dates are numpy's (proleptic) Gregorian ones.
_STANDARD_CALENDARS = ("standard", "gregorian", "proleptic_gregorian")


def _standard_cftime(values: np.ndarray, calendar: str, what: str) -> pd.DatetimeIndex:
    """cftime dates of a standard calendar (``use_cftime=True``) as numpy datetimes, to the nanosecond."""
    first = values.ravel()[0]
    julian = calendar.lower() in ("standard", "gregorian") and min(values.ravel()) < type(first)(1582, 10, 15, calendar=calendar)
    if julian:  # before 1582-10-15 the standard calendar is the Julian one: other days than numpy's
        raise DimensionError(f"{what}: expected dates within {_DATE_RANGE}, found cftime dates of the {calendar!r} calendar from "
                             f"{first!s}, before the Gregorian reform; check the epoch or units the times were decoded with")
    text = [d.isoformat() for d in values.ravel()]
    try:
        tidx = pd.DatetimeIndex(pd.to_datetime(text, format="ISO8601"))
    except (ValueError, OverflowError) as exc:
        raise DimensionError(f"{what}: expected dates within {_DATE_RANGE} (datetime64[ns]), found cftime dates {text[0]} .. "
                             f"{text[-1]}; check the epoch or units the times were decoded with") from exc
    logger.info("%s: cftime dates of the %r calendar read as numpy datetimes", what, calendar)
    return tidx


def _has_tz(values: np.ndarray) -> bool:
    """Whether text or object times carry a time zone ("...Z", "+02:00", aware datetimes): they are then read as UTC."""
    try:
        return pd.DatetimeIndex(pd.to_datetime(values[:1])).tz is not None if len(values) else False
    except (ValueError, TypeError):
        return True  # mixed zones cannot be read without utc=True


def _numeric_times(time: xr.DataArray, what: str) -> pd.DatetimeIndex:
    """Dates from numeric times: CF ``units`` ("days since ..."), else YYYYMMDD integers; refuse the rest.

    pandas would read bare numbers as nanoseconds since 1970, silently.
    """
    vals = np.asarray(time.values)
    units = time.attrs.get("units")
    if units is not None and "since" in str(units):
        from xarray.coding.times import decode_cf_datetime

        calendar = time.attrs.get("calendar")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "continuing using cftime.datetime objects": refused below, with the reason
            decoded = np.asarray(decode_cf_datetime(vals, str(units), calendar))
        if decoded.dtype.kind != "M":  # cftime objects: a calendar numpy cannot hold, or dates outside datetime64[ns]
            cal = str(calendar or "standard")
            if cal.lower() in _STANDARD_CALENDARS:
                raise DimensionError(
                    f"{what}: expected dates within {_DATE_RANGE} (datetime64[ns]), found CF numeric times ({units!r}, "
                    f"calendar {cal!r}) that decode to {decoded.ravel()[0]!s} .. {decoded.ravel()[-1]!s}; check the units"
                )
            raise DimensionError(
                f"{what}: expected times in the standard (Gregorian) calendar, found CF numeric times ({units!r}) in the "
                f"calendar {cal!r}, which numpy datetime64 cannot hold; decode and convert them first: "
                "ds = xr.decode_cf(ds, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True)), then "
                + _CONVERT_CALENDAR
            )
        return pd.DatetimeIndex(decoded)
    if vals.size and np.all(np.isfinite(vals)) and np.all(vals == np.round(vals)):
        as_text = [str(int(v)) for v in vals]
        parsed = pd.to_datetime(as_text, format="%Y%m%d", errors="coerce")
        if not parsed.isna().any() and parsed.min() >= pd.Timestamp("1950-01-01"):
            logger.warning("%s: numeric times without units read as YYYYMMDD (%s -> %s)", what, as_text[0], parsed[0].date())
            return pd.DatetimeIndex(parsed)
    raise DimensionError(
        f"{what}: expected datetimes (or numbers with CF units such as 'days since 2000-01-01', or YYYYMMDD), "
        f"found numbers without units {vals[:3]!r} (units={units!r}); decode them first, e.g. "
        "ds['time'] = pd.to_datetime(ds['time'].values, unit='ms') for GEE system:time_start, "
        "or set ds['time'].attrs['units'] = 'days since 2000-01-01'"
    )


def _normalise_dims(ds: xr.Dataset, what: str) -> xr.Dataset:
    """Dims renamed to ``(time, y, x)``, length-one extra dims squeezed, times parsed."""
    ds = _rename_time_dim(ds, what)
    ds = _rename_spatial_dims(ds, what)
    for d in [d for d in ds.dims if d not in ("time", "y", "x")]:
        if ds.sizes[d] == 1:
            ds = ds.squeeze(d, drop=True)
    # a band with another dimension is refused; other variables with one (CF cell bounds such as lat_bnds on
    # (y, x, nv), written by CDO or SNAP) are not read by any stage and are dropped
    extra_dims = [str(v) for v in ds.data_vars if {"y", "x"} <= set(ds[v].dims) and set(ds[v].dims) - {"time", "y", "x"}]
    used = sorted(v for v in extra_dims if canonical_band_name(v) in BANDS)
    unused = [v for v in extra_dims if v not in used]
    if unused:
        logger.info("%s: variables with dimensions other than (time, y, x) dropped (not bands): %s", what, unused)
        ds = ds.drop_vars(unused)
    if used:
        extra = {str(d): int(ds.sizes[d]) for v in used for d in ds[v].dims if d not in ("time", "y", "x")}
        raise DimensionError(
            f"{what}: expected variables on (time, y, x), found the extra dimension(s) {extra} on {used}; "
            "select one element (ds.isel(...)) or drop the variables that carry them"
        )
    _check_spatial_axes(ds, what)
    return _parse_time_values(ds, what)


def _check_spatial_axes(ds: xr.Dataset, what: str) -> None:
    """``x`` and ``y`` finite and strictly monotonic; longitudes wrapping at +-180 (a scene across the antimeridian) named as such."""
    check_spatial_coords(ds, what)
    for d in ("x", "y"):
        if d not in ds.coords or ds.sizes[d] < 2:
            continue
        v = np.asarray(ds[d].values, dtype=np.float64)
        step = np.diff(v)
        if np.all(step > 0) or np.all(step < 0):
            continue
        if d == "x" and np.nanmax(v) > 170 and np.nanmin(v) < -170 and np.nanmax(np.abs(v)) <= 180:
            raise DimensionError(
                f"{what}: expected monotonic x coordinates, found longitudes that wrap from {np.nanmax(v):.4f} to "
                f"{np.nanmin(v):.4f}: a scene across the antimeridian; shift them to 0..360 first, e.g. "
                "ds = ds.assign_coords(x=ds.x % 360).sortby('x'), and do the same for the other sensor"
            )
        raise DimensionError(
            f"{what}: expected strictly increasing or decreasing {d} coordinates, found {v.size} values "
            f"that are not (first {v[:4].tolist()}); sort them (ds.sortby({d!r})) or drop repeated rows/columns"
        )


def _normalise_time(ds: xr.Dataset, what: str, duplicates: str) -> xr.Dataset:
    """Naive UTC times, sorted, duplicates handled as ``duplicates`` says."""
    idx = pd.DatetimeIndex(ds["time"].values)
    if idx.tz is not None:
        ds = ds.assign_coords(time=naive_utc(idx).values)
    if not idx.is_monotonic_increasing:
        ds = ds.sortby("time")
    if pd.DatetimeIndex(ds["time"].values).has_duplicates:
        if duplicates == "raise":
            check_time(ds, what)
        elif duplicates in ("first", "mean"):
            ds = _combine_duplicates(ds, duplicates, what)
        else:
            raise DuplicateTimeError(f"duplicates: expected 'raise', 'first' or 'mean', found {duplicates!r}")
    return ds


#: Bands whose values are class codes: duplicates take the first valid value, never a mean.
_CATEGORICAL = ("SCL", "CLM", "dataMask")


def _convention_fills(name: str, dtype: np.dtype) -> tuple[int, ...]:
    """Nodata the readers know by convention for integer bands, declared or not.

    S2 DN 0 (L2A nodata) and 65535 (openEO/WorldCereal), SCL 0, and the
    openEO compressed S1 counts 0, 65534 and 65535.
    """
    if np.dtype(dtype).kind not in "iu":
        return ()
    if name == "SCL":
        return (0,)
    if name in ("VV", "VH"):
        return (0, 65534, 65535)
    if len(name) == 3 and name[0] == "B" and name[1:] in {f"{k:02d}" for k in range(1, 13)} | {"8A"}:
        return (0, 65535)
    return ()


def _valid(da: xr.DataArray) -> xr.DataArray:
    """Where ``da`` holds data: not NaN, not a declared fill value, not a convention's nodata (before CF decoding)."""
    ok = da.notnull() if da.dtype.kind == "f" else xr.ones_like(da, dtype=bool)
    fills = [f for key in FILL_ATTRS if da.attrs.get(key) is not None for f in np.atleast_1d(da.attrs[key])]
    for f in [*fills, *_convention_fills(str(da.name), da.dtype)]:
        ok = ok & (da != f)
    return ok


def _combine_duplicates(ds: xr.Dataset, how: str, what: str, groups: list[np.ndarray] | None = None) -> xr.Dataset:
    """One date per timestamp, combining the duplicates pixel by pixel, nodata-aware.

    Two tiles of one acquisition loaded without grouping (``odc.stac.load``
    without ``groupby``) are the common case: each is nodata outside its
    footprint. ``"first"``: the first valid value of each pixel (a mosaic,
    as odc-stac's grouping does); ``"mean"``: the mean of the valid values
    (integers rounded back to their dtype, so digital numbers stay digital
    numbers); class bands (``SCL``, ``CLM``, ``dataMask``) always take the
    first valid value. Runs before CF decoding, so the fill values declared
    in the attributes (``_FillValue``, ``missing_value``, ``nodata``) are
    what "valid" excludes; a pixel with no valid value keeps the fill (NaN
    for floats). Per-date coordinates come from the first of each group.
    ``groups``: positions along ``time`` combined into one date each, in
    order (default: equal timestamps; :func:`_merge_passes` groups the slices
    of one pass), the date taking the first one's timestamp. Lazy on Dask
    input.
    """
    if groups is None:
        idx = pd.DatetimeIndex(ds["time"].values)
        codes, uniques = pd.factorize(idx)  # times are sorted, so the codes are too
        groups = [np.flatnonzero(codes == k) for k in range(len(uniques))]
        n_dup = int(sum(len(g) - 1 for g in groups))
        logger.info("%s: %d duplicated timestamps combined (%s, nodata-aware)", what, n_dup, how)
    depth = max(len(g) for g in groups)
    first = ds.isel(time=[int(g[0]) for g in groups])
    out = {}
    for v, da in ds.data_vars.items():
        if "time" not in da.dims:
            continue
        base = first[v]
        ok = _valid(base)
        categorical = how == "first" or str(v) in _CATEGORICAL
        total = None if categorical else xr.where(ok, base, 0).astype(np.float64)
        count = None if categorical else ok.astype(np.int32)
        for j in range(1, depth):
            pos = [int(g[j]) if len(g) > j else int(g[0]) for g in groups]
            exists = xr.DataArray([len(g) > j for g in groups], dims="time", coords={"time": base["time"]})
            nxt = da.isel(time=pos).assign_coords(time=base["time"])
            nok = _valid(nxt) & exists
            if categorical:
                base = xr.where(ok | ~nok, base, nxt)
                ok = ok | nok
            else:
                total = total + xr.where(nok, nxt, 0)
                count = count + nok
        if not categorical:
            mean = total / count.where(count > 0)
            fill = next((np.atleast_1d(da.attrs[k])[0] for k in FILL_ATTRS if da.attrs.get(k) is not None), None)
            if np.issubdtype(da.dtype, np.integer):
                mean = mean.round()
                mean = mean.fillna(fill if fill is not None else 0)
            elif fill is not None:
                mean = mean.fillna(fill)
            base = mean.astype(da.dtype)
        base.attrs = dict(da.attrs)
        base.encoding = dict(da.encoding)
        out[v] = base.transpose(*da.dims)
    return first.assign(out)


#: Timestamps of Sentinel-1 closer than this are slices of one pass (:func:`_merge_passes`): a pass crosses a region
#: in seconds to a few minutes, and the next pass over any place comes at least one orbit (about 99 minutes) later.
SLICE_WINDOW = "10min"
#: Largest window accepted: under one orbit, so two passes are never merged.
SLICE_WINDOW_MAX = pd.Timedelta("60min")
#: Overlapping slices whose valid values differ by more than this share of their value disagree (as stored:
#: 0.5 dB at -10 dB, 0.2 dB in linear power, 0.4 dB in compressed counts); they hold the same echoes.
PASS_OVERLAP_RTOL = 0.05


def check_slice_window(window: Any, what: str) -> pd.Timedelta | None:
    """``slice_window`` checked: a duration in ``[0, 60 min]``, None (or zero) for no merging.

    Parameters
    ----------
    window : object
        The option as given (``"10min"``, a Timedelta, None).
    what : str
        The caller, for the message.

    Returns
    -------
    pandas.Timedelta or None
        The window; None when slices are not merged.

    Raises
    ------
    ConfigError
        Not a duration, negative, or longer than :data:`SLICE_WINDOW_MAX`.
    """
    if window is None:
        return None
    try:
        w = pd.Timedelta(window)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{what}: slice_window: expected a duration such as '10min' (or None), found {window!r}") from exc
    if pd.isna(w) or w < pd.Timedelta(0) or w > SLICE_WINDOW_MAX:
        raise ConfigError(f"{what}: slice_window: expected a duration from 0 to {SLICE_WINDOW_MAX} (the next pass over a place is "
                          f"at least one orbit, about 99 minutes, later), found {window!r}")
    return w if w > pd.Timedelta(0) else None


def _pass_groups(idx: pd.DatetimeIndex, window: pd.Timedelta) -> list[np.ndarray]:
    """Positions of sorted unique timestamps grouped into passes: each group spans at most ``window`` from its first."""
    groups: list[list[int]] = []
    start = None
    for i, t in enumerate(idx):
        if start is None or t - start > window:
            groups.append([i])
            start = t
        else:
            groups[-1].append(i)
    return [np.asarray(g) for g in groups]


def _merge_passes(ds: xr.Dataset, window: Any, what: str, compare: Sequence[str] = ()) -> xr.Dataset:
    """Slices of one pass (timestamps within ``window`` of the group's first) merged into one date, nodata-aware.

    A Sentinel-1 pass is cut into slices of about 25 seconds; loaded scene by
    scene (stackstac, per-scene exports, file lists) the slices that cover a
    region come with timestamps seconds apart, each nodata outside its
    footprint, and became dates of their own, each half empty. They are
    merged as ``duplicates="first"`` merges tiles of one timestamp
    (:func:`_combine_duplicates`): each pixel takes the first valid value in
    time order, and the date the earliest timestamp. Logged at INFO with the
    count. Where the slices overlap and the values of ``compare`` disagree by
    more than :data:`PASS_OVERLAP_RTOL` of their value, the first is kept and
    a warning says so (counted in memory; per chunk on Dask when computed).
    Exact duplicates must be handled before (``duplicates``). Lazy on Dask.
    """
    w = check_slice_window(window, what)
    idx = pd.DatetimeIndex(ds["time"].values)
    if w is None or idx.size < 2 or idx.has_duplicates or not (np.diff(idx.values) <= w.to_timedelta64()).any():
        return ds
    groups = _pass_groups(idx, w)
    merged = [g for g in groups if len(g) > 1]
    span = max((idx[g[-1]] - idx[g[0]]) for g in merged)
    logger.info("%s: %d acquisitions within %s of one another merged into %d dates (slices of one pass, at most %s apart): each "
                "pixel takes the first valid value, the date the earliest timestamp (slice_window=None keeps them apart)",
                what, int(sum(len(g) for g in merged)), w, len(merged), span)
    out = _combine_duplicates(ds, "first", what, groups)
    for v in compare:
        if v in ds.data_vars and "time" in ds[v].dims:
            out[v] = _guard_overlap(out[v], ds[v], groups, what)
    return out


def _guard_overlap(merged: xr.DataArray, da: xr.DataArray, groups: list[np.ndarray], what: str) -> xr.DataArray:
    """``merged`` with a warning where a later slice's valid value disagrees with the one kept (in memory now, per chunk on Dask)."""
    from .._warn import warn_user

    depth = max(len(g) for g in groups)
    ok = _valid(merged)
    m = merged.astype(np.float64)
    bad = None
    for j in range(1, depth):
        pos = [int(g[j]) if len(g) > j else int(g[0]) for g in groups]
        nxt = da.isel(time=pos).assign_coords(time=merged["time"]).transpose(*merged.dims)
        n = nxt.astype(np.float64)
        differs = ok & _valid(nxt) & (abs(m - n) > PASS_OVERLAP_RTOL * np.maximum(abs(m), abs(n)))
        bad = differs if bad is None else bad | differs
    if bad is None:
        return merged
    verdict = (f"{merged.name}: slices of one pass overlap with values that differ by more than {100 * PASS_OVERLAP_RTOL:g}% "
               "(the same echoes should agree within noise: two products, or a pass mixed with another?); the first "
               "slice's values are kept")
    if merged.chunks is None:
        n_bad = int(bad.sum())
        if n_bad:
            warn_user(f"{what}: {verdict} ({n_bad} pixel-dates)")
        return merged
    import dask.array as dsa

    def _block(values: np.ndarray, flags: np.ndarray) -> np.ndarray:
        if flags.any():
            warn_user(f"{what}: {verdict} (in a chunk)")
        return values

    flags = bad.transpose(*merged.dims).chunk(dict(zip(merged.dims, merged.chunks, strict=True)))
    return merged.copy(data=dsa.map_blocks(_block, merged.data, flags.data, dtype=merged.dtype))


def _canonical_names(ds: xr.Dataset, what: str) -> tuple[xr.Dataset, dict[str, str]]:
    """Variables renamed to canonical band names; returns the Dataset and the original names."""
    original: dict[str, str] = {}
    rename: dict[str, str] = {}
    # FORCE BOA stacks name Sentinel-2 B08 BROADNIR and B8A NIR: where BROADNIR is present, NIR is B8A (the Earth Search
    # alias nir -> B08 took it for B08, NDVI +0.02 silently)
    force = any(str(v).upper() == "BROADNIR" for v in ds.data_vars)
    if force:
        logger.info("%s: BROADNIR present (a FORCE BOA stack): BROADNIR read as B08 and NIR as B8A", what)
    for v in ds.data_vars:
        c = "B8A" if force and str(v).upper() == "NIR" else canonical_band_name(str(v))
        original[c] = str(ds[v].attrs.get("source_name", v))
        if c != v:
            if c in rename.values() or (c in ds.data_vars and c != v):
                raise DimensionError(f"{what}: variables {v!r} and {c!r} both map to band {c!r}")
            rename[str(v)] = c
    return (ds.rename(rename) if rename else ds), original


def _prepare(raw: xr.Dataset, what: str, duplicates: str) -> tuple[xr.Dataset, CRS | None, dict[str, str]]:
    """Common normalisation: dims, canonical names, CRS; returns (ds, crs, original names)."""
    if "band" in raw.dims:
        raw = bands_from_band_dim(raw, what)
    else:  # stackstac.stack(...).to_dataset("band"): the affine in the Dataset's (or its bands') attributes
        held = next((a for a in (raw.attrs, *(raw[v].attrs for v in raw.data_vars)) if "transform" in a), None)
        raw = centre_labels(raw, held, what) if held is not None else raw
    raw = time_from_dated_bands(raw, what)
    small = [c for c in raw.coords if c not in raw.dims and raw[c].chunks is not None and raw[c].ndim <= 1]
    if small:  # per-time metadata (processing baseline, orbit) chunked along with the data: one small compute
        import dask

        raw = raw.assign_coords(dict(zip(small, dask.compute(*[raw[c] for c in small]), strict=True)))
    crs = find_crs(raw)
    ds = _normalise_dims(raw, what)
    drop = [v for v in ds.variables if v in ("crs", "spatial_ref") or (ds[v].dtype.kind in "SU" and ds[v].ndim == 0)]
    ds = ds.drop_vars(drop, errors="ignore")
    ds, original = _canonical_names(ds, what)
    ds = _normalise_time(ds, what, duplicates)
    return ds, crs, original


# --------------------------------------------------------------------------- CF decoding

def _mask_fills(out: xr.DataArray, data: xr.DataArray, fills: list[Any], finite_only: bool) -> xr.DataArray:
    for f in fills:
        for fv in np.atleast_1d(f):
            if not finite_only or np.isfinite(fv):
                out = out.where(data != fv)
    return out


def _scale_offset(out: xr.DataArray, scale: Any, offset: Any) -> xr.DataArray:
    if scale is not None:
        out = out * float(np.asarray(scale).ravel()[0])
    if offset is not None:
        out = out + float(np.asarray(offset).ravel()[0])
    return out


#: Attributes that declare a nodata value: CF, and ``nodata`` as odc-stac and rioxarray write it.
FILL_ATTRS: tuple[str, ...] = ("_FillValue", "missing_value", "nodata")

#: Float values at or above this are missing: the netCDF default fill of floats
#: (9.96921e36) appears in files that do not declare it.
NETCDF_DEFAULT_FILL_FLOOR = 9e36


def _decode(da: xr.DataArray) -> xr.DataArray:
    """Apply ``_Unsigned``, fill values, ``scale_factor`` and ``add_offset`` (CF packing).

    Fill values come from ``_FillValue``, ``missing_value`` or ``nodata``;
    float values >= 9e36 (the undeclared netCDF default fill) are missing too.
    Returns float (float64 for scaled or filled integers, to keep exact
    decoding; callers cast) with NaN for nodata; lazy on Dask input.
    """
    attrs = dict(da.attrs)
    enc = dict(da.encoding)
    data = da
    if str(attrs.pop("_Unsigned", "")).lower() == "true" and np.issubdtype(da.dtype, np.signedinteger):
        udt = np.dtype(f"u{da.dtype.itemsize}")
        data = da.copy(data=da.data.view(udt))
    fills = [attrs.pop(key) for key in FILL_ATTRS if key in attrs and attrs[key] is not None]
    scale = attrs.pop("scale_factor", None)
    offset = attrs.pop("add_offset", None)
    if np.issubdtype(data.dtype, np.integer) and (fills or scale is not None or offset is not None):
        out = _mask_fills(data.astype(np.float64), data, fills, finite_only=False)
        out = _scale_offset(out, scale, offset)
        out.attrs = attrs
        out.encoding = enc
        return out
    if np.issubdtype(data.dtype, np.floating):
        out = _mask_fills(data, data, fills, finite_only=True).where(~(data >= NETCDF_DEFAULT_FILL_FLOOR))
        out = _scale_offset(out, scale, offset)
        out.attrs = attrs
        return out
    data.attrs = attrs
    return data


#: Chunks (across the dimensions other than time) that the sample of a Dask array reads at most.
SAMPLE_MAX_CHUNKS = 4

#: Where those chunks lie: fractions of the chunk grid along the first two non-time dimensions, the central chunk first.
_SAMPLE_SPOTS = ((0.5, 0.5), (0.25, 0.25), (0.75, 0.75), (0.25, 0.75), (0.75, 0.25), (0.0, 0.0), (1.0, 1.0))


def _sample_windows(da: xr.DataArray) -> list[dict[Any, slice]] | None:
    """Strided windows of at most :data:`SAMPLE_MAX_CHUNKS` chunks of a Dask ``da``; None for NumPy or few chunks.

    The chunks lie spread over the chunk grid of the dimensions other than
    ``time`` (:data:`_SAMPLE_SPOTS`: the central one, then the quarter
    points); each window takes about 16 values per dimension of its chunk.
    None where ``da`` is NumPy-backed or has no more than
    :data:`SAMPLE_MAX_CHUNKS` such chunks: the strided sample of the whole
    array then reads no more.
    """
    if da.chunks is None:
        return None
    other = [d for d in da.dims if d != "time"]
    edges = {d: np.concatenate([[0], np.cumsum(da.chunks[da.dims.index(d)])]).astype(int) for d in other}
    nblocks = {d: len(edges[d]) - 1 for d in other}
    if int(np.prod([nblocks[d] for d in other])) <= SAMPLE_MAX_CHUNKS:
        return None
    picks: list[tuple[int, ...]] = []
    for spot in _SAMPLE_SPOTS:
        idx = tuple(min(int(spot[i % 2] * nblocks[d]), nblocks[d] - 1) for i, d in enumerate(other))
        if idx not in picks:
            picks.append(idx)
        if len(picks) == SAMPLE_MAX_CHUNKS:
            break
    windows = []
    for idx in picks:
        win = {}
        for d, b in zip(other, idx, strict=True):
            lo, hi = int(edges[d][b]), int(edges[d][b + 1])
            win[d] = slice(lo, hi, max(1, (hi - lo) // 16))
        windows.append(win)
    return windows


def _sample_parts(da: xr.DataArray, all_dates: bool = False) -> list[xr.DataArray]:
    """The pieces of ``da`` that :func:`_sample` reads (lazy on Dask input): the first 4 dates, or all with ``all_dates``.

    NumPy-backed arrays, and Dask ones of at most :data:`SAMPLE_MAX_CHUNKS`
    chunks across the dimensions other than time: one piece, a stride of
    ``size // 32`` on each of those dimensions (y and x, or points). Dask
    arrays of more chunks: one piece per window of :func:`_sample_windows`,
    so the sample depends on at most that many chunks of each time chunk
    it covers, not on every chunk of the tile (with ``time`` as one chunk,
    each is the whole series).
    """
    nt = da.sizes.get("time", 1)
    sub = da.isel(time=slice(0, min(nt, 4))) if "time" in da.dims and not all_dates else da
    windows = _sample_windows(da)
    if windows is None:
        # a stride on y and x (or on whatever other dimensions a series has: points, pixels)
        return [sub.isel({d: slice(None, None, max(1, da.sizes[d] // 32)) for d in da.dims if d != "time"})]
    return [sub.isel(w) for w in windows]


def _sample(da: xr.DataArray, n: int = 4096) -> np.ndarray:
    """A small strided sample of ``da`` (computes only that sample on Dask input).

    The first 4 dates of a strided set of pixels (:func:`_sample_parts`);
    all the dates of those pixels when the first 4 hold no finite value.
    A Dask array of many chunks is sampled in at most
    :data:`SAMPLE_MAX_CHUNKS` of them, read in one compute.
    """
    nt = da.sizes.get("time", 1)
    vals = _sample_values(_sample_parts(da))
    if np.isfinite(vals).sum() == 0 and nt > 4:
        vals = _sample_values(_sample_parts(da, all_dates=True))
    return vals[:n * 16]


def _sample_values(parts: list[xr.DataArray]) -> np.ndarray:
    """The values of ``parts`` as one float64 vector (one compute for Dask pieces)."""
    if any(p.chunks is not None for p in parts):
        import dask

        parts = list(dask.compute(*parts))
    return np.concatenate([np.asarray(p.values, dtype=np.float64).ravel() for p in parts])


# --------------------------------------------------------------------------- output

def _time_chunks(chunks: Any) -> Any:
    """Time-series kernels need ``time`` as one chunk: default it to -1."""
    if isinstance(chunks, Mapping):
        out = dict(chunks)
        out.setdefault("time", -1)
        return out
    if chunks == "auto":
        return {"time": -1, "y": "auto", "x": "auto"}
    return chunks


#: Launch of the first satellite of each mission: a date before it is no acquisition (a wrong epoch or time unit).
LAUNCH = {"Sentinel-1": np.datetime64("2014-04-03"), "Sentinel-2": np.datetime64("2015-06-23")}


def warn_before_launch(ds: xr.Dataset, sensor: str, what: str) -> None:
    """Warn when ``ds`` has dates before ``sensor``'s first satellite was launched (:data:`LAUNCH`).

    Such dates are decoded with a wrong epoch or unit (days since 2000 read
    as since 1970, seconds read as days), or are another mission's data.

    Parameters
    ----------
    ds : xarray.Dataset
        A reader's output (its ``time``).
    sensor : {"Sentinel-1", "Sentinel-2"}
        The mission.
    what : str
        The caller, for the message.
    """
    t = np.asarray(ds["time"].values)
    early = t[t < LAUNCH[sensor]] if t.dtype.kind == "M" else t[:0]
    if early.size:
        from .._warn import warn_user

        warn_user(f"{what}: {early.size} of {t.size} dates fall before {sensor}'s launch ({LAUNCH[sensor]}), first "
                  f"{str(early[0])[:10]}: no acquisition can have them; check the epoch or units the times were decoded with "
                  "(e.g. 'days since 2000-01-01' read from 1970)")


def _finish(ds: xr.Dataset, crs: CRS | None, chunks: Any, what: str) -> xr.Dataset:
    """CRS written (or a warning), ``(time, y, x)`` order, chunks with ``time`` as one chunk."""
    if crs is not None:
        ds = ds.rio.write_crs(crs)
    elif "point" in ds.coords:  # open_points' pseudo-grid: positions are the points' lon/lat, no CRS to find
        logger.info("%s: a point pseudo-grid (x: point number, lon/lat along it): no CRS", what)
    else:
        logger.warning("%s: no CRS found (expected a CF grid mapping, spatial_ref or an 'epsg' attribute)", what)
    ds = ds.transpose("time", "y", "x", ...)
    if chunks is not None:
        spec = _time_chunks(chunks)
        ds = ds.assign({v: ds[v].chunk({k: c for k, c in spec.items() if k in ds[v].dims} if isinstance(spec, dict) else spec) for v in ds.data_vars})
    else:
        ds = _time_as_one_chunk(ds, what)
    # small per-time or static coordinates (orbit, a per-date incidence angle) stay in memory; open_s1 attaches the
    # incidence angle after this, so the per-date mean of a per-pixel angle on Dask stays lazy
    small = {c: ds[c].compute() for c in ds.coords if c not in ds.dims and ds[c].chunks is not None and ds[c].ndim <= 1}
    return ds.assign_coords(small) if small else ds


def _time_as_one_chunk(ds: xr.Dataset, what: str, *, keep_spatial: bool = False, keep: tuple[int, int] | None = None) -> xr.Dataset:
    """Dask variables whose ``time`` is split (odc-stac loads one date per chunk) rechunked to one ``time`` chunk.

    Every stage reads whole series. The readers call this on the bands as
    read, before decoding them, so the decoding runs on the merged chunks
    (not once per date chunk), and again when finishing (a no-op unless a
    step split ``time``). The spatial chunks keep the input's chunk
    boundaries: :func:`_series_chunks` splits each input chunk into
    power-of-two pieces, or groups a power of two of them, so that a
    float32 ``(time, y, x)`` chunk stays at or under Dask's
    ``array.chunk-size`` (128 MiB) and within a factor 4 of it where it can.
    The rule depends only on the input's spatial chunks, the array's size
    and the number of dates: S1 and S2 read with the same spatial chunks get
    equal spatial chunks, or ones that nest (one a power-of-two multiple of
    the other) where their numbers of dates differ enough, so ``align``
    rechunks without splitting chunks into odd pieces. With
    ``keep_spatial`` (chunks given by the caller, applied afterwards) the
    input's spatial chunks are kept as they are. ``keep``: positions
    ``(start, stop)`` of the dates a ``time_range`` keeps, merged into a
    chunk of their own (the dates before and after into others), so that
    selecting them later reads no other date. Every variable gets the same
    chunks. Lazy: nothing is computed.
    """
    split = [v for v in ds.data_vars if ds[v].chunks is not None and "time" in ds[v].dims
             and len(ds[v].chunks[ds[v].dims.index("time")]) > 1]
    if not split:
        return ds
    ref = ds[split[0]]
    dims = [d for d in ("y", "x") if d in ref.dims]
    n_time, nt = len(ref.chunks[ref.dims.index("time")]), ref.sizes["time"]
    start, stop = keep if keep is not None else (0, nt)
    tchunks: Any = -1 if (start, stop) == (0, nt) else tuple(n for n in (start, stop - start, nt - stop) if n > 0)
    if keep_spatial:
        spec: dict[str, Any] = {"time": tchunks}
    else:
        new = _series_chunks([ref.chunks[ref.dims.index(d)] for d in dims], max(stop - start, 1))
        spec = {"time": tchunks, **dict(zip(dims, new, strict=True))}
    logger.info("%s: time came in %d chunks; rechunked to one%s (spatial chunks %s) as every stage reads whole series",
                what, n_time, "" if tchunks == -1 else f" for the {stop - start} dates time_range keeps",
                {d: max(spec[d]) if d in spec else max(ref.chunks[ref.dims.index(d)]) for d in dims})
    return ds.assign({v: ds[v].chunk({k: c for k, c in spec.items() if k in ds[v].dims})
                      for v in ds.data_vars if ds[v].chunks is not None})


def _whole_series(ds: xr.Dataset, chunks: Any, what: str, time_range: Any = None) -> xr.Dataset:
    """The bands as read, with a split ``time`` merged into one chunk before any decoding (:func:`_time_as_one_chunk`).

    Decoding, masking and NDVI then run once per merged chunk instead of
    once per date chunk (odc-stac's one date per chunk made each of those
    steps a layer of dates x chunks tasks). With ``chunks`` given by the
    caller the input's spatial chunks are kept here and the caller's chunks
    applied when finishing, as before; a ``chunks`` that splits ``time``
    leaves ``ds`` alone. The dates ``time_range`` keeps get a chunk of
    their own, so the selection made after decoding reads only them.
    """
    if chunks is not None:
        spec = _time_chunks(chunks)
        if not (isinstance(spec, Mapping) and spec.get("time") == -1):
            return ds
    return _time_as_one_chunk(ds, what, keep_spatial=chunks is not None, keep=_range_positions(ds, time_range))


def _range_positions(ds: xr.Dataset, time_range: Any) -> tuple[int, int] | None:
    """Positions ``(start, stop)`` of the dates ``time_range`` keeps (as :func:`_subset` selects them); None without one.

    None too for a ``time_range`` that does not parse or keeps no date:
    :func:`_subset` refuses it later, with its message.
    """
    if time_range is None or isinstance(time_range, (str, bytes)) or not hasattr(time_range, "__len__") or len(time_range) != 2:
        return None
    try:
        t0 = parse_date(time_range[0], "time_range start") if time_range[0] is not None else None
        t1 = _range_end(time_range[1]) if time_range[1] is not None else None
    except (ConfigError, ValueError, TypeError, OverflowError):
        return None
    idx = pd.DatetimeIndex(ds["time"].values)
    start = int(idx.searchsorted(t0, side="left")) if t0 is not None else 0
    stop = int(idx.searchsorted(t1, side="right")) if t1 is not None else len(idx)
    return (start, stop) if stop > start else None


def _series_chunks(chunks: Sequence[tuple[int, ...]], n_dates: int, itemsize: int = 4,
                   target: int | None = None) -> list[tuple[int, ...]]:
    """Spatial chunks for whole series: the input's ``chunks`` split into, or grouped by, a power of two.

    One exponent ``j`` for every spatial dimension: ``j < 0`` splits each
    input chunk into pieces of the largest power of two under its largest
    chunk, halved ``-j - 1`` times (the last piece of each chunk shorter);
    ``j > 0`` groups ``2**j`` consecutive input chunks (capped at the whole
    dimension). The largest ``j`` whose ``n_dates x y x x`` chunk of
    ``itemsize`` bytes stays within ``target`` (Dask's ``array.chunk-size``
    by default) is taken, so the chunk is over a quarter of ``target``
    unless the dimensions run out. Input boundaries are kept, and two
    arrays with the same input chunks get chunks that are equal or nest.
    """
    import dask
    from dask.utils import parse_bytes

    if target is None:
        target = int(parse_bytes(dask.config.get("array.chunk-size")))
    tops = [max(int(max(c)), 1) for c in chunks]

    def largest(j: int) -> list[int]:  # the largest chunk along each dimension at exponent j
        if j >= 0:
            return [max(sum(c[i:i + 2 ** j]) for i in range(0, len(c), 2 ** j)) for c in chunks]
        return [min(t, max(1, 2 ** (int(np.floor(np.log2(t - 1))) + 1 + j))) if t > 1 else 1 for t in tops]

    def nbytes(j: int) -> int:
        return int(n_dates) * int(np.prod(largest(j))) * itemsize

    j = 0
    if nbytes(0) > target:
        while nbytes(j) > target and any(v > 1 for v in largest(j)):
            j -= 1
    else:
        while any(len(c) > 2 ** j for c in chunks) and nbytes(j + 1) <= target:
            j += 1
    if j >= 0:
        return [tuple(sum(c[i:i + 2 ** j]) for i in range(0, len(c), 2 ** j)) for c in chunks]
    pieces = largest(j)
    return [tuple(int(q) for ch in c for q in _pieces(int(ch), p)) for c, p in zip(chunks, pieces, strict=True)]


def _pieces(n: int, p: int) -> list[int]:
    """``n`` split into pieces of ``p``, the last one shorter."""
    return [p] * (n // p) + ([n % p] if n % p else [])


def _subset(ds: xr.Dataset, time_range: tuple[Any, Any] | None, bbox: Sequence[float] | None, what: str,
            bbox_crs: Any = None) -> xr.Dataset:
    """Dates within ``time_range`` (inclusive, see :func:`_range_end`) and pixels within ``bbox`` (in ``bbox_crs``,
    the data CRS when None: see :func:`_clip_bbox`)."""
    src = check_bbox_crs(bbox_crs, what)  # refused before any subsetting, with or without a bbox
    if time_range is not None:
        if isinstance(time_range, (str, bytes)) or not hasattr(time_range, "__len__") or len(time_range) != 2:
            raise ConfigError(f"{what}: time_range: expected (start, end) dates such as ('2021-03-01', '2021-03-31') "
                              f"(None for an open end), found {time_range!r}")
        start, end = time_range
        t0 = parse_date(start, f"{what}: time_range start") if start is not None else None
        t1 = _range_end(end, f"{what}: time_range end") if end is not None else None
        if t0 is not None and t1 is not None and t0 > t1:
            raise ConfigError(f"{what}: time_range: expected the start on or before the end, found start {t0} after end {t1} "
                              f"(given as {time_range!r}; reversed?)")
        ds = ds.sel(time=slice(t0, t1))
        if ds.sizes["time"] == 0:
            raise DimensionError(f"{what}: no dates left in time_range {time_range}")
    if bbox is not None:
        ds = _clip_bbox(ds, bbox, what, src)
    return ds


def _range_end(end: Any, what: str = "time_range end") -> pd.Timestamp:
    """The last instant the end of a ``time_range`` includes (naive UTC, nanoseconds; parsed by :func:`parse_date`).

    An end without a time of day (``"2021-03-02"``, ``datetime.date``,
    ``np.datetime64("2021-03-02")``) includes that whole day, to its last
    nanosecond: an acquisition at 22:10 that day is kept, as the docs and
    phenology's ``period`` have it; a coarser one (``"2021-03"``,
    ``"2021"``) its whole month or year, as pandas' partial dates select.
    An end with a time of day (``"2021-03-02T12:00"``, ``datetime``,
    ``pd.Timestamp``, even at midnight) is inclusive to that instant.
    """
    start = parse_date(end, what)  # refuses numbers, non-ISO text, NaT and dates outside datetime64[ns]
    if isinstance(end, _dt.datetime):  # pd.Timestamp too: an instant, whatever its time of day
        return start
    if isinstance(end, _dt.date):
        return _last_instant(lambda: start + pd.Timedelta(days=1))
    if isinstance(end, np.datetime64):
        unit = np.datetime_data(end.dtype)[0]
        if unit in ("D", "W", "M", "Y"):
            return _last_instant(lambda: pd.Timestamp(end + np.timedelta64(1, unit)))
        return start
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "dropping the time zone": a zone means a time of day, see below
            period = pd.Period(str(end).strip())
    except (ValueError, TypeError, OverflowError):
        period = None
    if period is not None and period.freqstr[:1] in ("D", "M", "Y", "A", "Q", "W"):
        return _last_instant(lambda: (period + 1).start_time)  # a day (or month, year) without a time of day: all of it
    return start


def _last_instant(next_start: Any) -> pd.Timestamp:
    """The nanosecond before ``next_start()``; the last of datetime64[ns] where that is beyond it (an end in 2262)."""
    try:
        return pd.Timestamp(next_start()).as_unit("ns") - pd.Timedelta(1, "ns")
    except (ValueError, OverflowError):  # OutOfBoundsDatetime
        return pd.Timestamp.max


def check_bbox_crs(value: Any, what: str) -> CRS | None:
    """The CRS a ``bbox`` is given in: None (the data's own CRS) or anything :meth:`pyproj.CRS.from_user_input` reads.

    Parameters
    ----------
    value : Any
        ``None``, ``"EPSG:4326"``, ``4326``, a WKT or PROJ string, a
        :class:`pyproj.CRS` or a rasterio CRS.
    what : str
        Names the input in messages.

    Returns
    -------
    pyproj.CRS or None
        The CRS, None for the data's own.

    Raises
    ------
    ConfigError
        A value pyproj does not read as a CRS (``True``, ``"EPSG:99999"``, ``"WGS 84 lonlat"``).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{what}: bbox_crs: expected a CRS such as \"EPSG:4326\" or 4326 (None: the data's CRS), found {value!r}")
    try:
        return CRS.from_user_input(value)
    except (CRSError, TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: bbox_crs: expected a CRS pyproj reads (\"EPSG:4326\", 4326, a WKT or PROJ string, a CRS "
                          f"object; None: the data's CRS), found {value!r}: {exc}") from exc


def _check_box(bbox: Sequence[float], what: str, src: CRS | None) -> tuple[float, float, float, float]:
    """Four finite numbers, min < max; in a geographic ``src``, longitudes within +-180 and latitudes within +-90."""
    if isinstance(bbox, (str, bytes)) or not hasattr(bbox, "__len__") or len(bbox) != 4:
        raise ConfigError(f"{what}: bbox: expected (minx, miny, maxx, maxy), found {bbox!r}")
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: bbox: expected (minx, miny, maxx, maxy), four numbers, found {tuple(bbox)!r}") from exc
    if not all(np.isfinite((minx, miny, maxx, maxy))):
        raise ConfigError(f"{what}: bbox: expected four finite numbers (minx, miny, maxx, maxy), found {tuple(bbox)!r}")
    geographic = src is not None and src.is_geographic
    if minx >= maxx or miny >= maxy:
        across = (" (a box across the antimeridian, minx > maxx in longitude, is not supported: split it into two boxes, "
                  "one each side of 180 degrees)") if geographic and minx > maxx else ""
        raise ConfigError(f"{what}: bbox: expected minx < maxx and miny < maxy, found {tuple(bbox)!r}{across}")
    if geographic and not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
        raise ConfigError(f"{what}: bbox: expected (min lon, min lat, max lon, max lat) in {src.to_string()}, longitudes "
                          f"within -180..180 and latitudes within -90..90, found {tuple(bbox)!r} (latitude first? "
                          "a box across the antimeridian: split it into two)")
    return minx, miny, maxx, maxy


#: Points along each edge of a ``bbox`` when it is carried into the data's CRS (its edges curve there).
BBOX_DENSIFY = 101


def _outline(box: tuple[float, float, float, float], n: int = BBOX_DENSIFY) -> tuple[np.ndarray, np.ndarray]:
    """The boundary of ``box``, counter-clockwise, ``n`` points inserted along each edge (x, y arrays)."""
    minx, miny, maxx, maxy = box
    f = np.linspace(0.0, 1.0, n + 2)[:-1]  # each edge from its first corner, the next edge adds the next corner
    x = np.concatenate([minx + f * (maxx - minx), np.full(f.size, maxx), maxx - f * (maxx - minx), np.full(f.size, minx)])
    y = np.concatenate([np.full(f.size, miny), miny + f * (maxy - miny), np.full(f.size, maxy), maxy - f * (maxy - miny)])
    return x, y


def _box_to_data_crs(box: tuple[float, float, float, float], src: CRS, dst: CRS, what: str
                     ) -> tuple[tuple[float, float, float, float], np.ndarray | None]:
    """The box given in ``src`` as the data CRS ``dst`` holds it: the envelope of its densified edges, and that outline.

    The envelope covers the whole area asked for (the box's edges curve in
    another CRS, and a lon/lat box is a trapezoid in UTM); the outline (None
    where it does not span the envelope, a pole inside it) measures the
    share of it the data cover. A box across the antimeridian in a
    geographic data CRS, and one whose edges do not transform to finite
    coordinates (a point 90 degrees from a transverse Mercator's central
    meridian, a pole in Mercator) are refused.
    """
    transformer = Transformer.from_crs(src, dst, always_xy=True)
    given = f"bbox {box!r} in {src.to_string()}"
    try:
        env = tuple(float(v) for v in transformer.transform_bounds(*box, densify_pts=BBOX_DENSIFY))
        x, y = transformer.transform(*_outline(box))
    except ProjError as exc:
        raise ConfigError(f"{what}: {given}: expected a box that can be carried into the data's CRS ({dst.to_string()}), "
                          f"found: {exc}; give it in the data's CRS") from exc
    outline = np.column_stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)])
    if not (np.isfinite(env).all() and np.isfinite(outline).all()):
        raise ConfigError(f"{what}: {given}: expected a box whose edges transform to finite coordinates in the data's CRS "
                          f"({dst.to_string()}), found points outside that projection's domain (a pole, or a box far from "
                          "the data's zone): give a smaller box, or the box in the data's CRS")
    if dst.is_geographic and env[0] > env[2]:
        raise ConfigError(f"{what}: {given}: crosses the antimeridian in the data's CRS ({dst.to_string()}: longitudes "
                          f"{env[0]:.6g} .. {env[2]:.6g}): expected a box on one side of 180 degrees; split it into two")
    span = max(env[2] - env[0], env[3] - env[1])
    spans = np.allclose([outline[:, 0].min(), outline[:, 1].min(), outline[:, 0].max(), outline[:, 1].max()], env, rtol=0, atol=1e-6 * span)
    return env, outline if spans else None  # type: ignore[return-value]


def _clip_bbox(ds: xr.Dataset, bbox: Sequence[float], what: str, src: CRS | None = None) -> xr.Dataset:
    """Pixels within ``bbox`` (given in ``src``, the data's CRS when None); a typed error naming both extents when none are.

    A box in another CRS is carried into the data's (:func:`_box_to_data_crs`)
    and every pixel its envelope touches is kept (lazily: coordinates only).
    """
    box = _check_box(bbox, what, src)
    crs = ds.rio.crs
    dst = CRS.from_user_input(crs) if crs is not None else None
    env, outline, given = box, None, ""
    if src is not None and dst is None:
        raise CRSMismatchError(f"{what}: bbox_crs={src.to_string()} given, but the data have no CRS to carry the bbox into: "
                               "expected a CRS on the input (a CF grid mapping, an `epsg` attribute, ds.rio.write_crs(...)), "
                               "found none; or give the bbox in the data's coordinates, without bbox_crs")
    if src is not None and dst is not None and src != dst:
        env, outline = _box_to_data_crs(box, src, dst, what)
        given = f" in {src.to_string()}"
    from rioxarray.exceptions import RioXarrayError

    try:
        clipped = ds.rio.clip_box(*env)
    except RioXarrayError as exc:  # NoDataInBounds, OneDimensionalRaster: no pixel of the grid in the box
        raise _no_pixel(ds, box, env, src if given else None, what) from exc
    _warn_partial_bbox(clipped, env, what, outline=outline, given=(box, given) if given else None)
    return clipped


def _no_pixel(ds: xr.Dataset, box: tuple[float, ...], env: tuple[float, ...], src: CRS | None, what: str) -> DimensionError:
    """The error of a bbox that holds no pixel: the box, in the data's CRS too, the data's extent, a likely cause."""
    x, y = np.asarray(ds["x"].values, dtype=np.float64), np.asarray(ds["y"].values, dtype=np.float64)
    crs = ds.rio.crs
    name = crs.to_string() if crs is not None else "unknown"
    extent = tuple(round(v, 3) for v in (float(x.min()), float(y.min()), float(x.max()), float(y.max())))
    if src is None:
        hint = ""
        if crs is not None and not crs.is_geographic and max(abs(v) for v in box) <= 180:
            hint = (f"; the bbox looks like degrees (longitude/latitude) but the data are in {name} (metres): give "
                    "bbox_crs=\"EPSG:4326\" with it (longitude first: min lon, min lat, max lon, max lat), or the box in "
                    "the data's CRS")
        return DimensionError(f"{what}: bbox {box!r} holds no pixel: expected it in the data's CRS ({name}), overlapping the "
                              f"data's extent (pixel centres, minx, miny, maxx, maxy) = {extent}{hint}")
    order = " (longitude first: min lon, min lat, max lon, max lat)" if src.is_geographic else ""
    return DimensionError(f"{what}: bbox {box!r} in {src.to_string()}{order} holds no pixel: it covers "
                          f"{tuple(round(v, 3) for v in env)} in the data's CRS ({name}), expected it overlapping the data's "
                          f"extent (pixel centres, minx, miny, maxx, maxy) = {extent}; another tile?")


#: Share of a ``bbox`` the data must cover for the clip to pass without a warning.
BBOX_COVER_WARN = 0.9


def _polygon_area(p: np.ndarray) -> float:
    """Area of a simple polygon of ``(n, 2)`` vertices (shoelace)."""
    if len(p) < 3:
        return 0.0
    x, y = p[:, 0], p[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _clip_polygon(p: np.ndarray, rect: tuple[float, float, float, float]) -> np.ndarray:
    """The part of polygon ``p`` ``(n, 2)`` inside the axis-aligned ``rect`` (Sutherland-Hodgman)."""
    for axis, bound, below in ((0, rect[0], False), (0, rect[2], True), (1, rect[1], False), (1, rect[3], True)):
        if len(p) == 0:
            break
        inside = p[:, axis] <= bound if below else p[:, axis] >= bound
        out: list[np.ndarray] = []
        for i in range(len(p)):
            a, b = p[i - 1], p[i]
            if inside[i] != inside[i - 1]:  # the edge crosses the bound: its crossing point
                out.append(a + (b - a) * (bound - a[axis]) / (b[axis] - a[axis]))
            if inside[i]:
                out.append(b)
        p = np.array(out, dtype=np.float64).reshape(-1, 2)
    return p


def _warn_partial_bbox(clipped: xr.Dataset, bbox: tuple[float, float, float, float], what: str, *,
                       outline: np.ndarray | None = None, given: tuple[tuple[float, ...], str] | None = None) -> None:
    """Warn when the data cover less than :data:`BBOX_COVER_WARN` of the area asked for (a region half off its tile).

    ``bbox`` is in the data's CRS; a box given in another CRS is measured by
    its ``outline`` there (not its envelope, larger than the area asked
    for), and named as ``given``.
    """
    x, y = np.asarray(clipped["x"].values, dtype=np.float64), np.asarray(clipped["y"].values, dtype=np.float64)
    rx = abs(float(x[1] - x[0])) if x.size > 1 else 0.0
    ry = abs(float(y[1] - y[0])) if y.size > 1 else 0.0
    data = (float(x.min()) - rx / 2, float(y.min()) - ry / 2, float(x.max()) + rx / 2, float(y.max()) + ry / 2)
    minx, miny, maxx, maxy = bbox
    if outline is not None:
        share = _polygon_area(_clip_polygon(outline, data)) / _polygon_area(outline)
    else:
        got_w = min(maxx, data[2]) - max(minx, data[0])
        got_h = min(maxy, data[3]) - max(miny, data[1])
        share = max(got_w, 0.0) * max(got_h, 0.0) / ((maxx - minx) * (maxy - miny))
    if share < BBOX_COVER_WARN:
        from .._warn import warn_user

        box = ", ".join(f"{v:.6g}" for v in (given[0] if given else bbox))
        where = f"{given[1]}, in the data's CRS {', '.join(f'{v:.6g}' for v in bbox)}" if given else ""
        warn_user(f"{what}: the data cover about {share:.0%} of bbox ({box}{where}) (pixel centres "
                  f"{float(x.min()):.6g}..{float(x.max()):.6g} x {float(y.min()):.6g}..{float(y.max()):.6g}): the rest of the area "
                  "asked for is not in the output; another tile, or a bbox in another CRS (bbox_crs)?")


def _orbit_from(ds: xr.Dataset, raw: xr.Dataset, source: Any, orbit: Any) -> xr.Dataset:
    """Attach the ``orbit`` coordinate (the incidence angle: :func:`.angles.s1_incidence_angle`)."""
    if orbit is not None:
        vals = np.asarray(orbit)
        if vals.ndim == 0:
            vals = np.full(ds.sizes["time"], vals.item())
        if vals.shape != (ds.sizes["time"],):
            raise DimensionError(f"orbit: expected a scalar or {ds.sizes['time']} values, found shape {vals.shape}")
        return ds.assign_coords(orbit=("time", vals))
    for name in _ORBIT_NAMES:
        if name in raw.variables and raw[name].dims == ("time",):
            return ds.assign_coords(orbit=("time", np.asarray(raw[name].values)))
    text = str(source).upper() if isinstance(source, (str, os.PathLike)) else str(ds.attrs.get("name", "")).upper()
    for direction in ("ASCENDING", "DESCENDING"):
        if direction in text:
            return ds.assign_coords(orbit=("time", np.full(ds.sizes["time"], direction)))
    return ds
