"""A region's output paths (confined to the root) and atomic JSON writes."""

from __future__ import annotations

import json

import pytest

from fusets_dl.errors import ConfigError
from fusets_dl.pipeline.outputs import output_path, write_json_atomic


def test_output_path_is_confined_to_the_root(tmp_path):
    assert output_path(tmp_path, "a", ".zarr") == (tmp_path / "a.zarr").resolve()
    with pytest.raises(ConfigError, match="escapes the output root"):
        output_path(tmp_path, "../a", ".zarr")


def test_write_json_atomic_leaves_no_temporary_file(tmp_path):
    write_json_atomic(tmp_path / "m.json", {"x": 1.5}, indent=2)
    assert json.loads((tmp_path / "m.json").read_text()) == {"x": 1.5}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_region_stats_counts_chunk_by_chunk_exactly(tmp_path):
    import numpy as np
    import xarray as xr

    from fusets_dl.pipeline.outputs import region_stats

    # 2 x 4 x 5 flags: 17 observed, 13 predicted, 1 interpolated, 9 missing; seasons 0..3 over 20 pixels (sum 30, then 32)
    flags = np.array([0] * 17 + [1] * 13 + [2] + [3] * 9, dtype=np.uint8)
    source = np.random.default_rng(0).permutation(flags).reshape(2, 4, 5)
    n_seasons = np.array([0, 1, 2, 3] * 5, dtype=np.int8).reshape(4, 5)
    n_seasons[0, 0] = 2  # 0 -> 2: sum 32 -> 1.6
    ds = xr.Dataset({"source": (("time", "y", "x"), source), "n_seasons": (("y", "x"), n_seasons)})
    ds.chunk({"time": 1, "y": 3, "x": 2}).to_zarr(tmp_path / "s.zarr")
    assert region_stats(tmp_path / "s.zarr") == {"observed": 0.425, "predicted": 0.325, "missing": 0.225, "mean_seasons": 1.6}
    # phenology on the kept classes only: the mean over their pixels (the others hold no season by construction)
    cls = np.array([1, 1, 2, 2, 2] * 4, dtype=np.int16).reshape(4, 5)
    ds.assign(**{"class": (("y", "x"), cls)}).chunk({"time": 1, "y": 3, "x": 2}).to_zarr(tmp_path / "c.zarr")
    kept = n_seasons[cls == 1].astype(float)
    assert region_stats(tmp_path / "c.zarr", keep=[1])["mean_seasons"] == round(kept.mean(), 2)
    assert region_stats(tmp_path / "c.zarr")["mean_seasons"] == 1.6
    # seasons seen nowhere (observed_fraction 0) among those found (finite): 2 of 5
    frac = np.full((2, 4, 5), np.nan, dtype=np.float32)
    frac[0, 0, :3], frac[1, 2, :2] = [0.0, 0.5, 1.0], [0.0, 0.25]
    ds.assign(observed_fraction=(("season", "y", "x"), frac)).chunk({"y": 3, "x": 2}).to_zarr(tmp_path / "f.zarr")
    assert region_stats(tmp_path / "f.zarr")["unobserved_seasons"] == 0.4
    assert "unobserved_seasons" not in region_stats(tmp_path / "s.zarr")  # a store written before 2026-11-28
