"""Point tables as users export them: other cloud bands, GEE getRegion/reduceRegions times and ids, ids that do not make
one point, reflectance in percent, local-midnight dates, CSV dialects, S1 units (tables built here, values hand-computed)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from fusets_dl.errors import DuplicateTimeError, TableError
from fusets_dl.readers.tables import open_points, read_table

DAYS = ("2021-03-02", "2021-03-04", "2021-03-06")


def _s1(ids=("A", "B"), days=("2021-03-01", "2021-03-03", "2021-03-07"), lon=(17.5, 18.5)) -> pd.DataFrame:
    """S1 rows of the points ``ids`` (at ``lon``, 48.8 N) on ``days``, dB."""
    n = len(days) * len(ids)
    return pd.DataFrame({
        "PLOTID": list(ids) * len(days),
        "Date": [d for d in days for _ in ids],
        "VV": np.linspace(-12.0, -8.0, n),
        "VH": np.linspace(-19.0, -15.0, n),
        "lon": list(lon) * len(days),
        "lat": [48.8] * n,
    })


def _s2(**cols) -> pd.DataFrame:
    """S2 rows of A (17.5 E) and B (18.5 E) on :data:`DAYS` (A, B, A, B, A, B); NDVI 0.75 / 0.5 / 0.5 / 0.8 / 0.6 / 0.6."""
    t = pd.DataFrame({
        "PLOTID": ["A", "B"] * 3,
        "Date": [d for d in DAYS for _ in (1, 2)],
        "red": [0.05, 0.10, 0.10, 0.04, 0.08, 0.08],
        "nir": [0.35, 0.30, 0.30, 0.36, 0.32, 0.32],
        "lon": [17.5, 18.5] * 3,
        "lat": [48.8] * 6,
    })
    return t.assign(**cols)


def _clear(ds) -> list[list[bool]]:
    """``clear`` as (date, point) booleans."""
    return ds["clear"].values[:, 0, :].astype(bool).tolist()


# --- finding 3 and 9: cloud bands -----------------------------------------------------------------------------------


def test_raster_cloud_bands_are_decoded_as_in_a_file():
    """QA60 bits 10/11, a cloud probability in % (cloudy from 40) and s2cloudless' 0-255 CLP: no longer ignored."""
    qa60 = [0, 1024, 2048, 0, 0, 1024]  # A d1 clear, B d1 opaque, A d2 cirrus, B d2 clear, A d3 clear, B d3 opaque
    _, ds = open_points(_s1(), _s2(QA60=qa60))
    assert _clear(ds) == [[True, False], [False, True], [True, False]]
    funnel = json.loads(ds.attrs["point_table"])
    assert funnel["clear_rows"] == 3 and "QA60 bits 10-11" in funnel["cloud_mask"]
    for name, probs in (("MSK_CLDPRB", [10, 50, 39, 40, 0, 100]), ("probability", [10, 50, 39, 40, 0, 100]),
                        ("CLP", [25, 128, 101, 102, 0, 255])):
        _, ds = open_points(_s1(), _s2(**{name: probs}))
        assert _clear(ds) == [[True, False], [True, False], [True, False]], name  # CLP: cloudy from 0.4 * 255 = 102
    # with Cloud Score+ both must say clear (every cloud column present, as the table rule says)
    _, ds = open_points(_s1(), _s2(QA60=qa60, cs_cdf=[0.9, 0.9, 0.9, 0.9, 0.5, 0.9]))
    assert _clear(ds) == [[True, False], [False, True], [False, False]]
    # beside SCL the raster path lets SCL decide: QA60 left out
    _, ds = open_points(_s1(), _s2(QA60=qa60, SCL=[4, 4, 4, 4, 9, 5]))
    assert _clear(ds) == [[True, True], [True, True], [False, True]]


