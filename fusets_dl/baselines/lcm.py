"""MOGPR: multi-output Gaussian process regression over xarray time series (the FuseTS baseline)."""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..cf import apply_cf, cf_attrs
from ..errors import DimensionError, DuplicateTimeError, MissingVariableError, SourceError
from .gp import GPConfig, fit_predict

__all__ = ["mogpr", "mogpr_inputs", "read_table"]

log = logging.getLogger("fusets_dl")

_TQ = "__mogpr_time"


def _days(idx: pd.DatetimeIndex) -> np.ndarray:
    """Days since 1970 (float64) of a naive nanosecond DatetimeIndex."""
    return idx.asi8.astype(np.float64) / 86_400e9


def _as_times(times: Any) -> pd.DatetimeIndex:
    idx = pd.DatetimeIndex(np.atleast_1d(np.asarray(times)) if not isinstance(times, pd.DatetimeIndex) else times)
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    return idx.as_unit("ns")


def _kernel(values: np.ndarray, *, days: np.ndarray, qdays: np.ndarray, cfg: GPConfig, target_index: int) -> np.ndarray:
    """(..., P, T) -> (..., P, Tq, 2): mean and std stacked on the last axis."""
    lead = values.shape[:-2]
    P, T = values.shape[-2:]
    flat = values.reshape(-1, P, T)
    got = fit_predict(flat, days, qdays, cfg, target_index=target_index)
    out = np.stack([got["mean"], got["std"]], axis=-1).astype(np.float32)
    return out.reshape(*lead, P, qdays.size, 2)


def _mogpr_names(ds: xr.Dataset, target: str, variables: list[str] | None, time_dim: str) -> list[str]:
    """The outputs, target first unless listed: checked against the Dataset."""
    if not isinstance(ds, xr.Dataset):
        raise DimensionError(f"mogpr: expected an xarray.Dataset of time series, found {type(ds).__name__}")
    if time_dim not in ds.dims:
        raise DimensionError(f"mogpr: expected a {time_dim!r} dimension, found dims {tuple(ds.dims)}")
    names = list(variables) if variables is not None else [str(v) for v in ds.data_vars if time_dim in ds[v].dims]
    missing = [v for v in [target, *names] if v not in ds.data_vars]
    if missing:
        raise MissingVariableError(f"mogpr: expected variables {[target, *names]}, missing {sorted(set(missing))}; found {sorted(map(str, ds.data_vars))}")
    if target not in names:
        names = [target, *names]
    if len(names) < 1:
        raise MissingVariableError("mogpr: no variable with a time dimension to reconstruct")
    return names


def _mogpr_config(config: GPConfig | None, overrides: dict[str, Any]) -> GPConfig:
    """``config`` (default: ``GPConfig()``) with the keyword overrides applied."""
    known = {f.name for f in fields(GPConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"mogpr: unknown settings {sorted(unknown)}; GPConfig has {sorted(known)}")
    base = (config or GPConfig()).to_dict()
    base.update(overrides)
    base["lengthscale_init"] = tuple(base["lengthscale_init"])
    return GPConfig(**base)


def _mogpr_array(ds: xr.Dataset, names: list[str], time_dim: str) -> tuple[xr.DataArray, list[str]]:
    """The outputs stacked as float64 ``(*pixel dims, variable, time)``, one chunk along the last two, and the pixel dims."""
    pix_dims = sorted({d for v in names for d in ds[v].dims} - {time_dim}, key=list(ds.dims).index)
    arr = ds[names].to_array("variable").transpose(*pix_dims, "variable", time_dim)
    if not np.issubdtype(arr[time_dim].dtype, np.datetime64):
        raise DimensionError(f"mogpr: expected {time_dim!r} as datetime64, found dtype {arr[time_dim].dtype}")
    arr = arr.astype(np.float64)
    if arr.chunks is not None:
        arr = arr.chunk({"variable": -1, time_dim: -1})
    return arr, pix_dims


def _mogpr_apply(
    arr: xr.DataArray, t_in: pd.DatetimeIndex, t_out: pd.DatetimeIndex, cfg: GPConfig, time_dim: str, target_index: int
) -> xr.DataArray:
    """The fit, lazily over pixels: ``(*pixel dims, variable, _TQ, __stat)`` with mean and std on ``__stat``."""
    origin = _days(t_in[:1])[0] if len(t_in) else 0.0
    days, qdays = _days(t_in) - origin, _days(t_out) - origin
    return xr.apply_ufunc(
        _kernel,
        arr,
        input_core_dims=[["variable", time_dim]],
        output_core_dims=[["variable", _TQ, "__stat"]],
        kwargs={"days": days, "qdays": qdays, "cfg": cfg, "target_index": target_index},
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {_TQ: len(t_out), "__stat": 2}},
    )


