"""``python -m benchmarks.sequence [--seeds 0 1] [--skip-season]``: the whole-series model against the per-date MLP.

On the WorldCereal patch (patch A, ``../shared/data``), with the same seeded
spatial blocks (8 x 8 px; the training seed draws them, the same for every
model of a seed) and the same spells for every row:

(a) held-out blocks, 5 spells of 60 days: sequence reconstruction (without
    and with the Whittaker pass) with the default ``TrainConfig(model="sequence")``
    and, as "before", with the configuration of the first benchmark (the 13
    base input channels without the gap channels, 25 epochs of 1,024 windows
    of 64 dates), MLP reconstruction, linear interpolation;
(b) leave-season-out: both models trained on the dates before 2018-04,
    3 spells of 60 days after that date;
(c) S1-only R2 on the held-out blocks (every clear date);
(d) uncertainty on the held-out spells (within 1 and 2 std, Gaussian NLL),
    with the network's std and with the std factor fitted on validation blocks;
(e) speed: reconstruction pixel-timesteps/s (patch A tiled 4 x 4) against the
    MLP's ``predict_ndvi`` in the same run, and training throughput.

Prints Markdown tables (the machine may be shared: read speeds as ratios).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import xarray as xr

import fusets_dl as fdl
from fusets_dl.evaluation.comparison import CompareConfig, compare
from fusets_dl.evaluation.methods import COMPARISON_METHODS, Filled, GapInputs, Method
from fusets_dl.evaluation.metrics import regression_metrics
from fusets_dl.evaluation.splits import block_mask
from fusets_dl.inference.sequence import predict_sequence
from fusets_dl.models.sequence import CHANNELS
from fusets_dl.reconstruction.sequence import reconstruct_sequence
from fusets_dl.training.sequence import calibrate_sequence

REPO = Path(__file__).resolve().parents[1]
WC = REPO.parent / "shared" / "data" / "worldcereal_patch_flanders_2018"
_STEM = "00002806639B424A_32631_2017-08-01_2018-11-30.nc"


def _fill_sequence_whittaker(inputs: GapInputs) -> Filled:
    """The sequence model's reconstruction with the weighted Whittaker pass (``smooth=True``)."""
    rec = reconstruct_sequence(inputs.cube, inputs.model, smooth=True)[["NDVI", "NDVI_std"]].compute()
    return Filled(*(rec[v].isel(inputs.pixels).transpose("time", "pixel").values for v in ("NDVI", "NDVI_std")))


#: this benchmark's extra row: the library's ``sequence`` row does not smooth (a sequence model's default)
COMPARISON_METHODS.setdefault("sequence_whittaker", Method("DL sequence model + Whittaker", "#c51b7d", _fill_sequence_whittaker,
                                                           scene_wide=True, default=False))


def patch_a() -> xr.Dataset:
    """The aligned patch-A cube, loaded."""
    s1 = fdl.open_s1(WC / f"S1_GRD-ASCENDING_20m_{_STEM}")
    s2 = fdl.open_s2([WC / f"S2_L2A_10m_{_STEM}", WC / f"S2_L2A_20m_{_STEM}"])
    return fdl.align(s1, s2, outlier_filter=True).load()


def _rows(res: object, names: dict[str, str]) -> list[tuple[str, dict]]:
    rows = {r["method"]: r for r in res.rows}  # type: ignore[attr-defined]
    return [(label, rows[k]) for k, label in names.items() if k in rows]


def _fmt(label: str, r: dict, lin: float) -> str:
    return f"| {label} | {r['rmse']:.4f} | {r['rmse'] / lin:.2f} | {r['mae']:.4f} | {r['r2']:.3f} | {r['bias']:+.4f} | {r['n']} |"


def _table(title: str, rows: list[tuple[str, dict]]) -> str:
    lin = next(r["rmse"] for label, r in rows if label.startswith("linear"))
    head = f"\n### {title}\n\n| method | RMSE | / linear | MAE | R2 | bias | n |\n|---|---|---|---|---|---|---|"
    return "\n".join([head, *(_fmt(label, r, lin) for label, r in rows)])


def _gap_rows(cube: xr.Dataset, mlp: object, seqs: dict[str, object], cfg: CompareConfig) -> list[tuple[str, dict]]:
    """MLP and sequence rows on the same pixels and spells (all models hold out the same blocks)."""
    r_mlp = compare(cube, config=CompareConfig(**{**cfg.__dict__, "methods": ("fusion", "linear")}), model=mlp)
    assert r_mlp.info["n_hidden_scored"] > 0
    rows = []
    for label, seq in seqs.items():
        r_seq = compare(cube, config=CompareConfig(**{**cfg.__dict__, "methods": ("sequence", "sequence_whittaker", "linear")}), model=seq)
        assert r_seq.info["n_hidden_scored"] == r_mlp.info["n_hidden_scored"]
        rows += _rows(r_seq, {"sequence": f"sequence{label} (no smoothing)", "sequence_whittaker": f"sequence{label} + Whittaker"})
    return rows + _rows(r_mlp, {"fusion": "MLP reconstruct (fusion)", "linear": "linear interpolation"})


