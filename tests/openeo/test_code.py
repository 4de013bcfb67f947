"""udf_code: self-contained source the openeo client recognises, context baked in, no heavy import."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from fusets_dl.errors import ConfigError, ModelError
from fusets_dl.openeo import udf_code
from fusets_dl.openeo.context import check_context


def _namespace(code: str) -> dict:
    ns: dict = {}
    exec(compile(code, "<udf>", "exec", dont_inherit=True), ns)  # noqa: S102 - the code under test (no __future__ of this file)
    return ns


@pytest.mark.parametrize("kind", ["predict", "reconstruct", "phenology"])
def test_code_defines_the_openeo_entry_point_with_the_context(kind):
    from openeo.udf.run_code import _annotation_is_udf_datacube

    ctx = {"model": "https://example.org/m.json", "align": {"tolerance": "2D"}}
    code = udf_code(kind, **ctx)
    ns = _namespace(code)
    assert ns["CONTEXT"] == check_context(kind, ctx)
    import inspect

    sig = inspect.signature(ns["apply_datacube"])
    assert list(sig.parameters) == ["cube", "context"]
    assert _annotation_is_udf_datacube(sig.parameters["cube"].annotation)  # how openEO finds the entry point
    assert _annotation_is_udf_datacube(sig.return_annotation)
    assert f"apply_udf({kind!r}, cube, CONTEXT, context)" in code


def test_code_is_stable_and_json_is_sorted():
    a = udf_code("predict", model="https://x/m", predict={"batch_size": 1024}, crs=32631)
    b = udf_code("predict", crs=32631, predict={"batch_size": 1024}, model="https://x/m")
    assert a == b
    assert json.dumps({"crs": 32631, "model": "https://x/m", "predict": {"batch_size": 1024}}, sort_keys=True) in a


def test_bad_kind_or_context_fails_when_the_code_is_made():
    with pytest.raises(ConfigError, match="kind: expected one of"):
        udf_code("mogpr", model="m")
    with pytest.raises(ModelError, match=r"\['model'\]"):
        udf_code("predict")
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['max_season'\]"):
        udf_code("phenology", model="m", phenology={"max_season": 2})


def test_a_local_model_path_is_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        udf_code("predict", model="/home/me/model")
    assert "not an http(s) URL: the back-end must see this path" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        udf_code("predict", model="https://example.org/model")
    assert caplog.text == ""


def test_making_the_code_imports_neither_torch_nor_openeo():
    code = "import fusets_dl.openeo as o\no.udf_code('phenology', model='https://x/m')\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split())
    assert not {"torch", "openeo"} & loaded


def test_dependencies_go_into_inline_script_metadata_openeo_reads():
    from openeo.udf.run_code import extract_udf_dependencies

    deps = ["fusets_dl @ git+https://example.org/fusets_dl.git", "torch==2.13.0"]
    code = udf_code("reconstruct", model="https://x/m", dependencies=deps)
    assert code.startswith("# /// script\n")
    assert extract_udf_dependencies(code) == deps
    assert extract_udf_dependencies(udf_code("reconstruct", model="https://x/m")) is None
    _namespace(code)  # still valid Python
    with pytest.raises(ConfigError, match="dependencies: expected a list of requirement strings, found 'torch'"):
        udf_code("predict", model="https://x/m", dependencies="torch")
