"""Training batch size (issue 24): held-out accuracy and epoch time of batch sizes on the Demak-sized scene.

    PYTHONPATH=. python evaluation/batchsize.py [--device cuda] [--seeds 0 1] [--configs 1024:2e-3 4096:4e-3 8192:5.7e-3]

The scene is the lazy synthetic Demak case of ``benchmarks.scale`` (671 x 893
pixels, 12-day S1 revisit over two years), aligned with the outlier filter and
held in memory. Every row trains the default model (``fdl.train`` with the
default :class:`~fusets_dl.FeatureSpec` and :class:`~fusets_dl.TrainConfig`)
changing only ``batch_size`` and ``learning_rate``; the held-out test blocks
(the default spatial split) are the same for every row. Prints one Markdown
row per run: R2, RMSE, MAE, bias on the test blocks, epochs, and the seconds
of the epochs.
"""

from __future__ import annotations

import argparse
import time

import fusets_dl as fdl


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--configs", nargs="+", default=["1024:2e-3", "4096:4e-3", "8192:5.7e-3"], help="batch:learning_rate")
    args = p.parse_args()
    s1, s2, _ = fdl.synthetic.make_scene(671, 893, "2021-01-01", "2022-12-31", seed=0, s1_revisit_days=12, chunks={"y": 256, "x": 256})
    cube = fdl.align(fdl.open_s1(s1, units="dB"), fdl.open_s2(s2), outlier_filter=True).chunk({"time": -1, "y": 256, "x": 256}).persist()
    print("| seed | batch | lr | R2 | RMSE | MAE | bias | epochs | epoch s | train() s |\n|---|---|---|---|---|---|---|---|---|---|", flush=True)
    for seed in args.seeds:
        for cfg in args.configs:
            b, lr = cfg.split(":")
            t0 = time.perf_counter()
            m = fdl.train(cube, config=fdl.TrainConfig(batch_size=int(b), learning_rate=float(lr), seed=seed, device=args.device))
            wall = time.perf_counter() - t0
            t = m.metrics["test"]
            ep = sum(h["seconds"] for h in m.history)
            print(f"| {seed} | {b} | {lr} | {t['r2']:.4f} | {t['rmse']:.4f} | {t['mae']:.4f} | {t['bias']:+.4f} | {len(m.history)} | {ep:.1f} | {wall:.1f} |", flush=True)


if __name__ == "__main__":
    main()
