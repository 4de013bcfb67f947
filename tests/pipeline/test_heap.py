"""Freed heap pages handed back to the system (glibc malloc_trim)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest

from fusets_dl.pipeline import heap
from fusets_dl.pipeline.heap import release_heap


def _rss_mib() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists() or heap._malloc_trim() is None, reason="needs Linux with glibc")
def test_release_heap_returns_the_pages_of_freed_arena_blocks():
    # 3,000 blocks of 64 KiB (below glibc's mmap threshold: from a thread arena), every 50th kept,
    # so the arena cannot shrink from its top: ~184 MiB free inside it until trimmed
    seen: dict[str, float] = {}

    def work() -> None:
        blocks = [np.ones(8192) for _ in range(3000)]
        keep = blocks[::50]
        del blocks
        seen["before"] = _rss_mib()
        seen["asked"] = release_heap()
        seen["after"] = _rss_mib()
        seen["kept"] = float(sum(b.sum() for b in keep))

    t = threading.Thread(target=work)
    t.start()
    t.join()
    assert seen["asked"] is True
    assert seen["kept"] == 60 * 8192
    assert seen["before"] - seen["after"] > 100


def test_release_heap_is_a_no_op_without_malloc_trim(monkeypatch):
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    assert release_heap() is False
