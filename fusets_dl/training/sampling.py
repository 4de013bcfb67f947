"""Training samples: drawn chunk by chunk over a Dask cube, independent of the chunking."""

from __future__ import annotations

from typing import Any

import dask
import numpy as np
import xarray as xr

from .._rng import hash_uniform
from ..features import FeatureSpec, compute_features

__all__ = ["collect_samples"]

_SAMPLE_STREAM = 9001


def _block_samples(feat: np.ndarray, target: np.ndarray, y0: int, x0: int, p_keep: float, seed: int, required: np.ndarray) -> dict[str, Any]:
    """Valid samples of one chunk: features (n, f), target, pixel and time indices, counts.

    A sample needs its target and every ``required`` (SAR, time) feature;
    optional features (optical context, terrain) may be NaN.
    """
    nt, by, bx, _nf = feat.shape
    has_target = np.isfinite(target)
    complete = np.isfinite(feat[..., required]).all(axis=-1)
    ok = has_target & complete
    tt, yy, xx = np.nonzero(ok)
    keep = hash_uniform(seed, _SAMPLE_STREAM, tt, yy + y0, xx + x0) < p_keep
    tt, yy, xx = tt[keep], yy[keep], xx[keep]
    return {
        "x": feat[tt, yy, xx].astype(np.float32),
        "y": target[tt, yy, xx].astype(np.float32),
        "iy": (yy + y0).astype(np.int32),
        "ix": (xx + x0).astype(np.int32),
        "it": tt.astype(np.int32),
        "n_total": int(nt * by * bx),
        "n_target": int(has_target.sum()),
        "n_complete": int(ok.sum()),
    }


def collect_samples(
    cube: xr.Dataset, spec: FeatureSpec, *, max_samples: int, seed: int, context_gap_days: float = 0.0
) -> dict[str, Any]:
    """Draw training samples chunk by chunk, never materialising the whole feature array.

    Each pixel-date with a target and complete features is kept with the same
    probability ``min(1, max_samples / n_target)`` (a hash of its indices, so
    the draw does not depend on the chunking); memory is bounded by the
    samples kept plus the chunks in flight.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` and the ``NDVI`` target (NumPy-backed
        cubes are chunked 128 x 128 first).
    spec : FeatureSpec
        The features to compute.
    max_samples : int
        Expected number of samples kept (a uniform draw, so about this many).
    seed : int
        Seed of the draw (and of the simulated cloudy spells).
    context_gap_days : float
        With the optical group, the longest simulated cloudy spell excluded
        from each sample's optical context (0: none).

    Returns
    -------
    dict
        Arrays ``x`` (n, f), ``y``, ``iy``, ``ix``, ``it`` (n,), the funnel
        counts ``n_total``, ``n_target``, ``n_complete`` and ``p_keep``.
    """
    if cube["VV"].chunks is None:
        cube = cube.chunk({"time": -1, "y": 128, "x": 128})
    target = cube["NDVI"]
    n_target = int(target.notnull().sum().compute())
    p_keep = 1.0 if n_target == 0 else min(1.0, max_samples / n_target)
    gaps = (seed, context_gap_days) if "optical" in spec.groups and context_gap_days > 0 else None
    feats = compute_features(cube, spec, context_gaps=gaps)
    target = target.chunk({"time": -1, "y": feats.chunks[1], "x": feats.chunks[2]})
    fblocks = feats.data.to_delayed()
    tblocks = target.transpose("time", "y", "x").data.to_delayed()
    ys = np.cumsum((0, *feats.chunks[1]))
    xs = np.cumsum((0, *feats.chunks[2]))
    tasks = []
    for i in range(fblocks.shape[1]):
        for j in range(fblocks.shape[2]):
            tasks.append(dask.delayed(_block_samples)(fblocks[0, i, j, 0], tblocks[0, i, j], int(ys[i]), int(xs[j]), p_keep, seed, spec.required))
    parts = dask.compute(*tasks)
    out: dict[str, Any] = {k: np.concatenate([p[k] for p in parts]) for k in ("x", "y", "iy", "ix", "it")}
    for k in ("n_total", "n_target", "n_complete"):
        out[k] = int(sum(p[k] for p in parts))
    out["p_keep"] = p_keep
    return out
