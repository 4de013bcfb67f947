"""Provider products read from their file names (readers.products): ASF HyP3 RTC, OPERA RTC-S1, download folders."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import fusets_dl as fdl
from fusets_dl.readers.products import product_of

H = W = 8


def _db(shift: float = 0.0, h: int = H, w: int = W) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (-14.0 + 6.0 * xx / (w - 1) + 0.5 * yy / (h - 1) + shift).astype(np.float32)


def _tif(path: Path, bands: list[np.ndarray], *, x0: float = 600000.0, y0: float = 5600000.0, res: float = 30.0,
         crs: str = "EPSG:32631", nodata: float | None = None, descriptions: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = bands[0].shape
    with rasterio.open(path, "w", driver="GTiff", height=h, width=w, count=len(bands), dtype=bands[0].dtype, crs=crs,
                       transform=from_origin(x0, y0, res, res), nodata=nodata) as dst:
        for i, b in enumerate(bands, 1):
            dst.write(b, i)
            if descriptions:
                dst.set_band_description(i, descriptions[i - 1])
    return path


def _hyp3(root: Path, stamp: str, kind: str = "gpuned", shift: float = 0.0, dx: int = 0, dy: int = 0, side: bool = False,
          pid: str = "1A2B") -> Path:
    """One HyP3 RTC scene folder as unzipped: _VV/_VH in the token's scale (``token[1]``: p power, d dB, a amplitude)."""
    token = kind
    name = f"S1A_IW_{stamp}_DVP_RTC30_G_{token}_{pid}"
    d = root / name
    for pol, off in (("VV", 0.0), ("VH", -7.0)):
        db = _db(shift + off)
        v = {"p": 10 ** (db / 10), "a": np.sqrt(10 ** (db / 10)), "d": db}[token[1]].astype(np.float32)
        _tif(d / f"{name}_{pol}.tif", [v], x0=600000.0 + 30 * dx, y0=5600000.0 - 30 * dy, nodata=0.0 if token[1] != "d" else None)
    if side:
        _tif(d / f"{name}_ls_map.tif", [np.ones((H, W), np.uint8)], x0=600000.0 + 30 * dx)
        _tif(d / f"{name}_inc_map.tif", [np.full((H, W), 0.66, np.float32)], x0=600000.0 + 30 * dx)
        _tif(d / f"{name}_dem.tif", [np.full((H, W), 120, np.int16)], x0=600000.0 + 30 * dx)
        (d / f"{name}.README.md.txt").write_text("ASF RTC Data Package (GAMMA)\n")
    return d


def _vv_vh(d: Path) -> list[Path]:
    return sorted(d.glob("*_V[VH].tif"))


def test_product_names_are_recognised():
    p = product_of("S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A_VV.tif")
    assert (p.provider, p.backscatter, p.scale, p.side) == ("ASF HyP3 RTC", "gamma0", "linear", None)
    assert product_of("S1B_IW_20180128T161201_SVP_RTC10_G_sdufem_FD6A_VH.tif").scale == "dB"
    assert product_of("S1A_IW_20180128T161201_DVP_RTC30_G_gauned_FD6A_VV.tif").scale == "amplitude"
    assert product_of("S1A_IW_20180128T161201_DVP_RTC30_G_spuned_FD6A_VV.tif").backscatter == "sigma0"
    ls = product_of("S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A_ls_map.tif")  # read to mask its scene (test_s1_masks)
    assert (ls.side, ls.band, ls.base) == (None, "hyp3_ls_map", "S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A")
    assert "not used as the incidence angle" in product_of("S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A_inc_map.tif").side
    ell = product_of("S1A_IW_20180128T161201_DVP_RTC30_G_gpuned_FD6A_inc_map_ell.tif")
    assert (ell.side, ell.band, ell.units) == (None, "ellipsoid_incidence_angle", "rad")
    o = product_of("OPERA_L2_RTC-S1_T115-245714-IW1_20250418T141628Z_20250419T010229Z_S1A_30_v1.0_VV.tif")
    assert (o.provider, o.backscatter, o.scale, o.side) == ("OPERA RTC-S1", "gamma0", "linear", None)
    m = product_of("OPERA_L2_RTC-S1_T115-245714-IW1_20250418T141628Z_20250419T010229Z_S1A_30_v1.0_mask.tif")
    assert (m.side, m.band, m.base) == (None, "opera_layover_shadow_mask",
                                        "OPERA_L2_RTC-S1_T115-245714-IW1_20250418T141628Z_20250419T010229Z_S1A_30_v1.0")
    assert "static layer" in product_of("OPERA_L2_RTC-S1-STATIC_T115-245714-IW1_20140403_S1A_30_v1.0_mask.tif").side
    assert product_of("S1A_IW_GRDH_1SDV_20210605T054112_Orb_TC_Sigma0_VV_db.tif").backscatter == "sigma0"
    assert product_of("S1_VV_20210605.tif") is None


