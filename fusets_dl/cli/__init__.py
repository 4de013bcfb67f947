"""The ``fusets-dl`` command: the demo and one subcommand per stage.

Modules: ``parser`` (the argument parser, one ``_add_<command>`` per
subcommand), ``stages`` (align, summary, train, predict, reconstruct,
phenology, segment), ``tools`` (run, compare, report, synth), ``demo`` (the
demo and its report), ``output`` (tables and atomic netCDF writes). Building
the parser imports nothing heavy: every command imports what it needs when it
runs, so ``fusets-dl --help`` loads no torch.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from .._logging import logger
from ..errors import FusionError
from .parser import build_parser

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
        The command's status, or 2 when it raised a :class:`~fusets_dl.errors.FusionError`
        (logged and printed to stderr as ``error: ...``).

    Raises
    ------
    SystemExit
        From argparse: ``--help``, ``--version`` and bad arguments.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args))
    except FusionError as exc:
        logger.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
