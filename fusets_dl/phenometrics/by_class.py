"""``phenology_by_class``: the median phenology of each class of a class map.

A pixel's season slots are ordered by start, so slot ``k`` is not the same
season in every pixel: a pixel whose first season is cut by the series start
has the class's second season in its first slot. The seasons of a class's
pixels are therefore matched by their peak dates before the medians are
taken (:func:`_match_seasons`): the class's seasons are the modes of the
density of its pixels' peaks, each pixel season goes to the nearest one, and
each reported class season is the median of that one season over the
pixels that have it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..cf import CONVENTIONS, apply_cf
from ..errors import ConfigError
from .grid import align_class_map

__all__ = ["check_class_map", "phenology_by_class"]

_DATES = ("sos", "pos", "eos")
_VALUES = ("los", "aos")
_EPOCH = np.datetime64("1970-01-01", "ns")

#: Spacing of seasons (days) taken when no pixel has two: one season a year.
DEFAULT_SPACING_DAYS = 365.25


def check_class_map(classes: Any, what: str) -> xr.DataArray:
    """``classes`` when it is a DataArray, else a :class:`ConfigError` saying what is expected.

    Parameters
    ----------
    classes : object
        The class map given (``by=`` or ``classes=`` of ``phenology``).
    what : str
        The caller and argument, for the message (``"phenology: by"``).

    Returns
    -------
    xarray.DataArray
        ``classes`` unchanged.

    Raises
    ------
    ConfigError
        ``classes`` is not an :class:`xarray.DataArray` (a NumPy array has
        no dimensions or coordinates to match the pixels by).
    """
    if not isinstance(classes, xr.DataArray):
        shape = f" of shape {np.shape(classes)}" if isinstance(classes, np.ndarray) else ""
        raise ConfigError(
            f"{what}: expected the class map as an xarray.DataArray on the pixel dimensions of the NDVI (with their "
            f"coordinates, e.g. dims ('y', 'x')), found {type(classes).__name__}{shape}; wrap it: "
            "xr.DataArray(values, dims=('y', 'x'), coords={'y': ndvi.y, 'x': ndvi.x})"
        )
    return classes


def _class_ids(cls: np.ndarray, keep: list[int] | None) -> np.ndarray:
    """Classes present (finite, non-negative), restricted to ``keep``."""
    ids = np.unique(cls[np.isfinite(cls) & (cls >= 0)]).astype(np.int64) if cls.size else np.array([], np.int64)
    if keep is not None:
        wanted = {int(k) for k in keep}
        ids = np.array([i for i in ids if i in wanted], dtype=np.int64)
    return ids


def _spacing(pos: np.ndarray) -> float | None:
    """Typical spacing (days) of consecutive peaks within a pixel: the lower quartile over ``pos`` ``(season, pixels)``; None without two."""
    p = np.sort(pos, axis=0)  # NaN last
    d = np.diff(p, axis=0)
    d = d[np.isfinite(d) & (d > 0)]
    return float(np.percentile(d, 25)) if d.size else None


def _modes(days: np.ndarray, spacing: float) -> np.ndarray:
    """Class season peaks (days, sorted): local maxima of the peaks' density, at least half a ``spacing`` apart.

    The density is a Gaussian kernel estimate (sd a quarter of ``spacing``)
    on a 1-day grid; of two maxima closer than half a spacing the higher
    (then the earlier) is kept.
    """
    sigma = max(spacing / 4.0, 1.0)
    half = int(np.ceil(4 * sigma))
    lo = np.floor(days.min()) - half
    idx = np.round(days - lo).astype(np.int64)
    hist = np.bincount(idx, minlength=int(idx.max()) + half + 1).astype(np.float64)
    k = np.arange(-half, half + 1, dtype=np.float64)
    dens = np.convolve(hist, np.exp(-0.5 * (k / sigma) ** 2), mode="same")
    left = np.r_[-np.inf, dens[:-1]]
    right = np.r_[dens[1:], -np.inf]
    cand = np.flatnonzero((dens > left) & (dens >= right) & (dens > 0))
    cand = cand[np.lexsort((cand, -dens[cand]))]
    kept: list[int] = []
    for c in cand:
        if all(abs(int(c) - j) >= spacing / 2.0 for j in kept):
            kept.append(int(c))
    return np.sort(np.asarray(kept, dtype=np.float64)) + lo


def _match_seasons(pos: np.ndarray, slots: int, spacing: float) -> tuple[np.ndarray, int, int, int]:
    """Class season of each pixel season, by its peak date.

    Parameters
    ----------
    pos : numpy.ndarray
        ``(season, pixels)`` peak dates (days, NaN where there is no season)
        of one class's pixels.
    slots : int
        Class seasons that can be reported.
    spacing : float
        Typical spacing of a pixel's seasons (days).

    Returns
    -------
    assign : numpy.ndarray
        ``(season, pixels)`` int: the class season (``0 .. slots - 1``, by
        date) of each pixel season, -1 where none.
    unmatched : int
        Pixel seasons farther than half a ``spacing`` from every class
        season, or a pixel's second season nearest the same class season.
    dropped_seasons, dropped_pixel_seasons : int
        Class seasons (and their pixel seasons) left out for want of slots:
        those with the fewest pixels.
    """
    assign = np.full(pos.shape, -1, dtype=np.int64)
    s_idx, p_idx = np.nonzero(np.isfinite(pos))
    if s_idx.size == 0:
        return assign, 0, 0, 0
    days = pos[s_idx, p_idx]
    modes = _modes(days, spacing)
    j = np.clip(np.searchsorted(modes, days), 1, max(modes.size - 1, 1))
    if modes.size == 1:
        near = np.zeros(days.size, dtype=np.int64)
    else:
        near = np.where(np.abs(days - modes[j - 1]) <= np.abs(days - modes[j]), j - 1, j)
    dist = np.abs(days - modes[near])
    ok = dist <= spacing / 2.0
    # one season per pixel and class season: the nearest
    key = p_idx * modes.size + near
    ks = np.sort(key)
    twice = np.unique(ks[1:][ks[1:] == ks[:-1]])
    if twice.size:
        sub = np.flatnonzero(np.isin(key, twice))
        sub = sub[np.lexsort((sub, dist[sub], key[sub]))]
        later = np.r_[False, key[sub][1:] == key[sub][:-1]]
        ok[sub[later]] = False
    unmatched = int((~ok).sum())
    counts = np.bincount(near[ok], minlength=modes.size)
    found = np.lexsort((np.arange(modes.size), -counts))  # most pixels, then earliest
    found = found[counts[found] > 0]
    kept = np.sort(found[:slots])  # by date
    rank = np.full(modes.size, -1, dtype=np.int64)
    rank[kept] = np.arange(kept.size)
    target = np.where(ok, rank[near], -1)
    assign[s_idx, p_idx] = target
    return assign, unmatched, int(found.size - kept.size), int((ok & (target < 0)).sum())


def _class_medians(
    series: dict[str, np.ndarray], cls: np.ndarray, ids: np.ndarray, seasons: int, spacing: float
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, list[str]]:
    """Medians ``(class, season)`` of each series over the class's pixels that have the season, matched by peak date.

    ``series`` maps names to ``(season, pixels)`` float arrays; ``pos`` (days,
    finite where the season exists) matches the seasons (:func:`_match_seasons`).
    A class with no pixel of two seasons takes :data:`DEFAULT_SPACING_DAYS`
    (one a year): the map-wide ``spacing`` of other classes' double peaks split
    its one season (it is kept as an argument for the callers' records).
    Returns the medians, pixels with the season ``(class, season)``, pixels
    ``(class,)`` and a line per class whose seasons could not all be matched.
    """
    medians = {k: np.full((ids.size, seasons), np.nan) for k in series}
    n_with = np.zeros((ids.size, seasons), dtype=np.int64)
    n_pix = np.zeros(ids.size, dtype=np.int64)
    notes: list[str] = []
    for i, c in enumerate(ids):
        sel = cls == c
        n_pix[i] = int(sel.sum())
        pos = series["pos"][:, sel]
        # a class without a pixel of two seasons has one a year: another class's short spacing (double peaks 35 days
        # apart) would split its single season into several
        step = _spacing(pos) or DEFAULT_SPACING_DAYS
        assign, unmatched, dropped, lost = _match_seasons(pos, seasons, step)
        hit = assign >= 0
        target = assign[hit]
        values = {k: arr[:, sel][hit] for k, arr in series.items()}
        n_with[i] = np.bincount(target, minlength=seasons)
        for s in np.flatnonzero(n_with[i]):
            at = target == s
            for k, v in values.items():
                v = v[at]
                medians[k][i, s] = np.nanmedian(v) if np.isfinite(v).any() else np.nan
        total = int(np.isfinite(pos).sum())
        if unmatched:
            notes.append(f"class {c}: {unmatched} of {total} pixel seasons peak more than {step / 2:.0f} days from every class season "
                         "(or are a pixel's second season near one) and are left out")
        if dropped:
            notes.append(f"class {c}: {dropped + seasons} seasons found for {seasons} slots; the {dropped} with the fewest pixels "
                         f"({lost} pixel seasons) left out")
    return medians, n_with, n_pix, notes


def _as_dates(days: np.ndarray) -> np.ndarray:
    """Days since 1970 -> datetime64[ns], NaT where NaN."""
    ns = np.round(days * 86400.0) * 1e9  # whole seconds, as phenology's dates
    return np.where(np.isfinite(ns), _EPOCH + np.nan_to_num(ns).astype(np.int64).astype("timedelta64[ns]"), np.datetime64("NaT"))


def _class_rows(classes: xr.DataArray, sos: xr.DataArray, pixel: Sequence[Any], years: int) -> tuple[np.ndarray, bool]:
    """The class map aligned on ``sos``'s grid as ``(year, pixels)`` (one row per year, or one broadcast), and whether it has years."""
    if "year" in sos.dims and "year" in classes.dims:
        cls = align_class_map(classes, sos, ["year", *pixel], "phenology_by_class")
        return np.asarray(cls.values).reshape(years, -1), True
    cls = align_class_map(classes, sos, list(pixel), "phenology_by_class")
    return np.broadcast_to(np.asarray(cls.values).reshape(1, -1), (years, int(np.prod(cls.shape)))), False


def phenology_by_class(pheno: xr.Dataset, classes: xr.DataArray, *, keep: list[int] | None = None) -> xr.Dataset:
    """Median phenology of each class and season: what a crop mask is for.

    The seasons of a class's pixels are matched by their peak dates, not by
    slot: the class's seasons are the modes of the density of its pixels'
    peaks (at least half a typical spacing apart, the lower quartile of the
    spacing of consecutive peaks within its pixels, or, where none of them
    has two, ``DEFAULT_SPACING_DAYS``: one a year, whatever the other
    classes' spacing), and each pixel season counts for the nearest
    one within half that spacing. So a pixel whose first season is cut by
    the series start adds its first slot to the class's second season.

    Parameters
    ----------
    pheno : xarray.Dataset
        Output of :func:`phenology` (``sos``, ``pos``, ``eos``, ``los``,
        ``aos`` on ``(season, y, x)``, or ``(year, season, y, x)`` with
        ``by_year``).
    classes : xarray.DataArray
        Integer class of each pixel on the same ``(y, x)`` grid (or
        ``(year, y, x)``: a class map per year of a ``by_year`` phenology);
        negative values (unclassified) are left out. Matched to the pixels
        by coordinates: a map in another order (``y`` ascending) is
        reordered, coordinates within a fraction of a pixel are taken as the
        same.
    keep : list of int, optional
        Summarise these classes only (default: every class present).

    Returns
    -------
    xarray.Dataset
        On ``(class, season)`` (``(class, year, season)`` with ``by_year``,
        each year's seasons matched apart): ``sos``, ``pos``, ``eos``
        (datetime64, median over the class's pixels that have the season
        and the date; NaT where none does), ``los`` and ``aos`` (medians),
        ``n_with_season`` and ``fraction_with_season``; on ``class``:
        ``n_pixels`` (``(class, year)`` with a class map per year). Class
        seasons are in date order, as many as ``pheno`` has slots. Computes
        (the summary is small; the inputs are read once).

    Raises
    ------
    ConfigError
        ``classes`` is not a DataArray (a NumPy array: nothing to match the
        pixels by).
    DimensionError
        ``classes`` is not on the pixel dimensions of ``pheno``, or on
        another grid (sizes or coordinates), naming both.

    Warns
    -----
    UserWarning
        Pixel seasons that match no class season (a peak more than half a
        spacing from all of them, or a pixel's second season near the same
        one), or more class seasons than slots (those with the fewest
        pixels are left out), with counts per class: they are not in the
        medians.
    """
    check_class_map(classes, "phenology_by_class: classes (by= of phenology)")
    by_year = "year" in pheno["sos"].dims
    outer = ["year"] if by_year else []
    pixel = [d for d in pheno["sos"].dims if d not in ("season", "year")]
    years = pheno.sizes["year"] if by_year else 1
    rows, yearly_map = _class_rows(classes, pheno["sos"], pixel, years)
    ids = _class_ids(np.asarray(rows).ravel(), keep)
    seasons = pheno.sizes["season"]
    loaded = pheno[[*_DATES, *_VALUES]].transpose(*outer, "season", *pixel).compute()
    day = np.timedelta64(1, "D")
    series = {k: ((loaded[k].values.reshape(years, seasons, -1) - _EPOCH) / day) for k in _DATES}
    series.update({k: loaded[k].values.reshape(years, seasons, -1).astype(np.float64) for k in _VALUES})
    spacing = _spacing(series["pos"].transpose(1, 0, 2).reshape(seasons, -1)) or DEFAULT_SPACING_DAYS
    medians = {k: np.full((ids.size, years, seasons), np.nan) for k in series}
    n_with = np.zeros((ids.size, years, seasons), dtype=np.int64)
    n_pix = np.zeros((ids.size, years), dtype=np.int64)
    notes: list[str] = []
    for y in range(years):
        m, n_with[:, y], n_pix[:, y], lines = _class_medians({k: v[y] for k, v in series.items()}, rows[y], ids, seasons, spacing)
        for k in medians:
            medians[k][:, y] = m[k]
        where = f" in {int(pheno['year'].values[y])}" if by_year else ""
        notes.extend(line.replace(":", where + ":", 1) for line in lines)
    if notes:
        shown = "; ".join(notes[:10]) + (f"; and {len(notes) - 10} more" if len(notes) > 10 else "")
        warnings.warn(f"phenology_by_class: seasons matched by peak date across each class's pixels; not in the medians: {shown}",
                      UserWarning, stacklevel=2)
    cs = ("class", *outer, "season")
    sq = (slice(None), slice(None) if by_year else 0)
    coords: dict[str, Any] = {"class": ids, "season": np.arange(seasons)}
    if by_year:
        coords["year"] = pheno["year"].values
    ds = xr.Dataset(coords=coords)
    for k in _DATES:
        ds[k] = (cs, _as_dates(medians[k][sq]))
    for k in _VALUES:
        ds[k] = (cs, medians[k][sq].astype(np.float32))
    ds["n_with_season"] = (cs, n_with[sq])
    with np.errstate(invalid="ignore", divide="ignore"):
        ds["fraction_with_season"] = (cs, (n_with / np.maximum(n_pix, 1)[:, :, None])[sq].astype(np.float32))
    ds["n_pixels"] = (("class", "year"), n_pix) if yearly_map else (("class",), n_pix[:, 0])
    ds = apply_cf(ds, "phenology_by_class")
    ds.attrs = {"Conventions": CONVENTIONS, "title": "fusets_dl phenology by class",
                "method": "median over the pixels of each class that have the season, seasons matched by peak date"}
    return ds
