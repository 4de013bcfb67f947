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


def test_missing_spatial_coordinates_are_refused_by_the_readers_and_the_stages():
    """A NaN pixel centre put pixels nowhere: the stages took it and the readers named it 'not monotonic'."""
    import fusets_dl as fdl
    from fusets_dl.errors import DimensionError
    from fusets_dl.synthetic import make_scene

    s1, s2, _ = make_scene(ny=4, nx=5, start="2021-01-01", end="2021-03-01", seed=0)
    x = s1["x"].values.astype(float).copy()
    x[2] = np.nan
    with pytest.raises(DimensionError, match=r"expected finite x coordinates, found 1 of 5 missing or infinite \(at positions \[2\]\)"):
        fdl.open_s1(s1.assign_coords(x=x))
    cube = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2))
    y = cube["y"].values.astype(float).copy()
    y[0] = np.inf
    with pytest.raises(DimensionError, match="fusion cube: expected finite y coordinates"):
        fdl.compute_features(cube.assign_coords(y=y))


def test_is_finite_positive_takes_huge_integers_without_a_type_error():
    """``reconstruct(lam=10**30)`` raised a TypeError from np.isfinite on a Python int beyond int64."""
    assert is_finite_positive(10**30)
    assert not is_finite_positive(10**400)  # beyond float64: not usable as a number of the stages
    assert not is_finite_positive(np.bool_(True)) and not is_finite_positive(True)


def test_naive_utc_converts_zoned_dates_and_keeps_naive_ones():
    import pandas as pd

    from fusets_dl.validate import naive_utc

    zoned = pd.DatetimeIndex(["2021-06-01T02:00"]).tz_localize("Europe/Brussels")
    assert naive_utc(zoned)[0] == pd.Timestamp("2021-06-01T00:00") and naive_utc(zoned).tz is None
    assert naive_utc(pd.Timestamp("2021-06-01T09:00+09:00")) == pd.Timestamp("2021-06-01T00:00")
    naive = pd.DatetimeIndex(["2021-06-01T02:00"])
    assert naive_utc(naive) is naive
