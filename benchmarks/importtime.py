"""``python -m benchmarks.importtime [--runs 7] [--compare REV]``: what importing the package and ``--help`` cost.

Each measurement runs in a fresh interpreter (nothing cached in memory but
the OS page cache, warmed by one untimed run first). Reported per command:
the median and best wall time over ``--runs``, the same minus a bare
``python -c pass`` (interpreter start-up), ``-X importtime``'s cumulative
figure for ``fusets_dl`` where it applies, and which heavy libraries got
loaded. ``--compare REV`` measures a git revision the same way, from a
temporary worktree, so before and after come from one machine and one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "matplotlib", "dask.array", "rioxarray", "scipy", "distributed")
_PROBE = "import sys\nprint('LOADED', ' '.join(m for m in {heavy!r} if m in sys.modules))"

COMMANDS: dict[str, list[str]] = {
    "import fusets_dl": ["-c", "import fusets_dl"],
    "fusets-dl --help": ["-m", "fusets_dl", "--help"],
    "fusets-dl train --help": ["-m", "fusets_dl", "train", "--help"],
}


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree)
    env.pop("PYTHONSTARTUP", None)
    return env


def _wall(args: list[str], tree: Path, runs: int) -> list[float]:
    out = []
    subprocess.run([sys.executable, *args], cwd=tree, env=_env(tree), capture_output=True, check=False)  # noqa: S603 - our interpreter, fixed argv; warms the page cache
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *args], cwd=tree, env=_env(tree), capture_output=True, check=False)  # noqa: S603 - fixed argv
        out.append(time.perf_counter() - t0)
    return out


def _importtime_us(tree: Path) -> int | None:
    """Cumulative microseconds of ``fusets_dl`` under ``python -X importtime``."""
    res = subprocess.run([sys.executable, "-X", "importtime", "-c", "import fusets_dl"], cwd=tree, env=_env(tree),
                         capture_output=True, text=True, check=False)
    for line in res.stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == "fusets_dl":
            return int(parts[1])
    return None


def _loaded(args: list[str], tree: Path) -> str:
    """Heavy libraries loaded by ``args`` (run under runpy so SystemExit from --help is caught)."""
    if args[0] == "-c":
        code = args[1] + "\n" + _PROBE.format(heavy=HEAVY)
    else:
        code = ("import runpy, sys\nsys.argv = {argv!r}\ntry:\n    runpy.run_module('fusets_dl', run_name='__main__')\n"
                "except SystemExit:\n    pass\n").format(argv=["fusets-dl", *args[2:]]) + _PROBE.format(heavy=HEAVY)
    res = subprocess.run([sys.executable, "-c", code], cwd=tree, env=_env(tree), capture_output=True, text=True, check=False)  # noqa: S603 - our probe
    line = next((ln for ln in res.stdout.splitlines() if ln.startswith("LOADED")), "LOADED ?")
    return line[len("LOADED"):].strip() or "none"


def measure(tree: Path, runs: int) -> list[dict[str, object]]:
    """One row per command for the source tree ``tree``."""
    base = statistics.median(_wall(["-c", "pass"], tree, runs))
    rows: list[dict[str, object]] = []
    for label, args in COMMANDS.items():
        w = _wall(args, tree, runs)
        rows.append({
            "command": label,
            "median_s": statistics.median(w),
            "best_s": min(w),
            "minus_startup_s": statistics.median(w) - base,
            "importtime_s": (_importtime_us(tree) or 0) / 1e6 if label == "import fusets_dl" else None,
            "heavy": _loaded(args, tree),
        })
    return rows


HEADER = ("| tree | command | median s | best s | minus start-up s | -X importtime s | heavy modules loaded |\n"
          "|---|---|---|---|---|---|---|")


def _table(rows: list[dict[str, object]], label: str) -> str:
    lines = []
    for r in rows:
        it = "" if r["importtime_s"] is None else f"{r['importtime_s']:.3f}"
        lines.append(f"| {label} | {r['command']} | {r['median_s']:.3f} | {r['best_s']:.3f} | {r['minus_startup_s']:.3f} | {it} | {r['heavy']} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.importtime", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=7, help="timed runs per command (default 7)")
    p.add_argument("--compare", metavar="REV", default=None, help="also measure this git revision (e.g. a commit before a change)")
    args = p.parse_args()
    from .machine import describe

    print("Machine: " + "; ".join(f"{k} {v}" for k, v in describe().items()) + "\n")
    print(HEADER)
    print(_table(measure(REPO, args.runs), "this tree"))
    if args.compare:
        tmp = Path(tempfile.mkdtemp(prefix="fdl-importtime-"))
        try:
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tmp / "tree"), args.compare], check=True)  # noqa: S603, S607 - git on a temporary path
            print(_table(measure(tmp / "tree", args.runs), args.compare))
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp / "tree")], check=False)  # noqa: S603, S607
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
