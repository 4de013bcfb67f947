"""Rebuilding frozen option dataclasses from JSON dicts, with one validation."""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import fields
from typing import Any, TypeVar

import numpy as np

from .errors import ConfigError

T = TypeVar("T")


_SCALARS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}
_PLURAL = {"int": "integers", "float": "numbers", "bool": "booleans", "str": "strings"}
#: Fields that are durations in days: a number of days or a duration string such as "15D" (never nanoseconds).
_DAY_FIELDS = ("windows", "trends")


def _is(kind: str, v: Any) -> bool:
    """Whether ``v`` is of ``kind`` (NumPy scalars count; a bool is not a number)."""
    if kind == "bool":
        return isinstance(v, (bool, np.bool_))
    if isinstance(v, (bool, np.bool_)):
        return False
    if kind == "int":
        return isinstance(v, numbers.Integral)
    if kind == "float":
        return isinstance(v, numbers.Real)
    return isinstance(v, str)


def _days(v: Any, kind: str) -> Any:
    """A duration string ("15D", "36h") as days (an integer for integer fields); anything else unchanged."""
    from .validate import as_timedelta

    if not isinstance(v, str):
        return v
    try:
        days = as_timedelta(v, "duration") / as_timedelta(1, "duration")
    except ConfigError:
        return v
    return int(days) if kind == "int" and days == int(days) else days


def _check_types(cls: type, d: dict[str, Any]) -> list[str]:
    """Values whose type is not their field's (quoted numbers, booleans as strings); durations converted in ``d``."""
    problems = []
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in d:
            continue
        ann = str(f.type).replace(" ", "")
        optional = ann.endswith("|None")
        base = ann.removesuffix("|None")
        v = d[f.name]
        if v is None and optional:
            continue
        if base in _SCALARS:
            if base in ("int", "float") and f.name.endswith("_days"):
                v = d[f.name] = _days(v, base)
            if not _is(base, v):
                problems.append(f"{f.name}: expected {_SCALARS[base]}{' or null' if optional else ''}, found {v!r} ({type(v).__name__})")
        elif base.startswith("tuple[") and base.endswith(",...]") and base[6:-5] in _SCALARS:
            kind = base[6:-5]
            if not isinstance(v, (list, tuple)):
                problems.append(f"{f.name}: expected a list of {_PLURAL[kind]}, found {v!r}")
                continue
            if f.name in _DAY_FIELDS:
                v = d[f.name] = [_days(x, kind) for x in v]
            bad = [x for x in v if not _is(kind, x)]
            if bad:
                problems.append(f"{f.name}: expected a list of {_PLURAL[kind]}{' (days, or durations such as 15D)' if f.name in _DAY_FIELDS else ''}, found {bad!r} in {list(v)!r}")
    return problems


def dataclass_from_dict(cls: type[T], d: dict[str, Any], tuple_fields: Iterable[str] = ()) -> T:
    """``cls(**d)`` after refusing unknown keys and values of the wrong type (all named in one error); lists become tuples."""
    if not isinstance(d, dict):
        raise ConfigError(f"{cls.__name__}: expected a mapping of options, found {d!r}")
    allowed = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(d) - allowed)
    d = dict(d)
    problems = [f"unknown keys {unknown}; expected among {sorted(allowed)}"] if unknown else []
    problems += _check_types(cls, d)  # type: ignore[arg-type]
    if problems:
        raise ConfigError(f"{cls.__name__}: " + "; ".join(problems))
    for k in tuple_fields:
        if k in d:
            d[k] = tuple(d[k])
    try:
        return cls(**d)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{cls.__name__}: invalid options {d!r}: {exc}") from exc
