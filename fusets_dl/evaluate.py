"""Metrics and honest evaluation on held-out spatial blocks."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import InsufficientDataError

if TYPE_CHECKING:
    from .model import FusionModel

__all__ = ["NDVI_RANGES", "block_mask", "clustering_scores", "evaluate", "metrics_by_range", "regression_metrics", "score_phenology"]

#: NDVI ranges for the per-range metrics.
NDVI_RANGES: tuple[float, ...] = (-1.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def regression_metrics(observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """R2, RMSE, MAE and bias (predicted minus observed) over finite pairs.

    Returns ``n`` too; metrics are NaN when fewer than two pairs exist.
    """
    o = np.asarray(observed, dtype=np.float64).ravel()
    p = np.asarray(predicted, dtype=np.float64).ravel()
    ok = np.isfinite(o) & np.isfinite(p)
    o, p = o[ok], p[ok]
    n = int(o.size)
    if n < 2:
        return {"n": n, "r2": float("nan"), "rmse": float("nan"), "mae": float("nan"), "bias": float("nan")}
    err = p - o
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((o - o.mean()) ** 2))
    return {
        "n": n,
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "bias": float(np.mean(err)),
    }


def _contingency(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1), dtype=np.float64)
    np.add.at(table, (ia, ib), 1.0)
    return table


def clustering_scores(labels: np.ndarray, classes: np.ndarray) -> dict[str, float]:
    """Adjusted Rand index and normalised mutual information of a class map against reference labels.

    Pixels where either is missing (NaN or negative) are left out. ARI is
    Hubert and Arabie's (1 for identical partitions up to renaming, about 0
    for independent ones, negative below chance); NMI divides the mutual
    information by the arithmetic mean of the two entropies (1 identical,
    0 independent). Class ids are arbitrary: only the partition counts.

    Returns
    -------
    dict
        ``ari``, ``nmi``, ``n`` (pixels scored), ``n_labels`` and ``n_classes``
        (distinct values in each among those pixels).
    """
    a = np.asarray(labels, dtype=np.float64).ravel()
    b = np.asarray(classes, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"clustering_scores: expected two maps of the same size, found {np.asarray(labels).shape} and {np.asarray(classes).shape}")
    ok = np.isfinite(a) & np.isfinite(b) & (a >= 0) & (b >= 0)
    a, b = a[ok], b[ok]
    n = a.size
    if n < 2:
        return {"ari": float("nan"), "nmi": float("nan"), "n": int(n), "n_labels": 0, "n_classes": 0}
    t = _contingency(a, b)
    rows, cols = t.sum(axis=1), t.sum(axis=0)

    def _pairs(v: np.ndarray) -> float:
        return float((v * (v - 1) / 2).sum())

    sum_ij, sum_a, sum_b, total = _pairs(t), _pairs(rows), _pairs(cols), n * (n - 1) / 2
    expected = sum_a * sum_b / total
    top = 0.5 * (sum_a + sum_b)
    ari = 1.0 if top == expected else (sum_ij - expected) / (top - expected)
    p = t / n
    pa, pb = rows / n, cols / n
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / (pa[:, None] * pb[None, :])[nz])).sum())
    ha, hb = float(-(pa * np.log(pa)).sum()), float(-(pb * np.log(pb)).sum())
    nmi = 1.0 if ha == hb == 0 else (0.0 if ha + hb == 0 else mi / (0.5 * (ha + hb)))
    return {"ari": float(ari), "nmi": float(max(nmi, 0.0)), "n": int(n), "n_labels": int(t.shape[0]), "n_classes": int(t.shape[1])}


def metrics_by_range(observed: np.ndarray, predicted: np.ndarray, edges: Sequence[float] = NDVI_RANGES) -> list[dict[str, Any]]:
    """:func:`regression_metrics` per range of the *observed* NDVI."""
    o = np.asarray(observed, dtype=np.float64).ravel()
    p = np.asarray(predicted, dtype=np.float64).ravel()
    out = []
    for lo, hi in itertools.pairwise(edges):
        sel = (o >= lo) & ((o < hi) if hi < edges[-1] else (o <= hi))
        out.append({"range": [float(lo), float(hi)], **regression_metrics(o[sel], p[sel])})
    return out


def block_mask(ny: int, nx: int, blocks: dict[str, Any], which: str = "test") -> np.ndarray:
    """Boolean (y, x) mask of the pixels in the model's ``which`` blocks ("test", "val" or "train")."""
    size = int(blocks["block_size"])
    by = np.arange(ny) // size
    bx = np.arange(nx) // size
    ids = by[:, None] * int(blocks["grid"][1]) + bx[None, :]
    if which == "train":
        held = set(map(tuple, blocks.get("test", []))) | set(map(tuple, blocks.get("val", [])))
        chosen = [b for b in np.ndindex(*blocks["grid"]) if b not in held]
    else:
        chosen = [tuple(b) for b in blocks.get(which, [])]
    flat = [b[0] * int(blocks["grid"][1]) + b[1] for b in chosen]
    return np.isin(ids, flat)


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
    from .predict import predict_ndvi

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
    from .synthetic import CLASSES

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
