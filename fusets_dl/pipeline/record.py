"""A region's run record: the digest of its configuration, inputs and model, and the check of its store's chunks.

A resumed run compares the digest with the one recorded when the region
started and refuses to mix two configurations in one store (unless told to
restart); it also checks, cheaply (metadata and chunk files, no data read),
that the tiles marked done are in the store, so a tile deleted after a kill
is redone and a store deleted after it finished is written again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ResumeError

__all__ = ["check_record", "missing_tiles", "region_digest", "store_grid"]

#: Files up to this size are hashed whole; larger ones by size, mtime and their first and last 4 MiB.
_FULL_HASH_LIMIT = 64 << 20
_EDGE = 4 << 20


def _file_digest(p: Path) -> str:
    """SHA-256 of a file (or, for a large one, of its size, mtime and both ends); of a folder, its listing."""
    h = hashlib.sha256()
    if p.is_dir():
        for q in sorted(p.rglob("*")):
            if q.is_file():
                st = q.stat()
                h.update(f"{q.relative_to(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return h.hexdigest()
    st = p.stat()
    with open(p, "rb") as fh:
        if st.st_size <= _FULL_HASH_LIMIT:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        else:
            h.update(f"{st.st_size}\0{st.st_mtime_ns}".encode())
            h.update(fh.read(_EDGE))
            fh.seek(st.st_size - _EDGE)
            h.update(fh.read(_EDGE))
    return h.hexdigest()


def _pair_digest(stem: str) -> str:
    """SHA-256 over a saved model's (or segmenter's) sidecar and weights files."""
    s = Path(stem)
    s = s.with_suffix("") if s.suffix in (".json", ".safetensors") else s
    h = hashlib.sha256()
    for suffix in (".json", ".safetensors"):
        q = s.with_name(s.name + suffix)
        h.update(_file_digest(q).encode() if q.exists() else b"missing")
    return h.hexdigest()


def region_digest(rc: Any, model_cfg: dict[str, Any], cube_note: str | None = None) -> dict[str, str]:
    """Digests of what decides a region's output: its configuration, its input files and a loaded model.

    Parameters
    ----------
    rc : RegionConfig
        The region.
    model_cfg : dict
        The run's ``model`` section.
    cube_note : str, optional
        Describes an in-memory cube given instead of the input files.

    Returns
    -------
    dict
        ``config`` (the region's options but its files, and the ``model``
        section), ``inputs`` (the input files' paths and contents), ``model``
        (the files of a loaded model and segmenter), as SHA-256 hex
        digests, and ``digest`` over the three.
    """
    conf = {k: v for k, v in dataclasses.asdict(rc).items() if k not in ("s1", "s2")}  # which files: part of ``inputs``
    conf = json.loads(json.dumps({"region": conf, "model": model_cfg}, sort_keys=True, default=str))
    parts = {"config": hashlib.sha256(json.dumps(conf, sort_keys=True).encode()).hexdigest()}
    if cube_note is not None:
        parts["inputs"] = hashlib.sha256(cube_note.encode()).hexdigest()
    else:
        h = hashlib.sha256()
        for p in [*rc.s1, *rc.s2]:
            h.update(f"{p}\0{_file_digest(Path(p))}\n".encode())
        parts["inputs"] = h.hexdigest()
    h = hashlib.sha256()
    if model_cfg.get("mode") == "load":
        h.update(_pair_digest(model_cfg["path"]).encode())
    if rc.classes.get("segmenter"):
        h.update(_pair_digest(rc.classes["segmenter"]).encode())
    parts["model"] = h.hexdigest()
    parts["digest"] = hashlib.sha256("".join(parts[k] for k in ("config", "inputs", "model")).encode()).hexdigest()
    return parts


def check_record(recorded: dict[str, Any], now: dict[str, str], region: str) -> None:
    """Refuse to resume a region whose configuration, inputs or model changed since it started.

    Parameters
    ----------
    recorded : dict
        The record written when the region started.
    now : dict
        :func:`region_digest` of this run.
    region : str
        The region name, for the message.

    Raises
    ------
    ResumeError
        Naming what changed and how to start over (``--restart``).
    """
    if recorded.get("digest") == now["digest"]:
        return
    changed = [k for k in ("config", "inputs", "model") if recorded.get(k) != now[k]] or ["record"]
    what = {"config": "its configuration", "inputs": "its input files", "model": "the model (or segmenter) files", "record": "its run record"}
    raise ResumeError(
        f"region {region}: cannot resume: {' and '.join(what[c] for c in changed)} changed since the region was started "
        f"(expected digest {str(recorded.get('digest'))[:16]}..., found {now['digest'][:16]}...); the store would mix two runs. "
        "Rerun with --restart (run(..., restart=True)) to discard this region's outputs and start it again, "
        "or restore the previous configuration"
    )


def _arrays(store: Path) -> dict[str, dict[str, Any]] | None:
    """Name -> (dims, shape, chunks, chunk key function) of every array of a local Zarr store; None when unreadable."""
    out: dict[str, dict[str, Any]] = {}
    try:
        root = json.loads((store / "zarr.json").read_text()) if (store / "zarr.json").is_file() else None
        names = sorted(root.get("consolidated_metadata", {}).get("metadata", {})) if root else []
        if root is None:  # Zarr v2
            names = [d.name for d in store.iterdir() if (d / ".zarray").is_file()]
        for name in names:
            d = store / name
            if root is not None:
                m = json.loads((d / "zarr.json").read_text())
                if m.get("node_type") != "array":
                    continue
                enc = m.get("chunk_key_encoding", {"name": "default"})
                sep = enc.get("configuration", {}).get("separator", "/" if enc.get("name") == "default" else ".")
                prefix = "c" + sep if enc.get("name") == "default" else ""
                out[name] = {"dims": m.get("dimension_names") or [], "shape": m["shape"],
                             "chunks": m["chunk_grid"]["configuration"]["chunk_shape"], "sep": sep, "prefix": prefix}
            else:
                m = json.loads((d / ".zarray").read_text())
                attrs = json.loads((d / ".zattrs").read_text()) if (d / ".zattrs").is_file() else {}
                out[name] = {"dims": attrs.get("_ARRAY_DIMENSIONS", []), "shape": m["shape"], "chunks": m["chunks"],
                             "sep": m.get("dimension_separator", "."), "prefix": ""}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return out


def store_grid(store: Path) -> tuple[int, int] | None:
    """The ``(y, x)`` sizes of a local Zarr store from its metadata alone.

    Parameters
    ----------
    store : Path
        The store.

    Returns
    -------
    tuple of int or None
        None when the store is missing, its metadata are unreadable, or no
        array has both ``y`` and ``x``.
    """
    arrays = _arrays(store) if store.is_dir() else None
    for a in (arrays or {}).values():
        if "y" in a["dims"] and "x" in a["dims"]:
            return a["shape"][a["dims"].index("y")], a["shape"][a["dims"].index("x")]
    return None


def _key(a: dict[str, Any], idx: Sequence[int]) -> str:
    if not idx:
        return a["prefix"].rstrip("/.") or "0"
    return a["prefix"] + a["sep"].join(str(i) for i in idx)


def _chunk_ranges(a: dict[str, Any], window: dict[str, slice]) -> list[range]:
    out = []
    for d, n, c in zip(a["dims"], a["shape"], a["chunks"], strict=True):
        s = window.get(d, slice(0, n))
        out.append(range(s.start // c, math.ceil(s.stop / c)) if s.stop > s.start else range(0))
    return out


def missing_tiles(store: Path, tiles: Sequence[tuple[slice, slice]]) -> list[int] | None:
    """The tiles of ``store`` with a chunk file missing (no chunk is read).

    Parameters
    ----------
    store : Path
        A region's local Zarr store, written with every chunk present
        (``write_empty_chunks=True``).
    tiles : sequence of (slice, slice)
        The ``(y, x)`` windows of the tiles.

    Returns
    -------
    list of int or None
        Indices of incomplete tiles; None when the store itself is missing
        or its metadata are unreadable (the layout must be written again).
    """
    if not store.is_dir():
        return None
    arrays = _arrays(store)
    if not arrays:
        return None
    tiled = {n: a for n, a in arrays.items() if "y" in a["dims"] and "x" in a["dims"]}
    present: dict[str, set[str]] = {}
    for name in tiled:
        base = store / name
        present[name] = {str(p.relative_to(base)).replace(os.sep, "/") for p in base.rglob("*") if p.is_file()}
    bad = []
    for k, (ys, xs) in enumerate(tiles):
        for name, a in tiled.items():
            rngs = _chunk_ranges(a, {"y": ys, "x": xs})
            if any(_key(a, idx) not in present[name] for idx in _product(rngs)):
                bad.append(k)
                break
    return bad


def _product(rngs: list[range]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for r in rngs:
        out = [(*o, i) for o in out for i in r]
    return out
