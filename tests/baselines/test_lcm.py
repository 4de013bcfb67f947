"""MOGPR on xarray: the Dataset API, laziness, errors, and the FuseTS field series against GPy."""

from __future__ import annotations

import logging
import warnings

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.baselines import interpolate_linear, mogpr, mogpr_inputs, read_table
from fusets_dl.errors import (
    DimensionError,
    DuplicateTimeError,
    InsufficientDataError,
    MissingVariableError,
    SourceError,
)
from fusets_dl.testing import raise_if_dask_computes
from tests.paths import FIELD_CSV


def _scene(ny: int = 3, nx: int = 2, seed: int = 0) -> xr.Dataset:
    t = pd.date_range("2021-01-01", periods=40, freq="6D")
    days = np.arange(40) * 6.0
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, (ny, nx))
    sig = np.sin(2 * np.pi * days[:, None, None] / 200.0 + phase)
    ndvi = 0.5 + 0.25 * sig + rng.normal(0, 0.01, sig.shape)
    ndvi[rng.random(sig.shape) < 0.5] = np.nan
    rvi = 0.4 + 0.1 * sig + rng.normal(0, 0.01, sig.shape)
    rvi[1::2] = np.nan  # the radar on other dates
    return xr.Dataset({"NDVI": (("time", "y", "x"), ndvi), "RVI": (("time", "y", "x"), rvi)}, coords={"time": t, "y": np.arange(ny), "x": np.arange(nx)})


def test_dataset_api_shapes_names_and_times() -> None:
    ds = _scene()
    times = pd.date_range("2021-01-03", periods=7, freq="30D")
    out = mogpr(ds, target="NDVI", times=times, n_iter=30)
    assert set(out.data_vars) == {"NDVI", "NDVI_std", "RVI", "RVI_std"}
    assert out["NDVI"].dims == ("time", "y", "x") and out["NDVI"].shape == (7, 3, 2)
    np.testing.assert_array_equal(out["time"].values, times.values)
    assert out["NDVI"].dtype == np.float32 and np.isfinite(out["NDVI"]).all()
    assert (out["NDVI_std"] > 0).all()


def test_lazy_and_chunked_equals_unchunked() -> None:
    ds = _scene(ny=4, nx=2)
    eager = mogpr(ds, n_iter=25)
    lazy_in = ds.chunk({"y": 2, "x": 1})
    with raise_if_dask_computes():
        lazy = mogpr(lazy_in, n_iter=25)
    assert isinstance(lazy["NDVI"].data, da.Array)
    xr.testing.assert_allclose(lazy.compute(), eager, rtol=1e-4, atol=1e-5)


def test_single_series_and_reconstruction_beats_interpolation_in_a_gap() -> None:
    """A 1-D series whose NDVI peak falls in a gap: the radar output carries it, interpolation cuts it off."""
    t = pd.date_range("2021-01-01", periods=40, freq="6D")
    days = np.arange(40) * 6.0
    rng = np.random.default_rng(4)
    sig = np.sin(2 * np.pi * days / 200.0)  # peak at day 50
    truth = 0.5 + 0.25 * sig
    gap = (days > 20) & (days < 90)
    ndvi = np.where(gap, np.nan, truth + rng.normal(0, 0.01, 40))
    rvi = 0.4 + 0.1 * sig + rng.normal(0, 0.01, 40)
    ds = xr.Dataset({"NDVI": ("time", ndvi), "RVI": ("time", rvi)}, coords={"time": t})
    out = mogpr(ds, n_iter=80, dtype="float64")
    assert out["NDVI"].dims == ("time",)
    err_gp = np.sqrt(np.mean((out["NDVI"].values[gap] - truth[gap]) ** 2))
    err_lin = np.sqrt(np.mean((interpolate_linear(ds["NDVI"]).values[gap] - truth[gap]) ** 2))
    assert err_lin > 0.08
    assert err_gp < 0.4 * err_lin, (err_gp, err_lin)


