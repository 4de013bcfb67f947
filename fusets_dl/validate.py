"""Checks shared by every stage: dimensions, variables, time coordinate, CRS."""

from __future__ import annotations

import datetime as _dt
import logging
import math
import numbers
import re
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import (
    ConfigError,
    DimensionError,
    DuplicateTimeError,
    EncodingError,
    MissingVariableError,
)

__all__ = ["DATE_RANGE_TEXT", "NS_DATE_RANGE", "as_timedelta", "cftime_calendar", "cftime_hint", "check_cube", "check_date_range", "check_spatial_coords",
           "check_time", "found_value", "freq_days", "is_dask_backed", "naive_utc", "parse_date", "require_variables"]

TIME_NAMES = ("time", "t", "timestamp", "date", "datetime")


def is_dask_backed(obj: xr.Dataset | xr.DataArray) -> bool:
    """True when any variable of ``obj`` holds a Dask array.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        The object to look at.

    Returns
    -------
    bool
        Whether computing it would run Dask.
    """
    if isinstance(obj, xr.DataArray):
        return obj.chunks is not None
    return any(v.chunks is not None for v in obj.variables.values())


def require_variables(ds: xr.Dataset, names: Iterable[str], what: str) -> None:
    """Raise :class:`MissingVariableError` when ``names`` are not all in ``ds``.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset to check.
    names : iterable of str
        Variables (or coordinates) it must hold.
    what : str
        The caller's name, for the message.

    Raises
    ------
    MissingVariableError
        Naming what was expected, what is missing and what was found.
    """
    missing = [n for n in names if n not in ds.variables]
    if missing:
        raise MissingVariableError(
            f"{what}: expected variables {list(names)}, missing {missing}; "
            f"found {sorted(map(str, ds.data_vars))}"
        )


def naive_utc(times: Any) -> Any:
    """Timezone-aware dates as naive UTC (the data model's convention); naive ones unchanged.

    Parameters
    ----------
    times : pandas.Timestamp or pandas.DatetimeIndex
        A date or dates.

    Returns
    -------
    pandas.Timestamp or pandas.DatetimeIndex
        The same, naive, in UTC where ``times`` had a zone.
    """
    return times.tz_convert("UTC").tz_localize(None) if times.tz is not None else times


def check_time(ds: xr.Dataset, what: str, *, allow_duplicates: bool = False, unsorted_ok: bool = False) -> None:
    """Check that ``ds`` has a sorted datetime64 ``time`` coordinate without duplicates.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset to check.
    what : str
        The caller's name, for the message.
    allow_duplicates : bool
        Accept repeated timestamps.
    unsorted_ok : bool
        Accept dates out of order (a caller that sorts them itself).

    Raises
    ------
    DimensionError
        No ``time`` dimension, not datetime64, NaT values, or not sorted.
    DuplicateTimeError
        Repeated timestamps (unless allowed), naming the first ones.
    """
    if "time" not in ds.dims:
        raise DimensionError(f"{what}: expected a 'time' dimension, found dims {tuple(ds.dims)}")
    t = ds["time"]
    if isinstance(t.dtype, pd.DatetimeTZDtype):
        raise DimensionError(
            f"{what}: expected 'time' as naive UTC datetime64 (the data model's convention), found timezone-aware {t.dtype}; "
            "convert it: ds.assign_coords(time=ds.indexes['time'].tz_convert('UTC').tz_localize(None))")
    if not np.issubdtype(t.dtype, np.datetime64):
        raise DimensionError(f"{what}: expected 'time' as datetime64, found dtype {t.dtype}{cftime_hint(t.values)}")
    check_date_range(t.values, what)
    idx = pd.DatetimeIndex(t.values)
    if idx.hasnans:
        raise DimensionError(f"{what}: 'time' holds {int(idx.isna().sum())} NaT values")
    if not allow_duplicates and idx.has_duplicates:
        dups = idx[idx.duplicated()].unique()[:5]
        raise DuplicateTimeError(
            f"{what}: expected unique timestamps, found {int(idx.duplicated().sum())} duplicates "
            f"(first: {[str(d) for d in dups]}); merge them when reading (fdl.open_s1 / fdl.open_s2(..., duplicates='first' or 'mean')) or drop them (ds.drop_duplicates('time'))"
        )
    if not unsorted_ok and not idx.is_monotonic_increasing:
        k = int(np.flatnonzero(np.diff(idx.asi8) < 0)[0])
        raise DimensionError(f"{what}: expected 'time' sorted ascending, found {idx[k + 1]} after {idx[k]} (position {k + 1} of "
                             f"{idx.size}); sort it: ds.sortby('time')")


