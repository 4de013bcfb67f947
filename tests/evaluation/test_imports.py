"""What the evaluation modules import: pure metrics and splits, no cycle with plots, no synthetic generator."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import fusets_dl.evaluation as evaluation

_PKG = Path(evaluation.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any level (relative ones as written, e.g. ``..synthetic``)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            out.add(base)
            if not node.module:
                out |= {base + a.name for a in node.names}
    return out


def _loaded_after(code: str) -> set[str]:
    """The modules loaded in a fresh interpreter after running ``code``."""
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    root = str(_PKG.parents[1])
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=root, timeout=300,
                          env={**os.environ, "PYTHONPATH": root})
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", ["metrics", "splits"])
def test_metrics_and_splits_import_no_torch_xarray_or_synthetic(module: str) -> None:
    names = _imports(_PKG / f"{module}.py")
    assert not {n for n in names if n.split(".")[0] in ("torch", "xarray") or n.endswith("synthetic")}, names
    loaded = _loaded_after(f"import fusets_dl.evaluation.{module}")
    assert "torch" not in loaded
    assert "fusets_dl.synthetic" not in loaded


def test_plots_do_not_import_compare() -> None:
    """Colours come from the method registry; ``compare`` imports ``plots``, never the other way."""
    loaded = _loaded_after("import fusets_dl.evaluation.plots")
    assert "fusets_dl.evaluation.methods" in loaded
    assert "fusets_dl.evaluation.comparison" not in loaded
    assert "torch" not in loaded


def test_evaluation_never_imports_the_synthetic_generator() -> None:
    for path in sorted(_PKG.glob("*.py")):
        assert not [n for n in _imports(path) if n.endswith("synthetic")], path.name
