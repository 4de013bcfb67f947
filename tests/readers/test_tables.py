"""Point tables: decoded values on constructed GEE and openEO tables, refusals, and the real sites through the chain."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

import fusets_dl as fdl
from fusets_dl.errors import DuplicateTimeError, TableError
from fusets_dl.readers.tables import open_points, read_table
from tests.paths import SHARED_DATA

SLOVAKIA = SHARED_DATA / "slovakia_grassland"
FRANCE = SHARED_DATA / "worldcereal_extractions" / "dekad_2023_FRA_LPIS_POLY_110.geoparquet"


def _gee_tables():
    """Two plots, three S1 and three S2 dates, GEE names and encodings."""
    s1 = pd.DataFrame({
        "system:index": [f"S1A_IW_GRDH_1SDV_2022030{d}T163505_x_{p}" for d in (1, 3, 7) for p in (1, 2)],
        "Date": [f"2022-03-0{d}" for d in (1, 3, 7) for _ in (1, 2)],
        "PLOTID": ["B", "A"] * 3,
        "Orbit": [175.0] * 6,
        "VV": [-10.0, -12.0, -9.0, -11.0, -8.0, -13.0],
        "VH": [-17.0, -19.0, -16.0, -18.0, -15.0, -20.0],
        "LandUse": ["meadow"] * 6,
        ".geo": ['{"type":"Point","coordinates":[18.5,48.9]}', '{"type":"Point","coordinates":[17.5,48.8]}'] * 3,
    })
    s2 = pd.DataFrame({
        "Date": ["2022-03-02", "2022-03-02", "2022-03-04", "2022-03-04", "2022-03-06", "2022-03-06"],
        "system:time_start": [pd.Timestamp(f"2022-03-0{d}T09:57:00").value // 10**6 for d in (2, 2, 4, 4, 6, 6)],
        "PLOTID": ["A", "B"] * 3,
        "red": [0.05, 0.10, -9999.0, 0.04, 0.06, 0.08],
        "nir": [0.35, 0.30, -9999.0, 0.40, 0.30, 0.32],
        "cs_cdf": [0.9, 0.5, -9999.0, 0.8, 0.95, 0.9],
        "mask": [1.0, 0.0, 0.0, 1.0, 1.0, 0.0],
        ".geo": ['{"type":"Point","coordinates":[17.5,48.8]}', '{"type":"Point","coordinates":[18.5,48.9]}'] * 3,
    })
    return s1, s2


def test_gee_tables_decode_values_and_layout():
    s1, s2 = open_points(*_gee_tables())
    # points west to east: A (17.5 E) then B (18.5 E)
    assert s1["point"].values.tolist() == ["A", "B"] == s2["point"].values.tolist()
    np.testing.assert_allclose(s1["lon"].values, [17.5, 18.5])
    assert s1.sizes == {"time": 3, "y": 1, "x": 2}
    # the time of day comes from the scene id
    assert pd.Timestamp(s1.time.values[0]) == pd.Timestamp("2022-03-01T16:35:05")
    np.testing.assert_allclose(s1["VV"].values[:, 0, :], [[-12.0, -10.0], [-11.0, -9.0], [-13.0, -8.0]])
    np.testing.assert_allclose(s1["VH"].values[:, 0, 0], [-19.0, -18.0, -20.0])
    assert s1["VV"].attrs["units"] == "dB"
    assert s1["orbit"].values.tolist() == [175, 175, 175]
    assert pd.Timestamp(s2.time.values[0]) == pd.Timestamp("2022-03-02T09:57:00")
    nd = s2["NDVI"].values[:, 0, :]
    np.testing.assert_allclose(nd[0], [(0.35 - 0.05) / 0.40, (0.30 - 0.10) / 0.40], rtol=1e-6)
    assert np.isnan(nd[1, 0])  # -9999 is missing
    # clear: cs_cdf >= 0.6 and mask == 1 (B on day 1: score 0.5; B on day 3: mask 0)
    np.testing.assert_array_equal(s2["clear"].values[:, 0, :], [[True, False], [False, True], [True, False]])
    funnel = json.loads(s2.attrs["point_table"])
    assert funnel == {"rows": 6, "points": 2, "times": 3, "valid_rows": 5, "clear_rows": 3, "cloud_mask": "cs_cdf >= 0.6 and mask == 1"}


def test_cloud_score_threshold_is_applied():
    s1, s2 = _gee_tables()
    s2 = s2.drop(columns="mask")
    _, lo = open_points(s1, s2, cloud_score_threshold=0.5)
    _, hi = open_points(s1, s2, cloud_score_threshold=0.85)
    assert int(lo["clear"].sum()) == 5 and int(hi["clear"].sum()) == 3


def test_openeo_table_compressed_db_and_dn(tmp_path):
    dn_vv = np.array([4615, 3201, 65535, 1000], dtype=np.uint16)
    t = pd.DataFrame({
        "sample_id": ["p1", "p2", "p1", "p2"],
        "timestamp": pd.to_datetime(["2023-01-01", "2023-01-01", "2023-01-11", "2023-01-11"]),
        "S1-SIGMA0-VV": dn_vv,
        "S1-SIGMA0-VH": np.array([1315, 2070, 1237, 65535], dtype=np.uint16),
        "S2-L2A-B04": np.array([554, 609, 65535, 1579], dtype=np.uint16),
        "S2-L2A-B08": np.array([2149, 2702, 65535, 1727], dtype=np.uint16),
        "lon": [-0.46, -0.45, -0.46, -0.45],
        "lat": [43.3, 43.3, 43.3, 43.3],
        "ewoc_code": [1, 2, 1, 2],
    })
    t.to_csv(tmp_path / "t.csv", index=False)
    s1, s2 = open_points(t)
    with np.errstate(divide="ignore"):
        expected = np.where(dn_vv == 65535, np.nan, 20 * np.log10(dn_vv.astype(float)) - 83).reshape(2, 2)
    np.testing.assert_allclose(s1["VV"].values[:, 0, :], expected, rtol=1e-6)
    assert np.isnan(s1["VH"].values[1, 0, 1])
    red, nir = 554e-4, 2149e-4
    assert s2["NDVI"].values[0, 0, 0] == pytest.approx((nir - red) / (nir + red), rel=1e-6)
    assert s2["NDVI"].values[1, 0, 1] == pytest.approx((1727 - 1579) / (1727 + 1579), rel=1e-6)
    np.testing.assert_array_equal(s2["clear"].values[:, 0, :], [[True, True], [False, True]])
    # CSV read back: the integers come back int64, decoded the same (65535 is still nodata, VV still compressed dB)
    back = read_table(tmp_path / "t.csv")
    assert back.shape == (4, 9) and back["S2-L2A-B04"].dtype == np.int64
    s1c, s2c = open_points(back)
    np.testing.assert_allclose(s1c["VV"].values, s1["VV"].values, rtol=1e-6)
    np.testing.assert_array_equal(s2c["clear"].values, s2["clear"].values)
    np.testing.assert_allclose(s2c["NDVI"].values, s2["NDVI"].values, rtol=1e-6)
    # missing rows make them float64 with NaN: still DN, still 65535 = nodata
    flt = back.astype({c: np.float64 for c in back.columns if c.startswith(("S1-", "S2-"))})
    flt.loc[3, "S2-L2A-B08"] = np.nan
    s2f = open_points(flt)[1]
    np.testing.assert_array_equal(s2f["clear"].values[:, 0, :], [[True, True], [False, False]])
    assert s2f["NDVI"].values[0, 0, 0] == pytest.approx(s2["NDVI"].values[0, 0, 0], rel=1e-6)


def test_missing_columns_name_found_and_expected():
    s1, s2 = _gee_tables()
    with pytest.raises(TableError, match=r"expected columns for \['vv'\].*'S1-SIGMA0-VV'.*found \['system:index'"):
        open_points(s1.rename(columns={"VV": "VV_lin"}), s2)
    _, ok = open_points(s1.rename(columns={"VV": "VV_lin"}), s2, columns={"vv": "VV_lin"})
    assert ok.sizes["x"] == 2
    with pytest.raises(TableError, match=r"one column for vv .* found \['VV', 'S1-SIGMA0-VV'\]"):
        open_points(s1.assign(**{"S1-SIGMA0-VV": 1}), s2)
    with pytest.raises(TableError, match="no such column"):
        open_points(s1, s2, columns={"vv": "nope"})


def test_duplicate_rows_and_bad_dates_are_refused():
    s1, s2 = _gee_tables()
    with pytest.raises(DuplicateTimeError, match="found 1 duplicated, e.g. point 'B'"):
        open_points(pd.concat([s1, s1.iloc[:1]]), s2)
    with pytest.raises(TableError, match="expected dates in column 'Date'"):
        open_points(s1.assign(Date="soon"), s2)


def test_points_selection_and_unknown_points():
    s1, s2 = open_points(*_gee_tables(), points=["B"])
    assert s1["point"].values.tolist() == ["B"] and s2.sizes["x"] == 1
    with pytest.raises(TableError, match=r"points=\['Z'\] not in the tables"):
        open_points(*_gee_tables(), points=["Z"])


def test_read_table_refuses_other_formats(tmp_path):
    (tmp_path / "a.xlsx").write_text("x")
    with pytest.raises(fdl.errors.SourceError, match=r"expected a .csv.*found a.xlsx"):
        read_table(tmp_path / "a.xlsx")


def test_held_out_blocks_are_whole_points():
    """The pseudo-grid's test blocks hold every date of their points and no date of training points."""
    from fusets_dl.evaluation.splits import block_mask, split_blocks
    from fusets_dl.training.config import TrainConfig

    blocks = split_blocks(1, 40, TrainConfig(block_size=5, seed=3))
    test = block_mask(1, 40, blocks, "test")
    train = block_mask(1, 40, blocks, "train")
    assert test.shape == (1, 40) and test.sum() % 5 == 0 and test.any()
    assert not (test & train).any()  # a point is wholly in one part: masks are per point, dates are never split


