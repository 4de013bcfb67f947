"""Training samples: drawn chunk by chunk over a Dask cube, independent of the chunking.

The draw comes first and the features after: in each chunk the pixel-dates to
keep are chosen from the target alone (a counter-based hash of their global
indices), and the features are computed only for the time series of the
pixels drawn, gathered into a one-row cube. On a large scene most pixels are
never drawn, so the sampling pass costs little more than reading the cube.
Features are per pixel series (time windows, lags, the pixel's own optical
context and terrain), so a gathered pixel's features equal those it has in
the full cube.
"""

from __future__ import annotations

from typing import Any

import dask
import numpy as np
import xarray as xr

from .._rng import hash_uniform
from ..features import FeatureSpec, compute_features

__all__ = ["PIXEL_OVERSAMPLE", "collect_samples", "draw_mask"]

_SAMPLE_STREAM = 9001
_PIXEL_STREAM = 9002
#: Pixels are drawn with probability ``min(1, PIXEL_OVERSAMPLE * p_keep)`` and their dates
#: with ``p_keep / that``: about 1 / PIXEL_OVERSAMPLE of the dates of a drawn pixel with
#: a target are kept, and features are computed for ``PIXEL_OVERSAMPLE * p_keep`` of the pixels.
PIXEL_OVERSAMPLE = 4.0
_SPATIAL = ("y", "x")


def draw_mask(has_target: np.ndarray, y0: int, x0: int, p_keep: float, seed: int) -> np.ndarray:
    """Which pixel-dates of a ``(time, y, x)`` chunk at offset ``(y0, x0)`` are drawn.

    A pixel is drawn with probability ``q = min(1, PIXEL_OVERSAMPLE * p_keep)``
    and each of its dates with a target with probability ``p_keep / q``, both
    hashes of the global indices and ``seed``: every pixel-date with a target
    is kept with probability ``p_keep``, the same whatever the chunking.
    With ``p_keep = 1`` every pixel-date with a target is drawn.

    Parameters
    ----------
    has_target : numpy.ndarray
        bool ``(time, y, x)``: the pixel-dates with a target.
    y0, x0 : int
        Global row and column of the chunk's first pixel.
    p_keep : float
        Probability of keeping a pixel-date with a target, in (0, 1].
    seed : int
        Seed of the draw.

    Returns
    -------
    numpy.ndarray
        bool, the shape of ``has_target``.
    """
    nt, by, bx = has_target.shape
    if p_keep >= 1.0:
        return has_target.copy()
    q = min(1.0, PIXEL_OVERSAMPLE * p_keep)
    yy = np.arange(y0, y0 + by)[:, None]
    xx = np.arange(x0, x0 + bx)[None, :]
    pixel = hash_uniform(seed, _PIXEL_STREAM, 0, yy, xx) < q
    tt = np.arange(nt)[:, None, None]
    return has_target & pixel[None] & (hash_uniform(seed, _SAMPLE_STREAM, tt, yy[None], xx[None]) < p_keep / q)


def _gathered_cube(blocks: dict[str, np.ndarray], meta: dict[str, Any], iy: np.ndarray, ix: np.ndarray, y0: int, x0: int) -> xr.Dataset:
    """A one-row cube (time, y=1, x=m) of the chunk pixels ``(iy, ix)``, with their global indices as coordinates."""
    m = iy.size
    data_vars = {}
    for name, block in blocks.items():
        dims, attrs = meta["vars"][name]
        if "time" in dims:
            data_vars[name] = (("time", "y", "x"), block[:, iy, ix][:, None, :], attrs)
        else:
            data_vars[name] = (("y", "x"), block[iy, ix][None, :], attrs)
    ds = xr.Dataset(data_vars, coords={"time": meta["time"], "y": [0.0], "x": np.arange(m, dtype=np.float64)}, attrs=meta["attrs"])
    # global pixel indices: the optical group's simulated cloudy spells hash them, as in the full cube
    return ds.assign_coords(sample_iy=(("y", "x"), (iy + y0)[None, :]), sample_ix=(("y", "x"), (ix + x0)[None, :]))


