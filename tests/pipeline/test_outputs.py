"""A region's output paths (confined to the root) and atomic JSON writes."""

from __future__ import annotations

import json

import pytest

from fusets_dl.errors import ConfigError
from fusets_dl.pipeline.outputs import output_path, write_json_atomic


def test_output_path_is_confined_to_the_root(tmp_path):
    assert output_path(tmp_path, "a", ".zarr") == (tmp_path / "a.zarr").resolve()
    with pytest.raises(ConfigError, match="escapes the output root"):
        output_path(tmp_path, "../a", ".zarr")


def test_write_json_atomic_leaves_no_temporary_file(tmp_path):
    write_json_atomic(tmp_path / "m.json", {"x": 1.5}, indent=2)
    assert json.loads((tmp_path / "m.json").read_text()) == {"x": 1.5}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
