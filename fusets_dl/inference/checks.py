"""Checks of a prediction call made when it is made, also for lazy results: run options and dates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import xarray as xr

from .._warn import warn_user
from ..errors import DimensionError
from ..features.orbits import ONE_ORBIT_MIN_DAYS, revisit_days
from ..models.fusion_model import check_batch_size, check_device_name
from ..readers.cube import backscatter_coefficient
from ..runtime import resolve_precision

__all__ = ["MIN_YEAR_GAPS", "REVISIT_FACTOR", "REVISIT_SDS", "REVISIT_YEAR_FACTOR", "check_backscatter", "check_dates", "check_months",
           "check_revisit", "check_run_options", "revisit_by_year"]


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
#: A model that records one median revisit per training scene only (``info["scene"|"sites"]["revisit_days"]``, saved before
#: per-year revisits were recorded, the shipped ``"pretrained"`` among them) warns on a cube whose one
#: overall median revisit lies beyond the scenes' range by this factor (6-day training: above 9 days, so 10-day composites
#: warned; with ``lag_mode="any"`` also below 4). One median per scene may hide years of another revisit, hence the margin.
REVISIT_FACTOR = 1.5
#: A model that records its training scenes' revisit per calendar year (``revisit_years``) warns on each year of a cube
#: whose median revisit lies beyond the range of those years by this factor, either way. Measured (synthetic, one orbit,
#: ``FeatureSpec(lags=2)``, seeds 0/1; /work/scratch/s30/revisit/t1_factor.py): trained at 6 days, R2 0.77-0.78 fell to
#: 0.65-0.66 at 8 days (x1.33), 0.31-0.56 at 10 (x1.67), 0.16-0.47 at 12; trained at 12, 0.76-0.78 fell to 0.59-0.66 at
#: 14 (x1.17), 0.13-0.37 at 18 (x1.5), 0.57-0.66 at 8 (/1.5), 0.31-0.50 at 6 (/2); 10 days cost 0.04-0.08 (/1.2).
REVISIT_YEAR_FACTOR = 1.25
#: A calendar year is judged on its own from this many gaps between consecutive acquisitions of one group (12-day revisit:
#: 30 a year); fewer (a cube's first or last dates) are left out, a cube with no such year is judged as one period.
MIN_YEAR_GAPS = 8


def revisit_by_year(times: np.ndarray, groups: np.ndarray) -> dict[str, float]:
    """Median days between consecutive acquisitions of one group, per calendar year.

    A gap counts in the year of its later acquisition; gaps of every group
    of a year are pooled; years with fewer than :data:`MIN_YEAR_GAPS` gaps
    are left out.

    Parameters
    ----------
    times : numpy.ndarray
        The dates (datetime64), sorted.
    groups : numpy.ndarray
        The group of each date (:func:`~fusets_dl.features.orbit_groups`;
        zeros for all as one).

    Returns
    -------
    dict of str to float
        ``{"2018": 6.0, ...}``: the year (a string, for JSON) and its median
        gap in days, in year order.
    """
    t = pd.DatetimeIndex(times)
    if t.size < 2:
        return {}
    days = ((t - t[0]) / pd.Timedelta(days=1)).to_numpy(np.float64)
    years, g = t.year.to_numpy(), np.asarray(groups)
    gaps, of = [], []
    for k in np.unique(g):
        sel = np.flatnonzero(g == k)
        gaps.append(np.diff(days[sel]))
        of.append(years[sel][1:])
    gap, year = np.concatenate(gaps), np.concatenate(of)
    gap, year = gap[gap > 0], year[gap > 0]
    out = {}
    for y in np.unique(year):
        v = gap[year == y]
        if v.size >= MIN_YEAR_GAPS:
            out[str(int(y))] = float(np.median(v))
    return out


def _positive(v: object) -> bool:
    """Whether ``v`` is a finite positive number (not a boolean)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v)) and v > 0


