"""Warnings that point at the user's line, however deep in the package they are raised."""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

_PKG = str(Path(__file__).resolve().parent)

#: The messages shown within the current :func:`once_per_call` scope (None outside one).
_SHOWN: ContextVar[set[str] | None] = ContextVar("fusets_dl_warnings_shown", default=None)

_F = TypeVar("_F", bound=Callable[..., Any])


def once_per_call(func: _F) -> _F:
    """Decorate a public function so that :func:`warn_user` shows each message once per call of it.

    Python shows a warning once per place, but a ``warnings.catch_warnings``
    anywhere in between (pandas, the package's own) resets that: a
    reconstruction warned twice that the cube's backscatter coefficient was
    not the model's (its calibration's prediction and its own). Nested
    decorated calls share the outermost scope.

    Parameters
    ----------
    func : callable
        The function.

    Returns
    -------
    callable
        The function, warning each message once per call.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _SHOWN.get() is not None:
            return func(*args, **kwargs)
        token = _SHOWN.set(set())
        try:
            return func(*args, **kwargs)
        finally:
            _SHOWN.reset(token)

    return wrapper  # type: ignore[return-value]


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` with the stack level of the first frame outside fusets_dl.

    A fixed ``stacklevel`` is right for one call path only: the same check
    reached through ``predict_ndvi``, ``reconstruct`` or the accessor would
    point into the library. This walks the stack to the caller's own code.

    Parameters
    ----------
    message : str
        The warning.
    category : type
        The warning class.
    """
    shown = _SHOWN.get()
    if shown is not None:  # within a once_per_call scope: each message once
        if message in shown:
            return
        shown.add(message)
    frame = sys._getframe(1)
    level = 2
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PKG):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