@pytest.mark.parametrize(("token", "encoding", "coefficient"), [("gpuned", "linear", "gamma0"), ("gduned", "dB", "gamma0"),
                                                                 ("gauned", "amplitude", "gamma0"), ("spuned", "linear", "sigma0")])
def test_hyp3_scenes_record_the_coefficient_and_scale_of_their_names(tmp_path, token, encoding, coefficient):
    """Before: backscatter None for every HyP3 job (the sigma0 model's gamma0 warning silent: NDVI off by 0.028 on
    average, 0.177 at most), and amplitude read as power (VV 6-7 dB, VH about 10 dB off) with a warning only."""
    files = _vv_vh(_hyp3(tmp_path, "20210605T054112", token)) + _vv_vh(_hyp3(tmp_path, "20210611T054120", token, shift=0.5, pid="C3D4"))
    s1 = fdl.open_s1(files)
    assert s1.attrs["backscatter"] == coefficient and s1["VV"].attrs["backscatter"] == coefficient
    assert s1.attrs["encoding"] == f"VV:{encoding},VH:{encoding}"
    np.testing.assert_allclose(s1["VV"].values[1], _db(0.5), atol=1e-4)
    np.testing.assert_allclose(s1["VH"].values[0], _db(-7.0), atol=1e-4)


def test_opera_rtc_bursts_are_gamma0(tmp_path):
    stem = "OPERA_L2_RTC-S1_T115-245714-IW1_20250418T141628Z_20250419T010229Z_S1A_30_v1.0"
    files = [_tif(tmp_path / f"{stem}_{pol}.tif", [(10 ** (_db(off) / 10)).astype(np.float32)], nodata=np.nan)
             for pol, off in (("VV", 0.0), ("VH", -7.0))]
    s1 = fdl.open_s1(files)
    assert s1.attrs["backscatter"] == "gamma0" and s1.attrs["encoding"] == "VV:linear,VH:linear"
    assert str(s1.time.values[0])[:19] == "2025-04-18T14:16:28"


def test_a_hyp3_gamma0_series_records_gamma0_for_the_model_check(tmp_path):
    files = _vv_vh(_hyp3(tmp_path, "20210605T054112"))
    assert fdl.open_s1(files).attrs["backscatter"] == "gamma0"  # predict_ndvi compares this with the model's (tests/models)


def test_declared_units_or_backscatter_other_than_the_name_are_used_with_a_warning(tmp_path):
    files = _vv_vh(_hyp3(tmp_path, "20210605T054112", "gauned"))
    with pytest.warns(UserWarning, match=r"declared units='linear', but the file name \(ASF HyP3 RTC 'RTC30_G_gauned': "
                                         r"gamma0, amplitude\) says 'amplitude'"):
        s1 = fdl.open_s1(files, units="linear")
    assert s1.attrs["encoding"] == "VV:linear,VH:linear"
    with pytest.warns(UserWarning, match=r"declared backscatter='sigma0', but the source says gamma0"):
        s1 = fdl.open_s1(files, backscatter="sigma0")
    assert s1.attrs["backscatter"] == "sigma0"


def test_a_name_the_values_contradict_is_warned_and_the_values_win(tmp_path):
    d = _hyp3(tmp_path, "20210605T054112", "gduned")  # dB in the name
    for f in _vv_vh(d):  # ... but power in the file, as a user who converted the files in place leaves them
        with rasterio.open(f, "r+") as ds:
            ds.write(10 ** (ds.read(1) / 10), 1)
    with pytest.warns(UserWarning, match=r"says dB, but the values look linear: read as linear"):
        s1 = fdl.open_s1(_vv_vh(d))
    np.testing.assert_allclose(s1["VV"].values[0], _db(), atol=1e-4)


