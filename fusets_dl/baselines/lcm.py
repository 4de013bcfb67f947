"""MOGPR: multi-output Gaussian process regression over xarray time series (the FuseTS baseline)."""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..cf import apply_cf, cf_attrs
from ..errors import (
    DimensionError,
    DuplicateTimeError,
    InsufficientDataError,
    MissingVariableError,
    SourceError,
)
from ..readers.cube import check_cube_values
from ..validate import naive_utc
from ._gp_data import OutputStats, output_stats
from .gp import GPConfig, fit_predict

__all__ = ["mogpr", "mogpr_inputs", "read_table"]

log = logging.getLogger("fusets_dl")

_TQ = "__mogpr_time"


def _days(idx: pd.DatetimeIndex) -> np.ndarray:
    """Days since 1970 (float64) of a naive DatetimeIndex (of any unit: ``asi8`` counts in the index's own)."""
    return ((idx - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).to_numpy(np.float64)


def _as_times(times: Any, what: str) -> pd.DatetimeIndex:
    """``times`` as a naive (UTC) nanosecond DatetimeIndex; ``what`` names them in the error."""
    try:
        idx = pd.DatetimeIndex(np.atleast_1d(np.asarray(times)) if not isinstance(times, pd.DatetimeIndex) else times)
    except (TypeError, ValueError) as exc:
        raise DimensionError(f"mogpr: {what}: expected dates (datetime64 or parseable strings), found {np.asarray(times)[:3]!r} ({exc})") from exc
    return naive_utc(idx).as_unit("ns")


def _check_times(idx: pd.DatetimeIndex, what: str, time_dim: str) -> None:
    """Refuse NaT (:class:`DimensionError`) and repeated dates (:class:`DuplicateTimeError`) in ``idx``, naming where.

    Parameters
    ----------
    idx : pandas.DatetimeIndex
        The input or prediction dates.
    what : str
        Which they are, for the message (``"input 'time'"``, ``"times"``).
    time_dim : str
        The time dimension, for the advice.
    """
    if idx.hasnans:
        pos = np.flatnonzero(idx.isna())
        raise DimensionError(f"mogpr: {what}: expected valid dates, found {pos.size} NaT of {len(idx)} (positions {pos[:5].tolist()}"
                             f"{', ...' if pos.size > 5 else ''}); drop them (ds.isel({time_dim}=ds.indexes[{time_dim!r}].notna()))")
    if idx.has_duplicates:
        dup = idx.duplicated()
        first = [str(d) for d in idx[dup].unique()[:5]]
        raise DuplicateTimeError(f"mogpr: {what}: expected unique dates, found {int(dup.sum())} repeated (first: {first}); merge or drop "
                                 f"them first (ds.drop_duplicates({time_dim!r}), or fdl.open_s1 / fdl.open_s2(..., duplicates='first' or 'mean'))")


def _kernel(values: np.ndarray, *, days: np.ndarray, qdays: np.ndarray, cfg: GPConfig, target_index: int, names: list[str], n_pixels: int) -> np.ndarray:
    """(..., P, T) -> (..., P, Tq, 2): mean and std stacked on the last axis; reports the pixels left out (see :func:`_report`)."""
    lead = values.shape[:-2]
    P, T = values.shape[-2:]
    flat = values.reshape(-1, P, T)
    _report(output_stats(flat[:, target_index : target_index + 1], cfg.min_obs), names[target_index], cfg.min_obs, T, n_pixels)
    got = fit_predict(flat, days, qdays, cfg, target_index=target_index)
    out = np.stack([got["mean"], got["std"]], axis=-1).astype(np.float32)
    return out.reshape(*lead, P, qdays.size, 2)


def _report(st: OutputStats, target: str, min_obs: int, n_dates: int, n_pixels: int) -> None:
    """Say which pixels of a call (the whole input, or one Dask chunk as it is computed) the fit leaves NaN or constant.

    Parameters
    ----------
    st : OutputStats
        Statistics of the target output alone, (pixels, 1).
    target : str
        Its name.
    min_obs : int
        ``GPConfig.min_obs``.
    n_dates : int
        Input dates.
    n_pixels : int
        Pixels of the whole input: a call with all of them is the whole input.

    Raises
    ------
    InsufficientDataError
        When no pixel of the whole input has ``min_obs`` valid target dates
        (with the counts). A Dask chunk with none, among others, gets a
        warning instead: the other chunks may have some.
    """
    n = st.count.shape[0]
    if n == 0:
        return
    few = st.count[:, 0] < min_obs
    where = "" if n == n_pixels else f" in a chunk of {n} (of {n_pixels})"
    if few.all():
        msg = (f"mogpr: no pixel has min_obs={min_obs} or more valid {target} dates{where}: {n} pixels, the most any has is "
               f"{int(st.count.max())} (of {n_dates} input dates); every output is NaN"
               + (". Lower min_obs (>= 2) or give a longer series" if st.count.max() > 0 else ""))
        if n == n_pixels:
            raise InsufficientDataError(msg)
        log.warning("%s", msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
        return
    if few.any():
        log.warning("mogpr: %d of %d pixels%s have fewer than min_obs=%d valid %s dates (%d of them none): NaN in every output",
                    int(few.sum()), n, where, min_obs, target, int((st.count[:, 0] == 0).sum()))
    const = st.constant[:, 0]
    if const.any():
        log.warning("mogpr: %d of %d pixels%s have a constant %s on their valid dates (e.g. %.6g): returned as that constant with std 0 "
                    "(a fill value?), their other outputs fitted without it", int(const.sum()), n, where, target, float(st.mu[const, 0][0]))


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
    if isinstance(base["lengthscale_init"], list):  # to_dict gives a list; anything else is GPConfig's to check
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
    arr: xr.DataArray, t_in: pd.DatetimeIndex, t_out: pd.DatetimeIndex, cfg: GPConfig, time_dim: str, names: list[str], target_index: int
) -> xr.DataArray:
    """The fit, lazily over pixels: ``(*pixel dims, variable, _TQ, __stat)`` with mean and std on ``__stat``."""
    origin = _days(t_in[:1])[0] if len(t_in) else 0.0
    days, qdays = _days(t_in) - origin, _days(t_out) - origin
    return xr.apply_ufunc(
        _kernel,
        arr,
        input_core_dims=[["variable", time_dim]],
        output_core_dims=[["variable", _TQ, "__stat"]],
        kwargs={"days": days, "qdays": qdays, "cfg": cfg, "target_index": target_index, "names": names,
                "n_pixels": int(np.prod([arr.sizes[d] for d in arr.dims[:-2]], dtype=np.int64))},
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
        ``min_obs`` observations are NaN in every output (a warning names
        how many). An output constant on its valid dates (at least
        ``min_obs`` of them) is returned as that constant with std 0, and
        the pixel's other outputs are fitted without it (a warning names
        how many pixels have a constant target).
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
        datetime64, the input dates or ``times`` hold NaT (how many, and
        where), or ``times`` is empty or not dates.
    DuplicateTimeError
        When the input dates or ``times`` repeat a date (the first ones named).
    InsufficientDataError
        When the series has fewer than ``min_obs`` dates (at call time), or
        no pixel has ``min_obs`` valid ``target`` dates (the counts named;
        on Dask input when the chunk holding every pixel is computed; a
        chunk with none among others logs a warning and warns
        ``UserWarning`` instead, since other chunks may have some).
    ConfigError
        On an invalid :class:`GPConfig` value (from ``config_kwargs``).
    EncodingError
        A target named ``NDVI`` with more than 1 % of its values outside
        [-1, 1] (NDVI x 10000, reflectance); a few such values (undeclared
        nodata) are treated as missing, with a warning.
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
    if isinstance(ds[time_dim].dtype, pd.DatetimeTZDtype):  # timezone-aware dates: naive UTC, the data model's convention
        ds = ds.assign_coords({time_dim: naive_utc(pd.DatetimeIndex(ds[time_dim].values))})
    if target == "NDVI":  # NDVI x 10000 refused, a few undeclared nodata values masked, as the fusion stages do
        ds = ds.assign(NDVI=check_cube_values(ds[["NDVI"]], "mogpr")["NDVI"])
    arr, pix_dims = _mogpr_array(ds, names, time_dim)
    t_in = _as_times(arr[time_dim].values, f"input {time_dim!r}")
    _check_times(t_in, f"input {time_dim!r}", time_dim)
    t_out = t_in if times is None else _as_times(times, "times")
    if len(t_out) == 0:
        raise DimensionError("mogpr: 'times' is empty; expected at least one date to predict at")
    _check_times(t_out, "times", time_dim)
    if len(t_in) < cfg.min_obs:  # known without looking at the data: every pixel would be NaN
        raise InsufficientDataError(f"mogpr: expected at least min_obs={cfg.min_obs} input dates (the fewest valid {target} dates a pixel "
                                    f"needs), found {len(t_in)} on {time_dim!r}; every output would be NaN")
    log.info("mogpr: %d outputs %s, %d dates -> %d dates, device %s, %s", len(names), names, len(t_in), len(t_out), cfg.device, cfg.dtype)
    res = _mogpr_apply(arr, t_in, t_out, cfg, time_dim, names, names.index(target))
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
