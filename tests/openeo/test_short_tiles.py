"""A tile too short for phenology gives NaN phenology bands with a warning, not an error that fails the whole job.

Before: a tile of 2 or 3 S1 dates raised ``DimensionError: phenology: expected at
least 4 dates, found 2`` (on openEO one tile's error fails the batch job), while
one of 6 dates returned ``n_seasons`` 0 with a warning.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fusets_dl as fdl
from fusets_dl.errors import DimensionError
from fusets_dl.openeo import apply_udf, phenology_bands
from fusets_dl.openeo.udf import PHENOLOGY_MIN_DATES
from tests.openeo.conftest import sample_openeo_cube
from tests.paths import REPO

SAMPLE = REPO / "data" / "sample"

#: A few days of a foreign model: the reconstruction says its skill there is unknown.
pytestmark = pytest.mark.filterwarnings("ignore:reconstruct. the model was not trained on this cube:UserWarning")


@pytest.fixture(scope="module")
def short_cube():
    cube = sample_openeo_cube(SAMPLE).isel(y=slice(0, 6), x=slice(0, 6)).sel(t=slice("2021-01-01", "2021-01-16"))
    n_s1 = int(np.isfinite(cube.sel(bands="VV").values).any(axis=(1, 2)).sum())
    assert 2 <= n_s1 < PHENOLOGY_MIN_DATES
    return cube


def test_a_tile_too_short_for_phenology_gives_nan_bands_and_a_warning(model_path, short_cube):
    ctx = {"model": str(model_path), "phenology": {"max_seasons": 2}}
    with pytest.warns(UserWarning, match=r"this tile's reconstruction has [23] dates \['2021-01-\d\d', .*phenology needs at least 6 "
                                          r"\(min_valid.*NaN and n_seasons 0 .*whole request is this short.*temporal_extent"):
        out = apply_udf("phenology", short_cube, ctx).get_array()
    assert out.dims == ("t", "bands", "y", "x") and out.dtype == np.float32
    assert list(out["bands"].values) == phenology_bands(2)
    assert out.sizes["t"] == 1 and pd.Timestamp(out["t"].values[0]) == pd.Timestamp("2021-01-01")
    np.testing.assert_array_equal(out["y"].values, short_cube["y"].values)
    assert (out.sel(bands="n_seasons").values == 0).all()
    assert np.isnan(out.drop_sel(bands="n_seasons").values).all()
    default = apply_udf("phenology", short_cube, {"model": str(model_path)}).get_array()  # max_seasons: phenology's default
    assert list(default["bands"].values) == phenology_bands(3)


def test_the_python_api_still_refuses_so_short_a_series(model_path, short_cube):
    from fusets_dl.openeo.udf import _fusion_cube

    rec = fdl.reconstruct(_fusion_cube(short_cube, "reconstruct", {}, "test"), fdl.load_model(model_path))
    assert rec.sizes["time"] < PHENOLOGY_MIN_DATES
    with pytest.raises(DimensionError, match=r"phenology: expected at least 4 dates, found [23]"):
        fdl.phenology(rec["NDVI"])


def test_a_tile_under_min_valid_dates_is_short_too(model_path):
    """4-5 dates pass the 4-date floor but not phenology's min_valid (6 by default): ConfigError, failing the job, before."""
    cube = sample_openeo_cube(SAMPLE).isel(y=slice(0, 6), x=slice(0, 6)).sel(t=slice("2021-01-01", "2021-01-25"))
    from fusets_dl.openeo.udf import _fusion_cube

    n = fdl.reconstruct(_fusion_cube(cube, "reconstruct", {}, "test"), fdl.load_model(model_path)).sizes["time"]
    assert PHENOLOGY_MIN_DATES <= n < 6
    with pytest.warns(UserWarning, match=rf"has {n} dates .*phenology needs at least 6 \(min_valid"):
        out = apply_udf("phenology", cube, {"model": str(model_path)}).get_array()
    assert (out.sel(bands="n_seasons").values == 0).all()
    with pytest.warns(UserWarning, match=r"phenology needs at least 9 \(min_valid"):  # a larger min_valid in the context
        apply_udf("phenology", cube, {"model": str(model_path), "phenology": {"min_valid": 9}})