#: The dates a datetime64[ns] axis can hold (pandas, and every stage that builds a date grid, need them in ns).
NS_DATE_RANGE = (np.datetime64("1677-09-21T00:12:44"), np.datetime64("2262-04-11T23:47:16"))  # pd.Timestamp.min/max, whole seconds


def check_date_range(values: np.ndarray, what: str) -> None:
    """Refuse dates a nanosecond axis cannot hold (xarray keeps datetime64[s] beyond 2262; pandas' date grids fail there).

    Parameters
    ----------
    values : numpy.ndarray
        datetime64 values of any unit (NaT ignored).
    what : str
        The caller's name, for the message.

    Raises
    ------
    DimensionError
        A date before 1677-09-22 or after 2262-04-11, naming the first.
    """
    v = np.asarray(values)
    if v.dtype.kind != "M" or v.size == 0 or np.datetime_data(v.dtype)[0] == "ns":
        return  # a nanosecond axis holds only dates of that range
    valid = v[~np.isnat(v)]
    out = valid[(valid < NS_DATE_RANGE[0]) | (valid > NS_DATE_RANGE[1])]
    if out.size:
        raise DimensionError(
            f"{what}: expected dates within {DATE_RANGE_TEXT} (what a datetime64[ns] axis holds), found "
            f"{out.size} outside (first: {out[0]}); check the epoch or units the times were decoded with")


def cftime_calendar(values: np.ndarray) -> str | None:
    """The calendar of ``values`` when they are cftime dates (decoded from a non-standard CF calendar), else None.

    Parameters
    ----------
    values : numpy.ndarray
        The time values.

    Returns
    -------
    str or None
        The calendar's name (``"noleap"``, ``"360_day"``, ...), or None when
        the values are not cftime dates.
    """
    v = np.asarray(values)
    first = v.flat[0] if v.dtype == object and v.size else None
    if first is None or not type(first).__module__.startswith("cftime"):
        return None
    return str(getattr(first, "calendar", "") or type(first).__name__)


def cftime_hint(values: np.ndarray) -> str:
    """A hint for times decoded as cftime objects (a non-standard calendar), else ``""``.

    Parameters
    ----------
    values : numpy.ndarray
        The time values.

    Returns
    -------
    str
        ``" (cftime dates of the 'noleap' calendar): convert them ..."``, or
        an empty string when the values are not cftime dates.
    """
    calendar = cftime_calendar(values)
    if calendar is None:
        return ""
    return (f" (cftime dates of the {calendar!r} calendar): convert them to the standard calendar, e.g. "
            "ds.convert_calendar('standard', use_cftime=False, align_on='date') (dates the standard calendar lacks, such as "
            "30 February, are dropped)")


def check_cube(cube: xr.Dataset, *, need_target: bool = False) -> None:
    """Validate a fusion cube (DESIGN.md data model).

    Parameters
    ----------
    cube : xarray.Dataset
        Must have dims ``time``, ``y``, ``x``; variables ``VV`` and ``VH``
        (float, dB) and, when ``need_target``, ``NDVI``.
    need_target : bool
        Require the ``NDVI`` variable.
    """
    if not isinstance(cube, xr.Dataset):
        raise DimensionError(f"fusion cube: expected an xarray.Dataset, found {type(cube).__name__}")
    for d in ("time", "y", "x"):
        if d not in cube.dims:
            raise DimensionError(f"fusion cube: expected dims ('time', 'y', 'x'), found {tuple(cube.dims)}")
    required = ["VV", "VH"] + (["NDVI"] if need_target else [])
    require_variables(cube, required, "fusion cube")
    for v in required:
        if set(cube[v].dims) != {"time", "y", "x"}:
            raise DimensionError(f"fusion cube: expected {v} on (time, y, x), found {cube[v].dims}")
    check_spatial_coords(cube, "fusion cube")
    for v in ("VV", "VH"):
        units = cube[v].attrs.get("units")
        if units is not None and str(units).lower() != "db":
            raise EncodingError(f"fusion cube: expected {v} in dB (attrs units='dB'), found units={units!r}")
    check_time(cube, "fusion cube")


def check_spatial_coords(ds: xr.Dataset, what: str) -> None:
    """Refuse missing (NaN/NaT) ``x`` or ``y`` coordinate values.

    A NaN coordinate (a pixel centre lost in a reprojection, a point table
    with a missing position) puts pixels nowhere: grids would not match,
    spatial blocks would mix, and a written store could not be georeferenced.

    Parameters
    ----------
    ds : xarray.Dataset
        The data whose ``x``/``y`` coordinates (where present) are checked.
    what : str
        The data, for the message.

    Raises
    ------
    DimensionError
        When a numeric ``x`` or ``y`` coordinate holds non-finite values.
    """
    for d in ("x", "y"):
        if d not in ds.coords or not np.issubdtype(ds[d].dtype, np.number):
            continue
        v = np.asarray(ds[d].values)
        bad = ~np.isfinite(v)
        if bad.any():
            raise DimensionError(
                f"{what}: expected finite {d} coordinates, found {int(bad.sum())} of {v.size} missing or infinite "
                f"(at positions {np.flatnonzero(bad)[:5].tolist()}); drop those pixels (ds.sel({d}=ds.{d}.notnull())) "
                "or rebuild the grid coordinates"
            )


