"""Segmenter persistence: save/load round trip, tampered weights, another format refused."""

from __future__ import annotations

import numpy as np
import pytest

import fusets_dl as fdl
from fusets_dl.segmentation.apply import segment
from fusets_dl.segmentation.network import load_segmenter


def test_save_load_round_trip(tmp_path, crop_scene, trained):
    cube, _ = crop_scene
    path = trained.save(tmp_path / "seg")
    assert path.name == "seg.json" and (tmp_path / "seg.safetensors").exists()
    again = load_segmenter(tmp_path / "seg")
    np.testing.assert_array_equal(segment(cube, segmenter=again).values, segment(cube, segmenter=trained).values)
    blob = bytearray((tmp_path / "seg.safetensors").read_bytes())
    blob[-3] ^= 0xFF
    (tmp_path / "seg.safetensors").write_bytes(bytes(blob))
    with pytest.raises(fdl.errors.ModelError, match="SHA-256"):
        load_segmenter(tmp_path / "seg.json")
    # a FusionModel's files are refused by format
    net = fdl.models.mlp.MLP(3, (4,))
    fm = fdl.FusionModel(net, fdl.FeatureSpec(), fdl.models.Scaler(np.zeros(3, np.float32), np.ones(3, np.float32), 0.0, 1.0), {"type": "mlp"})
    fm_path = fm.save(tmp_path / "fusion_model")
    with pytest.raises(fdl.errors.ModelError, match="expected format 'fusets_dl.Segmenter'"):
        load_segmenter(fm_path)
