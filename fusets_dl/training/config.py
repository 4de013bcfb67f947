"""Training options: :class:`TrainConfig`, validated in one place."""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .._config import dataclass_from_dict
from ..errors import ConfigError
from ..models.registry import NETWORKS
from ..validate import found_value, is_whole

__all__ = ["MAX_SEED", "MLP_ONLY_FIELDS", "TrainConfig", "batch_schedule", "mlp_only_changes"]

#: Input channels a sequence model can read (``seq_inputs``; the same names as
#: :data:`fusets_dl.models.sequence.ALL_CHANNELS`, kept here so the config does not import torch).
SEQ_INPUT_NAMES: tuple[str, ...] = (
    "vv_p", "vh_p", "ratio_p", "vv_g", "vh_g", "ratio_g", "angle", "sin_doy", "cos_doy", "dt", "ndvi", "ndvi_valid", "s1_valid",
    "ndvi_interp", "gap_before", "gap_after",
)
#: The fewest optimisation steps per epoch a larger batch may leave (:func:`batch_schedule`).
MIN_STEPS_PER_EPOCH = 60


@dataclass(frozen=True)
class TrainConfig:
    """Training options (validated in one place).

    Parameters
    ----------
    hidden : tuple of int
        Hidden widths of the MLP (default 128-64-32-16: a third of the
        arithmetic of the field's reference notebook's 256-128-64-32-16,
        with the same held-out accuracy on the shared real sites;
        ``evaluation/netsize.py``).
    dropout : float
        Dropout after each hidden layer.
    batch_norm : bool
        Batch normalisation in hidden layers.
    learning_rate, weight_decay : float
        AdamW parameters.
    batch_size : int
        Samples per optimisation step (training only; inference batches
        follow ``fdl.set_options(batch_size=...)``), and the batch that
        ``learning_rate`` is stated for.
    calibrate_reconstruction : bool
        After training on one cube, choose the reconstruction's prediction
        weight, lambda, long-gap guard and residual correction on hidden
        60-day spells of the **validation** blocks
        (:func:`fusets_dl.reconstruction.calibrate.calibrate`) and keep the
        choice in ``model.info["reconstruction"]``, which
        :func:`~fusets_dl.reconstruction.reconstruct` then uses by default.
        With several cubes, the setting with the lowest RMSE over every
        site's spells together (:func:`~fusets_dl.reconstruction.calibrate.pool_calibrations`).
    max_batch_size : int
        Large samples train with larger batches (:func:`batch_schedule`):
        the batch doubles from ``batch_size`` while an epoch still has at
        least 60 steps, up to ``max_batch_size``, and the learning rate
        grows with the square root of the batch (not when fine-tuning). The
        default, 4,096, takes a Demak-sized scene (about 260,000 training
        samples) to batch 4,096 at learning rate 4e-3 with the same held-out
        accuracy as batch 1,024 (R2 0.902/0.904 against 0.902/0.904, seeds 0
        and 1) and 3.9 times faster epochs on a GPU
        (``evaluation/batchsize.py``); samples below 122,880 (the shared real
        patches and point series) keep ``batch_size``. At or below
        ``batch_size`` (e.g. ``batch_size=16384`` alone) the batch is always
        ``batch_size``.
    max_epochs, patience : int
        Early stopping on the validation loss after ``patience`` epochs
        without improvement; the best weights are kept.
    max_sample_passes : int, optional
        A bound on the optimisation work that follows the data: at most
        ``ceil(max_sample_passes / training samples)`` epochs (never fewer
        than 5, never more than ``max_epochs``). The default, 6,000,000,
        leaves ``max_epochs`` in charge below 100,000 training samples (the
        shared real patches and point series) and bounds a Demak-sized scene
        (about 260,000 training samples) at 24 epochs; None: ``max_epochs`` only.
    lr_factor, lr_patience : float, int
        The learning rate is multiplied by ``lr_factor`` (in (0, 1)) when the
        validation loss has not improved for ``lr_patience`` (>= 0) epochs.
    loss : {"huber", "mse"}
        Loss on the standardised target (Huber is robust to residual clouds).
    block_size : int
        Side of the square spatial blocks (pixels) of the split.
    val_fraction, test_fraction : float
        Share of blocks held out for early stopping and for the reported metrics.
    max_samples : int
        Cap on training samples, drawn uniformly over the scene chunk by chunk
        (default 400,000; each epoch costs time in proportion to the samples,
        and scenes with fewer clear pixel-dates are not capped).
    min_samples : int
        Fewer training samples than this is an error listing the data funnel.
    seed : int
        Seed of the split, the sampling, the initialisation and the batches.
    device : str, optional
        ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
        ``"mps"``; None (default) takes ``fdl.set_options(device=...)`` when
        training starts.
    mixed_precision : bool
        bf16 autocast on CUDA (ignored on CPU).
    num_threads : int, optional
        Torch CPU threads (default: torch's own setting, all cores unless
        ``OMP_NUM_THREADS`` says otherwise).
    fusion : str
        Fusion strategy, a name in :data:`fusets_dl.models.registry.NETWORKS`
        (built in: ``"early"``, ``"mid"``, ``"late"``, ``"attention"``):
        ``early`` (default) is one MLP on all features (``hidden`` widths);
        the others have one encoder per modality (``encoder`` widths) and a
        head (``head`` widths).
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
    model : {"mlp", "sequence"}
        ``"mlp"`` (default): the per-date network of ``fusion``;
        ``"sequence"``: the whole-series gap-filling network
        (:func:`fusets_dl.training.sequence.train_sequence`), which uses the
        ``seq_*`` options below.
    seq_channels : int
        Width of the sequence network's residual layers.
    seq_dilations : tuple of int
        Dilations of its residual layers (kernel ``seq_kernel``); the
        receptive radius is ``sum(dilations) * (kernel - 1) / 2`` dates.
    seq_kernel : int
        Odd kernel size of its dilated convolutions.
    seq_window : int
        Dates per training window whose outputs are scored (plus the
        receptive radius on each side). 128 (since 2026-11-26; 64 before):
        on patch A, seeds 0-3, 0.526 against 0.543 x linear interpolation
        on held-out spells, at about 1.8 x the training time.
    seq_spell_days : float
        Longest hidden spell of clear NDVI during training.
    seq_spells : int
        Random spells drawn per training window (each kept with
        probability 0.7, 0 to ``seq_spell_days`` days long).
    seq_s1_only_fraction : float
        Share of training (and validation) windows with all NDVI hidden
        (S1-only mode). 0.05 since 2026-11-27 (0.25 before): on patch A,
        seeds 0-3, trained on the CPU, 0.498 against 0.526 x linear
        interpolation on held-out spells, better on every seed, with the
        same S1-only R2 (0.731); 0.0 fills gaps better still but loses S1-only
        R2. Trained on several sites and applied to another, 0.25 read S1
        better on the left-out Slovak sites (R2 0.61 against 0.52): pass it
        there (docs/sequence.md).
    seq_dropout : float
        Dropout in the sequence network's residual branches while training.
    seq_db_jitter : float
        Standard deviation (dB) of a random offset added to the absolute
        VV and VH levels of each training window (the same for both), so
        the network does not lean on the site's absolute backscatter.
    seq_beta_nll : float
        0: the Gaussian negative log-likelihood; > 0: each value's term
        weighted by its predicted variance ** ``seq_beta_nll`` (gradient
        stopped; beta-NLL), so uncertain values still pull the mean.
    seq_ema : float
        0: none; else the decay per step of an exponential moving average
        of the weights, which is what is validated and kept.
    seq_val_score : {"nll", "rmse"}
        What the early stop, the kept epoch and the learning-rate schedule
        watch on the fixed validation windows: the Gaussian negative
        log-likelihood of the hidden values (the training loss) or the RMSE
        of their mean (the default: on patch A the NLL stopped seed 0 at
        epoch 9 of 17 with 0.68 x linear interpolation on held-out spells,
        the RMSE at epoch 24 with 0.58). Both are recorded in
        ``model.history``.
    seq_windows_per_epoch, seq_batch_size : int
        Training windows per epoch and per optimisation step.
    seq_s1_only : bool
        The trained model predicts from S1 alone by default.
    seq_inputs : tuple of str, optional
        The sequence network's input channels (names of
        :data:`fusets_dl.models.sequence.ALL_CHANNELS`); None: its
        :data:`~fusets_dl.models.sequence.DEFAULT_INPUTS`.
    ensemble : int
        The per-date model (``model="mlp"``) as the mean of this many
        networks, trained on the same samples and blocks from other initial
        weights and batch orders (seeds ``seed``, ``seed + 1``, ...): a
        deep ensemble. Training and prediction cost K times as much. On
        patch A left out after 2018-04 (nine seeds), 3 members fill 60-day
        gaps at 0.714 x linear interpolation against 0.727 for one network
        (S1-only; 0.749 against 0.754 with optical context), and reach an
        S1-only R2 of 0.416 against 0.406 on another place; see
        docs/results.md, "Ensembles of the per-date model". 1: one network
        (the default).
    extra : dict
        Free-form notes kept in the saved configuration (not used by training).
    """

    hidden: tuple[int, ...] = (128, 64, 32, 16)
    dropout: float = 0.1
    batch_norm: bool = True
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 1024
    max_batch_size: int = 4096
    max_epochs: int = 60
    max_sample_passes: int | None = 6_000_000
    patience: int = 8
    lr_factor: float = 0.5
    lr_patience: int = 3
    loss: str = "huber"
    block_size: int = 8
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    max_samples: int = 400_000
    min_samples: int = 200
    calibrate_reconstruction: bool = True
    seed: int = 0
    device: str | None = None
    mixed_precision: bool = True
    num_threads: int | None = None
    fusion: str = "early"
    encoder: tuple[int, ...] = (64, 32)
    head: tuple[int, ...] = (64, 32)
    modality_dropout: float = 0.0
    context_gap_days: float = 90.0
    model: str = "mlp"
    seq_channels: int = 32
    seq_dilations: tuple[int, ...] = (1, 2, 4, 8, 16)
    seq_kernel: int = 3
    seq_window: int = 128
    seq_spell_days: float = 120.0
    seq_spells: int = 3
    seq_dropout: float = 0.1
    seq_db_jitter: float = 0.0
    seq_beta_nll: float = 0.0
    seq_ema: float = 0.0
    seq_val_score: str = "rmse"
    seq_s1_only_fraction: float = 0.05
    seq_windows_per_epoch: int = 4096
    seq_batch_size: int = 64
    seq_s1_only: bool = False
    seq_inputs: tuple[str, ...] | None = None
    ensemble: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Validate every option at once, its type and its range.

        Whole numbers (``3.0``, NumPy integers) of integer options are stored
        as ``int``, numbers as ``float``, NumPy booleans as ``bool``, tuples
        of widths as tuples of int.

        Raises
        ------
        ConfigError
            Listing every invalid option, each with what was expected and
            the value found with its type (a string, a boolean or a
            non-whole number for an integer, NaN or an infinity for a
            number, a string for a tuple of widths, an unknown device).
        """
        problems = _field_problems(self)
        if self.loss not in ("huber", "mse"):
            problems.append(f"loss: expected 'huber' or 'mse', found {self.loss!r}")
        fractions = (self.val_fraction, self.test_fraction)
        if not all(_real(f) and 0 < f < 1 for f in fractions) or not self.val_fraction + self.test_fraction < 1:
            problems.append(f"val_fraction/test_fraction: expected each in (0, 1) with a sum below 1, found {found_value(self.val_fraction)}, {found_value(self.test_fraction)}")
        if not isinstance(self.fusion, str) or self.fusion not in NETWORKS:
            problems.append(f"fusion: expected one of {tuple(NETWORKS)}, found {self.fusion!r}")
        if self.max_sample_passes is not None and not (is_whole(self.max_sample_passes) and self.max_sample_passes >= 1):
            whole = " whole" if not is_whole(self.max_sample_passes) else ""
            problems.append(f"max_sample_passes: expected a positive{whole} number or None, found {found_value(self.max_sample_passes)}")
        if not isinstance(self.device, (str, type(None))) or (self.device is not None and not _DEVICE.fullmatch(self.device)):
            problems.append(f"device: expected None, 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', found {found_value(self.device)}")
        if not isinstance(self.extra, dict):
            problems.append(f"extra: expected a dict of notes, found {found_value(self.extra)}")
        problems += _sequence_problems(self)
        if problems:
            raise ConfigError("TrainConfig: " + "; ".join(problems))
        self._normalise()

    def _normalise(self) -> None:
        """Store whole numbers (``3.0``, NumPy integers) as ``int``, numbers as ``float``, flags as ``bool``, widths as tuples of int."""
        for name in (*_WHOLE, *_OPTIONAL_WHOLE, "max_sample_passes", "seq_kernel"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, int(getattr(self, name)))
        for name in _NUMBERS:
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("val_fraction", "test_fraction"):
            object.__setattr__(self, name, float(getattr(self, name)))
        for name in _FLAGS:
            object.__setattr__(self, name, bool(getattr(self, name)))
        if self.seq_inputs is not None:
            object.__setattr__(self, "seq_inputs", tuple(str(n) for n in self.seq_inputs))
        for name in _WIDTHS:
            object.__setattr__(self, name, tuple(int(h) for h in getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form.

        Returns
        -------
        dict
            Every field; width tuples as lists.
        """
        d = asdict(self)
        d["seq_dilations"] = list(self.seq_dilations)
        d["seq_inputs"] = None if self.seq_inputs is None else list(self.seq_inputs)
        for name in ("hidden", "encoder", "head"):
            d[name] = list(getattr(self, name))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Rebuild a config from :meth:`to_dict`'s form.

        Parameters
        ----------
        d : dict
            Field name -> value (lists for the widths are fine).

        Returns
        -------
        TrainConfig
            Validated.

        Raises
        ------
        ConfigError
            Unknown keys (named in the message) or invalid values.
        """
        return dataclass_from_dict(cls, d, ("hidden", "encoder", "head", "seq_dilations"))


#: Whole-number options and their least value (a boolean or a non-whole number is refused; ``3.0`` is stored as 3).
_WHOLE: dict[str, int] = {
    "batch_size": 2, "max_batch_size": 2, "max_epochs": 1, "patience": 1, "lr_patience": 0, "block_size": 1,
    "max_samples": 1, "min_samples": 1, "seed": 0, "seq_channels": 1, "seq_window": 1, "seq_spells": 0,
    "seq_windows_per_epoch": 1, "seq_batch_size": 1, "ensemble": 1,
}
#: Largest seed: torch.manual_seed takes a signed 64-bit integer.
MAX_SEED = 2**63 - 1
#: Whole-number options that may also be None, and their least value.
_OPTIONAL_WHOLE: dict[str, int] = {"num_threads": 1}
#: Real-number options: what is expected (for the message) and the test a finite value must pass (NaN and infinities never do).
_NUMBERS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "dropout": ("0 <= dropout < 1", lambda v: 0 <= v < 1),
    "learning_rate": ("a finite number > 0", lambda v: v > 0),
    "weight_decay": ("a finite number >= 0", lambda v: v >= 0),
    "lr_factor": ("a number in (0, 1)", lambda v: 0 < v < 1),
    "modality_dropout": ("0 <= p < 1", lambda v: 0 <= v < 1),
    "context_gap_days": ("a finite number of days >= 0", lambda v: v >= 0),
    "seq_spell_days": ("a finite number of days >= 0", lambda v: v >= 0),
    "seq_s1_only_fraction": ("a fraction in [0, 1]", lambda v: 0 <= v <= 1),
    "seq_dropout": ("a number in [0, 1)", lambda v: 0 <= v < 1),
    "seq_db_jitter": ("a finite number of dB >= 0", lambda v: v >= 0),
    "seq_beta_nll": ("a number in [0, 1]", lambda v: 0 <= v <= 1),
    "seq_ema": ("a number in [0, 1)", lambda v: 0 <= v < 1),
}
#: On/off options (``True`` or ``False``; NumPy booleans too).
_FLAGS: tuple[str, ...] = ("batch_norm", "calibrate_reconstruction", "mixed_precision", "seq_s1_only")
#: Tuples of positive whole numbers, and whether they may be empty.
_WIDTHS: dict[str, bool] = {"hidden": False, "encoder": False, "head": True, "seq_dilations": False}
#: The devices :func:`fusets_dl.runtime.resolve_device` and ``fdl.set_options(device=...)`` accept.
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _real(value: Any) -> bool:
    """Whether ``value`` is a real number (NumPy scalars too), not a boolean."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))



