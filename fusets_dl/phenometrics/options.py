"""Checks of :func:`~fusets_dl.phenometrics.phenology`'s options, in one place.

``phenology`` runs :func:`check_options` on its keyword arguments (and on
each class's options with ``params``), and the pipeline's configuration
loader runs it on a region's ``phenology`` section, so an option that would
fail or empty the output is refused before any work starts. Every problem
is a :class:`~fusets_dl.errors.ConfigError` naming the option, what was
expected and what was found. :func:`parse_period` reads ``period``;
:func:`check_against_series` checks the options that depend on the series'
dates; :func:`warn_not_ndvi` is the value check of the input.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ConfigError
from ..validate import is_finite_positive, is_whole, parse_date

__all__ = ["NDVI_TOLERANCE", "check_against_series", "check_options", "parse_period", "warn_not_ndvi", "warn_not_ndvi_per_chunk"]

#: Finite values beyond ``[-1 - NDVI_TOLERANCE, 1 + NDVI_TOLERANCE]`` cannot be NDVI.
NDVI_TOLERANCE = 0.05
#: Share of the sampled finite values beyond that range above which :func:`warn_not_ndvi` warns.
NDVI_OUTSIDE_SHARE = 0.01


def _real(v: Any) -> bool:
    """A finite real number (not a boolean)."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and bool(np.isfinite(v))


def _show(v: Any) -> str:
    """``repr`` of an option's value, NumPy scalars as plain Python ones (``nan``, not ``np.float64(nan)``)."""
    if isinstance(v, np.ndarray) and v.size > 4:  # an array given where a DataArray or a number was expected: its kind, not its values
        return f"a numpy array of shape {v.shape}"
    return repr(v.item()) if isinstance(v, np.generic) else repr(v)


def _months(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) != 2:
        return False
    return all(is_whole(m) and 1 <= m <= 12 for m in v)


#: Option -> (accepts the value, what was expected). Options not listed (``std``, ``period``, ...) are checked elsewhere.
_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_seasons": (lambda v: is_whole(v) and v >= 1, "a whole number >= 1"),
    "method": (lambda v: v == "threshold", "'threshold'"),
    "threshold_type": (lambda v: v in ("fraction", "absolute"), "'fraction' or 'absolute'"),
    "amplitude_fraction": (lambda v: _real(v) and 0 < v < 1, "a number in (0, 1)"),
    "min_amplitude": (is_finite_positive, "a finite number > 0 (NDVI)"),
    "min_length": (is_finite_positive, "a finite number of days > 0"),
    "smooth": (lambda v: v is None or v is False or (_real(v) and v >= 0),
               "a finite Whittaker lambda >= 0, or None or False (0, None or False: linear interpolation of gaps)"),
    "step_days": (lambda v: v is None or is_finite_positive(v), "a finite number of days > 0, or None (the median input spacing)"),
    "min_valid": (lambda v: is_whole(v) and v >= 1, "a whole number of values >= 1"),
    "noise_factor": (lambda v: _real(v) and v >= 0, "a finite number >= 0 (0: no noise test)"),
    "noise": (lambda v: v is None or isinstance(v, xr.DataArray) or (_real(v) and v >= 0),
              "a noise sd >= 0 (NDVI), a DataArray of them, or None"),
    "std": (lambda v: v is None or isinstance(v, xr.DataArray),
            "a DataArray of per-value uncertainties on the NDVI's dims (reconstruct(...)['NDVI_std']), or None"),
    "min_separation": (lambda v: v is None or is_finite_positive(v), "a finite number of days > 0, or None (min_length / 2)"),
    "min_span": (lambda v: v is None or (_real(v) and v >= 0), "a finite number of days >= 0, or None (2 x min_length)"),
    "start_threshold": (lambda v: v is None or _real(v), "a finite number or None"),
    "end_threshold": (lambda v: v is None or _real(v), "a finite number or None"),
    "pos_level": (lambda v: _real(v) and 0 < v <= 1, "a number in (0, 1]"),
    "extrapolate": (lambda v: isinstance(v, (bool, np.bool_)) or (_real(v) and v >= 0), "true, false or a finite number of days >= 0"),
    "by_year": (lambda v: isinstance(v, (bool, np.bool_)) or (is_whole(v) and v >= 0),
                "true, false or a whole number of season slots per year >= 1 (0: false)"),
    "envelope": (lambda v: isinstance(v, (bool, np.bool_)) or (is_whole(v) and v >= 0), "true, false or a whole number of refits >= 0"),
    "main_fraction": (lambda v: _real(v) and 0 < v <= 1, "a number in (0, 1]"),
    "main_months": (_months, "(first, last) whole months in 1..12, or None"),
    "year_start": (lambda v: is_whole(v) and 1 <= v <= 12, "a whole month 1..12 (the first month of the season year)"),
}


