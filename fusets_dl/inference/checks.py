"""Checks of a prediction call made when it is made, also for lazy results: run options and dates."""

from __future__ import annotations

import torch
import xarray as xr

from .._warn import warn_user
from ..errors import DimensionError
from ..models.fusion_model import check_batch_size, check_device_name
from ..readers.cube import backscatter_coefficient
from ..runtime import resolve_precision

__all__ = ["check_backscatter", "check_dates", "check_run_options"]


def check_backscatter(cube: xr.Dataset, model: object, what: str) -> None:
    """Warn when the cube's backscatter coefficient is not the one the model was trained on (sigma0 vs gamma0).

    gamma0 (terrain-flattened, Planetary Computer's RTC, SNAP's ``Gamma0_*``)
    is sigma0 / cos(incidence): about +1 dB at 38 degrees on flat ground, more
    on slopes facing the sensor. A model trained on one reads the other as
    wetter or denser vegetation. Nothing is said where either side is
    unknown (models saved before this was recorded, cubes the readers could
    not tell).

    Parameters
    ----------
    cube : xarray.Dataset
        The cube to predict on.
    model : FusionModel or SequenceModel
        The model (a per-date model's ``info["scene"]`` and ``info["sites"]``,
        a sequence model's ``info["cubes"]``).
    what : str
        The caller, for the message.
    """
    found = backscatter_coefficient(cube)
    info = dict(getattr(model, "info", None) or {})
    cubes = info.get("cubes") if isinstance(info.get("cubes"), list) else []  # a sequence model's training cubes
    scenes = [info.get("scene") or {}, *dict(info.get("sites") or {}).values(), *cubes]
    trained = sorted({str(s["backscatter"]) for s in scenes if isinstance(s, dict) and s.get("backscatter")})
    if found is None or not trained or found in trained:
        return
    warn_user(f"{what}: the cube's backscatter is {found}, the model was trained on {' and '.join(trained)} (gamma0 is sigma0 / "
              "cos(incidence): about 1 dB higher at 38 degrees on flat ground): its NDVI is biased; convert the cube, or train "
              "on data of the same coefficient")


def check_run_options(device: str | None, precision: str | None, batch_size: object = None) -> None:
    """Refuse a bad device name, precision or batch size when the call is made, not when a lazy result is computed.

    Whether CUDA is present is left to where the chunks run (``"auto"``
    and ``"cuda"`` are decided there).

    Parameters
    ----------
    device, precision : str or None
        As given (None: the options).
    batch_size : object
        As given; None passes.

    Raises
    ------
    ModelError
        A device that is not ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``, a
        precision not ``"auto"``, ``"float32"`` or ``"bfloat16"``, or a batch
        size not None or a positive integer.
    """
    check_device_name(device)
    resolve_precision(precision, torch.device("cpu"))  # checks the value only
    check_batch_size(batch_size)


def check_dates(cube: xr.Dataset, what: str) -> None:
    """Refuse a cube without dates (an IndexError deep in the features before).

    Parameters
    ----------
    cube : xarray.Dataset
        The cube to predict on.
    what : str
        The caller, for the message.

    Raises
    ------
    DimensionError
        ``cube`` has 0 dates.
    """
    if cube.sizes["time"] == 0:
        raise DimensionError(f"{what}: expected at least one date, found a cube with 0 dates (time is empty); check the time selection")
