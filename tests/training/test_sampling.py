"""The training sampler: draw on the target first, features only for the drawn pixels."""

from __future__ import annotations

import numpy as np
import pytest

import fusets_dl as fdl
from fusets_dl.training.sampling import PIXEL_OVERSAMPLE, collect_samples, draw_mask

OPTICAL = ("sar", "time", "optical")


def _full_cube_samples(cube, spec, gaps=None):
    """What the sampler gave before drawing first: every complete pixel-date of the full feature array."""
    feats = fdl.compute_features(cube, spec, context_gaps=gaps).values
    target = cube["NDVI"].transpose("time", "y", "x").values
    ok = np.isfinite(target) & np.isfinite(feats[..., spec.required]).all(axis=-1)
    tt, yy, xx = np.nonzero(ok)
    return feats[tt, yy, xx], target[tt, yy, xx], tt, yy, xx


def _sorted(s):
    order = np.lexsort((s["it"], s["ix"], s["iy"]))
    return {k: s[k][order] for k in ("x", "y", "iy", "ix", "it")}


@pytest.mark.parametrize("groups", [None, OPTICAL])
def test_uncapped_samples_equal_the_full_feature_array(small_cube, groups):
    spec = fdl.FeatureSpec(groups=groups) if groups else fdl.FeatureSpec()
    gaps = (0, 90.0) if groups else None
    x, y, tt, yy, xx = _full_cube_samples(small_cube, spec, gaps)
    s = collect_samples(small_cube.chunk({"y": 7, "x": 6}), spec, max_samples=10**9, seed=0, context_gap_days=90.0)
    got = _sorted(s)
    order = np.lexsort((tt, xx, yy))
    np.testing.assert_array_equal(got["x"], x[order])  # gathered pixels' features (incl. simulated cloudy spells) == full cube's
    np.testing.assert_array_equal(got["y"], y[order])
    np.testing.assert_array_equal(got["iy"], yy[order])
    assert s["p_keep"] == 1.0 and s["n_complete"] == y.size  # exact funnel when nothing is capped


def test_capped_draw_is_the_same_chunked_and_unchunked_and_matches_full_features(small_cube):
    spec = fdl.FeatureSpec(groups=OPTICAL)
    a = _sorted(collect_samples(small_cube, spec, max_samples=3000, seed=3, context_gap_days=90.0))
    b = _sorted(collect_samples(small_cube.chunk({"y": 5, "x": 9}), spec, max_samples=3000, seed=3, context_gap_days=90.0))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    feats = fdl.compute_features(small_cube, spec, context_gaps=(3, 90.0)).values
    np.testing.assert_array_equal(a["x"], feats[a["it"], a["iy"], a["ix"]])
    c = _sorted(collect_samples(small_cube, spec, max_samples=3000, seed=4, context_gap_days=90.0))
    assert c["y"].size != a["y"].size or not np.array_equal(c["iy"], a["iy"])  # another seed, another draw


def test_draw_mask_rates_and_chunk_independence():
    rng = np.random.default_rng(0)
    has = rng.random((40, 60, 50)) < 0.6
    p = 0.02
    m = draw_mask(has, 0, 0, p, seed=1)
    assert not (m & ~has).any()
    assert m.sum() / has.sum() == pytest.approx(p, rel=0.15)
    pixels = m.any(axis=0).mean()
    assert pixels <= PIXEL_OVERSAMPLE * p * 1.2  # only the drawn pixels need features
    parts = np.concatenate([np.concatenate([draw_mask(has[:, i:i + 17, j:j + 23], i, j, p, 1) for j in range(0, 50, 23)], axis=2)
                            for i in range(0, 60, 17)], axis=1)
    np.testing.assert_array_equal(parts, m)
    np.testing.assert_array_equal(draw_mask(has, 0, 0, 1.0, 1), has)


def test_sample_order_does_not_depend_on_the_chunking(small_cube):
    """Same samples in the same order chunked or not, so the training batches and the model are the same too."""
    spec = fdl.FeatureSpec()
    a = collect_samples(small_cube, spec, max_samples=3000, seed=1)
    b = collect_samples(small_cube.chunk({"y": 5, "x": 9}), spec, max_samples=3000, seed=1)
    for k in ("x", "y", "iy", "ix", "it"):
        np.testing.assert_array_equal(a[k], b[k])
    assert np.all(np.diff(a["it"]) >= 0)  # (t, y, x) order
    cfg = fdl.TrainConfig(max_epochs=2, seed=1, calibrate_reconstruction=False)
    assert fdl.train(small_cube, spec, cfg).sha256 == fdl.train(small_cube.chunk({"y": 5, "x": 9}), spec, cfg).sha256
