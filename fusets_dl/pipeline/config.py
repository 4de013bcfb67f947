"""The run configuration: the YAML schema of a batch run, read and validated before any work starts.

Every problem raises :class:`~fusets_dl.errors.ConfigError` naming the key
and the region (``config region 'x' tile_size: expected an integer >= 2,
found 'big'``). One ``_load_*`` or ``_check_*`` helper per section of the
file: the top level, ``defaults``, each region (and its ``bbox``, ``bbox_crs``,
``time_range``, sizes, ``phenology``, ``classes``, ``tolerance``, ``harmonize``),
``model``, ``dask`` and ``report``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import ConfigError
from ..validate import as_timedelta, parse_date

__all__ = ["Problems", "RegionConfig", "RunConfig", "check_dask", "load_config"]

_TOP_KEYS = {"output_root", "regions", "model", "defaults", "dask", "report"}
_REGION_KEYS = {"name", "s1", "s2", "bbox", "bbox_crs", "time_range", "tile_size", "chunk", "tolerance", "freq", "outlier_filter", "unpaired_views",
                "phenology", "s1_units", "harmonize", "classes"}
_REGION_ONLY_KEYS = {"name", "s1", "s2", "bbox", "time_range"}  # not allowed under ``defaults``
_MODEL_KEYS = {"mode", "path", "features", "train"}
_DASK_KEYS = {"workers", "scheduler", "threads_per_worker"}
#: ``fdl.phenology``'s keywords a YAML file can hold (numbers, switches, dates, month pairs); ``by``, ``std``,
#: ``classes``, ``params`` and ``observed`` are arrays or come from the run itself (``classes`` section, ``source``).
_PHENO_KEYS = {"max_seasons", "amplitude_fraction", "min_amplitude", "min_length", "smooth", "step_days", "period", "min_valid",
               "noise_factor", "noise", "min_separation", "min_span", "start_threshold", "end_threshold", "threshold_type",
               "pos_level", "extrapolate", "by_year", "envelope", "main_fraction", "main_months", "year_start"}
_CLASS_KEYS = {"segmenter", "n_classes", "views", "epochs", "keep"}


@dataclass(frozen=True)
class RegionConfig:
    """One region of a run (validated).

    Parameters
    ----------
    name : str
        Letters, digits, ``-`` and ``_``; the stem of every output of the region.
    s1, s2 : list of Path
        The region's Sentinel-1 and Sentinel-2 files (existing).
    bbox : tuple of float, optional
        ``(minx, miny, maxx, maxy)`` in ``bbox_crs``.
    bbox_crs : str, optional
        The CRS of ``bbox`` (``"EPSG:4326"``: ``(min lon, min lat, max lon,
        max lat)``); None: the files' CRS. Passed to the readers, which
        carry the box into each file's CRS.
    time_range : tuple of str, optional
        ``(start, end)`` dates (``YYYY-MM-DD``), start before end.
    tile_size : int
        Tile edge in pixels; tiles are written (and resumed) one by one.
    chunk : int
        Dask chunk edge in pixels on the S1 grid.
    tolerance : str
        S1/S2 pairing tolerance, a pandas duration such as ``"3D"``.
    freq : str or None
        Regular output grid of the reconstruction (``None``: the cube dates).
    outlier_filter : bool
        Drop NDVI outliers during alignment.
    unpaired_views : bool
        Keep the clear S2 views no S1 date took for the reconstruction
        (``align(..., unpaired_views=True)``); default false.
    phenology : dict
        Keyword arguments of :func:`~fusets_dl.phenometrics.phenology`.
    s1_units : str
        Units of the S1 files (``"auto"``, ``"db"`` or ``"linear"``).
    harmonize : "auto", "all" or bool
        Sentinel-2 processing-baseline harmonisation, passed to
        :func:`~fusets_dl.readers.open_s2` (``"auto"``, ``"all"``, ``true`` or ``false``).
    classes : dict
        The ``classes`` section (a segmenter and the classes phenology keeps); empty when absent.
    """

    name: str
    s1: list[Path]
    s2: list[Path]
    bbox: tuple[float, float, float, float] | None = None
    bbox_crs: str | None = None
    time_range: tuple[str, str] | None = None
    tile_size: int = 256
    chunk: int = 128
    tolerance: str = "3D"
    freq: str | None = "5D"
    outlier_filter: bool = True
    phenology: dict[str, Any] = field(default_factory=dict)
    unpaired_views: bool = False
    s1_units: str = "auto"
    harmonize: str | bool = "auto"
    classes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunConfig:
    """A whole run (validated).

    Parameters
    ----------
    output_root : Path
        Folder of every output (``<name>.zarr``, ``.metrics.json``, ``.log``, ...).
    regions : list of RegionConfig
        The regions, processed in this order.
    model : dict
        ``mode`` (``"train"``: one model per region, or ``"load"`` with ``path``),
        ``features`` (a FeatureSpec mapping) and ``train`` (a TrainConfig mapping).
    dask : dict
        ``workers`` / ``threads_per_worker`` (a LocalCluster) or ``scheduler`` (an address).
    source : str
        Where the configuration came from (a path or ``"<mapping>"``).
    report : bool
        Write a report per region.
    """

    output_root: Path
    regions: list[RegionConfig]
    model: dict[str, Any]
    dask: dict[str, Any]
    source: str = ""
    report: bool = True


def load_config(path: str | os.PathLike | Mapping[str, Any], *, base: str | os.PathLike | None = None) -> RunConfig:
    """Read and validate a run configuration before any work starts.

    Parameters
    ----------
    path : path or mapping
        A YAML file, or the configuration as a mapping.
    base : path, optional
        Folder that relative paths are resolved against (default: the
        config file's folder, or the current folder for a mapping).

    Returns
    -------
    RunConfig
        The validated configuration, with absolute paths.

    Raises
    ------
    ConfigError
        Unknown keys, wrong types, missing files and bad dates, naming the
        key and the region.
    """
    raw, base_dir, source = _read_raw(path, base)
    _check_top_level(raw)
    problems = Problems()
    defaults = problems.check(_load_defaults, raw, default={})
    regions = problems.check(_load_regions, raw["regions"], defaults, base_dir, problems)
    model = problems.check(_load_model, raw, base_dir)
    dask_cfg = problems.check(_load_dask, raw)
    report = problems.check(_load_report, raw)
    root = problems.check(_output_root, raw["output_root"], base_dir)
    problems.raise_if_any(source)
    problems.check(_check_outputs_apart, regions, model, root)
    problems.raise_if_any(source)
    return RunConfig(output_root=root, regions=regions, model=model, dask=dask_cfg, source=source, report=report)


#: What a region writes into the output root: ``<name><suffix>`` (the store, its progress folder, model, segmenter, ...).
OUTPUT_SUFFIXES = (".zarr", ".zarr.progress", ".model.json", ".model.safetensors", ".segmenter.json", ".segmenter.safetensors",
                   ".metrics.json", ".report", ".log")


def _pair_paths(stem: Path) -> list[Path]:
    """A saved model's or segmenter's stem (or either file) and its two files."""
    s = stem.with_suffix("") if stem.suffix in (".json", ".safetensors") else stem
    return [s.with_name(s.name + ".json"), s.with_name(s.name + ".safetensors")]


def _check_outputs_apart(regions: list[RegionConfig], model: dict[str, Any], root: Path) -> None:
    """No region output may be an input, the loaded model or segmenter, lie inside one, or hold one.

    ``--restart`` deletes a region's outputs, and a resume hashes its input
    folders: an output that is (or is inside) an input would destroy the
    input, or change its digest on every run.
    """
    inputs: list[tuple[Path, str]] = []
    for rc in regions:
        inputs += [(p, f"region {rc.name}'s input") for p in (*rc.s1, *rc.s2)]
        if rc.classes.get("segmenter"):
            inputs += [(p, f"region {rc.name}'s segmenter") for p in _pair_paths(Path(rc.classes["segmenter"]))]
    if model.get("mode") == "load":
        inputs += [(p, "the model loaded (model: path)") for p in _pair_paths(Path(model["path"]))]
    inputs = [(p.resolve(), what) for p, what in inputs]
    for rc in regions:
        for suffix in OUTPUT_SUFFIXES:
            out = (root / f"{rc.name}{suffix}").resolve()
            for inp, what in inputs:
                if out == inp or inp.is_relative_to(out) or out.is_relative_to(inp):
                    relation = "is" if out == inp else "holds" if inp.is_relative_to(out) else "lies inside"
                    raise _err(f"region {rc.name!r}", f"its output {str(out)!r} {relation} {what} {str(inp)!r}: "
                               "--restart would delete it, and a resume would see its inputs change; expected outputs apart "
                               "from the inputs: choose another output_root or region name")


class Problems:
    """Collects the ConfigErrors of many checks, so that one error reports them all."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def check(self, fn: Any, *args: Any, default: Any = None) -> Any:
        """``fn(*args)``, or ``default`` with its ConfigError's message(s) kept.

        Parameters
        ----------
        fn : callable
            A check raising :class:`~fusets_dl.errors.ConfigError`.
        *args
            Its arguments.
        default : object
            Returned when it raises.

        Returns
        -------
        object
            What ``fn`` returned, or ``default``.
        """
        try:
            return fn(*args)
        except ConfigError as exc:
            self.messages.extend(getattr(exc, "problems", None) or [str(exc)])
            return default

    def raise_if_any(self, source: str) -> None:
        """Raise one ConfigError listing every problem kept (the message itself when there is one).

        Parameters
        ----------
        source : str
            Where the configuration came from, for the heading.

        Raises
        ------
        ConfigError
            With a ``problems`` attribute (the list of messages).
        """
        if not self.messages:
            return
        msgs = list(dict.fromkeys(self.messages))
        text = msgs[0] if len(msgs) == 1 else f"config {source}: {len(msgs)} problems:\n" + "\n".join(f"  - {m}" for m in msgs)
        exc = ConfigError(text)
        exc.problems = msgs  # type: ignore[attr-defined]
        raise exc


def _output_root(value: Any, base_dir: Path) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise _err("output_root", f"expected a folder path, found {value!r}")
    root = _resolve(value, base_dir)
    if root.exists() and not root.is_dir():
        raise _err("output_root", f"expected a folder, found a file: {str(root)!r}")
    return root


def _err(where: str, msg: str) -> ConfigError:
    return ConfigError(f"config {where}: {msg}")


def _resolve(value: Any, base_dir: Path) -> Path:
    """``value`` as a path; a relative one is taken from ``base_dir``."""
    p = Path(value)
    return p if p.is_absolute() else base_dir / p


def _read_raw(path: str | os.PathLike | Mapping[str, Any], base: str | os.PathLike | None) -> tuple[Any, Path, str]:
    """The raw configuration, the folder relative paths start from, and where it came from."""
    import yaml

    if isinstance(path, Mapping):
        return dict(path), Path(base or "."), "<mapping>"
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file not found: {str(p)!r}")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {p.name}: not valid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:  # a data file given as the config (run cube.nc)
        raise ConfigError(f"config {p.name}: expected a YAML text file, found binary data ({exc.reason} at byte {exc.start})") from exc
    return raw, Path(base) if base else p.parent, str(p)


def _check_top_level(raw: Any) -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"config: expected a mapping at the top level, found {type(raw).__name__}")
    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise _err("top level", f"unknown keys {unknown}; expected among {sorted(_TOP_KEYS)}")
    for key in ("output_root", "regions"):
        if key not in raw:
            raise _err("top level", f"missing key {key!r}")


