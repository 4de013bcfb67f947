"""The services' zonal statistics as point tables: openEO aggregate_spatial JSON and netCDF vector cubes, Sentinel Hub
Statistical API responses; per-table columns=/bands=/date_format=; geometry centroids (fixtures built here, values by hand).

S2 values used throughout (DN, or reflectance x 1e-4): red 500 / nir 3500 -> NDVI 0.75; 1000 / 3000 -> 0.5;
800 / 3200 -> 0.6. Dates in March 2021 (before the 2022-01-25 offset, so DN need no harmonisation).
"""

from __future__ import annotations

import json
import struct
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusets_dl.errors import ConfigError, TableError
from fusets_dl.readers.tables import open_points, read_table
from fusets_dl.readers.vector_tables import geometry_lonlat, is_vector_source, vector_table

T = ("2021-03-02T00:00:00Z", "2021-03-04T00:00:00Z", "2021-03-06T00:00:00Z")
TIMES = pd.to_datetime(["2021-03-02", "2021-03-04", "2021-03-06"]).to_numpy()


def _s1(ids=("0", "1"), id_column: str = "PLOTID") -> pd.DataFrame:
    """S1 rows (dB) of ``ids`` on 2021-03-01/03/05."""
    days = ("2021-03-01", "2021-03-03", "2021-03-05")
    n = len(ids) * len(days)
    return pd.DataFrame({id_column: list(ids) * len(days), "Date": [d for d in days for _ in ids],
                         "VV": np.linspace(-12.0, -8.0, n), "VH": np.linspace(-19.0, -15.0, n)})


def _openeo_json() -> dict:
    """aggregate_spatial JSON, bands B04, B08, SCL (DN): geometry 1 has no data on 03-04 and nulls on 03-06."""
    return {
        T[0]: [[500, 3500, 4], [1000, 3000, 4]],
        T[1]: [[1000, 3000, 4], []],
        T[2]: [[800, 3200, 8], [None, None, None]],
    }


def _check_s2(ds: xr.Dataset, ids=("0", "1")) -> None:
    """The S2 side of the fixtures: NDVI 0.75/0.5/0.6 (last one SCL 8, not clear) at the first point, 0.5 at the second."""
    assert ds["point"].values.tolist() == list(ids)
    np.testing.assert_array_equal(ds["time"].values, TIMES)
    ndvi = ds["NDVI"].values[:, 0, :]
    np.testing.assert_allclose(ndvi[:, 0], [0.75, 0.5, 0.6], rtol=1e-6)
    np.testing.assert_allclose(ndvi[:, 1], [0.5, np.nan, np.nan], rtol=1e-6)
    assert ds["clear"].values[:, 0, 0].tolist() == [True, True, False]
    assert ds["clear"].values[:, 0, 1].tolist() == [True, False, False]


# --- openEO aggregate_spatial JSON ---------------------------------------------------------------------------------


def test_openeo_json_file_with_bands(tmp_path):
    path = tmp_path / "timeseries.json"
    path.write_text(json.dumps(_openeo_json()))
    s1, s2 = open_points(_s1(), path, bands={"s2": ["B04", "B08", "SCL"]})
    _check_s2(s2)
    assert s1["point"].values.tolist() == ["0", "1"]
    assert np.isfinite(s1["VV"].values).sum() == 6


def test_openeo_json_in_memory_rows():
    t = read_table(_openeo_json(), bands=["B04", "B08", "SCL"])
    # 6 entries, one empty list left out; the nulls stay a row of NaN (the table reader drops nothing it need not)
    assert t.columns.tolist() == ["feature_index", "date", "B04", "B08", "SCL"]
    assert t["feature_index"].tolist() == ["0", "1", "0", "0", "1"]
    assert t["date"].tolist() == [T[0], T[0], T[1], T[2], T[2]]
    np.testing.assert_array_equal(t["B04"].to_numpy(), [500, 1000, 1000, 800, np.nan])


def test_openeo_json_without_band_names_asks_for_them():
    with pytest.raises(TableError, match=r"expected band labels, found none \(openEO aggregate_spatial JSON.*3 bands.*bands="):
        open_points(_s1(), _openeo_json())


def test_bands_of_the_wrong_length_are_refused():
    with pytest.raises(TableError, match=r"bands=\['B04', 'B08'\]: expected 3 names"):
        read_table(_openeo_json(), bands=["B04", "B08"])


