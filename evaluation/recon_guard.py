"""Why the reconstruction can be worse than its own S1 prediction, and the calibrated guard that fixes it.

    PYTHONPATH=. .venv/bin/python evaluation/recon_guard.py synthetic [--size 48] [--haze 0.1]
    PYTHONPATH=. .venv/bin/python evaluation/recon_guard.py patch_a
    PYTHONPATH=. .venv/bin/python evaluation/recon_guard.py slovakia [--site LR]

Each run trains the S1-only fusion MLP with spatial blocks held out, hides
``--n-gaps`` spells of ``--gap-days`` clear observations in the held-out
(test) blocks, and scores on the hidden values: the prediction alone, linear
interpolation, the old fixed reconstruction (inverse-variance weights about
0.1, lambda 1000), each factor changed alone (prediction weight, lambda, the
long-gap guard) and the calibrated reconstruction (weights, lambda and guard
chosen by :func:`fusets_dl.reconstruction.calibrate.calibrate` on spells of
the validation/training blocks, never the test blocks). The synthetic run
also scores against the noise-free truth and repeats the default with and
without residual haze (``haze_fraction``), which isolates factor (c).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

import fusets_dl as fdl
from fusets_dl.evaluation.gaps import pick_pixels, s2_view_days
from fusets_dl.evaluation.splits import block_mask
from fusets_dl.reconstruction.calibrate import calibrate, score_settings
from fusets_dl.reconstruction.uncertainty import pred_std_table
from fusets_dl.smoothing import fill_interpolated
from fusets_dl.synthetic import make_scene
from fusets_dl.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"

FACTORS = [
    ("old default (w_pred ~0.1 inverse variance, lambda 1000)", {"w_pred": None, "lam": 1000.0, "pred_gap_days": None}),
    ("(a) weights: w_pred 1", {"w_pred": 1.0, "lam": 1000.0, "pred_gap_days": None}),
    ("(a) weights: w_pred 3", {"w_pred": 3.0, "lam": 1000.0, "pred_gap_days": None}),
    ("(b) lambda 100", {"w_pred": None, "lam": 100.0, "pred_gap_days": None}),
    ("(b) lambda 10", {"w_pred": None, "lam": 10.0, "pred_gap_days": None}),
    ("(a+b) w_pred 1, lambda 100", {"w_pred": 1.0, "lam": 100.0, "pred_gap_days": None}),
    ("guard 20 d (old weights, lambda)", {"w_pred": None, "lam": 1000.0, "pred_gap_days": 20.0}),
]


def tropical_cube(size: int, haze: float, seed: int = 3) -> tuple[xr.Dataset, xr.Dataset]:
    """A rice-dominated scene, 2-3 crops a year, about a quarter of S2 pixel-dates clear, with residual haze."""
    s1, s2, truth = make_scene(
        size, size, "2021-01-01", "2022-12-31", seed, proportions={"rice": 0.75, "maize": 0.1, "grassland": 0.1, "urban": 0.05},
        rice_third_season=0.6, cloud_cover=0.74, rainy_months=(6, 7, 8, 9, 10, 11), haze_fraction=haze,
    )
    cube = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2)).load()
    return cube, truth


def _linear(obs: np.ndarray, days: np.ndarray) -> np.ndarray:
    return fill_interpolated(obs, np.zeros_like(obs), days)[0]


def evaluate(cube: xr.Dataset, model, *, gap_days: float, n_gaps: int, seed: int = 0, truth: np.ndarray | None = None,
             max_pixels: int = 600) -> dict:
    """The table of one cube: rows of RMSE / bias on the hidden values of the test blocks."""
    t = pd.DatetimeIndex(cube["time"].values)
    days = ((t - t[0].floor("D")) / pd.Timedelta(days=1)).to_numpy(np.float64)
    ndvi = cube["NDVI"].transpose("time", "y", "x").values.astype(np.float64)
    test = block_mask(cube.sizes["y"], cube.sizes["x"], model.blocks, "test")
    offset = cube["NDVI_offset"].transpose("time", "y", "x").values if "NDVI_offset" in cube.data_vars else None  # spells hide S2 views
    iy, ix, hidden = pick_pixels(test, ndvi, days, gap_days=gap_days, n_gaps=n_gaps, seed=seed, min_clear=4, max_pixels=max_pixels,
                                 view_days=s2_view_days(days, offset))
    full_hidden = np.zeros(ndvi.shape, dtype=bool)
    full_hidden[:, iy, ix] = hidden
    cube_h = cube.copy()
    cube_h["NDVI"] = cube["NDVI"].where(~xr.DataArray(full_hidden, dims=("time", "y", "x")))
    pred_full = fdl.predict_ndvi(cube_h, model).compute()
    cal = calibrate(cube_h, model, predicted=pred_full, gap_days=gap_days, n_gaps=min(n_gaps, 3), seed=seed + 1)
    obs = ndvi[:, iy, ix].T
    pred = pred_full.transpose("time", "y", "x").values[:, iy, ix].T.astype(np.float64)
    edges, table = pred_std_table(model)
    settings = [s for _, s in FACTORS] + [cal.settings]
    names = [n for n, _ in FACTORS] + [f"calibrated {cal.settings}"]
    rows = score_settings(obs, pred, hidden.T, days, settings, edges=edges, table=table)
    lin = _linear(np.where(hidden.T, np.nan, obs), days)
    scored = hidden.T & np.isfinite(lin) & np.isfinite(pred)
    out = []
    recs = {}
    for name, r in zip([*names, "S1 prediction alone"], rows, strict=True):
        out.append({"method": name, "rmse": r["rmse"], "bias": r["bias"], "n": r["n"]})
    err = lin[scored] - obs[scored]
    out.append({"method": "linear interpolation (S2 only)", "rmse": float(np.sqrt(np.mean(err**2))), "bias": float(err.mean()), "n": int(err.size)})
    if truth is not None:  # the same rows against the noise-free truth at the hidden dates
        tr = truth[:, iy, ix].T.astype(np.float64)
        rows_t = score_settings(np.where(hidden.T, tr, obs), pred, hidden.T, days, settings, edges=edges, table=table)
        for o, r in zip(out, rows_t, strict=False):
            o["rmse_truth"] = r["rmse"]
        e = lin[scored] - tr[scored]
        out[-1]["rmse_truth"] = float(np.sqrt(np.mean(e**2)))
    del recs
    info = {"pixels": int(iy.size), "hidden": int(hidden.sum()), "calibration": {k: v for k, v in cal.to_dict().items() if k != "table"},
            "clear_fraction": float(np.isfinite(ndvi).mean()), "model_test": model.metrics.get("test")}
    return {"rows": out, "info": info}


def _table(res: dict) -> str:
    has_t = "rmse_truth" in res["rows"][0]
    head = "| method | RMSE | bias |" + (" RMSE vs truth |" if has_t else "") + "\n|---|---|---|" + ("---|" if has_t else "") + "\n"
    body = "".join(
        f"| {r['method']} | {r['rmse']:.4f} | {r['bias']:+.4f} |" + (f" {r.get('rmse_truth', float('nan')):.4f} |" if has_t else "") + "\n"
        for r in res["rows"]
    )
    return head + body + f"\n{json.dumps(res['info'], default=str)}\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["synthetic", "patch_a", "slovakia"])
    p.add_argument("--size", type=int, default=48)
    p.add_argument("--haze", type=float, default=0.1)
    p.add_argument("--gap-days", type=float, default=60.0)
    p.add_argument("--n-gaps", type=int, default=5)
    p.add_argument("--site", default="LR")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--out", default="outputs/recon_guard")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tc = TrainConfig(max_epochs=a.epochs, seed=0)
    text = ""
    if a.what == "synthetic":
        model = None
        for haze in sorted({a.haze, 0.0}, reverse=True):  # one model (trained on the hazy scene): S1 is the same in both
            cube, truth = tropical_cube(a.size, haze)
            model = model or fdl.train(cube, None, tc)
            res = evaluate(cube, model, gap_days=a.gap_days, n_gaps=a.n_gaps, truth=truth["NDVI"].transpose("time", "y", "x").values)
            text += f"\n### synthetic tropical rice, haze_fraction {haze}\n\n" + _table(res)
    elif a.what == "patch_a":
        wc = DATA / "worldcereal_patch_flanders_2018"
        s1 = fdl.open_s1(wc / "S1_GRD-ASCENDING_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc")
        s2 = fdl.open_s2([wc / f"S2_L2A_{r}_00002806639B424A_32631_2017-08-01_2018-11-30.nc" for r in ("10m", "20m")])
        cube = fdl.align(s1, s2, outlier_filter=True).load()
        model = fdl.train(cube, None, tc)
        res = evaluate(cube, model, gap_days=a.gap_days, n_gaps=a.n_gaps)
        text += "\n### patch A (Flanders 2017-08..2018-11)\n\n" + _table(res)
    else:
        from fusets_dl.readers.tables import open_points

        sl = DATA / "slovakia_grassland"
        s1, s2 = open_points(sorted((sl / "S1").glob(f"ts_{a.site}_GMI_S1_*.csv")), sorted((sl / "S2").glob(f"ts_{a.site}_GMI_S2_*.csv")))
        cube = fdl.align(s1, s2, tolerance="3D").load()
        model = fdl.train(cube, None, TrainConfig(max_epochs=a.epochs, seed=0, block_size=5))
        res = evaluate(cube, model, gap_days=a.gap_days, n_gaps=a.n_gaps)
        text += f"\n### Slovakia {a.site}\n\n" + _table(res)
    print(text)
    (out / f"{a.what}.md").write_text(text)


if __name__ == "__main__":
    main()
