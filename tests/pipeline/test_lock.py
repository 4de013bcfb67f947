"""The output-root lock: a second run is refused, a stale lock is taken over."""

from __future__ import annotations

import json
import socket

import pytest

from fusets_dl.errors import LockError
from fusets_dl.pipeline import output_lock, run
from tests.pipeline.helpers import sample_config


def test_a_second_run_on_the_same_root_is_refused(tmp_path):
    root = tmp_path / "out"
    with output_lock(root), pytest.raises(LockError, match="locked by another run"):
        run(sample_config(root))
    # a stale lock (its process is gone) is taken over
    stale = {"pid": 999999999, "host": socket.gethostname(), "started": "x"}
    (root / ".fusets-dl.lock").write_text(json.dumps(stale))
    with output_lock(root):
        pass


def _stale(root):
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    lock = root / ".fusets-dl.lock"
    lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "x", "token": "dead"}))
    return lock


def test_a_run_that_takes_over_a_stale_lock_first_keeps_it(tmp_path, monkeypatch):
    """Two runs find the same stale lock: the one that looks a moment later must not remove the other's fresh lock."""
    import os

    import fusets_dl.pipeline.lock as lk

    root = tmp_path / "out"
    root.mkdir()
    lock = _stale(root)
    other = {"pid": os.getppid(), "host": socket.gethostname(), "started": "now", "token": "other"}
    read = lk._read_lock
    calls = []

    def other_run_takes_over_meanwhile(path):
        held = read(path)
        if not calls:  # between our read of the stale lock and our removal, another run replaces it with its own
            calls.append(1)
            lock.unlink()
            fresh = root / "fresh"
            fresh.write_text(json.dumps(other))
            os.link(fresh, lock)
            fresh.unlink()
        return held

    monkeypatch.setattr(lk, "_read_lock", other_run_takes_over_meanwhile)
    with pytest.raises(LockError, match=rf"locked by another run \(pid {os.getppid()} on "), output_lock(root):
        pass
    assert json.loads(lock.read_text())["pid"] == os.getppid()  # the other run's lock is in place, untouched
    assert sorted(p.name for p in root.iterdir()) == [".fusets-dl.lock"]


def test_two_runs_starting_on_a_stale_lock_never_hold_it_together(tmp_path):
    import subprocess
    import sys
    import textwrap

    from tests.pipeline.helpers import cli_env

    root = tmp_path / "out"
    root.mkdir()
    _stale(root)
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        import fusets_dl.pipeline.lock as lk
        read = lk._read_lock
        def slow(path):  # widen the window between reading the stale lock and acting on it
            held = read(path); time.sleep(0.6); return held
        lk._read_lock = slow
        time.sleep(float(sys.argv[1]))
        try:
            with lk.output_lock(Path({str(root)!r})):
                t0 = time.time(); time.sleep(1.0); print("held", t0, time.time(), flush=True)
        except lk.LockError:
            print("refused", flush=True)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, delay], env=cli_env(), stdout=subprocess.PIPE, text=True)
             for delay in ("0", "0.2")]
    outs = [p.communicate(timeout=120)[0].split() for p in procs]
    held = [(float(o[1]), float(o[2])) for o in outs if o and o[0] == "held"]
    assert len(held) >= 1 and sorted(o[0] for o in outs) in (["held", "refused"], ["held", "held"])
    if len(held) == 2:  # one after the other, never at once
        (_, a1), (b0, _) = sorted(held)
        assert a1 <= b0
    assert not (root / ".fusets-dl.lock").exists()


def test_a_lock_whose_pid_now_belongs_to_another_process_is_taken_over(tmp_path):
    """A run killed as pid 1 of a container (or any reused pid): its rerun saw pid 1 alive and was refused forever. The
    lock records its process's start time and the boot: another start time or boot means that run is gone."""
    import os

    from fusets_dl.pipeline.lock import _boot_id, _start_time

    if _start_time(os.getpid()) is None:
        pytest.skip("no /proc/<pid>/stat here: process start times are unknown (the lock then trusts the pid alone)")
    root = tmp_path / "out"
    root.mkdir()
    lock = root / ".fusets-dl.lock"
    host = socket.gethostname()
    for held in ({"pid": os.getppid(), "pid_start": _start_time(os.getppid()) + 1},  # alive pid, another process now
                 {"pid": os.getpid(), "pid_start": 1},  # the rerun's own pid (pid 1 of a new container)
                 {"pid": os.getppid(), "boot": "another-boot"}):  # rebooted since
        lock.write_text(json.dumps({**held, "host": host, "started": "x", "token": "dead"}))
        with output_lock(root) as got:
            assert json.loads(got.read_text())["pid_start"] == _start_time(os.getpid())
        assert not lock.exists()
    lock.write_text(json.dumps({"pid": os.getppid(), "pid_start": _start_time(os.getppid()), "boot": _boot_id(), "host": host,
                                "started": "x", "token": "live"}))  # a live run
    with pytest.raises(LockError, match="locked by another run"), output_lock(root):
        pass


def test_two_threads_of_one_process_never_share_or_leak_the_lock(tmp_path):
    """Both threads wrote the same temporary .fusets-dl.lock.<pid> (a FileNotFoundError for one), and the lock leaked with
    a token neither held, refusing every later run of the process."""
    import threading
    import time

    root = tmp_path / "out"

    inside = []  # holders at this moment: never two

    def take(barrier, holders, errors):
        barrier.wait()
        try:
            with output_lock(root):
                inside.append(1)
                holders.append(len(inside))
                time.sleep(0.01)
                inside.pop()
        except Exception as exc:  # a LockError is expected; anything else is the failure this test looks for
            errors.append(exc)

    for _ in range(20):
        errors, holders, barrier = [], [], threading.Barrier(2)
        threads = [threading.Thread(target=take, args=(barrier, holders, errors)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(isinstance(e, LockError) and "this process" in str(e) for e in errors), errors
        assert len(holders) >= 1 and max(holders) == 1  # one holder at a time
        assert sorted(p.name for p in root.iterdir()) == []  # nothing left: the lock released, no temporary file
