"""The training loop's progress: an epoch bar on a terminal, INFO epoch lines elsewhere, nothing when off."""

from __future__ import annotations

import io
import logging
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.training.config import TrainConfig

FAST = dict(hidden=(32, 16), max_epochs=3, patience=10, batch_size=256, block_size=4)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(scope="module")
def cube(small_scene):
    s1r, s2r, _ = small_scene
    return fdl.align(fdl.open_s1(s1r), fdl.open_s2(s2r))


def _epoch_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("train: epoch")]


def test_a_terminal_gets_an_epoch_bar_with_loss_and_the_epoch_lines_go_to_debug(cube, caplog, monkeypatch):
    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    with caplog.at_level(logging.DEBUG, logger="fusets_dl"):
        model = fdl.train(cube, config=TrainConfig(**FAST))
    screen = [line.rsplit("\r", 1)[-1] for line in tty.getvalue().split("\n")]
    final = [line for line in screen if line.startswith("train: 100%")]
    last = model.history[-1]
    assert len(final) == 1 and "3/3" in final[0] and f"loss={last['loss']:.4f}" in final[0], screen
    assert f"loss={last['loss']:.4f}, val_loss={last['val_loss']:.4f}" in final[0] and ("epoch/s" in final[0] or "s/epoch" in final[0])
    records = _epoch_records(caplog)
    assert [r.levelno for r in records] == [logging.DEBUG] * 3
    assert records[0].getMessage().startswith("train: epoch 1/3 loss ")


def test_no_terminal_no_bar_and_epoch_lines_at_info(cube, caplog, monkeypatch):
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    with caplog.at_level(logging.DEBUG, logger="fusets_dl"):
        fdl.train(cube, config=TrainConfig(**FAST))
    assert plain.getvalue() == ""
    assert [r.levelno for r in _epoch_records(caplog)] == [logging.INFO] * 3


def test_progress_off_no_bar_even_on_a_terminal(cube, caplog, monkeypatch):
    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    with caplog.at_level(logging.DEBUG, logger="fusets_dl"), fdl.set_options(progress=False):
        fdl.train(cube, config=TrainConfig(**FAST))
    assert tty.getvalue() == ""
    assert [r.levelno for r in _epoch_records(caplog)] == [logging.DEBUG] * 3


def test_an_early_stop_leaves_the_bar_where_it_stopped_and_names_the_best_epoch(cube, monkeypatch):
    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    model = fdl.train(cube, config=TrainConfig(**{**FAST, "max_epochs": 40, "patience": 1, "learning_rate": 0.5}))
    n = len(model.history)
    assert n < 40
    shown = [line.rsplit("\r", 1)[-1] for line in tty.getvalue().split("\n")]
    assert any(f" {n}/40 " in line and f"early stop=best {model.info['best_epoch']}" in line for line in shown), shown


def test_a_large_sample_trains_with_a_larger_batch_and_scaled_rate(cube, caplog):
    cfg = TrainConfig(**{**FAST, "max_epochs": 1, "batch_size": 16, "max_batch_size": 64, "learning_rate": 1e-3})
    with caplog.at_level(logging.INFO, logger="fusets_dl"):
        model = fdl.train(cube, config=cfg)
    n_train = model.info["funnel"]["train"]
    assert n_train >= 64 * 60  # the small scene holds enough samples for two doublings
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("train: batch")]
    assert lines == [f"train: batch 64, learning rate 2.00e-03 ({n_train} training samples; batch_size 16, max_batch_size 64)"]
    assert model.history[0]["lr"] == pytest.approx(2e-3)


def test_a_diverged_training_is_an_error_not_a_model_that_predicts_nan(cube):
    """learning_rate=1e6: no epoch had a finite validation loss; the NaN network was returned (predicting only NaN,
    and reconstruct then fell back to interpolation without a word)."""
    with pytest.raises(fdl.errors.ModelError, match=r"train: training diverged: the validation loss was not finite in any of "
                                                    r"\d+ epochs .*Lower learning_rate \(now 1e\+06\)"):
        fdl.train(cube, config=fdl.TrainConfig(max_epochs=2, max_samples=5000, num_threads=1, learning_rate=1e6))


def _mixed_archive() -> xr.Dataset:
    """2020-2022, two relative orbits each every 6 days to 2021 and every 12 in 2022 (Sentinel-1B lost), date-only times."""
    from fusets_dl.synthetic import make_scene

    s1, s2, _ = make_scene(10, 10, "2020-01-01", "2022-12-31", seed=5, s1_revisit_days=3, s1_orbits=(37, 110))
    t = pd.DatetimeIndex(s1.time.values)
    i = np.arange(t.size)
    s1 = s1.isel(time=np.flatnonzero((t.year < 2022) | ((i // 2) % 2 == 0)))  # 2022: every other pass of each orbit
    s1 = s1.assign_coords(time=pd.DatetimeIndex(s1.time.values).normalize())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # align's unpaired S2 views of the 12-day year
        return fdl.align(fdl.open_s1(s1), fdl.open_s2(s2))


def test_training_records_the_revisit_per_year_and_its_own_mixed_archive_is_not_warned(tmp_path):
    """A lags model trained on 6-day and 12-day years recorded one median (6) and warned on its own 12-day years (R2 0.75
    there, 0.77 on its 6-day years); per year it records both. A model of the 6-day years warns on the 12-day year only."""
    cube = _mixed_archive()
    cfg = TrainConfig(**{**FAST, "max_epochs": 1})
    m = fdl.train(cube, fdl.FeatureSpec(lags=1), cfg)
    rec = m.info["scene"]["revisit_years"]
    assert rec["orbit"] == {"2020": 6.0, "2021": 6.0, "2022": 12.0}
    assert rec["any"] == {"2020": 3.0, "2021": 3.0, "2022": 6.0}
    m.save(tmp_path / "m")
    back = fdl.load_model(tmp_path / "m")
    assert back.info["scene"]["revisit_years"] == rec  # JSON-safe
    for model in (m, back):
        for part in (cube, cube.sel(time="2022")):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fdl.predict_ndvi(part, model)
            assert not [w for w in caught if "come every" in str(w.message)], [str(w.message) for w in caught]
    six = fdl.train(cube.sel(time=slice("2020", "2021")), fdl.FeatureSpec(lags=1), cfg)
    assert six.info["scene"]["revisit_years"]["orbit"] == {"2020": 6.0, "2021": 6.0}
    with pytest.warns(UserWarning, match=r"come every 12.0 days in 2022 \(median per year; 1 of the cube's 3 years\), the model's "
                                         r"training years every 6.0 days"):
        fdl.predict_ndvi(cube, six)
