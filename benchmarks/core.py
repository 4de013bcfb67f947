"""Benchmarks of the deep-learning core: features, training, prediction."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import dask
import numpy as np
import torch

import fusets_dl as fdl
from fusets_dl.models.fused import InferenceNet
from fusets_dl.models.fusion_model import FusionModel
from fusets_dl.models.mlp import MLP
from fusets_dl.models.scaler import Scaler
from fusets_dl.runtime import resolve_device

from .machine import peak_rss_gib


def _timed(fn: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _cube(ny: int, nx: int, seed: int = 0, chunk: int = 128, unpaired_views: bool = False) -> Any:
    s1, s2, _ = fdl.synthetic.make_scene(ny, nx, "2021-01-01", "2022-12-31", seed=seed, s1_revisit_days=12, chunks={"y": chunk, "x": chunk})
    cube = fdl.align(fdl.open_s1(s1, units="dB"), fdl.open_s2(s2), unpaired_views=unpaired_views)
    return cube.persist()


def _random_model(spec: fdl.FeatureSpec) -> FusionModel:
    n = len(spec.names)
    hidden = fdl.TrainConfig().hidden  # the default network
    net = MLP(n, hidden).eval()
    arch = {"type": "mlp", "n_in": n, "hidden": list(hidden), "dropout": 0.1, "batch_norm": True}
    return FusionModel(net, spec, Scaler(np.zeros(n, np.float32), np.ones(n, np.float32), 0.5, 0.2), arch)


def _former_cpu_bf16(model: FusionModel, x: np.ndarray, batch_size: int = 16384) -> np.ndarray:
    """NDVI as predict_array computed it on CPU before issue 24: nn.Sequential in bf16, each batch over all torch threads."""
    net = InferenceNet(model.network.fused(), torch.bfloat16, model.scaler, model.spec.required).eval()
    out = np.empty(x.shape[0], np.float32)
    with torch.inference_mode():
        for i in range(0, x.shape[0], batch_size):
            out[i : i + batch_size] = net.predict(torch.from_numpy(x[i : i + batch_size])).numpy()
    return out


class _Rows(list):
    """The table's rows; each appended row is also handed to ``on_row`` (printing it as it comes)."""

    def __init__(self, on_row: Callable[[dict[str, Any]], None] | None) -> None:
        super().__init__()
        self._on_row = on_row

    def append(self, row: dict[str, Any]) -> None:
        super().append(row)
        if self._on_row is not None:
            self._on_row(row)


def _ensemble_of(model: Any, k: int) -> Any:
    """A model like ``model`` whose network is an ensemble of ``k`` (freshly initialised) networks of its architecture."""
    from fusets_dl.models.fusion_model import FusionModel
    from fusets_dl.models.registry import build_network

    arch = {**model.architecture, "members": k}
    return FusionModel(network=build_network(arch).eval(), spec=model.spec, scaler=model.scaler, architecture=arch)


