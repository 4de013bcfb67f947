"""``python -m benchmarks.sequence_cpu [--model PATH] [--repeats 3]``: CPU seconds of sequence-model inference, old against new.

On patch A (``../shared/data``, 32 x 32 pixels x 159 dates) with a sequence
model (``--model``, or one trained here for 6 epochs), torch on one thread,
CPU seconds (``time.process_time``, best of ``--repeats``) of:

* the network alone on the padded inputs: ``torch.conv1d`` (the float32
  ``SequenceNet``, the path before the ``RowTCN``), ``RowTCN`` float32, ``RowTCN`` bfloat16;
* ``SequenceModel.predict_series`` end to end (inputs, network, std) as
  before (``conv1d`` network, per-pixel medians by ``np.nanmedian``) and now
  (``RowTCN`` float32 / bfloat16, medians by one sort);

all in the same process, with the NDVI RMSE and largest difference of each
against the ``conv1d`` float32 result. CPU seconds, not wall time: the machine
may be shared, and ratios are what to read.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from typing import Any
from unittest import mock

import numpy as np
import torch

import fusets_dl as fdl
from fusets_dl.inference.sequence import series_time_inputs
from fusets_dl.models.sequence import RowTCN, sequence_inputs
from fusets_dl.models.sequence_model import SequenceModel

from .sequence import patch_a


class _Conv1dModel(SequenceModel):
    """The model through its ``torch.conv1d`` network in float32, batches of 2,048 series (the old CPU path)."""

    def _runner(self, dev: torch.device, dtype: torch.dtype, t: int) -> tuple[Any, int]:
        r = self.radius
        return (lambda xt: self.network(xt)[:, :, r : xt.shape[2] - r]), 2048


def _cpu(fn: Any, repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a saved sequence model (default: train one on patch A, 6 epochs)")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cube = patch_a()
    model = fdl.load_model(args.model) if args.model else fdl.train(
        cube, config=fdl.TrainConfig(model="sequence", max_epochs=6, seq_windows_per_epoch=1024, seq_window=64))
    torch.set_num_threads(1)
    tchan, groups, _ = series_time_inputs(cube)
    flat = {n: np.asarray(cube[n].transpose("time", "y", "x").values, np.float32).reshape(cube.sizes["time"], -1).T.copy() for n in ("VV", "VH", "NDVI")}
    p_, t = flat["VV"].shape
    n = p_ * t
    r = model.radius
    sd = model.stats["ndvi_std"]
    x = sequence_inputs(flat["VV"], flat["VH"], flat["NDVI"], None, tchan, groups, model.stats)
    xt = torch.nn.functional.pad(torch.from_numpy(x), (r, r))
    print(f"patch A: {p_} pixels x {t} dates = {n:,} pixel-timesteps; radius {r}; torch {torch.__version__}, 1 thread; "
          f"CPU seconds, best of {args.repeats}\n")
    print("| what | CPU s | M pixel-timesteps per CPU s | x conv1d | NDVI RMSE vs conv1d | max abs diff |\n|---|---|---|---|---|---|")
    rows = max(1, 12_288 // xt.shape[2])
    with torch.inference_mode():
        net = model.network.eval()
        ref_t, ref = _cpu(lambda: torch.cat([net(xt[i : i + 2048]) for i in range(0, p_, 2048)])[:, :, r : r + t], args.repeats)
        nets = [("network: torch.conv1d float32", None)]
        nets += [(f"network: RowTCN {name}", RowTCN(net, dt)) for name, dt in (("float32", torch.float32), ("bfloat16", torch.bfloat16))
                 if RowTCN.supports(net, bf16=dt == torch.bfloat16)]
        for label, fast in nets:
            if fast is None:
                sec, out = ref_t, ref
            else:
                sec, out = _cpu(lambda f=fast: torch.cat([f(xt[i : i + rows]) for i in range(0, p_, rows)]), args.repeats)
            err = (out[:, 0] - ref[:, 0]).float() * sd
            print(f"| {label} | {sec:.3f} | {n / sec / 1e6:.2f} | {ref_t / sec:.2f} | {float(err.pow(2).mean().sqrt()):.1e} | {float(err.abs().max()):.1e} |")
    old = _Conv1dModel(**{f.name: getattr(model, f.name) for f in dataclasses.fields(model)})
    args_ = (flat["VV"], flat["VH"], flat["NDVI"], None, tchan, groups)
    with mock.patch("fusets_dl.models.sequence._row_nanmedian", lambda a: np.nanmedian(a, axis=1, keepdims=True)):  # the inputs as before
        base_t, (base, base_sd) = _cpu(lambda: old.predict_series(*args_, device="cpu"), args.repeats)
    for label, m, prec in (("predict_series before: conv1d float32, np.nanmedian", old, "float32"), ("predict_series: RowTCN float32", model, "float32"),
                           ("predict_series: RowTCN, precision auto", model, "auto")):
        if m is old:
            sec, (mu, sdv) = base_t, (base, base_sd)
        else:
            sec, (mu, sdv) = _cpu(lambda m=m, prec=prec: m.predict_series(*args_, device="cpu", precision=prec), args.repeats)
        ok = np.isfinite(base)
        err = mu[ok] - base[ok]
        print(f"| {label} | {sec:.3f} | {n / sec / 1e6:.2f} | {base_t / sec:.2f} | {np.sqrt(np.mean(err**2)):.1e} | {np.abs(err).max():.1e} |"
              + ("" if m is old else f" (std: max relative diff {np.nanmax(np.abs(sdv / base_sd - 1)):.1e})"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
