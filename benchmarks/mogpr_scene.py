"""``python -m benchmarks.mogpr_scene [--size demak|small] [--share none|region]``: MOGPR over a whole scene, streamed.

The public path a user writes: ``make_scene`` (lazy, 256 x 256 chunks) ->
``align(freq="12D", outlier_filter=True)`` -> ``mogpr_inputs`` (NDVI and the
RVI of each orbit group) -> ``fdl.mogpr`` (the default state-space engine) ->
``to_zarr``, which computes the fit chunk by chunk. Prints the wall time,
pixels per second, the peak RSS of the process, the projection to a
Demak-sized scene (671 x 893 pixels, 60 dates) when a smaller size ran, and
the RMSE of the reconstructed NDVI against the scene's noise-free truth on the
dates where NDVI was not observed (a 128 x 128 window).

Sizes: ``demak`` (671 x 893), ``small`` (192 x 192, about 1 minute here).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from .machine import describe, peak_rss_gib

SIZES = {"demak": (671, 893), "small": (192, 192)}
DEMAK_PIXELS = 671 * 893


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.mogpr_scene", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--share", choices=["none", "region"], default="none")
    p.add_argument("--lbfgs-iter", type=int, default=None, help="per-pixel L-BFGS iterations (default: GPConfig's)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import xarray as xr

    import fusets_dl as fdl

    ny, nx = SIZES[args.size]
    load0 = os.getloadavg()
    s1, s2, truth = fdl.synthetic.make_scene(ny, nx, "2021-01-01", "2022-12-31", seed=0, s1_revisit_days=12, chunks={"y": 256, "x": 256})
    cube = fdl.align(fdl.open_s1(s1, units="dB"), fdl.open_s2(s2), freq="12D", outlier_filter=True)
    inp = fdl.baselines.mogpr_inputs(cube)
    kw = {"share": args.share} if args.share != "none" else {}
    if args.lbfgs_iter is not None:
        kw["lbfgs_iter"] = args.lbfgs_iter
    out = fdl.mogpr(inp, target="NDVI", **kw)
    root = Path(tempfile.mkdtemp(prefix="fdl-mogpr-"))
    try:
        t0 = time.perf_counter()
        fdl.to_zarr(out, root / "mogpr.zarr", overwrite=True)
        wall = time.perf_counter() - t0
        got = xr.open_zarr(root / "mogpr.zarr")
        win = {"y": slice(0, 128), "x": slice(0, 128)}
        pred = got["NDVI"].isel(win).load()
        obs = inp["NDVI"].isel(win).load()
        true = truth["NDVI"].isel(win).load()
        true = true.assign_coords(time=true["time"].values.astype("datetime64[ns]"))  # interp needs one time unit on both sides
        true = true.interp(time=pred["time"].values.astype("datetime64[ns]"))
        gap = np.isnan(obs.values) & np.isfinite(pred.values) & np.isfinite(true.values)
        rmse = float(np.sqrt(np.mean((pred.values[gap] - true.values[gap]) ** 2)))
        filled = float(np.isfinite(got["NDVI"].values).mean())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    npx = ny * nx
    print("Machine: " + "; ".join(f"{k} {v}" for k, v in describe().items()))
    print(f"load average at start {load0[0]:.1f}, at end {os.getloadavg()[0]:.1f}\n")
    print("| scene | share | dates | outputs | chunks | wall s | pixels / s | peak RSS GiB | Demak projection, min | NDVI RMSE vs truth on gaps | finite |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    chunks = {d: c[0] for d, c in inp["NDVI"].chunksizes.items()}
    print(f"| {ny} x {nx} | {args.share} | {inp.sizes['time']} | {len(inp.data_vars)} | {chunks} | {wall:.1f} | {npx / wall:.1f} | "
          f"{peak_rss_gib():.2f} | {DEMAK_PIXELS / (npx / wall) / 60:.1f} | {rmse:.4f} | {filled:.3f} |")


if __name__ == "__main__":
    main()
