"""Exceptions raised by fusets_dl.

Every error derives from :class:`FusionError`, so ``except fdl.errors.FusionError``
catches anything the library raises on purpose. Messages say what was
expected and what was found. :class:`Terminated` is not an error: it is the
``KeyboardInterrupt`` a batch run raises on SIGTERM or SIGHUP.
"""

from __future__ import annotations

__all__ = [
    "CRSMismatchError",
    "ConfigError",
    "DimensionError",
    "DuplicateTimeError",
    "EncodingError",
    "FusionError",
    "GridMismatchError",
    "InsufficientDataError",
    "LockError",
    "MissingVariableError",
    "ModelError",
    "OutputError",
    "ResumeError",
    "SourceError",
    "StoreExistsError",
    "TableError",
    "Terminated",
    "TimeOverlapError",
]


class FusionError(Exception):
    """Base class of every error raised by fusets_dl."""


class SourceError(FusionError, FileNotFoundError):
    """An input path does not exist or has a format that cannot be read."""


class MissingVariableError(FusionError, KeyError):
    """A required band or variable is not in the input."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class DimensionError(FusionError, ValueError):
    """Dimensions are missing, misnamed or of the wrong size."""


class EncodingError(FusionError, ValueError):
    """Values are not in the declared or detectable encoding (dB, linear, DN)."""


class DuplicateTimeError(FusionError, ValueError):
    """The time coordinate holds duplicated timestamps."""


class GridMismatchError(FusionError, ValueError):
    """Two inputs are on grids that do not overlap or cannot be matched."""


class CRSMismatchError(GridMismatchError):
    """Two inputs have different or missing coordinate reference systems."""


class TimeOverlapError(FusionError, ValueError):
    """Two inputs have no common time span."""


class InsufficientDataError(FusionError, ValueError):
    """Too few valid samples survive the masks for the requested stage."""


class ModelError(FusionError, ValueError):
    """A model file is corrupt, tampered with or made for other features."""


class ConfigError(FusionError, ValueError):
    """A configuration (YAML or keyword arguments) is invalid."""


class LockError(FusionError, RuntimeError):
    """Another run holds the output root."""


class OutputError(FusionError, OSError):
    """Writing an output failed (disk full, permissions); what was complete before is kept."""


class StoreExistsError(FusionError, FileExistsError):
    """The output store exists and overwriting was not asked for."""


class TableError(FusionError, ValueError):
    """A point table whose columns or rows do not match a known convention (found vs expected in the message)."""


class ResumeError(FusionError, RuntimeError):
    """A run cannot resume: the configuration, inputs or model changed since it started, or the output is not ours."""


class Terminated(KeyboardInterrupt):
    """A batch run stopped by SIGTERM (a scheduler's time limit or ``scancel``, ``kill``) or SIGHUP (its terminal closed).

    Raised in the main thread like Ctrl-C, so the run's lock and scratch
    files are removed on the way out; the finished tiles are kept and the
    same command resumes. Not a :class:`FusionError`: nothing was wrong.
    """
