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

from .errors import ModelError

__all__ = ["json_default", "read_pair", "stem", "write_pair"]


def json_default(o: Any) -> Any:
    """JSON for NumPy scalars and arrays and paths."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def stem(path: str | Path) -> Path:
    """``model.json``, ``model.safetensors`` and ``model`` all name the stem ``model``."""
    p = Path(path)
    return p.with_suffix("") if p.suffix in (".json", ".safetensors") else p


def write_pair(path: str | Path, blob: bytes, sidecar: Callable[[str], dict[str, Any]]) -> Path:
    """Write ``<stem>.safetensors`` and ``<stem>.json`` (``sidecar(sha256)``) via temporary names; return the JSON path.

    An interrupted save never leaves a half-written file under the final name.
    """
    s = stem(path)
    s.parent.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256(blob).hexdigest()
    w_path, j_path = s.with_name(s.name + ".safetensors"), s.with_name(s.name + ".json")
    tmp_w, tmp_j = w_path.with_name(w_path.name + ".tmp"), j_path.with_name(j_path.name + ".tmp")
    tmp_w.write_bytes(blob)
    tmp_j.write_text(json.dumps(sidecar(sha), indent=2, default=json_default))
    tmp_w.replace(w_path)
    tmp_j.replace(j_path)
    return j_path


def read_pair(path: str | Path, fmt: str, version: int, what: str = "model") -> tuple[dict[str, Any], bytes, Path, Path]:
    """Read and check a pair written by :func:`write_pair`: (sidecar, weights bytes, weights path, JSON path).

    Raises
    ------
    ModelError
        A missing file, a sidecar that is not JSON, another format, a newer
        format version, or weights whose SHA-256 differs from the sidecar's.
    """
    s = stem(path)
    w_path, j_path = s.with_name(s.name + ".safetensors"), s.with_name(s.name + ".json")
    for p in (w_path, j_path):
        if not p.exists():
            raise ModelError(f"{what} file missing: expected {p.name} beside {s.name}, found none in {str(p.parent)!r}")
    try:
        meta = json.loads(j_path.read_text())
    except json.JSONDecodeError as exc:
        raise ModelError(f"{what} sidecar {j_path.name} is not valid JSON (truncated or edited?): {exc}") from exc
    if meta.get("format") != fmt:
        raise ModelError(f"{j_path.name}: expected format {fmt!r}, found {meta.get('format')!r}")
    if int(meta.get("format_version", -1)) > version:
        raise ModelError(f"{j_path.name}: format version {meta.get('format_version')} is newer than this fusets_dl ({version})")
    blob = w_path.read_bytes()
    sha = hashlib.sha256(blob).hexdigest()
    if sha != meta.get("weights_sha256"):
        raise ModelError(
            f"{w_path.name}: SHA-256 of the weights is {sha[:16]}..., the sidecar expects "
            f"{str(meta.get('weights_sha256'))[:16]}...: the file was modified, truncated or belongs to another {what}"
        )
    return meta, blob, w_path, j_path
