"""FusionModel files: round trip, tampering, truncation, mismatched specs; no pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import fusets_dl as fdl
from fusets_dl._safeio import sidecar_digest
from fusets_dl.models.fusion_model import FusionModel
from fusets_dl.models.io import load_model
from fusets_dl.models.mlp import MLP
from fusets_dl.models.scaler import Scaler


def _model(spec=None, seed=0):
    spec = spec or fdl.FeatureSpec(lags=1, windows=(15,))
    torch.manual_seed(seed)
    n = len(spec.names)
    net = MLP(n, (16, 8), dropout=0.1)
    # give BatchNorm non-trivial running statistics
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(64, n) * 2 + 1)
    net.eval()
    scaler = Scaler(np.full(n, 0.5, np.float32), np.full(n, 2.0, np.float32), 0.4, 0.2)
    arch = {"type": "mlp", "n_in": n, "hidden": [16, 8], "dropout": 0.1, "batch_norm": True}
    return FusionModel(net, spec, scaler, arch, config={"seed": seed}, metrics={"test": {"r2": 0.5}}, blocks={"block_size": 8, "grid": [2, 2], "test": [[0, 1]], "val": [[1, 0]]})


def test_round_trip_gives_identical_predictions(tmp_path):
    m = _model()
    x = np.random.default_rng(0).normal(size=(500, len(m.spec.names))).astype(np.float32)
    x[3, 2] = np.nan
    p1 = m.predict_array(x)
    path = m.save(tmp_path / "model")
    assert path.name == "model.json" and (tmp_path / "model.safetensors").exists()
    m2 = load_model(tmp_path / "model.json")
    np.testing.assert_array_equal(m2.predict_array(x), p1)
    assert np.isnan(p1[3]) and np.isfinite(np.delete(p1, 3)).all()
    assert (np.abs(p1[np.isfinite(p1)]) <= 1).all()
    assert m2.spec == m.spec and m2.blocks == m.blocks and m2.metrics == m.metrics
    assert load_model(tmp_path / "model").sha256 == m.sha256


def test_fused_network_matches_eval_network():
    m = _model()
    x = torch.randn(200, len(m.spec.names))
    with torch.inference_mode():
        np.testing.assert_allclose(m.network.fused()(x).squeeze(-1).numpy(), m.network(x).numpy(), rtol=1e-4, atol=1e-5)


def test_files_hold_no_pickle(tmp_path):
    _model().save(tmp_path / "m")
    blob = (tmp_path / "m.safetensors").read_bytes()
    header_len = int.from_bytes(blob[:8], "little")
    assert blob[8:9] == b"{" and json.loads(blob[8 : 8 + header_len])  # safetensors: length + JSON header
    assert b"\x80\x04\x95" not in blob[:16]  # no pickle protocol marker
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["format"] == "fusets_dl.FusionModel" and len(meta["weights_sha256"]) == 64
    assert meta["feature_names"] == _model().spec.names


def test_tampered_weights_are_refused(tmp_path):
    _model().save(tmp_path / "m")
    w = tmp_path / "m.safetensors"
    blob = bytearray(w.read_bytes())
    blob[-5] ^= 0xFF
    w.write_bytes(bytes(blob))
    with pytest.raises(fdl.errors.ModelError, match="SHA-256.*modified"):
        load_model(tmp_path / "m")


def test_a_save_interrupted_between_its_renames_says_how_to_recover(tmp_path, monkeypatch):
    """The weights are renamed first, then the sidecar: a crash in between leaves the new weights beside the old
    sidecar. The load refuses the pair (hash) and names the pending sidecar that fits the weights."""
    from pathlib import Path

    old, new = _model(), _model()
    with torch.no_grad():
        for p in new.network.parameters():
            p.add_(0.25)
    old.save(tmp_path / "m")
    real_replace = Path.replace

    def crash_on_sidecar(self, target):
        if str(target).endswith(".json"):
            raise KeyboardInterrupt  # the process stops between the two renames
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", crash_on_sidecar)
    with pytest.raises(KeyboardInterrupt):
        new.save(tmp_path / "m")
    monkeypatch.undo()
    with pytest.raises(fdl.errors.ModelError, match=r"modified, truncated .*; m.json.tmp beside it is the sidecar of these weights .*"
                                                    r"rename m.json.tmp to m.json to load them"):
        load_model(tmp_path / "m")
    (tmp_path / "m.json.tmp").replace(tmp_path / "m.json")
    assert load_model(tmp_path / "m").sha256 == new.sha256 != old.sha256
    # a tampered file with no pending sidecar gets no such hint
    w = tmp_path / "m.safetensors"
    w.write_bytes(w.read_bytes()[:-1] + b"x")
    with pytest.raises(fdl.errors.ModelError, match=r"belongs to another model$"):
        load_model(tmp_path / "m")


def test_save_never_replaces_files_of_another_tool(tmp_path):
    """An unrelated .safetensors without our sidecar, or a JSON of another tool that happens to have 'format' and
    'weights_sha256' keys, was overwritten by save()."""
    from fusets_dl.errors import StoreExistsError

    (tmp_path / "mine.safetensors").write_bytes(b"someone else's weights")
    with pytest.raises(StoreExistsError, match=r"mine.safetensors' exists without a fusets_dl sidecar 'mine.json'"):
        _model().save(tmp_path / "mine")
    assert (tmp_path / "mine.safetensors").read_bytes() == b"someone else's weights" and not (tmp_path / "mine.json").exists()
    (tmp_path / "other.json").write_text(json.dumps({"format": "other.tool.Model", "weights_sha256": "abc"}))
    with pytest.raises(StoreExistsError, match=r"other.json' exists and is not a fusets_dl model sidecar"):
        _model().save(tmp_path / "other")
    assert json.loads((tmp_path / "other.json").read_text())["format"] == "other.tool.Model"
    _model().save(tmp_path / "ours")
    _model().save(tmp_path / "ours")  # our own pair is replaced
    with pytest.raises(fdl.errors.ModelError, match=r"save: expected a file path .*found an empty string"):
        _model().save("")


def test_truncated_or_missing_files_are_refused(tmp_path):
    _model().save(tmp_path / "m")
    w = tmp_path / "m.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    with pytest.raises(fdl.errors.ModelError, match="SHA-256"):
        load_model(tmp_path / "m")
    _model().save(tmp_path / "n")
    j = tmp_path / "n.json"
    j.write_text(j.read_text()[:50])
    with pytest.raises(fdl.errors.ModelError, match="not valid JSON"):
        load_model(tmp_path / "n")
    with pytest.raises(fdl.errors.ModelError, match="missing"):
        load_model(tmp_path / "nothing")


def test_weights_hash_forged_in_sidecar_still_checks_architecture(tmp_path):
    import hashlib

    from safetensors.torch import save

    _model().save(tmp_path / "m")
    bogus = save({"net.0.weight": torch.zeros(3, 3)})
    (tmp_path / "m.safetensors").write_bytes(bogus)
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["weights_sha256"] = hashlib.sha256(bogus).hexdigest()
    meta["sidecar_sha256"] = sidecar_digest(meta)  # a forger who also recomputes the sidecar digest
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(fdl.errors.ModelError, match="do not fit the architecture"):
        load_model(tmp_path / "m")


def test_mismatched_feature_spec_is_refused(tmp_path):
    _model().save(tmp_path / "m")
    with pytest.raises(fdl.errors.ModelError, match="feature spec mismatch"):
        load_model(tmp_path / "m", expect_spec=fdl.FeatureSpec())
    assert load_model(tmp_path / "m", expect_spec=fdl.FeatureSpec(lags=1, windows=(15,))) is not None
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["feature_names"] = meta["feature_names"][::-1]
    meta["sidecar_sha256"] = sidecar_digest(meta)
    (tmp_path / "m.json").write_text(json.dumps(meta))
    with pytest.raises(fdl.errors.ModelError, match="do not match its spec"):
        load_model(tmp_path / "m")


def test_predict_array_checks_shape():
    with pytest.raises(fdl.errors.ModelError, match=r"expected features of shape \(n, "):
        _model().predict_array(np.zeros((4, 3), np.float32))


def test_device_auto_is_cpu_here_and_bad_device_refused():
    from fusets_dl.runtime import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(fdl.errors.ModelError, match="device"):
        resolve_device("tpu")


def test_inference_cache_follows_the_network_object():
    m = _model(seed=0)
    x = np.random.default_rng(1).normal(size=(50, len(m.spec.names))).astype(np.float32)
    first = m.predict_array(x, precision="float32")
    m.network = _model(seed=5).network  # a different network in the same model object
    second = m.predict_array(x, precision="float32")
    assert not np.allclose(first, second)
    np.testing.assert_array_equal(second, _model(seed=5).predict_array(x, precision="float32"))


def _reference_predict(m, x):
    """Standardise, run the unfused eval network in float32, map back: the definition predict_array must match."""
    xs, ok = m.standardise(x)
    out = np.full(x.shape[0], np.nan, np.float32)
    with torch.inference_mode():
        y = m.network(torch.from_numpy(xs[ok])).numpy()
    out[ok] = np.clip(y * m.scaler.target_std + m.scaler.target_mean, -1, 1)
    return out


def test_folded_standardisation_matches_the_standardised_network():
    # optical features are optional: a NaN there is the baseline (its mean), a NaN in a SAR feature drops the row
    spec = fdl.FeatureSpec(groups=("sar", "optical", "time"), lags=1, windows=(15,))
    m = _model(spec)
    n = len(spec.names)
    m.scaler = Scaler(np.linspace(-3, 3, n).astype(np.float32), np.linspace(0.5, 4, n).astype(np.float32), 0.4, 0.2)
    x = np.random.default_rng(3).normal(size=(700, n)).astype(np.float32) * 3
    opt = spec.names.index("NDVI_prev")
    x[::7, opt] = np.nan
    x[5, spec.required[0]] = np.nan
    got = m.predict_array(x, precision="float32")
    want = _reference_predict(m, x)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-6)
    assert np.isnan(got[5]) and np.isfinite(np.delete(got, 5)).all()
    # the caller's array is not modified by the NaN filling
    assert np.isnan(x[0, opt])


@pytest.mark.parametrize("batch_size", [1, 7, 64, 10_000])
def test_batches_do_not_change_predictions(batch_size):
    m = _model()
    x = np.random.default_rng(2).normal(size=(301, len(m.spec.names))).astype(np.float32)
    # equal up to float rounding (BLAS blocks a batch of 1 differently from one of 301)
    np.testing.assert_allclose(m.predict_array(x, batch_size=batch_size, precision="float32"), m.predict_array(x, precision="float32"), rtol=0, atol=1e-6)


def test_default_batch_size_and_bad_batch_size():
    from fusets_dl.runtime import default_batch_size

    assert default_batch_size(torch.device("cpu")) == 16384
    assert default_batch_size(torch.device("cuda")) == 1 << 20
    with pytest.raises(fdl.errors.ModelError, match="batch_size: expected a positive"):
        _model().predict_array(np.zeros((4, len(_model().spec.names)), np.float32), batch_size=-1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (the overlapped-copy path runs only there)")
@pytest.mark.parametrize("precision, tol", [("float32", 1e-4), ("bfloat16", 0.02)])
def test_cuda_overlapped_batches_match_cpu(precision, tol):
    m = _model()
    x = np.random.default_rng(4).normal(size=(5000, len(m.spec.names))).astype(np.float32)
    cpu = m.predict_array(x, device="cpu", precision="float32")
    gpu = m.predict_array(x, device="cuda", precision=precision, batch_size=777)  # 7 batches through the copy stream
    np.testing.assert_allclose(gpu, cpu, atol=tol)


def test_dropout_drops_at_rate_p_and_keeps_the_expectation():
    from fusets_dl.runtime import Dropout

    torch.manual_seed(0)
    d = Dropout(0.1)
    x = torch.ones(1000, 999)  # an odd number of elements: the last 64-bit draw is only partly used
    y = d(x)
    dropped = (y == 0).float().mean().item()
    assert abs(dropped - 0.1) < 0.002  # 1e6 Bernoulli(0.1) draws: sd 3e-4
    assert abs(y.mean().item() - 1.0) < 0.003
    assert torch.unique(y).tolist() == [0.0, pytest.approx(65536 / 58982)]  # 1 / P(keep), P(keep) = 1 - 6554 / 65536
    # seeded by torch.manual_seed, independent between calls, identity in eval mode
    torch.manual_seed(5)
    a = d(x)
    torch.manual_seed(5)
    np.testing.assert_array_equal(a.numpy(), d(x).numpy())
    assert not torch.equal(a, d(x))
    d.eval()
    assert d(x) is x
    with pytest.raises(fdl.errors.ModelError, match="dropout: expected 0 <= p < 1"):
        Dropout(1.0)


def test_an_edited_sidecar_is_refused(tmp_path):
    """The scaler's target mean edited by +0.3 (every prediction would move by +0.3, silently): refused."""
    _model().save(tmp_path / "m")
    j = tmp_path / "m.json"
    meta = json.loads(j.read_text())
    assert len(meta["sidecar_sha256"]) == 64
    original = meta["scaler"]["target_mean"]
    meta["scaler"]["target_mean"] = original + 0.3
    j.write_text(json.dumps(meta, indent=2))
    with pytest.raises(fdl.errors.ModelError, match=r"sidecar.*edited after the model was saved"):
        load_model(tmp_path / "m")
    # re-indenting or reordering the keys is not an edit: the digest is over the canonical JSON
    meta["scaler"]["target_mean"] = original
    j.write_text(json.dumps(dict(reversed(list(meta.items())))))
    assert load_model(tmp_path / "m").scaler.target_mean == pytest.approx(0.4)


