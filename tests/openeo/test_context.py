"""The UDF context: keys mirror the Python API, checks name expected and found, merging, model loading."""

from __future__ import annotations

import functools
import http.server
import inspect
import threading

import pytest

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, ModelError
from fusets_dl.openeo.context import (
    KINDS,
    SECTION_KEYS,
    check_context,
    merge_context,
    model_from_context,
    section,
)

# what each section configures, and the parameters it leaves out (data, or in-memory objects)
_TARGETS = {
    "s1": (fdl.open_s1, {"source", "chunks"}),
    "s2": (fdl.open_s2, {"source", "chunks"}),
    "align": (fdl.align, {"s1", "s2", "terrain", "compute_summary"}),
    "predict": (fdl.predict_ndvi, {"cube", "model"}),
    "reconstruct": (fdl.reconstruct, {"cube", "model", "predicted", "predict_kwargs"}),
    "phenology": (fdl.phenology, {"ndvi", "by", "std", "by_year", "classes", "params"}),
}


@pytest.mark.parametrize("name", sorted(SECTION_KEYS))
def test_sections_mirror_the_python_api(name):
    func, left_out = _TARGETS[name]
    params = set(inspect.signature(func).parameters) - left_out
    assert set(SECTION_KEYS[name]) == params


def test_a_good_context_passes_and_is_copied():
    ctx = {"model": "m", "align": {"tolerance": "5D"}, "reconstruct": {"freq": "5D"}}
    out = check_context("reconstruct", ctx)
    assert out == ctx and out["align"] is not ctx["align"]


@pytest.mark.parametrize(
    ("kind", "ctx", "error", "match"),
    [
        ("predict", {}, ModelError, r"\['model'\]: expected a path or http\(s\) URL.*found None"),
        ("predict", {"model": ""}, ModelError, "found ''"),
        ("predict", {"model": 3}, ModelError, "found 3"),
        ("smooth", {"model": "m"}, ConfigError, r"kind: expected one of \['phenology', 'predict', 'reconstruct'\], found 'smooth'"),
        ("predict", {"model": "m", "modle": 1}, ConfigError, r"unknown key\(s\) \['modle'\]; expected \['model', 'crs', 's1'"),
        ("predict", {"model": "m", "align": {"tol": "3D"}}, ConfigError, r"\['align'\]: unknown option\(s\) \['tol'\]; expected \['tolerance'"),
        ("predict", {"model": "m", "phenology": {}}, ConfigError, r"section 'phenology' is not read by this UDF; expected sections \['s1', 's2', 'align', 'predict'\]"),
        ("reconstruct", {"model": "m", "reconstruct": "5D"}, ConfigError, r"\['reconstruct'\]: expected a mapping.*found str"),
        ("predict", {"model": "m", "crs": object()}, ConfigError, "expected JSON-serialisable values"),
    ],
)
def test_bad_contexts_name_expected_and_found(kind, ctx, error, match):
    with pytest.raises(error, match=match):
        check_context(kind, ctx)


def test_every_kind_reads_the_reader_and_align_sections():
    for sections in KINDS.values():
        assert sections[:3] == ("s1", "s2", "align")


def test_merge_is_section_by_section():
    base = {"model": "a", "reconstruct": {"freq": "5D", "lam": 10.0}}
    out = merge_context(base, {"model": "b", "reconstruct": {"lam": 20.0}, "crs": 32631})
    assert out == {"model": "b", "reconstruct": {"freq": "5D", "lam": 20.0}, "crs": 32631}
    assert base["reconstruct"] == {"freq": "5D", "lam": 10.0}  # not modified
    assert merge_context(None, None) == {}


def test_section_defaults_are_those_of_openeo_data():
    assert section({}, "s2") == {"reflectance_scale": 1e-4, "harmonize": False}
    assert section({"s2": {"harmonize": "auto", "clear_classes": [4]}}, "s2") == {
        "reflectance_scale": 1e-4, "harmonize": "auto", "clear_classes": (4,),
    }
    assert section({"phenology": {"period": ["2021-01-01", "2021-12-31"]}}, "phenology")["period"] == ("2021-01-01", "2021-12-31")
    assert section({}, "align") == {}


def test_missing_model_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="file missing"):
        model_from_context({"model": str(tmp_path / "nothing")})


def test_model_from_a_local_path_and_from_a_url(model_path):
    local = model_from_context({"model": str(model_path)})
    handler = functools.partial(_QuietHandler, directory=str(model_path.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{model_path.name}.json"
        remote = model_from_context({"model": url})
        missing = f"http://127.0.0.1:{server.server_address[1]}/absent"
        with pytest.raises(ModelError, match="download failed"):
            model_from_context({"model": missing})
    finally:
        server.shutdown()
        server.server_close()
    assert remote.sha256 == local.sha256
    assert remote.info["loaded_from"].endswith("model.json") and "fusets_dl_models" in remote.info["loaded_from"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass
