"""FeatureSpec: composition of names, validation, JSON round trip."""

from __future__ import annotations

import json

import pytest

from fusets_dl.errors import ConfigError
from fusets_dl.features import FeatureSpec


def test_spec_composition_and_json_round_trip():
    small = FeatureSpec(rvi=False, ratios=False, interaction=False, lags=0, rolling=0, windows=(), trends=(), anomaly=False, doy=False)
    assert small.names == ["VV", "VH"]
    assert FeatureSpec(lags=3).names.count("dt_lag3") == 1
    spec = FeatureSpec(lags=1, windows=(10, 20))
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    assert json.loads(spec.to_json())["windows"] == [10, 20]
    with pytest.raises(ConfigError, match="unknown keys"):
        FeatureSpec.from_dict({"lagz": 1})
    with pytest.raises(ConfigError, match="odd window"):
        FeatureSpec(rolling=4)
    with pytest.raises(ConfigError, match="lag_mode"):
        FeatureSpec(lag_mode="nearest")
    with pytest.raises(ConfigError, match="at least one"):
        FeatureSpec(backscatter=False, rvi=False, ratios=False, interaction=False, lags=0, rolling=0, windows=(), trends=(), anomaly=False, doy=False)


def test_default_spec_leaves_the_temporal_change_features_out():
    # the defaults are the features that travel to another place and year (docs/results.md)
    names = FeatureSpec().names
    assert len(names) == 22
    assert not [n for n in names if "lag" in n or "trend" in n or "anom" in n]
    assert names[-2:] == ["doy_sin", "doy_cos"]
    temporal = FeatureSpec(lags=2, trends=(30,), anomaly=True).names
    assert len(temporal) == 36
    assert {"VV_lag1", "dt_lag2", "dVH_trend30", "VV_anom"} <= set(temporal)
