"""open_s2 harmonize: the processing-baseline 04.00 offset (-1000 DN from 2022-01-25), per date."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.testing import raise_if_dask_computes

# three dates before the cut-off, three from it on (2022-01-25 itself carries the offset)
DATES = pd.DatetimeIndex(["2021-12-26", "2022-01-10", "2022-01-20", "2022-01-25", "2022-02-04", "2022-02-14"])
AFTER = np.asarray(DATES >= pd.Timestamp("2022-01-25"))


def _truth(ny=12, nx=12):
    """True reflectance as DN (reflectance x 1e4): dark pixels down to 0.005, vegetation NIR 0.2..0.45."""
    rng = np.random.default_rng(17)
    red = rng.integers(50, 900, (DATES.size, ny, nx)).astype(np.int64)
    nir = rng.integers(2000, 4500, (DATES.size, ny, nx)).astype(np.int64)
    return red, nir


def _ndvi(red, nir):
    r, n = red / 1e4, nir / 1e4
    return (n - r) / (n + r)


def _raw(red, nir, *, names=("B04", "B08", "SCL"), attrs=None, coords=None, dates=DATES):
    """A DN Dataset as a STAC loader gives it (uint16, no scale factor, SCL all clear)."""
    ny, nx = red.shape[1:]
    scl = np.full(red.shape, 4, dtype=np.uint8)
    ds = xr.Dataset(
        {
            names[0]: (("time", "y", "x"), red.astype(np.uint16), dict(attrs or {})),
            names[1]: (("time", "y", "x"), nir.astype(np.uint16), dict(attrs or {})),
            names[2]: (("time", "y", "x"), scl),
        },
        coords={"time": dates, "y": 5000.0 - 10 * np.arange(ny), "x": 300000.0 + 10 * np.arange(nx)},
        attrs={"epsg": 32631},
    )
    return ds.assign_coords({k: ("time", v) for k, v in (coords or {}).items()})


def _with_offset(red, nir, where=AFTER):
    """DN as baseline 04.00 stores them: +1000 on the dates ``where`` says."""
    add = np.where(where, 1000, 0)[:, None, None]
    return red + add, nir + add


def test_auto_recovers_the_true_ndvi_on_both_sides_of_the_cutoff(caplog):
    red, nir = _truth()
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s2 = fdl.open_s2(_raw(*_with_offset(red, nir)))
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)
    assert "3 of 6 dates offset by -1000 DN (DN input without offset metadata: acquisitions from 2022-01-25)" in caplog.text
    assert "un-removed" not in caplog.text and "removed twice" not in caplog.text
    # harmonize=True does the same here; the old scalar offset would have biased the 2021 dates
    np.testing.assert_array_equal(fdl.open_s2(_raw(*_with_offset(red, nir)), harmonize=True)["NDVI"].values, s2["NDVI"].values)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"harmonize": False}, "harmonize=False"),
        ({"coords": {"s2:processing_baseline": ["03.01"] * 3 + ["04.00"] * 3, "earthsearch:boa_offset_applied": [False] * 3 + [True] * 3}},
         "except the 3 dates with earthsearch:boa_offset_applied true"),
        ({"attrs": {"boa_offset_applied": "true"}}, "offset already removed"),
        ({"names": ("S2-L2A-B04", "S2-L2A-B08", "S2-L2A-SCL")}, "values delivered harmonised"),
    ],
)
def test_an_already_harmonised_series_is_left_alone(caplog, kwargs, reason):
    red, nir = _truth()
    harmonize = kwargs.pop("harmonize", "auto")
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s2 = fdl.open_s2(_raw(red, nir, **kwargs), harmonize=harmonize)
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)
    assert "0 of 6 dates offset" in caplog.text and reason in caplog.text
    assert "un-removed" not in caplog.text and "removed twice" not in caplog.text


def test_the_processing_baseline_coordinate_decides_each_date(caplog):
    # Collection-1 reprocessing: old acquisitions come with baseline 05.00 and carry the offset,
    # which the acquisition date alone would miss
    red, nir = _truth()
    baseline = np.array(["02.09", "05.00", "05.00", "04.00", "04.00", "05.09"])
    carries = np.array([False, True, True, True, True, True])
    raw = _raw(*_with_offset(red, nir, carries), coords={"s2:processing_baseline": baseline})
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s2 = fdl.open_s2(raw)
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)
    assert "5 of 6 dates offset by -1000 DN (s2:processing_baseline >= 4.0)" in caplog.text
    # numeric baselines too, and a missing one falls back to the date
    raw = raw.assign_coords({"s2:processing_baseline": ("time", [np.nan, 5.0, 5.0, np.nan, 4.0, 5.09])})
    np.testing.assert_allclose(fdl.open_s2(raw)["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


@pytest.mark.parametrize("attrs", [{"BOA_ADD_OFFSET": -1000}, {"offset": -0.1}])
def test_a_declared_band_offset_applies_to_every_date(attrs):
    red, nir = _truth()
    add = np.full(DATES.size, True)
    s2 = fdl.open_s2(_raw(*_with_offset(red, nir, add), attrs=attrs))
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_cf_add_offset_is_applied_once():
    red, nir = _truth()
    attrs = {"scale_factor": 1e-4, "add_offset": -0.1}
    s2 = fdl.open_s2(_raw(red + 1000, nir + 1000, attrs=attrs))
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_reflectance_input_is_left_alone_by_auto():
    red, nir = _truth()
    raw = _raw(red, nir)
    raw["B04"] = (raw["B04"] / 1e4).astype(np.float32)
    raw["B08"] = (raw["B08"] / 1e4).astype(np.float32)
    s2 = fdl.open_s2(raw)
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_harmonisation_stays_lazy_and_matches_eager():
    red, nir = _truth()
    raw = _raw(*_with_offset(red, nir)).chunk({"time": 2, "y": 6, "x": 6})
    with raise_if_dask_computes(max_computes=1):  # the sample of clear red that judges the offset, nothing else
        s2 = fdl.open_s2(raw, chunks={"y": 6, "x": 6})
    assert s2["NDVI"].chunks is not None
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_plausibility_warning_on_an_unremoved_or_doubly_removed_offset():
    import warnings

    red, nir = _truth()
    with pytest.warns(UserWarning, match=r"on the dates from 2022-01-25 is 0\.10.*un-removed processing-baseline 04.00 offset"):
        fdl.open_s2(_raw(*_with_offset(red, nir)).transpose("y", "x", "time"), harmonize=False)  # any dim order
    with pytest.warns(UserWarning, match=r"is -0\.09.*removed twice"):  # harmonised by the provider, but nothing says so
        fdl.open_s2(_raw(red, nir), harmonize=True)  # forced: the offset removed twice
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fdl.open_s2(_raw(red, nir), harmonize=False)


@pytest.mark.parametrize("bad", ["yes", "True", 1, None])
def test_bad_harmonize_values_are_refused(bad):
    red, nir = _truth()
    with pytest.raises(fdl.errors.ConfigError, match=r"harmonize: expected 'auto', 'all', True or False, found " + repr(bad).replace("(", r"\(")):
        fdl.open_s2(_raw(red, nir), harmonize=bad)


def test_dn_with_a_cf_scale_factor_are_reflectance_and_an_unremoved_offset_is_warned():
    """A CF scale_factor declares reflectance (as the bundled sample's uint16 x 1e-4 without offset): nothing removed.

    When such data do carry the offset, the dark-pixel check (in-memory data) says so.
    """
    red, nir = _truth()
    clean = fdl.open_s2(_raw(red, nir, attrs={"scale_factor": 1e-4}))
    np.testing.assert_allclose(clean["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)
    raw = _raw(*_with_offset(red, nir), attrs={"scale_factor": 1e-4})
    with pytest.warns(UserWarning, match=r"on the dates from 2022-01-25 is 0\.10.*Pass harmonize=True"):
        fdl.open_s2(raw)
    np.testing.assert_allclose(fdl.open_s2(raw, harmonize=True)["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_the_plausibility_check_covers_dates_before_the_cutoff():
    """Reprocessed data carry the offset before 2022-01-25 too; an offset removed from dates without one goes negative."""
    red, nir = _truth()
    every = _raw(*_with_offset(red, nir, where=np.ones(DATES.size, bool)))  # offset on every date, nothing says so
    with pytest.warns(UserWarning) as got:
        fdl.open_s2(every)
    text = " ".join(str(w.message) for w in got)
    assert "on the dates before 2022-01-25 is 0.10" in text and "harmonize='all'" in text
    assert "on the dates from 2022-01-25" not in text
    # the same numbers as a bright scene that its provider harmonised: the warning names that reading too
    assert "Or the scene has no dark pixels and its data were harmonised by their provider" in text and "harmonize=False" in text
    with pytest.warns(UserWarning, match=r"on the dates before 2022-01-25 is -0\.09.*NDVI clips at 1"):
        fdl.open_s2(_raw(red, nir, attrs={"BOA_ADD_OFFSET": -1000}))  # an offset declared that the early dates never had


def test_dask_input_is_judged_on_a_sample_read_at_open():
    """Dask input kept the date rule's removal and only warned per chunk as computed: a GEE export opened lazily (the CLI, a
    batch run, open_s2(..., chunks=...)) got NDVI +0.29 on its 2022 dates. Now a strided sample of pixels over every date,
    read at open in one compute, decides as in memory; the values equal the in-memory read."""
    red, nir = _truth(24, 24)
    raw = _raw(red, nir)  # harmonised DN, no metadata
    with pytest.warns(UserWarning, match=r"on 3 dates from 2022-01-25 look harmonised already"):
        eager = fdl.open_s2(raw)["NDVI"].values
    with raise_if_dask_computes(max_computes=1), pytest.warns(UserWarning, match="look harmonised already"):
        lazy = fdl.open_s2(raw.chunk({"time": 1, "x": 6}), chunks={"y": 12, "x": 12})
    np.testing.assert_array_equal(lazy["NDVI"].values, eager)
    np.testing.assert_allclose(eager, _ndvi(red, nir), atol=1e-6, rtol=0)
    # data that carry the offset: removed, nothing to say, on Dask too
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = fdl.open_s2(_raw(*_with_offset(red, nir)).chunk({"time": 1, "x": 6}), chunks={"y": 12, "x": 12})
        np.testing.assert_allclose(ok["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_a_catalogue_flag_that_says_not_applied_is_overruled_by_the_dark_pixels():
    """Earth Search items whose earthsearch:boa_offset_applied is false though the offset was removed (a known catalogue
    fault): the offset was removed again (NDVI +0.29), with a warning only. Now the data decide, as for the date rule."""
    red, nir = _truth()
    flagged = _raw(red, nir, coords={"earthsearch:boa_offset_applied": np.zeros(DATES.size, bool)})
    for ds in (flagged, flagged.chunk({"time": 2})):
        with pytest.warns(UserWarning, match=r"whose offset-applied flag \(earthsearch:boa_offset_applied\) says they carry the offset, "
                                             r"on 3 dates, look harmonised already"):
            got = fdl.open_s2(ds)["NDVI"].values
        np.testing.assert_allclose(got, _ndvi(red, nir), atol=1e-6, rtol=0)
    with pytest.warns(UserWarning, match="removed twice"):  # a band attribute (a user's own declaration) is not overruled
        fdl.open_s2(_raw(red, nir, attrs={"BOA_ADD_OFFSET": -1000}))


def test_auto_keeps_dn_that_are_harmonised_already_when_the_dark_pixels_say_so():
    """A GEE S2_SR_HARMONIZED export (integer DN from 2022, no metadata): the date rule removed the offset a second time
    and NDVI clipped at 1 on most dark-red pixels, with only a log record. Now the data decide, with a warning."""
    red, nir = _truth()
    with pytest.warns(UserWarning, match=r"on 3 dates from 2022-01-25 look harmonised already.*1st percentile of clear red at -0\.09"):
        s2 = fdl.open_s2(_raw(red, nir))
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # data that carry the offset: removed as before, no warning
        s2 = fdl.open_s2(_raw(*_with_offset(red, nir)))
        np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_the_gee_table_of_harmonised_dn_gives_the_true_ndvi():
    """open_points on a GEE-style export with integer B4/B8 from 2022: 80 % of NDVI values were 1.0."""
    rng = np.random.default_rng(0)
    times = pd.date_range("2022-03-01", periods=20, freq="5D")
    rows = [{"PLOTID": i, "Date": t.strftime("%Y-%m-%d"), "B4": int(rng.integers(250, 1200)), "B8": int(rng.integers(2000, 4500)),
             "cs_cdf": 0.9, "VV": -10.0, "VH": -16.0} for i in range(30) for t in times]
    table = pd.DataFrame(rows)
    with pytest.warns(UserWarning, match="look harmonised already"):
        _, s2 = fdl.open_points(table)
    want = {(str(r["PLOTID"]), pd.Timestamp(r["Date"])): (r["B8"] - r["B4"]) / (r["B8"] + r["B4"]) for r in rows}
    expected = np.array([[want[(str(p), pd.Timestamp(t))] for p in s2["point"].values] for t in s2["time"].values])
    np.testing.assert_allclose(s2["NDVI"].values[:, 0, :], expected, atol=1e-5, rtol=0)


def test_a_bright_harmonised_scene_is_recognised_by_its_share_of_negative_red():
    """Harmonised DN of a bright winter scene (clear red 0.06-0.15, no dark pixels): the 1st percentile after a second removal
    stayed above -0.05, so it was removed (NDVI +0.41 on the 2022 dates). Now more than 5 % of clear red below 0 also says so."""
    rng = np.random.default_rng(3)
    red = rng.integers(600, 1500, (DATES.size, 12, 12))
    nir = rng.integers(2000, 3500, (DATES.size, 12, 12))
    with pytest.warns(UserWarning, match=r"look harmonised already.*and \d+ % of it below -0.01"):
        s2 = fdl.open_s2(_raw(red, nir))
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same scene carrying the offset: removed, no warning
        np.testing.assert_allclose(fdl.open_s2(_raw(*_with_offset(red, nir)))["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_reflectance_a_loader_rescaled_gets_no_offset_from_the_baseline_coordinate():
    """stackstac.stack(rescale=True) applies raster:bands scale and offset and keeps s2:processing_baseline: the offset was
    applied again on every date of baseline >= 4.0 (NDVI +0.35 on Earth Search's Collection 1), with no warning on Dask."""
    red, nir = _truth()
    refl = _raw(red, nir, coords={"s2:processing_baseline": np.array(["05.00"] * DATES.size)})
    refl["B04"] = (refl["B04"] / 1e4).astype(np.float64)
    refl["B08"] = (refl["B08"] / 1e4).astype(np.float64)
    for ds in (refl, refl.chunk({"time": 1, "y": 6, "x": 6})):
        np.testing.assert_allclose(fdl.open_s2(ds)["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)
    # CF-scaled DN (scale_factor without add_offset) with the coordinate are DN still: the offset where the baseline says
    carries = np.full(DATES.size, True)
    cf = _raw(*_with_offset(red, nir, carries), attrs={"scale_factor": 1e-4}, coords={"s2:processing_baseline": np.array(["05.00"] * 6)})
    np.testing.assert_allclose(fdl.open_s2(cf)["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_the_safe_spelling_of_the_baseline_is_read():
    """'N0500' (the product name's spelling) parsed as NaN, so the acquisition date decided: -0.18 NDVI on reprocessed 2021 dates."""
    from fusets_dl.readers.optical import _baseline_numbers

    np.testing.assert_array_equal(_baseline_numbers(np.array(["N0500", "n0400", "04.00", 5.09, None, "x"], dtype=object)),
                                  [5.0, 4.0, 4.0, 5.09, np.nan, np.nan])
    red, nir = _truth()
    carries = np.full(DATES.size, True)
    raw = _raw(*_with_offset(red, nir, carries), coords={"s2:processing_baseline": np.array(["N0500"] * DATES.size)})
    np.testing.assert_allclose(fdl.open_s2(raw.chunk({"time": 2}))["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_a_folder_of_digital_number_geotiffs_reads_with_the_date_rule(tmp_path):
    """rioxarray records scale_factor 1 and add_offset 0 for any GeoTIFF: read as a CF scale, uint16 DN were refused as
    'digital numbers read as reflectance', and with reflectance_scale=1e-4 the 2022 dates kept their +1000 (NDVI -0.19)."""
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    red, nir = _truth()
    red_dn, nir_dn = _with_offset(red, nir)
    folder = tmp_path / "s2"
    folder.mkdir()
    for i, t in enumerate(DATES):
        with rasterio.open(folder / f"S2_{t:%Y%m%d}.tif", "w", driver="GTiff", width=12, height=12, count=3, dtype="uint16",
                           crs="EPSG:32631", transform=from_origin(300000, 5000, 10, 10), nodata=0) as dst:
            for j, (name, a) in enumerate((("B04", red_dn[i]), ("B08", nir_dn[i]), ("SCL", np.full((12, 12), 4))), start=1):
                dst.write(a.astype(np.uint16), j)
                dst.set_band_description(j, name)
    for kw in ({}, {"reflectance_scale": 1e-4}, {"chunks": {"y": 6, "x": 6}}):
        np.testing.assert_allclose(fdl.open_s2(folder, **kw)["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_a_declared_offset_on_dates_that_never_carried_it_is_warned_in_a_bright_scene():
    """BOA_ADD_OFFSET copied from the newest product onto a cube spanning the cut-off, red 0.05-0.15: the pre-2022 dates lost
    1000 DN they never had (NDVI +0.40), and the 1st percentile (-0.049) did not warn. Half of their clear red below 0 does."""
    rng = np.random.default_rng(5)
    red = rng.integers(500, 1500, (DATES.size, 12, 12))
    nir = rng.integers(2000, 3500, (DATES.size, 12, 12))
    with pytest.warns(UserWarning, match=r"on the dates before 2022-01-25 is -0\.0\d+ .*% below -0.01\); expected dark pixels near 0: "
                                         r"an offset was removed that these dates did not carry"):
        fdl.open_s2(_raw(*_with_offset(red, nir), attrs={"BOA_ADD_OFFSET": -1000}))


def test_offset_data_with_slightly_negative_dark_pixels_keep_the_removal():
    """Data that really carry the offset have dark pixels slightly below 0 once it is removed (why ESA added it): 6 % of clear
    red in [-0.005, 0) made the first negative-share rule undo a correct removal (NDVI -0.28). Only values below -0.01 count."""
    red, nir = _truth()
    red = red.copy()
    red[AFTER] = np.where(np.random.default_rng(2).random(red[AFTER].shape) < 0.06, 0, red[AFTER])  # true 0: -0.005..0 in DN - 50
    dn_red, dn_nir = _with_offset(red, nir)
    dn_red = np.where((red == 0) & AFTER[:, None, None], 1000 - np.random.default_rng(4).integers(1, 50, red.shape), dn_red)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s2 = fdl.open_s2(_raw(dn_red, dn_nir))
    keep = red > 0
    np.testing.assert_allclose(s2["NDVI"].values[keep], _ndvi(red, nir)[keep], atol=1e-6, rtol=0)


def test_a_cf_scale_of_one_with_an_offset_leaves_digital_numbers():
    """Integer DN with CF scale_factor 1 and add_offset -1000 (the offset declared as CF): the scale came out as 1 and the
    DN were refused as reflectance."""
    red, nir = _truth()
    s2 = fdl.open_s2(_raw(red + 1000, nir + 1000, attrs={"scale_factor": 1.0, "add_offset": -1000.0}))
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_rescaled_reflectance_that_still_carries_the_offset_is_judged_by_its_dark_pixels():
    """stackstac(rescale=True) on items that declared a scale without the offset (Earth Search's first sentinel-2-l2a): the
    reflectance keeps +0.1 on baseline >= 04.00 dates and looks like the Collection-1 case. In memory the clear dark pixels
    decide (removed, with a warning), on Dask from a sample read at open."""
    red, nir = _truth()
    carries = AFTER
    dn_red, dn_nir = _with_offset(red, nir, carries)
    refl = _raw(dn_red, dn_nir, coords={"s2:processing_baseline": np.where(carries, "04.00", "03.01")})
    refl["B04"] = (refl["B04"] / 1e4).astype(np.float64)
    refl["B08"] = (refl["B08"] / 1e4).astype(np.float64)
    with pytest.warns(UserWarning, match=r"S2 reflectance on 3 dates of processing baseline 04.00 or later still carries the -1000 "
                                         r"DN offset \(1st percentile of clear red 0\.1\d+"):
        s2 = fdl.open_s2(refl)
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)
    # small samples (float DN or reflectance, per band; the coordinate) and the sample of clear red that judges the offset
    with raise_if_dask_computes(max_computes=4), pytest.warns(UserWarning, match="still carries the -1000 DN offset"):
        lazy = fdl.open_s2(refl.chunk({"time": 1}))
    np.testing.assert_allclose(lazy["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)  # on Dask too (it only warned per chunk)


def test_a_declared_offset_on_dates_that_never_carried_it_is_warned_on_dask_too():
    """The same cube as above, Dask-chunked: the sample read at open warns (it was silent); the values are those of the
    in-memory read (a declared offset is the user's: not overruled), and a cube whose every date carries it stays silent."""
    import warnings

    rng = np.random.default_rng(5)
    red = rng.integers(500, 1500, (DATES.size, 12, 12))
    nir = rng.integers(2000, 3500, (DATES.size, 12, 12))
    raw = _raw(*_with_offset(red, nir), attrs={"BOA_ADD_OFFSET": -1000})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = fdl.open_s2(raw)["NDVI"].values
    with pytest.warns(UserWarning, match=r"on the dates before 2022-01-25 \(a sample of pixels\) is -0\.0\d+.*an offset was removed "
                                         r"that these dates did not carry"):
        lazy = fdl.open_s2(raw.chunk({"time": 4}), chunks={"y": 6, "x": 6})
    np.testing.assert_array_equal(lazy["NDVI"].values, eager)
    carried = _raw(red + 1000, nir + 1000, attrs={"BOA_ADD_OFFSET": -1000})  # every date carries it: nothing to say
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = fdl.open_s2(carried.chunk({"time": 4}), chunks={"y": 6, "x": 6})["NDVI"].values
    np.testing.assert_allclose(ok, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_a_sample_of_a_few_chunks_among_many_never_removes_an_offset_by_itself():
    """Rescaled reflectance (baseline 05.00, offset removed by the loader) of bright fields with the dark pixels in one
    corner: the sample's windows of 4 chunks of 16 missed the corner, and the offset was removed again (NDVI +0.25, with a
    warning saying it was still in the data). A partial sample now only warns per chunk; the values are the in-memory ones."""
    dates = pd.DatetimeIndex(["2022-03-01", "2022-03-11", "2022-03-21", "2022-04-01"])
    rng = np.random.default_rng(0)
    n = 64
    red = rng.uniform(0.13, 0.18, (4, n, n))
    red[:, :10, :10] = rng.uniform(0.015, 0.03, (4, 10, 10))
    nir = rng.uniform(0.25, 0.35, (4, n, n))
    ds = xr.Dataset({"B04": (("time", "y", "x"), red.astype(np.float32)), "B08": (("time", "y", "x"), nir.astype(np.float32)),
                     "SCL": (("time", "y", "x"), np.full((4, n, n), 4, np.uint8))},
                    coords={"time": dates, "y": 5000.0 - 10 * np.arange(n), "x": 3e5 + 10 * np.arange(n),
                            "s2:processing_baseline": ("time", ["05.00"] * 4)}, attrs={"epsg": 32631})
    eager = fdl.open_s2(ds)["NDVI"].values
    np.testing.assert_allclose(eager, ((nir - red) / (nir + red)).astype(np.float32), atol=1e-6)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # each bright chunk may say so as computed
        lazy = fdl.open_s2(ds.chunk({"time": 1, "y": 16, "x": 16}), chunks={"y": 16, "x": 16})["NDVI"].values
    np.testing.assert_allclose(lazy, eager, atol=1e-6)


def test_offset_dates_the_sample_barely_sees_are_judged_per_chunk():
    """A cloudy 2022 leaves the sample under 100 clear values on the offset dates though it has many on the others: the
    per-chunk guard was dropped (the count looked at every date), so harmonised DN lost 1000 DN there silently."""
    red, nir = _truth(64, 64)
    raw = _raw(red, nir)
    raw["SCL"] = raw["SCL"].where(~xr.DataArray(AFTER, dims="time", coords={"time": DATES}) | (raw["x"] < raw["x"][2]), 9)
    # 3 offset dates x 2 clear columns: 384 clear values in the one chunk; the sample's stride of 2 sees 96 of them,
    # every one below -0.01 with the offset removed: enough to undo the removal at open (since 2026-11-28; before, each
    # chunk warned as computed and the values kept the date rule's)
    with pytest.warns(UserWarning, match=r"look harmonised already: .* would put 96 of 96 clear red values below"):
        lazy = fdl.open_s2(raw.chunk({"time": 1}), chunks={"y": 64, "x": 64})
    nd = lazy["NDVI"].where(lazy["clear"]).compute()
    np.testing.assert_allclose(nd.values, np.where(lazy["clear"].values, _ndvi(red, nir), np.nan), atol=1e-6)


def test_all_removes_the_offset_from_every_date_for_reprocessed_data():
    """Collection-1 products (baseline 05.xx) carry the offset before 2022-01-25 too; loaded without their metadata the date
    rule left it on the earlier dates (NDVI -0.14 on average), and the only remedy, a band attribute, was out of reach of the
    command line, batch runs and openEO. harmonize='all' removes it from every date, warned nowhere; the pre-cut-off warning
    names it."""
    import warnings

    red, nir = _truth()
    every = _raw(*_with_offset(red, nir, where=np.ones(DATES.size, bool)))
    with pytest.warns(UserWarning, match=r"on the dates before 2022-01-25 is 0\.10.*pass harmonize='all'"):
        fdl.open_s2(every)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for ds in (every, every.chunk({"time": 2})):
            np.testing.assert_allclose(fdl.open_s2(ds, harmonize="all")["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)
    with pytest.warns(UserWarning, match=r"before 2022-01-25 is -0\.09.*NDVI clips at 1"):  # on data that never carried it
        fdl.open_s2(_raw(red, nir), harmonize="all")


def _few_points(red, nir, n=2):
    """The first ``n`` pixels of one row: a point table of a few fields, as ``open_points`` hands it to ``open_s2``."""
    return red[:, :1, :n], nir[:, :1, :n]


@pytest.mark.parametrize("n", [1, 2])
def test_harmonised_dn_of_a_few_points_keep_their_values(n):
    """GEE S2_SR_HARMONIZED of 1-4 fields (30 or 60 clear values here, 20-85 in a Slovak year): the date rule
    removed 1000 DN silently below 100 clear pixel-dates (NDVI +0.29 on 90 % of a Slovak table's clear rows)."""
    dates = pd.date_range("2022-02-01", periods=30, freq="5D")
    rng = np.random.default_rng(3)
    red = rng.integers(200, 700, (dates.size, 1, n))
    nir = rng.integers(2500, 4000, (dates.size, 1, n))
    ds = _raw(red, nir, dates=dates)
    with pytest.warns(UserWarning, match=rf"look harmonised already: .* would put {red.size} of {red.size} clear red values below"):
        s2 = fdl.open_s2(ds)
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_offset_dn_of_a_few_points_lose_the_offset_without_a_word():
    dates = pd.date_range("2022-02-01", periods=30, freq="5D")
    rng = np.random.default_rng(3)
    red, nir = rng.integers(200, 700, (dates.size, 1, 2)), rng.integers(2500, 4000, (dates.size, 1, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s2 = fdl.open_s2(_raw(red + 1000, nir + 1000, dates=dates))
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)


def test_too_few_values_to_decide_are_warned_when_some_go_negative():
    dates = pd.date_range("2022-02-01", periods=4, freq="5D")  # 8 clear values: below the 10 needed to decide
    red, nir = np.full((4, 1, 2), 400), np.full((4, 1, 2), 3000)
    with pytest.warns(UserWarning, match=r"removed on the acquisition date alone, and 8 of the 8 clear red values .* harmonize=False"):
        s2 = fdl.open_s2(_raw(red, nir, dates=dates))
    assert float(s2["NDVI"].max()) == 1.0  # kept as the date rule says: too few values to overrule it


def test_views_made_by_undoing_the_removal_are_clear():
    """Harmonised DN with dark pixel-dates (red + NIR below 1000 DN): their NDVI was undefined with the offset removed,
    and ``clear``, made then, stayed False once the removal was undone (1.3-1.9 % of the Slovak tables' clear rows)."""
    red, nir = _truth()
    nir = nir.copy()
    nir[4, :2, :3] = 450  # water-like: red 50-900, NIR 450 -> red + NIR - 2000 < 0
    ds = _raw(red, nir)
    with pytest.warns(UserWarning, match="look harmonised already"):
        s2 = fdl.open_s2(ds)
    np.testing.assert_allclose(s2["NDVI"].values, _ndvi(red, nir), atol=1e-6, rtol=0)
    assert bool(s2["clear"].all())  # every pixel-date of the SCL-4 scene is a clear view, the dark ones included
    lazy = fdl.open_s2(ds.chunk({"time": 2, "y": 6, "x": 6}))
    xr.testing.assert_equal(lazy["clear"].compute(), s2["clear"])
    with warnings.catch_warnings():  # without a cloud mask (every valid NDVI a view) the same (review: they stayed not clear)
        warnings.simplefilter("ignore")
        bare = fdl.open_s2(ds.drop_vars("SCL"))
    assert int(bare["clear"].sum()) == bare["clear"].size == int(bare["NDVI"].notnull().sum())


def test_scaled_dn_that_keep_the_offset_are_warned_on_dask_as_in_memory():
    """DN with a CF scale_factor of 1e-4 are reflectance, left as they are; an offset left in them from 2022-01-25 was
    warned in memory and not at all on Dask (a long-series hunt: NDVI 0.13-0.15 too low there, silently)."""
    red, nir = _truth(20, 20)
    attrs = {"scale_factor": 1e-4}
    ds = _raw(*_with_offset(red, nir), attrs=attrs)
    with pytest.warns(UserWarning, match="1st percentile of clear-pixel red reflectance on the dates from 2022-01-25"):
        fdl.open_s2(ds)
    lazy = fdl.open_s2(ds.chunk({"y": 10, "x": 10}))  # nothing read at open, as before
    with pytest.warns(UserWarning, match=r"still carries the processing-baseline 04.00 offset \(Dask input, judged per chunk"):
        lazy["NDVI"].compute()
    with warnings.catch_warnings():  # without the offset: silent; a bright chunk (dark pixels nowhere) too
        warnings.simplefilter("error")
        fdl.open_s2(_raw(red, nir, attrs=attrs).chunk({"y": 10, "x": 10}))["NDVI"].compute()
        fdl.open_s2(_raw(red + 1000, nir, attrs=attrs).chunk({"y": 10, "x": 10}))["NDVI"].compute()
