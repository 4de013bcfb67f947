"""Sentinel-2 products as downloaded, read from their file names (readers.products): ESA SAFE, THEIA/MAJA, HLS, FORCE."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import fusets_dl as fdl
from fusets_dl.readers.products import product_of

N = 16
X0, Y0 = 600000.0, 5300000.0


def _tif(path: Path, bands: list[np.ndarray], dtype: str, *, res: float = 10.0, nodata: float | None = None,
         descriptions: list[str] | None = None, driver: str = "GTiff") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = bands[0].shape
    lossless = {"QUALITY": "100", "REVERSIBLE": "YES"} if driver == "JP2OpenJPEG" else {}
    with rasterio.open(path, "w", driver=driver, height=h, width=w, count=len(bands), dtype=dtype, crs="EPSG:32631",
                       transform=from_origin(X0, Y0, res, res), nodata=nodata, **lossless) as dst:
        for i, b in enumerate(bands, 1):
            dst.write(np.asarray(b).astype(dtype), i)
            if descriptions:
                dst.set_band_description(i, descriptions[i - 1])
    return path


def _field(seed: int, dark: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Red and NIR reflectance and NDVI: dark vegetation (red 0.02-0.08) or bright soil (red 0.12-0.25)."""
    rng = np.random.default_rng(seed)
    red = rng.uniform(0.02, 0.08, (N, N)) if dark else rng.uniform(0.12, 0.25, (N, N))
    nir = rng.uniform(0.25, 0.45, (N, N))
    return red, nir, (nir - red) / (nir + red)


# --------------------------------------------------------------------------- ESA SAFE

