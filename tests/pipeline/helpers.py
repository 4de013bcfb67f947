"""Shared helpers of the batch-pipeline tests: a two-region config on the bundled sample, comparing stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from fusets_dl.sample import find_sample
from tests.paths import REPO


def sample_config(root: Path, **extra) -> dict:
    """A run of two regions (``a``: the whole sample, ``b``: 2021 only) into ``root``, tiles of 32 pixels."""
    sample = find_sample()
    cfg = {
        "output_root": str(root),
        "model": {"mode": "train", "train": {"max_epochs": 2, "hidden": [32, 16], "seed": 0, "block_size": 8}},
        "defaults": {"tile_size": 32, "chunk": 32, "freq": "5D", "phenology": {"max_seasons": 4}},
        "regions": [
            {"name": "a", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc")},
            {"name": "b", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc"), "time_range": ["2021-01-01", "2021-12-31"]},
        ],
    }
    cfg.update(extra)
    return cfg


def write_config(tmp: Path, cfg: dict) -> Path:
    """Write ``cfg`` as ``tmp/run.yaml``."""
    p = tmp / "run.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def store_arrays(store: Path) -> dict[str, np.ndarray]:
    """Every data variable of a Zarr store, computed."""
    ds = xr.open_zarr(store)
    return {str(v): ds[v].values for v in ds.data_vars}


def assert_same_stores(a: Path, b: Path) -> None:
    """The two stores hold the same variables with bit-identical values."""
    xa, xb = store_arrays(a), store_arrays(b)
    assert xa.keys() == xb.keys()
    for k in xa:
        np.testing.assert_array_equal(xa[k], xb[k], err_msg=k)


def cli_env() -> dict:
    """The environment of a ``python -m fusets_dl`` subprocess: this checkout first, one thread."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # same float results in every process
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def cli_run(cfg_path: Path) -> subprocess.Popen:
    """Start ``fusets-dl -q run cfg_path`` in a subprocess."""
    return subprocess.Popen([sys.executable, "-m", "fusets_dl", "-q", "run", str(cfg_path)], env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