def test_errors_say_what_was_expected() -> None:
    ds = _scene()
    with pytest.raises(MissingVariableError, match="missing \\['EVI'\\]"):
        mogpr(ds, target="EVI")
    with pytest.raises(DimensionError, match="'time' dimension"):
        mogpr(ds.rename(time="t"))
    with pytest.raises(TypeError, match="unknown settings"):
        mogpr(ds, n_iters=5)
    with pytest.raises(DimensionError, match="Dataset"):
        mogpr(ds["NDVI"])  # type: ignore[arg-type]
    with pytest.raises(SourceError, match="no 'nowhere.csv'"):
        read_table("nowhere.csv")


def test_fusion_cube_inputs_and_accessor(small_cube: xr.Dataset) -> None:
    inp = mogpr_inputs(small_cube)
    assert "NDVI" in inp and any(v.startswith("RVI") for v in inp.data_vars)
    vv, vh = 10 ** (small_cube["VV"] / 10), 10 ** (small_cube["VH"] / 10)
    rvi = (4 * vh / (vv + vh)).values
    got = np.nanmax(np.stack([inp[v].values for v in inp.data_vars if v.startswith("RVI")]), axis=0)
    np.testing.assert_allclose(got, rvi, rtol=1e-5)
    out = small_cube.isel(y=slice(0, 2), x=slice(0, 2)).fusion.mogpr(n_iter=10)
    assert out["NDVI"].shape == (small_cube.sizes["time"], 2, 2)


