"""Chunking of the fusion cube: chosen by the library when the caller gave none, and checked against memory.

A NumPy-backed cube is fine for a small scene, but every later stage
(features: 36 float32 values per pixel-date, prediction, reconstruction)
then works on the whole scene at once. Above :data:`AUTO_CHUNK_MIN_PIXEL_DATES`
pixel-dates :func:`auto_chunk` makes it Dask-backed in square spatial chunks
of :data:`AUTO_CHUNK` pixels with the whole series in one chunk, so the
stages stream. Chunks the caller chose are kept; :func:`check_chunk_memory`
warns when they are so large that the features of the chunks in flight will
not fit in memory. A stage whose output has its own time grid (``reconstruct(freq="1D")``
over years) checks it with :func:`check_output_memory`: its memory follows the output dates,
not the cube's.
"""

from __future__ import annotations

import logging
import os
import warnings

import xarray as xr

from .._warn import warn_user

__all__ = ["AUTO_CHUNK", "AUTO_CHUNK_MIN_PIXEL_DATES", "MEMORY_FRACTION", "OUTPUT_BYTES_PER_PIXEL_DATE", "auto_chunk", "check_chunk_memory",
           "check_output_memory", "chunk_working_set_bytes", "output_working_set_bytes", "total_memory_bytes"]

logger = logging.getLogger("fusets_dl")

#: Side (pixels) of the spatial chunks the library picks.
AUTO_CHUNK = 256
#: NumPy-backed cubes with more pixel-dates than this are chunked (about 0.6 GB of features).
AUTO_CHUNK_MIN_PIXEL_DATES = 4_000_000
#: Share of the machine's memory the chunks in flight may take before a warning.
MEMORY_FRACTION = 0.5
# float32 values per pixel-date in flight for a NumPy-backed cube: up to 36 features (22 by default) of the whole
# scene, the inputs and the network's first layers (measured order of magnitude, not a bound)
_VALUES_PER_PIXEL_DATE = 64
# the same per Dask chunk: the stages batch their work inside a chunk and the features' chunks are bounded
# (features.compute.MAX_FEATURE_CHUNK_BYTES). Measured (2026-11-28, one 512 x 512 x 182 chunk of a lazily tiled
# 5120 x 5120 cube, peak RSS rise): predict_ndvi 0.92 GB (5 values), reconstruct 1.97 GB (10), phenology 1.25 GB (7);
# 64 warned at 11.4 GiB and advised 256-pixel chunks where 512 fitted
_VALUES_PER_PIXEL_DATE_CHUNKED = 16


def total_memory_bytes() -> int:
    """Physical memory of the machine (bytes; 0 when unknown).

    Returns
    -------
    int
        ``SC_PAGE_SIZE * SC_PHYS_PAGES``, or 0 where the system does not say.
    """
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def chunk_working_set_bytes(cube: xr.Dataset) -> int:
    """Estimated memory of one chunk of the cube in the prediction, reconstruction and phenology stages (bytes).

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV`` on ``(time, y, x)``.

    Returns
    -------
    int
        Largest chunk's pixels times the dates times about 16 float32
        values (measured: reconstruction 10, prediction 5); the whole scene
        times about 64 when NumPy-backed (its features held at once).
    """
    vv = cube["VV"]
    if vv.chunks is None:
        return int(vv.size) * _VALUES_PER_PIXEL_DATE * 4
    sizes = dict(zip(vv.dims, (max(c) for c in vv.chunks), strict=True))
    n = cube.sizes["time"] * sizes["y"] * sizes["x"]  # the stages read the whole series of a chunk's pixels
    return int(n) * _VALUES_PER_PIXEL_DATE_CHUNKED * 4


def check_chunk_memory(cube: xr.Dataset, *, threads: int | None = None, what: str = "align") -> None:
    """Warn when the chunks in flight (one per thread) will take more than half of the memory.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube (never computed here).
    threads : int, optional
        Chunks computed at once (default: the CPU count, Dask's threaded default).
    what : str
        The caller, for the message.

    Warns
    -----
    UserWarning
        With the estimate, the memory and a chunking that fits.
    """
    total = total_memory_bytes()
    if not total:
        return
    threads = threads or os.cpu_count() or 1
    need = chunk_working_set_bytes(cube) * (threads if cube["VV"].chunks is not None else 1)
    if need > MEMORY_FRACTION * total:
        chunks = "NumPy (one chunk)" if cube["VV"].chunks is None else {d: max(c) for d, c in zip(cube["VV"].dims, cube["VV"].chunks, strict=True)}
        warnings.warn(
            f"{what}: chunks {chunks} will need about {need / 2**30:.1f} GiB in the prediction, reconstruction and phenology stages "
            f"({threads} in flight) on a machine with {total / 2**30:.1f} GiB; expected under {MEMORY_FRACTION:.0%} of it: "
            f"chunk the cube smaller, e.g. cube.chunk({{'time': -1, 'y': {AUTO_CHUNK}, 'x': {AUTO_CHUNK}}})",
            UserWarning,
            stacklevel=3,
        )


