"""The output-root lock: one run at a time on an output root, stale locks taken over."""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from .._logging import logger
from ..errors import LockError

__all__ = ["output_lock"]

_LOCK_NAME = ".fusets-dl.lock"


@contextlib.contextmanager
def output_lock(root: Path) -> Iterator[Path]:
    """Hold ``<root>/.fusets-dl.lock`` for the duration of a run.

    A lock left by a process that no longer runs on this host is taken over
    (with a warning). The lock appears with its content in one step (a hard
    link of a written file), so a process killed while taking it never
    leaves an empty lock behind.

    Parameters
    ----------
    root : Path
        The output root (created when missing).

    Yields
    ------
    Path
        The lock file, removed on exit.

    Raises
    ------
    LockError
        Another live run holds the lock; the message names its process and host.
    """
    root.mkdir(parents=True, exist_ok=True)
    lock = root / _LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": pd.Timestamp.now(tz="UTC").isoformat()}
    for _ in range(2):
        if _try_take(root, lock, me):
            break
    _remove_leftovers(root)
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)


def _try_take(root: Path, lock: Path, me: dict[str, object]) -> bool:
    """Take the lock (True), or remove a stale one so that the caller tries again (False)."""
    mine = root / f"{_LOCK_NAME}.{me['pid']}"
    mine.write_text(json.dumps(me))
    try:
        os.link(mine, lock)
    except FileExistsError:
        held = _holder(lock)
        if held.get("host") == me["host"] and isinstance(held.get("pid"), int) and not _pid_alive(held["pid"]):
            logger.warning("run: removing a stale lock of process %s (not running)", held.get("pid"))
            lock.unlink(missing_ok=True)
            return False
        raise LockError(
            f"output root {str(root)!r} is locked by another run (pid {held.get('pid')} on {held.get('host')}, "
            f"since {held.get('started')}); wait for it to end, or remove {lock.name} if that run is gone"
        ) from None
    finally:
        mine.unlink(missing_ok=True)
    return True


def _holder(lock: Path) -> dict[str, object]:
    """What the lock file says of its holder (empty when unreadable)."""
    try:
        return json.loads(lock.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}


def _remove_leftovers(root: Path) -> None:
    """Remove the half-taken locks of processes killed between writing and linking them."""
    for leftover in root.glob(f"{_LOCK_NAME}.*"):
        try:
            pid = int(leftover.suffix.lstrip("."))
        except ValueError:
            continue
        if not _pid_alive(pid):
            leftover.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