@pytest.mark.realdata
@pytest.mark.slow
def test_slovakia_region_through_the_chain():
    files1 = sorted((SLOVAKIA / "S1").glob("ts_NB_GMI_S1_202[12].csv"))
    files2 = sorted((SLOVAKIA / "S2").glob("ts_NB_GMI_S2_NB_202[12].csv"))
    raw2 = pd.read_csv(files2[0])
    s1, s2 = open_points(files1, files2, points=sorted(raw2["PLOTID"].unique())[:24])
    assert s1.sizes["x"] == 24 and (s1["VV"].values < 0).mean() > 0.99
    row = raw2[(raw2["PLOTID"] == s2["point"].values[0]) & (raw2["mask"] == 1) & (raw2["cs_cdf"] >= 0.6)].iloc[0]
    t = np.flatnonzero(s2.time.dt.floor("D").values == np.datetime64(row["Date"]))[0]
    assert s2["NDVI"].values[t, 0, 0] == pytest.approx((row["nir"] - row["red"]) / (row["nir"] + row["red"]), rel=1e-5)
    assert s2["NDVI"].values[t, 0, 0] == pytest.approx(row["ndvi"], abs=1e-6)  # GEE's own NDVI
    _chain(fdl.align(s1, s2).load())


@pytest.mark.realdata
@pytest.mark.slow
def test_france_extractions_through_the_chain():
    if not FRANCE.is_file():
        pytest.skip(f"{FRANCE.name} not in {FRANCE.parent} (the data README lists it)")
    pytest.importorskip("pyarrow")
    raw = pd.read_parquet(FRANCE)
    ids = sorted(raw["sample_id"].unique())[:30]
    s1, s2 = open_points(FRANCE, points=ids)
    r = raw[(raw["sample_id"] == ids[0]) & (raw["S2-L2A-B04"] != 65535) & (raw["S2-L2A-B08"] != 65535)].iloc[0]
    t = np.flatnonzero(s2.time.values == np.datetime64(r["timestamp"]))[0]
    red, nir = float(r["S2-L2A-B04"]), float(r["S2-L2A-B08"])
    assert s2["NDVI"].values[t, 0, 0] == pytest.approx((nir - red) / (nir + red), rel=1e-5)
    assert s1["VV"].values[t, 0, 0] == pytest.approx(20 * np.log10(float(r["S1-SIGMA0-VV"])) - 83, rel=1e-5)
    _chain(fdl.align(s1, s2, tolerance=0).load())