def run(quick: bool = False, device: str = "auto", on_row: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run the core benchmarks; one row per measurement, each also passed to ``on_row`` as it is measured."""
    rows: list[dict[str, Any]] = _Rows(on_row)
    size = 256 if quick else 512
    cube = _cube(size, size)
    nt = cube.sizes["time"]
    pts = nt * size * size
    spec = fdl.FeatureSpec()

    sec, _ = _timed(lambda: fdl.compute_features(cube, spec).data.sum().compute(), repeat=2)
    rows.append({"stage": "features (dask, threads)", "size": f"{nt} x {size} x {size}", "seconds": sec, "throughput": pts / sec, "unit": "pixel-timesteps/s", "peak_rss_gib": peak_rss_gib()})

    cfg = fdl.TrainConfig(max_epochs=3 if quick else 5, patience=100, max_samples=200_000 if quick else 500_000, device=device)
    sec, model = _timed(lambda: fdl.train(cube, spec, cfg))
    n_train = model.info["funnel"]["train"]
    epoch_s = sum(h["seconds"] for h in model.history)
    rows.append({"stage": "training (epochs, default batch)", "size": f"{n_train} samples x {len(model.history)} epochs", "seconds": epoch_s, "throughput": n_train * len(model.history) / epoch_s, "unit": "samples/s", "peak_rss_gib": peak_rss_gib()})
    # large batches: what a GPU needs to be kept busy (bf16 autocast on CUDA), and their effect on a CPU
    big = fdl.TrainConfig(max_epochs=cfg.max_epochs, patience=100, max_samples=cfg.max_samples, device=device, batch_size=16384, learning_rate=8e-3)
    _, big_model = _timed(lambda: fdl.train(cube, spec, big))
    big_s = sum(h["seconds"] for h in big_model.history)
    rows.append({"stage": "training (batch 16384)", "size": f"{n_train} samples x {len(big_model.history)} epochs", "seconds": big_s,
                 "throughput": n_train * len(big_model.history) / big_s, "unit": "samples/s", "peak_rss_gib": peak_rss_gib()})
    rows.append({"stage": "train() end to end", "size": f"{nt} x {size} x {size} cube", "seconds": sec, "throughput": pts / sec, "unit": "pixel-timesteps/s", "peak_rss_gib": peak_rss_gib()})

    x = np.random.default_rng(0).normal(size=(1_000_000 if quick else 4_000_000, len(spec.names))).astype(np.float32)
    for precision in ("float32", "auto"):
        model.predict_array(x[:70000], device=device, precision=precision)
        sec, _ = _timed(lambda p=precision: model.predict_array(x, device=device, precision=p), repeat=2)
        rows.append({"stage": f"network only ({precision})", "size": f"{x.shape[0]} samples", "seconds": sec, "throughput": x.shape[0] / sec, "unit": "pixel-timesteps/s", "peak_rss_gib": peak_rss_gib()})
    if resolve_device(device).type == "cpu":
        # the CPU path before issue 24 in the same run: layer-by-layer bf16 network, batches split over all torch threads
        sec, _ = _timed(lambda: _former_cpu_bf16(model, x), repeat=2)
        rows.append({"stage": "network only (bf16, former)", "size": f"{x.shape[0]} samples", "seconds": sec, "throughput": x.shape[0] / sec, "unit": "pixel-timesteps/s", "peak_rss_gib": peak_rss_gib()})

    for precision in ("float32", "auto"):
        pred = fdl.predict_ndvi(cube, model, device=device, precision=precision)
        sec, _ = _timed(lambda p=pred: p.data.sum().compute(), repeat=2)
        rows.append({"stage": f"predict_ndvi ({precision})", "size": f"{nt} x {size} x {size}", "seconds": sec, "throughput": pts / sec, "unit": "pixel-timesteps/s", "peak_rss_gib": peak_rss_gib()})
    # the former CPU batch (65,536 rows) in the same run: the ratio to the row above is the batch-size effect
    pred = fdl.predict_ndvi(cube, model, device=device, precision="auto", batch_size=65536)
    sec, _ = _timed(lambda p=pred: p.data.sum().compute(), repeat=2)
    rows.append({"stage": "predict_ndvi (auto, b 65536)", "size": f"{nt} x {size} x {size}", "seconds": sec, "throughput": pts / sec, "unit": "pixel-timesteps/s", "peak_rss_gib": peak_rss_gib()})
    # an ensemble of 3 networks (TrainConfig(ensemble=3)): the members' weights do not change the cost, so untrained ones do
    ens = _ensemble_of(model, 3)
    sec, _ = _timed(lambda: ens.predict_array(x, device=device, precision="auto"), repeat=2)
    rows.append({"stage": "network only (auto, ensemble 3)", "size": f"{x.shape[0]} samples", "seconds": sec, "throughput": x.shape[0] / sec, "unit": "pixel-timesteps/s", "peak_rss_gib": peak_rss_gib()})
    pred = fdl.predict_ndvi(cube, ens, device=device, precision="auto")
    sec, _ = _timed(lambda p=pred: p.data.sum().compute(), repeat=2)
    rows.append({"stage": "predict_ndvi (auto, ensemble 3)", "size": f"{nt} x {size} x {size}", "seconds": sec, "throughput": pts / sec, "unit": "pixel-timesteps/s", "peak_rss_gib": peak_rss_gib()})
    # features alone over the same chunks: predict_ndvi minus this is the network's share
    rows.append({"stage": "  of which features", "size": rows[0]["size"], "seconds": rows[0]["seconds"], "throughput": rows[0]["throughput"], "unit": "pixel-timesteps/s", "peak_rss_gib": rows[0]["peak_rss_gib"]})

    pred = fdl.predict_ndvi(cube, model).persist()
    for label, kw in (("reconstruct (cube dates)", {}), ("reconstruct (freq=5D)", {"freq": "5D"})):
        rec = fdl.reconstruct(cube, model, predicted=pred, **kw)
        sec, _ = _timed(lambda r=rec: r["NDVI"].data.sum().compute(), repeat=2)
        rows.append({"stage": label, "size": f"{nt} x {size} x {size}", "seconds": sec, "throughput": pts / sec, "unit": "pixel-timesteps/s", "peak_rss_gib": peak_rss_gib()})

    # the same scene keeping the clear S2 views no S1 date took (12-day S1, 5-day S2): a longer input axis for the kernel
    views = _cube(size, size, unpaired_views=True)
    rec = fdl.reconstruct(views, model, predicted=pred, freq="5D")
    sec, _ = _timed(lambda r=rec: r["NDVI"].data.sum().compute(), repeat=2)
    rows.append({"stage": "reconstruct (freq=5D, unpaired views)", "size": f"{nt} x {size} x {size} + {views.sizes['time_s2']} S2 dates",
                 "seconds": sec, "throughput": pts / sec, "unit": "pixel-timesteps/s", "peak_rss_gib": peak_rss_gib()})

    # phenology on one year of 5-day NDVI (73 dates), as the target states it
    rec5 = fdl.reconstruct(cube, model, predicted=pred, freq="5D")["NDVI"].sel(time=slice("2021-01-01", "2021-12-31")).persist()
    ph = fdl.phenology(rec5, max_seasons=3)
    sec, _ = _timed(lambda: ph["sos"].data.compute(), repeat=2)
    npx = size * size
    rows.append({"stage": "phenology (73 dates)", "size": f"{rec5.sizes['time']} x {size} x {size}", "seconds": sec, "throughput": npx / sec, "unit": "pixels/s", "peak_rss_gib": peak_rss_gib()})
    return rows


def main_threads() -> None:
    """Use the threaded scheduler (the default for arrays)."""
    dask.config.set(scheduler="threads")
