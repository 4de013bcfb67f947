"""Dask inputs at scale: the unit sample reads a few chunks, and one date per chunk is merged before decoding."""

from __future__ import annotations

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from dask.callbacks import Callback
from dask.optimization import cull

import fusets_dl as fdl
from fusets_dl.readers.normalise import SAMPLE_MAX_CHUNKS, _sample, _sample_parts, _series_chunks
from fusets_dl.testing import raise_if_dask_computes
from tests.readers.helpers import s1_raw


def _source_chunks(arrays: list[xr.DataArray], source: str) -> set[tuple]:
    """The chunks of the Dask layer ``source`` that ``arrays`` depend on (their graph culled, nothing computed)."""
    dsk: dict = {}
    keys: list = []
    for a in arrays:
        dsk.update(dict(a.data.__dask_graph__()))
        keys += list(dask.core.flatten(a.data.__dask_keys__()))
    culled, _ = cull(dsk, keys)
    return {k for k in culled if isinstance(k, tuple) and k[0] == source}


def _lazy(values: np.ndarray, chunks: tuple[int, ...], name: str) -> dsa.Array:
    """``values`` as a Dask array of one named layer (so the chunks read can be counted by name)."""
    return dsa.from_array(values, chunks=chunks, name=name)


class _Reads(Callback):
    """Counts the chunks of named layers that the computes under it read."""

    def __init__(self, names: set[str]):
        super().__init__()
        self.names, self.keys = names, 0

    def _start_state(self, dsk, state):
        self.keys += sum(1 for k in dsk if isinstance(k, tuple) and k[0] in self.names)


def test_unit_sample_of_a_dask_cube_of_many_chunks_reads_at_most_four_chunks():
    """The 4 x 32 x 32 sample strode over every spatial chunk: with time as one chunk each is the whole series
    (a 5120 x 5120 tile in 512-pixel chunks: 100 of 100 chunks, 17.8 GiB per band, read to tell dB from linear)."""
    raw = s1_raw(nt=6, ny=96, nx=96)
    vv = raw["VV"].rename(t="time").copy(data=_lazy(raw["VV"].values, (6, 8, 8), "vv-src"))  # 144 spatial chunks
    parts = _sample_parts(vv)
    read = _source_chunks(parts, "vv-src")
    assert 1 <= len(read) <= SAMPLE_MAX_CHUNKS
    assert ("vv-src", 0, 6, 6) in read  # the central chunk
    assert sum(p.size for p in parts) == SAMPLE_MAX_CHUNKS * 4 * 8 * 8  # 4 dates of every pixel of 4 chunks (8 px: stride 1)
    assert len(_source_chunks(_sample_parts(vv, all_dates=True), "vv-src")) <= SAMPLE_MAX_CHUNKS
    with raise_if_dask_computes(max_computes=1):
        values = _sample(vv)
    assert values.size == SAMPLE_MAX_CHUNKS * 4 * 64 and np.isfinite(values).all()
    # through the reader: the units are told from those chunks only, the same as in memory
    ds = raw.copy()
    for b, v in (("VV", vv), ("VH", vv - 6)):
        ds[b] = (("t", "y", "x"), v.data if b == "VV" else _lazy(raw["VH"].values, (6, 8, 8), "vh-src"))
    with _Reads({"vv-src", "vh-src"}) as reads:
        s1 = fdl.open_s1(ds)
    assert reads.keys <= 2 * SAMPLE_MAX_CHUNKS
    assert s1.attrs["encoding"] == fdl.open_s1(raw).attrs["encoding"] == "VV:dB,VH:dB"


def test_unit_sample_with_one_date_per_chunk_reads_the_first_dates_of_four_chunks():
    raw = s1_raw(nt=10, ny=64, nx=64)
    vv = raw["VV"].rename(t="time").copy(data=_lazy(raw["VV"].values, (1, 8, 8), "vv-src"))
    read = _source_chunks(_sample_parts(vv), "vv-src")
    assert len(read) <= 4 * SAMPLE_MAX_CHUNKS and {k[1] for k in read} == {0, 1, 2, 3}