def _load_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """The ``defaults`` section: region keys shared by every region (no name, files, bbox or dates)."""
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise _err("defaults", f"expected a mapping, found {defaults!r}")
    bad = sorted(set(defaults) - (_REGION_KEYS - _REGION_ONLY_KEYS))
    if bad:
        raise _err("defaults", f"unknown keys {bad}")
    return defaults


def _load_regions(regions_raw: Any, defaults: dict[str, Any], base_dir: Path, problems: Problems) -> list[RegionConfig]:
    if not isinstance(regions_raw, list) or not regions_raw:
        raise _err("regions", f"expected a non-empty list, found {regions_raw!r}")
    regions = []
    seen: set[str] = set()
    for i, r in enumerate(regions_raw):
        named = problems.check(_region_name, i, r)
        if named is None:
            continue
        name, where = named
        if name in seen:
            problems.messages.append(str(_err(where, "duplicated region name")))
        seen.add(name)
        regions.append(problems.check(_load_region, name, where, r, defaults, base_dir))
    return regions


def _region_name(i: int, r: Any) -> tuple[str, str]:
    """The region's name and how messages call it (``region 'x'``, or ``regions[i]`` without a name)."""
    if not isinstance(r, dict):
        raise _err(f"regions[{i}]", f"expected a mapping, found {r!r}")
    name = r.get("name")
    where = f"region {name!r}" if name else f"regions[{i}]"
    if not isinstance(name, str) or not name or not all(c.isalnum() or c in "-_" for c in name):
        raise _err(where, f"name: expected letters, digits, '-' or '_', found {name!r}")
    return name, where


