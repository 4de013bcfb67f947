"""TrainConfig: the epoch bound that follows the data (``max_sample_passes``)."""

from __future__ import annotations

import pytest

from fusets_dl.errors import ConfigError
from fusets_dl.training.config import TrainConfig, epoch_limit


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
