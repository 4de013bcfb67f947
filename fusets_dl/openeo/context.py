"""The UDF ``context``: its keys, checks, defaults, merging and the model it names.

One place for the options (as xclim and flox keep theirs): each section of the
context holds keyword arguments of one Python API function, under the same
names, so an openEO run is configured exactly like a local one::

    {"model": "https://.../ndvi_model.json",
     "s1": {"units": "linear"}, "s2": {"harmonize": False},
     "align": {"tolerance": "3D"}, "predict": {"batch_size": 65536},
     "reconstruct": {"freq": "5D"}, "phenology": {"max_seasons": 2}}
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._logging import logger
from ..errors import ConfigError, ModelError
from .values import check_values

if TYPE_CHECKING:
    from ..models import FusionModel

__all__ = [
    "KINDS",
    "SECTION_KEYS",
    "TOP_KEYS",
    "check_context",
    "merge_context",
    "model_from_context",
    "section",
]

#: The UDF kinds and the context sections each one reads.
KINDS: dict[str, tuple[str, ...]] = {
    "predict": ("s1", "s2", "align", "predict"),
    "reconstruct": ("s1", "s2", "align", "predict", "reconstruct"),
    "phenology": ("s1", "s2", "align", "predict", "reconstruct", "phenology"),
}

#: The keyword arguments each section accepts: those of the Python API function it configures
#: (``open_s1``, ``open_s2``, ``align``, ``predict_ndvi``, ``reconstruct``, ``phenology``), less the
#: data arguments and those that need in-memory objects (``terrain``, ``predicted``, ``by``,
#: ``std``, ``classes``, ``params``, ``observed``), and phenology's ``by_year`` (its (year, season) layout is not one band per season).
SECTION_KEYS: dict[str, tuple[str, ...]] = {
    "s1": ("units", "orbit", "time_range", "bbox", "duplicates", "backscatter", "slice_window"),
    "s2": ("clear_classes", "time_range", "bbox", "reflectance_scale", "harmonize", "duplicates"),
    "align": (
        "tolerance", "freq", "min_clear_fraction", "outlier_filter", "outlier_threshold",
        "outlier_max_gap_days", "keep_cloudy", "unpaired_views",
    ),
    "predict": ("batch_size", "device", "precision"),
    "reconstruct": ("freq", "smooth", "lam", "obs_std", "weights", "calibration", "pred_gap_days", "debias_days", "s1_only"),
    "phenology": (
        "max_seasons", "method", "amplitude_fraction", "min_amplitude", "min_length", "smooth",
        "step_days", "period", "min_valid", "noise_factor", "noise", "min_separation", "min_span",
        "start_threshold", "end_threshold", "threshold_type", "pos_level", "extrapolate",
        "envelope", "main_fraction", "main_months", "year_start",
    ),
}

#: Defaults that differ from the Python API's because openEO delivers other encodings:
#: ``SENTINEL2_L2A`` reflectance is harmonised DN (x 1e4) whatever the processing baseline.
#: (The S1 ``units`` default depends on the band names: see :func:`fusets_dl.openeo.udf.s1_units`.)
SECTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "s2": {"reflectance_scale": 1e-4, "harmonize": False},
}

#: Keys allowed at the top of the context.
TOP_KEYS: tuple[str, ...] = ("model", "crs", *SECTION_KEYS)


def check_context(kind: str, context: Mapping[str, Any] | None) -> dict[str, Any]:
    """Check a UDF context for ``kind``; return it as a plain dict.

    Parameters
    ----------
    kind : {"predict", "reconstruct", "phenology"}
        The UDF.
    context : mapping or None
        ``model`` (required: a path or http(s) URL of a model saved by
        :meth:`~fusets_dl.FusionModel.save`, or a name :func:`fusets_dl.load_model`
        knows), ``crs`` (optional, EPSG code or WKT of the cube's grid) and one
        mapping per section of :data:`SECTION_KEYS`.

    Returns
    -------
    dict
        The context, sections copied.

    Raises
    ------
    ConfigError
        An unknown kind, an unknown key (top level or in a section), a
        section of another kind, a section that is not a mapping, a
        context that is not JSON-serialisable, or an option value the stage
        would refuse or misread (:func:`fusets_dl.openeo.values.check_values`:
        ``lam=-5``, ``crs="not-a-crs"``, a number or boolean given as a
        string such as ``"1000"`` or ``"false"``).
    ModelError
        No ``model``, or one that is not a non-empty string.
    """
    if kind not in KINDS:
        raise ConfigError(f"openEO UDF: kind: expected one of {sorted(KINDS)}, found {kind!r}")
    what = f"openEO UDF {kind!r}: context"
    ctx = dict(context or {})
    unknown = sorted(set(ctx) - set(TOP_KEYS))
    if unknown:
        raise ConfigError(f"{what}: unknown key(s) {unknown}; expected {list(TOP_KEYS)}")
    model = ctx.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ModelError(
            f"{what}['model']: expected a path or http(s) URL of a model saved by FusionModel.save "
            f"(.json sidecar + .safetensors weights), found {model!r}"
        )
    if model != model.strip():  # the loader takes it as written: every tile failed to find "  pretrained "
        ctx["model"] = model.strip()
    for name in SECTION_KEYS:
        if name not in ctx:
            continue
        if name not in KINDS[kind]:
            raise ConfigError(f"{what}: section {name!r} is not read by this UDF; expected sections {list(KINDS[kind])}")
        sec = ctx[name]
        if not isinstance(sec, Mapping):
            raise ConfigError(f"{what}[{name!r}]: expected a mapping of keyword arguments, found {type(sec).__name__}")
        bad = sorted(set(sec) - set(SECTION_KEYS[name]))
        if bad:
            raise ConfigError(f"{what}[{name!r}]: unknown option(s) {bad}; expected {list(SECTION_KEYS[name])}")
        ctx[name] = dict(sec)
    try:
        json.dumps(ctx)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: expected JSON-serialisable values (the context travels as JSON), found {exc}") from exc
    check_values(ctx, what)
    return ctx


def merge_context(base: Mapping[str, Any] | None, override: Mapping[str, Any] | None) -> dict[str, Any]:
    """``base`` updated by ``override``, section by section.

    Parameters
    ----------
    base, override : mapping or None
        Two contexts; keys of ``override`` win, and a section present in both
        is merged key by key.

    Returns
    -------
    dict
        The merged context.

    Raises
    ------
    ConfigError
        ``base`` or ``override`` is not a mapping (a JSON object) or None.
    """
    for which, ctx in (("context", base), ("runtime context", override)):
        if ctx is not None and not isinstance(ctx, Mapping):
            raise ConfigError(f"openEO UDF {which}: expected a mapping (a JSON object) of sections such as "
                              f"{{'model': 'pretrained', 'align': {{...}}, 'reconstruct': {{...}}}}, or null; found "
                              f"{type(ctx).__name__} {str(ctx)[:80]!r}")
    out: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in (base or {}).items()}
    for k, v in (override or {}).items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = {**out[k], **v}
        else:
            out[k] = dict(v) if isinstance(v, Mapping) else v
    return out


def section(context: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The keyword arguments of section ``name``: the openEO defaults updated by the context.

    Parameters
    ----------
    context : mapping
        A context checked by :func:`check_context`.
    name : str
        A key of :data:`SECTION_KEYS`.

    Returns
    -------
    dict
        Keyword arguments for the section's Python API function (lists
        turned into tuples where the function expects tuples).
    """
    out = {**SECTION_DEFAULTS.get(name, {}), **dict(context.get(name) or {})}
    for key in ("time_range", "bbox", "period", "clear_classes"):
        if isinstance(out.get(key), list):
            out[key] = tuple(out[key])
    return out


def _is_url(model: str) -> bool:
    return urllib.parse.urlparse(model).scheme in ("http", "https")


def _fetch(url: str) -> bytes:
    """The bytes at ``url``; a :class:`ModelError` that names it when the download fails."""
    try:
        with urllib.request.urlopen(url, timeout=120) as resp:  # noqa: S310 - scheme checked: http(s) only
            return resp.read()
    except OSError as exc:
        raise ModelError(f"openEO UDF: model {url}: download failed: {exc}") from exc


def _write_atomic(target: Path, blob: bytes) -> None:
    """Write ``blob`` to ``target`` through a temporary file of its own (processes of one worker may race)."""
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=target.name, suffix=".part", delete=False) as fh:
        fh.write(blob)
    Path(fh.name).replace(target)


