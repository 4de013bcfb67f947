"""The whole-series network, its inputs and the SequenceModel's save/load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import fusets_dl as fdl
from fusets_dl.errors import ModelError
from fusets_dl.models.sequence import (
    ALL_CHANNELS,
    CHANNELS,
    GAP_CHANNELS,
    GAP_MAX,
    MIN_SCALE_DB,
    RowTCN,
    SequenceNet,
    gap_channels,
    input_channels,
    receptive_radius,
    sequence_inputs,
    time_channels,
)
from fusets_dl.models.sequence_model import SequenceModel, fit_std_scale, sequence_from_parts

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


def test_prediction_on_another_device_never_moves_the_network() -> None:
    # a shared model (one per process) predicted on CUDA was moved there in place, and its next CPU
    # prediction failed with a device mismatch; the copy on the other device is cached, the network stays
    m = tiny_model()
    before = [p.device for p in m.network.parameters()]
    on_meta = m._network_on(torch.device("meta"))
    assert on_meta is not m.network and next(on_meta.parameters()).device.type == "meta"
    assert [p.device for p in m.network.parameters()] == before
    assert m._network_on(torch.device("meta")) is on_meta  # cached
    assert m._network_on(torch.device("cpu")) is m.network
    m.network = tiny_model(seed=1).network  # a new network: a new copy
    assert m._network_on(torch.device("meta")) is not on_meta


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_then_cpu_prediction_of_one_model() -> None:
    m = tiny_model()
    vv, vh, ndvi, tch, g = series(p=64)
    cpu0, _ = m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")
    gpu, _ = m.predict_series(vv, vh, ndvi, None, tch, g, device="cuda")
    cpu1, _ = m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")
    assert next(m.network.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(cpu0, cpu1)
    np.testing.assert_allclose(gpu, cpu0, atol=2e-3)


def test_save_load_round_trip_and_dispatch(tmp_path: Path) -> None:
    m = tiny_model()
    m.metrics = {"test": {"rmse": 0.05}, "test_gaps": {"rmse": 0.05}}  # as train_sequence writes them
    path = m.save(tmp_path / "seq")
    back = fdl.load_model(path)
    assert isinstance(back, SequenceModel) and back.kind == "sequence"
    assert back.sha256 == m.sha256 and back.metrics == m.metrics and back.stats == m.stats
    vv, vh, ndvi, tch, g = series()
    np.testing.assert_array_equal(m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")[0],
                                  back.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")[0])


def test_save_never_replaces_a_json_file_that_is_not_a_model(tmp_path: Path) -> None:
    from fusets_dl.errors import StoreExistsError

    notes = tmp_path / "notes.json"
    notes.write_text('{"my": "notes"}')
    with pytest.raises(StoreExistsError, match="is not a fusets_dl model sidecar"):
        tiny_model().save(notes)
    assert json.loads(notes.read_text()) == {"my": "notes"} and not (tmp_path / "notes.safetensors").exists()
    path = tiny_model().save(tmp_path / "m")
    assert tiny_model(1).save(tmp_path / "m") == path  # a model's own sidecar is replaced
    assert fdl.load_model(path).sha256 == tiny_model(1).sha256


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


@pytest.mark.parametrize("method", ["nll", "quantile", "coverage"])
@pytest.mark.parametrize("k", [0.5, 1.0, 1.6])
def test_fit_std_scale_recovers_the_dispersion(method: str, k: float) -> None:
    # residuals N(0, (k * std)^2) with stds that vary: the factor that calibrates them is k
    rng = np.random.default_rng(3)
    std = rng.uniform(0.02, 0.2, 200_000)
    res = rng.normal(0.0, k * std)
    assert fit_std_scale(res, std, method) == pytest.approx(k, rel=0.01)


def test_coverage_factor_sits_between_the_one_and_two_std_matches() -> None:
    """Heavy tails: matching 68 % alone leaves the 2-std share short, matching 95 % alone makes 1 std too wide."""
    rng = np.random.default_rng(5)
    std = rng.uniform(0.05, 0.1, 100_000)
    z = rng.standard_t(3, 100_000)
    s = fit_std_scale(z * std, std, "coverage")
    a = np.abs(z)
    s1, s2 = np.quantile(a, 0.6827), np.quantile(a, 0.9545) / 2.0
    assert min(s1, s2) < s < max(s1, s2)
    def miss(f: float) -> float:
        return float(((a <= f).mean() - 0.6827) ** 2 + ((a <= 2 * f).mean() - 0.9545) ** 2)

    assert miss(s) < min(miss(s1), miss(s2))
    assert abs((a <= s).mean() - 0.6827) < 0.05 and abs((a <= 2 * s).mean() - 0.9545) < 0.05


def test_fit_std_scale_is_the_nll_optimum_and_refuses_bad_input() -> None:
    rng = np.random.default_rng(4)
    std = rng.uniform(0.05, 0.1, 500)
    res = rng.standard_t(4, 500) * std  # heavy tails: NLL and quantile factors differ
    s = fit_std_scale(res, std)
    z2 = np.mean((res / std) ** 2)
    np.testing.assert_allclose(s, np.sqrt(z2))  # the closed form
    nll = [np.mean(np.log(f * std) + res**2 / (2 * (f * std) ** 2)) for f in (0.95 * s, s, 1.05 * s)]
    assert nll[1] < nll[0] and nll[1] < nll[2]
    assert fit_std_scale(res, std, "quantile") == pytest.approx(np.median(np.abs(res / std)) / 0.6744897501960817)
    res[:3], std[3:6] = np.nan, 0.0  # left out, not propagated
    assert np.isfinite(fit_std_scale(res, std))
    with pytest.raises(ModelError, match="at least 10"):
        fit_std_scale(res[:8], std[:8])
    with pytest.raises(ModelError, match="method"):
        fit_std_scale(res, std, "mad")
    with pytest.raises(ModelError, match="one shape"):
        fit_std_scale(res, std[:5])


def test_calibration_scales_the_std_and_survives_save_load(tmp_path: Path) -> None:
    m = tiny_model()
    vv, vh, ndvi, tch, g = series()
    mean0, std0 = m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")
    s1m0, s1s0 = m.predict_series(vv, vh, ndvi, None, tch, g, s1_only=True, device="cpu")
    m.calibration = {"std_scale": 1.25, "std_scale_s1_only": 0.8, "method": "nll"}
    mean1, std1 = m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")
    s1m1, s1s1 = m.predict_series(vv, vh, ndvi, None, tch, g, s1_only=True, device="cpu")
    np.testing.assert_array_equal(mean0, mean1)
    np.testing.assert_array_equal(s1m0, s1m1)
    np.testing.assert_allclose(std1, 1.25 * std0, rtol=1e-6)
    np.testing.assert_allclose(s1s1, 0.8 * s1s0, rtol=1e-6)
    back = fdl.load_model(m.save(tmp_path / "calib"))
    assert back.calibration == m.calibration and back.std_scale() == 1.25 and back.std_scale(s1_only=True) == 0.8
    np.testing.assert_array_equal(back.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")[1], std1)
    # a payload for Dask carries it too (the joint hash changes with it)
    from fusets_dl.runtime import from_payload, make_payload
    rebuilt = from_payload(make_payload(m.to_json_dict(m.sha256), m.state_bytes()), sequence_from_parts, "SequenceModel")
    assert rebuilt.std_scale() == 1.25


def test_a_pixel_without_clear_ndvi_gets_the_s1_only_factor() -> None:
    m = tiny_model()
    m.calibration = {"std_scale": 1.25, "std_scale_s1_only": 0.8, "method": "nll"}
    vv, vh, ndvi, tch, g = series()
    ndvi[1] = np.nan  # never seen clear: predicted as in the S1-only mode
    mean, std = m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")
    s1m, s1s = m.predict_series(vv, vh, ndvi, None, tch, g, s1_only=True, device="cpu")
    np.testing.assert_array_equal(mean[1], s1m[1])
    np.testing.assert_array_equal(std[1], s1s[1])  # the S1-only factor (0.8), not the NDVI-given one (1.25)
    assert not np.allclose(std[0], s1s[0])  # a pixel with clear views keeps its own


@pytest.mark.parametrize("bs", [0, -5, 2.5, True, np.bool_(True), "64", float("nan")])
def test_a_bad_batch_size_is_refused(bs: object) -> None:
    m = tiny_model()
    vv, vh, ndvi, tch, g = series()
    with pytest.raises(ModelError, match="batch_size: expected a positive number of pixel series"):
        m.predict_series(vv, vh, ndvi, None, tch, g, batch_size=bs, device="cpu")  # type: ignore[arg-type]


def test_a_whole_float_batch_size_is_taken_as_the_per_date_model_takes_it() -> None:
    m = tiny_model()
    vv, vh, ndvi, tch, g = series()
    whole = m.predict_series(vv, vh, ndvi, None, tch, g, batch_size=1.0, device="cpu")  # JSON clients send 65536.0
    one = m.predict_series(vv, vh, ndvi, None, tch, g, batch_size=1, device="cpu")
    np.testing.assert_array_equal(whole[0], one[0])
    np.testing.assert_array_equal(whole[1], one[1])


def test_a_model_saved_without_calibration_loads_with_factor_one(tmp_path: Path) -> None:
    m = tiny_model()
    path = m.save(tmp_path / "old")
    meta = json.loads(path.read_text())
    del meta["calibration"]  # as written before the calibration existed
    back = sequence_from_parts(meta, m.state_bytes())
    assert back.calibration == {} and back.std_scale() == 1.0 and back.std_scale(s1_only=True) == 1.0
    vv, vh, ndvi, tch, g = series()
    np.testing.assert_array_equal(back.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")[1],
                                  m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")[1])
    for bad in ({"std_scale": 0.0}, {"std_scale_s1_only": "wide"}, {"std_scale": float("nan")}, [1.2]):
        with pytest.raises(ModelError, match="calibration"):
            sequence_from_parts({**meta, "calibration": bad}, m.state_bytes())


def test_a_model_saved_without_the_test_key_gets_it_at_load(tmp_path: Path) -> None:
    m = tiny_model()
    path = m.save(tmp_path / "old")
    meta = json.loads(path.read_text())
    gaps = {"r2": 0.8, "rmse": 0.07, "mae": 0.05, "bias": 0.001, "n": 120}
    meta["metrics"] = {"test_gaps": gaps, "test_s1_only": {"r2": 0.6}}  # as trained before 2026-11-27
    back = sequence_from_parts(meta, m.state_bytes())
    assert back.metrics["test"] == gaps and back.metrics["test_gaps"] == gaps
    assert sequence_from_parts({**meta, "metrics": {}}, m.state_bytes()).metrics == {}  # nothing to copy: nothing added


@pytest.mark.parametrize(("dilations", "t"), [((1, 2, 4), 40), ((1, 2, 4, 8, 16), 23), ((3, 1), 2)])
def test_row_tcn_float32_equals_the_network(dilations: tuple[int, ...], t: int) -> None:
    torch.manual_seed(1)
    net = SequenceNet(len(CHANNELS), 16, dilations, 3).eval()
    r = net.radius
    x = torch.nn.functional.pad(torch.randn(7, len(CHANNELS), t), (r, r))  # zero padding, as predict_series pads
    with torch.inference_mode():
        ref = net(x)[:, :, r : r + t]
        fast = RowTCN(net)(x)
    assert fast.shape == (7, 2, t)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    # each series on its own: rows of the neighbours mix only into the cut padding
    with torch.inference_mode():
        torch.testing.assert_close(RowTCN(net)(x[3:4]), ref[3:4], rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not RowTCN.supports(SequenceNet(), bf16=True), reason="no native bfloat16 oneDNN product on this CPU")
def test_row_tcn_bfloat16_is_close_and_predict_series_precision() -> None:
    m = tiny_model()
    vv, vh, ndvi, tch, g = series(p=40, t=60)
    m32, s32 = m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu", precision="float32")
    m16, s16 = m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu", precision="bfloat16")
    assert not np.array_equal(m32, m16)  # it did run in bfloat16
    assert np.sqrt(np.mean((m32 - m16) ** 2)) < 2e-3 and np.abs(m32 - m16).max() < 1e-2  # NDVI units
    np.testing.assert_allclose(s16, s32, rtol=0.03)


def test_predict_series_float32_is_the_network_and_follows_new_weights() -> None:
    m = tiny_model()
    vv, vh, ndvi, tch, g = series()
    r = m.radius
    x = torch.nn.functional.pad(torch.from_numpy(sequence_inputs(vv, vh, ndvi, None, tch, g, STATS)), (r, r))
    with torch.inference_mode():
        ref = m.network(x)[:, :, r:-r].numpy()
    mean, std = m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu", precision="float32")
    np.testing.assert_allclose(mean, np.clip(ref[:, 0] * STATS["ndvi_std"] + STATS["ndvi_mean"], -1, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, np.exp(0.5 * ref[:, 1]) * STATS["ndvi_std"], rtol=1e-5)
    m.network.load_state_dict(tiny_model(seed=5).network.state_dict())  # the cached inference form is rebuilt
    mean5, _ = m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu", precision="float32")
    np.testing.assert_allclose(mean5, tiny_model(seed=5).predict_series(vv, vh, ndvi, None, tch, g, device="cpu", precision="float32")[0], rtol=1e-6)
    assert not np.allclose(mean5, mean)
    # a kernel the row form does not take runs through the network itself
    torch.manual_seed(0)
    k5 = SequenceModel(SequenceNet(len(CHANNELS), 8, (1, 2), 5).eval(), dict(STATS), {"channels": 8, "dilations": [1, 2], "kernel": 5})
    assert not RowTCN.supports(k5.network)
    assert np.isfinite(k5.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")[0]).all()
    with pytest.raises(ModelError, match="kernel 3"):
        RowTCN(k5.network)


def gap_model(seed: int = 0) -> SequenceModel:
    torch.manual_seed(seed)
    net = SequenceNet(len(ALL_CHANNELS), 8, (1, 2, 4), 3)
    return SequenceModel(net.eval(), dict(STATS), {"type": "tcn", "channels": 8, "dilations": [1, 2, 4], "kernel": 3, "inputs": list(ALL_CHANNELS)})


def test_gap_channels_by_hand() -> None:
    days = np.array([0.0, 6.0, 12.0, 18.0, 24.0, 30.0, 230.0])
    v = np.array([[np.nan, 0.2, np.nan, np.nan, 0.8, np.nan, np.nan],  # one gap of 18 days between 0.2 and 0.8
                  [np.nan] * 7,  # nothing visible: neutral
                  [1.0, np.nan, np.nan, np.nan, np.nan, np.nan, -1.0]])  # a 230-day gap: the distances are capped
    g = gap_channels(v, days)
    assert g.shape == (3, 3, 7) and g.dtype == np.float32
    np.testing.assert_allclose(g[0, 0], [0.2, 0.2, 0.4, 0.6, 0.8, 0.8, 0.8], rtol=1e-6)
    np.testing.assert_allclose(g[0, 1], [GAP_MAX, 0, 6 / 60, 12 / 60, 0, 6 / 60, min(206 / 60, GAP_MAX)], rtol=1e-6)
    np.testing.assert_allclose(g[0, 2], [6 / 60, 0, 12 / 60, 6 / 60, 0, GAP_MAX, GAP_MAX], rtol=1e-6)
    np.testing.assert_array_equal(g[1], [[0] * 7, [GAP_MAX] * 7, [GAP_MAX] * 7])
    np.testing.assert_allclose(g[2, 0], 1.0 - 2.0 * days / 230.0, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(g[2, 1], [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0], rtol=1e-6)  # 0 on the visible dates
    np.testing.assert_allclose(g[2, 2], [0, GAP_MAX, GAP_MAX, GAP_MAX, GAP_MAX, GAP_MAX, 0], rtol=1e-6)


def test_sequence_inputs_gap_channels_and_channel_choice() -> None:
    vv, vh, ndvi, tch, g = series(3, 30, 2)
    days = np.arange(30) * 6.0
    x = sequence_inputs(vv, vh, ndvi, None, tch, g, STATS, inputs=ALL_CHANNELS, days=days)
    assert x.shape == (3, 16, 30)
    np.testing.assert_array_equal(x[:, :13], sequence_inputs(vv, vh, ndvi, None, tch, g, STATS))  # the base channels are unchanged
    np.testing.assert_allclose(x[:, 13:], gap_channels((ndvi - STATS["ndvi_mean"]) / STATS["ndvi_std"], days), rtol=1e-6)
    pick = ("ndvi_interp", "vv_g", "s1_valid")
    np.testing.assert_array_equal(sequence_inputs(vv, vh, ndvi, None, tch, g, STATS, inputs=pick, days=days),
                                  x[:, [ALL_CHANNELS.index(n) for n in pick]])
    with pytest.raises(ModelError, match="gap channels need the days"):
        sequence_inputs(vv, vh, ndvi, None, tch, g, STATS, inputs=ALL_CHANNELS)
    with pytest.raises(ModelError, match="distinct names"):
        sequence_inputs(vv, vh, ndvi, None, tch, g, STATS, inputs=("ndvi", "cloud"), days=days)
    assert input_channels({"channels": 8}) == CHANNELS  # models saved before the gap channels
    assert input_channels({"inputs": list(GAP_CHANNELS)}) == GAP_CHANNELS


def test_gap_model_predicts_round_trips_and_needs_days(tmp_path: Path) -> None:
    m = gap_model()
    vv, vh, ndvi, tch, g = series(4, 40, 3)
    days = np.arange(40) * 6.0
    mean, std = m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu", precision="float32", days=days)
    r = m.radius
    x = sequence_inputs(vv, vh, ndvi, None, tch, g, STATS, inputs=ALL_CHANNELS, days=days)
    with torch.no_grad():
        out = m.network(torch.nn.functional.pad(torch.from_numpy(x), (r, r)))[:, :, r:-r].numpy()
    np.testing.assert_allclose(mean, np.clip(out[:, 0] * 0.2 + 0.5, -1, 1), atol=1e-5)
    np.testing.assert_allclose(std, np.exp(0.5 * out[:, 1]) * 0.2, rtol=1e-4)
    s1, _ = m.predict_series(vv, vh, ndvi, None, tch, g, s1_only=True, device="cpu", days=days)
    s1b, _ = m.predict_series(vv, vh, np.full_like(ndvi, np.nan), None, tch, g, device="cpu", days=days)
    np.testing.assert_array_equal(s1, s1b)  # S1-only: no NDVI and neutral gap channels
    back = fdl.load_model(m.save(tmp_path / "gap"))
    assert back.inputs == ALL_CHANNELS
    np.testing.assert_array_equal(back.predict_series(vv, vh, ndvi, None, tch, g, device="cpu", days=days)[0],
                                  m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu", days=days)[0])
    with pytest.raises(ModelError, match="gap channels need the days"):
        m.predict_series(vv, vh, ndvi, None, tch, g, device="cpu")
    meta = json.loads((tmp_path / "gap.json").read_text())
    assert meta["architecture"]["inputs"] == list(ALL_CHANNELS)


def test_config_names_are_the_models_channels() -> None:
    from fusets_dl.errors import ConfigError
    from fusets_dl.training.config import SEQ_INPUT_NAMES

    assert SEQ_INPUT_NAMES == ALL_CHANNELS
    cfg = fdl.TrainConfig(model="sequence", seq_inputs=["vv_g", "ndvi"])
    assert cfg.seq_inputs == ("vv_g", "ndvi") and fdl.TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="seq_inputs"):
        fdl.TrainConfig(model="sequence", seq_inputs=("vv_g", "cloud"))


def test_dropout_trains_only_and_keeps_the_weights() -> None:
    torch.manual_seed(0)
    a = SequenceNet(len(ALL_CHANNELS), 8, (1, 2), 3, dropout=0.5)
    b = SequenceNet(len(ALL_CHANNELS), 8, (1, 2), 3)
    assert a.state_dict().keys() == b.state_dict().keys()  # no weights: a model saved with dropout loads into build_sequence_net
    b.load_state_dict(a.state_dict())
    x = torch.randn(3, len(ALL_CHANNELS), 30)
    torch.testing.assert_close(a.eval()(x), b.eval()(x))
    assert not torch.equal(a.train()(x), a.train()(x))  # random while training
    xp, r = torch.nn.functional.pad(x, (a.radius, a.radius)), a.radius
    with torch.no_grad():
        torch.testing.assert_close(RowTCN(a.eval())(xp), b(xp)[:, :, r:-r], rtol=1e-5, atol=1e-5)


def test_a_model_saved_before_the_gap_channels_predicts_as_before() -> None:
    """tests/models/data/sequence_before_gap_channels.*: ``tiny_model(3)`` with a calibration, saved and run by the code before the gap channels."""
    data = Path(__file__).parent / "data"
    m = fdl.load_model(data / "sequence_before_gap_channels.json")
    assert m.inputs == CHANNELS and "inputs" not in m.architecture and m.network.inp.in_channels == 13
    ref = np.load(data / "sequence_before_gap_channels_pred.npz", allow_pickle=False)
    vv, vh, ndvi, tch, g = series(7, 50, 1)
    for s1 in (False, True):  # float32 (bit-identical on the machine that wrote the reference; other CPUs may round differently)
        mu, sd = m.predict_series(vv, vh, ndvi, None, tch, g, s1_only=s1, device="cpu", precision="float32")  # no days needed
        np.testing.assert_allclose(mu, ref[f"{s1}_float32_mu"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sd, ref[f"{s1}_float32_sd"], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("edit", ["stats_string", "stats_none", "spec_string", "info_list"])
def test_hand_edited_sequence_sidecar_values_are_model_errors(edit: str) -> None:
    """Before: a ValueError or TypeError from float() or dict() instead of a ModelError naming the field."""
    m = tiny_model()
    meta = m.to_json_dict(m.sha256)
    if edit.startswith("stats"):
        meta["stats"] = {**STATS, "vv_mean": "abc" if edit == "stats_string" else None}
        match = "stats: expected finite numbers"
    elif edit == "spec_string":
        meta["spec"], match = "abc", "spec: expected a mapping, found str"
    else:
        meta["info"], match = [1], "info: expected a mapping, found list"
    with pytest.raises(ModelError, match=match):
        sequence_from_parts(meta, m.state_bytes())


def test_sequence_model_save_and_load_expand_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    m = tiny_model()
    assert m.save("~/seq") == tmp_path / "seq.json" and not (tmp_path / "~").exists()
    assert fdl.load_model("~/seq").sha256 == m.sha256


def test_predict_series_refuses_a_device_torch_cannot_use() -> None:
    vv, vh, ndvi, tch, g = series()
    with pytest.raises(ModelError, match="device: expected 'auto', 'cpu'"):
        tiny_model().predict_series(vv, vh, ndvi, None, tch, g, device="meta")
