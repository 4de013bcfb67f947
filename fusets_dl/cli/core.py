"""The ``fusets-dl`` command: the demo and one subcommand per stage."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._logging import logger
from ..errors import FusionError

__all__ = ["main"]


def _table(rows: Sequence[tuple[str, Any]], title: str) -> str:
    width = max(len(k) for k, _ in rows)
    lines = [title, "-" * len(title)]
    lines += [f"{k:<{width}}  {v}" for k, v in rows]
    return "\n".join(lines)


def _funnel_rows(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    keys = [
        ("mode", "mode"),
        ("s1_dates", "S1 dates"),
        ("s2_dates", "S2 dates"),
        ("cube_dates", "cube dates"),
        ("pixels", "pixels (S1 grid)"),
        ("grid", "S2 -> S1 grid"),
        ("s2_pixel_dates", "S2 pixel-dates"),
        ("s2_clear_pixel_dates", "  clear (SCL)"),
        ("s2_clear_fraction", "  clear fraction"),
        ("s2_clear_on_s1_grid", "  clear on S1 grid"),
        ("outliers_removed", "  outliers removed"),
        ("s1_valid_pixel_dates", "S1 valid pixel-dates"),
        ("paired_pixel_dates", "cube pixel-dates with NDVI"),
        ("paired_fraction", "  fraction of cube"),
    ]
    return [(label, summary[k]) for k, label in keys if k in summary]


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..alignment.core import align, summarise
    from ..readers.core import open_s1, open_s2
    from ..sample import find_sample, open_truth

    t0 = time.perf_counter()
    folder = find_sample(args.data)
    logger.info("demo: sample scene in %s", folder)
    s1 = open_s1(folder / "s1.nc", chunks={"y": 32, "x": 32})
    s2 = open_s2(folder / "s2.nc", chunks={"y": 32, "x": 32})
    cube = align(s1, s2, tolerance=args.tolerance, outlier_filter=True, compute_summary=True)
    cube.fusion.validate(need_target=True)
    summary = summarise(cube)
    comp = align(s1, s2, freq="12D", compute_summary=True)
    csum = summarise(comp)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cube_path = out / "cube.nc"
    _write_netcdf(cube, cube_path, overwrite=True)
    print(_table(_funnel_rows(summary), f"Fusion cube (pairing within {args.tolerance}) from {folder}"))
    print()
    print(_table(_funnel_rows(csum), "Fusion cube (12-day composites)"))
    print()
    report: dict[str, Any] = {"pair": summary, "composite_12D": csum}
    if not args.no_train:
        from ..evaluation.metrics import regression_metrics
        from ..features.core import FeatureSpec
        from ..inference.predict import predict_ndvi
        from ..models.io import load_model
        from ..training.config import TrainConfig
        from ..training.loop import train

        model = train(cube, FeatureSpec(), TrainConfig(max_epochs=args.epochs, seed=0))
        model_path = model.save(out / "model")
        again = load_model(model_path)
        pred = predict_ndvi(cube, again).compute()
        print(_metrics_table(model.metrics, "Held-out metrics (spatial blocks of 8 x 8 pixels), vs observed clear NDVI"))
        truth = open_truth(folder)
        from ..evaluation.splits import block_mask

        mask = block_mask(cube.sizes["y"], cube.sizes["x"], model.blocks, "test")
        tr = truth["NDVI"].sel(time=cube.time).where(mask[None]).values
        vs_truth = regression_metrics(tr, pred.where(mask[None]).values)
        print(f"vs the true NDVI on the same blocks (all S1 dates, cloudy ones too): R2 {vs_truth['r2']:.3f}  RMSE {vs_truth['rmse']:.4f}  n {vs_truth['n']}")
        print()
        report["model"] = {"path": str(model_path), "sha256": again.sha256, "metrics": model.metrics, "vs_truth_test_blocks": vs_truth}
        report["reconstruction"], report["phenology"] = _demo_reconstruct(cube, again, pred, truth, mask, out)
    (out / "summary.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"outputs in {out} ({time.perf_counter() - t0:.1f} s)")
    if (out / "report.html").exists() and not args.no_train:
        print(f"open the run report: {out / 'report.html'}")
    return 0


def _demo_reconstruct(cube: Any, model: Any, pred: Any, truth: Any, mask: Any, out: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Reconstruct, extract phenology and compare with the truth of the sample (demo stages)."""
    import numpy as np

    from ..alignment.filters import filter_ndvi_outliers
    from ..evaluation.metrics import regression_metrics
    from ..evaluation.scoring import score_phenology
    from ..phenometrics.core import phenology
    from ..reconstruction.core import SOURCE_FLAGS, reconstruct

    rec = reconstruct(cube, model, predicted=pred).compute()
    _write_netcdf(rec, out / "reconstruction.nc", overwrite=True)
    shares = {k: float((rec["source"] == v).mean()) for k, v in SOURCE_FLAGS.items()}
    t = truth["NDVI"].sel(time=cube.time)
    m = mask[None]
    rmet = regression_metrics(t.where(m).values, rec["NDVI"].where(m).values)
    within = float((abs(rec["NDVI"] - t) <= rec["NDVI_std"]).where(m).mean())
    print("Reconstruction (clear S2 kept, S1 predictions in the gaps, weighted Whittaker)")
    print("-------------------------------------------------------------------------------")
    print("source shares: " + ", ".join(f"{k} {v:.1%}" for k, v in shares.items()))
    print(f"vs true NDVI on held-out blocks: R2 {rmet['r2']:.3f}  RMSE {rmet['rmse']:.4f}  bias {rmet['bias']:+.4f}; "
          f"{within:.0%} of values within 1 NDVI_std")
    print()
    ph = phenology(rec["NDVI"], max_seasons=8)
    _write_netcdf(ph, out / "phenology.nc", overwrite=True)
    from ..readers.core import open_s2
    from ..sample import find_sample

    s2 = open_s2(find_sample() / "s2.nc")
    raw = s2["NDVI"].where(filter_ndvi_outliers(s2["NDVI"], s2["clear"]))
    ph_raw = phenology(raw, max_seasons=8)
    period = (np.datetime64("2021-03-01"), np.datetime64("2022-10-31"))
    sc_rec = score_phenology(ph, truth, mask=mask, period=period)
    sc_raw = score_phenology(ph_raw, truth, mask=mask, period=period)
    print("Phenology vs truth on held-out blocks (seasons peaking Mar 2021 - Oct 2022), reconstructed | raw clear S2")
    print("-----------------------------------------------------------------------------------------------------")
    print(f"{'class':<10} {'pixels':>6}  {'right count':>13}  {'SOS MAE (d)':>13}  {'EOS MAE (d)':>13}")
    for cls, r in sc_rec.items():
        w = sc_raw.get(cls, {})
        print(f"{cls:<10} {r['pixels']:>6}  {r['right_count']:>5.2f} | {w.get('right_count', np.nan):<5.2f}  "
              f"{r['sos_mae']:>5.1f} | {w.get('sos_mae', np.nan):<5.1f}  {r['eos_mae']:>5.1f} | {w.get('eos_mae', np.nan):<5.1f}")
    print()
    import xarray as xr

    from ..writers.zarr import provenance_attrs, to_zarr

    merged = xr.merge([rec, ph], compat="override", combine_attrs="drop_conflicts")
    store = to_zarr(merged, out / "demo.zarr", overwrite=True, provenance=provenance_attrs(model_sha256=model.sha256, inputs=["data/sample/s1.nc", "data/sample/s2.nc"]))
    print(f"reconstruction and phenology written to {store} (open with xr.open_zarr(..., decode_coords='all'))")
    rec_info = {"source_shares": shares, "vs_truth_test_blocks": rmet, "within_1_std": within, "zarr": str(store)}
    paths = _demo_report(cube, model, pred, mask, rec, ph, rec_info, {"reconstructed": sc_rec, "raw_s2": sc_raw}, store, out)
    rec_info["report"] = str(paths["html"])
    return rec_info, {"reconstructed": sc_rec, "raw_s2": sc_raw}


