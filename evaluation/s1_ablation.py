"""What S1 preprocessing contributes to the S1-only model: speckle filter and per-pixel normalisation (needs ../shared/data).

    PYTHONPATH=. .venv/bin/python evaluation/s1_ablation.py [--epochs 15] [--seeds 0] [--sites A LR NB NS] [--json out.json]

Patch A (WorldCereal Flanders 2018, 32 x 32 pixels at 20 m, two ascending
relative orbits): the default S1-only :class:`~fusets_dl.FeatureSpec`
(groups ``sar`` + ``time``, no optical context) trained by :func:`fusets_dl.train`
with the same seed, hence the same held-out spatial blocks (8 x 8 pixels), for
every row; scored on the clear NDVI of the held-out (test) blocks only:

- baseline: the cube as aligned;
- + speckle filter: :func:`fusets_dl.speckle_filter` (Quegan and Yu, 5 x 5, per orbit group);
- + pixel / pixel-orbit normalisation: ``FeatureSpec(s1_normalise=...)``;
- + both: speckle filter and pixel-orbit normalisation.

The speckle filter reads S1 of neighbouring pixels, so at a block border the
S1 inputs of a held-out pixel include those of training pixels (inputs only;
the NDVI targets of held-out blocks are never seen).

Slovakia (GEE point series of grassland plots, :func:`fusets_dl.open_points`,
one region per row group): normalisation rows only; points have no spatial
neighbours, so the speckle filter does not apply there. Groups of
``--block`` neighbouring points are held out, as in ``evaluation/field_sites.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

import fusets_dl as fdl
from fusets_dl.evaluation.metrics import regression_metrics
from fusets_dl.evaluation.splits import block_mask
from fusets_dl.readers.tables import open_points

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PATCH = DATA / "worldcereal_patch_flanders_2018"
S1 = PATCH / "S1_GRD-ASCENDING_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
S2 = [PATCH / "S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc", PATCH / "S2_L2A_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"]
SLOVAKIA = DATA / "slovakia_grassland"

#: (row name, speckle filter?, s1_normalise)
PATCH_ROWS = (
    ("baseline", False, "none"),
    ("+ speckle filter (5x5, per orbit)", True, "none"),
    ("+ pixel normalisation", False, "pixel"),
    ("+ pixel-orbit normalisation", False, "pixel_orbit"),
    ("+ speckle filter + pixel-orbit normalisation", True, "pixel_orbit"),
)
POINT_ROWS = tuple(r for r in PATCH_ROWS if not r[1])


def held_out(cube: xr.Dataset, spec: fdl.FeatureSpec, cfg: fdl.TrainConfig) -> tuple[np.ndarray, np.ndarray, dict]:
    """Observed and predicted NDVI on the test blocks of a model trained on ``cube``, and its blocks."""
    model = fdl.train(cube, spec, cfg)
    mask = xr.DataArray(block_mask(cube.sizes["y"], cube.sizes["x"], model.blocks, "test"), dims=("y", "x"))
    obs = cube["NDVI"].where(mask).values.ravel()
    pred = fdl.predict_ndvi(cube, model).where(mask).values.ravel()
    return obs, pred, model.blocks


def run_rows(cube: xr.Dataset, rows: tuple, seeds: list[int], cfg_kw: dict) -> list[tuple[str, dict, float]]:
    """Each row trained and scored with every seed (pooled), the blocks checked equal across rows."""
    filtered = fdl.speckle_filter(cube) if any(r[1] for r in rows) else None
    out, blocks_seen = [], {}
    for name, speckle, norm in rows:
        obs, pred = [], []
        t0 = time.perf_counter()
        for seed in seeds:
            o, p, blocks = held_out(filtered if speckle else cube, fdl.FeatureSpec(s1_normalise=norm), fdl.TrainConfig(seed=seed, **cfg_kw))
            if blocks_seen.setdefault(seed, blocks) != blocks:
                raise RuntimeError(f"row {name!r}: held-out blocks differ from the first row's with seed {seed}")
            obs.append(o)
            pred.append(p)
        out.append((name, regression_metrics(np.concatenate(obs), np.concatenate(pred)), time.perf_counter() - t0))
        print(f"  {name}: R2 {out[-1][1]['r2']:.3f} ({out[-1][2]:.0f} s)", file=sys.stderr, flush=True)
    return out


def table(title: str, rows: list[tuple[str, dict, float]]) -> str:
    """Markdown table of the rows' held-out metrics."""
    lines = [f"### {title}", "", "| S1 preprocessing | R2 | RMSE | MAE | bias | n |", "|---|---|---|---|---|---|"]
    for name, m, _ in rows:
        lines.append(f"| {name} | {m['r2']:.3f} | {m['rmse']:.4f} | {m['mae']:.4f} | {m['bias']:+.4f} | {m['n']} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--sites", nargs="+", default=["A", "LR", "NB", "NS"], choices=["A", "LR", "NB", "NS"])
    p.add_argument("--block", type=int, default=5, help="points per held-out group (Slovakia)")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not S1.exists():
        print(f"real data not found at {DATA}: this script needs ../shared/data beside the repository", file=sys.stderr)
        return 2
    report, texts = {}, []
    for site in args.sites:
        if site == "A":
            cube = fdl.align(fdl.open_s1(S1), fdl.open_s2(S2), outlier_filter=True).load()
            rows = run_rows(cube, PATCH_ROWS, args.seeds, {"max_epochs": args.epochs})
            title = f"Patch A (Flanders 2018), S1-only default MLP, held-out 8x8 blocks, seeds {args.seeds}, {args.epochs} epochs"
        else:
            s1, s2 = open_points(sorted((SLOVAKIA / "S1").glob(f"ts_{site}_GMI_S1_*.csv")), sorted((SLOVAKIA / "S2").glob(f"ts_{site}_GMI_S2_*.csv")))
            cube = fdl.align(s1, s2, tolerance="3D").load()
            rows = run_rows(cube, POINT_ROWS, args.seeds, {"max_epochs": args.epochs, "block_size": args.block})
            title = f"Slovakia {site} grassland points, S1-only default MLP, held-out groups of {args.block} points, seeds {args.seeds}, {args.epochs} epochs"
        report[site] = {name: {**m, "seconds": round(s, 1)} for name, m, s in rows}
        texts.append(table(title, rows))
        print(texts[-1] + "\n", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
