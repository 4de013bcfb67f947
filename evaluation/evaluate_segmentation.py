"""Unsupervised land-cover maps against known classes: contrastive + VQ versus k-means, S1-only versus S1+S2.

    .venv/bin/python evaluation/evaluate_segmentation.py [--scenes real synthetic] [--seeds 0 1 2] [--out outputs/segment]

No labels are used in training. Scored afterwards with the adjusted Rand
index and normalised mutual information (``fusets_dl.evaluate.clustering_scores``):

- real: the WorldCereal patch (Flanders 2017-08 to 2018-11, 32 x 32 pixels
  of 20 m). Its ``CT`` crop-type labels are on the 10 m grid; a 20 m pixel
  gets a label when its four 10 m pixels agree, and unlabelled pixels are
  left out of the scores.
- synthetic: a 64 x 64 scene (seed 5) with six true classes (rice, maize,
  grassland, forest, urban, water).

K is the number of label classes present. Each method runs with several
seeds; the table gives the mean and the spread (min-max).
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
from fusets_dl.evaluation.metrics import clustering_scores
from fusets_dl.segmentation import SegmentConfig, kmeans_segment, segment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare_baselines import WC, _cube

REPO = Path(__file__).resolve().parents[1]


def _real_labels(cube: xr.Dataset) -> np.ndarray:
    """CT labels on the cube's 20 m grid: the 10 m label where all four 10 m pixels agree, NaN otherwise."""
    path = next(WC.glob("OUTPUT_POLY-110_10m_*.nc"))
    with xr.open_dataset(path) as ds:
        ct = ds["CT"].values.astype(np.float64)
    ny, nx = ct.shape[0] // 2, ct.shape[1] // 2
    blocks = ct[: 2 * ny, : 2 * nx].reshape(ny, 2, nx, 2).transpose(0, 2, 1, 3).reshape(ny, nx, 4)
    same = (blocks == blocks[..., :1]).all(axis=-1) & np.isfinite(blocks[..., 0])
    lab = np.where(same, blocks[..., 0], np.nan)
    if lab.shape != (cube.sizes["y"], cube.sizes["x"]):
        raise ValueError(f"labels {lab.shape} do not fit the cube {(cube.sizes['y'], cube.sizes['x'])}")
    return lab


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", nargs="+", default=["real", "synthetic"], choices=["real", "synthetic"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--out", default=str(REPO / "outputs" / "segment"))
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report: dict = {}
    lines = ["| scene | method | views | K | ARI mean (min-max) | NMI mean (min-max) | pixels scored | seconds |", "|---|---|---|---|---|---|---|---|"]
    for scene in args.scenes:
        try:
            cube, where = _cube(scene)
        except FileNotFoundError as exc:
            print(exc, file=sys.stderr)
            continue
        cube = cube.load()
        if scene == "real":
            labels = _real_labels(cube)
        else:
            _, _, truth = fdl.synthetic.make_scene(64, 64, "2021-01-01", "2022-12-31", seed=5)
            labels = truth["crop"].values.astype(np.float64)
        present = np.unique(labels[np.isfinite(labels)])
        k = int(present.size)
        report[scene] = {"where": where, "label_classes": present.tolist(), "labelled_pixels": int(np.isfinite(labels).sum()), "rows": []}
        for method in ("contrastive + VQ", "k-means"):
            for views in (("s1", "s2"), ("s1",)):
                scores, secs = [], []
                for seed in args.seeds:
                    t0 = time.perf_counter()
                    if method == "k-means":
                        classes = kmeans_segment(cube, k, views=views, seed=seed)
                    else:
                        classes = segment(cube, config=SegmentConfig(n_classes=k, views=views, seed=seed, epochs=args.epochs))
                    secs.append(time.perf_counter() - t0)
                    scores.append(clustering_scores(labels, classes.values))
                ari = [s["ari"] for s in scores]
                nmi = [s["nmi"] for s in scores]
                row = {"method": method, "views": "+".join(views), "k": k, "ari": ari, "nmi": nmi, "n": scores[0]["n"], "seconds": float(np.mean(secs))}
                report[scene]["rows"].append(row)
                line = (f"| {scene} | {method} | {row['views']} | {k} | {np.mean(ari):.3f} ({min(ari):.3f}-{max(ari):.3f}) | "
                        f"{np.mean(nmi):.3f} ({min(nmi):.3f}-{max(nmi):.3f}) | {row['n']} | {row['seconds']:.1f} |")
                lines.append(line)
                print(line, flush=True)
    (out / "segmentation.md").write_text("\n".join(lines) + "\n")
    (out / "segmentation.json").write_text(json.dumps(report, indent=2))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
