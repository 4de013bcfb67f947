"""Self-supervised training of the whole-series model: hide spells of clear NDVI, learn to fill them.

Per cube: a spatial-block split (:func:`fusets_dl.evaluation.splits.split_blocks`,
seeded ``seed + k`` for the k-th cube, the same one :func:`fusets_dl.train`
draws for the same ``seed`` and ``block_size``), pixel series of the training blocks cut into windows of
``seq_window`` dates plus the network's receptive radius on each side. In
each window ``seq_spells`` random spells of 0 to ``seq_spell_days`` days of clear NDVI are
hidden from the input (in a share ``seq_s1_only_fraction`` of the windows
all NDVI is hidden: the S1-only mode), and the Gaussian negative
log-likelihood of the hidden values is minimised (mean and log-variance).
Early stopping on the RMSE of windows of the validation blocks (fixed masks;
``seq_val_score``). After
training, one factor on the std (:func:`~fusets_dl.models.sequence_model.fit_std_scale`,
the Gaussian-NLL optimum) is fitted on hidden 60-day spells of the
validation blocks (another for the S1-only mode): the network's std comes
out too narrow on held-out spells. Metrics on the test blocks.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from .._logging import logger
from .._months import month_shares, thin_months_message
from .._version import __version__
from .._warn import warn_user
from ..cf import cube_site
from ..errors import InsufficientDataError, ModelError
from ..evaluation.gaps import s2_view_days
from ..evaluation.metrics import regression_metrics
from ..evaluation.splits import (
    block_mask,
    check_split,
    grid_fingerprint,
    model_blocks,
    split_blocks,
)
from ..inference.sequence import series_time_inputs
from ..models.fusion_model import FusionModel
from ..models.sequence import (
    DEFAULT_INPUTS,
    GAP_CHANNELS,
    SequenceNet,
    gap_channels,
    hide_ndvi,
    input_channels,
    sequence_inputs,
)
from ..models.sequence_model import SequenceModel, cube_span, fit_std_scale
from ..readers.angles import check_angle_degrees
from ..readers.cube import backscatter_coefficient, check_cube_values
from ..runtime import resolve_device
from ..validate import check_cube
from ._checks import check_distinct_scenes, check_site_cube, site_names, site_splits
from ._checks import cube_list as cube_list_of
from .config import TrainConfig, mlp_only_changes

__all__ = ["calibrate_sequence", "train_sequence"]

_ANGLE = "incidence_angle"


@dataclass
class _Cube:
    """One cube's padded inputs and targets, split into parts."""

    x: np.ndarray  # (P, C, T + 2R) float32, NDVI channels included
    y: np.ndarray  # (P, T + 2R) clear NDVI standardised, NaN where none
    days: np.ndarray  # (T + 2R,) days, extrapolated into the padding
    part: np.ndarray  # (P,) 0 train, 1 val, 2 test
    raw: dict[str, np.ndarray]  # unpadded (P, T) VV, VH, NDVI, angle (and a pairing cube's NDVI_offset) for the metrics
    tchan: np.ndarray
    groups: np.ndarray
    inputs: tuple[str, ...]  # the channels of ``x``
    stats: dict[str, float]  # the normalisation statistics of ``x``


def _series(cube: xr.Dataset) -> dict[str, np.ndarray]:
    """(P, T) arrays of VV, VH, NDVI (the angle, a pairing cube's NDVI_offset) over every pixel, y-major."""
    out = {}
    for name in ("VV", "VH", "NDVI"):
        out[name] = np.asarray(cube[name].transpose("time", "y", "x").values, dtype=np.float32).reshape(cube.sizes["time"], -1).T.copy()
    if "NDVI_offset" in cube.data_vars:  # the date of each value's S2 view: the held-out spells hide views (_hidden_spells)
        out["NDVI_offset"] = np.asarray(cube["NDVI_offset"].transpose("time", "y", "x").values, dtype=np.float64).reshape(cube.sizes["time"], -1).T.copy()
    if _ANGLE in cube.data_vars or _ANGLE in cube.coords:
        check_angle_degrees(cube[_ANGLE], "train(model='sequence')")  # set after the reader (assign_coords): radians, 0, 95
        a = cube[_ANGLE].broadcast_like(cube["VV"]).transpose("time", "y", "x").values
        out["angle"] = np.asarray(a, dtype=np.float32).reshape(cube.sizes["time"], -1).T.copy()
    return out


