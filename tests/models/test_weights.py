"""FusionModel.sha256 and state_bytes: serialised once, recomputed when the weights change."""

from __future__ import annotations

import numpy as np
import torch

from fusets_dl.models import weights
from tests.models.test_model import _model


def _count_serialise(monkeypatch) -> list[int]:
    calls = [0]
    real = weights.serialise

    def counting(network):
        calls[0] += 1
        return real(network)

    monkeypatch.setattr(weights, "serialise", counting)
    return calls


def test_hash_is_computed_once(monkeypatch):
    m = _model()
    calls = _count_serialise(monkeypatch)
    first = m.sha256
    assert [m.sha256 for _ in range(5)] == [first] * 5
    blob = m.state_bytes()
    assert calls[0] == 1
    import hashlib

    assert hashlib.sha256(blob).hexdigest() == first


def test_changed_weights_change_the_hash(monkeypatch, tmp_path):
    m = _model()
    calls = _count_serialise(monkeypatch)
    before = m.sha256
    saved = {k: v.clone() for k, v in m.network.state_dict().items()}
    with torch.no_grad():
        next(m.network.parameters()).add_(0.5)  # an in-place change, as an optimiser step makes
    after = m.sha256
    assert after != before and calls[0] == 2
    m.network.load_state_dict(saved)  # back to the old weights: the old hash
    assert m.sha256 == before and calls[0] == 3
    m.network = _model(seed=5).network  # another network object
    assert m.sha256 not in (before, after)
    # a BatchNorm buffer counts too (running statistics change in training mode)
    h = m.sha256
    m.network.train()
    with torch.no_grad():
        m.network(torch.randn(16, len(m.spec.names)))
    m.network.eval()
    assert m.sha256 != h
    # the saved file carries the current hash
    from fusets_dl.models.io import load_model

    assert load_model(m.save(tmp_path / "m")).sha256 == m.sha256


def test_predictions_follow_in_place_weight_changes():
    m = _model()
    x = np.random.default_rng(0).normal(size=(20, len(m.spec.names))).astype(np.float32)
    p1 = m.predict_array(x, precision="float32")
    with torch.no_grad():
        for p in m.network.parameters():
            p.mul_(1.5)
    assert not np.allclose(m.predict_array(x, precision="float32"), p1)