def test_the_file_name_scale_is_logged(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        fdl.open_s1(_vv_vh(_hyp3(tmp_path, "20210605T054112", "gauned")))
    assert any("read as amplitude, as the file name says (ASF HyP3 RTC 'RTC30_G_gauned'" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- lists of GeoTIFFs: one lattice, other extents


def test_hyp3_scenes_of_one_track_with_other_extents_are_joined_onto_their_union(tmp_path):
    """Before: xarray AlignmentError "cannot align objects with join='exact' ... 'x'" (no file, grid or remedy named)."""
    files = (_vv_vh(_hyp3(tmp_path, "20210605T054112")) + _vv_vh(_hyp3(tmp_path, "20210608T172530", shift=1.0, dx=2, pid="C3D4"))
             + _vv_vh(_hyp3(tmp_path, "20210611T054120", shift=0.5, dx=1, dy=1, pid="E5F6")))
    s1 = fdl.open_s1(files)
    assert s1.sizes == {"time": 3, "y": H + 1, "x": W + 2}
    assert float(s1.x[0]) == 600015.0 and float(s1.y[0]) == 5599985.0
    np.testing.assert_allclose(s1["VV"].values[1, :H, 2:], _db(1.0), atol=1e-4)  # each value on its own pixel
    np.testing.assert_allclose(s1["VV"].values[2, 1:, 1:W + 1], _db(0.5), atol=1e-4)
    assert np.isnan(s1["VV"].values[0, :, W:]).all() and np.isnan(s1["VV"].values[1, :, :2]).all()


def test_opera_bursts_of_one_pass_are_joined_and_merged_per_pass(tmp_path):
    """Two along-track bursts (2.8 s apart, 4 rows overlapping) x 2 dates. Before: AlignmentError on 'y', also with duplicates='first'."""
    files = []
    for d in ("20250418", "20250430"):
        for bid, row0, tm in (("T115-245714-IW1", 0, "T141628Z"), ("T115-245715-IW1", 4, "T141631Z")):
            stem = f"OPERA_L2_RTC-S1_{bid}_{d}{tm}_{d}T235959Z_S1A_30_v1.0"
            for pol, off in (("VV", 0.0), ("VH", -7.0)):
                v = (10 ** (_db(off, h=12)[row0:row0 + H] / 10)).astype(np.float32)
                files.append(_tif(tmp_path / f"{stem}_{pol}.tif", [v], y0=5600000.0 - 30 * row0, nodata=np.nan))
    s1 = fdl.open_s1(files)
    assert s1.sizes == {"time": 2, "y": 12, "x": W}
    assert [str(t)[:19] for t in s1.time.values] == ["2025-04-18T14:16:28", "2025-04-30T14:16:28"]
    np.testing.assert_allclose(s1["VV"].values[0], _db(h=12), atol=1e-4)


def test_geotiffs_in_two_crs_are_refused_naming_both(tmp_path):
    """Before: stacked without a word as one 2-date grid labelled EPSG:32631."""
    a = _tif(tmp_path / "S1_20210605_VV.tif", [_db()])
    b = _tif(tmp_path / "S1_20210611_VV.tif", [_db()], crs="EPSG:32632")
    with pytest.raises(fdl.errors.CRSMismatchError, match=r"found EPSG:32631 and EPSG:32632 \(S1_20210605_VH.tif: 8 x 8 pixels.*S1_20210611_VH.tif"):
        fdl.open_s1([a, b, _tif(tmp_path / "S1_20210605_VH.tif", [_db(-7)]),
                     _tif(tmp_path / "S1_20210611_VH.tif", [_db(-7)], crs="EPSG:32632")])


def test_geotiffs_on_another_lattice_are_refused_with_the_offset(tmp_path):
    files = [_tif(tmp_path / "S1_20210605_VV.tif", [_db()]), _tif(tmp_path / "S1_20210605_VH.tif", [_db(-7)]),
             _tif(tmp_path / "S1_20210611_VV.tif", [_db()], x0=600015.0), _tif(tmp_path / "S1_20210611_VH.tif", [_db(-7)], x0=600015.0)]
    with pytest.raises(fdl.errors.GridMismatchError, match=r"S1_20210611_V[VH].tif: 8 x 8 pixels .* offset by up to 0\.5 pixel"):
        fdl.open_s1(files)


def test_tiles_of_one_date_on_one_lattice_follow_duplicates(tmp_path):
    west = [_tif(tmp_path / f"S1_20210605_{p}_w.tif", [_db(o)[:, :4]]) for p, o in (("VV", 0), ("VH", -7))]
    east = [_tif(tmp_path / f"S1_20210605_{p}_e.tif", [_db(o)[:, 4:]], x0=600120.0) for p, o in (("VV", 0), ("VH", -7))]
    with pytest.raises(fdl.errors.GridMismatchError, match="combine_first"):
        fdl.open_s1(west + east)
    s1 = fdl.open_s1(west + east, duplicates="first")
    np.testing.assert_allclose(s1["VV"].values[0], _db(), atol=1e-5)


def test_footprints_far_apart_are_refused(tmp_path):
    files = [_tif(tmp_path / f"S1_20210605_{p}.tif", [_db(o)]) for p, o in (("VV", 0), ("VH", -7))]
    files += [_tif(tmp_path / f"S1_20210611_{p}.tif", [_db(o)], x0=630000.0) for p, o in (("VV", 0), ("VH", -7))]
    with pytest.raises(fdl.errors.GridMismatchError, match="found 2 sets of footprints apart, the nearest two 992 pixels apart"):
        fdl.open_s1(files)


# --------------------------------------------------------------------------- download folders


def test_a_hyp3_scene_folder_is_read_leaving_its_side_files_out(tmp_path, caplog):
    """Before: SourceError on ..._dem.tif ('expected band descriptions ... found 1 bands')."""
    d = _hyp3(tmp_path, "20210605T054112", side=True)
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = fdl.open_s1(d)
    assert s1.sizes["time"] == 1 and s1.attrs["backscatter"] == "gamma0"
    msg = next(r.getMessage() for r in caplog.records if "side files" in r.getMessage())
    assert "2 file(s)" in msg and "_dem.tif" in msg and "_inc_map.tif" in msg and "local incidence angle" in msg
    assert "_ls_map.tif" not in msg  # read: applied to the scene's VV/VH (tests/readers/test_s1_masks.py)
    assert "incidence_angle" not in s1.coords  # the local angle is not the incidence angle


def test_a_folder_of_hyp3_scene_folders_is_searched_one_level_down(tmp_path):
    """Before: SourceError "expected GeoTIFF files (*.tif) or a Zarr store, found neither"."""
    _hyp3(tmp_path, "20210605T054112", side=True)
    _hyp3(tmp_path, "20210611T054120", shift=0.5, side=True, pid="C3D4")
    s1 = fdl.open_s1(tmp_path)
    assert s1.sizes["time"] == 2
    np.testing.assert_allclose(s1["VV"].values[1], _db(0.5), atol=1e-4)
    s1b = fdl.open_s1(sorted(tmp_path.iterdir()))  # a list of the scene folders
    np.testing.assert_allclose(s1b["VV"].values, s1["VV"].values)


def test_an_opera_folder_applies_the_mask_and_says_so(tmp_path, caplog):
    stem = "OPERA_L2_RTC-S1_T115-245714-IW1_20250418T141628Z_20250419T010229Z_S1A_30_v1.0"
    for pol, off in (("VV", 0.0), ("VH", -7.0)):
        _tif(tmp_path / f"{stem}_{pol}.tif", [(10 ** (_db(off) / 10)).astype(np.float32)], nodata=np.nan)
    _tif(tmp_path / f"{stem}_mask.tif", [np.zeros((H, W), np.uint8)], nodata=255)
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s1 = fdl.open_s1(tmp_path)
    assert s1.sizes["time"] == 1
    assert "opera_layover_shadow_mask" not in s1.data_vars
    assert any("OPERA RTC-S1 _mask.tif): 0 of 128 valid backscatter values" in r.getMessage() for r in caplog.records)


def test_an_empty_folder_of_folders_names_them(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "notes.txt").write_text("x")
    with pytest.raises(fdl.errors.SourceError, match=r"in it or in its sub-folders, found neither \(sub-folders: a\).*glob"):
        fdl.open_s1(tmp_path)


# --------------------------------------------------------------------------- SNAP single-band names


def test_a_snap_single_band_file_keeps_its_sigma0_label(tmp_path):
    """Before: backscatter None (the VV token of the name read, its Sigma0 not)."""
    files = [_tif(tmp_path / f"S1A_IW_GRDH_1SDV_20210605T054112_Orb_TC_Sigma0_{p}_db.tif", [_db(o)]) for p, o in (("VV", 0), ("VH", -7))]
    s1 = fdl.open_s1(files)
    assert s1.attrs["backscatter"] == "sigma0" and s1.attrs["encoding"] == "VV:dB,VH:dB"
def test_bands_names_geotiffs_without_descriptions(tmp_path):
    """Sentinel Hub Process API responses hold no band names. Before: SourceError with no way to name them."""
    for k, d in enumerate(("2021-06-05", "2021-06-11")):
        vv, vh = (10 ** (_db(k * 0.5) / 10)).astype(np.float32), (10 ** (_db(k * 0.5 - 7) / 10)).astype(np.float32)
        _tif(tmp_path / f"S1_{d}.tif", [vv, vh, np.ones((H, W), np.float32)])
    with pytest.raises(fdl.errors.SourceError, match=r"found 3 bands and descriptions None\. Name the bands in order with bands="):
        fdl.open_s1(tmp_path)
    s1 = fdl.open_s1(tmp_path, bands=["VV", "VH", "dataMask"])
    np.testing.assert_allclose(s1["VV"].values[1], _db(0.5), atol=1e-4)
    with pytest.raises(fdl.errors.SourceError, match=r"bands= names 2 bands \['VV', 'VH'\], the file holds 3"):
        fdl.open_s1(tmp_path, bands=["VV", "VH"])




# --------------------------------------------------------------------------- review 2


def test_consecutive_frames_offset_diagonally_are_joined(tmp_path):
    """Two overlapping 12 x 12 frames offset 3 columns and 9 rows (a track inclined in UTM), a third 9 rows further.
    Before: GridMismatchError 'footprints far apart' (union 21 x 15 = 315 pixels > 288 summed), although they overlap."""
    big = _db(h=40, w=20)
    files = []
    for k, (dx, dy) in enumerate(((0, 0), (3, 9), (6, 18))):
        stamp = f"S1_2021060{5 + k}"
        for pol, off in (("VV", 0.0), ("VH", -7.0)):
            files.append(_tif(tmp_path / f"{stamp}_{pol}.tif", [(big + off)[dy:dy + 12, dx:dx + 12]], x0=600000.0 + 30 * dx,
                              y0=5600000.0 - 30 * dy))
    s1 = fdl.open_s1(files)
    assert s1.sizes == {"time": 3, "y": 30, "x": 18}
    np.testing.assert_allclose(s1["VV"].values[1, 9:21, 3:15], big[9:21, 3:15], atol=1e-4)
    assert np.isnan(s1["VV"].values[0, 12:]).all()


def test_opera_bursts_of_two_subswaths_offset_across_and_along_are_joined(tmp_path):
    """IW1/IW2 bursts of one number: far across track (x), a little along (y), overlapping. Before: refused 'far apart'."""
    files = []
    for bid, dx, dy, tm in (("T115-245714-IW1", 0, 0, "T141628Z"), ("T115-245714-IW2", 6, 2, "T141629Z")):
        stem = f"OPERA_L2_RTC-S1_{bid}_20250418{tm}_20250418T235959Z_S1A_30_v1.0"
        for pol, off in (("VV", 0.0), ("VH", -7.0)):
            v = (10 ** (_db(off, h=H + 2, w=W + 6)[dy:dy + H, dx:dx + W] / 10)).astype(np.float32)
            files.append(_tif(tmp_path / f"{stem}_{pol}.tif", [v], x0=600000.0 + 30 * dx, y0=5600000.0 - 30 * dy, nodata=np.nan))
    s1 = fdl.open_s1(files, duplicates="first")  # two bursts 1 s apart: one pass, merged
    assert s1.sizes == {"time": 1, "y": H + 2, "x": W + 6}


def test_hyp3_names_with_a_suffix_of_the_users_are_read_not_dropped(tmp_path):
    """Before: '<base>_VV_clip.tif' / '_VV_dB.tif' were side files: SourceError 'side files only', or a date lost in a folder."""
    clip, dbs, mixed = [], tmp_path / "db", tmp_path / "mixed"
    for k, stamp in enumerate(("20210605T054112", "20210611T054120")):
        base = f"S1A_IW_{stamp}_DVP_RTC30_G_gpuned_{k}ABC"
        for pol, off in (("VV", 0.0), ("VH", -7.0)):
            lin = (10 ** (_db(off + k) / 10)).astype(np.float32)
            clip.append(_tif(tmp_path / "clip" / f"{base}_{pol}_clip.tif", [lin], nodata=0.0))
            _tif(dbs / f"{base}_{pol}_dB.tif", [_db(off + k)])
            _tif(mixed / (f"{base}_{pol}.tif" if k == 0 else f"{base}_{pol}_clip.tif"), [lin], nodata=0.0)
    p = product_of(dbs / "S1A_IW_20210605T054112_DVP_RTC30_G_gpuned_0ABC_VV_dB.tif")
    assert (p.side, p.unknown, p.backscatter, p.scale) == (None, "VV_dB", "gamma0", "dB")
    with pytest.warns(UserWarning, match=r"ASF HyP3 RTC product with a suffix that is neither a band nor a side file of it \('VH_clip'"):
        s1 = fdl.open_s1(clip)
    assert s1.sizes["time"] == 2 and s1.attrs["encoding"] == "VV:linear,VH:linear" and s1.attrs["backscatter"] == "gamma0"
    np.testing.assert_allclose(s1["VV"].values[1], _db(1.0), atol=1e-4)
    with pytest.warns(UserWarning, match="suffix"):
        s1 = fdl.open_s1(dbs)
    assert s1.attrs["encoding"] == "VV:dB,VH:dB"
    np.testing.assert_allclose(s1["VH"].values[0], _db(-7.0), atol=1e-4)
    with pytest.warns(UserWarning, match="suffix"):
        s1 = fdl.open_s1(mixed)
    assert s1.sizes["time"] == 2


def test_an_explicit_hyp3_side_file_is_left_out_with_a_warning(tmp_path):
    d = _hyp3(tmp_path, "20210605T054112", side=True)
    with pytest.warns(UserWarning, match=r"side files of ASF HyP3 RTC products left out .*_dem.tif.*named in the input"):
        s1 = fdl.open_s1(sorted(d.glob("*.tif")))
    assert s1.sizes["time"] == 1


def test_a_single_pol_scene_among_dual_pol_scenes_of_other_extents_is_read(tmp_path):
    """Before: GridMismatchError: the VV files joined onto a 8 x 11 union, the VH files onto 8 x 9 (named by one 8 x 8 file)."""
    files = []
    for k, (stamp, dx, pols) in enumerate((("20210605T054112", 0, ("VV", "VH")), ("20210611T054120", 3, ("VV",)),
                                            ("20210617T054113", 1, ("VV", "VH")))):
        name = f"S1A_IW_{stamp}_{'DVP' if len(pols) == 2 else 'SVP'}_RTC30_G_gpuned_{k}ABC"
        for pol in pols:
            files.append(_tif(tmp_path / f"{name}_{pol}.tif", [(10 ** (_db(-7.0 if pol == "VH" else 0.0) / 10)).astype(np.float32)],
                              x0=600000.0 + 30 * dx, nodata=0.0))
    with pytest.warns(UserWarning, match=r"bands missing on some dates .*VH \(the 2 VH files .*\) on 1 of 3 dates \(2021-06-11"):
        s1 = fdl.open_s1(files)
    assert s1.sizes == {"time": 3, "y": H, "x": W + 3}
    assert s1["VH"].isnull().all(("x", "y")).values.tolist() == [False, True, False]
    np.testing.assert_allclose(s1["VV"].values[1, :, 3:], _db(), atol=1e-4)


def test_two_uint16_compressed_files_on_one_lattice_keep_their_encoding(tmp_path):
    """Before: joined into float64 NaN, so the uint16 dtype was lost: EncodingError 'cannot detect backscatter units'."""
    import pandas as pd
    import xarray as xr

    def cube(dates, nx):
        dn = lambda d: np.round(10 ** ((d + 83) / 20)).astype(np.uint16)  # noqa: E731  openEO's compressed dB
        return xr.Dataset({b: (("t", "y", "x"), np.stack([dn(_db(o, w=nx))] * len(dates))) for b, o in (("VV", 0.0), ("VH", -7.0))},
                          coords={"t": pd.to_datetime(dates), "y": 5600000.0 - 10 * np.arange(H) - 5,
                                  "x": 600000.0 + 10 * np.arange(nx) + 5}).rio.write_crs("EPSG:32631")

    a, b = tmp_path / "a.nc", tmp_path / "b.nc"
    cube(["2021-01-05", "2021-01-17"], W).to_netcdf(a)
    cube(["2022-01-05", "2022-01-17"], W - 1).to_netcdf(b)
    s1 = fdl.open_s1([a, b])
    assert s1.attrs["encoding"] == "VV:compressed,VH:compressed" and s1.sizes == {"time": 4, "y": H, "x": W}
    np.testing.assert_allclose(s1["VV"].values[-1, :, :W - 1], _db(w=W - 1), atol=0.01)
    assert np.isnan(s1["VV"].values[-1, :, W - 1]).all()


def test_a_folder_of_sensor_folders_is_refused_naming_them(tmp_path):
    """Before: data/ with s1/ and s2/ was read one level down: the other sensor's files pulled in."""
    for d in ("20210105", "20210117"):
        _tif(tmp_path / "s1" / f"S1_{d}.tif", [_db(), _db(-7)], descriptions=["VV", "VH"])
        _tif(tmp_path / "s2" / f"S2_{d}.tif", [np.full((H, W), 500, np.uint16)] * 2, descriptions=["B04", "B08"])
    with pytest.raises(fdl.errors.SourceError, match=r"found no GeoTIFF of its own and 2 other sub-folder\(s\) holding GeoTIFFs: "
                                                      r"s1/ \(2 file\(s\)\), s2/ \(2 file\(s\)\)"):
        fdl.open_s1(tmp_path)
    assert fdl.open_s1(tmp_path / "s1").sizes["time"] == 2


def test_a_folder_of_hyp3_zips_asks_to_unzip(tmp_path):
    (tmp_path / "S1A_IW_20210605T054112_DVP_RTC30_G_gpuned_1A2B.zip").write_bytes(b"PK")
    with pytest.raises(fdl.errors.SourceError, match=r"found 1 zip archive\(s\) \(S1A_IW_.*_1A2B.zip\): unzip them"):
        fdl.open_s1(tmp_path)


@pytest.mark.parametrize(("name", "expected"), [("S1_20210605_LeeSigma_0.9", None), ("S1_20210605_sigma_05_filtered", None),
                                                ("S1_20210605_gamma_0.5_stretch", None), ("x_Sigma0_VV_db", "sigma0"),
                                                ("x_sigma_0_VV", "sigma0"), ("x_Gamma0", "gamma0"), ("Beta0.VV", "beta0"),
                                                ("gamma nought", "gamma0"), ("σ0_VV", "sigma0")])
def test_the_coefficient_is_a_token_not_a_filter_parameter(name, expected):
    """Before: LeeSigma_0.9 (SNAP's Lee Sigma filter), sigma_05 and gamma_0.5 were read as sigma0/gamma0."""
    from fusets_dl.readers.products import coefficient_in

    assert coefficient_in(name) == expected


def test_bands_is_warned_of_where_it_does_not_apply_and_where_it_differs(tmp_path):
    """Before: bands= silently ignored for netCDF; a difference from the descriptions only logged."""
    import xarray as xr

    ds = xr.Dataset({b: (("time", "y", "x"), _db(o)[None]) for b, o in (("VV", 0.0), ("VH", -7.0))},
                    coords={"time": [np.datetime64("2021-06-05")], "y": 5600000.0 - 30 * np.arange(H), "x": 600000.0 + 30 * np.arange(W)})
    ds.to_netcdf(tmp_path / "s1.nc")
    with pytest.warns(UserWarning, match=r"bands=\['VH', 'VV'\] names the bands of GeoTIFF files; s1.nc is not one"):
        fdl.open_s1(tmp_path / "s1.nc", bands=["VH", "VV"])
    f = _tif(tmp_path / "S1_20210605.tif", [_db(), _db(-7)], descriptions=["VV", "VH"])
    with pytest.warns(UserWarning, match=r"bands=\['VV', 'VH2'\] used instead of the file's band descriptions \['VV', 'VH'\]"):
        with pytest.raises(fdl.errors.MissingVariableError):
            fdl.open_s1(f, bands=["VV", "VH2"])
