"""The output-root lock: one run at a time on an output root, stale locks taken over."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from .._logging import logger
from ..errors import LockError

__all__ = ["output_lock"]

_LOCK_NAME = ".fusets-dl.lock"


#: Age (s, since moved aside) after which a stale lock left beside the lock by a killed process is deleted.
_STALE_ASIDE_S = 60.0

#: How many times a run tries to take the lock (each stale lock moved aside costs one try).
_TRIES = 5


@contextlib.contextmanager
def output_lock(root: Path) -> Iterator[Path]:
    """Hold ``<root>/.fusets-dl.lock`` for the duration of a run.

    A lock left by a process that no longer runs on this host is taken over
    (with a warning). The lock appears with its content in one step (a hard
    link of a written file), so a process killed while taking it never
    leaves an empty lock behind. Taking over a stale lock is atomic: the
    stale file is first renamed to a name of this process's own (a rename
    only one process can win), the renamed file is checked to be the very
    file found stale (same inode and content, including the dead run's
    random token; a fresh lock renamed by mistake is put back), and only
    then is the lock linked anew; whoever links first holds it, and each
    run reads the lock back to confirm that it holds its own token.

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
        Another live run holds the lock (the message names its process and
        host), or the lock could not be taken in a few tries because other
        runs kept taking it.
    """
    root.mkdir(parents=True, exist_ok=True)
    lock = root / _LOCK_NAME
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": pd.Timestamp.now(tz="UTC").isoformat(),
          "token": uuid.uuid4().hex, "pid_start": _start_time(os.getpid()), "boot": _boot_id()}
    for _ in range(_TRIES):
        if _try_take(root, lock, me):
            break
    else:
        raise LockError(f"output root {str(root)!r}: could not take the lock {lock.name} in {_TRIES} tries: expected it free "
                        f"or held by a dead process, found other runs taking it ({_holder(lock) or 'now free'}); try again")
    _remove_leftovers(root)
    try:
        yield lock
    finally:
        if _holder(lock).get("token") == me["token"]:  # never remove a lock that is not ours
            lock.unlink(missing_ok=True)


def _try_take(root: Path, lock: Path, me: dict[str, object]) -> bool:
    """Take the lock (True), or move a stale one aside so that the caller tries again (False)."""
    mine = root / f"{_LOCK_NAME}.{me['pid']}-{me['token']}"  # the token too: two threads of one process have one pid
    mine.write_text(json.dumps(me))
    try:
        os.link(mine, lock)
    except FileExistsError:
        held, ident = _read_lock(lock)
        if ident is None:  # gone since the link failed: try again
            return False
        if held.get("token") == me["token"]:  # ours, put back by a run that had moved it aside by mistake
            return True
        if _holder_gone(held, me):
            _move_stale(root, lock, ident, held, str(me["token"]))
            return False
        this = " (this process: another thread, or a run of this session not yet ended)" if held.get("pid") == me["pid"] else ""
        raise LockError(
            f"output root {str(root)!r} is locked by another run (pid {held.get('pid')} on {held.get('host')}, "
            f"since {held.get('started')}){this}; wait for it to end, or remove {lock.name} if that run is gone"
        ) from None
    finally:
        mine.unlink(missing_ok=True)
    # read back: ours unless a run taking over a stale lock moved it aside in between (it puts it back): look again
    return _holder(lock).get("token") == me["token"]


def _move_stale(root: Path, lock: Path, ident: tuple[int, int], held: dict[str, object], token: str) -> None:
    """Move the stale lock (file ``ident`` saying ``held``) aside, atomically; put back a fresh lock moved by mistake."""
    aside = root / f"{_LOCK_NAME}.stale-{token}"
    try:
        os.rename(lock, aside)  # only one process can move a given file
    except FileNotFoundError:
        return  # another run moved it first
    try:
        moved, moved_ident = _read_lock(aside)
        # a run took the stale lock over and linked its own since we read it (its content differs; its inode may be
        # the stale one's, reused once that was deleted): give it back
        if moved_ident != ident or moved != held:
            with contextlib.suppress(FileExistsError):
                os.link(aside, lock)
            return
        logger.warning("run: took over a stale lock of process %s on %s (not running)", held.get("pid"), held.get("host"))
    finally:
        aside.unlink(missing_ok=True)


def _read_lock(lock: Path) -> tuple[dict[str, object], tuple[int, int] | None]:
    """What the lock says of its holder and which file it is (device, inode), read from one open file; ``({}, None)`` when gone."""
    try:
        with open(lock, "rb") as fh:
            st = os.fstat(fh.fileno())
            raw = fh.read()
    except FileNotFoundError:
        return {}, None
    except OSError:
        return {}, None
    try:
        held = json.loads(raw or b"{}")
    except ValueError:
        held = {}
    return (held if isinstance(held, dict) else {}), (st.st_dev, st.st_ino)


def _holder(lock: Path) -> dict[str, object]:
    """What the lock file says of its holder (empty when unreadable)."""
    return _read_lock(lock)[0]


def _remove_leftovers(root: Path) -> None:
    """Remove the half-taken locks of processes killed between writing and linking them, and old stale locks moved aside."""
    for leftover in root.glob(f"{_LOCK_NAME}.*"):
        if leftover.name.startswith(f"{_LOCK_NAME}.stale-"):
            with contextlib.suppress(OSError):  # a process killed between moving a stale lock aside and deleting it
                if time.time() - leftover.stat().st_ctime > _STALE_ASIDE_S:
                    leftover.unlink()
            continue
        try:
            pid = int(leftover.name[len(_LOCK_NAME) + 1:].split("-")[0])
        except ValueError:
            continue
        if not _pid_alive(pid):
            leftover.unlink(missing_ok=True)


def _holder_gone(held: dict[str, object], me: dict[str, object]) -> bool:
    """Whether the run that ``held`` the lock no longer runs: checked on this host only (another host's cannot be seen).

    Gone when the host was rebooted since (another boot id), its process no
    longer exists, or its pid now belongs to another process (another start
    time: a run killed as pid 1 of a container, its rerun pid 1 again).
    """
    pid = held.get("pid")
    if held.get("host") != me["host"] or not isinstance(pid, int):
        return False
    if held.get("boot") and me.get("boot") and held["boot"] != me["boot"]:
        return True
    if not _pid_alive(pid):
        return True
    recorded, now = held.get("pid_start"), _start_time(pid)
    return recorded is not None and now is not None and recorded != now


def _start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, ``/proc/<pid>/stat`` field 22); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _boot_id() -> str | None:
    """This boot of the host (Linux), None elsewhere."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
