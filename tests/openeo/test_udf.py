"""The UDFs through the openeo client's local execution equal the Python API; tiles; bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import DimensionError, InsufficientDataError, MissingVariableError, ModelError
from fusets_dl.openeo import apply_predict, apply_reconstruct, apply_udf, phenology_bands, udf_code
from fusets_dl.openeo.names import season_metrics
from fusets_dl.phenometrics.seasons import DATE_VARS, PIXEL_VARS
from tests.openeo.conftest import gfmap_openeo_cube, run_local, run_tiles, sample_openeo_cube
from tests.paths import GF_S1, GF_S2, REPO

SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="module")
def model(model_path):
    return fdl.load_model(model_path)


def _close(a, b, atol=1e-5, rtol=1e-5):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert np.array_equal(np.isnan(a), np.isnan(b)), f"NaN patterns differ: {np.isnan(a).sum()} vs {np.isnan(b).sum()}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _check_phenology(out: xr.DataArray, ph: xr.Dataset, first_time) -> None:
    """Every band of the phenology UDF equals the matching metric of ``phenology``; dates as day of year."""
    origin = pd.Timestamp(year=pd.Timestamp(first_time).year, month=1, day=1)
    n = ph.sizes["season"]
    assert list(out["bands"].values) == phenology_bands(n)
    assert out.sizes["t"] == 1 and pd.Timestamp(out["t"].values[0]) == origin
    for v in PIXEL_VARS:  # one band per pixel-level metric (the noise sd)
        _close(out.sel(bands=v).isel(t=0).values, ph[v].values)
    for s in range(n):
        for v in season_metrics():
            want = ph[v].isel(season=s)
            if v in DATE_VARS:
                want = (want - np.datetime64(origin)) / np.timedelta64(1, "D") + 1.0
            _close(out.sel(bands=f"{v}_{s + 1}").isel(t=0).values, want.values, atol=1e-3 if v in DATE_VARS else 1e-5)
    np.testing.assert_array_equal(out.sel(bands="n_seasons").isel(t=0).values, ph["n_seasons"].values)


# --------------------------------------------------------------------------- the bundled sample

#: The default cases use a 20 x 20 corner of the 64 x 64 sample (two years); the whole one is slow.
_CROP = {"y": slice(0, 20), "x": slice(4, 24)}


@pytest.fixture(scope="module", params=["corner", pytest.param("whole", marks=pytest.mark.slow)])
def sample(request, model):
    """(openEO cube, fusion cube, predictions, reconstruction) of the bundled sample."""
    crop = _CROP if request.param == "corner" else {}
    s1, s2 = fdl.open_s1(SAMPLE / "s1.nc").isel(crop), fdl.open_s2(SAMPLE / "s2.nc").isel(crop)
    cube = fdl.align(s1, s2)
    return sample_openeo_cube(SAMPLE).isel(crop), cube, fdl.predict_ndvi(cube, model), fdl.reconstruct(cube, model)


@pytest.fixture(scope="module")
def sample_cube():
    return sample_openeo_cube(SAMPLE).isel(_CROP)


def test_predict_on_the_sample_equals_the_python_api(model_path, sample):
    sample_cube, cube, pred, _ = sample
    out = run_local(udf_code("predict", model=str(model_path)), sample_cube)
    assert out.dims == ("t", "bands", "y", "x") and list(out["bands"].values) == ["NDVI"]
    np.testing.assert_array_equal(out["t"].values, cube["time"].values)  # the S1 dates
    np.testing.assert_array_equal(out["y"].values, sample_cube["y"].values)
    np.testing.assert_array_equal(out["x"].values, sample_cube["x"].values)
    assert np.isfinite(out.values).mean() > 0.5
    _close(out.sel(bands="NDVI").values, pred.values)


def test_reconstruct_on_the_sample_equals_the_python_api(model_path, sample):
    sample_cube, _, _, rec = sample
    out = run_local(udf_code("reconstruct", model=str(model_path)), sample_cube)
    assert list(out["bands"].values) == ["NDVI", "NDVI_std", "source"]
    np.testing.assert_array_equal(out["t"].values, rec["time"].values)
    for band in ("NDVI", "NDVI_std", "source"):
        _close(out.sel(bands=band).values, rec[band].values)
    assert set(np.unique(out.sel(bands="source").values)) <= {0.0, 1.0, 2.0, 3.0}


def test_phenology_on_the_sample_equals_the_python_api(model_path, sample):
    sample_cube, _, _, rec = sample
    ph = fdl.phenology(rec["NDVI"], max_seasons=2, observed=rec["source"])
    out = run_local(udf_code("phenology", model=str(model_path), phenology={"max_seasons": 2}), sample_cube)
    assert np.isfinite(out.sel(bands="sos_1").values).mean() > 0.5  # seasons are found on most pixels
    _check_phenology(out, ph, rec["time"].values[0])


def test_tiles_with_overlap_equal_the_whole_sample(model_path, sample_cube):
    # a setting given in the context: with the default, a model trained elsewhere is calibrated on each tile's own
    # clear views (tiles of 200 pixels or more; smaller ones use the transfer setting), so tiles may choose differently
    code = udf_code("reconstruct", model=str(model_path), reconstruct={"weights": None, "debias_days": 30.0})
    whole = run_local(code, sample_cube)
    tiled = run_tiles(code, sample_cube, size=12, overlap=4)  # 20 x 20: 2 x 2 tiles, ragged at the edge
    assert tiled.sizes == whole.sizes
    xr.testing.assert_allclose(tiled.isel(y=slice(4, -4), x=slice(4, -4)), whole.isel(y=slice(4, -4), x=slice(4, -4)))
    _close(tiled.values, whole.values)  # per-pixel stages: the margins agree too


@pytest.mark.parametrize("kind", ["predict", "reconstruct"])
def test_a_tile_stored_y_ascending_comes_back_in_its_own_order(model_path, sample_cube, kind):
    """align puts its cube north-up; a tile given the other way up must get its output on its own y/x labels."""
    code = udf_code(kind, model=str(model_path))
    flipped = sample_cube.isel(y=slice(None, None, -1), x=slice(None, None, -1))
    out = run_local(code, flipped)
    np.testing.assert_array_equal(out["y"].values, flipped["y"].values)
    np.testing.assert_array_equal(out["x"].values, flipped["x"].values)
    xr.testing.assert_allclose(out.isel(y=slice(None, None, -1), x=slice(None, None, -1)), run_local(code, sample_cube))


def test_predict_without_optical_bands_uses_s1_alone(model_path, sample_cube, model):
    s1_only = sample_cube.sel(bands=["VV", "VH"])
    out = run_local(udf_code("predict", model=str(model_path)), s1_only)
    direct = fdl.predict_ndvi(fdl.open_s1(SAMPLE / "s1.nc").isel(_CROP), model)
    _close(out.sel(bands="NDVI").values, direct.values)


def test_static_and_unknown_bands_are_carried_without_changing_predictions(model_path, sample_cube):
    code = udf_code("predict", model=str(model_path))
    extra = xr.full_like(sample_cube.isel(bands=[0, 0]), 0.0).assign_coords(bands=["elevation", "AOT"])
    extra.loc[{"bands": "elevation"}] = 120.0
    out = run_local(code, xr.concat([sample_cube, extra], dim="bands"))
    xr.testing.assert_allclose(out, run_local(code, sample_cube))


def test_runtime_context_is_merged_over_the_baked_one(model_path, sample_cube):
    cube = fdl.align(fdl.open_s1(SAMPLE / "s1.nc").isel(_CROP), fdl.open_s2(SAMPLE / "s2.nc").isel(_CROP))
    code = udf_code("reconstruct", model=str(model_path), reconstruct={"smooth": False})
    out = run_local(code, sample_cube, context={"reconstruct": {"freq": "10D"}})
    want = fdl.reconstruct(cube, fdl.load_model(model_path), smooth=False, freq="10D")
    np.testing.assert_array_equal(out["t"].values, want["time"].values)
    _close(out.sel(bands="NDVI").values, want["NDVI"].values)


# --------------------------------------------------------------------------- the GFMap openEO sample

@pytest.fixture(scope="module")
def gfmap_direct(model):
    cube = fdl.align(fdl.open_s1(GF_S1), fdl.open_s2(GF_S2))
    return cube, fdl.predict_ndvi(cube, model), fdl.reconstruct(cube, model)


@pytest.mark.realdata
@pytest.mark.parametrize("compressed", [False, True], ids=["sar_backscatter-linear", "S1-SIGMA0-compressed"])
def test_predict_on_gfmap_equals_the_python_api(model_path, gfmap_direct, compressed):
    _, pred, _ = gfmap_direct
    out = run_local(udf_code("predict", model=str(model_path)), gfmap_openeo_cube(GF_S1, GF_S2, compressed=compressed))
    assert np.isfinite(out.values).sum() > 1000
    _close(out.sel(bands="NDVI").values, pred.values)


@pytest.mark.realdata
def test_reconstruct_and_phenology_on_gfmap_equal_the_python_api(model_path, gfmap_direct):
    _, _, rec = gfmap_direct
    oe = gfmap_openeo_cube(GF_S1, GF_S2)
    out = run_local(udf_code("reconstruct", model=str(model_path)), oe)
    for band in ("NDVI", "NDVI_std", "source"):
        _close(out.sel(bands=band).values, rec[band].values)
    ph = fdl.phenology(rec["NDVI"], max_seasons=1, min_valid=4, observed=rec["source"])
    out = run_local(udf_code("phenology", model=str(model_path), phenology={"max_seasons": 1, "min_valid": 4}), oe)
    _check_phenology(out, ph, rec["time"].values[0])


@pytest.mark.realdata
def test_gfmap_tiles_with_overlap_equal_the_whole(model_path):
    oe = gfmap_openeo_cube(GF_S1, GF_S2)
    code = udf_code("predict", model=str(model_path))
    whole = run_local(code, oe)
    tiled = run_tiles(code, oe, size=34, overlap=6)  # 66 x 64: 2 x 2 tiles, ragged at the edge
    xr.testing.assert_allclose(tiled.isel(y=slice(6, -6), x=slice(6, -6)), whole.isel(y=slice(6, -6), x=slice(6, -6)))


# --------------------------------------------------------------------------- bad input

def _tiny(sample_cube):
    return sample_cube.isel(y=slice(0, 4), x=slice(0, 4))


def test_wrong_dims_name_expected_and_found(model_path, sample_cube):
    """The openeo client cannot even pass such cubes locally: call the entry point as the back-end would."""
    from openeo.udf import XarrayDataCube

    ctx = {"model": str(model_path)}
    bad = XarrayDataCube(_tiny(sample_cube).rename(t="time"))
    with pytest.raises(DimensionError, match=r"expected dims \('t', 'bands', 'y', 'x'\).*found \('time', 'bands', 'y', 'x'\)"):
        apply_predict(bad, ctx)
    flat = XarrayDataCube(_tiny(sample_cube).isel(t=0, drop=True))
    with pytest.raises(DimensionError, match=r"found \('bands', 'y', 'x'\)"):
        apply_reconstruct(flat, ctx)


def test_cftime_dates_name_the_calendar(model_path, sample_cube):
    """A 't' axis of cftime dates (a non-standard calendar) was pandas' "<class 'cftime...'> is not convertible to datetime"."""
    from openeo.udf import XarrayDataCube

    tiny = _tiny(sample_cube)
    times = xr.date_range("2021-01-01", periods=tiny.sizes["t"], freq="6D", calendar="noleap", use_cftime=True)
    with pytest.raises(DimensionError, match=r"openEO UDF: expected the cube's 't' labels as dates of the standard calendar, found "
                                             r"\(cftime dates of the 'noleap' calendar\): convert them"):
        apply_predict(XarrayDataCube(tiny.assign_coords(t=times)), {"model": str(model_path)})


