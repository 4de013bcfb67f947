"""Training: chunk-wise sampling, spatial-block split and the batched training loop."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import dask
import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn

from .._config import dataclass_from_dict
from .._logging import logger
from .._rng import hash_uniform
from ..errors import ConfigError, InsufficientDataError
from ..evaluation.metrics import metrics_by_range, regression_metrics
from ..evaluation.splits import split_blocks
from ..features import REQUIRED_MODALITIES, FeatureSpec, compute_features
from ..models.core import FusionModel, Scaler
from ..models.modality import FUSION_STRATEGIES
from ..models.registry import architecture, build_network
from ..runtime import resolve_device
from ..validate import check_cube

__all__ = ["TrainConfig", "collect_samples", "cross_validate", "train"]

_SAMPLE_STREAM = 9001


@dataclass(frozen=True)
class TrainConfig:
    """Training options (validated in one place).

    Parameters
    ----------
    hidden : tuple of int
        Hidden widths of the MLP (default 256-128-64-32-16, as in the field's
        reference notebook).
    dropout : float
        Dropout after each hidden layer.
    batch_norm : bool
        Batch normalisation in hidden layers.
    learning_rate, weight_decay : float
        AdamW parameters.
    batch_size : int
        Samples per optimisation step.
    max_epochs, patience : int
        Early stopping on the validation loss after ``patience`` epochs
        without improvement; the best weights are kept.
    lr_factor, lr_patience : float, int
        The learning rate is multiplied by ``lr_factor`` when the validation
        loss has not improved for ``lr_patience`` epochs.
    loss : {"huber", "mse"}
        Loss on the standardised target (Huber is robust to residual clouds).
    block_size : int
        Side of the square spatial blocks (pixels) of the split.
    val_fraction, test_fraction : float
        Share of blocks held out for early stopping and for the reported metrics.
    max_samples : int
        Cap on training samples, drawn uniformly over the scene chunk by chunk.
    min_samples : int
        Fewer training samples than this is an error listing the data funnel.
    seed : int
        Seed of the split, the sampling, the initialisation and the batches.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    mixed_precision : bool
        bf16 autocast on CUDA (ignored on CPU).
    num_threads : int, optional
        Torch CPU threads (default: torch's own setting, all cores unless
        ``OMP_NUM_THREADS`` says otherwise).
    fusion : {"early", "mid", "late", "attention"}
        Fusion strategy (see :mod:`fusets_dl.networks`): ``early`` (default)
        is one MLP on all features (``hidden`` widths); the others have one
        encoder per modality (``encoder`` widths) and a head (``head``
        widths).
    encoder, head : tuple of int
        Widths of the modality encoders and of the head after fusion.
    modality_dropout : float
        Probability of removing each optional modality (optical context,
        terrain) from a training sample (set to its baseline), so the model
        still works where it is missing; at least one modality always stays.
    context_gap_days : float
        With the optical group, each training sample's optical context
        excludes a simulated cloudy spell around its date of up to this many
        days (uniform), so the model learns on gaps like the ones it fills; 0
        excludes only ``FeatureSpec.context_exclude_days``.
    """

    hidden: tuple[int, ...] = (256, 128, 64, 32, 16)
    dropout: float = 0.1
    batch_norm: bool = True
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 1024
    max_epochs: int = 60
    patience: int = 8
    lr_factor: float = 0.5
    lr_patience: int = 3
    loss: str = "huber"
    block_size: int = 8
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    max_samples: int = 1_000_000
    min_samples: int = 200
    seed: int = 0
    device: str | None = None
    mixed_precision: bool = True
    num_threads: int | None = None
    fusion: str = "early"
    encoder: tuple[int, ...] = (64, 32)
    head: tuple[int, ...] = (64, 32)
    modality_dropout: float = 0.0
    context_gap_days: float = 90.0
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            problems.append(f"hidden: expected positive widths, found {self.hidden!r}")
        if not 0 <= self.dropout < 1:
            problems.append(f"dropout: expected 0 <= dropout < 1, found {self.dropout}")
        if self.loss not in ("huber", "mse"):
            problems.append(f"loss: expected 'huber' or 'mse', found {self.loss!r}")
        if self.block_size < 1:
            problems.append(f"block_size: expected >= 1, found {self.block_size}")
        if not (0 < self.test_fraction < 1 and 0 < self.val_fraction < 1 and self.val_fraction + self.test_fraction < 1):
            problems.append(f"val_fraction/test_fraction: expected each in (0, 1) with a sum below 1, found {self.val_fraction}, {self.test_fraction}")
        if self.fusion not in FUSION_STRATEGIES:
            problems.append(f"fusion: expected one of {FUSION_STRATEGIES}, found {self.fusion!r}")
        if not 0 <= self.modality_dropout < 1:
            problems.append(f"modality_dropout: expected 0 <= p < 1, found {self.modality_dropout}")
        if self.context_gap_days < 0:
            problems.append(f"context_gap_days: expected >= 0, found {self.context_gap_days}")
        if any(int(h) < 1 for h in (*self.encoder, *self.head)) or not self.encoder:
            problems.append(f"encoder/head: expected positive widths, found {self.encoder!r}, {self.head!r}")
        if self.max_samples < 1 or self.batch_size < 2 or self.max_epochs < 1:
            problems.append("max_samples, batch_size (>= 2) and max_epochs must be positive")
        if problems:
            raise ConfigError("TrainConfig: " + "; ".join(problems))
        for name in ("hidden", "encoder", "head"):
            object.__setattr__(self, name, tuple(int(h) for h in getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        d = asdict(self)
        for name in ("hidden", "encoder", "head"):
            d[name] = list(getattr(self, name))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Rebuild a config; unknown keys are an error naming them."""
        return dataclass_from_dict(cls, d, ("hidden", "encoder", "head"))


