"""Resumable batch runs over regions: open, align, train or load, reconstruct, phenology, Zarr.

A YAML config lists regions; every region becomes ``<root>/<name>.zarr``
(reconstructed NDVI with ``NDVI_std`` and ``source``, and phenology), plus
``<name>.metrics.json`` and ``<name>.log``. Regions are processed tile by
tile: the store's layout is written first, then each tile with a ``region=``
write; a tile is marked done (a file under ``<name>.zarr.progress/``) only
after its data are written, so a run killed at any point and started again
skips finished tiles and regions and ends with the same output as an
uninterrupted run. The model of a region is trained once and saved before
the first tile (safetensors + JSON); a restart loads it instead of training
again. A lock file keeps two runs off the same output root.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from .._logging import logger
from ..errors import ConfigError, LockError, OutputError

__all__ = ["LockError", "OutputError", "RegionConfig", "RunConfig", "load_config", "run"]

_TOP_KEYS = {"output_root", "regions", "model", "defaults", "dask", "report"}
_REGION_KEYS = {"name", "s1", "s2", "bbox", "time_range", "tile_size", "chunk", "tolerance", "freq", "outlier_filter", "phenology", "s1_units", "classes"}
_MODEL_KEYS = {"mode", "path", "features", "train"}
_DASK_KEYS = {"workers", "scheduler", "threads_per_worker"}
_PHENO_KEYS = {"max_seasons", "amplitude_fraction", "min_amplitude", "min_length", "period"}
_CLASS_KEYS = {"segmenter", "n_classes", "views", "epochs", "keep"}


@dataclass(frozen=True)
class RegionConfig:
    """One region of a run (validated)."""

    name: str
    s1: list[Path]
    s2: list[Path]
    bbox: tuple[float, float, float, float] | None = None
    time_range: tuple[str, str] | None = None
    tile_size: int = 256
    chunk: int = 128
    tolerance: str = "3D"
    freq: str | None = "5D"
    outlier_filter: bool = True
    phenology: dict[str, Any] = field(default_factory=dict)
    s1_units: str = "auto"
    classes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    """A whole run (validated)."""

    output_root: Path
    regions: list[RegionConfig]
    model: dict[str, Any]
    dask: dict[str, Any]
    source: str = ""
    report: bool = True


def _err(where: str, msg: str) -> ConfigError:
    return ConfigError(f"config {where}: {msg}")


def _paths(value: Any, where: str, base: Path) -> list[Path]:
    items = value if isinstance(value, list) else [value]
    out = []
    for it in items:
        if not isinstance(it, str):
            raise _err(where, f"expected a path or a list of paths, found {it!r}")
        p = Path(it) if Path(it).is_absolute() else (base / it)
        if not p.exists():
            raise _err(where, f"file not found: {str(p)!r}")
        out.append(p)
    return out


def _date(value: Any, where: str) -> str:
    try:
        return str(pd.Timestamp(str(value)).date())
    except (ValueError, TypeError) as exc:
        raise _err(where, f"expected a date (YYYY-MM-DD), found {value!r}") from exc


def _segment_config(classes: Mapping[str, Any]) -> Any:
    """The SegmentConfig of a region's ``classes``."""
    from ..segmentation.core import SegmentConfig

    return SegmentConfig(**{k: v for k, v in classes.items() if k in ("n_classes", "views", "epochs")})


