"""``phenology``: multi-season phenometrics of any NDVI series, lazily over Dask chunks.

The flow: check the options (``_phen_check``), build the working grid in
days (``_phen_grid``), run the kernel of :mod:`.seasons` over pixel blocks
(``_phen_apply``) and unpack its output into dated, CF-described variables
(``_phen_dataset``).
"""

from __future__ import annotations

import uuid
import warnings
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers .rio, used for the CRS)
import xarray as xr

from ..cf import CONVENTIONS, apply_cf
from ..errors import ConfigError, DimensionError, DuplicateTimeError
from ..readers.sanity import checked
from ..validate import cftime_hint, check_date_range
from .by_class import check_class_map, phenology_by_class
from .grid import on_labels
from .observed import check_observed, season_observation
from .options import (
    check_against_series,
    check_options,
    parse_period,
    warn_not_ndvi,
    warn_not_ndvi_per_chunk,
)
from .per_class import phenology_per_class
from .seasons import DATE_VARS, FLAG_VARS, PHENO_VARS, PIXEL_VARS, MainRule, Thresholds, pheno_block
from .years import by_year_block

__all__ = ["GRID_SNAP_DAYS", "default_step", "phenology"]


class _PhenGrid(NamedTuple):
    """Input dates and the regular working grid, in days from the first date's midnight."""

    origin: pd.Timestamp
    in_days: np.ndarray
    grid_days: np.ndarray
    period: tuple[float, float] | None


#: Days of data beyond the series edge a cut start or end may be extrapolated (``extrapolate=True``).
EXTRAPOLATE_DAYS = 60.0
#: Upper-envelope refits of ``envelope=True``.
ENVELOPE_ITERATIONS = 2
#: Values of in-memory input the NDVI range check looks at (a strided sample).
SAMPLE_VALUES = 65536
#: Encoding of the date variables when written (CF times, NaT as NaN).
DATE_ENCODING = {"units": "seconds since 1970-01-01", "calendar": "proleptic_gregorian", "dtype": "float64"}  # whole seconds exact


def _phen_check(ndvi: xr.DataArray, options: dict[str, Any], what: str = "phenology") -> pd.DatetimeIndex:
    """The input dates, after checking the options (:mod:`.options`), the ``time`` dimension and the options that depend on it."""
    check_options(options, what)
    if not isinstance(ndvi, xr.DataArray):
        found = f"a Dataset with variables {sorted(map(str, ndvi.data_vars))}" if isinstance(ndvi, xr.Dataset) else type(ndvi).__name__
        raise DimensionError(f"phenology: expected an NDVI DataArray with a 'time' dimension, found {found} "
                             "(pass ds['NDVI'], or call ds.fusion.phenology() on a reconstructed cube)")
    if "time" not in ndvi.dims:
        raise DimensionError(f"phenology: expected a 'time' dimension, found {ndvi.dims}")
    if isinstance(ndvi["time"].dtype, pd.DatetimeTZDtype):
        raise DimensionError(
            f"phenology: expected 'time' as naive UTC datetime64 dates, found timezone-aware {ndvi['time'].dtype}; convert it: "
            "ndvi.assign_coords(time=ndvi.indexes['time'].tz_convert('UTC').tz_localize(None))")
    if not np.issubdtype(ndvi["time"].dtype, np.datetime64):
        hint = cftime_hint(ndvi["time"].values) or " (decode the times, e.g. xr.decode_cf)"
        raise DimensionError(f"phenology: expected 'time' as datetime64 dates, found dtype {ndvi['time'].dtype}{hint}")
    check_date_range(ndvi["time"].values, "phenology")
    t = pd.DatetimeIndex(ndvi["time"].values)
    if t.hasnans:
        raise DimensionError(f"phenology: expected a date at every 'time', found {int(t.isna().sum())} NaT of {t.size} "
                             "(drop them: ndvi.isel(time=ndvi['time'].notnull().values))")
    if t.has_duplicates:  # a repeated date's values land on one grid day: one of them dropped, seasons lost silently
        dups = t[t.duplicated()].unique()[:5]
        raise DuplicateTimeError(f"phenology: expected unique dates, found {int(t.duplicated().sum())} repeated (first: "
                                 f"{[str(d) for d in dups]}); merge them first (e.g. ndvi.groupby('time').mean())")
    if not t.is_monotonic_increasing:
        raise DimensionError("phenology: expected 'time' sorted in increasing order, found unsorted dates (use ndvi.sortby('time'))")
    if t.size < 4:
        raise DimensionError(f"phenology: expected at least 4 dates, found {t.size}")
    check_against_series(t, options, what)
    return t


