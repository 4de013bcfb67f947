"""Every ```python block of README.md and docs/**/*.md runs, so the documentation stays true.

The blocks of one page run in order in one namespace (a page reads like a
session), in a temporary folder where ``data/`` and ``pipelines/`` point at the
repository's, so ``"data/sample/s1.nc"`` works and outputs stay out of the tree.

A block that cannot run in CI (it needs a cluster, a GPU, a network or a
back-end account) is preceded, on the line just above its fence, by::

    <!-- docs-test: skip <the reason> -->

The marker is an HTML comment, invisible on the site and on GitHub; the
reason is required. Python code must be fenced as ```python (not ```py or
```python3), so that no block escapes this test by its spelling.
"""

from __future__ import annotations

import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
SKIP = re.compile(r"^\s*<!--\s*docs-test:\s*skip\b(?P<reason>.*?)-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown page."""

    path: Path
    line: int  # 1-based line of the opening fence
    info: str  # the info string (language), lower case
    code: str
    skip: str | None  # the reason given by a skip marker, or None


def code_blocks(text: str, path: Path = Path("<text>")) -> list[Block]:
    """The fenced code blocks of a Markdown text, with their skip markers.

    Parameters
    ----------
    text : str
        Markdown.
    path : Path
        Where the text came from (for messages).

    Returns
    -------
    list of Block
        In page order.
    """
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m["fence"], m["indent"]
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not (lines[i].strip().startswith(fence) and lines[i].strip().strip(fence[0]) == ""):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        if i == len(lines):
            raise AssertionError(f"{path}:{start + 1}: code fence never closed")
        marker = SKIP.match(lines[start - 1]) if start > 0 else None
        skip = marker["reason"].strip() if marker else None
        blocks.append(Block(path, start + 1, m["info"].strip().lower(), textwrap.dedent("\n".join(body)), skip))
        i += 1
    return blocks


def run_page(blocks: list[Block], namespace: dict | None = None) -> int:
    """Execute the runnable ```python blocks in order in one namespace.

    Parameters
    ----------
    blocks : list of Block
        A page's blocks (others than ``python`` are ignored).
    namespace : dict, optional
        Globals to run in (default: a fresh one).

    Returns
    -------
    int
        How many blocks ran.

    Raises
    ------
    AssertionError
        A block raised; the message names the page and the line of its fence.
    """
    ns = {"__name__": "__docs__"} if namespace is None else namespace
    ran = 0
    for b in blocks:
        if b.info != "python" or b.skip is not None:
            continue
        try:
            exec(compile(b.code, f"{b.path}:{b.line}", "exec"), ns)  # noqa: S102 - our own documentation
        except Exception as exc:
            raise AssertionError(f"{b.path}:{b.line}: the code block raised {type(exc).__name__}: {exc}") from exc
        ran += 1
    return ran


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary working folder with the repository's data/ and pipelines/ linked in."""
    for name in ("data", "pipelines"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _id(p: Path) -> str:
    return str(p.relative_to(ROOT))


def _runnable(page: Path) -> list[Block]:
    blocks = code_blocks(page.read_text(encoding="utf-8"), page.relative_to(ROOT))
    return [b for b in blocks if b.info == "python" and b.skip is None]


@pytest.mark.parametrize("page", [p for p in PAGES if _runnable(p)], ids=_id)
def test_python_blocks_of_the_page_run(page: Path, sandbox: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    blocks = code_blocks(page.read_text(encoding="utf-8"), page.relative_to(ROOT))
    assert run_page(blocks) == len(_runnable(page))
    assert os.getcwd() == str(sandbox)


@pytest.mark.parametrize("page", PAGES, ids=_id)
def test_python_is_fenced_as_python_and_skips_give_a_reason(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    blocks = code_blocks(text, page.relative_to(ROOT))
    for b in blocks:
        assert not (b.info.startswith("py") and b.info != "python"), f"{b.path}:{b.line}: fence python code as ```python, not ```{b.info}"
        if b.skip is not None:
            assert b.info == "python", f"{b.path}:{b.line}: a docs-test skip marker above a ```{b.info} block"
            assert b.skip, f"{b.path}:{b.line}: a docs-test skip marker needs a reason"
    lines = text.splitlines()
    fence_lines = {b.line - 1 for b in blocks}
    for k, line in enumerate(lines):
        if SKIP.match(line):
            assert k + 1 in fence_lines, f"{page.relative_to(ROOT)}:{k + 1}: a docs-test skip marker not directly above a code fence"


def test_readme_and_the_guides_have_runnable_examples() -> None:
    for name in ("README.md", "docs/getting-started.md", "docs/howto/batch-runs.md"):
        blocks = code_blocks((ROOT / name).read_text(encoding="utf-8"), Path(name))
        assert any(b.info == "python" and b.skip is None for b in blocks), f"{name}: no runnable python block"


def test_the_runner_runs_in_order_and_reports_the_failing_block() -> None:
    page = textwrap.dedent(
        """\
        Text.

        ```python
        x = 2
        ```

        <!-- docs-test: skip needs a cluster -->
        ```python
        raise RuntimeError("never run")
        ```

        - a list item:

          ```python
          y = x * 21
          ```

        ```bash
        exit 1
        ```
        """
    )
    blocks = code_blocks(page, Path("page.md"))
    assert [(b.line, b.info, b.skip) for b in blocks] == [(3, "python", None), (8, "python", "needs a cluster"), (14, "python", None), (18, "bash", None)]
    ns: dict = {}
    assert run_page(blocks, ns) == 2
    assert ns["y"] == 42
    with pytest.raises(AssertionError, match=r"page\.md:1: the code block raised ZeroDivisionError"):
        run_page(code_blocks("```python\n1 / 0\n```\n", Path("page.md")))
    with pytest.raises(AssertionError, match="never closed"):
        code_blocks("```python\nx = 1\n", Path("page.md"))
