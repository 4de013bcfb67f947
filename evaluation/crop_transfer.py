"""Can a model that never saw patch A fill it? Patch A left out, trained on other shared data, crops included.

    PYTHONPATH=. .venv/bin/python evaluation/crop_transfer.py [--data ../shared/data] [--seeds 2] [--epochs 20]
        [--train slovak monthly monthly+slovak] [--specs default levels] [--json FILE]

Leave-one-site-out leaves patch A (``flanders-2018``, arable crops) to models
trained on the three Slovak grassland point series, which are worse than
linear interpolation there (``docs/pretrained.md``). The only other crop data
in ``../shared/data`` with S1 and NDVI on the same pixels is
``worldcereal_monthly`` (Belgium, near Huy, 100 x 100 pixels at 10 m,
12 monthly composites 2020-11 .. 2021-10; excluded from the pre-trained
model because one value a month is not the 6-12-day series the features
describe). This script measures whether it helps anyway:

- training sets (``--train``): ``slovak`` (the three Slovak sites),
  ``monthly`` (the monthly crop composites alone), ``monthly+slovak``;
- feature specs (``--specs``): ``default`` (today's
  :class:`~fusets_dl.FeatureSpec`) and ``levels`` (no rolling means, windows,
  differences or time steps: only what one composite date can give the same
  meaning as one acquisition);
- for each seed, :func:`fusets_dl.train` (spatial blocks held out in each
  training cube) and :func:`~fusets_dl.evaluation.cross_site.score_sites` on
  patch A with ``calibrated=True``: S1-only R2 and bias against every clear
  observation; gap filling of 3 hidden 60-day spells on 600 pixels: the S1
  prediction alone, the default reconstruction (calibrated on patch A's own clear views) and the
  reconstruction calibrated on the other half of patch A's blocks, each as
  RMSE over linear interpolation's.

Printed as a markdown table; ``--json`` also writes the rows.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import xarray as xr

import fusets_dl as fdl
from fusets_dl.evaluation.cross_site import score_sites

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines"))
from pretrain import DATA, real_sites

SPECS: dict[str, dict] = {
    "default": {},
    "levels": {"rolling": 0, "windows": (), "differences": False, "dt": False},
}
SLOVAK = ("slovakia-LR", "slovakia-NB", "slovakia-NS")


def monthly_cube(data: Path) -> xr.Dataset:
    """The WorldCereal monthly composites of ``data`` as a fusion cube named ``monthly-2021``."""
    path = data / "worldcereal_monthly" / "worldcereal_preprocessed_inputs.nc"
    if not path.is_file():
        raise SystemExit(f"{path} not found (needs ../shared/data)")
    cube = fdl.align(fdl.open_s1(path), fdl.open_s2(path)).load()
    cube.attrs["site"] = "monthly-2021"
    return cube


def run(data: Path, train_sets: list[str], specs: list[str], seeds: int, epochs: int) -> list[dict]:
    """One row per training set, spec and seed: the scores on patch A."""
    cubes, _ = real_sites(data)
    by = {c.attrs["site"]: c for c in cubes}
    if "flanders-2018" not in by or any(s not in by for s in SLOVAK):
        raise SystemExit(f"patch A and the Slovak sites are needed in {data}; found {sorted(by)}")
    pools = {"slovak": [by[s] for s in SLOVAK]}
    if any("monthly" in t for t in train_sets):
        mon = monthly_cube(data)
        pools["monthly"] = [mon]
        pools["monthly+slovak"] = [mon, *pools["slovak"]]
    rows = []
    for spec_name in specs:
        spec = fdl.FeatureSpec(**SPECS[spec_name])
        for train_name in train_sets:
            for seed in range(seeds):
                t0 = time.perf_counter()
                model = fdl.train(pools[train_name], spec, fdl.TrainConfig(max_epochs=epochs, seed=seed))
                r = score_sites(model, [by["flanders-2018"]], gap_days=60, n_gaps=3, max_pixels=600, seed=0, calibrated=True).iloc[0]
                lin = float(r.gap_rmse_linear)
                rows.append({"train": train_name, "spec": spec_name, "seed": seed, "r2": float(r.pred_r2), "rmse": float(r.pred_rmse),
                             "bias": float(r.pred_bias), "s1_ratio": float(r.gap_rmse_s1) / lin, "ratio": float(r.gap_ratio),
                             "ratio_calibrated": float(r.gap_ratio_calibrated), "hidden": int(r.gap_n), "seconds": time.perf_counter() - t0})
                logging.info("%s", rows[-1])
    return rows


def table(rows: list[dict]) -> str:
    """Markdown table, one line per row."""
    out = ["| trained on | spec | seed | S1-only R2 | RMSE | bias | S1 alone / linear | fusion / linear | calibrated / linear |",
           "|---|---|---|---|---|---|---|---|---|"]
    out += [f"| {r['train']} | {r['spec']} | {r['seed']} | {r['r2']:.3f} | {r['rmse']:.4f} | {r['bias']:+.4f} | {r['s1_ratio']:.2f} | "
            f"{r['ratio']:.2f} | {r['ratio_calibrated']:.3f} |" for r in rows]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--train", nargs="+", default=["slovak", "monthly", "monthly+slovak"], choices=["slovak", "monthly", "monthly+slovak"])
    p.add_argument("--specs", nargs="+", default=list(SPECS), choices=list(SPECS))
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--json", default=None, help="also write the rows here")
    a = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    rows = run(a.data, a.train, a.specs, a.seeds, a.epochs)
    print(table(rows))
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
