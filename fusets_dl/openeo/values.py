"""Checks of the UDF context's option *values*, before anything reaches a back-end.

:func:`fusets_dl.openeo.context.check_context` checks the key names and
calls :func:`check_values`, so ``udf_code`` refuses a bad value when the
process graph is built and the UDF refuses it again at run time (a context
merged from openEO's ``context`` argument). The checks are the stages' own
where they exist (phenology's :func:`~fusets_dl.phenometrics.options.check_options`,
the reconstruction's option check, :func:`~fusets_dl.validate.as_timedelta`,
:class:`~fusets_dl.set_options`, the readers' option checks), run without data.

The context travels as JSON, so one rule holds for numbers: an option that
takes a number needs a JSON number; a number in quotes (``"1000"``) is
refused with ``expected a number, not the string '1000'``. A boolean needs
JSON ``true``/``false``, not the string ``"false"`` (which Python reads as
true). Durations (``tolerance``, ``freq``) are strings such as ``"3D"``.
"""

from __future__ import annotations

import inspect
import numbers
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..validate import as_timedelta, freq_days, is_finite_positive, is_whole, parse_date

__all__ = ["BOOL_KEYS", "NUMBER_KEYS", "check_values"]

#: Options that take a JSON number (or null where the stage allows it), by section.
NUMBER_KEYS: dict[str, tuple[str, ...]] = {
    "s2": ("reflectance_scale",),
    "align": ("min_clear_fraction", "outlier_threshold", "outlier_max_gap_days"),
    "predict": ("batch_size",),
    "reconstruct": ("lam", "obs_std", "pred_gap_days", "debias_days"),
    "phenology": (
        "max_seasons", "amplitude_fraction", "min_amplitude", "min_length", "smooth", "step_days", "min_valid",
        "noise_factor", "noise", "min_separation", "min_span", "start_threshold", "end_threshold", "pos_level",
        "extrapolate", "envelope", "main_fraction",
    ),
}

#: Options that take JSON ``true``/``false``, by section.
BOOL_KEYS: dict[str, tuple[str, ...]] = {
    "s2": ("harmonize",),
    "align": ("outlier_filter", "keep_cloudy", "unpaired_views"),
    "reconstruct": ("smooth", "s1_only"),
    "phenology": ("extrapolate", "envelope"),
}

_S1_UNITS = ("auto", "dB", "linear", "compressed", "amplitude")
_DUPLICATES = ("raise", "first", "mean")


def _real(v: Any) -> bool:
    """A finite real number, not a boolean."""
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) and bool(np.isfinite(v))


def _is_number_text(v: Any) -> bool:
    """Whether ``v`` is a string holding a number (``"1000"``, ``" 2.5 "``)."""
    if not isinstance(v, str):
        return False
    try:
        float(v)
    except ValueError:
        return False
    return True


def _quoted(section: str, key: str, value: Any) -> str | None:
    """The message for a number or boolean given as a string, else None."""
    if key in BOOL_KEYS.get(section, ()) and isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return f"{key}: expected true or false (a JSON boolean), not the string {value!r}"
    if key in NUMBER_KEYS.get(section, ()) and _is_number_text(value):
        return f"{key}: expected a number, not the string {value!r} (write it without quotes)"
    return None


def _whole_days(value: Any, key: str) -> str | None:
    """``freq``: None or a whole number of days such as ``"5D"``."""
    if value is None:
        return None
    if not isinstance(value, str):
        return f"{key}: expected a whole number of days such as '5D' (or null), found {type(value).__name__} {value!r}"
    try:
        with warnings.catch_warnings():  # pandas' deprecation of 'M': the message below says what to write
            warnings.simplefilter("ignore", FutureWarning)
            days = freq_days(value, key)
    except ConfigError:
        days = None
    if days is None or days < 1 or days != int(days):
        calendar = " (month/year frequencies such as '1M' are calendar lengths, not accepted)" if value.strip()[-1:].upper() in "MYAQ" else ""
        return f"{key}: expected a whole number of days such as '5D' (or null){calendar}, found {value!r}"
    return None


def _pair_or_none(value: Any, n: int, what: str, key: str) -> str | None:
    if value is None or (isinstance(value, (list, tuple)) and len(value) == n):
        return None
    return f"{key}: expected {what} or null, found {type(value).__name__} {value!r}"


def _s1(sec: Mapping[str, Any]) -> list[str]:
    from ..readers.radar import check_backscatter_option

    out = []
    orbit = sec.get("orbit")
    if orbit is not None and not (is_whole(orbit) and not isinstance(orbit, bool)):  # a list matches no tile's dates, a dict was ignored
        out.append(f"orbit: expected one relative orbit number (a whole number) or null, found {type(orbit).__name__} {orbit!r}")
    if "units" in sec and sec["units"] not in _S1_UNITS:
        hint = " (case matters: 'dB')" if isinstance(sec["units"], str) and sec["units"].lower() == "db" else ""
        out.append(f"units: expected one of {list(_S1_UNITS)}{hint}, found {sec['units']!r}")
    if "backscatter" in sec:
        try:
            check_backscatter_option(sec["backscatter"], "")
        except ConfigError as exc:
            out.append(str(exc).removeprefix(": "))
    if "slice_window" in sec:
        from ..readers.normalise import check_slice_window

        try:
            check_slice_window(sec["slice_window"], "")
        except ConfigError as exc:
            out.append(str(exc).removeprefix(": "))
    return out + _common_reader(sec)


