"""Annual profiles: each pixel's series folded into day-of-year bins, standardised, and the training draw.

A pixel's profile is the mean of VV and VH (dB) and of clear NDVI in
``n_bins`` day-of-year bins (several years fold into one year), with a 0/1
flag per bin saying whether it holds any observation (clouds leave S2 bins
empty; an empty bin is 0 after standardisation and flagged 0, so it is
masked rather than imputed).
"""

from __future__ import annotations

import warnings
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from .._logging import logger
from .._rng import hash_uniform
from ..errors import InsufficientDataError, ModelError
from ..validate import check_cube
from .config import SegmentConfig

__all__ = ["segment_inputs"]

_SAMPLE_STREAM = 7001


def _bin_matrix(times: np.ndarray, n_bins: int) -> np.ndarray:
    """(time, n_bins) one-hot matrix of each date's day-of-year bin."""
    t = pd.DatetimeIndex(times)
    frac = (t.day_of_year.to_numpy() - 1 + t.hour.to_numpy() / 24.0) / 366.0
    b = np.minimum((frac * n_bins).astype(np.int64), n_bins - 1)
    m = np.zeros((len(t), n_bins), dtype=np.float64)
    m[np.arange(len(t)), b] = 1.0
    return m


def _profile_block(vv: np.ndarray, vh: np.ndarray, ndvi: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """(by, bx, 5 * n_bins): VV, VH and NDVI bin means (NaN where empty), S1 and S2 bin flags."""
    s1_ok = np.isfinite(vv) & np.isfinite(vh)
    s2_ok = np.isfinite(ndvi)
    n1 = np.einsum("tyx,tb->yxb", s1_ok.astype(np.float64), onehot)
    n2 = np.einsum("tyx,tb->yxb", s2_ok.astype(np.float64), onehot)
    with np.errstate(invalid="ignore", divide="ignore"):
        m_vv = np.einsum("tyx,tb->yxb", np.where(s1_ok, vv, 0.0), onehot) / n1
        m_vh = np.einsum("tyx,tb->yxb", np.where(s1_ok, vh, 0.0), onehot) / n1
        m_nd = np.einsum("tyx,tb->yxb", np.where(s2_ok, ndvi, 0.0), onehot) / n2
    return np.concatenate([m_vv, m_vh, (n1 > 0), m_nd, (n2 > 0)], axis=-1).astype(np.float32)


def segment_inputs(cube: xr.Dataset, n_bins: int = 36) -> xr.DataArray:
    """Annual profiles of each pixel: ``profile(y, x, channel)`` float32, lazy on Dask input.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV`` and ``VH`` (dB) and, optionally, the clear
        ``NDVI`` (missing: the S2 channels are empty); NumPy- or Dask-backed.
    n_bins : int
        Day-of-year bins (several years fold into one year).

    Returns
    -------
    xarray.DataArray
        Channels, ``n_bins`` each: VV mean (dB), VH mean (dB), S1 flag, clear
        NDVI mean, S2 flag (named ``VV_00`` ... ``S2_flag_<n_bins - 1>``); a
        bin's mean is NaN where it holds no observation. One task per chunk
        of ``y`` and ``x`` on Dask input.

    Raises
    ------
    DimensionError, MissingVariableError, EncodingError
        ``cube`` is not a fusion cube (see :func:`fusets_dl.validate.check_cube`).
    """
    check_cube(cube)
    if "NDVI" not in cube:
        ndvi = xr.full_like(cube["VV"], np.nan, dtype=np.float32)
    else:
        ndvi = cube["NDVI"]
    onehot = _bin_matrix(cube["time"].values, n_bins)
    names = [f"{v}_{b:02d}" for v in ("VV", "VH", "S1_flag", "NDVI", "S2_flag") for b in range(n_bins)]
    arrs = [cube["VV"].transpose("time", "y", "x"), cube["VH"].transpose("time", "y", "x"), ndvi.transpose("time", "y", "x")]
    if cube["VV"].chunks is None:
        data: Any = _profile_block(*(np.asarray(a.values) for a in arrs), onehot)
    else:
        chunks = {"time": -1, "y": cube["VV"].chunks[cube["VV"].dims.index("y")], "x": cube["VV"].chunks[cube["VV"].dims.index("x")]}
        blocks = [a.chunk(chunks).data for a in arrs]
        data = da.map_blocks(_profile_block, *blocks, onehot, drop_axis=0, new_axis=2,
                             chunks=(blocks[0].chunks[1], blocks[0].chunks[2], (5 * n_bins,)), dtype=np.float32,
                             meta=np.empty((0, 0, 0), dtype=np.float32))
    coords: dict[str, Any] = {"y": cube["y"], "x": cube["x"], "channel": names}
    if "spatial_ref" in cube.coords:  # the classes keep the cube's CRS
        coords["spatial_ref"] = cube["spatial_ref"]
    return xr.DataArray(data, dims=("y", "x", "channel"), coords=coords, name="profile")


def _view_inputs(profile: np.ndarray, n_bins: int, stats: dict[str, list[float]], views: tuple[str, ...], min_s1_bins: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Standardised network inputs of profile rows: S1 (n, 3B), S2 (n, 2B) or None, and the classifiable rows."""
    p = np.asarray(profile, dtype=np.float32)
    b = n_bins
    if p.ndim != 2 or p.shape[1] != 5 * b:
        raise ModelError(f"segment: expected profiles of shape (n, {5 * b}) for {b} bins, found {p.shape}")

    def _std(block: np.ndarray, name: str) -> np.ndarray:
        m, s = stats[name]
        z = (block - m) / s
        return np.where(np.isfinite(z), z, 0.0).astype(np.float32)

    f1, f2 = p[:, 2 * b : 3 * b], p[:, 4 * b : 5 * b]
    x1 = np.concatenate([_std(p[:, :b], "VV"), _std(p[:, b : 2 * b], "VH"), f1], axis=1)
    x2 = np.concatenate([_std(p[:, 3 * b : 4 * b], "NDVI"), f2], axis=1) if "s2" in views else None
    ok = f1.sum(axis=1) >= min_s1_bins
    return x1, x2, ok


def _stats(profile: np.ndarray, n_bins: int) -> dict[str, list[float]]:
    """Mean and standard deviation (at least 1e-3) of the observed VV, VH and NDVI bin means."""
    b = n_bins
    out = {}
    for name, sl in (("VV", slice(0, b)), ("VH", slice(b, 2 * b)), ("NDVI", slice(3 * b, 4 * b))):
        v = profile[:, sl]
        v = v[np.isfinite(v)]
        out[name] = [float(v.mean()), float(max(v.std(), 1e-3))] if v.size else [0.0, 1.0]
    return out


def _sample_block(
    prof: np.ndarray, y0: int, x0: int, shape: tuple[int, int], flip: tuple[bool, bool], p_keep: float, seed: int, n_bins: int, min_s1_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices and profiles of one block's pixels kept by the hash draw and with enough S1.

    Positions are counted as on a north-up raster, from the largest ``y``
    and the smallest ``x`` (``flip``: the axis runs the other way), so a
    cube and the same cube stored the other way up draw the same pixels in
    the same order.
    """
    by, bx, _ = prof.shape
    ny, nx = shape
    yy, xx = np.meshgrid(np.arange(by) + y0, np.arange(bx) + x0, indexing="ij")
    if flip[0]:
        yy = ny - 1 - yy
    if flip[1]:
        xx = nx - 1 - xx
    keep = hash_uniform(seed, _SAMPLE_STREAM, 0, yy, xx) < p_keep
    keep &= prof[..., 2 * n_bins : 3 * n_bins].sum(axis=-1) >= min_s1_bins
    return (yy[keep] * nx + xx[keep]).astype(np.int64), prof[keep]


def _against_raster_order(profile: xr.DataArray, dim: str) -> bool:
    """Whether the coordinate ``dim`` runs against a north-up raster's order (``y`` increasing, ``x`` decreasing)."""
    if dim not in profile.coords or profile.sizes[dim] < 2:
        return False
    v = np.asarray(profile[dim].values)
    if v.dtype.kind not in "iuf":
        return False
    if v.dtype.kind in "iu" and v[0] == 0 and np.array_equal(v, np.arange(v.size)):
        return False  # row and column numbers (0, 1, ...; no coordinates of the ground): row 0 is the top row
    return bool(v[0] < v[-1]) if dim == "y" else bool(v[0] > v[-1])


def _training_profiles(profile: xr.DataArray, cfg: SegmentConfig) -> np.ndarray:
    """Up to ``max_pixels`` profiles drawn by a hash of the pixel position, in row-major pixel order.

    The draw and the order do not depend on the chunking, nor on which way
    up ``y`` and ``x`` are stored (positions count as on a north-up raster),
    so neither does training.
    """
    ny, nx = profile.sizes["y"], profile.sizes["x"]
    p_keep = min(1.0, cfg.max_pixels / max(ny * nx, 1))
    flip = (_against_raster_order(profile, "y"), _against_raster_order(profile, "x"))
    if profile.chunks is None:
        parts = [_sample_block(np.asarray(profile.values), 0, 0, (ny, nx), flip, p_keep, cfg.seed, cfg.n_bins, cfg.min_s1_bins)]
    else:
        blocks = profile.data.to_delayed()
        ys = np.cumsum((0, *profile.chunks[0]))
        xs = np.cumsum((0, *profile.chunks[1]))
        tasks = [dask.delayed(_sample_block)(blocks[i, j, 0], int(ys[i]), int(xs[j]), (ny, nx), flip, p_keep, cfg.seed, cfg.n_bins,
                                             cfg.min_s1_bins)
                 for i in range(blocks.shape[0]) for j in range(blocks.shape[1])]
        if len(tasks) > 16:  # a full pass over a large cube: say so (and why), the docs suggest training on a part
            logger.info(
                "segmentation: drawing the training sample reads every chunk of the cube (%d profile blocks); on a large tile "
                "train_segmenter(cube.isel(y=..., x=...)) on a part and pass segmenter=", len(tasks))
        parts = list(dask.compute(*tasks))
    idx = np.concatenate([p[0] for p in parts])
    rows = np.concatenate([p[1] for p in parts])
    return rows[np.argsort(idx, kind="stable")]


def _check_training_profiles(prof: np.ndarray, cfg: SegmentConfig, what: str, min_pixels: int) -> None:
    """Refuse training profiles (n, 5B) that are too few, or without any clear NDVI when the S2 view is used.

    Shared by :func:`~fusets_dl.segmentation.train_segmenter` and
    :func:`~fusets_dl.segmentation.kmeans_segment`, so both refuse the same inputs.

    Parameters
    ----------
    prof : numpy.ndarray
        The training profiles, as :func:`_training_profiles` draws them.
    cfg : SegmentConfig
        The settings (``n_bins``, ``views``, ``min_s1_bins``).
    what : str
        The caller's name, for the message.
    min_pixels : int
        Fewest training pixels the caller can work with.

    Raises
    ------
    InsufficientDataError
        Fewer than ``min_pixels`` pixels with S1 in at least ``min_s1_bins``
        bins, or no clear NDVI in any of them for ``views=("s1", "s2")``.
    """
    b = cfg.n_bins
    if prof.shape[0] < min_pixels:
        raise InsufficientDataError(
            f"{what}: expected at least {min_pixels} pixels with S1 in >= {cfg.min_s1_bins} of {b} day-of-year bins, found {prof.shape[0]} "
            f"in the training draw (about max_pixels={cfg.max_pixels} pixels; raise it if the cube has more)"
        )
    if "s2" in cfg.views and not np.isfinite(prof[:, 3 * b : 4 * b]).any():
        raise InsufficientDataError(f"{what}: the S2 view needs clear NDVI, found none in the training pixels; use views=('s1',)")


def _count_distinct(x: np.ndarray) -> int:
    """Number of distinct rows of ``x`` (n, d)."""
    if x.shape[0] == 0:
        return 0
    return int(np.unique(np.ascontiguousarray(x), axis=0).shape[0])


def _warn_few_distinct(x: np.ndarray, n_classes: int, what: str) -> int:
    """Warn (log and :class:`UserWarning`) when the rows of ``x`` hold fewer distinct profiles than ``n_classes``.

    Parameters
    ----------
    x : numpy.ndarray
        The standardised inputs the method is fitted on (n, d), already in memory.
    n_classes : int
        Classes asked for.
    what : str
        The caller's name, for the message.

    Returns
    -------
    int
        The number of distinct rows.
    """
    n_distinct = _count_distinct(x)
    if n_distinct < n_classes:
        msg = (f"{what}: found {n_distinct} distinct profile(s) among the {x.shape[0]} training pixels, fewer than "
               f"n_classes={n_classes}: at most {n_distinct} class(es) can be told apart and the others stay empty "
               "(identical or duplicated pixels); ask for fewer classes or give a more varied scene")
        logger.warning(msg)
        warnings.warn(msg, UserWarning, stacklevel=3)
    return n_distinct
