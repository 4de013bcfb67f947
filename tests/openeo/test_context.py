"""The UDF context: keys mirror the Python API, checks name expected and found, merging, model loading."""

from __future__ import annotations

import functools
import http.server
import inspect
import tempfile
import threading

import pytest
import torch

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, ModelError
from fusets_dl.openeo import apply_udf, udf_code
from fusets_dl.openeo.context import (
    KINDS,
    SECTION_KEYS,
    check_context,
    merge_context,
    model_from_context,
    section,
)


@pytest.fixture(autouse=True)
def _own_download_cache(tmp_path_factory, monkeypatch):
    """Each test its own model download cache (under the temporary folder): a pair cached by an earlier test or run for the
    same URL (a reused port) and weights was taken instead of the truncated download one test serves."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path_factory.mktemp("tmpdir")))


# what each section configures, and the parameters it leaves out (data, or in-memory objects)
_TARGETS = {
    # bands=: GeoTIFFs without descriptions; a UDF cube has labels. bbox_crs=: a context's bbox is in the cube's CRS
    # (openEO's load_collection takes the lon/lat extent, with its own crs, before the UDF)
    # layover_shadow=: masks of products' files (the UDF applies sar_backscatter's mask band itself)
    "s1": (fdl.open_s1, {"source", "chunks", "bands", "bbox_crs", "layover_shadow"}),
    "s2": (fdl.open_s2, {"source", "chunks", "bands", "bbox_crs"}),
    "align": (fdl.align, {"s1", "s2", "terrain", "compute_summary"}),
    "predict": (fdl.predict_ndvi, {"cube", "model"}),
    "reconstruct": (fdl.reconstruct, {"cube", "model", "predicted", "predict_kwargs"}),
    "phenology": (fdl.phenology, {"ndvi", "by", "std", "by_year", "classes", "params", "observed"}),
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


@pytest.mark.parametrize("ctx", [["model", "pretrained"], "pretrained", 5])
def test_a_context_that_is_not_a_mapping_is_named(ctx):
    """A list, a string or a number as the UDF context: AttributeError 'list' object has no attribute 'items' before."""
    with pytest.raises(ConfigError, match=r"openEO UDF context: expected a mapping \(a JSON object\) of sections .*found "
                                          + type(ctx).__name__):
        merge_context(ctx, None)
    with pytest.raises(ConfigError, match=r"openEO UDF runtime context: expected a mapping"):
        merge_context({"model": "m"}, ctx)


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


def test_a_model_replaced_at_its_url_is_downloaded_again(model_path, tmp_path, caplog):
    """The download cache outlives a job on a worker: it must not serve a model that was replaced at the same URL,
    nor pair a cached old .safetensors with a new .json."""
    from fusets_dl.openeo import context as ctx_mod

    served = tmp_path / "served"
    served.mkdir()
    first = fdl.load_model(model_path)
    first.save(served / "m")
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/m.json"
    try:
        ctx_mod._load.cache_clear()
        assert model_from_context({"model": url}).sha256 == first.sha256
        second = fdl.load_model(model_path)
        with torch.no_grad():
            for p in second.network.parameters():
                p.add_(0.5)
        second.save(served / "m")  # a new model at the same URL (e.g. ".../latest.json")
        ctx_mod._load.cache_clear()  # a new job on the same worker
        again = model_from_context({"model": url})
        assert again.sha256 == second.sha256 != first.sha256
    finally:
        server.shutdown()
        server.server_close()
        ctx_mod._load.cache_clear()
    # the network down on a later job: the cached pair, with a warning
    with caplog.at_level("WARNING", logger="fusets_dl"):
        offline = model_from_context({"model": url})
    assert offline.sha256 == second.sha256 and "could not be fetched; using the copy cached" in caplog.text
    ctx_mod._load.cache_clear()


def test_downloaded_weights_that_do_not_match_their_sidecar_are_refused(model_path, tmp_path):
    from fusets_dl.openeo import context as ctx_mod

    served = tmp_path / "served"
    served.mkdir()
    fdl.load_model(model_path).save(served / "m")
    blob = (served / "m.safetensors").read_bytes()
    (served / "m.safetensors").write_bytes(blob[:-10])  # truncated on the server
    handler = functools.partial(_QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ctx_mod._load.cache_clear()
        with pytest.raises(ModelError, match=r"m.safetensors: the download's SHA-256 is .*, the sidecar expects"):
            model_from_context({"model": f"http://127.0.0.1:{server.server_address[1]}/m.json"})
    finally:
        server.shutdown()
        server.server_close()
        ctx_mod._load.cache_clear()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


#: A calibration made once for a whole job, as ``Calibration.to_dict()`` writes it (JSON).
_CAL = {"settings": {"w_pred": 0.3, "lam": 100.0, "pred_gap_days": 20.0, "debias_days": 30.0}, "rmse": 0.05, "rmse_prediction": 0.06,
        "rmse_default": 0.07, "n_pixels": 300, "n_hidden": 900, "blocks": "all", "table": [], "std_scale": 0.8, "std_growth_days": 20.0}


def test_a_calibration_travels_in_the_context():
    """One setting for every tile: the context's reconstruct weights take a calibration (its dict, or the attrs of a
    calibrated output), checked when the UDF code is made; lam may be null (the default)."""
    ctx = check_context("reconstruct", {"model": "m", "reconstruct": {"weights": _CAL, "lam": None}})
    assert ctx["reconstruct"]["weights"] == _CAL
    attrs = {"calibration_w_pred": 0.3, "calibration_lam": 100.0, "calibration_pred_gap_days": 20.0, "calibration_debias_days": 30.0,
             "calibration_rmse": 0.05, "calibration_rmse_prediction": 0.06, "calibration_rmse_default": 0.07, "calibration_pixels": 300,
             "calibration_hidden": 900, "calibration_blocks": "all", "calibration_std_scale": 0.8, "calibration_std_growth_days": 20.0,
             "title": "fusets_dl reconstructed NDVI"}
    assert "weights" in udf_code("reconstruct", model="https://example.org/m.json", reconstruct={"weights": attrs})


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"reconstruct": {"lam": -5}}, r"\['reconstruct'\] expected finite lam > 0"),
        ({"reconstruct": {"lam": "1000"}}, r"\['reconstruct'\] lam: expected a number, not the string '1000'"),
        ({"reconstruct": {"lam": "much"}}, r"\['reconstruct'\] lam: expected a number, found str 'much'"),
        ({"phenology": {"max_seasons": "2"}}, r"\['phenology'\] max_seasons: expected a number, not the string '2'"),
        ({"phenology": {"min_amplitude": -1}}, r"\['phenology'\] min_amplitude: expected a finite number > 0"),
        ({"reconstruct": {"smooth": "false"}}, r"smooth: expected true or false \(a JSON boolean\), not the string 'false'"),
        ({"crs": "not-a-crs"}, r"crs: expected an EPSG code .* or WKT, found 'not-a-crs'"),
        ({"s1": {"units": "db"}}, r"\['s1'\] units: expected one of \['auto', 'dB', 'linear', 'compressed', 'amplitude'\] \(case matters: 'dB'\), found 'db'"),
        ({"predict": {"device": "gpu"}}, r"\['predict'\] device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', found 'gpu'"),
        ({"align": {"tolerance": "three days"}}, r"\['align'\] .*tolerance: expected a duration such as '3D'"),
        ({"reconstruct": {"freq": "1M"}}, r"freq: expected a whole number of days .*calendar lengths"),
        ({"s2": {"harmonize": "yes"}}, r"\['s2'\] harmonize: expected 'auto', 'all', True or False, found 'yes'"),
        ({"align": {"freq": "0D"}}, r"\['align'\] freq: expected a positive pandas frequency of a day or more such as '10D' or 'MS' "
                                    r"\(or null\), found str '0D'"),
        ({"align": {"freq": "1h"}}, r"\['align'\] freq: expected a positive pandas frequency of a day or more .*found str '1h'"),
        ({"s1": {"orbit": [1, 2, 3]}}, r"\['s1'\] orbit: expected one relative orbit number \(a whole number\) or null, found list"),
        ({"s1": {"time_range": ["2023-13-45", "soon"]}}, r"\['s1'\] time_range start: expected a date in ISO 8601 form .*found '2023-13-45'"),
        ({"s1": {"time_range": ["01/03/2021", "31/03/2021"]}}, r"\['s1'\] time_range start: .*the order of day and month is ambiguous"),
        ({"s2": {"time_range": [2021, None]}}, r"\['s2'\] time_range start: .*found 2021: a number is not a date"),
        ({"s2": {"time_range": ["2023-06-01", "2023-01-01"]}}, r"\['s2'\] time_range: expected start <= end"),
        ({"s2": {"bbox": [5.0, 51.0, 4.0, 50.0]}}, r"\['s2'\] bbox: expected \[minx, miny, maxx, maxy\] with min < max"),
        ({"s2": {"clear_classes": [4, 99]}}, r"\['s2'\] clear_classes: expected a non-empty list of SCL classes \(whole numbers 0-11"),
        ({"reconstruct": {"s1_only": "true"}}, r"s1_only: expected true or false \(a JSON boolean\), not the string 'true'"),
        ({"reconstruct": {"weights": {"x": 1}}, "align": {"min_clear_fraction": 80}},
         r"(?s)2 bad option values:.*min_clear_fraction: expected a fraction in \[0, 1\].*weights: expected keys"),
        ({"reconstruct": {"weights": {"settings": {"w_pred": -1, "lam": 10, "pred_gap_days": None}}}},
         r"weights: Calibration.from_dict: expected the fields of Calibration.to_dict\(\)"),
        ({"reconstruct": {"weights": {"calibration_w_pred": 1.0}}}, r"weights: Calibration.from_dict: attrs: expected every calibration_"),
        ({"reconstruct": {"weights": _CAL, "lam": 100}},
         r"weights: a calibration sets lam, pred_gap_days and debias_days itself, found lam given as well"),
        ({"reconstruct": {"weights": _CAL, "obs_std": -1.0}}, r"expected finite lam > 0 and obs_std > 0, found lam=1000.0, obs_std=-1.0"),
        ({"reconstruct": {"weights": {**_CAL, "rmse": "x"}}}, r"weights: Calibration.from_dict: rmse: expected a number, found str 'x'"),
    ],
)
def test_udf_code_refuses_bad_option_values(context, message):
    with pytest.raises(ConfigError, match=message) as info:
        udf_code("phenology", model="https://example.org/m.json", **context)
    assert str(info.value).startswith("openEO UDF 'phenology': context")


def test_good_option_values_pass_and_the_udf_checks_them_at_run_time():
    ctx = {"model": "m", "crs": 32631, "s1": {"units": "dB"}, "s2": {"harmonize": False, "clear_classes": [4, 5]},
           "align": {"tolerance": "3D", "min_clear_fraction": 0.5}, "predict": {"batch_size": 1024, "device": "cpu"},
           "reconstruct": {"freq": "5D", "smooth": True, "lam": 500, "weights": "model"},
           "phenology": {"max_seasons": 2, "period": ["2021-01-01", "2021-12-31"]}}
    assert check_context("phenology", ctx)["reconstruct"]["lam"] == 500
    with pytest.raises(ConfigError, match=r"lam: expected a number, not the string '10'"):
        apply_udf("reconstruct", None, {"model": "m"}, {"reconstruct": {"lam": "10"}})


def test_align_takes_calendar_frequencies_as_fdl_align_does():
    """align accepts pandas frequencies ('MS', '1M'); only reconstruct needs whole days."""
    from fusets_dl.openeo import udf_code

    udf_code("phenology", model="https://x/m.json", align={"freq": "MS"})
    with pytest.raises(fdl.errors.ConfigError, match="freq: expected a positive pandas frequency"):
        udf_code("phenology", model="https://x/m.json", align={"freq": "fortnightly"})
    with pytest.raises(fdl.errors.ConfigError, match="whole number of days"):
        udf_code("phenology", model="https://x/m.json", reconstruct={"freq": "1M"})


def test_a_sequence_models_decision_travels_in_the_context():
    """The attrs of a sequence model's reconstruction (its fill and std factor) pass as weights; a bad one is refused."""
    attrs = {"model_kind": "sequence", "model_sha256": "a" * 64, "std_scale": 1.0, "s1_only": 0, "sequence_fill": "model", "std_refit_factor": 1.2,
             "calibration_source": "a cube the model was not trained on: the model's fill", "title": "fusets_dl reconstructed NDVI"}
    assert "weights" in udf_code("reconstruct", model="https://example.org/m.json", reconstruct={"weights": attrs})
    with pytest.raises(ConfigError, match=r"\['reconstruct'\] weights: sequence_fill: expected one of \['model', 'clear_views'\]"):
        udf_code("reconstruct", model="https://example.org/m.json", reconstruct={"weights": {**attrs, "sequence_fill": "mean"}})


def test_a_model_name_with_spaces_is_stripped():
    """The check stripped the spaces, the loader did not: every tile failed to find '  pretrained '."""
    assert check_context("reconstruct", {"model": "  pretrained "})["model"] == "pretrained"


def test_a_bad_slice_window_is_refused_when_the_graph_is_built():
    from fusets_dl.openeo.values import check_values

    with pytest.raises(ConfigError, match=r"slice_window: expected a duration from 0 to 0 days 01:00:00.*found '2h'"):
        check_values({"s1": {"slice_window": "2h"}}, "ctx")
    check_values({"s1": {"slice_window": "10min"}}, "ctx")
    check_values({"s1": {"slice_window": None}}, "ctx")