@pytest.mark.realdata
def test_field_series_against_gpy_and_interpolation() -> None:
    """FuseTS's field series: NDVI hidden in five contiguous 45-day blocks, reconstructed from the two RVI series.

    22 of the 33 clear NDVI dates fall into the blocks (days 30-75, 95-140,
    160-205, 225-270, 290-335 of 2019). The reference is GPy's
    GPCoregionalizedRegression with LCM(Matern32) as FuseTS sets it up,
    averaged over three random initialisations (GPy's W starts at random).
    """
    ds = read_table(FIELD_CSV)
    days = ((ds["time"] - ds["time"][0]) / np.timedelta64(1, "D")).values
    nd = ds["NDVI"].values
    hidden = np.isfinite(nd) & np.any([(days >= s) & (days < s + 45) for s in (30, 95, 160, 225, 290)], axis=0)
    assert hidden.sum() == 22
    masked = ds.copy()
    masked["NDVI"] = ds["NDVI"].where(~xr.DataArray(hidden, dims="time"))
    ours = mogpr(masked, target="NDVI")["NDVI"].values[hidden]
    rmse = float(np.sqrt(np.mean((ours - nd[hidden]) ** 2)))
    lin = interpolate_linear(masked["NDVI"]).values[hidden]
    rmse_lin = float(np.sqrt(np.mean((lin - nd[hidden]) ** 2)))
    assert rmse < 0.75 * rmse_lin, (rmse, rmse_lin)
    GPy = pytest.importorskip("GPy", reason="GPy (optional test dependency) not installed: reference comparison skipped")
    ref = []
    for seed in range(3):
        np.random.seed(seed)  # noqa: NPY002 - GPy draws its initial W from the global NumPy state
        X, Y = [], []
        for name in ("NDVI", "RVI_DESC", "RVI_ASC"):
            v = masked[name].values
            ok = np.isfinite(v)
            X.append(days[ok][:, None])
            Y.append(((v[ok] - v[ok].mean()) / v[ok].std())[:, None])
        mu, sd = nd[~hidden & np.isfinite(nd)].mean(), nd[~hidden & np.isfinite(nd)].std()
        lcm = GPy.util.multioutput.LCM(input_dim=1, num_outputs=3, kernels_list=[GPy.kern.Matern32(1)] * 3, W_rank=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GPy.models.GPCoregionalizedRegression(X, Y, kernel=lcm.copy())
            model.optimize()
        newx = np.c_[days[hidden], np.zeros(hidden.sum())]
        pred, _ = model.predict(newx, Y_metadata={"output_index": newx[:, 1:].astype(int)})
        ref.append(float(np.sqrt(np.mean((pred[:, 0] * sd + mu - nd[hidden]) ** 2))))
    assert rmse <= 1.10 * np.mean(ref), (rmse, ref)


def test_top_level_export() -> None:
    assert fdl.mogpr is mogpr


def _few(ds: xr.Dataset, dates: list[int]) -> xr.Dataset:
    """``ds`` with NDVI 0.6 on ``dates`` only, at every pixel."""
    out = ds.copy()
    on = xr.DataArray(np.isin(np.arange(ds.sizes["time"]), dates), dims="time")
    out["NDVI"] = xr.where(on, 0.6, np.nan).broadcast_like(ds["NDVI"]).transpose(*ds["NDVI"].dims)
    return out


def test_no_usable_pixel_is_an_error_naming_the_counts() -> None:
    ds = _scene()
    with pytest.raises(InsufficientDataError, match=r"no pixel has min_obs=3 or more valid NDVI dates: 6 pixels, the most any has is 2 \(of 40"):
        mogpr(_few(ds, [10, 30]), n_iter=5)
    with pytest.raises(InsufficientDataError, match=r"at least min_obs=3 input dates .* found 1 on 'time'"):
        mogpr(ds.isel(time=[3]))


def test_no_usable_pixel_on_dask_input_stays_lazy_and_fails_or_warns_per_chunk() -> None:
    few = _few(_scene(), [10, 30])
    with raise_if_dask_computes():
        one_chunk = mogpr(few.chunk(), n_iter=5)
        two_chunks = mogpr(few.chunk({"y": 2}), n_iter=5)
    with pytest.raises(InsufficientDataError, match="6 pixels, the most any has is 2"):
        one_chunk.compute()
    with pytest.warns(UserWarning, match=r"valid NDVI dates in a chunk of \d \(of 6\): \d pixels, the most any has is 2") as rec:
        got = two_chunks.compute(scheduler="sync")
    assert sorted(str(w.message).split("in a chunk of ")[1][:1] for w in rec) == ["2", "4"]  # one per chunk (y: 2 + 1 rows)
    assert got["NDVI"].isnull().all()


def test_dropped_and_constant_pixels_are_warned_and_a_constant_is_kept(caplog: pytest.LogCaptureFixture) -> None:
    ds = _scene()
    ds["NDVI"][:, 0, 0] = np.nan  # no NDVI at all
    ds["NDVI"][:, 0, 1] = xr.where(ds["NDVI"][:, 0, 1].notnull(), 0.42, np.nan)  # constant on its dates
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        out = mogpr(ds, n_iter=20)
    assert "1 of 6 pixels have fewer than min_obs=3 valid NDVI dates (1 of them none)" in caplog.text
    assert "1 of 6 pixels have a constant NDVI on their valid dates (e.g. 0.42)" in caplog.text
    assert out["NDVI"][:, 0, 0].isnull().all() and out["RVI"][:, 0, 0].isnull().all()
    np.testing.assert_array_equal(out["NDVI"][:, 0, 1].values, np.float32(0.42))
    np.testing.assert_array_equal(out["NDVI_std"][:, 0, 1].values, 0.0)
    assert np.isfinite(out["RVI"][:, 0, 1]).all()
    with raise_if_dask_computes():
        lazy = mogpr(ds.chunk({"y": 1}), n_iter=20)
    xr.testing.assert_allclose(lazy.compute(), out, rtol=1e-4, atol=1e-5)


def test_nat_and_repeated_dates_are_refused_naming_where() -> None:
    ds = _scene()
    t = ds.indexes["time"]
    with pytest.raises(DimensionError, match=r"times: expected valid dates, found 1 NaT of 2 \(positions \[1\]\)"):
        mogpr(ds, times=pd.DatetimeIndex([t[0], pd.NaT]))
    nat = t.values.copy()
    nat[[5, 7]] = np.datetime64("NaT")
    with pytest.raises(DimensionError, match=r"input 'time': expected valid dates, found 2 NaT of 40 \(positions \[5, 7\]\)"):
        mogpr(ds.assign_coords(time=nat))
    dup = t.values.copy()
    dup[5] = dup[4]
    with pytest.raises(DuplicateTimeError, match=r"input 'time': expected unique dates, found 1 repeated \(first: \['2021-01-25"):
        mogpr(ds.assign_coords(time=dup))
    with pytest.raises(DuplicateTimeError, match=r"times: expected unique dates, found 1 repeated"):
        mogpr(ds, times=t[[1, 1, 2]])
    with pytest.raises(DimensionError, match=r"times: expected dates"):
        mogpr(ds, times=["not a date"])
