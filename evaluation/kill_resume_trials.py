"""Kill a batch run at random points, resume it, and check the outputs are identical to an uninterrupted run.

    .venv/bin/python evaluation/kill_resume_trials.py [--trials 20] [--seed 0] [--mode process|worker] [--out DIR]
        [--kinds kill,delete-part,delete-store,change-config]

The run is the test configuration (two regions of the bundled sample, a
2-epoch model each, 4 tiles per region). One uninterrupted reference run is
timed; then, per trial, a fresh run is started and, after a delay drawn
uniformly from (0.2 s, the reference duration) with a fixed seed:

- ``--mode process``: the whole process group gets SIGKILL (a machine or
  job-scheduler kill: anywhere in opening, training, saving the model,
  writing the layout, a tile, the metrics or the report);
- ``--mode worker``: the run uses a 2-worker LocalCluster and one worker
  process gets SIGKILL (Dask retries its tasks elsewhere).

The run is then started again until it completes. Trial ``i`` is of kind
``kinds[i % len(kinds)]``:

- ``kill``: the kill alone;
- ``delete-part``: after the kill, a random third of the chunk files of one
  variable of each store on disk is deleted before resuming (a partly lost
  store: the tiles whose chunks are gone must be written again); killed
  before any store existed, the run is completed first and then damaged;
- ``delete-store``: the run is resumed to completion, then a finished store
  is deleted and the run started once more: it must write the store again
  (its summary must not say "skipped (done)" for that region);
- ``change-config``: between the kill and the resume the YAML's ``freq``
  changes; the resume must be refused (exit 1, "cannot resume") when a region
  had started, and the original YAML then resumes (or, when nothing had
  started, the changed run completes and the original one needs ``--restart``).

Every output array must equal the reference bit for bit, no temporary file
may be left, and the metrics must exist. Prints one line per trial and a
summary; exits 1 on any mismatch.
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


KINDS = ("kill", "delete-part", "delete-store", "change-config")


def _start(cfg_path: Path, workers: int | None, *extra: str, stdout: int = subprocess.DEVNULL) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "fusets_dl", "-q", "run", str(cfg_path), *extra] + (["--workers", str(workers)] if workers else [])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=stdout, stderr=subprocess.PIPE, start_new_session=True)  # noqa: S603 - our own CLI, fixed argv, no shell


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate()
    return proc.returncode, (out or b"").decode(), (err or b"").decode()


def _resume(cfg: Path, workers: int | None, *extra: str) -> tuple[int, int]:
    """Start the run until it completes (at most 3 more times); return the exit status and the runs made."""
    attempts, rc = 0, 1
    while rc != 0 and attempts < 3:
        attempts += 1
        rc, _, _ = _finish(_start(cfg, workers, *extra))
    return rc, attempts


def _delete_part(root: Path, rng: np.random.Generator) -> str:
    """Delete a random third of the chunk files of one random tiled variable of each store on disk."""
    notes = []
    for r in ("a", "b"):
        store = root / f"{r}.zarr"
        if not store.is_dir():
            continue
        tiled = sorted(d for d in store.iterdir() if d.is_dir() and (d / "c").is_dir() and d.name in ("NDVI", "NDVI_std", "source", "sos", "eos", "n_seasons"))
        if not tiled:
            continue
        var = tiled[int(rng.integers(len(tiled)))]
        chunks = sorted(p for p in (var / "c").rglob("*") if p.is_file())
        gone = [chunks[int(i)] for i in rng.choice(len(chunks), size=max(1, len(chunks) // 3), replace=False)] if chunks else []
        for p in gone:
            p.unlink()
        notes.append(f"{r}:{var.name} -{len(gone)}/{len(chunks)} chunks")
    return ", ".join(notes) or "no store yet"


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
            n = len(list((root / f"{r}.zarr.progress").glob("tile-[0-9][0-9][0-9][0-9][0-9]"))) if (root / f"{r}.zarr.progress").exists() else 0
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


def _trial_kind(kind: str, cfg: Path, root: Path, workers: int | None, rng: np.random.Generator, rc_first: int) -> tuple[int, int, bool, str]:
    """Damage or change what the kind says, resume; return (exit status, runs, the kind's own check passed, a note)."""
    if kind == "delete-part":
        note = "deleted " + _delete_part(root, rng)
        runs = 0
        if "chunks" not in note:  # killed before any store existed: damage the completed run instead
            rc, runs = _resume(cfg, workers) if rc_first != 0 else (0, 0)
            if rc != 0:
                return rc, 1 + runs, False, "resume failed"
            note = "deleted after completion " + _delete_part(root, rng)
        rc, more = _resume(cfg, workers)
        return rc, 1 + runs + more, "chunks" in note, note
    if kind == "delete-store":
        rc, runs = _resume(cfg, workers) if rc_first != 0 else (0, 0)
        if rc != 0:
            return rc, 1 + runs, False, "resume failed"
        victim = "ab"[int(rng.integers(2))]
        shutil.rmtree(root / f"{victim}.zarr")
        rc, stdout, _ = _finish(_start(cfg, workers, stdout=subprocess.PIPE))
        line = next((ln for ln in stdout.splitlines() if ln.startswith(f"| {victim} |")), "")
        redone = "| done |" in line and (root / f"{victim}.zarr").is_dir()
        return rc, 2 + runs, redone, f"deleted finished {victim}.zarr, rerun said {line.split('|')[2].strip() if line.count('|') > 2 else '?'}"
    if kind == "change-config":
        original = cfg.read_text()
        changed = yaml.safe_load(original)
        changed["defaults"]["freq"] = "10D"
        cfg.write_text(yaml.safe_dump(changed))
        started = any((root / f"{r}.zarr.progress" / "RECORD.json").exists() for r in ("a", "b"))
        rc_changed, _, err = _finish(_start(cfg, workers))
        cfg.write_text(original)
        refused = rc_changed != 0 and "cannot resume" in err
        if started:
            rc, runs = _resume(cfg, workers)
            return rc, 2 + runs, refused, f"changed freq {'refused' if refused else 'NOT refused'}, original resumed"
        # nothing had started: the changed run is a new run; going back to the original config needs --restart
        rc_back, _, err_back = _finish(_start(cfg, workers))
        refused_back = rc_back != 0 and "cannot resume" in err_back
        rc, runs = _resume(cfg, workers, "--restart")
        return rc, 3 + runs, rc_changed == 0 and refused_back, "nothing started: changed run completed, original refused, --restart"
    rc, runs = _resume(cfg, workers) if rc_first != 0 else (0, 0)
    return rc, 1 + runs, True, "resumed"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", choices=["process", "worker"], default="process")
    p.add_argument("--out", default=str(REPO / "outputs" / "kill_trials"))
    p.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated trial kinds, cycled (default: all of {', '.join(KINDS)})")
    args = p.parse_args()
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if not kinds or set(kinds) - set(KINDS):
        p.error(f"--kinds: expected a comma-separated list among {KINDS}, found {args.kinds!r}")
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
    print(f"reference run: {duration:.1f} s ({args.mode} kills, seed {args.seed}, kinds {kinds})", flush=True)
    rng = np.random.default_rng(args.seed)
    results = []
    for i in range(args.trials):
        kind = kinds[i % len(kinds)]
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
        rc, attempts, check, note = _trial_kind(kind, cfg, root, workers, rng, rc_first)
        leftovers = [str(q.relative_to(root)) for q in root.rglob("*") if q.name.endswith(".tmp") or ".tmp-" in q.name or q.name.startswith(".fusets-dl.lock")]
        metrics = all((root / f"{r}.metrics.json").exists() for r in ("a", "b"))
        same = rc == 0 and _same(ref, root)
        ok = same and check and not leftovers and metrics
        results.append({"trial": i, "kind": kind, "delay_s": round(delay, 2), "killed": killed, "state_at_kill": state, "first_exit": rc_first,
                        "runs": attempts, "kind_check": check, "note": note, "identical": same, "leftovers": leftovers, "ok": ok})
        print(f"trial {i:2d} [{kind}]: kill after {delay:5.1f} s ({'killed' if killed else 'already finished'}; {state}); "
              f"first exit {rc_first}, runs {attempts}, {note}; check {check}, identical {same}, leftovers {leftovers or 'none'}", flush=True)
        shutil.rmtree(root, ignore_errors=True)
    n_ok = sum(r["ok"] for r in results)
    n_killed = sum(r["killed"] for r in results)
    by_kind = {k: f"{sum(r['ok'] for r in results if r['kind'] == k)}/{sum(r['kind'] == k for r in results)}" for k in kinds}
    print(f"\n{n_ok}/{len(results)} trials ok ({n_killed} killed mid-run; by kind {by_kind}), outputs identical to the uninterrupted run")
    (out / "trials.json").write_text(json.dumps({"mode": args.mode, "seed": args.seed, "kinds": kinds, "reference_s": duration, "trials": results}, indent=2))
    return 0 if n_ok == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
