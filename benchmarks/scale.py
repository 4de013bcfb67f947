"""End-to-end run of a lazy synthetic regency-sized scene through the batch pipeline.

    .venv/bin/python -m benchmarks.scale [--factor 1] [--tile 256] [--max-samples N] [--epochs N]

Demak case: 671 x 893 pixels, 12-day S1 revisit over two years (62 periods of
S1 dates), S2 every 5 days. The scene is generated lazily chunk by chunk and
streamed tile by tile: align, stage the aligned cube once (a scratch Zarr
store), train on a capped sample with the library's default training
settings (``--max-samples`` / ``--epochs`` override them), predict,
reconstruct (freq 12D), phenology, Zarr writes. ``--factor 10`` multiplies
the area by ten. Prints wall time per stage and the peak resident memory of
the process.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import tempfile
import time
from pathlib import Path

import fusets_dl as fdl
from fusets_dl.pipeline import RegionConfig, RunConfig, run_region

from .machine import describe, peak_rss_gib


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--factor", type=float, default=1.0, help="area multiplier of the Demak scene")
    p.add_argument("--tile", type=int, default=256)
    p.add_argument("--max-samples", type=int, default=None, help="training sample cap (default: TrainConfig's)")
    p.add_argument("--epochs", type=int, default=None, help="most training epochs (default: TrainConfig's, bounded by its max_sample_passes)")
    p.add_argument("--verbose", action="store_true", help="log each stage (training epochs, tiles) with a timestamp as it happens")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(relativeCreated)9.0f ms %(name)s: %(message)s" if args.verbose else logging.BASIC_FORMAT)
    if args.verbose:  # the stages' own lines, not Dask's
        logging.getLogger("distributed").setLevel(logging.WARNING)
    side = math.sqrt(args.factor)
    ny, nx = round(671 * side), round(893 * side)
    t0 = time.perf_counter()
    s1, s2, _ = fdl.synthetic.make_scene(ny, nx, "2021-01-01", "2022-12-31", seed=0, s1_revisit_days=12, chunks={"y": args.tile, "x": args.tile})
    cube = fdl.align(fdl.open_s1(s1, units="dB"), fdl.open_s2(s2), outlier_filter=True)
    cube = cube.chunk({"time": -1, "y": args.tile, "x": args.tile})
    root = Path(tempfile.mkdtemp(prefix="fdl-scale-"))
    try:
        train = {k: v for k, v in (("max_samples", args.max_samples), ("max_epochs", args.epochs)) if v is not None}
        cfg = RunConfig(output_root=root, regions=[], model={"mode": "train", "train": train}, dask={})
        rc = RegionConfig(name="demak", s1=[], s2=[], tile_size=args.tile, chunk=args.tile, freq="12D", phenology={"max_seasons": 6})
        row = run_region(cfg, rc, cube=cube)
        metrics = json.loads((root / "demak.metrics.json").read_text())
        wall = time.perf_counter() - t0
        pts = cube.sizes["time"] * ny * nx
        print("Machine: " + "; ".join(f"{k} {v}" for k, v in describe().items()))
        print(f"\nscene {ny} x {nx} x {cube.sizes['time']} S1 dates ({pts / 1e6:.1f} M pixel-timesteps), tiles of {args.tile}")
        print("| stage | seconds |")
        print("|---|---|")
        for k, v in metrics["timings_s"].items():
            print(f"| {k} | {v:.1f} |")
        print(f"| total wall | {wall:.1f} |")
        print(f"\nthroughput {pts / wall:,.0f} pixel-timesteps/s end to end; peak RSS {peak_rss_gib():.2f} GiB; "
              f"held-out R2 {row['test_r2']}; output shares {{observed {row['observed']}, predicted {row['predicted']}, missing {row['missing']}}}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
