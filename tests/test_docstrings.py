"""Numpydoc on the public surface: every public function, class and method documents its parameters and result.

Public means: in a module whose path has no ``_private`` part, not starting
with ``_``, and listed in the module's ``__all__`` when it has one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fusets_dl

PKG = Path(fusets_dl.__file__).resolve().parent


def _all(tree: ast.Module) -> set[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            try:
                return set(ast.literal_eval(node.value))
            except ValueError:
                return None
    return None


def _problems(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    doc = ast.get_docstring(fn) or ""
    if not doc:
        return ["no docstring"]
    args = [a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs) if a.arg not in ("self", "cls")]
    args += [a.arg for a in (fn.args.vararg, fn.args.kwarg) if a is not None]
    out = []
    if args and "Parameters" not in doc:
        out.append("no Parameters section")
    returns_none = fn.returns is None or (isinstance(fn.returns, ast.Constant) and fn.returns.value is None)
    if not returns_none and "Returns" not in doc and "Yields" not in doc:
        out.append("no Returns section")
    return out


def test_public_functions_classes_and_methods_have_numpydoc_sections():
    bad: list[str] = []
    checked = 0
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent)
        if any(p.startswith("_") and p != "__init__.py" for p in rel.parts):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        public = _all(tree)
        for node in tree.body:
            if node.__class__.__name__ not in ("FunctionDef", "AsyncFunctionDef", "ClassDef") or node.name.startswith("_"):
                continue
            if public is not None and node.name not in public:
                continue
            if isinstance(node, ast.ClassDef):
                checked += 1
                if not ast.get_docstring(node):
                    bad.append(f"{rel}:{node.lineno} class {node.name}: no docstring")
                methods = [m for m in node.body if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef) and not m.name.startswith("_")
                           and not any(isinstance(d, ast.Name) and d.id == "property" for d in m.decorator_list)]
                for m in methods:
                    checked += 1
                    bad += [f"{rel}:{m.lineno} {node.name}.{m.name}: {p}" for p in _problems(m)]
            else:
                checked += 1
                bad += [f"{rel}:{node.lineno} {node.name}: {p}" for p in _problems(node)]
    assert checked > 200, f"only {checked} public objects found: is the package where the test looks?"
    assert not bad, "\n".join(bad)