def test_openeo_json_of_unequal_band_counts_is_refused():
    with pytest.raises(TableError, match=r"same number of bands.*\[2, 3\]"):
        read_table({T[0]: [[1, 2, 3], [1, 2]]}, bands=["a", "b", "c"])


def test_unknown_json_is_refused():
    with pytest.raises(TableError, match="expected openEO aggregate_spatial JSON.*or Sentinel Hub"):
        read_table({"type": "FeatureCollection", "features": 3})


# --- netCDF vector cubes -------------------------------------------------------------------------------------------


def _cube(band_names=("B04", "B08", "SCL")) -> xr.Dataset:
    """The geopyspark back-end's netCDF of aggregate_spatial: (feature, t), a variable per band, lat/lon, feature_names."""
    data = {  # (feature, t)
        band_names[0]: [[500, 1000, 800], [1000, np.nan, np.nan]],
        band_names[1]: [[3500, 3000, 3200], [3000, np.nan, np.nan]],
        band_names[2]: [[4, 4, 8], [4, np.nan, np.nan]],
    }
    ds = xr.Dataset({k: (("feature", "t"), np.array(v, dtype=np.float64)) for k, v in data.items()}, coords={"t": TIMES})
    ds.coords["lat"] = ("feature", [48.8, 48.9])
    ds.coords["lon"] = ("feature", [18.5, 17.5])
    ds.coords["feature_names"] = ("feature", ["field_b", "field_a"])
    return ds


def test_geopyspark_netcdf_vector_cube(tmp_path):
    _cube().to_netcdf(tmp_path / "timeseries.nc")
    s1, s2 = open_points(_s1(ids=("field_b", "field_a")), tmp_path / "timeseries.nc")
    # points west to east: field_a (17.5 E) first
    assert s2["point"].values.tolist() == ["field_a", "field_b"]
    np.testing.assert_allclose(s2["lon"].values, [17.5, 18.5])
    np.testing.assert_allclose(s2["lat"].values, [48.9, 48.8])
    ndvi = s2["NDVI"].values[:, 0, :]
    np.testing.assert_allclose(ndvi[:, 1], [0.75, 0.5, 0.6], rtol=1e-6)
    np.testing.assert_allclose(ndvi[:, 0], [0.5, np.nan, np.nan], rtol=1e-6)
    assert s2["clear"].values[:, 0, 1].tolist() == [True, True, False]
    assert s1["lon"].values.tolist() == [17.5, 18.5]  # the S1 table has no coordinates; the shared layout gives them


def test_vector_cube_with_band_0_names_needs_bands(tmp_path):
    _cube(("band_0", "band_1", "band_2")).to_netcdf(tmp_path / "v.nc")
    with pytest.raises(TableError, match="openEO writes band_0, band_1"):
        read_table(tmp_path / "v.nc")
    t = read_table(tmp_path / "v.nc", bands=["B04", "B08", "SCL"])
    assert t.columns.tolist() == ["feature_index", "date", "B04", "B08", "SCL", "lon", "lat"]
    assert len(t) == 4  # 6 feature-times, 2 without any value dropped


def test_dataarray_with_bands_dimension_and_wkt_polygons():
    # a vector cube as (t, geometry, bands) with WKT geometries: squares 17..18 x 48..49 and 18..20 x 48..50
    values = np.array([[[500, 3500, 4], [1000, 3000, 4]], [[1000, 3000, 4], [np.nan] * 3], [[800, 3200, 8], [np.nan] * 3]])
    da = xr.DataArray(values, dims=("t", "geometry", "bands"), coords={"t": TIMES, "bands": ["B04", "B08", "SCL"]})
    ds = da.to_dataset(name="aggregate")
    ds["geometry_wkt"] = ("geometry", ["POLYGON ((17 48, 18 48, 18 49, 17 49, 17 48))",
                                       "POLYGON ((18 48, 20 48, 20 50, 18 50, 18 48))"])
    ds = ds.rename({"geometry_wkt": "wkt"})
    _, s2 = open_points(_s1(), ds)
    _check_s2(s2)
    np.testing.assert_allclose(s2["lon"].values, [17.5, 19.0])
    np.testing.assert_allclose(s2["lat"].values, [48.5, 49.0])


def test_cube_without_a_time_dimension_is_refused():
    with pytest.raises(TableError, match="expected a time dimension"):
        read_table(xr.Dataset({"B04": (("feature",), [1.0, 2.0])}))