def _demo_report(cube: Any, model: Any, pred: Any, mask: Any, rec: Any, ph: Any, rec_info: dict[str, Any],
                 phen_scores: dict[str, Any], store: Path, out: Path) -> dict[str, Path]:
    """The demo's run report: funnel, metrics, evaluation figure, example pixels, maps, provenance."""
    import json as _json

    import numpy as np

    from .._version import __version__
    from ..evaluation.plots import example_pixels, plot_evaluation, plot_maps, plot_pixel
    from ..evaluation.report import Report, funnel_rows, metrics_rows

    rep = Report("fusets_dl demo: bundled sample scene")
    rep.paragraph("Synthetic 64 x 64 scene (2021-2022) with rice, maize, grassland, forest, urban and water; "
                  "every number on this page is on spatial blocks the model never saw in training.")
    rep.heading("Data funnel")
    rep.table("What survived each mask (pairing within 3 days)", funnel_rows(_json.loads(cube.attrs["fusion_summary"])))
    rep.heading("Model")
    rep.table("Held-out metrics vs observed clear NDVI (blocks of 8 x 8 pixels)", metrics_rows(model.metrics))
    rep.table("Test blocks by NDVI range", [{"range": f"{r['range'][0]:g}-{r['range'][1]:g}", **{k: r[k] for k in ("n", "r2", "rmse", "bias")}}
                                            for r in model.metrics.get("test_by_range", [])])
    m3 = np.asarray(mask)[None]
    obs = np.where(m3, cube["NDVI"].values, np.nan)
    prd = np.where(m3, np.asarray(pred.values), np.nan)
    rep.figure("Predicted vs observed NDVI on the held-out blocks, residuals, R2 by range, distributions and training history",
               plot_evaluation(obs, prd, model.history), "evaluation")
    rep.heading("Reconstruction and phenology")
    rep.table("Reconstruction", {"observed share": rec_info["source_shares"]["observed"], "predicted share": rec_info["source_shares"]["predicted"],
                                 "R2 vs true NDVI (held-out)": rec_info["vs_truth_test_blocks"]["r2"],
                                 "RMSE vs true NDVI (held-out)": rec_info["vs_truth_test_blocks"]["rmse"],
                                 "within 1 NDVI_std": rec_info["within_1_std"]})
    rep.table("Phenology vs truth on held-out blocks: reconstructed | raw clear S2",
              [{"class": c, "pixels": r["pixels"], "right count": f"{r['right_count']:.2f} | {phen_scores['raw_s2'].get(c, {}).get('right_count', float('nan')):.2f}",
                "SOS MAE (d)": f"{r['sos_mae']:.1f} | {phen_scores['raw_s2'].get(c, {}).get('sos_mae', float('nan')):.1f}",
                "EOS MAE (d)": f"{r['eos_mae']:.1f} | {phen_scores['raw_s2'].get(c, {}).get('eos_mae', float('nan')):.1f}"}
               for c, r in phen_scores["reconstructed"].items()])
    for i, (yy, xx) in enumerate(example_pixels(rec, cube, 2)):
        rep.figure(f"Pixel y={yy}, x={xx}: clear S2, S1 backscatter, reconstruction ±1 std, detected seasons",
                   plot_pixel(cube, yy, xx, reconstruction=rec, phenology=ph), f"pixel_{i + 1}")
    rep.figure("Maps: SOS/POS/EOS day of year, number of seasons, mean uncertainty, fraction of dates observed",
               plot_maps(ph, rec, cube), "maps")
    rep.heading("Provenance")
    rep.table("Run", {"fusets_dl": __version__, "model sha256": model.sha256, "model": str(out / "model.json"),
                      "store": str(store), "inputs": "data/sample/s1.nc, data/sample/s2.nc"})
    paths = rep.write(out)
    print(f"report: {paths['html']} (and {paths['md'].name})")
    return paths


