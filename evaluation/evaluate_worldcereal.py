"""Accuracy of the S1 -> NDVI model on the real WorldCereal patch (needs ../shared/data).

    .venv/bin/python evaluation/evaluate_worldcereal.py [--folds 4] [--seeds 0 1] [--json out.json]

Honest protocol: spatial blocks of 8 x 8 pixels (160 m) are held out; every
number below is on pixel-dates of blocks the model never saw.

1. K-fold cross-validation over the 16 blocks, default features versus a
   VV+VH-only model, pooled over folds (every pixel-date predicted once).
2. Transfer across orbit patterns: the patch is seen from two ascending
   relative orbits (about 17:32 and 17:40 UTC), each every 6 days. A cube of a
   single orbit has the pattern of a site seen from one orbit every 6 days. We
   train on both orbits and test on each single-orbit cube (held-out blocks),
   and train on one orbit and test on the other (different incidence angle),
   with orbit-aware lags (default) and with lags that follow any orbit.
3. Transfer in time: targets before 2018-04-01 train, targets from then on
   are scored (and the reverse), on held-out blocks: the model must carry a
   relation learnt in autumn and winter into the growing season.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import xarray as xr

import fusets_dl as fdl
from fusets_dl.evaluation.metrics import regression_metrics
from fusets_dl.evaluation.splits import block_mask

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "worldcereal_patch_flanders_2018"
S1 = DATA / "S1_GRD-ASCENDING_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
S2 = [DATA / "S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc", DATA / "S2_L2A_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"]

VV_VH_ONLY = fdl.FeatureSpec(rvi=False, ratios=False, interaction=False, lags=0, rolling=0, windows=(), trends=(), anomaly=False, doy=False)


def _fmt(m: dict) -> str:
    return f"{m['r2']:.3f} | {m['rmse']:.4f} | {m['mae']:.4f} | {m['bias']:+.4f} | {m['n']}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--json", default=None)
    p.add_argument("--sections", nargs="+", default=["cv", "orbit", "time"], choices=["cv", "orbit", "time"])
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not S1.exists():
        print(f"real data not found at {DATA}: this script needs ../shared/data beside the repository", file=sys.stderr)
        return 2
    s1 = fdl.open_s1(S1)
    s2 = fdl.open_s2(S2)
    cube = fdl.align(s1, s2, outlier_filter=True)
    summary = json.loads(cube.attrs["fusion_summary"])
    print(f"WorldCereal patch: {summary['pixels']} pixels, {summary['s1_dates']} S1 dates, {summary['s2_dates']} S2 dates, "
          f"S2 clear fraction {summary['s2_clear_fraction']:.3f}, paired pixel-dates {summary['paired_pixel_dates']}, "
          f"outliers removed {summary['outliers_removed']}\n")
    report: dict = {"summary": summary, "cv": {}, "transfer": {}}

    if "cv" in args.sections:
        _cv(cube, args, report)
    if "orbit" in args.sections:
        _orbit(s1, s2, cube, args, report)
    if "time" in args.sections:
        _time(cube, args, report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=float))
    return 0


def _cv(cube: xr.Dataset, args: argparse.Namespace, report: dict) -> None:
    print(f"## {args.folds}-fold spatial-block cross-validation (blocks of 8 x 8 px), pooled over folds\n")
    print("| model | seed | R2 | RMSE | MAE | bias | n | fold R2 mean +- sd |")
    print("|---|---|---|---|---|---|---|---|")
    for name, spec in (("default features", fdl.FeatureSpec()), ("VV+VH only", VV_VH_ONLY)):
        for seed in args.seeds:
            cv = fdl.training.cross_validate(cube, spec, fdl.TrainConfig(seed=seed), folds=args.folds)
            report["cv"][f"{name}/seed{seed}"] = cv
            print(f"| {name} | {seed} | {_fmt(cv['pooled'])} | {cv['mean_r2']:.3f} +- {cv['std_r2']:.3f} |")
    print()


def _orbit(s1: xr.Dataset, s2: xr.Dataset, cube: xr.Dataset, args: argparse.Namespace, report: dict) -> None:
    minutes = (s1.time.dt.hour * 60 + s1.time.dt.minute).values
    orb_a = minutes < 17 * 60 + 36
    cubes = {
        "both": cube,
        "A": fdl.align(s1.isel(time=orb_a), s2, outlier_filter=True),
        "B": fdl.align(s1.isel(time=~orb_a), s2, outlier_filter=True),
    }
    print(f"## Transfer across orbit patterns (orbit A: {orb_a.sum()} dates, orbit B: {(~orb_a).sum()} dates; held-out blocks)\n")
    print("| lags | train -> test | R2 | RMSE | MAE | bias | n |")
    print("|---|---|---|---|---|---|---|")
    for lag_name, spec in (("same orbit (default)", fdl.FeatureSpec()), ("any orbit", fdl.FeatureSpec(lag_mode="any"))):
        for tr, te in (("both", "both"), ("both", "A"), ("both", "B"), ("A", "B"), ("B", "A")):
            obs, pred = [], []
            for seed in args.seeds:
                m = fdl.train(cubes[tr], spec, fdl.TrainConfig(seed=seed))
                mask = xr.DataArray(block_mask(cube.sizes["y"], cube.sizes["x"], m.blocks, "test"), dims=("y", "x"))
                obs.append(cubes[te]["NDVI"].where(mask).values.ravel())
                pred.append(fdl.predict_ndvi(cubes[te], m).where(mask).values.ravel())
            met = regression_metrics(np.concatenate(obs), np.concatenate(pred))
            report["transfer"][f"{lag_name}/{tr}->{te}"] = met
            print(f"| {lag_name} | {tr} -> {te} | {_fmt(met)} |")
    print()


def _time(cube: xr.Dataset, args: argparse.Namespace, report: dict) -> None:
    cut = np.datetime64("2018-04-01")
    early = cube["time"] < cut
    print("## Transfer in time (targets split at 2018-04-01; held-out blocks)\n")
    print("| train targets -> scored targets | R2 | RMSE | MAE | bias | n |")
    print("|---|---|---|---|---|---|")
    report["time"] = {}
    for name, train_sel in (("2017-08..2018-03 -> 2018-04..2018-11", early), ("2018-04..2018-11 -> 2017-08..2018-03", ~early)):
        obs, pred = [], []
        for seed in args.seeds:
            train_cube = cube.assign(NDVI=cube["NDVI"].where(train_sel))
            m = fdl.train(train_cube, fdl.FeatureSpec(), fdl.TrainConfig(seed=seed))
            mask = xr.DataArray(block_mask(cube.sizes["y"], cube.sizes["x"], m.blocks, "test"), dims=("y", "x")) & ~train_sel
            obs.append(cube["NDVI"].where(mask).values.ravel())
            pred.append(fdl.predict_ndvi(cube, m).where(mask).values.ravel())
        met = regression_metrics(np.concatenate(obs), np.concatenate(pred))
        report["time"][name] = met
        print(f"| {name} | {_fmt(met)} |")
    print()


if __name__ == "__main__":
    raise SystemExit(main())