#: Farthest (days) an input date may lie from the default grid's nearest day for that grid to be used: values are
#: placed on their nearest grid cell, so a coarser grid would move them in time by up to half its step.
GRID_SNAP_DAYS = 0.5


def default_step(in_days: np.ndarray) -> float:
    """The working grid step when ``step_days`` is None: the median input spacing on a regular series, else 1 day.

    Each input value is placed on its nearest grid cell. On a regular series
    (a reconstruction on a ``freq`` grid: every date within
    :data:`GRID_SNAP_DAYS` of the grid) the median spacing moves nothing. On
    monthly or ten-day composites or irregular clear views it would move
    values by up to half a step, differently from year to year (monthly
    composites: peaks 5-12 days off, dekads 4 days, irregular S2 6 days;
    1 day: at most 1 day); there the grid is daily.

    Parameters
    ----------
    in_days : numpy.ndarray
        Input dates in days from the first date's midnight, increasing.

    Returns
    -------
    float
        The step in days (at least 1).
    """
    step = max(1.0, float(np.round(np.median(np.diff(in_days)))))
    if step == 1.0:
        return step
    off = in_days / step  # the grid starts at the first date's midnight
    return step if float(np.max(np.abs(off - np.round(off)))) * step <= GRID_SNAP_DAYS else 1.0


def _phen_grid(t: pd.DatetimeIndex, step_days: float | None, period: tuple[Any, Any] | None) -> _PhenGrid:
    """Working grid at ``step_days`` (default: :func:`default_step`); ``period`` in days, both ends inclusive."""
    origin = t[0].floor("D")
    in_days = ((t - origin) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
    step = float(step_days) if step_days is not None else default_step(in_days)
    grid_days = np.arange(0.0, in_days[-1] + step / 2, step)
    per = None
    bounds = parse_period(period)
    if bounds is not None:
        day = pd.Timedelta(days=1)
        # the end is inclusive to the nanosecond: just below the next instant, which float days cannot always hold
        per = (float((bounds[0] - origin) / day), float(np.nextafter((bounds[1] + pd.Timedelta(1, "ns") - origin) / day, -np.inf)))
    return _PhenGrid(origin, in_days, grid_days, per)


def _phen_apply(
    ndvi: xr.DataArray, grid: _PhenGrid, max_seasons: int, extra: dict[str, xr.DataArray], **kwargs: Any
) -> xr.DataArray:
    """The kernel over pixel blocks (``time`` as one chunk): ``(..., season, var)`` float64."""
    lazy = ndvi.chunks is not None or any(a.chunks is not None for a in extra.values())
    # a Dask call's chunks warn each kind once for the whole call (a batch run computes one tile at a time, and a
    # catch_warnings between tiles resets Python's once-per-place: the same warning came once per tile)
    per_chunk = f"phenology-{uuid.uuid4().hex}" if lazy else False
    da = ndvi.chunk({"time": -1}) if lazy else ndvi
    args = [a.chunk({"time": -1}) if lazy and "time" in a.dims else a for a in extra.values()]
    stacked = xr.apply_ufunc(
        pheno_block,
        da,
        *args,
        input_core_dims=[["time"], *[["time"] if "time" in a.dims else [] for a in args]],
        output_core_dims=[["season", "var"]],
        kwargs={"in_days": grid.in_days, "grid_days": grid.grid_days, "max_seasons": max_seasons, "period": grid.period,
                "inputs": tuple(extra), "per_chunk": per_chunk, **kwargs},
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"season": max_seasons, "var": len(PHENO_VARS)}},
    )
    return stacked.assign_coords(season=np.arange(max_seasons))


def _season_years(days: pd.DatetimeIndex, year_start: int) -> np.ndarray:
    """The (season) year of each day: its calendar year, less one before month ``year_start`` (labelled by its start)."""
    return (days.year - (days.month < year_start)).to_numpy()


def _season_year(day: pd.Timestamp, year_start: int) -> int:
    return int(_season_years(pd.DatetimeIndex([day]), year_start)[0])