def test_a_fractional_cloud_flag_is_cloudy_and_counted():
    """A polygon mean of Sentinel Hub's CLM (0.35 cloudy) passed the old ``CLM == 1`` test as clear."""
    with pytest.warns(UserWarning, match=r"column 'CLM' holds fractional values on 2 of 5 rows \(e\.g\. 0\.35\).*counted cloudy"):
        _, ds = open_points(_s1(), _s2(CLM=[0.0, 0.35, 1.0, 0.0, np.nan, 0.02]))
    assert _clear(ds) == [[True, False], [False, True], [True, False]]  # missing CLM: no cloud, as for rasters
    with pytest.warns(UserWarning, match=r"column 'mask' holds fractional values on 1 of 6 rows \(e\.g\. 0\.5\)"):
        _, ds = open_points(_s1(), _s2(mask=[1.0, 0.5, 1.0, 1.0, 0.0, 1.0]))
    assert _clear(ds) == [[True, False], [True, True], [False, True]]


def test_cs_and_cs_cdf_use_cs_cdf():
    _, ds = open_points(_s1(), _s2(cs=[0.9] * 6, cs_cdf=[0.9, 0.5, 0.9, 0.5, 0.9, 0.5]))
    assert _clear(ds) == [[True, False]] * 3
    assert json.loads(ds.attrs["point_table"])["cloud_mask"] == "cs_cdf >= 0.6"


# --- finding 4/5 (ms): GEE times and ids --------------------------------------------------------------------------