def _load_region(name: str, where: str, r: dict[str, Any], defaults: dict[str, Any], base_dir: Path) -> RegionConfig:
    """One region, merged over ``defaults`` and validated (``where`` names it in messages); every problem at once."""
    p = Problems()
    unknown = sorted(set(r) - _REGION_KEYS)
    if unknown:
        p.messages.append(str(_err(where, f"unknown keys {unknown}; expected among {sorted(_REGION_KEYS)}")))
    merged = {**defaults, **r}
    for key in ("s1", "s2"):
        if key not in merged:
            p.messages.append(str(_err(where, f"missing key {key!r}")))
    s1 = p.check(_paths, merged.get("s1", []), f"{where} s1", base_dir)
    s2 = p.check(_paths, merged.get("s2", []), f"{where} s2", base_dir)
    bbox = p.check(_check_bbox, merged.get("bbox"), where)
    bbox_crs = p.check(_check_bbox_crs, merged.get("bbox_crs"), bbox, where)
    time_range = p.check(_check_time_range, merged.get("time_range"), where)
    p.check(_check_sizes, merged, where)
    pheno = p.check(_check_phenology, merged.get("phenology"), where)
    classes = p.check(_load_classes, merged.get("classes"), where, base_dir)
    if pheno is not None and time_range is not None:
        p.check(_check_period_in_range, pheno, time_range, where)
    p.check(_check_tolerance, merged, where)
    freq = p.check(_check_freq, merged.get("freq", "5D"), where)
    outlier = p.check(_check_bool, merged.get("outlier_filter", True), f"{where} outlier_filter")
    unpaired = p.check(_check_bool, merged.get("unpaired_views", False), f"{where} unpaired_views")
    units = p.check(_check_choice, merged.get("s1_units", "auto"), f"{where} s1_units", ("auto", "db", "linear"))
    harmonize = p.check(_check_harmonize, merged.get("harmonize", "auto"), where)
    p.raise_if_any(where)
    return RegionConfig(
        name=name,
        s1=s1,
        s2=s2,
        bbox=bbox,
        bbox_crs=bbox_crs,
        time_range=time_range,
        tile_size=int(merged.get("tile_size", 256)),
        chunk=int(merged.get("chunk", 128)),
        tolerance=str(merged.get("tolerance", "3D")),
        freq=freq,
        outlier_filter=outlier,
        unpaired_views=unpaired,
        phenology=pheno,
        s1_units=units,
        harmonize=harmonize,
        classes=classes,
    )


