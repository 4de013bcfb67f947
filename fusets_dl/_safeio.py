"""Weights as safetensors plus a JSON sidecar carrying their SHA-256: written atomically, read with checks.

Shared by :class:`fusets_dl.FusionModel` and :class:`fusets_dl.Segmenter`;
nothing here unpickles.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._logging import logger
from ._warn import warn_user
from .errors import ModelError, StoreExistsError

__all__ = ["finish_interrupted_save", "is_sidecar", "json_default", "read_pair", "sidecar_digest", "stem", "write_pair"]


def json_default(o: Any) -> Any:
    """JSON for NumPy scalars and arrays and paths."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def sidecar_digest(meta: dict[str, Any]) -> str:
    """SHA-256 of a sidecar's canonical JSON (sorted keys, no spaces), leaving out its own ``sidecar_sha256``."""
    body = {k: v for k, v in json.loads(json.dumps(meta, default=json_default)).items() if k != "sidecar_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def stem(path: str | Path) -> Path:
    """``model.json``, ``model.safetensors`` and ``model`` all name the stem ``model``."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".json", ".safetensors") else p


def write_pair(path: str | Path, blob: bytes, sidecar: Callable[[str], dict[str, Any]]) -> Path:
    """Write ``<stem>.safetensors`` and ``<stem>.json`` (``sidecar(sha256)``) via temporary names; return the JSON path.

    An interrupted save never leaves a half-written file under the final name,
    and a JSON file there that is not a fusets_dl sidecar (a user's own file)
    is never replaced: :class:`StoreExistsError`.
    """
    s = stem(path)
    s.parent.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256(blob).hexdigest()
    w_path, j_path = s.with_name(s.name + ".safetensors"), s.with_name(s.name + ".json")
    if j_path.exists() and not is_sidecar(j_path):
        raise StoreExistsError(f"save: {str(j_path)!r} exists and is not a fusets_dl model sidecar (no fusets_dl 'format' and "
                               "'weights_sha256'); it was left as it is. Save under another name, or remove that file")
    if w_path.exists() and not j_path.exists():
        raise StoreExistsError(f"save: {str(w_path)!r} exists without a fusets_dl sidecar {j_path.name!r} beside it (weights of "
                               "another tool, or of a model whose sidecar was removed); it was left as it is. Save under another "
                               "name, or remove that file")
    tmp_w, tmp_j = w_path.with_name(w_path.name + ".tmp"), j_path.with_name(j_path.name + ".tmp")
    tmp_w.write_bytes(blob)
    meta = sidecar(sha)
    meta["sidecar_sha256"] = sidecar_digest(meta)  # the sidecar (scaler, spec, architecture) is part of the identity
    tmp_j.write_text(json.dumps(meta, indent=2, default=json_default))
    tmp_w.replace(w_path)
    tmp_j.replace(j_path)
    return j_path


def is_sidecar(path: Path) -> bool:
    """Whether ``path`` holds a JSON object written by :func:`write_pair` (format and weights digest keys).

    Parameters
    ----------
    path : Path
        A JSON file.

    Returns
    -------
    bool
        False for a missing, unreadable or foreign file.
    """
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(meta, dict) and str(meta.get("format", "")).startswith("fusets_dl.") and "weights_sha256" in meta


def read_pair(path: str | Path, fmt: str, version: int, what: str = "model") -> tuple[dict[str, Any], bytes, Path, Path]:
    """Read and check a pair written by :func:`write_pair`: (sidecar, weights bytes, weights path, JSON path).

    Raises
    ------
    ModelError
        A missing file (or a folder in its place), a sidecar that is not
        UTF-8 JSON, another format, a format version that is not a whole
        number or is newer, weights whose SHA-256 differs from the sidecar's, or
        a sidecar whose content differs from its recorded SHA-256 (edited).
    """
    s = stem(path)
    w_path, j_path = s.with_name(s.name + ".safetensors"), s.with_name(s.name + ".json")
    for p in (w_path, j_path):
        if not p.exists():
            raise ModelError(f"{what} file missing: expected {p.name} beside {s.name}, found none in {str(p.parent)!r}")
        if not p.is_file():
            raise ModelError(f"{what} file {str(p)!r}: expected a file, found a folder")
    try:
        meta = json.loads(j_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ModelError(f"{what} sidecar {j_path.name}: expected a readable UTF-8 JSON sidecar, found {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"{what} sidecar {j_path.name} is not valid JSON (truncated or edited?): {exc}") from exc
    if not isinstance(meta, dict):
        raise ModelError(f"{what} sidecar {j_path.name}: expected a JSON object, found {type(meta).__name__}")
    if meta.get("format") != fmt:
        raise ModelError(f"{j_path.name}: expected format {fmt!r}, found {meta.get('format')!r}")
    found_version = meta.get("format_version", -1)
    if isinstance(found_version, bool) or not isinstance(found_version, int):
        raise ModelError(f"{j_path.name}: expected an integer format_version, found {found_version!r} (a hand-edited sidecar?)")
    if found_version > version:
        raise ModelError(f"{j_path.name}: format version {meta.get('format_version')} is newer than this fusets_dl ({version})")
    blob = w_path.read_bytes()
    sha = hashlib.sha256(blob).hexdigest()
    if sha != meta.get("weights_sha256"):
        raise ModelError(
            f"{w_path.name}: SHA-256 of the weights is {sha[:16]}..., the sidecar expects "
            f"{str(meta.get('weights_sha256'))[:16]}...: the file was modified, truncated or belongs to another {what}"
            + _interrupted_save(j_path, sha)
        )
    _check_sidecar(meta, j_path, what)
    return meta, blob, w_path, j_path


def finish_interrupted_save(path: str | Path) -> bool:
    """Complete a save that stopped between its two renames: the new weights in place, their sidecar still ``<name>.json.tmp``.

    Parameters
    ----------
    path : str or Path
        The pair's stem (or either file).

    Returns
    -------
    bool
        True when ``<stem>.json`` was missing, ``<stem>.json.tmp`` is a
        sidecar whose ``weights_sha256`` is that of ``<stem>.safetensors``,
        and it was renamed into place (the pair is whole again); False,
        touching nothing, otherwise.
    """
    s = stem(path)
    w_path, j_path = s.with_name(s.name + ".safetensors"), s.with_name(s.name + ".json")
    tmp = j_path.with_name(j_path.name + ".tmp")
    if j_path.exists() or not (w_path.is_file() and tmp.is_file()):
        return False
    try:
        pending = json.loads(tmp.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    if not isinstance(pending, dict) or pending.get("weights_sha256") != hashlib.sha256(w_path.read_bytes()).hexdigest():
        return False
    tmp.replace(j_path)
    logger.warning("%s: a save had stopped before its last rename; its sidecar %s was put in place", s.name, tmp.name)
    return True


def _interrupted_save(j_path: Path, sha: str) -> str:
    """A hint when a save stopped between its two renames: the new weights in place, their sidecar still ``<name>.json.tmp``."""
    tmp = j_path.with_name(j_path.name + ".tmp")
    try:
        pending = json.loads(tmp.read_text(encoding="utf-8")) if tmp.is_file() else None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return ""
    if isinstance(pending, dict) and pending.get("weights_sha256") == sha:
        return (f"; {tmp.name} beside it is the sidecar of these weights (a save that stopped before its last rename): "
                f"rename {tmp.name} to {j_path.name} to load them, or save the model again")
    return ""


def _check_sidecar(meta: dict[str, Any], j_path: Path, what: str) -> None:
    """Refuse a sidecar edited after it was saved (its canonical JSON no longer has the recorded SHA-256)."""
    recorded = meta.get("sidecar_sha256")
    if recorded is None:  # a user-visible warning: an edited scaler here shifts every prediction under the same model_sha256
        msg = (f"{j_path.name}: the sidecar carries no sidecar_sha256 (saved by an older fusets_dl, or the key was removed): its "
               f"scaler, feature spec and architecture cannot be checked, and the {what}'s sha256 (written into outputs as "
               f"model_sha256) identifies its weights only; save the {what} again to protect it")
        logger.warning(msg)
        warn_user(msg)
        return
    found = sidecar_digest(meta)
    if found != recorded:
        raise ModelError(
            f"{j_path.name}: SHA-256 of the sidecar's content is {found[:16]}..., it records {str(recorded)[:16]}...: "
            f"the sidecar (scaler, feature spec, architecture, ...) was edited after the {what} was saved; "
            f"expected the sidecar written with the weights"
        )
