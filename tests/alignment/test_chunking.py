"""Cube chunking: picked by the library for large in-memory cubes, kept when given, checked against memory."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.alignment import chunking
from fusets_dl.testing import raise_if_dask_computes


def _lazy_cube(nt: int, ny: int, nx: int, chunk: int) -> xr.Dataset:
    vv = xr.DataArray(da.zeros((nt, ny, nx), dtype=np.float32, chunks=(nt, chunk, chunk)), dims=("time", "y", "x"))
    return xr.Dataset({"VV": vv, "VH": vv, "NDVI": vv})


def test_align_chunks_a_large_in_memory_cube_and_keeps_a_small_one(small_scene, monkeypatch):
    s1, s2, _ = small_scene
    small = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2))
    assert small["VV"].chunks is None  # below the threshold: NumPy as before
    monkeypatch.setattr(chunking, "AUTO_CHUNK_MIN_PIXEL_DATES", 100)
    monkeypatch.setattr(chunking, "AUTO_CHUNK", 8)
    big = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2))
    assert big["VV"].chunks == ((small.sizes["time"],), (8, 8, 8), (8, 8, 4))
    assert big["NDVI"].chunks == big["VV"].chunks
    xr.testing.assert_identical(big.compute(), small)  # same values, only the chunking differs


def test_align_keeps_the_callers_chunks(small_scene, monkeypatch):
    s1, s2, _ = small_scene
    monkeypatch.setattr(chunking, "AUTO_CHUNK_MIN_PIXEL_DATES", 100)
    cube = fdl.align(fdl.open_s1(s1, chunks={"y": 12, "x": 5}), fdl.open_s2(s2, chunks={"y": 12, "x": 5}))
    assert cube["VV"].chunks[1:] == ((12, 12), (5, 5, 5, 5))


def test_working_set_counts_the_whole_series_of_the_largest_chunk():
    cube = _lazy_cube(60, 1000, 700, 256)
    assert chunking.chunk_working_set_bytes(cube) == 60 * 256 * 256 * 16 * 4  # 16 float32 values per pixel-date of a chunk
    assert chunking.chunk_working_set_bytes(_lazy_cube(6, 100, 70, 32).load()) == 6 * 100 * 70 * 64 * 4  # NumPy: the whole scene


def test_memory_warning_on_huge_chunks_without_computing(monkeypatch):
    monkeypatch.setattr(chunking, "total_memory_bytes", lambda: 24 * 2**30)
    huge = _lazy_cube(60, 40_000, 40_000, 8192)  # 60 x 8192 x 8192 x 16 float32 = 240 GiB per chunk
    with raise_if_dask_computes(), pytest.warns(UserWarning, match=r"chunks \{'time': 60, 'y': 8192, 'x': 8192\} will need about .* GiB.*cube.chunk"):
        chunking.check_chunk_memory(huge, threads=2)
    fine = _lazy_cube(60, 40_000, 40_000, 256)
    with raise_if_dask_computes(), warnings.catch_warnings():
        warnings.simplefilter("error")
        chunking.check_chunk_memory(fine, threads=2)  # 2 x 1 GiB on 24 GiB: no warning


def test_output_working_set_follows_the_output_dates_of_the_largest_chunk():
    vv = _lazy_cube(509, 1000, 700, 256)["VV"]
    # 10 years daily (3653 dates) in 256 x 256 chunks: 65,536 pixels x 3653 x 110 bytes; 4 x 3 = 12 chunks
    assert chunking.output_working_set_bytes(vv, 3653) == (256 * 256 * 3653 * 110, 256 * 256, 12)
    assert chunking.output_working_set_bytes(vv.load()[:, :10, :20], 5) == (10 * 20 * 5 * 110, 200, 1)  # NumPy: the whole scene


def test_output_memory_warning_names_the_grid_and_the_chunk_that_fits_without_computing(monkeypatch):
    monkeypatch.setattr(chunking, "total_memory_bytes", lambda: 16 * 2**30)
    vv = _lazy_cube(509, 512, 512, 256)["VV"]  # 4 chunks
    # 3653 daily dates x 65,536 pixels x 110 B = 24.5 GiB a chunk, 2 in flight = 49.1 GiB > 8 GiB;
    # the side that fits: sqrt(8 GiB / (2 x 3653 x 110)) = 103 pixels
    with raise_if_dask_computes(), pytest.warns(UserWarning) as rec:
        chunking.check_output_memory(vv, 3653, threads=2, grid="freq '1D'")
    msg = str(rec[0].message)
    assert "3653 dates per pixel (freq '1D')" in msg and "65536 pixels" in msg
    assert "24.5 GiB a chunk, 49.1 GiB with 2 in flight" in msg and "16.0 GiB" in msg
    assert "'y': 103, 'x': 103" in msg and "coarser freq" in msg and "shorter time range" in msg
    with pytest.warns(UserWarning, match="98.1 GiB with 4 in flight"):
        chunking.check_output_memory(vv, 3653, threads=16)  # at most one per chunk in flight: 4
    with raise_if_dask_computes(), warnings.catch_warnings():
        warnings.simplefilter("error")
        chunking.check_output_memory(vv, 731, threads=1)  # a 5-day grid, one in flight: 4.9 GiB of 16: no warning