def _block_samples(
    blocks: dict[str, np.ndarray], meta: dict[str, Any], y0: int, x0: int, p_keep: float, seed: int, spec: FeatureSpec, gaps: tuple[int, float] | None
) -> dict[str, Any]:
    """Samples of one chunk: draw on the target, then features of the drawn pixels only.

    A sample needs its target and every required (SAR, time) feature;
    optional features (optical context, terrain) may be NaN.
    """
    target = blocks["NDVI"]
    nt, by, bx = target.shape
    has_target = np.isfinite(target)
    draw = draw_mask(has_target, y0, x0, p_keep, seed)
    iy, ix = np.nonzero(draw.any(axis=0))  # row-major: (t, pixel) order below is the chunk's (t, y, x) order
    nf = len(spec.names)
    if iy.size == 0:
        feat = np.zeros((nt, 0, nf), dtype=np.float32)
    else:
        feat = np.asarray(compute_features(_gathered_cube(blocks, meta, iy, ix, y0, x0), spec, context_gaps=gaps, check_values=False).values)[:, 0]
    tt, jj = np.nonzero(draw[:, iy, ix])
    x = feat[tt, jj]
    complete = np.isfinite(x[:, spec.required]).all(axis=-1)
    tt, jj, x = tt[complete], jj[complete], x[complete]
    return {
        "x": x.astype(np.float32),
        "y": target[tt, iy[jj], ix[jj]].astype(np.float32),
        "iy": (iy[jj] + y0).astype(np.int32),
        "ix": (ix[jj] + x0).astype(np.int32),
        "it": tt.astype(np.int32),
        "n_total": int(nt * by * bx),
        "n_target": int(has_target.sum()),
        "n_complete": int(complete.sum()),
    }


def _spatial_vars(cube: xr.Dataset) -> dict[str, tuple[tuple[str, ...], dict[str, Any]]]:
    """Data variables on (time, y, x) or (y, x): canonical dims and attrs (what the features may read)."""
    out = {}
    for name, var in cube.data_vars.items():
        if set(_SPATIAL) <= set(var.dims) <= {"time", *_SPATIAL}:
            out[str(name)] = (("time", *_SPATIAL) if "time" in var.dims else _SPATIAL, dict(var.attrs))
    return out


def collect_samples(
    cube: xr.Dataset, spec: FeatureSpec, *, max_samples: int, seed: int, context_gap_days: float = 0.0
) -> dict[str, Any]:
    """Draw training samples chunk by chunk, never materialising the whole feature array.

    Each pixel-date with a target is kept with the same probability
    ``p_keep = min(1, max_samples / n_target)``: its pixel is drawn with
    probability ``min(1, 4 p_keep)`` and the date within the pixel with the
    rest (hashes of the indices, so the draw does not depend on the
    chunking, see :func:`draw_mask`). Features are then computed only for the
    drawn pixels' series, and a drawn pixel-date becomes a sample when its
    required features are complete. Memory is bounded by the samples kept
    plus the chunks in flight.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` and the ``NDVI`` target (NumPy-backed
        cubes are chunked 128 x 128 first).
    spec : FeatureSpec
        The features to compute.
    max_samples : int
        Expected number of samples kept (a random draw, so about this many).
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
        ``n_complete`` (pixel-dates with a target and complete features) is
        exact when nothing is capped (``p_keep`` 1); under a cap, features
        exist only for the draw and it is the complete share of the draw
        scaled by ``1 / p_keep``.
    """
    if cube["VV"].chunks is None:
        cube = cube.chunk({"time": -1, "y": 128, "x": 128})
    chunks = dict(zip(cube["VV"].dims, cube["VV"].chunks, strict=True))
    n_target = int(cube["NDVI"].notnull().sum().compute())
    p_keep = 1.0 if n_target == 0 else min(1.0, max_samples / n_target)
    gaps = (seed, context_gap_days) if "optical" in spec.groups and context_gap_days > 0 else None
    meta = {"vars": _spatial_vars(cube), "time": cube["time"], "attrs": dict(cube.attrs)}
    delayed_blocks = {}
    for name, (dims, _attrs) in meta["vars"].items():
        var = cube[name].transpose(*dims)
        var = var.chunk({"y": chunks["y"], "x": chunks["x"], **({"time": -1} if "time" in dims else {})})
        blocks = var.data.to_delayed()
        delayed_blocks[name] = blocks[0] if "time" in dims else blocks
    ys = np.cumsum((0, *chunks["y"]))
    xs = np.cumsum((0, *chunks["x"]))
    tasks = []
    for i in range(len(chunks["y"])):
        for j in range(len(chunks["x"])):
            blocks = {name: b[i, j] for name, b in delayed_blocks.items()}
            tasks.append(dask.delayed(_block_samples)(blocks, meta, int(ys[i]), int(xs[j]), p_keep, seed, spec, gaps))
    parts = dask.compute(*tasks)
    out: dict[str, Any] = {k: np.concatenate([p[k] for p in parts]) for k in ("x", "y", "iy", "ix", "it")}
    # the (t, y, x) order of one chunk, whatever the chunking: the training batches, hence the model, do not depend on it
    order = np.lexsort((out["ix"], out["iy"], out["it"]))
    out = {k: v[order] for k, v in out.items()}
    for k in ("n_total", "n_target", "n_complete"):
        out[k] = int(sum(p[k] for p in parts))
    if p_keep < 1.0:
        out["n_complete"] = min(n_target, round(out["n_complete"] / p_keep))
    out["p_keep"] = p_keep
    return out
