"""Features of a batch of pixels from plain arrays: the fused path of prediction, without a feature cube.

:func:`~fusets_dl.features.compute_features` builds the whole feature cube
``(time, y, x, feature)`` lazily, group by group; a 256 x 256 chunk of 60
dates and 36 features (the temporal-change spec) is then 566 MB, written column by column and read once
by the network. Prediction does not need it: :func:`block_sources` gives the
few cube variables the spec reads, chunked alike (one time chunk), and
:func:`feature_block` computes every feature of a batch of pixel series into
one reusable buffer of a few MB, which the network reads straight away.

Both paths call the same kernels (:func:`~fusets_dl.features.feature_kernel`,
:func:`~fusets_dl.features.optical_context`,
:func:`~fusets_dl.features.nearest_within`), pixel by pixel, so the features
are the same numbers (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from .compute import _single_time_chunk, _time_axes
from .optical import (
    CLOUDY_FEATURES,
    OPTICAL_FEATURES,
    nearest_within,
    optical_context,
    pairing_tolerance,
    same_view_windows,
)
from .orbits import orbit_groups
from .sar import _kernel_widths, feature_kernel
from .spec import FeatureSpec
from .terrain import TERRAIN_FEATURES, _terrain

__all__ = ["BlockConstants", "block_constants", "block_sources", "feature_block"]


@dataclass(frozen=True)
class BlockConstants:
    """What every pixel batch of one cube shares: the time axes, the orbit groups and the spec.

    Parameters
    ----------
    days : numpy.ndarray
        float64 days since the first time, shape (time,).
    doy : numpy.ndarray
        float64 fractional day of year (0-based), shape (time,).
    orbits : numpy.ndarray
        int64 relative-orbit group of each time.
    spec : FeatureSpec
        What to compute.
    pair_tolerance : float, optional
        The cube's S1-S2 pairing tolerance (days), which widens the optical
        context's exclusion windows around a date's own S2 view.
    """

    days: np.ndarray
    doy: np.ndarray
    orbits: np.ndarray
    spec: FeatureSpec
    pair_tolerance: float | None = None


def block_constants(cube: xr.Dataset, spec: FeatureSpec) -> BlockConstants:
    """The :class:`BlockConstants` of ``cube`` for ``spec`` (reads only the time index).

    Parameters
    ----------
    cube : xarray.Dataset
        A fusion cube (validated by the caller).
    spec : FeatureSpec
        What to compute.

    Returns
    -------
    BlockConstants
        The time axes and orbit groups, as :func:`compute_features` derives them.
    """
    days, doy = _time_axes(cube["time"])
    return BlockConstants(days=days, doy=doy, orbits=orbit_groups(cube), spec=spec, pair_tolerance=pairing_tolerance(cube))


def block_sources(cube: xr.Dataset, spec: FeatureSpec) -> dict[str, xr.DataArray]:
    """The cube variables the features of ``spec`` read, aligned for a blockwise map.

    Parameters
    ----------
    cube : xarray.Dataset
        A fusion cube (validated by the caller: ``NDVI`` present when the
        spec has the ``optical`` group).
    spec : FeatureSpec
        What to compute.

    Returns
    -------
    dict of str to xarray.DataArray
        ``VV``, ``VH`` on ``(time, y, x)``; ``NDVI`` (and ``NDVI_cloudy``
        when the spec reads it and the cube has it) for the ``optical``
        group; ``terrain`` on ``(y, x, feature)`` for the ``terrain`` group.
        On Dask input, ``time`` is one chunk and every source has the
        spatial chunks of ``VV``; NumPy input stays in memory.
    """
    vv, vh = _single_time_chunk(cube["VV"].transpose("time", "y", "x"), cube["VH"].transpose("time", "y", "x"))
    chunks = None if vv.chunks is None else {"y": vv.chunks[1], "x": vv.chunks[2]}
    out = {"VV": vv, "VH": vh}
    if "optical" in spec.groups:
        out["NDVI"] = cube["NDVI"].transpose("time", "y", "x")
        if "NDVI_offset" in cube.data_vars and pairing_tolerance(cube) is not None:  # a date's own S2 view is never its context
            out["NDVI_offset"] = cube["NDVI_offset"].transpose("time", "y", "x")
        if spec.cloudy_input and "NDVI_cloudy" in cube.data_vars:
            out["NDVI_cloudy"] = cube["NDVI_cloudy"].transpose("time", "y", "x")
    if "terrain" in spec.groups:
        out["terrain"] = _terrain(cube)
    if chunks is not None:
        out = {k: v.chunk({**chunks, **({"time": -1} if "time" in v.dims else {"feature": -1})}) for k, v in out.items()}
    return out


def feature_block(sources: dict[str, np.ndarray], const: BlockConstants, out: np.ndarray | None = None) -> np.ndarray:
    """Every feature of a batch of pixel series, in the order of ``spec.names``.

    Parameters
    ----------
    sources : dict of str to numpy.ndarray
        The arrays of :func:`block_sources` for ``n`` pixels: ``VV``, ``VH``
        (and ``NDVI``, ``NDVI_cloudy``) as ``(n, time)``, ``terrain`` as
        ``(n, 4)``.
    const : BlockConstants
        The cube's time axes, orbit groups and spec.
    out : numpy.ndarray, optional
        Contiguous float32 buffer of at least ``n * time * n_features``
        elements (reused across batches); a new array when None.

    Returns
    -------
    numpy.ndarray
        float32 ``(n, time, n_features)``, a view of ``out`` when given.

    Raises
    ------
    ValueError
        ``out`` is not float32 or too small.
    """
    spec = const.spec
    vv, vh = sources["VV"], sources["VH"]
    n, nt = vv.shape
    nf = len(spec.names)
    if out is None:
        feats = np.empty((n, nt, nf), dtype=np.float32)
    elif out.dtype != np.float32 or out.size < n * nt * nf:
        raise ValueError(f"feature_block: expected a float32 buffer of at least {n * nt * nf} elements, found {out.dtype} of {out.size}")
    else:
        feats = out.reshape(-1)[: n * nt * nf].reshape(n, nt, nf)
    n_sar, n_time = _kernel_widths(spec)
    _kernel_into(feats, n_sar, nf - n_time, n_time, vv, vh, const)
    col = n_sar
    if "optical" in spec.groups:
        ndvi = sources["NDVI"]
        eb = ea = float(spec.context_exclude_days)
        if "NDVI_offset" in sources and const.pair_tolerance is not None:
            eb, ea = same_view_windows(sources["NDVI_offset"], eb, ea, const.pair_tolerance)
        feats[..., col : col + len(OPTICAL_FEATURES)] = optical_context(ndvi, const.days, eb, ea)
        col += len(OPTICAL_FEATURES)
        if spec.cloudy_input:
            cloudy = sources.get("NDVI_cloudy")
            width = len(CLOUDY_FEATURES)
            feats[..., col : col + width] = np.nan if cloudy is None else nearest_within(cloudy, const.days, float(spec.cloudy_window_days))
            col += width
    if "terrain" in spec.groups:
        feats[..., col : col + len(TERRAIN_FEATURES)] = sources["terrain"][:, None, :]
    return feats


def _kernel_into(feats: np.ndarray, n_sar: int, time_at: int, n_time: int, vv: np.ndarray, vh: np.ndarray, const: BlockConstants) -> None:
    """The ``sar`` columns at 0 and the ``time`` columns at ``time_at`` of ``feats``, from one kernel pass."""
    if n_sar + n_time == 0:
        return
    if time_at == n_sar:  # adjacent columns: the kernel writes straight into the buffer
        feature_kernel(vv, vh, const.days, const.doy, const.spec, const.orbits, out=feats[..., : n_sar + n_time])
        return
    cols = feature_kernel(vv, vh, const.days, const.doy, const.spec, const.orbits)
    feats[..., :n_sar] = cols[..., :n_sar]
    feats[..., time_at : time_at + n_time] = cols[..., n_sar:]
