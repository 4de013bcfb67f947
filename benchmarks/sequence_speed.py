"""``python -m benchmarks.sequence_speed [--size 256] [--device cpu|cuda] [--epochs 5]``: sequence-model throughput.

On a synthetic two-year scene (``make_scene``, 12-day S1 revisit, 60 dates,
persisted in memory first), the whole-series model (``TrainConfig(model="sequence")``)
is trained for a fixed number of epochs (no early stop) and then used for
prediction (``predict_sequence``) and reconstruction (``reconstruct_sequence``)
over the whole scene. The per-date MLP's ``predict_ndvi`` runs on the same cube
in the same process as the reference. Prints one Markdown table: seconds and
throughput (pixel-timesteps per second; training: windows and scored
timesteps per second) with the machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from typing import Any

import fusets_dl as fdl
from fusets_dl.inference.sequence import predict_sequence
from fusets_dl.models.sequence import build_sequence_net
from fusets_dl.reconstruction.sequence import reconstruct_sequence

from .machine import describe, peak_rss_gib


def _cube(n: int, chunk: int) -> Any:
    s1, s2, _ = fdl.synthetic.make_scene(n, n, "2021-01-01", "2022-12-31", seed=0, s1_revisit_days=12, chunks={"y": chunk, "x": chunk})
    return fdl.align(fdl.open_s1(s1, units="dB"), fdl.open_s2(s2)).persist()


def _timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256, help="scene side in pixels")
    p.add_argument("--chunk", type=int, default=128)
    p.add_argument("--device", default="cpu")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--windows", type=int, default=4096, help="training windows per epoch")
    p.add_argument("--batch", type=int, default=64, help="training windows per batch")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cube = _cube(args.size, args.chunk)
    n = cube.sizes["y"] * cube.sizes["x"] * cube.sizes["time"]
    cfg = fdl.TrainConfig(model="sequence", max_epochs=args.epochs, patience=args.epochs + 1, seq_windows_per_epoch=args.windows,
                          seq_batch_size=args.batch, device=args.device)
    t_train, seq = _timed(lambda: fdl.train(cube, config=cfg))
    windows = args.epochs * args.windows
    scored = windows * seq.config["seq_window"]
    t_pred, _ = _timed(lambda: predict_sequence(cube, seq, device=args.device).compute())
    t_rec, _ = _timed(lambda: reconstruct_sequence(cube, seq, device=args.device).compute())
    # the same network size on the 13 base channels (no gap channels, as before): weights do not change the time
    arch = {k: v for k, v in seq.architecture.items() if k != "inputs"}
    base = dataclasses.replace(seq, network=build_sequence_net(arch).eval(), architecture=arch)
    t_base, _ = _timed(lambda: reconstruct_sequence(cube, base, device=args.device).compute())
    t_mlp_train, mlp = _timed(lambda: fdl.train(cube, config=fdl.TrainConfig(max_epochs=3, device=args.device)))
    t_mlp, _ = _timed(lambda: fdl.predict_ndvi(cube, mlp, device=args.device).compute())
    print("; ".join(f"{k} {v}" for k, v in describe().items()) + f"; peak RSS {peak_rss_gib():.2f} GiB", flush=True)
    print(f"\nscene {args.size} x {args.size} x {cube.sizes['time']} = {n / 1e6:.2f} M pixel-timesteps, device {args.device}\n")
    print("| stage | seconds | throughput | unit |\n|---|---|---|---|")
    print(f"| sequence training ({args.epochs} epochs x {args.windows} windows, batch {args.batch}) | {t_train:.1f} | "
          f"{windows / t_train:,.0f} windows/s = {scored / t_train:,.0f} | scored timesteps/s (incl. sampling, validation, test metrics) |")
    print(f"| sequence predict (mean + std) | {t_pred:.2f} | {n / t_pred:,.0f} | pixel-timesteps/s |")
    print(f"| sequence reconstruct (cube dates) | {t_rec:.2f} | {n / t_rec:,.0f} | pixel-timesteps/s |")
    print(f"| sequence reconstruct, 13 base input channels (before the gap channels) | {t_base:.2f} | {n / t_base:,.0f} | pixel-timesteps/s |")
    print(f"| MLP train (3 epochs, end to end) | {t_mlp_train:.1f} | {n / t_mlp_train:,.0f} | pixel-timesteps/s |")
    print(f"| MLP predict_ndvi | {t_mlp:.2f} | {n / t_mlp:,.0f} | pixel-timesteps/s |")
    print(f"\nheld-out (test blocks) sequence metrics: {seq.metrics.get('test_gaps', seq.metrics)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
