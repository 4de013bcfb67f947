"""Metrics and honest evaluation on held-out spatial blocks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InsufficientDataError
from .metrics import metrics_by_range, regression_metrics
from .splits import block_mask

if TYPE_CHECKING:
    from ..models.fusion_model import FusionModel

__all__ = ["evaluate", "score_phenology"]


def evaluate(model: FusionModel, cube: xr.Dataset, *, which: str = "test", predicted: xr.DataArray | None = None) -> dict[str, Any]:
    """Metrics of ``model`` on the observed NDVI of ``cube`` in its held-out blocks.

    Parameters
    ----------
    model : FusionModel
        A trained model (its ``blocks`` record the split).
    cube : xarray.Dataset
        The cube the model was trained on (same grid), with ``NDVI``.
    which : {"test", "val", "train", "all"}
        Which blocks to score; "all" scores every pixel (for a different scene).
    predicted : xarray.DataArray, optional
        Predictions already computed for ``cube``.

    Returns
    -------
    dict
        ``overall`` metrics and ``by_range`` list.
    """
    from ..inference.predict import predict_ndvi

    pred = predicted if predicted is not None else predict_ndvi(cube, model)
    obs = cube["NDVI"]
    if which == "all":
        mask = np.ones((cube.sizes["y"], cube.sizes["x"]), dtype=bool)
    else:
        if not model.blocks:
            raise InsufficientDataError("evaluate: the model records no held-out blocks; use which='all' on another scene")
        mask = block_mask(cube.sizes["y"], cube.sizes["x"], model.blocks, which)
    m = xr.DataArray(mask, dims=("y", "x"))
    o = obs.where(m).values
    p = pred.where(m).values
    return {"which": which, "overall": regression_metrics(o, p), "by_range": metrics_by_range(o, p)}


def _days(a: np.ndarray) -> np.ndarray:
    return (np.asarray(a, dtype="datetime64[ns]") - np.datetime64("2000-01-01")) / np.timedelta64(1, "D")


def score_phenology(
    found: xr.Dataset,
    truth: xr.Dataset,
    *,
    mask: np.ndarray | None = None,
    period: tuple[Any, Any] | None = None,
    max_distance_days: float = 45.0,
    classes: Sequence[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Compare found seasons with true ones, per land-cover class.

    Parameters
    ----------
    found : xarray.Dataset
        Output of :func:`fusets_dl.phenology` on ``(season, y, x)``.
    truth : xarray.Dataset
        With ``crop`` (y, x) and true ``sos``, ``pos``, ``eos`` (season, y, x),
        as :func:`fusets_dl.synthetic.make_scene` returns.
    mask : numpy.ndarray, optional
        Pixels to score (y, x), e.g. a model's held-out blocks.
    period : (start, end), optional
        Only seasons peaking in this period count (true and found).
    max_distance_days : float
        A found season matches the true season with the nearest peak within this distance.
    classes : sequence of str, optional
        Class names by code (default: the synthetic classes).

    Returns
    -------
    dict
        Per class: ``pixels``, ``right_count`` (share of pixels with the true
        number of seasons), ``sos_mae`` and ``eos_mae`` (days, over matched
        seasons) and ``matched``. The loop over pixels is evaluation code
        on small scenes, not a processing stage.
    """
    from ..synthetic import CLASSES

    names = list(classes or CLASSES)
    crop = truth["crop"].values
    mask = np.ones(crop.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    t_pos, t_sos, t_eos = (_days(truth[v].values) for v in ("pos", "sos", "eos"))
    p_pos, p_sos, p_eos = (_days(found[v].values) for v in ("pos", "sos", "eos"))
    lo, hi = (-np.inf, np.inf) if period is None else tuple(float(_days(pd.Timestamp(p).to_datetime64())) for p in period)
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(names):
        sel = mask & (crop == k)
        if not sel.any():
            continue
        right, sos_err, eos_err = [], [], []
        for i, j in zip(*np.nonzero(sel), strict=True):
            tp, pp = t_pos[:, i, j], p_pos[:, i, j]
            t_in = np.isfinite(tp) & (tp >= lo) & (tp <= hi)
            p_in = np.isfinite(pp) & (pp >= lo) & (pp <= hi)
            right.append(int(t_in.sum()) == int(p_in.sum()))
            for s_ in np.flatnonzero(t_in):
                d = np.where(p_in, np.abs(pp - tp[s_]), np.inf)
                m = int(np.argmin(d))
                if d[m] <= max_distance_days:
                    if np.isfinite(p_sos[m, i, j]):
                        sos_err.append(abs(p_sos[m, i, j] - t_sos[s_, i, j]))
                    if np.isfinite(p_eos[m, i, j]):
                        eos_err.append(abs(p_eos[m, i, j] - t_eos[s_, i, j]))
        out[name] = {
            "pixels": int(sel.sum()),
            "right_count": float(np.mean(right)),
            "sos_mae": float(np.mean(sos_err)) if sos_err else float("nan"),
            "eos_mae": float(np.mean(eos_err)) if eos_err else float("nan"),
            "matched": len(sos_err),
        }
    return out
