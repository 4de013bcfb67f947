"""Warnings that point at the user's line, however deep in the package they are raised."""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

_PKG = str(Path(__file__).resolve().parent)

#: The messages shown within the current :func:`once_per_call` scope (None outside one).
_SHOWN: ContextVar[set[str] | None] = ContextVar("fusets_dl_warnings_shown", default=None)

_F = TypeVar("_F", bound=Callable[..., Any])


def once_per_call(func: _F) -> _F:
    """Decorate a public function so that :func:`warn_user` shows each message once per call of it.

    Python shows a warning once per place, but a ``warnings.catch_warnings``
    anywhere in between (pandas, the package's own) resets that: a
    reconstruction warned twice that the cube's backscatter coefficient was
    not the model's (its calibration's prediction and its own). Nested
    decorated calls share the outermost scope.

    Parameters
    ----------
    func : callable
        The function.

    Returns
    -------
    callable
        The function, warning each message once per call.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _SHOWN.get() is not None:
            return func(*args, **kwargs)
        token = _SHOWN.set(set())
        try:
            return func(*args, **kwargs)
        finally:
            _SHOWN.reset(token)

    return wrapper  # type: ignore[return-value]


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` with the stack level of the first frame outside fusets_dl.

    A fixed ``stacklevel`` is right for one call path only: the same check
    reached through ``predict_ndvi``, ``reconstruct`` or the accessor would
    point into the library. This walks the stack to the caller's own code.

    Parameters
    ----------
    message : str
        The warning.
    category : type
        The warning class.
    """
    shown = _SHOWN.get()
    if shown is not None:  # within a once_per_call scope: each message once
        if message in shown:
            return
        shown.add(message)
    frame = sys._getframe(1)
    level = 2
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PKG):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
    if "distributed" in sys.modules:  # a Dask worker's task: the client sees nothing of the worker's warnings otherwise
        with contextlib.suppress(Exception):  # forwarding must never fail the task (a thread without the task's state)
            _forward_to_client(message, category)


#: How many (category, message, task group) triples a worker process remembers as already sent to the client.
_FORWARDED_MAX = 1024
_FORWARDED: set[tuple[str, str, str]] = set()


def _forward_to_client(message: str, category: type[Warning]) -> None:
    """Send a warning shown in a Dask worker's task to the clients, through distributed's ``"warn"`` event topic.

    Under ``dask.distributed`` a task's warning is shown only in the worker
    process (its stderr, another host's log file): the per-chunk guards of
    silently wrong numbers never reached the user. Every
    ``distributed.Client`` subscribes to the ``"warn"`` topic and re-issues
    what arrives there as a Python warning (``distributed.warn``'s own
    format), so no setup is needed on the client. Sent once per message
    and task group (the graph layer: a new computation warns again) per
    worker process; nothing outside a task, nor in a worker running in the
    client's own process (``processes=False``: the warning is shown there).
    """
    dist = sys.modules.get("distributed")
    if dist is None:  # not imported: not a worker either
        return
    try:
        worker = dist.get_worker()
    except (ValueError, AttributeError):
        return
    client_mod = sys.modules.get("distributed.client")
    if client_mod is not None and getattr(client_mod, "_global_clients", None):
        return  # the worker lives in the client's process: the warning was shown to the user already
    task = worker.get_current_task() if hasattr(worker, "get_current_task") else None
    group = str(task[0] if isinstance(task, tuple) else task)
    key = (category.__qualname__, str(message), group)
    if key in _FORWARDED:
        return
    if len(_FORWARDED) >= _FORWARDED_MAX:
        _FORWARDED.clear()
    _FORWARDED.add(key)
    import pickle

    with contextlib.suppress(Exception):  # forwarding must never fail the task
        worker.log_event("warn", {"message": pickle.dumps(str(message)), "category": pickle.dumps(category)})


def _install_worker_hook() -> None:
    """In a Dask worker process, forward every warning a task shows to the clients (once; a no-op elsewhere).

    ``warn_user`` forwards its own warnings; this hook also forwards those
    raised with ``warnings.warn`` (phenology's per-chunk notes). Installed
    when this module is imported in a process running a
    ``distributed.Worker`` (the first task that unpickles package code).
    """
    worker_mod = sys.modules.get("distributed.worker")
    if worker_mod is None or not getattr(getattr(worker_mod, "Worker", None), "_instances", None):
        return
    if getattr(warnings.showwarning, "_fusets_dl_forwards", False):
        return
    previous = warnings.showwarning

    def _show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
        with contextlib.suppress(Exception):
            _forward_to_client(str(message), category)
        previous(message, category, filename, lineno, file, line)

    _show._fusets_dl_forwards = True  # type: ignore[attr-defined]
    warnings.showwarning = _show


_install_worker_hook()