def mogpr(
    ds: xr.Dataset,
    target: str = "NDVI",
    times: Any = None,
    *,
    variables: list[str] | None = None,
    config: GPConfig | None = None,
    time_dim: str = "time",
    **config_kwargs: Any,
) -> xr.Dataset:
    """Gap-fill correlated time series with a multi-output Gaussian process (LCM, Matern-3/2).

    Parameters
    ----------
    ds : xarray.Dataset
        Variables sharing a ``time`` dimension; every other dimension (``y,
        x``, or none for a single series) indexes independent pixels. NaN
        marks a date where a variable was not observed, so outputs may be
        sampled on different dates. Dask-backed input stays lazy.
    target : str
        The master output (FuseTS: NDVI); pixels where it has fewer than
        ``min_obs`` observations are NaN in every output.
    times : array-like of datetime, optional
        Dates to predict at; default: the input dates.
    variables : list of str, optional
        Outputs to use (default: every data variable with a ``time`` dimension).
    config : GPConfig, optional
        Fit settings; keyword arguments (``n_iter=``, ``device=``, ...)
        override its fields.
    time_dim : str
        Name of the time dimension.

    Returns
    -------
    xarray.Dataset
        For each output ``<name>`` (reconstructed mean) and ``<name>_std``
        (predictive std of the noise-free signal), float32, on ``times`` and
        the input's pixel dimensions.

    Raises
    ------
    DimensionError
        When ``ds`` is not a Dataset, lacks ``time_dim``, its time is not
        datetime64, or ``times`` is empty.
    MissingVariableError
        When ``target`` or a listed variable is missing.
    TypeError
        On a keyword that is not a :class:`GPConfig` field.

    Notes
    -----
    Follows Pipia et al. (2019) and FuseTS: each output is standardised per
    pixel, the model is a linear model of coregionalisation with one
    Matern-3/2 process per output and rank-1 ``W``, and the hyperparameters
    maximise each pixel's log marginal likelihood. Pixels are fitted in
    batches on the CPU or a GPU (see :mod:`fusets_dl.baselines.gp`).

    Examples
    --------
    >>> import fusets_dl as fdl
    >>> series = fdl.baselines.read_table("mogpr_input.csv")  # doctest: +SKIP
    >>> out = fdl.mogpr(series, target="NDVI")  # doctest: +SKIP
    """
    names = _mogpr_names(ds, target, variables, time_dim)
    cfg = _mogpr_config(config, config_kwargs)
    arr, pix_dims = _mogpr_array(ds, names, time_dim)
    t_in = _as_times(arr[time_dim].values)
    t_out = t_in if times is None else _as_times(times)
    if len(t_out) == 0:
        raise DimensionError("mogpr: 'times' is empty; expected at least one date to predict at")
    log.info("mogpr: %d outputs %s, %d dates -> %d dates, device %s, %s", len(names), names, len(t_in), len(t_out), cfg.device, cfg.dtype)
    res = _mogpr_apply(arr, t_in, t_out, cfg, time_dim, names.index(target))
    order = (_TQ, *pix_dims)
    out = xr.Dataset(attrs={"method": "MOGPR (LCM, Matern-3/2)", "mogpr_config": json.dumps(cfg.to_dict()), "mogpr_target": target})
    for i, name in enumerate(names):
        out[name] = res.isel(variable=i, __stat=0, drop=True).transpose(*order)
        out[f"{name}_std"] = res.isel(variable=i, __stat=1, drop=True).transpose(*order)
        out[name].attrs.update(ds[name].attrs)
        out[f"{name}_std"].attrs = cf_attrs("mogpr.std", fields={"name": name, "units": ds[name].attrs.get("units", "1")})
    out = out.rename({_TQ: time_dim}).assign_coords({time_dim: t_out.values})
    for c in ds.coords:
        if time_dim not in ds[c].dims and c not in out.coords:
            out = out.assign_coords({c: ds[c]})
    return apply_cf(out, "mogpr", fill=True)  # coordinates, grid mapping, Conventions