def _safe(root: Path, sensing: str, baseline: str, seed: int, *, offset: bool, suffix: str = ".tif",
          side: bool = False) -> tuple[Path, np.ndarray]:
    """One L2A SAFE with B04/B08 at 10 m and SCL at 20 m (DN, +1000 where the baseline carries the offset)."""
    safe = root / f"S2A_MSIL2A_{sensing}_{baseline}_R051_T31UFS_{sensing[:8]}T235959.SAFE"
    img = safe / "GRANULE" / f"L2A_T31UFS_A031234_{sensing}" / "IMG_DATA"
    red, nir, truth = _field(seed)
    add = 1000 if offset else 0
    driver = "JP2OpenJPEG" if suffix == ".jp2" else "GTiff"
    _tif(img / "R10m" / f"T31UFS_{sensing}_B04_10m{suffix}", [red * 1e4 + add], "uint16", driver=driver)
    _tif(img / "R10m" / f"T31UFS_{sensing}_B08_10m{suffix}", [nir * 1e4 + add], "uint16", driver=driver)
    _tif(img / "R20m" / f"T31UFS_{sensing}_SCL_20m{suffix}", [np.full((N // 2, N // 2), 4)], "uint8", res=20.0, driver=driver)
    if side:
        _tif(img / "R10m" / f"T31UFS_{sensing}_AOT_10m{suffix}", [np.full((N, N), 100)], "uint16", driver=driver)
    images = [f"GRANULE/L2A_T31UFS_A031234_{sensing}/IMG_DATA/R10m/T31UFS_{sensing}_{b}_10m" for b in ("B04", "B08")]
    images.append(f"GRANULE/L2A_T31UFS_A031234_{sensing}/IMG_DATA/R20m/T31UFS_{sensing}_SCL_20m")
    (safe / "MTD_MSIL2A.xml").write_text(_mtd(safe.name, f"{baseline[1:3]}.{baseline[3:]}", images, -1000 if offset else None))
    return safe, truth


#: ESA's band_id -> physicalBand (MTD_MSIL2A.xml Spectral_Information_List).
_PHYSICAL = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]


def _mtd(product: str, baseline: str, images: list[str], offset: float | dict[str, float] | None, quantification: int = 10000,
         product_uri: bool = True) -> str:
    """A minimal MTD_MSIL2A.xml with ESA's element names and nesting (a CDSE N0510 product's, cut down): the namespaced
    root and General_Info, Product_Info (PRODUCT_URI, PROCESSING_BASELINE, Granule_List/IMAGE_FILE), and
    Product_Image_Characteristics (QUANTIFICATION_VALUES_LIST, BOA_ADD_OFFSET_VALUES_LIST by band_id, Spectral_Information
    bandId -> physicalBand). ``offset``: one value for every band, one per physical band (``{"B4": -1000}``), or None (no
    list, as before baseline 04.00)."""
    files = "".join(f"<IMAGE_FILE>{i}</IMAGE_FILE>" for i in images)
    if offset is None:
        offsets = ""
    else:
        per = offset if isinstance(offset, dict) else dict.fromkeys(_PHYSICAL, offset)
        offsets = ("<BOA_ADD_OFFSET_VALUES_LIST>" + "".join(f'<BOA_ADD_OFFSET band_id="{i}">{per[b]:g}</BOA_ADD_OFFSET>'
                                                            for i, b in enumerate(_PHYSICAL) if b in per) + "</BOA_ADD_OFFSET_VALUES_LIST>")
    spectral = "".join(f'<Spectral_Information bandId="{i}" physicalBand="{b}"><RESOLUTION>10</RESOLUTION></Spectral_Information>'
                       for i, b in enumerate(_PHYSICAL))
    uri = f"<PRODUCT_URI>{product}</PRODUCT_URI>" if product_uri else ""
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        '<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n'
        f"<n1:General_Info><Product_Info>{uri}<PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>"
        f"<PRODUCT_TYPE>S2MSI2A</PRODUCT_TYPE><PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>"
        f'<Product_Organisation><Granule_List><Granule imageFormat="JPEG2000">{files}</Granule></Granule_List>'
        "</Product_Organisation></Product_Info>\n<Product_Image_Characteristics>"
        "<Special_Values><SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT><SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX></Special_Values>"
        f'<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">{quantification}</BOA_QUANTIFICATION_VALUE>'
        '<AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>'
        f"{offsets}<Spectral_Information_List>{spectral}</Spectral_Information_List>"
        "</Product_Image_Characteristics></n1:General_Info></n1:Level-2A_User_Product>\n"
    )


def _granules(safes: list[Path], pattern: str = "*.tif") -> list[str]:
    return sorted(str(f) for s in safes for f in s.glob(f"GRANULE/*/IMG_DATA/R*m/{pattern}") if "AOT" not in f.name)


def test_a_reprocessed_n0500_date_beside_an_n0300_date_loses_its_offset(tmp_path):
    """Before: the N0500 date of 2021 kept its +1000 DN beside an N0300 date: NDVI 0.496 for 0.747, no warning."""
    a, ta = _safe(tmp_path, "20210605T105031", "N0300", 1, offset=False)
    b, tb = _safe(tmp_path, "20210615T105031", "N0500", 2, offset=True)
    c, tc = _safe(tmp_path, "20220610T105029", "N0400", 3, offset=True)
    s2 = fdl.open_s2(_granules([a, b, c]))
    np.testing.assert_allclose(s2["NDVI"].values, np.stack([ta, tb, tc]), atol=1e-3)
    assert str(s2["time"].values[1])[:19] == "2021-06-15T10:50:31"


def test_granule_files_outside_a_safe_keep_the_date_rule(tmp_path):
    """Without the .SAFE folder above them the baseline is unknown: the acquisition date decides, as before."""
    assert product_of(tmp_path / "T31UFS_20210615T105031_B04_10m.jp2").baseline is None  # type: ignore[union-attr]
    p = product_of(tmp_path / "S2B_MSIL2A_20210615T105031_N0500_R051_T31UFS_20230101T000000.SAFE" / "GRANULE" / "g" / "IMG_DATA"
                   / "R10m" / "T31UFS_20210615T105031_B04_10m.jp2")
    assert p is not None and p.baseline == "N0500" and p.band == "B04"


def test_a_safe_folder_and_a_folder_of_safes_are_read(tmp_path):
    """Before: SourceError 'expected GeoTIFF files (*.tif) ... *_V[VH].tif'."""
    a, ta = _safe(tmp_path, "20210605T105031", "N0300", 1, offset=False, side=True)
    _b, tb = _safe(tmp_path, "20210615T105031", "N0500", 2, offset=True)
    one = fdl.open_s2(a)
    np.testing.assert_allclose(one["NDVI"].values[0], ta, atol=1e-3)
    assert one.attrs["clear_mask"].startswith("SCL")
    both = fdl.open_s2(tmp_path)
    np.testing.assert_allclose(both["NDVI"].values, np.stack([ta, tb]), atol=1e-3)


def _jp2_ok() -> bool:
    try:
        from rasterio.drivers import raster_driver_extensions

        return "jp2" in raster_driver_extensions()
    except Exception:
        return False


@pytest.mark.skipif(not _jp2_ok(), reason="GDAL without a JPEG 2000 driver")
def test_jp2_band_files_are_read_like_geotiffs(tmp_path):
    """Before: the .jp2 went to xr.open_dataset, and its band could not be named ('VV', 'VH' in the hint)."""
    a, ta = _safe(tmp_path, "20210605T105031", "N0300", 1, offset=False, suffix=".jp2")
    b, tb = _safe(tmp_path, "20210615T105031", "N0500", 2, offset=True, suffix=".jp2")
    s2 = fdl.open_s2(_granules([a, b], "*.jp2"))
    np.testing.assert_allclose(s2["NDVI"].values, np.stack([ta, tb]), atol=1e-3)
    np.testing.assert_allclose(fdl.open_s2(a)["NDVI"].values[0], ta, atol=1e-3)


def test_a_zipped_safe_is_refused_asking_to_unzip(tmp_path):
    z = tmp_path / "S2A_MSIL2A_20210605T105031_N0300_R051_T31UFS_20210605T135436.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("x.txt", "x")
    with pytest.raises(fdl.errors.SourceError, match=r"found a zip archive \(an ESA SAFE product\); unzip it"):
        fdl.open_s2(z)


# --------------------------------------------------------------------------- ESA SAFE: MTD_MSIL2A.xml


def test_mtd_msil2a_elements_are_read(tmp_path):
    """The elements and nesting of a real MTD_MSIL2A.xml: baseline, offsets by band_id -> physicalBand, quantification."""
    from fusets_dl.readers.s2_metadata import read_mtd

    xml = tmp_path / "MTD_MSIL2A.xml"
    name = "S2B_MSIL2A_20231217T135659_N0510_R067_T21JUK_20231217T175625.SAFE"
    xml.write_text(_mtd(name, "05.10", ["GRANULE/L2A_T21JUK_A035414_20231217T140918/IMG_DATA/R10m/T21JUK_20231217T135659_B04_10m"],
                        {"B4": -1000, "B8": -999, "B8A": -998}))
    meta = read_mtd(xml)
    assert (meta.baseline, meta.baseline_token(), meta.quantification, meta.product) == ("05.10", "N0510", 10000.0, name)
    assert dict(meta.offsets) == {"B04": -1000.0, "B08": -999.0, "B8A": -998.0}
    assert meta.images == ("T21JUK_20231217T135659_B04_10m",)


def _copied(root: Path, sensing: str, seed: int, red_add: float, nir_add: float) -> tuple[Path, np.ndarray]:
    """Granule files B04, B08 (DN + the offsets given) and SCL of one date, copied out of their .SAFE into ``root``."""
    red, nir, truth = _field(seed)
    _tif(root / f"T31UFS_{sensing}_B04_10m.tif", [red * 1e4 + red_add], "uint16")
    _tif(root / f"T31UFS_{sensing}_B08_10m.tif", [nir * 1e4 + nir_add], "uint16")
    _tif(root / f"T31UFS_{sensing}_SCL_20m.tif", [np.full((N // 2, N // 2), 4)], "uint8", res=20.0)
    return root, truth


def _images(sensing: str) -> list[str]:
    return [f"GRANULE/L2A_T31UFS_A031234_{sensing}/IMG_DATA/R{r}m/T31UFS_{sensing}_{b}_{r}m"
            for b, r in (("B04", 10), ("B08", 10), ("SCL", 20))]


def test_granule_files_copied_out_with_their_mtd_read_its_baseline_and_offsets(tmp_path, caplog):
    """Before: no .SAFE above them, so the date rule: a 2021 date reprocessed N0500 kept its +1000 DN (NDVI 0.50 for 0.75)."""
    t = "20210615T105031"
    d, truth = _copied(tmp_path / "copied", t, 1, 1000, 1000)
    (d / "MTD_MSIL2A.xml").write_text(_mtd(f"S2A_MSIL2A_{t}_N0500_R051_T31UFS_20230101T000000.SAFE", "05.00", _images(t), -1000))
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s2 = fdl.open_s2(d)
    np.testing.assert_allclose(s2["NDVI"].values[0], truth, atol=1e-3)
    assert any("MTD_MSIL2A.xml BOA_ADD_OFFSET of B04 (-1000 DN on 1 date(s))" in r.getMessage() for r in caplog.records)
    assert not any(str(c).startswith("fdl:boa") for c in s2.coords)


def test_a_renamed_safe_folder_reads_its_baseline_from_the_xml(tmp_path):
    """Before: 'T31UFS_2021-06-15.SAFE' has no Nxxyy: the date rule kept the N0500 offset of a 2021 date (NDVI 0.50 for 0.75)."""
    safe, truth = _safe(tmp_path, "20210615T105031", "N0500", 2, offset=True)
    renamed = safe.rename(tmp_path / "T31UFS_2021-06-15.SAFE")
    s2 = fdl.open_s2(renamed)
    np.testing.assert_allclose(s2["NDVI"].values[0], truth, atol=1e-3)


def test_the_xml_baseline_wins_over_the_safe_name_logged(tmp_path, caplog):
    """A .SAFE name saying N0300 (no offset) whose MTD_MSIL2A.xml says 05.00 with BOA_ADD_OFFSET -1000: the XML is trusted."""
    safe, truth = _safe(tmp_path, "20210615T105031", "N0300", 3, offset=True)
    (safe / "MTD_MSIL2A.xml").write_text(_mtd(safe.name, "05.00", _images("20210615T105031"), -1000))
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s2 = fdl.open_s2(safe)
    np.testing.assert_allclose(s2["NDVI"].values[0], truth, atol=1e-3)
    assert any("(05.00) differs from the .SAFE name's (N0300): the XML's is used" in r.getMessage() for r in caplog.records)
    assert any("processing baseline 05.00" in r.getMessage() for r in caplog.records)


def test_the_xml_offsets_are_removed_band_by_band(tmp_path):
    """BOA_ADD_OFFSET per band_id: B04 -1000, B08 -500 (ESA lists -1000 for all; each is read for its own band)."""
    t = "20220615T105031"
    d, truth = _copied(tmp_path, t, 4, 1000, 500)
    (d / "MTD_MSIL2A.xml").write_text(_mtd(f"S2A_MSIL2A_{t}_N0400_R051_T31UFS_{t}.SAFE", "04.00", _images(t),
                                           {b: -1000 if b == "B4" else -500 for b in _PHYSICAL}))
    s2 = fdl.open_s2(d)
    np.testing.assert_allclose(s2["NDVI"].values[0], truth, atol=1e-3)  # -1000 on both: NDVI off by 0.05 or more
    red, nir, _ = _field(4)
    assert np.abs((nir - red - 0.05) / (nir + red - 0.05) - truth).min() > 0.01


def test_an_xml_of_another_date_is_not_used(tmp_path, caplog):
    """Its IMAGE_FILE list names another date's files: left aside (INFO), the date rule decides (a 2021 date: no offset)."""
    t = "20210615T105031"
    d, truth = _copied(tmp_path, t, 5, 0, 0)
    other = "20210625T105031"
    (d / "MTD_MSIL2A.xml").write_text(_mtd(f"S2A_MSIL2A_{other}_N0500_R051_T31UFS_{other}.SAFE", "05.00", _images(other), -1000))
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s2 = fdl.open_s2(d)
    np.testing.assert_allclose(s2["NDVI"].values[0], truth, atol=1e-3)  # taken: 1000 DN too many removed, NDVI far off
    assert any("is another product's" in r.getMessage() for r in caplog.records)
    # without an image list, PRODUCT_URI's sensing time decides
    (d / "MTD_MSIL2A.xml").write_text(_mtd(f"S2A_MSIL2A_{other}_N0500_R051_T31UFS_{other}.SAFE", "05.00", [], -1000))
    np.testing.assert_allclose(fdl.open_s2(d)["NDVI"].values[0], truth, atol=1e-3)


@pytest.mark.parametrize("text", ["<n1:Level-2A_User_Product xmlns:n1='x'><n1:General_Info>",  # cut short
                                  '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><r>&a;</r>'])  # a DTD: refused
def test_an_unreadable_xml_warns_and_the_safe_name_decides(tmp_path, text):
    safe, truth = _safe(tmp_path, "20210615T105031", "N0500", 6, offset=True)
    (safe / "MTD_MSIL2A.xml").write_text(text)
    with pytest.warns(UserWarning, match=r"MTD_MSIL2A.xml: expected an ESA L2A product metadata file .* cannot be read"):
        s2 = fdl.open_s2(safe)
    np.testing.assert_allclose(s2["NDVI"].values[0], truth, atol=1e-3)  # N0500 of the name: offset removed


def test_a_quantification_value_other_than_10000_scales_the_reflectance(tmp_path, caplog):
    """reflectance = (DN + BOA_ADD_OFFSET) / BOA_QUANTIFICATION_VALUE: a product quantified by 20000 (none is, so far)."""
    t = "20220615T105031"
    red, nir, truth = _field(7)
    _tif(tmp_path / f"T31UFS_{t}_B04_10m.tif", [red * 2e4 + 1000], "uint16")
    _tif(tmp_path / f"T31UFS_{t}_B08_10m.tif", [nir * 2e4 + 1000], "uint16")
    (tmp_path / "MTD_MSIL2A.xml").write_text(_mtd(f"S2A_MSIL2A_{t}_N0400_R051_T31UFS_{t}.SAFE", "04.00", _images(t), -1000,
                                                  quantification=20000))
    with caplog.at_level(logging.INFO, logger="fusets_dl"), pytest.warns(UserWarning, match="no SCL or cloud mask band"):
        s2 = fdl.open_s2(tmp_path)
    np.testing.assert_allclose(s2["NDVI"].values[0], truth, atol=1e-3)
    assert any("BOA_QUANTIFICATION_VALUE 20000 on 1 date(s)" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- THEIA / MAJA

def _theia(root: Path, stamp: str, seed: int, *, dark: bool = True, clm: np.ndarray | None = None, sre: bool = False,
           side: bool = False) -> tuple[Path, np.ndarray]:
    base = f"SENTINEL2A_{stamp}-485_L2A_T30TYP_C_V2-2"
    d = root / base
    red, nir, truth = _field(seed, dark)
    for kind in ("FRE", "SRE") if sre else ("FRE",):
        f = 1.0 if kind == "FRE" else 0.9
        _tif(d / f"{base}_{kind}_B4.tif", [red * 1e4 * f], "int16", nodata=-10000)
        _tif(d / f"{base}_{kind}_B8.tif", [nir * 1e4], "int16", nodata=-10000)
    if clm is not None:
        _tif(d / "MASKS" / f"{base}_CLM_R1.tif", [clm], "uint8")
    if side:
        _tif(d / f"{base}_ATB_R1.tif", [np.zeros((N, N)), np.zeros((N, N))], "uint8")
        _tif(d / "MASKS" / f"{base}_EDG_R1.tif", [np.zeros((N, N))], "uint8")
    return d, truth


def _theia_files(dirs: list[Path], kind: str = "FRE") -> list[str]:
    return sorted(str(f) for d in dirs for f in d.glob(f"*_{kind}_B[48].tif"))


def test_theia_products_are_never_offset_and_keep_their_time_of_day(tmp_path, caplog):
    """Before: a bright 2022 date lost 1000 DN (NDVI 0.50 for 0.31) and the times were read as midnight."""
    a, ta = _theia(tmp_path, "20210605-105857", 1, dark=False)
    b, tb = _theia(tmp_path, "20220610-105902", 2, dark=False)
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s2 = fdl.open_s2(_theia_files([a, b]))
    np.testing.assert_allclose(s2["NDVI"].values, np.stack([ta, tb]), atol=1e-3)
    assert [str(t)[:19] for t in s2["time"].values] == ["2021-06-05T10:58:57", "2022-06-10T10:59:02"]
    assert any("THEIA/MAJA L2A" in r.getMessage() and "never carry the offset" in r.getMessage() for r in caplog.records)


def test_an_explicit_harmonize_on_a_theia_product_wins_with_a_warning(tmp_path):
    a, _ = _theia(tmp_path, "20220610-105902", 2, dark=False)
    with pytest.warns(UserWarning, match=r"THEIA/MAJA L2A .*never carries the processing-baseline offset .*, but harmonize=True"):
        s2 = fdl.open_s2(_theia_files([a]), harmonize=True)
    red, nir, _ = _field(2, dark=False)
    np.testing.assert_allclose(s2["NDVI"].values[0], (nir - red) / (nir + red - 0.2), atol=1e-3)  # as asked


def test_theia_clm_is_read_as_maja_bit_field(tmp_path):
    """Before: CLM 7, 11, 33 read as a probability of a few percent: every cloud clear (0.938 clear for 0.645)."""
    rng = np.random.default_rng(5)
    clm = rng.choice([0, 0, 7, 11, 33], (N, N)).astype(np.uint8)
    a, _truth = _theia(tmp_path, "20210605-105857", 1, clm=clm)
    s2 = fdl.open_s2([*_theia_files([a]), str(next(a.glob("MASKS/*_CLM_R1.tif")))])
    np.testing.assert_array_equal(s2["clear"].values[0], clm == 0)
    assert "MAJA cloud bit field" in s2.attrs["clear_mask"]


def test_a_plain_clm_of_few_odd_integers_warns_of_a_bit_field():
    import pandas as pd
    import xarray as xr

    rng = np.random.default_rng(5)
    clm = rng.choice([0, 0, 7, 11, 33], (1, N, N)).astype(np.uint8)
    red, nir, _ = _field(1)
    ds = xr.Dataset({"B04": (("time", "y", "x"), (red * 1e4)[None].astype(np.int16)),
                     "B08": (("time", "y", "x"), (nir * 1e4)[None].astype(np.int16)), "CLM": (("time", "y", "x"), clm)},
                    coords={"time": pd.DatetimeIndex(["2021-06-05"]), "y": Y0 - 10 * np.arange(N), "x": X0 + 10 * np.arange(N)})
    with pytest.warns(UserWarning, match=r"look like a bit field, such as THEIA/MAJA's CLM .* name the band CLM_R1"):
        fdl.open_s2(ds)


def test_a_theia_folder_reads_fre_and_its_cloud_mask_and_leaves_side_files_out(tmp_path, caplog):
    """Before: SourceError on the 2-band ATB file (a Sentinel Hub hint), or DuplicateTimeError on FRE + SRE."""
    clm = np.zeros((N, N), np.uint8)
    clm[:4] = 7
    _a, ta = _theia(tmp_path, "20210605-105857", 1, clm=clm, sre=True, side=True)
    _b, tb = _theia(tmp_path, "20210615-105857", 2, clm=clm, sre=True, side=True)
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s2 = fdl.open_s2(tmp_path)
    np.testing.assert_allclose(s2["NDVI"].values, np.stack([ta, tb]), atol=1e-3)  # FRE, not SRE (red x 0.9)
    assert s2["clear"].values[:, :4].sum() == 0 and s2["clear"].values[:, 4:].all()
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "SRE file(s) left out" in text and "side files of THEIA/MAJA L2A" in text


# --------------------------------------------------------------------------- HLS

def _hls(root: Path, stamp: str, seed: int, bands: tuple[str, ...], *, fmask: np.ndarray | None = None,
         sensor: str = "S30") -> tuple[Path, np.ndarray]:
    base = f"HLS.{sensor}.T31UFS.{stamp}.v2.0"
    d = root / base
    red, nir, truth = _field(seed, dark=False)
    values = {"B04": red, "B08": nir, "B8A": nir * 1.08, "B05": nir}  # B8A brighter than B08: a test can tell them apart
    desc = {"B04": "Red", "B08": "NIR_Broad", "B8A": "NIR_Narrow", "B05": "NIR"}
    for b in bands:
        _tif(d / f"{base}.{b}.tif", [values[b] * 1e4], "int16", nodata=-9999, descriptions=[desc[b]])
    if fmask is not None:
        _tif(d / f"{base}.Fmask.tif", [fmask], "uint8", nodata=255, descriptions=["Fmask"])
    return d, truth


def test_hls_names_give_the_day_of_year_and_no_offset(tmp_path):
    """Before: SourceError 'expected a date in the file name (YYYYMMDD ...)'; once dated, a bright 2022 date lost 1000 DN."""
    a, ta = _hls(tmp_path, "2021156T105031", 1, ("B04", "B08"))
    b, tb = _hls(tmp_path, "2022161T105029", 2, ("B04", "B08"))
    s2 = fdl.open_s2(sorted(str(f) for d in (a, b) for f in d.glob("*.tif")))
    assert [str(t)[:19] for t in s2["time"].values] == ["2021-06-05T10:50:31", "2022-06-10T10:50:29"]
    np.testing.assert_allclose(s2["NDVI"].values, np.stack([ta, tb]), atol=1e-3)


def test_hls_s30_b8a_is_the_nir_when_b08_is_absent_and_fmask_is_read_as_bits(tmp_path, caplog):
    """Before: MissingVariableError (B04, B8A) and Fmask ignored ('no SCL or cloud mask band')."""
    fmask = np.zeros((N, N), np.uint8)
    fmask[0], fmask[1], fmask[2], fmask[3] = 2, 4, 8, 1 + 64 + 128  # cloud, adjacent, shadow; cirrus + aerosol: clear
    fmask[4] = 255
    a, _ = _hls(tmp_path, "2021156T105031", 1, ("B04", "B8A"), fmask=fmask)
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s2 = fdl.open_s2(a)
    red, nir, _ = _field(1, dark=False)
    np.testing.assert_allclose(s2["NDVI"].values[0], (1.08 * nir - red) / (1.08 * nir + red), atol=1e-3)  # B8A as written
    expect = np.ones((N, N), bool)
    expect[[0, 1, 2, 4]] = False
    np.testing.assert_array_equal(s2["clear"].values[0], expect)
    assert any("B8A (NASA's NIR band for HLS S30" in r.getMessage() for r in caplog.records)


def test_hls_s30_uses_b08_when_both_nirs_are_there(tmp_path):
    """B8A is written 8 % brighter than B08 (before, the same values: a reader taking B8A passed; review T1)."""
    a, ta = _hls(tmp_path, "2021156T105031", 1, ("B04", "B08", "B8A"))
    s2 = fdl.open_s2(a)
    np.testing.assert_allclose(s2["NDVI"].values[0], ta, atol=1e-3)
    red, nir, _ = _field(1, dark=False)
    assert np.abs(s2["NDVI"].values[0] - (1.08 * nir - red) / (1.08 * nir + red)).max() > 5e-3


# --------------------------------------------------------------------------- FORCE

_FORCE_BANDS = ["BLUE", "GREEN", "RED", "REDEDGE1", "REDEDGE2", "REDEDGE3", "BROADNIR", "NIR", "SWIR1", "SWIR2"]


def _force(root: Path, name: str, seed: int) -> np.ndarray:
    red, nir, truth = _field(seed)
    layers = {b: np.full((N, N), 0.1) for b in _FORCE_BANDS}
    layers["RED"], layers["BROADNIR"], layers["NIR"] = red, nir, nir * 1.08  # B8A: brighter than B08
    _tif(root / f"{name}.tif", [layers[b] * 1e4 for b in _FORCE_BANDS], "int16", nodata=-9999, descriptions=_FORCE_BANDS)
    return truth


def test_force_broadnir_is_b08_and_its_nir_is_b8a(tmp_path):
    """Before: FORCE's NIR (band 8A) was taken as B08, BROADNIR ignored: NDVI +0.02 silently."""
    t1 = _force(tmp_path, "20210605_LEVEL2_SEN2A_BOA", 1)
    s2 = fdl.open_s2(tmp_path / "20210605_LEVEL2_SEN2A_BOA.tif")
    np.testing.assert_allclose(s2["NDVI"].values[0], t1, atol=1e-3)


def test_a_force_tile_folder_reads_the_sentinel2_boa_only(tmp_path, caplog):
    """Before: refused on the QAI file; with only BOA files, a DimensionError mixing SEN2A and LND08 dates."""
    t1 = _force(tmp_path, "20210605_LEVEL2_SEN2A_BOA", 1)
    t2 = _force(tmp_path, "20220610_LEVEL2_SEN2A_BOA", 2)
    _force(tmp_path, "20210607_LEVEL2_LND08_BOA", 3)
    for day in ("20210605", "20220610"):
        _tif(tmp_path / f"{day}_LEVEL2_SEN2A_QAI.tif", [np.zeros((N, N))], "int16", nodata=1)
    _tif(tmp_path / "20210605_LEVEL2_SEN2A_DST.tif", [np.full((N, N), 300)], "int16", nodata=-9999)
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        s2 = fdl.open_s2(tmp_path)
    np.testing.assert_allclose(s2["NDVI"].values, np.stack([t1, t2]), atol=1e-3)
    assert s2["clear"].values.all() and s2.attrs["clear_mask"].startswith("FORCE QAI")
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "Landsat file(s) left out" in text and "side files of FORCE L2" in text and "DST" in text
    with pytest.raises(fdl.errors.SourceError, match="found Landsat products only"):
        fdl.open_s2(tmp_path / "20210607_LEVEL2_LND08_BOA.tif")


#: FORCE QAI values, one per row of the test tile, and whether the pixel is clear by default (FORCE's SCREEN_QAI default).
_QAI_ROWS = [
    (1, False),  # bit 0: no data
    (1 << 1, False),  # cloud state 1: less confident (buffered) cloud
    (2 << 1, False),  # cloud state 2: confident, opaque cloud
    (3 << 1, False),  # cloud state 3: cirrus
    (1 << 3, False),  # cloud shadow
    (1 << 4, False),  # snow (clear_classes without SCL 11)
    (1 << 5, False),  # water (clear_classes without SCL 6)
    (1 << 8, False),  # subzero
    (1 << 9, False),  # saturation
    ((3 << 6) | (1 << 10) | (3 << 11) | (1 << 13) | (1 << 14), True),  # aerosol fill, low sun, illumination, slope, WVP fill
    (0, True),
]


def test_force_qai_is_read_as_the_cloud_mask(tmp_path):
    """Before: the QAI file was left out as a side file: every valid pixel clear ('none (valid NDVI)', with a warning).

    Bits after FORCE's "Level 2 output format" table: the cloud states, shadow, subzero and saturation are not clear
    (FORCE's default SCREEN_QAI), snow and water as clear_classes say; the quality notes of bits 6-7 and 10-14 are clear.
    """
    qai = np.zeros((N, N), np.int16)
    for row, (value, _) in enumerate(_QAI_ROWS):
        qai[row] = value
    truths = []
    for day, nodata in (("20210605", None), ("20210615", 1)):  # bit 0 read as a bit, and as the file's declared nodata
        truths.append(_force(tmp_path, f"{day}_LEVEL2_SEN2A_BOA", int(day[-2:])))
        _tif(tmp_path / f"{day}_LEVEL2_SEN2A_QAI.tif", [qai], "int16", nodata=nodata)
    expect = np.ones((N, N), bool)
    expect[: len(_QAI_ROWS)] = [[ok] for _, ok in _QAI_ROWS]
    s2 = fdl.open_s2(tmp_path)
    np.testing.assert_array_equal(s2["clear"].values, np.stack([expect, expect]))
    np.testing.assert_allclose(s2["NDVI"].values, np.stack(truths), atol=1e-3)
    assert s2.attrs["clear_mask"].startswith("FORCE QAI bits 0 (no data), 1-2 (cloud state") and "water, snow" in s2.attrs["clear_mask"]
    expect[5:7] = True  # snow (row 5) and water (row 6) clear under SCL's snow and water classes
    s2 = fdl.open_s2(tmp_path, clear_classes=(4, 5, 6, 11))
    np.testing.assert_array_equal(s2["clear"].values[0], expect)


def test_force_boa_without_its_qai_warns_to_add_it(tmp_path):
    """A BOA given without its QAI file: no cloud mask, and the warning names the missing file kind."""
    _force(tmp_path, "20210605_LEVEL2_SEN2A_BOA", 1)
    with pytest.warns(UserWarning, match=r"FORCE L2: give each date's \*_QAI.tif"):
        s2 = fdl.open_s2(tmp_path / "20210605_LEVEL2_SEN2A_BOA.tif")
    assert s2.attrs["clear_mask"] == "none (valid NDVI)"


# --------------------------------------------------------------------------- bands=

def test_open_s2_names_unnamed_bands_with_bands(tmp_path):
    """Before: the error told to pass bands=[...], and open_s2 had no bands= (TypeError)."""
    red, nir, truth = _field(1)
    f = _tif(tmp_path / "S2L2A_2021-06-05.tif", [red * 1e4, nir * 1e4, np.full((N, N), 4), np.ones((N, N))], "uint16")
    with pytest.raises(fdl.errors.SourceError, match=r"bands=\['B04', 'B08', 'SCL', 'dataMask'\] for open_s2"):
        fdl.open_s2(f)
    s2 = fdl.open_s2(f, bands=["B04", "B08", "SCL", "dataMask"])
    np.testing.assert_allclose(s2["NDVI"].values[0], truth, atol=1e-3)
    assert s2.attrs["clear_mask"].startswith("SCL")


# --------------------------------------------------------------------------- review 2: names with a user's suffix, mixed products, snow


def test_theia_and_hls_ndvi_files_of_the_users_are_read_not_dropped(tmp_path):
    """Before: '<theia base>_NDVI.tif' and '<hls base>.NDVI.tif' were taken for side files: SourceError 'side files only'."""
    for stamp in ("20210605-105857", "20210615-105857"):
        base = f"SENTINEL2A_{stamp}-485_L2A_T31UFS_C_V2-2"
        _tif(tmp_path / "theia" / f"{base}_NDVI.tif", [np.full((N, N), 0.7)], "float32")
    for day in ("2021156T105031", "2021166T105031"):
        _tif(tmp_path / "hls" / f"HLS.S30.T31UFS.{day}.v2.0.NDVI.tif", [np.full((N, N), 0.6)], "float32")
    assert product_of("SENTINEL2A_20210605-105857-485_L2A_T31UFS_C_V2-2_NDVI.tif").unknown == "NDVI"
    with pytest.warns(UserWarning, match=r"THEIA/MAJA L2A product with a suffix that is neither a band nor a side file of it \('NDVI'"):
        s2 = fdl.open_s2(tmp_path / "theia")
    assert [str(t)[:19] for t in s2["time"].values] == ["2021-06-05T10:58:57", "2021-06-15T10:58:57"]
    np.testing.assert_allclose(s2["NDVI"].values, 0.7, atol=1e-6)
    with pytest.warns(UserWarning, match=r"HLS S30 product with a suffix"):
        s2 = fdl.open_s2(sorted((tmp_path / "hls").glob("*.tif")))
    assert [str(t)[:10] for t in s2["time"].values] == ["2021-06-05", "2021-06-15"]


def test_an_explicit_side_file_in_a_list_is_left_out_with_a_warning(tmp_path):
    """Before: left out of an explicit list with an INFO line only."""
    _safe_dir, truth = _safe(tmp_path, "20210605T105031", "N0300", 1, offset=False, side=True)
    files = sorted(str(f) for f in _safe_dir.glob("GRANULE/*/IMG_DATA/R*m/*.tif"))
    assert any("AOT" in f for f in files)
    with pytest.warns(UserWarning, match=r"side files of ESA SAFE L2A products left out .*AOT_10m.tif.*named in the input"):
        s2 = fdl.open_s2(files)
    np.testing.assert_allclose(s2["NDVI"].values[0], truth, atol=1e-3)


@pytest.mark.parametrize("theia_first", [True, False])
def test_a_theia_date_beside_a_safe_n0400_date_keeps_its_values(tmp_path, theia_first):
    """Before: 'never offset' was a band attribute: the 2022 THEIA date lost 1000 DN (NDVI off by 0.40), silently."""
    a, ta = _theia(tmp_path, "20220605-105857", 1)
    safe, tb = _safe(tmp_path, "20220615T105031", "N0400", 2, offset=True)
    theia, esa = _theia_files([a]), [f for f in _granules([safe]) if "SCL" not in f]
    s2 = fdl.open_s2(theia + esa if theia_first else esa + theia)
    np.testing.assert_allclose(s2["NDVI"].values, np.stack([ta, tb]), atol=1e-3)
    assert "fdl:offset_free" not in s2.coords


def test_hls_fmask_snow_and_water_are_not_clear_unless_clear_classes_say_so(tmp_path):
    """Before: Fmask bits 4 (snow/ice) and 5 (water) counted clear, unlike SCL's default classes (4, 5)."""
    fmask = np.zeros((N, N), np.uint8)
    fmask[0], fmask[1], fmask[2] = 16, 32, 64  # snow, water, aerosol (clear)
    a, _ = _hls(tmp_path, "2021156T105031", 1, ("B04", "B08"), fmask=fmask)
    s2 = fdl.open_s2(a)
    assert not s2["clear"].values[0, :2].any() and s2["clear"].values[0, 2:].all()
    assert "water, snow" in s2.attrs["clear_mask"]
    s2 = fdl.open_s2(a, clear_classes=(4, 5, 6, 11))  # SCL's water and snow classes: clear under Fmask too
    assert s2["clear"].values[0].all()


def test_theia_mg2_bits_clouds_shadows_snow_and_water_are_not_clear(tmp_path):
    """Before: no MG2 test (a mutant with no MG2 bits passed), and MG2 snow (bit 2) and water (bit 0) counted clear."""
    mg2 = np.zeros((N, N), np.uint8)
    mg2[0], mg2[1], mg2[2], mg2[3] = 2, 8, 4, 1  # clouds, shadows, snow, water
    a, truth = _theia(tmp_path, "20210605-105857", 1, clm=np.zeros((N, N), np.uint8))
    _tif(a / "MASKS" / f"{a.name}_MG2_R1.tif", [mg2], "uint8")
    s2 = fdl.open_s2(tmp_path)
    np.testing.assert_allclose(s2["NDVI"].values[0], truth, atol=1e-3)
    expect = np.ones((N, N), bool)
    expect[:4] = False
    np.testing.assert_array_equal(s2["clear"].values[0], expect)
    assert "MG2_R1 bits 1 (clouds), 3 (cloud shadows) and 4-7" in s2.attrs["clear_mask"]
    assert "and the water, snow bits unset" in s2.attrs["clear_mask"]
    s2 = fdl.open_s2(tmp_path, clear_classes=(4, 5, 11))  # snow clear as SCL 11 says; water still not
    expect[2] = True
    np.testing.assert_array_equal(s2["clear"].values[0], expect)


def test_a_folder_of_safes_warns_of_the_files_beside_them(tmp_path):
    """Before: GeoTIFFs beside the .SAFE folders were left out without a word."""
    _safe(tmp_path, "20210605T105031", "N0300", 1, offset=False)
    _tif(tmp_path / "S2_20210610.tif", [np.full((N, N), 500)], "uint16", descriptions=["B04"])
    with pytest.warns(UserWarning, match=r"1 GeoTIFF/JP2 file\(s\) beside its .SAFE product\(s\) left out \(S2_20210610.tif\)"):
        fdl.open_s2(tmp_path)


def test_theia_mg2_terrain_bits_are_not_clear(tmp_path):
    """Before: MG2 bits 4 (topographic shadow), 5 (hidden by the relief), 6 (sun too low), 7 (sun tangent) counted clear.

    A topographic shadow's FRE (red 0.012, NIR 0.02: NDVI 0.25) then stood for vegetation of NDVI 0.7.
    """
    mg2 = np.zeros((N, N), np.uint8)
    mg2[0], mg2[1], mg2[2], mg2[3], mg2[4] = 16, 32, 64, 128, 16 + 64  # one terrain bit per row, then two; rows 5- none: clear
    a, _truth = _theia(tmp_path, "20210605-105857", 1, clm=np.zeros((N, N), np.uint8))
    _tif(a / "MASKS" / f"{a.name}_MG2_R1.tif", [mg2], "uint8")
    s2 = fdl.open_s2(tmp_path, clear_classes=(4, 5, 6, 11))  # water and snow clear: only the terrain bits are left to say no
    expect = np.ones((N, N), bool)
    expect[:5] = False
    np.testing.assert_array_equal(s2["clear"].values[0], expect)
    assert "4-7 (topographic shadow, hidden by the relief, sun too low, sun tangent)" in s2.attrs["clear_mask"]
