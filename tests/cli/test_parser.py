"""The parser of fusets-dl: entry points, bad arguments, cheap --help, choices that match the library's."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import typing

import pytest

from fusets_dl.cli import build_parser, main
from fusets_dl.cli.parser import COMPARE_METHODS, FUSION_STRATEGIES, SEGMENT_DEFAULTS, SEGMENT_VIEWS
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
    from fusets_dl.segmentation.config import VIEWS, SegmentConfig

    assert COMPARE_METHODS == tuple(METHODS)
    assert FUSION_STRATEGIES == tuple(STRATEGIES)
    assert SEGMENT_VIEWS == tuple(VIEWS)
    assert SEGMENT_DEFAULTS == {k: getattr(SegmentConfig(), k) for k in SEGMENT_DEFAULTS}


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_subcommands_are_listed_in_workflow_order():
    from fusets_dl.cli.parser import COMMANDS

    assert list(_subparsers()) == list(COMMANDS)
    assert COMMANDS[0] == "demo"
    order = [COMMANDS.index(c) for c in ("synth", "align", "train", "predict", "reconstruct", "phenology", "run", "report")]
    assert order == sorted(order)
    listed = [m.group(1) for m in re.finditer(r"^    (\w+) ", build_parser().format_help(), re.MULTILINE)]
    assert listed == list(COMMANDS)


def test_every_option_has_help_text_and_its_default_is_shown():
    """Walks the parser: each option of each subcommand says what it does and, when it has one, its default."""
    missing, no_default = [], []
    for name, sub in [("fusets-dl", build_parser()), *_subparsers().items()]:
        text = " ".join(sub.format_help().split())
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if not (action.help and action.help.strip()):
                missing.append(label)
                continue
            shows_default = "default" in action.help or f"(default: {action.default})" in text
            if action.default not in (None, False, argparse.SUPPRESS) and not action.required and not shows_default:
                no_default.append(label)
            if action.default is None and action.option_strings and not action.required and "default" not in action.help:
                no_default.append(f"{label} (None: say what happens)")
    assert not missing, f"options without help text: {missing}"
    assert not no_default, f"options whose default is not shown: {no_default}"


def test_defaults_are_shown_once_in_the_help():
    text = " ".join(_subparsers()["train"].format_help().split())
    assert "maximum epochs (early stopping may end sooner) (default: 60)" in text
    assert text.count("(default: 60)") == 1
    demo = " ".join(_subparsers()["demo"].format_help().split())
    assert "(default: outputs/demo)" in demo and "(default: False)" not in demo


@pytest.mark.parametrize("argv", [["-v", "synth", "-o", "x"], ["synth", "-o", "x", "-v"], ["synth", "-v", "-o", "x"]])
def test_verbose_is_accepted_before_or_after_the_subcommand(argv):
    args = build_parser().parse_args(argv)
    assert args.verbose is True and args.quiet is False and args.no_progress is False and args.output == "x"


def test_flags_after_the_subcommand_do_not_reset_those_before_it():
    args = build_parser().parse_args(["-q", "synth", "-o", "x", "--no-progress"])
    assert args.quiet is True and args.no_progress is True and args.verbose is False


def test_align_takes_the_reader_options():
    from fusets_dl.cli.parser import S1_UNITS, S2_CLEAR_CLASSES
    from fusets_dl.readers.encoding import DEFAULT_CLEAR_CLASSES
    from fusets_dl.readers.radar import Units

    assert S1_UNITS == typing.get_args(Units) and S2_CLEAR_CLASSES == DEFAULT_CLEAR_CLASSES
    base = ["align", "--s1", "a.nc", "--s2", "b.nc", "-o", "c.nc"]
    d = build_parser().parse_args(base)
    assert (d.s1_units, d.clear_classes, d.reflectance_scale, d.harmonize) == ("auto", [4, 5], "auto", "auto")
    a = build_parser().parse_args([*base, "--s1-units", "compressed", "--clear-classes", "4", "5", "6",
                                   "--reflectance-scale", "0.0001", "--harmonize", "false"])
    assert (a.s1_units, a.clear_classes, a.reflectance_scale, a.harmonize) == ("compressed", [4, 5, 6], 1e-4, "false")


@pytest.mark.parametrize(("flag", "value"), [("--reflectance-scale", "big"), ("--reflectance-scale", "-1"), ("--s1-units", "db")])
def test_align_refuses_bad_reader_options_with_the_expected_values(flag, value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["align", "--s1", "a.nc", "--s2", "b.nc", "-o", "c.nc", flag, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and ("expected 'auto' or a positive number" in err or "invalid choice: 'db'" in err)


def test_a_missing_input_is_one_error_line_without_traceback_exit_2(tmp_path, capsys):
    missing = tmp_path / "nope.nc"
    code = main(["phenology", str(missing), "-o", str(tmp_path / "p.nc")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "nope.nc" in err and "Traceback" not in err


def test_an_unexpected_error_names_itself_and_the_traceback_is_shown_only_with_verbose(monkeypatch, capsys):
    import fusets_dl.cli.parser as parser

    def boom(args):
        raise ZeroDivisionError("division by zero in a test")

    monkeypatch.setattr(parser, "cmd_synth", boom)  # build_parser() binds the command when it runs
    assert main(["synth", "-o", "x"]) == 1
    err = capsys.readouterr().err
    assert err == "error: unexpected ZeroDivisionError: division by zero in a test (rerun with -v for the traceback, and please report it)\n"
    assert main(["synth", "-o", "x", "-v"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and "ZeroDivisionError: division by zero in a test\n" in err
    assert err.endswith("error: unexpected ZeroDivisionError: division by zero in a test (please report it)\n")


def test_help_is_fast_enough_to_feel_instant():
    """--help imports no torch; measured as CPU time (the wall clock here is shared with other jobs)."""
    code = "import resource, runpy, sys; sys.argv = ['fusets-dl', '--help']\ntry:\n    runpy.run_module('fusets_dl', run_name='__main__')\nexcept SystemExit:\n    pass\nu = resource.getrusage(resource.RUSAGE_SELF)\nprint(u.ru_utime + u.ru_stime)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=cli_env())
    assert float(res.stdout.strip().splitlines()[-1]) < 3.0, res.stdout


def test_align_passes_the_reader_options_to_the_readers(monkeypatch, capsys):
    import fusets_dl.readers as readers
    from fusets_dl.errors import ConfigError

    seen = {}

    def fake_s1(source, **kw):
        seen["s1"] = kw
        return None

    def fake_s2(source, **kw):
        seen["s2"] = kw
        raise ConfigError("stop here: the readers were called")

    monkeypatch.setattr(readers, "open_s1", fake_s1)
    monkeypatch.setattr(readers, "open_s2", fake_s2)
    code = main(["align", "--s1", "a.nc", "--s2", "b.nc", "-o", "c.nc", "--s1-units", "linear", "--clear-classes", "4",
                 "--reflectance-scale", "0.0001", "--harmonize", "true", "--chunk", "64"])
    assert code == 2 and capsys.readouterr().err == "error: stop here: the readers were called\n"
    assert seen["s1"] == {"chunks": {"y": 64, "x": 64}, "units": "linear"}
    assert seen["s2"] == {"chunks": {"y": 128, "x": 128}, "harmonize": True, "clear_classes": (4,), "reflectance_scale": 1e-4}


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["compare", "cube.nc", "--synthetic", "24"], ("--synthetic", "cube")),
        (["compare", "--synthetic", "24", "cube.nc"], ("--synthetic", "cube")),
        (["compare", "--data", "data/sample", "--synthetic", "24"], ("--synthetic", "--data")),
        (["compare", "--synthetic", "0"], ("--synthetic", "expected an integer >= 1, found '0'")),
        (["compare", "--synthetic", "-4"], ("--synthetic", "expected an integer >= 1, found '-4'")),
        (["run", "c.yaml", "--workers", "2", "--scheduler", "tcp://host:8786"], ("--scheduler", "--workers")),
        (["reconstruct", "c.nc", "m", "-o", "r.nc", "--no-smooth", "--lam", "100"], ("--lam", "--no-smooth")),
    ],
)
def test_contradictory_options_are_usage_errors(capsys, argv, names):
    """Each was accepted silently: one option ignored (--synthetic 0 fell back to the sample, --lam to no smoothing)."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: fusets-dl ") and all(n in err for n in names), err
