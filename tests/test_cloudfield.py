"""The compiled cloud pass of the synthetic scene equals its NumPy reference bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from fusets_dl import _cloudfield
from fusets_dl import synthetic as syn


@pytest.mark.parametrize("shift", [(7, 5), (-3, 9)])
def test_compiled_scene_block_equals_the_numpy_reference(shift: tuple[int, int]) -> None:
    pytest.importorskip("numba")
    cfg = syn.SceneConfig(ny=120, nx=150, start="2021-01-01", end="2021-12-31", seed=3, shadow_shift=shift)
    scene = syn._Scene(cfg)
    yi, xi = np.arange(20, 120), np.arange(7, 150)
    fast = scene.s2(yi, xi)
    scene.compiled_clouds = False
    slow = scene.s2(yi, xi)
    np.testing.assert_array_equal(fast, slow)
    scl, flag = fast[2], fast[3]
    # every branch ran: thick cloud (8, 9), undetected and detected thin cloud, shadow
    assert {3, 8, 9, 10} <= set(np.unique(scl).tolist())
    assert (flag == 1).any() and (flag == 2).any()
    assert ((flag == 1) & (scl < 8) & (scl != 10)).any()  # thin cloud the mask missed


def test_one_date_by_hand() -> None:
    """A flat field above the threshold is thick cloud everywhere: the reflectances become the cloud's."""
    grid = np.full((6, 6), 2.0)
    yi, xi = np.arange(3), np.arange(4)
    u = np.full((3, 4), 0.4)
    for compiled in (True, False):
        red, nir = np.full((3, 4), 0.05), np.full((3, 4), 0.3)
        scl, flag = np.full((3, 4), 4, np.uint8), np.zeros((3, 4), np.uint8)
        _cloudfield.cloud_date(grid, yi, xi, 16.0, (7, 5), 0.0, 1.0, np.zeros((3, 4)), u, np.ones((3, 4)),
                               red, nir, scl, flag, compiled=compiled)
        np.testing.assert_allclose(red, 0.32 + 0.25 * 0.4)
        np.testing.assert_allclose(nir, (0.32 + 0.25 * 0.4) * (1.03 + 0.08 * 0.4))
        assert (scl == 8).all() and (flag == 1).all()  # v = 2 < thr + 2.5 band = 2.5: class 8, not 9
