"""The segmenter's settings: :class:`SegmentConfig`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .._config import dataclass_from_dict
from ..errors import ConfigError

__all__ = ["VIEWS", "SegmentConfig"]

VIEWS = ("s1", "s2")


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
    device : str, optional
        Training device: ``"auto"`` (CUDA when present), ``"cpu"``,
        ``"cuda"`` or ``"cuda:N"``. The default, None, takes
        ``fdl.set_options(device=...)`` (itself ``"auto"`` by default);
        :func:`fusets_dl.runtime.resolve_device` resolves it.

    Raises
    ------
    ConfigError
        Unknown views, fewer than two classes, fewer than four bins,
        non-positive temperatures, a warm-up not shorter than the epochs, or
        other out-of-range fields (every problem named in one message).
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
