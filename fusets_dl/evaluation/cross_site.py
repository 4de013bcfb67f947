"""Leave-one-site-out scoring: each site filled by a model trained on the other sites.

Protocol (:func:`leave_one_site_out`)
-------------------------------------
For each site ``k`` of ``cubes``, a model is trained on every other site
(:func:`fusets_dl.train` with a sequence of cubes, each with its own held-out
blocks for early stopping) and scored on site ``k``, which it never saw
(:func:`score_sites`):

1. **Prediction** (``pred_*``): the model's NDVI prediction against every
   clear NDVI observation of every pixel of the site (R2, RMSE, MAE, bias);
   with an S1-only feature spec (the default) this is the pure S1 -> NDVI
   prediction.
2. **Gap filling** (``gap_*``): the comparison of
   :func:`fusets_dl.compare` with every pixel of the site as a held-out
   pixel: ``n_gaps`` simulated cloudy spells of ``gap_days`` days
   (:mod:`~fusets_dl.evaluation.gaps`) hide the clear observations, and the
   fusion reconstruction (``fusion``: observations + prediction + smoother),
   the prediction alone (``s1``) and linear interpolation of the remaining
   clear NDVI (``linear``) fill them; RMSE and R2 on the hidden values all
   three filled, and ``gap_ratio`` = fusion RMSE / linear RMSE (below 1:
   better than interpolation).

:func:`score_sites` scores any given model (for example the pre-trained one)
the same way; a site in that model's training set is not a fair score.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._warn import warn_user
from ..cf import cube_site
from ..errors import ConfigError, InsufficientDataError
from ..validate import is_finite_positive, is_whole
from .comparison import CompareConfig, compare
from .methods import SEQUENCE_NOT_CALIBRATED, s1_prediction
from .metrics import regression_metrics
from .splits import with_split

__all__ = ["leave_one_site_out", "score_sites"]

log = logging.getLogger("fusets_dl")

_GAP_METHODS = ("fusion", "fusion_s1_only", "linear")
_GAP_COLUMNS = {"fusion": "fusion", "fusion_s1_only": "s1", "linear": "linear", "fusion_calibrated": "calibrated"}


def score_sites(
    model: Any,
    cubes: Sequence[xr.Dataset],
    *,
    names: Sequence[str] | None = None,
    gap_days: float = 60.0,
    n_gaps: int = 3,
    max_pixels: int | None = 400,
    seed: int = 0,
    trained_on: Sequence[str] = (),
    calibrated: bool = False,
    block_size: int = 8,
) -> pd.DataFrame:
    """Score one model on each site: its prediction on all clear dates, and gap filling against linear interpolation.

    Parameters
    ----------
    model : FusionModel
        The model to score (trained elsewhere, or the pre-trained one).
    cubes : sequence of xarray.Dataset
        Fusion cubes with ``VV``, ``VH`` and the clear ``NDVI``.
    names : sequence of str, optional
        Site names; default :func:`fusets_dl.training.loop.site_names`.
    gap_days : float
        Length of each simulated cloudy spell, days.
    n_gaps : int
        Spells per pixel (fewer on a site whose series is too short: as many
        as fit, at least 1; none fit: the gap columns are NaN).
    max_pixels : int, optional
        Pixels of each site whose spells are scored (a seeded sample); None: all.
    seed : int
        Seed of the spells and of the pixel sample.
    trained_on : sequence of str
        Names of the sites the model was trained on (flagged ``in_training``).
    calibrated : bool
        Also score the calibrated reconstruction (``reconstruct(...,
        weights="auto")``: weights, lambda and long-gap guard chosen on the
        site's own clear observations, no label beyond them). The site's
        ``block_size`` blocks are then split in two seeded halves: spells of the
        first half calibrate, spells of the second are scored (every row on
        the same values), so the calibration never sees a scored value. A
        sequence model has no calibrated reconstruction: its calibrated
        columns are NaN, with one warning.
    block_size : int
        Block size of that split (pixels; points on a point pseudo-grid).

    Returns
    -------
    pandas.DataFrame
        One row per site: ``site``, ``in_training``, ``pixels``, ``dates``,
        ``pred_n``, ``pred_r2``, ``pred_rmse``, ``pred_mae``, ``pred_bias``,
        ``gap_n``, ``gap_spells``, ``gap_rmse_fusion``, ``gap_rmse_s1``,
        ``gap_rmse_linear``, ``gap_r2_fusion``, ``gap_r2_linear``, ``gap_ratio``
        (fusion / linear RMSE), ``gap_within1_fusion`` and ``gap_within2_fusion``
        (shares of the hidden values within 1 and 2 of the fusion's
        ``NDVI_std``; 68.3 % and 95.4 % when calibrated), ``seconds``; with ``calibrated``, also
        ``gap_rmse_calibrated`` and ``gap_ratio_calibrated``.

    Raises
    ------
    ConfigError
        No cube (or a single Dataset instead of a list), names not one per
        cube or repeated, a bare string for ``names`` or ``trained_on``, or
        ``gap_days``, ``n_gaps``, ``max_pixels``, ``seed``, ``block_size``
        out of range.

    Warns
    -----
    UserWarning
        A site without any clear NDVI (its scores are NaN); ``calibrated``
        with a sequence model (its calibrated columns are NaN).
    """
    from ..training.loop import site_names

    _check_gap_options("score_sites", gap_days, n_gaps, max_pixels, seed, block_size)
    cubes = _as_cubes("score_sites", cubes, 1)
    names = list(_names("score_sites", "names", names)) if names is not None else site_names(cubes)
    trained_on = _names("score_sites", "trained_on", trained_on)
    if len(names) != len(cubes):
        raise ConfigError(f"score_sites: expected one name per cube ({len(cubes)}), found {len(names)}")
    _check_unique("score_sites", names)
    if calibrated and _is_sequence(model):
        _warn_not_calibrated("score_sites")
    return _score_rows(model, cubes, names, trained_on, gap_days=gap_days, n_gaps=n_gaps, max_pixels=max_pixels, seed=seed,
                       calibrated=calibrated, block_size=block_size)


def _training_sites(model: Any) -> set[str]:
    """The site names a model records for its training data (several sites' splits, its scene, a sequence model's cubes)."""
    info = getattr(model, "info", None) or {}
    names = set((getattr(model, "blocks", None) or {}).get("sites", {}) or {})
    names |= set(info.get("sites") or {})
    scene = info.get("scene") or {}
    if isinstance(scene, Mapping) and scene.get("site"):
        names.add(str(scene["site"]))
    names |= {str(c["site"]) for c in info.get("cubes") or [] if isinstance(c, Mapping) and c.get("site")}
    return {n for n in names if n}


def _is_sequence(model: Any) -> bool:
    """Whether ``model`` is a whole-series sequence model."""
    return getattr(model, "kind", None) == "sequence"


def _warn_not_calibrated(what: str) -> None:
    """The one warning of a scoring with ``calibrated=True`` of a sequence model: its calibrated columns are NaN, and why."""
    warn_user(f"{what}: calibrated=True: gap_rmse_calibrated and gap_ratio_calibrated are NaN for a sequence model "
              f"(the other gap columns are scored on the same half of the blocks as a per-date model's): {SEQUENCE_NOT_CALIBRATED}")


def _score_rows(
    model: Any, cubes: list[xr.Dataset], names: list[str], trained_on: Sequence[str], *, gap_days: float, n_gaps: int,
    max_pixels: int | None, seed: int, calibrated: bool, block_size: int,
) -> pd.DataFrame:
    """:func:`score_sites`' table, its arguments checked."""
    rows = []
    recorded = _training_sites(model)
    for name, cube in zip(names, cubes, strict=True):
        t0 = time.perf_counter()
        cube = cube.compute()
        if not np.isfinite(cube["NDVI"].values).any():
            warn_user(f"score_sites: site {name!r} has no clear NDVI observation: its prediction and gap-filling scores are NaN")
        seen = name in set(trained_on)
        own = cube_site(cube.attrs)  # an explicit site name only: default names (site0, ...) coincide across unrelated cubes
        if not seen and own and own in recorded:
            seen = True  # the model records it among its training sites: its scores are fit, not transfer
            warn_user(f"score_sites: site {name!r} is one of the sites the model was trained on (its records name "
                      f"{sorted(recorded)}): its scores measure fit, not transfer (in_training True)")
        row: dict[str, Any] = {"site": name, "in_training": seen, "pixels": cube.sizes["y"] * cube.sizes["x"],
                               "dates": cube.sizes["time"]}
        row.update(_prediction_scores(cube, model))
        row.update(_gap_scores(cube, model, gap_days=gap_days, n_gaps=n_gaps, max_pixels=max_pixels, seed=seed,
                               calibrated=calibrated, block_size=block_size))
        row["seconds"] = time.perf_counter() - t0
        log.info("score_sites: %s pred R2 %.3f, gap RMSE fusion %.4f vs linear %.4f", name, row["pred_r2"], row["gap_rmse_fusion"], row["gap_rmse_linear"])
        rows.append(row)
    return pd.DataFrame(rows)


def leave_one_site_out(
    cubes: Sequence[xr.Dataset],
    features: Any = None,
    config: Any = None,
    *,
    names: Sequence[str] | None = None,
    sites: Sequence[str] | None = None,
    gap_days: float = 60.0,
    n_gaps: int = 3,
    max_pixels: int | None = 400,
    seed: int = 0,
    return_models: bool = False,
    calibrated: bool = False,
    block_size: int = 8,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, Any]]:
    """For each site, train on the others and score on it (see the module docstring).

    Parameters
    ----------
    cubes : sequence of xarray.Dataset
        At least two fusion cubes (sites).
    features : FeatureSpec, optional
        Features of every model (default ``FeatureSpec()``, S1 only).
    config : TrainConfig, optional
        Training settings of every model.
    names : sequence of str, optional
        Site names; default :func:`fusets_dl.training.loop.site_names`.
    sites : sequence of str, optional
        Leave out only these sites (each still trains the others' models);
        default: every site.
    gap_days, n_gaps, max_pixels, seed, calibrated, block_size
        As for :func:`score_sites`.
    return_models : bool
        Also return the models (left-out site -> model).

    Returns
    -------
    pandas.DataFrame or (pandas.DataFrame, dict)
        The :func:`score_sites` row of each left-out site, with
        ``trained_on`` (the other sites, joined by ``+``) and
        ``train_seconds``; with ``return_models``, also the models.

    Raises
    ------
    ConfigError
        Fewer than two cubes, names not one per cube or repeated, ``sites``
        empty, a bare string or naming an unknown site, or the spell
        options out of range (as for :func:`score_sites`).

    Warns
    -----
    UserWarning
        As :func:`score_sites`; ``calibrated`` with sequence models once
        (their calibrated columns are NaN).
    """
    from ..training import train
    from ..training.loop import site_names

    _check_gap_options("leave_one_site_out", gap_days, n_gaps, max_pixels, seed, block_size)
    cubes = _as_cubes("leave_one_site_out", cubes, 2)
    names = list(_names("leave_one_site_out", "names", names)) if names is not None else site_names(cubes)
    if len(names) != len(cubes):
        raise ConfigError(f"leave_one_site_out: expected one name per cube ({len(cubes)}), found {len(names)}")
    _check_unique("leave_one_site_out", names)
    chosen = list(_names("leave_one_site_out", "sites", sites)) if sites is not None else names
    if not chosen:
        raise ConfigError(f"leave_one_site_out: sites: expected at least one of {names} to leave out, found none")
    unknown = [s for s in chosen if s not in names]
    if unknown:
        raise ConfigError(f"leave_one_site_out: sites {unknown} are not among {names}")
    frames, models = [], {}
    warned = False
    for k, name in enumerate(names):
        if name not in chosen:
            continue
        others = [c for j, c in enumerate(cubes) if j != k]
        other_names = [n for j, n in enumerate(names) if j != k]
        t0 = time.perf_counter()
        spec = None if getattr(config, "model", "mlp") == "sequence" else features  # the sequence model reads its own channels
        model = train([_named(c, n) for c, n in zip(others, other_names, strict=True)], spec, config)
        secs = time.perf_counter() - t0
        log.info("leave_one_site_out: %s left out, trained on %s in %.0f s", name, other_names, secs)
        if calibrated and not warned and _is_sequence(model):
            _warn_not_calibrated("leave_one_site_out")  # once, not once per left-out site
            warned = True
        row = _score_rows(model, [cubes[k]], [name], (), gap_days=gap_days, n_gaps=n_gaps, max_pixels=max_pixels, seed=seed,
                          calibrated=calibrated, block_size=block_size)
        row.insert(1, "trained_on", "+".join(other_names))
        row["train_seconds"] = secs
        frames.append(row)
        models[name] = model
    table = pd.concat(frames, ignore_index=True)
    return (table, models) if return_models else table


