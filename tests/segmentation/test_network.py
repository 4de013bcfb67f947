"""Segmenter persistence: save/load round trip, tampered weights, another format refused."""

from __future__ import annotations

import json

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


def _edited_copy(tmp_path, trained, name, edit):
    """The segmenter saved under ``name`` with its sidecar edited by hand (its sidecar digest removed, as in an older file)."""
    path = trained.save(tmp_path / name)
    meta = json.loads(path.read_text())
    meta.pop("sidecar_sha256")
    edit(meta)
    path.write_text(json.dumps(meta))
    return path


@pytest.mark.parametrize(("name", "edit", "match"), [
    ("no_stats", lambda m: m.pop("stats"), r"expected 'stats' .* found stats None"),
    ("short", lambda m: m["stats"].__setitem__("VV", [1.0]), r"found VV: \[1.0\]"),
    ("no_ndvi", lambda m: m["stats"].pop("NDVI"), r"found NDVI: None"),
    ("zero_std", lambda m: m["stats"].__setitem__("VH", [-15.0, 0.0]), r"std > 0\], found VH: \[-15.0, 0.0\]"),
    ("nan_mean", lambda m: m["stats"].__setitem__("VV", [float("nan"), 1.0]), r"found VV: \[nan, 1.0\]"),
    ("no_config", lambda m: m.pop("config"), r"expected a 'config' entry"),
    ("bad_config", lambda m: m["config"].__setitem__("n_classes", "six"), r"config is not a valid SegmentConfig.*n_classes"),
])
def test_a_hand_edited_sidecar_is_refused_at_load(tmp_path, trained, name, edit, match):
    path = _edited_copy(tmp_path, trained, name, edit)
    with pytest.raises(fdl.errors.ModelError, match=match):
        load_segmenter(path)


def test_a_sidecar_that_is_not_utf8_a_bad_format_version_or_a_folder_is_a_model_error(tmp_path, trained):
    """Raw UnicodeDecodeError, ValueError/TypeError and IsADirectoryError before (the shared pair reader)."""
    path = trained.save(tmp_path / "latin")
    path.write_bytes(path.read_bytes().replace(b'"format"', b'"f\xe9rmat"', 1))
    with pytest.raises(fdl.errors.ModelError, match="expected a readable UTF-8 JSON sidecar"):
        load_segmenter(path)
    for bad in ("x", None, 1.5, True):
        path = _edited_copy(tmp_path, trained, f"version_{bad}", lambda m, b=bad: m.__setitem__("format_version", b))
        with pytest.raises(fdl.errors.ModelError, match=r"expected an integer format_version, found " + repr(bad).replace(".", r"\.")):
            load_segmenter(path)
    (tmp_path / "folder.json").mkdir()
    trained.save(tmp_path / "folder_w")
    (tmp_path / "folder_w.safetensors").rename(tmp_path / "folder.safetensors")
    with pytest.raises(fdl.errors.ModelError, match="expected a file, found a folder"):
        load_segmenter(tmp_path / "folder")
