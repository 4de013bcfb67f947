"""Conversions, NDVI, masks and the outlier filter against hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusets_dl.alignment.filters import filter_ndvi_outliers
from fusets_dl.errors import EncodingError
from fusets_dl.readers.encoding import (
    compressed_to_db,
    db_to_linear,
    detect_backscatter_units,
    linear_to_db,
    mask_from_cloud_band,
    mask_from_scl,
    ndvi,
)


def test_db_linear_round_trip():
    db = xr.DataArray(np.array([-20.0, -10.0, 0.0, 3.0], dtype=np.float32))
    lin = db_to_linear(db)
    np.testing.assert_allclose(lin.values, [0.01, 0.1, 1.0, 10**0.3], rtol=1e-6)
    np.testing.assert_allclose(linear_to_db(lin).values, db.values, atol=1e-5)
    assert linear_to_db(xr.DataArray(np.array([0.0, -1.0]))).isnull().all()


def test_compressed_decoding_matches_formula_and_nodata():
    dn = xr.DataArray(np.array([1000, 3928, 65534, 65535, 0], dtype=np.uint16))
    out = compressed_to_db(dn).values
    np.testing.assert_allclose(out[:2], [20 * np.log10(1000) - 83, 20 * np.log10(3928) - 83], rtol=1e-6)
    assert np.isnan(out[2:]).all()
    assert out.dtype == np.float32


def test_detect_units():
    rng = np.random.default_rng(0)
    db = rng.normal(-12, 4, 1000)
    assert detect_backscatter_units(db) == "dB"
    assert detect_backscatter_units(10 ** (db / 10)) == "linear"
    with pytest.raises(EncodingError, match="found median"):
        detect_backscatter_units(rng.integers(3000, 9000, 100).astype(float))
    with pytest.raises(EncodingError, match="found none"):
        detect_backscatter_units(np.full(10, np.nan))


def test_detect_units_reads_noise_negatives_as_linear_and_names_a_repeated_fill():
    """Linear power with a few slightly negative values (thermal-noise removal) was refused; a -32768 fill was not named."""
    lin = np.linspace(0.01, 0.2, 100)
    few = lin.copy()
    few[:2] = -0.0004  # 2 %
    assert detect_backscatter_units(few) == "linear"
    many = lin.copy()
    many[:3] = -0.0004  # 3 %: more than noise leaves
    with pytest.raises(EncodingError, match=r"3\.0% negative \(min -0\.0004\).*pass units='linear'"):
        detect_backscatter_units(many)
    deep = lin.copy()
    deep[:1] = -0.2  # below any noise residue
    with pytest.raises(EncodingError, match=r"1\.0% negative \(min -0\.2\)"):
        detect_backscatter_units(deep)
    filled = lin.copy()
    filled[:20] = -32768.0
    with pytest.raises(EncodingError, match=r"-32768 is on 20\.0% of the values: an undeclared nodata value; declare it "
                                            r"\(ds\['vh'\]\.attrs\['nodata'\] = -32768\)"):
        detect_backscatter_units(filled, name="vh")
    db = np.linspace(-20.0, -5.0, 60)
    assert detect_backscatter_units(np.concatenate([db, np.zeros(60)])) == "dB"  # exact zeros (GEE's masked pixels) left out


def test_ndvi_values_and_invalid():
    red = xr.DataArray(np.array([0.1, 0.05, 0.0, np.nan, 0.2]))
    nir = xr.DataArray(np.array([0.3, 0.45, 0.0, 0.3, 0.1]))
    out = ndvi(red, nir).values
    np.testing.assert_allclose(out[[0, 1, 4]], [0.5, 0.8, -1 / 3], rtol=1e-6)
    assert np.isnan(out[2]) and np.isnan(out[3])


def test_scl_and_cloud_masks():
    scl = xr.DataArray(np.array([3, 4, 5, 8, 9, 10, 6, np.nan]))
    np.testing.assert_array_equal(mask_from_scl(scl).values, [0, 1, 1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(mask_from_scl(scl, clear_classes=[4, 5, 6]).values, [0, 1, 1, 0, 0, 0, 1, 0])
    with pytest.raises(EncodingError, match="clear_classes"):
        mask_from_scl(scl, clear_classes=[])
    clm = xr.DataArray(np.array([1.0, np.nan, 0.0]))
    np.testing.assert_array_equal(mask_from_cloud_band(clm).values, [False, True, True])


def _series(values, step=5):
    t = pd.date_range("2021-06-01", periods=len(values), freq=f"{step}D")
    v = xr.DataArray(np.array(values, dtype=np.float32)[:, None], dims=("time", "x"), coords={"time": t})
    return v


def test_outlier_filter_removes_recovering_drop_only():
    spike = _series([0.8, 0.8, 0.3, 0.8, 0.8])
    harvest = _series([0.8, 0.8, 0.3, 0.3, 0.3])
    both = xr.concat([spike, harvest], dim="x")
    clear = both.notnull()
    out = filter_ndvi_outliers(both, clear)
    np.testing.assert_array_equal(out.values[:, 0], [1, 1, 0, 1, 1])
    np.testing.assert_array_equal(out.values[:, 1], [1, 1, 1, 1, 1])


def test_outlier_filter_respects_gap_and_clear_mask():
    # neighbours 25 days away: beyond max_gap_days=20, so the drop is kept
    far = _series([0.8, 0.3, 0.8], step=25)
    assert filter_ndvi_outliers(far, far.notnull()).values.all()
    # a cloudy neighbour is skipped: the previous *clear* observation counts
    v = _series([0.8, 0.1, 0.3, 0.8])
    clear = xr.DataArray(np.array([1, 0, 1, 1], bool)[:, None], dims=("time", "x"), coords=v.coords)
    out = filter_ndvi_outliers(v, clear)
    np.testing.assert_array_equal(out.values[:, 0], [1, 0, 0, 1])


def test_outlier_filter_is_lazy_and_chunk_invariant():
    from fusets_dl.testing import raise_if_dask_computes

    rng = np.random.default_rng(1)
    v = _series(list(range(12)))
    data = np.clip(0.6 + rng.normal(0, 0.2, (12, 9)), -1, 1).astype(np.float32)
    da = xr.DataArray(data, dims=("time", "x"), coords={"time": v.time})
    clear = xr.DataArray(rng.random((12, 9)) > 0.3, dims=("time", "x"), coords={"time": v.time})
    eager = filter_ndvi_outliers(da, clear)
    with raise_if_dask_computes():
        lazy = filter_ndvi_outliers(da.chunk({"x": 4}), clear.chunk({"x": 4}))
    np.testing.assert_array_equal(lazy.values, eager.values)