def _as_cubes(what: str, cubes: Sequence[xr.Dataset], least: int) -> list[xr.Dataset]:
    """The cubes as a list: at least ``least`` Datasets (a single Dataset is refused: iterating it gives its names)."""
    if isinstance(cubes, xr.Dataset):
        raise ConfigError(f"{what}: expected a list of fusion cubes (one per site), found a single Dataset; pass [cube]")
    cubes = list(cubes)
    if len(cubes) < least:
        raise ConfigError(f"{what}: expected at least {least} site{'s' if least > 1 else ''}, found {len(cubes)}")
    bad = [type(c).__name__ for c in cubes if not isinstance(c, xr.Dataset)]
    if bad:
        raise ConfigError(f"{what}: expected xarray.Dataset fusion cubes, found {bad}")
    return cubes


def _names(what: str, arg: str, names: Sequence[str]) -> Sequence[str]:
    """A sequence of site names; a bare string (which would iterate as letters) is refused."""
    if isinstance(names, str):
        raise ConfigError(f"{what}: {arg}: expected a list of site names, found the string {names!r} (write [{names!r}])")
    return names


def _check_unique(what: str, names: list[str]) -> None:
    """Site names must be unique: the rows, the models and a model's per-site metrics are keyed by them."""
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{what}: expected one name per site, found {dup} more than once in {names}")


