"""One region of a batch run, resumable: open and align, train or load, then write tile by tile.

The store's layout (metadata and coordinates) is written first, then each
tile with a ``region=`` write; a tile is marked done (a file under
``<name>.zarr.progress/`` recording the size, time and SHA-256 of each of
its chunk files, which a resume checks) only after its data are written, and the region
(``ALL_DONE``) only after its metrics, so a run killed at any point resumes
to the same output. A region's model (and segmenter) is trained once and
saved before the first tile; a restart loads it instead of training again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .._logging import logger
from .._safeio import finish_interrupted_save
from ..errors import FusionError, ModelError, OutputError, ResumeError
from ..readers.cube import RUN_DONE_FLAG, RUN_PROGRESS_SUFFIX
from ..writers.zarr import COMPLETE_ATTR, is_our_store, set_store_complete, store_complete
from .config import RegionConfig, RunConfig, segment_config
from .heap import release_heap
from .outputs import class_summary, output_path, region_stats, write_json_atomic
from .record import (
    check_record,
    region_digest,
    store_fill_values,
    store_grid,
    store_sizes,
    tile_chunks,
    tile_problems,
    unreadable_arrays,
)
from .stage import staged_cube

__all__ = ["run_region"]

#: ``progress(region, tiles_done, tiles_total)``, called after each tile.
Progress = Callable[[str, int, int], None]


def run_region(
    cfg: RunConfig,
    rc: RegionConfig,
    cube: xr.Dataset | None = None,
    progress: Progress | None = None,
    *,
    restart: bool = False,
) -> dict[str, Any]:
    """Process one region (resumable, verified against its run record); return its summary row.

    Parameters
    ----------
    cfg : RunConfig
        The run (output root, model, report).
    rc : RegionConfig
        The region.
    cube : xarray.Dataset, optional
        Replaces opening and aligning the region's sources (used by the
        benchmarks to stream a lazy synthetic scene through the same code).
    progress : callable, optional
        ``progress(region, tiles_done, tiles_total)`` after each tile.
    restart : bool
        When the region's configuration, inputs, model or fusets_dl version
        changed since it was started: discard its earlier outputs (store,
        progress, model, metrics, report) and start it again, instead of
        refusing the resume. An unchanged region resumes.

    Returns
    -------
    dict
        ``region``, ``status`` (``"done"`` or ``"skipped (done)"``), tiles,
        tiles written now, seconds, the model's test R2 (``test_r2``: a
        per-date model's prediction on the clear views of its test blocks; a
        sequence model's gap filling of 60-day spells hidden there, its
        ``metrics["test_gaps"]``; NaN for a loaded model) and the output
        shares.

    Raises
    ------
    ResumeError
        The configuration, inputs or model changed since the region was
        started (and ``restart`` is False), or the store path holds
        something fusets_dl did not write.
    OutputError
        A tile could not be written (the tiles before it are kept; a rerun resumes).

    Notes
    -----
    A region is skipped as done only when its completion flag and its
    metrics are on disk, its coordinates decode, and every chunk of every
    tile is as the tile wrote it (size, and SHA-256 when the file's time
    changed: :func:`fusets_dl.pipeline.record.tile_problems`); a tile
    marked done whose chunks are missing or damaged is written again (the
    log names the tile and the chunk), and a store that is gone (or whose
    metadata or coordinates are unreadable) is rebuilt. When this run trains a model or
    segmenter, the aligned cube is first computed once into a scratch store
    (``<name>.zarr.progress/staged-cube.zarr``, deleted when the region
    ends; see :mod:`fusets_dl.pipeline.stage`) that training and the tiles read.
    """
    store = output_path(cfg.output_root, rc.name, ".zarr")
    progress_dir = output_path(cfg.output_root, rc.name, ".zarr" + RUN_PROGRESS_SUFFIX)
    done_flag = progress_dir / RUN_DONE_FLAG
    digest = region_digest(rc, cfg.model, None if cube is None else f"in-memory cube {dict(cube.sizes)} {sorted(map(str, cube.data_vars))}",
                           recorded=_read_record(progress_dir / _RECORD))
    with _disk_full(rc, "writing the run record", progress_dir / _RECORD, "what earlier runs of this region finished is kept"):
        discard = _check_record(cfg, rc, store, progress_dir, digest, restart)
    timings: dict[str, float] = {}
    if discard:  # --restart of a changed region: its inputs are opened and checked before its outputs are discarded
        cube, summary = _region_cube(rc, cube, timings, _reads_cloudy(cfg))
        _check_output_dates(cube, rc)
        _discard_region(cfg, rc, store, progress_dir)
        with _disk_full(rc, "writing the run record", progress_dir / _RECORD, "nothing of this region is left to lose"):
            progress_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(progress_dir / _RECORD, digest, indent=2)
    if done_flag.exists():
        why = _incomplete(cfg, rc, store, progress_dir)
        if why is None:
            logger.info("region %s: already complete (store, metrics and every chunk of every tile verified), skipped", rc.name)
            report = output_path(cfg.output_root, rc.name, ".report")
            if cfg.report and not report.exists():  # report: true added after the region finished (not in its record)
                logger.info("region %s: its report is missing: written now from the store", rc.name)
                metrics_path = output_path(cfg.output_root, rc.name, ".metrics.json")
                _write_report(cfg, rc, store, json.loads(metrics_path.read_text()))
            return {"region": rc.name, "status": "skipped (done)", **json.loads(done_flag.read_text())}
        logger.warning("region %s: marked complete but %s: redoing what is missing or damaged", rc.name, why)
        done_flag.unlink()
    if not discard:
        cube, summary = _region_cube(rc, cube, timings, _reads_cloudy(cfg))
        _check_output_dates(cube, rc)  # before training: a freq or time_range phenology cannot use fails now, not after it
    scratch = progress_dir / _STAGED
    try:
        if _trains(cfg, rc):  # training reads the cube twice and the tiles once more: compute it once
            t0 = time.perf_counter()
            with _disk_full(rc, "staging the aligned cube", scratch, "what earlier runs of this region finished is kept"):
                cube = staged_cube(cube, scratch)
            timings["stage cube"] = time.perf_counter() - t0
            release_heap()
        model = _region_model(cfg, rc, cube, timings)
        segmenter = _region_segmenter(cfg, rc, cube, timings)
        release_heap()  # what staging and training freed, before the tiles
        out = _template(cube, model, rc, segmenter)
        tiles = _tiles(out.sizes["y"], out.sizes["x"], rc.tile_size)
        with _disk_full(rc, "writing the store's layout", store, "no tile was written yet"):
            _write_layout(cfg, rc, out, model, store, progress_dir, timings)
        written = _write_tiles(rc, out, store, progress_dir, tiles, progress, timings)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    logger.info("region %s: stage timings (s) %s", rc.name, {k: round(v, 2) for k, v in timings.items()})
    stats = region_stats(store, rc.classes.get("keep") if segmenter is not None else None)
    metrics = {"region": rc.name, "funnel": summary, "model_sha256": model.sha256, "model_metrics": model.metrics,
               "tiles": len(tiles), "tiles_written_now": written, "timings_s": timings, "output": stats}
    if cfg.model["mode"] == "load":
        metrics["model_loaded_from"] = str(cfg.model["path"])
    if segmenter is not None:
        metrics["phenology_by_class"] = class_summary(store, rc.classes.get("keep"))
    metrics_path = output_path(cfg.output_root, rc.name, ".metrics.json")
    with _disk_full(rc, "writing the metrics", metrics_path, f"every tile ({len(tiles)}) is written and kept"):
        write_json_atomic(metrics_path, metrics, indent=2, default=float)
    if cfg.report:
        _write_report(cfg, rc, store, metrics)
    # the held-out R2 of a model trained on this region; a loaded model's is of its own training site: not this region's
    test_r2 = float("nan") if cfg.model["mode"] == "load" else float(model.metrics.get("test", {}).get("r2", float("nan")))
    row = {"tiles": len(tiles), "written": written, "seconds": round(sum(timings.values()), 1), "test_r2": round(test_r2, 3), **stats}
    with _disk_full(rc, "marking the region done", done_flag, "its tiles and metrics are written and kept"):
        # the store says it is finished (a copy without its .progress folder too), then the flag: both only once all is written
        set_store_complete(store, True)
        write_json_atomic(done_flag, row)  # last: the region is done only once everything above is written
    return {"region": rc.name, "status": "done", **row}


_RECORD = "RECORD.json"
#: The region's aligned cube, staged while the region trains and writes its tiles (deleted after).
_STAGED = "staged-cube.zarr"


def _check_record(cfg: RunConfig, rc: RegionConfig, store: Path, progress_dir: Path, digest: dict[str, str], restart: bool) -> bool:
    """Compare the region's run record with this run (refuse a changed one unless ``restart``); write it when new.

    Returns whether the region's earlier outputs are to be discarded (``restart`` of a changed region): the caller
    does it once this run's inputs have opened and passed their checks, so that a typo in the configuration does not
    cost a finished region.
    """
    from ..writers import check_replaceable

    record = progress_dir / _RECORD
    artefacts = [output_path(cfg.output_root, rc.name, f"{kind}.json") for kind in (".model", ".segmenter")]
    started = store.exists() or store.is_symlink() or progress_dir.exists() or any(a.exists() for a in artefacts)
    if started and not record.exists() and _adopt_finished_store(rc, store, progress_dir, digest):
        return False
    if started and not restart:
        if not record.exists():
            if store.exists() or store.is_symlink():
                check_replaceable(store, f"region {rc.name}")
                _refuse_ours_without_progress(rc, store, progress_dir, digest)
            raise ResumeError(
                f"region {rc.name}: cannot resume: expected a run record {str(record)!r} (written when a region starts), "
                "found none: the outputs were made by another program or an older fusets_dl. Rerun with --restart "
                "(run(..., restart=True)) to discard them and start the region again"
            )
        if _only_the_record(store, progress_dir, artefacts):
            # an earlier run stopped before writing anything (a bad input, a typo in the configuration): nothing to mix
            logger.info("region %s: an earlier run left only its record, no output: started afresh", rc.name)
            write_json_atomic(record, digest, indent=2)
            return False
        try:
            recorded = json.loads(record.read_text())
        except (OSError, ValueError) as exc:
            raise ResumeError(f"region {rc.name}: run record {str(record)!r} unreadable ({exc}); rerun with --restart") from exc
        check_record(recorded, digest, rc.name)
        _update_record(record, recorded, digest)
        return False
    if started and _unchanged(record, digest):  # --restart starts again only the regions whose record no longer matches
        broken = None if (progress_dir / RUN_DONE_FLAG).exists() else _unloadable_artefact(cfg, rc)
        if broken is not None:  # an unfinished region whose saved model does not load: every resume would fail on it
            logger.warning("region %s: --restart: unchanged since it started, but %s: started again", rc.name, broken)
            return True
        _update_record(record, json.loads(record.read_text()), digest)
        logger.info("region %s: --restart: unchanged since it started (configuration, inputs, model): resumed, not discarded",
                    rc.name)
        return False
    if started:
        return True
    progress_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(record, digest, indent=2)
    return False


def _unchanged(record: Path, digest: dict[str, str]) -> bool:
    """Whether the region's run record exists, is readable and matches this run (nothing to discard)."""
    try:
        recorded = json.loads(record.read_text())
        check_record(recorded, digest, "")
    except (OSError, ValueError, ResumeError):
        return False
    return True


