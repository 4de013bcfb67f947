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

Input files are identified by their content, not their path: the record
lists each one (role, path, size, modification time, SHA-256 of the whole
file, and for a file over 64 MiB the digest of its ends), and the inputs'
digest is taken over the SHA-256s alone. A file larger than 64 MiB is hashed
in full once (when the region starts, or when its path, size, mtime or ends
no longer match the record); while they match, the recorded SHA-256 is
trusted. So a project folder moved with ``mv`` or an input replaced by a
byte-identical copy is the same input, and a changed one is named (which file,
and whether its path, size, time and content changed). Records of an older
fusets_dl (no file list, inputs digested with their paths) are compared as
they were written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._logging import logger
from .._version import __version__
from ..errors import ResumeError

__all__ = ["check_record", "input_changes", "missing_tiles", "region_digest", "store_fill_values", "store_grid", "store_sizes", "tile_chunks", "tile_problems", "unreadable_arrays"]

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


def _edges_digest(p: Path, size: int) -> str:
    """SHA-256 of a large file's size and its first and last 4 MiB (no time: a copy has the same)."""
    h = hashlib.sha256(f"{size}".encode())
    with open(p, "rb") as fh:
        h.update(fh.read(_EDGE))
        fh.seek(max(0, size - _EDGE))
        h.update(fh.read(_EDGE))
    return h.hexdigest()


#: Full SHA-256s of large inputs hashed in this process, by (path, size, mtime, inode): regions sharing a file hash it once.
_FULL_HASHES: dict[tuple[str, int, int, int], str] = {}