def _cmd_report(args: argparse.Namespace) -> int:
    from ..evaluation.report import report_from_store

    store = Path(args.store)
    mpath = store.with_name(store.name.removesuffix(".zarr") + ".metrics.json")
    metrics = json.loads(mpath.read_text()) if mpath.exists() else None
    paths = report_from_store(store, args.out, metrics=metrics)
    print(f"report: {paths['html']} (and {paths['md'].name})")
    return 0


def _cmd_reconstruct(args: argparse.Namespace) -> int:
    from ..models.io import load_model
    from ..readers.core import open_cube
    from ..reconstruction.core import reconstruct

    cube = open_cube(args.cube, chunks={"y": args.chunk, "x": args.chunk})
    model = load_model(args.model)
    rec = reconstruct(cube, model, freq=args.freq, smooth=not args.no_smooth, lam=args.lam, device=args.device)
    _write_netcdf(rec, Path(args.output), overwrite=args.overwrite)
    print(f"reconstructed NDVI written to {args.output}")
    return 0


def _cmd_phenology(args: argparse.Namespace) -> int:
    import xarray as xr

    from ..phenometrics.core import phenology

    ds = xr.open_dataset(args.input, chunks={"y": args.chunk, "x": args.chunk})
    if args.variable not in ds:
        raise FusionError(f"{args.input}: expected a variable {args.variable!r}, found {sorted(map(str, ds.data_vars))}")
    period = (args.start, args.end) if args.start or args.end else None
    if period is not None:
        period = (args.start or "1900-01-01", args.end or "2200-01-01")
    ph = phenology(ds[args.variable].chunk({"time": -1}), max_seasons=args.max_seasons, amplitude_fraction=args.fraction,
                   min_amplitude=args.min_amplitude, period=period)
    _write_netcdf(ph, Path(args.output), overwrite=args.overwrite)
    n = ph["n_seasons"].values
    print(f"phenology written to {args.output}: pixels with 0/1/2/3+ seasons: "
          f"{(n == 0).mean():.1%} / {(n == 1).mean():.1%} / {(n == 2).mean():.1%} / {(n >= 3).mean():.1%}")
    return 0