def _read_record(record: Path) -> dict[str, Any] | None:
    """The region's run record, or None when there is none or it cannot be read (then it is refused later, with the reason)."""
    try:
        recorded = json.loads(record.read_text())
    except (OSError, ValueError):
        return None
    return recorded if isinstance(recorded, dict) else None


def _update_record(record: Path, recorded: dict[str, Any], digest: dict[str, Any]) -> None:
    """Rewrite a matching run record whose file list changed (an input moved, or copied with a new time: the same content),
    so that the next resume does not hash those files again. A record of an older fusets_dl (no file list) is left as it is."""
    if "files" in recorded and recorded.get("files") != digest.get("files") and recorded.get("digest") == digest["digest"]:
        moved = [f"{e.get('path')} (was {o.get('path')})" for o, e in zip(recorded["files"], digest["files"], strict=False)
                 if isinstance(o, dict) and o.get("path") != e.get("path")]
        if moved:
            logger.info("region %s: input files moved, their content unchanged: %s", record.parent.name, "; ".join(moved))
        write_json_atomic(record, digest, indent=2)


def _unloadable_artefact(cfg: RunConfig, rc: RegionConfig) -> str | None:
    """Why the model or segmenter an earlier run of this region saved cannot be loaded (damaged, truncated), or None."""
    from ..models import load_model
    from ..segmentation import load_segmenter

    for suffix, load in ((".model", load_model), (".segmenter", load_segmenter)):
        stem = output_path(cfg.output_root, rc.name, suffix)
        finish_interrupted_save(stem)
        if not Path(str(stem) + ".json").exists():
            continue
        try:
            load(stem)
        except (ModelError, OSError, ValueError) as exc:
            return f"its saved {suffix.lstrip('.')} {str(stem)!r} (.json/.safetensors) cannot be loaded ({exc})"
    return None


