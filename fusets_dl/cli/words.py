"""Advice in the library's messages said in the command's own words: ``max_seasons=5`` becomes ``--max-seasons 5``.

The stages' warnings and errors are written for the Python API. Run from
``fusets-dl``, a keyword the command has as an option is rewritten to that
option (a switch for ``=True``); a keyword it does not have, or a value
with no command-line spelling (``None``), is left as it is.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable

__all__ = ["flag_words"]

#: Values the command line spells otherwise, by option destination.
_VALUE_WORDS: dict[tuple[str, str], str] = {("weights", "None"): "fixed"}

#: A switch whose count the command line gives through another option: ``by_year=4`` is ``--max-seasons 4`` with ``--by-year``.
_SLOTS: dict[str, str] = {"by_year": "max_seasons"}

#: Keyword advice whose option has another destination: ``smooth=False`` is ``--no-smooth``.
_ALIASES: dict[str, str] = {"smooth=False": "--no-smooth"}


def flag_words(parser: argparse.ArgumentParser, command: str | None) -> Callable[[str], str]:
    """A function that rewrites ``keyword=value`` advice in a message into ``command``'s options.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The ``fusets-dl`` parser (:func:`~fusets_dl.cli.parser.build_parser`).
    command : str or None
        The subcommand that runs; None (or an unknown one): messages unchanged.

    Returns
    -------
    callable
        ``message -> message``.
    """
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    sub = subs[0].choices.get(command) if subs and command else None
    if sub is None:
        return lambda message: message
    flags: dict[str, tuple[str, bool]] = {}
    choices: dict[str, set[str]] = {}
    for action in sub._actions:
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and action.dest not in ("help", "verbose", "quiet"):
            flags[action.dest] = (longs[0], action.nargs == 0)
            choices[action.dest] = {str(c) for c in action.choices or ()}
    options = {o for action in sub._actions for o in action.option_strings}
    aliases = {k: v for k, v in _ALIASES.items() if v in options}
    for word, flag in aliases.items():  # an alias keyword: rewritten by the same pattern
        flags.setdefault(word.split("=")[0], (flag, True))
    if not flags:
        return lambda message: message
    names = "|".join(map(re.escape, sorted(flags, key=len, reverse=True)))
    value = r"True|False|None|'[^']*'|\"[^\"]*\"|[\w.+-]+"
    pattern = re.compile(rf"(?<![\w.])({names})=({value})")
    # a call spelled out in the advice, "align(..., unpaired_views=True)": the whole call is the option
    call = re.compile(rf"\b{re.escape(command)}\(\.\.\., ((?:{names})=(?:{value}))\)")

    def replace(m: re.Match[str]) -> str:
        dest, value = m.group(1), m.group(2).strip("'\"")
        if f"{dest}={value}" in aliases:
            return aliases[f"{dest}={value}"]
        flag, switch = flags[dest]
        value = _VALUE_WORDS.get((dest, value), value)
        if switch:
            if value.isdigit() and dest in _SLOTS and _SLOTS[dest] in flags:  # by_year=4: --max-seasons 4 with --by-year
                return f"{flags[_SLOTS[dest]][0]} {value} (with {flag})"
            return flag if value == "True" and flag not in aliases.values() else m.group(0)
        if value not in choices[dest] and value.lower() in choices[dest]:  # harmonize=False: --harmonize false
            value = value.lower()
        return m.group(0) if value == "None" else f"{flag} {value}"

    larger = re.compile(rf"\ba larger ({names})\b")

    def more(m: re.Match[str]) -> str:
        dest = m.group(1)
        if dest in _SLOTS and _SLOTS[dest] in flags and flags[dest][1]:
            return f"a larger {flags[_SLOTS[dest]][0]} (with {flags[dest][0]})"
        return f"a larger {flags[dest][0]}"

    def words(message: str) -> str:
        message = call.sub(lambda m: pattern.sub(replace, m.group(1)), message)
        return larger.sub(more, pattern.sub(replace, message))

    return words
