"""The parser of fusets-dl: entry points, bad arguments, cheap --help, choices that match the library's."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from fusets_dl.cli import build_parser, main
from fusets_dl.cli.parser import COMPARE_METHODS, FUSION_STRATEGIES, SEGMENT_VIEWS
from tests.pipeline.helpers import cli_env

_HEAVY = ("torch", "dask.array", "matplotlib", "rioxarray")

# runs `python -m fusets_dl <args> --help` for each argument list in one process, and reports after
# each which heavy modules are loaded (the package's own import comes first, as on the command line)
_PROBE = """
import json, runpy, sys
loaded = {}
for args in json.loads(sys.argv[1]):
    sys.argv = ["fusets-dl", *args, "--help"]
    try:
        runpy.run_module("fusets_dl", run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
    loaded[" ".join(args) or "-"] = [m for m in HEAVY if m in sys.modules]
print(json.dumps(loaded))
""".replace("HEAVY", repr(_HEAVY))


def _subcommands() -> list[str]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


def test_module_entry_point_and_version():
    res = subprocess.run([sys.executable, "-m", "fusets_dl", "--version"], capture_output=True, text=True, check=False)
    assert res.returncode == 0 and "fusets_dl" in res.stdout


@pytest.mark.parametrize("bad", [["demo", "--bogus"], ["nope"]])
def test_bad_arguments_exit_nonzero(bad):
    with pytest.raises(SystemExit) as exc:
        main(bad)
    assert exc.value.code != 0


def test_help_of_every_command_loads_no_torch_dask_array_matplotlib_or_rioxarray():
    commands = _subcommands()
    assert {"demo", "train", "compare", "run", "segment", "align"} <= set(commands)
    res = subprocess.run([sys.executable, "-c", _PROBE, json.dumps([[], *[[c] for c in commands]])],
                         capture_output=True, text=True, check=False, env=cli_env())
    assert res.returncode == 0, res.stderr
    loaded = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(loaded) == {"-", *commands}
    assert loaded == {k: [] for k in loaded}, f"--help loaded heavy modules: {loaded}"


def test_every_subcommand_has_help_and_a_command():
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in action._choices_actions}
    for name, sub in action.choices.items():
        assert helps[name] and f"fusets-dl {name}" in sub.format_help()
        assert callable(sub.get_default("func")), name


def test_choices_spelled_in_the_parser_are_the_library_ones():
    from fusets_dl.evaluation.comparison import METHODS
    from fusets_dl.models.registry import FUSION_STRATEGIES as STRATEGIES
    from fusets_dl.segmentation.config import VIEWS

    assert COMPARE_METHODS == tuple(METHODS)
    assert FUSION_STRATEGIES == tuple(STRATEGIES)
    assert SEGMENT_VIEWS == tuple(VIEWS)