def _chain(cube):
    """train -> predict -> reconstruct -> phenology on a point cube, whole points held out."""
    model = fdl.train(cube, config=fdl.TrainConfig(block_size=4, max_epochs=2, seed=0))
    assert model.blocks["grid"][0] == 1 and model.blocks["test"]
    pred = cube.fusion.predict_ndvi(model)
    assert pred.dims == ("time", "y", "x") and np.isfinite(pred.values).mean() > 0.9
    rec = cube.fusion.reconstruct(model)
    assert np.isfinite(rec["NDVI"].values).all() and "point" in cube.coords
    phen = rec["NDVI"].fusion.phenology(max_seasons=2)
    assert phen.sizes["x"] == cube.sizes["x"]


def test_bright_reflectance_is_not_taken_for_dn():
    """Snow/cloud reflectance above 1.5 in a few rows must not make a 0..1 table read as DN (and offset after 2022-01-25)."""
    s1, s2 = _gee_tables()
    s2 = s2.assign(red=[0.05, 1.6, 1.7, 0.04, 0.06, 0.08], nir=[0.35, 1.6, 1.6, 0.40, 0.30, 0.32])
    _, ds = open_points(s1, s2)
    assert ds["NDVI"].values[0, 0, 0] == pytest.approx(0.75, rel=1e-6)
    assert ds["NDVI"].values[1, 0, 1] == pytest.approx(0.36 / 0.44, rel=1e-6)


