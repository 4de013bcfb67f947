"""NDVI and its std at every date from a :class:`~fusets_dl.models.SequenceModel`, lazily per Dask chunk.

The model reads each pixel's whole series, so time must be one chunk: a cube
chunked along time is rechunked to one time chunk (values do not depend on
the spatial chunking either). On Dask the weights enter the graph once.
"""

from __future__ import annotations

import warnings
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from .._logging import logger
from .._warn import warn_user
from ..errors import ModelError
from ..features.orbits import orbit_groups
from ..models.sequence import time_channels
from ..models.sequence_model import SequenceModel, batch_rows, sequence_from_parts
from ..options import option
from ..readers.angles import check_angle_degrees
from ..readers.cube import check_cube_values
from ..runtime import Payload, from_payload, make_payload
from ..validate import check_cube
from .checks import check_backscatter, check_dates, check_months, check_run_options

__all__ = ["predict_sequence", "series_time_inputs"]

_ANGLE = "incidence_angle"


def series_time_inputs(cube: xr.Dataset, gap_minutes: float = 3.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Time channels, orbit groups and days of a cube's dates (read from the time index only).

    Parameters
    ----------
    cube : xarray.Dataset
        Any dataset with a ``time`` coordinate.
    gap_minutes : float
        Orbit grouping (:func:`fusets_dl.features.orbits.orbit_groups`).

    Returns
    -------
    tchan : numpy.ndarray
        (3, T) float32: sin, cos of the day of year, days since the previous date / 12.
    groups : numpy.ndarray
        (T,) int64 orbit groups.
    days : numpy.ndarray
        (T,) float64 days since the first date.
    """
    t = pd.DatetimeIndex(cube["time"].values)
    days = ((t - t[0]) / pd.Timedelta(days=1)).to_numpy(np.float64) if len(t) else np.zeros(0)
    tchan = time_channels(days, t.day_of_year.to_numpy())
    return tchan, orbit_groups(cube, gap_minutes=gap_minutes), days


def _stack(cube: xr.Dataset, s1_only: bool, reads_angle: bool | None = None) -> tuple[xr.DataArray, bool]:
    """VV, VH, NDVI (and the incidence angle) stacked on a leading ``var`` axis, ``(var, time, y, x)``.

    ``reads_angle`` False (a model trained without one): the cube's angle is
    left out, since the network's weights for that channel never learnt; True
    and a cube without one: a warning (the channel then assumes 38 degrees).
    """
    parts = [cube["VV"], cube["VH"]]
    if "NDVI" in cube and not s1_only:
        parts.append(cube["NDVI"])
    else:
        parts.append(xr.full_like(cube["VV"], np.nan))
    has_angle = _ANGLE in cube.data_vars or _ANGLE in cube.coords
    if has_angle and reads_angle is False:
        logger.info("predict_sequence: the cube's incidence_angle is not used: the model was trained without one")
        has_angle = False
    elif not has_angle and reads_angle:
        warnings.warn("predict_sequence: the model was trained with an incidence_angle and this cube has none; the angle "
                      "channel assumes 38 degrees, which shifts the prediction where the true angle differs", UserWarning, stacklevel=3)
    if has_angle:
        check_angle_degrees(cube[_ANGLE], "predict_sequence")  # set after the reader (assign_coords): radians, 0, 95
        parts.append(cube[_ANGLE].broadcast_like(cube["VV"]))
    parts = [p.transpose("time", "y", "x").astype(np.float32).drop_vars([c for c in p.coords if c not in ("time", "y", "x")]) for p in parts]
    return xr.concat(parts, dim="var"), has_angle


def _predict_block(
    block: np.ndarray, payload: Payload, tchan: np.ndarray, groups: np.ndarray, has_angle: bool, s1_only: bool, batch_size: int | None, device: str | None,
    precision: str | None = None, days: np.ndarray | None = None,
) -> np.ndarray:
    """(2, time, y, x) mean and std of one block (var, time, y, x), the model rebuilt once per process."""
    model = from_payload(payload, sequence_from_parts, "SequenceModel")
    _, t, ny, nx = block.shape
    flat = block.reshape(block.shape[0], t, ny * nx).transpose(0, 2, 1)  # (var, P, T)
    mean, std = model.predict_series(
        flat[0], flat[1], flat[2], flat[3] if has_angle else None, tchan, groups, s1_only=s1_only, batch_size=batch_size, device=device,
        precision=precision, days=days,
    )
    return np.stack([mean.T.reshape(t, ny, nx), std.T.reshape(t, ny, nx)])


def predict_sequence(
    cube: xr.Dataset,
    model: SequenceModel,
    *,
    s1_only: bool | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    precision: str | None = None,
) -> xr.Dataset:
    """NDVI mean and std at every date of ``cube`` from a sequence model.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` (dB) and, unless ``s1_only``, the
        clear ``NDVI`` (NaN where not clear); optional ``incidence_angle``.
    model : SequenceModel
        A trained sequence model.
    s1_only : bool, optional
        Ignore the NDVI (the pure S1 prediction); None takes the model's
        ``spec["s1_only"]``; a cube without ``NDVI`` is always S1-only.
    batch_size : int, optional
        Pixel series per forward pass (default 2048).
    device : str, optional
        ``"auto"``, ``"cpu"``, ``"cuda"``; None takes the ``device`` option
        at this call.
    precision : {"auto", "float32", "bfloat16"}, optional
        CPU inference precision (:meth:`SequenceModel.predict_series`); None
        takes the ``precision`` option at this call.

    Returns
    -------
    xarray.Dataset
        ``NDVI_pred`` and ``NDVI_pred_std`` float32 on ``(time, y, x)``;
        lazy on Dask input (time rechunked to one chunk when split), equal
        for any spatial chunking. Their attrs record the model
        (``model_sha256``), the mode (``s1_only``, 0 or 1) and the
        calibration factor applied to the std (``std_scale``, the model's
        :meth:`~fusets_dl.models.sequence_model.SequenceModel.std_scale`
        of that mode), which ``reconstruct(predicted=...)`` checks.

    Raises
    ------
    ModelError
        ``model`` is not a sequence model, ``batch_size`` is not a positive
        integer, or a bad device name or precision (at the call, also for a
        lazy result).
    FusionError
        A cube without ``VV``/``VH``, with bad dimensions or without dates.

    Warns
    -----
    UserWarning
        A cube of fewer than 3 dates: no series for the model to read; a
        cube of another backscatter coefficient than the model's training
        cubes (sigma0 against gamma0).
    """
    if getattr(model, "kind", None) != "sequence":
        raise ModelError(f"predict_sequence: expected a SequenceModel, found {type(model).__name__}")
    check_cube(cube)
    check_dates(cube, "predict_sequence")
    cube = check_cube_values(cube, "predict_sequence")
    check_backscatter(cube, model, "predict_sequence")
    check_months(model, cube["time"].values)
    batch_rows(batch_size)  # a bad batch size fails now, not when a chunk is computed
    device = option("device", device)
    precision = option("precision", precision)
    check_run_options(device, precision)  # a bad device name or precision too
    if cube.sizes["time"] < 3:
        warn_user(f"predict_sequence: the sequence model reads each pixel's whole series, and this cube has {cube.sizes['time']} "
                      "date(s): it predicts without the temporal context it was trained with. Give it the whole series "
                      "(a season or more), or use a FusionModel for single dates")
    s1_only = bool(model.spec.get("s1_only", False)) if s1_only is None else bool(s1_only)
    tchan, groups, days = series_time_inputs(cube, float(model.spec.get("orbit_gap_minutes", 3.0)))
    stack, has_angle = _stack(cube, s1_only, model.reads_angle())
    payload = make_payload(model.to_json_dict(model.sha256), model.state_bytes())
    args: tuple[Any, ...] = (tchan, groups, has_angle, s1_only, batch_size, device, precision, days)
    if stack.chunks is None:
        data = _predict_block(np.asarray(stack.values), payload, *args)
    else:
        arr = stack.data
        if len(arr.chunks[1]) > 1:
            logger.info("predict_sequence: time is split in %d chunks; rechunked to one (the model reads whole series)", len(arr.chunks[1]))
            arr = arr.rechunk({0: -1, 1: -1, 2: "auto", 3: "auto"})  # the pixels to Dask's auto size, not the whole tile
        elif len(arr.chunks[0]) > 1:
            arr = arr.rechunk({0: -1})
        pay = dask.delayed(payload, pure=True, name=f"fusets-seqmodel-{payload[2][:16]}")
        data = da.map_blocks(
            _predict_block, arr, pay, *args,
            chunks=((2,), *arr.chunks[1:]), dtype=np.float32, meta=np.empty((0, 0, 0, 0), dtype=np.float32),
        )
    coords = {k: v for k, v in cube["VV"].coords.items() if set(v.dims) <= {"time", "y", "x"}}
    # what reconstruct(predicted=...) checks: the weights, the mode, and the std's calibration factor applied to it
    attrs = {"model_sha256": model.sha256, "model_kind": "sequence", "s1_only": int(s1_only), "std_scale": model.std_scale(s1_only)}
    return xr.Dataset(
        {
            "NDVI_pred": xr.DataArray(data[0], dims=("time", "y", "x"), coords=coords,
                                      attrs={"long_name": "NDVI predicted by the sequence model", "units": "1", **attrs}),
            "NDVI_pred_std": xr.DataArray(data[1], dims=("time", "y", "x"), coords=coords,
                                          attrs={"long_name": "standard deviation of NDVI_pred", "units": "1", **attrs}),
        }
    )
