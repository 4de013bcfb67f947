"""Progress bars: drawn on a terminal only, off with the option, log lines written above them."""

from __future__ import annotations

import io
import logging
import os
import re
import sys

import dask.array as da
import numpy as np
import pytest

import fusets_dl as fdl
from fusets_dl.progress import dask_progress, progress_bar, progress_enabled, tile_progress


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _screen(raw: str) -> list[str]:
    """What a terminal shows: per line, the text after the last carriage return, right-stripped."""
    return [line.rsplit("\r", 1)[-1].rstrip() for line in raw.split("\n")]


def test_enabled_only_on_a_terminal_with_the_option_on():
    assert progress_enabled(Terminal())
    assert not progress_enabled(io.StringIO())
    with fdl.set_options(progress=False):
        assert not progress_enabled(Terminal())
        assert progress_enabled(Terminal(), enabled=True)  # an explicit choice wins over the option
    assert not progress_enabled(Terminal(), enabled=False)
    closed = io.StringIO()
    closed.close()
    assert not progress_enabled(closed)


def test_bar_counts_steps_with_postfix_on_a_terminal_and_is_silent_otherwise():
    tty, plain = Terminal(), io.StringIO()
    for stream in (tty, plain):
        with progress_bar(3, "train", unit="epoch", stream=stream) as bar:
            for k in range(3):
                bar.set_postfix(loss=f"{0.5 / (k + 1):.4f}", refresh=False)
                bar.update(1)
    shown = _screen(tty.getvalue())
    assert any(line.startswith("train: 100%") and "3/3" in line and "loss=0.1667" in line for line in shown), shown
    assert plain.getvalue() == ""
    with fdl.set_options(progress=False), progress_bar(3, "train", stream=(quiet := Terminal())) as bar:
        bar.update(3)
    assert quiet.getvalue() == ""


def test_log_lines_are_written_above_the_bar_not_into_it(monkeypatch):
    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)  # tqdm redirects console handlers on stdout/stderr
    handler = logging.StreamHandler(tty)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with progress_bar(2, "tiles") as bar:
            bar.update(1)
            logging.getLogger("fusets_dl.test").warning("a log line")
            bar.update(1)
    finally:
        root.removeHandler(handler)
    assert root.handlers.count(handler) == 0
    shown = _screen(tty.getvalue())
    assert "a log line" in shown, shown  # a line of its own, not glued to the bar's text
    assert any(line.startswith("tiles: 100%") for line in shown)


def test_tile_progress_one_bar_per_region_resumed_regions_start_at_their_done_tiles():
    tty = Terminal()
    with tile_progress(["a", "b"], stream=tty) as cb:
        cb("a", 1, 2)
        cb("a", 2, 2)
        cb("b", 3, 4)  # tiles 1-2 were done by an earlier run
        cb("b", 4, 4)
    shown = _screen(tty.getvalue())
    assert any(line.startswith("region 1/2 a: 100%") and "2/2" in line for line in shown), shown
    assert any(line.startswith("region 2/2 b: 100%") and "4/4" in line for line in shown), shown
    plain = io.StringIO()
    with tile_progress(["a"], stream=plain) as cb:
        cb("a", 1, 1)
    assert plain.getvalue() == ""


def test_tile_progress_closes_an_unfinished_bar_when_the_block_ends():
    tty = Terminal()
    with pytest.raises(KeyboardInterrupt), tile_progress(["a"], stream=tty) as cb:
        cb("a", 1, 3)
        raise KeyboardInterrupt
    shown = _screen(tty.getvalue())
    assert shown[-1] == "" and shown[-2].startswith("region 1/1 a:  33%"), shown  # closed: ends its line


def test_dask_progress_counts_the_tasks_of_a_local_compute():
    tty = Terminal()
    x = da.ones((8, 8), chunks=4)  # 4 chunks
    with dask_progress("sum", stream=tty):
        assert float((x + 1).sum().compute(scheduler="sync")) == 128.0
    last = [line for line in _screen(tty.getvalue()) if line.startswith("sum:")][-1]
    done, total = last.split("|")[2].split()[0].split("/")
    assert done == total and int(total) >= 5  # at least one task per chunk (after fusion), then the reduction
    # the bar is made once the number of tasks is known: never a total of 0 ("0/0"; a rate like "6459.40task/s" is fine)
    assert not re.search(r"\d+/0(?![\d.])", tty.getvalue())
    plain = io.StringIO()
    with dask_progress("sum", stream=plain):
        np.testing.assert_equal((x + 1).sum().compute(scheduler="sync"), 128.0)
    assert plain.getvalue() == ""


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_a_terminal_that_reports_no_size_still_gets_a_bar():
    master, slave = os.openpty()
    try:
        with os.fdopen(slave, "w") as tty:
            if os.get_terminal_size(tty.fileno()).lines:
                pytest.skip("this platform's new pseudo-terminals report a size")
            with progress_bar(2, "x", stream=tty) as bar:  # tqdm alone hides every bar on a 0 x 0 terminal
                bar.update(2)
        chunks = []  # a pty hands the output over in pieces: read until the closed side says EIO (or EOF)
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        shown = b"".join(chunks).decode()
    finally:
        os.close(master)
    assert "x: 100%" in shown and "2/2" in shown