def _classes_config(raw: Any, where: str, base_dir: Path) -> dict[str, Any]:
    """The ``classes`` key of a region: a class map from a segmenter, and the classes phenology keeps."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - _CLASS_KEYS:
        raise _err(f"{where} classes", f"expected keys among {sorted(_CLASS_KEYS)}, found {raw!r}")
    out = dict(raw)
    if "segmenter" in out:
        sp = Path(out["segmenter"])
        sp = sp if sp.is_absolute() else base_dir / sp
        if not (Path(str(sp) + ".json").exists() or sp.with_suffix(".json").exists()):
            raise _err(f"{where} classes segmenter", f"segmenter not found: {str(sp)!r} (.json and .safetensors)")
        out["segmenter"] = str(sp)
    elif not isinstance(out.get("n_classes"), int) or out["n_classes"] < 2:
        raise _err(f"{where} classes", f"expected 'segmenter' (a saved one) or 'n_classes' (an integer >= 2, trained on the region), found {raw!r}")
    keep = out.get("keep")
    if keep is not None and (not isinstance(keep, list) or not all(isinstance(k, int) and k >= 0 for k in keep) or not keep):
        raise _err(f"{where} classes keep", f"expected a list of class ids (integers >= 0), found {keep!r}")
    if "views" in out:
        out["views"] = list(out["views"])
    try:
        _segment_config(out)
    except (ConfigError, TypeError) as exc:
        raise _err(f"{where} classes", str(exc)) from exc
    return out


def load_config(path: str | os.PathLike | Mapping[str, Any], *, base: str | os.PathLike | None = None) -> RunConfig:
    """Read and validate a run configuration before any work starts.

    Unknown keys, wrong types, missing files and bad dates raise
    :class:`ConfigError` naming the key and the region. Relative paths are
    resolved against the config file's folder (or ``base``).
    """
    import yaml

    if isinstance(path, Mapping):
        raw: Any = dict(path)
        base_dir = Path(base or ".")
        source = "<mapping>"
    else:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"config file not found: {str(p)!r}")
        try:
            raw = yaml.safe_load(p.read_text())
        except yaml.YAMLError as exc:
            raise ConfigError(f"config {p.name}: not valid YAML: {exc}") from exc
        base_dir = Path(base) if base else p.parent
        source = str(p)
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a mapping at the top level, found {type(raw).__name__}")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise _err("top level", f"unknown keys {unknown}; expected among {sorted(_TOP_KEYS)}")
    for key in ("output_root", "regions"):
        if key not in raw:
            raise _err("top level", f"missing key {key!r}")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise _err("defaults", f"expected a mapping, found {defaults!r}")
    bad = sorted(set(defaults) - (_REGION_KEYS - {"name", "s1", "s2", "bbox", "time_range"}))
    if bad:
        raise _err("defaults", f"unknown keys {bad}")
    regions_raw = raw["regions"]
    if not isinstance(regions_raw, list) or not regions_raw:
        raise _err("regions", f"expected a non-empty list, found {regions_raw!r}")
    regions = []
    seen = set()
    for i, r in enumerate(regions_raw):
        if not isinstance(r, dict):
            raise _err(f"regions[{i}]", f"expected a mapping, found {r!r}")
        name = r.get("name")
        where = f"region {name!r}" if name else f"regions[{i}]"
        if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
            raise _err(where, f"name: expected letters, digits, '-' or '_', found {name!r}")
        if name in seen:
            raise _err(where, "duplicated region name")
        seen.add(name)
        unknown = sorted(set(r) - _REGION_KEYS)
        if unknown:
            raise _err(where, f"unknown keys {unknown}; expected among {sorted(_REGION_KEYS)}")
        merged = {**defaults, **r}
        for key in ("s1", "s2"):
            if key not in merged:
                raise _err(where, f"missing key {key!r}")
        bbox = merged.get("bbox")
        if bbox is not None and (not isinstance(bbox, list) or len(bbox) != 4 or not all(isinstance(v, (int, float)) for v in bbox)):
            raise _err(f"{where} bbox", f"expected [minx, miny, maxx, maxy], found {bbox!r}")
        tr = merged.get("time_range")
        if tr is not None:
            if not isinstance(tr, list) or len(tr) != 2:
                raise _err(f"{where} time_range", f"expected [start, end], found {tr!r}")
            tr = (_date(tr[0], f"{where} time_range"), _date(tr[1], f"{where} time_range"))
            if tr[0] >= tr[1]:
                raise _err(f"{where} time_range", f"expected start before end, found {tr}")
        for key in ("tile_size", "chunk"):
            v = merged.get(key, getattr(RegionConfig, key))
            if not isinstance(v, int) or v < 2:
                raise _err(f"{where} {key}", f"expected an integer >= 2, found {v!r}")
        pheno = merged.get("phenology") or {}
        if not isinstance(pheno, dict) or set(pheno) - _PHENO_KEYS:
            raise _err(f"{where} phenology", f"expected keys among {sorted(_PHENO_KEYS)}, found {pheno!r}")
        classes = _classes_config(merged.get("classes"), where, base_dir)
        for key in ("tolerance",):
            try:
                pd.Timedelta(merged.get(key, "3D"))
            except ValueError as exc:
                raise _err(f"{where} {key}", f"expected a duration such as '3D', found {merged.get(key)!r}") from exc
        regions.append(
            RegionConfig(
                name=name,
                s1=_paths(merged["s1"], f"{where} s1", base_dir),
                s2=_paths(merged["s2"], f"{where} s2", base_dir),
                bbox=tuple(bbox) if bbox else None,
                time_range=tr,
                tile_size=int(merged.get("tile_size", 256)),
                chunk=int(merged.get("chunk", 128)),
                tolerance=str(merged.get("tolerance", "3D")),
                freq=merged.get("freq", "5D"),
                outlier_filter=bool(merged.get("outlier_filter", True)),
                phenology=dict(pheno),
                s1_units=str(merged.get("s1_units", "auto")),
                classes=classes,
            )
        )
    model = raw.get("model") or {"mode": "train"}
    if not isinstance(model, dict) or set(model) - _MODEL_KEYS:
        raise _err("model", f"expected keys among {sorted(_MODEL_KEYS)}, found {model!r}")
    mode = model.get("mode", "train")
    if mode not in ("train", "load"):
        raise _err("model mode", f"expected 'train' (one model per region) or 'load', found {mode!r}")
    if mode == "load":
        if "path" not in model:
            raise _err("model", "mode 'load' needs a 'path'")
        mp = Path(model["path"])
        mp = mp if mp.is_absolute() else base_dir / mp
        if not (mp.with_suffix(".json").exists() or Path(str(mp) + ".json").exists()):
            raise _err("model path", f"model not found: {str(mp)!r} (.json and .safetensors)")
        model = {**model, "path": str(mp)}
    from ..features.core import FeatureSpec
    from ..training.config import TrainConfig

    try:
        FeatureSpec.from_dict(model.get("features") or {})
        TrainConfig.from_dict(model.get("train") or {})
    except ConfigError as exc:
        raise _err("model", str(exc)) from exc
    dask_cfg = raw.get("dask") or {}
    if not isinstance(dask_cfg, dict) or set(dask_cfg) - _DASK_KEYS:
        raise _err("dask", f"expected keys among {sorted(_DASK_KEYS)}, found {dask_cfg!r}")
    report = raw.get("report", True)
    if not isinstance(report, bool):
        raise _err("report", f"expected true or false, found {report!r}")
    root = Path(raw["output_root"])
    root = root if root.is_absolute() else base_dir / root
    return RunConfig(output_root=root, regions=regions, model={"mode": mode, **model}, dask=dask_cfg, source=source, report=report)


# --------------------------------------------------------------------------- lock

def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def output_lock(root: Path) -> Iterator[Path]:
    """Hold ``<root>/.fusets-dl.lock`` for the duration of a run.

    A lock left by a process that no longer runs on this host is taken over
    (with a warning); a live one raises :class:`LockError` naming its holder.
    """
    root.mkdir(parents=True, exist_ok=True)
    lock = root / ".fusets-dl.lock"
    me = {"pid": os.getpid(), "host": socket.gethostname(), "started": pd.Timestamp.now(tz="UTC").isoformat()}
    for _ in range(2):
        # the lock appears with its content in one step (a hard link of a written file), so a
        # process killed while taking it never leaves an empty lock behind
        mine = root / f".fusets-dl.lock.{me['pid']}"
        mine.write_text(json.dumps(me))
        try:
            os.link(mine, lock)
        except FileExistsError:
            try:
                held = json.loads(lock.read_text() or "{}")
            except (OSError, json.JSONDecodeError):
                held = {}
            if held.get("host") == me["host"] and isinstance(held.get("pid"), int) and not _pid_alive(held["pid"]):
                logger.warning("run: removing a stale lock of process %s (not running)", held.get("pid"))
                lock.unlink(missing_ok=True)
                continue
            raise LockError(
                f"output root {str(root)!r} is locked by another run (pid {held.get('pid')} on {held.get('host')}, "
                f"since {held.get('started')}); wait for it to end, or remove {lock.name} if that run is gone"
            ) from None
        finally:
            mine.unlink(missing_ok=True)
        break
    for leftover in root.glob(".fusets-dl.lock.*"):  # from processes killed between the two steps
        try:
            pid = int(leftover.suffix.lstrip("."))
        except ValueError:
            continue
        if not _pid_alive(pid):
            leftover.unlink(missing_ok=True)
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)


# --------------------------------------------------------------------------- region processing

def _confined(root: Path, name: str, suffix: str) -> Path:
    p = (root / f"{name}{suffix}").resolve()
    if root.resolve() not in p.parents:
        raise ConfigError(f"output path {str(p)!r} escapes the output root {str(root)!r}")
    return p


def _open_region(rc: RegionConfig) -> tuple[xr.Dataset, dict[str, Any]]:
    from ..alignment.core import align, summarise
    from ..readers.core import open_s1, open_s2

    chunks = {"y": rc.chunk, "x": rc.chunk}
    s1 = open_s1([str(p) for p in rc.s1] if len(rc.s1) > 1 else rc.s1[0], chunks=chunks, units=rc.s1_units, time_range=rc.time_range, bbox=rc.bbox)
    s2 = open_s2([str(p) for p in rc.s2] if len(rc.s2) > 1 else rc.s2[0], chunks={"y": rc.chunk * 2, "x": rc.chunk * 2}, time_range=rc.time_range, bbox=rc.bbox)
    cube = align(s1, s2, tolerance=rc.tolerance, outlier_filter=rc.outlier_filter)
    cube = cube.chunk({"time": -1, "y": rc.chunk, "x": rc.chunk})
    return cube, summarise(cube)


def _trained_once(cfg: RunConfig, rc: RegionConfig, suffix: str, load: Callable[[Path], Any], fit: Callable[[], Any],
                  timings: dict[str, float], key: str) -> Any:
    """A region's trained artefact: reloaded when an earlier run saved it, else fitted, saved (before any tile) and timed."""
    stem = _confined(cfg.output_root, rc.name, suffix)
    if Path(str(stem) + ".json").exists():
        logger.info("region %s: loading the %s trained by an earlier run", rc.name, suffix.lstrip("."))
        return load(stem)
    t0 = time.perf_counter()
    out = fit()
    out.save(stem)
    timings[key] = time.perf_counter() - t0
    return out


