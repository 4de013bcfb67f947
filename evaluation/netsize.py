"""Default network size (issue 24): held-out accuracy and network cost of MLP widths.

    PYTHONPATH=. .venv/bin/python evaluation/netsize.py [--hidden 256,128,64,32,16 128,64,32,16 ...]
        [--seeds 0 1] [--sites A LR NB NS FRA] [--cost-rows 1000000] [--json out.json]

Every row trains the default per-date fusion MLP (``fdl.train`` with the
default :class:`~fusets_dl.FeatureSpec` and :class:`~fusets_dl.TrainConfig`),
changing only ``hidden``; every candidate sees the same seeds, the same
held-out spatial blocks and the same hidden spells:

- ``A``: the WorldCereal patch A (Flanders 2017-08..2018-11, 32 x 32 px),
  8 x 8 pixel blocks (the default split). ``S1-only``: the network's prediction
  against every clear NDVI of the test blocks (``predict_ndvi``).
  ``recon``: :func:`fusets_dl.compare` (``"fusion"``: the prediction merged
  with the remaining clear S2) on 5 hidden spells of 60 days per test pixel.
- ``LR NB NS FRA``: the field point tables of ``evaluation/field_sites.py``
  (same reading, alignment and split: groups of 5 neighbouring points held
  out), ``compare`` with 3 hidden spells of 60 days in held-out points:
  ``recon`` (``"fusion"``) and ``S1-only`` (``"fusion_s1_only"``) on the same
  hidden values.

Cost (``--cost-rows``, 0 to skip): CPU seconds (``time.process_time``, best
of 3) of ``FusionModel.predict_array`` on that many feature rows with torch on
one thread, precision ``"auto"`` and ``"float32"``, and of one training epoch
of 100,000 samples (:func:`train_epoch_cost`). CPU seconds on one thread do not count time lost to other processes on
a shared machine but grow under load (shared caches, SMT), so read the
speed-up against the first candidate of the same run; ``2 x rows / cpu_s`` is
what two idle cores would give if the per-row CPU cost stayed as measured (the
network is compute-bound and splits by rows: ``runtime.cpu_pool`` runs one
batch per core).

Prints Markdown tables (metrics are means over the seeds; ``sd`` is the
spread of RMSE between seeds).
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
from fusets_dl.errors import SourceError
from fusets_dl.evaluation.comparison import CompareConfig, compare
from fusets_dl.evaluation.metrics import regression_metrics
from fusets_dl.evaluation.splits import block_mask

sys.path.insert(0, str(Path(__file__).resolve().parent))
from field_sites import site_inputs

REPO = Path(__file__).resolve().parents[1]
WC = REPO.parent / "shared" / "data" / "worldcereal_patch_flanders_2018"
_STEM = "00002806639B424A_32631_2017-08-01_2018-11-30.nc"
DEFAULT_CANDIDATES = ["256,128,64,32,16", "128,64,32,16", "128,64,32", "64,32,16"]


def patch_a() -> xr.Dataset:
    """The aligned patch-A cube, loaded."""
    s1 = fdl.open_s1(WC / f"S1_GRD-ASCENDING_20m_{_STEM}")
    s2 = fdl.open_s2([WC / f"S2_L2A_10m_{_STEM}", WC / f"S2_L2A_20m_{_STEM}"])
    return fdl.align(s1, s2, outlier_filter=True).load()


def flops(model: fdl.FusionModel) -> int:
    """Multiply-adds x 2 of the network per pixel-timestep (linear layers only)."""
    import torch

    return int(sum(2 * m.weight.numel() for m in model.network.modules() if isinstance(m, torch.nn.Linear)))


def eval_patch_a(cube: xr.Dataset, hidden: tuple[int, ...], seed: int) -> tuple[dict, dict, fdl.FusionModel, float]:
    """S1-only and reconstruction metrics on patch A's test blocks, the model and its training seconds."""
    t0 = time.perf_counter()
    model = fdl.train(cube, config=fdl.TrainConfig(hidden=hidden, seed=seed))
    t_train = time.perf_counter() - t0
    test = block_mask(cube.sizes["y"], cube.sizes["x"], model.blocks, "test")
    truth = cube["NDVI"].transpose("time", "y", "x").values
    pred = fdl.predict_ndvi(cube, model, device="cpu").transpose("time", "y", "x").values
    pred32 = fdl.predict_ndvi(cube, model, device="cpu", precision="float32").transpose("time", "y", "x").values
    sel = np.isfinite(truth) & test[None]
    s1 = regression_metrics(truth[sel], pred[sel])
    # the precision "auto" (bf16 on AVX-512-BF16 CPUs) against float32, every pixel-date of the patch
    s1["auto_vs_f32"] = float(np.sqrt(np.nanmean((pred - pred32) ** 2)))
    s1["rmse_f32"] = regression_metrics(truth[sel], pred32[sel])["rmse"]
    res = compare(cube, config=CompareConfig(gap_days=60, n_gaps=5, seed=0, methods=("fusion",)), model=model)
    rec = next(r for r in res.rows if r["method"] == "fusion")
    return s1, rec, model, t_train