def _edge_years(grid: _PhenGrid, years: np.ndarray, year_start: int, min_valid: int, min_days: float) -> np.ndarray:
    """``years`` less the leading and trailing ones whose dates of the series cannot hold a season on their own.

    A first or last year is kept when the series has at least ``min_valid``
    dates in it spanning at least ``min_days`` days (the rule a pixel's
    valid values meet before it gets a season); the years between are all
    kept. A ``freq="5D"`` reconstruction of 2021-2023 ends on 2024-01-01:
    its year 2024 (one date) was a year of empty slots. When no year
    qualifies, ``years`` is returned as it is.
    """
    in_days = np.asarray(grid.in_days, np.float64)  # sorted
    in_years = _season_years(grid.origin + pd.to_timedelta(in_days, unit="D"), year_start)

    def holds(year: int) -> bool:
        d = in_days[in_years == year]
        return d.size > 0 and d.size >= min_valid and float(d[-1] - d[0]) >= min_days

    ok = np.array([holds(int(y)) for y in years], dtype=bool)
    if not ok.any():
        return years
    first, last = int(np.argmax(ok)), years.size - 1 - int(np.argmax(ok[::-1]))
    return years[first : last + 1]


def _by_year(
    stacked: xr.DataArray, grid: _PhenGrid, per_year: int, year_start: int = 1, min_valid: int = 1, min_days: float = 0.0,
) -> xr.DataArray:
    """Seasons on ``(year, season)`` by the (season) year of their peak (lazy); with a period, its years only.

    Leading and trailing years whose dates cannot hold a season (fewer than
    ``min_valid`` dates, or spanning fewer than ``min_days`` days) are left
    out (:func:`_edge_years`).
    """
    days = pd.date_range(grid.origin, periods=int(grid.grid_days[-1]) + 2, freq="D")
    # peaks lie within the data: the years of its first and last dates (the grid's last day can reach the next year)
    lo, hi = _season_year(grid.origin, year_start), _season_year(grid.origin + pd.Timedelta(days=float(grid.in_days[-1])), year_start)
    if grid.period is not None:  # seasons peak inside the period: the other years would only hold empty slots
        lo = max(lo, _season_year(grid.origin + pd.Timedelta(days=float(grid.period[0])), year_start))
        hi = min(hi, _season_year(grid.origin + pd.Timedelta(days=float(grid.period[1])), year_start))
    years = _edge_years(grid, np.arange(lo, hi + 1), year_start, min_valid, min_days)
    out = xr.apply_ufunc(
        by_year_block,
        stacked,
        input_core_dims=[["season", "var"]],
        output_core_dims=[["year", "season", "var"]],
        exclude_dims={"season"},
        kwargs={"pos_years": _season_years(days, year_start), "year0": int(years[0]), "n_years": years.size, "per_year": per_year,
                "pos_index": PHENO_VARS.index("pos")},
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"year": years.size, "season": per_year, "var": len(PHENO_VARS)}},
    )
    year = xr.DataArray(years, dims="year", attrs={"long_name": "year of the season's peak" if year_start == 1 else
                                                    f"season year of the season's peak (from month {year_start}, labelled by its start)"})
    return out.assign_coords(year=year, season=np.arange(per_year))


def _phen_dataset(stacked: xr.DataArray, lead: list[Any], origin: pd.Timestamp, pixel: xr.DataArray) -> xr.Dataset:
    """One variable per phenometric on ``(season, *lead)``: dates as datetime64 (NaT), flags int8, values float32.

    Works on the underlying NumPy or Dask array (one slice per variable) and
    builds the Dataset once: xarray's per-variable alignment cost as much as
    the kernel on a few thousand pixels.
    """
    outer = [d for d in ("year", "season") if d in stacked.dims]
    dims = (*outer, *lead)
    data = stacked.transpose(*dims, "var").data
    pix = pixel.transpose(*lead, "var").data
    origin_ns = np.datetime64(origin.to_datetime64(), "ns").astype(np.int64)
    nat = np.iinfo(np.int64).min
    variables: dict[str, Any] = {}
    for i, name in enumerate(PHENO_VARS):
        if name in PIXEL_VARS:
            variables[name] = (tuple(lead), pix[..., i].astype(np.float32))
            continue
        v = data[..., i]
        if name in DATE_VARS:
            ns = np.round(v * 86400.0) * 1e9  # whole seconds: the float day arithmetic leaves sub-second noise (a peak at 00:00:00.000152)
            ok = np.isfinite(ns)
            ints = np.where(ok, ns, 0.0).astype(np.int64) + origin_ns
            v = np.where(ok, ints, nat).astype("datetime64[ns]")
        elif name in FLAG_VARS:
            v = np.where(np.isfinite(v), v, 0.0).astype(np.int8)
        else:
            v = v.astype(np.float32)
        variables[name] = (dims, v)
    pos = data[..., PHENO_VARS.index("pos")]
    variables["n_seasons"] = ((*outer[:-1], *lead), np.isfinite(pos).sum(axis=len(outer) - 1).astype(np.int8))
    main = data[..., PHENO_VARS.index("is_main")]
    variables["n_main_seasons"] = ((*outer[:-1], *lead), (main == 1).sum(axis=len(outer) - 1).astype(np.int8))
    coords = {k: c for k, c in stacked.coords.items() if "var" not in c.dims}
    out = apply_cf(xr.Dataset(variables, coords=coords), "phenology")
    for name in DATE_VARS:
        out[name].encoding.update(DATE_ENCODING)
    return out