def _fit_stats(series: list[dict[str, np.ndarray]], parts: list[np.ndarray]) -> dict[str, float]:
    """Means and standard deviations of VV, VH, VV-VH and clear NDVI over the training pixels."""
    acc: dict[str, list[np.ndarray]] = {"vv": [], "vh": [], "ratio": [], "ndvi": []}
    for s, part in zip(series, parts, strict=True):
        tr = part == 0
        acc["vv"].append(s["VV"][tr].ravel())
        acc["vh"].append(s["VH"][tr].ravel())
        acc["ratio"].append((s["VV"][tr] - s["VH"][tr]).ravel())
        acc["ndvi"].append(s["NDVI"][tr].ravel())
    stats = {}
    for k, v in acc.items():
        a = np.concatenate(v)
        a = a[np.isfinite(a)]
        if a.size < 2:
            raise InsufficientDataError(f"train_sequence: expected finite {k} values in the training blocks, found {a.size}")
        stats[f"{k}_mean"] = float(a.mean())
        stats[f"{k}_std"] = float(max(a.std(), 1e-3))
    return stats


def _prepare(
    cube: xr.Dataset, s: dict[str, np.ndarray], part: np.ndarray, stats: dict[str, float], r: int, gap_minutes: float, inputs: tuple[str, ...]
) -> _Cube:
    """The padded network inputs of every pixel of one cube."""
    tchan, groups, days = series_time_inputs(cube, gap_minutes)
    x = sequence_inputs(s["VV"], s["VH"], s["NDVI"], s.get("angle"), tchan, groups, stats, inputs=inputs, days=days)
    y = (s["NDVI"] - stats["ndvi_mean"]) / stats["ndvi_std"]
    step = float(np.median(np.diff(days))) if days.size > 1 else 6.0
    pdays = np.concatenate([days[0] - step * np.arange(r, 0, -1), days, days[-1] + step * np.arange(1, r + 1)])
    return _Cube(
        x=np.pad(x, ((0, 0), (0, 0), (r, r))),
        y=np.pad(y, ((0, 0), (r, r)), constant_values=np.nan),
        days=pdays, part=part, raw=s, tchan=tchan, groups=groups, inputs=tuple(inputs), stats=stats,
    )


#: Held-out spells of the test metrics and the std calibration, days (:func:`_held_out`).
_HELD_OUT_SPELL_DAYS = 60.0


def _check_amounts(cubes: list[xr.Dataset], prepared: list[_Cube], config: TrainConfig) -> None:
    """Enough dates and clear NDVI per part to train, calibrate and score; a warning when the spells cover the series."""
    dates = [c.sizes["time"] for c in cubes]
    if max(dates) < 2:
        raise InsufficientDataError(f"train_sequence: expected series of at least 2 dates, found {dates} (widen the time range)")
    clear = {name: int(sum(np.isfinite(c.y[c.part == k]).sum() for c in prepared)) for k, name in enumerate(("training", "validation", "test"))}
    need = {"training": config.min_samples, "validation": 10, "test": 10}
    if any(clear[k] < need[k] for k in need):
        raise InsufficientDataError(
            f"train_sequence: expected at least {need} clear NDVI values in the training / validation / test blocks, found {clear} "
            "(a longer period, a larger area, or a smaller block_size / min_samples)")
    spans = [(pd.Timestamp(c["time"].values[-1]) - pd.Timestamp(c["time"].values[0])) / pd.Timedelta(days=1) for c in cubes]
    if max(spans) < 2 * _HELD_OUT_SPELL_DAYS:
        warnings.warn(
            f"train_sequence: the longest series spans {max(spans):.0f} days; the {_HELD_OUT_SPELL_DAYS:.0f}-day spells hidden for the "
            "test metrics and the std calibration cover most of it, so test_gaps measures little more than the S1-only mode",
            UserWarning, stacklevel=3)


def _training_months(cubes: list[xr.Dataset], series: list[dict[str, np.ndarray]], parts: list[np.ndarray],
                     inputs: tuple[str, ...]) -> list[float]:
    """Each calendar month's share of the clear NDVI the training blocks hold (``info["training_months"]``); a warning on thin months.

    The per-date model counts its training samples; the whole-series model
    learns from every clear value of its training pixels, so those are
    counted, each on its date. :func:`~fusets_dl.inference.sequence.predict_sequence`
    warns the same on a cube whose dates fall in the thin months.
    """
    times = np.concatenate([np.asarray(c["time"].values) for c in cubes])
    counts = np.concatenate([np.isfinite(s["NDVI"][p == 0]).sum(axis=0) for s, p in zip(series, parts, strict=True)])
    shares = month_shares(times, counts)
    msg = thin_months_message(shares, times, bool({"sin_doy", "cos_doy"} & set(inputs)), sequence=True)
    if msg is not None:
        warn_user(msg)
    return shares


