"""``phenology_by_class``: the median phenology of each class of a class map."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..cf import CONVENTIONS, apply_cf
from .grid import align_class_map

__all__ = ["phenology_by_class"]

_DATES = ("sos", "pos", "eos")
_VALUES = ("los", "aos")
_EPOCH = np.datetime64("1970-01-01", "ns")


def _class_ids(cls: np.ndarray, keep: list[int] | None) -> np.ndarray:
    """Classes present (finite, non-negative), restricted to ``keep``."""
    ids = np.unique(cls[np.isfinite(cls) & (cls >= 0)]).astype(np.int64) if cls.size else np.array([], np.int64)
    if keep is not None:
        ids = np.array([i for i in ids if i in set(int(k) for k in keep)], dtype=np.int64)
    return ids


def _class_medians(
    series: dict[str, np.ndarray], cls: np.ndarray, ids: np.ndarray, seasons: int
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Medians ``(class, season)`` of each series over the class's pixels that have the season.

    ``series`` maps names to ``(season, pixels)`` float arrays, the first
    being ``sos`` in days (finite where the season exists). Returns the
    medians, pixels with the season ``(class, season)`` and pixels ``(class,)``.
    """
    medians = {k: np.full((ids.size, seasons), np.nan) for k in series}
    n_with = np.zeros((ids.size, seasons), dtype=np.int64)
    n_pix = np.zeros(ids.size, dtype=np.int64)
    for i, c in enumerate(ids):
        sel = cls == c
        n_pix[i] = int(sel.sum())
        for s in range(seasons):
            found = np.isfinite(series["sos"][s, sel])
            n_with[i, s] = int(found.sum())
            if found.any():
                for k, arr in series.items():
                    v = arr[s, sel]
                    medians[k][i, s] = np.nanmedian(v) if np.isfinite(v).any() else np.nan
    return medians, n_with, n_pix


def _as_dates(days: np.ndarray) -> np.ndarray:
    """Days since 1970 -> datetime64[ns], NaT where NaN."""
    ns = np.round(days * 86400.0) * 1e9  # whole seconds, as phenology's dates
    return np.where(np.isfinite(ns), _EPOCH + np.nan_to_num(ns).astype(np.int64).astype("timedelta64[ns]"), np.datetime64("NaT"))


def phenology_by_class(pheno: xr.Dataset, classes: xr.DataArray, *, keep: list[int] | None = None) -> xr.Dataset:
    """Median phenology of each class and season: what a crop mask is for.

    Parameters
    ----------
    pheno : xarray.Dataset
        Output of :func:`phenology` (``sos``, ``pos``, ``eos``, ``los``,
        ``aos`` on ``(season, y, x)``).
    classes : xarray.DataArray
        Integer class of each pixel on the same ``(y, x)`` grid; negative
        values (unclassified) are left out. Matched to the pixels by
        coordinates: a map in another order (``y`` ascending) is reordered,
        coordinates within a fraction of a pixel are taken as the same.
    keep : list of int, optional
        Summarise these classes only (default: every class present).

    Returns
    -------
    xarray.Dataset
        On ``(class, season)``: ``sos``, ``pos``, ``eos`` (datetime64,
        median over the class's pixels that have the season; NaT where none
        does), ``los`` and ``aos`` (medians), ``n_with_season`` and
        ``fraction_with_season``; on ``class``: ``n_pixels``. Computes
        (the summary is small; the inputs are read once).

    Raises
    ------
    DimensionError
        ``classes`` is not on the pixel dimensions of ``pheno``, or on
        another grid (sizes or coordinates), naming both.
    """
    lead = [d for d in pheno["sos"].dims if d != "season"]
    cls = np.asarray(align_class_map(classes, pheno["sos"], lead, "phenology_by_class").values).ravel()
    ids = _class_ids(cls, keep)
    seasons = pheno.sizes["season"]
    loaded = pheno[[*_DATES, *_VALUES]].transpose("season", *lead).compute()
    day = np.timedelta64(1, "D")
    series = {k: ((loaded[k].values.reshape(seasons, -1) - _EPOCH) / day) for k in _DATES}
    series.update({k: loaded[k].values.reshape(seasons, -1).astype(np.float64) for k in _VALUES})
    medians, n_with, n_pix = _class_medians(series, cls, ids, seasons)
    ds = xr.Dataset(coords={"class": ids, "season": np.arange(seasons)})
    for k in _DATES:
        ds[k] = (("class", "season"), _as_dates(medians[k]))
    for k in _VALUES:
        ds[k] = (("class", "season"), medians[k].astype(np.float32))
    ds["n_with_season"] = (("class", "season"), n_with)
    with np.errstate(invalid="ignore", divide="ignore"):
        ds["fraction_with_season"] = (("class", "season"), (n_with / np.maximum(n_pix, 1)[:, None]).astype(np.float32))
    ds["n_pixels"] = (("class",), n_pix)
    ds = apply_cf(ds, "phenology_by_class")
    ds.attrs = {"Conventions": CONVENTIONS, "title": "fusets_dl phenology by class", "method": "median over the pixels of each class that have the season"}
    return ds
