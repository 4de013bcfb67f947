"""Accuracy metrics: pure NumPy, no torch, no xarray."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError, DimensionError, EncodingError

__all__ = ["NDVI_RANGES", "clustering_scores", "coverage_metrics", "metrics_by_range", "regression_metrics"]

#: NDVI ranges for the per-range metrics.
NDVI_RANGES: tuple[float, ...] = (-1.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def _pair(observed: Any, predicted: Any, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Both flattened as float64; a size mismatch is an error, the same size in another shape a warning."""
    o_in, p_in = np.asarray(observed, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    if o_in.size != p_in.size:
        raise DimensionError(f"{what}: expected observed and predicted of one size, found {o_in.shape} ({o_in.size} values) "
                             f"and {p_in.shape} ({p_in.size})")
    if np.squeeze(o_in).shape != np.squeeze(p_in).shape:
        warnings.warn(f"{what}: observed {o_in.shape} and predicted {p_in.shape} differ in shape; they are paired "
                      "value by value after flattening (transposed?)", UserWarning, stacklevel=3)
    return o_in.ravel(), p_in.ravel()


def _refuse_infinite(what: str, **arrays: np.ndarray) -> None:
    """An :class:`EncodingError` naming the arrays holding infinite values (NaN is missing; inf is a broken value)."""
    bad = {k: int(np.isinf(v).sum()) for k, v in arrays.items() if np.isinf(v).any()}
    if bad:
        raise EncodingError(f"{what}: expected finite values (NaN where missing), found infinite ones: "
                            + ", ".join(f"{n} in {k}" for k, n in bad.items()))


def regression_metrics(observed: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """R2, RMSE, MAE and bias (predicted minus observed) over finite pairs.

    Parameters
    ----------
    observed, predicted : array-like
        Matching values, any shape (flattened); pairs with a NaN are left out.

    Returns
    -------
    dict
        ``n`` (pairs used), ``r2``, ``rmse``, ``mae`` and ``bias``; the metrics
        are NaN when fewer than two pairs exist (``r2`` also when the observed
        values are constant: R2 is undefined there, the other metrics are not).

    Raises
    ------
    DimensionError
        ``observed`` and ``predicted`` differ in size (the same size in
        another shape is paired after flattening, with a warning).
    EncodingError
        An infinite value (it was left out like a NaN: an infinite
        prediction scored RMSE 0 on the other pairs).
    """
    o, p = _pair(observed, predicted, "regression_metrics")
    _refuse_infinite("regression_metrics", observed=o, predicted=p)
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


def coverage_metrics(observed: np.ndarray, predicted: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """How well a predicted standard deviation covers the errors: shares within 1 and 2 std, mean std, Gaussian NLL.

    For a calibrated Gaussian uncertainty 68.3 % of the values fall within
    ``predicted +- std`` and 95.4 % within ``+- 2 std``.

    Parameters
    ----------
    observed, predicted, std : array-like
        Matching values, any shape (flattened); entries with a NaN or a
        negative std are left out; an infinite std covers any error (its
        ``nll`` and ``mean_std`` are infinite). A std of 0 claims certainty: the value
        is within any multiple of it when the error is 0 as well, and a miss
        otherwise (before 2026-11-27 such values were left out, so a method
        returning std 0 where it was wrong looked well calibrated).

    Returns
    -------
    dict
        ``n_std`` (values used), ``within_1std`` and ``within_2std``
        (fractions, 0-1), ``mean_std`` and ``nll`` (the mean Gaussian negative
        log-likelihood ``log(std) + 0.5 log(2 pi) + err**2 / (2 std**2)`` of
        the values with a std above 0; infinite when a std of 0 missed);
        NaN when no value is usable.

    Raises
    ------
    DimensionError
        The three inputs differ in size (a ``ValueError``).
    EncodingError
        An infinite observed or predicted value.
    """
    o = np.asarray(observed, dtype=np.float64).ravel()
    p = np.asarray(predicted, dtype=np.float64).ravel()
    s = np.asarray(std, dtype=np.float64).ravel()
    if not o.size == p.size == s.size:
        raise DimensionError(f"coverage_metrics: expected observed, predicted and std of one size, found {o.size}, {p.size} and {s.size}")
    _refuse_infinite("coverage_metrics", observed=o, predicted=p)
    ok = np.isfinite(o) & np.isfinite(p) & ~np.isnan(s) & (s >= 0)  # an infinite std covers any error (it was left out)
    n = int(ok.sum())
    if n == 0:
        return {"n_std": 0, "within_1std": float("nan"), "within_2std": float("nan"), "mean_std": float("nan"), "nll": float("nan")}
    err, sd = np.abs(p[ok] - o[ok]), s[ok]
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, err / sd, np.where(err > 0, np.inf, 0.0))
    pos = sd > 0
    if np.any(~pos & (err > 0)):
        nll = float("inf")
    else:
        nll = float(np.mean(np.log(sd[pos]) + 0.5 * np.log(2.0 * np.pi) + 0.5 * z[pos] ** 2)) if pos.any() else float("nan")
    return {
        "n_std": n,
        "within_1std": float(np.mean(z <= 1.0)),
        "within_2std": float(np.mean(z <= 2.0)),
        "mean_std": float(np.mean(sd)),
        "nll": nll,
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

    Parameters
    ----------
    labels : array-like
        Reference labels (any shape).
    classes : array-like
        The class map, the same size as ``labels``.

    Returns
    -------
    dict
        ``ari``, ``nmi``, ``n`` (pixels scored), ``n_labels`` and ``n_classes``
        (distinct values in each among those pixels).

    Raises
    ------
    DimensionError
        When the two maps differ in size (a ``ValueError``).
    """
    a = np.asarray(labels, dtype=np.float64).ravel()
    b = np.asarray(classes, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise DimensionError(f"clustering_scores: expected two maps of the same size, found {np.asarray(labels).shape} and {np.asarray(classes).shape}")
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
    """:func:`regression_metrics` per range of the *observed* NDVI.

    Parameters
    ----------
    observed, predicted : array-like
        Matching values (flattened).
    edges : sequence of float
        Range edges; each range includes its lower edge, the last also its upper one.

    Returns
    -------
    list of dict
        Per range: ``range`` ``[lo, hi]`` and the :func:`regression_metrics`.

    Raises
    ------
    DimensionError
        ``observed`` and ``predicted`` differ in size.
    ConfigError
        ``edges``: fewer than two, or not increasing.
    """
    o, p = _pair(observed, predicted, "metrics_by_range")
    e = np.asarray(edges, dtype=np.float64)
    if e.ndim != 1 or e.size < 2 or not (np.diff(e) > 0).all():
        raise ConfigError(f"metrics_by_range: expected at least two increasing range edges, found {np.atleast_1d(e).tolist()}")
    out = []
    for lo, hi in itertools.pairwise(edges):
        sel = (o >= lo) & ((o < hi) if hi < edges[-1] else (o <= hi))
        out.append({"range": [float(lo), float(hi)], **regression_metrics(o[sel], p[sel])})
    return out