def test_whole_number_times_by_magnitude():
    ms = [pd.Timestamp(d) + pd.Timedelta("09:57:11") for d in DAYS for _ in (1, 2)]
    want = [pd.Timestamp(d) + pd.Timedelta("09:57:11") for d in DAYS]
    epoch_ms = [(t - pd.Timestamp(0)) // pd.Timedelta("1ms") for t in ms]
    for values, expected in ((epoch_ms, want), ([v // 1000 for v in epoch_ms], want),
                             ([int(d.replace("-", "")) for d in DAYS for _ in (1, 2)], [pd.Timestamp(d) for d in DAYS])):
        _, ds = open_points(_s1(), _s2(Date=values))
        assert pd.DatetimeIndex(ds.time.values).tolist() == expected
        assert ds["NDVI"].values[0, 0, 0] == pytest.approx(0.75, rel=1e-6)
    with pytest.raises(TableError, match=r"column 'Date': expected times .* found numbers from 44256 to 44261.*Excel"):
        open_points(_s1(), _s2(Date=[44256, 44256, 44258, 44258, 44261, 44261]))
    with pytest.raises(TableError, match="found numbers from 2.02103e"):  # ms mixed with YYYYMMDD: no one unit
        open_points(_s1(), _s2(Date=[20210302, 20210302, *epoch_ms[2:]]))


def test_reduce_regions_time_from_system_index_or_time_start():
    """reduceRegions/sampleRegions exports: the date only in system:index or system:time_start."""
    t = _s2().drop(columns="Date")
    ids = [f"{d.replace('-', '')}T095411_{d.replace('-', '')}T095409_T33UXQ_{i}" for d in DAYS for i in (0, 1)]
    _, ds = open_points(_s1(), t.assign(**{"system:index": ids}))
    assert pd.DatetimeIndex(ds.time.values).tolist() == [pd.Timestamp(d) + pd.Timedelta("09:54:11") for d in DAYS]
    starts = [(pd.Timestamp(d) + pd.Timedelta("09:57:00") - pd.Timestamp(0)) // pd.Timedelta("1ms") for d in DAYS for _ in (1, 2)]
    _, ds = open_points(_s1(), t.assign(**{"system:time_start": starts}))
    assert pd.DatetimeIndex(ds.time.values).tolist() == [pd.Timestamp(d) + pd.Timedelta("09:57:00") for d in DAYS]
    np.testing.assert_allclose(ds["NDVI"].values[:, 0, 1], [0.5, 0.8, 0.6], rtol=1e-6)
    s1 = _s1().drop(columns="Date")
    s1["system:index"] = [f"S1A_IW_GRDH_1SDV_{d}T163505_{d}T163530_041372_04EB38_93AE" for d in ("20210301", "20210303", "20210307")
                          for _ in (1, 2)]
    ds1, _ = open_points(s1, _s2())
    assert pd.Timestamp(ds1.time.values[1]) == pd.Timestamp("2021-03-03T16:35:05")


def test_get_region_image_ids_are_not_point_ids():
    """getRegion's ``id`` is the image's: each acquisition would be a point (63 for one point in the hunt)."""
    s2 = _s2().rename(columns={"lon": "longitude", "lat": "latitude"}).drop(columns="PLOTID")
    s2.insert(0, "id", [f"{d.replace('-', '')}T095411_{d.replace('-', '')}T095409_T33UXQ" for d in DAYS for _ in (1, 2)])
    with pytest.raises(TableError, match=r"open_points\(S2\): column 'id': expected point ids, found image ids \(3 distinct.*getRegion"):
        open_points(_s1(), s2)
    s2["point"] = s2["longitude"].round(5).astype(str)
    s1 = _s1().assign(point=lambda t: t["lon"].round(5).astype(str))
    a, b = open_points(s1, s2, columns={"id": "point"})  # the remedy the message gives
    assert b["point"].values.tolist() == ["17.5", "18.5"] and a.sizes["x"] == 2
    np.testing.assert_allclose(b["NDVI"].values[:, 0, 0], [0.75, 0.5, 0.6], rtol=1e-6)


# --- finding 5 (ids) ----------------------------------------------------------------------------------------------


def test_one_id_at_two_places_is_refused():
    """Two regions' tables whose ids restart at 1: 3 of 16 plots 100 km apart were merged, with a log line only."""
    s1 = pd.concat([_s1(), _s1(days=("2021-03-09",), lon=(18.9, 18.5))])  # A also at 18.9 E: 1.4 degrees away
    # 1.4 degrees of longitude at 48.8 N: 1.4 * 111195.08 m * cos(48.8 deg) = 102540 m
    with pytest.raises(TableError, match=r"within 100 m\), found 1 of 2 ids whose coordinates spread further: 'A' \(102540 m\).*unique"):
        open_points(s1, _s2())
    near = pd.concat([_s1(), _s1(days=("2021-03-09",), lon=(17.5005, 18.5))])  # 0.0005 degrees (37 m): one point
    assert open_points(near, _s2())[0].sizes["x"] == 2
    utm = _s2(lon=[500000.0, 600000.0] * 3, lat=[5400000.0] * 6)
    far = utm.assign(lon=[500000.0, 600000.0, 500150.0, 600000.0, 500000.0, 600000.0])
    with pytest.raises(TableError, match=r"within 100 m.*'A' \(150 m\)"):
        open_points(_s1().drop(columns=["lon", "lat"]), far)
    near_utm = utm.assign(lon=[500000.0, 600000.0, 500050.0, 600000.0, 500000.0, 600000.0])  # 50 m: one point
    assert open_points(_s1().drop(columns=["lon", "lat"]), near_utm)[1].sizes["x"] == 2



def test_the_one_place_check_is_in_metres_and_on_the_kept_points_only():
    """Review finding 3: ``points=["B"]`` was refused for A's rows; the 0.001-degree limit was 73 m in longitude at 48.8 N."""
    two_places = pd.concat([_s1(), _s1(days=("2021-03-09",), lon=(18.9, 18.5))])  # A at 17.5 E and 18.9 E, B fine
    a, b = open_points(two_places, _s2(), points=["B"])
    assert b["point"].values.tolist() == ["B"] and a.sizes["x"] == 1
    np.testing.assert_allclose(b["NDVI"].values[:, 0, 0], [0.5, 0.8, 0.6], rtol=1e-6)  # B's own NDVI, A's rows left out
    with pytest.raises(TableError, match=r"'A' \(102540 m\)"):
        open_points(two_places, _s2(), points=["A", "B"])
    # 0.0012 degrees east at 48.8 N: 0.0012 * 111195.08 * cos(48.8 deg) = 87.9 m, one point (refused as 0.0012 > 0.001 before)
    east = pd.concat([_s1(), _s1(days=("2021-03-09",), lon=(17.5012, 18.5))])
    assert open_points(east, _s2())[0].sizes["x"] == 2
    # 0.0015 degrees east: 109.9 m; 0.0009 degrees north: 0.0009 * 111195.08 = 100.08 m (let through as < 0.001 before)
    with pytest.raises(TableError, match=r"within 100 m\).*'A' \(110 m\)"):
        open_points(pd.concat([_s1(), _s1(days=("2021-03-09",), lon=(17.5015, 18.5))]), _s2())
    north = _s1(days=("2021-03-09",)).assign(lat=[48.8009, 48.8])
    with pytest.raises(TableError, match=r"'A' \(100 m\)"):  # 100.08 m, over the limit
        open_points(pd.concat([_s1(), north]), _s2())
    assert open_points(pd.concat([_s1(), north.assign(lat=[48.80089, 48.8])]), _s2())[0].sizes["x"] == 2  # 98.96 m

def test_s1_and_s2_ids_that_do_not_meet_are_warned():
    """``"001"`` in one table and 1 in the other: 0 pixel-dates with both, and no warning before."""
    s1 = _s1(ids=(1, 2))
    s2 = _s2(PLOTID=["001", "002"] * 3)
    with pytest.warns(UserWarning, match=r"0 of 4 points have both S1 and S2 rows.*S1 only: 2 such as \['1', '2'\], "
                                         r"S2 only: 2 such as \['001', '002'\]\. The ids differ in leading zeros"):
        a, _ = open_points(s1, s2)
    assert a.sizes["x"] == 4
    with pytest.warns(UserWarning, match=r"1 of 3 points have both S1 and S2 rows.*S1 only: 1 such as \['B'\], S2 only: 1 such as \['C'\]\. Check"):
        open_points(_s1(ids=("A", "B")), _s2(PLOTID=["A", "C"] * 3, cs_cdf=0.9))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = open_points(_s1(ids=("A", "B", "C"), lon=(17.5, 18.5, 19.0)), _s2(cs_cdf=0.9))  # 2 of 3 paired: no warning
    assert a["point"].values.tolist() == ["A", "B", "C"] and int(b["clear"].sum()) == 6


# --- finding 6 ----------------------------------------------------------------------------------------------------


def test_reflectance_in_percent_is_refused():
    pct = _s2(red=[5.0, 10.0, 10.0, 4.0, 8.0, 8.0], nir=[35.0, 30.0, 30.0, 36.0, 32.0, 32.0])
    with pytest.raises(TableError, match=r"found values of median 20 and 99th percentile 35.9: reflectance in percent. Divide"):
        open_points(_s1(), pct)
    # DN and 0-1 reflectance stay as they were
    dn = _s2(red=[500, 1000, 1000, 400, 800, 800], nir=[3500, 3000, 3000, 3600, 3200, 3200])
    assert open_points(_s1(), dn)[1]["NDVI"].values[0, 0, 0] == pytest.approx(0.75, rel=1e-6)


# --- lesser ------------------------------------------------------------------------------------------------------


def test_local_midnight_dates_keep_their_calendar_date():
    _, ds = open_points(_s1(), _s2(Date=[f"{d}T00:00:00+01:00" for d in DAYS for _ in (1, 2)]))
    assert pd.DatetimeIndex(ds.time.values).tolist() == [pd.Timestamp(d) for d in DAYS]  # not 2021-03-01 23:00
    local = pd.to_datetime([d for d in DAYS for _ in (1, 2)]).tz_localize("Europe/Bratislava")
    _, ds = open_points(_s1(), _s2(Date=local))
    assert pd.DatetimeIndex(ds.time.values).tolist() == [pd.Timestamp(d) for d in DAYS]
    _, ds = open_points(_s1(), _s2(Date=[f"{d}T10:57:00+01:00" for d in DAYS for _ in (1, 2)]))  # an instant: to UTC
    assert pd.Timestamp(ds.time.values[0]) == pd.Timestamp("2021-03-02T09:57:00")


def test_openeo_feature_index_is_an_id():
    t = _s2().rename(columns={"PLOTID": "feature_index", "Date": "date"}).assign(feature_index=[0, 1] * 3)
    _, ds = open_points(_s1(ids=(0, 1)), t)
    assert ds["point"].values.tolist() == ["0", "1"]
    np.testing.assert_allclose(ds["NDVI"].values[:, 0, 1], [0.5, 0.8, 0.6], rtol=1e-6)


def test_semicolon_and_decimal_comma_csv(tmp_path):
    s2 = _s2()
    s2.to_csv(tmp_path / "eu.csv", sep=";", decimal=",", index=False)
    s2.to_csv(tmp_path / "tab.tsv", sep="\t", index=False)
    for name in ("eu.csv", "tab.tsv"):
        back = read_table(tmp_path / name)
        assert back.columns.tolist() == s2.columns.tolist() and back["red"].tolist() == s2["red"].tolist()
        np.testing.assert_allclose(open_points(_s1(), tmp_path / name)[1]["NDVI"].values[:, 0, 1], [0.5, 0.8, 0.6], rtol=1e-6)
    s2.astype({"red": str}).assign(red=lambda t: t["red"].str.replace(".", ",")).to_csv(tmp_path / "quoted.csv", index=False)
    with pytest.raises(TableError, match=r"column 'red': expected numbers, found 6 values that are not, such as '0,05' "
                                         r"\(numbers with a decimal comma"):
        open_points(_s1(), tmp_path / "quoted.csv")


def test_s1_amplitude_through_open_points():
    """Amplitude read as power: warned naming open_points' own s1_units= (open_points had no units=)."""
    ids, lon = tuple("ABCDEF"), (17.5, 18.5, 19.0, 19.1, 19.2, 19.3)
    amp = _s1(ids=ids, lon=lon, days=tuple(f"2021-03-{d:02d}" for d in range(1, 25, 2)))  # 72 rows: open_s1 samples 24
    amp["VV"], amp["VH"] = 0.3, 0.13  # power 0.09 / 0.0169: -10.46 / -17.72 dB; read as power: -5.23 / -8.86 dB
    s2 = amp.drop(columns=["VV", "VH"]).assign(red=0.05, nir=0.35, cs_cdf=0.9)
    with pytest.warns(UserWarning, match=r"pass s1_units='amplitude'") as seen:
        open_points(amp, s2)
    assert not [w for w in seen if "pass units=" in str(w.message)]
    ds, _ = open_points(amp, s2, s1_units="amplitude")
    np.testing.assert_allclose(ds["VV"].values, 20 * np.log10(0.3), rtol=1e-6)  # -10.46 dB
    np.testing.assert_allclose(ds["VH"].values, 20 * np.log10(0.13), rtol=1e-6)


def test_two_orbits_on_one_date_name_the_orbit_column():
    s1 = pd.concat([_s1().assign(Orbit=175), _s1().assign(Orbit=73)])
    with pytest.raises(DuplicateTimeError, match=r"rows of two relative orbits \(column 'Orbit': \[73, 175\].*system:index"):
        open_points(s1, _s2())
    with pytest.raises(DuplicateTimeError, match=r"\(column 'Orbit': \[73, 175\]"):  # float orbits (a CSV with gaps) named alike
        open_points(s1.astype({"Orbit": float}), _s2())
    with pytest.raises(DuplicateTimeError, match="drop or average them first"):  # one orbit: an exact duplicate, as before
        open_points(pd.concat([_s1().assign(Orbit=175), _s1().assign(Orbit=175).iloc[:1]]), _s2())