def eval_site(cube: xr.Dataset, hidden: tuple[int, ...], seed: int) -> tuple[dict, dict]:
    """``field_sites.py``'s protocol: S1-only and reconstruction on 3 hidden 60-day spells of held-out points."""
    model = fdl.train(cube, config=fdl.TrainConfig(hidden=hidden, block_size=5, seed=seed))
    cfg = CompareConfig(gap_days=60, n_gaps=3, methods=("fusion", "fusion_s1_only"), max_pixels=None, min_clear=4, seed=0)
    rows = {r["method"]: r for r in compare(cube, config=cfg, model=model).rows}
    return rows["fusion_s1_only"], rows["fusion"]


def cpu_seconds(fn, repeats: int = 3) -> float:
    """Best of ``repeats`` process CPU seconds of ``fn()``."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def predict_cost(model: fdl.FusionModel, rows: int) -> dict[str, float]:
    """CPU seconds of ``predict_array`` on ``rows`` random standardised-range rows, torch on one thread."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(0)
        sc = model.scaler
        x = (sc.feature_mean + sc.feature_std * rng.standard_normal((rows, len(model.spec.names)))).astype(np.float32)
        out = {}
        for prec in ("auto", "float32"):
            model.predict_array(x[:20_000], device="cpu", precision=prec)  # warm-up (oneDNN primitives)
            out[prec] = cpu_seconds(lambda p=prec: model.predict_array(x, device="cpu", precision=p))
        out["rmse_auto_vs_f32"] = float(np.sqrt(np.nanmean(
            (model.predict_array(x[:200_000], device="cpu", precision="auto")
             - model.predict_array(x[:200_000], device="cpu", precision="float32")) ** 2)))
        return out
    finally:
        torch.set_num_threads(threads)