def _s2(sec: Mapping[str, Any]) -> list[str]:
    from ..readers.optical import check_harmonize_option

    out = []
    if "harmonize" in sec:
        try:
            check_harmonize_option(sec["harmonize"], "")
        except ConfigError as exc:
            out.append(str(exc).removeprefix(": "))
    rs = sec.get("reflectance_scale", "auto")
    if rs != "auto" and not is_finite_positive(rs):
        out.append(f"reflectance_scale: expected 'auto' or a finite number > 0 (1e-4 for DN), found {type(rs).__name__} {rs!r}")
    cc = sec.get("clear_classes", [4])
    if isinstance(cc, (str, bytes)) or not isinstance(cc, (list, tuple)) or not cc or not all(is_whole(c) and 0 <= c <= 11 for c in cc):
        out.append(f"clear_classes: expected a non-empty list of SCL classes (whole numbers 0-11, e.g. [4, 5]), found {cc!r}")
    return out + _common_reader(sec)


def _common_reader(sec: Mapping[str, Any]) -> list[str]:
    out = []
    if "duplicates" in sec and sec["duplicates"] not in _DUPLICATES:
        out.append(f"duplicates: expected one of {list(_DUPLICATES)}, found {sec['duplicates']!r}")
    for key, n, what in (("time_range", 2, "[start, end] dates"), ("bbox", 4, "[minx, miny, maxx, maxy]")):
        if key in sec and (msg := _pair_or_none(sec[key], n, what, key)):
            out.append(msg)
    bbox = sec.get("bbox")
    if isinstance(bbox, (list, tuple)) and len(bbox) == 4:
        if not all(_real(v) for v in bbox):
            out.append(f"bbox: expected four finite numbers, found {bbox!r}")
        elif not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
            out.append(f"bbox: expected [minx, miny, maxx, maxy] with min < max, found {bbox!r}")
    tr = sec.get("time_range")
    if isinstance(tr, (list, tuple)) and len(tr) == 2:  # every tile failed on a date pandas cannot read, or no date left
        try:  # the readers' rule: ISO 8601 text (numbers and day/month-ambiguous text refused), zoned dates as naive UTC
            start, end = (None if v is None else parse_date(v, f"time_range {k}") for k, v in zip(("start", "end"), tr, strict=True))
        except ConfigError as exc:
            out.append(str(exc))
        else:
            if start is not None and end is not None and start > end:
                out.append(f"time_range: expected start <= end, found {list(tr)!r}")
    return out


