"""The segmenter network and its persistence: :class:`SegmentNet`, :class:`Segmenter`, :func:`load_segmenter`.

Two encoders, one for the S1 profile and one for the S2 profile
(pseudo-Siamese: same architecture, separate weights), map a pixel to unit
vectors ``z1``, ``z2``; with ``views=("s1",)`` there is one encoder. A
vector-quantisation head assigns the fused embedding ``h`` (the views' ``z``
concatenated) to one of ``K`` unit code vectors: each pixel takes its most
similar code. How the encoders and codes are trained is in
:mod:`fusets_dl.segmentation.fit`.

The segmenter is saved as safetensors plus a JSON sidecar, as
:class:`~fusets_dl.FusionModel` is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .._safeio import read_pair, write_pair
from ..errors import ConfigError, ModelError
from ..runtime import resolve_device
from .config import SegmentConfig
from .profiles import _view_inputs

__all__ = ["SegmentNet", "Segmenter", "load_segmenter"]

FORMAT = "fusets_dl.Segmenter"
FORMAT_VERSION = 1


def _encoder(n_in: int, hidden: tuple[int, ...], embed: int) -> nn.Sequential:
    """An MLP ``n_in -> hidden... -> embed`` (Linear, LayerNorm, GELU per hidden layer)."""
    layers: list[nn.Module] = []
    width = n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.LayerNorm(h), nn.GELU()]
        width = h
    layers.append(nn.Linear(width, embed))
    return nn.Sequential(*layers)


class SegmentNet(nn.Module):
    """Encoders of the views and the code book; ``classify`` gives each pixel its most similar code.

    Parameters
    ----------
    n_bins : int
        Day-of-year bins of the profiles (the S1 input has ``3 * n_bins``
        features, the S2 input ``2 * n_bins``).
    views : tuple of str
        ``("s1",)`` or ``("s1", "s2")``: one encoder (and projection head) per view.
    hidden : tuple of int
        Hidden widths of each encoder.
    embed : int
        Embedding size of each view.
    n_classes : int
        Number of codes.
    code_temperature : float
        Divides the cosine similarities to the codes.
    """

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
        """Unit embeddings of the S1 (and S2) profile inputs (the encoders' outputs: what the classes are made of).

        Parameters
        ----------
        x1 : torch.Tensor
            S1 inputs (n, 3B).
        x2 : torch.Tensor or None
            S2 inputs (n, 2B); ignored for the S1-only network.

        Returns
        -------
        (torch.Tensor, torch.Tensor or None)
            ``z1`` and ``z2`` (None without the S2 view), unit rows.
        """
        z1 = F.normalize(self.enc_s1(x1), dim=1)
        z2 = F.normalize(self.enc_s2(x2), dim=1) if "s2" in self.views and x2 is not None else None
        return z1, z2

    def project(self, z: torch.Tensor, view: str) -> torch.Tensor:
        """The contrastive projection of an embedding (a small head used by the InfoNCE loss only, as in SimCLR).

        Parameters
        ----------
        z : torch.Tensor
            Unit embeddings of one view.
        view : {"s1", "s2"}
            Which view's head.

        Returns
        -------
        torch.Tensor
            Unit projections.
        """
        return F.normalize((self.proj_s1 if view == "s1" else self.proj_s2)(z), dim=1)

    def fuse(self, z1: torch.Tensor, z2: torch.Tensor | None) -> torch.Tensor:
        """The fused unit embedding h.

        Parameters
        ----------
        z1, z2 : torch.Tensor, torch.Tensor or None
            The views' unit embeddings (``z2`` None: ``h`` is ``z1``).

        Returns
        -------
        torch.Tensor
            ``z1`` and ``z2`` concatenated over sqrt(2) (a unit vector).
        """
        return z1 if z2 is None else torch.cat([z1, z2], dim=1) / math.sqrt(2.0)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Cosine similarity to each code over the code temperature.

        Parameters
        ----------
        h : torch.Tensor
            Fused unit embeddings (n, D).

        Returns
        -------
        torch.Tensor
            Logits (n, n_classes).
        """
        return h @ F.normalize(self.codes, dim=1).T / self.code_temperature

    def classify(self, x1: torch.Tensor, x2: torch.Tensor | None) -> torch.Tensor:
        """Class index of each pixel (argmax of the code similarities).

        Parameters
        ----------
        x1, x2 : torch.Tensor, torch.Tensor or None
            S1 and S2 inputs, as for :meth:`embed`.

        Returns
        -------
        torch.Tensor
            Class indices (n,).
        """
        return self.logits(self.fuse(*self.embed(x1, x2))).argmax(dim=1)


@dataclass
class Segmenter:
    """A trained segmenter: network, profile standardisation, config and training record.

    Parameters
    ----------
    network : SegmentNet
        The encoders and the code book.
    stats : dict
        Mean and standard deviation of ``"VV"``, ``"VH"`` and ``"NDVI"``
        used to standardise the profiles.
    config : dict
        The :class:`SegmentConfig` as a dict (:meth:`SegmentConfig.to_dict`).
    history : list of dict
        Per-epoch losses and timings of the training.
    info : dict
        Provenance (package version, device, training pixels, class sizes).
    """

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
        """Network inputs (n, 3B) and (n, 2B) from profiles (n, 5B), and the rows that can be classified.

        Parameters
        ----------
        profile : numpy.ndarray
            Profile rows (n, 5B), as :func:`segment_inputs` lays them out.

        Returns
        -------
        (numpy.ndarray, numpy.ndarray or None, numpy.ndarray)
            Standardised S1 inputs, S2 inputs (None for the S1-only
            segmenter) and a boolean mask of the rows with S1 in at least
            ``min_s1_bins`` bins.

        Raises
        ------
        ModelError
            ``profile`` is not (n, 5B) for this segmenter's B.
        """
        return _view_inputs(profile, self.n_bins, self.stats, self.network.views, int(self.config["min_s1_bins"]))

    def classify_array(self, profile: np.ndarray, *, device: str | None = "cpu", batch_size: int = 65536) -> np.ndarray:
        """Class of each profile row (n, 5B); -1 where S1 covers fewer than ``min_s1_bins`` bins.

        Parameters
        ----------
        profile : numpy.ndarray
            Profile rows (n, 5B).
        device : str or None
            Where the network runs: ``"cpu"`` by default (the Dask block
            function relies on it); None takes ``fdl.set_options(device=...)``;
            ``"auto"``, ``"cuda"``, ``"cuda:N"`` as for
            :func:`fusets_dl.runtime.resolve_device`.
        batch_size : int
            Rows per forward pass.

        Returns
        -------
        numpy.ndarray
            int16 class ids (n,).

        Raises
        ------
        ModelError
            A bad profile shape or an unavailable device.
        """
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
        """Fused embeddings h (n, D) of profile rows (NaN rows where not classifiable), computed on the CPU.

        Parameters
        ----------
        profile : numpy.ndarray
            Profile rows (n, 5B).

        Returns
        -------
        numpy.ndarray
            float32 embeddings (n, D).
        """
        x1, x2, ok = self.view_inputs(profile)
        net = self.network.cpu().eval()
        out = np.full((profile.shape[0], int(self.network.codes.shape[1])), np.nan, dtype=np.float32)
        with torch.inference_mode():
            h = net.fuse(*net.embed(torch.from_numpy(x1[ok]), torch.from_numpy(x2[ok]) if x2 is not None else None))
        out[ok] = h.numpy()
        return out

    def state_bytes(self) -> bytes:
        """The weights as safetensors bytes.

        Returns
        -------
        bytes
        """
        from safetensors.torch import save

        return save({k: v.detach().cpu().contiguous() for k, v in self.network.state_dict().items()})

    def to_json_dict(self, weights_sha256: str) -> dict[str, Any]:
        """The JSON sidecar content.

        Parameters
        ----------
        weights_sha256 : str
            SHA-256 of :meth:`state_bytes`.

        Returns
        -------
        dict
        """
        return {"format": FORMAT, "format_version": FORMAT_VERSION, "weights_sha256": weights_sha256,
                "config": self.config, "stats": self.stats, "history": self.history, "info": self.info}

    def save(self, path: str | Path) -> Path:
        """Write ``<path>.safetensors`` and ``<path>.json`` (atomically).

        Parameters
        ----------
        path : str or pathlib.Path
            Stem of the two files (a ``.json`` or ``.safetensors`` suffix is
            dropped).

        Returns
        -------
        pathlib.Path
            The JSON sidecar's path.

        Raises
        ------
        OSError
            The files cannot be written.
        """
        return write_pair(path, self.state_bytes(), self.to_json_dict)


def _build(config: dict[str, Any]) -> SegmentNet:
    """An untrained network of the architecture a config dict describes."""
    return SegmentNet(int(config["n_bins"]), tuple(config["views"]), tuple(config["hidden"]), int(config["embed"]),
                      int(config["n_classes"]), float(config["code_temperature"]))


def _check_stats(stats: Any, where: str) -> None:
    """Refuse profile statistics that are not ``{"VV", "VH", "NDVI"}`` each ``[finite mean, finite std > 0]``."""
    bad = []
    if not isinstance(stats, dict):
        bad.append(f"stats {stats!r}")
    else:
        for name in ("VV", "VH", "NDVI"):
            v = stats.get(name)
            ok = (isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
                  and all(math.isfinite(x) for x in v) and v[1] > 0)
            if not ok:
                bad.append(f"{name}: {v!r}")
    if bad:
        raise ModelError(f"{where}: expected 'stats' with 'VV', 'VH' and 'NDVI' each [finite mean, finite std > 0], found "
                         + "; ".join(bad) + " (a hand-edited sidecar?)")


def load_segmenter(path: str | Path) -> Segmenter:
    """Load a segmenter written by :meth:`Segmenter.save` (weights checked against the sidecar's SHA-256).

    Parameters
    ----------
    path : str or pathlib.Path
        The sidecar, the weights file or their common stem.

    Returns
    -------
    Segmenter

    Raises
    ------
    ModelError
        Missing or truncated files, tampered weights, another format,
        weights that do not fit the architecture in the sidecar, or a sidecar
        without a valid ``config`` or with ``stats`` that are not a finite
        mean and positive standard deviation for each of VV, VH and NDVI.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    meta, blob, w_path, j_path = read_pair(path, FORMAT, FORMAT_VERSION, what="segmenter")
    if "config" not in meta:
        raise ModelError(f"{j_path.name}: expected a 'config' entry (the SegmentConfig), found keys {sorted(meta)}")
    try:
        cfg = SegmentConfig.from_dict(meta["config"]).to_dict()
    except ConfigError as exc:
        raise ModelError(f"{j_path.name}: the sidecar's config is not a valid SegmentConfig: {exc}") from exc
    _check_stats(meta.get("stats"), j_path.name)
    net = _build(cfg)
    try:
        net.load_state_dict(load(blob))
    except (SafetensorError, RuntimeError) as exc:
        raise ModelError(f"{w_path.name}: the weights do not fit the segmenter described by the sidecar: {exc}") from exc
    return Segmenter(net.eval(), meta["stats"], cfg, meta.get("history", []), meta.get("info", {}))


def _segmenter_from_parts(meta: dict[str, Any], blob: bytes) -> Segmenter:
    """Rebuild a segmenter from a Dask payload's sidecar dict and weights (see :mod:`fusets_dl.runtime`)."""
    from safetensors.torch import load

    net = _build(meta["config"])
    net.load_state_dict(load(blob))
    return Segmenter(net.eval(), meta["stats"], meta["config"])
