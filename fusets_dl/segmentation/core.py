"""Unsupervised land-cover classes from fused S1/S2 time series: contrastive encoders and a vector-quantised head.

Each pixel's series becomes an annual profile: the mean of VV and VH (dB)
and of clear NDVI in ``n_bins`` day-of-year bins (several years fold into
one year), with a 0/1 flag per bin saying whether it holds any observation
(clouds leave S2 bins empty; an empty bin is 0 after standardisation and
flagged 0, so it is masked rather than imputed).

Two encoders, one for the S1 profile and one for the S2 profile
(pseudo-Siamese: same architecture, separate weights), map a pixel to unit
vectors ``z1``, ``z2``. Training pulls the two views of the same pixel
together and pushes the other pixels of the batch apart (symmetric InfoNCE,
as in CLIP-style cross-modal contrastive learning, computed on a small
projection head of each view as in SimCLR: the classes are made from the
encoders' outputs, before the projection), on randomly thinned
profiles (bins removed at random, noise added). With ``views=("s1",)`` the
two views are two random thinnings of the S1 profile through one encoder
(Siamese, SimCLR-style), for scenes or comparisons without optical data.

A vector-quantisation head assigns the fused embedding ``h`` (the views'
``z`` concatenated) to one of ``K`` unit code vectors: after ``warmup``
epochs of contrastive training, the codes start from k-means++ on ``h`` of
the training pixels and are then trained jointly with the encoders through
a Gumbel-softmax over the code similarities (straight-through-free, soft
samples): a quantisation loss pulls codes to embeddings and, more weakly,
embeddings to their codes, and a usage term (the entropy of the batch's
mean assignment) keeps codes from dying, so the map does not collapse to
a few classes. At inference each pixel takes its most similar code (no
noise). No label is used anywhere.

The segmenter is saved as safetensors plus a JSON sidecar, as
:class:`~fusets_dl.FusionModel` is, and inference runs lazily per Dask chunk.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import numpy as np
import pandas as pd
import torch
import xarray as xr
from torch import nn
from torch.nn import functional as F

from .._config import dataclass_from_dict
from .._logging import logger
from .._rng import hash_uniform
from .._safeio import read_pair, write_pair
from ..errors import ConfigError, InsufficientDataError, ModelError
from ..runtime import Payload, from_payload, make_payload, resolve_device
from ..validate import check_cube

__all__ = ["SegmentConfig", "Segmenter", "kmeans_segment", "load_segmenter", "segment", "segment_inputs", "train_segmenter"]

FORMAT = "fusets_dl.Segmenter"
FORMAT_VERSION = 1
VIEWS = ("s1", "s2")
_SAMPLE_STREAM = 7001


@dataclass(frozen=True)
class SegmentConfig:
    """How the segmenter is built and trained.

    Parameters
    ----------
    n_classes : int
        Number of codes (classes), K.
    views : tuple of str
        ``("s1", "s2")``: cross-modal contrastive (S1 profile vs S2 profile),
        classes from both; ``("s1",)``: two thinned S1 views, classes from S1.
    n_bins : int
        Day-of-year bins of the annual profile (36: about 10 days).
    hidden, embed : tuple of int, int
        Encoder widths and the embedding size of each view.
    temperature : float
        InfoNCE temperature.
    code_temperature : float
        Temperature of the code similarities (cosine / code_temperature are
        the logits of the assignment).
    gumbel_tau : (float, float)
        Gumbel-softmax temperature, annealed geometrically from the first to
        the second value over the epochs after the warm-up.
    bin_dropout, noise : float
        Augmentation: fraction of a view's bins removed at random and the
        standard deviation of the noise added to the standardised values.
    vq_weight, usage_weight, commitment : float
        Weights of the quantisation loss, of the code-usage term and of the
        pull of embeddings towards their codes (relative to the pull of
        codes towards embeddings).
    epochs : int
        Training epochs in all.
    warmup : int, optional
        How many of the epochs are contrastive only (default: a third).
    batch_size : int
        Pixels per step (the InfoNCE negatives are the batch's other pixels).
    learning_rate, weight_decay : float
        AdamW settings.
    max_pixels : int
        Training pixels, drawn by a hash of their position (chunk-invariant).
    min_s1_bins : int
        A pixel needs S1 in at least this many bins to be trained on and
        classified; others get class -1.
    seed : int
        Seed of the sampling, the initialisation and the batches.
    device : str
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.
    """

    n_classes: int = 8
    views: tuple[str, ...] = VIEWS
    n_bins: int = 36
    hidden: tuple[int, ...] = (128, 64)
    embed: int = 32
    temperature: float = 0.3
    code_temperature: float = 0.1
    gumbel_tau: tuple[float, float] = (1.0, 0.2)
    bin_dropout: float = 0.25
    noise: float = 0.1
    vq_weight: float = 1.0
    usage_weight: float = 0.5
    commitment: float = 0.25
    epochs: int = 60
    warmup: int | None = None
    batch_size: int = 256
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    max_pixels: int = 20_000
    min_s1_bins: int = 6
    seed: int = 0
    device: str | None = None

    def __post_init__(self) -> None:
        problems = []
        views = tuple(self.views)
        if views not in (("s1",), ("s1", "s2")):
            problems.append(f"views: expected ('s1',) or ('s1', 's2'), found {self.views!r}")
        if self.n_classes < 2:
            problems.append(f"n_classes: expected at least 2, found {self.n_classes}")
        if self.n_bins < 4:
            problems.append(f"n_bins: expected at least 4, found {self.n_bins}")
        if not (0 <= self.bin_dropout < 1) or self.noise < 0:
            problems.append(f"bin_dropout/noise: expected 0 <= bin_dropout < 1 and noise >= 0, found {self.bin_dropout}, {self.noise}")
        if self.temperature <= 0 or self.code_temperature <= 0 or min(self.gumbel_tau) <= 0:
            problems.append("temperature, code_temperature and gumbel_tau must be positive")
        if self.warmup is None and self.epochs >= 1:
            object.__setattr__(self, "warmup", self.epochs // 3)
        if self.epochs < 1 or not 0 <= self.warmup < self.epochs:
            problems.append(f"epochs/warmup: expected epochs >= 1 and 0 <= warmup < epochs, found {self.epochs}, {self.warmup}")
        if self.batch_size < 2 or self.max_pixels < 2:
            problems.append(f"batch_size and max_pixels: expected at least 2, found {self.batch_size}, {self.max_pixels}")
        if not self.hidden or any(int(h) < 1 for h in self.hidden) or self.embed < 2:
            problems.append(f"hidden/embed: expected positive widths, found {self.hidden!r}, {self.embed}")
        if problems:
            raise ConfigError("SegmentConfig: " + "; ".join(problems))
        object.__setattr__(self, "views", views)
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "gumbel_tau", tuple(float(t) for t in self.gumbel_tau))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        d = asdict(self)
        for k in ("views", "hidden", "gumbel_tau"):
            d[k] = list(getattr(self, k))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegmentConfig:
        """Rebuild a config; unknown keys are an error naming them."""
        return dataclass_from_dict(cls, d, ("views", "hidden", "gumbel_tau"))


# --------------------------------------------------------------------------- annual profiles

def _bin_matrix(times: np.ndarray, n_bins: int) -> np.ndarray:
    """(time, n_bins) one-hot matrix of each date's day-of-year bin."""
    t = pd.DatetimeIndex(times)
    frac = (t.day_of_year.to_numpy() - 1 + t.hour.to_numpy() / 24.0) / 366.0
    b = np.minimum((frac * n_bins).astype(np.int64), n_bins - 1)
    m = np.zeros((len(t), n_bins), dtype=np.float64)
    m[np.arange(len(t)), b] = 1.0
    return m


def _profile_block(vv: np.ndarray, vh: np.ndarray, ndvi: np.ndarray, onehot: np.ndarray) -> np.ndarray:
    """(by, bx, 5 * n_bins): VV, VH and NDVI bin means (NaN where empty), S1 and S2 bin flags."""
    s1_ok = np.isfinite(vv) & np.isfinite(vh)
    s2_ok = np.isfinite(ndvi)
    n1 = np.einsum("tyx,tb->yxb", s1_ok.astype(np.float64), onehot)
    n2 = np.einsum("tyx,tb->yxb", s2_ok.astype(np.float64), onehot)
    with np.errstate(invalid="ignore", divide="ignore"):
        m_vv = np.einsum("tyx,tb->yxb", np.where(s1_ok, vv, 0.0), onehot) / n1
        m_vh = np.einsum("tyx,tb->yxb", np.where(s1_ok, vh, 0.0), onehot) / n1
        m_nd = np.einsum("tyx,tb->yxb", np.where(s2_ok, ndvi, 0.0), onehot) / n2
    return np.concatenate([m_vv, m_vh, (n1 > 0), m_nd, (n2 > 0)], axis=-1).astype(np.float32)


def segment_inputs(cube: xr.Dataset, n_bins: int = 36) -> xr.DataArray:
    """Annual profiles of each pixel: ``profile(y, x, channel)`` float32, lazy on Dask input.

    Channels, ``n_bins`` each: VV mean (dB), VH mean (dB), S1 flag, clear
    NDVI mean, S2 flag; a bin's mean is NaN where it holds no observation.
    """
    check_cube(cube)
    if "NDVI" not in cube:
        ndvi = xr.full_like(cube["VV"], np.nan, dtype=np.float32)
    else:
        ndvi = cube["NDVI"]
    onehot = _bin_matrix(cube["time"].values, n_bins)
    names = [f"{v}_{b:02d}" for v in ("VV", "VH", "S1_flag", "NDVI", "S2_flag") for b in range(n_bins)]
    arrs = [cube["VV"].transpose("time", "y", "x"), cube["VH"].transpose("time", "y", "x"), ndvi.transpose("time", "y", "x")]
    if cube["VV"].chunks is None:
        data: Any = _profile_block(*(np.asarray(a.values) for a in arrs), onehot)
    else:
        chunks = {"time": -1, "y": cube["VV"].chunks[cube["VV"].dims.index("y")], "x": cube["VV"].chunks[cube["VV"].dims.index("x")]}
        blocks = [a.chunk(chunks).data for a in arrs]
        data = da.map_blocks(_profile_block, *blocks, onehot, drop_axis=0, new_axis=2,
                             chunks=(blocks[0].chunks[1], blocks[0].chunks[2], (5 * n_bins,)), dtype=np.float32,
                             meta=np.empty((0, 0, 0), dtype=np.float32))
    return xr.DataArray(data, dims=("y", "x", "channel"), coords={"y": cube["y"], "x": cube["x"], "channel": names}, name="profile")


# --------------------------------------------------------------------------- network

def _encoder(n_in: int, hidden: tuple[int, ...], embed: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.LayerNorm(h), nn.GELU()]
        width = h
    layers.append(nn.Linear(width, embed))
    return nn.Sequential(*layers)


class SegmentNet(nn.Module):
    """Encoders of the views and the code book; ``classify`` gives each pixel its most similar code."""

    def __init__(self, n_bins: int, views: tuple[str, ...], hidden: tuple[int, ...], embed: int, n_classes: int, code_temperature: float) -> None:
        super().__init__()
        self.views = tuple(views)
        self.n_bins = n_bins
        self.enc_s1 = _encoder(3 * n_bins, hidden, embed)
        self.proj_s1 = _encoder(embed, (embed,), embed)
        if "s2" in self.views:
            self.enc_s2 = _encoder(2 * n_bins, hidden, embed)
            self.proj_s2 = _encoder(embed, (embed,), embed)
        self.codes = nn.Parameter(F.normalize(torch.randn(n_classes, embed * len(self.views)), dim=1))
        self.code_temperature = code_temperature

    def embed(self, x1: torch.Tensor, x2: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Unit embeddings of the S1 (and S2) profile inputs (the encoders' outputs: what the classes are made of)."""
        z1 = F.normalize(self.enc_s1(x1), dim=1)
        z2 = F.normalize(self.enc_s2(x2), dim=1) if "s2" in self.views and x2 is not None else None
        return z1, z2

    def project(self, z: torch.Tensor, view: str) -> torch.Tensor:
        """The contrastive projection of an embedding (a small head used by the InfoNCE loss only, as in SimCLR)."""
        return F.normalize((self.proj_s1 if view == "s1" else self.proj_s2)(z), dim=1)

    def fuse(self, z1: torch.Tensor, z2: torch.Tensor | None) -> torch.Tensor:
        """The fused unit embedding h."""
        return z1 if z2 is None else torch.cat([z1, z2], dim=1) / math.sqrt(2.0)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Cosine similarity to each code over the code temperature."""
        return h @ F.normalize(self.codes, dim=1).T / self.code_temperature

    def classify(self, x1: torch.Tensor, x2: torch.Tensor | None) -> torch.Tensor:
        """Class index of each pixel (argmax of the code similarities)."""
        return self.logits(self.fuse(*self.embed(x1, x2))).argmax(dim=1)


# --------------------------------------------------------------------------- the segmenter

@dataclass
class Segmenter:
    """A trained segmenter: network, profile standardisation, config and training record."""

    network: SegmentNet
    stats: dict[str, list[float]]
    config: dict[str, Any]
    history: list[dict[str, float]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_bins(self) -> int:
        """Day-of-year bins of the profiles."""
        return int(self.config["n_bins"])

    @property
    def n_classes(self) -> int:
        """Number of classes (codes)."""
        return int(self.network.codes.shape[0])

    def view_inputs(self, profile: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Network inputs (n, 3B) and (n, 2B) from profiles (n, 5B), and the rows that can be classified."""
        return _view_inputs(profile, self.n_bins, self.stats, self.network.views, int(self.config["min_s1_bins"]))

    def classify_array(self, profile: np.ndarray, *, device: str = "cpu", batch_size: int = 65536) -> np.ndarray:
        """Class of each profile row (n, 5B); -1 where S1 covers fewer than ``min_s1_bins`` bins."""
        x1, x2, ok = self.view_inputs(profile)
        out = np.full(profile.shape[0], -1, dtype=np.int16)
        if not ok.any():
            return out
        dev = resolve_device(device)
        net = self.network.to(dev).eval()
        res = []
        idx = np.flatnonzero(ok)
        with torch.inference_mode():
            for i in range(0, idx.size, batch_size):
                rows = idx[i : i + batch_size]
                t1 = torch.from_numpy(x1[rows]).to(dev)
                t2 = torch.from_numpy(x2[rows]).to(dev) if x2 is not None else None
                res.append(net.classify(t1, t2).cpu().numpy())
        out[idx] = np.concatenate(res).astype(np.int16)
        return out

    def embed_array(self, profile: np.ndarray) -> np.ndarray:
        """Fused embeddings h (n, D) of profile rows (NaN rows where not classifiable)."""
        x1, x2, ok = self.view_inputs(profile)
        net = self.network.cpu().eval()
        out = np.full((profile.shape[0], int(self.network.codes.shape[1])), np.nan, dtype=np.float32)
        with torch.inference_mode():
            h = net.fuse(*net.embed(torch.from_numpy(x1[ok]), torch.from_numpy(x2[ok]) if x2 is not None else None))
        out[ok] = h.numpy()
        return out

    # ------------------------------------------------------------------ persistence
    def state_bytes(self) -> bytes:
        """The weights as safetensors bytes."""
        from safetensors.torch import save

        return save({k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()})

    def to_json_dict(self, weights_sha256: str) -> dict[str, Any]:
        """The JSON sidecar content."""
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "weights_sha256": weights_sha256,
                "config": self.config, "stats": self.stats, "history": self.history, "info": self.info}

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.safetensors`` and ``<path>.json`` (atomically); return the JSON path."""
        return write_pair(path, self.state_bytes(), self.to_json_dict)


def _build(config: dict[str, Any]) -> SegmentNet:
    return SegmentNet(int(config["n_bins"]), tuple(config["views"]), tuple(config["hidden"]), int(config["embed"]),
                      int(config["n_classes"]), float(config["code_temperature"]))


def load_segmenter(path: str | Path) -> Segmenter:
    """Load a segmenter written by :meth:`Segmenter.save` (weights checked against the sidecar's SHA-256).

    Raises
    ------
    ModelError
        Missing or truncated files, tampered weights, another format, or
        weights that do not fit the architecture in the sidecar.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    meta, blob, w_path, _ = read_pair(path, FORMAT, FORMAT_VERSION, what="segmenter")
    cfg = SegmentConfig.from_dict(meta["config"]).to_dict()
    net = _build(cfg)
    try:
        net.load_state_dict(load(blob))
    except (SafetensorError, RuntimeError) as exc:
        raise ModelError(f"{w_path.name}: the weights do not fit the segmenter described by the sidecar: {exc}") from exc
    return Segmenter(net.eval(), meta["stats"], cfg, meta.get("history", []), meta.get("info", {}))


# --------------------------------------------------------------------------- inputs and training

def _view_inputs(profile: np.ndarray, n_bins: int, stats: dict[str, list[float]], views: tuple[str, ...], min_s1_bins: int) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    p = np.asarray(profile, dtype=np.float32)
    b = n_bins
    if p.ndim != 2 or p.shape[1] != 5 * b:
        raise ModelError(f"segment: expected profiles of shape (n, {5 * b}) for {b} bins, found {p.shape}")

    def _std(block: np.ndarray, name: str) -> np.ndarray:
        m, s = stats[name]
        z = (block - m) / s
        return np.where(np.isfinite(z), z, 0.0).astype(np.float32)

    f1, f2 = p[:, 2 * b : 3 * b], p[:, 4 * b : 5 * b]
    x1 = np.concatenate([_std(p[:, :b], "VV"), _std(p[:, b : 2 * b], "VH"), f1], axis=1)
    x2 = np.concatenate([_std(p[:, 3 * b : 4 * b], "NDVI"), f2], axis=1) if "s2" in views else None
    ok = f1.sum(axis=1) >= min_s1_bins
    return x1, x2, ok


def _stats(profile: np.ndarray, n_bins: int) -> dict[str, list[float]]:
    b = n_bins
    out = {}
    for name, sl in (("VV", slice(0, b)), ("VH", slice(b, 2 * b)), ("NDVI", slice(3 * b, 4 * b))):
        v = profile[:, sl]
        v = v[np.isfinite(v)]
        out[name] = [float(v.mean()), float(max(v.std(), 1e-3))] if v.size else [0.0, 1.0]
    return out


def _sample_block(prof: np.ndarray, y0: int, x0: int, nx: int, p_keep: float, seed: int, n_bins: int, min_s1_bins: int) -> tuple[np.ndarray, np.ndarray]:
    by, bx, _ = prof.shape
    yy, xx = np.meshgrid(np.arange(by) + y0, np.arange(bx) + x0, indexing="ij")
    keep = hash_uniform(seed, _SAMPLE_STREAM, 0, yy, xx) < p_keep
    keep &= prof[..., 2 * n_bins : 3 * n_bins].sum(axis=-1) >= min_s1_bins
    return (yy[keep] * nx + xx[keep]).astype(np.int64), prof[keep]


def _training_profiles(profile: xr.DataArray, cfg: SegmentConfig) -> np.ndarray:
    """Up to ``max_pixels`` profiles drawn by a hash of the pixel position, in row-major pixel order.

    The draw and the order do not depend on the chunking, so neither does training.
    """
    ny, nx = profile.sizes["y"], profile.sizes["x"]
    p_keep = min(1.0, cfg.max_pixels / max(ny * nx, 1))
    if profile.chunks is None:
        parts = [_sample_block(np.asarray(profile.values), 0, 0, nx, p_keep, cfg.seed, cfg.n_bins, cfg.min_s1_bins)]
    else:
        blocks = profile.data.to_delayed()
        ys = np.cumsum((0, *profile.chunks[0]))
        xs = np.cumsum((0, *profile.chunks[1]))
        tasks = [dask.delayed(_sample_block)(blocks[i, j, 0], int(ys[i]), int(xs[j]), nx, p_keep, cfg.seed, cfg.n_bins, cfg.min_s1_bins)
                 for i in range(blocks.shape[0]) for j in range(blocks.shape[1])]
        parts = list(dask.compute(*tasks))
    idx = np.concatenate([p[0] for p in parts])
    rows = np.concatenate([p[1] for p in parts])
    return rows[np.argsort(idx, kind="stable")]


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
    logits = a @ b.T / temperature
    target = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def train_segmenter(cube: xr.Dataset, config: SegmentConfig | None = None, **kwargs: Any) -> Segmenter:
    """Train a segmenter on ``cube`` without labels.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` (dB) and, for the S2 view, the clear
        ``NDVI``; NumPy- or Dask-backed.
    config : SegmentConfig, optional
        Default ``SegmentConfig(**kwargs)``.
    **kwargs
        Fields of :class:`SegmentConfig` (when ``config`` is not given).

    Returns
    -------
    Segmenter

    Raises
    ------
    InsufficientDataError
        Fewer usable pixels than two batches, or no clear NDVI for the S2 view.
    """
    from .._version import __version__

    cfg = config or SegmentConfig(**kwargs)
    t_start = time.perf_counter()
    check_cube(cube, need_target="s2" in cfg.views)
    profile = segment_inputs(cube, cfg.n_bins)
    prof = _training_profiles(profile, cfg)
    b = cfg.n_bins
    if prof.shape[0] < max(2 * min(cfg.batch_size, 64), cfg.n_classes * 4):
        raise InsufficientDataError(
            f"train_segmenter: expected at least {max(2 * min(cfg.batch_size, 64), cfg.n_classes * 4)} pixels with S1 in "
            f">= {cfg.min_s1_bins} of {b} day-of-year bins, found {prof.shape[0]}"
        )
    if "s2" in cfg.views and not np.isfinite(prof[:, 3 * b : 4 * b]).any():
        raise InsufficientDataError("train_segmenter: the S2 view needs clear NDVI, found none in the training pixels; use views=('s1',)")
    stats = _stats(prof, b)
    x1, x2, _ = _view_inputs(prof, b, stats, cfg.views, 0)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    dev = resolve_device(cfg.device)
    net = SegmentNet(b, cfg.views, cfg.hidden, cfg.embed, cfg.n_classes, cfg.code_temperature).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    t1 = torch.from_numpy(x1)
    t2 = torch.from_numpy(x2) if x2 is not None else None
    n = t1.shape[0]
    bs = min(cfg.batch_size, n)
    history: list[dict[str, float]] = []
    n_joint = cfg.epochs - cfg.warmup
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        joint = epoch >= cfg.warmup
        if epoch == cfg.warmup:
            _init_codes(net, t1, t2, cfg, dev)
        k = epoch - cfg.warmup
        tau = cfg.gumbel_tau[0] * (cfg.gumbel_tau[1] / cfg.gumbel_tau[0]) ** (k / max(n_joint - 1, 1)) if joint else float("nan")
        net.train()
        perm = torch.randperm(n, generator=gen)
        sums = {"nce": 0.0, "vq": 0.0, "usage": 0.0}
        steps = 0
        for i in range(0, n - bs + 1, bs):
            idx = perm[i : i + bs]
            a1 = _augment(t1[idx], b, 3, cfg.bin_dropout, cfg.noise, gen).to(dev)
            if t2 is not None:
                a2 = _augment(t2[idx], b, 2, cfg.bin_dropout, cfg.noise, gen).to(dev)
                z1, z2 = net.embed(a1, a2)
                nce = _info_nce(net.project(z1, "s1"), net.project(z2, "s2"), cfg.temperature)
            else:
                a1b = _augment(t1[idx], b, 3, cfg.bin_dropout, cfg.noise, gen).to(dev)
                z1, _ = net.embed(a1, None)
                z1b, _ = net.embed(a1b, None)
                z2 = None
                nce = _info_nce(net.project(z1, "s1"), net.project(z1b, "s1"), cfg.temperature)
            loss = nce
            if joint:
                h = net.fuse(z1, z2)
                logits = net.logits(h)
                q = F.gumbel_softmax(logits, tau=tau, hard=False)
                hq = q @ F.normalize(net.codes, dim=1)
                vq = (1 - F.cosine_similarity(hq, h.detach(), dim=1)).mean() + cfg.commitment * (1 - F.cosine_similarity(h, hq.detach(), dim=1)).mean()
                mean_p = F.softmax(logits, dim=1).mean(dim=0)
                usage = (mean_p * torch.log(mean_p + 1e-9)).sum() + math.log(cfg.n_classes)  # 0 when all codes are used equally
                loss = loss + cfg.vq_weight * vq + cfg.usage_weight * usage
                sums["vq"] += float(vq.detach())
                sums["usage"] += float(usage.detach())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sums["nce"] += float(nce.detach())
            steps += 1
        rec = {"epoch": epoch + 1, **{k2: v / max(steps, 1) for k2, v in sums.items()}, "gumbel_tau": tau, "seconds": time.perf_counter() - t0}
        history.append(rec)
        logger.info("segment: epoch %d nce %.4f vq %.4f usage %.4f (%.1f s)", epoch + 1, rec["nce"], rec["vq"], rec["usage"], rec["seconds"])
    net = net.cpu().eval()
    seg = Segmenter(net, stats, cfg.to_dict(), history, {
        "package": "fusets_dl", "version": __version__, "created": pd.Timestamp.now(tz="UTC").isoformat(), "device": str(dev),
        "train_pixels": int(n), "train_seconds": time.perf_counter() - t_start,
    })
    cls = seg.classify_array(prof)
    used = np.bincount(cls[cls >= 0], minlength=cfg.n_classes)
    seg.info["train_class_counts"] = used.tolist()
    logger.info("segment: %d training pixels, class sizes %s", n, used.tolist())
    return seg


def _init_codes(net: SegmentNet, t1: torch.Tensor, t2: torch.Tensor | None, cfg: SegmentConfig, dev: torch.device) -> None:
    """Codes from k-means++ on the fused embeddings of the training pixels (the end of the warm-up)."""
    net.eval()
    with torch.no_grad():
        h = torch.cat([net.fuse(*net.embed(t1[i : i + 8192].to(dev), t2[i : i + 8192].to(dev) if t2 is not None else None)).cpu()
                       for i in range(0, t1.shape[0], 8192)])
    centres, _ = kmeans(h.numpy().astype(np.float64), cfg.n_classes, seed=cfg.seed)
    with torch.no_grad():
        net.codes.copy_(F.normalize(torch.from_numpy(centres).float(), dim=1).to(dev))


def kmeans(x: np.ndarray, k: int, *, seed: int = 0, n_init: int = 4, max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """k-means (Lloyd, k-means++ starts, best of ``n_init`` by inertia): (centres (k, d), labels (n,))."""
    from scipy.cluster.vq import kmeans2

    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for r in range(n_init):
        centres, labels = kmeans2(x, k, iter=max_iter, minit="++", seed=np.random.default_rng(seed * 1000 + r))
        inertia = float(((x - centres[labels]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, centres, labels)
    assert best is not None
    return best[1], best[2]


# --------------------------------------------------------------------------- inference

def _segmenter_from_parts(meta: dict[str, Any], blob: bytes) -> Segmenter:
    from safetensors.torch import load

    net = _build(meta["config"])
    net.load_state_dict(load(blob))
    return Segmenter(net.eval(), meta["stats"], meta["config"])


def _segment_block(prof: np.ndarray, payload: Payload) -> np.ndarray:
    seg = from_payload(payload, _segmenter_from_parts, "Segmenter")
    by, bx, c = prof.shape
    return seg.classify_array(prof.reshape(-1, c)).reshape(by, bx)


def _classes_array(profile: xr.DataArray, fn: Any, *args: Any, name: str, attrs: dict[str, Any]) -> xr.DataArray:
    if profile.chunks is None:
        data: Any = fn(np.asarray(profile.values), *args)
    else:
        data = da.map_blocks(fn, profile.data, *args, drop_axis=2, dtype=np.int16, meta=np.empty((0, 0), dtype=np.int16))
    return xr.DataArray(data, dims=("y", "x"), coords={"y": profile["y"], "x": profile["x"]}, name=name,
                        attrs={"long_name": "unsupervised land-cover class", "comment": "-1: too little S1 to classify", **attrs})


def segment(cube: xr.Dataset, n_classes: int = 8, *, segmenter: Segmenter | None = None, config: SegmentConfig | None = None, **kwargs: Any) -> xr.DataArray:
    """Unsupervised class of every pixel: ``class(y, x)`` int16, -1 where S1 is too sparse.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube (``VV``, ``VH`` and, for the S2 view, ``NDVI``).
    n_classes : int
        Number of classes when a segmenter is trained here.
    segmenter : Segmenter, optional
        A trained segmenter (see :func:`train_segmenter`, :func:`load_segmenter`);
        default: train one on ``cube`` (this computes the training sample).
    config : SegmentConfig, optional
        Training settings (``n_classes`` and ``kwargs`` are ignored when given).
    **kwargs
        Fields of :class:`SegmentConfig`.

    Returns
    -------
    xarray.DataArray
        Class ids, lazy on Dask input (one task per chunk; the weights enter
        the graph once). ``attrs`` carry the segmenter's SHA-256.
    """
    if segmenter is None:
        segmenter = train_segmenter(cube, config or SegmentConfig(n_classes=n_classes, **kwargs))
    profile = segment_inputs(cube, segmenter.n_bins)
    blob = segmenter.state_bytes()
    sha = hashlib.sha256(blob).hexdigest()
    payload: Any = make_payload({"config": segmenter.config, "stats": segmenter.stats}, blob)
    if profile.chunks is not None:
        payload = dask.delayed(payload, pure=True, name=f"fusets-segmenter-{payload[2][:16]}")
    return _classes_array(profile, _segment_block, payload, name="class",
                          attrs={"segmenter_sha256": sha, "method": f"contrastive + VQ, views {'+'.join(segmenter.network.views)}",
                                 "n_classes": segmenter.n_classes})


def _nearest_block(prof: np.ndarray, centres: np.ndarray, stats: dict[str, list[float]], n_bins: int, views: tuple[str, ...], min_s1_bins: int) -> np.ndarray:
    by, bx, c = prof.shape
    x1, x2, ok = _view_inputs(prof.reshape(-1, c), n_bins, stats, views, min_s1_bins)
    x = x1 if x2 is None else np.concatenate([x1, x2], axis=1)
    out = np.full(x.shape[0], -1, dtype=np.int16)
    if ok.any():
        xo = x[ok].astype(np.float64)
        d = (xo**2).sum(1)[:, None] - 2 * xo @ centres.T + (centres**2).sum(1)[None, :]
        out[ok] = d.argmin(axis=1)
    return out.reshape(by, bx)


def kmeans_segment(cube: xr.Dataset, n_classes: int = 8, *, views: tuple[str, ...] = VIEWS, n_bins: int = 36,
                   max_pixels: int = 20_000, min_s1_bins: int = 6, seed: int = 0) -> xr.DataArray:
    """The classical baseline: k-means on the same standardised annual profiles as :func:`segment`.

    Fitted on up to ``max_pixels`` pixels (the same hash draw as
    :func:`train_segmenter`), then each pixel takes its nearest centre,
    lazily per chunk. Returns ``class(y, x)`` int16 (-1: too little S1).
    """
    cfg = SegmentConfig(n_classes=n_classes, views=views, n_bins=n_bins, max_pixels=max_pixels, min_s1_bins=min_s1_bins, seed=seed)
    check_cube(cube, need_target="s2" in cfg.views)
    profile = segment_inputs(cube, n_bins)
    prof = _training_profiles(profile, cfg)
    if prof.shape[0] < n_classes:
        raise InsufficientDataError(f"kmeans_segment: expected at least {n_classes} pixels with S1 in >= {min_s1_bins} bins, found {prof.shape[0]}")
    stats = _stats(prof, n_bins)
    x1, x2, _ = _view_inputs(prof, n_bins, stats, cfg.views, 0)
    x = x1 if x2 is None else np.concatenate([x1, x2], axis=1)
    centres, _ = kmeans(x.astype(np.float64), n_classes, seed=seed)
    return _classes_array(profile, _nearest_block, centres, stats, n_bins, cfg.views, min_s1_bins, name="class",
                          attrs={"method": f"k-means on annual profiles, views {'+'.join(cfg.views)}", "n_classes": n_classes})
