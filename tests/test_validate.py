"""The option checks shared by the stages: finite positive numbers and whole numbers."""

from __future__ import annotations

import numpy as np
import pytest

from fusets_dl.validate import is_finite_positive, is_whole


@pytest.mark.parametrize(("value", "ok"), [
    (1, True), (0.5, True), (np.float32(2.0), True), (np.int64(3), True),
    (0, False), (-1.0, False), (float("nan"), False), (float("inf"), False), (True, False), ("1", False), (None, False),
])
def test_is_finite_positive(value, ok):
    assert is_finite_positive(value) is ok


@pytest.mark.parametrize(("value", "ok"), [
    (3, True), (3.0, True), (np.int32(2), True), (0, True),
    (2.5, False), (float("nan"), False), (float("inf"), False), (True, False), ("3", False), (None, False),
])
def test_is_whole(value, ok):
    assert is_whole(value) is ok