def is_finite_positive(value: Any) -> bool:
    """Whether an option's ``value`` is a real, finite number above 0.

    A NaN passes neither ``<= 0`` nor ``> 0``, so a plain comparison lets it
    through; booleans, strings, infinities and non-positive numbers fail here.
    """
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        return False
    try:
        return bool(math.isfinite(value)) and bool(value > 0)  # math: a Python int beyond float64 (10**400) is finite too
    except OverflowError:
        return False


def is_whole(value: Any) -> bool:
    """Whether an option's ``value`` is a whole number: ``3`` or ``3.0``, not ``2.5``, ``True`` or ``"3"``."""
    if isinstance(value, bool):
        return False
    return isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and float(value).is_integer())


def freq_days(freq: str | pd.DateOffset, what: str) -> float:
    """Length in days of a fixed-length frequency such as ``"5D"`` or ``"12h"``.

    Parameters
    ----------
    freq : str or pandas.DateOffset
        A pandas frequency of fixed length (days, hours, ...).
    what : str
        The caller's name, for the error message.

    Returns
    -------
    float
        Days per step.

    Raises
    ------
    ConfigError
        Not a pandas frequency, or one of calendar length (months, years).

    Notes
    -----
    pandas 3 made ``Day`` a calendar offset that ``pandas.Timedelta`` refuses
    on some versions, so days are converted explicitly.
    """
    try:
        off = pd.tseries.frequencies.to_offset(freq)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: freq expected a pandas frequency such as '5D', found {freq!r} ({exc})") from exc
    if isinstance(off, pd.offsets.Day):
        return float(off.n)
    try:
        step = pd.Timedelta(off)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: freq expected a fixed length such as '5D' or '12h', found {freq!r} (calendar length)") from exc
    return step / pd.Timedelta(days=1)


def as_timedelta(value: Any, what: str) -> pd.Timedelta:
    """A non-negative duration; a bare number (or numeric string) counts **days**.

    ``3``, ``3.5`` and ``"3"`` are days (pandas would read a bare integer as
    nanoseconds); ``"3D"``, ``"12h"``, :class:`pandas.Timedelta`,
    :class:`datetime.timedelta` and :class:`numpy.timedelta64` are taken as they are.

    Parameters
    ----------
    value : number, str or timedelta
        The duration.
    what : str
        What is being set (``"align: tolerance"``), for the error message.

    Returns
    -------
    pandas.Timedelta
        The duration.

    Raises
    ------
    ConfigError
        A negative duration, a boolean, or a string that is not a duration.
    """
    if isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{what}: expected a duration such as '3D' or a number of days, found {value!r}")
    try:
        if isinstance(value, numbers.Real):
            out = pd.Timedelta(days=float(value))
        elif isinstance(value, str) and re.fullmatch(r"\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*", value):
            out = pd.Timedelta(days=float(value))
        elif isinstance(value, (str, _dt.timedelta, np.timedelta64)):
            out = pd.Timedelta(value)
        else:
            raise TypeError(type(value).__name__)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ConfigError(f"{what}: expected a duration such as '3D' or a number of days, found {value!r}") from exc
    if pd.isna(out) or out < pd.Timedelta(0):
        raise ConfigError(f"{what}: expected a duration >= 0 (e.g. '3D' or 3 days), found {value!r}")
    return out


def found_value(value: Any) -> str:
    """``value`` as an error message names what it found: the value and its type.

    Parameters
    ----------
    value : object
        The option as given.

    Returns
    -------
    str
        ``"2.7 (float)"``, ``"nan (float)"``, or ``"the string '15'"`` (a
        number or a boolean given as text is the usual mistake).
    """
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{value!r} ({type(value).__name__})"


#: ISO 8601 dates taken as text: a year, a year and month, a date (``YYYY-MM-DD``, or the basic ``YYYYMMDD``), and a
#: date with a time of day (and a zone, ``Z`` or ``+02:00``) after ``T`` or a space.
_ISO_TEXT = re.compile(r"^(\d{4}(-\d{2})?|\d{8}|\d{4}-\d{2}-\d{2}([T ]\S.*)?)$")
#: Dates written with day and month first in some order (``01/03/2021``, ``1.3.21``): ambiguous.
_DAY_MONTH_TEXT = re.compile(r"^\d{1,2}[/.\- ]\d{1,2}[/.\- ]\d{2,4}\b")
#: The same, a full date only (``YYYY-MM-DD``, a time of day after it allowed).
_ISO_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\S.*)?$")

