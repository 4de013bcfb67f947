"""Training a segmenter without labels: :func:`train_segmenter`.

Training pulls the two views of the same pixel together and pushes the
other pixels of the batch apart (symmetric InfoNCE, as in CLIP-style
cross-modal contrastive learning, computed on a small projection head of
each view as in SimCLR: the classes are made from the encoders' outputs,
before the projection), on randomly thinned profiles (bins removed at
random, noise added). With ``views=("s1",)`` the two views are two random
thinnings of the S1 profile through one encoder (Siamese, SimCLR-style), for
scenes or comparisons without optical data.

After ``warmup`` epochs of contrastive training, the codes start from
k-means++ on the fused embeddings ``h`` of the training pixels and are then
trained jointly with the encoders through a Gumbel-softmax over the code
similarities (straight-through-free, soft samples): a quantisation loss
pulls codes to embeddings and, more weakly, embeddings to their codes, and a
usage term (the entropy of the batch's mean assignment) keeps codes from
dying, so the map does not collapse to a few classes. No label is used
anywhere.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch.nn import functional as F

from .._logging import logger
from .._version import __version__
from ..runtime import resolve_device
from ..validate import check_cube
from .config import SegmentConfig
from .kmeans import kmeans
from .network import Segmenter, SegmentNet
from .profiles import (
    _check_training_profiles,
    _stats,
    _training_profiles,
    _view_inputs,
    _warn_few_distinct,
    segment_inputs,
)

__all__ = ["train_segmenter"]


def _augment(x: torch.Tensor, n_bins: int, n_channels: int, p: float, noise: float, gen: torch.Generator) -> torch.Tensor:
    """Remove a fraction ``p`` of bins (values and flags to 0) and add noise to the observed values."""
    n = x.shape[0]
    drop = (torch.rand((n, n_bins), generator=gen) < p).to(x.dtype)
    keep = (1.0 - drop).repeat(1, n_channels)
    vals = x.clone()
    n_val = (n_channels - 1) * n_bins  # the value channels come first, the flag channel last
    flag = x[:, n_val:].repeat(1, n_channels - 1)
    vals[:, :n_val] += noise * torch.randn((n, n_val), generator=gen) * flag
    return vals * keep


def _info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE of paired unit rows ``a``, ``b`` (the batch's other rows are the negatives)."""
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def _init_codes(net: SegmentNet, t1: torch.Tensor, t2: torch.Tensor | None, cfg: SegmentConfig, dev: torch.device) -> None:
    """Codes from k-means++ on the fused embeddings of the training pixels (the end of the warm-up)."""
    net.eval()
    with torch.no_grad():
        h = torch.cat([net.fuse(*net.embed(t1[i : i + 8192].to(dev), t2[i : i + 8192].to(dev) if t2 is not None else None)).cpu()
                       for i in range(0, t1.shape[0], 8192)])
    centres, _ = kmeans(h.numpy().astype(np.float64), cfg.n_classes, seed=cfg.seed)
    with torch.no_grad():
        net.codes.copy_(F.normalize(torch.from_numpy(centres).float(), dim=1).to(dev))


def _fit_profiles(cube: xr.Dataset, cfg: SegmentConfig) -> np.ndarray:
    """The training profiles (n, 5B) of ``cube``, refused when too few or, for the S2 view, without clear NDVI."""
    check_cube(cube, need_target="s2" in cfg.views)
    prof = _training_profiles(segment_inputs(cube, cfg.n_bins), cfg)
    _check_training_profiles(prof, cfg, "train_segmenter", max(2 * min(cfg.batch_size, 64), cfg.n_classes * 4))
    return prof


def _fit_tau(cfg: SegmentConfig, epoch: int) -> float:
    """Gumbel-softmax temperature of an epoch: geometric from ``gumbel_tau[0]`` to ``[1]`` after the warm-up, NaN before."""
    if epoch < cfg.warmup:
        return float("nan")
    n_joint = cfg.epochs - cfg.warmup
    k = epoch - cfg.warmup
    return cfg.gumbel_tau[0] * (cfg.gumbel_tau[1] / cfg.gumbel_tau[0]) ** (k / max(n_joint - 1, 1))


