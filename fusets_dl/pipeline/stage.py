"""A region's aligned cube computed once into a scratch Zarr store, so that training and the tiles read it instead of recomputing it.

Training reads the whole cube twice (counting the clear targets, then
drawing the sample) and the tiles read it once more; a lazy cube (sources
opened, reprojected and aligned, or a generated scene) is otherwise
computed again by each of these passes. Staging writes its Dask-backed
variables chunk by chunk (memory bounded by the chunks in flight) and
reads them back with the same chunks, attributes and encodings, so
everything downstream sees the same values (Zarr stores them bit for bit).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import xarray as xr

from .._logging import logger

__all__ = ["staged_cube"]


def _regular(chunks: tuple[int, ...]) -> bool:
    """Whether one dimension's chunks are all equal but the last (which may be smaller): what Zarr can store."""
    return len(chunks) <= 1 or (len(set(chunks[:-1])) == 1 and chunks[-1] <= chunks[0])


def staged_cube(cube: xr.Dataset, path: Path) -> xr.Dataset:
    """``cube`` with its Dask-backed variables computed once into a Zarr store at ``path`` and read back lazily.

    Parameters
    ----------
    cube : xarray.Dataset
        The region's fusion cube (lazy or not).
    path : Path
        The scratch store (replaced if it exists). The caller deletes it
        when the region no longer reads the cube.

    Returns
    -------
    xarray.Dataset
        ``cube`` itself when nothing in it is Dask-backed; otherwise the same
        dataset (variables, coordinates, attributes, encodings and Dask
        chunks) whose Dask-backed variables read the store.

    Notes
    -----
    Values are stored without loss (the variables' own dtypes, NaN as
    NaN), so the outputs are those of the unstaged cube. Variables whose
    chunks Zarr cannot store (uneven along a dimension) are written in
    chunks of their largest chunk and read back in their own.
    """
    lazy = [str(n) for n, v in cube.variables.items() if v.chunks is not None]
    if not lazy:
        return cube
    t0 = time.perf_counter()
    shutil.rmtree(path, ignore_errors=True)
    plain = {}
    for name in lazy:
        data = cube[name].data
        if not all(_regular(c) for c in data.chunks):
            data = data.rechunk(tuple(max(c) for c in data.chunks))
        plain[name] = (cube[name].dims, data)
    # no attributes or encodings: the store holds bare values, the originals are put back below
    xr.Dataset(plain).to_zarr(path, mode="w", consolidated=False)
    back = xr.open_zarr(path, chunks=None, consolidated=False, mask_and_scale=True)
    swapped = {}
    for name in lazy:
        orig = cube[name].variable
        data = back[name].variable.chunk(dict(zip(orig.dims, orig.chunks, strict=True))).data
        swapped[name] = orig.copy(deep=False, data=data)
    out = cube.assign({n: v for n, v in swapped.items() if n in cube.data_vars})
    out = out.assign_coords({n: v for n, v in swapped.items() if n not in cube.data_vars})
    logger.info("stage: %d variables (%s) computed once into %s in %.1f s", len(lazy), ", ".join(lazy), path, time.perf_counter() - t0)
    return out