def _download_pair(url: str) -> Path:
    """Download the ``.json`` and ``.safetensors`` of a model URL into a cache folder; their common stem.

    The small ``.json`` sidecar is fetched on every call (once per process:
    :func:`_load` is cached). The pair is cached in a folder named by the
    weights' SHA-256 that the sidecar records, so a model replaced at the same
    URL is downloaded again, two processes never mix two versions, and
    downloaded weights that do not have that SHA-256 are refused. When the
    sidecar cannot be fetched (the network is down), the most recent complete
    pair cached for this URL is used, with a warning.
    """
    stem = url
    for ext in (".json", ".safetensors"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    root = Path(tempfile.gettempdir()) / "fusets_dl_models" / hashlib.sha256(stem.encode()).hexdigest()[:16]
    root.mkdir(parents=True, exist_ok=True)
    try:
        sidecar = _fetch(stem + ".json")
    except ModelError:
        cached = _cached_pair(root)
        if cached is None:
            raise
        logger.warning("openEO UDF: model %s: the sidecar could not be fetched; using the copy cached at %s", stem, cached)
        return cached
    try:
        want = json.loads(sidecar).get("weights_sha256")
    except (ValueError, AttributeError):  # not a model sidecar: load_model says what it expected
        want = None
    folder = root / (str(want)[:32] if isinstance(want, str) and want.isalnum() else "unchecked")
    folder.mkdir(exist_ok=True)
    weights = folder / "model.safetensors"
    if not (want and weights.exists() and _sha256(weights) == want):
        blob = _fetch(stem + ".safetensors")
        if want and hashlib.sha256(blob).hexdigest() != want:
            raise ModelError(f"openEO UDF: model {stem}.safetensors: the download's SHA-256 is {hashlib.sha256(blob).hexdigest()[:16]}..., "
                             f"the sidecar expects {str(want)[:16]}... (replaced while it was read, or truncated); run the job again")
        _write_atomic(weights, blob)
        logger.info("downloaded %s to %s", stem + ".safetensors", weights)
    _write_atomic(folder / "model.json", sidecar)
    return folder / "model"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cached_pair(root: Path) -> Path | None:
    """The most recently written cached pair under ``root`` whose weights have the SHA-256 its sidecar records, else None."""
    for folder in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            want = json.loads((folder / "model.json").read_text()).get("weights_sha256")
            if want and _sha256(folder / "model.safetensors") == want:
                return folder / "model"
        except (OSError, ValueError, AttributeError):
            continue
    return None


@lru_cache(maxsize=4)
def _load(model: str) -> FusionModel:
    from ..models.io import load_model

    path = _download_pair(model) if _is_url(model) else model
    try:
        return load_model(path)
    except FileNotFoundError as exc:  # a reader's SourceError or a bare OS error: say what the UDF expected
        raise ModelError(f"openEO UDF: model {model!r}: expected a model saved by FusionModel.save, found none: {exc}") from exc


def model_from_context(context: Mapping[str, Any]) -> FusionModel:
    """The model the context names, loaded once per process (tiles of one job share it).

    Parameters
    ----------
    context : mapping
        A context checked by :func:`check_context`.

    Returns
    -------
    FusionModel
        Loaded with :func:`fusets_dl.load_model` (weights hash verified); an
        http(s) URL is downloaded first (``.json`` and ``.safetensors`` beside
        each other, URL of either or of their common stem).

    Raises
    ------
    ModelError
        Missing, unreadable, tampered or undownloadable model files.
    """
    return _load(str(context["model"]))
