"""Phenology from the fused reconstruction versus from raw cloudy S2, against synthetic truth.

    .venv/bin/python evaluation/evaluate_synthetic_phenology.py [--size 96] [--seed 3] [--cloud-cover 0.5]

A synthetic scene (rice with two or three crops a year, maize, grassland,
forest, urban, water) is aligned; the default model is trained on it (the
targets are the cloudy clear-sky observations, never the truth) and all
numbers are on the model's held-out test blocks. Two phenology inputs:

- reconstructed: ``reconstruct(cube, model)`` (clear S2 where present, S1
  predictions elsewhere, weighted Whittaker) on the S1 dates;
- raw S2: the clear S2 NDVI (SCL 4/5, outlier filter on) on the S2 dates.

Both go through the same ``phenology`` (Whittaker lambda 200, 50 % amplitude).
Seasons are matched to true seasons by the nearest peak within 45 days;
reported per class: the share of pixels with the right number of seasons,
and the mean absolute SOS/EOS error of matched seasons.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import xarray as xr

import fusets_dl as fdl
from fusets_dl.evaluation.scoring import score_phenology
from fusets_dl.evaluation.splits import block_mask


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--cloud-cover", type=float, default=0.5)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    s1r, s2r, truth = fdl.synthetic.make_scene(args.size, args.size, "2021-01-01", "2022-12-31", seed=args.seed, cloud_cover=args.cloud_cover)
    s1, s2 = fdl.open_s1(s1r), fdl.open_s2(s2r)
    cube = fdl.align(s1, s2, outlier_filter=True)
    model = fdl.train(cube, fdl.FeatureSpec(), fdl.TrainConfig(seed=args.seed))
    mask = block_mask(args.size, args.size, model.blocks, "test")
    rec = fdl.reconstruct(cube, model)
    clear = fdl.alignment.filter_ndvi_outliers(s2["NDVI"], s2["clear"])
    raw = s2["NDVI"].where(clear)
    lo, hi = np.datetime64("2021-03-01"), np.datetime64("2022-10-31")  # peaks away from the series edges
    kw = {"max_seasons": 8}
    inputs = {"reconstructed": rec["NDVI"], "raw S2 (clear only)": raw}
    t = truth["NDVI"]
    m = xr.DataArray(mask, dims=("y", "x"))
    rec_err = (rec["NDVI"] - t).where(m)
    print(f"Scene {args.size} x {args.size}, seed {args.seed}, cloud cover {args.cloud_cover}; "
          f"model held-out R2 {model.metrics['test']['r2']:.3f}; test blocks: {int(mask.sum())} pixels")
    print(f"Reconstruction vs true NDVI on test blocks: RMSE {float(np.sqrt((rec_err**2).mean())):.4f}, "
          f"share of values within 1 NDVI_std {float((abs(rec_err) <= rec['NDVI_std']).where(m).mean()):.2f}\n")
    print("| input | class | pixels | right season count | SOS MAE (days) | EOS MAE (days) | matched seasons |")
    print("|---|---|---|---|---|---|---|")
    for name, nd in inputs.items():
        ph = fdl.phenology(nd, **kw)
        for cls, r in score_phenology(ph, truth, mask=mask, period=(lo, hi)).items():
            print(f"| {name} | {cls} | {r['pixels']} | {r['right_count']:.2f} | {r['sos_mae']:.1f} | {r['eos_mae']:.1f} | {r['matched']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