def test_missing_bands_name_expected_and_found(model_path, sample_cube):
    with pytest.raises(MissingVariableError, match=r"expected bands VV, VH.*missing \['VH'\], found \['VV', 'B04', 'B08', 'SCL'\]"):
        run_local(udf_code("predict", model=str(model_path)), _tiny(sample_cube).sel(bands=["VV", "B04", "B08", "SCL"]))
    with pytest.raises(MissingVariableError, match=r"B04, B08.*missing \['B04', 'B08'\], found \['VV', 'VH'\]"):
        run_local(udf_code("reconstruct", model=str(model_path)), _tiny(sample_cube).sel(bands=["VV", "VH"]))


def test_missing_model_is_a_model_error(tmp_path, sample_cube):
    with pytest.raises(ModelError, match="file missing"):
        run_local(udf_code("predict", model=str(tmp_path / "nowhere")), _tiny(sample_cube))


def test_a_tile_without_backscatter_is_refused(model_path, sample_cube):
    empty = _tiny(sample_cube).copy()
    empty.loc[{"bands": ["VV", "VH"]}] = np.nan
    with pytest.raises(InsufficientDataError, match="found none of .* dates with a finite"):
        run_local(udf_code("predict", model=str(model_path)), empty)


def test_a_tile_without_optical_values_predicts_and_reconstructs_from_s1_as_an_all_cloud_tile(model_path, sample_cube):
    """A tile whose S2 bands are NaN on every date (clouds masked out, the edge of the footprint) raised
    InsufficientDataError in the reconstruct and phenology UDFs, which fails the whole job; an all-cloud SCL tile was filled."""
    no_s2 = sample_cube.copy()
    no_s2.loc[{"bands": ["B04", "B08", "SCL"]}] = np.nan
    out = run_local(udf_code("predict", model=str(model_path)), no_s2)
    xr.testing.assert_allclose(out, run_local(udf_code("predict", model=str(model_path)), sample_cube.sel(bands=["VV", "VH"])))
    cloudy = sample_cube.copy()
    cloudy.loc[{"bands": "SCL"}] = xr.where(np.isfinite(cloudy.sel(bands="SCL")), 9.0, np.nan)
    code = udf_code("reconstruct", model=str(model_path), reconstruct={"weights": None, "debias_days": 30.0})
    with pytest.warns(UserWarning, match=r"no Sentinel-2 value in this tile \(\['B04', 'B08', 'SCL'\] missing on all \d+ dates.*"
                                          r"reconstructed from Sentinel-1 alone, as a tile whose every view is cloudy"):
        rec = run_local(code, no_s2)
    want = run_local(code, cloudy)
    np.testing.assert_array_equal(rec["t"].values, want["t"].values)
    _close(rec.values, want.values)
    assert not (rec.sel(bands="source") == 0).any() and (rec.sel(bands="source") == 1).mean() > 0.5


