"""The compiled S1 kernel against its NumPy reference: bit-identical columns over the switches of FeatureSpec."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fusets_dl.errors import DimensionError
from fusets_dl.features import FeatureSpec
from fusets_dl.features.sar import feature_kernel, feature_kernel_numpy, sar_names

NT = 40


def _series(shape: tuple[int, ...], seed: int = 0, nt: int = NT) -> tuple[np.ndarray, np.ndarray]:
    """VV, VH (dB, float32) with random gaps, values below the noise floor, -inf, an all-NaN and a one-date pixel."""
    rng = np.random.default_rng(seed)
    full = (*shape, nt)
    vv = rng.normal(-12, 4, full).astype(np.float32)
    vh = (vv - 6 + rng.normal(0, 2, full)).astype(np.float32)
    vv[rng.random(full) < 0.2] = np.nan
    vh[rng.random(full) < 0.05] = np.nan
    vv[rng.random(full) < 0.03] = -47.0  # below the floor: -40
    vh[rng.random(full) < 0.02] = -np.inf  # floored too, so valid
    flat_vv, flat_vh = vv.reshape(-1, nt), vh.reshape(-1, nt)
    if flat_vv.shape[0] >= 3:
        flat_vv[0] = np.nan  # no valid acquisition
        flat_vv[1] = np.nan
        flat_vv[1, nt // 2] = -9.0  # one valid acquisition
        flat_vh[1, nt // 2] = -15.0
    return vv, vh


def _days(nt: int = NT, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Irregular days (steps of 1..12) and their day of year."""
    days = np.cumsum(np.random.default_rng(seed).integers(1, 13, nt)).astype(np.float64)
    return days, (days + 17.25) % 365.25


GROUPS = {
    "none": None,
    "alternating": np.arange(NT) % 2,
    "irregular": np.random.default_rng(5).choice([3, 7, 11], NT),
    "one": np.full(NT, 4),
}


def _assert_same(got: np.ndarray, want: np.ndarray) -> None:
    """The same shape, dtype and NaN pattern, and bit-identical finite values."""
    assert got.shape == want.shape and got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    fin = np.isfinite(want)
    bad = got.view(np.int32)[fin] != want.view(np.int32)[fin]
    assert not bad.any(), f"{bad.sum()} values differ, max {np.max(np.abs(got[fin] - want[fin]))}"


def _specs() -> list[FeatureSpec]:
    """Every switch on and off, lags 0..3 in both modes, rolling 0/3/5, windows/trends empty or not, three normalisations."""
    specs = [FeatureSpec(), FeatureSpec(groups=("time",)), FeatureSpec(groups=("sar",)), FeatureSpec(doy=False)]
    for name in ("backscatter", "rvi", "ratios", "interaction", "differences", "dt", "anomaly"):
        specs.append(FeatureSpec(**{name: False}))
    for lags, mode, rolling in itertools.product((0, 1, 3), ("orbit", "any"), (0, 3, 5)):
        specs.append(FeatureSpec(lags=lags, lag_mode=mode, rolling=rolling, windows=() if rolling == 3 else (10, 30), trends=() if lags == 1 else (20, 60)))
    for norm in ("pixel", "pixel_orbit"):
        specs += [FeatureSpec(s1_normalise=norm), FeatureSpec(s1_normalise=norm, lag_mode="any", lags=2, anomaly=True, windows=(), rolling=3)]
    specs.append(FeatureSpec(lags=2, differences=False, dt=True, rolling=0, windows=(), trends=(), anomaly=False, rvi=False, ratios=False, interaction=False))
    return specs


@pytest.mark.parametrize("groups", list(GROUPS), ids=list(GROUPS))
def test_compiled_equals_the_reference_over_the_switches(groups):
    vv, vh = _series((12,))
    days, doy = _days()
    for spec in _specs():
        _assert_same(feature_kernel(vv, vh, days, doy, spec, GROUPS[groups]), feature_kernel_numpy(vv, vh, days, doy, spec, GROUPS[groups]))


