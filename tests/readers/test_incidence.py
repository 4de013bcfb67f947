"""open_s1's incidence angle: units (degrees, radians declared or detected), 0 as fill, range, per-pixel layers, laziness."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.readers.conventions import bands_for, canonical_band_name
from fusets_dl.testing import raise_if_dask_computes
from tests.readers.helpers import s1_raw

#: Two orbits' angles (degrees), alternating as a relative orbit pair does.
DEG = np.array([33.2, 41.7, 33.2, 41.7, 33.2, 41.7], dtype=np.float64)


def _raw(nt: int = 6, ny: int = 4, nx: int = 5) -> xr.Dataset:
    return s1_raw(nt=nt, ny=ny, nx=nx)


def _per_pixel(ny: int = 4, nx: int = 5) -> np.ndarray:
    """Angles varying across the swath (x) around each date's angle, with a 0 (fill) and a NaN."""
    a = DEG[:, None, None] + np.linspace(-3.0, 4.0, nx)[None, None, :] + 0.1 * np.arange(ny)[None, :, None]
    a[0, 0, 0] = 0.0
    a[1, 2, 3] = np.nan
    return a


def _hand_mean(a: np.ndarray) -> np.ndarray:
    return np.array([np.mean(p[np.isfinite(p) & (p != 0)]) for p in a])


def _quiet_open(ds: xr.Dataset, **kw) -> xr.Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no warning of ours expected
        return fdl.open_s1(ds, **kw)


def test_a_per_date_angle_in_degrees_is_kept_as_it_is():
    s1 = _quiet_open(_raw().assign(incidence_angle=("t", DEG, {"units": "degrees"})))
    assert s1["incidence_angle"].dims == ("time",) and s1["incidence_angle"].dtype == np.float32
    np.testing.assert_allclose(s1["incidence_angle"].values, DEG, atol=1e-5)
    assert s1["incidence_angle"].attrs["units"] == "degree"
    kept = _quiet_open(_raw().assign(incidence_angle=("t", DEG)), time_range=("2021-03-07", "2021-03-19"))  # dates 1..3
    np.testing.assert_allclose(kept["incidence_angle"].values, DEG[1:4], atol=1e-5)


@pytest.mark.parametrize("units", ["rad", "radians", "Radian"])
def test_an_angle_declared_in_radians_is_converted_to_degrees(units, caplog):
    """Before: 0.58 kept, which the sequence model reads as (0.58 - 38) / 6 = -6.2 standard deviations."""
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = _quiet_open(_raw().assign(incidence_angle=("t", np.deg2rad(DEG), {"units": units})))
    np.testing.assert_allclose(s1["incidence_angle"].values, DEG.astype(np.float32), rtol=1e-6, atol=0)  # float32 degrees
    assert "in radians" in caplog.text and "converted to degrees" in caplog.text


def test_an_angle_without_units_within_zero_to_half_pi_is_taken_as_radians_with_a_warning():
    raw = _raw().assign_coords(incidence_angle=("t", np.deg2rad(DEG)))
    with pytest.warns(UserWarning, match=r"has no units and its values \(0.5794 to 0.7278\) all lie in \[0, pi/2\]: taken as radians"):
        s1 = fdl.open_s1(raw)
    np.testing.assert_allclose(s1["incidence_angle"].values, DEG.astype(np.float32), rtol=1e-6, atol=0)


def test_an_angle_in_unknown_units_is_refused_naming_them():
    raw = _raw().assign(incidence_angle=("t", DEG, {"units": "grad"}))
    with pytest.raises(fdl.errors.EncodingError, match=r"expected an incidence angle with units in \['degree'.*found units='grad'"):
        fdl.open_s1(raw)