def _region_model(cfg: RunConfig, rc: RegionConfig, cube: xr.Dataset, timings: dict[str, float]) -> Any:
    from ..features.core import FeatureSpec
    from ..models.io import load_model
    from ..training.config import TrainConfig
    from ..training.loop import train

    if cfg.model["mode"] == "load":
        return load_model(cfg.model["path"])
    spec = FeatureSpec.from_dict(cfg.model.get("features") or {})
    tc = TrainConfig.from_dict(cfg.model.get("train") or {})
    return _trained_once(cfg, rc, ".model", load_model, lambda: train(cube, spec, tc), timings, "train")


def _region_segmenter(cfg: RunConfig, rc: RegionConfig, cube: xr.Dataset, timings: dict[str, float]) -> Any:
    """The region's segmenter: loaded, reused from an earlier run, or trained on the region (no labels)."""
    from ..segmentation.core import load_segmenter, train_segmenter

    if not rc.classes:
        return None
    if "segmenter" in rc.classes:
        return load_segmenter(rc.classes["segmenter"])
    return _trained_once(cfg, rc, ".segmenter", load_segmenter, lambda: train_segmenter(cube, _segment_config(rc.classes)), timings, "segmenter")


def _template(cube: xr.Dataset, model: Any, rc: RegionConfig, segmenter: Any = None) -> xr.Dataset:
    """The full output of a region, lazily (its layout is written before the tiles).

    With a segmenter the output holds its ``class`` map, and phenology is
    computed only on the pixels of ``classes.keep`` (all classes when absent).
    """
    from ..phenometrics.core import phenology
    from ..reconstruction.core import reconstruct

    rec = reconstruct(cube, model, freq=rc.freq)
    pheno_kw = dict(rc.phenology)
    if "period" in pheno_kw and pheno_kw["period"] is not None:
        pheno_kw["period"] = tuple(pheno_kw["period"])
    ndvi = rec["NDVI"]
    parts = [rec]
    if segmenter is not None:
        from ..segmentation.core import segment

        classes = segment(cube, segmenter=segmenter)
        keep = rc.classes.get("keep")
        if keep:
            ndvi = ndvi.where(classes.isin(keep))
            classes.attrs["phenology_classes"] = json.dumps(keep)
        parts.append(classes.to_dataset())
    ph = phenology(ndvi, **{"max_seasons": 3, **pheno_kw})
    out = xr.merge([*parts, ph], compat="override", combine_attrs="drop_conflicts")
    chunks = {"time": -1, "season": -1, "y": rc.tile_size, "x": rc.tile_size}
    return out.chunk({k: v for k, v in chunks.items() if k in out.dims})


