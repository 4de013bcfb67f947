"""S1-only versus S1 + optical context (each fusion strategy) versus MOGPR, and modality relevance.

    .venv/bin/python evaluation/evaluate_optical.py [--scenes real synthetic] [--gaps 30 60] [--out outputs/optical]

Every model is trained with the same seed and spatial-block split (8 x 8
pixel blocks; the test blocks are never seen in training), so all of them
are scored on the same held-out pixels with the protocol of
:mod:`fusets_dl.compare`: 5 simulated cloudy spells per pixel, every clear
NDVI inside them hidden and reconstructed (the cloudy S2 values stay: they
are real clouds). One more model is trained with cloudy optical inputs
(``FeatureSpec(cloudy_input=True)``: the nearest cloud-contaminated S2 NDVI
within 6 days and the days to it). SHAPE relevance (R2) of the
modalities is computed on the held-out blocks, on clear samples (optical
context with only the date's own observation removed) and cloudy samples
(a simulated spell of 0-120 days around the date).
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
from fusets_dl.evaluation.comparison import CompareConfig, compare
from fusets_dl.models.registry import FUSION_STRATEGIES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_baselines import _cube

REPO = Path(__file__).resolve().parents[1]
OPTICAL = fdl.FeatureSpec(groups=("sar", "optical", "time"))
CLOUDY = fdl.FeatureSpec(groups=("sar", "optical", "time"), cloudy_input=True)
STRATEGIES = FUSION_STRATEGIES


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", nargs="+", default=["real", "synthetic"], choices=["sample", "synthetic", "real"])
    p.add_argument("--gaps", nargs="+", type=float, default=[30.0, 60.0])
    p.add_argument("--max-pixels", type=int, default=400)
    p.add_argument("--n-gaps", type=int, default=5)
    p.add_argument("--modality-dropout", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(REPO / "outputs" / "optical"))
    p.add_argument("--train-before", default=None, metavar="DATE",
                   help="temporal hold-out too: train on NDVI before DATE only, place the spells after it")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    report: dict = {}
    for scene in args.scenes:
        try:
            cube, where = _cube(scene, keep_cloudy=True)
        except FileNotFoundError as exc:
            print(exc, file=sys.stderr)
            continue
        cube = cube.load()
        train_cube = cube
        if args.train_before:
            # targets (and the optical context the model learns from) only before the date
            before = xr.DataArray(cube["time"].values < np.datetime64(args.train_before), dims="time")
            train_cube = cube.copy()
            for v in ("NDVI", "NDVI_cloudy"):
                if v in cube:
                    train_cube[v] = cube[v].where(before)
            where += f"; trained on NDVI before {args.train_before}, spells after it"
        t0 = time.perf_counter()
        s1_only = fdl.train(train_cube, fdl.FeatureSpec(), fdl.TrainConfig(seed=args.seed))
        models = {}
        for fusion in STRATEGIES:
            cfg = fdl.TrainConfig(seed=args.seed, fusion=fusion, modality_dropout=args.modality_dropout)
            models[f"S1+optical {fusion}"] = fdl.train(train_cube, OPTICAL, cfg)
        # cloud-robust: the cloudy S2 values near each date enter as flagged inputs instead of being dropped
        cfg = fdl.TrainConfig(seed=args.seed, fusion="early", modality_dropout=args.modality_dropout)
        models["S1+optical+cloudy early"] = fdl.train(train_cube, CLOUDY, cfg)
        t_train = time.perf_counter() - t0
        r2 = ", ".join(f"{k} {m.metrics['test']['r2']:.3f}" for k, m in {"S1-only": s1_only, **models}.items())
        lines.append(f"\n### {where}\n\nheld-out test-block R2 of the networks (optical context with simulated spells of 0-90 days): "
                     f"{r2} (all trained in {t_train:.0f} s)\n")
        report[scene] = {"where": where, "compare": {}, "relevance": {}}
        for gap in args.gaps:
            period = (args.train_before, str(cube["time"].values[-1])[:10]) if args.train_before else None
            cfg = CompareConfig(gap_days=gap, n_gaps=args.n_gaps, max_pixels=args.max_pixels, seed=args.seed,
                                methods=("fusion", "mogpr", "whittaker", "linear"), period=period)
            res = compare(cube, config=cfg, model=s1_only, models=models)
            res.save(out / scene / f"gap{gap:g}")
            report[scene]["compare"][gap] = {"rows": res.rows, "info": res.info}
            lin = next(r["rmse"] for r in res.rows if r["method"] == "linear")
            lines.append(f"\n{args.n_gaps} spells of {gap:g} days per pixel, {res.info['n_pixels']} held-out pixels, "
                         f"{res.info['n_hidden_scored']} hidden values (RMSE ratio to linear interpolation in the last column):\n\n")
            table = res.to_markdown().split("\n\n")[0].splitlines()
            table[0] += " RMSE / linear |"
            table[1] += "---|"
            for i, r in enumerate(res.rows):
                table[2 + i] += f" {r['rmse'] / lin:.2f} |"
            lines.append("\n".join(table) + "\n")
            print(f"{scene} gap {gap:g}: " + ", ".join(f"{r['method']} {r['rmse']:.4f}" for r in res.rows), flush=True)
        lines.append("\nSHAPE relevance (R2 points) on held-out blocks, clear / cloudy samples:\n\n| model | sar | optical | time |\n|---|---|---|---|\n")
        for name, m in {"S1-only": s1_only, **models}.items():
            rel = fdl.evaluation.modality_relevance(m, cube, metric="r2", detail=True, max_samples=20_000)
            report[scene]["relevance"][name] = rel
            cells = []
            for mod in ("sar", "optical", "time"):
                if mod in rel["clear"]:
                    cloudy = rel.get("cloudy", rel["clear"]).get(mod, float("nan"))
                    cells.append(f"{rel['clear'][mod]:.3f} / {cloudy:.3f}")
                else:
                    cells.append("-")
            lines.append(f"| {name} | " + " | ".join(cells) + " |\n")
    text = "".join(lines)
    (out / "summary.md").write_text(text)
    (out / "summary.json").write_text(json.dumps(report, indent=2, default=str))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
