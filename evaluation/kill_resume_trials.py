"""Kill a batch run at random points, resume it, and check the outputs are identical to an uninterrupted run.

    .venv/bin/python evaluation/kill_resume_trials.py [--trials 20] [--seed 0] [--mode process|worker] [--out DIR]

The run is the test configuration (two regions of the bundled sample, a
2-epoch model each, 4 tiles per region). One uninterrupted reference run is
timed; then, per trial, a fresh run is started and, after a delay drawn
uniformly from (0.2 s, the reference duration) with a fixed seed:

- ``--mode process``: the whole process group gets SIGKILL (a machine or
  job-scheduler kill: anywhere in opening, training, saving the model,
  writing the layout, a tile, the metrics or the report);
- ``--mode worker``: the run uses a 2-worker LocalCluster and one worker
  process gets SIGKILL (Dask retries its tasks elsewhere).

The run is then started again until it completes. Every output array must
equal the reference bit for bit, no temporary file may be left, and the
metrics must exist. Prints one line per trial and a summary; exits 1 on any
mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

REPO = Path(__file__).resolve().parents[1]


def _config(root: Path) -> dict:
    sample = REPO / "data" / "sample"
    return {
        "output_root": str(root),
        "model": {"mode": "train", "train": {"max_epochs": 2, "hidden": [32, 16], "seed": 0, "block_size": 8}},
        "defaults": {"tile_size": 32, "chunk": 32, "freq": "5D", "phenology": {"max_seasons": 4}},
        "regions": [
            {"name": "a", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc")},
            {"name": "b", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc"), "time_range": ["2021-01-01", "2021-12-31"]},
        ],
    }


def _start(cfg_path: Path, workers: int | None) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "fusets_dl", "-q", "run", str(cfg_path)] + (["--workers", str(workers)] if workers else [])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)  # noqa: S603 - our own CLI, fixed argv, no shell


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in parents.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _state(root: Path) -> str:
    """Where the run was when it was killed, from what is on disk."""
    parts = []
    for r in ("a", "b"):
        if (root / f"{r}.zarr.progress" / "ALL_DONE").exists():
            parts.append(f"{r}:done")
        elif (root / f"{r}.zarr").exists():
            n = len(list((root / f"{r}.zarr.progress").glob("tile-*"))) if (root / f"{r}.zarr.progress").exists() else 0
            parts.append(f"{r}:{n}/4 tiles")
        elif (root / f"{r}.model.json").exists():
            parts.append(f"{r}:model saved")
        else:
            parts.append(f"{r}:-")
    return " ".join(parts)


def _same(a: Path, b: Path) -> bool:
    for name in ("a", "b"):
        xa, xb = xr.open_zarr(a / f"{name}.zarr"), xr.open_zarr(b / f"{name}.zarr")
        if set(xa.data_vars) != set(xb.data_vars):
            return False
        for v in xa.data_vars:
            if not np.array_equal(xa[v].values, xb[v].values, equal_nan=True):
                return False
    return True


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", choices=["process", "worker"], default="process")
    p.add_argument("--out", default=str(REPO / "outputs" / "kill_trials"))
    args = p.parse_args()
    out = Path(args.out).resolve()  # the YAML resolves relative roots against its own folder
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    workers = 2 if args.mode == "worker" else None
    ref = out / "reference"
    ref_cfg = out / "reference.yaml"
    ref_cfg.write_text(yaml.safe_dump(_config(ref)))
    t0 = time.perf_counter()
    proc = _start(ref_cfg, workers)
    if proc.wait() != 0:
        print(proc.stderr.read().decode(), file=sys.stderr)
        return 1
    duration = time.perf_counter() - t0
    print(f"reference run: {duration:.1f} s ({args.mode} kills, seed {args.seed})", flush=True)
    rng = np.random.default_rng(args.seed)
    results = []
    for i in range(args.trials):
        root = out / f"trial{i:02d}"
        cfg = out / f"trial{i:02d}.yaml"
        cfg.write_text(yaml.safe_dump(_config(root)))
        delay = float(rng.uniform(0.2, duration))
        proc = _start(cfg, workers)
        time.sleep(delay)
        killed = proc.poll() is None
        state = _state(root)
        if killed:
            if args.mode == "process":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                kids = _descendants(proc.pid)
                if kids:
                    os.kill(int(rng.choice(kids)), signal.SIGKILL)
        rc_first = proc.wait()
        attempts = 1
        rc = rc_first
        while rc != 0 and attempts < 4:  # resume
            attempts += 1
            rc = _start(cfg, workers).wait()
        leftovers = [str(q.relative_to(root)) for q in root.rglob("*") if q.name.endswith(".tmp") or ".tmp-" in q.name or q.name.startswith(".fusets-dl.lock")]
        metrics = all((root / f"{r}.metrics.json").exists() for r in ("a", "b"))
        same = rc == 0 and _same(ref, root)
        ok = same and not leftovers and metrics
        results.append({"trial": i, "delay_s": round(delay, 2), "killed": killed, "state_at_kill": state, "first_exit": rc_first,
                        "runs": attempts, "identical": same, "leftovers": leftovers, "ok": ok})
        print(f"trial {i:2d}: kill after {delay:5.1f} s ({'killed' if killed else 'already finished'}; {state}); "
              f"first exit {rc_first}, runs {attempts}, identical {same}, leftovers {leftovers or 'none'}", flush=True)
        shutil.rmtree(root, ignore_errors=True)
    n_ok = sum(r["ok"] for r in results)
    n_killed = sum(r["killed"] for r in results)
    print(f"\n{n_ok}/{len(results)} trials ok ({n_killed} killed mid-run), outputs identical to the uninterrupted run")
    (out / "trials.json").write_text(json.dumps({"mode": args.mode, "seed": args.seed, "reference_s": duration, "trials": results}, indent=2))
    return 0 if n_ok == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
