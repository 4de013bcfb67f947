"""The baselines load on first use: the single-sensor ones never import torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import fusets_dl.baselines as baselines


def test_single_sensor_baselines_do_not_load_torch() -> None:
    root = str(Path(baselines.__file__).parents[2])
    code = (
        "import json, sys\n"
        "from fusets_dl.baselines import interpolate_linear, whittaker_baseline\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root, timeout=300,
                          env={**os.environ, "PYTHONPATH": root})
    loaded = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert "torch" not in loaded and "fusets_dl.baselines.gp" not in loaded


def test_mogpr_is_the_function() -> None:
    import fusets_dl as fdl

    assert callable(baselines.mogpr) and baselines.mogpr is fdl.mogpr
    assert baselines.mogpr.__module__ == "fusets_dl.baselines.lcm"
    assert sorted(baselines.__all__) == ["GPConfig", "fusets_mogpr", "interpolate_linear", "mogpr", "mogpr_inputs", "read_table", "whittaker_baseline"]
