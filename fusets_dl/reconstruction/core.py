"""Gap-free NDVI from clear S2 observations and S1-based predictions.

Each output value carries a ``source`` flag (observed, predicted,
interpolated, missing) and an uncertainty ``NDVI_std``.

Uncertainty, and why: the standard deviation of each value comes from the
*validation residuals by source*: clear observations get ``obs_std`` (S2
noise, residual cloud and the up-to-3-day pairing offset; 0.03 by default),
predictions get the RMSE of the model on its held-out test blocks in the
range of the predicted value, and interpolated values (output dates with no
data) get the larger neighbouring std plus 0.004 NDVI per day to the nearest
data (green-up changes NDVI by up to about 0.01 a day). Residuals on
held-out blocks are measured, honest and free at prediction time; an ensemble
would cost several models per scene. The std of smoothed values is that of
their source (conservative: smoothing averages errors down, but model errors
of one field are correlated in time).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._series import nearest_cells
from ..errors import ConfigError
from ..inference.predict import predict_ndvi
from ..models.fusion_model import FusionModel
from ..smoothing import fill_interpolated, whittaker
from ..validate import check_cube, freq_days

__all__ = ["SOURCE_FLAGS", "reconstruct"]

#: Values and meanings of the ``source`` flag.
SOURCE_FLAGS: dict[str, int] = {"observed": 0, "predicted": 1, "interpolated": 2, "missing": 3}


def _pred_std_table(model: FusionModel) -> tuple[np.ndarray, np.ndarray]:
    """(edges, std) of the model's held-out residuals by predicted NDVI range."""
    rows = model.metrics.get("test_by_pred_range") or []
    edges = [r["range"][0] for r in rows] + ([rows[-1]["range"][1]] if rows else [])
    overall = float(model.metrics.get("test", {}).get("rmse", np.nan))
    if not np.isfinite(overall):
        overall = 0.1
    if not rows:
        return np.array([-1.0, 1.0]), np.array([overall])
    std = np.array([r["rmse"] if r.get("n", 0) >= 30 and np.isfinite(r["rmse"]) else overall for r in rows])
    return np.asarray(edges, dtype=np.float64), std


def _lookup(values: np.ndarray, edges: np.ndarray, table: np.ndarray) -> np.ndarray:
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, table.size - 1)
    return table[idx]


def _kernel(
    obs: np.ndarray,
    pred: np.ndarray,
    *,
    in_days: np.ndarray,
    grid_days: np.ndarray,
    out_idx: np.ndarray,
    obs_std: float,
    w_obs: float,
    w_pred: float | None,
    edges: np.ndarray,
    table: np.ndarray,
    lam: float | None,
) -> np.ndarray:
    """(..., time_in) observed and predicted NDVI -> (..., time_out, 3): NDVI, std, source."""
    lead = obs.shape[:-1]
    ng = grid_days.size
    step = float(grid_days[1] - grid_days[0]) if ng > 1 else 1.0  # regular whenever smoothing
    cell, inside = nearest_cells(in_days, grid_days)
    pred_std = _lookup(np.nan_to_num(pred, nan=0.0), edges, table)
    o_sum = np.zeros((*lead, ng))
    o_n = np.zeros((*lead, ng))
    p_sum = np.zeros((*lead, ng))
    p_n = np.zeros((*lead, ng))
    p_var = np.zeros((*lead, ng))
    for i in np.flatnonzero(inside):
        g = cell[i]
        oi = obs[..., i]
        pi = pred[..., i]
        ook = np.isfinite(oi)
        pok = np.isfinite(pi) & ~ook  # a prediction only where no observation exists
        o_sum[..., g] += np.where(ook, oi, 0.0)
        o_n[..., g] += ook
        p_sum[..., g] += np.where(pok, pi, 0.0)
        p_n[..., g] += pok
        p_var[..., g] += np.where(pok, pred_std[..., i] ** 2, 0.0)
    has_o = o_n > 0
    has_p = (p_n > 0) & ~has_o
    with np.errstate(invalid="ignore", divide="ignore"):
        o_val = o_sum / o_n
        p_val = p_sum / p_n
        p_sd = np.sqrt(p_var / np.maximum(p_n, 1))
    val = np.where(has_o, o_val, np.where(has_p, p_val, np.nan))
    std = np.where(has_o, obs_std, np.where(has_p, p_sd, np.nan))
    source = np.where(has_o, 0, np.where(has_p, 1, 3)).astype(np.float64)
    if lam is not None:
        if w_pred is None:
            wp = (obs_std / np.maximum(p_sd, 1e-6)) ** 2 * w_obs
        else:
            wp = np.full(p_sd.shape, w_pred)
        w = np.where(has_o, w_obs * o_n, np.where(has_p, wp * p_n, 0.0))
        smooth_val = whittaker(val, w, lam / step**3)
        _, filled_std = fill_interpolated(val, std, grid_days)
        val_out, std_out = smooth_val, np.where(np.isfinite(std), std, filled_std)
        std_out = np.where(np.isfinite(val_out), std_out, np.nan)
    else:
        val_out, std_out = fill_interpolated(val, std, grid_days)
    source = np.where((source == 3) & np.isfinite(val_out), 2, source)
    out = np.stack([val_out[..., out_idx], std_out[..., out_idx], source[..., out_idx]], axis=-1)
    if lam is not None:
        out[..., 0] = np.clip(out[..., 0], -1.0, 1.0)
    return out.astype(np.float32)


