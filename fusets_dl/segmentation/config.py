"""The segmenter's settings: :class:`SegmentConfig`."""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .._config import dataclass_from_dict
from ..errors import ConfigError
from ..validate import found_value, is_finite_positive, is_whole

__all__ = ["CLASS_DTYPE", "MAX_CLASSES", "VIEWS", "SegmentConfig"]

VIEWS = ("s1", "s2")

CLASS_DTYPE = np.int16
"""dtype of the class ids both methods return (-1: not classified)."""

MAX_CLASSES = int(np.iinfo(CLASS_DTYPE).max) + 1
"""Most classes a class map can hold: ids 0 .. MAX_CLASSES - 1 fit :data:`CLASS_DTYPE`."""

# (field, minimum, maximum or None) of the whole-number fields
_WHOLE_FIELDS: tuple[tuple[str, int, int | None], ...] = (
    ("n_classes", 2, MAX_CLASSES),
    ("n_bins", 4, None),
    ("embed", 2, None),
    ("epochs", 1, None),
    ("batch_size", 2, None),
    ("max_pixels", 2, None),
    ("min_s1_bins", 0, None),
    ("seed", 0, None),
)

# (field, minimum, minimum excluded, maximum excluded or None) of the real-number fields; all must be finite
_REAL_FIELDS: tuple[tuple[str, float, bool, float | None], ...] = (
    ("temperature", 0.0, True, None),
    ("code_temperature", 0.0, True, None),
    ("bin_dropout", 0.0, False, 1.0),
    ("noise", 0.0, False, None),
    ("vq_weight", 0.0, False, None),
    ("usage_weight", 0.0, False, None),
    ("commitment", 0.0, False, None),
    ("learning_rate", 0.0, True, None),
    ("weight_decay", 0.0, False, None),
)



def _check_whole(problems: list[str], name: str, value: Any, lo: int, hi: int | None) -> None:
    """Add a problem unless ``value`` is a whole number in ``[lo, hi]``."""
    if is_whole(value) and value >= lo and (hi is None or value <= hi):
        return
    bound = f"at least {lo}" if hi is None else f"at least {lo} and at most {hi}"
    why = f"; class ids are {np.dtype(CLASS_DTYPE).name}" if name == "n_classes" else ""
    problems.append(f"{name}: expected {bound} (a whole number{why}), found {found_value(value)}")


def _check_real(problems: list[str], name: str, value: Any, lo: float, strict: bool, hi: float | None) -> None:
    """Add a problem unless ``value`` is a finite real number above ``lo`` (or at least, unless ``strict``) and below ``hi``."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool) and bool(np.isfinite(value))
    if real and (value > lo if strict else value >= lo) and (hi is None or value < hi):
        return
    bound = f"{'>' if strict else '>='} {lo:g}" + ("" if hi is None else f" and < {hi:g}")
    problems.append(f"{name}: expected a finite number {bound}, found {found_value(value)}")


@dataclass(frozen=True)
class SegmentConfig:
    """How the segmenter is built and trained.

    Parameters
    ----------
    n_classes : int
        Number of codes (classes), K: a whole number from 2 to
        :data:`MAX_CLASSES` (the class ids are int16).
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
        classified; others get class -1. At most ``n_bins`` (lower it with
        fewer bins: the default 6 needs ``n_bins >= 6``).
    seed : int
        Seed of the sampling, the initialisation and the batches.
    device : str, optional
        Training device: ``"auto"`` (CUDA when present), ``"cpu"``,
        ``"cuda"`` or ``"cuda:N"``. The default, None, takes
        ``fdl.set_options(device=...)`` (itself ``"auto"`` by default);
        :func:`fusets_dl.runtime.resolve_device` resolves it.

    Raises
    ------
    ConfigError
        Unknown views, a number of classes that is not a whole number from 2
        to :data:`MAX_CLASSES`, fewer than four bins, a whole-number field
        given as a fraction, string or boolean, a NaN, infinite, non-positive
        temperature or learning rate, a negative weight, a warm-up not
        shorter than the epochs, ``min_s1_bins`` above ``n_bins``, or other
        out-of-range fields (every problem named, with the value found and
        its type, in one message).
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
        problems: list[str] = []
        views = tuple(self.views) if isinstance(self.views, (tuple, list)) else self.views
        if views not in (("s1",), ("s1", "s2")):
            problems.append(f"views: expected ('s1',) or ('s1', 's2'), found {self.views!r}")
        for name, lo, hi in _WHOLE_FIELDS:
            _check_whole(problems, name, getattr(self, name), lo, hi)
        for name, lo, strict, hi in _REAL_FIELDS:
            _check_real(problems, name, getattr(self, name), lo, strict, hi)
        hidden_ok = isinstance(self.hidden, (tuple, list)) and len(self.hidden) > 0 and all(is_whole(h) and h >= 1 for h in self.hidden)
        if not hidden_ok:
            problems.append(f"hidden: expected a non-empty tuple of whole numbers >= 1, found {found_value(self.hidden)}")
        tau_ok = isinstance(self.gumbel_tau, (tuple, list)) and len(self.gumbel_tau) == 2 and all(is_finite_positive(t) for t in self.gumbel_tau)
        if not tau_ok:
            problems.append(f"gumbel_tau: expected two finite numbers > 0, found {found_value(self.gumbel_tau)}")
        epochs_ok = is_whole(self.epochs) and self.epochs >= 1
        if self.warmup is None and epochs_ok:
            object.__setattr__(self, "warmup", int(self.epochs) // 3)
        if self.warmup is not None and not is_whole(self.warmup):
            problems.append(f"warmup: expected a whole number or None, found {found_value(self.warmup)}")
        elif epochs_ok and not 0 <= self.warmup < self.epochs:
            problems.append(f"epochs/warmup: expected epochs >= 1 and 0 <= warmup < epochs, found {self.epochs}, {self.warmup}")
        if is_whole(self.n_bins) and is_whole(self.min_s1_bins) and self.min_s1_bins > self.n_bins:
            problems.append(f"min_s1_bins: expected at most n_bins={self.n_bins} (a pixel has S1 in at most n_bins bins, "
                            f"so none could be classified), found {self.min_s1_bins}")
        if problems:
            raise ConfigError("SegmentConfig: " + "; ".join(problems))
        object.__setattr__(self, "views", views)
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "gumbel_tau", tuple(float(t) for t in self.gumbel_tau))
        for name, *_ in _WHOLE_FIELDS:
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "warmup", int(self.warmup))
        for name, *_ in _REAL_FIELDS:
            object.__setattr__(self, name, float(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form.

        Returns
        -------
        dict
            The fields, tuples as lists.
        """
        d = asdict(self)
        for k in ("views", "hidden", "gumbel_tau"):
            d[k] = list(getattr(self, k))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegmentConfig:
        """Rebuild a config from :meth:`to_dict`'s form.

        Parameters
        ----------
        d : dict
            Field names and values.

        Returns
        -------
        SegmentConfig

        Raises
        ------
        ConfigError
            Unknown keys (named) or invalid values.
        """
        return dataclass_from_dict(cls, d, ("views", "hidden", "gumbel_tau"))
