"""bbox_crs of open_s1 / open_s2: a region given in longitude/latitude (or any CRS) is carried into the data's CRS.

The expected extents are computed by hand from the projections' formulas (transverse Mercator at the equator,
Snyder's polar stereographic), not by pyproj, which the code under test uses.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import rioxarray  # noqa: F401  (the .rio accessor)
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, CRSMismatchError, DimensionError
from fusets_dl.readers.normalise import _clip_polygon, _polygon_area
from fusets_dl.testing import raise_if_dask_computes

# WGS 84
_A, _E2 = 6378137.0, 0.0066943799901413165
_K0 = 0.9996  # UTM's scale on the central meridian


def _s1(x0: float, y0: float, n: int, res: float, crs: str | None = "EPSG:32631", chunks: int | None = None) -> xr.Dataset:
    """A 2-date S1 scene of n x n pixels of ``res``, the first pixel centre at (x0, y0), rows north to south."""
    x, y = x0 + res * np.arange(n), y0 - res * np.arange(n)
    vv = np.full((2, n, n), -10.0, dtype=np.float32)
    ds = xr.Dataset({"VV": (("time", "y", "x"), vv), "VH": (("time", "y", "x"), vv - 6)},
                    coords={"time": pd.date_range("2021-03-01", periods=2, freq="6D"), "y": y, "x": x})
    if chunks is not None:
        ds = ds.chunk({"time": -1, "y": chunks, "x": chunks})
    return ds.rio.write_crs(crs) if crs is not None else ds


def _s2(x0: float, y0: float, n: int, res: float, crs: str = "EPSG:32631") -> xr.Dataset:
    x, y = x0 + res * np.arange(n), y0 - res * np.arange(n)
    shape = (2, n, n)
    return xr.Dataset({"B04": (("time", "y", "x"), np.full(shape, 0.05, "float32")), "B08": (("time", "y", "x"), np.full(shape, 0.25, "float32")),
                       "SCL": (("time", "y", "x"), np.full(shape, 4, "uint8"))},
                      coords={"time": pd.date_range("2021-03-02", periods=2, freq="6D"), "y": y, "x": x}).rio.write_crs(crs)


def _extent(ds: xr.Dataset) -> tuple[float, float, float, float]:
    return float(ds.x.min()), float(ds.y.min()), float(ds.x.max()), float(ds.y.max())


# A lon/lat box on zone 31's central meridian (3 E) just north of the equator. By hand (transverse Mercator,
# Snyder 8-9/8-10, terms below 1 mm dropped): x = 500000 +- k0 N cos(lat) dlon, widest at the lower latitude:
# 0.9996 * 6378137 * 0.01 deg = 1112.750 m; y = k0 M(lat), M ~ a (1 - e2) lat at the equator:
# 0.9996 * 6335439.3 * 0.005 deg = 552.650 m and * 0.015 deg = 1657.951 m.
_LONLAT = (2.99, 0.005, 3.01, 0.015)
_HALF_W = _K0 * _A * math.radians(0.01)
_Y0, _Y1 = _K0 * _A * (1 - _E2) * math.radians(0.005), _K0 * _A * (1 - _E2) * math.radians(0.015)


def test_the_hand_numbers():
    assert _HALF_W == pytest.approx(1112.750, abs=1e-3)
    assert (_Y0, _Y1) == (pytest.approx(552.650, abs=1e-3), pytest.approx(1657.951, abs=1e-3))


@pytest.mark.parametrize("crs", ["EPSG:4326", 4326, "OGC:CRS84"])
def test_a_lonlat_box_keeps_every_utm_pixel_of_its_area(crs):
    """10 m pixels centred on 5 + 10 k m: the box 498887.25..501112.75 x 552.65..1657.95 touches the columns of centres
    498885..501115 (224) and the rows of centres 555..1655 (111): 24 864 pixels."""
    ds = _s1(498005.0, 2995.0, 400, 10.0)
    out = fdl.open_s1(ds, units="dB", bbox=_LONLAT, bbox_crs=crs)
    assert (out.sizes["y"], out.sizes["x"]) == (111, 224)
    assert _extent(out) == (498885.0, 555.0, 501115.0, 1655.0)
    assert out.rio.crs.to_epsg() == 32631
    # the same box given in the data's CRS (the envelope, by hand) keeps the same pixels
    env = (500000 - _HALF_W, _Y0, 500000 + _HALF_W, _Y1)
    same = fdl.open_s1(ds, units="dB", bbox=env)
    assert _extent(same) == _extent(out)
    s2 = fdl.open_s2(_s2(498005.0, 2995.0, 400, 10.0), bbox=_LONLAT, bbox_crs=crs)
    assert (s2.sizes["y"], s2.sizes["x"]) == (111, 224) and _extent(s2) == _extent(out)


def test_bbox_crs_equal_to_the_data_crs_is_todays_box_and_none_is_the_data_crs():
    ds = _s1(498005.0, 2995.0, 400, 10.0)
    box = (499001.0, 1001.0, 499099.0, 1099.0)
    a = fdl.open_s1(ds, units="dB", bbox=box)
    for crs in ("EPSG:32631", 32631, ds.rio.crs):
        b = fdl.open_s1(ds, units="dB", bbox=box, bbox_crs=crs)
        assert _extent(b) == _extent(a) == (499005.0, 1005.0, 499095.0, 1095.0)
    # bbox_crs alone changes nothing, but is still checked
    assert fdl.open_s1(ds, units="dB", bbox_crs="EPSG:4326").sizes == fdl.open_s1(ds, units="dB").sizes
    with pytest.raises(ConfigError, match=r"bbox_crs: expected a CRS pyproj reads .*found 'EPSG:99999'"):
        fdl.open_s1(ds, units="dB", bbox_crs="EPSG:99999")
    with pytest.raises(ConfigError, match=r"bbox_crs: expected a CRS such as \"EPSG:4326\" .*found True"):
        fdl.open_s1(ds, units="dB", bbox=box, bbox_crs=True)


def test_a_lonlat_box_is_lazy():
    """Only coordinates are transformed and sliced: no value is computed (units given: no sample is read)."""
    ds = _s1(498005.0, 2995.0, 400, 10.0, chunks=100)
    with raise_if_dask_computes(max_computes=0):
        out = fdl.open_s1(ds, units="dB", bbox=_LONLAT, bbox_crs="EPSG:4326")
    assert out["VV"].chunks is not None and (out.sizes["y"], out.sizes["x"]) == (111, 224)


def test_data_without_a_crs_given_a_bbox_crs_is_refused():
    ds = _s1(498005.0, 2995.0, 400, 10.0, crs=None)
    with pytest.raises(CRSMismatchError, match=r"bbox_crs=EPSG:4326 given, but the data have no CRS .*write_crs"):
        fdl.open_s1(ds, units="dB", bbox=_LONLAT, bbox_crs="EPSG:4326")


def test_degrees_in_the_data_crs_suggest_bbox_crs():
    ds = _s1(498005.0, 2995.0, 400, 10.0)
    with pytest.raises(DimensionError, match=r"holds no pixel.*EPSG:32631.*looks like degrees.*bbox_crs=\"EPSG:4326\""):
        fdl.open_s1(ds, units="dB", bbox=_LONLAT)


def test_a_lonlat_box_elsewhere_names_both_boxes():
    ds = _s1(498005.0, 2995.0, 400, 10.0)
    with pytest.raises(DimensionError, match=r"bbox \(2\.99, 0\.5, 3\.01, 0\.6\) in EPSG:4326 \(longitude first.*holds no pixel: "
                                             r"it covers \(498887\.\d+, 55265\.\d+, .*in the data's CRS \(EPSG:32631\)"):
        fdl.open_s1(ds, units="dB", bbox=(2.99, 0.5, 3.01, 0.6), bbox_crs="EPSG:4326")


def test_a_box_across_the_antimeridian_is_refused():
    """Refused, not handled: as minx > maxx in longitude, and when the data's CRS is geographic and the box crosses 180."""
    ds = _s1(498005.0, 2995.0, 400, 10.0)
    with pytest.raises(ConfigError, match=r"minx < maxx.*across the antimeridian.*split it into two"):
        fdl.open_s1(ds, units="dB", bbox=(179.5, 0.0, -179.5, 1.0), bbox_crs="EPSG:4326")
    with pytest.raises(ConfigError, match=r"longitudes within -180..180 and latitudes within -90..90"):
        fdl.open_s1(ds, units="dB", bbox=(179.5, 0.0, 180.5, 1.0), bbox_crs="EPSG:4326")
    with pytest.raises(ConfigError, match=r"latitude first\?"):
        fdl.open_s1(ds, units="dB", bbox=(0.0, 100.0, 1.0, 101.0), bbox_crs="EPSG:4326")
    # a box of UTM 60N (central meridian 177 E) reaching past 180 E, for data in lon/lat
    lonlat = _s1(179.0005, 0.0995, 200, 0.001, crs="EPSG:4326")
    with pytest.raises(ConfigError, match=r"crosses the antimeridian in the data's CRS \(EPSG:4326: longitudes 179\.5.* \.\. -179\.4"):
        fdl.open_s1(lonlat, units="dB", bbox=(780000, 0, 900000, 10000), bbox_crs="EPSG:32660")