@pytest.mark.parametrize("shape", [(), (1,), (9,), (1, 1), (3, 4), (1, 5)])
@pytest.mark.parametrize("norm", ["none", "pixel", "pixel_orbit"])
def test_leading_shapes(shape, norm):
    # the reference's z-scores sum a single series pairwise and a batch one date after the other: both are matched
    vv, vh = _series(shape, seed=len(shape))
    days, doy = _days()
    spec = FeatureSpec(s1_normalise=norm)
    got = feature_kernel(vv, vh, days, doy, spec, GROUPS["alternating"])
    assert got.shape == (*shape, NT, len(spec.names))
    _assert_same(got, feature_kernel_numpy(vv, vh, days, doy, spec, GROUPS["alternating"]))


def test_float64_and_non_contiguous_input():
    vv, vh = _series((6, 5))
    days, doy = _days()
    spec = FeatureSpec(s1_normalise="pixel_orbit")
    want = feature_kernel_numpy(vv, vh, days, doy, spec, GROUPS["irregular"])
    # float64 input is rounded to float32 first, as the reference does
    v64, h64 = vv.astype(np.float64) + 1e-9, vh.astype(np.float64)
    _assert_same(feature_kernel(v64, h64, days, doy, spec, GROUPS["irregular"]), feature_kernel_numpy(v64, h64, days, doy, spec, GROUPS["irregular"]))
    # (time, y, x) memory seen as (y, x, time), and every other pixel of a wider array
    tyx_vv, tyx_vh = np.ascontiguousarray(np.moveaxis(vv, -1, 0)), np.ascontiguousarray(np.moveaxis(vh, -1, 0))
    _assert_same(feature_kernel(np.moveaxis(tyx_vv, 0, -1), np.moveaxis(tyx_vh, 0, -1), days, doy, spec, GROUPS["irregular"]), want)
    wide_vv, wide_vh = np.repeat(vv, 2, axis=1), np.repeat(vh, 2, axis=1)
    _assert_same(feature_kernel(wide_vv[:, ::2], wide_vh[:, ::2], days, doy, spec, GROUPS["irregular"]), want)


def test_out_is_a_strided_column_slice_of_a_larger_buffer():
    vv, vh = _series((4, 3))
    days, doy = _days()
    spec = FeatureSpec()
    n = len(spec.names)
    buf = np.full((4, 3, NT, n + 7), 123.0, dtype=np.float32)
    got = feature_kernel(vv, vh, days, doy, spec, GROUPS["alternating"], out=buf[..., 3 : 3 + n])
    assert np.shares_memory(got, buf) and got.shape == (4, 3, NT, n)
    _assert_same(buf[..., 3 : 3 + n], feature_kernel_numpy(vv, vh, days, doy, spec, GROUPS["alternating"]))
    assert (buf[..., :3] == 123.0).all() and (buf[..., 3 + n :] == 123.0).all()  # the other columns untouched
    # an out whose pixels do not merge into one axis (every other x) is written too
    buf2 = np.full((4, 6, NT, n), 123.0, dtype=np.float32)
    feature_kernel(vv, vh, days, doy, spec, GROUPS["alternating"], out=buf2[:, ::2])
    _assert_same(buf2[:, ::2], feature_kernel_numpy(vv, vh, days, doy, spec, GROUPS["alternating"]))
    assert (buf2[:, 1::2] == 123.0).all()