def _store_attrs(store: Path) -> dict[str, Any]:
    """The root attributes of a local Zarr v3 store (empty when unreadable)."""
    try:
        attrs = json.loads((store / "zarr.json").read_text()).get("attributes", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return attrs if isinstance(attrs, dict) else {}


def _ours_with_this_digest(store: Path, digest: dict[str, Any]) -> bool:
    """Whether ``store`` was written by this fusets_dl version for this region's configuration, inputs and model."""
    attrs = _store_attrs(store) if is_our_store(store) else {}
    return bool(attrs) and attrs.get("fusets_dl_run_digest") == digest["digest"] and attrs.get("fusets_dl_version") == digest["version"]


def _adopt_finished_store(rc: RegionConfig, store: Path, progress_dir: Path, digest: dict[str, Any]) -> bool:
    """A finished store of this run whose progress folder was deleted: its record and tile markers written again.

    The store says it is complete (:data:`COMPLETE_ATTR` true) and carries this run's digest and version. The markers
    are written without their chunk records, so the resume decodes every chunk of every tile once (as for markers of an
    older fusets_dl), writes again any tile that does not decode, and records the rest.
    """
    if store.is_symlink() or not store.is_dir() or store_complete(store) is not True or not _ours_with_this_digest(store, digest):
        return False
    grid = store_grid(store)
    if grid is None:
        return False
    progress_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(progress_dir / _RECORD, digest, indent=2)
    tiles = _tiles(grid[0], grid[1], rc.tile_size)
    for k, (ys, xs) in enumerate(tiles):
        marker = _marker(progress_dir, k)
        with _disk_full(rc, f"marking tile {k + 1} done", marker, "the store is kept"):
            write_json_atomic(marker, {"y": [ys.start, ys.stop], "x": [xs.start, xs.stop]})
    logger.warning("region %s: its progress folder %s was gone, but its store is a finished one of this run (same "
                   "fusets_dl version and run digest, %s true): record and tile markers written again; every chunk of its "
                   "%d tiles is decoded once to verify it", rc.name, progress_dir, COMPLETE_ATTR, len(tiles))
    return True


def _refuse_ours_without_progress(rc: RegionConfig, store: Path, progress_dir: Path, digest: dict[str, Any]) -> None:
    """Refuse, naming the case, a store of this run (same digest) whose progress folder is gone but that is not known finished."""
    if not _ours_with_this_digest(store, digest):
        return
    said = {True: "true", False: "false (it was interrupted)", None: "absent (a store of an older fusets_dl)"}[store_complete(store)]
    raise ResumeError(
        f"region {rc.name}: cannot resume: the store {str(store)!r} is this run's (same fusets_dl version and run digest "
        f"{digest['digest'][:16]}...), but its progress folder {str(progress_dir)!r}, which records the tiles written, is "
        f"gone, and the store does not say it finished (root attribute {COMPLETE_ATTR} {said}): which of its tiles are "
        "whole cannot be told. Restore the progress folder, or rerun with --restart (run(..., restart=True)) to discard "
        "the region's outputs and start it again"
    )


def _only_the_record(store: Path, progress_dir: Path, artefacts: list[Path]) -> bool:
    """Whether a region's earlier run wrote nothing but its run record (no store, model, segmenter or tile marker)."""
    if store.exists() or store.is_symlink() or any(a.exists() for a in artefacts):
        return False
    return all(p.name == _RECORD for p in progress_dir.iterdir()) if progress_dir.is_dir() else False


def _discard_region(cfg: RunConfig, rc: RegionConfig, store: Path, progress_dir: Path) -> None:
    """Delete a region's earlier outputs for ``restart`` (the store only if fusets_dl wrote it)."""
    from ..writers import check_replaceable

    if store.exists() or store.is_symlink():
        # a store of this region (its run record is there) that an interrupted --restart left without its root metadata
        if not ((progress_dir / _RECORD).exists() and _broken_store_of_ours(store)):
            check_replaceable(store, f"region {rc.name} --restart")
        shutil.rmtree(store)
    shutil.rmtree(progress_dir, ignore_errors=True)
    for suffix in (".model.json", ".model.safetensors", ".segmenter.json", ".segmenter.safetensors", ".metrics.json"):
        output_path(cfg.output_root, rc.name, suffix).unlink(missing_ok=True)
    report = output_path(cfg.output_root, rc.name, ".report")  # that folder only: not a user's kept copy beside it
    if report.is_dir() and not report.is_symlink():
        shutil.rmtree(report)
    logger.warning("region %s: --restart: earlier outputs discarded", rc.name)


def _incomplete(cfg: RunConfig, rc: RegionConfig, store: Path, progress_dir: Path) -> str | None:
    """Why a region flagged done is not complete (its metrics, coordinates, or a chunk of a tile), or None when it is."""
    grid = store_grid(store)
    if grid is None:
        return "its store is missing or its metadata are unreadable"
    if not output_path(cfg.output_root, rc.name, ".metrics.json").exists():
        return "its metrics file is missing"
    if store_complete(store) is False:
        return f"its store's root attribute {COMPLETE_ATTR} is false"
    coords = unreadable_arrays(store)
    if coords is not None:
        return f"in its store, {coords}"
    tiles = _tiles(grid[0], grid[1], rc.tile_size)
    records = [_marker_chunks(progress_dir, k) for k in range(len(tiles))]
    bad = tile_problems(store, tiles, records)
    if bad:
        return "; ".join(f"tile {k + 1}/{len(tiles)}: {why}" for k, why in sorted(bad.items()))
    for k, rec in enumerate(records):  # older markers, their chunks decoded just now: record them, so the next resume is cheap
        if rec is None and _marker(progress_dir, k).exists():
            _write_marker(rc.name, progress_dir, k, *tiles[k], tile_chunks(store, *tiles[k]))
    return None


def _marker(progress_dir: Path, k: int) -> Path:
    return progress_dir / f"tile-{k:05d}"


def _marker_chunks(progress_dir: Path, k: int) -> dict[str, list[Any]] | None:
    """The chunk record in tile ``k``'s marker; None when the marker is missing, unreadable or has none (an older fusets_dl)."""
    try:
        chunks = json.loads(_marker(progress_dir, k).read_text()).get("chunks")
    except (OSError, ValueError, AttributeError):
        return None
    return chunks if isinstance(chunks, dict) else None


def _write_marker(region: str, progress_dir: Path, k: int, ys: slice, xs: slice, chunks: dict[str, list[Any]]) -> None:
    """Mark tile ``k`` done, with the record of its chunk files (written atomically, after the data)."""
    marker = _marker(progress_dir, k)
    with _disk_full(region, f"marking tile {k + 1} done", marker, "its data and the tiles marked before it are kept"):
        write_json_atomic(marker, {"y": [ys.start, ys.stop], "x": [xs.start, xs.stop], "chunks": chunks})


def _reads_cloudy(cfg: RunConfig) -> bool:
    """Whether the run's model reads the cloudy NDVI (``FeatureSpec(cloudy_input=True)``): the cube must keep it."""
    from ..features import FeatureSpec

    if cfg.model["mode"] == "load":
        from ..models import load_model

        return bool(getattr(getattr(load_model(cfg.model["path"]), "spec", None), "cloudy_input", False))
    return FeatureSpec.from_dict(cfg.model.get("features") or {}).cloudy_input


def _region_cube(rc: RegionConfig, cube: xr.Dataset | None, timings: dict[str, float],
                 keep_cloudy: bool = False) -> tuple[xr.Dataset, dict[str, Any]]:
    """The region's fusion cube and its funnel summary (opened and aligned unless given), timed."""
    t0 = time.perf_counter()
    if cube is None:
        cube, summary = _open_region(rc, keep_cloudy)
    else:
        summary = {"source": "in-memory cube"}
    timings["open+align"] = time.perf_counter() - t0
    return cube, summary


def _check_output_dates(cube: xr.Dataset, rc: RegionConfig) -> None:
    """Refuse a region whose reconstruction dates (``freq`` over the cube's dates) phenology cannot use, before any training.

    The same rules as :func:`fusets_dl.phenology` applies to its input: at
    least 4 dates, and ``min_valid``, ``period`` and ``step_days`` that fit
    them (:func:`fusets_dl.phenometrics.options.check_against_series`).
    Before, ``freq: 400D`` or a ``time_range`` of a few weeks failed only
    when the store's layout was built, after the model was trained.
    """
    import inspect

    import pandas as pd

    from ..errors import ConfigError
    from ..phenometrics import phenology
    from ..phenometrics.options import check_against_series
    from ..reconstruction.kernels import freq_grid

    t = pd.DatetimeIndex(cube["time"].values)
    out = freq_grid(t, rc.freq) if rc.freq is not None and t.size else t
    grid = f"freq {rc.freq}" if rc.freq is not None else "the cube's dates, freq null"
    span = f"{t[0].date()} .. {t[-1].date()}" if t.size else "no dates"
    what = f"region {rc.name}: phenology of the reconstruction's {out.size} dates ({grid}, cube {span})"
    if out.size < 4:
        hint = "a shorter freq or a longer time_range" if rc.freq is not None else "a longer time_range (or a freq such as '5D')"
        raise ConfigError(f"{what}: expected at least 4 dates, found {out.size}: {hint}")
    defaults = {k: p.default for k, p in inspect.signature(phenology).parameters.items() if p.default is not inspect.Parameter.empty}
    options = {**defaults, **rc.phenology}
    if options.get("period") is not None:
        options["period"] = tuple(options["period"])
    check_against_series(out, options, what)


def _s1_footprint(s1: xr.Dataset) -> tuple[float, float, float, float]:
    """The outer edges of the S1 pixels (minx, miny, maxx, maxy): the box S2 is clipped to.

    A region's ``bbox`` off the S1 grid keeps every S1 pixel it touches,
    each with its whole area, while the same box on the finer S2 grid kept
    only the S2 pixels inside it: an S1 pixel cut by the box lost part of
    its S2 and, at ``min_clear_fraction=1``, all its NDVI (14 % of a 21 x 20
    region's pixels, the edge rows and columns). Clipped to the S1 pixels'
    edges, S2 covers every S1 pixel kept.

    Parameters
    ----------
    s1 : xarray.Dataset
        The S1 input, clipped to the region's ``bbox``.

    Returns
    -------
    tuple of float
        The box, in the S1 CRS (:func:`~fusets_dl.readers.open_s2` carries
        it into the S2 CRS when they differ: every S2 pixel its envelope
        there touches is kept).
    """
    x, y = np.asarray(s1["x"].values, dtype=np.float64), np.asarray(s1["y"].values, dtype=np.float64)
    rx = abs(float(x[1] - x[0])) / 2 if x.size > 1 else 0.0
    ry = abs(float(y[1] - y[0])) / 2 if y.size > 1 else 0.0
    return float(x.min()) - rx, float(y.min()) - ry, float(x.max()) + rx, float(y.max()) + ry


def _open_region(rc: RegionConfig, keep_cloudy: bool = False) -> tuple[xr.Dataset, dict[str, Any]]:
    from ..alignment import align
    from ..alignment.summary import SUMMARY_ATTR
    from ..readers import open_s1, open_s2

    chunks = {"y": rc.chunk, "x": rc.chunk}
    s1 = open_s1([str(p) for p in rc.s1] if len(rc.s1) > 1 else rc.s1[0], chunks=chunks, units=rc.s1_units, time_range=rc.time_range, bbox=rc.bbox,
                 bbox_crs=rc.bbox_crs)
    # S2 clipped to the S1 pixels kept, that box given in S1's CRS: open_s2 carries it into S2's when they differ
    # (S1 from HyP3 in one UTM zone, S2 tiles in the next); align's reprojection does the rest
    s2 = open_s2([str(p) for p in rc.s2] if len(rc.s2) > 1 else rc.s2[0], chunks={"y": rc.chunk * 2, "x": rc.chunk * 2}, time_range=rc.time_range,
                 bbox=_s1_footprint(s1) if rc.bbox is not None else None, bbox_crs=s1.rio.crs if rc.bbox is not None else None,
                 harmonize=rc.harmonize)
    # a model reading the cloudy NDVI needs it kept (without it, it predicted from its baseline: up to 0.08 off, silently)
    # the funnel counted at align (one pass, as summarise's would be): the metrics hold the S2 counts, and align warns
    # of clear views paired to no S1 date in a batch run too (a lazy cube's funnel had neither)
    cube = align(s1, s2, tolerance=rc.tolerance, outlier_filter=rc.outlier_filter, keep_cloudy=keep_cloudy, unpaired_views=rc.unpaired_views,
                 compute_summary=True)
    summary = json.loads(cube.attrs[SUMMARY_ATTR])
    cube = cube.chunk({"time": -1, "y": rc.chunk, "x": rc.chunk})
    # the region names the site: a model trained here records it, and one loaded for another region of the same
    # dates is then known as foreign (transfer-skill check, calibration on the cube, the sequence model's std refit)
    cube.attrs["site"] = rc.name
    return cube, summary


def _trained_once(cfg: RunConfig, rc: RegionConfig, suffix: str, load: Callable[[Path], Any], fit: Callable[[], Any],
                  timings: dict[str, float], key: str) -> Any:
    """A region's trained artefact: reloaded when an earlier run saved it, else fitted, saved (before any tile) and timed."""
    stem = output_path(cfg.output_root, rc.name, suffix)
    finish_interrupted_save(stem)  # a kill between the save's two renames: the pair made whole (it failed every resume)
    if Path(str(stem) + ".json").exists():
        logger.info("region %s: loading the %s trained by an earlier run", rc.name, suffix.lstrip("."))
        try:
            return load(stem)
        except (ModelError, OSError, ValueError) as exc:
            files = f"{stem.name}.json and {stem.name}.safetensors"
            raise ModelError(
                f"region {rc.name}: expected the {suffix.lstrip('.')} an earlier run of this region saved "
                f"({str(stem) + '.json/.safetensors'!r}) to load, found: {exc}. Rerun with --restart (run(..., restart=True)): "
                f"the region is then started again (its inputs checked first), or delete {files} in {str(stem.parent)!r} to train it again "
                "(its store is written again if the new one differs)"
            ) from exc
    t0 = time.perf_counter()
    out = fit()
    with _disk_full(rc, f"saving the trained {suffix.lstrip('.')}", stem,
                    "no tile was written yet, and the rerun trains it again"):
        out.save(stem)
    timings[key] = time.perf_counter() - t0
    return out


#: The errors of a full disk or an exhausted quota (EDQUOT is missing on some platforms).
_NO_SPACE = {errno.ENOSPC} | ({errno.EDQUOT} if hasattr(errno, "EDQUOT") else set())


@contextlib.contextmanager
def _disk_full(region: RegionConfig | str, what: str, path: Path, kept: str) -> Iterator[None]:
    """A full disk (or quota) while ``what`` becomes an :class:`OutputError` naming the step, the path and the free space.

    The bare ``[Errno 28] No space left on device`` of the writers named neither
    the step nor what a rerun keeps. Other errors pass unchanged.
    """
    name = region if isinstance(region, str) else region.name
    try:
        yield
    except OSError as exc:
        if exc.errno not in _NO_SPACE or isinstance(exc, FusionError):
            raise
        # a quota is not the disk's free space: that figure would mislead
        room = ("free space within your quota" if exc.errno != errno.ENOSPC else f"free on that disk: {_free_space(path)}")
        raise OutputError(
            f"region {name}: {what} at {str(path)!r} failed: {exc.strerror or exc} ({room}); "
            f"expected free space for it. {kept[0].upper() + kept[1:]}: free space and rerun the same command to resume"
        ) from exc


def _free_space(path: Path) -> str:
    """The free space of the disk holding ``path`` (its nearest existing parent), in MB, or ``"unknown"``."""
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return f"{shutil.disk_usage(p).free / 1e6:.1f} MB"
    except OSError:
        return "unknown"


def _trains(cfg: RunConfig, rc: RegionConfig) -> bool:
    """Whether this run trains the region's model or segmenter (none saved by an earlier run, none to load)."""
    def saved(suffix: str) -> bool:
        return Path(str(output_path(cfg.output_root, rc.name, suffix)) + ".json").exists()

    model = cfg.model["mode"] != "load" and not saved(".model")
    segmenter = bool(rc.classes) and "segmenter" not in rc.classes and not saved(".segmenter")
    return model or segmenter


def _region_model(cfg: RunConfig, rc: RegionConfig, cube: xr.Dataset, timings: dict[str, float]) -> Any:
    """The region's fusion model: the configured one (``mode: load``), or trained on the region once."""
    from ..features import FeatureSpec
    from ..models import load_model
    from ..training import TrainConfig, train

    if cfg.model["mode"] == "load":
        return load_model(cfg.model["path"])
    spec = FeatureSpec.from_dict(cfg.model.get("features") or {})
    tc = TrainConfig.from_dict(cfg.model.get("train") or {})
    return _trained_once(cfg, rc, ".model", load_model, lambda: train(cube, spec, tc), timings, "train")


def _region_segmenter(cfg: RunConfig, rc: RegionConfig, cube: xr.Dataset, timings: dict[str, float]) -> Any:
    """The region's segmenter: loaded, reused from an earlier run, or trained on the region (no labels)."""
    from ..segmentation import load_segmenter, train_segmenter

    if not rc.classes:
        return None
    if "segmenter" in rc.classes:
        return load_segmenter(rc.classes["segmenter"])
    return _trained_once(cfg, rc, ".segmenter", load_segmenter, lambda: train_segmenter(cube, segment_config(rc.classes)), timings, "segmenter")


def _template(cube: xr.Dataset, model: Any, rc: RegionConfig, segmenter: Any = None) -> xr.Dataset:
    """The full output of a region, lazily (its layout is written before the tiles).

    With a segmenter the output holds its ``class`` map, and phenology is
    computed only on the pixels of ``classes.keep`` (all classes when absent).
    """
    from ..phenometrics import phenology
    from ..reconstruction import reconstruct

    rec = reconstruct(cube, model, freq=rc.freq)
    pheno_kw = dict(rc.phenology)
    if "period" in pheno_kw and pheno_kw["period"] is not None:
        pheno_kw["period"] = tuple(pheno_kw["period"])
    ndvi = rec["NDVI"]
    parts = [rec]
    if segmenter is not None:
        from ..segmentation import segment

        classes = segment(cube, segmenter=segmenter)
        keep = rc.classes.get("keep")
        if keep:
            ndvi = ndvi.where(classes.isin(keep))
            classes.attrs["phenology_classes"] = json.dumps(keep)
        parts.append(classes.to_dataset())
    ph = phenology(ndvi, **{"max_seasons": 3, **pheno_kw}, observed=rec["source"])
    out = xr.merge([*parts, ph], compat="override", combine_attrs="drop_conflicts")
    # the reconstruction's own description wins (drop_conflicts lost its smoothing and title to phenology's);
    # phenology's differing ones are kept under a prefix
    out.attrs.update({f"phenology_{k}": v for k, v in ph.attrs.items() if k in rec.attrs and ph.attrs[k] != rec.attrs[k]})
    out.attrs.update(rec.attrs)
    out.attrs["model_calibration_sha256"] = _calibration_digest(model)
    chunks = {"time": -1, "season": -1, "y": rc.tile_size, "x": rc.tile_size}
    return out.chunk({k: v for k, v in chunks.items() if k in out.dims})


def _tiles(ny: int, nx: int, size: int) -> list[tuple[slice, slice]]:
    """The tiles of a ``ny`` x ``nx`` grid, row by row (the last ones smaller)."""
    return [(slice(i, min(i + size, ny)), slice(j, min(j + size, nx))) for i in range(0, ny, size) for j in range(0, nx, size)]


def _write_layout(cfg: RunConfig, rc: RegionConfig, out: xr.Dataset, model: Any, store: Path, progress_dir: Path,
                  timings: dict[str, float]) -> None:
    """Write the store's layout (metadata, coordinates) unless an intact one of this model exists; tiles fill it with region= writes.

    A store that is gone, whose metadata are unreadable, or that was made
    by another model (a model file deleted and trained again) is written
    again (only if fusets_dl wrote it), and the tile markers of the old one
    are void.
    """
    from ..writers import check_replaceable, provenance_attrs, to_zarr

    for stale in cfg.output_root.glob(f".{store.name}.tmp-*"):  # a layout write killed part-way
        shutil.rmtree(stale, ignore_errors=True)
    progress_dir.mkdir(parents=True, exist_ok=True)
    reason = _layout_problem(store, model, out)
    if reason is not None:
        if store.exists() or store.is_symlink():
            if _broken_store_of_ours(store):
                shutil.rmtree(store)  # unreadable without its root metadata, and ours: nothing in it can be kept
            else:
                check_replaceable(store, f"region {rc.name}")
            logger.warning("region %s: %s: writing the store again", rc.name, reason)
        t0 = time.perf_counter()
        region_cfg = {k: v for k, v in dataclasses.asdict(rc).items() if k not in ("name", "s1", "s2")}  # every option that shaped it
        prov = provenance_attrs(model_sha256=model.sha256, config={"region": rc.name, "model": cfg.model, **region_cfg},
                                inputs=[str(p) for p in rc.s1 + rc.s2])
        prov["fusets_dl_run_digest"] = json.loads((progress_dir / _RECORD).read_text())["digest"]
        prov[COMPLETE_ATTR] = False  # until its last tile is written: set true just before the region's ALL_DONE
        to_zarr(out, store, provenance=prov, compute=False, overwrite=True)
        for p in progress_dir.glob("tile-*"):  # markers of an older store are void
            p.unlink()
        timings["layout"] = time.perf_counter() - t0
    elif store_complete(store) is True:  # resumed to write tiles again: unfinished until they are
        set_store_complete(store, False)


def _broken_store_of_ours(store: Path) -> bool:
    """A store of this region (its run record exists) whose root metadata are gone: only array folders are left."""
    if store.is_symlink() or not store.is_dir() or (store / "zarr.json").exists() or (store / ".zgroup").exists():
        return False
    entries = list(store.iterdir())
    return all(e.is_dir() and not e.is_symlink() and ((e / "zarr.json").exists() or (e / "c").is_dir() or (e / ".zarray").exists()) for e in entries)


def _calibration_digest(model: Any) -> str:
    """A digest of what of a model decides its reconstruction beside its weights: a sequence model's std calibration, a
    per-date model's stored reconstruction setting (``model.sha256`` covers only the weights).

    Parameters
    ----------
    model : FusionModel or SequenceModel
        The region's model.

    Returns
    -------
    str
        SHA-256 hexadecimal digest of that state as sorted JSON.
    """
    state = getattr(model, "calibration", None) if getattr(model, "kind", None) == "sequence" else (getattr(model, "info", None) or {}).get("reconstruction")
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


def _layout_problem(store: Path, model: Any, out: xr.Dataset) -> str | None:
    """Why the store's layout must be written (again), or None when it is intact and made by ``model``."""
    if not store.exists():
        return "no store yet"
    try:
        attrs = json.loads((store / "zarr.json").read_text()).get("attributes", {})
    except (OSError, ValueError):
        return "its metadata are missing or unreadable"
    if store_grid(store) is None:
        return "the metadata of some arrays are missing or unreadable"
    coords = unreadable_arrays(store)
    if coords is not None:
        return coords
    if attrs.get("model_sha256") != model.sha256:
        return f"it was written by another model (sha256 {str(attrs.get('model_sha256'))[:16]}..., now {model.sha256[:16]}...)"
    found = attrs.get("model_calibration_sha256")  # absent from stores of before 2026-11-28
    if found is not None and found != _calibration_digest(model):
        return ("it was written with another calibration of this model (the same weights, recalibrated since, e.g. by "
                "calibrate_sequence): resumed tiles would carry another NDVI_std")
    return _shape_problem(store, out) or _coords_problem(store, out) or _fill_problem(store, out)


def _coords_problem(store: Path, out: xr.Dataset) -> str | None:
    """Why the store's ``y``/``x`` are not this run's (the same sizes, another order or place), or None.

    A store laid out before ``align`` put its cubes north-up (2026-11-28)
    from S1 stored y-increasing has this run's sizes, but its rows run the
    other way: the tiles still to write would land mirrored (rows written
    twice, others never), so its layout is written again.
    """
    import zarr

    try:
        group = zarr.open_group(str(store), mode="r")
        for dim in ("y", "x"):
            if dim in out.coords and dim in group:
                found = np.asarray(group[dim][...])
                want = np.asarray(out[dim].values)
                if found.shape == want.shape and not np.allclose(found, want, rtol=0, atol=1e-9 * max(1.0, float(np.abs(want).max()))):
                    return (f"its {dim} coordinates ({found[0]:g} .. {found[-1]:g}) are not this run's ({want[0]:g} .. {want[-1]:g}): "
                            "another place or order (a layout of an older fusets_dl, which kept S1's storage order)")
    except Exception as exc:  # unreadable coordinates: unreadable_arrays has said so already, or will
        logger.debug("region: coordinates of %s not compared: %s", store, exc)
    return None


def _fill_problem(store: Path, out: xr.Dataset) -> str | None:
    """Why the store's counts and flags would read as valid values where a tile is never written (a layout of an older fusets_dl), or None."""
    from ..writers import unwritten_fill_values

    found = store_fill_values(store) or {}
    for name, want in unwritten_fill_values(out).items():
        have = found.get(name, want)
        if have is not None and have != want and (store / name / "zarr.json").is_file():  # Zarr v3 layouts only: the run writes v3
            return (f"its array {name!r} reads {have} where a tile is not written yet, this run's layout {want} (a layout of an "
                    "older fusets_dl, whose unwritten tiles read as valid values)")
    return None


def _shape_problem(store: Path, out: xr.Dataset) -> str | None:
    """Why the store's arrays cannot take this run's output (an array missing, another output grid: an older fusets_dl), or None."""
    sizes = store_sizes(store) or {}
    missing = sorted(str(n) for n in out.variables if str(n) not in sizes)
    if missing:  # removed with zarr's API and the metadata consolidated again: the region= writes would fail on it
        return f"its array(s) {missing} are missing, this run writes them (removed from the store, or a store of an older fusets_dl without them?)"
    for name, da in out.variables.items():
        found = sizes.get(str(name))
        want = {str(d): int(n) for d, n in zip(da.dims, da.shape, strict=True)}
        if found is not None and found != want:
            return f"its array {name!r} has the sizes {found}, this run writes {want} (another output grid: an older fusets_dl?)"
    return None


def _tile_workers(n_tiles: int) -> int:
    """How many tiles to compute at once: the local pool's threads, at most ``n_tiles``; one under a distributed client.

    One tile is one output chunk, so a tile's task chain (features,
    prediction, reconstruction, phenology) runs on one thread; tiles one
    after another leave every other core, and a GPU, waiting.
    """
    import os

    import dask

    try:
        from distributed import get_client

        get_client()
        # A distributed client: one tile at a time. Concurrent ``to_zarr`` calls from several
        # threads of one client share upstream keys, and the first to finish releases keys the
        # others still wait for (KeyError in the client); the cluster parallelises within a tile.
        return 1
    except (ImportError, ValueError):
        pass
    threads = dask.config.get("num_workers", None) or os.cpu_count() or 1
    return max(1, min(int(threads), n_tiles))


@contextlib.contextmanager
def _torch_threads_per_tile(workers: int) -> Iterator[None]:
    """Torch's intra-op threads split between the tiles computed at once (restored after).

    Each tile thread predicts with torch; with torch's default (one thread
    per core) in every tile thread, ``workers`` tiles would run
    ``workers`` x cores threads, which spin against each other. Left alone
    when one tile runs at a time or torch is not loaded.
    """
    import os
    import sys

    torch = sys.modules.get("torch")
    if torch is None or workers < 2:
        yield
        return
    before = torch.get_num_threads()
    per_tile = max(1, (os.cpu_count() or 1) // workers)
    if per_tile < before:
        torch.set_num_threads(per_tile)
        logger.info("tiles: %d at once, torch at %d intra-op thread(s) each (was %d)", workers, per_tile, before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _write_tiles(rc: RegionConfig, out: xr.Dataset, store: Path, progress_dir: Path, tiles: list[tuple[slice, slice]],
                 progress: Progress | None, timings: dict[str, float]) -> int:
    """Write the tiles not marked done (or marked but with chunks missing or damaged), each marked only after its data; return how many.

    Tiles are computed concurrently (:func:`_tile_workers` at a time), each
    into its own region of the store (tiles do not share chunks), so the
    output is the same as one after another; a tile's marker is written as
    soon as its data are. When a tile fails, no further tile starts, the
    running ones finish and are marked, and the error is raised.
    """
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    t0 = time.perf_counter()
    marked = [k for k in range(len(tiles)) if _marker(progress_dir, k).exists()]
    records = {k: _marker_chunks(progress_dir, k) for k in marked}
    found = tile_problems(store, [tiles[k] for k in marked], [records[k] for k in marked])
    broken = {marked[i]: why for i, why in found.items()} if found is not None else dict.fromkeys(marked, "the store is unreadable")
    todo = []
    for k in range(len(tiles)):
        if k in records:
            if k not in broken:
                if records[k] is None:  # an older marker, its chunks decoded just now: record them for the next resume
                    _write_marker(rc.name, progress_dir, k, *tiles[k], tile_chunks(store, *tiles[k]))
                continue
            logger.warning("region %s: tile %d/%d was marked done but some of its chunks are missing or damaged (%s): writing it again",
                           rc.name, k + 1, len(tiles), broken[k])
            _marker(progress_dir, k).unlink()
        todo.append(k)
    written, error = 0, None
    workers = _tile_workers(len(todo)) if todo else 1
    with _torch_threads_per_tile(workers), ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fusets-tile") as pool:
        queue = iter(todo)
        running = {}

        def _submit() -> None:
            k = next(queue, None)
            if k is not None:
                running[pool.submit(_write_tile, rc, out, store, k, len(tiles), *tiles[k])] = k

        for _ in range(workers):
            _submit()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                k = running.pop(fut)
                if fut.exception() is not None:
                    error = error or fut.exception()
                    continue
                _write_marker(rc.name, progress_dir, k, *tiles[k], fut.result())  # only after the data
                written += 1
                logger.info("region %s: tile %d/%d written", rc.name, k + 1, len(tiles))
                if progress is not None:  # tiles done so far (in completion order, which concurrency may change)
                    progress(rc.name, len(tiles) - len(todo) + written, len(tiles))
                if error is None:
                    _submit()
    timings["tiles"] = time.perf_counter() - t0
    if error is not None:
        raise error
    return written


def _write_tile(rc: RegionConfig, out: xr.Dataset, store: Path, k: int, n_tiles: int, ys: slice, xs: slice) -> dict[str, list[Any]]:
    """Compute tile ``k``, write it into its region of the store, and return the record of its chunk files (:func:`tile_chunks`)."""
    tile = out.isel(y=ys, x=xs)
    tile = tile.drop_vars([v for v in tile.variables if not set(tile[v].dims) & {"y", "x"}])
    try:
        tile.to_zarr(store, region={"y": ys, "x": xs}, mode="r+", write_empty_chunks=True)  # every chunk on disk: resume checks them
    except OSError as exc:
        raise OutputError(
            f"region {rc.name}: writing tile {k + 1}/{n_tiles} to {store} failed ({exc}); expected a writable store "
            f"with free space. The {k} tiles before it are complete and kept: free space and rerun to resume"
        ) from exc
    finally:
        release_heap()  # the tile's arrays are freed: without this the process keeps their pages, tile after tile (see heap.py)
    return tile_chunks(store, ys, xs)


def _write_report(cfg: RunConfig, rc: RegionConfig, store: Path, metrics: dict[str, Any]) -> None:
    """The region's report; a failure is logged, never raised (the region's data are already written)."""
    from ..evaluation.report import report_from_store

    try:
        report_from_store(store, output_path(cfg.output_root, rc.name, ".report"), metrics=metrics)
    except Exception as exc:  # the report is derived output: the region's data are already written
        logger.warning("region %s: report not written: %s", rc.name, exc)
