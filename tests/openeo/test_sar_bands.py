"""``sar_backscatter``'s extra bands (``mask``, the angles) are Sentinel-1 bands: never an S2 clear flag.

``sar_backscatter(mask=True)`` adds ``mask`` (1 valid, 0 invalid, null no data).
The name ``mask`` is also a Google Earth Engine export's S2 clear flag
(``MASK``), and every non-VV/VH band went to the S2 side: on a cube without
``SCL`` the S1 mask became the cloud mask (a 16 x 16 corner of the sample,
2021: 76 % of the clear views lost, cloudy views on S1 days counted clear,
and the "no cloud mask" warning gone).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xarray as xr

from fusets_dl.openeo import apply_udf
from fusets_dl.openeo.udf import _fusion_cube, _sensor_datasets
from tests.openeo.conftest import sample_openeo_cube
from tests.paths import REPO

SAMPLE = REPO / "data" / "sample"

#: The cubes here have no cloud band on purpose (S2 masked first): the readers say so every time.
pytestmark = pytest.mark.filterwarnings("ignore:.*no SCL or cloud mask band:UserWarning")


@pytest.fixture(scope="module")
def cube_2021():
    """A 12 x 12 corner of the sample over 2021, S2 masked to its clear views and SCL dropped (mask_scl_dilation)."""
    cube = sample_openeo_cube(SAMPLE).isel(y=slice(0, 12), x=slice(4, 16)).sel(t=slice("2021-01-01", "2021-12-31"))
    clear = cube.sel(bands="SCL").isin([4, 5])
    masked = cube.copy(deep=True)
    for b in ("B04", "B08"):
        masked.loc[{"bands": b}] = masked.sel(bands=b).where(clear)
    valid = xr.where(np.isfinite(cube.sel(bands="VV")), 1.0, np.nan).expand_dims(bands=["mask"]).transpose(*cube.dims)
    return xr.concat([masked.sel(bands=["B04", "B08", "VV", "VH"]), valid], dim="bands")


def _run(kind, cube, model_path, **ctx):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = apply_udf(kind, cube, {"model": str(model_path), **ctx}).get_array()
    return out, [str(w.message) for w in caught]


def test_the_s1_mask_band_is_not_read_as_an_s2_clear_flag(model_path, cube_2021):
    ctx = {"reconstruct": {"weights": None, "debias_days": 30.0}}
    with_mask, msgs = _run("reconstruct", cube_2021, model_path, **ctx)
    without, _ = _run("reconstruct", cube_2021.sel(bands=["B04", "B08", "VV", "VH"]), model_path, **ctx)
    np.testing.assert_array_equal(with_mask.values, without.values)
    assert any("no SCL or cloud mask band" in m for m in msgs)  # the cube has no cloud band: warned, as without 'mask'
    observed = float((with_mask.sel(bands="source") == 0).mean())
    assert observed > 0.4  # every clear view kept (0.126 of the pixel-dates on the 16 x 16 corner when read as a clear flag)


def test_mask_zero_makes_that_pixel_dates_backscatter_missing(cube_2021):
    cube = cube_2021.copy(deep=True)
    s1_day = int(np.flatnonzero(np.isfinite(cube.sel(bands="VV").values).all(axis=(1, 2)))[0])
    cube[s1_day, list(cube["bands"].values).index("mask"), 2, 3] = 0.0
    s1, s2 = _sensor_datasets(cube, "reconstruct", {}, "test")
    assert "mask" not in s1 and "mask" not in s2 and "MASK" not in s2
    day = cube["t"].values[s1_day]
    assert np.isnan(s1["VV"].sel(time=day).values[2, 3]) and np.isnan(s1["VH"].sel(time=day).values[2, 3])
    finite = np.isfinite(s1["VV"].sel(time=day).values)
    assert finite.sum() == finite.size - 1  # that pixel only
    fusion = _fusion_cube(cube, "reconstruct", {}, "test")
    assert np.isnan(fusion["VV"].sel(time=day).values[2, 3]) and np.isfinite(fusion["VV"].sel(time=day).values[2, 2])


def test_a_mask_of_other_values_is_warned_and_taken_as_invalid_below_one(cube_2021):
    cube = cube_2021.copy(deep=True)
    s1_day = int(np.flatnonzero(np.isfinite(cube.sel(bands="VV").values).all(axis=(1, 2)))[0])
    cube[s1_day, list(cube["bands"].values).index("mask"), 0, 0] = 0.5
    with pytest.warns(UserWarning, match=r"band 'mask' \(sar_backscatter's validity mask\): expected 1 \(valid\), 0 \(invalid\) or "
                                          r"null, found 1 other values \(e\.g\. \[0\.5\]"):
        s1, _ = _sensor_datasets(cube, "reconstruct", {}, "test")
    assert np.isnan(s1["VV"].sel(time=cube["t"].values[s1_day]).values[0, 0])


def test_the_ellipsoid_incidence_angle_is_read_and_the_local_one_is_not(cube_2021):
    angle = xr.where(np.isfinite(cube_2021.sel(bands="VV")), 38.5, np.nan)
    extra = xr.concat([angle.expand_dims(bands=["ellipsoid_incidence_angle"]),
                       (angle + 7.0).expand_dims(bands=["local_incidence_angle"]),
                       (angle * 0 + 100.0).expand_dims(bands=["contributing_area"])], dim="bands").transpose(*cube_2021.dims)
    cube = xr.concat([cube_2021, extra], dim="bands")
    _, s2 = _sensor_datasets(cube, "predict", {}, "test")
    assert s2 is not None and set(map(str, s2.data_vars)) == {"B04", "B08"}  # none of them on the S2 side
    fusion = _fusion_cube(cube, "predict", {}, "test")
    assert float(np.unique(fusion["incidence_angle"].values)[0]) == pytest.approx(38.5)  # not 45.5: the local angle
    assert "local_incidence_angle" not in fusion.variables and "contributing_area" not in fusion.variables
    alone = _fusion_cube(xr.concat([cube_2021, extra.sel(bands=["local_incidence_angle"])], dim="bands"), "predict", {}, "test")
    assert "incidence_angle" not in alone.variables
