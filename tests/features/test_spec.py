"""FeatureSpec: composition of names, validation, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"windows": "15"}, r"FeatureSpec.windows: expected a tuple of distinct whole numbers of days >= 1, found the string '15'"),
        ({"windows": 15}, r"FeatureSpec.windows: expected a tuple .*, found 15 \(int\)"),
        ({"windows": (2.7,)}, r"FeatureSpec.windows: expected .*whole numbers of days >= 1, found 2.7 \(float\) in \(2.7,\)"),
        ({"windows": (float("nan"),)}, r"FeatureSpec.windows: expected .*, found nan \(float\)"),
        ({"windows": [True]}, r"FeatureSpec.windows: expected .*, found True \(bool\)"),
        ({"windows": (15, 15)}, r"FeatureSpec.windows: expected a tuple of distinct .*found \[15\] more than once in \(15, 15\)"),
        ({"trends": (30, 30)}, r"FeatureSpec.trends: expected a tuple of distinct .*found \[30\] more than once"),
        ({"lags": True}, r"FeatureSpec.lags: expected an integer in 0..10, found True \(bool\)"),
        ({"rolling": True}, r"FeatureSpec.rolling: expected 0, 1 or an odd window .*found True \(bool\)"),
        ({"backscatter": "no"}, r"FeatureSpec.backscatter: expected True or False, found the string 'no'"),
        ({"anomaly": "False"}, r"FeatureSpec.anomaly: expected True or False, found the string 'False'"),
        ({"doy": 1}, r"FeatureSpec.doy: expected True or False, found 1 \(int\)"),
        ({"context_exclude_days": float("inf")}, r"FeatureSpec.context_exclude_days: expected a finite number of days >= 0, found inf \(float\)"),
        ({"context_exclude_days": "3"}, r"FeatureSpec.context_exclude_days: expected a finite number of days >= 0, found the string '3'"),
        ({"context_exclude_days": True}, r"FeatureSpec.context_exclude_days: expected .*found True \(bool\)"),
        ({"groups": ("sar", "optical"), "cloudy_input": True, "cloudy_window_days": float("inf")},
         r"FeatureSpec.cloudy_window_days: expected a finite number of days >= 0, found inf \(float\)"),
        ({"groups": "sar"}, r"FeatureSpec.groups: expected a tuple of group names among \('sar', .*\), found the string 'sar'"),
        ({"groups": None}, r"FeatureSpec.groups: expected a tuple of group names .*found None \(NoneType\)"),
    ],
)
def test_wrongly_typed_or_repeated_spec_values_are_config_errors(kwargs, message):
    # strings were split into characters ("15" -> windows (1, 5)), 2.7 truncated to 2, True read as 1,
    # "no" as on, an infinite exclusion emptied the optical group, repeated windows gave repeated feature names
    with pytest.raises(ConfigError, match=message):
        FeatureSpec(**kwargs)


def test_spec_accepts_numpy_scalars_and_whole_floats_and_stores_python_types():
    spec = FeatureSpec(lags=np.int64(2), rolling=np.int32(3), windows=np.array([15, 45]), trends=(30.0,), anomaly=np.bool_(True), rvi=np.False_)
    assert (spec.lags, spec.rolling, spec.windows, spec.trends) == (2, 3, (15, 45), (30,))
    assert type(spec.lags) is int and type(spec.rolling) is int and all(type(w) is int for w in (*spec.windows, *spec.trends))
    assert spec.anomaly is True and spec.rvi is False
    assert FeatureSpec.from_dict(json.loads(spec.to_json())) == spec
    assert FeatureSpec(groups={"time", "sar"}).groups == ("sar", "time")  # any collection of names, stored in registry order
    assert len(set(spec.names)) == len(spec.names)