def mogpr_inputs(cube: xr.Dataset, *, sar: str = "rvi", split_orbits: bool = True, target: str = "NDVI") -> xr.Dataset:
    """The MOGPR outputs of a fusion cube: the target and S1 series, one per relative orbit.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` (dB) and the clear ``NDVI``.
    sar : {"rvi", "vv_vh"}
        S1 outputs: the radar vegetation index ``4 VH / (VV + VH)`` (linear
        power, as in FuseTS) or the two backscatters in dB.
    split_orbits : bool
        One output per relative-orbit group (ascending and descending
        passes, grouped by time of day), NaN on the other group's dates.
    target : str
        The optical variable kept as the first output.

    Returns
    -------
    xarray.Dataset
        ``target`` and the S1 outputs (``RVI`` or ``VV``, ``VH``, suffixed
        ``_orbit<g>`` when there are several orbit groups) on the cube's
        dimensions, ready for :func:`mogpr`.

    Raises
    ------
    ValueError
        On an unknown ``sar``.
    MissingVariableError
        When ``target``, ``VV`` or ``VH`` is missing.
    """
    from ..features import orbit_groups

    if sar not in ("rvi", "vv_vh"):
        raise ValueError(f"mogpr_inputs: sar: expected 'rvi' or 'vv_vh', found {sar!r}")
    need = [target, "VV", "VH"]
    missing = [v for v in need if v not in cube.data_vars]
    if missing:
        raise MissingVariableError(f"mogpr_inputs: expected variables {need}, missing {missing}; found {sorted(map(str, cube.data_vars))}")
    if sar == "rvi":
        vv, vh = 10.0 ** (cube["VV"] / 10.0), 10.0 ** (cube["VH"] / 10.0)
        s1 = {"RVI": (4.0 * vh / (vv + vh)).astype(np.float32)}
    else:
        s1 = {"VV": cube["VV"], "VH": cube["VH"]}
    out = xr.Dataset({target: cube[target]})
    groups = orbit_groups(cube) if split_orbits else np.zeros(cube.sizes["time"], dtype=np.int64)
    ng = int(groups.max()) + 1 if groups.size else 1
    for name, da in s1.items():
        for g in range(ng):
            key = f"{name}_orbit{g}" if ng > 1 else name
            sel = xr.DataArray(groups == g, dims="time", coords={"time": cube["time"]})
            out[key] = da.where(sel)
    return out


def read_table(source: str | Path | pd.DataFrame, *, time_column: str = "date") -> xr.Dataset:
    """A table of time series (one row per date, one column per output) as a Dataset.

    Accepts a CSV path (such as FuseTS's ``mogpr_input.csv``) or a DataFrame;
    timezone-aware dates are converted to UTC and made naive, rows are
    sorted, and every other column becomes a variable on ``time``.

    Parameters
    ----------
    source : str, Path or pandas.DataFrame
        The CSV file or the table.
    time_column : str
        The column of dates.

    Returns
    -------
    xarray.Dataset
        One float64 variable per other column (non-numbers as NaN) on ``time``.

    Raises
    ------
    SourceError
        When the CSV file does not exist.
    MissingVariableError
        When ``time_column`` is missing.
    DuplicateTimeError
        When a date occurs twice.
    """
    if isinstance(source, pd.DataFrame):
        df = source.copy()
    else:
        path = Path(source)
        if not path.exists():
            raise SourceError(f"read_table: expected an existing CSV file, found no {str(path)!r}")
        df = pd.read_csv(path)
    if time_column not in df.columns:
        raise MissingVariableError(f"read_table: expected a {time_column!r} column, found {list(df.columns)}")
    t = pd.to_datetime(df.pop(time_column), utc=True).dt.tz_localize(None)
    df.index = pd.DatetimeIndex(t, name="time")
    df = df.sort_index()
    if df.index.has_duplicates:
        raise DuplicateTimeError(f"read_table: expected unique dates, found duplicates {list(df.index[df.index.duplicated()].unique()[:5])}")
    return xr.Dataset({c: ("time", pd.to_numeric(df[c], errors="coerce").to_numpy(np.float64)) for c in df.columns}, coords={"time": df.index.values})
