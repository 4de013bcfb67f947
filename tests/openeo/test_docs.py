"""docs/openeo.md: its process-graph example builds offline, its context example is valid."""

from __future__ import annotations

import json
import re

from fusets_dl.openeo.context import check_context
from tests.paths import REPO

DOC = REPO / "docs" / "openeo.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_process_graph_example_builds_without_a_back_end():
    code = next(b for b in _blocks() if "load_collection" in b)
    ns: dict = {}
    exec(compile(code, str(DOC), "exec", dont_inherit=True), ns)  # noqa: S102 - the documented example
    graph = ns["graph"]
    ids = [node["process_id"] for node in graph.values()]
    assert ids.count("load_collection") == 2 and "sar_backscatter" in ids and "merge_cubes" in ids
    assert ids[-1] == "save_result" and "apply_neighborhood" in ids
    udf_nodes = [
        n for node in graph.values() if node["process_id"] == "apply_neighborhood"
        for n in node["arguments"]["process"]["process_graph"].values()
    ]
    assert udf_nodes and all(n["process_id"] == "run_udf" and n["arguments"]["runtime"] == "Python" for n in udf_nodes)
    assert "apply_udf('reconstruct', cube, CONTEXT, context)" in udf_nodes[0]["arguments"]["udf"]
    assert '"freq": "5D"' in udf_nodes[0]["arguments"]["udf"]
    json.dumps(graph)  # serialisable as a process graph
    for name in ("seasons_result", "predicted"):
        assert ns[name].flat_graph()
    s1_load = next(n for n in graph.values() if n["process_id"] == "load_collection" and n["arguments"]["id"] == "SENTINEL1_GRD")
    assert set(s1_load["arguments"]["properties"]) == {"sat:orbit_state", "relativeOrbitNumber"}  # one relative orbit, as the prose says
    # every UDF's output bands renamed (the back-end keeps the input's labels otherwise): predict's too
    from fusets_dl.openeo.names import PREDICT_BANDS, RECONSTRUCT_BANDS, phenology_bands

    for name, bands in (("result", RECONSTRUCT_BANDS), ("seasons_result", phenology_bands(2)), ("predicted", PREDICT_BANDS)):
        nodes = ns[name].flat_graph().values()
        renames = [n["arguments"]["target"] for n in nodes if n["process_id"] == "rename_labels"]
        assert renames == [list(bands)], (name, renames)


def test_the_documented_context_is_valid():
    code = next(b for b in _blocks() if b.lstrip().startswith("context = {"))
    ns: dict = {}
    exec(compile(code, str(DOC), "exec", dont_inherit=True), ns)  # noqa: S102 - the documented example
    assert check_context("phenology", ns["context"])["phenology"] == {"max_seasons": 2}
