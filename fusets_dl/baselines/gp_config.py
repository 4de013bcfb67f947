"""The MOGPR model's settings and parameters, shared by the dense and state-space engines.

:class:`GPConfig` (the LCM's options and the engine), the deterministic
starting values of the hyperparameters and their constrained form. Both
:mod:`.gp` (dense engine) and :mod:`.statespace` (Kalman engine) import
them from here, so neither engine imports the other at module level.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from ..validate import found_value, is_finite_positive, is_whole

__all__ = ["GPConfig"]


#: The whole-number fields and their least value (``n_latent`` may also be None).
_WHOLE = {"n_latent": 1, "rank": 1, "n_iter": 0, "restarts": 1, "min_obs": 2, "batch_size": 1, "share_pixels": 1, "lbfgs_iter": 0}



@dataclass(frozen=True)
class GPConfig:
    """Settings of the batched MOGPR fit.

    Parameters
    ----------
    n_latent : int, optional
        Number ``Q`` of latent Matern-3/2 processes; default: one per output,
        as in FuseTS.
    rank : int
        Rank of each ``W_q`` (FuseTS: 1).
    n_iter : int
        Adam iterations.
    lr : float
        Adam learning rate on the unconstrained parameters (cosine decay to
        a tenth of it).
    restarts : int
        Independent initialisations per pixel (different starting length
        scales); the one with the highest likelihood is kept.
    lengthscale_init : tuple of float
        Range of starting length scales, days (spread over the latent
        processes geometrically; restarts scale the range).
    min_lengthscale : float
        Lower bound of every length scale, days.
    noise_floor : float
        Lower bound of each output's noise variance, standardised units.
    min_obs : int
        Fewest observations an output needs to take part (fewer: it is left
        out of that pixel's fit; a target with fewer gives NaN).
    batch_size : int
        Pixels fitted together.
    device : str
        ``"auto"`` (CUDA when present, except for the state-space engine,
        which stays on the CPU wherever numba serves: its compiled filter
        fitted about 600 pixels/s on 2 CPU cores, the torch filter 8.5 on an
        NVIDIA H200), ``"cpu"`` or ``"cuda[:n]"``.
    dtype : str
        ``"float32"`` (default) or ``"float64"``. On the field series of
        FuseTS both give the same reconstruction to 1e-4; float32 is 2.6 times
        faster on a CPU.
    include_noise : bool
        Add the observation noise to the predictive std (default: the std
        of the noise-free signal).
    engine : {"statespace", "dense"}
        ``"statespace"`` (default): Kalman filter and RTS smoother over the
        dates, O(T) per pixel (:mod:`fusets_dl.baselines.statespace`, always
        float64), compiled with numba on the CPU
        (:mod:`fusets_dl.baselines.statespace_lanes`, eight pixels per SIMD
        lane group; a torch filter on CUDA or without numba), fitted by
        L-BFGS (``optimizer``). ``"dense"``: the dense covariance of the
        observations and its batched Cholesky, fitted by Adam; the exactness
        reference (both give the same likelihood, gradient and posterior to
        1e-6 for the same hyperparameters), about 100 times slower.
    share : {"none", "class", "region"}
        State-space engine only: ``"region"`` fits one hyperparameter set on
        up to ``share_pixels`` pixels of each call (a Dask chunk is a call)
        and smooths every pixel with it; ``"class"`` one set per class;
        ``"none"`` (default) fits each pixel's own set.
    share_pixels : int
        Pixels sampled (evenly) for each shared fit.
    optimizer : {"lbfgs", "adam"}
        State-space engine only. ``"lbfgs"`` (default): a shared fit on
        ``share_pixels`` pixels of the call (best of ``restarts``), then, for
        ``share="none"``, every pixel's own L-BFGS from it (log length
        scales, at most ``lbfgs_iter`` iterations, each pixel stopping on its
        own); ``"adam"``: ``n_iter`` Adam steps from the fixed start, as the
        dense engine.
    lbfgs_iter : int
        L-BFGS iterations of each per-pixel fit (the shared fit gets twice
        as many).

    Raises
    ------
    ConfigError
        On a value out of its range or of the wrong type (naming the field,
        what it expects and the value found with its type: ``inf``, ``2.5``
        for a count, ``True`` or ``"10"`` for a number), or an unknown
        ``dtype``, ``engine``, ``share`` or ``optimizer``. Whole numbers given
        as floats (``3.0``) or NumPy integers are stored as ``int``.
    """

    n_latent: int | None = None
    rank: int = 1
    n_iter: int = 100
    lr: float = 0.1
    restarts: int = 1
    lengthscale_init: tuple[float, float] = (10.0, 60.0)
    min_lengthscale: float = 1.0
    noise_floor: float = 1e-4
    min_obs: int = 3
    batch_size: int = 64
    device: str | None = None
    dtype: str = "float32"
    include_noise: bool = False
    engine: str = "statespace"
    share: str = "none"
    share_pixels: int = 64
    optimizer: str = "lbfgs"
    lbfgs_iter: int = 10

    def __post_init__(self) -> None:
        bad = [f"{name}: expected {want}, found {found_value(getattr(self, name))}" for name, want in self._invalid()]
        if bad:
            raise ConfigError("GPConfig: invalid values: " + "; ".join(bad))
        for name in _WHOLE:  # 3.0 or numpy.int64 -> 3: range(), torch and JSON need a Python int
            if getattr(self, name) is not None:
                object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "lengthscale_init", tuple(float(v) for v in self.lengthscale_init))
        object.__setattr__(self, "include_noise", bool(self.include_noise))
        if self.dtype not in ("float32", "float64"):
            raise ConfigError(f"GPConfig.dtype: expected 'float32' or 'float64', found {self.dtype!r}")
        if self.engine not in ("statespace", "dense"):
            raise ConfigError(f"GPConfig.engine: expected 'statespace' or 'dense', found {self.engine!r}")
        if self.share not in ("none", "class", "region"):
            raise ConfigError(f"GPConfig.share: expected 'none', 'class' or 'region', found {self.share!r}")
        if self.optimizer not in ("lbfgs", "adam"):
            raise ConfigError(f"GPConfig.optimizer: expected 'lbfgs' or 'adam', found {self.optimizer!r}")
        if self.engine == "dense" and self.share != "none":  # the shared fits live in the state-space engine
            raise ConfigError(f"GPConfig.share={self.share!r} needs engine='statespace'; the dense engine fits every pixel alone")

    def _invalid(self) -> list[tuple[str, str]]:
        """The fields out of range, each with what it expects."""
        out = [(name, f"a whole number >= {low}" + (" or None" if name == "n_latent" else "")) for name, low in _WHOLE.items()
               if not (name == "n_latent" and self.n_latent is None) and not (is_whole(getattr(self, name)) and getattr(self, name) >= low)]
        out += [(name, "a finite number > 0") for name in ("lr", "min_lengthscale", "noise_floor") if not is_finite_positive(getattr(self, name))]
        li = self.lengthscale_init
        if not (isinstance(li, (tuple, list, np.ndarray)) and len(li) == 2 and all(is_finite_positive(v) for v in li) and li[0] <= li[1]):
            out.append(("lengthscale_init", "two finite numbers (lo, hi) with 0 < lo <= hi, days"))
        if not isinstance(self.include_noise, (bool, np.bool_)):
            out.append(("include_noise", "True or False"))
        return out

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict (``lengthscale_init`` as a list).

        Returns
        -------
        dict
            Field name -> value.
        """
        d = asdict(self)
        d["lengthscale_init"] = list(self.lengthscale_init)
        return d