def _full_sha256(p: Path, st: os.stat_result) -> str:
    """SHA-256 of the whole file ``p`` (a large one cached in this process while its path, size, time and inode are the same)."""
    if st.st_size <= _FULL_HASH_LIMIT:  # cheap: always read, so a rewrite within the same second is seen
        return _sha256(p)
    key = (str(p), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _FULL_HASHES:
        t0 = time.perf_counter()
        _FULL_HASHES[key] = _sha256(p)
        logger.info("input %s (%.1f MB) hashed in full to identify it by its content (%.1f s)", p, st.st_size / 1e6,
                    time.perf_counter() - t0)
    return _FULL_HASHES[key]


def _input_entry(role: str, path: Path, known: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One input's identity for the record: role, path, size, time, and the SHA-256 of its content (of a folder, its listing).

    A file of more than 64 MiB whose path, size, time and ends match its entry in ``known`` (the record) keeps the
    recorded SHA-256 (not read again); any other is hashed in full.
    """
    p = Path(path)
    if p.is_dir():
        return {"role": role, "path": str(p), "kind": "folder", "sha256": _file_digest(p)}
    st = p.stat()
    entry: dict[str, Any] = {"role": role, "path": str(p), "kind": "file", "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if st.st_size > _FULL_HASH_LIMIT:
        entry["edges"] = _edges_digest(p, st.st_size)
        before = known.get(str(p))
        if (before is not None and isinstance(before.get("sha256"), str)
                and all(before.get(k) == entry[k] for k in ("size", "mtime_ns", "edges"))):
            entry["sha256"] = before["sha256"]
            return entry
    entry["sha256"] = _full_sha256(p, st)
    return entry


def _legacy_inputs_digest(rc: Any) -> str:
    """The inputs' digest as fusets_dl wrote it before the record listed its files (paths, and mtime above 64 MiB)."""
    h = hashlib.sha256()
    for p in [*rc.s1, *rc.s2]:
        h.update(f"{p}\0{_file_digest(Path(p))}\n".encode())
    return h.hexdigest()


def region_digest(rc: Any, model_cfg: dict[str, Any], cube_note: str | None = None,
                  recorded: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Digests of what decides a region's output: its configuration, its input files and a loaded model.

    Parameters
    ----------
    rc : RegionConfig
        The region.
    model_cfg : dict
        The run's ``model`` section.
    cube_note : str, optional
        Describes an in-memory cube given instead of the input files.
    recorded : mapping, optional
        The region's run record of an earlier run, when there is one: a
        large input whose path, size, time and ends match its entry there is
        not hashed again; and a record of an older fusets_dl (no ``files``)
        is compared by the inputs' digest of its time (paths, and mtime above
        64 MiB), so that its regions resume as before.

    Returns
    -------
    dict
        ``config`` (the region's options but its files, and the ``model``
        section), ``inputs`` (the input files' contents, not their paths),
        ``model`` (the files of a loaded model and segmenter), as SHA-256 hex
        digests, ``digest`` over the three, the package ``version`` (a
        resume with another version is refused: one store, one version), and
        ``files`` (each input's role, path, size, time and SHA-256: what a
        refused resume names; absent for an in-memory cube).
    """
    conf = {k: v for k, v in dataclasses.asdict(rc).items() if k not in ("s1", "s2")}  # which files: part of ``inputs``
    if not conf.get("unpaired_views"):  # an option added later: off, a store of an older fusets_dl keeps its digest and resumes
        conf.pop("unpaired_views", None)
    if conf.get("bbox_crs") is None:  # likewise: unset (the data's CRS), an older store's digest is kept
        conf.pop("bbox_crs", None)
    conf = json.loads(json.dumps({"region": conf, "model": model_cfg}, sort_keys=True, default=str))
    parts: dict[str, Any] = {"config": hashlib.sha256(json.dumps(conf, sort_keys=True).encode()).hexdigest()}
    files: list[dict[str, Any]] | None = None
    if cube_note is not None:
        parts["inputs"] = hashlib.sha256(cube_note.encode()).hexdigest()
    else:
        listed = (recorded or {}).get("files")
        known = {str(e.get("path")): e for e in listed if isinstance(e, dict)} if isinstance(listed, list) else {}
        files = [_input_entry(role, p, known) for role, paths in (("s1", rc.s1), ("s2", rc.s2)) for p in paths]
        h = hashlib.sha256(b"inputs by content\n")
        for e in files:
            h.update(f"{e['role']}\0{e['sha256']}\n".encode())
        parts["inputs"] = h.hexdigest()
        if recorded is not None and "files" not in recorded and recorded.get("inputs") not in (None, parts["inputs"]):
            legacy = _legacy_inputs_digest(rc)
            if recorded.get("inputs") == legacy:  # a record of an older fusets_dl, same paths and files: the same inputs
                parts["inputs"] = legacy
    h = hashlib.sha256()
    if model_cfg.get("mode") == "load":
        h.update(_pair_digest(model_cfg["path"]).encode())
    if rc.classes.get("segmenter"):
        h.update(_pair_digest(rc.classes["segmenter"]).encode())
    parts["model"] = h.hexdigest()
    parts["digest"] = hashlib.sha256("".join(parts[k] for k in ("config", "inputs", "model")).encode()).hexdigest()
    parts["version"] = __version__  # tiles of two fusets_dl versions must not share a store
    if files is not None:
        parts["files"] = files
    return parts


def _when(ns: Any) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns / 1e9)) if isinstance(ns, int) else "unknown"


def input_changes(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Which input files differ between a run record and this run, and how (path, size, time, content).

    Parameters
    ----------
    recorded : mapping
        The record written when the region started.
    now : mapping
        :func:`region_digest` of this run.

    Returns
    -------
    list of str
        One line per changed input (``"s2 file 1 '/data/s2.nc': content changed (size 100 -> 116 bytes, ...)"``);
        empty when the record lists no files (an older fusets_dl) or none differs in content.
    """
    old, new = recorded.get("files"), now.get("files")
    if not isinstance(old, list) or not isinstance(new, list):
        return []
    out = []
    for role in ("s1", "s2"):
        a = [e for e in old if isinstance(e, dict) and e.get("role") == role]
        b = [e for e in new if e.get("role") == role]
        if len(a) != len(b):
            out.append(f"{role}: {len(a)} file(s) when the region started, {len(b)} now "
                       f"(were {[e.get('path') for e in a]}, now {[e.get('path') for e in b]})")
            continue
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x.get("sha256") == y.get("sha256"):
                continue
            how = []
            if x.get("path") != y.get("path"):
                how.append(f"path was {x.get('path')!r}")
            if x.get("size") != y.get("size"):
                how.append(f"size {x.get('size')} -> {y.get('size')} bytes")
            if x.get("mtime_ns") != y.get("mtime_ns"):
                how.append(f"modified {_when(x.get('mtime_ns'))} -> {_when(y.get('mtime_ns'))}")
            else:
                how.append("same modification time")
            how.append(f"SHA-256 {str(x.get('sha256'))[:12]}... -> {str(y.get('sha256'))[:12]}...")
            out.append(f"{role} file {i + 1} {y.get('path')!r}: its content changed ({'; '.join(how)})")
    return out


def check_record(recorded: Mapping[str, Any], now: Mapping[str, Any], region: str) -> None:
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
        Naming what changed (for input files: which one, and whether its
        path, size, time and content changed) and how to start over
        (``--restart``).
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
    detail = ""
    if "inputs" in changed:
        lines = input_changes(recorded, now)
        if lines:
            detail = " [" + "; ".join(lines) + "]"
        elif "files" not in recorded:
            detail = (" [the run record is of an older fusets_dl, which identified input files by their absolute path and, above "
                      "64 MiB, by their modification time: a moved project folder or a re-copied input reads as changed; "
                      "which file changed cannot be told]")
    raise ResumeError(
        f"region {region}: cannot resume: {' and '.join(what[c] for c in changed)} changed since the region was started{detail} "
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
    truncated or overwritten chunk is always found. A tile whose record
    names an array the store no longer holds (one removed with zarr's API,
    its metadata consolidated again) is bad too.
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
        gone = sorted({str(c).split("/", 1)[0] for c in (record or {})} - set(tiled))
        if gone:  # an array the tile wrote is no longer in the store (removed with zarr's API, metadata consolidated again)
            bad[k] = f"its array {gone[0]!r} (in the tile's record) is not in the store"
            continue
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