def _threshold_problems(options: Mapping[str, Any]) -> list[str]:
    """The start/end thresholds against ``threshold_type`` (fractions in (0, 1); absolute NDVI: a warning outside [-1, 1])."""
    kind = options.get("threshold_type", "fraction")
    if kind not in ("fraction", "absolute"):
        return []
    problems = []
    missing = [k for k in ("start_threshold", "end_threshold") if options.get(k) is None]
    if kind == "absolute" and missing and options.get("params") is None:  # per-class params may give them
        problems.append(f"{' and '.join(missing)}: expected an NDVI value with threshold_type='absolute' (e.g. 0.3), found none "
                        "(amplitude_fraction is a fraction of each season's amplitude, not an NDVI)")
    for key in ("start_threshold", "end_threshold"):
        v = options.get(key)
        if v is None or not _real(v):
            continue
        if kind == "fraction" and not 0 < v < 1:
            problems.append(f"{key}: expected a fraction of the amplitude in (0, 1) with threshold_type='fraction', found {_show(v)}")
        elif kind == "absolute" and abs(v) > 1:
            warnings.warn(
                f"phenology: {key} {v:g} is an absolute NDVI outside [-1, 1]: no NDVI series crosses it, so every season "
                f"found will have its {'SOS' if key == 'start_threshold' else 'EOS'} NaT",
                UserWarning, stacklevel=5,
            )
    return problems


def check_options(options: Mapping[str, Any], what: str = "phenology") -> None:
    """Refuse phenology options that are out of range, of the wrong type or not finite.

    Only the options given are checked (``options`` may be the whole set of
    ``phenology``'s keyword arguments or a pipeline's subset of them);
    ``period`` is read with :func:`parse_period`.

    Parameters
    ----------
    options : mapping
        Keyword arguments of ``phenology`` (others are ignored).
    what : str
        The caller, for the message (``"phenology"``, ``"phenology: params[1200]"``).

    Raises
    ------
    ConfigError
        Naming every bad option, what was expected and what was found
        (``phenology: min_amplitude: expected a finite number > 0 (NDVI), found nan``).

    Warns
    -----
    UserWarning
        An absolute start or end threshold outside [-1, 1] (no NDVI crosses it).
    """
    problems = [f"{key}: expected {rule[1]}, found {_show(options[key])}"
                for key, rule in _RULES.items() if key in options and not rule[0](options[key])]
    problems += _threshold_problems(options)
    if "period" in options:
        try:
            parse_period(options["period"], "")
        except ConfigError as exc:
            problems.append(str(exc).removeprefix(": "))
    if problems:
        raise ConfigError(f"{what}: " + "; ".join(problems))


def _date(value: Any, which: str, what: str) -> pd.Timestamp:
    """One end of a period as a naive (UTC) timestamp: :func:`fusets_dl.validate.parse_date`, ISO 8601 ``YYYY-MM-DD``
    (with a time or not); None is an end missing."""
    if value is None:
        raise ConfigError(f"{what}: period: expected {'an' if which == 'end' else 'a'} {which} date such as '2021-06-01' "
                          "(a period has both ends), found None")
    return parse_date(value, f"{what}: period {which}", partial=False)


def parse_period(period: Any, what: str = "phenology") -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """``(start, end)`` of a period, both inclusive; an end at midnight (a date) includes that whole day.

    Parameters
    ----------
    period : (date, date) or None
        Dates as strings, :class:`datetime.date`, :class:`numpy.datetime64`
        or :class:`pandas.Timestamp`.
    what : str
        The caller, for the message.

    Returns
    -------
    (pandas.Timestamp, pandas.Timestamp) or None
        The first and the last instant of the period (an end given as a
        date becomes 23:59:59.999999999 of that day).

    Raises
    ------
    ConfigError
        Not two dates, an end missing (None), a value that is not a date, or
        a start after the end.
    """
    if period is None:
        return None
    if isinstance(period, (str, bytes)) or not hasattr(period, "__len__") or len(period) != 2:
        raise ConfigError(f"{what}: period: expected (start, end) dates such as ('2021-01-01', '2021-12-31') or None, found {period!r}")
    start = _date(period[0], "start", what)
    end = _date(period[1], "end", what)
    if end == end.normalize():
        end = end + pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    if start > end:
        raise ConfigError(f"{what}: period: expected the start on or before the end, found start {start} after end {end.date()} "
                          f"(given as {period!r}; reversed?)")
    return start, end


