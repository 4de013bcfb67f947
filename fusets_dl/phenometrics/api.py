"""``phenology``: multi-season phenometrics of any NDVI series, lazily over Dask chunks.

The flow: check the options (``_phen_check``), build the working grid in
days (``_phen_grid``), run the kernel of :mod:`.seasons` over pixel blocks
(``_phen_apply``) and unpack its output into dated, CF-described variables
(``_phen_dataset``).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers .rio, used for the CRS)
import xarray as xr

from ..cf import CONVENTIONS, apply_cf
from ..errors import ConfigError, DimensionError
from .by_class import phenology_by_class
from .per_class import phenology_per_class
from .seasons import DATE_VARS, FLAG_VARS, PHENO_VARS, PIXEL_VARS, MainRule, Thresholds, pheno_block
from .years import by_year_block

__all__ = ["phenology"]


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
#: Encoding of the date variables when written (CF times, NaT as NaN).
DATE_ENCODING = {"units": "days since 1970-01-01", "calendar": "proleptic_gregorian", "dtype": "float64"}


def _phen_check(
    ndvi: xr.DataArray, *, method: str, start: float, end: float, threshold_type: str, min_amplitude: float,
    max_seasons: int, min_length: float, noise_factor: float, pos_level: float,
    main_fraction: float = 0.5, envelope: int = 0, main_months: tuple[int, int] | None = None,
) -> pd.DatetimeIndex:
    """The input dates, after checking the options and the ``time`` dimension."""
    if method != "threshold":
        raise ConfigError(f"phenology: method: expected 'threshold', found {method!r}")
    if threshold_type not in ("fraction", "absolute"):
        raise ConfigError(f"phenology: threshold_type: expected 'fraction' or 'absolute', found {threshold_type!r}")
    if threshold_type == "fraction" and not (0 < start < 1 and 0 < end < 1):
        raise ConfigError(f"phenology: expected 0 < amplitude_fraction (start/end thresholds) < 1, found {start}, {end}")
    if min_amplitude <= 0 or max_seasons < 1 or min_length <= 0 or noise_factor < 0 or not 0 < pos_level <= 1:
        raise ConfigError(
            "phenology: expected min_amplitude > 0, max_seasons >= 1, min_length > 0, noise_factor >= 0, 0 < pos_level <= 1; "
            f"found {min_amplitude}, {max_seasons}, {min_length}, {noise_factor}, {pos_level}"
        )
    if not 0 < main_fraction <= 1 or envelope < 0:
        raise ConfigError(f"phenology: expected 0 < main_fraction <= 1 and envelope >= 0 refits, found {main_fraction}, {envelope}")
    if main_months is not None and (len(main_months) != 2 or not all(1 <= int(m) <= 12 for m in main_months)):
        raise ConfigError(f"phenology: main_months: expected (first, last) months in 1..12, found {main_months!r}")
    if "time" not in ndvi.dims:
        raise DimensionError(f"phenology: expected a 'time' dimension, found {ndvi.dims}")
    if not np.issubdtype(ndvi["time"].dtype, np.datetime64):
        raise DimensionError(f"phenology: expected 'time' as datetime64 dates, found dtype {ndvi['time'].dtype} (decode the times, e.g. xr.decode_cf)")
    t = pd.DatetimeIndex(ndvi["time"].values)
    if not t.is_monotonic_increasing:
        raise DimensionError("phenology: expected 'time' sorted in increasing order, found unsorted dates (use ndvi.sortby('time'))")
    if t.size < 4:
        raise DimensionError(f"phenology: expected at least 4 dates, found {t.size}")
    return t


def _phen_grid(t: pd.DatetimeIndex, step_days: float | None, period: tuple[Any, Any] | None) -> _PhenGrid:
    """Working grid at ``step_days`` (default: the median input spacing, at least a day)."""
    origin = t[0].floor("D")
    in_days = ((t - origin) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
    step = float(step_days) if step_days else max(1.0, float(np.round(np.median(np.diff(in_days)))))
    grid_days = np.arange(0.0, in_days[-1] + step / 2, step)
    per = None
    if period is not None:
        per = tuple(((pd.Timestamp(p) - origin) / pd.Timedelta(days=1)) for p in period)
    return _PhenGrid(origin, in_days, grid_days, per)


def _phen_apply(
    ndvi: xr.DataArray, grid: _PhenGrid, max_seasons: int, extra: dict[str, xr.DataArray], **kwargs: Any
) -> xr.DataArray:
    """The kernel over pixel blocks (``time`` as one chunk): ``(..., season, var)`` float64."""
    lazy = ndvi.chunks is not None or any(a.chunks is not None for a in extra.values())
    da = ndvi.chunk({"time": -1}) if lazy else ndvi
    args = [a.chunk({"time": -1}) if lazy and "time" in a.dims else a for a in extra.values()]
    stacked = xr.apply_ufunc(
        pheno_block,
        da,
        *args,
        input_core_dims=[["time"], *[["time"] if "time" in a.dims else [] for a in args]],
        output_core_dims=[["season", "var"]],
        kwargs={"in_days": grid.in_days, "grid_days": grid.grid_days, "max_seasons": max_seasons, "period": grid.period,
                "inputs": tuple(extra), **kwargs},
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"season": max_seasons, "var": len(PHENO_VARS)}},
    )
    return stacked.assign_coords(season=np.arange(max_seasons))


def _by_year(stacked: xr.DataArray, grid: _PhenGrid, per_year: int) -> xr.DataArray:
    """Seasons on ``(year, season)`` by the calendar year of their peak (lazy)."""
    days = pd.date_range(grid.origin, periods=int(grid.grid_days[-1]) + 2, freq="D")
    years = np.arange(days.year.min(), days.year.max() + 1)
    out = xr.apply_ufunc(
        by_year_block,
        stacked,
        input_core_dims=[["season", "var"]],
        output_core_dims=[["year", "season", "var"]],
        exclude_dims={"season"},
        kwargs={"pos_years": days.year.to_numpy(), "year0": int(years[0]), "n_years": years.size, "per_year": per_year,
                "pos_index": PHENO_VARS.index("pos")},
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"year": years.size, "season": per_year, "var": len(PHENO_VARS)}},
    )
    return out.assign_coords(year=years, season=np.arange(per_year))


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
            ns = np.round(v * 86400e9)
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
    """The optional per-value ``std`` and per-pixel ``noise`` inputs, checked against ``ndvi``'s dims."""
    lead = [d for d in ndvi.dims if d != "time"]
    extra: dict[str, xr.DataArray] = {}
    if std is not None:
        if set(std.dims) != set(ndvi.dims):
            raise DimensionError(f"phenology: expected std on {ndvi.dims}, found {std.dims}")
        extra["std"] = std.transpose(*ndvi.dims)
    if noise is not None:
        arr = noise if isinstance(noise, xr.DataArray) else xr.DataArray(np.full([ndvi.sizes[d] for d in lead], float(noise)), dims=lead)
        if not set(arr.dims) <= set(lead):
            raise DimensionError(f"phenology: expected noise on (a subset of) {tuple(lead)}, found {arr.dims}")
        extra["noise"] = arr.broadcast_like(ndvi.isel(time=0, drop=True)).transpose(*lead)
    return extra


