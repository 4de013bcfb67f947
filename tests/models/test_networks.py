"""Fusion strategies: each trains and predicts, saves and loads, and copes with a missing modality."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, ModelError
from fusets_dl.models.modality import ModalityNet
from fusets_dl.models.registry import build_network

OPTICAL = fdl.FeatureSpec(groups=("sar", "optical", "time"), windows=(45,), trends=(), lags=1, rolling=0)


@pytest.mark.parametrize("fusion", ["early", "mid", "late", "attention"])
def test_each_strategy_trains_predicts_and_round_trips(small_cube: xr.Dataset, fusion: str, tmp_path) -> None:
    cfg = fdl.TrainConfig(fusion=fusion, max_epochs=3, min_samples=50, modality_dropout=0.3, hidden=(32, 16))
    model = fdl.train(small_cube, OPTICAL, cfg)
    assert model.architecture["type"] == ("mlp" if fusion == "early" else fusion)
    assert np.isfinite(model.metrics["test"]["rmse"]) and model.metrics["test"]["n"] > 10
    pred = fdl.predict_ndvi(small_cube, model).values
    assert pred.shape == small_cube["VV"].shape and np.isfinite(pred).mean() > 0.9
    again = fdl.load_model(model.save(tmp_path / "m"))
    np.testing.assert_allclose(fdl.predict_ndvi(small_cube, again, precision="float32").values,
                               fdl.predict_ndvi(small_cube, model, precision="float32").values, atol=1e-6)
    if fusion in ("late", "attention"):
        w = fdl.evaluation.modality_weights(model, small_cube)
        assert list(w["modality"].values) == ["sar", "optical", "time"]
        s = w.sum("modality", skipna=False).values
        assert np.allclose(s[np.isfinite(s)], 1.0, atol=1e-5)


def test_missing_modality_after_modality_dropout(small_cube: xr.Dataset) -> None:
    """A cube whose S2 is entirely cloudy: predictions still come, from SAR, with sensible skill."""
    cfg = fdl.TrainConfig(fusion="attention", max_epochs=8, min_samples=50, modality_dropout=0.5)
    model = fdl.train(small_cube, OPTICAL, cfg)
    no_optical = small_cube.copy()
    no_optical["NDVI"] = xr.full_like(small_cube["NDVI"], np.nan)
    pred = fdl.predict_ndvi(no_optical, model).values
    assert np.isfinite(pred).mean() > 0.9
    obs = small_cube["NDVI"].values
    ok = np.isfinite(obs) & np.isfinite(pred)
    r = np.corrcoef(obs[ok], pred[ok])[0, 1]
    assert r > 0.7, r
    # with the optical modality absent the attention puts all weight on the others
    w = fdl.evaluation.modality_weights(model, no_optical).sel(modality="optical").values
    assert np.nanmax(w) == 0.0


def test_absent_modality_is_left_out_of_the_blend() -> None:
    torch.manual_seed(0)
    net = ModalityNet("late", {"sar": [0, 1], "optical": [2, 3]}).eval()
    x = torch.randn(5, 4)
    x[:, 2:] = 0
    w = net.modality_weights(x)
    torch.testing.assert_close(w[:, 1], torch.zeros(5))
    with torch.no_grad():
        sar_only = net.heads["sar"](net.encoders["sar"](x[:, :2])).squeeze(-1)
        torch.testing.assert_close(net(x), sar_only)


def test_bad_architectures_and_configs() -> None:
    with pytest.raises(ConfigError, match="fusion"):
        fdl.TrainConfig(fusion="cross")
    with pytest.raises(ConfigError, match="modality_dropout"):
        fdl.TrainConfig(modality_dropout=1.0)
    with pytest.raises(ModelError, match="unknown architecture"):
        build_network({"type": "transformer"})
    with pytest.raises(ModelError, match="at least one feature"):
        ModalityNet("mid", {"sar": []})