def _cmd_segment(args: argparse.Namespace) -> int:
    import numpy as np

    from ..readers.core import open_cube
    from ..segmentation.core import (
        SegmentConfig,
        kmeans_segment,
        load_segmenter,
        segment,
        train_segmenter,
    )

    cube = open_cube(args.cube, chunks={"y": args.chunk, "x": args.chunk})
    views = tuple(args.views)
    if args.kmeans:
        classes = kmeans_segment(cube, args.n_classes, views=views, seed=args.seed)
    else:
        if args.segmenter:
            seg = load_segmenter(args.segmenter)
        else:
            seg = train_segmenter(cube, SegmentConfig(n_classes=args.n_classes, views=views, epochs=args.epochs, seed=args.seed, device=args.device))
            if args.save_segmenter:
                print(f"segmenter saved: {seg.save(args.save_segmenter)}")
        classes = segment(cube, segmenter=seg)
    _write_netcdf(classes.to_dataset(), Path(args.output), overwrite=args.overwrite)
    values = np.asarray(classes.values)
    counts = {int(c): int((values == c).sum()) for c in np.unique(values)}
    print(f"classes written to {args.output}: pixels per class {counts} (-1: too little S1)")
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from ..pipeline.core import load_config, run, summary_table

    cfg = load_config(args.config)  # every config error is reported before any work
    t0 = time.perf_counter()
    names = [r.name for r in cfg.regions]

    def bar(region: str, done: int, total: int) -> None:
        i = names.index(region) + 1
        filled = int(30 * done / max(total, 1))
        sys.stderr.write(f"\rregion {i}/{len(names)} {region:<16} [{'#' * filled}{'.' * (30 - filled)}] tile {done}/{total}")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    rows = run(cfg, workers=args.workers, scheduler=args.scheduler, progress=None if args.quiet else bar)
    print(summary_table(rows))
    print(f"\noutputs in {cfg.output_root} ({time.perf_counter() - t0:.1f} s)")
    return 0


