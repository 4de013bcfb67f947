"""``python -m benchmarks.suite [--quick] [--sizes sample demak demak10]``: every stage, three scene sizes, one table.

Sizes: ``sample`` (the bundled 64 x 64 scene, read from disk), ``demak``
(671 x 893 pixels, two years, S1 every 12 days: the regency of the field's
reference case) and ``demak10`` (ten times its area), both lazy synthetic
scenes generated chunk by chunk. ``--quick`` replaces the two large sizes by
a 192 x 192 scene (a few minutes in all).

Every measurement runs in a fresh subprocess, so its peak resident memory is
its own. The streaming stages are measured as chains (generate; + align; +
features; + prediction; + reconstruction; + phenology; + Zarr write), each
computed to a small sink without keeping the data, and a stage's time is its
chain's time minus the previous chain's: what adding the stage costs when
the scene streams through. Training is timed on its own (sample capped at one
million pixel-dates, 10 epochs), and MOGPR on 256 pixels of the scene (its
time for the whole scene is projected from that rate). The ``public`` stage
is the README user's path with the library's defaults, end to end
(:mod:`benchmarks.public`: open, align, ``train(cube)``, reconstruct,
phenology, ``to_zarr``); ``small`` runs it on a 192 x 192 scene.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .machine import describe

CHAIN = ("generate", "align", "features", "prediction", "reconstruction", "phenology", "zarr write")
SIZES = {"sample": None, "small": (192, 192), "demak": (671, 893), "demak10": (2122, 2824)}
TILE = 256


def _scene(size: str) -> Any:
    """(s1, s2) opened and lazily aligned pieces for a size."""
    import fusets_dl as fdl

    if size == "sample":
        from fusets_dl.sample import find_sample

        folder = find_sample()
        s1 = fdl.open_s1(folder / "s1.nc", chunks={"y": 64, "x": 64})
        s2 = fdl.open_s2(folder / "s2.nc", chunks={"y": 64, "x": 64})
        return s1, s2
    ny, nx = SIZES[size]
    s1, s2, _ = fdl.synthetic.make_scene(ny, nx, "2021-01-01", "2022-12-31", seed=0, s1_revisit_days=12, chunks={"y": TILE, "x": TILE})
    return fdl.open_s1(s1, units="dB"), fdl.open_s2(s2)


def _model() -> Any:
    """A default-spec network with random weights: inference speed does not depend on the weights."""
    import fusets_dl as fdl

    from .core import _random_model

    return _random_model(fdl.FeatureSpec())


def _one(size: str, stage: str) -> dict[str, Any]:
    """Run one measurement in this process; return seconds, units and sizes."""
    import dask

    import fusets_dl as fdl

    t0 = time.perf_counter()
    s1, s2 = _scene(size)
    info: dict[str, Any] = {}
    if stage == "generate":
        dask.compute(s1["VV"].sum(), s2["NDVI"].sum())
        info["units"] = s1.sizes["time"] * s1.sizes["y"] * s1.sizes["x"]
        return {"seconds": time.perf_counter() - t0, **info}
    cube = fdl.align(s1, s2, outlier_filter=True)
    cube = cube.chunk({"time": -1, "y": TILE, "x": TILE})
    pts = cube.sizes["time"] * cube.sizes["y"] * cube.sizes["x"]
    info["units"] = pts
    if stage in CHAIN:
        # every stage of the chain up to this one goes into ONE compute, so shared inputs are made once and
        # each chain is a superset of the previous one (features alone would not need the S2 generation)
        k = CHAIN.index(stage)
        sinks = [cube["VV"].data.sum(), cube["NDVI"].data.sum()]
        if k >= CHAIN.index("features"):
            sinks.append(fdl.compute_features(cube).data.sum())
        if k >= CHAIN.index("prediction"):
            model = _model()
            sinks.append(fdl.predict_ndvi(cube, model).data.sum())
        if k >= CHAIN.index("reconstruction"):
            rec = fdl.reconstruct(cube, model, freq="12D")
            sinks.append(rec["NDVI"].data.sum())
        if k >= CHAIN.index("phenology"):
            ph = fdl.phenology(rec["NDVI"], max_seasons=6)
            sinks.append(ph["n_seasons"].data.sum())
        if stage == "zarr write":
            import xarray as xr

            root = Path(tempfile.mkdtemp(prefix="fdl-suite-"))
            try:
                out = xr.merge([rec, ph], compat="override", combine_attrs="drop_conflicts")
                fdl.to_zarr(out, root / "out.zarr")  # the write computes everything upstream once more
            finally:
                shutil.rmtree(root, ignore_errors=True)
        else:
            dask.compute(*sinks)
    elif stage == "training":
        t1 = time.perf_counter()
        model = fdl.train(cube, fdl.FeatureSpec(), fdl.TrainConfig(max_epochs=10, patience=100, max_samples=1_000_000))
        info["units"] = pts
        info["train_samples"] = model.info["funnel"]["train"]
        info["epoch_seconds"] = sum(h["seconds"] for h in model.history)
        info["inner_seconds"] = time.perf_counter() - t1
    elif stage == "public":
        return _public(size, t0)
    elif stage == "mogpr":
        ny, nx = cube.sizes["y"], cube.sizes["x"]
        sub = cube.isel(y=slice(0, min(ny, 16)), x=slice(0, min(nx, 16))).compute()
        t1 = time.perf_counter()
        fdl.baselines.mogpr(fdl.baselines.mogpr_inputs(sub)).compute()
        sec = time.perf_counter() - t1
        npx = sub.sizes["y"] * sub.sizes["x"]
        info.update(units=npx, inner_seconds=sec, pixels_per_s=npx / sec, projected_scene_hours=ny * nx / (npx / sec) / 3600)
    else:
        raise ValueError(stage)
    return {"seconds": time.perf_counter() - t0, **info}


def _public(size: str, t0: float) -> dict[str, Any]:
    """The public-API path with defaults (benchmarks.public) at a suite size."""
    from . import public

    r = public.run("sample") if size == "sample" else public.run(size, SIZES[size])
    return {"seconds": time.perf_counter() - t0, "inner_seconds": r["wall_s"], "units": r["pixel_timesteps"], "test_r2": r["test_r2"]}


def _measure(size: str, stage: str) -> dict[str, Any]:
    """One measurement in a fresh subprocess (its own peak memory)."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "benchmarks.suite", "--one", size, stage]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)  # noqa: S603 - this module, fixed argv, no shell
    if out.returncode != 0:
        raise RuntimeError(f"{size}/{stage} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.suite", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--sizes", nargs="+", default=None, choices=list(SIZES))
    p.add_argument("--stages", nargs="+", default=[*CHAIN, "training", "mogpr", "public"], choices=[*CHAIN, "training", "mogpr", "public"])
    p.add_argument("--json", default=None)
    p.add_argument("--one", nargs=2, default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.one:
        res = _one(*args.one)
        res["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(json.dumps(res))
        return
    sizes = args.sizes or (["sample", "small"] if args.quick else ["sample", "demak", "demak10"])
    rows = []
    for size in sizes:
        prev = 0.0
        for stage in args.stages:
            r = _measure(size, stage)
            if stage in CHAIN:
                # the chain up to this stage minus the chain before it
                marginal = r["seconds"] - prev if stage != "generate" else r["seconds"]
                prev = r["seconds"]
                # a stage that costs less than the run-to-run noise (about 5 % of its chain) has no throughput to report
                noise = marginal < 0.05 * r["seconds"]
                row = {"size": size, "stage": stage, "seconds": max(marginal, 0.0), "chain_seconds": r["seconds"],
                       "throughput": float("nan") if noise else r["units"] / marginal, "unit": "pixel-timesteps/s",
                       "peak_rss_gib": r["peak_rss_gib"]}
            elif stage == "training":
                row = {"size": size, "stage": "training (10 epochs)", "seconds": r["inner_seconds"], "chain_seconds": r["seconds"],
                       "throughput": r["train_samples"] * 10 / r["epoch_seconds"], "unit": "samples/s (epochs)", "peak_rss_gib": r["peak_rss_gib"]}
            elif stage == "public":
                row = {"size": size, "stage": f"public path, defaults (R2 {r['test_r2']:.3f})", "seconds": r["inner_seconds"], "chain_seconds": r["seconds"],
                       "throughput": r["units"] / r["inner_seconds"], "unit": "pixel-timesteps/s", "peak_rss_gib": r["peak_rss_gib"]}
            else:
                row = {"size": size, "stage": f"MOGPR ({r['units']} px; scene {r['projected_scene_hours']:.1f} h)", "seconds": r["inner_seconds"],
                       "chain_seconds": r["seconds"], "throughput": r["pixels_per_s"], "unit": "pixels/s", "peak_rss_gib": r["peak_rss_gib"]}
            rows.append(row)
            print(f"{size:8s} {row['stage']:32s} {row['seconds']:9.1f} s  {row['throughput']:14,.0f} {row['unit']:20s} {row['peak_rss_gib']:6.2f} GiB", flush=True)
    print("\nMachine: " + "; ".join(f"{k} {v}" for k, v in describe().items()) + "\n")
    print("| size | stage | seconds | chain seconds | throughput | unit | peak RSS GiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        thr = "within noise" if r["throughput"] != r["throughput"] else f"{r['throughput']:,.0f}"
        print(f"| {r['size']} | {r['stage']} | {r['seconds']:.1f} | {r['chain_seconds']:.1f} | {thr} | {r['unit']} | {r['peak_rss_gib']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": describe(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
