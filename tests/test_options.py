"""fdl.set_options: validation, scoping, defaults."""

from __future__ import annotations

import pytest

import fusets_dl as fdl


def test_set_options_refuses_unknown_names_and_bad_values():
    with pytest.raises(fdl.errors.ConfigError, match="unknown option 'devcie'"):
        fdl.set_options(devcie="cpu")
    with pytest.raises(fdl.errors.ConfigError, match="batch_size expected None or a positive int, found 0"):
        fdl.set_options(batch_size=0)
    with fdl.set_options(precision="float32"):
        assert fdl.get_options()["precision"] == "float32"
    assert fdl.get_options()["precision"] == "auto"
