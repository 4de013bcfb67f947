"""The counter-based random numbers: fixed values, broadcasting, and the compiled path equal to NumPy's."""

from __future__ import annotations

import numpy as np
import pytest

from fusets_dl import _rng


def _numpy_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_rng, "_FUSE_MIN", 1 << 62)


def test_splitmix_values_are_pinned() -> None:
    """A hand-checked value: splitmix64's finaliser of 0 is 0 and of 1 is 0x5692161D100B05E5."""
    assert int(_rng._mix(np.uint64(0))) == 0
    assert int(_rng._mix(np.uint64(1))) == 0x5692161D100B05E5


@pytest.mark.parametrize("shape", [(146, 256, 256), (1, 300, 400)])
def test_compiled_last_stage_is_bit_identical_to_numpy(shape: tuple[int, int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("numba")
    t, y, x = (np.arange(n).reshape([-1 if i == k else 1 for i in range(3)]) for k, n in enumerate(shape))
    fast_u, fast_n = _rng.hash_uniform(3, 17, t, y, x), _rng.hash_normal(3, 17, t, y, x)
    _numpy_only(monkeypatch)
    slow_u, slow_n = _rng.hash_uniform(3, 17, t, y, x), _rng.hash_normal(3, 17, t, y, x)
    assert fast_u.shape == shape and fast_u.dtype == np.float64
    np.testing.assert_array_equal(fast_u, slow_u)
    np.testing.assert_array_equal(fast_n, slow_n)


def test_values_depend_on_the_index_not_on_the_block() -> None:
    """A block drawn alone equals the same block cut from a larger draw (chunk invariance)."""
    t, y, x = np.arange(5)[:, None, None], np.arange(300)[None, :, None], np.arange(300)[None, None, :]
    whole = _rng.hash_normal(0, 1, t, y, x)
    part = _rng.hash_normal(0, 1, t, y[:, 100:130], x[..., 7:9])
    np.testing.assert_array_equal(part, whole[:, 100:130, 7:9])
    assert _rng.hash_uniform(0, 1, 2, 3, 4) == pytest.approx(_rng.hash_uniform(0, 1, t, y, x)[2, 3, 4], abs=0)


def test_uniform_and_normal_moments() -> None:
    u = _rng.hash_uniform(0, 5, np.arange(40)[:, None, None], np.arange(100)[None, :, None], np.arange(100)[None, None, :])
    n = _rng.hash_normal(0, 5, np.arange(40)[:, None, None], np.arange(100)[None, :, None], np.arange(100)[None, None, :])
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    assert abs(n.mean()) < 0.01 and abs(n.std() - 1) < 0.01
