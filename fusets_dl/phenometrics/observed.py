"""How much of each season was seen: the share of its dates observed and its longest unobserved stretch.

A reconstruction fills every date, so phenology finds seasons in pixels that
no clear Sentinel-2 view ever saw: water and permanent shadow (not counted
clear by the scene classification) get crop-like seasons predicted wholly
from Sentinel-1, and a season whose peak fell in a three-month cloud spell is
dated from the radar alone. With reconstruct's ``source`` flags (or any
boolean mask of the values that are observations), :func:`season_observation`
gives, per season, ``observed_fraction`` (the share of the series' dates from
SOS to EOS that hold an observation; 0: the season is predicted wholly) and
``longest_gap`` (days: the longest stretch from SOS to EOS without one,
counting from SOS to the first and from the last to EOS). A side cut by the
series (SOS or EOS NaT) is read from the series' first or last date.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._warn import warn_user
from ..errors import ConfigError, DimensionError
from .grid import on_labels

__all__ = ["OBSERVATION_VARS", "check_observed", "reconstruction_source", "season_observation"]

#: The variables :func:`season_observation` adds, per season.
OBSERVATION_VARS = ("observed_fraction", "longest_gap")


def check_observed(observed: Any, ndvi: xr.DataArray) -> xr.DataArray:
    """``observed`` as a boolean DataArray on ``ndvi``'s dimensions and labels (True: an observation).

    Parameters
    ----------
    observed : xarray.DataArray
        A boolean mask (True where the value is an observation), or
        reconstruct's ``source`` flags: any numeric array whose
        ``flag_meanings`` name ``observed`` (its value from ``flag_values``;
        NaN, as a Zarr fill decoded, is not observed).
    ndvi : xarray.DataArray
        The NDVI series it describes.

    Returns
    -------
    xarray.DataArray
        Boolean, dims in ``ndvi``'s order, reindexed onto its labels.

    Raises
    ------
    ConfigError
        Not a DataArray; numbers without ``flag_meanings`` naming
        ``observed`` (0/1 would be read one way as a mask and the other as
        ``source`` flags).
    DimensionError
        Other dimensions than ``ndvi``'s, or labels it lacks.
    """
    if not isinstance(observed, xr.DataArray):
        raise ConfigError(
            f"phenology: observed: expected an xarray.DataArray on the NDVI's dimensions (a boolean mask, or "
            f"reconstruct's 'source'), found {type(observed).__name__}"
        )
    if set(observed.dims) != set(ndvi.dims):
        raise DimensionError(f"phenology: expected observed on {ndvi.dims}, found {observed.dims}")
    sizes = {d: (observed.sizes[d], ndvi.sizes[d]) for d in ndvi.dims if d not in observed.indexes and observed.sizes[d] != ndvi.sizes[d]}
    if sizes:
        raise DimensionError(f"phenology: expected observed of the NDVI's sizes, found {', '.join(f'{d} {a} (NDVI {b})' for d, (a, b) in sizes.items())}")
    obs = observed.transpose(*ndvi.dims)
    if obs.dtype != bool:
        obs = obs == _observed_flag(obs)
    obs = on_labels(obs, ndvi, "observed")  # the same labels in another order are reordered; missing ones refused
    # labels it lacks are the NDVI's (a mask built from values, dims only: its time would be read as 0..n-1 ns)
    return obs.assign_coords({d: ndvi.indexes[d] for d in obs.dims if d in ndvi.indexes})


def reconstruction_source(ds: xr.Dataset, ndvi: xr.DataArray) -> xr.DataArray | None:
    """The ``source`` flags of a reconstruction Dataset, for ``observed=``; None (with a warning when it has another ``source``).

    Parameters
    ----------
    ds : xarray.Dataset
        A Dataset holding ``ndvi`` (a reconstruction, or a file of one).
    ndvi : xarray.DataArray
        The NDVI phenology runs on.

    Returns
    -------
    xarray.DataArray or None
        ``ds["source"]`` when it is a boolean mask or reconstruct's flags on
        the NDVI's dims; None without a ``source``, or with one that is not
        (flag attributes dropped by a merge, other dims): a warning says so.
    """
    if "source" not in ds.data_vars:
        return None
    src = ds["source"]
    meanings = str(src.attrs.get("flag_meanings", "")).split()
    if set(src.dims) == set(ndvi.dims) and (src.dtype == bool or "observed" in meanings):
        return src
    warn_user(
        f"phenology: the Dataset's 'source' (dims {src.dims}, dtype {src.dtype}, flag_meanings {src.attrs.get('flag_meanings')!r}) "
        "is not reconstruct's flags on the NDVI's dims: observed_fraction and longest_gap are left out; pass observed= "
        "(a boolean mask, True where a value is an observation) to add them"
    )
    return None


def _observed_flag(source: xr.DataArray) -> float:
    """The value meaning ``observed`` in ``source``'s CF flags."""
    meanings = str(source.attrs.get("flag_meanings", "")).split()
    values = source.attrs.get("flag_values")
    if "observed" not in meanings or values is None or len(np.atleast_1d(values)) != len(meanings):
        raise ConfigError(
            f"phenology: observed: expected a boolean mask (True: observation) or reconstruct's 'source' flags "
            f"(flag_meanings naming 'observed'), found dtype {source.dtype} with flag_meanings "
            f"{source.attrs.get('flag_meanings')!r}; pass a mask, e.g. rec['source'] == 0 (or observed=False to the "
            "accessor: no observation variables)"
        )
    return float(np.atleast_1d(values)[meanings.index("observed")])


