"""SegmentConfig: refused settings, the default warm-up, the dict round trip."""

from __future__ import annotations

import re

import numpy as np
import pytest

import fusets_dl as fdl
from fusets_dl.segmentation.config import CLASS_DTYPE, MAX_CLASSES, SegmentConfig


def test_bad_config_errors():
    with pytest.raises(fdl.errors.ConfigError, match="views: expected"):
        SegmentConfig(views=("s2",))
    with pytest.raises(fdl.errors.ConfigError, match="n_classes: expected at least 2"):
        SegmentConfig(n_classes=1)
    with pytest.raises(fdl.errors.ConfigError, match="epochs/warmup"):
        SegmentConfig(epochs=5, warmup=5)
    assert SegmentConfig(epochs=30).warmup == 10 and SegmentConfig(epochs=2).warmup == 0  # a third by default
    assert SegmentConfig.from_dict(SegmentConfig(epochs=9).to_dict()) == SegmentConfig(epochs=9)


@pytest.mark.parametrize(
    "field, value, found",
    [
        ("n_classes", 2.5, "2.5 (float)"),
        ("n_classes", "4", "the string '4'"),
        ("n_classes", True, "True (bool)"),
        ("n_classes", MAX_CLASSES + 1, f"{MAX_CLASSES + 1} (int)"),
        ("learning_rate", float("nan"), "nan (float)"),
        ("learning_rate", 0.0, "0.0 (float)"),
        ("temperature", float("inf"), "inf (float)"),
        ("code_temperature", "0.1", "the string '0.1'"),
        ("bin_dropout", float("nan"), "nan (float)"),
        ("noise", -0.1, "-0.1 (float)"),
        ("weight_decay", float("nan"), "nan (float)"),
        ("vq_weight", float("-inf"), "-inf (float)"),
        ("usage_weight", None, "None (NoneType)"),
        ("commitment", float("nan"), "nan (float)"),
        ("epochs", 2.5, "2.5 (float)"),
        ("batch_size", "256", "the string '256'"),
        ("max_pixels", float("inf"), "inf (float)"),
        ("n_bins", 24.5, "24.5 (float)"),
        ("embed", True, "True (bool)"),
        ("min_s1_bins", -1, "-1 (int)"),
        ("seed", 0.5, "0.5 (float)"),
        ("warmup", 1.5, "1.5 (float)"),
        ("gumbel_tau", (1.0, float("nan")), "(1.0, nan) (tuple)"),
        ("hidden", (64, 0), "(64, 0) (tuple)"),
    ],
)
def test_numeric_fields_name_expected_and_found_with_type(field, value, found):
    with pytest.raises(fdl.errors.ConfigError, match=rf"{field}: expected .*found {re.escape(found)}"):
        SegmentConfig(**{field: value})


def test_whole_numbers_are_taken_as_int_up_to_the_class_dtype():
    cfg = SegmentConfig(n_classes=4.0, epochs=np.int64(9), learning_rate=1)
    assert cfg.n_classes == 4 and isinstance(cfg.n_classes, int) and isinstance(cfg.epochs, int)
    assert isinstance(cfg.learning_rate, float) and cfg.warmup == 3
    assert SegmentConfig(n_classes=MAX_CLASSES).n_classes == MAX_CLASSES == np.iinfo(CLASS_DTYPE).max + 1


def test_min_s1_bins_above_n_bins_is_refused():
    with pytest.raises(fdl.errors.ConfigError, match=r"min_s1_bins: expected at most n_bins=4 .*found 6"):
        SegmentConfig(n_bins=4)  # the default min_s1_bins=6 could never be met by 4 bins
    assert SegmentConfig(n_bins=4, min_s1_bins=4).min_s1_bins == 4