def _check_gap_options(what: str, gap_days: float, n_gaps: int, max_pixels: int | None, seed: int, block_size: int) -> None:
    """The spells' options, before any site is loaded or any model trained."""
    if not (is_finite_positive(gap_days) and is_whole(n_gaps) and n_gaps >= 1):
        raise ConfigError(f"{what}: expected gap_days > 0 and a whole n_gaps >= 1, found {gap_days!r}, {n_gaps!r}")
    if max_pixels is not None and not (is_whole(max_pixels) and max_pixels >= 1):
        raise ConfigError(f"{what}: max_pixels: expected a whole number >= 1 or None, found {max_pixels!r}")
    if not (is_whole(seed) and is_whole(block_size) and block_size >= 1):
        raise ConfigError(f"{what}: expected a whole seed and a whole block_size >= 1, found {seed!r}, {block_size!r}")


def _named(cube: xr.Dataset, name: str) -> xr.Dataset:
    """The cube with ``attrs["site"]`` set (a shallow copy), so the trained model's per-site metrics use ``name``."""
    out = cube.copy()
    out.attrs = {**cube.attrs, "site": name}
    return out


def _prediction_scores(cube: xr.Dataset, model: Any) -> dict[str, float]:
    """The model's prediction against every clear NDVI observation of the cube (a sequence model's S1-only mode: it must not read them)."""
    pred = s1_prediction(cube, model).transpose("time", "y", "x").values
    obs = cube["NDVI"].transpose("time", "y", "x").values
    ok = np.isfinite(obs) & np.isfinite(pred)
    m = regression_metrics(obs[ok], pred[ok])
    return {"pred_n": int(m["n"]), **{f"pred_{k}": float(m[k]) for k in ("r2", "rmse", "mae", "bias")}}