def _extra_inputs(ndvi: xr.DataArray, noise: xr.DataArray | float | None, std: xr.DataArray | None) -> dict[str, xr.DataArray]:
    """The optional per-value ``std`` and per-pixel ``noise`` inputs, checked against ``ndvi``'s dims, laid on its coordinates.

    A ``std`` whose ``y`` runs the other way (or any dim in another order of
    the same labels) is reindexed onto ``ndvi``'s labels (it raised xarray's
    ``AlignmentError``); labels it lacks are refused. Negative or infinite
    values are refused (at the call in memory, per chunk as computed on
    Dask): a noise of -1 switched the noise test off without a word.
    """
    lead = [d for d in ndvi.dims if d != "time"]
    extra: dict[str, xr.DataArray] = {}
    if std is not None:
        if set(std.dims) != set(ndvi.dims):
            raise DimensionError(f"phenology: expected std on {ndvi.dims}, found {std.dims}")
        extra["std"] = _nonnegative(on_labels(std.transpose(*ndvi.dims), ndvi, "std"), "std")
    if noise is not None:
        arr = noise if isinstance(noise, xr.DataArray) else xr.DataArray(np.full([ndvi.sizes[d] for d in lead], float(noise)), dims=lead)
        if not set(arr.dims) <= set(lead):
            raise DimensionError(f"phenology: expected noise on (a subset of) {tuple(lead)}, found {arr.dims}")
        extra["noise"] = _nonnegative(arr.broadcast_like(ndvi.isel(time=0, drop=True)).transpose(*lead), "noise")
    return extra


def _nonnegative(arr: xr.DataArray, what: str) -> xr.DataArray:
    """``arr``, refused where a value is negative or infinite (NaN: unknown, kept): now in memory, per chunk on Dask."""

    def check(block: np.ndarray) -> np.ndarray:
        v = np.asarray(block, dtype=np.float64)
        bad = np.isinf(v) | (v < 0)
        if bad.any():
            raise ConfigError(f"phenology: {what}: expected noise sds >= 0 (NDVI) or NaN, found {int(bad.sum())} negative or "
                              f"infinite values (min {np.nanmin(np.where(np.isinf(v), np.nan, v)) if np.isfinite(v).any() else v.min():g})")
        return block

    if arr.chunks is None:
        check(arr.values)
        return arr
    return arr.copy(data=arr.data.map_blocks(check, dtype=arr.dtype))


def _main_rule(grid: _PhenGrid, fraction: float, months: tuple[int, int] | None, year_start: int = 1) -> MainRule:
    """The (season) year and month of every day of the grid, for ``is_main`` and ``by_year``."""
    days = pd.date_range(grid.origin, periods=int(grid.grid_days[-1]) + 2, freq="D")
    mon = None if months is None else (int(months[0]), int(months[1]))
    return MainRule(float(fraction), _season_years(days, year_start), days.month.to_numpy(), mon)


def _warn_short(t: pd.DatetimeIndex, min_span: float, n_pixels: int) -> None:
    """Warn when the whole series is too short to hold a season."""
    span = (t[-1] - t[0]) / pd.Timedelta(days=1)
    if span < min_span:
        warnings.warn(
            f"phenology: the series spans {span:g} days ({t.size} dates), shorter than the {min_span:g} days a season "
            f"needs (min_span): no season reported for any of the {n_pixels} pixels",
            UserWarning, stacklevel=3,
        )


