"""Checks of a prediction call made when it is made, also for lazy results: run options and dates."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from .._warn import warn_user
from ..errors import DimensionError
from ..features.orbits import revisit_days
from ..models.fusion_model import check_batch_size, check_device_name
from ..readers.cube import backscatter_coefficient
from ..runtime import resolve_precision

__all__ = ["REVISIT_FACTOR", "REVISIT_SDS", "check_backscatter", "check_dates", "check_months", "check_revisit", "check_run_options"]


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


#: For a model that records no training revisit (saved before 2026-11-28): standard deviations of the training ``dt_lag1``
#: between a cube's median revisit and the model's before it is warned. The scaler's mean and sd summarise every training
#: pixel-date: a model of Flanders (6.4 +- 1.6 days) and the Slovak sites (one satellite, 12 days: 3.6 sd) must not warn on
#: the Slovak sites; 20-day composites (8.8 sd) are warned. 10-day composites (2.3 sd) are not told apart by these two numbers.
REVISIT_SDS = 4.0
#: A model that records its training scenes' revisits (``info["scene"|"sites"]["revisit_days"]``) warns on a cube whose
#: median revisit lies beyond their range by this factor (6-day training: above 9 days, so 10-day composites warned; with
#: ``lag_mode="any"`` also below 4).
REVISIT_FACTOR = 1.5


def _training_revisits(model: object, mode: str) -> list[float]:
    """The median revisits (``mode`` "orbit" or "any") the model records for its training scenes (none before 2026-11-28)."""
    info = getattr(model, "info", None) or {}
    scenes = [info.get("scene"), *(info.get("sites") or {}).values()]
    out = []
    for sc in scenes:
        rv = sc.get("revisit_days") if isinstance(sc, dict) else None
        v = rv.get(mode) if isinstance(rv, dict) else None
        if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v > 0:
            out.append(float(v))
    return out


def check_revisit(model: object, days: np.ndarray, groups: np.ndarray, what: str) -> None:
    """Warn when the cube's revisit is far from the one the model's ``dt_lag1`` feature was trained on.

    A per-date model trained on 6-day acquisitions met 20-day composites
    without a word: the shipped model on Flanders composited to 20 days
    fell from R² 0.63 to -1.92 (bias +0.125). The bar is the range of the
    training scenes' recorded revisits widened by :data:`REVISIT_FACTOR`
    (the shipped model: 6 to 12 days per orbit, so up to 18; per orbit
    group only the upper end, as a shorter revisit there means relative
    orbits mixed by date-only times, which their own warning names), else
    :data:`REVISIT_SDS` sd of the training ``dt_lag1``. Only the time axis
    is read (nothing computed).

    Parameters
    ----------
    model : FusionModel
        The model (its ``spec`` and ``scaler``); models without ``dt_lag1``
        are not checked.
    days : numpy.ndarray
        The cube's dates (days from its first).
    groups : numpy.ndarray
        The orbit group of each date (the lag's own orbit, ``lag_mode``
        "orbit"; all one group with ``lag_mode="any"``).
    what : str
        The caller, for the message.
    """
    spec = getattr(model, "spec", None)
    scaler = getattr(model, "scaler", None)
    names = list(getattr(spec, "names", []) or [])
    if "dt_lag1" not in names or scaler is None:
        return
    mode = "any" if getattr(spec, "lag_mode", "orbit") == "any" else "orbit"
    med = revisit_days(days, np.zeros(len(days), dtype=np.int64) if mode == "any" else groups)
    if med is None:
        return
    known = _training_revisits(model, mode)
    if known:  # the revisits of its training scenes (models trained since 2026-11-28): outside their range by half
        lo, hi = min(known), max(known)
        # per orbit group, a revisit shorter than any training one means mixed relative orbits (date-only times), which
        # the orbit-mixing warning names; warned here, it was mistaken for composites (the GFMap sample: 3 days)
        low = lo / REVISIT_FACTOR if mode == "any" else 0.0
        if low <= med <= hi * REVISIT_FACTOR:
            return
        trained = f"{lo:.1f}" if hi == lo else f"{lo:.1f} to {hi:.1f}"
        warn_user(f"{what}: this cube's acquisitions of one {'orbit' if mode == 'orbit' else 'date to the next'} come every "
                  f"{med:.1f} days (median), the model's training scenes every {trained} days: its temporal features are outside "
                  "what it learnt (composites, another revisit), and its NDVI can be badly biased (Flanders composited to 20 days: "
                  "R2 -1.92 against 0.63). Predict on the acquisitions themselves, or train on this cube's revisit")
        return
    i = names.index("dt_lag1")
    mu, sd = float(scaler.feature_mean[i]), float(scaler.feature_std[i])
    if not (np.isfinite(mu) and np.isfinite(sd) and sd > 0):
        return
    if abs(med - mu) > REVISIT_SDS * sd:
        warn_user(f"{what}: this cube's acquisitions of one orbit come every {med:.1f} days (median), the model's training data "
                  f"every {mu:.1f} ± {sd:.1f} days (its dt_lag1 feature): its temporal features are far outside what it learnt "
                  "(composites of another period, another revisit), and its NDVI can be badly biased (Flanders composited to 20 "
                  "days: R2 -1.92 against 0.63). Predict on the acquisitions themselves, or train on this cube's revisit")


def check_months(model: object, times: np.ndarray) -> None:
    """Warn when the cube's dates fall in calendar months the model's training samples hardly cover.

    Models trained since 2026-11-28 record each month's share of their
    training samples (``info["training_months"]``, :mod:`fusets_dl._months`);
    older ones are not checked. Only the time axis is read.

    Parameters
    ----------
    model : FusionModel or SequenceModel
        The model.
    times : numpy.ndarray
        The cube's dates.
    """
    from .._months import months_quiet, thin_months_message

    if months_quiet():
        return
    shares = (getattr(model, "info", None) or {}).get("training_months")
    if not isinstance(shares, list) or len(shares) != 12:
        return
    sequence = getattr(model, "kind", None) == "sequence"
    if sequence:  # a whole-series model: its day-of-year input channels
        doy = bool({"sin_doy", "cos_doy"} & set(getattr(model, "inputs", ())))
    else:
        doy = bool(getattr(getattr(model, "spec", None), "doy", False))
    msg = thin_months_message(shares, times, doy, sequence=sequence)
    if msg is not None:
        warn_user(msg)
