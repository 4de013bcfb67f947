"""Wide point tables (one column per band and time step, WorldCereal extractions) melted to long ones.

WorldCereal's public extractions hold one row per sample and one column per
band and composite: ``OPTICAL-B04-ts0-10m`` .. ``OPTICAL-B04-ts11-10m``,
``SAR-VV-ts0-20m`` ..., with the row's ``start_date`` (and ``end_date``).
Composite ``i`` starts ``i`` periods after the window that holds
``start_date``; windows start on the 1st of the month (``"month"``) or on the
1st, 11th and 21st (``"dekad"``), as WorldCereal composites them. The period
is read from ``start_date`` and ``end_date`` (the number of time steps must
span them exactly) unless given. The bands get the long tables' openEO
names (``OPTICAL-`` -> ``S2-L2A-``, ``SAR-`` -> ``S1-SIGMA0-``, the
resolution suffix dropped), so they are decoded as the long tables' are
(uint16 compressed dB and DN x 1e-4, 65535 nodata).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

import numpy as np
import pandas as pd

from ..errors import TableError

__all__ = ["WIDE_FREQS", "composite_starts", "is_wide", "melt_wide"]

#: ``<band>-ts<step>[-<resolution>]``: a band at one time step of a wide table.
WIDE_COLUMN = re.compile(r"^(?P<band>.+?)-ts(?P<step>\d+)(?P<res>-.*)?$")
#: Composite periods of wide tables.
WIDE_FREQS = ("month", "dekad")
#: WorldCereal band prefixes and the openEO names the long tables use for them.
_PREFIXES = {"OPTICAL-": "S2-L2A-", "SAR-": "S1-SIGMA0-"}
#: The column the melted table carries the composite start in.
TIME_COLUMN = "timestamp"


def is_wide(columns: pd.Index) -> bool:
    """Whether a table has columns of band time steps (``OPTICAL-B04-ts0-10m``).

    Parameters
    ----------
    columns : pandas.Index
        The table's columns.

    Returns
    -------
    bool
        True when any column names a band at a time step.
    """
    return any(isinstance(c, str) and WIDE_COLUMN.match(c) for c in columns)


def _window_start(t: pd.DatetimeIndex, freq: str) -> pd.DatetimeIndex:
    """The start of the composite window holding each date (the 1st; or the 1st, 11th, 21st)."""
    day = 1 if freq == "month" else np.select([t.day <= 10, t.day <= 20], [1, 11], 21)
    return pd.DatetimeIndex(pd.to_datetime({"year": t.year, "month": t.month, "day": day}))


def composite_starts(start: pd.DatetimeIndex, n_steps: int, freq: Literal["month", "dekad"]) -> np.ndarray:
    """(rows, steps) start dates of the composites ``0 .. n_steps-1`` after each row's ``start``.

    Parameters
    ----------
    start : pandas.DatetimeIndex
        Each row's ``start_date``.
    n_steps : int
        Time steps of the table.
    freq : {"month", "dekad"}
        Composite period.

    Returns
    -------
    numpy.ndarray
        ``datetime64[ns]`` of shape (rows, n_steps).
    """
    first = _window_start(start, freq)
    steps = np.arange(n_steps)
    if freq == "month":
        months = (first.year * 12 + first.month - 1).to_numpy()[:, None] + steps[None]
        return pd.to_datetime({"year": (months // 12).ravel(), "month": (months % 12 + 1).ravel(), "day": 1}).to_numpy().reshape(months.shape)
    dekads = ((first.year * 12 + first.month - 1) * 3 + (first.day - 1) // 10).to_numpy()[:, None] + steps[None]
    months = dekads // 3
    return pd.to_datetime({"year": (months // 12).ravel(), "month": (months % 12 + 1).ravel(),
                           "day": (dekads % 3 * 10 + 1).ravel()}).to_numpy().reshape(dekads.shape)


def _span_steps(start: pd.DatetimeIndex, end: pd.DatetimeIndex, freq: str) -> np.ndarray:
    """Composites from the window of ``start`` to that of ``end``, both included."""
    a, b = _window_start(start, freq), _window_start(end, freq)
    months = (b.year - a.year) * 12 + (b.month - a.month)
    if freq == "month":
        return np.asarray(months + 1)
    return np.asarray(months * 3 + ((b.day - 1) // 10 - (a.day - 1) // 10) + 1)


def _dates(values: pd.Series, name: str, what: str) -> pd.DatetimeIndex:
    """Dates of a column: date strings or datetimes, or whole numbers written YYYYMMDD (never nanoseconds since 1970)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        num = pd.to_numeric(values, errors="coerce")
        ok = num.notna() & (num == np.floor(num)) & (num >= 1_000_01_01) & (num <= 9999_12_31)
        t = pd.DatetimeIndex(pd.to_datetime(num.where(ok).astype("Int64").astype(str), format="%Y%m%d", errors="coerce"))
    else:
        t = pd.DatetimeIndex(pd.to_datetime(values, errors="coerce"))
    if t.tz is not None:
        t = t.tz_convert(None)
    if t.isna().any():
        bad = values[np.asarray(t.isna())].iloc[0]
        raise TableError(f"{what}: {name}: expected dates (or whole numbers YYYYMMDD), found {int(t.isna().sum())} rows that are "
                         f"not, such as {bad.item() if isinstance(bad, np.generic) else bad!r}")
    return t


