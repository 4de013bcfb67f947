"""A whole batch run: the lock, the Dask context, a log file per region, and the end-of-run table."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

from .._logging import logger
from .._warn import warn_user
from ..errors import ConfigError, Terminated
from .config import RunConfig, check_dask, load_config
from .lock import output_lock
from .outputs import output_path
from .region import Progress, run_region

__all__ = ["run", "summary_table"]

_SUMMARY_COLUMNS = ["region", "status", "tiles", "written", "seconds", "test_r2", "observed", "predicted", "missing", "mean_seasons", "unobserved_seasons"]


def run(
    config: str | os.PathLike | Mapping[str, Any] | RunConfig,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    restart: bool = False,
) -> list[dict[str, Any]]:
    """Run every region of a config (resumable); return the summary rows.

    Parameters
    ----------
    config : path, mapping or RunConfig
        The run configuration (validated before any work starts).
    workers : int, optional
        Start a ``LocalCluster`` with this many worker processes.
    scheduler : str, optional
        Address of an existing Dask scheduler (e.g. one started by
        dask-jobqueue on SLURM).
    progress : callable, optional
        ``progress(region, tiles_done, tiles_total)`` after each tile.
    restart : bool
        Start again (discarding its earlier outputs) every region whose
        configuration, inputs, model or fusets_dl version changed since it
        was started, instead of refusing to resume it; unchanged regions
        resume.

    Returns
    -------
    list of dict
        One row per region (see :func:`~fusets_dl.pipeline.run_region`).

    Raises
    ------
    ConfigError
        The configuration, ``workers`` or ``scheduler`` is invalid (nothing was started).
    LockError
        Another run holds the output root.
    Terminated
        The process received SIGTERM (a scheduler's time limit, ``scancel``):
        raised like Ctrl-C in the region at work, so the lock and the
        scratch cube are removed; the finished tiles are kept and the same
        call resumes. Only when ``run`` is called in the main thread of a
        process whose SIGTERM handler is the default one (the handler is
        restored afterwards).
    Exception
        The first region's failure, raised once the other regions have run
        (a failing region no longer stops the ones after it): a bad input,
        a ``ResumeError`` (its configuration, inputs or model changed since
        it was started, without ``restart``; its store path holds something
        fusets_dl did not write), an ``OutputError`` (a tile could not be
        written). Its ``run_rows`` attribute holds every region's row
        (``status`` ``"failed: <error>"`` for those that failed), and a note
        names every failed region.
    """
    cfg = config if isinstance(config, RunConfig) else load_config(config)
    dask_cfg = dict(cfg.dask)
    if workers is not None:
        dask_cfg["workers"] = workers
    if scheduler is not None:
        dask_cfg["scheduler"] = scheduler
    check_dask(dask_cfg, "run")
    rows: list[dict[str, Any]] = []
    failed: list[tuple[str, Exception]] = []
    with _sigterm_interrupts(), output_lock(cfg.output_root), _dask_context(dask_cfg):
        for i, rc in enumerate(cfg.regions):
            with _region_log(output_path(cfg.output_root, rc.name, ".log")):
                logger.info("run: region %d/%d %s", i + 1, len(cfg.regions), rc.name)
                try:
                    row = run_region(cfg, rc, progress=progress, restart=restart)
                except Terminated as exc:
                    logger.error("run: region %s (%d/%d) stopped by %s; its finished tiles are kept: rerun the same "
                                 "command to resume", rc.name, i + 1, len(cfg.regions), str(exc).removeprefix("terminated by "))
                    raise
                except Exception as exc:  # one region's failure (its data, its resume) does not stop the others
                    logger.error("run: region %s (%d/%d) failed: %s: %s", rc.name, i + 1, len(cfg.regions), type(exc).__name__, exc)
                    if hasattr(exc, "add_note"):  # the message of a reader deep inside does not say which region it was
                        exc.add_note(f"while running region {rc.name!r} ({i + 1} of {len(cfg.regions)})")
                    failed.append((rc.name, exc))
                    rows.append({"region": rc.name, "status": f"failed: {type(exc).__name__}"})
                    continue
                logger.info("run: region %s %s in %s s", rc.name, row["status"], row.get("seconds"))
                rows.append(row)
    if failed:  # the first failure, raised once every region has run, with the rows of all and the other failures
        first = failed[0][1]
        if len(failed) > 1 and hasattr(first, "add_note"):
            first.add_note(f"{len(failed)} of {len(cfg.regions)} regions failed: " + "; ".join(
                f"{name} ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})" for name, exc in failed))
        first.run_rows = rows  # type: ignore[attr-defined]
        raise first
    return rows


def summary_table(rows: list[dict[str, Any]]) -> str:
    """The end-of-run table, in Markdown.

    Parameters
    ----------
    rows : list of dict
        The rows returned by :func:`run`.

    Returns
    -------
    str
        One line per region: status, tiles, seconds, test R2 and output shares.
    """
    cols = _SUMMARY_COLUMNS
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


@contextlib.contextmanager
def _dask_context(dask_cfg: Mapping[str, Any]) -> Iterator[Any]:
    """Threaded scheduler by default; ``workers`` starts a LocalCluster; ``scheduler`` connects to one."""
    if dask_cfg.get("scheduler"):
        with _connect(str(dask_cfg["scheduler"])) as client:
            _check_worker_memory(client)
            yield client
    elif dask_cfg.get("workers"):
        from distributed import Client, LocalCluster

        dashboard = importlib.util.find_spec("bokeh") is not None  # without bokeh the link is a 404
        with _quiet_distributed(), LocalCluster(n_workers=int(dask_cfg["workers"]), threads_per_worker=int(dask_cfg.get("threads_per_worker", 1)),
                                                processes=True, dashboard_address=":8787" if dashboard else None) as cluster, Client(cluster) as client:
            if dashboard:
                logger.info("run: Dask dashboard at %s", client.dashboard_link)
            _check_worker_memory(client)
            yield client
            logging.getLogger("distributed.nanny").setLevel(logging.ERROR)  # closing kills busy workers after 4 s: expected
    else:
        import dask

        with dask.config.set(scheduler="threads"):
            yield None


#: Seconds to wait for a Dask scheduler to answer (distributed's own connect timeout, which bounds only an address where
#: nothing listens: an HTTP server there, the dashboard's 8787 typed for the scheduler's 8786, hung the run forever).
_CONNECT_TIMEOUT_S = 30.0

#: The least memory a worker should have (bytes): one holding torch and the model idles at about 550 MB, and workers
#: limited to 700 MB paused at 81-83 % right after training, which left the run waiting with no message.
_WORKER_MEMORY_FLOOR = 2e9


def _connect(address: str, timeout: float | None = None) -> Any:
    """A ``distributed.Client`` connected to ``address``, or a ConfigError naming it within ``timeout`` seconds (+2).

    A probe client (never the default one) is made in a daemon thread: a server that accepts the
    connection but does not speak Dask's protocol (an HTTP server, the
    scheduler's dashboard port) never completed distributed's handshake,
    whatever ``Client(timeout=)`` said; a non-Dask reply read as a frame
    length gave "MemoryError: Unable to allocate 3.07 EiB". A thread still
    waiting is left behind (it holds no lock and ends with the process).
    """

    from distributed import Client

    timeout = _CONNECT_TIMEOUT_S if timeout is None else timeout
    box: dict[str, Any] = {}
    gave_up = threading.Event()

    def _probe() -> None:  # never the default client: a client still connecting took every later dask compute of the
        try:               # process (a hang in the test suite after the HTTP-server case)
            probe = Client(address, timeout=timeout, set_as_default=False)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
            return
        if gave_up.is_set():  # answered after the caller gave up: closed, not left behind
            with contextlib.suppress(Exception):
                probe.close()
        else:
            box["client"] = probe

    worker = threading.Thread(target=_probe, name="fusets_dl-connect", daemon=True)
    worker.start()
    worker.join(timeout + 2)
    hint = ("check the address: a Dask scheduler listens on port 8786 by default, and 8787 is its dashboard (HTTP), "
            "not the scheduler; `dask scheduler` prints the address to use (\"Scheduler at: tcp://...\")")
    if worker.is_alive():
        gave_up.set()
        raise ConfigError(f"scheduler {address!r}: expected a Dask scheduler, found a server that accepted the connection but "
                          f"did not answer as one within {timeout:g} s; {hint}")
    exc = box.get("error")
    if isinstance(exc, (OSError, TimeoutError, MemoryError)):
        raise ConfigError(f"scheduler {address!r}: expected a Dask scheduler, found none answering within {timeout:g} s "
                          f"({type(exc).__name__}: {str(exc)[:200]}); {hint}") from exc
    if exc is not None:
        raise exc
    box["client"].close()  # a Dask scheduler answered: the run's own client, made here, is the default one
    return Client(address, timeout=timeout)


def _check_worker_memory(client: Any, floor: float = _WORKER_MEMORY_FLOOR) -> None:
    """Warn when a worker's memory limit is below ``floor`` bytes (it pauses, and the run waits with no message)."""
    try:
        workers = client.scheduler_info().get("workers", {})
    except Exception:  # a check only
        return
    small = {addr: w.get("memory_limit") for addr, w in workers.items() if w.get("memory_limit") and w["memory_limit"] < floor}
    if small:
        least = min(small.values())
        warn_user(f"Dask: {len(small)} of {len(workers)} workers have a memory limit below {floor / 1e9:g} GB (the smallest "
                  f"{least / 1e9:.2f} GB, e.g. {next(iter(small))}): a worker holding torch and the model uses about 0.55 GB "
                  "idle, and one at 80 % of its limit pauses, which leaves the run waiting with no message (workers of "
                  "0.7 GB did). Start the workers with a larger --memory-limit (e.g. `dask worker ... --memory-limit 4GB`) "
                  "or fewer workers per host, or with `workers:` fewer workers (LocalCluster splits the host's memory "
                  "between them)")


@contextlib.contextmanager
def _quiet_distributed() -> Iterator[None]:
    """The distributed loggers at WARNING (DEBUG with the package's DEBUG log), restored afterwards."""
    names = ("distributed", "distributed.nanny")
    levels = {n: logging.getLogger(n).level for n in names}
    logging.getLogger("distributed").setLevel(logging.DEBUG if logger.isEnabledFor(logging.DEBUG) else logging.WARNING)
    try:
        yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


@contextlib.contextmanager
def _region_log(path: Path) -> Iterator[None]:
    """Copy the package's log and the Python warnings raised meanwhile to ``path`` (at INFO at least: stage timings and progress)."""
    handler = logging.FileHandler(path)
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        with _warnings_copied_to(handler):
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()


@contextlib.contextmanager
def _warnings_copied_to(handler: logging.Handler) -> Iterator[None]:
    """Each Python warning shown meanwhile also written to ``handler`` (only there), then shown as before.

    ``logging.captureWarnings`` would divert warnings from the caller's
    ``warnings.catch_warnings`` and from stderr; this keeps both: the
    warning goes through the filters as usual (an ``"error"`` filter still
    raises, ``"ignore"`` still hides it) and reaches the display or record
    that was in place, and the region's log gets a copy.
    """
    previous = warnings.showwarning
    open_ = [True]  # inert once the region has ended, even if a thread's catch_warnings put this hook back later

    def _show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
        if open_[0]:
            with contextlib.suppress(Exception):  # the log copy must never stop the warning itself
                handler.handle(logging.LogRecord("py.warnings", logging.WARNING, filename, lineno, "%s: %s (%s:%d)",
                                                 (category.__name__, message, filename, lineno), None))
        previous(message, category, filename, lineno, file, line)

    warnings.showwarning = _show
    try:
        yield
    finally:
        open_[0] = False
        if warnings.showwarning is _show:  # someone else's replacement meanwhile is theirs to restore
            warnings.showwarning = previous


#: Signals that end a run as Ctrl-C does: SIGTERM (a scheduler's time limit, ``scancel``, ``kill``) and SIGHUP (the
#: terminal or ssh session closed), where the platform has them.
_STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`~fusets_dl.errors.Terminated` in the main thread while the run lasts.

    By default they end Python at once: no ``finally`` runs, so the
    output root's lock and the staged cube were left behind, and a job
    requeued on another host (SLURM after its time limit) met the lock of
    a process it cannot see; a closed ssh session (SIGHUP) did the same.
    Installed only in the main thread and only over a default handler (a
    caller's own handler, or ``nohup``'s ignored SIGHUP, is left alone); a
    second signal while cleaning up ends the process as before.
    """
    ours = [s for s in _STOP_SIGNALS if signal.getsignal(s) is signal.SIG_DFL]
    if threading.current_thread() is not threading.main_thread() or not ours:
        yield
        return

    def _raise(signum: int, frame: FrameType | None) -> None:
        for s in ours:
            signal.signal(s, signal.SIG_DFL)  # a second one while unwinding ends the process
        raise Terminated(f"terminated by {signal.Signals(signum).name}")

    for s in ours:
        signal.signal(s, _raise)
    try:
        yield
    finally:
        for s in ours:
            signal.signal(s, signal.SIG_DFL)
