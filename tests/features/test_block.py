"""feature_block: the features of pixel batches equal the feature cube's, for every group."""

from __future__ import annotations

import numpy as np
import pytest

import fusets_dl as fdl
from fusets_dl.features.block import block_constants, block_sources, feature_block
from fusets_dl.testing import raise_if_dask_computes


def _with_extras(cube):
    """``cube`` with a DEM, a cloudy NDVI and some holes (NaN backscatter, all-NaN pixel)."""
    rng = np.random.default_rng(3)
    ny, nx = cube.sizes["y"], cube.sizes["x"]
    out = cube.copy(deep=True)
    out["elevation"] = (("y", "x"), rng.uniform(0, 300, (ny, nx)).astype(np.float32))
    out["slope"] = (("y", "x"), rng.uniform(0, 20, (ny, nx)).astype(np.float32))
    out["aspect"] = (("y", "x"), rng.uniform(0, 360, (ny, nx)).astype(np.float32))
    cloudy = out["NDVI"].values.copy()
    cloudy[rng.random(cloudy.shape) < 0.5] = np.nan
    out["NDVI_cloudy"] = (("time", "y", "x"), cloudy)
    vv = out["VV"].values
    vv[rng.random(vv.shape) < 0.1] = np.nan
    vv[:, 0, 0] = np.nan
    return out


def _batches(cube, spec, per):
    """The feature cube (time, y, x, feature) assembled from feature_block over batches of ``per`` pixels."""
    src = {k: np.asarray(v.values) for k, v in block_sources(cube, spec).items()}
    const = block_constants(cube, spec)
    nt, ny, nx = src["VV"].shape
    flat = {k: a.reshape(ny * nx, -1) if k == "terrain" else a.reshape(nt, ny * nx).T for k, a in src.items()}
    buf = np.full(per * nt * len(spec.names), 7.0, dtype=np.float32)  # garbage left from an earlier batch must not leak
    parts = []
    for p0 in range(0, ny * nx, per):
        batch = {k: np.ascontiguousarray(a[p0 : p0 + per]) for k, a in flat.items()}
        parts.append(feature_block(batch, const, out=buf).copy())
    return np.concatenate(parts).reshape(ny, nx, nt, -1).transpose(2, 0, 1, 3)


@pytest.mark.parametrize(
    "spec",
    [
        fdl.FeatureSpec(),
        fdl.FeatureSpec(groups=("sar", "optical", "time"), cloudy_input=True),
        fdl.FeatureSpec(groups=("sar", "optical", "terrain", "time"), lags=1, windows=(30,), s1_normalise="pixel_orbit"),
        fdl.FeatureSpec(groups=("sar", "terrain"), doy=False, anomaly=False),
    ],
    ids=["default", "optical+cloudy", "all-groups", "terrain-no-time"],
)
def test_batches_equal_the_feature_cube(small_cube, spec):
    cube = _with_extras(small_cube)
    want = fdl.compute_features(cube, spec).values
    got = _batches(cube, spec, per=37)  # batches that do not divide the pixels
    assert got.shape == want.shape == (cube.sizes["time"], cube.sizes["y"], cube.sizes["x"], len(spec.names))
    np.testing.assert_array_equal(got, want)


def test_cloudy_columns_are_nan_without_a_cloudy_variable(small_cube):
    spec = fdl.FeatureSpec(groups=("sar", "optical", "time"), cloudy_input=True)
    got = _batches(small_cube, spec, per=100)
    cols = [spec.names.index(n) for n in ("NDVI_cloudy", "dt_cloudy")]
    assert np.isnan(got[..., cols]).all()
    np.testing.assert_array_equal(got, fdl.compute_features(small_cube, spec).values)


def test_sources_are_lazy_and_aligned(small_cube):
    cube = _with_extras(small_cube).chunk({"time": 5, "y": 7, "x": 9})
    cube["NDVI"] = cube["NDVI"].chunk({"time": -1, "y": 12, "x": 4})  # chunked otherwise than VV
    spec = fdl.FeatureSpec(groups=("sar", "optical", "terrain", "time"), cloudy_input=True)
    with raise_if_dask_computes():
        src = block_sources(cube, spec)
    assert set(src) == {"VV", "VH", "NDVI", "NDVI_offset", "NDVI_cloudy", "terrain"}  # the offset: a date's own S2 view is not its context
    for name, v in src.items():
        if name == "terrain":
            assert v.dims == ("y", "x", "feature") and v.chunks[:2] == src["VV"].chunks[1:] and len(v.chunks[2]) == 1
        else:
            assert v.dims == ("time", "y", "x") and v.chunks == src["VV"].chunks and len(v.chunks[0]) == 1


def test_out_buffer_too_small_is_refused(small_cube):
    spec = fdl.FeatureSpec()
    src = {k: np.asarray(v.values).reshape(v.shape[0], -1).T[:10] for k, v in block_sources(small_cube, spec).items()}
    need = 10 * small_cube.sizes["time"] * len(spec.names)
    with pytest.raises(ValueError, match=f"at least {need} elements, found float32 of 5"):
        feature_block(src, block_constants(small_cube, spec), out=np.empty(5, dtype=np.float32))
