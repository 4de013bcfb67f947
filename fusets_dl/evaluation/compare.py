"""The gap-filling benchmark: deep-learning fusion against MOGPR, Whittaker and interpolation.

Protocol (:func:`compare`)
--------------------------
1. The fusion model is trained with spatial blocks held out (or an existing
   model is used with its own held-out blocks); every score below is on
   pixels of blocks it never saw.
2. In each evaluated pixel (the held-out blocks, at most ``max_pixels`` of
   them, chosen by a seeded hash), ``n_gaps`` simulated cloudy spells of
   ``gap_days`` days are placed at random, one in each of ``n_gaps`` equal
   parts of the series, and every clear NDVI observation inside them is
   hidden.
3. Each method reconstructs the hidden dates from what is left (and, for
   the fusion and MOGPR, the S1 series): the fusion reconstruction
   (observations, S1 predictions, Whittaker), the S1 prediction alone,
   MOGPR (NDVI plus the RVI of each relative orbit as outputs), a Whittaker
   smoother and linear interpolation of the remaining clear NDVI.
4. RMSE, MAE, R2 and bias on the hidden values that every method filled
   (interpolation cannot fill a gap at the start or end of a series), the
   share each method filled, and the wall time per pixel.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._rng import hash_uniform
from ..errors import ConfigError, InsufficientDataError
from ..validate import check_cube
from .metrics import regression_metrics
from .splits import block_mask

__all__ = ["METHODS", "CompareConfig", "CompareResult", "compare", "hide_gaps", "spell_starts"]

log = logging.getLogger("fusets_dl")

METHODS = ("fusion", "fusion_s1_only", "mogpr", "whittaker", "linear")
_LABELS = {
    "fusion": "DL fusion (reconstruct)",
    "fusion_s1_only": "DL S1 prediction alone",
    "mogpr": "MOGPR (NDVI + RVI per orbit)",
    "whittaker": "Whittaker (S2 only)",
    "linear": "Linear interpolation (S2 only)",
}


@dataclass
class CompareConfig:
    """Settings of the gap-filling comparison.

    Parameters
    ----------
    gap_days : float
        Length of each simulated cloudy spell, days.
    n_gaps : int
        Spells per pixel, one in each of ``n_gaps`` equal parts of the series.
    methods : tuple of str
        Any of :data:`METHODS`.
    max_pixels : int, optional
        Pixels evaluated (sampled from the held-out blocks); ``None``: all.
    min_clear : int
        Fewest clear observations a pixel must keep outside the spells.
    seed : int
        Seed of the spell positions and of the pixel sample.
    lam : float
        Whittaker parameter (1-day grid) for the fusion and the Whittaker baseline.
    mogpr : dict
        :class:`~fusets_dl.baselines.GPConfig` fields for MOGPR.
    period : (start, end), optional
        Place the spells within these dates only (for example the period a
        model was not trained on); default: the whole series.
    """

    gap_days: float = 60.0
    n_gaps: int = 5
    methods: tuple[str, ...] = METHODS
    max_pixels: int | None = 400
    min_clear: int = 4
    seed: int = 0
    lam: float = 1000.0
    mogpr: dict[str, Any] = field(default_factory=dict)
    period: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        self.methods = tuple(self.methods)
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ConfigError(f"CompareConfig.methods: expected some of {list(METHODS)}, found {bad}")
        if self.gap_days <= 0 or self.n_gaps < 1:
            raise ConfigError(f"CompareConfig: expected gap_days > 0 and n_gaps >= 1, found {self.gap_days}, {self.n_gaps}")
        if self.max_pixels is not None and self.max_pixels < 1:
            raise ConfigError(f"CompareConfig.max_pixels: expected >= 1 or None, found {self.max_pixels}")


@dataclass
class CompareResult:
    """Scores of every method on the hidden values, with what is needed for the figure."""

    rows: list[dict[str, Any]]
    info: dict[str, Any]
    examples: dict[str, Any] = field(repr=False, default_factory=dict)

    def to_markdown(self) -> str:
        """The table as GitHub Markdown."""
        head = "| method | RMSE | MAE | R2 | bias | filled | s / pixel |\n|---|---|---|---|---|---|---|\n"
        body = "".join(
            f"| {self.examples.get('labels', _LABELS).get(r['method'], r['method'])} | {r['rmse']:.4f} | {r['mae']:.4f} | {r['r2']:.3f} | {r['bias']:+.4f} | "
            f"{r['filled']:.1%} | {r['seconds_per_pixel']:.2e} |\n"
            for r in self.rows
        )
        i = self.info
        foot = (
            f"\n{i['n_hidden_scored']} hidden clear observations scored (of {i['n_hidden']}) in {i['n_pixels']} pixels of "
            f"held-out blocks; {i['n_gaps']} spells of {i['gap_days']:g} days per pixel.\n"
        )
        return head + body + foot

    def to_csv(self, path: str | Path) -> Path:
        path = Path(path)
        keys = list(self.rows[0]) if self.rows else []
        with path.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)
        return path

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps({"rows": self.rows, "info": self.info}, indent=2, default=str))
        return path

    def save(self, folder: str | Path, *, figure: bool = True) -> dict[str, Path]:
        """Write ``compare.md``, ``compare.csv``, ``compare.json`` and ``compare.png`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        out = {"md": folder / "compare.md", "csv": folder / "compare.csv", "json": folder / "compare.json"}
        out["md"].write_text(self.to_markdown())
        self.to_csv(out["csv"])
        self.to_json(out["json"])
        if figure:
            from .plots import plot_comparison

            out["png"] = folder / "compare.png"
            plot_comparison(self).savefig(out["png"], dpi=110)
        return out


def hide_gaps(
    ndvi: np.ndarray, days: np.ndarray, iy: np.ndarray, ix: np.ndarray, *, gap_days: float, n_gaps: int, seed: int,
    span: tuple[float, float] | None = None,
) -> np.ndarray:
    """Mask (time, pixel) of clear observations inside simulated cloudy spells.

    The series span is cut into ``n_gaps`` equal parts and one spell of
    ``gap_days`` starts at a uniform random day of each part (so spells do not
    overlap when ``gap_days`` is at most a part's length); positions come from
    a counter-based hash of (seed, spell, y, x), so they do not depend on the
    order pixels are processed in.
    """
    starts = spell_starts(days, iy, ix, gap_days=gap_days, n_gaps=n_gaps, seed=seed, span=span)
    hidden = np.zeros(ndvi.shape, dtype=bool)
    for start in starts:
        hidden |= (days[:, None] >= start[None]) & (days[:, None] < start[None] + gap_days)
    return hidden & np.isfinite(ndvi)


def spell_starts(
    days: np.ndarray, iy: np.ndarray, ix: np.ndarray, *, gap_days: float, n_gaps: int, seed: int,
    span: tuple[float, float] | None = None,
) -> np.ndarray:
    """First day of each simulated spell, (n_gaps, pixels), in the units of ``days``; within ``span`` when given."""
    lo, hi = (float(days.min()), float(days.max())) if span is None else (float(span[0]), float(span[1]))
    part = (hi - lo) / n_gaps
    if gap_days > part:
        raise ConfigError(
            f"compare: {n_gaps} spells of {gap_days:g} days do not fit into a {hi - lo:.0f}-day series; "
            f"expected gap_days <= {part:.0f}"
        )
    return np.stack([lo + k * part + hash_uniform(seed, 7, k, iy, ix) * (part - gap_days) for k in range(n_gaps)])


def _pick_pixels(
    mask: np.ndarray, ndvi: np.ndarray, cfg: CompareConfig, days: np.ndarray, span: tuple[float, float] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    iy, ix = np.nonzero(mask)
    obs = ndvi[:, iy, ix]
    hidden = hide_gaps(obs, days, iy, ix, gap_days=cfg.gap_days, n_gaps=cfg.n_gaps, seed=cfg.seed, span=span)
    keep = (hidden.sum(0) > 0) & ((np.isfinite(obs) & ~hidden).sum(0) >= cfg.min_clear)
    iy, ix, hidden = iy[keep], ix[keep], hidden[:, keep]
    if cfg.max_pixels is not None and iy.size > cfg.max_pixels:
        order = np.argsort(hash_uniform(cfg.seed, 11, 0, iy, ix), kind="stable")[: cfg.max_pixels]
        order.sort()
        iy, ix, hidden = iy[order], ix[order], hidden[:, order]
    return iy, ix, hidden


def compare(
    cube: xr.Dataset,
    *,
    config: CompareConfig | None = None,
    model: Any = None,
    features: Any = None,
    train_config: Any = None,
    models: dict[str, Any] | None = None,
) -> CompareResult:
    """Run the gap-filling comparison on a fusion cube (see the module docstring for the protocol).

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` and the clear ``NDVI`` (loaded into
        memory; the comparison is meant for scenes up to a few hundred
        thousand pixels, MOGPR bounds it).
    config : CompareConfig, optional
        Spell length and count, methods, pixel budget.
    model : FusionModel, optional
        An already trained model; its held-out test blocks are evaluated.
        Default: a model is trained here on the cube (``features``,
        ``train_config``), with its own held-out blocks.
    models : dict, optional
        More trained models to compare (name -> FusionModel), each
        reconstructing as ``fusion[name]`` rows; they must hold out the same
        test blocks as ``model`` (train them with the same ``seed`` and
        ``block_size``, or an explicit ``split``).

    Returns
    -------
    CompareResult
        ``rows`` (one per method: ``rmse``, ``mae``, ``r2``, ``bias``, ``n``,
        ``filled``, ``seconds``, ``seconds_per_pixel``), ``info`` and the
        example series for the figure; ``save(folder)`` writes the tables and
        the figure.
    """
    from ..baselines import GPConfig, interpolate_linear, mogpr, mogpr_inputs, whittaker_baseline
    from ..inference.predict import predict_ndvi
    from ..reconstruction import reconstruct
    from ..training.loop import train

    cfg = config or CompareConfig()
    check_cube(cube, need_target=True)
    cube = cube.compute()  # a loaded copy; the caller's lazy cube stays lazy
    ny, nx = cube.sizes["y"], cube.sizes["x"]
    timings: dict[str, float] = {}
    if model is None:
        t0 = time.perf_counter()
        model = train(cube, features, train_config)
        timings["training"] = time.perf_counter() - t0
    ndvi = cube["NDVI"].transpose("time", "y", "x").values.astype(np.float64)
    t_idx = pd.DatetimeIndex(cube["time"].values)
    days = ((t_idx - t_idx[0]) / pd.Timedelta(days=1)).to_numpy(np.float64)
    test = block_mask(ny, nx, model.blocks, "test")
    span = None
    if cfg.period is not None:
        a, b = (pd.Timestamp(v) for v in cfg.period)
        span = (max((a - t_idx[0]) / pd.Timedelta(days=1), 0.0), min((b - t_idx[0]) / pd.Timedelta(days=1), float(days[-1])))
        if span[1] <= span[0]:
            raise ConfigError(f"compare: period {cfg.period} does not overlap the cube's dates {t_idx[0].date()}..{t_idx[-1].date()}")
    iy, ix, hidden = _pick_pixels(test, ndvi, cfg, days, span)
    if iy.size == 0:
        raise InsufficientDataError(
            f"compare: no held-out pixel keeps {cfg.min_clear} clear observations with {cfg.n_gaps} spells of "
            f"{cfg.gap_days:g} days hidden ({int(test.sum())} held-out pixels); use shorter or fewer spells"
        )
    full_hidden = np.zeros(ndvi.shape, dtype=bool)
    full_hidden[:, iy, ix] = hidden
    cube_h = cube.copy()
    cube_h["NDVI"] = cube["NDVI"].where(~xr.DataArray(full_hidden, dims=("time", "y", "x")))
    pix = {"y": xr.DataArray(iy, dims="pixel"), "x": xr.DataArray(ix, dims="pixel")}
    npx = iy.size
    log.info("compare: %d pixels, %d hidden clear observations, methods %s", npx, int(hidden.sum()), cfg.methods)

    preds: dict[str, np.ndarray] = {}
    secs: dict[str, float] = {}
    per_pixel_of: dict[str, int] = {}
    for name, extra in (models or {}).items():
        if extra.blocks.get("test") != model.blocks.get("test") or extra.blocks.get("block_size") != model.blocks.get("block_size"):
            raise ConfigError(
                f"compare: model {name!r} holds out blocks {extra.blocks.get('test')} of size {extra.blocks.get('block_size')}, "
                f"expected the same as the main model: {model.blocks.get('test')} of size {model.blocks.get('block_size')}"
            )
        t0 = time.perf_counter()
        rec = reconstruct(cube_h, extra, lam=cfg.lam)["NDVI"].compute()
        key = f"fusion[{name}]"
        preds[key] = rec.isel(pix).transpose("time", "pixel").values
        secs[key] = time.perf_counter() - t0
        per_pixel_of[key] = ny * nx
    pred, t_pred = None, 0.0
    if {"fusion", "fusion_s1_only"} & set(cfg.methods):
        t0 = time.perf_counter()
        pred = predict_ndvi(cube_h, model).compute()  # once: the reconstruction below starts from it
        t_pred = time.perf_counter() - t0
    for method in cfg.methods:
        t0 = time.perf_counter()
        if method == "fusion":
            rec = reconstruct(cube_h, model, lam=cfg.lam, predicted=pred)["NDVI"].compute()
            preds[method] = rec.isel(pix).transpose("time", "pixel").values
            per_pixel_of[method] = ny * nx
            t0 -= t_pred  # its time includes the prediction it used
        elif method == "fusion_s1_only":
            preds[method] = pred.isel(pix).transpose("time", "pixel").values
            per_pixel_of[method] = ny * nx
            t0 -= t_pred
        elif method == "mogpr":
            sub = mogpr_inputs(cube_h.isel(pix))
            res = mogpr(sub, target="NDVI", config=GPConfig(**cfg.mogpr)).compute()
            preds[method] = res["NDVI"].transpose("time", "pixel").values
            per_pixel_of[method] = npx
        elif method == "whittaker":
            preds[method] = whittaker_baseline(cube_h["NDVI"].isel(pix), lam=cfg.lam).transpose("time", "pixel").values
            per_pixel_of[method] = npx
        else:
            preds[method] = interpolate_linear(cube_h["NDVI"].isel(pix)).transpose("time", "pixel").values
            per_pixel_of[method] = npx
        secs[method] = time.perf_counter() - t0
        log.info("compare: %s done in %.1f s", method, secs[method])

    truth = ndvi[:, iy, ix]
    scored = hidden.copy()
    for p in preds.values():
        scored &= np.isfinite(p)
    rows = []
    for method, p in preds.items():
        m = regression_metrics(truth[scored], p[scored])
        rows.append(
            {
                "method": method,
                **{k: m[k] for k in ("rmse", "mae", "r2", "bias", "n")},
                "filled": float(np.isfinite(p[hidden]).mean()),
                "seconds": secs[method],
                "seconds_per_pixel": secs[method] / per_pixel_of[method],
                "timed_pixels": per_pixel_of[method],
            }
        )
    info = {
        "gap_days": cfg.gap_days,
        "n_gaps": cfg.n_gaps,
        "n_pixels": int(npx),
        "n_hidden": int(hidden.sum()),
        "n_hidden_scored": int(scored.sum()),
        "scene": [ny, nx, cube.sizes["time"]],
        "period": [str(t_idx[0].date()), str(t_idx[-1].date())],
        "test_blocks": model.blocks.get("test", []),
        "block_size": model.blocks.get("block_size"),
        "training_seconds": timings.get("training"),
        "config": asdict(cfg),
    }
    examples = _examples(t_idx, truth, hidden, preds, cube.isel(pix))
    starts = spell_starts(days, iy, ix, gap_days=cfg.gap_days, n_gaps=cfg.n_gaps, seed=cfg.seed, span=span)[:, examples["pixels"]]
    examples["spells"] = [
        [(t_idx[0] + pd.Timedelta(days=float(s)), t_idx[0] + pd.Timedelta(days=float(s) + cfg.gap_days)) for s in starts[:, k]]
        for k in range(starts.shape[1])
    ]
    return CompareResult(rows=rows, info=info, examples=examples)


def _examples(t_idx: pd.DatetimeIndex, truth: np.ndarray, hidden: np.ndarray, preds: dict[str, np.ndarray], sub: xr.Dataset, n: int = 3) -> dict[str, Any]:
    """A few pixels with the most hidden observations, for the figure."""
    order = np.argsort(-hidden.sum(0), kind="stable")[:n]
    labels = dict(_LABELS)
    for k in preds:
        if k.startswith("fusion["):
            labels[k] = f"DL fusion {k[6:]}"
    vv = sub["VV"].transpose("time", "pixel").values
    return {
        "time": t_idx.values,
        "pixels": order.tolist(),
        "observed": truth[:, order],
        "hidden": hidden[:, order],
        "vv": vv[:, order],
        "predictions": {k: v[:, order] for k, v in preds.items()},
        "labels": labels,
    }