def test_zeros_are_missing_and_an_angle_of_only_zeros_is_left_out_with_a_warning():
    """0 is a fill value (no radar looks straight down); before, all 0 was read as 0 degrees (-6.3 sd)."""
    some = DEG.copy()
    some[[1, 4]] = 0.0
    s1 = _quiet_open(_raw().assign(incidence_angle=("t", some)))
    got = s1["incidence_angle"].values
    assert np.isnan(got[[1, 4]]).all()
    np.testing.assert_allclose(got[[0, 2, 3, 5]], DEG[[0, 2, 3, 5]], atol=1e-5)
    with pytest.warns(UserWarning, match=r"found no valid value \(6 dates all NaN or 0, a fill value\): left out"):
        s1 = fdl.open_s1(_raw().assign(incidence_angle=("t", np.zeros(6))))
    assert "incidence_angle" not in s1.coords
    with pytest.warns(UserWarning, match="found no valid value"):
        s1 = fdl.open_s1(_raw().assign(incidence_angle=("t", np.full(6, np.nan))))
    assert "incidence_angle" not in s1.coords


def test_an_impossible_angle_is_refused():
    raw = _raw().assign_coords(incidence_angle=("t", np.array([95.0, 41.7, 95.0, 41.7, 95.0, 41.7])))
    with pytest.raises(fdl.errors.EncodingError, match=r"expected an incidence angle in 0-90 degrees, found 3 of 6 values outside "
                       r"\(from 95 to 95\)"):
        fdl.open_s1(raw)
    with pytest.raises(fdl.errors.EncodingError, match=r"found 1 of 6 values outside \(from -33.2 to -33.2\)"):
        fdl.open_s1(_raw().assign(incidence_angle=("t", np.where(np.arange(6) == 0, -DEG, DEG))))


def test_an_angle_outside_the_sentinel1_range_is_warned_with_its_count_and_range():
    odd = DEG.copy()
    odd[[2, 3]] = [70.0, 12.5]
    with pytest.warns(UserWarning, match=r"2 of 6 incidence angles lie outside 15-60 degrees \(from 12.5 to 70\); Sentinel-1 IW"):
        s1 = fdl.open_s1(_raw().assign(incidence_angle=("t", odd)))
    np.testing.assert_allclose(s1["incidence_angle"].values, odd, atol=1e-5)  # kept


@pytest.mark.parametrize("name", ["incidence_angle", "angle", "local_incidence_angle", "incidenceAngleFromEllipsoid", "ellipsoid_incidence_angle"])
def test_a_per_pixel_angle_is_kept_as_its_per_date_spatial_mean(name, caplog):
    """Before: a per-pixel layer (GEE's angle band, openEO's local_incidence_angle) was dropped without a word."""
    a = _per_pixel()
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = _quiet_open(_raw().assign({name: (("t", "y", "x"), a)}))
    np.testing.assert_allclose(s1["incidence_angle"].values, _hand_mean(a), rtol=0, atol=1e-5)
    assert s1["incidence_angle"].dims == ("time",)
    assert f"per-date spatial mean of the per-pixel {canonical_band_name(name)!r}" in caplog.text


def test_a_per_pixel_angle_in_radians_is_converted_before_its_mean_and_follows_a_bbox():
    a = _per_pixel()
    raw = _raw().assign(angle=(("t", "y", "x"), np.deg2rad(a), {"units": "rad"}))
    s1 = _quiet_open(raw, bbox=(300019, 4930, 300090, 5010))  # x columns 1..4
    np.testing.assert_allclose(s1["incidence_angle"].values, _hand_mean(a[:, :, 1:]), atol=1e-4)


def test_a_per_date_angle_is_preferred_to_a_per_pixel_one(caplog):
    raw = _raw().assign(angle=(("t", "y", "x"), _per_pixel() + 2.0), local_incidence_angle=(("t", "y", "x"), _per_pixel()))
    raw = raw.assign_coords(incidence_angle=("t", DEG))
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = _quiet_open(raw)
    np.testing.assert_allclose(s1["incidence_angle"].values, DEG, atol=1e-5)
    assert "['angle', 'local_incidence_angle'] not used" in caplog.text
    # without it, the GEE angle comes before the local incidence angle
    s1 = _quiet_open(raw.drop_vars("incidence_angle"))
    np.testing.assert_allclose(s1["incidence_angle"].values, _hand_mean(_per_pixel() + 2.0), atol=1e-5)


