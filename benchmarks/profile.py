"""Where the time goes in the Demak-sized end-to-end run: a sampling profile of every thread.

    .venv/bin/python -m benchmarks.profile [--factor 1] [--rate 25] [--raw prof.txt] [--top 25]
    .venv/bin/python -m benchmarks.profile --summarise prof.txt

Runs ``python -m benchmarks.scale`` (align, train, then per tile features,
prediction, reconstruction, phenology and the Zarr write) under ``py-spy``
(``pip install py-spy``; it samples the Python stacks of all threads, so the
Dask worker threads are seen as well as the main one) and prints three
tables from the samples: the share of busy samples in each pipeline stage,
the fusets_dl functions with the largest inclusive share, and the leaf
functions (any library) with the largest self share. A busy sample is one
thread running (py-spy leaves idle threads out), so with two cores the
shares are shares of the CPU time actually used.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

# innermost match wins: a stack is charged to the stage of the deepest frame listed here
STAGES: tuple[tuple[str, str], ...] = (
    ("fusets_dl/synthetic.py", "scene generation (synthetic input)"),
    ("fusets_dl/alignment/", "align"),
    ("fusets_dl/readers/", "open"),
    ("fusets_dl/features/", "features"),
    ("fusets_dl/_series.py", "features"),
    ("fusets_dl/training/", "training"),
    ("fusets_dl/inference/", "prediction"),
    ("fusets_dl/models/", "prediction"),
    ("fusets_dl/runtime.py", "prediction"),
    ("fusets_dl/reconstruction/", "reconstruction"),
    ("fusets_dl/smoothing.py", "reconstruction"),
    ("fusets_dl/phenometrics/", "phenology"),
    ("fusets_dl/writers/", "Zarr write"),
    ("zarr/", "Zarr write"),
    ("numcodecs", "Zarr write"),
    ("xarray/backends", "Zarr write"),
)
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for f in stack.split(";"):
        m = _FRAME.match(f.strip())
        out.append((m["func"], m["file"]) if m else (f.strip(), ""))
    return out


def summarise(raw: Path, top: int = 25) -> str:
    """Markdown tables (stage shares, fusets_dl inclusive, leaf self) from py-spy's raw (collapsed) output."""
    stage: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        k = int(n)
        total += k
        frames = _frames(stack)
        name = "other (imports, scheduling, Python overhead)"
        for _func, file in reversed(frames):
            hit = next((s for pat, s in STAGES if pat in file), None)
            if hit:
                name = hit
                break
        stage[name] += k
        seen = set()
        for func, file in frames:
            if "fusets_dl/" in file:
                key = f"{func} ({file.split('fusets_dl/')[-1]})"
                if key not in seen:
                    seen.add(key)
                    incl[key] += k
        func, file = frames[-1]
        short = file.split("site-packages/")[-1] if file else ""
        leaf[f"{func} ({short})"] += k
    lines = [f"busy samples: {total}", "", "| stage | share of busy samples |", "|---|---|"]
    lines += [f"| {s} | {100 * v / total:.1f} % |" for s, v in stage.most_common()]
    lines += ["", "| fusets_dl function (inclusive) | share |", "|---|---|"]
    lines += [f"| {f} | {100 * v / total:.1f} % |" for f, v in incl.most_common(top)]
    lines += ["", "| leaf function (self) | share |", "|---|---|"]
    lines += [f"| {f} | {100 * v / total:.1f} % |" for f, v in leaf.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--factor", default="1")
    p.add_argument("--rate", type=int, default=25, help="samples per second per thread")
    p.add_argument("--raw", default=None, help="keep py-spy's raw output here")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--summarise", default=None, help="only summarise an existing raw file")
    args = p.parse_args()
    if args.summarise:
        print(summarise(Path(args.summarise), args.top))
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        raise SystemExit("benchmarks.profile needs py-spy: pip install py-spy")
    raw = Path(args.raw) if args.raw else Path(tempfile.mkdtemp(prefix="fdl-prof-")) / "profile.txt"
    cmd = [spy, "record", "-r", str(args.rate), "-f", "raw", "-o", str(raw), "--", sys.executable, "-m", "benchmarks.scale", "--factor", args.factor]
    subprocess.run(cmd, check=True)  # noqa: S603 - fixed argv: py-spy on our own benchmark, no shell
    print()
    print(summarise(raw, args.top))


if __name__ == "__main__":
    main()
