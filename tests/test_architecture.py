"""The shape of the house: no import cycles, nothing reaching up, a cheap ``import fusets_dl``.

The import graph is read from the source (every ``import`` statement,
function-level ones included, ``if TYPE_CHECKING:`` blocks excluded), so a
cycle hidden inside a function is caught as well.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import fusets_dl as fdl

PKG = Path(fdl.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(absolute module, imported names, line) of every runtime import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    mod = _module_name(path)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    out: list[tuple[str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                out.extend((a.name, [], child.lineno) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = pkg.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                out.append((target, [a.name for a in child.names], child.lineno))
            visit(child)

    visit(tree)
    return out


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for mod, path in modules.items():
        for target, names, _ in _imports(path):
            if not target.startswith("fusets_dl"):
                continue
            # `from .pkg import sub` imports the submodule when `sub` is one
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            for dep in subs or [target]:
                if dep in modules and dep != mod:
                    graph[mod].add(dep)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles (function-level imports included): " + "; ".join(" <-> ".join(c) for c in cycles)


def test_nothing_imports_the_package_root():
    """Submodules take the version from ``_version`` and names from their own modules, never from ``fusets_dl/__init__``."""
    offenders = []
    for path in PKG.rglob("*.py"):
        if path == PKG / "__init__.py":
            continue
        for target, names, line in _imports(path):
            if target == "fusets_dl" and not all((PKG / n).is_dir() or (PKG / f"{n}.py").is_file() for n in names):
                offenders.append(f"{path.relative_to(PKG.parent)}:{line} imports {names} from the package root")
    assert not offenders, "\n".join(offenders)


def test_no_private_names_across_subpackages():
    """A module uses another subpackage's public names only (shared private helpers live in fusets_dl/_*.py)."""
    offenders = []
    for path in PKG.rglob("*.py"):
        mod = _module_name(path)
        top = mod.split(".")[1] if mod.count(".") else ""
        for target, names, line in _imports(path):
            if not target.startswith("fusets_dl.") or any(p.startswith("_") for p in target.split(".")[1:]):
                continue
            if target.split(".")[1] == top:
                continue
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            if private:
                offenders.append(f"{path.relative_to(PKG.parent)}:{line} imports private {private} from {target}")
    assert not offenders, "\n".join(offenders)


def test_public_front_resolves_and_is_small():
    assert len(fdl.__all__) <= 25
    for name in fdl.__all__:
        assert getattr(fdl, name) is not None, name
    assert fdl.synthetic.make_scene is not None and fdl.errors.FusionError is not None
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        _ = fdl.not_a_name


def test_no_function_shares_its_module_path():
    """``import fusets_dl.<x> as m`` gives a module, never a function of the same name."""
    import importlib

    for path in PKG.rglob("*.py"):
        mod = _module_name(path)
        if mod == "fusets_dl" or path.name == "__main__.py":
            continue
        parent, _, leaf = mod.rpartition(".")
        obj = getattr(importlib.import_module(parent), leaf, None)
        assert obj is None or isinstance(obj, type(sys)), f"{parent}.{leaf} is {obj!r}, not the module {mod}"


def _loaded_after(code: str) -> set[str]:
    res = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return set(res.stdout.split())


def test_import_is_cheap():
    """``import fusets_dl`` (and the accessor) loads no torch, matplotlib, Dask array stack or rioxarray."""
    loaded = _loaded_after("import fusets_dl")
    heavy = {"torch", "matplotlib", "dask.array", "rioxarray", "scipy", "distributed"} & loaded
    assert not heavy, f"import fusets_dl loaded {sorted(heavy)}"


def test_public_names_load_on_first_use():
    loaded = _loaded_after("import fusets_dl as fdl\nfdl.train")
    assert "torch" in loaded and "fusets_dl.training" in loaded


@pytest.mark.parametrize(
    ("accessor", "method", "target", "skip"),
    [
        ("FusionDatasetAccessor", "predict_ndvi", "fusets_dl.inference:predict_ndvi", 1),
        ("FusionDatasetAccessor", "reconstruct", "fusets_dl.reconstruction:reconstruct", 1),
        ("FusionDatasetAccessor", "compare", "fusets_dl.evaluation.comparison:compare", 1),
        ("FusionDatasetAccessor", "segment", "fusets_dl.segmentation:segment", 1),
        ("FusionDatasetAccessor", "phenology", "fusets_dl.phenometrics:phenology", 1),
        ("FusionDataArrayAccessor", "phenology", "fusets_dl.phenometrics:phenology", 1),
        ("FusionDatasetAccessor", "mogpr", "fusets_dl.baselines:mogpr", 1),
    ],
)
def test_accessor_methods_show_the_functions_parameters(accessor, method, target, skip):
    """Each accessor parameter exists in the stage function with the same default; no bare ``**kwargs``."""
    import importlib
    import inspect

    from fusets_dl import accessor as acc

    meth = inspect.signature(getattr(getattr(acc, accessor), method))
    mod, _, name = target.partition(":")
    fn = inspect.signature(getattr(importlib.import_module(mod), name))
    assert "kwargs" not in meth.parameters, f"{accessor}.{method} hides its parameters behind **kwargs"
    fn_params = dict(fn.parameters)
    var_kw = [p for p in fn_params.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    for pname, p in list(meth.parameters.items())[1:]:  # skip self
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            assert var_kw, f"{method}: **{pname} has no counterpart in {target}"
            continue
        if pname in fn_params:
            assert p.default == fn_params[pname].default, f"{method}({pname}=...) default {p.default!r} != {fn_params[pname].default!r}"
        else:
            assert var_kw or pname in ("sar", "split_orbits"), f"{method}: {pname} is not a parameter of {target}"
