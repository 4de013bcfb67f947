"""The registry of feature groups: its order is the spec's, and a new entry is all a new group needs."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fusets_dl.errors import ConfigError
from fusets_dl.features import (
    FEATURE_GROUPS,
    MODALITIES,
    REQUIRED_MODALITIES,
    FeatureGroup,
    FeatureSpec,
    compute_features,
)
from fusets_dl.features.inputs import FeatureInputs
from fusets_dl.testing import raise_if_dask_computes
from tests.features.cubes import make_cube, series

ALL = FeatureSpec(groups=("sar", "optical", "terrain", "time"), cloudy_input=True)


def test_registry_order_is_the_spec_order():
    assert MODALITIES == tuple(FEATURE_GROUPS) == ("sar", "optical", "terrain", "time")
    assert REQUIRED_MODALITIES == ("sar", "time")
    # groups given in any order are stored, named and computed in registry order
    spec = FeatureSpec(groups=tuple(reversed(MODALITIES)), cloudy_input=True)
    assert spec == ALL and spec.groups == MODALITIES and spec.modalities == list(MODALITIES)
    order = [MODALITIES.index(spec.modality[n]) for n in spec.names]
    assert order == sorted(order)
    # each entry derives exactly its own features, in feature order
    for name, group in FEATURE_GROUPS.items():
        assert group.name == name
        assert group.names(spec) == [n for n in spec.names if spec.modality[n] == name]
    assert spec.required.tolist() == [FEATURE_GROUPS[spec.modality[n]].required for n in spec.names]


def _ones(inputs: FeatureInputs) -> xr.DataArray:
    """A test group: one constant column, lazy like the S1 series."""
    return xr.ones_like(inputs.vv, dtype=np.float32).transpose("time", "y", "x").expand_dims(feature=1, axis=-1)


@pytest.fixture
def with_test_group():
    """Register a test-only group ``"ones"`` before ``"time"``; restore the registry afterwards."""
    saved = dict(FEATURE_GROUPS)
    entry = FeatureGroup("ones", False, lambda spec: ["one"], _ones, description="test only")
    order = [*list(saved)[:-1], "ones", list(saved)[-1]]
    FEATURE_GROUPS.clear()
    FEATURE_GROUPS.update({name: saved.get(name, entry) for name in order})
    try:
        yield entry
    finally:
        FEATURE_GROUPS.clear()
        FEATURE_GROUPS.update(saved)


def test_a_registered_group_is_validated_named_and_computed(with_test_group):
    spec = FeatureSpec(groups=("time", "ones", "sar"))
    assert spec.groups == ("sar", "ones", "time")
    base = FeatureSpec()
    assert spec.names == [*base.names[:-2], "one", "doy_sin", "doy_cos"]
    assert spec.modality["one"] == "ones" and spec.modalities == ["sar", "ones", "time"]
    assert spec.required.tolist() == [*base.required.tolist()[:-2], False, True, True]
    cube = make_cube(ny=2, nx=3)
    f = compute_features(cube, spec)
    assert list(f["feature"].values) == spec.names
    np.testing.assert_array_equal(series(f, "one"), np.ones(cube.sizes["time"], dtype=np.float32))
    np.testing.assert_array_equal(f.drop_sel(feature="one").values, compute_features(cube, base).values)
    with raise_if_dask_computes():
        lazy = compute_features(cube.chunk({"y": 1}), spec)
    assert lazy.chunks is not None
    np.testing.assert_array_equal(lazy.values, f.values)


def test_registry_restored_after_the_test_group():
    assert "ones" not in FEATURE_GROUPS
    with pytest.raises(ConfigError, match="non-empty subset"):
        FeatureSpec(groups=("sar", "ones"))