def _halves(cube: xr.Dataset, block_size: int, seed: int) -> dict[str, Any]:
    """A split of the cube's blocks in two seeded halves: ``val`` (calibration) and ``test`` (scored)."""
    size = max(1, int(block_size))
    gy, gx = -(-cube.sizes["y"] // size), -(-cube.sizes["x"] // size)
    n = gy * gx
    if n < 2:
        size = max(1, min(cube.sizes["y"], cube.sizes["x"], max(cube.sizes["y"], cube.sizes["x"]) // 2))
        gy, gx = -(-cube.sizes["y"] // size), -(-cube.sizes["x"] // size)
        n = gy * gx
    order = np.random.default_rng(seed).permutation(n)
    test = sorted(order[: -(-n // 2)].tolist())
    val = sorted(order[-(-n // 2) :].tolist())
    return {"block_size": size, "grid": [gy, gx], "test": [[b // gx, b % gx] for b in test], "val": [[b // gx, b % gx] for b in val]}


def _gap_scores(
    cube: xr.Dataset, model: Any, *, gap_days: float, n_gaps: int, max_pixels: int | None, seed: int, calibrated: bool = False,
    block_size: int = 8,
) -> dict[str, Any]:
    """The gap-filling comparison on pixels the model never saw (all of them, or the scored half with ``calibrated``)."""
    columns = {k: v for k, v in _GAP_COLUMNS.items() if calibrated or k != "fusion_calibrated"}
    # a sequence model has no calibrated reconstruction: its calibrated columns stay NaN (said once by the caller)
    methods = tuple(k for k in columns if not (k == "fusion_calibrated" and _is_sequence(model)))
    empty: dict[str, Any] = {"gap_n": 0, "gap_spells": 0, **{f"gap_rmse_{v}": np.nan for v in columns.values()},
                             "gap_r2_fusion": np.nan, "gap_r2_linear": np.nan, "gap_ratio": np.nan,
                             "gap_within1_fusion": np.nan, "gap_within2_fusion": np.nan}
    if calibrated:
        empty["gap_ratio_calibrated"] = np.nan
    t = pd.DatetimeIndex(cube["time"].values)
    span = (t[-1] - t[0]) / pd.Timedelta(days=1)
    spells = min(n_gaps, int(span // gap_days))
    if spells < 1:  # a warning, not only a log line: the row's NaN gap columns are otherwise unexplained
        warn_user(f"score_sites: a {span:.0f}-day series holds no {gap_days:g}-day spell: its gap-filling scores are NaN")
        return empty
    if calibrated:
        blocks = _halves(cube, block_size, seed)
    else:
        blocks = {"block_size": max(cube.sizes["y"], cube.sizes["x"]), "grid": [1, 1], "test": [[0, 0]], "val": []}
    cfg = CompareConfig(gap_days=gap_days, n_gaps=spells, methods=methods, max_pixels=max_pixels, seed=seed)
    try:
        res = compare(cube, config=cfg, model=with_split(model, blocks))
    except InsufficientDataError as exc:
        warn_user(f"score_sites: no gap-filling score, its columns are NaN: {exc}")
        return empty
    by = {r["method"]: r for r in res.rows}
    out: dict[str, Any] = {"gap_n": int(by["linear"]["n"]), "gap_spells": spells}
    for method, col in columns.items():
        out[f"gap_rmse_{col}"] = float(by[method]["rmse"]) if method in by else np.nan
    out["gap_r2_fusion"] = float(by["fusion"]["r2"])
    out["gap_within1_fusion"] = float(by["fusion"]["within_1std"])  # the fusion's NDVI_std on the same hidden values
    out["gap_within2_fusion"] = float(by["fusion"]["within_2std"])
    out["gap_r2_linear"] = float(by["linear"]["r2"])
    lin = out["gap_rmse_linear"]
    out["gap_ratio"] = out["gap_rmse_fusion"] / lin if lin > 0 else np.nan
    if calibrated:
        out["gap_ratio_calibrated"] = out["gap_rmse_calibrated"] / lin if lin > 0 else np.nan
    return out