def _tiles(ny: int, nx: int, size: int) -> list[tuple[slice, slice]]:
    return [(slice(i, min(i + size, ny)), slice(j, min(j + size, nx))) for i in range(0, ny, size) for j in range(0, nx, size)]


def run_region(
    cfg: RunConfig,
    rc: RegionConfig,
    cube: xr.Dataset | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Process one region (resumable); return its summary row.

    ``cube`` replaces opening and aligning the region's sources (used by the
    benchmarks to stream a lazy synthetic scene through the same code).
    ``progress(region, tiles_done, tiles_total)`` is called after each tile.
    """
    from ..writers.zarr import provenance_attrs, to_zarr

    timings: dict[str, float] = {}
    store = _confined(cfg.output_root, rc.name, ".zarr")
    progress_dir = _confined(cfg.output_root, rc.name, ".zarr.progress")
    done_flag = progress_dir / "ALL_DONE"
    if done_flag.exists():
        logger.info("region %s: already complete, skipped", rc.name)
        return {"region": rc.name, "status": "skipped (done)", **json.loads(done_flag.read_text())}
    t0 = time.perf_counter()
    if cube is None:
        cube, summary = _open_region(rc)
    else:
        summary = {"source": "in-memory cube"}
    timings["open+align"] = time.perf_counter() - t0
    model = _region_model(cfg, rc, cube, timings)
    segmenter = _region_segmenter(cfg, rc, cube, timings)
    out = _template(cube, model, rc, segmenter)
    tiles = _tiles(out.sizes["y"], out.sizes["x"], rc.tile_size)
    for stale in cfg.output_root.glob(f".{store.name}.tmp-*"):  # a layout write killed part-way
        import shutil

        shutil.rmtree(stale, ignore_errors=True)
    if not store.exists():
        t0 = time.perf_counter()
        prov = provenance_attrs(model_sha256=model.sha256, config={"region": rc.name, "model": cfg.model, "tile_size": rc.tile_size, "freq": rc.freq},
                                inputs=[str(p) for p in rc.s1 + rc.s2])
        # the layout (metadata, coordinates) first; tiles fill it with region= writes
        to_zarr(out, store, provenance=prov, compute=False)
        for p in progress_dir.glob("tile-*"):
            p.unlink()
        timings["layout"] = time.perf_counter() - t0
    progress_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    written = 0
    for k, (ys, xs) in enumerate(tiles):
        marker = progress_dir / f"tile-{k:05d}"
        if marker.exists():
            continue
        tile = out.isel(y=ys, x=xs)
        region = {"y": ys, "x": xs}
        tile = tile.drop_vars([v for v in tile.variables if not set(tile[v].dims) & {"y", "x"}])
        try:
            tile.to_zarr(store, region=region, mode="r+")
        except OSError as exc:
            raise OutputError(
                f"region {rc.name}: writing tile {k + 1}/{len(tiles)} to {store} failed ({exc}); expected a writable store "
                f"with free space. The {k} tiles before it are complete and kept: free space and rerun to resume"
            ) from exc
        marker.write_text(json.dumps({"y": [ys.start, ys.stop], "x": [xs.start, xs.stop]}))  # only after the data
        written += 1
        logger.info("region %s: tile %d/%d written", rc.name, k + 1, len(tiles))
        if progress is not None:
            progress(rc.name, k + 1, len(tiles))
    timings["tiles"] = time.perf_counter() - t0
    logger.info("region %s: stage timings (s) %s", rc.name, {k: round(v, 2) for k, v in timings.items()})
    stats = _region_stats(store)
    metrics = {"region": rc.name, "funnel": summary, "model_sha256": model.sha256, "model_metrics": model.metrics,
               "tiles": len(tiles), "tiles_written_now": written, "timings_s": timings, "output": stats}
    if segmenter is not None:
        metrics["phenology_by_class"] = _class_summary(store, rc.classes.get("keep"))
    mpath = _confined(cfg.output_root, rc.name, ".metrics.json")
    tmp = mpath.with_name(mpath.name + ".tmp")
    tmp.write_text(json.dumps(metrics, indent=2, default=float))
    tmp.replace(mpath)
    if cfg.report:
        from ..evaluation.report import report_from_store

        try:
            report_from_store(store, _confined(cfg.output_root, rc.name, ".report"), metrics=metrics)
        except Exception as exc:  # the report is derived output: the region's data are already written
            logger.warning("region %s: report not written: %s", rc.name, exc)
    row = {"tiles": len(tiles), "written": written, "seconds": round(sum(timings.values()), 1),
           "test_r2": round(float(model.metrics.get("test", {}).get("r2", float("nan"))), 3), **stats}
    tmp_flag = done_flag.with_name(done_flag.name + ".tmp")
    tmp_flag.write_text(json.dumps(row))
    tmp_flag.replace(done_flag)
    return {"region": rc.name, "status": "done", **row}


def _class_summary(store: Path, keep: list[int] | None) -> list[dict[str, Any]]:
    """Median SOS/POS/EOS per class and season, read back from the written store (JSON rows)."""
    from ..phenometrics.core import phenology_by_class

    with xr.open_zarr(store) as ds:
        summary = phenology_by_class(ds, ds["class"], keep=keep)
    rows = []
    for c in summary["class"].values:
        for s in summary["season"].values:
            v = summary.sel({"class": c, "season": s})
            if int(v["n_with_season"]) == 0:
                continue
            rows.append({"class": int(c), "season": int(s), "n_pixels": int(v["n_pixels"]), "n_with_season": int(v["n_with_season"]),
                         **{k: str(v[k].values)[:10] for k in ("sos", "pos", "eos")}, "los_days": round(float(v["los"]), 1)})
    return rows


def _region_stats(store: Path) -> dict[str, Any]:
    ds = xr.open_zarr(store, decode_coords="all")
    src = ds["source"].values
    n = ds["n_seasons"].values
    return {
        "observed": round(float((src == 0).mean()), 3),
        "predicted": round(float((src == 1).mean()), 3),
        "missing": round(float((src == 3).mean()), 3),
        "mean_seasons": round(float(n.mean()), 2),
    }


@contextlib.contextmanager
def _dask_context(dask_cfg: Mapping[str, Any]) -> Iterator[Any]:
    """Threaded scheduler by default; ``workers`` starts a LocalCluster; ``scheduler`` connects to one."""
    if dask_cfg.get("scheduler"):
        from distributed import Client

        with Client(dask_cfg["scheduler"]) as client:
            yield client
    elif dask_cfg.get("workers"):
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=int(dask_cfg["workers"]), threads_per_worker=int(dask_cfg.get("threads_per_worker", 1)),
                          processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
            yield client
    else:
        import dask

        with dask.config.set(scheduler="threads"):
            yield None


def run(
    config: str | os.PathLike | Mapping[str, Any] | RunConfig,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every region of a config (resumable); return the summary rows.

    Parameters
    ----------
    config : path, mapping or RunConfig
        The run configuration (validated before any work starts).
    workers : int, optional
        Start a ``LocalCluster`` with this many worker processes.
    scheduler : str, optional
        Address of an existing Dask scheduler (e.g. one started by
        dask-jobqueue on SLURM).
    progress : callable, optional
        ``progress(region, tiles_done, tiles_total)`` after each tile.
    """
    cfg = config if isinstance(config, RunConfig) else load_config(config)
    dask_cfg = dict(cfg.dask)
    if workers:
        dask_cfg["workers"] = workers
    if scheduler:
        dask_cfg["scheduler"] = scheduler
    rows = []
    with output_lock(cfg.output_root), _dask_context(dask_cfg):
        for i, rc in enumerate(cfg.regions):
            handler = logging.FileHandler(_confined(cfg.output_root, rc.name, ".log"))
            handler.setLevel(logging.INFO)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            level = logger.level
            logger.addHandler(handler)
            if logger.getEffectiveLevel() > logging.INFO:
                logger.setLevel(logging.INFO)  # the region log records stage timings and progress
            try:
                logger.info("run: region %d/%d %s", i + 1, len(cfg.regions), rc.name)
                row = run_region(cfg, rc, progress=progress)
                logger.info("run: region %s %s in %s s", rc.name, row["status"], row.get("seconds"))
                rows.append(row)
            finally:
                logger.removeHandler(handler)
                logger.setLevel(level)
                handler.close()
    return rows


def summary_table(rows: list[dict[str, Any]]) -> str:
    """The end-of-run table."""
    cols = ["region", "status", "tiles", "written", "seconds", "test_r2", "observed", "predicted", "missing", "mean_seasons"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