def _field_problems(c: TrainConfig) -> list[str]:
    """What is wrong with the type or range of each numeric, on/off and width option (empty when nothing)."""
    out = []
    for name, least in {**_WHOLE, **_OPTIONAL_WHOLE}.items():
        value = getattr(c, name)
        none = " or None" if name in _OPTIONAL_WHOLE else ""
        if value is None and none:
            continue
        if not is_whole(value):
            out.append(f"{name}: expected a whole number >= {least}{none}, found {found_value(value)}")
        elif value < least:
            out.append(f"{name}: expected >= {least}{none}, found {found_value(value)}")
    if is_whole(c.seed) and c.seed > MAX_SEED:
        out.append(f"seed: expected at most {MAX_SEED} (torch's seeds are 64-bit), found {found_value(c.seed)}")
    elif is_whole(c.seed) and is_whole(c.ensemble) and c.ensemble >= 1 and c.seed + c.ensemble - 1 > MAX_SEED:
        out.append(f"seed: expected at most {MAX_SEED - c.ensemble + 1} with ensemble={c.ensemble} (member j trains from "
                   f"seed + j, and torch's seeds are 64-bit), found {found_value(c.seed)}")
    for name, (expected, ok) in _NUMBERS.items():
        value = getattr(c, name)
        if not (_real(value) and bool(np.isfinite(value)) and ok(float(value))):
            out.append(f"{name}: expected {expected}, found {found_value(value)}")
    for name in _FLAGS:
        value = getattr(c, name)
        if not isinstance(value, (bool, np.bool_)):
            out.append(f"{name}: expected True or False, found {found_value(value)}")
    for name, may_be_empty in _WIDTHS.items():
        value = getattr(c, name)
        if (
            not isinstance(value, (tuple, list, np.ndarray))
            or (isinstance(value, np.ndarray) and value.ndim != 1)
            or (len(value) == 0 and not may_be_empty)
            or not all(is_whole(w) and w >= 1 for w in value)
        ):
            what = "a tuple of positive whole numbers" if may_be_empty else "a non-empty tuple of positive whole numbers"
            out.append(f"{name}: expected {what}, found {found_value(value)}")
    return out