def check_against_series(t: pd.DatetimeIndex, options: Mapping[str, Any], what: str = "phenology") -> None:
    """Refuse options that cannot fit the series' dates ``t``: ``min_valid``, ``period``, ``step_days``.

    Parameters
    ----------
    t : pandas.DatetimeIndex
        The input dates (sorted).
    options : mapping
        Keyword arguments of ``phenology``, checked by :func:`check_options`.
    what : str
        The caller, for the message.

    Raises
    ------
    ConfigError
        ``min_valid`` larger than the number of dates (no pixel could have
        a season), a ``period`` that does not overlap the series, or a
        ``step_days`` that leaves fewer than 4 grid steps over the series.
    """
    series = f"{t[0].date()} .. {t[-1].date()}"
    min_valid = options.get("min_valid")
    if min_valid is not None and min_valid > t.size:
        raise ConfigError(f"{what}: min_valid: expected at most the {t.size} dates of the series ({series}), found {_show(min_valid)} "
                          "(no pixel could have a season)")
    per = parse_period(options.get("period"), what)
    if per is not None and (per[1] < t[0] or per[0] > t[-1]):
        raise ConfigError(f"{what}: period: expected a period overlapping the series' dates {t[0]} .. {t[-1]}, "
                          f"found {per[0]} .. {per[1]} (no season could be kept)")
    step = options.get("step_days")
    span = (t[-1] - t[0]) / pd.Timedelta(days=1)
    if step is not None and step > span / 3:
        raise ConfigError(f"{what}: step_days: expected at most {span / 3:g} days (a grid of at least 4 points over the series' {span:g} days, "
                          f"{series}), found {_show(step)}")


def warn_not_ndvi(values: np.ndarray, what: str, *, per_chunk: bool = False) -> None:
    """Warn when more than 1 % of the finite ``values`` lie beyond [-1, 1] by more than ``NDVI_TOLERANCE``.

    A check for :func:`fusets_dl.readers.sanity.checked` (a sample of
    in-memory data at once, each Dask chunk as it is computed): NDVI x 100,
    NDVI x 10000 or backscatter in dB would otherwise pass without an error;
    the season detection counts values beyond ``NDVI_TOLERANCE`` of
    [-1, 1] as missing (a few, from a bad pixel, are then gaps, not dips or
    peaks) and every NDVI threshold (``min_amplitude``, noise) is meaningless
    on a rescaled series.

    Parameters
    ----------
    values : numpy.ndarray
        Values of the input (NaN where missing).
    what : str
        The caller, for the message.
    per_chunk : bool
        The values are one Dask chunk: the message leaves out the chunk's
        own range and share, so that it is the same for every chunk.

    Warns
    -----
    UserWarning
        Naming the range seen and the share outside (not per chunk).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return
    outside = float(np.mean(np.abs(v) > 1.0 + NDVI_TOLERANCE))
    if outside > NDVI_OUTSIDE_SHARE:
        found = (f"found values {v.min():.4g}..{v.max():.4g} ({outside:.0%} of the sampled values outside)" if not per_chunk
                 else "found a Dask chunk with more than 1 % of its values outside")
        warnings.warn(
            f"{what}: expected NDVI in [-1, 1], {found}; NDVI x 100, x 10000 or backscatter in dB? Values beyond "
            f"[-{1 + NDVI_TOLERANCE:g}, {1 + NDVI_TOLERANCE:g}] count as missing and thresholds such as min_amplitude are in "
            "NDVI units, so the seasons found are not meaningful: rescale the input to NDVI",
            UserWarning, stacklevel=2,
        )


def warn_not_ndvi_per_chunk(values: np.ndarray, what: str) -> None:
    """:func:`warn_not_ndvi` for one Dask chunk: one message for every chunk, so Python shows it once, not once per chunk.

    Parameters
    ----------
    values : numpy.ndarray
        The values of one chunk (NaN where missing).
    what : str
        The caller, for the message.

    Warns
    -----
    UserWarning
        One text for every chunk (without the chunk's range), when more
        than 1 % of its values lie outside [-1, 1].
    """
    warn_not_ndvi(values, what, per_chunk=True)
