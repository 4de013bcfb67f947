"""The classical baseline: k-means on the standardised annual profiles (:func:`kmeans_segment`)."""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import InsufficientDataError
from ..validate import check_cube
from .classes import _classes_array
from .config import VIEWS, SegmentConfig
from .profiles import _stats, _training_profiles, _view_inputs, segment_inputs

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
    """
    from scipy.cluster.vq import kmeans2

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
    out = np.full(x.shape[0], -1, dtype=np.int16)
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
        Invalid settings (as for :class:`SegmentConfig`).
    InsufficientDataError
        Fewer usable pixels than classes.
    """
    cfg = SegmentConfig(n_classes=n_classes, views=views, n_bins=n_bins, max_pixels=max_pixels, min_s1_bins=min_s1_bins, seed=seed)
    check_cube(cube, need_target="s2" in cfg.views)
    profile = segment_inputs(cube, n_bins)
    prof = _training_profiles(profile, cfg)
    if prof.shape[0] < n_classes:
        raise InsufficientDataError(f"kmeans_segment: expected at least {n_classes} pixels with S1 in >= {min_s1_bins} bins, found {prof.shape[0]}")
    stats = _stats(prof, n_bins)
    x1, x2, _ = _view_inputs(prof, n_bins, stats, cfg.views, 0)
    x = x1 if x2 is None else np.concatenate([x1, x2], axis=1)
    centres, _ = kmeans(x.astype(np.float64), n_classes, seed=seed)
    return _classes_array(profile, _nearest_block, centres, stats, n_bins, cfg.views, min_s1_bins, name="class",
                          attrs={"method": f"k-means on annual profiles, views {'+'.join(cfg.views)}", "n_classes": n_classes})
