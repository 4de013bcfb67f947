"""A class map put on the pixel grid of the NDVI (or of its phenology), by coordinates, never by position.

Class maps come in raster order (``y`` descending) or sorted (``y``
ascending), from a reprojection with coordinates a float rounding away from
the NDVI's, or cut to another extent. :func:`align_class_map` reorders a map
whose coordinates are those of the grid (as sets, within
``COORD_TOLERANCE`` of a pixel) and takes the grid's coordinates; any other
map is a :class:`~fusets_dl.errors.DimensionError` naming the sizes and
coordinate ranges expected and found.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import DimensionError

__all__ = ["COORD_TOLERANCE", "align_class_map", "on_labels"]

#: Largest coordinate difference accepted as the same pixel centre, as a fraction of the pixel size.
COORD_TOLERANCE = 0.1


def _describe(coord: Any, size: int) -> str:
    """``size N, from A to B`` of a dimension (its coordinate range when it has one)."""
    if coord is None:
        return f"size {size} (no coordinate)"
    v = np.asarray(coord)
    return f"size {size}, {v[0]} .. {v[-1]}" if v.size else f"size {size}"


def _order(target: np.ndarray, found: np.ndarray) -> np.ndarray | None:
    """Index into ``found`` giving ``target``'s order when both hold the same values (within the tolerance), else None."""
    if target.size != found.size:
        return None
    if target.size == 0:
        return np.arange(0)
    numeric = np.issubdtype(target.dtype, np.number) and np.issubdtype(found.dtype, np.number)
    if not numeric:
        if target.dtype != found.dtype and not (target.dtype.kind in "OUS" and found.dtype.kind in "OUS"):
            return None
        pos = {v: i for i, v in enumerate(found.tolist())}
        if len(pos) != found.size or any(v not in pos for v in target.tolist()):
            return None
        return np.array([pos[v] for v in target.tolist()], dtype=np.int64)
    a, b = target.astype(np.float64), found.astype(np.float64)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        return None
    sa, sb = np.argsort(a, kind="stable"), np.argsort(b, kind="stable")
    steps = np.diff(a[sa])
    # one pixel (or all at one coordinate): no pixel size, so only a float rounding is accepted
    tol = COORD_TOLERANCE * float(np.median(steps[steps > 0])) if (steps > 0).any() else 1e-6 * max(abs(float(a[0])), 1.0)
    if np.abs(a[sa] - b[sb]).max() > tol:
        return None
    idx = np.empty(a.size, dtype=np.int64)
    idx[sa] = sb
    return idx


def align_class_map(classes: xr.DataArray, like: xr.DataArray, dims: Sequence[Any], what: str) -> xr.DataArray:
    """``classes`` on the grid of ``like`` over ``dims``: reordered to its coordinates, taking them, transposed to ``dims``.

    Parameters
    ----------
    classes : xarray.DataArray
        A class map on ``dims`` (in any order, coordinates in any order).
    like : xarray.DataArray
        An array on the target grid (the NDVI, or a phenometric).
    dims : sequence of hashable
        The pixel dimensions (``like``'s other than ``time``/``season``).
    what : str
        The caller, for the message.

    Returns
    -------
    xarray.DataArray
        ``classes`` on ``dims`` with ``like``'s sizes and coordinates (lazy
        when ``classes`` is Dask-backed).

    Raises
    ------
    DimensionError
        Other dimensions, or a dimension whose size or coordinate values
        (as a set, within ``COORD_TOLERANCE`` of a pixel) differ from
        ``like``'s: a class map of another extent, resolution or grid
        (naming the sizes and coordinate ranges expected and found).
    """
    if set(classes.dims) != set(dims):
        raise DimensionError(f"{what}: expected classes on the pixel dimensions {tuple(dims)}, found {classes.dims}")
    cls = classes.transpose(*dims)
    for d in dims:
        want = like[d].values if d in like.coords else None
        have = cls[d].values if d in cls.coords else None
        size_ok = cls.sizes[d] == like.sizes[d]
        idx = _order(want, have) if size_ok and want is not None and have is not None else None
        if not size_ok or (want is not None and have is not None and idx is None):
            raise DimensionError(
                f"{what}: expected the class map on the grid of the NDVI, {d!r}: {_describe(want, like.sizes[d])}; "
                f"found {d!r}: {_describe(have, cls.sizes[d])} (the same coordinates, in any order, within "
                f"{COORD_TOLERANCE:g} of a pixel; reproject or reindex the class map onto the NDVI grid)"
            )
        if idx is not None and not np.array_equal(idx, np.arange(idx.size)):
            cls = cls.isel({d: idx})
        if want is not None:
            cls = cls.assign_coords({d: like[d].values})
    return cls


def on_labels(arr: xr.DataArray, ndvi: xr.DataArray, what: str) -> xr.DataArray:
    """``arr`` (on ``ndvi``'s dims) reindexed onto ``ndvi``'s coordinate labels where both have them: the same labels, in any order.

    Parameters
    ----------
    arr : xarray.DataArray
        A per-value input of phenology (``std``, ``observed``).
    ndvi : xarray.DataArray
        The NDVI it describes.
    what : str
        Its name, for the message.

    Returns
    -------
    xarray.DataArray
        ``arr`` on ``ndvi``'s labels.

    Raises
    ------
    DimensionError
        Labels the NDVI has and ``arr`` lacks, or repeated labels.
    """
    from ..errors import DimensionError

    for d in arr.dims:
        if d not in arr.indexes or d not in ndvi.indexes or arr.indexes[d].equals(ndvi.indexes[d]):
            continue
        if not ndvi.indexes[d].isin(arr.indexes[d]).all() or arr.indexes[d].has_duplicates:
            raise DimensionError(f"phenology: expected {what} on the NDVI's {d} labels, found labels that differ "
                                 f"({arr.sizes[d]} of them, {int((~ndvi.indexes[d].isin(arr.indexes[d])).sum())} of the NDVI's missing)")
        arr = arr.reindex({d: ndvi.indexes[d]})
    return arr