@pytest.mark.parametrize("edit", ["drop_scaler", "scaler_short", "scaler_zero_std", "drop_architecture"])
def test_a_sidecar_missing_keys_or_with_a_bad_scaler_is_a_model_error(tmp_path, edit):
    _model().save(tmp_path / "m")
    j = tmp_path / "m.json"
    meta = json.loads(j.read_text())
    if edit == "drop_scaler":
        del meta["scaler"]
        match = r"lacks \['scaler'\]"
    elif edit == "drop_architecture":
        del meta["architecture"]
        match = r"lacks \['architecture'\]"
    elif edit == "scaler_short":
        meta["scaler"]["feature_mean"] = meta["scaler"]["feature_mean"][:2]
        match = r"expected \d+ feature means"
    else:
        meta["scaler"]["target_std"] = 0.0
        match = "positive standard deviations"
    meta["sidecar_sha256"] = sidecar_digest(meta)  # consistent, so the deeper check is the one that speaks
    j.write_text(json.dumps(meta))
    with pytest.raises(fdl.errors.ModelError, match=match):
        load_model(tmp_path / "m")


def test_a_sidecar_saved_without_its_digest_loads_with_a_warning(tmp_path, caplog):
    _model().save(tmp_path / "m")
    j = tmp_path / "m.json"
    meta = json.loads(j.read_text())
    del meta["sidecar_sha256"]
    j.write_text(json.dumps(meta))
    with caplog.at_level("WARNING", logger="fusets_dl"), pytest.warns(UserWarning, match=r"m.json: the sidecar carries no "
                                                                         r"sidecar_sha256 .*identifies its weights only"):
        assert load_model(tmp_path / "m") is not None  # a warning the user sees, not only a log line
    assert "no sidecar_sha256" in caplog.text