def test_declared_units_that_contradict_the_values_are_refused(model_path, sample_cube):
    from fusets_dl.errors import EncodingError

    with pytest.raises(EncodingError, match="declared units='dB'"):
        run_local(udf_code("predict", model=str(model_path), s1={"units": "dB"}), sample_cube)


def test_a_duplicated_band_label_is_a_dimension_error_naming_it():
    arr = xr.DataArray(np.zeros((2, 3, 1, 1), np.float32), dims=("t", "bands", "y", "x"),
                       coords={"t": pd.date_range("2021-01-01", periods=2), "bands": ["VV", "VH", "VV"], "y": [0.0], "x": [0.0]})
    with pytest.raises(DimensionError, match=r"expected each band label once, found \['VV'\] more than once in \['VV', 'VH', 'VV'\]"):
        apply_udf("predict", arr, {"model": "never-loaded"})


def test_sequence_model_tiles_given_one_decision_equal_the_whole(sample_cube, tmp_path):
    """A sequence model met as a foreign cube decides its fill and std factor per tile; one decision in the context
    (``weights``: the attrs of a reconstruction of the region, or just the decision's keys) makes every tile fill alike."""
    import dataclasses

    from fusets_dl.reconstruction.sequence_decision import SequenceDecision
    from tests.models.test_sequence import tiny_model

    m = dataclasses.replace(tiny_model(), info={"cubes": [{"start": "2015-01-01", "end": "2015-12-31"}]})
    m.save(tmp_path / "seq")
    decision = SequenceDecision("model", 1.37, False, m.sha256, m.std_scale(False)).to_attrs()
    code = udf_code("reconstruct", model=str(tmp_path / "seq"), reconstruct={"weights": decision})
    whole = run_local(code, sample_cube)
    tiled = run_tiles(code, sample_cube, size=12, overlap=4)
    _close(tiled.values, whole.values)
    plain = udf_code("reconstruct", model=str(tmp_path / "seq"), reconstruct={"weights": {**decision, "std_refit_factor": 1.0}})
    std = whole.sel(bands="NDVI_std").values
    base = run_local(plain, sample_cube).sel(bands="NDVI_std").values
    filled = whole.sel(bands="source").values == 1
    assert filled.any()
    np.testing.assert_allclose(std[filled], 1.37 * base[filled], rtol=1e-5)