def test_a_box_around_the_pole_is_carried_into_a_polar_grid():
    """Handled: a lon/lat box whose top edge is the pole, into NSIDC's north polar stereographic (EPSG:3413, true scale
    at 70 N). By hand (Snyder 21-33, 21-34, 15-9): the circle of 89.9 N has radius rho = a m_c t / t_c = 10832.7 m, so
    the 1 km pixels of centres -11..11 km touch it: 23 x 23. (The edges are sampled at 101 points each: a 360-degree
    edge's extremes may fall between two samples, short by up to rho (1 - cos(1.8 deg)) = 5 m, well inside a pixel.)"""
    e = math.sqrt(_E2)

    def t(phi):
        s = math.sin(phi)
        return math.tan(math.pi / 4 - phi / 2) / ((1 - e * s) / (1 + e * s)) ** (e / 2)

    phic = math.radians(70.0)
    m_c = math.cos(phic) / math.sqrt(1 - _E2 * math.sin(phic) ** 2)
    rho = _A * m_c * t(math.radians(89.9)) / t(phic)
    assert rho == pytest.approx(10832.7, abs=0.1)
    ds = _s1(-50000.0, 50000.0, 101, 1000.0, crs="EPSG:3413")
    out = fdl.open_s1(ds, units="dB", bbox=(-180, 89.9, 180, 90), bbox_crs="EPSG:4326")
    assert (out.sizes["y"], out.sizes["x"]) == (23, 23) and _extent(out) == (-11000.0, -11000.0, 11000.0, 11000.0)