def phenology(
    ndvi: xr.DataArray,
    *,
    max_seasons: int = 3,
    method: str = "threshold",
    amplitude_fraction: float = 0.5,
    min_amplitude: float = 0.1,
    min_length: float = 30.0,
    smooth: float | None = 200.0,
    step_days: float | None = None,
    period: tuple[Any, Any] | None = None,
    min_valid: int = 6,
    by: xr.DataArray | None = None,
    noise_factor: float = 3.0,
    noise: xr.DataArray | float | None = None,
    std: xr.DataArray | None = None,
    min_separation: float | None = None,
    min_span: float | None = None,
    start_threshold: float | None = None,
    end_threshold: float | None = None,
    threshold_type: str = "fraction",
    pos_level: float = 0.8,
    extrapolate: bool | float = False,
    by_year: bool | int = False,
    envelope: bool | int = False,
    main_fraction: float = 0.5,
    main_months: tuple[int, int] | None = None,
    year_start: int = 1,
    classes: xr.DataArray | None = None,
    params: dict[Any, dict[str, Any]] | None = None,
    observed: xr.DataArray | None = None,
) -> xr.Dataset:
    """Phenometrics of up to ``max_seasons`` seasons per pixel (or their medians per class, with ``by``).

    Parameters
    ----------
    ndvi : xarray.DataArray
        NDVI with a ``time`` dimension (other dimensions are pixels), for
        example ``reconstruct(...)["NDVI"]`` or clear S2 NDVI with gaps.
        Values beyond [-1.05, 1.05] cannot be NDVI and count as missing.
    max_seasons : int
        Size of the ``season`` dimension; when more seasons are found the
        largest amplitudes are kept, ``n_seasons`` counts the seasons kept
        (not those found), and a warning gives how many pixels lost seasons
        and the most found (at compute time on Dask, counts in the log). Run
        one year at a time with ``period`` for two or three crops a year over
        several years, or use ``by_year``.
    method : {"threshold"}
        SOS/EOS where NDVI crosses a threshold on each side of the peak.
    amplitude_fraction : float
        Fraction of the seasonal amplitude for SOS/EOS (default 0.5), unless
        ``start_threshold``/``end_threshold`` are given.
    min_amplitude : float
        Minimum prominence of a season (NDVI units).
    min_length : float
        Minimum season length, days (half of it: the default ``min_separation``).
    smooth : float or None
        Whittaker lambda (1-day grid, finite, >= 0) applied before detection;
        also fills gaps. None or 0: linear interpolation of gaps only. 200
        flattens seasons a month or so long (noise-free, five a year:
        ``aos`` -6 %); noise biases ``aos`` the other way (+6 to +11 % on
        two seasons a year at sd 0.02-0.05), more so at a smaller lambda.
        For four or more crops a year, ``smooth=50, min_length=20``
        (docs/phenology.md, short seasons).
    step_days : float, optional
        Internal grid step in days (> 0, at most a third of the series'
        span); None: the median spacing of the input when its dates lie on a
        regular grid (a reconstruction at a ``freq``), else 1 day
        (:func:`default_step`: values are placed on the nearest grid cell, so a
        coarser step would move irregular dates in time).
    period : (start, end), optional
        Keep seasons whose peak lies in this period, both ends included (the
        whole series is used for detection, so a season crossing the
        period's edge stays whole). Dates as strings, ``datetime.date``,
        ``numpy.datetime64`` or ``pandas.Timestamp``; an end given as a date
        (midnight, no time of day) includes that whole day, so
        ``("2021-01-01", "2021-12-31")`` keeps a peak on 31 December at
        18:00. The period must overlap the series.
    min_valid : int
        Pixels with fewer valid values give no seasons (at least 1, at most
        the number of dates).
    by : xarray.DataArray, optional
        A class map on the pixel grid (for example
        :func:`fusets_dl.segment`'s output), matched to the pixels by
        coordinates (:mod:`.grid`): the result is then the per-class
        summary of :func:`phenology_by_class` instead of per-pixel values
        (this computes): the class's seasons matched across its pixels by
        peak date, on ``(class, season)``, or ``(class, year, season)``
        with ``by_year``.
    noise_factor : float
        A season's prominence must also reach this many times the pixel's
        noise sd (default 3; 0 turns the noise test off).
    noise : xarray.DataArray or float, optional
        Noise sd per pixel (NDVI). Default: estimated from each pixel's
        pseudo-residuals (:mod:`.noise`), or from ``std``.
    std : xarray.DataArray, optional
        Uncertainty of every value (``reconstruct(...)["NDVI_std"]``): the
        pixel's noise is its median.
    min_separation : float, optional
        Minimum distance between two peaks, days: a peak is the highest value
        within ``min_separation`` days on either side (default ``min_length /
        2``; before 2026-11-28 the window was ``min_separation`` wide in all,
        so given peaks only half as far apart survived, and the default,
        ``min_length``, was that window: the default's results are unchanged).
    min_span : float, optional
        A pixel whose valid values span fewer days gives no season, with a
        warning and counts (default ``2 * min_length``).
    start_threshold, end_threshold : float, optional
        SOS and EOS thresholds, as TIMESAT's: fractions of each side's
        amplitude (``threshold_type="fraction"``) or NDVI values
        (``"absolute"``). Default: ``amplitude_fraction``.
    threshold_type : {"fraction", "absolute"}
        How the thresholds are read.
    pos_level : float
        The peak date is the middle of the crossings at this fraction of the
        amplitude (0.8, chosen on the analytic benchmark; 1 keeps the grid
        maximum).
    extrapolate : bool or float
        A start or end cut by the series edge is continued from the slope at
        the edge, up to ``EXTRAPOLATE_DAYS`` (True) or this many days beyond
        the data, and flagged in ``sos_extrapolated``/``eos_extrapolated``;
        the threshold then uses the trough of the complete side. False:
        NaT there. A season still at its top at the first or last date
        (within 2 % of its amplitude over the 15 days before that edge: a
        crop green to the series end) is kept with its other side measured
        and POS the first (last) date within 2 % of the top; otherwise no
        peak is placed at or outside the data's edges. When both troughs of
        a season lie at the series' edges and the series has levelled off at
        neither (a series covering only the middle of a season), the season
        is its peak alone (SOS/EOS NaT, ``aos``/``base`` NaN).
    by_year : bool or int
        Attribute seasons to the calendar year of their peak (the calendar
        day it falls in: a peak on 31 December at 18:00 belongs to that
        year): the outputs are on ``(year, season, ...)`` with
        ``max_seasons`` slots per year (or this many when an int >= 1; 0 is
        False; each year keeps its own largest seasons, reported in order
        of start; before 2026-11-28 the largest ``slots x years`` overall
        were kept, then each year's first). With ``period``, only the years
        it touches. A first or last year whose dates (of ``ndvi``'s time
        coordinate) cannot hold a season on their own, fewer than
        ``min_valid`` of them or spanning fewer than ``min_length`` days
        (``min_span`` when smaller), is left out: a ``freq="5D"``
        reconstruction of 2021-2023 ends on 2024-01-01, and its year 2024
        held only empty slots. Seasons peaking in such a year are not
        reported.
    envelope : bool or int
        Upper-envelope fit against residual cloud dips: values more than
        2 noise sd below the fit are dropped and the series refitted,
        ``ENVELOPE_ITERATIONS`` times (True) or this many; the estimated noise
        is then taken without them. False: off.
    main_fraction : float
        A season is *main* (``is_main`` 1) when its amplitude reaches this
        fraction of the largest amplitude among the pixel's seasons peaking in
        the same calendar year; ``n_main_seasons`` counts them (per year with
        ``by_year``). A cover crop before the main crop is then a minor
        season when it is much smaller, and answers "how many main seasons".
    main_months : (int, int), optional
        First and last month (1-12; wrapping over the new year when first >
        last) in which a main season may peak, e.g. ``(6, 9)`` for a summer
        crop whose fields carry a winter cover crop as large as the crop
        itself; the largest season is then sought among those. Default: any
        month.
    year_start : int
        First month (1-12) of the year that ``by_year``, ``is_main`` and
        ``n_main_seasons`` count seasons in: 1, the calendar year; 7, a July
        to June season year, for southern-hemisphere or tropical crops whose
        season peaks around 1 January (a summer crop peaking on 5 January one
        year and 27 December the next fell in one calendar year twice and in
        the next not at all). A season year is labelled by the calendar year
        it starts in (July 2020 - June 2021: 2020).
    classes : xarray.DataArray, optional
        Class id of every pixel (on the pixel grid, matched by coordinates:
        another order is reordered, another grid or extent is an error),
        with ``params``.
    params : dict, optional
        Options per class: ``{1200: {"max_seasons": 1, "main_months": (6, 9)},
        "default": {...}}``; each class listed runs with the top-level
        options updated by its dict, every other pixel (class not listed, or
        NaN) with ``"default"``'s, lazily, combined pixel by pixel
        (:mod:`.per_class`). ``period``, ``step_days``, ``by_year``,
        ``year_start`` and ``by`` are top-level only.
    observed : xarray.DataArray, optional
        Which values are observations, on ``ndvi``'s dimensions: a boolean
        mask, or reconstruct's ``source`` flags (read by their
        ``flag_meanings``; ``ds.fusion.phenology()`` on a reconstruction
        passes its ``source``). Adds ``observed_fraction`` and
        ``longest_gap`` per season (:mod:`.observed`): a reconstruction fills
        every date, so a pixel no clear view ever saw (water, which the
        scene classification does not count clear), or a stretch without
        one (a point table's winter months under snow), gets seasons
        predicted wholly from S1, with ``observed_fraction`` 0. Not used
        with ``by``.

    Returns
    -------
    xarray.Dataset
        ``sos``, ``pos``, ``eos`` (datetime64, NaT where absent, written as
        seconds since 1970-01-01), their values, ``los`` (days), ``aos``,
        ``base`` (and ``base_start``/``base_end``), ``rate_greenup``,
        ``rate_senescence`` (NDVI per day), ``integral`` (small: above the
        base) and ``integral_large`` (above zero) from SOS to EOS (the
        smoothed series' cubic interpolant between the interpolated dates),
        ``pos_value`` and the troughs held within the range of the pixel's
        observed values (no overshoot of the smoother across a gap),
        ``sos_extrapolated``/``eos_extrapolated`` (1 where estimated past a
        cut side) on ``(season, ...)``; ``n_seasons`` (the seasons kept, at
        most ``max_seasons``) and ``noise`` per pixel; seasons ordered by
        start. Lazy on Dask input. With ``observed``: ``observed_fraction``
        (the share of the dates from SOS to EOS holding an observation) and
        ``longest_gap`` (days from SOS to EOS without one) per season.

    Raises
    ------
    ConfigError
        An unknown ``method`` or ``threshold_type``, an option out of range,
        not finite or of the wrong type (:mod:`.options`, naming the option,
        what was expected and what was found), a ``period`` that is not two
        dates, reversed, or outside the series, ``min_valid`` above the
        number of dates, ``params`` without ``classes`` (or the reverse), or
        a bad ``params`` key, ``params`` not a mapping, ``by``/``classes``
        not a DataArray, ``observed`` not a DataArray or numbers without
        ``flag_meanings`` naming ``observed``.
    DimensionError
        ``ndvi`` not a DataArray (a Dataset: pass its ``NDVI``), no ``time``
        dimension, times that are not datetime64, timezone-aware or NaT,
        unsorted, fewer than 4 dates, ``std``/``noise``/``observed`` on other
        dimensions, or ``by``/``classes`` on another grid.

    Warns
    -----
    UserWarning
        A series (or pixels, at compute time) too short to hold a season;
        values that cannot be NDVI (beyond [-1, 1]: NDVI x 100, x 10000,
        dB), on a sample now or per Dask chunk at compute time; in-memory
        input where no pixel has ``min_valid`` values; absolute thresholds
        outside [-1, 1], or (at compute time) not crossed by seasons found;
        (at compute time) pixels with more seasons than ``max_seasons`` (or
        ``by_year``'s slots in a year), with their count and the most found;
        with ``observed``, in-memory seasons holding no observation.
    """
    options = {k: v for k, v in locals().items() if k not in ("ndvi", "classes", "params", "by", "observed")}
    if (classes is None) != (params is None):
        raise ConfigError("phenology: expected both classes and params (options per class), found only one of them")
    if by is not None:  # before the per-pixel phenology, which an in-memory input computes now
        check_class_map(by, "phenology: by")
    t = _phen_check(ndvi, options)
    obs = check_observed(observed, ndvi) if observed is not None else None
    ndvi = _check_values(ndvi, t, int(min_valid))
    out = phenology_per_class(_phen_one, ndvi, classes, params, options) if classes is not None else _phen_run(ndvi, t, options)
    if by is not None:
        return phenology_by_class(out, by)
    if obs is not None:
        out = out.assign(apply_cf(season_observation(out, obs), "phenology").data_vars)
    return out