def test_unit_sample_of_numpy_and_few_chunks_is_the_strided_sample_as_before():
    """In memory, and on Dask arrays of at most 4 spatial chunks, the same pixels as before: 4 dates, stride size // 32."""
    raw = s1_raw(nt=6, ny=70, nx=40)["VV"].rename(t="time")
    expected = raw.values[:4, ::2, ::1].astype(np.float64).ravel()
    np.testing.assert_array_equal(_sample(raw), expected)
    np.testing.assert_array_equal(_sample(raw.chunk({"y": 35, "x": 20})), expected)
    # all NaN on the first 4 dates: every date of those pixels
    gap = raw.where(raw["time"] >= raw["time"][4])
    np.testing.assert_array_equal(_sample(gap), gap.values[:, ::2, ::1].astype(np.float64).ravel())
    many = gap.chunk({"y": 10, "x": 10})  # 28 chunks: the Dask path, all dates of 4 of them
    vals = _sample(many)
    assert vals.size == SAMPLE_MAX_CHUNKS * 6 * 10 * 10 and np.isfinite(vals).sum() == SAMPLE_MAX_CHUNKS * 2 * 100


def _per_date(raw: xr.Dataset, chunk: int) -> xr.Dataset:
    tname = next(d for d in raw.dims if d not in ("y", "x"))
    return raw.chunk({tname: 1, "y": chunk, "x": chunk})


def _s2(nt: int, n: int) -> xr.Dataset:
    rng = np.random.default_rng(5)
    t = pd.date_range("2021-03-02", periods=nt, freq="5D")
    return xr.Dataset(
        {"B04": (("t", "y", "x"), rng.integers(200, 900, (nt, n, n)).astype(np.uint16), {"nodata": 0}),
         "B08": (("t", "y", "x"), rng.integers(2000, 4000, (nt, n, n)).astype(np.uint16), {"nodata": 0}),
         "SCL": (("t", "y", "x"), rng.choice([4, 5, 8, 9], (nt, n, n)).astype(np.uint8), {"nodata": 0})},
        coords={"t": t, "y": 5000.0 - 20 * np.arange(n), "x": 300000.0 + 20 * np.arange(n)}, attrs={"epsg": 32631})


