"""TrainConfig: the epoch bound that follows the data (``max_sample_passes``)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fusets_dl.errors import ConfigError
from fusets_dl.training.config import TrainConfig, batch_schedule, epoch_limit


@pytest.mark.parametrize(
    ("n_train", "expected"),
    [
        (50_000, 60),  # 6e6 / 5e4 = 120 epochs allowed: max_epochs rules (the shared real patches)
        (100_000, 60),  # exactly 60
        (258_428, 24),  # the Demak-sized public path: ceil(6e6 / 258428) = 24
        (5_000_000, 5),  # never fewer than 5
        (0, 60),
    ],
)
def test_epoch_limit_follows_the_training_samples(n_train: int, expected: int) -> None:
    assert epoch_limit(TrainConfig(), n_train) == expected


def test_epoch_limit_off_and_bounded_by_max_epochs() -> None:
    assert epoch_limit(TrainConfig(max_sample_passes=None), 10**7) == 60
    assert epoch_limit(TrainConfig(max_epochs=3), 1000) == 3


def test_max_sample_passes_is_validated_and_round_trips() -> None:
    with pytest.raises(ConfigError, match="max_sample_passes: expected a positive number or None, found 0"):
        TrainConfig(max_sample_passes=0)
    cfg = TrainConfig(max_sample_passes=123)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_dict({k: v for k, v in cfg.to_dict().items() if k != "max_sample_passes"}).max_sample_passes == 6_000_000


@pytest.mark.parametrize(
    ("n_train", "batch", "lr"),
    [
        (20_000, 1024, 2e-3),  # a shared real patch: unchanged
        (122_879, 1024, 2e-3),  # one sample short of 60 steps at 2,048
        (122_880, 2048, 2e-3 * 2**0.5),
        (258_428, 4096, 4e-3),  # the Demak-sized scene
        (10_000_000, 4096, 4e-3),  # bounded by max_batch_size
    ],
)
def test_batch_schedule_grows_with_the_sample(n_train: int, batch: int, lr: float) -> None:
    got_batch, got_lr = batch_schedule(TrainConfig(), n_train)
    assert got_batch == batch
    assert got_lr == pytest.approx(lr, rel=1e-12)
    assert n_train < 60 * 2 * got_batch or got_batch == 4096  # the next doubling would leave fewer than 60 steps


def test_batch_schedule_off_and_fine_tuning() -> None:
    assert batch_schedule(TrainConfig(max_batch_size=1024), 10_000_000) == (1024, 2e-3)
    assert batch_schedule(TrainConfig(batch_size=512, max_batch_size=8192, learning_rate=1e-3), 10_000_000) == (8192, pytest.approx(4e-3))
    assert batch_schedule(TrainConfig(), 10_000_000, fine_tune=True) == (4096, 2e-3)  # the given rate when fine-tuning
    assert batch_schedule(TrainConfig(batch_size=16384), 10_000_000) == (16384, 2e-3)  # a larger batch_size alone wins
    with pytest.raises(ConfigError, match=r"max_batch_size: expected >= 2, found 1"):
        TrainConfig(max_batch_size=1)
    assert TrainConfig.from_dict(TrainConfig(max_batch_size=2048).to_dict()).max_batch_size == 2048


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("learning_rate", float("nan"), r"learning_rate: expected a finite number > 0, found nan \(float\)"),
        ("learning_rate", -0.01, r"learning_rate: expected a finite number > 0, found -0.01 \(float\)"),
        ("weight_decay", -1.0, r"weight_decay: expected a finite number >= 0, found -1.0 \(float\)"),
        ("patience", 0, r"patience: expected >= 1, found 0 \(int\)"),
        ("lr_factor", 0.0, r"lr_factor: expected a number in \(0, 1\), found 0.0 \(float\)"),
        ("lr_factor", 1.0, r"lr_factor: expected a number in \(0, 1\), found 1.0 \(float\)"),
        ("lr_patience", -1, r"lr_patience: expected >= 0, found -1 \(int\)"),
        ("min_samples", 0, r"min_samples: expected >= 1, found 0 \(int\)"),
        ("block_size", float("nan"), r"block_size: expected a whole number >= 1, found nan \(float\)"),
        ("block_size", "8", r"block_size: expected a whole number >= 1, found the string '8'"),
        ("max_epochs", 2.5, r"max_epochs: expected a whole number >= 1, found 2.5 \(float\)"),
        ("max_epochs", True, r"max_epochs: expected a whole number >= 1, found True \(bool\)"),
        ("seed", "a", r"seed: expected a whole number >= 0, found the string 'a'"),
        ("seed", -1, r"seed: expected >= 0, found -1 \(int\)"),
        ("seed", 2**70, r"seed: expected at most 9223372036854775807 \(torch's seeds are 64-bit\), found 1180591620717411303424"),
        ("device", "tpu", r"device: expected None, 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', found the string 'tpu'"),
        ("device", 0, r"device: expected None, .*found 0 \(int\)"),
        ("num_threads", 0, r"num_threads: expected >= 1 or None, found 0 \(int\)"),
        ("max_samples", float("inf"), r"max_samples: expected a whole number >= 1, found inf \(float\)"),
        ("context_gap_days", float("nan"), r"context_gap_days: expected a finite number of days >= 0, found nan \(float\)"),
        ("mixed_precision", "no", r"mixed_precision: expected True or False, found the string 'no'"),
        ("batch_norm", 1, r"batch_norm: expected True or False, found 1 \(int\)"),
        ("hidden", "64", r"hidden: expected a non-empty tuple of positive whole numbers, found the string '64'"),
        ("hidden", (64, 0), r"hidden: expected a non-empty tuple of positive whole numbers, found \(64, 0\) \(tuple\)"),
        ("encoder", (32.5,), r"encoder: expected a non-empty tuple of positive whole numbers, found \(32.5,\) \(tuple\)"),
        ("batch_size", 0, r"batch_size: expected >= 2, found 0 \(int\)"),
        ("max_sample_passes", 2.5, r"max_sample_passes: expected a positive whole number or None, found 2.5 \(float\)"),
        ("val_fraction", "0.1", r"val_fraction/test_fraction: expected each in \(0, 1\) with a sum below 1, found the string '0.1', 0.2 \(float\)"),
        ("dropout", "0.1", r"dropout: expected 0 <= dropout < 1, found the string '0.1'"),
        ("seq_kernel", 3.5, r"seq_kernel: expected an odd kernel size >= 1, found 3.5 \(float\)"),
        ("seq_spells", -1, r"seq_spells: expected >= 0, found -1 \(int\)"),
        ("seq_inputs", "ndvi", r"seq_inputs: expected None or a tuple of distinct names .*found the string 'ndvi'"),
        ("fusion", ["early"], r"fusion: expected one of \("),
        ("extra", "note", r"extra: expected a dict of notes, found the string 'note'"),
    ],
)
def test_each_bad_option_is_a_config_error_with_expected_and_found(field: str, value: object, message: str) -> None:
    # these were accepted (nan learning rate, max_epochs=2.5, device='tpu', hidden='64' -> (6, 4), ...) or raised raw TypeErrors
    with pytest.raises(ConfigError, match=rf"^TrainConfig: (.*; )?{message}"):
        TrainConfig(**{field: value})


def test_every_bad_option_is_listed_in_one_error() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig(learning_rate=float("nan"), patience=0, device="tpu", hidden="64", mixed_precision="no", batch_size=0)
    text = str(info.value)
    for field in ("learning_rate", "patience", "device", "hidden", "mixed_precision", "batch_size"):
        assert f"{field}: expected" in text
    assert text.count("; ") == 5


def test_whole_floats_and_numpy_scalars_are_stored_as_python_types() -> None:
    cfg = TrainConfig(max_epochs=3.0, seed=np.int64(2), learning_rate=np.float32(0.5), batch_norm=np.bool_(False),
                      hidden=[64.0, np.int64(32)], num_threads=np.int32(2), max_sample_passes=1e6, device="cuda:1")
    assert (cfg.max_epochs, cfg.seed, cfg.hidden, cfg.num_threads, cfg.max_sample_passes) == (3, 2, (64, 32), 2, 1_000_000)
    assert type(cfg.max_epochs) is int and type(cfg.seed) is int and type(cfg.learning_rate) is float and cfg.batch_norm is False
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert TrainConfig() == TrainConfig.from_dict(TrainConfig().to_dict())
    for device in (None, "auto", "cpu", "cuda", "mps"):
        assert TrainConfig(device=device).device == device
