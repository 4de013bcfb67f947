"""Model files as a user names them: the shipped names, paths with ``~``, sidecars read with a ModelError for every fault."""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._safeio import read_pair
from ..errors import FusionError, ModelError

__all__ = ["PRETRAINED", "check_metadata", "is_real", "model_path", "read_model_pair"]

#: Names :func:`load_model` resolves to models shipped in the package
#: (``fusets_dl/models/pretrained/<stem>.json`` and ``.safetensors``):
#: name -> file stem. ``"pretrained"`` is the general model of
#: ``pipelines/pretrain.py`` (see ``docs/pretrained.md``).
PRETRAINED: dict[str, str] = {"pretrained": "general", "pretrained-general": "general"}


def is_real(v: Any) -> bool:
    """Whether ``v`` is a real number (a bool or a string is not).

    Parameters
    ----------
    v : object
        A value read from a sidecar.

    Returns
    -------
    bool
        True for ints and floats (NumPy's included), False for bools,
        strings and anything else.
    """
    return isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))


#: Metadata of a sidecar and the type each must have when present (absent: empty).
_METADATA: dict[str, type] = {"config": dict, "metrics": dict, "history": list, "blocks": dict, "info": dict}


def check_metadata(meta: dict[str, Any], name: str, extra: dict[str, type] | None = None) -> None:
    """Refuse sidecar metadata of the wrong type (a hand-edited ``"info": "..."`` failed later with a TypeError).

    Parameters
    ----------
    meta : dict
        The sidecar content.
    name : str
        What to call the model in the message.
    extra : dict, optional
        More keys and their types (e.g. the sequence model's ``spec``).

    Raises
    ------
    ModelError
        A key present with a value of another type, naming each.
    """
    kinds = {**_METADATA, **(extra or {})}
    bad = [f"{k}: expected {'a list' if t is list else 'a mapping'}, found {type(meta[k]).__name__} {meta[k]!r:.60}"
           for k, t in kinds.items() if k in meta and not isinstance(meta[k], t)]
    if bad:
        raise ModelError(f"{name}: the sidecar's metadata is malformed: " + "; ".join(bad))


def model_path(path: Any, what: str = "load_model") -> Path:
    """``path`` as a :class:`~pathlib.Path` with ``~`` expanded, refusing what is not a path.

    Parameters
    ----------
    path : str or os.PathLike
        A model's path as given by the user.
    what : str
        The caller, for the message.

    Returns
    -------
    Path
        With ``~`` and ``~user`` expanded (``Path`` does not; ``~/m`` named a folder called ``~``).

    Raises
    ------
    ModelError
        ``path`` is not a ``str`` or ``os.PathLike`` (a number, None, bytes).
    """
    if not isinstance(path, (str, os.PathLike)) or isinstance(os.fspath(path), bytes):
        raise ModelError(f"{what}: expected a path (str or pathlib.Path) or one of the shipped model names {sorted(PRETRAINED)}, "
                         f"found {type(path).__name__} {path!r:.80}")
    if not os.fspath(path).strip():
        raise ModelError(f"{what}: expected a file path (the stem of the .json/.safetensors pair), found an empty string")
    return Path(path).expanduser()


def read_model_pair(path: Path, fmt: str, version: int) -> tuple[dict[str, Any], bytes, Path, Path]:
    """:func:`fusets_dl._safeio.read_pair`, with a sidecar that cannot be decoded or parsed a :class:`ModelError`.

    Parameters
    ----------
    path : Path
        The model's sidecar, weights or stem.
    fmt : str
        The expected ``format`` field.
    version : int
        The newest format version this fusets_dl reads.

    Returns
    -------
    tuple
        ``(sidecar, weights bytes, weights path, JSON path)``.

    Raises
    ------
    ModelError
        Everything :func:`~fusets_dl._safeio.read_pair` refuses, and a
        sidecar that is not UTF-8, a ``format_version`` that is not a whole
        number, or a file that cannot be read (a folder, no permission).
    """
    try:
        return read_pair(path, fmt, version)
    except FusionError:
        raise
    except (TypeError, ValueError, OSError) as exc:  # UnicodeDecodeError, int("one"), int(None), IsADirectoryError, PermissionError
        raise ModelError(f"{path.name}: expected a readable UTF-8 JSON sidecar with an integer format_version (<= {version}) "
                         f"and its .safetensors weights, found {type(exc).__name__}: {exc}") from exc