def _infer_freq(table: pd.DataFrame, start: pd.DatetimeIndex, n_steps: int, what: str) -> str:
    """The composite period whose count from ``start_date`` to ``end_date`` is the table's number of time steps."""
    if "end_date" not in table.columns:
        raise TableError(f"{what}: a wide table of {n_steps} time steps without an end_date column: its composite period "
                         f"cannot be read; expected wide_freq='month' or 'dekad'")
    end = _dates(table["end_date"], "end_date", what)
    # a row may end early (fewer available time steps, padded with nodata); the longest span is the table's
    fits = [f for f in WIDE_FREQS if (sp := _span_steps(start, end, f)).max() == n_steps and sp.min() >= 1]
    if not fits:
        spans = {f: sorted(set(_span_steps(start, end, f).tolist()))[:4] for f in WIDE_FREQS}
        raise TableError(f"{what}: a wide table of {n_steps} time steps whose start_date..end_date spans {spans['month']} months "
                         f"and {spans['dekad']} dekads: neither period fits; expected wide_freq='month' or 'dekad'")
    return fits[0]


def melt_wide(table: pd.DataFrame, *, what: str, freq: Literal["month", "dekad"] | None = None,
              columns: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per sample and composite from a wide table; the band columns under their long-table names.

    Parameters
    ----------
    table : pandas.DataFrame
        A wide table with a ``start_date`` column.
    what : str
        The caller, for messages.
    freq : {"month", "dekad"}, optional
        Composite period; default: read from ``start_date`` and ``end_date``.
    columns : mapping, optional
        The caller's role -> column names; a ``"time"`` entry means the
        table is long after all and nothing is melted.

    Returns
    -------
    pandas.DataFrame
        The other columns repeated on every composite, ``timestamp`` (the
        composite's start) and one column per band; rows with no band value
        at all are dropped.

    Raises
    ------
    TableError
        No ``start_date``, unparseable start dates, a period that cannot be
        read or is unknown, or one band at two resolutions.
    """
    if columns and "time" in columns:
        return table
    wide = {c: WIDE_COLUMN.match(c) for c in table.columns if isinstance(c, str) and WIDE_COLUMN.match(c)}
    if freq is not None and freq not in WIDE_FREQS:
        raise TableError(f"{what}: wide_freq: expected one of {list(WIDE_FREQS)}, found {freq!r}")
    if "start_date" not in table.columns:
        raise TableError(f"{what}: expected a long table (one row per point and date, with a date column) or a wide one (one "
                         f"column per band and time step) with a start_date column; found {len(wide)} columns such as "
                         f"{list(wide)[:3]} and no start_date")
    start = _dates(table["start_date"], "start_date", what)
    n_steps = max(int(m.group("step")) for m in wide.values()) + 1
    freq = freq or _infer_freq(table, start, n_steps, what)  # type: ignore[assignment]
    bands: dict[str, dict[int, str]] = {}
    for col, m in wide.items():
        name = m.group("band")
        for old, new in _PREFIXES.items():
            if name.startswith(old):
                name = new + name[len(old):]
        seen = bands.setdefault(name, {})
        step = int(m.group("step"))
        if step in seen:
            raise TableError(f"{what}: band {name} at time step {step} in two columns ({seen[step]!r}, {col!r}); expected one")
        seen[step] = col
    times = composite_starts(start, n_steps, freq)  # type: ignore[arg-type]
    static = table.drop(columns=list(wide))
    out = static.iloc[np.repeat(np.arange(len(static)), n_steps)].reset_index(drop=True)  # by position: any index
    out[TIME_COLUMN] = times.ravel()
    for name, steps in bands.items():
        vals = np.full((len(table), n_steps), np.nan)
        for step, col in steps.items():
            vals[:, step] = pd.to_numeric(table[col], errors="coerce").to_numpy(np.float64)
        out[name] = vals.ravel()
    has_value = out[list(bands)].notna().any(axis=1)
    return out[has_value.to_numpy()].reset_index(drop=True)