def _check_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        hint = " (unquoted: a quoted 'false' would read as true)" if isinstance(value, str) else ""
        raise _err(where, f"expected true or false{hint}, found {value!r}")
    return value


def _check_choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise _err(where, f"expected one of {list(choices)}, found {value!r}")
    return value.lower()


def _check_freq(value: Any, where: str) -> str | None:
    """A whole number of days (``"5D"``, or a number of days), or null for the cube dates."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _err(f"{where} freq", f"expected a whole number of days such as '5D' (or null), found {value!r}")
    try:
        days = as_timedelta(value, "freq") / as_timedelta(1, "freq")
    except ConfigError:
        days = None
    if days is None or days < 1 or days != int(days):
        legacy = " (pandas month/year frequencies such as '1M' are calendar lengths, not accepted)" if isinstance(value, str) and value.strip()[-1:].upper() in ("M", "Y", "A", "Q") else ""
        raise _err(f"{where} freq", f"expected a whole number of days such as '5D' or 5 (or null for the cube dates){legacy}, found {value!r}")
    return f"{int(days)}D"


def _paths(value: Any, where: str, base: Path) -> list[Path]:
    """One path or a list of paths, each existing."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _err(where, f"expected a path or a non-empty list of paths, found {value!r}")
    out = []
    for it in items:
        if not isinstance(it, str) or not it.strip():
            raise _err(where, f"expected a path or a list of paths, found {it!r}")
        p = _resolve(it, base)
        if not p.exists():
            raise _err(where, f"file not found: {str(p)!r}")
        out.append(p)
    return out


