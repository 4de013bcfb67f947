"""load_stac (readers.stac): local GeoTIFFs and STAC items written by the test, loaded offline with odc-stac."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fusets_dl as fdl
from fusets_dl.readers.stac import load_stac
from fusets_dl.testing import raise_if_dask_computes

pystac = pytest.importorskip("pystac", reason="load_stac needs the 'stac' extra (pystac, odc-stac)")
pytest.importorskip("odc.stac", reason="load_stac needs the 'stac' extra (pystac, odc-stac)")
rasterio = pytest.importorskip("rasterio")
from rasterio.transform import from_origin  # noqa: E402

EPSG, X0, Y0, RES, N = 32631, 600000.0, 5600000.0, 10.0, 16
TRANSFORM = from_origin(X0, Y0, RES, RES)


def _tif(path: Path, data: np.ndarray, nodata) -> str:
    with rasterio.open(
        path, "w", driver="GTiff", width=N, height=N, count=1, dtype=data.dtype, crs=f"EPSG:{EPSG}",
        transform=TRANSFORM, nodata=nodata, tiled=True, blockxsize=16, blockysize=16,
    ) as dst:
        dst.write(data, 1)
    return str(path)


def _item(tmp: Path, key: str, date: str, assets: dict[str, tuple[np.ndarray, object]], props: dict, collection: str):
    from shapely.geometry import box, mapping

    bounds = (X0, Y0 - N * RES, X0 + N * RES, Y0)
    from pyproj import Transformer

    lonlat = Transformer.from_crs(EPSG, 4326, always_xy=True).transform_bounds(*bounds)
    item = pystac.Item(
        id=f"{key}-{date}", geometry=mapping(box(*lonlat)), bbox=list(lonlat),
        datetime=pd.Timestamp(date + "T10:30:00").to_pydatetime(), properties={"proj:epsg": EPSG, **props},
        collection=collection,
        stac_extensions=[
            "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
            "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
        ],
    )
    for name, (arr, nodata) in assets.items():
        href = _tif(tmp / f"{key}_{date}_{name}.tif", arr, nodata)
        extra = {"proj:shape": [N, N], "proj:transform": list(TRANSFORM)[:6], "proj:epsg": EPSG,
                 "raster:bands": [{"nodata": nodata, "data_type": str(arr.dtype)}]}
        item.add_asset(name, pystac.Asset(href=href, media_type=pystac.MediaType.GEOTIFF, roles=["data"], extra_fields=extra))
    return item


DATES = ["2021-12-20", "2022-01-27", "2022-03-05"]
BASELINES = ["03.01", "03.01", "04.00"]  # 2022-01-27 still on 03.01: the item property, not the date, decides


def _s2_items(tmp: Path, names=("B04", "B08", "SCL"), collection="sentinel-2-l2a"):
    rng = np.random.default_rng(0)
    truth = {}
    items = []
    for i, (d, b) in enumerate(zip(DATES, BASELINES, strict=True)):
        red = rng.integers(300, 900, (N, N)).astype(np.uint16)
        nir = rng.integers(2500, 4500, (N, N)).astype(np.uint16)
        scl = np.where(rng.random((N, N)) < 0.8, 4, 9).astype(np.uint8)
        red[0, i] = 0  # nodata
        truth[d] = (red, nir, scl)
        off = 1000 if float(b) >= 4 else 0  # baseline 04.00 DN carry +1000
        dn_red = np.where(red > 0, red + off, 0).astype(np.uint16)
        items.append(_item(tmp, "s2", d, {names[0]: (dn_red, 0), names[1]: ((nir + off).astype(np.uint16), 0), names[2]: (scl, 0)},
                           {"platform": "sentinel-2a", "s2:processing_baseline": b}, collection))
    return items, truth


def test_planetary_computer_style_s2_items_are_harmonised_per_date(tmp_path):
    items, truth = _s2_items(tmp_path)
    s2 = load_stac(items)
    assert list(pd.DatetimeIndex(s2["time"].values).strftime("%Y-%m-%d")) == DATES
    assert s2.rio.crs.to_epsg() == EPSG
    assert list(s2["s2:processing_baseline"].values) == BASELINES
    np.testing.assert_allclose(s2["x"].values, X0 + RES / 2 + RES * np.arange(N))
    for i, d in enumerate(DATES):
        red, nir, scl = (a.astype(np.float64) for a in truth[d])
        expected = np.where(red > 0, (nir - red) / (nir + red), np.nan)
        np.testing.assert_allclose(s2["NDVI"].values[i], expected, atol=1e-6, rtol=0)
        np.testing.assert_array_equal(s2["clear"].values[i], (scl == 4) & np.isfinite(expected))


def test_cdse_items_give_their_baseline_as_processing_version(tmp_path):
    """CDSE names the baseline processing:version: it was not loaded, so the acquisition date decided (the 2022-01-27 item,
    still on 03.01, lost 1000 DN it never carried)."""
    items, truth = _s2_items(tmp_path)
    for it in items:
        it.properties["processing:version"] = it.properties.pop("s2:processing_baseline")
    s2 = load_stac(items, chunks={"x": 8, "y": 8})
    assert list(s2["s2:processing_baseline"].values) == BASELINES
    for it in items:  # another catalogue's software version is not a baseline: left alone (the date decides)
        it.properties["processing:version"] = "1.0"
    assert "s2:processing_baseline" not in load_stac(items).coords
    for i, d in enumerate(DATES):
        red, nir, _ = (a.astype(np.float64) for a in truth[d])
        np.testing.assert_allclose(s2["NDVI"].values[i], np.where(red > 0, (nir - red) / (nir + red), np.nan), atol=1e-6, rtol=0)


def test_a_scale_without_an_offset_leaves_the_offset_to_the_date(tmp_path):
    """raster:bands scale 0.0001 and no offset (Earth Search's first sentinel-2-l2a collection, on 2022+ items that carry
    the +1000 DN): read as DN, so the date decides the offset; without baseline metadata the offset was kept (NDVI biased)."""
    items, truth = _s2_items(tmp_path, names=("red", "nir", "scl"))
    for it in items:
        it.properties.pop("s2:processing_baseline")
        for name in ("red", "nir"):
            it.assets[name].extra_fields["raster:bands"][0].update(scale=0.0001, offset=0)
    s2 = load_stac([items[0], items[2]])  # 2021-12-20 (no offset) and 2022-03-05 (baseline 04.00: +1000)
    for i, d in enumerate((DATES[0], DATES[2])):
        red, nir, _ = (a.astype(np.float64) for a in truth[d])
        np.testing.assert_allclose(s2["NDVI"].values[i], np.where(red > 0, (nir - red) / (nir + red), np.nan), atol=1e-6, rtol=0)


def test_items_without_projection_metadata_ask_for_crs_and_resolution(tmp_path):
    items, _ = _s2_items(tmp_path)
    for it in items:
        it.properties.pop("proj:epsg")
        for a in it.assets.values():
            for k in ("proj:shape", "proj:transform", "proj:epsg"):
                a.extra_fields.pop(k, None)
    with pytest.raises(fdl.errors.ConfigError, match=r"no projection metadata .*expected crs= and resolution="):
        load_stac(items)
    assert load_stac(items, crs=f"EPSG:{EPSG}", resolution=RES).sizes["time"] == 3


def test_earth_search_names_and_item_json_files_lazily(tmp_path):
    items, truth = _s2_items(tmp_path, names=("red", "nir", "scl"))
    paths = []
    for it in items:
        p = tmp_path / f"{it.id}.json"
        it.save_object(dest_href=str(p), include_self_link=False)
        paths.append(p)
    with raise_if_dask_computes(max_computes=1):  # the sample of clear red that judges the offset (Earth Search DN)
        s2 = load_stac(paths, chunks={"x": 8, "y": 8})
    assert s2["NDVI"].chunks is not None
    red, nir, _ = (a.astype(np.float64) for a in truth[DATES[2]])
    np.testing.assert_allclose(s2["NDVI"].values[2], np.where(red > 0, (nir - red) / (nir + red), np.nan), atol=1e-6)


def test_s1_rtc_items_give_db_and_gamma0(tmp_path):
    rng = np.random.default_rng(1)
    items, vvs = [], []
    for d in DATES:
        vv = rng.uniform(0.02, 0.3, (N, N)).astype(np.float32)
        vv[3, 3] = -32768.0
        vvs.append(vv)
        items.append(_item(tmp_path, "s1", d, {"vv": (vv, -32768.0), "vh": (np.where(vv > 0, vv / 5, vv).astype(np.float32), -32768.0)},
                           {"platform": "SENTINEL-1A", "sat:orbit_state": "ascending", "sat:relative_orbit": 88}, "sentinel-1-rtc"))
    s1 = load_stac(items)
    assert s1.attrs["backscatter"] == "gamma0" and s1["VV"].attrs["backscatter"] == "gamma0"
    expected = 10 * np.log10(np.where(vvs[0] > 0, vvs[0], np.nan).astype(np.float64))
    np.testing.assert_allclose(s1["VV"].values[0], expected, rtol=1e-5)
    assert np.isnan(s1["VV"].values[0, 3, 3])
    assert list(s1["orbit"].values) == [88] * 3  # sat:relative_orbit, carried from the items


def test_bad_items_are_refused(tmp_path):
    items, _ = _s2_items(tmp_path, names=("rouge", "pir", "scl"))
    with pytest.raises(fdl.errors.MissingVariableError, match=r"expected assets for \['B04', 'B08'\].*rouge"):
        load_stac(items)
    with pytest.raises(fdl.errors.ConfigError, match="sensor"):
        load_stac(items, sensor="s3")
    with pytest.raises(fdl.errors.ConfigError, match="at least one"):
        load_stac([])