def test_same_weights_with_another_sidecar_is_another_model_in_the_inference_cache(tmp_path):
    """The Dask payload cache keys on weights and sidecar together: a second scaler gives its own predictions."""
    from fusets_dl.features.block import BlockConstants
    from fusets_dl.inference.predict import _fused_block, _payload

    a = _model()
    b = _model()
    b.scaler = Scaler(a.scaler.feature_mean, a.scaler.feature_std, a.scaler.target_mean + 0.3, a.scaler.target_std)
    assert a.sha256 == b.sha256  # same weights
    pa, pb = _payload(a), _payload(b)
    assert pa[2] != pb[2]
    rng = np.random.default_rng(2)
    nt = 20
    vv, vh = (rng.normal(mu, 2.0, size=(nt, 4, 8)).astype(np.float32) for mu in (-10.0, -16.0))
    days = np.arange(nt) * 12.0
    const = BlockConstants(days=days, doy=days % 365.25, orbits=np.zeros(nt, np.int64), spec=a.spec)
    kw = {"names": ("VV", "VH"), "const": const, "batch_size": None, "device": "cpu", "precision": "float32"}
    ya = _fused_block(pa, vv, vh, **kw)
    yb = _fused_block(pb, vv, vh, **kw)
    unclipped = (np.abs(ya) < 0.69) & np.isfinite(ya)
    assert unclipped.any()
    np.testing.assert_allclose((yb - ya)[unclipped], 0.3, atol=1e-5)


