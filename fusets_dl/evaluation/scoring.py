"""Metrics and honest evaluation on held-out spatial blocks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .metrics import metrics_by_range, regression_metrics
from .splits import block_mask, own_blocks

if TYPE_CHECKING:
    from ..models.fusion_model import FusionModel

__all__ = ["class_names", "evaluate", "score_phenology"]


def evaluate(
    model: FusionModel, cube: xr.Dataset, *, which: str = "test", predicted: xr.DataArray | None = None,
    context_gap_days: float | None = None,
) -> dict[str, Any]:
    """Metrics of ``model`` on the observed NDVI of ``cube`` in its held-out blocks.

    A model that reads the optical context (the clear NDVI before and after
    each date) is scored as ``metrics["test"]`` was: each date's context
    excludes a simulated cloudy spell around it (up to the model's
    ``context_gap_days``, 90 by default), so the score is that of filling a
    gap, not of copying a clear view a few days away. Before 2026-11-28 it
    was scored with ``predict_ndvi``'s context (only the ±3 days around the
    date hidden), which measures short-gap interpolation.

    Parameters
    ----------
    model : FusionModel
        A trained model (its ``blocks`` record the split).
    cube : xarray.Dataset
        The cube the model was trained on (same grid; one of its sites,
        named by ``attrs["site"]``, for a model of several), with ``NDVI``.
    which : {"test", "val", "train", "all"}
        Which blocks to score; "all" scores every pixel (for a different scene).
    predicted : xarray.DataArray, optional
        Predictions already computed for ``cube`` (scored as they are).
    context_gap_days : float, optional
        For a model with the optical group: the longest simulated cloudy
        spell hidden from each date's context (uniform in 0 to this many
        days, placed at random around the date, the training's draw).
        Default: the model's own ``context_gap_days`` (``TrainConfig``);
        0: only the ±3 days that ``predict_ndvi`` hides. Ignored for models
        without the optical group.

    Returns
    -------
    dict
        ``which``, ``overall`` metrics and the ``by_range`` list.

    Raises
    ------
    InsufficientDataError
        When ``which`` is not "all" and the model records no blocks.
    ConfigError
        When ``which`` is not "all" and none of the model's splits belongs
        to ``cube`` (another cube, size, part or site: its block numbers
        would mark other pixels, training pixels among them; a model of
        several sites scored its first site's blocks on the others).
    """
    from ..inference.predict import predict_ndvi

    gap = _context_gap(model, context_gap_days)
    if predicted is not None:
        pred = predicted
    elif gap > 0:
        pred = _predict_with_gaps(model, cube, gap)
    else:
        pred = predict_ndvi(cube, model)
    obs = cube["NDVI"]
    if which == "all":
        mask = np.ones((cube.sizes["y"], cube.sizes["x"]), dtype=bool)
    else:
        mask = block_mask(cube.sizes["y"], cube.sizes["x"], own_blocks(cube, model, "evaluate"), which)
    m = xr.DataArray(mask, dims=("y", "x"))
    o = obs.where(m).values
    p = pred.where(m).values
    return {"which": which, "overall": regression_metrics(o, p), "by_range": metrics_by_range(o, p)}


#: Rows of the cube whose features are computed at once when scoring with simulated spells (bounded memory).
GAP_ROWS = 32


def _context_gap(model: FusionModel, given: float | None) -> float:
    """The spell hidden from the optical context when scoring: 0 without the optical group (a sequence model hides its own)."""
    if "optical" not in getattr(model.spec, "groups", ()):
        return 0.0
    gap = model.config.get("context_gap_days", 0.0) if given is None else given
    if isinstance(gap, bool) or not isinstance(gap, (int, float, np.integer, np.floating)) or not np.isfinite(gap) or gap < 0:
        from ..errors import ConfigError

        raise ConfigError(f"evaluate: context_gap_days: expected a finite number of days >= 0 or None, found {gap!r}")
    return float(gap)


def _predict_with_gaps(model: FusionModel, cube: xr.Dataset, gap: float) -> xr.DataArray:
    """``model``'s NDVI with each date's optical context missing a simulated cloudy spell of up to ``gap`` days.

    The training's draw (:func:`~fusets_dl.features.compute_features`'s
    ``context_gaps``, seeded as the training seeded the cube's site, hashed
    by the pixel's index in the whole cube), ``GAP_ROWS`` rows of the cube
    at a time: the same spells as the training's samples of those pixels.
    """
    from ..features import compute_features

    sites = list(model.blocks.get("sites", {})) if isinstance(model.blocks, dict) else []
    site = cube.attrs.get("site")
    seed = int(model.config.get("seed", 0)) + (sites.index(site) if site in sites else 0)  # the k-th site's draw
    nt, ny, nx = cube.sizes["time"], cube.sizes["y"], cube.sizes["x"]
    out = np.full((nt, ny, nx), np.nan, dtype=np.float32)
    for y0 in range(0, ny, GAP_ROWS):
        part = cube.isel(y=slice(y0, y0 + GAP_ROWS))
        rows = np.arange(y0, y0 + part.sizes["y"])[:, None] + np.zeros((1, nx), dtype=np.int64)
        cols = np.zeros((part.sizes["y"], 1), dtype=np.int64) + np.arange(nx)[None, :]
        part = part.assign_coords(sample_iy=(("y", "x"), rows), sample_ix=(("y", "x"), cols))  # the scene's indices: the training's spells
        feats = compute_features(part, model.spec, context_gaps=(seed, gap)).transpose("time", "y", "x", "feature")
        values = np.asarray(feats.values, dtype=np.float32)
        pred = model.predict_array(values.reshape(-1, values.shape[-1]))
        out[:, y0 : y0 + values.shape[1]] = np.asarray(pred, dtype=np.float32).reshape(values.shape[:3])
    return xr.DataArray(out, dims=("time", "y", "x"), coords={k: cube.coords[k] for k in ("time", "y", "x") if k in cube.coords})


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
        Class names by code. Default: the names the truth carries (the
        ``flag_meanings`` of ``crop``, or the dataset's ``classes``
        attribute, space-separated, as ``make_scene`` writes them); without
        them, ``"class <code>"`` for every code in ``crop``.

    Returns
    -------
    dict
        Per class: ``pixels``, ``right_count`` (share of pixels with the true
        number of seasons), ``sos_mae`` and ``eos_mae`` (days, over matched
        seasons) and ``matched``. The loop over pixels is evaluation code
        on small scenes, not a processing stage.
    """
    names = list(classes) if classes else class_names(truth)
    crop = truth["crop"].values
    mask = np.ones(crop.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    true = {v: _days(truth[v].values) for v in ("pos", "sos", "eos")}
    got = {v: _days(found[v].values) for v in ("pos", "sos", "eos")}
    lo, hi = (-np.inf, np.inf) if period is None else tuple(float(_days(pd.Timestamp(p).to_datetime64())) for p in period)
    out: dict[str, dict[str, Any]] = {}
    for k, name in enumerate(names):
        sel = mask & (crop == k)
        if sel.any():
            out[name] = _score_class(sel, true, got, (lo, hi), max_distance_days)
    return out


def class_names(truth: xr.Dataset) -> list[str]:
    """The land-cover class names by code that a truth dataset carries.

    Parameters
    ----------
    truth : xarray.Dataset
        With a ``crop`` map of integer codes.

    Returns
    -------
    list of str
        From the ``flag_meanings`` attribute of ``crop``, else the dataset's
        ``classes`` attribute (both space-separated), else ``"class <code>"``
        for codes 0 to the largest in ``crop``.
    """
    for attrs, key in ((truth["crop"].attrs, "flag_meanings"), (truth.attrs, "classes")):
        text = attrs.get(key)
        if isinstance(text, str) and text.split():
            return text.split()
    crop = np.asarray(truth["crop"].values)
    top = int(crop[crop >= 0].max()) if (crop >= 0).any() else -1
    return [f"class {k}" for k in range(top + 1)]


def _score_class(
    sel: np.ndarray, true: dict[str, np.ndarray], got: dict[str, np.ndarray], period: tuple[float, float], max_distance_days: float
) -> dict[str, Any]:
    """Season count and SOS/EOS errors over the pixels of one class (``sel``)."""
    lo, hi = period
    right, sos_err, eos_err = [], [], []
    for i, j in zip(*np.nonzero(sel), strict=True):
        tp, pp = true["pos"][:, i, j], got["pos"][:, i, j]
        t_in = np.isfinite(tp) & (tp >= lo) & (tp <= hi)
        p_in = np.isfinite(pp) & (pp >= lo) & (pp <= hi)
        right.append(int(t_in.sum()) == int(p_in.sum()))
        for s_ in np.flatnonzero(t_in):
            d = np.where(p_in, np.abs(pp - tp[s_]), np.inf)
            m = int(np.argmin(d))
            if d[m] <= max_distance_days:
                if np.isfinite(got["sos"][m, i, j]):
                    sos_err.append(abs(got["sos"][m, i, j] - true["sos"][s_, i, j]))
                if np.isfinite(got["eos"][m, i, j]):
                    eos_err.append(abs(got["eos"][m, i, j] - true["eos"][s_, i, j]))
    return {
        "pixels": int(sel.sum()),
        "right_count": float(np.mean(right)),
        "sos_mae": float(np.mean(sos_err)) if sos_err else float("nan"),
        "eos_mae": float(np.mean(eos_err)) if eos_err else float("nan"),
        "matched": len(sos_err),
    }