def _main_rule(grid: _PhenGrid, fraction: float, months: tuple[int, int] | None) -> MainRule:
    """The calendar year and month of every day of the grid, for ``is_main``."""
    days = pd.date_range(grid.origin, periods=int(grid.grid_days[-1]) + 2, freq="D")
    mon = None if months is None else (int(months[0]), int(months[1]))
    return MainRule(float(fraction), days.year.to_numpy(), days.month.to_numpy(), mon)


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
    classes: xr.DataArray | None = None,
    params: dict[Any, dict[str, Any]] | None = None,
) -> xr.Dataset:
    """Phenometrics of up to ``max_seasons`` seasons per pixel (or their medians per class, with ``by``).

    Parameters
    ----------
    ndvi : xarray.DataArray
        NDVI with a ``time`` dimension (other dimensions are pixels), for
        example ``reconstruct(...)["NDVI"]`` or clear S2 NDVI with gaps.
    max_seasons : int
        Size of the ``season`` dimension; when more seasons are found the
        largest amplitudes are kept (run one year at a time with ``period``
        for two or three crops a year over several years, or use ``by_year``).
    method : {"threshold"}
        SOS/EOS where NDVI crosses a threshold on each side of the peak.
    amplitude_fraction : float
        Fraction of the seasonal amplitude for SOS/EOS (default 0.5), unless
        ``start_threshold``/``end_threshold`` are given.
    min_amplitude : float
        Minimum prominence of a season (NDVI units).
    min_length : float
        Minimum season length, days (also the default ``min_separation``).
    smooth : float or None
        Whittaker lambda (1-day grid) applied before detection; also fills
        gaps. None: linear interpolation of gaps only.
    step_days : float, optional
        Internal grid step; default: the median spacing of the input, in days.
    period : (start, end), optional
        Keep seasons whose peak lies in this period (the whole series is used
        for detection, so a season crossing the period's edge stays whole).
    min_valid : int
        Pixels with fewer valid values give no seasons.
    by : xarray.DataArray, optional
        A class map on the pixel dimensions (for example
        :func:`fusets_dl.segment`'s output): the result is then the per-class
        summary of :func:`phenology_by_class` instead of per-pixel values
        (this computes).
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
        Minimum distance between two peaks, days (default ``min_length``).
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
        NaT there. Peaks are never placed at or outside the data's edges.
    by_year : bool or int
        Attribute seasons to the calendar year of their peak: the outputs are
        on ``(year, season, ...)`` with ``max_seasons`` slots per year (or
        this many when an int; the largest ``slots x years`` seasons are
        kept before they are attributed).
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
    classes : xarray.DataArray, optional
        Class id of every pixel (on the pixel dimensions), with ``params``.
    params : dict, optional
        Options per class: ``{1200: {"max_seasons": 1, "main_months": (6, 9)},
        "default": {...}}``; each class listed runs with the top-level
        options updated by its dict, every other pixel (class not listed, or
        NaN) with ``"default"``'s, lazily, combined pixel by pixel
        (:mod:`.per_class`). ``period``, ``step_days``, ``by_year`` and ``by``
        are top-level only.

    Returns
    -------
    xarray.Dataset
        ``sos``, ``pos``, ``eos`` (datetime64, NaT where absent, written as
        days since 1970-01-01), their values, ``los`` (days), ``aos``,
        ``base`` (and ``base_start``/``base_end``), ``rate_greenup``,
        ``rate_senescence`` (NDVI per day), ``integral`` (small: above the
        base) and ``integral_large`` (above zero) from SOS to EOS,
        ``sos_extrapolated``/``eos_extrapolated`` (1 where estimated past a
        cut side) on ``(season, ...)``; ``n_seasons`` and ``noise`` per
        pixel; seasons ordered by start. Lazy on Dask input.

    Raises
    ------
    ConfigError
        An unknown ``method`` or ``threshold_type``, an option out of range,
        ``params`` without ``classes`` (or the reverse), or a bad ``params`` key.
    DimensionError
        No ``time`` dimension, fewer than 4 dates, or ``std``/``noise`` on
        other dimensions.

    Warns
    -----
    UserWarning
        A series (or pixels, at compute time) too short to hold a season.
    """
    if classes is not None or params is not None:
        given = dict(locals())
        options = {k: v for k, v in given.items() if k not in ("ndvi", "classes", "params", "by")}
        if classes is None or params is None:
            raise ConfigError("phenology: expected both classes and params (options per class), found only one of them")
        out = phenology_per_class(phenology, ndvi, classes, params, options)
        return phenology_by_class(out, by) if by is not None else out
    start = amplitude_fraction if start_threshold is None else start_threshold
    end = amplitude_fraction if end_threshold is None else end_threshold
    t = _phen_check(
        ndvi, method=method, start=start, end=end, threshold_type=threshold_type, min_amplitude=min_amplitude,
        max_seasons=max_seasons, min_length=min_length, noise_factor=noise_factor, pos_level=pos_level,
        main_fraction=main_fraction, envelope=int(envelope), main_months=main_months,
    )
    span = 2.0 * min_length if min_span is None else float(min_span)
    lead = [d for d in ndvi.dims if d != "time"]
    _warn_short(t, span, int(np.prod([ndvi.sizes[d] for d in lead])))
    grid = _phen_grid(t, step_days, period)
    extra_days = (EXTRAPOLATE_DAYS if extrapolate is True else float(extrapolate)) if extrapolate else None
    per_year = int(max_seasons) if by_year is True else int(by_year)
    n_years = grid.origin.year - (grid.origin + pd.Timedelta(days=float(grid.grid_days[-1]))).year
    n_kernel = per_year * (1 - n_years) if by_year else int(max_seasons)
    stacked = _phen_apply(
        ndvi,
        grid,
        n_kernel,
        _extra_inputs(ndvi, noise, std),
        fraction=float(amplitude_fraction),
        min_amplitude=float(min_amplitude),
        min_length=float(min_length),
        lam=float(smooth) if smooth else None,
        min_valid=int(min_valid),
        noise_factor=float(noise_factor),
        min_separation=None if min_separation is None else float(min_separation),
        thresholds=Thresholds(float(start), float(end), threshold_type == "absolute"),
        pos_level=float(pos_level),
        extrapolate=extra_days,
        min_span=span,
        envelope=ENVELOPE_ITERATIONS if envelope is True else int(envelope),
        main=_main_rule(grid, main_fraction, main_months),
    )
    pixel = stacked.isel(season=0, drop=True)
    if by_year:
        stacked = _by_year(stacked, grid, per_year)
    out = _phen_dataset(stacked, lead, grid.origin, pixel)
    out.attrs = {
        "Conventions": CONVENTIONS,
        "title": "fusets_dl phenology",
        "method": f"{threshold_type} thresholds {start:g} (start) and {end:g} (end) on each side of the peak",
        "min_amplitude": min_amplitude,
        "noise_factor": noise_factor,
        "min_length_days": min_length,
        "min_separation_days": min_length if min_separation is None else min_separation,
        "smoothing": f"Whittaker lambda {smooth} (1-day grid)" if smooth else "none",
    }
    crs = getattr(getattr(ndvi, "rio", None), "crs", None)
    if crs is not None:
        out = out.rio.write_crs(crs)
    if by is not None:
        return phenology_by_class(out, by)
    return out