def _s1_only(cube: xr.Dataset, mlp: object, seqs: dict[str, object]) -> str:
    test = block_mask(cube.sizes["y"], cube.sizes["x"], mlp.blocks, "test")  # type: ignore[attr-defined]
    truth = cube["NDVI"].values
    sel = np.isfinite(truth) & test[None]
    preds = [(f"sequence{label} (S1-only mode)", predict_sequence(cube, seq, s1_only=True, device="cpu")["NDVI_pred"].values)  # type: ignore[arg-type]
             for label, seq in seqs.items()]
    preds.append(("MLP (S1 features)", fdl.predict_ndvi(cube, mlp, device="cpu").values))  # type: ignore[arg-type]
    out = ["\n### (c) S1-only prediction, held-out blocks, every clear date\n", "| model | R2 | RMSE | MAE | bias | n |", "|---|---|---|---|---|---|"]
    for name, p in preds:
        m = regression_metrics(truth[sel], p[sel])
        out.append(f"| {name} | {m['r2']:.3f} | {m['rmse']:.4f} | {m['mae']:.4f} | {m['bias']:+.4f} | {m['n']} |")
    return "\n".join(out)


def _coverage(cube: xr.Dataset, seq: object, seed: int = 0) -> str:
    """Share of hidden held-out values within 1 and 2 std and their Gaussian NLL (5 spells of 60 days per pixel), before/after calibration."""
    from fusets_dl.evaluation.gaps import pick_pixels, s2_view_days

    ndvi = cube["NDVI"].values.astype(np.float64)
    t = cube["time"].to_index()
    days = ((t - t[0]) / np.timedelta64(1, "D")).to_numpy(np.float64)
    test = block_mask(cube.sizes["y"], cube.sizes["x"], seq.blocks, "test")  # type: ignore[attr-defined]
    offset = cube["NDVI_offset"].transpose("time", "y", "x").values if "NDVI_offset" in cube.data_vars else None  # spells hide S2 views
    iy, ix, hidden = pick_pixels(test, ndvi, days, gap_days=60, n_gaps=5, seed=seed, min_clear=4, max_pixels=400,
                                 view_days=s2_view_days(days, offset))
    full = np.zeros(ndvi.shape, dtype=bool)
    full[:, iy, ix] = hidden
    gapped = cube.assign(NDVI=cube["NDVI"].where(~xr.DataArray(full, dims=("time", "y", "x"))))
    quant = calibrate_sequence(seq, cube, method="quantile")  # type: ignore[arg-type]
    cover = calibrate_sequence(seq, cube, method="coverage")  # type: ignore[arg-type]
    lines = ["\n### (d) uncertainty, held-out spells (5 x 60 d, test blocks), std factor fitted on validation blocks\n",
             "| std | factor | n | within 1 std (62-74 %) | within 2 std (92-97 %) | NLL |", "|---|---|---|---|---|---|"]
    for label, model in (("network", dataclasses.replace(seq, calibration={})), ("calibrated: Gaussian NLL (default)", seq),  # type: ignore[type-var]
                         ("calibrated: median of abs z", quant), ("calibrated: 1 and 2 std coverage", cover)):
        rec = reconstruct_sequence(gapped, model)
        mu, sd = rec["NDVI"].values[full], rec["NDVI_std"].values[full].astype(np.float64)
        z = np.abs(ndvi[full] - mu) / sd
        nll = float(np.mean(0.5 * np.log(2 * np.pi) + np.log(sd) + 0.5 * z**2))
        lines.append(f"| {label} | {model.std_scale():.3f} | {z.size} | {100 * (z <= 1).mean():.1f} % | {100 * (z <= 2).mean():.1f} % | {nll:.4f} |")
    return "\n".join(lines)