def _align_freq(value: Any) -> str | None:
    """``align``'s ``freq``: None or a pandas frequency string (``"10D"``, ``"MS"``, ``"1M"``)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                offset = pd.tseries.frequencies.to_offset(value)
            try:
                fixed = offset.nanos  # a fixed length (days, hours); calendar ones (MS, W) have none
            except ValueError:
                fixed = None
            if getattr(offset, "n", 1) > 0 and (fixed is None or fixed >= 86_400 * 10**9):  # hourly periods: one S1 date in 24
                return None
        except ValueError:
            pass
    return (f"freq: expected a positive pandas frequency of a day or more such as '10D' or 'MS' (or null), found "
            f"{type(value).__name__} {value!r}")


def _align(sec: Mapping[str, Any]) -> list[str]:
    out = []
    if "tolerance" in sec:
        try:
            as_timedelta(sec["tolerance"], "tolerance")
        except ConfigError as exc:
            out.append(str(exc))
    if "freq" in sec and (msg := _align_freq(sec["freq"])):  # align takes pandas frequencies, calendar ones included
        out.append(msg)
    f = sec.get("min_clear_fraction", 1.0)
    if not (_real(f) and 0 <= f <= 1):
        out.append(f"min_clear_fraction: expected a fraction in [0, 1] (0.8, not 80), found {type(f).__name__} {f!r}")
    for key in ("outlier_threshold", "outlier_max_gap_days"):
        if key in sec and not is_finite_positive(sec[key]):
            out.append(f"{key}: expected a finite number > 0, found {type(sec[key]).__name__} {sec[key]!r}")
    for key in ("outlier_filter", "keep_cloudy"):
        if key in sec and not isinstance(sec[key], bool):
            out.append(f"{key}: expected true or false, found {type(sec[key]).__name__} {sec[key]!r}")
    if sec.get("keep_cloudy") is True and sec.get("freq") is not None:
        out.append(f"keep_cloudy: needs the pairing mode (no freq), found freq={sec['freq']!r}")
    return out


def _predict(sec: Mapping[str, Any]) -> list[str]:
    from ..options import set_options

    given = {k: v for k, v in sec.items() if v is not None}
    try:
        with set_options(**given):  # the option checks of fdl.set_options; restored on exit
            pass
    except ConfigError as exc:
        return [re.sub(r"^set_options: (\w+) expected", r"\1: expected", str(exc))]
    return []


def _reconstruct(sec: Mapping[str, Any]) -> list[str]:
    from ..reconstruction.api import check_reconstruct_options, given_calibration, reconstruct
    from ..reconstruction.calibrate import is_calibration
    from ..reconstruction.sequence_decision import is_sequence_decision, sequence_decision

    out = []
    if "freq" in sec and (msg := _whole_days(sec["freq"], "freq")):
        out.append(msg)
    if "smooth" in sec and sec["smooth"] is not None and not isinstance(sec["smooth"], bool):
        out.append(f"smooth: expected true, false or null, found {type(sec['smooth']).__name__} {sec['smooth']!r}")
    cal = sec.get("calibration")
    if cal is not None and not isinstance(cal, Mapping):
        out.append(f"calibration: expected a mapping or null, found {type(cal).__name__} {cal!r}")
    defaults = {k: p.default for k, p in inspect.signature(reconstruct).parameters.items()}
    kw = {k: sec.get(k, defaults[k]) for k in ("lam", "obs_std", "pred_gap_days", "debias_days")}
    bad = [f"{k}: expected a number{'' if k in ('lam', 'obs_std') else ' or null'}, found {type(v).__name__} {v!r}"
           for k, v in kw.items() if not _real(v) and not (v is None and k != "obs_std")]
    if bad:  # the type first; the ranges are the reconstruction's own check
        return out + bad
    weights = sec.get("weights", defaults["weights"])
    if is_sequence_decision(weights):  # a sequence model's fill and std factor decided once for the whole job (a reconstruction's attrs)
        try:
            sequence_decision(weights, "weights")
        except ConfigError as exc:
            out.append(str(exc))
        weights = None
    elif is_calibration(weights):  # a calibration made once for the whole job (Calibration.to_dict() or a calibrated output's attrs)
        try:
            given_calibration(weights, sec.get("lam") is not None, sec.get("pred_gap_days"), sec.get("debias_days"))
        except ConfigError as exc:
            msg = str(exc).removeprefix("reconstruct: ")
            out.append(msg if msg.startswith("weights:") else f"weights: {msg}")
        weights = None  # the other options (obs_std) are checked as for any weights
    try:
        check_reconstruct_options(None if weights in ("model", "auto") else weights,
                                  **{**kw, "lam": 1000.0 if kw["lam"] is None else kw["lam"]})
    except ConfigError as exc:
        out.append(str(exc).removeprefix("reconstruct: "))
    return out


def _phenology(sec: Mapping[str, Any]) -> list[str]:
    from ..phenometrics.options import check_options

    try:
        check_options(sec, "")
    except ConfigError as exc:
        return [str(exc).removeprefix(": ")]
    return []


def _crs(value: Any) -> list[str]:
    if value is None:
        return []
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return [f"crs: expected an EPSG code (32631 or 'EPSG:32631') or WKT, found {type(value).__name__} {value!r}"]
    try:
        CRS.from_user_input(value)
    except CRSError as exc:
        return [f"crs: expected an EPSG code (32631 or 'EPSG:32631') or WKT, found {value!r} ({exc})"]
    return []


#: Section -> its value check (a list of problems, each ``key: expected ..., found ...``).
_SECTION_CHECKS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "s1": _s1, "s2": _s2, "align": _align, "predict": _predict, "reconstruct": _reconstruct, "phenology": _phenology,
}


def check_values(context: Mapping[str, Any], what: str) -> None:
    """Refuse option values a stage would refuse (or misread) later, on the back-end.

    Parameters
    ----------
    context : mapping
        A context whose keys :func:`~fusets_dl.openeo.context.check_context`
        has checked (sections are mappings).
    what : str
        The caller, for the message (``"openEO UDF 'phenology': context"``).

    Raises
    ------
    ConfigError
        Every bad value, each as ``[section] key: expected ..., found ...``;
        numbers and booleans given as strings are named as such.
    """
    problems = _crs(context.get("crs"))
    for name, check in _SECTION_CHECKS.items():
        sec = context.get(name)
        if not isinstance(sec, Mapping):
            continue
        quoted = {k: msg for k, v in sec.items() if (msg := _quoted(name, k, v))}
        problems += [f"[{name!r}] {msg}" for msg in quoted.values()]
        rest = {k: v for k, v in sec.items() if k not in quoted}
        problems += [f"[{name!r}] {msg}" for msg in check(rest)]
    if problems:
        head = f"{what}: " if len(problems) == 1 else f"{what}: {len(problems)} bad option values:\n  - "
        raise ConfigError(head + "\n  - ".join(problems))