def _check_values(ndvi: xr.DataArray, t: pd.DatetimeIndex, min_valid: int) -> xr.DataArray:
    """``ndvi`` guarded by :func:`.options.warn_not_ndvi`; a warning with counts when no in-memory pixel has ``min_valid`` values.

    The range check runs on a sample of in-memory data now, and on each Dask
    chunk as it is computed (nothing is computed here); the count of valid
    pixels is taken on in-memory data only.
    """
    if ndvi.chunks is not None:
        return checked(ndvi, warn_not_ndvi_per_chunk, "phenology")
    values = np.asarray(ndvi.transpose(..., "time").values)
    flat = values.ravel()
    warn_not_ndvi(flat[:: max(1, flat.size // SAMPLE_VALUES)], "phenology")
    if values.size:
        counts = np.isfinite(values.astype(np.float64, copy=False)).sum(axis=-1)
        if counts.size and int((counts >= min_valid).sum()) == 0:
            warnings.warn(
                f"phenology: none of the {counts.size} pixels has the {min_valid} valid values a season needs (min_valid) "
                f"over the {t.size} dates ({int((counts > 0).sum())} pixels have any valid value, at most {int(counts.max())}): "
                "no season reported",
                UserWarning, stacklevel=3,
            )
    return ndvi


def _phen_one(ndvi: xr.DataArray, **options: Any) -> xr.Dataset:
    """One run of the kernel with checked ``options`` (the per-class runs of :mod:`.per_class`)."""
    return _phen_run(ndvi, _phen_check(ndvi, options), options)


def _phen_run(ndvi: xr.DataArray, t: pd.DatetimeIndex, options: dict[str, Any]) -> xr.Dataset:
    """The per-pixel phenology of ``ndvi`` (dates ``t``) with checked ``options`` (every keyword of :func:`phenology` but ``by``)."""
    o = options
    start = o["amplitude_fraction"] if o["start_threshold"] is None else o["start_threshold"]
    end = o["amplitude_fraction"] if o["end_threshold"] is None else o["end_threshold"]
    min_length, min_separation, smooth = o["min_length"], o["min_separation"], o["smooth"]
    span = 2.0 * min_length if o["min_span"] is None else float(o["min_span"])
    lead = [d for d in ndvi.dims if d != "time"]
    _warn_short(t, span, int(np.prod([ndvi.sizes[d] for d in lead])))
    grid = _phen_grid(t, o["step_days"], o["period"])
    extrapolate, by_year, envelope = o["extrapolate"], o["by_year"], o["envelope"]
    extra_days = (EXTRAPOLATE_DAYS if extrapolate is True else float(extrapolate)) if extrapolate else None
    max_seasons = int(o["max_seasons"])
    per_year = max_seasons if by_year is True else int(by_year)
    year_start = int(o["year_start"])
    n_years = _season_year(grid.origin, year_start) - _season_year(grid.origin + pd.Timedelta(days=float(grid.grid_days[-1])), year_start)
    n_kernel = per_year * (1 - n_years) if by_year else max_seasons
    stacked = _phen_apply(
        ndvi,
        grid,
        n_kernel,
        _extra_inputs(ndvi, o["noise"], o["std"]),
        fraction=float(o["amplitude_fraction"]),
        min_amplitude=float(o["min_amplitude"]),
        min_length=float(min_length),
        lam=float(smooth) if smooth else None,
        min_valid=int(o["min_valid"]),
        noise_factor=float(o["noise_factor"]),
        min_separation=None if min_separation is None else float(min_separation),
        thresholds=Thresholds(float(start), float(end), o["threshold_type"] == "absolute"),
        pos_level=float(o["pos_level"]),
        extrapolate=extra_days,
        min_span=span,
        envelope=ENVELOPE_ITERATIONS if envelope is True else int(envelope),
        main=_main_rule(grid, o["main_fraction"], o["main_months"], year_start),
        per_year=per_year if by_year else None,
    )
    pixel = stacked.isel(season=0, drop=True)
    if by_year:
        stacked = _by_year(stacked, grid, per_year, year_start, int(o["min_valid"]), min(float(min_length), span))
    out = _phen_dataset(stacked, lead, grid.origin, pixel)
    out.attrs = {
        "Conventions": CONVENTIONS,
        "title": "fusets_dl phenology",
        "method": f"{o['threshold_type']} thresholds {start:g} (start) and {end:g} (end) on each side of the peak",
        "min_amplitude": o["min_amplitude"],
        "noise_factor": o["noise_factor"],
        "min_length_days": min_length,
        "min_separation_days": min_length / 2 if min_separation is None else min_separation,
        "smoothing": f"Whittaker lambda {smooth} (1-day grid)" if smooth else "none",
    }
    crs = getattr(getattr(ndvi, "rio", None), "crs", None)
    if crs is not None:
        out = out.rio.write_crs(crs)
    return out
