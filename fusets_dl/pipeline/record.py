"""A region's run record: the digest of its configuration, inputs and model, and the check of its store's chunks.

A resumed run compares the digest with the one recorded when the region
started and refuses to mix two configurations in one store (unless told to
restart); it also checks that the tiles marked done are in the store, intact:
each tile's marker records the size, modification time and SHA-256 of every
chunk file the tile wrote (:func:`tile_chunks`), and :func:`tile_problems`
compares them with the files on disk: a missing chunk or one of another size
is damaged; one whose modification time changed is hashed again and damaged
if its content differs; a tile without such a record (an older marker) has
its chunks decoded, as a reader would. So a tile deleted, truncated or
overwritten after it was written is redone, and a store deleted after it
finished is written again; an untouched store costs one ``stat`` per chunk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import ResumeError

__all__ = ["check_record", "missing_tiles", "region_digest", "store_fill_values", "store_grid", "store_sizes", "tile_chunks", "tile_problems", "unreadable_arrays"]

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
        digests, ``digest`` over the three, and the package ``version``
        (a resume with another version is refused: one store, one version).
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
    parts["version"] = __version__  # tiles of two fusets_dl versions must not share a store
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
    if recorded.get("version") != now["version"]:
        raise ResumeError(
            f"region {region}: cannot resume: the region was started by fusets_dl {recorded.get('version') or 'of an older version'}, "
            f"this is {now['version']}; its tiles would mix two versions' outputs under one version's attributes. Rerun with "
            "--restart (run(..., restart=True)) to discard this region's outputs and start it again, or finish it with that version"
        )
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
                             "chunks": m["chunk_grid"]["configuration"]["chunk_shape"], "sep": sep, "prefix": prefix,
                             "fill": m.get("fill_value")}
            else:
                m = json.loads((d / ".zarray").read_text())
                attrs = json.loads((d / ".zattrs").read_text()) if (d / ".zattrs").is_file() else {}
                out[name] = {"dims": attrs.get("_ARRAY_DIMENSIONS", []), "shape": m["shape"], "chunks": m["chunks"],
                             "sep": m.get("dimension_separator", "."), "prefix": "", "fill": m.get("fill_value")}
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
    for sizes in (store_sizes(store) or {}).values():
        if "y" in sizes and "x" in sizes:
            return sizes["y"], sizes["x"]
    return None


def store_sizes(store: Path) -> dict[str, dict[str, int]] | None:
    """Each array's dimension sizes in a local Zarr store, from its metadata alone.

    Parameters
    ----------
    store : Path
        The store.

    Returns
    -------
    dict or None
        Array name -> {dimension: size}; None when the metadata are unreadable.
    """
    arrays = _arrays(store) if store.is_dir() else None
    if arrays is None:
        return None
    return {name: dict(zip(a["dims"], a["shape"], strict=False)) for name, a in arrays.items()}


def store_fill_values(store: Path) -> dict[str, Any] | None:
    """Each array's Zarr fill value in a local Zarr store (what a chunk never written reads as), from its metadata alone.

    Parameters
    ----------
    store : Path
        The store.

    Returns
    -------
    dict or None
        Array name -> fill value as stored (None where the array has none);
        None when the metadata are unreadable.
    """
    arrays = _arrays(store) if store.is_dir() else None
    if arrays is None:
        return None
    return {name: a["fill"] for name, a in arrays.items()}


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


def _tiled(store: Path) -> dict[str, dict[str, Any]] | None:
    """The arrays of ``store`` over both ``y`` and ``x`` (None when the store or its metadata are unreadable)."""
    if not store.is_dir():
        return None
    arrays = _arrays(store)
    if not arrays:
        return None
    return {n: a for n, a in arrays.items() if "y" in a["dims"] and "x" in a["dims"]}


def _tile_keys(tiled: Mapping[str, dict[str, Any]], ys: slice, xs: slice) -> list[tuple[str, str, tuple[int, ...]]]:
    """``(array, chunk key, chunk index)`` of every chunk of the tile ``(ys, xs)``."""
    out = []
    for name, a in tiled.items():
        for idx in _product(_chunk_ranges(a, {"y": ys, "x": xs})):
            out.append((name, _key(a, idx), idx))
    return out


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def tile_chunks(store: Path, ys: slice, xs: slice) -> dict[str, list[Any]]:
    """The record of a tile's chunk files, taken just after the tile was written.

    Parameters
    ----------
    store : Path
        The region's local Zarr store.
    ys, xs : slice
        The tile's window.

    Returns
    -------
    dict
        ``{"<array>/<chunk key>": [size, mtime_ns, sha256]}`` for every
        chunk of every ``(y, x)`` array in the window that is on disk;
        empty when the store's metadata are unreadable.
    """
    out: dict[str, list[Any]] = {}
    for name, key, _ in _tile_keys(_tiled(store) or {}, ys, xs):
        f = store / name / key
        try:
            st = f.stat()
            out[f"{name}/{key}"] = [st.st_size, st.st_mtime_ns, _sha256(f)]
        except OSError:
            continue  # not on disk: the check finds it missing
    return out


def _decode_problem(store: Path, name: str, a: dict[str, Any], idx: tuple[int, ...]) -> str | None:
    """Decode one chunk as a reader would; why it cannot be read, or None."""
    import zarr

    sel = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(idx, a["chunks"], a["shape"], strict=True))
    try:
        zarr.open_array(store=str(store / name), mode="r")[sel]
    except Exception as exc:  # any codec error (blosc, zstd, shape) means a reader fails on it too
        return f"cannot be decoded ({type(exc).__name__}: {str(exc)[:120]})"
    return None


def tile_problems(
    store: Path,
    tiles: Sequence[tuple[slice, slice]],
    records: Sequence[Mapping[str, Sequence[Any]] | None] | None = None,
) -> dict[int, str] | None:
    """The tiles of ``store`` with a chunk missing or damaged, and why.

    Parameters
    ----------
    store : Path
        A region's local Zarr store, written with every chunk present
        (``write_empty_chunks=True``).
    tiles : sequence of (slice, slice)
        The ``(y, x)`` windows of the tiles.
    records : sequence of mapping or None, optional
        For each tile, its :func:`tile_chunks` record, or None when there is
        none (then the tile's chunks are decoded). None: no records at all.

    Returns
    -------
    dict or None
        ``{tile index: reason}`` naming the first bad chunk of each bad
        tile (``"chunk NDVI/c/0/1/1 has 0 bytes, 5120 were written"``);
        None when the store itself is missing or its metadata are
        unreadable (the layout must be written again).

    Notes
    -----
    A chunk whose size and modification time match its record is trusted
    without reading it; one whose modification time differs is hashed and
    compared with the recorded SHA-256. So an untouched store costs one
    ``stat`` per chunk, a copied one (new times) is read once, and a
    truncated or overwritten chunk is always found.
    """
    tiled = _tiled(store)
    if tiled is None:
        return None
    present: dict[str, set[str]] = {}
    for name in tiled:
        base = store / name
        present[name] = {str(p.relative_to(base)).replace(os.sep, "/") for p in base.rglob("*") if p.is_file()}
    bad: dict[int, str] = {}
    for k, (ys, xs) in enumerate(tiles):
        record = records[k] if records is not None else None
        for name, key, idx in _tile_keys(tiled, ys, xs):
            problem = _chunk_problem(store, name, key, idx, tiled[name], present[name], record)
            if problem is not None:
                bad[k] = f"chunk {name}/{key} {problem}"
                break
    return bad


def _chunk_problem(store: Path, name: str, key: str, idx: tuple[int, ...], a: dict[str, Any], present: set[str],
                   record: Mapping[str, Sequence[Any]] | None) -> str | None:
    """Why one chunk of a tile is not as written, or None."""
    if key not in present:
        return "is missing"
    if record is None:
        return _decode_problem(store, name, a, idx)
    rec = record.get(f"{name}/{key}")
    if rec is None:
        return "is not in the tile's record (written by another layout)"
    f = store / name / key
    try:
        st = f.stat()
        if st.st_size != rec[0]:
            return f"has {st.st_size} bytes, {rec[0]} were written"
        if st.st_mtime_ns != rec[1] and _sha256(f) != rec[2]:
            return "changed since it was written (its SHA-256 differs from the record)"
    except OSError as exc:
        return f"cannot be read ({exc})"
    return None


def missing_tiles(
    store: Path,
    tiles: Sequence[tuple[slice, slice]],
    records: Sequence[Mapping[str, Sequence[Any]] | None] | None = None,
) -> list[int] | None:
    """The tiles of ``store`` with a chunk missing or damaged (see :func:`tile_problems`).

    Parameters
    ----------
    store : Path
        A region's local Zarr store, written with every chunk present
        (``write_empty_chunks=True``).
    tiles : sequence of (slice, slice)
        The ``(y, x)`` windows of the tiles.
    records : sequence of mapping or None, optional
        Each tile's :func:`tile_chunks` record (None: decode its chunks).

    Returns
    -------
    list of int or None
        Indices of incomplete tiles; None when the store itself is missing
        or its metadata are unreadable (the layout must be written again).
    """
    bad = tile_problems(store, tiles, records)
    return None if bad is None else sorted(bad)


def unreadable_arrays(store: Path) -> str | None:
    """Decode the arrays of ``store`` that are not over both ``y`` and ``x`` (the coordinates, written with the layout).

    They are small (one dimension, or none), so they are read whole.

    Parameters
    ----------
    store : Path
        The store.

    Returns
    -------
    str or None
        Why the first unreadable one cannot be read, or None when all can
        (or the metadata are unreadable, which :func:`store_grid` reports).
    """
    import zarr

    for name, a in (_arrays(store) or {}).items():
        if "y" in a["dims"] and "x" in a["dims"]:
            continue
        try:
            zarr.open_array(store=str(store / name), mode="r")[...]
        except Exception as exc:  # any codec error: a reader fails on it too
            return f"array {name!r} cannot be decoded ({type(exc).__name__}: {str(exc)[:120]})"
    return None


def _product(rngs: list[range]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for r in rngs:
        out = [(*o, i) for o in out for i in r]
    return out