def _date(value: Any, where: str) -> str:
    """A whole date of the config: ``YYYY-MM-DD`` (YAML reads it unquoted as a date), a date, or a zoned midnight
    (converted to UTC); numbers, other forms of text and times of day are refused, each naming what was found."""
    t = parse_date(value, f"config {where}", partial=False)
    if t != t.normalize():  # it was cut to the date, and the date's end now takes the whole day: say so instead
        zoned = getattr(value, "tzinfo", None) is not None or (isinstance(value, str) and _ZONED.search(value.strip()) is not None)
        raise _err(where, f"expected a date (YYYY-MM-DD; whole days, the end day included), found {value!r} with a time of day"
                          + (f" ({t} in UTC)" if zoned else ""))
    return str(t.date())


#: A time of day with a zone after it: "T00:00Z", "T00:00:00+02:00", " 00:00-0500".
_ZONED = re.compile(r"[T ]\S*(Z|[+-]\d{2}(:?\d{2})?)$")


def _check_bbox(bbox: Any, where: str) -> tuple[float, float, float, float] | None:
    if bbox is None:
        return None
    # bool is an int to Python: [true, 1, 2, 3] is a typo, not a box
    if not isinstance(bbox, list) or len(bbox) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in bbox):
        raise _err(f"{where} bbox", f"expected [minx, miny, maxx, maxy], four finite numbers, found {bbox!r}")
    if not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
        raise _err(f"{where} bbox", f"expected minx < maxx and miny < maxy ([minx, miny, maxx, maxy]), found {bbox!r}")
    return tuple(float(v) for v in bbox)  # type: ignore[return-value]


