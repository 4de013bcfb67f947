"""Layover/shadow masks of S1 products as downloaded (readers.s1_masks): OPERA _mask, HyP3 _ls_map and _inc_map_ell, a mask band."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import fusets_dl as fdl
from fusets_dl.errors import ConfigError
from fusets_dl.testing import raise_if_dask_computes

H = W = 8
OPERA = "OPERA_L2_RTC-S1_T115-245714-IW1_{d}T141628Z_{d}T235959Z_S1A_30_v1.0"
HYP3 = "S1A_IW_{d}T054112_DVP_RTC30_G_gpuned_{pid}"


def _db(shift: float = 0.0) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return (-14.0 + 6.0 * xx / (W - 1) + 0.5 * yy / (H - 1) + shift).astype(np.float32)


def _power(shift: float = 0.0) -> np.ndarray:
    return (10 ** (_db(shift) / 10)).astype(np.float32)


def _tif(path: Path, bands: list[np.ndarray], *, x0: float = 600000.0, nodata: float | None = None,
         descriptions: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = bands[0].shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=len(bands), dtype=bands[0].dtype, crs="EPSG:32631",
                       transform=from_origin(x0, 5600000.0, 30.0, 30.0), nodata=nodata) as dst:
        for i, b in enumerate(bands, 1):
            dst.write(b, i)
            if descriptions:
                dst.set_band_description(i, descriptions[i - 1])
    return path


def _opera_mask(k: int) -> np.ndarray:
    """Date k's mask: shadow (1) at row k, columns 0-1; layover (2) at row 5, columns 2-4; both (3) at (6, 6); 255 at (7, 7)."""
    m = np.zeros((H, W), np.uint8)
    m[k, 0:2] = 1
    m[5, 2:5] = 2
    m[6, 6] = 3
    m[7, 7] = 255
    return m


def _opera(root: Path, dates=("20250418", "20250430"), mask: bool = True) -> Path:
    for k, d in enumerate(dates):
        stem = OPERA.format(d=d)
        for pol, off in (("VV", 0.0), ("VH", -7.0)):
            v = _power(off + k)
            v[7, 7] = np.nan  # OPERA's no data, where the mask says 255
            _tif(root / f"{stem}_{pol}.tif", [v], nodata=np.nan)
        if mask:
            _tif(root / f"{stem}_mask.tif", [_opera_mask(k)], nodata=255)
    return root


def _flagged(k: int) -> np.ndarray:
    m = _opera_mask(k)
    return (m >= 1) & (m <= 3)


def _info(caplog, text: str) -> str:
    return next(r.getMessage() for r in caplog.records if text in r.getMessage())


# --------------------------------------------------------------------------- OPERA RTC-S1 _mask.tif


def test_the_opera_mask_makes_layover_and_shadow_missing_on_its_own_date(tmp_path, caplog):
    """Before: the mask was left out ('not applied'): 6 of the 63 valid pixels of each date (9.5 %) kept their values."""
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = fdl.open_s1(_opera(tmp_path))
    assert s1.sizes == {"time": 2, "y": H, "x": W} and "opera_layover_shadow_mask" not in s1.variables
    for k in range(2):
        flagged = _flagged(k)  # 2 shadow + 3 layover + 1 both = 6 pixels, another shadow row on each date
        for band, off in (("VV", 0.0), ("VH", -7.0)):
            v = s1[band].values[k]
            assert np.isnan(v[flagged]).all() and np.isnan(v[7, 7])
            keep = ~flagged
            keep[7, 7] = False
            np.testing.assert_allclose(v[keep], _db(off + k)[keep], atol=1e-4)
    msg = _info(caplog, "layover/shadow masks of 2 product(s)")
    # 2 dates x 2 bands x 63 valid values; 6 flagged pixels per date: 24 values; pixels counted per product: 3 + 3, 2 + 2, 1 + 1
    assert "24 of 252 valid backscatter values (9.52%) set to missing" in msg and "(layover 6, shadow 4, both 2 pixels)" in msg