def _training_scenes(model: object) -> list[dict]:
    """The records of the model's training scenes (``info["scene"]`` and ``info["sites"]``' values that are dicts)."""
    info = getattr(model, "info", None) or {}
    return [sc for sc in (info.get("scene"), *(info.get("sites") or {}).values()) if isinstance(sc, dict)]


def _training_revisits(model: object, mode: str) -> list[float]:
    """The median revisits (``mode`` "orbit" or "any") the model records for its training scenes (none before 2026-11-28)."""
    out = []
    for sc in _training_scenes(model):
        rv = sc.get("revisit_days")
        v = rv.get(mode) if isinstance(rv, dict) else None
        if _positive(v):
            out.append(float(v))
    return out


def _training_years(model: object, mode: str) -> list[float] | None:
    """The per-year revisits of the model's training scenes, or None when it records none (saved before they were).

    A scene with no year of :data:`MIN_YEAR_GAPS` gaps gives its overall ``revisit_days``.
    """
    out, recorded = [], False
    for sc in _training_scenes(model):
        ry = sc.get("revisit_years")
        if not isinstance(ry, dict):
            continue
        recorded = True
        per = ry.get(mode)
        values = [float(v) for v in per.values() if _positive(v)] if isinstance(per, dict) else []
        whole = (sc.get("revisit_days") or {}).get(mode) if isinstance(sc.get("revisit_days"), dict) else None
        out += values or ([float(whole)] if _positive(whole) else [])
    return out if recorded else None


def _year_runs(years: list[str], values: list[float]) -> str:
    """``"12.0 days in 2022-2024, 18.0 in 2026"``: consecutive years of the same revisit (to 0.1 day) as one run."""
    runs: list[list] = []
    for y, v in zip(years, values, strict=True):
        if runs and int(y) == int(runs[-1][1]) + 1 and round(v, 1) == round(runs[-1][2], 1):
            runs[-1][1] = y
        else:
            runs.append([y, y, v])
    text = [f"{v:.1f}{' days' if i == 0 else ''} in {a if a == b else f'{a}-{b}'}" for i, (a, b, v) in enumerate(runs)]
    return ", ".join(text)


def _cube_years(days: np.ndarray, groups: np.ndarray, times: np.ndarray | None) -> dict[str, float]:
    """The cube's revisit per calendar year (:func:`revisit_by_year`), or as one period when no year has enough dates."""
    per = revisit_by_year(times, groups) if times is not None else {}
    if per:
        return per
    whole = revisit_days(days, groups)
    if whole is None:
        return {}
    if times is None:
        return {"its dates": whole}
    t = pd.DatetimeIndex(times)
    a, b = str(t[0].year), str(t[-1].year)
    return {a if a == b else f"{a}-{b}": whole}


def _check_years(known: list[float], per: dict[str, float], mode: str, what: str) -> None:
    """Warn on the calendar years of the cube whose revisit lies beyond the trained range by :data:`REVISIT_YEAR_FACTOR`."""
    lo, hi = min(known), max(known)
    low, high = lo / REVISIT_YEAR_FACTOR, hi * REVISIT_YEAR_FACTOR
    # per orbit group, under 5.5 days is no one orbit's revisit: relative orbits mixed by date-only times, which the
    # orbit-mixing warning names (warned here, it was mistaken for composites: the GFMap sample, 3 days)
    out = {y: v for y, v in per.items() if (v < low and not (mode == "orbit" and v < ONE_ORBIT_MIN_DAYS)) or v > high}
    if not out:
        return
    trained = f"{lo:.1f}" if round(hi, 1) == round(lo, 1) else f"{lo:.1f} to {hi:.1f}"
    share = f"; {len(out)} of the cube's {len(per)} years" if len(per) > 1 else ""
    warn_user(f"{what}: this cube's acquisitions of one {'orbit' if mode == 'orbit' else 'date to the next'} come every "
              f"{_year_runs(list(out), list(out.values()))} (median per year{share}), the "
              f"model's training years every {trained} days: its lag features (dt_lag1, the previous acquisitions) are "
              f"outside what it learnt (beyond x{REVISIT_YEAR_FACTOR:g} either way; trained at 12 days, on 6-day years: R2 0.77 "
              "-> 0.38; Flanders composited to 20 days: -1.92), and its NDVI in those years can be badly biased. Train on a "
              "cube covering those years (every revisit the model will meet: 6 days with two satellites, 12 with one), use a "
              "model without lag features (FeatureSpec(lags=0), the default), or, for composites, predict on the acquisitions")


