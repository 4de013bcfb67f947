"""open_s1: time names, prefixes, units (dB, linear, scaled, compressed), duplicates, chunks, Zarr, errors."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.testing import raise_if_dask_computes
from tests.readers.helpers import s1_raw


@pytest.mark.parametrize("time_name", ["t", "timestamp", "time"])
def test_open_s1_normalises_time_names_prefixes_and_crs(time_name):
    raw = s1_raw(time_name=time_name, prefix="S1-SIGMA0-")
    s1 = fdl.open_s1(raw)
    assert s1["VV"].dims == ("time", "y", "x")
    assert s1["VV"].dtype == np.float32 and s1["VV"].attrs["units"] == "dB"
    assert s1.rio.crs.to_epsg() == 32631
    np.testing.assert_array_equal(s1["VV"].values, raw["S1-SIGMA0-VV"].values)


def test_open_s1_detects_and_converts_linear():
    raw = s1_raw()
    lin = raw.copy()
    for v in ("VV", "VH"):
        lin[v] = 10 ** (raw[v] / 10)
    s1 = fdl.open_s1(lin)
    assert s1.attrs["encoding"] == "VV:linear,VH:linear"
    np.testing.assert_allclose(s1["VV"].values, raw["VV"].values, atol=1e-4)
    # declared units win over detection
    s1d = fdl.open_s1(lin, units="linear")
    np.testing.assert_allclose(s1d["VH"].values, raw["VH"].values, atol=1e-4)


def test_open_s1_scaled_integers_and_fill_value():
    raw = s1_raw()
    ints = (raw["VV"] * 1e4).round().astype(np.int32)
    ints[0, 0, 0] = 0
    ds = raw.copy()
    ds["VV"] = ints.assign_attrs(scale_factor=1e-4, _FillValue=np.int32(0))
    ds["VH"] = (raw["VH"] * 1e4).round().astype(np.int32).assign_attrs(scale_factor=1e-4, _FillValue=np.int32(0))
    s1 = fdl.open_s1(ds)
    assert np.isnan(s1["VV"].values[0, 0, 0])
    np.testing.assert_allclose(s1["VV"].values.ravel()[1:], ints.values.ravel()[1:] * 1e-4, rtol=1e-6)


def test_open_s1_openeo_compressed_uint16_stored_as_int16():
    dn = np.array([[[3928, 65534], [65535, 12000]]], dtype=np.uint16)
    ds = xr.Dataset(
        {b: (("t", "y", "x"), dn.view(np.int16), {"_Unsigned": "true"}) for b in ("S1-SIGMA0-VV", "S1-SIGMA0-VH")},
        coords={"t": [np.datetime64("2023-04-03")], "y": [1.0, 0.0], "x": [0.0, 1.0]},
    )
    s1 = fdl.open_s1(ds)
    v = s1["VV"].values[0]
    np.testing.assert_allclose(v[0, 0], 20 * np.log10(3928) - 83, rtol=1e-6)
    np.testing.assert_allclose(v[1, 1], 20 * np.log10(12000) - 83, rtol=1e-6)
    assert np.isnan(v[0, 1]) and np.isnan(v[1, 0])


def test_open_s1_sorts_time_and_handles_duplicates():
    raw = s1_raw().isel(t=[2, 0, 1, 3])
    s1 = fdl.open_s1(raw)
    assert pd.DatetimeIndex(s1.time.values).is_monotonic_increasing
    dup = xr.concat([s1_raw(), s1_raw().isel(t=[1])], dim="t")
    with pytest.raises(fdl.errors.DuplicateTimeError, match="duplicates"):
        fdl.open_s1(dup)
    assert fdl.open_s1(dup, duplicates="first").sizes["time"] == 4


@pytest.mark.parametrize("how", ["first", "mean"])
@pytest.mark.parametrize("chunked", [False, True])
def test_duplicated_tiles_combine_their_valid_pixels(how, chunked):
    """Two tiles of one acquisition (odc-stac without groupby): each nodata outside its footprint; never averaged in."""
    times = pd.DatetimeIndex(["2021-06-02T17:30", "2021-06-02T17:30", "2021-06-08T17:30"])
    vv = np.tile(np.linspace(-12, -8, 8, dtype=np.float32), (3, 4, 1))
    vh = vv - 7
    tiles = {"vv": vv.copy(), "vh": vh.copy()}
    for a in tiles.values():
        a[0, :, 5:] = -32768.0  # first tile covers columns 0..4
        a[1, :, :3] = -32768.0  # second tile covers columns 3..7 (overlap 3..4)
    ds = xr.Dataset(
        {k: (("time", "y", "x"), v, {"nodata": -32768.0, "units": "dB"}) for k, v in tiles.items()},
        coords={"time": times, "y": 100.0 - 10 * np.arange(4), "x": 10.0 * np.arange(8)},
        attrs={"epsg": 32631},
    )
    if chunked:
        ds = ds.chunk({"x": 4})
    s1 = fdl.open_s1(ds, duplicates=how)
    assert s1.sizes["time"] == 2
    np.testing.assert_allclose(s1["VV"].values[0], vv[2], atol=1e-5)
    np.testing.assert_allclose(s1["VH"].values[0], vh[2], atol=1e-5)


def test_duplicated_s2_tiles_keep_scl_classes_and_digital_numbers():
    """SCL codes are never averaged; DN means are rounded back to DN; a pixel nodata in both tiles stays nodata."""
    times = pd.DatetimeIndex(["2021-06-01T10:30", "2021-06-01T10:30"])
    red = np.full((2, 2, 6), 501, np.uint16)
    red[1] = 502  # the two tiles differ by one DN in the overlap
    nir = np.full((2, 2, 6), 3000, np.uint16)
    scl = np.full((2, 2, 6), 4, np.uint8)
    for a in (red, nir, scl):
        a[0, :, 4:] = 0
        a[1, :, :2] = 0
    red[:, 0, 5] = 0
    ds = xr.Dataset(
        {"red": (("time", "y", "x"), red, {"nodata": 0}), "nir": (("time", "y", "x"), nir, {"nodata": 0}),
         "scl": (("time", "y", "x"), scl, {"nodata": 0})},
        coords={"time": times, "y": [20.0, 10.0], "x": 10.0 * np.arange(6)},
        attrs={"epsg": 32631},
    )
    s2 = fdl.open_s2(ds, duplicates="mean")
    np.testing.assert_array_equal(s2["SCL"].values[0, 1], [4, 4, 4, 4, 4, 4])
    nd = s2["NDVI"].values[0, 1]
    np.testing.assert_allclose(nd[:2], (3000 - 501) / 3501, rtol=1e-6)
    np.testing.assert_allclose(nd[2:4], (3000 - 502) / 3502, rtol=1e-6)  # mean 501.5 rounds to 502 (half to even)
    np.testing.assert_allclose(nd[4:], (3000 - 502) / 3502, rtol=1e-6)
    assert np.isnan(s2["NDVI"].values[0, 0, 5])


def test_open_s1_errors_say_expected_and_found(tmp_path):
    with pytest.raises(fdl.errors.MissingVariableError, match=r"missing \['VH'\].*found \['VV'\]"):
        fdl.open_s1(s1_raw().drop_vars("VH"))
    with pytest.raises(fdl.errors.DimensionError, match="time dimension"):
        fdl.open_s1(s1_raw().isel(t=0, drop=True))
    with pytest.raises(fdl.errors.SourceError, match="found no"):
        fdl.open_s1(tmp_path / "missing.nc")
    bad = s1_raw()
    bad["VV"] = bad["VV"].astype(np.int32)
    bad["VH"] = bad["VH"].astype(np.int32)
    with pytest.raises(fdl.errors.EncodingError, match="without a scale_factor"):
        fdl.open_s1(bad)
    assert issubclass(fdl.errors.MissingVariableError, fdl.errors.FusionError)


def test_open_s1_chunks_are_lazy_with_time_as_one_chunk(tmp_path):
    raw = s1_raw(nt=6, ny=8, nx=8)
    path = tmp_path / "s1.nc"
    raw.to_netcdf(path)
    with raise_if_dask_computes():
        s1 = fdl.open_s1(path, chunks={"y": 4, "x": 4}, units="dB")
    assert s1["VV"].chunks == ((6,), (4, 4), (4, 4))
    np.testing.assert_allclose(s1["VV"].values, raw["VV"].values)


def test_open_s1_zarr_and_subsetting(tmp_path):
    raw = s1_raw(nt=6, ny=8, nx=8)
    store = tmp_path / "s1.zarr"
    raw.to_zarr(store)
    s1 = fdl.open_s1(store, time_range=("2021-03-07", "2021-03-19"), bbox=(299995, 4900, 300045, 5010))
    assert s1.sizes["time"] == 3
    assert s1.sizes["x"] == 3


def test_open_s1_refuses_uncalibrated_grd_amplitude_from_stac():
    """Earth Search sentinel-1-grd `vv`/`vh`: uint16 GRD amplitude DN, not backscatter; never read as openEO dB."""
    dn = np.array([[[120, 340], [89, 1500]]], dtype=np.uint16)
    ds = xr.Dataset(
        {b: (("time", "y", "x"), dn) for b in ("vv", "vh")},
        coords={"time": [np.datetime64("2023-04-03")], "y": [1.0, 0.0], "x": [0.0, 1.0]},
    )
    with pytest.raises(fdl.errors.EncodingError, match=r"'vv' holds unscaled uint16.*uncalibrated GRD amplitude.*S1-SIGMA0-VV"):
        fdl.open_s1(ds)
    # as odc-stac loads them: with a nodata attribute (decoded to floats with NaN before the units are read)
    for b in ("vv", "vh"):
        ds[b].attrs["nodata"] = 0
    with pytest.raises(fdl.errors.EncodingError, match=r"'vv' holds unscaled uint16.*uncalibrated GRD amplitude"):
        fdl.open_s1(ds)
    # explicitly declared openEO DN are still read as such
    s1 = fdl.open_s1(ds, units="compressed")
    np.testing.assert_allclose(s1["VV"].values[0, 1, 1], 20 * np.log10(1500) - 83, rtol=1e-6)
    # upper-case VV uint16 (GEE/openEO exports) keeps the compressed reading
    up = ds.rename(vv="VV", vh="VH")
    np.testing.assert_allclose(fdl.open_s1(up)["VV"].values[0, 0, 0], 20 * np.log10(120) - 83, rtol=1e-6)


def test_open_s1_concatenates_yearly_files_and_refuses_other_grids(tmp_path):
    from fusets_dl.synthetic import make_scene

    s1, _s2, _ = make_scene(6, 5, "2021-01-01", "2022-12-31", seed=3)
    s1.sel(time=slice("2021-01-01", "2021-12-31")).to_netcdf(tmp_path / "s1_2021.nc")
    s1.sel(time=slice("2022-01-01", "2022-12-31")).to_netcdf(tmp_path / "s1_2022.nc")
    both = fdl.open_s1([tmp_path / "s1_2022.nc", tmp_path / "s1_2021.nc"])  # any order
    whole = fdl.open_s1(s1)
    assert both.sizes == whole.sizes and both.indexes["time"].is_monotonic_increasing
    np.testing.assert_array_equal(both["VV"].values, whole["VV"].values)
    # a year on the same pixel lattice, one column less: joined onto the union extent, NaN in the column it lacks
    s1.isel(x=slice(1, None)).sel(time=slice("2022-01-01", None)).to_netcdf(tmp_path / "s1_2022_smaller.nc")
    union = fdl.open_s1([tmp_path / "s1_2021.nc", tmp_path / "s1_2022_smaller.nc"])
    assert union.sizes == whole.sizes
    n21 = int((union.indexes["time"].year == 2021).sum())
    assert np.isnan(union["VV"].values[n21:, :, 0]).all()
    np.testing.assert_array_equal(union["VV"].values[n21:, :, 1:], whole["VV"].values[n21:, :, 1:])
    # another lattice (half a pixel off): refused
    step = float(s1.x[1] - s1.x[0])
    s1.sel(time=slice("2022-01-01", None)).assign_coords(x=s1.x + step / 2).to_netcdf(tmp_path / "s1_2022_other_grid.nc")
    with pytest.raises(fdl.errors.GridMismatchError, match="expected the same grid"):
        fdl.open_s1([tmp_path / "s1_2021.nc", tmp_path / "s1_2022_other_grid.nc"])


def test_open_s1_bbox_in_degrees_for_a_utm_file_is_a_clear_error():
    raw = s1_raw()  # EPSG:32631 given as an `epsg` attribute, metres
    with pytest.raises(fdl.errors.DimensionError, match=r"holds no pixel.*EPSG:32631.*looks like degrees"):
        fdl.open_s1(raw, bbox=(3.0, 50.8, 3.1, 50.9))
    with pytest.raises(fdl.errors.ConfigError, match="minx < maxx"):
        fdl.open_s1(raw, bbox=(5.0, 0.0, 1.0, 1.0))


def test_an_extra_raster_dimension_is_refused_by_name():
    raw = s1_raw().expand_dims(polarisation_set=2, axis=1)
    with pytest.raises(fdl.errors.DimensionError, match=r"extra dimension\(s\) \{'polarisation_set': 2\} on \['VH', 'VV'\]"):
        fdl.open_s1(raw)


def test_longitudes_wrapping_at_the_antimeridian_are_refused_with_the_fix():
    raw = s1_raw()
    lon = (179.9995 + 0.0002 * np.arange(raw.sizes["x"]) + 180) % 360 - 180
    raw = raw.assign_coords(x=lon)
    with pytest.raises(fdl.errors.DimensionError, match=r"wrap from 179\.9\d+ to -179\.9\d+: a scene across the antimeridian"):
        fdl.open_s1(raw)
    with pytest.raises(fdl.errors.DimensionError, match=r"expected strictly increasing or decreasing y"):
        fdl.open_s1(s1_raw().assign_coords(y=np.r_[s1_raw().y.values[:-1], s1_raw().y.values[0]]))


def test_a_name_saying_db_over_linear_values_is_warned(caplog):
    raw = s1_raw()
    lin = raw.assign({v: 10 ** (raw[v] / 10) for v in ("VV", "VH")}).rename(VV="Sigma0_VV_db", VH="Sigma0_VH_db")
    for v in lin.data_vars:
        lin[v].attrs.pop("units", None)
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        s1 = fdl.open_s1(lin)
    assert "the variable name 'Sigma0_VV_db' says dB but the values look linear power" in caplog.text
    np.testing.assert_allclose(s1["VV"].values, fdl.open_s1(raw)["VV"].values, atol=1e-4)


def test_compressed_counts_as_floats_are_decoded_and_other_floats_refused():
    """openEO hands a UDF float counts (resampled ones with fractions); dB or linear power under those names is refused."""
    raw = s1_raw()
    lin = 10 ** (raw["VV"].values / 10)
    dn = np.sqrt(lin / 10**-8.3)  # dB = 20 log10(DN) - 83, fractions kept
    ds = raw.assign({"S1-SIGMA0-VV": (raw["VV"].dims, dn), "S1-SIGMA0-VH": (raw["VH"].dims, dn / 2)}).drop_vars(["VV", "VH"])
    s1 = fdl.open_s1(ds, units="compressed")
    np.testing.assert_allclose(s1["VV"].values, raw["VV"].values, atol=1e-4)
    for bad, looks in ((raw["VV"].values, "dB"), (lin, "linear power")):
        ds_bad = ds.assign({"S1-SIGMA0-VV": (raw["VV"].dims, bad)})
        with pytest.raises(fdl.errors.EncodingError, match=f"expected openEO compressed backscatter.*look like {looks}"):
            fdl.open_s1(ds_bad, units="compressed")


def test_cell_bounds_on_an_extra_dimension_are_dropped_not_refused():
    """CDO/SNAP write lat_bnds/lon_bnds on (y, x, nv): not bands, not read; the file opens as before."""
    raw = s1_raw()
    bnds = xr.DataArray(np.zeros((raw.sizes["y"], raw.sizes["x"], 4)), dims=("y", "x", "nv"))
    s1 = fdl.open_s1(raw.assign(lat_bnds=bnds, lon_bnds=bnds))
    assert set(s1.data_vars) == set(fdl.open_s1(raw).data_vars)


def test_duplicated_tiles_know_the_conventions_nodata_without_attributes():
    """S2 DN 0 / SCL 0 undeclared (odc-stac without nodata attrs): still nodata when tiles are combined."""
    times = pd.DatetimeIndex(["2021-06-01T10:30", "2021-06-01T10:30"])
    red = np.full((2, 1, 4), 500, np.uint16)
    nir = np.full((2, 1, 4), 3000, np.uint16)
    scl = np.full((2, 1, 4), 4, np.uint8)
    for a in (red, nir, scl):
        a[0, :, 2:] = 0
        a[1, :, :2] = 0
    ds = xr.Dataset({"B04": (("time", "y", "x"), red), "B08": (("time", "y", "x"), nir), "SCL": (("time", "y", "x"), scl)},
                    coords={"time": times, "y": [10.0], "x": 10.0 * np.arange(4)}, attrs={"epsg": 32631})
    for how in ("first", "mean"):
        s2 = fdl.open_s2(ds, duplicates=how)
        np.testing.assert_allclose(s2["NDVI"].values[0, 0], 2500 / 3500, rtol=1e-6)
        assert s2["clear"].values.all()


def _dual_pol(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """VV about -11 dB and VH 7 dB under it, (4, 6, 6) in dB."""
    rng = np.random.default_rng(seed)
    vv = rng.normal(-11.0, 2.0, (4, 6, 6))
    return vv, vv - rng.normal(7.0, 1.0, (4, 6, 6))


def _vv_vh(vv: np.ndarray, vh: np.ndarray) -> xr.Dataset:
    coords = {"time": pd.date_range("2021-05-01", periods=4, freq="6D"), "y": np.arange(6.0)[::-1], "x": np.arange(6.0)}
    return xr.Dataset({"VV": (("time", "y", "x"), vv.astype(np.float32)), "VH": (("time", "y", "x"), vh.astype(np.float32))}, coords=coords)


def test_amplitude_is_read_with_units_amplitude_and_warned_when_taken_for_power():
    """Calibrated amplitude (the square root of power: ASF HyP3 RTC scale='amplitude') read as power gave VV 5 dB and
    VH 8.5 dB too high, silently. units='amplitude' reads it; values that look like it warn under units='auto'."""
    vv_db, vh_db = _dual_pol(3)
    ds = _vv_vh
    amp = ds(10 ** (vv_db / 20), 10 ** (vh_db / 20))
    s1 = fdl.open_s1(amp, units="amplitude")
    np.testing.assert_allclose(s1["VV"].values, vv_db, atol=1e-4)
    np.testing.assert_allclose(s1["VH"].values, vh_db, atol=1e-4)
    assert s1.attrs["encoding"] == "VV:amplitude,VH:amplitude"
    with pytest.warns(UserWarning, match=r"read as linear power, but its medians \(VV -5.\d dB, VH -9.\d dB, 3.\d dB apart\).*units='amplitude'"):
        fdl.open_s1(amp)
    power = ds(10 ** (vv_db / 10), 10 ** (vh_db / 10))  # the same scene as power: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(fdl.open_s1(power)["VV"].values, vv_db, atol=1e-4)


def test_swapped_polarisations_warn():
    """VV and VH exchanged (VH above VV almost everywhere) went through open_s1, train and reconstruct without a word."""
    vv, vh = _dual_pol(4)
    ds = _vv_vh

    with pytest.warns(UserWarning, match=r"VH lies above VV on 100% of the sampled pixel-dates .*the bands may be swapped"):
        fdl.open_s1(ds(vh, vv), units="dB")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fdl.open_s1(ds(vv, vh), units="dB")
    from fusets_dl.readers.cube import check_cube_values

    cube = ds(vh, vv).assign(NDVI=(("time", "y", "x"), np.full((4, 6, 6), 0.5, np.float32)))
    with pytest.warns(UserWarning, match=r"train: VH lies above VV"):
        check_cube_values(cube, "train")


@pytest.mark.parametrize(("make", "cause"), [
    (lambda power: 20 * np.log10(power), r"twice the usual: dB made as 20 \* log10 of power"),
    (lambda power: 10 * np.log10(np.sqrt(power)), r"half the usual: dB made as 10 \* log10 of amplitude"),
])
def test_db_made_with_the_wrong_logarithm_is_warned(make, cause):
    """Both pass the range and unit checks (VV -22 / -5.5 dB) and were accepted silently; the cross-polarisation ratio, about
    -5 .. -9 dB over land (medians -6.5 .. -7.9 on every S1 input of ../shared/data), tells them."""
    import warnings

    rng = np.random.default_rng(0)
    vv_db, vh_db = rng.normal(-11.0, 2.5, (20, 8, 8)), rng.normal(-18.0, 2.5, (20, 8, 8))
    t = pd.date_range("2021-01-01", periods=20, freq="6D")

    def cube(vv, vh):
        return xr.Dataset({"VV": (("time", "y", "x"), vv, {"units": "dB"}), "VH": (("time", "y", "x"), vh, {"units": "dB"})},
                          coords={"time": t, "y": 100.0 - 10 * np.arange(8), "x": 10.0 * np.arange(8)})

    with pytest.warns(UserWarning, match=rf"the median VH - VV is -?\d+\.\d dB .*{cause}"):
        fdl.open_s1(cube(make(10 ** (vv_db / 10)), make(10 ** (vh_db / 10))), units="dB")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fdl.open_s1(cube(vv_db, vh_db), units="dB")  # right dB: no warning


def test_a_bbox_mostly_outside_the_data_is_warned():
    """A region's bbox half off its tile was clipped silently: the region was 'done' on a part of the area asked for."""
    import warnings

    raw = s1_raw()
    x, y = raw["x"].values, raw["y"].values
    rx, ry = abs(float(x[1] - x[0])), abs(float(y[1] - y[0]))
    inside = (float(x.min()) - rx / 2, float(y.min()) - ry / 2, float(x.max()) + rx / 2, float(y.max()) + ry / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the whole extent: no warning
        fdl.open_s1(raw, bbox=inside)
    width = inside[2] - inside[0]
    wider = (inside[0], inside[1], inside[2] + 3 * width, inside[3])  # four times the data's width
    with pytest.warns(UserWarning, match=r"the data cover about 25% of bbox .*another tile, or a bbox in another CRS"):
        out = fdl.open_s1(raw, bbox=wider)
    assert out.sizes["x"] == raw.sizes["x"]


# ----------------------------------------------------------------------- provider-shaped S1 (hunt_readers findings 3, 4, 8, 10)

def _scene(nt=4, ny=4, nx=5, seed=7):
    """VV in -14 .. -6 dB, VH 7 dB under it (float32), on a 20 m grid."""
    vv = np.random.default_rng(seed).uniform(-14.0, -6.0, (nt, ny, nx)).astype(np.float32)
    return vv, (vv - 7.0).astype(np.float32)


def _s1_ds(vv, vh, times, names=("VV", "VH"), attrs=None):
    ny, nx = vv.shape[1:]
    return xr.Dataset({names[0]: (("time", "y", "x"), vv, dict(attrs or {})), names[1]: (("time", "y", "x"), vh, dict(attrs or {}))},
                      coords={"time": pd.DatetimeIndex(times), "y": 5000.0 - 20 * np.arange(ny), "x": 300000.0 + 20 * np.arange(nx)},
                      attrs={"epsg": 32631})


T4 = pd.date_range("2022-04-02T05:41:12", periods=4, freq="12D")


@pytest.mark.parametrize("attrs", [{}, {"scale_factor": 1.0, "add_offset": 0.0}])  # as rioxarray reads a float GeoTIFF
@pytest.mark.parametrize("units", ["auto", "dB"])
def test_exact_zero_db_from_a_gee_export_without_nodata_is_missing_and_counted(units, attrs):
    """GEE writes masked pixels as 0.0 when no noData is asked for: 25 % of pixel-dates read as 0 dB (bright) backscatter, silently."""
    vv, vh = _scene()
    vv0, vh0 = vv.copy(), vh.copy()
    vv0[:, :, :2], vh0[:, :, :2] = 0.0, 0.0  # 4 dates x 4 rows x 2 columns = 32 of 80 values
    with pytest.warns(UserWarning, match=r"VV: 32 exact 0\.0 values \(40\.0% of the 80 valid values\).*Google Earth Engine export"):
        s1 = fdl.open_s1(_s1_ds(vv0, vh0, T4, attrs=attrs), units=units)
    assert np.isnan(s1["VV"].values[:, :, :2]).all() and np.isnan(s1["VH"].values[:, :, :2]).all()
    np.testing.assert_array_equal(s1["VV"].values[:, :, 2:], vv[:, :, 2:])
    assert s1.attrs["encoding"] == "VV:dB,VH:dB"


def test_exact_zero_db_on_dask_is_masked_per_chunk_without_computing_at_open():
    vv, vh = _scene()
    vv0, vh0 = vv.copy(), vh.copy()
    vv0[:, :2, :2], vh0[:, :2, :2] = 0.0, 0.0  # zeros in the first chunk of y only
    eager = fdl.open_s1(_s1_ds(vv0, vh0, T4), units="dB")
    with raise_if_dask_computes():
        lazy = fdl.open_s1(_s1_ds(vv0, vh0, T4).chunk({"y": 2}), units="dB", chunks={"y": 2})
    assert lazy["VV"].chunks is not None
    with pytest.warns(UserWarning, match=r"VV: exact 0\.0 values in a chunk"):
        got = lazy["VV"].values
    np.testing.assert_array_equal(got, eager["VV"].values)  # NaN at the same places
    assert int(np.isnan(got).sum()) == 16
    with warnings.catch_warnings():  # a chunk without zeros says nothing
        warnings.simplefilter("error")
        rest = lazy["VV"].isel(y=slice(2, 4)).values
    assert not np.isnan(rest).any()


@pytest.mark.parametrize("names", [("VV", "VH"), ("S1-SIGMA0-VV", "S1-SIGMA0-VH")])
def test_uncalibrated_grd_amplitude_read_as_compressed_is_refused_by_its_decoded_level(names):
    """GRD amplitude DN (about 20-1,000) named VV/VH decoded as openEO's counts: VV -36 dB for a true -10, silently."""
    dn_vv, dn_vh = np.full((4, 4, 5), 200, np.uint16), np.full((4, 4, 5), 60, np.uint16)
    grd = _s1_ds(dn_vv, dn_vh, T4, names=names)
    # 20 log10(200) - 83 = -36.98 dB
    with pytest.raises(fdl.errors.EncodingError, match=r"VV.*median count 200 decodes to -37\.0 dB; expected a median of at least -32 dB "
                                                       r"for VV.*uncalibrated amplitude of a GRD.*units='compressed'"):
        fdl.open_s1(grd)
    forced = fdl.open_s1(grd, units="compressed")  # declared: trusted (a scene of calm water)
    np.testing.assert_allclose(forced["VV"].values, 20 * np.log10(200) - 83, rtol=1e-6)
    real = _s1_ds(np.full((4, 4, 5), 3928, np.uint16), np.full((4, 4, 5), 1400, np.uint16), T4, names=names)
    s1 = fdl.open_s1(real)  # openEO counts over land: -11.1 dB and -20.1 dB
    np.testing.assert_allclose(s1["VV"].values, 20 * np.log10(3928) - 83, rtol=1e-6)
    np.testing.assert_allclose(s1["VH"].values, 20 * np.log10(1400) - 83, rtol=1e-6)


def test_linear_power_with_a_few_slightly_negative_values_is_read_as_linear(caplog):
    """Thermal-noise removal leaves a few slightly negative values: 0.8 % of VH refused the whole input before."""
    vv, vh = _scene(ny=8, nx=8)  # 256 values per band
    lin_vv, lin_vh = 10 ** (vv / 10), 10 ** (vh / 10)
    lin_vh[0, 0, :2] = -0.0004  # 2 of 256: 0.78 %
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = fdl.open_s1(_s1_ds(lin_vv, lin_vh, T4))
    assert s1.attrs["encoding"] == "VV:linear,VH:linear"
    assert np.isnan(s1["VH"].values[0, 0, :2]).all() and int(np.isnan(s1["VH"].values).sum()) == 2
    np.testing.assert_allclose(s1["VH"].values[1:], vh[1:], atol=1e-4)
    assert "VH: 2 (0.78% of 256 valid) are slightly negative linear power (min -0.0004)" in caplog.text
    many = lin_vh.copy()
    many[:, :2, :] = -0.0004  # 25 %: too many to be noise alone
    with pytest.raises(fdl.errors.EncodingError, match=r"VH: cannot detect.*25\.0% negative.*pass units='linear'"):
        fdl.open_s1(_s1_ds(lin_vv, many, T4))


def test_an_undeclared_nodata_value_is_named_when_units_cannot_be_detected():
    """Planetary Computer RTC with its -32768 fill not declared: the error said '18.8% negative' only."""
    vv, vh = _scene(ny=8, nx=8)
    lin_vv, lin_vh = 10 ** (vv / 10), 10 ** (vh / 10)
    lin_vv[:, :, :2], lin_vh[:, :, :2] = -32768.0, -32768.0  # 2 of 8 columns: 25 %
    with pytest.raises(fdl.errors.EncodingError, match=r"vv: cannot detect.*-32768 is on 25\.0% of the values: an undeclared nodata "
                                                       r"value; declare it \(ds\['vv'\]\.attrs\['nodata'\] = -32768\)"):
        fdl.open_s1(_s1_ds(lin_vv, lin_vh, T4, names=("vv", "vh")))
    s1 = fdl.open_s1(_s1_ds(lin_vv, lin_vh, T4, names=("vv", "vh"), attrs={"nodata": -32768.0}))
    np.testing.assert_allclose(s1["VV"].values[:, :, 2:], vv[:, :, 2:], atol=1e-4)


def _two_slices(gap="25s", overlap_rows=0, disagree=0.0):
    """Two slices of each of 4 passes, ``gap`` apart: the first covers rows 0..3 (+ overlap), the second rows 4..7."""
    vv, vh = _scene(ny=8, nx=4)
    top_vv, top_vh = vv.copy(), vh.copy()
    bot_vv, bot_vh = vv.copy() + disagree, vh.copy() + disagree
    top_vv[:, 4 + overlap_rows:], top_vh[:, 4 + overlap_rows:] = np.nan, np.nan
    bot_vv[:, :4], bot_vh[:, :4] = np.nan, np.nan
    times = [t + d for t in T4 for d in (pd.Timedelta(0), pd.Timedelta(gap))]
    stack = lambda a, b: np.stack([x for i in range(4) for x in (a[i], b[i])])  # noqa: E731
    return _s1_ds(stack(top_vv, bot_vv), stack(top_vh, bot_vh), times), vv, vh


@pytest.mark.parametrize("chunked", [False, True])
def test_slices_of_one_pass_become_one_date(chunked, caplog):
    """Two slices 25 s apart became two dates, each half empty, and align paired every S2 view to both."""
    ds, vv, vh = _two_slices()
    if chunked:
        ds = ds.chunk({"y": 4})
    with caplog.at_level(logging.INFO, logger="fusets_dl"), raise_if_dask_computes():
        s1 = fdl.open_s1(ds, units="dB", chunks={"y": 4} if chunked else None)
    assert "8 acquisitions within 0 days 00:10:00 of one another merged into 4 dates" in caplog.text
    np.testing.assert_array_equal(s1["time"].values, T4.values)  # the earliest timestamp of each pass
    np.testing.assert_array_equal(s1["VV"].values, vv)
    np.testing.assert_array_equal(s1["VH"].values, vh)
    assert fdl.open_s1(ds, units="dB", slice_window=None).sizes["time"] == 8
    far, _, _ = _two_slices(gap="20min")  # beyond the window: two acquisitions
    assert fdl.open_s1(far, units="dB").sizes["time"] == 8


@pytest.mark.parametrize("chunked", [False, True])
def test_overlapping_slices_that_disagree_keep_the_first_and_say_so(chunked):
    ds, vv, _ = _two_slices(overlap_rows=1, disagree=2.0)  # row 4 in both slices, the second 2 dB brighter
    if chunked:
        ds = ds.chunk({"y": 4})
    with pytest.warns(UserWarning, match=r"VV: slices of one pass overlap with values that differ by more than 5%.*first slice's values are kept"):
        s1 = fdl.open_s1(ds, units="dB").compute()
    expected = vv.copy()
    expected[:, 5:] += 2.0  # rows 5..7 from the second slice only
    np.testing.assert_allclose(s1["VV"].values, expected, rtol=1e-6)
    same, _, _ = _two_slices(overlap_rows=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fdl.open_s1(same.chunk({"y": 4}) if chunked else same, units="dB").compute()


def test_slice_window_is_checked_and_a_date_in_two_files_follows_duplicates():
    ds, _, _ = _two_slices()
    with pytest.raises(fdl.errors.ConfigError, match=r"slice_window: expected a duration from 0 to 0 days 01:00:00.*found '2h'"):
        fdl.open_s1(ds, slice_window="2h")
    vv, vh = _scene()
    one, two = _s1_ds(vv, vh, T4), _s1_ds(vv[1:2], vh[1:2], T4[1:2])  # the second date again, in another file
    with pytest.raises(fdl.errors.DuplicateTimeError, match="duplicates"):
        fdl.open_s1([one, two], units="dB")
    assert fdl.open_s1([one, two], units="dB", duplicates="first").sizes["time"] == 4


def test_zero_db_stored_as_scaled_integers_is_a_real_value():
    """dB x 100 in int16 (the bundled sample: 5 of 500,000 values are 0): 0 is a quantisation step there, not a fill."""
    vv, vh = _scene()
    ints = {b: np.round(a * 100).astype(np.int16) for b, a in (("VV", vv), ("VH", vh))}
    ints["VV"][0, 0, 0] = 0
    ds = _s1_ds(ints["VV"], ints["VH"], T4, attrs={"scale_factor": 0.01})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s1 = fdl.open_s1(ds)
    assert s1["VV"].values[0, 0, 0] == 0.0 and not np.isnan(s1["VV"].values).any()