def _fit_vq_loss(net: SegmentNet, h: torch.Tensor, tau: float, cfg: SegmentConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantisation loss (codes to embeddings, plus the commitment pull) and code-usage term of fused embeddings ``h``."""
    logits = net.logits(h)
    q = F.gumbel_softmax(logits, tau=tau, hard=False)
    hq = q @ F.normalize(net.codes, dim=1)
    vq = (1 - F.cosine_similarity(hq, h.detach(), dim=1)).mean() + cfg.commitment * (1 - F.cosine_similarity(h, hq.detach(), dim=1)).mean()
    mean_p = F.softmax(logits, dim=1).mean(dim=0)
    usage = (mean_p * torch.log(mean_p + 1e-9)).sum() + math.log(cfg.n_classes)  # 0 when all codes are used equally
    return vq, usage


def _fit_contrast(net: SegmentNet, x1: torch.Tensor, x2: torch.Tensor | None, cfg: SegmentConfig, gen: torch.Generator,
                  dev: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """InfoNCE of one batch's two augmented views, and the embeddings ``z1``, ``z2`` (None for S1 only) of the first."""
    b = cfg.n_bins
    a1 = _augment(x1, b, 3, cfg.bin_dropout, cfg.noise, gen).to(dev)
    if x2 is not None:
        a2 = _augment(x2, b, 2, cfg.bin_dropout, cfg.noise, gen).to(dev)
        z1, z2 = net.embed(a1, a2)
        return _info_nce(net.project(z1, "s1"), net.project(z2, "s2"), cfg.temperature), z1, z2
    a1b = _augment(x1, b, 3, cfg.bin_dropout, cfg.noise, gen).to(dev)
    z1, _ = net.embed(a1, None)
    z1b, _ = net.embed(a1b, None)
    return _info_nce(net.project(z1, "s1"), net.project(z1b, "s1"), cfg.temperature), z1, None


def _fit_epoch(net: SegmentNet, opt: torch.optim.Optimizer, t1: torch.Tensor, t2: torch.Tensor | None, cfg: SegmentConfig,
               epoch: int, gen: torch.Generator, dev: torch.device) -> dict[str, float]:
    """One epoch over shuffled full batches; the record of its mean losses, Gumbel temperature and seconds."""
    t0 = time.perf_counter()
    joint = epoch >= cfg.warmup
    if epoch == cfg.warmup:
        _init_codes(net, t1, t2, cfg, dev)
    tau = _fit_tau(cfg, epoch)
    net.train()
    n = t1.shape[0]
    bs = min(cfg.batch_size, n)
    perm = torch.randperm(n, generator=gen)
    sums = {"nce": 0.0, "vq": 0.0, "usage": 0.0}
    steps = 0
    for i in range(0, n - bs + 1, bs):
        idx = perm[i : i + bs]
        nce, z1, z2 = _fit_contrast(net, t1[idx], t2[idx] if t2 is not None else None, cfg, gen, dev)
        loss = nce
        if joint:
            vq, usage = _fit_vq_loss(net, net.fuse(z1, z2), tau, cfg)
            loss = loss + cfg.vq_weight * vq + cfg.usage_weight * usage
            sums["vq"] += float(vq.detach())
            sums["usage"] += float(usage.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sums["nce"] += float(nce.detach())
        steps += 1
    rec = {"epoch": epoch + 1, **{k: v / max(steps, 1) for k, v in sums.items()}, "gumbel_tau": tau, "seconds": time.perf_counter() - t0}
    logger.info("segment: epoch %d nce %.4f vq %.4f usage %.4f (%.1f s)", epoch + 1, rec["nce"], rec["vq"], rec["usage"], rec["seconds"])
    return rec


def _fit_result(net: SegmentNet, stats: dict[str, list[float]], cfg: SegmentConfig, history: list[dict[str, float]],
                prof: np.ndarray, dev: torch.device, t_start: float) -> Segmenter:
    """The trained segmenter (on the CPU) with its provenance and the class sizes of the training pixels."""
    n = prof.shape[0]
    seg = Segmenter(net.cpu().eval(), stats, cfg.to_dict(), history, {
        "package": "fusets_dl", "version": __version__, "created": pd.Timestamp.now(tz="UTC").isoformat(), "device": str(dev),
        "train_pixels": int(n), "train_seconds": time.perf_counter() - t_start,
    })
    cls = seg.classify_array(prof)
    used = np.bincount(cls[cls >= 0], minlength=cfg.n_classes)
    seg.info["train_class_counts"] = used.tolist()
    logger.info("segment: %d training pixels, class sizes %s", n, used.tolist())
    return seg


def train_segmenter(cube: xr.Dataset, config: SegmentConfig | None = None, **kwargs: Any) -> Segmenter:
    """Train a segmenter on ``cube`` without labels.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` (dB) and, for the S2 view, the clear
        ``NDVI``; NumPy- or Dask-backed.
    config : SegmentConfig, optional
        Default ``SegmentConfig(**kwargs)``. Its ``device`` (default None:
        ``fdl.set_options(device=...)``, itself ``"auto"`` by default) is
        where training runs.
    **kwargs
        Fields of :class:`SegmentConfig` (when ``config`` is not given).

    Returns
    -------
    Segmenter
        On the CPU, with the per-epoch ``history`` and provenance ``info``.

    Raises
    ------
    ConfigError
        Invalid ``kwargs`` (as for :class:`SegmentConfig`).
    InsufficientDataError
        Fewer usable pixels than two batches, or no clear NDVI for the S2 view.
    ModelError
        An unknown or unavailable device.

    Warns
    -----
    UserWarning
        The training pixels hold fewer distinct (standardised) profiles than
        ``n_classes``: some classes stay empty (also logged).
    """
    cfg = config or SegmentConfig(**kwargs)
    t_start = time.perf_counter()
    prof = _fit_profiles(cube, cfg)
    stats = _stats(prof, cfg.n_bins)
    x1, x2, _ = _view_inputs(prof, cfg.n_bins, stats, cfg.views, 0)
    _warn_few_distinct(x1 if x2 is None else np.concatenate([x1, x2], axis=1), cfg.n_classes, "train_segmenter")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    dev = resolve_device(cfg.device)
    net = SegmentNet(cfg.n_bins, cfg.views, cfg.hidden, cfg.embed, cfg.n_classes, cfg.code_temperature).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    t1 = torch.from_numpy(x1)
    t2 = torch.from_numpy(x2) if x2 is not None else None
    history = [_fit_epoch(net, opt, t1, t2, cfg, epoch, gen, dev) for epoch in range(cfg.epochs)]
    return _fit_result(net, stats, cfg, history, prof, dev, t_start)