def _speed(cube: xr.Dataset, mlp: object, seq: object) -> str:
    big = xr.concat([xr.concat([cube] * 4, dim="x")] * 4, dim="y")
    big = big.assign_coords(y=np.arange(big.sizes["y"]) * -20.0, x=np.arange(big.sizes["x"]) * 20.0).chunk({"y": 64, "x": 64})
    n = big.sizes["y"] * big.sizes["x"] * big.sizes["time"]
    t0 = time.perf_counter()
    reconstruct_sequence(big, seq, device="cpu").compute()
    t_seq = time.perf_counter() - t0
    t0 = time.perf_counter()
    fdl.predict_ndvi(big, mlp, device="cpu").compute()
    t_mlp = time.perf_counter() - t0
    info = seq.info  # type: ignore[attr-defined]
    win = info["train_windows_per_second"]
    length = seq.config["seq_window"] + 2 * seq.radius  # type: ignore[attr-defined]
    return (f"\n### (e) speed (this machine, shared: ratios matter), {n / 1e6:.2f} M pixel-timesteps\n\n"
            f"| what | pixel-timesteps/s |\n|---|---|\n| sequence reconstruct (CPU) | {n / t_seq:,.0f} |\n"
            f"| MLP predict_ndvi (CPU) | {n / t_mlp:,.0f} |\n| ratio sequence / MLP | {t_mlp / t_seq:.2f} |\n"
            f"| sequence training | {win:,.0f} windows/s = {win * length:,.0f} timesteps/s ({seq.config['seq_window'] * win:,.0f} scored) |")  # type: ignore[attr-defined]


#: The configuration of the first benchmark (the "before" rows): the 13 base input channels, 25 epochs of 1,024 windows of 64 dates, no dropout.
BEFORE = {"model": "sequence", "max_epochs": 25, "patience": 5, "seq_windows_per_epoch": 1024, "seq_window": 64, "seq_inputs": CHANNELS,
          "seq_dropout": 0.0}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=None, help="max_epochs of the sequence model (default: TrainConfig's)")
    p.add_argument("--windows", type=int, default=None, help="training windows per epoch (default: TrainConfig's)")
    p.add_argument("--skip-season", action="store_true", help="leave out (b)")
    p.add_argument("--skip-before", action="store_true", help="leave out the 'before' sequence rows")
    p.add_argument("--skip-speed", action="store_true", help="leave out (e)")
    p.add_argument("--season-only", action="store_true", help="only (b) (run it beside a --skip-season run)")
    p.add_argument("--calibration-only", action="store_true", help="only (d), the sequence model trained with each --seeds")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (the seed also draws the blocks)")
    p.add_argument("--threads", type=int, default=0, help="torch threads while training (0: torch's default)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cube = patch_a()
    over = {k: v for k, v in (("max_epochs", args.epochs), ("seq_windows_per_epoch", args.windows)) if v is not None}
    seq_cfg = fdl.TrainConfig(model="sequence", num_threads=args.threads, **over)
    if args.season_only:
        _season(cube, seq_cfg)
        return 0
    if args.calibration_only:
        for seed in args.seeds:
            seq = fdl.train(cube, config=dataclasses.replace(seq_cfg, seed=seed))
            print(f"\nseed {seed}: best epoch {seq.info['best_epoch']}, calibration {seq.calibration}", flush=True)
            print(_coverage(cube, seq), flush=True)
        return 0
    for k, seed in enumerate(args.seeds):
        print(f"\n## seed {seed} (blocks and training)", flush=True)
        t0 = time.perf_counter()
        mlp = fdl.train(cube, config=fdl.TrainConfig(seed=seed, num_threads=args.threads))
        t_mlp = time.perf_counter() - t0
        t0 = time.perf_counter()
        seq = fdl.train(cube, config=dataclasses.replace(seq_cfg, seed=seed))
        t_seq = time.perf_counter() - t0
        seqs = {"": seq}
        if not args.skip_before:
            seqs[" before"] = fdl.train(cube, config=fdl.TrainConfig(**BEFORE, seed=seed, num_threads=args.threads))
        print(f"trained: MLP {t_mlp:.0f} s, sequence {t_seq:.0f} s (best epoch {seq.info['best_epoch']}); "
              f"sequence held-out metrics {seq.metrics}", flush=True)
        print(_table(f"(a) patch A, held-out blocks, 5 x 60-day spells, seed {seed}",
                     _gap_rows(cube, mlp, seqs, CompareConfig(gap_days=60, n_gaps=5, seed=0))), flush=True)
        print(_s1_only(cube, mlp, seqs), flush=True)
        print(_coverage(cube, seq), flush=True)
        if k == 0 and not args.skip_speed:
            print(_speed(cube, mlp, seq), flush=True)
    if not args.skip_season:
        _season(cube, seq_cfg)
    return 0


def _season(cube: xr.Dataset, seq_cfg: fdl.TrainConfig) -> None:
    """(b): both models trained on the dates before 2018-04, scored on spells after."""
    early = cube.sel(time=slice(None, "2018-03-31"))
    mlp_e, seq_e = fdl.train(early), fdl.train(early, config=seq_cfg)
    cfg = CompareConfig(gap_days=60, n_gaps=3, seed=0, period=("2018-04-01", str(cube.time.values[-1])[:10]))
    print(_table("(b) leave-season-out: trained before 2018-04, 3 x 60-day spells after", _gap_rows(cube, mlp_e, {"": seq_e}, cfg)), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
