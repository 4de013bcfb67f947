"""The sequence model's reconstruction output: its own CF attributes (not the cube NDVI's), a bounded smoothed curve."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.cf import cf_attrs
from tests.models.test_sequence import tiny_model


def test_the_outputs_carry_their_own_cf_attributes_not_the_cube_ndvis(small_cube: xr.Dataset, tmp_path) -> None:
    """NDVI_std and source inherited the cube NDVI's standard_name and valid range -1..1: netCDF4 then masked flags and stds."""
    netCDF4 = pytest.importorskip("netCDF4")
    from fusets_dl.cli.output import write_netcdf

    cube = small_cube.isel(y=slice(0, 6), x=slice(0, 5))
    cube["NDVI"].attrs.update(standard_name="normalized_difference_vegetation_index", valid_min=-1.0, valid_max=1.0)
    rec = fdl.reconstruct(cube, tiny_model(), freq="5D", device="cpu")
    src = rec["source"]
    assert src.attrs["flag_meanings"] == "observed predicted interpolated missing"
    np.testing.assert_array_equal(src.attrs["flag_values"], [0, 1, 2, 3])
    for name in ("NDVI_std", "source"):
        for key in ("standard_name", "valid_min", "valid_max"):
            assert key not in rec[name].attrs, f"{name} carries the cube NDVI's {key}"
    assert rec["NDVI_std"].attrs["long_name"] == cf_attrs("reconstruct.NDVI_std")["long_name"]
    assert rec["NDVI"].attrs["standard_name"] == "normalized_difference_vegetation_index"  # the NDVI's own are the table's
    assert rec["NDVI"].attrs["ancillary_variables"] == "NDVI_std source"
    flags = src.values
    assert (flags == 2).any() and (flags <= 1).any()  # the 5-day grid's interpolated flags, lost to valid_max 1 before
    rec = rec.assign(NDVI_std=rec["NDVI_std"].where(flags == 0, 1.5))  # a wide std (a weak model far from a view) is kept too
    write_netcdf(rec, tmp_path / "seq.nc", overwrite=False)
    with netCDF4.Dataset(tmp_path / "seq.nc") as nc:
        back_src, back_std = nc["source"][:], nc["NDVI_std"][:]
        assert np.ma.count_masked(back_src) == 0 and np.ma.count_masked(back_std) == 0
        np.testing.assert_array_equal(np.asarray(back_src), flags)
    with xr.open_dataset(tmp_path / "seq.nc") as back:
        np.testing.assert_array_equal(back["source"].values, flags)
        assert float(back["NDVI_std"].max()) == pytest.approx(1.5)


def test_smoothing_bounds_observed_values_too() -> None:
    """A sharp peak of clear views (0.98-0.99) over a lower fill: the smoothed curve overshot 1 at dates flagged observed."""
    from fusets_dl.reconstruction.sequence import _kernel

    n, k = 80, 40
    days = np.arange(n) * 6.0  # the cube's 6-day revisit
    obs = np.full((1, n), np.nan)
    obs[0, [k - 5, k - 1, k, k + 1, k + 5]] = [0.1, 0.98, 0.99, 0.98, 0.1]
    mean = np.full((1, n), 0.1)
    mean[0, k - 3:k + 4] = [0.3, 0.9, 0.9, 0.95, 0.9, 0.9, 0.3]
    std = np.full((1, n), 0.1)
    for lam in (10.0, 100.0):
        out = _kernel(obs, mean, std, in_days=days, grid_days=None, obs_std=0.03, lam=lam)
        val, src = out[0, :, 0], out[0, :, 2]
        assert np.isfinite(val).all() and val.max() <= 1.0 and val.min() >= -1.0
        assert val[k] == 1.0 and src[k] == 0  # the overshoot at the observed peak is clipped, the flag kept
    # unsmoothed, clear views are kept exactly as they are
    plain = _kernel(obs, mean, std, in_days=days, grid_days=None, obs_std=0.03, lam=None)
    seen = np.isfinite(obs[0])
    np.testing.assert_array_equal(plain[0, seen, 0], obs[0, seen].astype(np.float32))


def test_the_whittaker_pass_gives_moved_observations_their_spread():
    """The sequence model's optional Whittaker pass moved observed values while they kept obs_std (as the MLP path did)."""
    from fusets_dl.reconstruction.sequence import _kernel

    days = np.arange(0.0, 360.0, 6.0)
    obs = np.where(np.arange(days.size) % 2 == 0, 0.45 + 0.3 * np.sin(2 * np.pi * days / 60.0), np.nan)[None]
    mean, std = np.full_like(obs, 0.45), np.full_like(obs, 0.1)
    seen = np.isfinite(obs[0])
    plain = _kernel(obs, mean, std, in_days=days, grid_days=None, obs_std=0.03, lam=None)
    np.testing.assert_allclose(plain[0, seen, 1], 0.03)
    heavy = _kernel(obs, mean, std, in_days=days, grid_days=None, obs_std=0.03, lam=1e5)
    moved = np.abs(heavy[0, seen, 0] - obs[0, seen])
    assert np.median(moved) > 0.1 and (heavy[0, seen, 1] > 0.1).all() and np.mean(moved <= heavy[0, seen, 1]) > 0.5