def _openeo_points(n_dates: int = 3, freq: str = "10D") -> pd.DataFrame:
    """Two points (a west of b) of an openEO/WorldCereal long table, uint16 encodings, ``n_dates`` dates."""
    times = pd.date_range("2023-01-01", periods=n_dates, freq=freq)
    n = 2 * n_dates
    return pd.DataFrame({
        "sample_id": ["b", "a"] * n_dates,
        "timestamp": np.repeat(times, 2),
        "S1-SIGMA0-VV": np.full(n, 3000, np.uint16),
        "S1-SIGMA0-VH": np.full(n, 1000, np.uint16),
        "S2-L2A-B04": np.full(n, 500, np.uint16),
        "S2-L2A-B08": np.full(n, 3000, np.uint16),
        "lon": [2.0, 1.0] * n_dates,
        "lat": [43.0, 43.0] * n_dates,
    })


@pytest.mark.parametrize("form", ["wkt", "hex", "csv_bytes"])
def test_geometry_text_gives_coordinates(tmp_path, form):
    t = _openeo_points().drop(columns=["lon", "lat"])
    wkb = [b"\x01\x01\x00\x00\x00" + np.array([x, 43.0]).tobytes() for x in (2.0, 1.0)] * 3
    t["geometry"] = {"wkt": [f"POINT ({x} 43)" for x in (2.0, 1.0)] * 3, "hex": [g.hex() for g in wkb], "csv_bytes": wkb}[form]
    if form == "csv_bytes":  # pandas writes the bytes as their b'...' text
        t.to_csv(tmp_path / "t.csv", index=False)
        t = read_table(tmp_path / "t.csv")
    s1, _ = open_points(t)
    np.testing.assert_allclose(s1["lon"].values, [1.0, 2.0])
    assert s1["point"].values.tolist() == ["a", "b"]


def test_polygon_geometry_gives_its_centroid():
    # field tables (openEO GeoParquet, GEE reduceRegions of fields): the triangle (0 0, 1 0, 1 1) has its centroid at (2/3, 1/3)
    t = _openeo_points().drop(columns=["lon", "lat"])
    t["geometry"] = ["POLYGON ((10 0, 11 0, 11 1, 10 0))", "POLYGON ((0 0, 1 0, 1 1, 0 0))"] * 3
    s1, _ = open_points(t)
    assert s1["point"].values.tolist() == ["a", "b"]
    np.testing.assert_allclose(s1["lon"].values, [2 / 3, 10 + 2 / 3])
    np.testing.assert_allclose(s1["lat"].values, [1 / 3, 1 / 3])


def test_text_that_is_no_geometry_warns():
    t = _openeo_points().drop(columns=["lon", "lat"])
    t["geometry"] = "somewhere"
    with pytest.warns(UserWarning, match="expected geometries"):
        s1, _ = open_points(t)
    assert np.isnan(s1["lon"].values).all()


def test_float_and_integer_ids_are_one_point():
    t = _openeo_points()
    t["sample_id"] = t["sample_id"].map({"a": 101, "b": 102})
    s1 = t.drop(columns=["S2-L2A-B04", "S2-L2A-B08"])
    s2 = t.drop(columns=["S1-SIGMA0-VV", "S1-SIGMA0-VH"]).astype({"sample_id": np.float64})
    a, b = open_points(s1, s2)
    assert a["point"].values.tolist() == ["101", "102"] == b["point"].values.tolist()


