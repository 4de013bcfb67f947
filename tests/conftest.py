"""Shared fixtures: the real-data skip, one torch thread per xdist worker, small scenes."""

from __future__ import annotations

import os

import pytest

from tests.paths import SHARED_DATA


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


@pytest.fixture(scope="session")
def small_scene():
    """A 24 x 20 synthetic scene over one year (raw s1, s2, truth), in memory."""
    from fusets_dl.synthetic import make_scene

    return make_scene(24, 20, "2021-01-01", "2021-12-31", seed=7)


@pytest.fixture(scope="session")
def small_cube(small_scene):
    """The fusion cube (pairing within 3 days) of ``small_scene``, in memory."""
    from fusets_dl.alignment import align
    from fusets_dl.readers import open_s1, open_s2

    s1, s2, _truth = small_scene
    return align(open_s1(s1), open_s2(s2), outlier_filter=True).load()