def _check_bbox_crs(value: Any, bbox: tuple[float, float, float, float] | None, where: str) -> str | None:
    """The CRS the region's ``bbox`` is given in, as text (``4326`` becomes ``"EPSG:4326"``); null: the files' CRS.

    A geographic one takes ``[min lon, min lat, max lon, max lat]``: a box
    outside -180..180 / -90..90 (latitude first, across the antimeridian)
    is refused here, before any file is read.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)) or (isinstance(value, str) and not value.strip()):
        raise _err(f"{where} bbox_crs", f"expected a CRS such as 'EPSG:4326' or 4326 (null: the files' CRS), found {value!r}")
    text = f"EPSG:{value}" if isinstance(value, int) else value.strip()
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(text)
    except CRSError as exc:
        raise _err(f"{where} bbox_crs", f"expected a CRS pyproj reads, such as 'EPSG:4326' or 4326 (null: the files' CRS), "
                                        f"found {value!r} ({exc})") from exc
    if bbox is not None and crs.is_geographic and not (-180 <= bbox[0] and bbox[2] <= 180 and -90 <= bbox[1] and bbox[3] <= 90):
        raise _err(f"{where} bbox", f"expected [min lon, min lat, max lon, max lat] with bbox_crs {text}, longitudes within "
                                    f"-180..180 and latitudes within -90..90, found {list(bbox)!r} (latitude first? a box across "
                                    "the antimeridian: split it into two regions)")
    return text


def _check_time_range(tr: Any, where: str) -> tuple[str, str] | None:
    if tr is None:
        return None
    if not isinstance(tr, list) or len(tr) != 2:
        raise _err(f"{where} time_range", f"expected [start, end], found {tr!r}")
    out = (_date(tr[0], f"{where} time_range"), _date(tr[1], f"{where} time_range"))
    if out[0] >= out[1]:
        raise _err(f"{where} time_range", f"expected start before end, found {out}")
    return out


def _check_sizes(merged: dict[str, Any], where: str) -> None:
    bad = []
    for key in ("tile_size", "chunk"):
        v = merged.get(key, getattr(RegionConfig, key))
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            bad.append(f"{where} {key}: expected an integer >= 2, found {v!r}")
    if bad:
        raise ConfigError("config " + "; config ".join(bad))


def _check_phenology(pheno: Any, where: str) -> dict[str, Any]:
    """The ``phenology`` section: known keys, each value checked as :func:`~fusets_dl.phenometrics.phenology` checks it."""
    from ..phenometrics.options import check_options

    pheno = pheno or {}
    if not isinstance(pheno, dict) or set(pheno) - _PHENO_KEYS:
        raise _err(f"{where} phenology", f"expected keys among {sorted(_PHENO_KEYS)}, found {pheno!r}")
    check_options(pheno, f"config {where} phenology")
    out = dict(pheno)
    if isinstance(out.get("main_months"), list):  # YAML has no tuples
        out["main_months"] = tuple(out["main_months"])
    return out


def _check_period_in_range(pheno: Mapping[str, Any] | None, time_range: tuple[str, str] | None, where: str) -> None:
    """A phenology ``period`` that does not overlap the region's ``time_range`` would keep no season."""
    from ..phenometrics.options import parse_period

    per = parse_period((pheno or {}).get("period"), f"config {where} phenology")
    if per is None or time_range is None:
        return
    first, last = pd.Timestamp(time_range[0]), pd.Timestamp(time_range[1]) + pd.Timedelta(days=1)
    if per[1] < first or per[0] >= last:
        raise _err(f"{where} phenology", f"period: expected a period overlapping the region's time_range {time_range[0]} .. "
                   f"{time_range[1]}, found {per[0].date()} .. {per[1].date()} (no season could be kept)")


def _check_harmonize(value: Any, where: str) -> str | bool:
    if isinstance(value, bool) or value in ("auto", "all"):
        return value
    raise _err(f"{where} harmonize", f"expected 'auto', 'all', true or false, found {value!r}")


def _check_tolerance(merged: dict[str, Any], where: str) -> None:
    try:
        as_timedelta(merged.get("tolerance", "3D"), "tolerance")
    except ConfigError as exc:
        raise _err(f"{where} tolerance", f"expected a duration such as '3D' or a number of days >= 0, found {merged.get('tolerance')!r}") from exc


def segment_config(classes: Mapping[str, Any]) -> Any:
    """The :class:`~fusets_dl.segmentation.SegmentConfig` of a region's ``classes`` section.

    Parameters
    ----------
    classes : mapping
        The validated ``classes`` section of a region.

    Returns
    -------
    SegmentConfig
        Built from its ``n_classes``, ``views`` and ``epochs``.

    Raises
    ------
    ConfigError
        A value the segmentation does not accept.
    """
    from ..segmentation import SegmentConfig

    return SegmentConfig(**{k: v for k, v in classes.items() if k in ("n_classes", "views", "epochs")})


def _saved_files_exist(stem: Path) -> bool:
    """Whether a saved model or segmenter is at ``stem``: both its ``.json`` and its ``.safetensors`` (a stem or either file)."""
    return any(json_.is_file() and weights.is_file() for json_, weights in (
        (stem.with_suffix(".json"), stem.with_suffix(".safetensors")),
        (Path(f"{stem}.json"), Path(f"{stem}.safetensors"))))


