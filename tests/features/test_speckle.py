"""The multi-temporal speckle filter: hand-computed J, identities, missing data, laziness, chunk invariance, errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, DimensionError, EncodingError, MissingVariableError
from fusets_dl.features import speckle_filter
from fusets_dl.testing import assert_lazy, raise_if_dask_computes

T6 = pd.date_range("2021-01-01T06:00", periods=2, freq="6D")


def lin_cube(vv, vh=None, times=None, units="1"):
    """A cube from (time, y, x) arrays of linear power (or dB with ``units="dB"``)."""
    vv = np.asarray(vv, dtype=np.float32)
    vh = vv if vh is None else np.asarray(vh, dtype=np.float32)
    times = pd.date_range("2021-01-01T06:00", periods=vv.shape[0], freq="6D") if times is None else times
    ny, nx = vv.shape[1:]
    return xr.Dataset(
        {"VV": (("time", "y", "x"), vv, {"units": units}), "VH": (("time", "y", "x"), vh, {"units": units})},
        coords={"time": times, "y": np.arange(ny, dtype=float), "x": np.arange(nx, dtype=float)},
    )


def speckled(seed=0, nt=10, ny=13, nx=11):
    """A dB cube of Gamma speckle (4 looks) with a missing date and a missing pixel, two orbit groups."""
    rng = np.random.default_rng(seed)
    times = pd.DatetimeIndex([pd.Timestamp("2021-01-01") + pd.Timedelta(days=3 * i, hours=6 if i % 2 == 0 else 18) for i in range(nt)])
    lin = rng.gamma(4, 0.1 / 4, size=(nt, ny, nx))
    db = 10 * np.log10(lin)
    db[2] = np.nan
    db[4, 5, 5] = np.nan
    ds = lin_cube(db, db - 6, times=times, units="dB")
    return ds.assign(NDVI=(("time", "y", "x"), np.full((nt, ny, nx), 0.5, np.float32)))


def test_hand_computed_j_on_a_3x3_boxcar():
    # date 0: ones with 2 at the centre; date 1: ones. Border pixels average the part of the window inside the image.
    i0 = np.ones((3, 3))
    i0[1, 1] = 2.0
    out = speckle_filter(lin_cube(np.stack([i0, np.ones((3, 3))])), window=3, by_orbit=False)
    vv = out["VV"].values
    # centre: E0 = 10/9, E1 = 1; ratios 1.8 and 1, mean 1.4 -> J0 = 10/9 * 1.4, J1 = 1.4
    np.testing.assert_allclose(vv[:, 1, 1], [10 / 9 * 1.4, 1.4], rtol=1e-6)
    # corner: E0 = (1 + 1 + 1 + 2) / 4 = 1.25, ratio 0.8; E1 = 1, ratio 1; mean 0.9 -> J0 = 1.125, J1 = 0.9
    np.testing.assert_allclose(vv[:, 0, 0], [1.125, 0.9], rtol=1e-6)
    # edge (0, 1): E0 = (5 + 2) / 6 = 7/6, ratio 6/7; mean (6/7 + 1) / 2 = 13/14 -> J0 = 7/6 * 13/14, J1 = 13/14
    np.testing.assert_allclose(vv[:, 0, 1], [7 / 6 * 13 / 14, 13 / 14], rtol=1e-6)
    assert out["VV"].attrs["units"] == "1" and out["VV"].dtype == np.float32


def test_constant_in_time_is_the_identity_in_db():
    rng = np.random.default_rng(1)
    frame = -15 + 5 * rng.standard_normal((7, 6))
    cube = lin_cube(np.repeat(frame[None], 5, axis=0), units="dB")
    out = speckle_filter(cube, window=5)
    np.testing.assert_allclose(out["VV"].values, cube["VV"].values, atol=1e-4)


def test_filter_reduces_speckle_and_keeps_the_mean_level():
    cube = speckled()
    out = speckle_filter(cube, window=5, by_orbit=False)
    raw_lin, filt_lin = 10 ** (cube["VV"].values / 10), 10 ** (out["VV"].values / 10)
    # pure speckle around a constant 0.1: the filtered spread is several times smaller, the mean unchanged within 5 %
    assert np.nanstd(filt_lin) < 0.5 * np.nanstd(raw_lin)
    assert abs(np.nanmean(filt_lin) / np.nanmean(raw_lin) - 1) < 0.05


def test_missing_dates_and_pixels_stay_missing_and_count_nowhere():
    cube = speckled()
    out = speckle_filter(cube, window=3, by_orbit=False)
    assert np.isnan(out["VV"].values[2]).all()
    assert np.isnan(out["VV"].values[4, 5, 5])
    assert np.isfinite(out["VV"].values[[0, 1, 3]]).all() and np.isfinite(out["VV"].values[4, 5, 6])
    # a missing date is the same as a date that is not there
    dropped = speckle_filter(cube.drop_isel(time=2), window=3, by_orbit=False)
    np.testing.assert_array_equal(out["VV"].values[[0, 1, 3, 4]], dropped["VV"].values[[0, 1, 2, 3]])
    # the missing pixel is left out of its neighbours' means: hand-computed linear E at (4, 5, 6) over 8 valid values
    lin = 10 ** (cube["VV"].values.astype(np.float64) / 10)
    win = lin[4, 4:7, 5:8]
    assert np.isnan(win[1, 0])
    e4 = np.nanmean(win)
    ratios = [lin[k, 5, 6] / np.nanmean(lin[k, 4:7, 5:8]) for k in range(cube.sizes["time"]) if k != 2]
    np.testing.assert_allclose(10 ** (out["VV"].values[4, 5, 6] / 10), e4 * np.mean(ratios), rtol=1e-5)


def test_by_orbit_averages_ratios_within_each_orbit_group():
    # each orbit group constant in time but with a different spatial pattern: per orbit it is the identity, mixed it is not
    times = pd.to_datetime(["2021-01-01T06:00", "2021-01-02T18:00", "2021-01-07T06:00", "2021-01-08T18:00"])
    a = (np.arange(16, dtype=float).reshape(4, 4) + 1) / 100  # linear power 0.01-0.16 (-20 to -8 dB)
    b = a[::-1, ::-1].copy()
    cube = lin_cube(np.stack([a, b, a, b]), times=times)
    per_orbit = speckle_filter(cube, window=3, by_orbit=True)
    np.testing.assert_allclose(per_orbit["VV"].values, cube["VV"].values, rtol=1e-5)
    assert json.loads(per_orbit.attrs["speckle_filter"])["orbit_groups"] == 2
    mixed = speckle_filter(cube, window=3, by_orbit=False)
    assert not np.allclose(mixed["VV"].values, cube["VV"].values, rtol=1e-3)


def test_lazy_and_chunked_equals_unchunked_exactly():
    cube = speckled()
    ref = speckle_filter(cube, window=5)
    with raise_if_dask_computes():
        lazy = speckle_filter(cube.chunk({"time": 3, "y": 4, "x": 5}), window=5)
    assert_lazy(lazy[["VV", "VH"]])
    assert lazy["VV"].chunks[0] == (cube.sizes["time"],)
    for v in ("VV", "VH"):
        np.testing.assert_array_equal(lazy[v].values, ref[v].values)
    np.testing.assert_array_equal(lazy["NDVI"].values, cube["NDVI"].values)


def test_attributes_record_the_filter_and_other_variables_pass():
    cube = speckled()
    out = cube.fusion.speckle_filter(window=3, by_orbit=True)
    rec = json.loads(out["VH"].attrs["speckle_filter"])
    assert rec == {"method": "quegan-yu-2001", "window": 3, "by_orbit": True, "orbit_groups": 2}
    assert out.attrs["speckle_filter"] == out["VV"].attrs["speckle_filter"]
    assert out["VV"].attrs["units"] == "dB"
    assert "speckle_filter" not in cube.attrs  # the input is not modified
    xr.testing.assert_identical(fdl.speckle_filter(cube, window=3), out)
    with pytest.warns(UserWarning, match="already filtered"):
        speckle_filter(out, window=3)


def test_point_tables_fall_back_to_the_identity_with_a_warning():
    rng = np.random.default_rng(2)
    cube = lin_cube(rng.gamma(4, 0.025, size=(6, 1, 9)), units="1").assign_coords(point=("x", [f"p{i}" for i in range(9)]))
    with pytest.warns(UserWarning, match="point table.*window=1"):
        out = speckle_filter(cube, window=5)
    np.testing.assert_array_equal(out["VV"].values, cube["VV"].values)
    assert json.loads(out.attrs["speckle_filter"])["window"] == 1


@pytest.mark.parametrize("window", [0, 2, 4, -3, 2.0, True])
def test_bad_window_is_a_config_error(window):
    with pytest.raises(ConfigError, match="window expected an odd integer >= 1"):
        speckle_filter(speckled(), window=window)


def test_input_errors_name_what_was_found():
    cube = speckled()
    with pytest.raises(MissingVariableError, match="VH"):
        speckle_filter(cube.drop_vars("VH"))
    with pytest.raises(EncodingError, match="units='DN'"):
        speckle_filter(cube.assign(VV=cube["VV"].assign_attrs(units="DN")))
    with pytest.raises(DimensionError, match=r"VV on \(time, y, x\)"):
        speckle_filter(cube.assign(VV=cube["VV"].isel(x=0)))


def test_an_aligned_open_points_cube_is_recognised_as_points():
    from tests.readers.test_tables import _gee_tables

    cube = fdl.align(*fdl.open_points(*_gee_tables()))
    with pytest.warns(UserWarning, match="found a point table"):
        out = speckle_filter(cube)
    np.testing.assert_array_equal(out["VV"].values, cube["VV"].values)


def test_integer_db_and_infinities_filter_the_same_chunked_and_in_memory():
    """int16 dB: the NaN border padding was cast to int on Dask (0.63 dB off at borders); -inf stays missing."""
    rng = np.random.default_rng(5)
    vv = np.round(rng.normal(-11, 2, (6, 6, 7))).astype(np.int16)
    times = pd.date_range("2021-01-01T17:30", periods=6, freq="6D")
    cube = xr.Dataset({"VV": (("time", "y", "x"), vv, {"units": "dB"}), "VH": (("time", "y", "x"), vv - 6, {"units": "dB"})},
                      coords={"time": times, "y": np.arange(6.0), "x": np.arange(7.0)})
    eager = speckle_filter(cube, window=3)
    lazy = speckle_filter(cube.chunk({"y": 3, "x": 4}), window=3).compute()
    np.testing.assert_allclose(lazy["VV"].values, eager["VV"].values, rtol=0, atol=1e-5)
    flt = cube.assign(VV=cube["VV"].astype(np.float32))
    flt["VV"][2, 1, 1] = -np.inf
    out = speckle_filter(flt, window=3)["VV"].values
    assert np.isnan(out[2, 1, 1]) and np.isfinite(out[2, 1, 2])


def test_values_that_contradict_the_units_are_refused_or_warned():
    """Linear power under units='dB' was exponentiated as dB and filtered into garbage, silently."""
    rng = np.random.default_rng(1)
    lin = rng.gamma(4, 0.1 / 4, size=(6, 5, 5)).astype(np.float32)
    with pytest.raises(EncodingError, match=r"speckle_filter: VV: declared units='dB' but the values look linear"):
        speckle_filter(lin_cube(lin, units="dB"))
    with pytest.raises(EncodingError, match=r"speckle_filter: VV: declared units='linear' but the values look dB"):
        speckle_filter(lin_cube(10 * np.log10(lin), units="1"))
    undeclared = lin_cube(lin)
    for v in ("VV", "VH"):
        del undeclared[v].attrs["units"]
    with pytest.warns(UserWarning, match="speckle_filter: VV: no units declared, so dB was assumed"):
        speckle_filter(undeclared)
    # on Dask input the check runs per chunk when computed, not at call time
    with raise_if_dask_computes():
        lazy = speckle_filter(lin_cube(lin, units="dB").chunk({"y": 3}))
    with pytest.raises(EncodingError, match=r"speckle_filter: V[VH]: declared units='dB'.*Fix the variable's attrs\['units'\]"):
        lazy.compute()
    # consistent units pass untouched
    out = speckle_filter(lin_cube(lin))
    assert np.isfinite(out["VV"].values).all()


def test_arguments_of_the_wrong_kind_are_refused_or_read_as_meant(small_cube):
    """by_orbit='false' was read as True (and recorded so); variables='VV' was split into ['V', 'V']; window=5.0 was refused
    though FeatureSpec takes whole floats."""
    from fusets_dl.errors import ConfigError
    from fusets_dl.features import speckle_filter

    with pytest.raises(ConfigError, match=r"by_orbit: expected True or False, found str 'false'"):
        speckle_filter(small_cube, by_orbit="false")
    with pytest.raises(ConfigError, match=r"variables: expected a tuple of variable names .*found str 'VV' \(write \('VV',\)\)"):
        speckle_filter(small_cube, variables="VV")
    xr.testing.assert_identical(speckle_filter(small_cube, window=5.0), speckle_filter(small_cube, window=5))
    with pytest.raises(ConfigError, match=r"window expected an odd integer >= 1"):
        speckle_filter(small_cube, window=4.0)


def _reference_filter(lin, groups, window):
    """The filter written out in float64 as the formula reads: window means by nanmean, per-group mean of the ratios."""
    h = window // 2
    lin = np.where(np.isfinite(lin) & (lin >= 0), lin, np.nan).astype(np.float64)
    padded = np.pad(lin, ((0, 0), (h, h), (h, h)), constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (window, window), axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        mean = np.nanmean(windows, axis=(-2, -1))
        ratio = np.where(mean > 0, lin / mean, np.nan)
        out = np.full(lin.shape, np.nan)
        for g in np.unique(groups):
            out[groups == g] = np.nanmean(ratio[groups == g], axis=0)
        return np.where(np.isfinite(lin), mean * out, np.nan)


@pytest.mark.parametrize(("dtype", "rtol"), [(np.float64, 1e-12), (np.float32, 3e-7)])
@pytest.mark.parametrize("window", [3, 5])
def test_kernel_equals_a_float64_reference_on_a_random_cube(dtype, rtol, window):
    """The slab-by-slab kernel (means kept in the output dtype, ratio sums per orbit group date by date) against the formula
    in float64: values within the output's rounding, the same NaN pattern (missing pixels, a missing date, all-zero windows)."""
    from fusets_dl.features.speckle import _Kernel

    rng = np.random.default_rng(7)
    nt, ny, nx, h = 23, 17, 19, window // 2
    lin = rng.gamma(4, 0.025, size=(nt, ny, nx))
    lin[rng.random(lin.shape) < 0.05] = np.nan
    lin[:8, 8:13, 8:13] = 0.0  # windows of zeros on dates 0-7: no ratio there, J = 0 from the other dates' ratios (-inf dB: missing)
    lin[6] = np.nan
    lin[3, 1, 1] = np.inf
    groups = rng.integers(0, 3, nt)
    for db in (False, True):
        ref = _reference_filter(np.where(lin == 0, np.nan, lin) if db else lin, groups, window)
        with np.errstate(divide="ignore"):
            vals = (10 * np.log10(lin) if db else lin).astype(dtype)
        block = np.pad(vals, ((0, 0), (h, h), (h, h)), constant_values=np.nan)
        out = _Kernel(groups=groups, h=h, db=db, dtype=np.dtype(dtype))(block)
        assert out.dtype == dtype and out.shape == block.shape
        assert np.isnan(out[:, :h]).all() and np.isnan(out[:, :, :h]).all()
        got = out[:, h:h + ny, h:h + nx].astype(np.float64)
        if db:
            got = 10 ** (got / 10)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
        assert np.isnan(got[6]).all() and np.isnan(got[3, 1, 1])
        assert (np.isnan(got[[0, 1, 2, 3, 4, 5, 7], 10, 10]) if db else got[[0, 1, 2, 3, 4, 5, 7], 10, 10] == 0).all()
        np.testing.assert_allclose(got, ref, rtol=rtol * (2 if db else 1), atol=0)  # dB: its rounding, x ln(10) / 10 in linear


def test_kernel_peak_memory_is_a_small_multiple_of_the_block():
    """The all-at-once float64 kernel held ~20x the float32 block (lin, masks, box-mean inputs, mean, ratio, J at once: a
    512x512x182 task peaked at +4.3 GB). Slab by slab: the output plus a slab's temporaries (tracemalloc counts numpy's
    allocations, deterministic)."""
    import tracemalloc

    from fusets_dl.features.speckle import _Kernel

    rng = np.random.default_rng(3)
    nt, n, h = 120, 200, 2
    block = (-12 + 3 * rng.standard_normal((nt, n + 2 * h, n + 2 * h))).astype(np.float32)
    kernel = _Kernel(groups=np.arange(nt) % 3, h=h, db=True, dtype=np.dtype(np.float32))
    tracemalloc.start()
    try:
        out = kernel(block)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.isfinite(out[:, h:-h, h:-h]).all()
    assert peak < 2 * block.nbytes, f"kernel peak {peak / block.nbytes:.1f}x the block"