# --------------------------------------------------------------------------- hostile inputs (model side)

DATA = __import__("pathlib").Path(__file__).parent / "data"


def test_a_model_saved_with_repeated_windows_loads_with_its_spec_and_a_warning(tmp_path):
    """tests/models/data/fusion_repeated_windows.*: trained and saved by the code before 248a2ca with
    ``FeatureSpec(windows=(15, 15), rolling=0)``; its MLP reads 14 columns, the repeated window's three twice,
    so deduplicating the spec would not fit the network. It loads with the spec as saved and predicts as then."""
    with pytest.warns(UserWarning, match=r"repeated values in its feature spec \(windows=\(15, 15\)\).*takes 14 inputs"):
        m = load_model(DATA / "fusion_repeated_windows")
    assert m.spec.windows == (15, 15) and len(m.spec.names) == m.architecture["n_in"] == 14
    ref = np.load(DATA / "fusion_repeated_windows_pred.npz", allow_pickle=False)
    np.testing.assert_allclose(m.predict_array(ref["x"], device="cpu", precision="float32"), ref["pred"], rtol=1e-5, atol=1e-6)
    # saved again (today's writer), it loads again the same way
    with pytest.warns(UserWarning, match="repeated values"):
        again = load_model(m.save(tmp_path / "again"))
    assert again.spec == m.spec and again.sha256 == m.sha256
    # a spec refused for another reason is still refused
    meta = json.loads((DATA / "fusion_repeated_windows.json").read_text())
    meta["feature_spec"]["lags"] = "2"
    meta["sidecar_sha256"] = sidecar_digest(meta)
    (tmp_path / "bad.json").write_text(json.dumps(meta))
    (tmp_path / "bad.safetensors").write_bytes((DATA / "fusion_repeated_windows.safetensors").read_bytes())
    with pytest.raises(fdl.errors.ModelError, match="feature_spec is invalid"):
        load_model(tmp_path / "bad")