# --------------------------------------------------------------------------- split


# --------------------------------------------------------------------------- sampling

def _block_samples(feat: np.ndarray, target: np.ndarray, y0: int, x0: int, p_keep: float, seed: int, required: np.ndarray) -> dict[str, Any]:
    """Valid samples of one chunk: features (n, f), target, pixel and time indices, counts.

    A sample needs its target and every ``required`` (SAR, time) feature;
    optional features (optical context, terrain) may be NaN.
    """
    nt, by, bx, _nf = feat.shape
    has_target = np.isfinite(target)
    complete = np.isfinite(feat[..., required]).all(axis=-1)
    ok = has_target & complete
    tt, yy, xx = np.nonzero(ok)
    keep = hash_uniform(seed, _SAMPLE_STREAM, tt, yy + y0, xx + x0) < p_keep
    tt, yy, xx = tt[keep], yy[keep], xx[keep]
    return {
        "x": feat[tt, yy, xx].astype(np.float32),
        "y": target[tt, yy, xx].astype(np.float32),
        "iy": (yy + y0).astype(np.int32),
        "ix": (xx + x0).astype(np.int32),
        "it": tt.astype(np.int32),
        "n_total": int(nt * by * bx),
        "n_target": int(has_target.sum()),
        "n_complete": int(ok.sum()),
    }


def collect_samples(
    cube: xr.Dataset, spec: FeatureSpec, *, max_samples: int, seed: int, context_gap_days: float = 0.0
) -> dict[str, Any]:
    """Draw training samples chunk by chunk, never materialising the whole feature array.

    Each pixel-date with a target and complete features is kept with the same
    probability ``min(1, max_samples / n_target)`` (a hash of its indices, so
    the draw does not depend on the chunking); memory is bounded by the
    samples kept plus the chunks in flight.

    Returns
    -------
    dict
        Arrays ``x``, ``y``, ``iy``, ``ix``, ``it`` and the funnel counts.
    """
    if cube["VV"].chunks is None:
        cube = cube.chunk({"time": -1, "y": 128, "x": 128})
    target = cube["NDVI"]
    n_target = int(target.notnull().sum().compute())
    p_keep = 1.0 if n_target == 0 else min(1.0, max_samples / n_target)
    gaps = (seed, context_gap_days) if "optical" in spec.groups and context_gap_days > 0 else None
    feats = compute_features(cube, spec, context_gaps=gaps)
    target = target.chunk({"time": -1, "y": feats.chunks[1], "x": feats.chunks[2]})
    fblocks = feats.data.to_delayed()
    tblocks = target.transpose("time", "y", "x").data.to_delayed()
    ys = np.cumsum((0, *feats.chunks[1]))
    xs = np.cumsum((0, *feats.chunks[2]))
    tasks = []
    for i in range(fblocks.shape[1]):
        for j in range(fblocks.shape[2]):
            tasks.append(dask.delayed(_block_samples)(fblocks[0, i, j, 0], tblocks[0, i, j], int(ys[i]), int(xs[j]), p_keep, seed, spec.required))
    parts = dask.compute(*tasks)
    out: dict[str, Any] = {k: np.concatenate([p[k] for p in parts]) for k in ("x", "y", "iy", "ix", "it")}
    for k in ("n_total", "n_target", "n_complete"):
        out[k] = int(sum(p[k] for p in parts))
    out["p_keep"] = p_keep
    return out


