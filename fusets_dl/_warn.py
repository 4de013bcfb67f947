"""Warnings that point at the user's line, however deep in the package they are raised."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

_PKG = str(Path(__file__).resolve().parent)


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
    frame = sys._getframe(1)
    level = 2
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PKG):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)