#: The dates the data model holds: those of ``datetime64[ns]``, as text for messages.
DATE_RANGE_TEXT = "1677-09-21 .. 2262-04-11"

_ISO_EXAMPLE = "such as '2021-03-01' or '2021-03-01T12:00' ('Z' or an offset such as '+02:00' for a zone)"


def _number_hint(value: Any) -> str:
    """How to write a number that was meant as a date."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        text = str(int(value))
        if len(text) == 4:
            return f" (write '{text}-01-01' for a year)"
        if len(text) == 8:
            return f" (write '{text[:4]}-{text[4:6]}-{text[6:]}' for a date written YYYYMMDD)"
    return ""


def parse_date(value: Any, what: str, *, partial: bool = True) -> pd.Timestamp:
    """A date given by a user (a ``time_range`` end, a config date) as a naive UTC ``datetime64[ns]`` timestamp.

    Text must be ISO 8601 (``"2021-03-01"``, ``"2021-03-01T12:00"``,
    ``"2021-03-01T12:00Z"``, ``"2021-03-01T12:00+02:00"``; with
    ``partial``, also ``"2021"``, ``"2021-03"`` and ``"20210301"``):
    ``"01/03/2021"`` is 1 March to some and 3 January to others, and pandas
    reads such forms month-first or day-first depending on the values.
    Numbers are refused (``pd.Timestamp(2021)`` is 2021 nanoseconds after
    1970). A date with a zone is converted to naive UTC, the data model's
    convention (logged, as the readers log zoned time coordinates).

    Parameters
    ----------
    value : str, datetime.date, datetime.datetime, numpy.datetime64 or pandas.Timestamp
        The date.
    what : str
        The caller and the option, for the messages (``"open_s1(...): time_range start"``).
    partial : bool
        Accept a year or a year and month alone, and the basic ``YYYYMMDD`` form.

    Returns
    -------
    pandas.Timestamp
        Naive (UTC), in nanoseconds; a partial date is its first instant.

    Raises
    ------
    ConfigError
        A number, text that is not ISO 8601, something that is not a date
        (NaT included), or a date outside the range of ``datetime64[ns]``
        (1677-09-21 .. 2262-04-11), each naming what was expected and found.
    """
    example = _ISO_EXAMPLE if partial else "such as '2021-03-01'"
    if isinstance(value, (xr.DataArray, np.ndarray)) and np.ndim(value) == 0:  # ds.time[0], np.array(np.datetime64(...))
        value = np.asarray(value)[()]
    if isinstance(value, (bool, np.bool_, int, float, np.number)):
        raise ConfigError(f"{what}: expected a date in ISO 8601 form {example}, found {value!r}: a number is not a date{_number_hint(value)}")
    if isinstance(value, str):
        rule = _ISO_TEXT if partial else _ISO_FULL_DATE
        if not rule.match(value.strip()):
            form = "YYYY-MM-DD, YYYY-MM or YYYY" if partial else "YYYY-MM-DD"
            why = ("the order of day and month is ambiguous in other forms ('01/03/2021' is 1 March or 3 January)"
                   if _DAY_MONTH_TEXT.match(value.strip()) else "not an ISO 8601 date")
            raise ConfigError(f"{what}: expected a date in ISO 8601 form ({form}, year first) {example}, found {value!r}: {why}")
        value = value.strip()
    elif not isinstance(value, (_dt.date, np.datetime64)):  # pd.Timestamp is a datetime
        raise ConfigError(f"{what}: expected a date in ISO 8601 form {example} (or a datetime, numpy.datetime64 or pandas.Timestamp), "
                          f"found {value!r} ({type(value).__name__})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pandas' parsing chatter; what it could not read raises below
            ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError) as exc:  # OutOfBoundsDatetime is a ValueError
        raise ConfigError(f"{what}: expected a date in ISO 8601 form {example}, found {value!r} (not a date: {exc})") from exc
    if ts is pd.NaT:
        raise ConfigError(f"{what}: expected a date in ISO 8601 form {example}, found {value!r} (not a time)")
    if ts.tz is not None:
        logging.getLogger("fusets_dl").warning("%s: timezone-aware date %s converted to naive UTC", what, value)
        ts = naive_utc(ts)
    try:
        return ts.as_unit("ns")
    except (ValueError, OverflowError) as exc:  # OutOfBoundsDatetime
        raise ConfigError(f"{what}: expected a date within {DATE_RANGE_TEXT} (the range of datetime64[ns], which the "
                          f"data's times use), found {value!r}") from exc
