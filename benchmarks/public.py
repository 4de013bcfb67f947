"""The public-API path end to end, as a README user writes it, with the library's defaults.

    .venv/bin/python -m benchmarks.public [--size sample|demak|10x] [--json out.json] [--verbose]

``make_scene`` (lazy, chunked 256 x 256 as a user reading a big scene would
get it) -> ``open_s1`` / ``open_s2`` -> ``align(freq="12D", outlier_filter=True)``
-> ``fdl.train(cube)`` with the default ``TrainConfig`` -> ``cube.fusion.reconstruct(model)``
-> ``fdl.phenology`` -> ``fdl.to_zarr`` of reconstruction and seasons. No
private pipeline settings: no epoch count, no sample cap, no tiles. The lazy
steps cost little on their own; the Zarr write computes reconstruction and
phenology, so most of the streaming time is in the ``to_zarr`` row.

Sizes: ``sample`` (the bundled 64 x 64 scene read from disk), ``demak``
(671 x 893 pixels, two years, S1 every 12 days) and ``10x`` (ten times the
area, 2122 x 2824). Prints the machine, the load average at start and end,
a table of stage seconds, total wall, peak RSS of the process (resource's
ru_maxrss), end-to-end pixel-timesteps per second and the model's held-out R2
and training funnel.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .machine import describe, peak_rss_gib

SIZES: dict[str, tuple[int, int] | None] = {"sample": None, "demak": (671, 893), "10x": (2122, 2824)}
CHUNK = 256


def _open(size: str, shape: tuple[int, int] | None = None) -> tuple[Any, Any]:
    """The opened S1 and S2 of a size, as a user gets them."""
    import fusets_dl as fdl

    if size == "sample":
        from fusets_dl.sample import find_sample

        folder = find_sample()
        return fdl.open_s1(folder / "s1.nc"), fdl.open_s2(folder / "s2.nc")
    ny, nx = shape or SIZES[size]  # type: ignore[misc]
    s1, s2, _ = fdl.synthetic.make_scene(ny, nx, "2021-01-01", "2022-12-31", seed=0, s1_revisit_days=12, chunks={"y": CHUNK, "x": CHUNK})
    return fdl.open_s1(s1, units="dB"), fdl.open_s2(s2)


def run(size: str, shape: tuple[int, int] | None = None) -> dict[str, Any]:
    """Run the public path once at ``size`` (or a synthetic ``shape``); stage seconds, wall, peak RSS, throughput and model facts."""
    import fusets_dl as fdl

    stages: dict[str, float] = {}
    load0 = os.getloadavg()
    t_start = time.perf_counter()

    def _stage(name: str, t0: float) -> float:
        t1 = time.perf_counter()
        stages[name] = t1 - t0
        return t1

    t = time.perf_counter()
    s1, s2 = _open(size, shape)
    t = _stage("open", t)
    cube = fdl.align(s1, s2, freq="12D", outlier_filter=True)
    t = _stage("align (lazy)", t)
    model = fdl.train(cube)
    t = _stage("train", t)
    rec = cube.fusion.reconstruct(model)
    t = _stage("reconstruct (lazy)", t)
    seasons = fdl.phenology(rec["NDVI"])
    t = _stage("phenology (lazy)", t)
    root = Path(tempfile.mkdtemp(prefix="fdl-public-"))
    try:
        fdl.to_zarr(rec.merge(seasons, compat="override"), root / "result.zarr", overwrite=True)
        _stage("to_zarr (computes reconstruct + phenology)", t)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    wall = time.perf_counter() - t_start
    pts = cube.sizes["time"] * cube.sizes["y"] * cube.sizes["x"]
    funnel = model.info["funnel"]
    return {
        "size": f"{shape[0]}x{shape[1]}" if shape else size,
        "scene": [cube.sizes["time"], cube.sizes["y"], cube.sizes["x"]],
        "cube_chunks": "NumPy" if cube["VV"].chunks is None else {d: c[0] for d, c in zip(cube["VV"].dims, cube["VV"].chunks, strict=True)},
        "pixel_timesteps": pts,
        "stages_s": stages,
        "wall_s": wall,
        "peak_rss_gib": peak_rss_gib(),
        "throughput": pts / wall,
        "test_r2": model.metrics["test"]["r2"],
        "test_rmse": model.metrics["test"]["rmse"],
        "epochs": len(model.history),
        "best_epoch": model.info["best_epoch"],
        "train_samples": funnel["train"],
        "sampled": funnel["sampled"],
        "load_start": load0,
        "load_end": os.getloadavg(),
    }


def table(r: dict[str, Any]) -> str:
    """Markdown table of one :func:`run` result."""
    nt, ny, nx = r["scene"]
    lines = [
        f"public API path, size {r['size']}: {ny} x {nx} x {nt} dates ({r['pixel_timesteps'] / 1e6:.1f} M pixel-timesteps), cube chunks {r['cube_chunks']}",
        "",
        "| stage | seconds |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.1f} |" for k, v in r["stages_s"].items()]
    lines += [
        f"| **total wall** | **{r['wall_s']:.1f}** |",
        "",
        f"peak RSS {r['peak_rss_gib']:.2f} GiB; {r['throughput']:,.0f} pixel-timesteps/s end to end; "
        f"held-out R2 {r['test_r2']:.3f} RMSE {r['test_rmse']:.4f}; {r['epochs']} epochs (best {r['best_epoch']}), "
        f"{r['train_samples']:,} training samples of {r['sampled']:,} drawn; "
        f"load average {r['load_start'][0]:.2f} at start, {r['load_end'][0]:.2f} at end",
    ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.public", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=tuple(SIZES), default="demak")
    p.add_argument("--shape", default=None, help="a synthetic scene of NYxNX pixels instead of --size (e.g. 256x256, for a quick profile)")
    p.add_argument("--json", default=None, help="also write the result here")
    p.add_argument("--verbose", action="store_true", help="log the library's stage lines (training epochs) with timestamps")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(relativeCreated)9.0f ms %(name)s: %(message)s")
    logging.getLogger("distributed").setLevel(logging.WARNING)
    print("Machine: " + "; ".join(f"{k} {v}" for k, v in describe().items()))
    shape = tuple(int(v) for v in args.shape.lower().split("x")) if args.shape else None
    r = run(args.size, shape)  # type: ignore[arg-type]
    print(table(r))
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2))


if __name__ == "__main__":
    main()