def _parts(cube: xr.Dataset, blocks: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """Part of each pixel (0 train, 1 val, 2 test) and the block split."""
    ny, nx = cube.sizes["y"], cube.sizes["x"]
    part = np.zeros((ny, nx), dtype=np.int8)
    part[block_mask(ny, nx, blocks, "val")] = 1
    part[block_mask(ny, nx, blocks, "test")] = 2
    return part.ravel(), blocks


def _windows(
    cubes: list[_Cube], which: int, n: int, length: int, r: int, config: TrainConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` random windows of the ``which`` part: inputs with NDVI hidden, targets, loss mask."""
    pools = [(k, np.flatnonzero(c.part == which)) for k, c in enumerate(cubes)]
    pools = [(k, p) for k, p in pools if p.size]
    sizes = np.array([p.size for _, p in pools], dtype=np.float64)
    pick = rng.choice(len(pools), size=n, p=sizes / sizes.sum())
    inputs = cubes[0].inputs
    gap_at = [inputs.index(g) for g in GAP_CHANNELS if g in inputs]
    gap_of = [GAP_CHANNELS.index(g) for g in GAP_CHANNELS if g in inputs]
    xs = np.empty((n, len(inputs), length), dtype=np.float32)
    ys = np.empty((n, length), dtype=np.float32)
    hide = np.zeros((n, length), dtype=bool)
    ar = np.arange(length)
    for j, (k, pool) in enumerate(pools):
        rows = np.flatnonzero(pick == j)
        if not rows.size:
            continue
        c = cubes[k]
        tp = c.x.shape[2]
        pix = pool[rng.integers(0, pool.size, rows.size)]
        start = rng.integers(0, max(tp - length, 0) + 1, rows.size)
        idx = np.minimum(start[:, None] + ar[None, :], tp - 1)
        xs[rows] = c.x[pix[:, None], :, idx].transpose(0, 2, 1)
        ys[rows] = c.y[pix[:, None], idx]
        d = c.days[idx]
        when = _view_days(c, pix, idx, d, r)
        s1_only = rng.random(rows.size) < config.seq_s1_only_fraction
        h = np.zeros((rows.size, length), dtype=bool)
        for _ in range(config.seq_spells):
            use = rng.random(rows.size) < 0.7
            span = rng.uniform(0, config.seq_spell_days, rows.size)
            a = rng.uniform(d[:, 0] - span, d[:, -1], rows.size)
            h |= use[:, None] & (when >= a[:, None]) & (when <= (a + span)[:, None])
        h = (h | s1_only[:, None]) & np.isfinite(ys[rows])
        hide[rows] = h
        if gap_at:  # recomputed on the pixel's whole series with the spells hidden, as at inference
            full = c.y[pix].copy()
            np.put_along_axis(full, idx, np.where(h, np.nan, np.take_along_axis(full, idx, axis=1)), axis=1)
            full[s1_only] = np.nan  # the S1-only mode sees no NDVI anywhere in the series (neutral gap channels)
            t = tp - 2 * r
            g = np.zeros((rows.size, len(GAP_CHANNELS), tp), dtype=np.float32)
            g[:, :, r : r + t] = gap_channels(full[:, r : r + t], c.days[r : r + t])
            xs[rows[:, None], gap_at] = np.take_along_axis(g[:, gap_of], idx[:, None, :], axis=2)
    hide_ndvi(xs, hide, inputs)
    if which == 0 and config.seq_db_jitter > 0:  # the same offset (dB) on the absolute VV and VH of a window, where there is radar
        off = rng.normal(0.0, config.seq_db_jitter, (n, 1)).astype(np.float32)
        radar = xs[:, inputs.index("s1_valid")] if "s1_valid" in inputs else np.ones((n, length), dtype=np.float32)
        for name in ("vv_g", "vh_g"):
            if name in inputs:
                xs[:, inputs.index(name)] += off / cubes[0].stats[f"{name[:2]}_std"] * radar
    loss_mask = hide.copy()
    loss_mask[:, :r] = False  # near the window's cut edges the receptive field sees a false series end
    loss_mask[:, length - r :] = False
    return xs, np.nan_to_num(ys), loss_mask


def _view_days(c: _Cube, pix: np.ndarray, idx: np.ndarray, d: np.ndarray, r: int) -> np.ndarray:
    """The date of the S2 view behind each window value: ``d`` plus a pairing cube's ``NDVI_offset``.

    A training spell hides views, as the held-out spells do (:func:`_hidden_spells`): a view paired to
    several S1 dates is hidden at each, also just outside the spell (before 2026-11-28 a spell hid S1
    dates, so the same view could stay readable at the date beside the hidden one, a pattern no real
    cloud makes). The padding and composites (no offset) keep the value's own date.
    """
    off = c.raw.get("NDVI_offset")
    if off is None:
        return d
    inside = (idx >= r) & (idx < r + off.shape[1])
    o = np.where(inside, off[pix[:, None], np.clip(idx - r, 0, off.shape[1] - 1)], 0.0)
    return d + np.nan_to_num(o)


def _nll(out: torch.Tensor, y: torch.Tensor, m: torch.Tensor, beta: float = 0.0) -> torch.Tensor:
    """Gaussian negative log-likelihood (standardised units) over the masked positions.

    ``beta > 0``: each value's term weighted by its variance ** beta, held
    constant in the gradient (beta-NLL, Seitzer et al. 2022), so values the
    network calls uncertain still pull the mean (beta = 1: the mean's
    gradient is the squared error's).
    """
    mu, logvar = out[:, 0].float(), out[:, 1].float()
    nll = 0.5 * (logvar + (y - mu) ** 2 * torch.exp(-logvar))
    if beta > 0:
        nll = nll * torch.exp(beta * logvar.detach())
    return (nll * m).sum() / m.sum().clamp(min=1.0)


def _validate(net: SequenceNet, tv: list[torch.Tensor], amp: bool, device: torch.device) -> tuple[float, float]:
    """Gaussian NLL and RMSE of the mean (standardised units) of the hidden values of the validation windows."""
    nll, se = 0.0, 0.0
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        for i in range(0, tv[0].shape[0], 512):
            out, y, m = net(tv[0][i : i + 512]), tv[1][i : i + 512], tv[2][i : i + 512]
            nll += float(_nll(out, y, m) * m.sum())
            se += float((((out[:, 0].float() - y) ** 2) * m).sum())
    n = float(tv[2].sum().clamp(min=1.0))
    return nll / n, (se / n) ** 0.5


def _fit(net: SequenceNet, cubes: list[_Cube], config: TrainConfig, device: torch.device) -> tuple[list[dict[str, float]], int, float]:
    """AdamW with early stopping on fixed validation windows; returns history, best epoch, samples/s."""
    r = net.radius
    length = config.seq_window + 2 * r
    rng = np.random.default_rng(config.seed)
    xv, yv, mv = _windows(cubes, 1, max(config.seq_windows_per_epoch // 4, 256), length, r, config, np.random.default_rng(config.seed + 7))
    tv = [torch.from_numpy(a).to(device) for a in (xv, yv, mv.astype(np.float32))]
    opt = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=config.lr_factor, patience=config.lr_patience)
    amp = config.mixed_precision and device.type == "cuda"
    history: list[dict[str, float]] = []
    best: tuple[float, dict[str, torch.Tensor] | None, int] = (float("inf"), None, -1)
    seen, busy = 0, 0.0
    ema = {k: v.detach().clone() for k, v in net.state_dict().items()} if config.seq_ema > 0 else None
    for epoch in range(config.max_epochs):
        t0 = time.perf_counter()
        xs, ys, ms = _windows(cubes, 0, config.seq_windows_per_epoch, length, r, config, rng)
        net.train()
        total, steps = 0.0, 0
        bs = config.seq_batch_size
        for i in range(0, xs.shape[0], bs):
            xb, yb, mb = (torch.from_numpy(a[i : i + bs]).to(device) for a in (xs, ys, ms.astype(np.float32)))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                out = net(xb)
            loss = _nll(out, yb, mb, config.seq_beta_nll)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            opt.step()
            if ema is not None:
                with torch.no_grad():
                    for k, v in net.state_dict().items():
                        if v.is_floating_point():
                            ema[k].lerp_(v, 1.0 - config.seq_ema)
                        else:
                            ema[k].copy_(v)
            total += float(loss.detach())
            steps += 1
        seen += xs.shape[0]
        busy += time.perf_counter() - t0
        net.eval()
        live = None
        if ema is not None:  # validate (and keep) the averaged weights
            live = {k: v.detach().clone() for k, v in net.state_dict().items()}
            net.load_state_dict(ema)
        vnll, vrmse = _validate(net, tv, amp, device)
        vloss = vnll if config.seq_val_score == "nll" else vrmse
        sched.step(vloss)
        history.append({"epoch": epoch + 1, "loss": total / max(steps, 1), "val_loss": vnll,
                        "val_rmse": vrmse * cubes[0].stats["ndvi_std"],
                        "lr": opt.param_groups[0]["lr"], "seconds": time.perf_counter() - t0})
        logger.info("train_sequence: epoch %d loss %.4f val_loss %.4f val_rmse %.4f", epoch + 1, history[-1]["loss"], vnll,
                    history[-1]["val_rmse"])
        improved = vloss < best[0] - 1e-4 * (1.0 if config.seq_val_score == "nll" else 0.1)
        if improved:
            best = (vloss, {k: v.detach().clone() for k, v in net.state_dict().items()}, epoch + 1)
        if live is not None:
            net.load_state_dict(live)
        if not improved and epoch + 1 - best[2] >= config.patience:
            logger.info("train_sequence: early stop at epoch %d (best %d)", epoch + 1, best[2])
            break
    if best[1] is None:  # no epoch had a finite validation score: the weights are NaN or inf
        last = history[-1] if history else {}
        raise ModelError(f"train_sequence: training diverged: the validation score was not finite in any of {len(history)} epochs "
                         f"(last val_loss {last.get('val_loss', float('nan')):.4g}); expected a finite loss. Lower learning_rate "
                         f"(now {config.learning_rate:g})")
    net.load_state_dict(best[1])
    return history, best[2], seen / max(busy, 1e-9)


def _hidden_spells(days: np.ndarray, ndvi: np.ndarray, rng: np.random.Generator, n_spells: int = 3, spell_days: float = _HELD_OUT_SPELL_DAYS,
                   offset: np.ndarray | None = None) -> np.ndarray:
    """(P, T) mask of clear values whose S2 view lies in ``n_spells`` random spells per series, one in each equal part of the period.

    Fewer spells on a series shorter than ``2 * spell_days`` per spell (at least one): a 144-day season keeps
    one spell, so views outside it are left (three would hide them all). A spell hides S2 views: with a pairing
    cube's ``offset`` (P, T) (``NDVI_offset``, days, S2 minus S1) a view paired to several dates is hidden at each,
    also just outside the spell; without it (a composite cube) a value's view date is its own date.
    """
    hidden = np.zeros(ndvi.shape, dtype=bool)
    n_spells = max(1, min(n_spells, int((days[-1] - days[0]) // (2 * spell_days)))) if days.size else 1
    edges = np.linspace(days[0], days[-1], n_spells + 1)
    when = days[None] if offset is None else s2_view_days(days, np.asarray(offset).T).T
    for a, b in itertools.pairwise(edges):
        st = rng.uniform(a, max(a, b - spell_days), ndvi.shape[0])
        hidden |= (when >= st[:, None]) & (when < st[:, None] + spell_days)
    return hidden & np.isfinite(ndvi)


def _held_out(model: SequenceModel, cubes: list[_Cube], which: int, rng: np.random.Generator, repeats: int = 1) -> dict[str, np.ndarray]:
    """Truth, mean and std of hidden 60-day spells (3 per series, ``repeats`` draws) and of S1-only on every clear date of one part.

    Spells that hide every clear view of a series (a series shorter than the
    spells, or with few views) are left out of the spells' values: that
    prediction is the S1-only mode, whose factor is fitted separately.
    """
    acc: dict[str, list[np.ndarray]] = {k: [] for k in ("y", "mean", "std", "s1_y", "s1_mean", "s1_std")}
    for c in cubes:
        sel = np.flatnonzero(c.part == which)
        if not sel.size:
            continue
        raw = {k: v[sel] for k, v in c.raw.items()}
        days = c.days[model.radius : c.days.size - model.radius]
        for _ in range(repeats):
            hidden = _hidden_spells(days, raw["NDVI"], rng, offset=raw.get("NDVI_offset"))
            ndvi_in = np.where(hidden, np.nan, raw["NDVI"])
            # a series whose every clear view is hidden is the S1-only mode (scored below), not gap filling
            hidden &= np.isfinite(ndvi_in).any(axis=1, keepdims=True)
            mean, std = model.predict_series(raw["VV"], raw["VH"], ndvi_in, raw.get("angle"), c.tchan, c.groups, s1_only=False, device="cpu", days=days)
            acc["y"].append(raw["NDVI"][hidden])
            acc["mean"].append(mean[hidden])
            acc["std"].append(std[hidden])
        m1, s1 = model.predict_series(raw["VV"], raw["VH"], raw["NDVI"], raw.get("angle"), c.tchan, c.groups, s1_only=True, device="cpu", days=days)
        ok = np.isfinite(raw["NDVI"])
        acc["s1_y"].append(raw["NDVI"][ok])
        acc["s1_mean"].append(m1[ok])
        acc["s1_std"].append(s1[ok])
    return {k: np.concatenate(v) if v else np.zeros(0, dtype=np.float32) for k, v in acc.items()}


def _coverage(y: np.ndarray, mean: np.ndarray, std: np.ndarray) -> dict[str, float]:
    """Shares within 1 and 2 std and the mean Gaussian negative log-likelihood (NDVI units)."""
    good = np.isfinite(y) & np.isfinite(mean) & np.isfinite(std) & (std > 0)
    r, s = (y[good] - mean[good]).astype(np.float64), std[good].astype(np.float64)
    if not r.size:
        return {"coverage_1std": float("nan"), "coverage_2std": float("nan"), "nll": float("nan")}
    z = np.abs(r) / s
    return {"coverage_1std": float((z <= 1).mean()), "coverage_2std": float((z <= 2).mean()),
            "nll": float(np.mean(0.5 * np.log(2 * np.pi) + np.log(s) + 0.5 * z**2))}


def _calibrate(model: SequenceModel, cubes: list[_Cube], config: TrainConfig, method: str = "nll", *, strict: bool = False) -> dict[str, Any]:
    """Std factors fitted on the validation blocks (never the test blocks): hidden spells and S1-only.

    Too few validation values: the factor stays 1 with a warning, or (``strict``) an InsufficientDataError.
    """
    v = _held_out(model, cubes, 1, np.random.default_rng(config.seed + 13), repeats=4)
    out: dict[str, Any] = {"method": method, "data": "validation blocks: 4 x 3 hidden 60-day spells per series; S1-only on every clear date"}
    for key, (y, mu, sd) in (("std_scale", (v["y"], v["mean"], v["std"])), ("std_scale_s1_only", (v["s1_y"], v["s1_mean"], v["s1_std"]))):
        try:
            out[key] = fit_std_scale(y - mu, sd, method)
        except ModelError as exc:  # too few validation values: keep the network's own std
            if strict:
                raise InsufficientDataError(
                    f"calibrate_sequence: {key} cannot be fitted on the validation blocks of these cubes ({exc}); "
                    "the model was left unchanged. Give cubes with more clear NDVI, or another split"
                    + (f" (the gap-filling factor counts only hidden values whose series keeps a clear view outside the "
                       f"{_HELD_OUT_SPELL_DAYS:.0f}-day spells: series longer than about {3 * _HELD_OUT_SPELL_DAYS:.0f} days)"
                       if key == "std_scale" else "")) from exc
            logger.warning("train_sequence: %s not calibrated (%s); factor 1", key, exc)
            continue
        out[f"n_{key}"] = int(np.isfinite(y - mu).sum())
    return out


def _metrics(model: SequenceModel, cubes: list[_Cube], config: TrainConfig) -> dict[str, Any]:
    """Test-block metrics: hidden 60-day spells (3 per series) with S1+NDVI, and S1-only; std coverage and NLL."""
    t = _held_out(model, cubes, 2, np.random.default_rng(config.seed + 11))
    out: dict[str, Any] = {}
    if t["y"].size:  # none where every spell hid every view of its series (series of less than about 60 days)
        gaps = regression_metrics(t["y"], t["mean"])
        out = {
            "test": dict(gaps),  # the key every model has (README, pipeline records): here the gap filling of test_gaps
            "test_gaps": gaps,
            **_coverage(t["y"], t["mean"], t["std"]),
            "uncalibrated": _coverage(t["y"], t["mean"], t["std"] / model.std_scale()),
        }
    if t["s1_y"].size:
        out["test_s1_only"] = regression_metrics(t["s1_y"], t["s1_mean"])
        out["test_s1_only_coverage"] = _coverage(t["s1_y"], t["s1_mean"], t["s1_std"])
    return out


def _init_architecture(init: SequenceModel, config: TrainConfig) -> dict[str, Any]:
    """init's architecture (with ``config.seq_dropout``), after checking that ``config`` asks for the same one.

    The per-date path (:func:`fusets_dl.training.loop.train`) refuses a
    configuration whose architecture differs from init's; so does this, field
    by field. ``seq_inputs`` is compared when init records its inputs or the
    config names some (a model saved before ``inputs`` was recorded reads
    :data:`~fusets_dl.models.sequence.CHANNELS`, and its configuration's
    None meant those); ``seq_dropout`` when init records its dropout.
    """
    arch = dict(init.architecture)
    have: dict[str, Any] = {"seq_channels": int(arch["channels"]), "seq_dilations": [int(d) for d in arch["dilations"]],
                            "seq_kernel": int(arch["kernel"])}
    want: dict[str, Any] = {"seq_channels": config.seq_channels, "seq_dilations": list(config.seq_dilations), "seq_kernel": config.seq_kernel}
    if "inputs" in arch or config.seq_inputs is not None:
        have["seq_inputs"] = list(init.inputs)
        want["seq_inputs"] = list(config.seq_inputs or DEFAULT_INPUTS)
    if arch.get("dropout") is not None:
        have["seq_dropout"] = float(arch["dropout"])
        want["seq_dropout"] = config.seq_dropout
    diff = [f"{k}: expected {have[k]!r} (init's), found {want[k]!r}" for k in have if have[k] != want[k]]
    if diff:
        raise ModelError(
            f"train_sequence(init=...): the configuration asks for another architecture than the starting model's: {'; '.join(diff)}. "
            "Fine-tuning keeps init's network: train with init's seq_* fields (e.g. TrainConfig.from_dict(init.config), "
            "or leave config out)"
        )
    arch["dropout"] = config.seq_dropout
    return arch


def train_sequence(
    cubes: xr.Dataset | list[xr.Dataset],
    config: TrainConfig | None = None,
    init: SequenceModel | None = None,
    *,
    split: dict[str, Any] | list[dict[str, Any]] | None = None,
) -> SequenceModel:
    """Train a whole-series gap-filling model on one or several fusion cubes.

    Parameters
    ----------
    cubes : xarray.Dataset or list of xarray.Dataset
        Fusion cubes with ``VV``, ``VH`` (dB) and clear ``NDVI``; each may
        have its own dates, orbits and size, and gets its own block split.
    config : TrainConfig, optional
        ``seq_*`` fields, ``learning_rate``, ``weight_decay``, ``max_epochs``,
        ``patience``, ``block_size``, ``seed``, ``device``,
        ``mixed_precision`` (CUDA only); default ``TrainConfig(model="sequence")``.
    init : SequenceModel, optional
        Fine-tune from this model (its architecture and normalisation
        statistics are kept: the ``seq_channels``, ``seq_dilations``,
        ``seq_kernel``, ``seq_inputs`` and ``seq_dropout`` of ``config``
        must be init's; with ``config`` None, the configuration init was
        trained with).
    split : dict or list of dict, optional
        Explicit block splits (one per cube), as
        :func:`fusets_dl.evaluation.splits.split_blocks` returns them, each
        checked against its cube (:func:`~fusets_dl.evaluation.splits.check_split`).

    Returns
    -------
    SequenceModel
        With held-out metrics (``test``: the same as ``test_gaps``, under the
        key a per-date model uses too; ``test_gaps``, ``test_s1_only``,
        ``coverage_1std``, ``coverage_2std``, ``nll``, the same before
        calibration in ``uncalibrated``), the std calibration fitted on the
        validation blocks, history, splits and provenance.

    Raises
    ------
    ConfigError
        A cube in a list that is not a Dataset (its position named), a
        split that is not a dict or does not fit its cube, or not one split
        per cube.
    InsufficientDataError
        A cube too small for the split (named, with several cubes), series of
        fewer than 2 dates, or fewer clear NDVI values than
        ``config.min_samples`` in the training blocks (10 in the validation
        or test blocks).
    ModelError
        ``init`` is not a SequenceModel, or ``config`` asks for another
        architecture than init's (each field named, init's value and the
        config's).
    """
    if init is not None and getattr(init, "kind", None) != "sequence":
        raise ModelError(f"train_sequence: init: expected a SequenceModel, found {type(init).__name__}"
                         + (" (a per-date model fine-tunes with TrainConfig(model='mlp'))" if isinstance(init, FusionModel) else ""))
    if config is None:  # fine-tuning: the configuration init was trained with, as train() does for the per-date model
        config = TrainConfig.from_dict(init.config) if init is not None and init.config else TrainConfig(model="sequence")
    cube_list = cube_list_of(cubes, "train_sequence")
    if not cube_list:
        raise InsufficientDataError("train_sequence: expected at least one cube, found none")
    ignored = mlp_only_changes(config)
    if ignored:  # set for the per-date MLP (a shared YAML, model switched to "sequence"): said, not silently recorded as used
        warn_user(f"train_sequence: {', '.join(f'{k}={v!r}' for k, v in ignored.items())} set the per-date MLP's training and are "
                  "ignored by the whole-series model (it reads the seq_* options, learning_rate, weight_decay, max_epochs, patience, "
                  "block_size, seed, device and num_threads)")
    names = site_names(cube_list)
    arch = _init_architecture(init, config) if init is not None else None
    t_start = time.perf_counter()
    torch.manual_seed(config.seed)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = resolve_device(config.device)
    for k, (name, cube) in enumerate(zip(names, cube_list, strict=True)):
        check_site_cube(cube, name, k, len(cube_list), "train_sequence")
    check_distinct_scenes(cube_list, names, "train_sequence")
    splits = site_splits(cube_list, names, split, config, "train_sequence")  # cube k: seed + k, as the per-date model
    cube_list = [check_cube_values(c, "train_sequence") for c in cube_list]
    series, parts, blocks = [], [], []
    for cube, sp in zip(cube_list, splits, strict=True):
        part, blk = _parts(cube, sp)
        series.append(_series(cube))
        parts.append(part)
        blocks.append(blk)
    stats = dict(init.stats) if init is not None else _fit_stats(series, parts)
    if init is not None and arch is not None:
        inputs = init.inputs
        net = SequenceNet(len(inputs), int(arch["channels"]), tuple(int(d) for d in arch["dilations"]), int(arch["kernel"]),
                          config.seq_dropout)  # dropout: no weights, so not restored by the state dict
        net.load_state_dict(init.network.state_dict())
    else:
        inputs = input_channels({"inputs": list(config.seq_inputs or DEFAULT_INPUTS)})
        arch = {"type": "tcn", "channels": config.seq_channels, "dilations": list(config.seq_dilations), "kernel": config.seq_kernel,
                "inputs": list(inputs), "dropout": config.seq_dropout}
        net = SequenceNet(len(inputs), config.seq_channels, tuple(config.seq_dilations), config.seq_kernel, config.seq_dropout)
    gap = 3.0
    prepared = [_prepare(c, s, p, stats, net.radius, gap, inputs) for c, s, p in zip(cube_list, series, parts, strict=True)]
    _check_amounts(cube_list, prepared, config)
    months = _training_months(cube_list, series, parts, inputs)
    net = net.to(device)
    history, best_epoch, rate = _fit(net, prepared, config, device)
    model = SequenceModel(
        network=net.cpu().eval(),
        stats=stats,
        architecture=arch,
        spec={"s1_only": bool(config.seq_s1_only), "orbit_gap_minutes": gap, "channels": list(inputs)},
        config=config.to_dict(),
        history=history,
        blocks={"cubes": blocks},
        info={
            "package": "fusets_dl", "version": __version__, "created": pd.Timestamp.now(tz="UTC").isoformat(),
            "device": str(device), "best_epoch": best_epoch, "train_seconds": time.perf_counter() - t_start,
            "train_windows_per_second": rate, "init": None if init is None else init.sha256, "training_months": months,
            "cubes": [{"ny": c.sizes["y"], "nx": c.sizes["x"], "nt": c.sizes["time"], "start": str(c.time.values[0])[:10],
                       "end": str(c.time.values[-1])[:10], "incidence_angle": _ANGLE in c.data_vars or _ANGLE in c.coords,
                       "site": cube_site(c.attrs), "backscatter": backscatter_coefficient(c),
                       "grid": grid_fingerprint(c)}
                      for c in cube_list],
        },
    )
    # the first cube's split is also the model's ``blocks`` in the form the comparison reads
    model.blocks.update(blocks[0])
    model.calibration = _calibrate(model, prepared, config)
    model.calibration["cubes"] = [cube_span(c) for c in cube_list]
    model.metrics = _metrics(model, prepared, config)
    m = model.metrics.get("test_gaps", {})
    logger.info("train_sequence: held-out gaps R2 %.3f RMSE %.4f; S1-only R2 %.3f; coverage %.2f / %.2f",
                m.get("r2", float("nan")), m.get("rmse", float("nan")), model.metrics.get("test_s1_only", {}).get("r2", float("nan")),
                model.metrics.get("coverage_1std", float("nan")), model.metrics.get("coverage_2std", float("nan")))
    return model


def calibrate_sequence(
    model: SequenceModel,
    cubes: xr.Dataset | list[xr.Dataset],
    *,
    config: TrainConfig | None = None,
    split: dict[str, Any] | list[dict[str, Any]] | None = None,
    method: str = "nll",
) -> SequenceModel:
    """Refit a sequence model's std calibration on the validation blocks of cubes (e.g. another method or a new site).

    Parameters
    ----------
    model : SequenceModel
        A trained model (its network and statistics are kept as they are).
    cubes : xarray.Dataset or list of xarray.Dataset
        Fusion cubes with clear ``NDVI``.
    config : TrainConfig, optional
        ``seed`` and ``block_size`` of the block split; default the model's
        training configuration (the blocks it was trained and validated with).
    split : dict or list of dict, optional
        Explicit block splits (one per cube).
    method : {"nll", "quantile", "coverage"}
        See :func:`~fusets_dl.models.sequence_model.fit_std_scale`.

    Returns
    -------
    SequenceModel
        A copy sharing the network, with the new ``calibration``.

    Raises
    ------
    ConfigError
        A split that does not fit its cube (:func:`~fusets_dl.evaluation.splits.check_split`).
    ModelError
        ``model`` is not a SequenceModel, or an unknown method.
    InsufficientDataError
        No cube, one split per cube not given, or too few clear NDVI values
        in the validation blocks to fit a factor (the model is not changed:
        the spans it records are only those it was fitted on).
    """
    if getattr(model, "kind", None) != "sequence":
        raise ModelError(f"calibrate_sequence: expected a SequenceModel, found {type(model).__name__}")
    if method not in ("nll", "quantile", "coverage"):
        raise ModelError(f"calibrate_sequence: method: expected 'nll', 'quantile' or 'coverage', found {method!r}")
    config = config or (TrainConfig.from_dict(model.config) if model.config else TrainConfig(model="sequence"))
    cube_list = [cubes] if isinstance(cubes, xr.Dataset) else list(cubes)
    splits = split if isinstance(split, list) else [split] * len(cube_list)
    if not cube_list or len(splits) != len(cube_list):
        raise InsufficientDataError(f"calibrate_sequence: expected one or more cubes and one split per cube, found {len(cube_list)} and {len(splits)}")
    gap = float(model.spec.get("orbit_gap_minutes", 3.0))
    prepared = []
    for k, (cube, sp) in enumerate(zip(cube_list, splits, strict=True)):
        check_cube(cube, need_target=True)
        if sp is not None:
            sp = check_split(sp, cube.sizes["y"], cube.sizes["x"], where="calibrate_sequence: split")
        else:  # a training cube: the split it was trained and validated with; another cube: one drawn as training draws cube k
            own = model_blocks(cube, model)
            sp = ({key: own[key] for key in ("block_size", "grid", "val", "test")} if own else
                  split_blocks(cube.sizes["y"], cube.sizes["x"], dataclasses.replace(config, seed=config.seed + k, ensemble=1)))
        cube = check_cube_values(cube, "calibrate_sequence")
        part, _ = _parts(cube, sp)
        s = _series(cube)
        if model.reads_angle() is False:
            s.pop("angle", None)  # a model trained without the angle: its weights for that channel never learnt
        prepared.append(_prepare(cube, s, part, model.stats, model.radius, gap, model.inputs))
    bare = dataclasses.replace(model, calibration={})
    cal = _calibrate(bare, prepared, config, method, strict=True)
    cal["cubes"] = [cube_span(c) for c in cube_list]
    return dataclasses.replace(model, calibration=cal)
