"""The ``fusion`` accessor reaches every option of the stage functions it fronts."""

from __future__ import annotations

import inspect

import numpy as np

import fusets_dl as fdl
from fusets_dl import accessor as acc
from tests.reconstruction.test_calibrate import _model, _rice_cube


def test_reconstruct_and_predict_ndvi_take_every_option_of_the_functions() -> None:
    """``calibration=`` was missing from ``ds.fusion.reconstruct``; ``**predict_kwargs`` are its named inference settings."""
    for method, fn in (("reconstruct", fdl.reconstruct), ("predict_ndvi", fdl.predict_ndvi)):
        have = inspect.signature(getattr(acc.FusionDatasetAccessor, method)).parameters
        for name, p in list(inspect.signature(fn).parameters.items())[1:]:  # the cube is the accessor's own
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                assert {"batch_size", "device", "precision"} <= set(have), f"{method}: the inference settings"
                continue
            assert name in have, f"ds.fusion.{method} lacks {name}="
            if p.default is not inspect.Parameter.empty:
                assert have[name].default == p.default, f"ds.fusion.{method}({name}=...) default differs"


def test_phenology_takes_every_option_of_the_function() -> None:
    """``year_start=`` (the southern-hemisphere advice of docs/phenology.md) was missing: TypeError from ds.fusion.phenology."""
    have = inspect.signature(acc._phenology).parameters
    for name, p in list(inspect.signature(fdl.phenology).parameters.items())[1:]:  # the NDVI is the accessor's own
        assert name in have, f"ds.fusion.phenology lacks {name}="
        if name != "observed":  # the accessor's None reads a reconstruction's source flags
            assert have[name].default == p.default, f"ds.fusion.phenology({name}=...) default differs"
    import pandas as pd
    import xarray as xr

    t = pd.date_range("2021-07-01", "2023-06-30", freq="5D")
    doy = np.asarray((t - pd.Timestamp("2021-07-01")).days, dtype=float)
    nd = xr.DataArray((0.2 + 0.6 * np.exp(-(((doy % 365) - 200) / 30) ** 2))[:, None, None] * np.ones((1, 2, 2)),
                      dims=("time", "y", "x"), coords={"time": t})
    got = xr.Dataset({"NDVI": nd}).fusion.phenology(by_year=True, year_start=7, max_seasons=1)
    want = fdl.phenology(nd, by_year=True, year_start=7, max_seasons=1)
    xr.testing.assert_identical(got, want)
    assert got.sizes["year"] == 2  # two season years (July to June), one peak (January) in each


def test_the_accessor_passes_the_calibration_options_of_auto_weights() -> None:
    cube, pred, _ = _rice_cube()
    m = _model()
    opts = {"gap_days": 40, "n_gaps": 3, "max_pixels": 12, "seed": 3}
    ref = fdl.reconstruct(cube, m, predicted=pred, weights="auto", calibration=opts)
    via = cube.fusion.reconstruct(m, predicted=pred, weights="auto", calibration=opts)
    for name in ("NDVI", "NDVI_std", "source"):
        np.testing.assert_array_equal(via[name].values, ref[name].values)
    assert via.attrs == ref.attrs and via.attrs["calibration_source"] == "this cube (weights='auto')"
    default = cube.fusion.reconstruct(m, predicted=pred, weights="auto")  # the options reach the calibration
    assert {k: v for k, v in default.attrs.items() if k.startswith("calibration_")} != {
        k: v for k, v in via.attrs.items() if k.startswith("calibration_")}
