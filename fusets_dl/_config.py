"""Rebuilding frozen option dataclasses from JSON dicts, with one validation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")


def dataclass_from_dict(cls: type[T], d: dict[str, Any], tuple_fields: Iterable[str] = ()) -> T:
    """``cls(**d)`` after refusing unknown keys (named in the error) and turning lists into tuples."""
    allowed = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise ConfigError(f"{cls.__name__}: unknown keys {unknown}; expected among {sorted(allowed)}")
    d = dict(d)
    for k in tuple_fields:
        if k in d:
            d[k] = tuple(d[k])
    return cls(**d)