def test_a_box_outside_the_projections_domain_is_refused():
    """Longitude 93 E is 90 degrees from zone 31's central meridian: transverse Mercator is infinite there."""
    ds = _s1(498005.0, 2995.0, 400, 10.0)
    with pytest.raises(ConfigError, match=r"transform to finite coordinates in the data's CRS \(EPSG:32631\)"):
        fdl.open_s1(ds, units="dB", bbox=(80.0, -1.0, 100.0, 1.0), bbox_crs="EPSG:4326")


def test_a_lonlat_box_half_off_the_data_is_warned_by_its_area():
    """The data start at 3 E (x = 500000): the east half of the symmetric box; 50 % is warned."""
    ds = _s1(500005.0, 2995.0, 400, 10.0)
    with pytest.warns(UserWarning, match=r"the data cover about 50% of bbox \(2\.99, 0\.005, 3\.01, 0\.015 in EPSG:4326, "
                                         r"in the data's CRS 498887.*another tile, or a bbox in another CRS \(bbox_crs\)"):
        out = fdl.open_s1(ds, units="dB", bbox=_LONLAT, bbox_crs="EPSG:4326")
    assert out.sizes["x"] == 112  # centres 500005 .. 501115


def test_the_share_is_the_area_asked_for_not_its_envelope():
    """A lon/lat degree (3..4 E, 60..61 N) given to data of UTM 32N (central meridian 9 E) is turned by about 5 degrees
    there: it fills 83 % of its envelope. Data cut 12 % into the envelope's west side lose a thin corner of the degree
    (about 5 % of it, measured) but 12 % of the envelope: measured by the envelope, as for a box in the data's CRS, it
    was warned (under 90 %); by the degree's own outline it is not."""
    from pyproj import Transformer

    box = (3.0, 60.0, 4.0, 61.0)
    env = Transformer.from_crs("EPSG:4326", "EPSG:32632", always_xy=True).transform_bounds(*box, densify_pts=101)
    res = 200.0
    west = round(env[0] + 0.12 * (env[2] - env[0]), -2)  # the data's west pixel edge
    ny, nx = int((env[3] - env[1]) // res) + 3, int((env[2] - west) // res) + 3
    ds = _s1(west + res / 2, math.ceil(env[3] / 100) * 100 + res / 2, max(ny, nx), res, crs="EPSG:32632")
    assert (env[2] - west) / (env[2] - env[0]) < 0.885  # the envelope's share the data cover
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        out = fdl.open_s1(ds, units="dB", bbox=box, bbox_crs="EPSG:4326")
    assert float(out.x.min()) == west + res / 2
    # cut 40 % in (of the envelope), the degree is warned with its own share: 62 % (measured; 60 % of the envelope)
    west = round(env[0] + 0.4 * (env[2] - env[0]), -2)
    ds = _s1(west + res / 2, math.ceil(env[3] / 100) * 100 + res / 2, max(ny, nx), res, crs="EPSG:32632")
    with pytest.warns(UserWarning, match=r"the data cover about 62% of bbox \(3, 60, 4, 61 in EPSG:4326"):
        fdl.open_s1(ds, units="dB", bbox=box, bbox_crs="EPSG:4326")


def test_the_polygon_share_by_hand():
    square = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]])
    assert _polygon_area(square) == 4.0
    assert _polygon_area(_clip_polygon(square, (1.0, -5.0, 5.0, 5.0))) == 2.0
    diamond = np.array([[0.0, -1.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])  # area 2
    assert _polygon_area(_clip_polygon(diamond, (0.0, 0.0, 5.0, 5.0))) == pytest.approx(0.5)  # one quarter
    assert _polygon_area(_clip_polygon(diamond, (-0.5, -5.0, 5.0, 5.0))) == pytest.approx(2 - 0.25)  # the corner triangle (-1, 0), (-0.5, +-0.5)
    assert _polygon_area(_clip_polygon(diamond, (3.0, 3.0, 5.0, 5.0))) == 0.0