def test_backscatter_bands_named_as_db_are_read_as_db_and_a_wrong_assumption_names_the_context_key():
    """Bands named VV_db / Sigma0_VV_db were forced to linear power and every tile failed; VV/VH in dB (after linear_to_db)
    failed with advice naming the Python argument, not the context's s1 units."""
    from fusets_dl.errors import EncodingError

    lin = gfmap_openeo_cube(GF_S1, GF_S2).isel(y=slice(0, 16), x=slice(0, 16))
    db = lin.copy()
    db.loc[{"bands": ["VV", "VH"]}] = 10 * np.log10(lin.sel(bands=["VV", "VH"]))
    ctx = {"model": "pretrained", "crs": 32631}
    want = apply_udf("predict", lin, ctx).get_array().values
    named = db.assign_coords(bands=["VV_db", "VH_db", "B04", "B08", "SCL"])
    _close(apply_udf("predict", named, ctx).get_array().values, want)
    with pytest.raises(EncodingError, match=r"the UDF took the bands named \['VH', 'VV'\] for linear .*\{\"s1\": \{\"units\": \"dB\"\}\}"):
        apply_udf("predict", db, ctx)
    _close(apply_udf("predict", db, {**ctx, "s1": {"units": "dB"}}).get_array().values, want)


def test_reflectance_without_a_cloud_mask_is_warned():
    """Without SCL or CLM every cloudy reflectance was a clear view (a GFMap tile, 83 % cloudy: mean NDVI 0.22 against 0.53),
    with a log line only."""
    cube = gfmap_openeo_cube(GF_S1, GF_S2).isel(y=slice(0, 16), x=slice(0, 16)).sel(bands=["VV", "VH", "B04", "B08"])
    with pytest.warns(UserWarning, match=r"no SCL or cloud mask band .*every valid reflectance counts as a clear view"):
        apply_udf("predict", cube, {"model": "pretrained", "crs": 32631})