@pytest.mark.parametrize("column", ["sample_id", "timestamp"])
def test_rows_without_id_or_date_are_dropped_with_a_warning(column):
    t = _openeo_points().astype({"sample_id": object, "timestamp": object})
    t.loc[0, column] = None
    with pytest.warns(UserWarning, match="1 of 6 rows have no"):
        s1, s2 = open_points(t)
    assert s1["point"].values.tolist() == ["a", "b"]
    assert not np.isnat(s2["time"].values).any() and s2.sizes["time"] == 3


def test_no_s1_table_is_a_table_error():
    with pytest.raises(TableError, match="expected an S1 table"):
        open_points(None, _openeo_points())
    with pytest.raises(fdl.errors.SourceError, match="found int"):
        read_table(3)


def test_monthly_composites_warn_about_the_revisit(recwarn):
    with pytest.warns(UserWarning, match=r"open_points\(S1 and S2\): the dates are 31 days apart .* expect 6-12-day revisits") as seen:
        open_points(_openeo_points(4, "MS"))
    assert len([w for w in seen if "revisit" in str(w.message)]) == 1, "one table: one warning, not one per sensor"
    recwarn.clear()
    open_points(_openeo_points(4, "10D"))
    assert not [w for w in recwarn if "revisit" in str(w.message)]


def test_snow_that_cloud_score_counts_clear_is_not_clear():
    """Cloud Score+ does not flag snow: on the Slovak grassland 18.5 % of its clear rows were snow (NDVI < 0.1 in winter,
    blue 0.74), which made aos 26-38 % too large. With green and SWIR-1 a snow row (NDSI >= 0.4, green >= 0.1) is not
    clear; water (high NDSI, dark) and vegetation stay as Cloud Score+ says."""
    s1, s2 = _gee_tables()
    s2 = s2.assign(cs_cdf=0.9, mask=1.0, red=[0.05, 0.70, 0.03, 0.04, 0.06, 0.08], nir=[0.35, 0.72, 0.02, 0.40, 0.30, 0.32],
                   green=[0.08, 0.75, 0.05, 0.07, 0.08, 0.09], swir1=[0.20, 0.10, 0.01, 0.22, 0.25, 0.21])
    _, out = open_points(s1, s2)
    clear = out["clear"].values[:, 0, :].astype(bool)  # points A (x=0), B (x=1); dates 2, 4, 6 March
    assert clear.tolist() == [[True, False], [True, True], [True, True]]  # B on 2 March: snow (NDSI 0.76, green 0.75)
    # A on 4 March: water-like (NDSI 0.67, green 0.05): clear as the score says (the raster path's SCL 6 is another matter)
    funnel = json.loads(out.attrs["point_table"])
    assert funnel["snow_rows"] == 1 and "not snow (NDSI >= 0.4, green >= 0.1)" in funnel["cloud_mask"]
    _, plain = open_points(s1, s2.drop(columns=["swir1"]))  # no SWIR-1: no snow test, as before
    assert plain["clear"].values[0, 0, 1] == 1


def test_the_clear_mask_is_named_by_the_table_columns(caplog):
    """Grassland walkthrough friction 10: a cs_cdf + mask table was said to be masked by "cloud band CLM", a column it lacks
    (the CLM band open_points builds for open_s2)."""
    s1, s2 = _gee_tables()
    s2 = s2.assign(cs_cdf=[0.9, 0.9, 0.5, 0.9, 0.9, 0.9], mask=[1, 1, 1, 1, 0, 1])
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        _, out = open_points(s1, s2)
    assert out.attrs["clear_mask"] == "the table's columns cs_cdf >= 0.6 and mask == 1"
    assert out["clear"].values[:, 0, :].astype(bool).tolist() == [[True, True], [False, True], [False, True]]
    assert "cs_cdf >= 0.6 and mask == 1" in caplog.text  # the funnel's line names them
    snowy = s2.assign(green=0.08, swir1=0.2)  # the snow test joins the rule
    assert open_points(s1, snowy)[1].attrs["clear_mask"] == ("the table's columns cs_cdf >= 0.6 and mask == 1 "
                                                             "and not snow (NDSI >= 0.4, green >= 0.1)")
