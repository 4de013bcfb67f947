"""Progress bars for long work (training epochs, tiles of a batch run, Dask computations).

Every bar is a :class:`tqdm.tqdm` on ``sys.stderr`` (or a given stream),
drawn only when that stream is a terminal (or a Jupyter kernel) and the
``progress`` option is on (``fdl.set_options(progress=False)`` turns every
bar off). While a bar is drawn, the log lines of the root logger's console
handlers are written above it instead of through it.

>>> import fusets_dl as fdl
>>> from fusets_dl.progress import dask_progress
>>> with fdl.set_options(progress=False), dask_progress("nothing shown"):
...     pass

Importing this module loads neither tqdm nor Dask: each is imported when a
bar is made.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import IO, Any

from .options import option

__all__ = ["dask_progress", "progress_bar", "progress_enabled", "tile_progress"]


def progress_enabled(stream: IO[str] | None = None, enabled: bool | None = None) -> bool:
    """Whether a progress bar should be drawn on ``stream``.

    Parameters
    ----------
    stream : file-like, optional
        Where the bar would go (default ``sys.stderr``).
    enabled : bool, optional
        An explicit choice (wins over the option but not over a stream that
        is no terminal); None takes ``fdl.set_options(progress=...)``.

    Returns
    -------
    bool
        True when progress is on and ``stream`` is a terminal (``isatty()``)
        or the output of a Jupyter kernel.
    """
    if not option("progress", enabled):
        return False
    stream = sys.stderr if stream is None else stream
    isatty = getattr(stream, "isatty", None)
    try:
        if callable(isatty) and isatty():
            return True
    except (OSError, ValueError):  # a closed or detached stream
        return False
    return _in_jupyter()


def _in_jupyter() -> bool:
    """True inside a Jupyter kernel (its stderr is no terminal but shows ``\\r`` updates)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    shell = get() if callable(get) else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _has_size(stream: IO[str]) -> bool:
    """Whether ``stream`` is a terminal that reports its size."""
    try:
        size = os.get_terminal_size(stream.fileno())
        return size.columns > 0 and size.lines > 0
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False


@contextlib.contextmanager
def progress_bar(
    total: int | None,
    desc: str,
    *,
    unit: str = "it",
    stream: IO[str] | None = None,
    enabled: bool | None = None,
    leave: bool = True,
) -> Iterator[Any]:
    """A tqdm bar for a ``with`` block, silent when progress is off or ``stream`` is no terminal.

    While the bar is drawn, console log handlers of the root logger write
    above it (``tqdm.contrib.logging.logging_redirect_tqdm``), so log lines
    and the bar do not overwrite each other.

    Parameters
    ----------
    total : int or None
        Number of steps (None: unknown, no ETA).
    desc : str
        Label at the left of the bar.
    unit : str
        Name of one step ("epoch", "tile", "task").
    stream : file-like, optional
        Where to draw (default ``sys.stderr``).
    enabled : bool, optional
        As for :func:`progress_enabled`.
    leave : bool
        Keep the finished bar on screen.

    Yields
    ------
    tqdm.tqdm
        The bar (``update``, ``set_postfix``, ``reset``); a disabled bar
        accepts the same calls and draws nothing.
    """
    from tqdm import tqdm

    stream = sys.stderr if stream is None else stream
    show = progress_enabled(stream, enabled)
    # a terminal that reports no size (0 x 0: some pseudo-terminals) would hide every bar: 100 x 20
    size = {} if _has_size(stream) else {"ncols": 100, "nrows": 20}
    bar = tqdm(total=total, desc=desc, unit=unit, file=stream, disable=not show, leave=leave,
               dynamic_ncols=not size, smoothing=0.3, **size)
    try:
        if show:
            from tqdm.contrib.logging import logging_redirect_tqdm

            with logging_redirect_tqdm(tqdm_class=tqdm):
                yield bar
        else:
            yield bar
    finally:
        bar.close()


@contextlib.contextmanager
def tile_progress(regions: Sequence[str], *, stream: IO[str] | None = None,
                  enabled: bool | None = None) -> Iterator[Callable[[str, int, int], None]]:
    """A ``progress(region, tiles_done, tiles_total)`` callback for :func:`fusets_dl.pipeline.run`.

    One bar per region (``region i/N name``), opened at the region's first
    call (a resumed region starts at the tiles already done) and closed when
    its last tile is done or the ``with`` block ends.

    Parameters
    ----------
    regions : sequence of str
        The region names, in run order (for the ``i/N`` label).
    stream, enabled
        As for :func:`progress_bar`.

    Yields
    ------
    callable
        The callback to pass as ``progress``.
    """
    names = list(regions)
    state: dict[str, Any] = {}

    def close() -> None:
        if state:
            state.pop("stack").close()
            state.clear()

    def callback(region: str, done: int, total: int) -> None:
        if state.get("name") != region:
            close()
            label = f"region {names.index(region) + 1}/{len(names)} {region}" if region in names else f"region {region}"
            stack = contextlib.ExitStack()
            bar = stack.enter_context(progress_bar(total, label, unit="tile", stream=stream, enabled=enabled))
            state.update(name=region, stack=stack, bar=bar)
        state["bar"].update(done - state["bar"].n)
        if done >= total:
            close()

    try:
        yield callback
    finally:
        close()


@contextlib.contextmanager
def dask_progress(desc: str = "compute", *, stream: IO[str] | None = None,
                  enabled: bool | None = None) -> Iterator[None]:
    """Show a task bar for every Dask computation (local schedulers) inside the ``with`` block.

    Parameters
    ----------
    desc : str
        Label of the bar.
    stream, enabled
        As for :func:`progress_bar`.

    Yields
    ------
    None
        Computations with the threaded or synchronous scheduler inside the
        block draw ``desc`` with tasks done / total and an ETA; with a
        ``distributed`` client use ``distributed.progress`` instead.

    Examples
    --------
    >>> import dask.array as da
    >>> from fusets_dl.progress import dask_progress
    >>> with dask_progress("sum", enabled=False):
    ...     int(da.ones(10, chunks=5).sum().compute())
    10
    """
    if not progress_enabled(stream, enabled):
        yield
        return
    from dask.callbacks import Callback

    with contextlib.ExitStack() as stack:
        bars: list[Any] = []  # made at the first compute, when its number of tasks is known

        class _Bar(Callback):  # type: ignore[misc]
            def _start_state(self, dsk: Any, state: dict[str, Any]) -> None:
                total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
                if bars:  # a later compute in the same block restarts the bar
                    bars[0].reset(total=total)
                else:
                    bars.append(stack.enter_context(progress_bar(total, desc, unit="task", stream=stream, enabled=enabled)))

            def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
                bars[0].update(1)

        with _Bar():
            yield