# --------------------------------------------------------------------------- parameters

def _init_params(nb: int, P: int, Q: int, R: int, restart: int, cfg: GPConfig, dev: torch.device, dt: torch.dtype) -> dict[str, torch.Tensor]:
    """Deterministic starting values; restart ``r`` stretches the length scales by 3**r."""
    lo, hi = cfg.lengthscale_init
    ls = np.geomspace(lo, hi, Q) if Q > 1 else np.array([math.sqrt(lo * hi)])
    ls = ls * 3.0 ** (restart - (cfg.restarts - 1) / 2.0)
    ls = np.maximum(ls, cfg.min_lengthscale * 1.5)
    raw_ls = np.log(np.expm1(ls - cfg.min_lengthscale))
    # W: the first process couples all outputs equally, the others alternate signs
    w = np.empty((Q, P, R))
    for q in range(Q):
        for r in range(R):
            w[q, :, r] = np.cos(np.pi * (np.arange(P) + 0.5) * (q + r) / max(P, 1)) if q + r else 1.0
    w *= math.sqrt(0.8 / (Q * R))
    return {
        "raw_ls": torch.tensor(raw_ls, dtype=dt, device=dev).expand(nb, Q).clone(),
        "W": torch.tensor(w, dtype=dt, device=dev).expand(nb, Q, P, R).clone(),
        "raw_kappa": torch.full((nb, Q, P), math.log(0.05 / Q), dtype=dt, device=dev),
        "raw_noise": torch.full((nb, P), math.log(0.05), dtype=dt, device=dev),
    }


def _constrained(p: dict[str, torch.Tensor], cfg: GPConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Length scales (nb, Q), coregionalisation matrices (nb, Q, P, P), noise variances (nb, P)."""
    ls = cfg.min_lengthscale + torch.nn.functional.softplus(p["raw_ls"])
    W = p["W"]
    B = W @ W.transpose(-1, -2) + torch.diag_embed(torch.exp(p["raw_kappa"]))
    noise = cfg.noise_floor + torch.exp(p["raw_noise"])
    return ls, B, noise
