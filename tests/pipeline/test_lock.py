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
