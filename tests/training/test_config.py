"""TrainConfig: the epoch bound that follows the data (``max_sample_passes``)."""

from __future__ import annotations

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
