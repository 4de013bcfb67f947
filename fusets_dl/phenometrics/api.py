"""``phenology``: multi-season phenometrics of any NDVI series, lazily over Dask chunks.

The flow: check the options (``_phen_check``), build the working grid in
days (``_phen_grid``), run the kernel of :mod:`.seasons` over pixel blocks
(``_phen_apply``) and unpack its output into dated, CF-described variables
(``_phen_dataset``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers .rio, used for the CRS)
import xarray as xr

from ..cf import CONVENTIONS, apply_cf
from ..errors import ConfigError, DimensionError
from .by_class import phenology_by_class
from .seasons import DATE_VARS, PHENO_VARS, pheno_block

__all__ = ["phenology"]


class _PhenGrid(NamedTuple):
    """Input dates and the regular working grid, in days from the first date's midnight."""

    origin: pd.Timestamp
    in_days: np.ndarray
    grid_days: np.ndarray
    period: tuple[float, float] | None


def _phen_check(
    ndvi: xr.DataArray, *, method: str, amplitude_fraction: float, min_amplitude: float, max_seasons: int, min_length: float
) -> pd.DatetimeIndex:
    """The input dates, after checking the options and the ``time`` dimension."""
    if method != "threshold":
        raise ConfigError(f"phenology: method: expected 'threshold', found {method!r}")
    if not 0 < amplitude_fraction < 1 or min_amplitude <= 0 or max_seasons < 1 or min_length <= 0:
        raise ConfigError(
            "phenology: expected 0 < amplitude_fraction < 1, min_amplitude > 0, max_seasons >= 1, min_length > 0; "
            f"found {amplitude_fraction}, {min_amplitude}, {max_seasons}, {min_length}"
        )
    if "time" not in ndvi.dims:
        raise DimensionError(f"phenology: expected a 'time' dimension, found {ndvi.dims}")
    if not np.issubdtype(ndvi["time"].dtype, np.datetime64):
        raise DimensionError(f"phenology: expected 'time' as datetime64 dates, found dtype {ndvi['time'].dtype} (decode the times, e.g. xr.decode_cf)")
    t = pd.DatetimeIndex(ndvi["time"].values)
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


def _phen_apply(ndvi: xr.DataArray, grid: _PhenGrid, max_seasons: int, **kwargs: Any) -> xr.DataArray:
    """The kernel over pixel blocks (``time`` as one chunk): ``(..., season, var)`` float64."""
    da = ndvi.chunk({"time": -1}) if ndvi.chunks is not None else ndvi
    stacked = xr.apply_ufunc(
        pheno_block,
        da,
        input_core_dims=[["time"]],
        output_core_dims=[["season", "var"]],
        kwargs={"in_days": grid.in_days, "grid_days": grid.grid_days, "max_seasons": max_seasons, "period": grid.period, **kwargs},
        dask="parallelized",
        output_dtypes=[np.float64],
        dask_gufunc_kwargs={"output_sizes": {"season": max_seasons, "var": len(PHENO_VARS)}},
    )
    return stacked.assign_coords(season=np.arange(max_seasons))


def _phen_dataset(stacked: xr.DataArray, lead: list[Any], origin: pd.Timestamp) -> xr.Dataset:
    """One variable per phenometric on ``(season, *lead)``: dates as datetime64 (NaT), values float32."""
    out = xr.Dataset()
    origin64 = np.datetime64(origin.to_datetime64(), "ns")
    for i, name in enumerate(PHENO_VARS):
        v = stacked.isel(var=i, drop=True).transpose("season", *lead)
        if name in DATE_VARS:
            ns = (v * 86400e9).round()
            v = (ns.fillna(np.iinfo(np.int64).min).astype(np.int64).astype("timedelta64[ns]") + origin64).where(ns.notnull())
        else:
            v = v.astype(np.float32)
        out[name] = v
    out["n_seasons"] = stacked.isel(var=1, drop=True).notnull().sum("season").astype(np.int8)
    return apply_cf(out, "phenology")


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
        for two or three crops a year over several years).
    method : {"threshold"}
        SOS/EOS where NDVI crosses ``amplitude_fraction`` of the amplitude.
    amplitude_fraction : float
        Fraction of the seasonal amplitude for SOS/EOS (default 0.5).
    min_amplitude : float
        Minimum prominence of a season (NDVI units).
    min_length : float
        Minimum season length and minimum distance between peaks (days).
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

    Returns
    -------
    xarray.Dataset
        ``sos``, ``pos``, ``eos`` (datetime64, NaT where absent), their
        values, ``los`` (days), ``aos``, ``base``, ``rate_greenup``,
        ``rate_senescence`` (NDVI per day), ``integral`` on ``(season, ...)``,
        and ``n_seasons``; seasons ordered by start date. Lazy on Dask input
        (``time`` must be one chunk).

    Raises
    ------
    ConfigError
        An unknown ``method`` or an option out of range.
    DimensionError
        No ``time`` dimension, or fewer than 4 dates.
    """
    t = _phen_check(
        ndvi, method=method, amplitude_fraction=amplitude_fraction, min_amplitude=min_amplitude,
        max_seasons=max_seasons, min_length=min_length,
    )
    grid = _phen_grid(t, step_days, period)
    stacked = _phen_apply(
        ndvi,
        grid,
        int(max_seasons),
        fraction=float(amplitude_fraction),
        min_amplitude=float(min_amplitude),
        min_length=float(min_length),
        lam=float(smooth) if smooth else None,
        min_valid=int(min_valid),
    )
    out = _phen_dataset(stacked, [d for d in ndvi.dims if d != "time"], grid.origin)
    out.attrs = {
        "Conventions": CONVENTIONS,
        "title": "fusets_dl phenology",
        "method": f"threshold at {amplitude_fraction:.0%} of the seasonal amplitude on each side of the peak",
        "min_amplitude": min_amplitude,
        "min_length_days": min_length,
        "smoothing": f"Whittaker lambda {smooth} (1-day grid)" if smooth else "none",
    }
    crs = getattr(getattr(ndvi, "rio", None), "crs", None)
    if crs is not None:
        out = out.rio.write_crs(crs)
    if by is not None:
        return phenology_by_class(out, by)
    return out