def check_revisit(model: object, days: np.ndarray, groups: np.ndarray, what: str, times: np.ndarray | None = None) -> None:
    """Warn when the cube's revisit is far from the one the model's ``dt_lag1`` feature was trained on.

    A per-date model trained on 6-day acquisitions met 20-day composites
    without a word: the shipped model on Flanders composited to 20 days
    fell from R² 0.63 to -1.92 (bias +0.125); one trained on 12-day years
    fell from 0.77 to 0.38 on 6-day years (Sentinel-1C from 2025, or a
    2017-2021 archive), also without a word. Three records, newest first:

    - per calendar year (``revisit_years``, models trained since
      2026-11-28): each year of the cube (:func:`revisit_by_year`) against
      the range of the training years widened by
      :data:`REVISIT_YEAR_FACTOR` either way, so that a cube of 6-day and
      12-day years is judged year by year and a model trained on both is
      warned on neither; per orbit group a year under 5.5 days is left to
      the orbit-mixing warning (relative orbits mixed by date-only times);
    - one median per training scene (``revisit_days``, the shipped model:
      6 to 12 days per orbit): the cube's one overall median against their
      range widened by :data:`REVISIT_FACTOR` (per orbit group only above,
      so up to 18 days);
    - else :data:`REVISIT_SDS` sd of the training ``dt_lag1``.

    Only models with ``dt_lag1`` (``FeatureSpec(lags>=1)``) are checked:
    the other features count days (``windows``, ``trends``) or change little
    with the revisit (``rolling``'s acquisitions). Only the time axis is read
    (nothing computed).

    Parameters
    ----------
    model : FusionModel
        The model (its ``spec``, ``scaler`` and ``info``); models without
        ``dt_lag1`` are not checked.
    days : numpy.ndarray
        The cube's dates (days from its first).
    groups : numpy.ndarray
        The orbit group of each date (the lag's own orbit, ``lag_mode``
        "orbit"; all one group with ``lag_mode="any"``).
    what : str
        The caller, for the message.
    times : numpy.ndarray, optional
        The cube's dates (datetime64), for the calendar years; without them
        the cube is one period.
    """
    spec = getattr(model, "spec", None)
    scaler = getattr(model, "scaler", None)
    names = list(getattr(spec, "names", []) or [])
    if "dt_lag1" not in names or scaler is None:
        return
    mode = "any" if getattr(spec, "lag_mode", "orbit") == "any" else "orbit"
    groups = np.zeros(len(days), dtype=np.int64) if mode == "any" else np.asarray(groups)
    by_year = _training_years(model, mode)
    if by_year:
        _check_years(by_year, _cube_years(days, groups, None if times is None else np.asarray(times)), mode, what)
        return
    med = revisit_days(days, groups)
    if med is None:
        return
    known = _training_revisits(model, mode)
    if known:  # one median per training scene only (saved before revisit_years, the shipped model): outside their range by half
        lo, hi = min(known), max(known)
        # per orbit group, a revisit shorter than any training one means mixed relative orbits (date-only times), which
        # the orbit-mixing warning names; warned here, it was mistaken for composites (the GFMap sample: 3 days)
        low = lo / REVISIT_FACTOR if mode == "any" else 0.0
        if low <= med <= hi * REVISIT_FACTOR:
            return
        trained = f"{lo:.1f}" if round(hi, 1) == round(lo, 1) else f"{lo:.1f} to {hi:.1f}"
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
