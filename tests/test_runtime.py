"""The batched inference of fusets_dl.runtime: the staged (reusable host buffer) path, row selection per batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fusets_dl as fdl
from fusets_dl import runtime
from fusets_dl.models.fused import inference_network
from fusets_dl.models.fusion_model import FusionModel
from fusets_dl.models.mlp import MLP
from fusets_dl.models.scaler import Scaler


def _model() -> FusionModel:
    spec = fdl.FeatureSpec(groups=("sar", "optical", "time"), lags=1, windows=(15,))
    n = len(spec.names)
    torch.manual_seed(0)
    net = MLP(n, hidden=(32, 16)).eval()
    arch = {"type": "mlp", "n_in": n, "hidden": [32, 16], "dropout": 0.1, "batch_norm": True}
    scaler = Scaler(np.linspace(-3, 3, n).astype(np.float32), np.linspace(0.5, 4, n).astype(np.float32), 0.4, 0.2)
    return FusionModel(net, spec, scaler, arch)


def _features(m: FusionModel, n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, len(m.spec.names))).astype(np.float32) * 3
    x[::5, m.spec.names.index("NDVI_prev")] = np.nan  # optional: its mean
    x[::7, int(np.flatnonzero(m.spec.required)[0])] = np.nan  # required: the row is NaN
    x[3:4, 0] = np.inf  # (no row 3 in a short chunk)
    return x


def _gathered(m: FusionModel, x: np.ndarray) -> np.ndarray:
    """The former host-side path: isfinite over the chunk, gather the usable rows, fill optional ones with the mean."""
    ok = np.isfinite(x[:, m.spec.required]).all(axis=1)
    rows = x[ok].copy()
    opt = np.flatnonzero(~m.spec.required)
    rows[:, opt] = np.where(np.isfinite(rows[:, opt]), rows[:, opt], m.scaler.feature_mean[opt])
    net = inference_network(m, torch.device("cpu"), torch.float32, raw=True)
    out = np.full(x.shape[0], np.nan, np.float32)
    with torch.inference_mode():
        out[ok] = np.clip(net(torch.from_numpy(rows)).reshape(-1).numpy() * m.scaler.target_std + m.scaler.target_mean, -1, 1)
    return out


def test_rows_masked_on_the_device_equal_the_gathered_rows():
    m = _model()
    x = _features(m, 1000, 0)
    got = m.predict_array(x, precision="float32", batch_size=128)
    want = _gathered(m, x)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.isnan(got[3]) and np.isnan(got[7]) and np.isfinite(got[5])
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-6)
    assert np.isnan(x[0, m.spec.names.index("NDVI_prev")])  # the caller's array is not filled in


def test_selecting_rows_in_a_batch_equals_masking_them():
    m = _model()
    x = _features(m, 600, 1)
    x[100:550, 0] = np.nan  # most rows unusable: the CPU path gathers them on the device
    net = inference_network(m, torch.device("cpu"), torch.float32, raw=True)
    xt = torch.from_numpy(x)
    with torch.inference_mode():
        sel, mask = net.predict(xt, select=True).numpy(), net.predict(xt, select=False).numpy()
    np.testing.assert_array_equal(np.isnan(sel), np.isnan(mask))
    assert np.isnan(sel).sum() == 450 + np.isnan(_gathered(m, np.delete(x, np.s_[100:550], axis=0))).sum()
    np.testing.assert_allclose(sel, mask, rtol=0, atol=2e-6)
    np.testing.assert_allclose(m.predict_array(x, precision="float32"), _gathered(m, x), rtol=0, atol=2e-6)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_staged_buffers_equal_the_direct_path_and_are_reused_between_chunks(precision):
    m = _model()
    dev = torch.device("cpu")
    net = inference_network(m, dev, torch.float32 if precision == "float32" else torch.bfloat16, raw=True)
    key = (str(dev), 96, len(m.spec.names))
    runtime._HOST_POOL.pop(key, None)
    first = None
    for seed, n in ((0, 500), (1, 95), (2, 0), (3, 193)):  # chunks of several batches, under one, empty, two and a bit
        x = _features(m, n, seed)
        staged = runtime.predict_rows(net, x, batch_size=96, device=dev, staged=True)
        direct = runtime.predict_rows(net, x, batch_size=96, device=dev, staged=False)
        np.testing.assert_array_equal(staged, direct)
        pool = runtime._HOST_POOL[key]
        assert len(pool) == 1  # one set, given back after each chunk
        first = first or pool[0]
        assert pool[0] is first  # and taken again by the next chunk, not allocated anew
    assert not first[0][0].is_pinned()  # page-locking only for CUDA


def test_bf16_predictions_stay_close_to_float32():
    m = _model()
    x = _features(m, 2000, 5)
    f32, bf16 = m.predict_array(x, precision="float32"), m.predict_array(x, precision="bfloat16")
    np.testing.assert_array_equal(np.isnan(f32), np.isnan(bf16))
    assert np.sqrt(np.nanmean((f32 - bf16) ** 2)) < 1e-2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (pinned staged buffers)")
@pytest.mark.parametrize("precision, tol", [("float32", 1e-4), ("bfloat16", 0.02)])
def test_cuda_staged_pinned_buffers_match_cpu(precision, tol):
    m = _model()
    cpu = m.predict_array(_features(m, 5000, 6), device="cpu", precision="float32")
    for _ in range(2):  # the second chunk takes the first one's pinned buffers
        gpu = m.predict_array(_features(m, 5000, 6), device="cuda", precision=precision, batch_size=777)
        np.testing.assert_array_equal(np.isnan(gpu), np.isnan(cpu))
        np.testing.assert_allclose(gpu, cpu, atol=tol)
    assert runtime._HOST_POOL[("cuda", 777, len(m.spec.names))][0][0][0].is_pinned()


def test_cpu_pool_leaves_torch_threads_as_they_were_and_runs_one_thread_per_worker():
    import threading

    before = torch.get_num_threads()
    pool = runtime.cpu_pool(2)
    assert runtime.cpu_pool(2) is pool  # created once
    assert torch.get_num_threads() == before
    seen: list[int] = []
    t = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
    t.start()
    t.join()
    assert seen == [before]  # a new thread still gets the caller's count
    assert sorted(pool.map(lambda _: torch.get_num_threads(), range(8))) == [1] * 8


def test_pooled_batches_equal_batches_in_turn_and_raise_the_workers_errors():
    m = _model()
    x = _features(m, 5000, 8)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # batches go to the pool
        pooled = {p: m.predict_array(x, precision=p, batch_size=333) for p in ("float32", "bfloat16")}
        torch.set_num_threads(1)  # batches in turn, in this thread
        for p, got in pooled.items():
            np.testing.assert_array_equal(got, m.predict_array(x, precision=p, batch_size=333))

        class Failing(torch.nn.Module):
            def predict(self, xb: torch.Tensor) -> torch.Tensor:
                if xb.shape[0] < 100:
                    raise fdl.errors.ModelError("the last batch failed")
                return xb[:, 0]

        torch.set_num_threads(2)
        with pytest.raises(fdl.errors.ModelError, match="last batch failed"):
            runtime.predict_rows(Failing(), x[:1050], batch_size=100, device=torch.device("cpu"))
        # called from inside a pool worker (nested): runs inline instead of waiting on its own pool
        nested = runtime.cpu_pool(2).submit(runtime.predict_rows, Failing(), x[:1000], batch_size=100, device=torch.device("cpu")).result()
        np.testing.assert_array_equal(nested, x[:1000, 0])
    finally:
        torch.set_num_threads(old)


def _predict_in_child(queue) -> None:
    torch.set_num_threads(2)
    m = _model()
    queue.put(m.predict_array(_features(m, 2000, 9), precision="float32", batch_size=500))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_builds_its_own_pool():
    import multiprocessing

    m = _model()
    x = _features(m, 2000, 9)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        want = m.predict_array(x, precision="float32", batch_size=500)  # the parent's pool exists now
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=_predict_in_child, args=(queue,))
        child.start()
        got = queue.get(timeout=60)  # the parent's pool threads do not exist in the child: it must not wait on them
        child.join(timeout=30)
    finally:
        torch.set_num_threads(old)
    assert child.exitcode == 0
    np.testing.assert_array_equal(got, want)