def test_layover_shadow_keep_keeps_the_providers_values(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = fdl.open_s1(_opera(tmp_path), layover_shadow="keep")
    np.testing.assert_allclose(s1["VV"].values[0, 5, 2:5], _db()[5, 2:5], atol=1e-4)
    assert int(np.isnan(s1["VV"].values).sum()) == 2  # the two no-data pixels only
    assert "read and not applied (layover_shadow='keep')" in _info(caplog, "layover_shadow='keep'")
    with pytest.raises(ConfigError, match=r"layover_shadow: expected one of \['auto', 'mask', 'keep'\].*found 'drop'"):
        fdl.open_s1(tmp_path, layover_shadow="drop")


def test_the_mask_is_applied_lazily_and_chunked_equals_unchunked(tmp_path, caplog):
    _opera(tmp_path)
    eager = fdl.open_s1(tmp_path)
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        lazy = fdl.open_s1(tmp_path, chunks={"y": 4, "x": 4})
    assert lazy["VV"].chunks is not None
    assert "applied lazily to 4 backscatter file(s) (not counted" in _info(caplog, "applied lazily")
    np.testing.assert_array_equal(lazy["VV"].values, eager["VV"].values)
    np.testing.assert_array_equal(lazy["VH"].values, eager["VH"].values)


def test_files_without_their_mask_are_read_as_they_are_and_masks_without_files_unused(tmp_path, caplog):
    _opera(tmp_path, dates=("20250418",))
    _opera(tmp_path, dates=("20250430",), mask=False)
    _tif(tmp_path / f"{OPERA.format(d='20250512')}_mask.tif", [_opera_mask(0)], nodata=255)  # no VV/VH of that date
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = fdl.open_s1(sorted(tmp_path.glob("*_V[VH].tif")) + sorted(tmp_path.glob("*_mask.tif")))
    assert s1.sizes["time"] == 2
    assert np.isnan(s1["VV"].values[0][_flagged(0)]).all()
    np.testing.assert_allclose(s1["VV"].values[1, 5, 2:5], _db()[5, 2:5], atol=1e-4)  # no mask for that date: kept
    assert "2 backscatter file(s) without their product's layover/shadow mask" in _info(caplog, "without their product's layover")
    assert "1 layover/shadow mask file(s) without their product's VV/VH" in _info(caplog, "without their product's VV/VH")


def test_mask_files_alone_are_refused_naming_them(tmp_path):
    """Before the masks were read: 'found side files only'; a list of masks alone must not reach the merge empty."""
    f = _tif(tmp_path / f"{OPERA.format(d='20250418')}_mask.tif", [_opera_mask(0)], nodata=255)
    with pytest.raises(fdl.errors.SourceError, match=r"expected backscatter GeoTIFFs .* found mask files only \(OPERA RTC-S1 _mask\.tif: "
                                                      r"OPERA_L2_RTC-S1_T115"):
        fdl.open_s1([f])


def test_a_clipped_backscatter_file_gets_its_products_mask_on_its_own_pixels(tmp_path):
    """A user's '<base>_VV_clip.tif' (columns 2-6 of the burst) and the burst's full mask: each flag lands on its own pixel."""
    stem = OPERA.format(d="20250418")
    for pol, off in (("VV", 0.0), ("VH", -7.0)):
        _tif(tmp_path / f"{stem}_{pol}_clip.tif", [_power(off)[:, 2:7]], x0=600000.0 + 60.0, nodata=np.nan)
    _tif(tmp_path / f"{stem}_mask.tif", [_opera_mask(0)], nodata=255)
    with pytest.warns(UserWarning, match="suffix"):
        s1 = fdl.open_s1(tmp_path)
    assert s1.sizes == {"time": 1, "y": H, "x": 5}
    np.testing.assert_array_equal(np.isnan(s1["VV"].values[0]), _flagged(0)[:, 2:7])


def test_an_opera_mask_with_undocumented_values_is_warned_and_they_are_kept(tmp_path):
    _opera(tmp_path, dates=("20250418",))
    m = _opera_mask(0)
    m[2, 2] = 7
    _tif(tmp_path / f"{OPERA.format(d='20250418')}_mask.tif", [m], nodata=255)
    with pytest.warns(UserWarning, match=r"expected OPERA RTC-S1 mask values 0 \(valid\), 1 \(shadow\), 2 \(layover\), 3 \(both\) or "
                                         r"255 \(no data\), found \[7\.0\]"):
        s1 = fdl.open_s1(tmp_path)
    assert np.isfinite(s1["VV"].values[0, 2, 2])


def test_the_bursts_static_layers_are_left_out(tmp_path, caplog):
    _opera(tmp_path, dates=("20250418",))
    static = "OPERA_L2_RTC-S1-STATIC_T115-245714-IW1_20140403_S1A_30_v1.0"
    _tif(tmp_path / f"{static}_mask.tif", [np.full((H, W), 2, np.uint8)], nodata=255)
    _tif(tmp_path / f"{static}_local_incidence_angle.tif", [np.full((H, W), 40.0, np.float32)])
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = fdl.open_s1(tmp_path)  # before: SourceError on the static file's bands (and a 2014-04-03 date)
    assert s1.sizes["time"] == 1 and "incidence_angle" not in s1.coords
    assert int(np.isnan(s1["VV"].values).sum()) == 7  # the acquisition's own mask (6) and no data (1), not the static one
    assert "2 file(s)" in _info(caplog, "OPERA RTC-S1-STATIC")


# --------------------------------------------------------------------------- ASF HyP3 RTC _ls_map.tif, _inc_map.tif, _inc_map_ell.tif


def _hyp3(root: Path, d: str = "20210605", pid: str = "1A2B", ls: np.ndarray | None = None, inc: float | None = None,
          ell: float | None = None) -> Path:
    name = HYP3.format(d=d, pid=pid)
    folder = root / name
    for pol, off in (("VV", 0.0), ("VH", -7.0)):
        _tif(folder / f"{name}_{pol}.tif", [_power(off)], nodata=0.0)
    if ls is not None:
        _tif(folder / f"{name}_ls_map.tif", [ls])
    if inc is not None:
        _tif(folder / f"{name}_inc_map.tif", [np.full((H, W), inc, np.float32)])
    if ell is not None:
        _tif(folder / f"{name}_inc_map_ell.tif", [np.full((H, W), ell, np.float32)])
    return folder


def _ls_map() -> np.ndarray:
    """1 tested (row 0), 5 layover (row 1), 17 shadow (row 2), 21 both (row 3), 3 and 9 slope-only (rows 4, 5), 0 not tested (6, 7)."""
    m = np.zeros((H, W), np.uint8)
    for row, v in enumerate((1, 5, 17, 21, 3, 9)):
        m[row] = v
    return m


def test_the_hyp3_ls_map_masks_layover_and_shadow_bits(tmp_path, caplog):
    """Before: left out as 'already nodata in the backscatter', which the files need not be: 24 of 64 pixels (37.5 %) kept."""
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = fdl.open_s1(_hyp3(tmp_path, ls=_ls_map()))
    nan = np.isnan(s1["VV"].values[0])
    assert nan[1:4].all() and not nan[[0, 4, 5, 6, 7]].any()  # bits 4 (layover) and 16 (shadow) only
    assert np.isnan(s1["VH"].values[0, 1:4]).all()
    msg = _info(caplog, "ASF HyP3 RTC _ls_map.tif")
    assert "48 of 128 valid backscatter values (37.50%)" in msg and "(layover 8, shadow 8, both 8 pixels)" in msg


def test_the_hyp3_local_incidence_angle_is_not_the_incidence_angle(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = fdl.open_s1(_hyp3(tmp_path, inc=0.66))
    assert "incidence_angle" not in s1.coords
    assert "local incidence angle map (radians, to the terrain's normal: not used as the incidence angle" in _info(caplog, "_inc_map.tif")


def test_the_hyp3_ellipsoid_angle_map_is_the_per_date_incidence_angle(tmp_path):
    """Before: left out: no incidence_angle (a model trained with one assumes 38 degrees)."""
    _hyp3(tmp_path, inc=0.9, ell=0.6)
    _hyp3(tmp_path, d="20210617", pid="C3D4", inc=0.9, ell=0.7)
    s1 = fdl.open_s1(tmp_path)
    assert s1["incidence_angle"].attrs["units"] == "degree"
    np.testing.assert_allclose(s1["incidence_angle"].values, np.degrees([0.6, 0.7]), atol=1e-4)  # 34.38, 40.11; not the local 51.6


def test_ellipsoid_angle_maps_of_some_scenes_only_are_not_read(tmp_path):
    _hyp3(tmp_path, ell=0.6)
    _hyp3(tmp_path, d="20210617", pid="C3D4")
    with pytest.warns(UserWarning, match=r"ellipsoid incidence angle maps \(_inc_map_ell\) for 1 of 2 scenes \(none for "
                                         r"S1A_IW_20210617T054112.*not read"):
        s1 = fdl.open_s1(tmp_path)
    assert s1.sizes["time"] == 2 and "incidence_angle" not in s1.coords


# --------------------------------------------------------------------------- a mask band beside VV/VH (GEE MASK, openEO mask)


@pytest.mark.parametrize("name", ["mask", "MASK", "Mask"])
def test_a_mask_band_beside_vv_vh_is_a_validity_mask_in_any_case(tmp_path, name, caplog):
    """Before: ignored in every case (the openEO UDF applied sar_backscatter's lowercase mask; files kept the values)."""
    valid = np.ones((H, W), np.float32)
    valid[0] = 0.0
    valid[1, :2] = np.nan  # no data: kept
    f = _tif(tmp_path / "S1_20210605.tif", [_db(), _db(-7.0), valid], descriptions=["VV", "VH", name])
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = fdl.open_s1(f)
    assert np.isnan(s1["VV"].values[0, 0]).all() and np.isnan(s1["VH"].values[0, 0]).all()
    assert np.isfinite(s1["VV"].values[0, 1:]).all()
    assert f"band {name!r} beside VV/VH read as a validity mask" in _info(caplog, "validity mask")
    assert "16 of 128 valid backscatter values (12.50%)" in _info(caplog, "validity mask")
    kept = fdl.open_s1(f, layover_shadow="keep")
    np.testing.assert_allclose(kept["VV"].values[0], _db(), atol=1e-5)


def test_a_mask_band_of_fractions_is_warned_and_taken_invalid_below_one(tmp_path):
    valid = np.ones((H, W), np.float32)
    valid[2, 3] = 0.5
    f = _tif(tmp_path / "S1_20210605.tif", [_db(), _db(-7.0), valid], descriptions=["VV", "VH", "MASK"])
    with pytest.warns(UserWarning, match=r"band 'MASK' beside VV/VH \(a validity mask\): expected 1 \(valid\), 0 \(invalid\) or null, "
                                         r"found 1 other values \(e\.g\. \[0\.5\]"):
        s1 = fdl.open_s1(f)
    assert int(np.isnan(s1["VV"].values).sum()) == 1 and np.isnan(s1["VV"].values[0, 2, 3])


def test_a_gee_stack_with_a_mask_band_is_masked_per_date_lazily(tmp_path):
    ids = ["S1A_IW_GRDH_1SDV_20210105T054112_20210105T054137_035990_0437A1_1234",
           "S1A_IW_GRDH_1SDV_20210117T054112_20210117T054137_035990_0437A1_5678"]
    masks = [np.ones((H, W), np.float32), np.ones((H, W), np.float32)]
    masks[1][:, 0] = 0.0
    arrays = [a for m in masks for a in (_db(), _db(-7.0), np.full((H, W), 38.0, np.float32), m)]
    names = [f"{i}_{b}" for i in ids for b in ("VV", "VH", "angle", "MASK")]
    f = _tif(tmp_path / "gee_stack.tif", arrays, descriptions=names)
    eager = fdl.open_s1(f)
    names_plain = [n for n in names if not n.endswith("MASK")]
    plain = _tif(tmp_path / "gee_stack_plain.tif", [a for a, n in zip(arrays, names, strict=True) if not n.endswith("MASK")],
                 descriptions=names_plain)
    with raise_if_dask_computes(10) as without:
        fdl.open_s1(plain, chunks={"y": 4, "x": 4})
    with warnings.catch_warnings(), raise_if_dask_computes(10) as counted:
        warnings.simplefilter("error", UserWarning)  # nothing to warn of
        lazy = fdl.open_s1(f, chunks={"y": 4, "x": 4})
    assert counted.total_computes == without.total_computes  # the mask adds no compute at open (the units sample is all)
    assert lazy["VV"].chunks is not None
    np.testing.assert_array_equal(lazy["VV"].values, eager["VV"].values)
    assert np.isfinite(eager["VV"].values[0]).all() and np.isnan(eager["VV"].values[1, :, 0]).all()
    assert int(np.isnan(eager["VV"].values).sum()) == H


def test_a_mask_band_in_a_joint_s1_s2_file_is_left_alone_unless_asked():
    """A joint export's ``mask`` beside VV/VH and S2 bands may be GEE's S2 clear flag (1 clear): read as S1's validity
    mask, it dropped S1 on every cloudy pixel-date (40 % of VV here), with an INFO line only."""
    import warnings

    import pandas as pd
    import xarray as xr

    rng = np.random.default_rng(1)
    t, n = 12, 8
    coords = {"time": pd.date_range("2021-05-01", periods=t, freq="5D"), "y": 5.6e6 - 10 * np.arange(n), "x": 5e5 + 10 * np.arange(n)}
    dims = ("time", "y", "x")
    flag = (rng.random((t, n, n)) > 0.4).astype("float32")
    ds = xr.Dataset({"VV": (dims, rng.normal(-11, 1, (t, n, n)).astype("float32")),
                     "VH": (dims, rng.normal(-17, 1, (t, n, n)).astype("float32")),
                     "B04": (dims, rng.uniform(0.02, 0.08, (t, n, n)).astype("float32")),
                     "B08": (dims, rng.uniform(0.25, 0.4, (t, n, n)).astype("float32")),
                     "mask": (dims, flag)}, coords=coords).rio.write_crs("EPSG:32631")
    with pytest.warns(UserWarning, match=r"band 'mask' beside VV/VH and the Sentinel-2 bands \['B04', 'B08'\].* not applied\. Pass layover_shadow='mask'"):
        s1 = fdl.open_s1(ds, units="dB")
    assert bool(np.isfinite(s1["VV"].values).all())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forced = fdl.open_s1(ds, units="dB", layover_shadow="mask")
    np.testing.assert_array_equal(np.isfinite(forced["VV"].values), flag == 1)
    alone = fdl.open_s1(ds[["VV", "VH", "mask"]], units="dB")  # no S2 band: the mask is S1's, as before
    np.testing.assert_array_equal(np.isfinite(alone["VV"].values), flag == 1)