#: Seasons (rows of ``time`` values) per pass of :func:`_observation_block`: bounds its temporaries.
BATCH = 8192


def _observation_block(obs: np.ndarray, sos: np.ndarray, pos: np.ndarray, eos: np.ndarray, days: np.ndarray) -> np.ndarray:
    """``(..., 2)``: the observed fraction and longest unobserved stretch (days) of each season.

    ``obs`` is ``(..., time)`` boolean, ``sos``/``pos``/``eos`` days from the
    first date (NaN: absent), broadcast together; ``days`` the dates. The
    seasons are taken ``BATCH`` at a time (each a row of ``time`` values):
    the temporaries do not grow with the seasons and years of a block.
    """
    shape = np.broadcast_shapes(obs.shape[:-1], np.shape(sos), np.shape(pos), np.shape(eos))
    obs = np.broadcast_to(obs, (*shape, obs.shape[-1]))
    sos, pos, eos = (np.broadcast_to(a, shape) for a in (sos, pos, eos))
    n = int(np.prod(shape))
    out = np.empty((n, 2), dtype=np.float32)
    for i0 in range(0, n, BATCH):
        at = np.unravel_index(np.arange(i0, min(i0 + BATCH, n)), shape)
        out[i0 : i0 + BATCH] = _observation_rows(obs[at], sos[at], pos[at], eos[at], days)
    return out.reshape(*shape, 2)


def _observation_rows(obs: np.ndarray, sos: np.ndarray, pos: np.ndarray, eos: np.ndarray, days: np.ndarray) -> np.ndarray:
    """:func:`_observation_block` of ``(seasons, time)`` rows."""
    start = np.clip(np.where(np.isfinite(sos), sos, days[0]), days[0], days[-1])  # a cut or extrapolated side: from the series edge
    end = np.clip(np.where(np.isfinite(eos), eos, days[-1]), days[0], days[-1])
    inside = (days >= start[:, None]) & (days <= end[:, None])
    n_dates = inside.sum(axis=-1)
    seen = obs & inside
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = seen.sum(axis=-1) / n_dates
    # the stretches between start, each observed date and end: the running last observed day (start before any)
    marks = np.where(seen, days, -np.inf)
    last = np.maximum(np.maximum.accumulate(marks, axis=-1), start[:, None])
    prev = np.concatenate([start[:, None], last[:, :-1]], axis=-1)
    gaps = np.where(seen, days - prev, 0.0).max(axis=-1, initial=0.0)
    gap = np.maximum(gaps, end - last[:, -1])
    absent = ~np.isfinite(pos) | (n_dates == 0)
    return np.stack([np.where(absent, np.nan, frac), np.where(absent, np.nan, gap)], axis=-1)


def season_observation(pheno: xr.Dataset, observed: xr.DataArray) -> xr.Dataset:
    """``observed_fraction`` and ``longest_gap`` of every season of ``pheno``, lazily on Dask.

    Parameters
    ----------
    pheno : xarray.Dataset
        :func:`~fusets_dl.phenometrics.phenology`'s per-pixel output (``sos``,
        ``pos``, ``eos`` on ``(season, ...)`` or ``(year, season, ...)``).
    observed : xarray.DataArray
        Boolean, on the NDVI's dimensions (:func:`check_observed`).

    Returns
    -------
    xarray.Dataset
        ``observed_fraction`` (float32, 0..1) and ``longest_gap`` (float32,
        days), NaN where there is no season.

    Warns
    -----
    UserWarning
        In-memory input: seasons with no observation from SOS to EOS, with
        their count (on Dask the variables say it; nothing is computed).
    """
    t = pd.DatetimeIndex(observed["time"].values)
    origin = t[0]
    days = ((t - origin) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)

    def as_days(v: xr.DataArray) -> xr.DataArray:
        return (v - np.datetime64(origin.to_datetime64(), "ns")) / np.timedelta64(1, "D")

    sos_chunks = pheno["sos"].chunksizes
    obs = observed
    if observed.chunks is not None:  # the pixel chunks of the phenology, so the variables share them (time whole)
        obs = observed.chunk({"time": -1, **{d: sos_chunks[d] for d in observed.dims if d in sos_chunks}})
    out = xr.apply_ufunc(
        _observation_block,
        obs,
        as_days(pheno["sos"]),
        as_days(pheno["pos"]),
        as_days(pheno["eos"]),
        kwargs={"days": days},
        input_core_dims=[["time"], [], [], []],
        output_core_dims=[["quality"]],
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"quality": len(OBSERVATION_VARS)}},
    )
    order = [d for d in pheno["sos"].dims]
    result = xr.Dataset({name: out.isel(quality=i, drop=True).transpose(*order) for i, name in enumerate(OBSERVATION_VARS)})
    if result["observed_fraction"].chunks is None:
        _warn_unobserved(result["observed_fraction"].values)
    return result


def _warn_unobserved(frac: np.ndarray) -> None:
    """Warn, with counts, when seasons hold no observation from SOS to EOS (in-memory results only)."""
    found = np.isfinite(frac)
    blind = found & (frac == 0)
    if blind.any():
        warn_user(
            f"phenology: {int(blind.sum())} of {int(found.sum())} seasons hold no observation from SOS to EOS "
            "(observed_fraction 0): predicted wholly from S1 where no clear view fell, either across a long gap without "
            "one (winter months under snow, whose views the snow test or the scene classification removed; a cloud spell "
            "covering the whole season) or over water, which the scene classification (SCL) does not count clear; mask "
            "them per variable, e.g. ph['sos'].where(ph['observed_fraction'] > 0)"
        )
