"""The classical baseline: k-means on the standardised annual profiles (:func:`kmeans_segment`)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..validate import check_cube
from .classes import _classes_array
from .config import CLASS_DTYPE, VIEWS, SegmentConfig
from .profiles import (
    _check_training_profiles,
    _stats,
    _training_profiles,
    _view_inputs,
    _warn_few_distinct,
    segment_inputs,
)

__all__ = ["kmeans", "kmeans_segment"]


def kmeans(x: np.ndarray, k: int, *, seed: int = 0, n_init: int = 4, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """k-means (Lloyd, k-means++ starts, best of ``n_init`` by inertia).

    Parameters
    ----------
    x : numpy.ndarray
        Points (n, d), float64.
    k : int
        Number of clusters.
    seed : int
        Seed of the k-means++ starts (start ``r`` uses ``seed * 1000 + r``).
    n_init : int
        Number of starts; the one with the least inertia wins.
    max_iter : int
        Lloyd iterations per start.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Centres (k, d) and the label of each point (n,).

    Notes
    -----
    With fewer distinct points than ``k`` (identical or duplicated pixels)
    k-means++ cannot start (SciPy divides 0 by 0 and warns of empty clusters):
    the centres are then the distinct points, in lexicographic order, and the
    remaining ``k - n_distinct`` centres repeat the last of them, so they are
    finite but never the nearest (ties go to the lower index) and those
    clusters stay empty. Callers warn about this case
    (:func:`~fusets_dl.segmentation.profiles._warn_few_distinct`).
    """
    from scipy.cluster.vq import kmeans2

    uniq, inverse = np.unique(np.ascontiguousarray(x), axis=0, return_inverse=True)
    if uniq.shape[0] < k:
        pad = np.repeat(uniq[-1:], k - uniq.shape[0], axis=0)
        return np.concatenate([uniq, pad]).astype(np.float64), inverse.reshape(-1).astype(np.int32)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for r in range(n_init):
        centres, labels = kmeans2(x, k, iter=max_iter, minit="++", seed=np.random.default_rng(seed * 1000 + r))
        inertia = float(((x - centres[labels]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, centres, labels)
    assert best is not None
    return best[1], best[2]


def _nearest_block(prof: np.ndarray, centres: np.ndarray, stats: dict[str, list[float]], n_bins: int, views: tuple[str, ...], min_s1_bins: int) -> np.ndarray:
    """Index of the nearest centre of each pixel of a profile block (-1: too little S1)."""
    by, bx, c = prof.shape
    x1, x2, ok = _view_inputs(prof.reshape(-1, c), n_bins, stats, views, min_s1_bins)
    x = x1 if x2 is None else np.concatenate([x1, x2], axis=1)
    out = np.full(x.shape[0], -1, dtype=CLASS_DTYPE)
    if ok.any():
        xo = x[ok].astype(np.float64)
        d = (xo**2).sum(1)[:, None] - 2 * xo @ centres.T + (centres**2).sum(1)[None, :]
        out[ok] = d.argmin(axis=1)
    return out.reshape(by, bx)


def kmeans_segment(cube: xr.Dataset, n_classes: int = 8, *, views: tuple[str, ...] = VIEWS, n_bins: int = 36,
                   max_pixels: int = 20_000, min_s1_bins: int = 6, seed: int = 0) -> xr.DataArray:
    """The classical baseline: k-means on the same standardised annual profiles as :func:`segment`.

    Fitted on up to ``max_pixels`` pixels (the same hash draw as
    :func:`~fusets_dl.segmentation.train_segmenter`), then each pixel takes
    its nearest centre, lazily per chunk.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube (``VV``, ``VH`` and, for the S2 view, ``NDVI``).
    n_classes : int
        Number of clusters.
    views : tuple of str
        ``("s1", "s2")``: S1 and S2 profiles concatenated; ``("s1",)``: S1 only.
    n_bins : int
        Day-of-year bins of the profiles.
    max_pixels : int
        Pixels the centres are fitted on.
    min_s1_bins : int
        A pixel needs S1 in at least this many bins to be fitted and classified.
    seed : int
        Seed of the pixel draw and of the k-means++ starts.

    Returns
    -------
    xarray.DataArray
        ``class(y, x)`` int16 (-1: too little S1), lazy on Dask input.

    Raises
    ------
    ConfigError
        Invalid settings (as for :class:`SegmentConfig`): ``n_classes`` must
        be a whole number from 2 to :data:`~fusets_dl.segmentation.config.MAX_CLASSES`.
    InsufficientDataError
        Fewer usable pixels than classes, or no clear NDVI in the training
        pixels for ``views=("s1", "s2")`` (as :func:`segment` refuses them).

    Warns
    -----
    UserWarning
        The training pixels hold fewer distinct (standardised) profiles than
        ``n_classes``: the surplus classes stay empty (also logged).
    """
    cfg = SegmentConfig(n_classes=n_classes, views=views, n_bins=n_bins, max_pixels=max_pixels, min_s1_bins=min_s1_bins, seed=seed)
    check_cube(cube, need_target="s2" in cfg.views)
    profile = segment_inputs(cube, cfg.n_bins)
    prof = _training_profiles(profile, cfg)
    _check_training_profiles(prof, cfg, "kmeans_segment", cfg.n_classes)
    stats = _stats(prof, cfg.n_bins)
    x1, x2, _ = _view_inputs(prof, cfg.n_bins, stats, cfg.views, 0)
    x = (x1 if x2 is None else np.concatenate([x1, x2], axis=1)).astype(np.float64)
    _warn_few_distinct(x, cfg.n_classes, "kmeans_segment")
    centres, _ = kmeans(x, cfg.n_classes, seed=cfg.seed)
    return _classes_array(profile, _nearest_block, centres, stats, cfg.n_bins, cfg.views, cfg.min_s1_bins, name="class",
                          attrs={"method": f"k-means on annual profiles, views {'+'.join(cfg.views)}", "n_classes": cfg.n_classes})