def reconstruct(
    cube: xr.Dataset,
    model: FusionModel,
    *,
    freq: str | None = None,
    smooth: bool = True,
    lam: float = 1000.0,
    obs_std: float = 0.03,
    weights: dict[str, float] | None = None,
    predicted: xr.DataArray | None = None,
    **predict_kwargs: Any,
) -> xr.Dataset:
    """Gap-filled NDVI: clear observations where they exist, S1 predictions elsewhere.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` and the paired clear ``NDVI``.
    model : FusionModel
        Trained model for the predictions (ignored when ``predicted`` is given).
    freq : str, optional
        Output on a regular grid (``"5D"``, ``"1D"``) from the first to the
        last cube date; default: the cube's own dates.
    smooth : bool
        Apply the weighted Whittaker smoother (second differences). It runs on
        the output grid when ``freq`` is given, otherwise on a daily grid
        sampled back at the cube dates.
    lam : float
        Whittaker smoothing parameter for a 1-day grid (converted to the grid
        step as ``lam / step**3``); 1000 keeps features of about a month.
    obs_std : float
        Standard deviation of a clear observation (NDVI units).
    weights : dict, optional
        ``{"observed": w_o, "predicted": w_p}`` for the smoother. Default:
        inverse variances, ``observed`` 1 and ``predicted``
        ``(obs_std / model RMSE)**2`` (about 0.1 for a model RMSE of 0.1).
    predicted : xarray.DataArray, optional
        Predictions already computed (e.g. by :func:`predict_ndvi`).
    **predict_kwargs
        Passed to :func:`predict_ndvi` (``device``, ``precision``, ``batch_size``).

    Returns
    -------
    xarray.Dataset
        ``NDVI`` (float32), ``NDVI_std`` (float32) and ``source`` (uint8 CF
        flags: 0 observed, 1 predicted, 2 interpolated, 3 missing) on
        ``(time, y, x)``; lazy on Dask input, identical chunked and unchunked.
    """
    check_cube(cube, need_target=True)
    weights = dict(weights or {})
    unknown = set(weights) - {"observed", "predicted"}
    if unknown:
        raise ConfigError(f"reconstruct: weights: expected keys 'observed' and 'predicted', found {sorted(unknown)}")
    if lam <= 0 or obs_std <= 0:
        raise ConfigError(f"reconstruct: expected lam > 0 and obs_std > 0, found lam={lam}, obs_std={obs_std}")
    pred = predicted if predicted is not None else predict_ndvi(cube, model, **predict_kwargs)
    t = pd.DatetimeIndex(cube["time"].values)
    origin = t[0].floor("D")
    in_days = ((t - origin) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
    if freq is not None:
        step = freq_days(freq, "reconstruct")
        if step < 1 or step != int(step):
            raise ConfigError(f"reconstruct: freq must be a whole number of days (e.g. '5D'), found {freq!r}")
        out_times = pd.date_range(origin, t[-1], freq=freq)
        grid_days = ((out_times - origin) / pd.Timedelta(days=1)).to_numpy(dtype=np.float64)
        out_idx = np.arange(grid_days.size)
    elif smooth:
        grid_days = np.arange(0.0, np.ceil(in_days[-1]) + 1.0)
        out_times = t
        out_idx = np.clip(np.rint(in_days).astype(np.int64), 0, grid_days.size - 1)
    else:
        grid_days = in_days
        out_times = t
        out_idx = np.arange(in_days.size)
    edges, table = _pred_std_table(model)
    kwargs = {
        "in_days": in_days,
        "grid_days": grid_days,
        "out_idx": out_idx,
        "obs_std": float(obs_std),
        "w_obs": float(weights.get("observed", 1.0)),
        "w_pred": weights.get("predicted"),
        "edges": edges,
        "table": table,
        "lam": float(lam) if smooth else None,
    }

    obs = cube["NDVI"].transpose("time", "y", "x")
    prd = pred.transpose("time", "y", "x")
    if prd.chunks is not None and obs.chunks is None:
        obs = obs.chunk(dict(zip(prd.dims, prd.chunks, strict=True)))
    elif obs.chunks is not None and prd.chunks is None:
        prd = prd.chunk(dict(zip(obs.dims, obs.chunks, strict=True)))
    elif obs.chunks is not None and prd.chunks is not None and obs.chunks != prd.chunks:
        obs = obs.chunk(dict(zip(prd.dims, prd.chunks, strict=True)))
    obs_in = obs.rename(time="time_in")
    obs_in = obs_in.drop_vars([c for c in obs_in.coords if c not in ("y", "x", "time_in")])
    prd_in = prd.rename(time="time_in")
    prd_in = prd_in.drop_vars([c for c in prd_in.coords if c not in ("y", "x", "time_in")])
    stacked = xr.apply_ufunc(
        _batched_kernel,
        obs_in,
        prd_in,
        input_core_dims=[["time_in"], ["time_in"]],
        output_core_dims=[["time", "var"]],
        kwargs=kwargs,
        dask="parallelized",
        output_dtypes=[np.float32],
        dask_gufunc_kwargs={"output_sizes": {"time": len(out_idx), "var": 3}},
    )
    stacked = stacked.assign_coords(time=np.asarray(out_times)).transpose("time", "y", "x", "var")
    src = stacked.isel(var=2).fillna(3).astype(np.uint8)
    out = xr.Dataset(
        {
            "NDVI": stacked.isel(var=0, drop=True),
            "NDVI_std": stacked.isel(var=1, drop=True),
            "source": src.drop_vars("var", errors="ignore"),
        }
    )
    out["NDVI"].attrs = {
        "long_name": "reconstructed (gap-filled) NDVI",
        "standard_name": "normalized_difference_vegetation_index",
        "units": "1",
        "valid_min": -1.0,
        "valid_max": 1.0,
        "ancillary_variables": "NDVI_std source",
    }
    out["NDVI_std"].attrs = {
        "long_name": "uncertainty (standard deviation) of the reconstructed NDVI",
        "units": "1",
        "method": "validation residuals by source; see fusets_dl.reconstruct",
    }
    out["source"].attrs = {
        "long_name": "source of the reconstructed NDVI value",
        "flag_values": np.array(list(SOURCE_FLAGS.values()), dtype=np.uint8),
        "flag_meanings": " ".join(SOURCE_FLAGS),
    }
    out.attrs = {
        "title": "fusets_dl reconstructed NDVI",
        "model_sha256": model.sha256,
        "smoothing": f"weighted Whittaker, lambda {lam} (1-day grid)" if smooth else "none",
        "obs_std": obs_std,
        "freq": freq or "cube dates",
    }
    if cube.rio.crs is not None:
        out = out.rio.write_crs(cube.rio.crs)
    return out


_BATCH = 4096  # pixels per kernel pass: bounds the (pixels x grid) temporaries


def _batched_kernel(obs: np.ndarray, pred: np.ndarray, **kw: Any) -> np.ndarray:
    """Run :func:`_kernel` over batches of pixels (bounded memory)."""
    lead = obs.shape[:-1]
    o = obs.reshape(-1, obs.shape[-1])
    p = pred.reshape(-1, pred.shape[-1])
    parts = [_kernel(o[i : i + _BATCH], p[i : i + _BATCH], **kw) for i in range(0, max(o.shape[0], 1), _BATCH)]
    out = np.concatenate(parts, axis=0) if parts else np.empty((0, len(kw["out_idx"]), 3), np.float32)
    return out.reshape(*lead, *out.shape[1:])