# --- Sentinel Hub Statistical API ------------------------------------------------------------------------------------


def _stats(mean, samples=100, nodata=0) -> dict:
    return {"stats": {"min": mean, "max": mean, "mean": mean, "stDev": 0.0, "sampleCount": samples, "noDataCount": nodata}}


def _interval(day: str, days: int = 1) -> dict:
    start = pd.Timestamp(day)
    return {"from": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "to": (start + pd.Timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _sh_response(rows, days: int = 1, multi: bool = False) -> dict:
    """A Statistical API response: outputs B04, B08, CLM of one band each (or one output of three bands when ``multi``)."""
    data = []
    for day, red, nir, clm, nodata in rows:
        st = [_stats(v, 100, nodata) for v in (red, nir, clm)]
        outputs = ({"default": {"bands": {"B0": st[0], "B1": st[1], "B2": st[2]}}} if multi
                   else {"B04": {"bands": {"B0": st[0]}}, "B08": {"bands": {"B0": st[1]}}, "CLM": {"bands": {"B0": st[2]}}})
        data.append({"interval": _interval(day, days), "outputs": outputs})
    return {"data": data, "status": "OK"}


#: point 0: 0.75 clear, 0.5 clear, 0.6 cloudy (CLM 1); point 1: 0.5 clear, a no-data interval, 0.5 a quarter cloudy.
SH_ROWS = (
    [("2021-03-02", 0.05, 0.35, 0.0, 0), ("2021-03-04", 0.10, 0.30, 0.0, 0), ("2021-03-06", 0.08, 0.32, 1.0, 0)],
    [("2021-03-02", 0.10, 0.30, 0.0, 0), ("2021-03-04", "NaN", "NaN", "NaN", 100), ("2021-03-06", 0.10, 0.30, 0.25, 0)],
)


def test_sentinel_hub_responses_one_per_geometry():
    responses = [{"id": "0", "response": _sh_response(SH_ROWS[0])}, _sh_response(SH_ROWS[1]) | {"id": 1}]
    with pytest.warns(UserWarning, match="column 'CLM' holds fractional values on 1 of"):
        _, s2 = open_points(_s1(), responses)
    assert s2["point"].values.tolist() == ["0", "1"]
    np.testing.assert_array_equal(s2["time"].values, TIMES)
    ndvi = s2["NDVI"].values[:, 0, :]
    np.testing.assert_allclose(ndvi[:, 0], [0.75, 0.5, 0.6], rtol=1e-6)
    np.testing.assert_allclose(ndvi[:, 1], [0.5, np.nan, 0.5], rtol=1e-6)  # the all-no-data interval is no row
    assert s2["clear"].values[:, 0, 0].tolist() == [True, True, False]
    assert s2["clear"].values[:, 0, 1].tolist() == [True, False, False]  # CLM 0.25: a partly cloudy mean, cloudy
    assert json.loads(s2.attrs["point_table"])["rows"] == 5


def test_sentinel_hub_files_take_their_names_as_ids(tmp_path):
    for name, rows in zip(("0", "1"), SH_ROWS, strict=True):
        (tmp_path / f"{name}.json").write_text(json.dumps(_sh_response(rows)))
    t = read_table([tmp_path / "0.json", tmp_path / "1.json"])
    assert t.columns.tolist() == ["id", "date", "B04", "B08", "CLM"]
    assert t["id"].tolist() == ["0", "0", "0", "1", "1"]
    assert t["date"].tolist() == ["2021-03-02T00:00:00Z", "2021-03-04T00:00:00Z", "2021-03-06T00:00:00Z",
                                  "2021-03-02T00:00:00Z", "2021-03-06T00:00:00Z"]


def test_sentinel_hub_one_band_nodata_keeps_the_row_with_that_band_missing():
    resp = _sh_response([("2021-03-02", 0.05, 0.35, 0.0, 0)])
    resp["data"][0]["outputs"]["CLM"]["bands"]["B0"]["stats"].update(noDataCount=100, mean=0.0)
    t = read_table(resp)
    assert t["id"].tolist() == ["0"]
    assert t["B04"].tolist() == [0.05] and np.isnan(t["CLM"].iloc[0])


def test_sentinel_hub_several_bands_need_names():
    resp = _sh_response(SH_ROWS[0], multi=True)
    with pytest.raises(TableError, match=r"B0, B1.*\['default_B0', 'default_B1', 'default_B2'\].*bands="):
        read_table(resp)
    t = read_table(resp, bands=["B04", "B08", "CLM"])
    assert t[["B04", "B08", "CLM"]].to_numpy().tolist() == [[0.05, 0.35, 0.0], [0.10, 0.30, 0.0], [0.08, 0.32, 1.0]]


def test_sentinel_hub_longer_intervals_are_composites_warned():
    with pytest.warns(UserWarning, match=r"intervals of 5 days.*composite over its interval.*dated here by the interval start"):
        t = read_table(_sh_response(SH_ROWS[0], days=5))
    assert t["date"].str.slice(0, 10).tolist() == ["2021-03-02", "2021-03-04", "2021-03-06"]


def test_sentinel_hub_daily_intervals_are_not_warned():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_table(_sh_response(SH_ROWS[0]))


def test_sentinel_hub_response_without_data_is_refused():
    with pytest.raises(TableError, match=r"expected intervals with outputs.*statuses: \['FAILED'\]"):
        read_table({"data": [], "status": "FAILED"})


# --- per-table columns, date formats ---------------------------------------------------------------------------------


def _s2_table(id_column: str = "parcel", dates=("2021-03-02", "2021-03-04", "2021-03-06")) -> pd.DataFrame:
    return pd.DataFrame({id_column: ["0"] * 3, "Date": list(dates), "red": [0.05, 0.10, 0.08], "nir": [0.35, 0.30, 0.32]})


def test_columns_per_table():
    s1 = _s1(ids=("0",), id_column="plot")
    with pytest.warns(UserWarning, match="no SCL or cloud mask band"):
        a, b = open_points(s1, _s2_table(), columns={"s1": {"id": "plot"}, "s2": {"id": "parcel"}})
    assert a["point"].values.tolist() == b["point"].values.tolist() == ["0"]
    np.testing.assert_allclose(b["NDVI"].values[:, 0, 0], [0.75, 0.5, 0.6], rtol=1e-6)
    with pytest.raises(TableError, match=r"columns\['id'\]='plot': no such column"):  # the old form applies to both
        open_points(s1, _s2_table(), columns={"id": "plot"})


def test_columns_mixing_roles_and_tables_is_refused():
    with pytest.raises(ConfigError, match=r"found keys \['id', 's1'\] mixing the two \(\['id'\]\)"):
        open_points(_s1(), _s2_table(), columns={"s1": {"id": "PLOTID"}, "id": "parcel"})


def test_day_first_dates_with_date_format():
    s2 = _s2_table("PLOTID", dates=("02/03/2021", "04/03/2021", "06/03/2021"))
    with pytest.warns(UserWarning, match="no SCL or cloud mask band"):
        _, b = open_points(_s1(ids=("0",)), s2, date_format={"s2": "%d/%m/%Y"})
    np.testing.assert_array_equal(b["time"].values, TIMES)
    with pytest.raises(TableError, match="expected dates written as date_format='%m/%d/%Y', found 3 of 3"):
        open_points(_s1(ids=("0",)), s2.assign(Date=["22/03/2021"] * 3), date_format="%m/%d/%Y")


@pytest.mark.parametrize(("dates", "hint"), [
    (("14/03/2021", "16/03/2021"), "day/month/year .*date_format='%d/%m/%Y'"),
    (("03.14.2021", "03.16.2021"), r"month\.day\.year .*date_format='%m\.%d\.%Y'"),
    (("02/03/2021", "04/03/2021"), "date_format='%d/%m/%Y' or '%m/%d/%Y'"),
])
def test_numeric_dates_without_format_name_the_option(dates, hint):
    s2 = _s2_table("PLOTID", dates=(*dates, dates[-1]))
    with pytest.raises(TableError, match=hint):
        open_points(_s1(ids=("0",)), s2)


# --- geometries ----------------------------------------------------------------------------------------------------


def _wkb_polygon(rings) -> bytes:
    out = struct.pack("<BII", 1, 3, len(rings))
    for ring in rings:
        out += struct.pack("<I", len(ring)) + b"".join(struct.pack("<dd", *p) for p in ring)
    return out


SQUARE4 = [(0, 0), (4, 0), (4, 4), (0, 4), (0, 0)]
HOLE1 = [(0, 0), (0, 1), (1, 1), (1, 0), (0, 0)]


@pytest.mark.parametrize(("geom", "expected"), [
    ("POINT (17.5 48.8)", (17.5, 48.8, "Point")),
    ("SRID=4326;POINT Z (17.5 48.8 200)", (17.5, 48.8, "Point")),
    # square 0..4 (area 16, centroid 2, 2) less the hole 0..1 (area 1, centroid 0.5, 0.5): (32 - 0.5) / 15 = 2.1
    ("POLYGON ((0 0, 4 0, 4 4, 0 4, 0 0), (0 0, 0 1, 1 1, 1 0, 0 0))", (2.1, 2.1, "Polygon")),
    (_wkb_polygon([SQUARE4, HOLE1]), (2.1, 2.1, "Polygon")),
    (_wkb_polygon([SQUARE4, HOLE1]).hex(), (2.1, 2.1, "Polygon")),
    # squares 0..2 (area 4, centroid 1, 1) and 10..11 x 0..1 (area 1, centroid 10.5, 0.5): x (4 + 10.5) / 5, y (4 + 0.5) / 5
    ("MULTIPOLYGON (((0 0, 2 0, 2 2, 0 2, 0 0)), ((10 0, 11 0, 11 1, 10 1, 10 0)))", (2.9, 0.9, "MultiPolygon")),
    ({"type": "Polygon", "coordinates": [SQUARE4]}, (2.0, 2.0, "Polygon")),
    ('{"type": "Point", "coordinates": [1.5, 2.5]}', (1.5, 2.5, "Point")),
    ("MULTIPOINT ((0 0), (2 4))", (1.0, 2.0, "MultiPoint")),
])
def test_geometry_lonlat(geom, expected):
    x, y, kind = geometry_lonlat(geom)
    assert kind == expected[2]
    np.testing.assert_allclose([x, y], expected[:2], rtol=1e-12)


@pytest.mark.parametrize("geom", ["somewhere", 3, None, b"\x01\x03", "POLYGON EMPTY"])
def test_geometry_lonlat_of_no_geometry_is_nan(geom):
    x, y, kind = geometry_lonlat(geom)
    assert np.isnan(x) and np.isnan(y) and kind == ""


def test_geojson_polygon_column_gives_centroids():
    t = _s2_table("PLOTID").assign(**{".geo": json.dumps({"type": "Polygon", "coordinates": [SQUARE4]})})
    with pytest.warns(UserWarning, match="no SCL or cloud mask band"):
        _, b = open_points(_s1(ids=("0",)), t)
    assert b["lon"].values.tolist() == [2.0] and b["lat"].values.tolist() == [2.0]


def test_vector_sources_are_told_apart():
    assert is_vector_source({"data": []}) and is_vector_source([{"data": []}]) and is_vector_source("x.nc")
    assert is_vector_source(xr.Dataset()) and not is_vector_source("x.csv") and not is_vector_source(pd.DataFrame())
    assert not is_vector_source([]) and not is_vector_source(["a.csv"])
    assert vector_table(_openeo_json(), ["B04", "B08", "SCL"]).shape == (5, 5)


@pytest.mark.parametrize("source", [
    '{"2021-01-01": [[1, 2]',  # a truncated file
    "",  # an empty file
    {"2021-01-01": [0.1, 0.2]},  # a number per geometry, not a list of band values
    {"data": {"interval": {}}, "status": "OK"},  # Sentinel Hub: data not a list
    {"data": [{"interval": {"from": "notadate"}, "outputs": {"B04": {"bands": {"B0": {"stats": {"mean": 0.1}}}}}}]},
    {"data": [{"interval": {"from": "2021-01-01T00:00:00Z"}, "outputs": [1]}]},  # outputs a list
])
def test_malformed_service_outputs_are_a_table_error(tmp_path, source):
    """Review: malformed JSON, or a structure of the wrong types, raised JSONDecodeError, TypeError, AttributeError."""
    if isinstance(source, str):
        path = tmp_path / "bad.json"
        path.write_text(source)
        source = path
    with pytest.raises(TableError, match=r"expected an openEO aggregate_spatial output .* found one that cannot be read"):
        read_table(source, bands=["B04"])


def test_a_file_that_is_not_netcdf_is_a_table_error(tmp_path):
    path = tmp_path / "bad.nc"
    path.write_bytes(b"not a netcdf")
    with pytest.raises(TableError, match="cannot be read"):
        read_table(path)
