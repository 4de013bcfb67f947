"""Package-wide options, set globally or for a ``with`` block (as ``xarray.set_options``).

>>> import fusets_dl as fdl
>>> with fdl.set_options(device="cpu", precision="float32"):
...     pass  # every stage in here runs on the CPU in float32 unless told otherwise

A function argument left at ``None`` takes the option's current value; an
argument given explicitly always wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from .errors import ConfigError

__all__ = ["OPTIONS", "get_options", "set_options"]

OPTIONS: dict[str, Any] = {
    "device": "auto",
    "precision": "auto",
    "batch_size": None,
    "progress": True,
}


def _device(v: Any) -> bool:
    return isinstance(v, str) and (v in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d+", v) is not None)


_VALIDATORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "device": (_device, "'auto', 'cpu', 'cuda' or 'cuda:N'"),
    "precision": (lambda v: v in ("auto", "float32", "bfloat16"), "'auto', 'float32' or 'bfloat16'"),
    "batch_size": (lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v > 0), "None or a positive int"),
    "progress": (lambda v: isinstance(v, bool), "True or False"),
}


class set_options:  # lower case like xarray.set_options: it reads as a function
    """Set options globally, or for a ``with`` block only.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda", "cuda:N"}
        Where torch work runs; "auto" is CUDA when present, else the CPU.
    precision : {"auto", "float32", "bfloat16"}
        Inference precision; "auto" is bfloat16 where the hardware computes it natively.
    batch_size : int or None
        Rows per forward pass at inference; None picks one per device.
    progress : bool
        Show progress on long work (:mod:`fusets_dl.progress`): on a terminal,
        tqdm bars for the training epochs (loss, ETA), the tiles of a batch
        run and Dask computations; elsewhere one INFO log line per epoch.
        False: no bars, epoch lines at DEBUG.

    Raises
    ------
    ConfigError
        An unknown option name or a value of the wrong kind.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.old: dict[str, Any] = {}
        for k, v in kwargs.items():
            if k not in OPTIONS:
                raise ConfigError(f"set_options: unknown option {k!r}; expected one of {sorted(OPTIONS)}")
            ok, expected = _VALIDATORS[k]
            if not ok(v):
                raise ConfigError(f"set_options: {k} expected {expected}, found {v!r}")
            self.old[k] = OPTIONS[k]
        OPTIONS.update(kwargs)

    def __enter__(self) -> set_options:
        return self

    def __exit__(self, *exc: object) -> None:
        OPTIONS.update(self.old)


def get_options() -> dict[str, Any]:
    """A copy of the current options.

    Returns
    -------
    dict
        Option name -> current value.
    """
    return dict(OPTIONS)


def option(name: str, value: Any = None) -> Any:
    """``value`` when given, else the current option ``name``.

    Parameters
    ----------
    name : str
        An option of :data:`OPTIONS`.
    value : optional
        A caller's explicit argument; None means "take the option".

    Returns
    -------
    object
        The value to use.
    """
    return OPTIONS[name] if value is None else value