#: Bytes per pixel and output date that ``reconstruct`` holds for one chunk, time whole (its stacked float32 output, the
#: NDVI / std / source variables made of it and the writer's copies). Measured 2026-12 (peak RSS rise, one 96 x 96
#: chunk, ``reconstruct(freq="1D", weights=None)`` written with ``to_zarr``, 1 core): 362 days +369 MB (110 B),
#: 3644 days +3.43 GB (102 B); linear in the days.
OUTPUT_BYTES_PER_PIXEL_DATE = 110


def output_working_set_bytes(data: xr.DataArray, n_out: int) -> tuple[int, int, int]:
    """Estimated memory of one chunk of a stage whose output has ``n_out`` dates per pixel (bytes), with the chunk's size.

    Parameters
    ----------
    data : xarray.DataArray
        The stage's input on ``(time, y, x)`` (its chunks are the output's).
    n_out : int
        Output dates per pixel (the whole series of a chunk's pixels is one chunk).

    Returns
    -------
    (int, int, int)
        The bytes (pixels of the largest chunk x ``n_out`` x
        :data:`OUTPUT_BYTES_PER_PIXEL_DATE`), the pixels of that chunk and
        the number of spatial chunks (1 when NumPy-backed: the whole scene).
    """
    if data.chunks is None:
        pixels, n_chunks = data.sizes["y"] * data.sizes["x"], 1
    else:
        sizes = dict(zip(data.dims, data.chunks, strict=True))
        pixels, n_chunks = max(sizes["y"]) * max(sizes["x"]), len(sizes["y"]) * len(sizes["x"])
    return int(pixels) * int(n_out) * OUTPUT_BYTES_PER_PIXEL_DATE, int(pixels), n_chunks


def check_output_memory(data: xr.DataArray, n_out: int, *, threads: int | None = None, what: str = "reconstruct", grid: str = "") -> None:
    """Warn when the output of the chunks in flight (one per thread, at most one per chunk) will take more than half of the memory.

    Parameters
    ----------
    data : xarray.DataArray
        The stage's input on ``(time, y, x)`` (never computed here).
    n_out : int
        Output dates per pixel.
    threads : int, optional
        Chunks computed at once (default: the CPU count, Dask's threaded default).
    what : str
        The caller, for the message.
    grid : str
        The output grid in words (e.g. ``"freq '1D' from 2016-01-01"``), for the message.

    Warns
    -----
    UserWarning
        With the estimate, its parts, the memory and the remedies: smaller
        spatial chunks (the chunk side that fits), a coarser ``freq`` or a
        shorter time range.
    """
    total = total_memory_bytes()
    if not total:
        return
    per_chunk, pixels, n_chunks = output_working_set_bytes(data, n_out)
    threads = threads or os.cpu_count() or 1
    in_flight = min(threads, n_chunks)
    need = per_chunk * in_flight
    if need <= MEMORY_FRACTION * total:
        return
    # smaller chunks are more chunks: one per thread in flight
    side = int((MEMORY_FRACTION * total / (threads * n_out * OUTPUT_BYTES_PER_PIXEL_DATE)) ** 0.5)
    fits = f"cube.chunk({{'time': -1, 'y': {side}, 'x': {side}}})" if side >= 1 else "no spatial chunk fits"
    warn_user(
        f"{what}: the output has {n_out} dates per pixel{f' ({grid})' if grid else ''}, with the whole series of a chunk's "
        f"{pixels} pixels in one chunk: about {OUTPUT_BYTES_PER_PIXEL_DATE} bytes per pixel-date, {per_chunk / 2**30:.1f} GiB a chunk, "
        f"{need / 2**30:.1f} GiB with {in_flight} in flight on a machine with {total / 2**30:.1f} GiB; expected under "
        f"{MEMORY_FRACTION:.0%} of it: chunk the cube smaller in space ({fits}), or ask for a coarser freq "
        "(e.g. '5D') or a shorter time range"
    )


def auto_chunk(cube: xr.Dataset) -> xr.Dataset:
    """The cube in :data:`AUTO_CHUNK` spatial chunks (time whole) when NumPy-backed and large; else unchanged.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube.

    Returns
    -------
    xarray.Dataset
        Dask-backed when it held more than :data:`AUTO_CHUNK_MIN_PIXEL_DATES`
        pixel-dates in NumPy; a Dask-backed cube keeps the caller's chunks.
    """
    if cube["VV"].chunks is not None or cube["VV"].size <= AUTO_CHUNK_MIN_PIXEL_DATES:
        return cube
    logger.info("align: %d pixel-dates in memory: chunked %d x %d (time whole) so the later stages stream", cube["VV"].size, AUTO_CHUNK, AUTO_CHUNK)
    return cube.chunk({"time": -1, "y": AUTO_CHUNK, "x": AUTO_CHUNK})