# --------------------------------------------------------------------------- training

def _loss_fn(name: str) -> nn.Module:
    return nn.HuberLoss(delta=1.0) if name == "huber" else nn.MSELoss()


def train(
    cube: xr.Dataset,
    features: FeatureSpec | None = None,
    config: TrainConfig | None = None,
    *,
    split: dict[str, Any] | None = None,
) -> FusionModel:
    """Train a fusion MLP that predicts NDVI from the S1 features of ``cube``.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` and the clear ``NDVI`` target
        (NumPy- or Dask-backed).
    features : FeatureSpec, optional
        Default ``FeatureSpec()``.
    config : TrainConfig, optional
        Default ``TrainConfig()``.
    split : dict, optional
        An explicit block split (as returned by :func:`split_blocks`: keys
        ``block_size``, ``grid``, ``val``, ``test``); default: a seeded random one.

    Returns
    -------
    FusionModel
        The trained model, with its validation and test metrics (on held-out
        spatial blocks), history and the block split.

    Raises
    ------
    InsufficientDataError
        Fewer than ``config.min_samples`` training samples; the message lists
        how many pixel-dates survived each mask.
    """
    from .._version import __version__

    spec = features or FeatureSpec()
    config = config or TrainConfig()
    check_cube(cube, need_target=True)
    t_start = time.perf_counter()
    torch.manual_seed(config.seed)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    device = resolve_device(config.device)
    ny, nx = cube.sizes["y"], cube.sizes["x"]
    blocks = split if split is not None else split_blocks(ny, nx, config)
    s = collect_samples(cube, spec, max_samples=config.max_samples, seed=config.seed, context_gap_days=config.context_gap_days)
    size, gx = blocks["block_size"], blocks["grid"][1]
    bid = (s["iy"] // size) * gx + (s["ix"] // size)
    test_ids = [b[0] * gx + b[1] for b in blocks["test"]]
    val_ids = [b[0] * gx + b[1] for b in blocks["val"]]
    is_test = np.isin(bid, test_ids)
    is_val = np.isin(bid, val_ids)
    is_train = ~(is_test | is_val)
    funnel = {
        "pixel_dates": s["n_total"],
        "with_clear_ndvi": s["n_target"],
        "with_complete_features": s["n_complete"],
        "sampled": int(s["y"].size),
        "train": int(is_train.sum()),
        "validation": int(is_val.sum()),
        "test": int(is_test.sum()),
    }
    logger.info("train: data funnel %s", funnel)
    if funnel["train"] < config.min_samples or funnel["validation"] < 2 or funnel["test"] < 2:
        raise InsufficientDataError(
            f"train: expected at least {config.min_samples} training samples (and 2 validation and test samples), "
            f"found {funnel['train']} training, {funnel['validation']} validation, {funnel['test']} test. "
            f"Data funnel: {funnel['pixel_dates']} pixel-dates -> {funnel['with_clear_ndvi']} with clear NDVI -> "
            f"{funnel['with_complete_features']} with complete features -> {funnel['sampled']} sampled"
        )
    x_tr, y_tr = s["x"][is_train], s["y"][is_train]
    scaler = Scaler.fit(x_tr, y_tr)

    def _prep(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        xs = (x - scaler.feature_mean) / scaler.feature_std
        xs = torch.from_numpy(np.where(np.isfinite(xs), xs, 0.0).astype(np.float32))  # absent optional features: baseline
        ys = torch.from_numpy((y - scaler.target_mean) / scaler.target_std)
        return xs.to(device), ys.to(device)

    xt, yt = _prep(x_tr, y_tr)
    xv, yv = _prep(s["x"][is_val], s["y"][is_val])
    arch = architecture(spec, config)
    net = build_network(arch).to(device)
    drop_cols = _dropout_columns(spec, config, device)
    opt = torch.optim.AdamW(net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=config.lr_factor, patience=config.lr_patience)
    loss_fn = _loss_fn(config.loss)
    gen = torch.Generator(device="cpu").manual_seed(config.seed)
    amp = config.mixed_precision and device.type == "cuda"
    history: list[dict[str, float]] = []
    best = (float("inf"), None, -1)
    n = xt.shape[0]
    bs = min(config.batch_size, n)
    for epoch in range(config.max_epochs):
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(n, generator=gen).to(device)
        total = torch.zeros((), device=device)  # summed on the device: no host sync per step
        steps = 0
        for i in range(0, n - bs + 1, bs):  # drop the last partial batch (BatchNorm needs > 1)
            idx = perm[i : i + bs]
            xb = xt[idx]
            if drop_cols is not None:
                xb = _modality_dropout(xb, drop_cols, config.modality_dropout, gen)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                loss = loss_fn(net(xb).float(), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
            steps += 1
        net.eval()
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            vloss = float(loss_fn(_batched(net, xv).float(), yv))
        lr = opt.param_groups[0]["lr"]
        sched.step(vloss)
        rec = {"epoch": epoch + 1, "loss": float(total) / max(steps, 1), "val_loss": vloss, "lr": lr, "seconds": time.perf_counter() - t0}
        history.append(rec)
        logger.info("train: epoch %d loss %.4f val_loss %.4f lr %.2e (%.1f s)", epoch + 1, rec["loss"], vloss, lr, rec["seconds"])
        if vloss < best[0] - 1e-5:
            best = (vloss, {k: v.detach().clone() for k, v in net.state_dict().items()}, epoch + 1)
        elif epoch + 1 - best[2] >= config.patience:
            logger.info("train: early stop at epoch %d (best %d)", epoch + 1, best[2])
            break
    if best[1] is not None:
        net.load_state_dict(best[1])
    net = net.cpu().eval()
    model = FusionModel(
        network=net,
        spec=spec,
        scaler=scaler,
        architecture=arch,
        config=config.to_dict(),
        history=history,
        blocks=blocks,
        info={
            "package": "fusets_dl",
            "version": __version__,
            "created": pd.Timestamp.now(tz="UTC").isoformat(),
            "device": str(device),
            "best_epoch": best[2],
            "train_seconds": time.perf_counter() - t_start,
            "funnel": funnel,
            "scene": {"ny": ny, "nx": nx, "nt": cube.sizes["time"], "start": str(cube.time.values[0])[:10], "end": str(cube.time.values[-1])[:10]},
        },
    )
    metrics: dict[str, Any] = {}
    for name, sel in (("train", is_train), ("val", is_val), ("test", is_test)):
        pred = model.predict_array(s["x"][sel], device="cpu")
        metrics[name] = regression_metrics(s["y"][sel], pred)
        if name == "test":
            metrics["test_by_range"] = metrics_by_range(s["y"][sel], pred)
            # residual RMSE binned on the *predicted* value: the uncertainty of a new prediction
            metrics["test_by_pred_range"] = [
                {"range": r["range"], "n": r["n"], "rmse": r["rmse"]} for r in metrics_by_range(pred, s["y"][sel])
            ]
    model.metrics = metrics
    logger.info("train: held-out test blocks R2 %.3f RMSE %.4f MAE %.4f bias %+.4f (n=%d)", metrics["test"]["r2"], metrics["test"]["rmse"], metrics["test"]["mae"], metrics["test"]["bias"], metrics["test"]["n"])
    return model


def _dropout_columns(spec: FeatureSpec, config: TrainConfig, device: torch.device) -> torch.Tensor | None:
    """(M_optional, n_features) 0/1 masks of the droppable modalities' columns, or None."""
    if config.modality_dropout <= 0:
        return None
    opt = [m for m in spec.modalities if m not in REQUIRED_MODALITIES]
    if not opt:
        return None
    mod = spec.modality
    cols = torch.tensor([[1.0 if mod[n] == m else 0.0 for n in spec.names] for m in opt])
    return cols.to(device)


def _modality_dropout(x: torch.Tensor, cols: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Set each optional modality of each sample to its baseline (0) with probability ``p``.

    SAR and time are never dropped, so at least one modality always stays.
    """
    drop = (torch.rand((x.shape[0], cols.shape[0]), generator=gen) < p).to(x.device, x.dtype)
    removed = (drop @ cols).clamp(max=1.0)  # (batch, n_features)
    return x * (1.0 - removed)


def _batched(net: nn.Module, x: torch.Tensor, bs: int = 65536) -> torch.Tensor:
    return torch.cat([net(x[i : i + bs]) for i in range(0, x.shape[0], bs)]) if x.shape[0] else x.new_zeros(0)


def cross_validate(
    cube: xr.Dataset,
    features: FeatureSpec | None = None,
    config: TrainConfig | None = None,
    *,
    folds: int = 4,
) -> dict[str, Any]:
    """K-fold cross-validation over spatial blocks.

    The blocks of ``config.block_size`` are shuffled (seeded) and dealt into
    ``folds`` disjoint test sets; for each fold a model is trained with those
    blocks held out (and a share ``config.val_fraction`` of the others for
    early stopping) and scored on them. Every pixel-date is thus predicted by
    a model that never saw its block.

    Returns
    -------
    dict
        ``folds`` (per-fold test metrics), ``pooled`` (metrics over all held-out
        pixel-dates together), ``pooled_by_range``, ``mean_r2`` and ``std_r2``.
    """
    from ..evaluation.splits import block_mask
    from ..inference.core import predict_ndvi

    spec = features or FeatureSpec()
    config = config or TrainConfig()
    ny, nx = cube.sizes["y"], cube.sizes["x"]
    size = config.block_size
    gy, gx = -(-ny // size), -(-nx // size)
    n = gy * gx
    if folds < 2 or n < folds + 1:
        raise InsufficientDataError(f"cross_validate: expected 2 <= folds < {n} blocks of {size} px, found folds={folds}")
    order = np.random.default_rng(config.seed).permutation(n)
    parts = np.array_split(order, folds)
    obs_all, pred_all, per_fold = [], [], []
    for k, test in enumerate(parts):
        rest = np.setdiff1d(order, test)
        n_val = max(1, round(config.val_fraction * n))
        val = np.random.default_rng(config.seed + 1 + k).choice(rest, size=min(n_val, rest.size - 1), replace=False)
        split = {"block_size": size, "grid": [gy, gx], "test": [[int(b) // gx, int(b) % gx] for b in sorted(test)], "val": [[int(b) // gx, int(b) % gx] for b in sorted(val)]}
        model = train(cube, spec, config, split=split)
        pred = predict_ndvi(cube, model)
        mask = xr.DataArray(block_mask(ny, nx, split, "test"), dims=("y", "x"))
        o = cube["NDVI"].where(mask).values.ravel()
        p = pred.where(mask).values.ravel()
        ok = np.isfinite(o) & np.isfinite(p)
        obs_all.append(o[ok])
        pred_all.append(p[ok])
        per_fold.append(regression_metrics(o[ok], p[ok]))
        logger.info("cross_validate: fold %d/%d R2 %.3f RMSE %.4f", k + 1, folds, per_fold[-1]["r2"], per_fold[-1]["rmse"])
    o, p = np.concatenate(obs_all), np.concatenate(pred_all)
    r2s = np.array([f["r2"] for f in per_fold])
    return {
        "folds": per_fold,
        "pooled": regression_metrics(o, p),
        "pooled_by_range": metrics_by_range(o, p),
        "mean_r2": float(np.nanmean(r2s)),
        "std_r2": float(np.nanstd(r2s)),
        "block_size": size,
    }