def train_epoch_cost(hidden: tuple[int, ...], n_in: int, rows: int = 100_000) -> float:
    """CPU seconds of one training epoch of ``rows`` samples, torch on one thread.

    The steps of ``fusets_dl.training.loop`` (default batch size, AdamW, Huber
    loss, BatchNorm and dropout in train mode, CPU float32) on random
    standardised samples: the network's share of an epoch, which is what the
    width changes (sampling and features are the same for every width).
    """
    import torch

    from fusets_dl.models.mlp import MLP

    cfg = fdl.TrainConfig(hidden=hidden)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        gen = torch.Generator().manual_seed(0)
        x, y = torch.randn(rows, n_in, generator=gen), torch.randn(rows, generator=gen)
        net = MLP(n_in, hidden, cfg.dropout, cfg.batch_norm).train()
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        loss_fn = torch.nn.HuberLoss(delta=1.0)

        def epoch() -> None:
            perm = torch.randperm(rows, generator=gen)
            for i in range(0, rows - cfg.batch_size + 1, cfg.batch_size):
                idx = perm[i : i + cfg.batch_size]
                loss = loss_fn(net(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

        epoch()  # warm-up
        return cpu_seconds(epoch)
    finally:
        torch.set_num_threads(threads)


def _mean(ms: list[dict]) -> dict[str, float]:
    out = {k: float(np.mean([m[k] for m in ms])) for k in ("r2", "rmse", "mae", "bias")}
    out["sd"] = float(np.std([m["rmse"] for m in ms], ddof=1)) if len(ms) > 1 else float("nan")
    out["n"] = int(ms[0]["n"])
    return out


def _row(label: str, site: str, kind: str, m: dict) -> str:
    return (f"| {label} | {site} | {kind} | {m['r2']:.3f} | {m['rmse']:.4f} | {m['sd']:.4f} | "
            f"{m['mae']:.4f} | {m['bias']:+.4f} | {m['n']} |")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hidden", nargs="+", default=DEFAULT_CANDIDATES, help="comma-separated widths per candidate")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--sites", nargs="+", default=["A", "LR", "NB", "NS", "FRA"], choices=["A", "LR", "NB", "NS", "FRA"])
    p.add_argument("--cost-rows", type=int, default=1_000_000)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not WC.exists():
        print(f"real data not found at {WC.parent}: this script needs ../shared/data beside the repository", file=sys.stderr)
        return 2
    cands = [tuple(int(w) for w in h.split(",")) for h in args.hidden]
    cubes: dict[str, xr.Dataset] = {}
    for site in args.sites:
        if site == "A":
            cubes[site] = patch_a()
        else:
            try:
                s1, s2, _ = site_inputs(site)
            except (FileNotFoundError, SourceError) as exc:
                logging.warning("%s skipped: %s", site, exc)
                continue
            cubes[site] = fdl.align(s1, s2, tolerance="6D" if site == "FRA" else "3D").load()
    report: dict = {"accuracy": {}, "cost": {}}
    acc_lines = ["| hidden | site | score | R2 | RMSE | sd(RMSE) | MAE | bias | n |", "|---|---|---|---|---|---|---|---|---|"]
    cost_lines = ["| hidden | FLOP / px-step | predict CPU s auto | predict CPU s f32 | 2 x M rows per CPU-s auto | "
                  "2 x M rows per CPU-s f32 | speed-up auto vs first row | train epoch CPU s / 100k samples |",
                  "|---|---|---|---|---|---|---|---|"]
    if args.cost_rows:
        cube = next(iter(cubes.values()))
        first_auto = 0.0
        for hidden in cands:  # cost first: a random-weight network of each width (cost does not depend on the weights)
            model = fdl.train(cube, config=fdl.TrainConfig(hidden=hidden, max_epochs=1, seed=0))
            c = predict_cost(model, args.cost_rows)
            first_auto = first_auto or c["auto"]
            fl = flops(model)
            ep_s = train_epoch_cost(hidden, len(model.spec.names))
            label = "-".join(map(str, hidden))
            report["cost"][label] = {**c, "flop": fl, "epoch_cpu_s_per_100k": ep_s}
            cost_lines.append(
                f"| {label} | {fl:,} | {c['auto']:.3f} | {c['float32']:.3f} | {args.cost_rows / (c['auto'] / 2) / 1e6:.2f} | "
                f"{args.cost_rows / (c['float32'] / 2) / 1e6:.2f} | {first_auto / c['auto']:.2f}x | {ep_s:.2f} |")
            print(cost_lines[-1], flush=True)
    prec_lines = ["| hidden | NDVI RMSE auto vs float32 (max over seeds) | held-out RMSE auto | held-out RMSE float32 |",
                  "|---|---|---|---|"]
    for site, cube in cubes.items():
        for hidden in cands:
            label = "-".join(map(str, hidden))
            s1s, recs = [], []
            for seed in args.seeds:
                s1, rec = eval_patch_a(cube, hidden, seed)[:2] if site == "A" else eval_site(cube, hidden, seed)
                s1s.append(s1)
                recs.append(rec)
            for kind, ms in (("S1-only", s1s), ("recon 60 d", recs)):
                m = _mean(ms)
                report["accuracy"][f"{label}/{site}/{kind}"] = {**m, "per_seed": [x["rmse"] for x in ms]}
                if "auto_vs_f32" in ms[0]:
                    prec = {k: float(np.max([x[k] for x in ms])) for k in ("auto_vs_f32", "rmse_f32")}
                    report["accuracy"][f"{label}/{site}/{kind}"].update(prec)
                    prec_lines.append(f"| {label} | {prec['auto_vs_f32']:.1e} | {m['rmse']:.4f} | "
                                      f"{np.mean([x['rmse_f32'] for x in ms]):.4f} |")
                acc_lines.append(_row(label, site, kind, m))
                print(acc_lines[-1], flush=True)
    print("\n## Held-out accuracy (mean over seeds " + " ".join(map(str, args.seeds)) + ")\n")
    print("\n".join(acc_lines))
    if len(prec_lines) > 2:
        print("\n## Precision: patch A, S1-only, every pixel-date (auto vs float32) and held-out RMSE\n")
        print("\n".join(prec_lines))
    if len(cost_lines) > 2:
        print(f"\n## Network cost ({args.cost_rows:,} rows, torch 1 thread, CPU s best of 3)\n")
        print("\n".join(cost_lines))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