def test_an_angle_on_other_dims_is_warned_as_not_used():
    raw = _raw().assign(angle=(("y", "x"), np.full((4, 5), 35.0)))
    with pytest.warns(UserWarning, match=r"incidence angle layer\(s\) \['angle'\] not used: expected dims \('time',\).*found \[\('y', 'x'\)\]"):
        s1 = fdl.open_s1(raw)
    assert "incidence_angle" not in s1.coords


def test_the_angle_bands_are_registered_by_role():
    assert bands_for("incidence_angle") == ("incidence_angle", "angle", "ellipsoid_incidence_angle")
    assert bands_for("local_incidence_angle") == ("local_incidence_angle",)
    assert canonical_band_name("localIncidenceAngle") == "local_incidence_angle"
    assert canonical_band_name("Incidence_Angle") == "incidence_angle"


def test_a_gee_multi_band_stack_with_dated_angle_bands_gives_the_angle():
    """GEE toBands(): '<date>_angle' bands were refused as neither dated bands nor static layers."""
    raw = _raw(nt=2)
    a = _per_pixel()[:2]
    flat = xr.Dataset(
        {f"{d}_{b}": (("y", "x"), v) for i, d in enumerate(["20210301", "20210307"])
         for b, v in (("VV", raw["VV"].values[i]), ("VH", raw["VH"].values[i]), ("angle", a[i]))},
        coords={"y": raw["y"], "x": raw["x"]}, attrs=raw.attrs,
    )
    s1 = _quiet_open(flat)
    np.testing.assert_allclose(s1["incidence_angle"].values, _hand_mean(a), atol=1e-5)


def test_a_per_pixel_angle_on_dask_stays_lazy_and_is_checked_when_computed():
    a = _per_pixel(ny=8, nx=8)
    raw = _raw(ny=8, nx=8)
    lazy = raw.assign(angle=(("t", "y", "x"), a, {"units": "degree"})).chunk({"t": 1, "y": 4, "x": 4})
    with raise_if_dask_computes():
        s1 = fdl.open_s1(lazy, units="dB")
    assert s1["incidence_angle"].chunks is not None
    np.testing.assert_allclose(s1["incidence_angle"].values, _hand_mean(a), atol=1e-5)
    # undeclared radians: detected on each chunk as it is computed, with the warning then
    rad = raw.assign(angle=(("t", "y", "x"), np.deg2rad(a))).chunk({"t": 1, "y": 4, "x": 4})
    with raise_if_dask_computes():
        s1 = fdl.open_s1(rad, units="dB")
    with pytest.warns(UserWarning, match="taken as radians"):
        got = s1["incidence_angle"].values
    np.testing.assert_allclose(got, _hand_mean(a), atol=1e-4)
    bad = raw.assign(angle=(("t", "y", "x"), a + 60.0)).chunk({"t": 1, "y": 4, "x": 4})
    with raise_if_dask_computes():
        s1 = fdl.open_s1(bad, units="dB")
    with pytest.raises(fdl.errors.EncodingError, match="expected an incidence angle in 0-90 degrees"):
        s1["incidence_angle"].compute()


def test_a_per_date_angle_on_dask_is_read_in_one_small_compute(tmp_path):
    path = tmp_path / "s1.nc"
    _raw().assign(incidence_angle=("t", np.deg2rad(DEG), {"units": "rad"})).to_netcdf(path)
    with raise_if_dask_computes(max_computes=1):
        s1 = fdl.open_s1(path, chunks={"y": 2, "x": 5}, units="dB")
    assert s1["incidence_angle"].chunks is None
    np.testing.assert_allclose(s1["incidence_angle"].values, DEG, atol=1e-4)