def _edit(meta, edit):
    if edit == "feature_mean_nan":
        meta["scaler"]["feature_mean"][0] = float("nan")
        return "finite statistics"
    if edit == "target_mean_string":
        meta["scaler"]["target_mean"] = "0.4"
        return r"numbers for target_mean.*target_mean='0.4'"
    if edit == "architecture_string":
        meta["architecture"] = "mlp"
        return "architecture: expected a mapping"
    if edit == "negative_width":
        meta["architecture"]["hidden"] = [-16, 8]
        return "malformed.*positive sizes"
    if edit == "info_list":
        meta["info"] = [1, 2]
        return "info: expected a mapping, found list"
    if edit == "config_string":
        meta["config"] = "abc"
        return "config: expected a mapping, found str"
    if edit == "history_string":
        meta["history"] = "abc"
        return "history: expected a list, found str"
    meta["format_version"] = "one"
    return "integer format_version"


@pytest.mark.parametrize("edit", ["feature_mean_nan", "target_mean_string", "architecture_string", "negative_width",
                                  "info_list", "config_string", "history_string", "format_version_string"])
def test_hand_edited_sidecar_values_are_model_errors(tmp_path, edit):
    """Before: NaN means and quoted numbers loaded (NaN features; '0.4' read as 0.4), the rest raised
    AttributeError, RuntimeError, TypeError or ValueError, or loaded and failed later."""
    _model().save(tmp_path / "m")
    j = tmp_path / "m.json"
    meta = json.loads(j.read_text())
    match = _edit(meta, edit)
    meta["sidecar_sha256"] = sidecar_digest(meta)  # consistent, so the content check is the one that speaks
    j.write_text(json.dumps(meta))
    with pytest.raises(fdl.errors.ModelError, match=match):
        load_model(tmp_path / "m")


def test_a_sidecar_that_is_not_utf8_is_a_model_error(tmp_path):
    _model().save(tmp_path / "m")
    (tmp_path / "m.json").write_bytes(b"\xff\xfe\x00 not json")
    with pytest.raises(fdl.errors.ModelError, match="readable UTF-8 JSON sidecar"):
        load_model(tmp_path / "m")


