"""The ``fusets-dl`` command: the demo and one subcommand per stage.

Modules: ``parser`` (the argument parser, one ``_add_<command>`` per
subcommand), ``stages`` (align, summary, train, predict, reconstruct,
phenology, segment), ``tools`` (run, compare, report, synth), ``demo`` (the
demo and its report), ``output`` (tables and atomic netCDF writes). Building
the parser imports nothing heavy: every command imports what it needs when it
runs, so ``fusets-dl --help`` loads no torch.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Any

from ..errors import FusionError, Terminated
from ..options import option, set_options
from .parser import build_parser
from .words import flag_words

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fusets-dl``; returns the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The command's status; 2 when it raised a
        :class:`~fusets_dl.errors.FusionError` or an ``OSError`` (a missing
        file, a permission), 1 on any other error, 130 on Ctrl-C, 143 when
        ``run`` was stopped by SIGTERM. The
        message is printed once to stderr as ``error: ...``, without a
        traceback unless ``-v`` is given.

    Raises
    ------
    SystemExit
        From argparse: ``--help``, ``--version`` and bad arguments (status 2).
    """
    parser = build_parser()
    args = _expand_home(parser.parse_args(argv))
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    show_progress = option("progress") and not (args.quiet or args.no_progress)
    words = flag_words(parser, getattr(args, "command", None))  # the library's "max_seasons=5" as "--max-seasons 5"
    shown = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *rest: Any, **kw: Any) -> None:
        text = words(str(message))
        try:
            reworded: Warning | str = category(text)
        except Exception:
            reworded = text
        shown(reworded, category, *rest, **kw)

    def plain(message: Warning | str, category: type[Warning], *rest: Any, **kw: Any) -> str:
        return f"warning: {message}\n"  # as errors print: the place in the fusets-dl script says nothing to an operator

    formatted = warnings.formatwarning
    warnings.showwarning, warnings.formatwarning = show, plain
    try:
        with set_options(progress=show_progress):
            return int(args.func(args))
    except (FusionError, OSError) as exc:  # the operator's to fix: the message says what and where
        _error(words(str(exc)) or type(exc).__name__, args.verbose)
        return 2
    except Terminated as exc:  # SIGTERM or SIGHUP in a batch run: the lock and scratch were removed on the way out
        name = str(exc).removeprefix("terminated by ") or "SIGTERM"
        print(f"terminated ({name}): the finished tiles are kept; rerun the same command to resume", file=sys.stderr)
        return 128 + int(getattr(signal, name, signal.SIGTERM))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so, with the traceback under -v
        hint = "please report it" if args.verbose else "rerun with -v for the traceback, and please report it"
        _error(f"unexpected {type(exc).__name__}: {exc} ({hint})", args.verbose)
        return 1
    finally:
        warnings.showwarning, warnings.formatwarning = shown, formatted


def _error(message: str, verbose: bool) -> None:
    """Print ``error: message`` once on stderr (and the traceback when verbose)."""
    if verbose:
        traceback.print_exc(file=sys.stderr)
    print(f"error: {message}", file=sys.stderr)


def _expand_home(args: argparse.Namespace) -> argparse.Namespace:
    """``~`` at the start of a path option expanded, as a shell does for ``-o ~/x`` but not for ``--output=~/x``.

    Without it the writers got a literal ``~`` folder: the temporary file of a
    failed write was left in the home folder and the message blamed free space.
    """
    for key, value in vars(args).items():
        if isinstance(value, str) and value.startswith("~"):
            setattr(args, key, os.path.expanduser(value))
        elif isinstance(value, list) and any(isinstance(v, str) and v.startswith("~") for v in value):
            setattr(args, key, [os.path.expanduser(v) if isinstance(v, str) else v for v in value])
    return args