@pytest.mark.parametrize("target", ["64KiB", "256KiB"])
def test_one_date_per_chunk_is_merged_before_decoding_into_nesting_spatial_chunks(target):
    """odc-stac's one date per chunk: every decoding step (mask, scale, NDVI, clear) was a layer of dates x chunks
    tasks, merged only at the end, and Dask's "auto" gave S1 and S2 spatial chunks out of step with the input's
    (429 and 391 pixels from 512), which align then cut into odd pieces."""
    n, c = 64, 16
    s1_in = _per_date(s1_raw(nt=12, ny=n, nx=n), c)
    s2_in = _per_date(_s2(40, n), c)
    per_date = (n // c) ** 2
    # the S1 unit samples, and the sample of clear red that judges the S2 offset (DN without metadata)
    with dask.config.set({"array.chunk-size": target}), raise_if_dask_computes(max_computes=3):
        s1 = fdl.open_s1(s1_in)
        s2 = fdl.open_s2(s2_in)
    for out, nt, bands in ((s1, 12, ("VV", "VH")), (s2, 40, ("B04", "B08", "SCL"))):
        v = out["VV" if "VV" in out else "NDVI"]
        assert v.chunks[0] == (nt,)
        sizes = {max(v.chunks[1]), max(v.chunks[2])}
        assert len(sizes) == 1 and (c % min(sizes) == 0 or min(sizes) % c == 0)  # a divisor or a multiple of the input's
        assert nt * max(v.chunks[1]) * max(v.chunks[2]) * 4 <= dask.utils.parse_bytes(target)
        graph = out.__dask_graph__()
        sources = [k for k, deps in graph.dependencies.items() if not deps]
        read = sum(len(graph.layers[k]) for k in sources)
        assert read - len(bands) * nt * per_date in (0, 1)  # the bands as read (and a constant)
        per_date_layers = [k for k in graph.layers if k not in sources and len(graph.layers[k]) >= nt * per_date]
        assert per_date_layers == []  # before: each decoding step (6-12 of them) a layer of dates x chunks tasks
        assert len(graph) - read < 2 * nt * per_date
    a, b = max(s1["VV"].chunks[1]), max(s2["NDVI"].chunks[1])
    assert max(a, b) % min(a, b) == 0 and (max(a, b) // min(a, b)) & (max(a, b) // min(a, b) - 1) == 0  # nest: 2**k
    xr.testing.assert_allclose(s1.compute(), fdl.open_s1(s1_in.load()), rtol=1e-6)
    xr.testing.assert_allclose(s2.compute(), fdl.open_s2(s2_in.load()), rtol=1e-6)
    with dask.config.set({"array.chunk-size": target}):
        cube = fdl.align(s1, s2, tolerance="3D")
    assert cube["NDVI"].chunks == cube["VV"].chunks == s1["VV"].chunks


def test_one_date_per_chunk_with_a_time_range_reads_only_the_dates_kept():
    """The dates a time_range keeps are merged into a chunk of their own: merging every date first would make the
    selection read them all."""
    raw = s1_raw(nt=12, ny=32, nx=32)
    ds = raw.copy()
    for b in ("VV", "VH"):
        ds[b] = (("t", "y", "x"), _lazy(raw[b].values, (1, 16, 16), f"{b}-src"))
    s1 = fdl.open_s1(ds, units="dB", time_range=("2021-03-07", "2021-03-19"))
    assert s1.sizes["time"] == 3 and s1["VV"].chunks[0] == (3,)
    read = _source_chunks([s1["VV"], s1["VH"]], "VV-src") | _source_chunks([s1["VV"], s1["VH"]], "VH-src")
    assert {k[1] for k in read} == {1, 2, 3} and len(read) == 2 * 3 * 4
    np.testing.assert_allclose(s1["VV"].values, raw["VV"].values[1:4])


def test_chunks_given_by_the_caller_are_kept_with_one_date_per_chunk():
    s1_in = _per_date(s1_raw(nt=8, ny=32, nx=32), 16)
    with raise_if_dask_computes(max_computes=2):
        s1 = fdl.open_s1(s1_in, chunks={"y": 8, "x": 32})
    assert s1["VV"].chunks == ((8,), (8,) * 4, (32,))
    with raise_if_dask_computes(max_computes=2):
        s1 = fdl.open_s1(s1_in, chunks={"time": 2, "y": 8})
    assert s1["VV"].chunks == ((2,) * 4, (8,) * 4, (16, 16))


def test_series_chunks_split_or_group_the_input_chunks_by_a_power_of_two():
    mib = 2**20
    grid = ((512,) * 10, (512,) * 10)
    assert _series_chunks(grid, 182, target=128 * mib) == [(256,) * 20] * 2  # 45.5 MiB
    assert _series_chunks(grid, 219, target=128 * mib) == [(256,) * 20] * 2  # S2 of the same tile: equal
    assert _series_chunks(grid, 100, target=128 * mib) == [(512,) * 10] * 2  # as read
    assert _series_chunks(grid, 30, target=128 * mib) == [(1024,) * 5] * 2  # two by two
    assert _series_chunks(grid, 600, target=128 * mib) == [(128,) * 40] * 2
    # boundaries kept: a short last chunk, and a whole-dimension chunk cut into power-of-two pieces
    assert _series_chunks(((512, 512, 100), (1100,)), 182, target=128 * mib) == [(128,) * 8 + (100,), (512, 512, 76)]
    # rows of one pixel (netCDF written row by row) are grouped
    assert _series_chunks(((1,) * 64, (5120,)), 182, target=128 * mib) == [(32, 32), (5120,)]
