"""The whole-series network, its inputs and the SequenceModel's save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import fusets_dl as fdl
from fusets_dl.errors import ModelError
from fusets_dl.models.sequence import (
    CHANNELS,
    MIN_SCALE_DB,
    SequenceNet,
    receptive_radius,
    sequence_inputs,
    time_channels,
)
from fusets_dl.models.sequence_model import SequenceModel, sequence_from_parts

STATS = {"vv_mean": -11.0, "vv_std": 2.0, "vh_mean": -17.0, "vh_std": 2.5, "ratio_mean": 6.0, "ratio_std": 1.5,
         "ndvi_mean": 0.5, "ndvi_std": 0.2}


def tiny_model(seed: int = 0) -> SequenceModel:
    torch.manual_seed(seed)
    net = SequenceNet(len(CHANNELS), 8, (1, 2, 4), 3)
    return SequenceModel(net.eval(), dict(STATS), {"type": "tcn", "channels": 8, "dilations": [1, 2, 4], "kernel": 3})


def series(p: int = 5, t: int = 40, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    vv = rng.normal(-11, 2, (p, t)).astype(np.float32)
    vh = rng.normal(-17, 2, (p, t)).astype(np.float32)
    ndvi = np.where(rng.random((p, t)) < 0.4, rng.uniform(0.1, 0.9, (p, t)), np.nan).astype(np.float32)
    days = np.arange(t) * 6.0
    return vv, vh, ndvi, time_channels(days, (days % 365) + 1), np.arange(t) % 2


def test_receptive_radius_is_what_the_network_sees() -> None:
    net = SequenceNet(len(CHANNELS), 4, (1, 2, 4), 3).eval()
    assert net.radius == receptive_radius((1, 2, 4)) == 7
    x = torch.zeros(1, len(CHANNELS), 41)
    x[0, :, 20] = 1.0  # an impulse at date 20 reaches dates 13..27 only
    base = net(torch.zeros_like(x))
    diff = (net(x) - base).abs().sum(dim=1)[0]
    touched = torch.nonzero(diff > 1e-7).ravel()
    assert touched.min().item() == 13 and touched.max().item() == 27


def test_inputs_per_pixel_and_orbit_normalisation() -> None:
    vv = np.array([[-10.0, -20.0, -12.0, -22.0, -14.0, -24.0]], dtype=np.float32)  # two orbits 10 dB apart
    vh = vv - 6.0
    groups = np.array([0, 1, 0, 1, 0, 1])
    tch = time_channels(np.arange(6) * 6.0, np.arange(6) * 6 + 1)
    x = sequence_inputs(vv, vh, np.full_like(vv, np.nan), None, tch, groups, STATS)
    assert x.shape == (1, len(CHANNELS), 6)
    # per-orbit medians -12 and -22: deviations -2,0,+2 in each orbit; MAD 2 -> scale 2.9652
    np.testing.assert_allclose(x[0, 0], np.array([2, 2, 0, 0, -2, -2]) / (2 * 1.4826), rtol=1e-5)
    np.testing.assert_allclose(x[0, 2], 0.0, atol=1e-6)  # VV-VH constant: 0, scale floored at MIN_SCALE_DB
    np.testing.assert_allclose(x[0, 3], (vv[0] + 11.0) / 2.0, rtol=1e-6)
    assert MIN_SCALE_DB > 0
    np.testing.assert_allclose(x[0, CHANNELS.index("dt")], [0, 0.5, 0.5, 0.5, 0.5, 0.5])
    assert (x[0, CHANNELS.index("ndvi_valid")] == 0).all() and (x[0, CHANNELS.index("s1_valid")] == 1).all()


def test_predict_series_shapes_s1_only_and_missing_radar() -> None:
    m = tiny_model()
    vv, vh, ndvi, tch, g = series()
    vv[2] = np.nan  # a pixel without radar: NaN
    mean, std = m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")
    assert mean.shape == std.shape == (5, 40) and mean.dtype == np.float32
    assert np.isnan(mean[2]).all() and np.isfinite(mean[[0, 1, 3, 4]]).all() and (std[[0, 1, 3, 4]] > 0).all()
    s1, _ = m.predict_series(vv, vh, ndvi, None, tch, g, s1_only=True, device="cpu")
    s1b, _ = m.predict_series(vv, vh, np.full_like(ndvi, np.nan), None, tch, g, device="cpu")
    np.testing.assert_array_equal(s1, s1b)  # S1-only == no NDVI at all
    assert not np.allclose(np.nan_to_num(s1), np.nan_to_num(mean))
    # batching does not change the result
    mean2, _ = m.predict_series(vv, vh, ndvi, None, tch, g, batch_size=2, device="cpu")
    np.testing.assert_allclose(mean, mean2, rtol=1e-5, atol=1e-6)
    with pytest.raises(ModelError, match="expected vv, vh, ndvi of one shape"):
        m.predict_series(vv, vh[:, :3], ndvi, None, tch, g)


def test_save_load_round_trip_and_dispatch(tmp_path: Path) -> None:
    m = tiny_model()
    m.metrics = {"test_gaps": {"rmse": 0.05}}
    path = m.save(tmp_path / "seq")
    back = fdl.load_model(path)
    assert isinstance(back, SequenceModel) and back.kind == "sequence"
    assert back.sha256 == m.sha256 and back.metrics == m.metrics and back.stats == m.stats
    vv, vh, ndvi, tch, g = series()
    np.testing.assert_array_equal(m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")[0],
                                  back.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")[0])


def test_bad_sidecars_are_refused(tmp_path: Path) -> None:
    m = tiny_model()
    meta = m.to_json_dict(m.sha256)
    with pytest.raises(ModelError, match="expected a sequence model"):
        sequence_from_parts({**meta, "kind": "mlp"}, m.state_bytes())
    with pytest.raises(ModelError, match="stats"):
        sequence_from_parts({**meta, "stats": {"vv_mean": 1.0}}, m.state_bytes())
    with pytest.raises(ModelError, match="weights do not load"):
        sequence_from_parts({**meta, "architecture": {"channels": 16, "dilations": [1], "kernel": 3}}, m.state_bytes())
    path = m.save(tmp_path / "seq")
    path.with_suffix(".safetensors").write_bytes(b"junk")
    with pytest.raises(ModelError, match="SHA-256"):
        fdl.load_model(path)
    with pytest.raises(ModelError, match="odd kernel"):
        SequenceNet(len(CHANNELS), 8, (1,), 2)