#: Options of the per-date MLP's training that the whole-series model does not read.
MLP_ONLY_FIELDS: tuple[str, ...] = (
    "hidden", "dropout", "batch_norm", "batch_size", "max_batch_size", "max_sample_passes", "loss", "max_samples",
    "calibrate_reconstruction", "fusion", "encoder", "head", "modality_dropout", "context_gap_days",
)


def mlp_only_changes(config: TrainConfig) -> dict[str, Any]:
    """The per-date-only options of ``config`` set away from their defaults (what ``model="sequence"`` ignores).

    Parameters
    ----------
    config : TrainConfig
        Any configuration.

    Returns
    -------
    dict
        Field name -> the value set, for each of :data:`MLP_ONLY_FIELDS` that differs from the default.
    """
    base = TrainConfig()
    return {f: getattr(config, f) for f in MLP_ONLY_FIELDS if getattr(config, f) != getattr(base, f)}


def _sequence_problems(c: TrainConfig) -> list[str]:
    """What is wrong with ``model``, ``seq_kernel``, ``seq_val_score`` and ``seq_inputs`` (empty when nothing)."""
    out = []
    if c.model not in ("mlp", "sequence"):
        out.append(f"model: expected 'mlp' or 'sequence', found {c.model!r}")
    if c.model == "sequence" and is_whole(c.ensemble) and c.ensemble > 1:
        out.append(f"ensemble: expected 1 with model='sequence' (ensembles are of the per-date model), found {found_value(c.ensemble)}")
    if not (is_whole(c.seq_kernel) and c.seq_kernel >= 1 and c.seq_kernel % 2 == 1):
        out.append(f"seq_kernel: expected an odd kernel size >= 1, found {found_value(c.seq_kernel)}")
    if c.seq_val_score not in ("nll", "rmse"):
        out.append(f"seq_val_score: expected 'nll' or 'rmse', found {c.seq_val_score!r}")
    if c.seq_inputs is not None:
        names = [] if isinstance(c.seq_inputs, str) or not isinstance(c.seq_inputs, (tuple, list)) else [str(n) for n in c.seq_inputs]
        if not names or len(set(names)) != len(names) or any(n not in SEQ_INPUT_NAMES for n in names):
            out.append(f"seq_inputs: expected None or a tuple of distinct names among {list(SEQ_INPUT_NAMES)}, found {found_value(c.seq_inputs)}")
    return out


