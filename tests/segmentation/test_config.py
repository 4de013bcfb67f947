"""SegmentConfig: refused settings, the default warm-up, the dict round trip."""

from __future__ import annotations

import pytest

import fusets_dl as fdl
from fusets_dl.segmentation.config import SegmentConfig


def test_bad_config_errors():
    with pytest.raises(fdl.errors.ConfigError, match="views: expected"):
        SegmentConfig(views=("s2",))
    with pytest.raises(fdl.errors.ConfigError, match="n_classes: expected at least 2"):
        SegmentConfig(n_classes=1)
    with pytest.raises(fdl.errors.ConfigError, match="epochs/warmup"):
        SegmentConfig(epochs=5, warmup=5)
    assert SegmentConfig(epochs=30).warmup == 10 and SegmentConfig(epochs=2).warmup == 0  # a third by default
    assert SegmentConfig.from_dict(SegmentConfig(epochs=9).to_dict()) == SegmentConfig(epochs=9)