def test_load_and_save_expand_the_home_folder(tmp_path, monkeypatch):
    """``save("~/m")`` made a folder literally named ``~`` in the working directory; ``load_model("~/m")`` found nothing."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    m = _model()
    assert m.save("~/models/m") == home / "models" / "m.json"
    assert not (work / "~").exists()
    assert load_model("~/models/m.json").sha256 == m.sha256


def test_load_model_names_what_it_expected(tmp_path):
    _model().save(tmp_path / "models" / "a")
    with pytest.raises(fdl.errors.ModelError, match=r"found the folder .*models in it: \['a'\]"):
        load_model(tmp_path / "models")
    with pytest.raises(fdl.errors.ModelError, match=r"shipped model names \['pretrained', 'pretrained-general'\], found 'pretrainde'"):
        load_model("pretrainde")
    for bad in (3, None, b"/tmp/m"):
        with pytest.raises(fdl.errors.ModelError, match="expected a path"):
            load_model(bad)
    with pytest.raises(fdl.errors.ConfigError, match="expect_spec: expected a FeatureSpec"):
        load_model(tmp_path / "models" / "a", expect_spec={"lags": 1})


@pytest.mark.parametrize("x", [np.ones((4, 18), bool), np.full((4, 18), "1.5"), np.ones((4, 18), np.complex64),
                               np.full((4, 18), "x", dtype=object)], ids=["bool", "str", "complex", "object"])
def test_predict_array_refuses_features_that_are_not_real_numbers(x):
    """Before: strings were parsed, booleans read as 0/1, complex lost its imaginary part, None became NaN."""
    m = _model()
    assert len(m.spec.names) == 18
    with pytest.raises(fdl.errors.ModelError, match=f"expected real-valued features.*found dtype {x.dtype}"):
        m.predict_array(x)
    np.testing.assert_array_equal(m.predict_array(np.ones((4, 18), np.int64)), m.predict_array(np.ones((4, 18), np.float32)))


def test_predict_array_takes_numbers_with_missing_values_in_object_arrays():
    """A pandas nullable frame or lists with None (missing features) predict as the float array with NaN does."""
    import pandas as pd

    m = _model()
    x = np.random.default_rng(0).normal(size=(5, 18)).astype(np.float32)
    x[1, 3] = np.nan
    ref = m.predict_array(x)
    np.testing.assert_array_equal(m.predict_array(pd.DataFrame(x).astype("Float64")), ref)
    rows = [[None if np.isnan(v) else float(v) for v in r] for r in x]
    np.testing.assert_array_equal(m.predict_array(rows), ref)


@pytest.mark.parametrize("bs", [0, 2.5, "100", True, float("nan")])
def test_predict_array_batch_size_must_be_a_positive_integer(bs):
    """Before: 0 silently took the default, 2.5 ran as 2, '100' as 100, True as 1, NaN raised a ValueError."""
    with pytest.raises(fdl.errors.ModelError, match="batch_size: expected a positive integer"):
        _model().predict_array(np.zeros((3, 18), np.float32), batch_size=bs)


def test_devices_this_machine_lacks_are_model_errors(monkeypatch):
    from fusets_dl.models.fusion_model import inference_device

    m = _model()
    x = np.zeros((3, 18), np.float32)
    for dev in ("meta", "gpu", "CPU"):
        with pytest.raises(fdl.errors.ModelError, match="device: expected 'auto', 'cpu'"):
            m.predict_array(x, device=dev)
    if not torch.backends.mps.is_available():  # was a RuntimeError from torch
        with pytest.raises(fdl.errors.ModelError, match="no MPS device"):
            m.predict_array(x, device="mps")
    if not torch.cuda.is_available():  # a torch.device bypassed the check: AssertionError 'Torch not compiled with CUDA'
        with pytest.raises(fdl.errors.ModelError, match="CUDA is not available"):
            m.predict_array(x, device=torch.device("cuda"))
    # "cuda:7" on a one-GPU machine (was torch's 'invalid device ordinal' at the first copy)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(fdl.errors.ModelError, match=r"'cuda:7': expected an index in 0..0 \(this machine has 1 CUDA device"):
        inference_device("cuda:7")
    assert inference_device("cuda:0") == torch.device("cuda:0")