def test_hand_computed_edge_pixels():
    vv, vh = _series((5,))
    days, doy = _days()
    spec = FeatureSpec(lags=1, rolling=3, windows=(1,), trends=(), anomaly=True)
    f = feature_kernel(vv, vh, days, doy, spec, None)
    names = spec.names
    assert np.isnan(f[0]).all()  # no valid acquisition: every column NaN, the time columns included
    one = f[1, NT // 2]
    col = dict(zip(names, one, strict=True))
    assert col["VV"] == -9.0 and col["VH"] == -15.0 and np.isnan(col["VV_lag1"]) and np.isnan(col["dt_lag1"])
    assert col["VV_roll"] == -9.0 and col["VV_w1"] == -9.0 and col["VV_anom"] == 0.0 and col["VH_anom"] == 0.0
    assert np.isnan(np.delete(f[1], NT // 2, axis=0)).all()
    vv[2, 0], vh[2, 0], vh[2, 1], vv[2, 1] = -47.0, -10.0, -np.inf, -8.0
    g = feature_kernel(vv, vh, days, doy, spec, None)
    assert g[2, 0, names.index("VV")] == -40.0 and g[2, 1, names.index("VH")] == -40.0  # the noise floor; -inf is floored too


def test_bad_arguments_raise_dimension_errors():
    vv, vh = _series((3,))
    days, doy = _days()
    spec = FeatureSpec()
    with pytest.raises(DimensionError, match="float32 array of shape"):
        feature_kernel(vv, vh, days, doy, spec, out=np.empty((3, NT, len(spec.names)), np.float64))
    with pytest.raises(DimensionError, match="float32 array of shape"):
        feature_kernel(vv, vh, days, doy, spec, out=np.empty((3, NT, 5), np.float32))
    with pytest.raises(DimensionError, match="one shape"):
        feature_kernel(vv, vh[:2], days, doy, spec)
    with pytest.raises(DimensionError, match="groups of shape"):
        feature_kernel(vv, vh, days, doy, spec, np.zeros(NT - 1, int))


def test_no_sar_columns_gives_the_time_columns_unmasked():
    vv, vh = _series((3,))
    days, doy = _days()
    spec = FeatureSpec(groups=("time",))
    f = feature_kernel(vv, vh, days, doy, spec)
    assert f.shape == (3, NT, 2) and np.isfinite(f).all()
    np.testing.assert_array_equal(f[0, :, 0], np.sin(2 * np.pi * doy / 365.25).astype(np.float32))
    assert sar_names(spec) and "VV" not in spec.names


@pytest.mark.slow
def test_long_series_and_larger_batches():
    # more than 128 dates in a group: NumPy's pairwise sum splits the range (single series) — matched too
    nt = 300
    days = np.arange(nt) * 6.0
    doy = days % 365.25
    for shape, groups in (((), None), ((), np.arange(nt) % 2), ((40,), np.arange(nt) % 3)):
        vv, vh = _series(shape, seed=3, nt=nt)
        for norm in ("none", "pixel", "pixel_orbit"):
            spec = FeatureSpec(s1_normalise=norm, lags=3, rolling=7)
            _assert_same(feature_kernel(vv, vh, days, doy, spec, groups), feature_kernel_numpy(vv, vh, days, doy, spec, groups))


def test_first_calls_from_several_threads_at_once(tmp_path):
    # Dask threads may make the first call together: the kernel is built once (a fresh process, nothing built yet)
    code = (
        "import numpy as np\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from fusets_dl.features import FeatureSpec\n"
        "from fusets_dl.features.sar import feature_kernel, feature_kernel_numpy\n"
        "vv = np.random.default_rng(0).normal(-12, 3, (8, 30)).astype(np.float32)\n"
        "days = np.arange(30) * 6.0\n"
        "run = lambda _: feature_kernel(vv, vv - 6, days, days % 365.25, FeatureSpec())\n"
        "with ThreadPoolExecutor(6) as pool:\n"
        "    outs = list(pool.map(run, range(6)))\n"
        "want = feature_kernel_numpy(vv, vv - 6, days, days % 365.25, FeatureSpec())\n"
        "assert all(np.array_equal(o, want, equal_nan=True) for o in outs)\n"
        "print('ok')\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}, timeout=600)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
