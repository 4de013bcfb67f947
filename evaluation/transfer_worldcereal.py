"""Does a model trained on patch A alone travel? Scored on other WorldCereal patches (not in ../shared/data).

    PYTHONPATH=. .venv/bin/python evaluation/transfer_worldcereal.py --patches DIR [--seeds 3] [--epochs 20] [--optical]

``DIR`` holds WorldCereal training patches, one folder each, in the layout of
``tests/worldcerealtests/testresources/worldcerealtraining/<id>/`` of
WorldCereal/worldcereal-classification (MIT; the patches used in the notes
are at commit 5db1e24d918f99e5b2471b826fbcb8fd2afea252, e.g. ``0000280849BAC91C``:
Belgium, 2018-08 .. 2019-11, winter wheat, grassland and maize, one ascending
orbit every 6 days): ``S1_GRD-ASCENDING_20m_*.nc``, ``S2_L2A_10m_*.nc`` (B04,
B08) and ``S2_L2A_20m_*.nc`` (SCL), the encoding of patch A. A patch without
the 10 m file has no red band, hence no NDVI, and is skipped with a message;
so is patch A itself when found there.

For each feature spec (``default``: today's :class:`~fusets_dl.FeatureSpec`;
``temporal``: the earlier default, with lags, trends and the anomaly) and each
seed, :func:`fusets_dl.train` fits the S1-only MLP (``--optical``: S1 +
optical context) on patch A (``../shared/data``), with its 8 x 8 blocks held
out, and :func:`fusets_dl.evaluation.cross_site.score_sites` scores every
patch, never seen in training:

- ``A R2``: patch A, the held-out blocks;
- ``R2 / RMSE / bias``: the prediction against every clear NDVI observation;
- ``fusion / linear``: gap filling of 3 hidden 60-day spells per pixel (300
  pixels, seeded) by the default reconstruction (on a cube the model was not
  trained on: the setting chosen on held-out spells of its own clear views), RMSE over linear interpolation;
- ``within ±1 / ±2 std``: the shares of those hidden values within 1 and 2 of
  the reconstruction's ``NDVI_std`` (68.3 % / 95.4 % when calibrated).

Printed as a markdown table; ``--json`` also writes the rows.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import xarray as xr

import fusets_dl as fdl
from fusets_dl.evaluation.cross_site import score_sites

REPO = Path(__file__).resolve().parents[1]
PATCH_A = REPO.parent / "shared" / "data" / "worldcereal_patch_flanders_2018"
PATCH_A_ID = "00002806639B424A"

#: name -> FeatureSpec keywords
SPECS: dict[str, dict] = {
    "default": {},
    "temporal": {"lags": 2, "trends": (30,), "anomaly": True},
}


def open_patch(folder: Path) -> xr.Dataset | None:
    """The aligned cube of one WorldCereal patch folder; None (logged) when it has no 10 m S2 file."""
    s1 = sorted(folder.glob("S1_GRD-ASCENDING_20m_*.nc"))
    s2_10 = sorted(folder.glob("S2_L2A_10m_*.nc"))
    s2_20 = sorted(folder.glob("S2_L2A_20m_*.nc"))
    if not s1 or not s2_10 or not s2_20:
        logging.warning("%s: skipped (expected S1_GRD-ASCENDING_20m, S2_L2A_10m and S2_L2A_20m files; the 10 m file holds the red band)", folder.name)
        return None
    cube = fdl.align(fdl.open_s1(s1[0]), fdl.open_s2([s2_10[0], s2_20[0]]), outlier_filter=True).load()
    cube.attrs["site"] = f"worldcereal-{folder.name}"
    return cube


def run(patches: list[xr.Dataset], *, seeds: int, epochs: int, optical: bool) -> list[dict]:
    """Train on patch A per spec and seed; score every patch."""
    a = open_patch(PATCH_A)
    if a is None:
        raise SystemExit(f"patch A not found in {PATCH_A} (needs ../shared/data)")
    rows = []
    for name, kw in SPECS.items():
        spec = fdl.FeatureSpec(**kw, groups=("sar", "time", "optical") if optical else ("sar", "time"))
        for seed in range(seeds):
            t0 = time.perf_counter()
            model = fdl.train(a, spec, fdl.TrainConfig(max_epochs=epochs, seed=seed))
            df = score_sites(model, patches, gap_days=60, n_gaps=3, max_pixels=300, seed=0)
            for r in df.itertuples():
                rows.append({"spec": name, "seed": seed, "A_r2": model.metrics["test"]["r2"], "site": r.site, "r2": r.pred_r2, "rmse": r.pred_rmse,
                             "mae": r.pred_mae, "bias": r.pred_bias, "fusion": r.gap_rmse_fusion, "linear": r.gap_rmse_linear, "ratio": r.gap_ratio,
                             "within1": r.gap_within1_fusion, "within2": r.gap_within2_fusion,
                             "seconds": time.perf_counter() - t0})
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table: one line per spec, seed and site, then the mean per spec and site."""
    out = ["| spec | seed | patch A R2 (held-out blocks) | site | R2 | RMSE | MAE | bias | fusion / linear | within ±1 / ±2 std |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['spec']} | {r['seed']} | {r['A_r2']:.3f} | {r['site']} | {r['r2']:.3f} | {r['rmse']:.4f} | {r['mae']:.4f} | {r['bias']:+.4f} | "
                   f"{r['ratio']:.2f} | {r['within1']:.1%} / {r['within2']:.1%} |")
    for spec in dict.fromkeys(r["spec"] for r in rows):
        for site in dict.fromkeys(r["site"] for r in rows):
            sel = [r for r in rows if r["spec"] == spec and r["site"] == site]
            out.append(f"| {spec} | mean | {np.mean([r['A_r2'] for r in sel]):.3f} | {site} | {np.mean([r['r2'] for r in sel]):.3f} | "
                       f"{np.mean([r['rmse'] for r in sel]):.4f} | {np.mean([r['mae'] for r in sel]):.4f} | {np.mean([r['bias'] for r in sel]):+.4f} | "
                       f"{np.mean([r['ratio'] for r in sel]):.2f} | {np.mean([r['within1'] for r in sel]):.1%} / {np.mean([r['within2'] for r in sel]):.1%} |")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--patches", required=True, help="folder of WorldCereal patch folders (see the module docstring)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--optical", action="store_true", help="S1 + optical context instead of S1 only")
    p.add_argument("--json", default=None, help="also write the rows here")
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    folders = sorted(d for d in Path(a.patches).iterdir() if d.is_dir() and d.name != PATCH_A_ID)
    patches = [c for c in (open_patch(d) for d in folders) if c is not None]
    if not patches:
        raise SystemExit(f"no usable patch in {a.patches}")
    rows = run(patches, seeds=a.seeds, epochs=a.epochs, optical=a.optical)
    print(table(rows))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