def epoch_limit(config: TrainConfig, n_train: int) -> int:
    """The most epochs training runs on ``n_train`` samples (``max_epochs`` bounded by ``max_sample_passes``).

    Parameters
    ----------
    config : TrainConfig
        ``max_epochs`` and ``max_sample_passes``.
    n_train : int
        Training samples (one epoch passes over each once).

    Returns
    -------
    int
        ``min(max_epochs, max(5, ceil(max_sample_passes / n_train)))``; ``max_epochs`` when
        ``max_sample_passes`` is None or there are no samples.
    """
    if config.max_sample_passes is None or n_train < 1:
        return config.max_epochs
    return min(config.max_epochs, max(5, -(-config.max_sample_passes // n_train)))


def batch_schedule(config: TrainConfig, n_train: int, *, fine_tune: bool = False) -> tuple[int, float]:
    """The training batch and learning rate for ``n_train`` samples.

    Parameters
    ----------
    config : TrainConfig
        ``batch_size``, ``max_batch_size`` and ``learning_rate``.
    n_train : int
        Training samples.
    fine_tune : bool
        Keep ``learning_rate`` as given (fine-tuning starts from trained
        weights and should stay close to them).

    Returns
    -------
    (int, float)
        The batch: ``batch_size`` doubled while ``n_train / batch`` stays at
        least :data:`MIN_STEPS_PER_EPOCH` and the batch at most
        ``max_batch_size``; the learning rate:
        ``learning_rate * sqrt(batch / batch_size)`` (``learning_rate`` when
        fine-tuning).
    """
    bs = config.batch_size
    while bs * 2 <= config.max_batch_size and n_train >= bs * 2 * MIN_STEPS_PER_EPOCH:
        bs *= 2
    lr = config.learning_rate if fine_tune else config.learning_rate * (bs / config.batch_size) ** 0.5
    return bs, lr
