"""Shared fixtures: real-data location, Dask compute counter, small scenes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import dask
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
WC = SHARED_DATA / "worldcereal_patch_flanders_2018"
WC_S1 = WC / "S1_GRD-ASCENDING_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
WC_S2_10 = WC / "S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
WC_S2_20 = WC / "S2_L2A_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
GF_S1 = SHARED_DATA / "gfmap_apr2023" / "cdse_sentinel1_grd.nc"
GF_S2 = SHARED_DATA / "gfmap_apr2023" / "cdse_sentinel2_l2a.nc"
MONTHLY = SHARED_DATA / "worldcereal_monthly" / "worldcereal_preprocessed_inputs.nc"
FIELD_S2 = SHARED_DATA / "fusets_field" / "raw_s2_ndvi_field.nc"
FIELD_CSV = SHARED_DATA / "fusets_field" / "mogpr_input.csv"


def pytest_configure(config: pytest.Config) -> None:
    """One torch thread per xdist worker: two workers on two cores must not oversubscribe."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``realdata`` tests with a clear reason when ../shared/data is absent."""
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"real Sentinel samples not found at {SHARED_DATA} (../shared/data beside the repo)")
    for item in items:
        if "realdata" in item.keywords:
            item.add_marker(skip)


class CountingScheduler:
    """A Dask scheduler that counts computations and can refuse them."""

    def __init__(self, max_computes: int = 0) -> None:
        self.max_computes = max_computes
        self.total_computes = 0

    def __call__(self, dsk, keys, **kwargs):
        self.total_computes += 1
        if self.total_computes > self.max_computes:
            raise RuntimeError(f"Too many Dask computations: {self.total_computes} > {self.max_computes} allowed")
        return dask.get(dsk, keys, **kwargs)


@contextlib.contextmanager
def raise_if_dask_computes(max_computes: int = 0) -> Iterator[CountingScheduler]:
    """Context in which more than ``max_computes`` Dask computations raise."""
    scheduler = CountingScheduler(max_computes)
    with dask.config.set(scheduler=scheduler):
        yield scheduler


@pytest.fixture(scope="session")
def small_scene():
    """A 24 x 20 synthetic scene over one year (raw s1, s2, truth), in memory."""
    from fusets_dl.synthetic import make_scene

    return make_scene(24, 20, "2021-01-01", "2021-12-31", seed=7)


@pytest.fixture(scope="session")
def small_cube(small_scene):
    """The fusion cube (pairing within 3 days) of ``small_scene``, in memory."""
    from fusets_dl.align import align
    from fusets_dl.io import open_s1, open_s2

    s1, s2, _truth = small_scene
    return align(open_s1(s1), open_s2(s2), outlier_filter=True).load()