def _metrics_table(metrics: dict[str, Any], title: str) -> str:
    lines = [title, "-" * len(title), f"{'split':<7} {'n':>8} {'R2':>7} {'RMSE':>7} {'MAE':>7} {'bias':>8}"]
    for name in ("train", "val", "test"):
        m = metrics.get(name)
        if m:
            lines.append(f"{name:<7} {m['n']:>8d} {m['r2']:>7.3f} {m['rmse']:>7.4f} {m['mae']:>7.4f} {m['bias']:>+8.4f}")
    if metrics.get("test_by_range"):
        lines.append("test R2 / RMSE by observed NDVI range:")
        for r in metrics["test_by_range"]:
            lo, hi = r["range"]
            lines.append(f"  [{lo:+.1f}, {hi:+.1f}]  n {r['n']:>7d}  R2 {r['r2']:>7.3f}  RMSE {r['rmse']:.4f}")
    return "\n".join(lines) + "\n"


def _write_netcdf(ds: Any, path: Path, *, overwrite: bool) -> None:
    """Write atomically (temporary name, then rename); refuse to replace unless ``overwrite``."""
    if path.exists() and not overwrite:
        raise FusionError(f"output {str(path)!r} exists: expected a new path, or pass --overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    ds.to_netcdf(tmp)
    tmp.replace(path)


def _cmd_train(args: argparse.Namespace) -> int:
    from ..features.core import FeatureSpec
    from ..readers.core import open_cube
    from ..training.config import TrainConfig
    from ..training.crossval import cross_validate
    from ..training.loop import train

    cube = open_cube(args.cube, chunks={"y": 256, "x": 256})
    spec = FeatureSpec.from_dict(json.loads(args.features)) if args.features else FeatureSpec()
    cfg = TrainConfig(max_epochs=args.epochs, block_size=args.block_size, max_samples=args.max_samples, seed=args.seed, device=args.device)
    if args.cv:
        cv = cross_validate(cube, spec, cfg, folds=args.cv)
        p = cv["pooled"]
        print(f"{args.cv}-fold spatial-block cross-validation: pooled R2 {p['r2']:.3f} RMSE {p['rmse']:.4f} MAE {p['mae']:.4f} bias {p['bias']:+.4f} (n {p['n']}); fold R2 {cv['mean_r2']:.3f} +- {cv['std_r2']:.3f}")
    model = train(cube, spec, cfg)
    path = model.save(args.output)
    print(_metrics_table(model.metrics, f"Held-out metrics (blocks of {args.block_size} x {args.block_size} pixels)"))
    print(f"model written to {path} (sha256 {model.sha256[:16]}...)")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from ..inference.predict import predict_ndvi
    from ..models.io import load_model
    from ..readers.core import open_cube

    cube = open_cube(args.cube, chunks={"y": args.chunk, "x": args.chunk})
    model = load_model(args.model)
    pred = predict_ndvi(cube, model, device=args.device)
    out = Path(args.output)
    _write_netcdf(pred.to_dataset(), out, overwrite=args.overwrite)
    print(f"NDVI predictions written to {out}")
    return 0


def _cmd_align(args: argparse.Namespace) -> int:
    from ..alignment.core import align, summarise
    from ..readers.core import open_s1, open_s2

    s1 = open_s1(args.s1 if len(args.s1) > 1 else args.s1[0], chunks={"y": args.chunk, "x": args.chunk})
    s2 = open_s2(args.s2 if len(args.s2) > 1 else args.s2[0], chunks={"y": args.chunk * 2, "x": args.chunk * 2})
    cube = align(s1, s2, tolerance=args.tolerance, freq=args.freq, outlier_filter=args.outlier_filter,
                 min_clear_fraction=args.min_clear_fraction, compute_summary=True)
    out = Path(args.output)
    _write_netcdf(cube, out, overwrite=args.overwrite)
    print(_table(_funnel_rows(summarise(cube)), f"Fusion cube written to {out}"))
    return 0


def _cmd_summary(args: argparse.Namespace) -> int:
    from ..alignment.core import summarise
    from ..readers.core import open_cube

    cube = open_cube(args.cube, chunks={"y": 256, "x": 256})
    print(_table(_funnel_rows(summarise(cube)), f"Fusion cube {args.cube}"))
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from ..sample import write_scene
    from ..synthetic import make_scene

    write_scene(args.output, *make_scene(args.ny, args.nx, args.start, args.end, args.seed, cloud_cover=args.cloud_cover))
    print(f"synthetic scene ({args.ny} x {args.nx}, seed {args.seed}) written to {args.output}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from ..evaluation.compare import CompareConfig, compare
    from ..models.io import load_model
    from ..training.config import TrainConfig

    if args.cube:
        from ..readers.core import open_cube

        cube, where = open_cube(args.cube), args.cube
    elif args.synthetic:
        from ..alignment.core import align
        from ..readers.core import open_s1, open_s2
        from ..synthetic import make_scene

        s1, s2, _truth = make_scene(args.synthetic, args.synthetic, "2021-01-01", "2022-12-31", args.seed)
        cube, where = align(open_s1(s1), open_s2(s2), outlier_filter=True), f"synthetic {args.synthetic} x {args.synthetic} scene (seed {args.seed})"
    else:
        from ..alignment.core import align
        from ..readers.core import open_s1, open_s2
        from ..sample import find_sample

        folder = find_sample(args.data)
        cube, where = align(open_s1(folder / "s1.nc"), open_s2(folder / "s2.nc"), outlier_filter=True), f"bundled sample {folder}"
    cfg = CompareConfig(
        gap_days=args.gap_days, n_gaps=args.n_gaps, max_pixels=args.max_pixels or None, seed=args.seed,
        methods=tuple(args.methods), mogpr={"device": args.device},
    )
    from ..features.core import FeatureSpec

    model = load_model(args.model) if args.model else None
    spec = FeatureSpec.from_dict(json.loads(args.features)) if args.features else FeatureSpec()
    tcfg = TrainConfig(max_epochs=args.epochs, seed=args.seed, device=args.device, fusion=args.fusion,
                       modality_dropout=args.modality_dropout)
    if "NDVI_cloudy" not in cube.data_vars and spec.cloudy_input:
        logger.warning("compare: cloudy_input requested but the cube has no NDVI_cloudy (align with keep_cloudy=True)")
    result = compare(cube, config=cfg, model=model, features=spec, train_config=tcfg)
    files = result.save(args.out)
    print(f"Gap-filling comparison on {where}\n")
    print(result.to_markdown())
    print("written: " + ", ".join(str(f) for f in files.values()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``fusets-dl``."""
    from .._version import __version__

    p = argparse.ArgumentParser(prog="fusets-dl", description="Sentinel-1/2 fusion for gap-free NDVI and phenology.")
    p.add_argument("--version", action="version", version=f"fusets_dl {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    p.add_argument("-q", "--quiet", action="store_true", help="log warnings only")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("demo", help="run the pipeline on the bundled sample scene")
    d.add_argument("--data", default=None, help="folder with s1.nc, s2.nc, truth.nc (default: data/sample)")
    d.add_argument("--out", default="outputs/demo", help="output folder (default: outputs/demo)")
    d.add_argument("--tolerance", default="3D", help="S1/S2 pairing tolerance (default 3D)")
    d.add_argument("--epochs", type=int, default=40, help="maximum training epochs (default 40)")
    d.add_argument("--no-train", action="store_true", help="stop after alignment")
    d.set_defaults(func=_cmd_demo)

    t = sub.add_parser("train", help="train a fusion model on a cube (netCDF or Zarr with VV, VH, NDVI)")
    t.add_argument("cube")
    t.add_argument("-o", "--output", required=True, help="model path stem (writes .safetensors and .json)")
    t.add_argument("--features", default=None, help="FeatureSpec as JSON, e.g. '{\"lags\": 1}'")
    t.add_argument("--epochs", type=int, default=60)
    t.add_argument("--block-size", type=int, default=8)
    t.add_argument("--max-samples", type=int, default=1_000_000)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--cv", type=int, default=0, help="also run K-fold spatial-block cross-validation")
    t.set_defaults(func=_cmd_train)

    from ..evaluation.compare import METHODS
    from ..models.registry import FUSION_STRATEGIES

    cp = sub.add_parser("compare", help="gap-filling benchmark: DL fusion vs MOGPR, Whittaker and interpolation")
    cp.add_argument("cube", nargs="?", default=None, help="fusion cube (netCDF/Zarr); default: the bundled sample")
    cp.add_argument("--synthetic", type=int, default=None, metavar="N", help="use an N x N synthetic scene instead")
    cp.add_argument("--data", default=None, help="folder of the bundled sample (default: data/sample)")
    cp.add_argument("--model", default=None, help="trained model to evaluate (default: train one, blocks held out)")
    cp.add_argument("--out", default="outputs/compare", help="folder for compare.md/.csv/.json/.png")
    cp.add_argument("--gap-days", type=float, default=60.0, help="length of each simulated cloudy spell (days)")
    cp.add_argument("--n-gaps", type=int, default=5, help="spells per pixel")
    cp.add_argument("--max-pixels", type=int, default=400, help="held-out pixels evaluated (0: all)")
    cp.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    cp.add_argument("--epochs", type=int, default=40)
    cp.add_argument("--features", default=None, help='FeatureSpec as JSON, e.g. \'{"groups": ["sar", "optical", "time"]}\'')
    cp.add_argument("--fusion", default="early", choices=list(FUSION_STRATEGIES))
    cp.add_argument("--modality-dropout", type=float, default=0.0)
    cp.add_argument("--seed", type=int, default=0)
    cp.add_argument("--device", default="auto")
    cp.set_defaults(func=_cmd_compare)

    rp = sub.add_parser("report", help="write report.html / report.md for a Zarr output of demo or run")
    rp.add_argument("store", help="the Zarr store")
    rp.add_argument("-o", "--out", default=None, help="output folder (default: <store>.report)")
    rp.set_defaults(func=_cmd_report)

    rn = sub.add_parser("run", help="resumable batch run over the regions of a YAML config")
    rn.add_argument("config")
    rn.add_argument("--workers", type=int, default=None, help="start a LocalCluster with N worker processes")
    rn.add_argument("--scheduler", default=None, help="address of an existing Dask scheduler")
    rn.set_defaults(func=_cmd_run)

    rc = sub.add_parser("reconstruct", help="gap-filled NDVI with source flags and uncertainty")
    rc.add_argument("cube")
    rc.add_argument("model")
    rc.add_argument("-o", "--output", required=True)
    rc.add_argument("--freq", default=None, help="regular output grid, e.g. 5D (default: the cube dates)")
    rc.add_argument("--no-smooth", action="store_true")
    rc.add_argument("--lam", type=float, default=1000.0, help="Whittaker lambda on a 1-day grid")
    rc.add_argument("--chunk", type=int, default=256)
    rc.add_argument("--device", default="auto")
    rc.add_argument("--overwrite", action="store_true")
    rc.set_defaults(func=_cmd_reconstruct)

    sg = sub.add_parser("segment", help="unsupervised land-cover classes (contrastive S1/S2 encoders + vector quantisation)")
    sg.add_argument("cube")
    sg.add_argument("-o", "--output", required=True)
    sg.add_argument("--n-classes", type=int, default=8)
    sg.add_argument("--views", nargs="+", default=["s1", "s2"], choices=["s1", "s2"])
    sg.add_argument("--epochs", type=int, default=60)
    sg.add_argument("--segmenter", default=None, help="use a saved segmenter instead of training one")
    sg.add_argument("--save-segmenter", default=None, help="save the trained segmenter here (.safetensors + .json)")
    sg.add_argument("--kmeans", action="store_true", help="the k-means baseline on the same profiles instead")
    sg.add_argument("--seed", type=int, default=0)
    sg.add_argument("--chunk", type=int, default=256)
    sg.add_argument("--device", default="auto")
    sg.add_argument("--overwrite", action="store_true")
    sg.set_defaults(func=_cmd_segment)

    ph = sub.add_parser("phenology", help="multi-season phenometrics of an NDVI file")
    ph.add_argument("input", help="netCDF/Zarr with an NDVI variable on (time, y, x)")
    ph.add_argument("-o", "--output", required=True)
    ph.add_argument("--variable", default="NDVI")
    ph.add_argument("--max-seasons", type=int, default=3)
    ph.add_argument("--fraction", type=float, default=0.5, help="SOS/EOS at this fraction of the amplitude")
    ph.add_argument("--min-amplitude", type=float, default=0.1)
    ph.add_argument("--start", default=None, help="keep seasons peaking from this date")
    ph.add_argument("--end", default=None, help="keep seasons peaking up to this date")
    ph.add_argument("--chunk", type=int, default=256)
    ph.add_argument("--overwrite", action="store_true")
    ph.set_defaults(func=_cmd_phenology)

    pr = sub.add_parser("predict", help="predict NDVI from S1 with a trained model")
    pr.add_argument("cube")
    pr.add_argument("model")
    pr.add_argument("-o", "--output", required=True)
    pr.add_argument("--chunk", type=int, default=256)
    pr.add_argument("--device", default="auto")
    pr.add_argument("--overwrite", action="store_true")
    pr.set_defaults(func=_cmd_predict)

    a = sub.add_parser("align", help="build a fusion cube from S1 and S2 files")
    a.add_argument("--s1", nargs="+", required=True, help="S1 file(s), folder or Zarr store")
    a.add_argument("--s2", nargs="+", required=True, help="S2 file(s) (several resolutions are merged)")
    a.add_argument("-o", "--output", required=True, help="output netCDF path")
    a.add_argument("--tolerance", default="3D")
    a.add_argument("--freq", default=None, help="composite onto regular periods, e.g. 12D")
    a.add_argument("--min-clear-fraction", type=float, default=1.0)
    a.add_argument("--outlier-filter", action="store_true")
    a.add_argument("--chunk", type=int, default=256, help="chunk size in pixels on the S1 grid")
    a.add_argument("--overwrite", action="store_true")
    a.set_defaults(func=_cmd_align)

    s = sub.add_parser("summary", help="print what survived each step of a fusion cube")
    s.add_argument("cube")
    s.set_defaults(func=_cmd_summary)

    g = sub.add_parser("synth", help="write a synthetic scene (s1.nc, s2.nc, truth.nc)")
    g.add_argument("-o", "--output", required=True)
    g.add_argument("--ny", type=int, default=64)
    g.add_argument("--nx", type=int, default=64)
    g.add_argument("--start", default="2021-01-01")
    g.add_argument("--end", default="2022-12-31")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--cloud-cover", type=float, default=0.5)
    g.set_defaults(func=_cmd_synth)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``fusets-dl``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args))
    except FusionError as exc:
        logger.error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        return 2