def _load_classes(raw: Any, where: str, base_dir: Path) -> dict[str, Any]:
    """The ``classes`` key of a region: a class map from a segmenter, and the classes phenology keeps."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - _CLASS_KEYS:
        raise _err(f"{where} classes", f"expected keys among {sorted(_CLASS_KEYS)}, found {raw!r}")
    out = dict(raw)
    if "segmenter" in out:
        if not isinstance(out["segmenter"], str) or not out["segmenter"].strip():
            raise _err(f"{where} classes segmenter", f"expected the path of a saved segmenter, found {out['segmenter']!r}")
        sp = _resolve(out["segmenter"], base_dir)
        if not _saved_files_exist(sp):
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
        segment_config(out)
    except (ConfigError, TypeError) as exc:
        raise _err(f"{where} classes", str(exc)) from exc
    return out


def _load_model(raw: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """The ``model`` section: train one model per region, or load a saved one (its path resolved)."""
    model = raw.get("model") or {"mode": "train"}
    if not isinstance(model, dict) or set(model) - _MODEL_KEYS:
        raise _err("model", f"expected keys among {sorted(_MODEL_KEYS)}, found {model!r}")
    mode = model.get("mode", "train")
    if mode not in ("train", "load"):
        raise _err("model mode", f"expected 'train' (one model per region) or 'load', found {mode!r}")
    if mode == "load":
        if "path" not in model:
            raise _err("model", "mode 'load' needs a 'path'")
        set_here = [k for k in ("features", "train") if model.get(k)]
        if set_here:  # they would be silently ignored: the loaded model has its own
            raise _err("model", f"mode 'load' uses the saved model as it is; expected no {' or '.join(set_here)} (they set the "
                       "training of mode 'train'), found them: remove them, or train with mode 'train'")
        if not isinstance(model["path"], str) or not model["path"].strip():
            raise _err("model path", f"expected the path of a saved model, found {model['path']!r}")
        mp = _resolve(model["path"], base_dir)
        if not _saved_files_exist(mp):
            from ..models.io import PRETRAINED, pretrained_path

            if model["path"].strip() in PRETRAINED:  # a shipped model by name, as load_model takes it
                mp = pretrained_path(model["path"].strip()).with_suffix("")
        if not _saved_files_exist(mp):
            raise _err("model path", f"model not found: {str(mp)!r} (.json and .safetensors)")
        model = {**model, "path": str(mp)}
    _check_model_options(model)
    return {"mode": mode, **model}


def _check_model_options(model: dict[str, Any]) -> None:
    """``features`` and ``train`` are valid FeatureSpec and TrainConfig mappings."""
    from ..features import FeatureSpec
    from ..training import TrainConfig

    try:
        FeatureSpec.from_dict(model.get("features") or {})
        TrainConfig.from_dict(model.get("train") or {})
    except ConfigError as exc:
        raise _err("model", str(exc)) from exc


def _load_dask(raw: dict[str, Any]) -> dict[str, Any]:
    dask_cfg = raw.get("dask") or {}
    if not isinstance(dask_cfg, dict) or set(dask_cfg) - _DASK_KEYS:
        raise _err("dask", f"expected keys among {sorted(_DASK_KEYS)}, found {dask_cfg!r}")
    check_dask(dask_cfg, "config dask")
    return dask_cfg


def check_dask(dask_cfg: Mapping[str, Any], where: str) -> None:
    """Refuse worker or thread counts below 1 (or not integers) and a scheduler that is not an address.

    Parameters
    ----------
    dask_cfg : mapping
        ``workers``, ``threads_per_worker``, ``scheduler`` (each optional, None for unset).
    where : str
        The caller, for the message (``"config dask"``, ``"run"``).

    Raises
    ------
    ConfigError
        Listing every bad value.
    """
    bad = []
    for key in ("workers", "threads_per_worker"):
        v = dask_cfg.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            bad.append(f"{key}: expected an integer >= 1, found {v!r}")
    sched = dask_cfg.get("scheduler")
    if sched is not None and (not isinstance(sched, str) or not sched.strip()):
        bad.append(f"scheduler: expected an address such as 'tcp://host:8786', found {sched!r}")
    if bad:
        raise ConfigError(f"{where}: " + "; ".join(bad))


def _load_report(raw: dict[str, Any]) -> bool:
    report = raw.get("report", True)
    if not isinstance(report, bool):
        raise _err("report", f"expected true or false, found {report!r}")
    return report
