"""Per-class phenology options: each class runs with its own options, lazily, combined pixel by pixel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, DimensionError
from fusets_dl.testing import raise_if_dask_computes

T5 = pd.date_range("2021-01-01", "2021-12-31", freq="5D")
DAYS = ((T5 - pd.Timestamp("2021-01-01")) / pd.Timedelta(days=1)).to_numpy()


def _dl(seasons, amps):
    y = np.full(DAYS.shape, 0.15)
    for (sos, eos), a in zip(seasons, amps, strict=True):
        y = y + a * (1 / (1 + np.exp(-(DAYS - sos) / 6)) - 1 / (1 + np.exp(-(DAYS - eos) / 6)))
    return y


def _cube():
    """4 x 6 pixels, all with a cover crop (peak ~Mar, amplitude 0.6) and a summer crop (peak ~Aug, 0.6)."""
    y = _dl([(20, 110), (180, 270)], [0.6, 0.6])
    data = np.broadcast_to(y[:, None, None], (DAYS.size, 4, 6)) + np.random.default_rng(0).normal(0, 0.01, (DAYS.size, 4, 6))
    nd = xr.DataArray(data.astype(np.float32), dims=("time", "y", "x"), coords={"time": T5, "y": np.arange(4), "x": np.arange(6)})
    cls = xr.DataArray(np.array([[1200] * 6, [1200] * 6, [9120] * 6, [np.nan, 5, 5, 5, 5, 5]]), dims=("y", "x"), coords={"y": nd.y, "x": nd.x})
    return nd, cls


PARAMS = {1200: {"max_seasons": 1}, "default": {"max_seasons": 3}}


def test_each_class_gets_its_options_unknown_and_nan_get_default():
    nd, cls = _cube()
    ph = fdl.phenology(nd, classes=cls, params=PARAMS)
    n = ph["n_seasons"].values
    assert (n[:2] == 1).all()  # maize: one season kept (the larger amplitude)
    assert (n[2:] == 2).all()  # 9120, 5 (not listed) and NaN: default, both seasons
    assert ph.sizes["season"] == 3
    assert ph["sos"].dtype.kind == "M" and ph["is_main"].dtype == np.int8 and ph["n_seasons"].dtype == np.int8
    alone = fdl.phenology(nd.isel(y=slice(2, 4)), max_seasons=3)
    np.testing.assert_array_equal(ph["sos"].values[:, 2:], alone["sos"].values)
    assert np.isnat(ph["sos"].values[1:, :2]).all()


def test_main_months_per_class_gives_one_main_season():
    nd, cls = _cube()
    ph = fdl.phenology(nd, classes=cls, params={1200: {"main_months": (6, 9)}})
    assert (ph["n_seasons"].values == 2).all()
    assert (ph["n_main_seasons"].values[:2] == 1).all()
    assert (ph["n_main_seasons"].values[2:] == 2).all()  # equal amplitudes, any month: both main


def test_chunked_equals_unchunked_and_stays_lazy():
    nd, cls = _cube()
    ref = fdl.phenology(nd, classes=cls, params=PARAMS)
    with raise_if_dask_computes():
        lazy = fdl.phenology(nd.chunk({"y": 2, "x": 3}), classes=cls.chunk({"y": 2, "x": 3}), params=PARAMS)
    xr.testing.assert_identical(lazy.compute(), ref)


def test_bad_keys_and_dims_raise_clear_errors():
    nd, cls = _cube()
    with pytest.raises(ConfigError, match=r"params\[1200\]: unknown or per-run-only options \['max_season'\]"):
        fdl.phenology(nd, classes=cls, params={1200: {"max_season": 1}})
    with pytest.raises(ConfigError, match="per-run-only options \\['period'\\]"):
        fdl.phenology(nd, classes=cls, params={1200: {"period": ("2021-01-01", "2021-12-31")}})
    with pytest.raises(ConfigError, match="integer class ids or 'default', found 'maize'"):
        fdl.phenology(nd, classes=cls, params={"maize": {}})
    with pytest.raises(ConfigError, match="both classes and params"):
        fdl.phenology(nd, params=PARAMS)
    with pytest.raises(DimensionError, match="pixel dimensions"):
        fdl.phenology(nd, classes=cls.isel(y=0), params=PARAMS)


def test_class_map_on_part_of_the_grid_is_refused_never_a_cropped_output():
    nd, cls = _cube()
    with pytest.raises(DimensionError, match=r"phenology: classes: expected the class map on the grid of the NDVI, 'x': size 6, 0 .. 5; "
                                             r"found 'x': size 3, 0 .. 2"):
        fdl.phenology(nd, classes=cls.isel(x=slice(0, 3)), params=PARAMS)


def test_class_map_in_another_order_or_a_float_rounding_away_gives_the_same_output():
    nd, cls = _cube()
    nd = nd.assign_coords(x=nd.x * 20.0, y=nd.y * -20.0)
    cls = cls.assign_coords(x=nd.x, y=nd.y)
    ref = fdl.phenology(nd, classes=cls, params=PARAMS)
    for other in (cls.sortby("y"), cls.assign_coords(x=cls.x + 1e-6), cls.sortby("x", ascending=False).transpose("x", "y")):
        out = fdl.phenology(nd, classes=other, params=PARAMS)
        assert dict(out.sizes) == dict(ref.sizes)
        xr.testing.assert_identical(out, ref)


def test_bad_option_of_a_class_names_the_class():
    nd, cls = _cube()
    with pytest.raises(ConfigError, match=r"min_amplitude: expected a finite number > 0 \(NDVI\), found nan \(with the options of params\[1200\]\)"):
        fdl.phenology(nd, classes=cls, params={1200: {"min_amplitude": float("nan")}})
