"""``fusets-dl demo``: the whole flow on the bundled sample scene, scored against its truth, with a run report.

align (pairs and 12-day composites) -> train -> predict -> reconstruct ->
phenology -> Zarr, every number measured on spatial blocks the model never
saw; ``summary.json``, the netCDF/Zarr outputs and ``report.html`` land in
the output folder.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .._logging import logger
from ..progress import dask_progress
from .output import (
    check_folder_out,
    funnel_rows,
    metrics_table,
    table,
    write_netcdf,
)

__all__ = ["DEMO_EPOCHS", "DEMO_FILES", "DEMO_MAX_SAMPLES", "DEMO_OUT", "DEMO_PATIENCE", "cmd_demo"]

#: Default ``--epochs`` of the demo: an upper bound, early stopping usually ends sooner.
DEMO_EPOCHS = 20
#: Default ``--max-samples`` of the demo: pixel-dates drawn for training, validation and test
#: (of about 240,000 with complete features), so that the demo stays under a minute on 2 cores.
DEMO_MAX_SAMPLES = 60_000
#: Early-stopping patience of the demo's training (epochs without a better validation loss).
DEMO_PATIENCE = 4
#: Default ``--out`` of the demo: its own folder, where a rerun (``make demo``) replaces the demo's earlier outputs.
DEMO_OUT = "outputs/demo"
#: What the demo writes into ``--out``: with ``--no-train`` the first two only.
DEMO_FILES = ("cube.nc", "summary.json", "model.safetensors", "model.json", "reconstruction.nc", "phenology.nc", "demo.zarr",
              "report.md", "report.html", "figures/evaluation.png", "figures/pixel_1.png", "figures/pixel_2.png", "figures/maps.png")

_PERIOD = ("2021-03-01", "2022-10-31")  # seasons scored against the truth peak in this period
_INPUTS = ["data/sample/s1.nc", "data/sample/s2.nc"]


def cmd_demo(args: argparse.Namespace) -> int:
    """``fusets-dl demo``: run the pipeline on the bundled sample scene.

    Parameters
    ----------
    args : argparse.Namespace
        ``data`` (the sample folder), ``out`` (None: :data:`DEMO_OUT`),
        ``overwrite``, ``tolerance``, ``epochs``, ``max_samples`` (0: the
        trainer's cap), ``no_train`` (stop after alignment).

    Returns
    -------
    int
        0.

    Raises
    ------
    ConfigError, StoreExistsError
        Before any work: ``--out`` is a file or the sample folder, or holds
        outputs of an earlier demo without ``--overwrite`` (not needed in
        the default folder), or a file of the demo's names that fusets_dl
        did not write.
    """
    from ..sample import find_sample

    t0 = time.perf_counter()
    out = _demo_out(args)
    folder = find_sample(args.data)
    logger.info("demo: sample scene in %s", folder)
    clock = _Clock()
    with clock("align"):
        cube, summary, csum = _demo_cubes(folder, args.tolerance, out)
    print(table(funnel_rows(summary), f"Fusion cube (pairing within {args.tolerance}) from {folder}"))
    print()
    print(table(funnel_rows(csum), "Fusion cube (12-day composites)"))
    print()
    report: dict[str, Any] = {"pair": summary, "composite_12D": csum}
    if not args.no_train:
        report.update(_demo_model(cube, folder, args.epochs, getattr(args, "max_samples", DEMO_MAX_SAMPLES), out, clock))
    total = time.perf_counter() - t0
    report["seconds"] = {"total": round(total, 1), **clock.seconds}
    report["cpu_seconds"] = {"total": round(time.process_time(), 1), **clock.cpu_seconds}  # process total, imports included
    (out / "summary.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"outputs in {out} ({total:.1f} s: " + ", ".join(f"{k} {v:.1f}" for k, v in clock.seconds.items()) + ")")
    if "model" in report:
        m, test = report["model"], report["model"]["metrics"]["test"]
        print(f"model: {m['epochs']} epochs (best {m['best_epoch']}) on {m['train_samples']} training pixel-dates; "
              f"held-out test blocks R2 {test['r2']:.3f}, RMSE {test['rmse']:.4f} vs observed clear NDVI")
    if (out / "report.html").exists() and not args.no_train:
        print(f"open the run report: {out / 'report.html'}")
    return 0


def _demo_out(args: argparse.Namespace) -> Path:
    """The output folder, checked before any work: the default one takes a rerun, another needs ``--overwrite``."""
    given = getattr(args, "out", None)
    out = Path(given if given is not None else DEMO_OUT)
    own = out.resolve() == Path(DEMO_OUT).resolve()  # the demo's own folder: `make demo` reruns into it
    overwrite = getattr(args, "overwrite", False) or own
    names = DEMO_FILES[:2] if args.no_train else DEMO_FILES
    check_folder_out(out, names, overwrite=overwrite, option="--out", command="demo", inputs=[args.data])
    return out


class _Clock:
    """Wall and CPU seconds per demo step, in order (wall printed at the end, both kept in ``summary.json``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - t0, 1)
            self.cpu_seconds[name] = round(self.cpu_seconds.get(name, 0.0) + time.process_time() - c0, 1)


def _demo_cubes(folder: Path, tolerance: str, out: Path) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """The paired cube (written to ``cube.nc``) and the funnels of it and of 12-day composites."""
    from ..alignment import align, summarise
    from ..readers import open_s1, open_s2

    s1 = open_s1(folder / "s1.nc", chunks={"y": 32, "x": 32})
    s2 = open_s2(folder / "s2.nc", chunks={"y": 32, "x": 32})
    cube = align(s1, s2, tolerance=tolerance, outlier_filter=True, compute_summary=True)
    cube.fusion.validate(need_target=True)
    summary = summarise(cube)
    csum = summarise(align(s1, s2, freq="12D", compute_summary=True))
    out.mkdir(parents=True, exist_ok=True)
    write_netcdf(cube, out / "cube.nc", overwrite=True)
    return cube, summary, csum


def _demo_model(cube: Any, folder: Path, epochs: int, max_samples: int, out: Path, clock: _Clock) -> dict[str, Any]:
    """Train, save, reload and predict; score against the truth; then reconstruct, phenology and report."""
    from ..evaluation import block_mask, regression_metrics
    from ..features import FeatureSpec
    from ..inference import predict_ndvi
    from ..models import load_model
    from ..sample import open_truth
    from ..training import TrainConfig, train

    cap = {"max_samples": max_samples} if max_samples else {}
    with clock("train"):
        model = train(cube, FeatureSpec(), TrainConfig(max_epochs=epochs, patience=DEMO_PATIENCE, seed=0, **cap))
        model_path = model.save(out / "model")
    with clock("predict"), dask_progress("predict"):
        again = load_model(model_path)
        pred = predict_ndvi(cube, again).compute()
    print(metrics_table(model.metrics, "Held-out metrics (spatial blocks of 8 x 8 pixels), vs observed clear NDVI"))
    truth = open_truth(folder)
    mask = block_mask(cube.sizes["y"], cube.sizes["x"], model.blocks, "test")
    tr = truth["NDVI"].sel(time=cube.time).where(mask[None]).values
    vs_truth = regression_metrics(tr, pred.where(mask[None]).values)
    print(f"vs the true NDVI on the same blocks (all S1 dates, cloudy ones too): R2 {vs_truth['r2']:.3f}  RMSE {vs_truth['rmse']:.4f}  n {vs_truth['n']}")
    print()
    with clock("reconstruct"):
        rec, rec_info = _demo_reconstruction(cube, again, pred, truth, mask, out)
    with clock("phenology"):
        ph, scores = _demo_phenology(rec, truth, mask, folder, out)
    with clock("report"):
        rec_info["zarr"] = str(_demo_store(rec, ph, again, out))
        paths = _demo_report(cube, again, pred, mask, rec, ph, rec_info, scores, Path(rec_info["zarr"]), out)
    rec_info["report"] = str(paths["html"])
    return {
        "model": {"path": str(model_path), "sha256": again.sha256, "metrics": model.metrics, "vs_truth_test_blocks": vs_truth,
                  "epochs": len(model.history), "best_epoch": model.info["best_epoch"],
                  "train_samples": model.info["funnel"]["train"], "max_epochs": epochs},
        "reconstruction": rec_info,
        "phenology": scores,
    }


def _demo_reconstruction(cube: Any, model: Any, pred: Any, truth: Any, mask: Any, out: Path) -> tuple[Any, dict[str, Any]]:
    """Reconstruct (written to ``reconstruction.nc``) and score it against the truth on the held-out blocks."""
    from ..evaluation import regression_metrics
    from ..reconstruction import SOURCE_FLAGS, reconstruct

    with dask_progress("reconstruct"):
        rec = reconstruct(cube, model, predicted=pred).compute()
    write_netcdf(rec, out / "reconstruction.nc", overwrite=True)
    shares = {k: float((rec["source"] == v).mean()) for k, v in SOURCE_FLAGS.items()}
    t = truth["NDVI"].sel(time=cube.time)
    m = mask[None]
    rmet = regression_metrics(t.where(m).values, rec["NDVI"].where(m).values)
    within = float((abs(rec["NDVI"] - t) <= rec["NDVI_std"]).where(m).mean())
    gaps = m & (rec["source"] != SOURCE_FLAGS["observed"])  # the filled values only: a kept clear view scores itself
    gmet = regression_metrics(t.where(gaps).values, rec["NDVI"].where(gaps).values)
    gwithin = float((abs(rec["NDVI"] - t) <= rec["NDVI_std"]).where(gaps).mean())
    print("Reconstruction (clear S2 kept, S1 predictions in the gaps, weighted Whittaker)")
    print("-------------------------------------------------------------------------------")
    print("source shares: " + ", ".join(f"{k} {v:.1%}" for k, v in shares.items()))
    print(f"vs true NDVI on held-out blocks: R2 {rmet['r2']:.3f}  RMSE {rmet['rmse']:.4f}  bias {rmet['bias']:+.4f}; "
          f"{within:.0%} of values within 1 NDVI_std")
    print(f"  of which the filled values (no clear view): R2 {gmet['r2']:.3f}  RMSE {gmet['rmse']:.4f}  bias {gmet['bias']:+.4f}; "
          f"{gwithin:.0%} within 1 NDVI_std (n {gmet['n']})")
    print()
    return rec, {"source_shares": shares, "vs_truth_test_blocks": rmet, "within_1_std": within,
                 "vs_truth_test_blocks_filled": gmet, "within_1_std_filled": gwithin}


def _demo_phenology(rec: Any, truth: Any, mask: Any, folder: Path, out: Path) -> tuple[Any, dict[str, Any]]:
    """Phenology of the reconstruction (written to ``phenology.nc``) and of raw clear S2, both scored against the truth."""
    import numpy as np

    from ..alignment import filter_ndvi_outliers
    from ..evaluation import score_phenology
    from ..phenometrics import phenology
    from ..readers import open_s2

    ph = phenology(rec["NDVI"], max_seasons=8, observed=rec["source"])  # with how much of each season was seen
    write_netcdf(ph, out / "phenology.nc", overwrite=True)
    s2 = open_s2(folder / "s2.nc")
    raw = s2["NDVI"].where(filter_ndvi_outliers(s2["NDVI"], s2["clear"]))
    ph_raw = phenology(raw, max_seasons=8)
    period = (np.datetime64(_PERIOD[0]), np.datetime64(_PERIOD[1]))
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
    return ph, {"reconstructed": sc_rec, "raw_s2": sc_raw}


def _demo_store(rec: Any, ph: Any, model: Any, out: Path) -> Path:
    """Reconstruction and phenology in one Zarr store, with provenance."""
    import xarray as xr

    from ..writers import provenance_attrs, to_zarr

    merged = xr.merge([rec, ph], compat="override", combine_attrs="drop_conflicts")
    store = to_zarr(merged, out / "demo.zarr", overwrite=True, provenance=provenance_attrs(model_sha256=model.sha256, inputs=_INPUTS))
    print(f"reconstruction and phenology written to {store} (open with xr.open_zarr(..., decode_coords='all'))")
    return store


def _demo_report(cube: Any, model: Any, pred: Any, mask: Any, rec: Any, ph: Any, rec_info: dict[str, Any],
                 phen_scores: dict[str, Any], store: Path, out: Path) -> dict[str, Path]:
    """The demo's run report: funnel, metrics, evaluation figure, example pixels, maps, provenance."""
    from .._version import __version__
    from ..evaluation.report import Report
    from ..evaluation.report import funnel_rows as report_funnel_rows

    rep = Report("fusets_dl demo: bundled sample scene")
    rep.paragraph("Synthetic 64 x 64 scene (2021-2022) with rice, maize, grassland, forest, urban and water; "
                  "the skill numbers on this page are on spatial blocks the model never saw in training "
                  "(the training row of the model table is labelled as such: it measures fit, not skill).")
    rep.heading("Data funnel")
    rep.table("What survived each mask (pairing within 3 days)", report_funnel_rows(json.loads(cube.attrs["fusion_summary"])))
    _report_model(rep, cube, model, pred, mask)
    rep.heading("Reconstruction and phenology")
    _report_reconstruction(rep, rec_info, phen_scores)
    _report_figures(rep, cube, rec, ph)
    rep.heading("Provenance")
    rep.table("Run", {"fusets_dl": __version__, "model sha256": model.sha256, "model": str(out / "model.json"),
                      "store": str(store), "inputs": ", ".join(_INPUTS)})
    paths = rep.write(out)
    print(f"report: {paths['html']} (and {paths['md'].name})")
    return paths


def _report_model(rep: Any, cube: Any, model: Any, pred: Any, mask: Any) -> None:
    """The report's model section: held-out metrics, by NDVI range, and the evaluation figure."""
    import numpy as np

    from ..evaluation.plots import plot_evaluation
    from ..evaluation.report import metrics_rows

    rep.heading("Model")
    rep.table("Held-out metrics vs observed clear NDVI (blocks of 8 x 8 pixels), with the training fit for comparison", metrics_rows(model.metrics))
    # R2 inside a narrow range of the observed values is not a skill measure: RMSE and bias only
    rep.table("Test blocks by observed NDVI range", [{"range": f"{r['range'][0]:g} to {r['range'][1]:g}", **{k: r[k] for k in ("n", "rmse", "mae", "bias")}}
                                                     for r in model.metrics.get("test_by_range", [])])
    m3 = np.asarray(mask)[None]
    obs = np.where(m3, cube["NDVI"].values, np.nan)
    prd = np.where(m3, np.asarray(pred.values), np.nan)
    rep.figure("Predicted vs observed NDVI on the held-out blocks, residuals, RMSE and bias by range, distributions and training history",
               plot_evaluation(obs, prd, model.history), "evaluation")


def _report_reconstruction(rep: Any, rec_info: dict[str, Any], phen_scores: dict[str, Any]) -> None:
    """The report's tables of the reconstruction and of phenology (reconstructed | raw clear S2)."""
    rep.table("Reconstruction", {"observed share": rec_info["source_shares"]["observed"], "predicted share": rec_info["source_shares"]["predicted"],
                                 "R2 vs true NDVI (held-out)": rec_info["vs_truth_test_blocks"]["r2"],
                                 "RMSE vs true NDVI (held-out)": rec_info["vs_truth_test_blocks"]["rmse"],
                                 "within 1 NDVI_std": rec_info["within_1_std"]})
    raw = phen_scores["raw_s2"]
    nan = float("nan")
    rep.table("Phenology vs truth on held-out blocks: from the reconstruction (rec.) and from raw clear S2 (raw)",
              [{"class": c, "pixels": r["pixels"],
                "right count, rec.": round(r["right_count"], 2), "right count, raw": round(raw.get(c, {}).get("right_count", nan), 2),
                "SOS MAE (d), rec.": round(r["sos_mae"], 1), "SOS MAE (d), raw": round(raw.get(c, {}).get("sos_mae", nan), 1),
                "EOS MAE (d), rec.": round(r["eos_mae"], 1), "EOS MAE (d), raw": round(raw.get(c, {}).get("eos_mae", nan), 1)}
               for c, r in phen_scores["reconstructed"].items()])


def _report_figures(rep: Any, cube: Any, rec: Any, ph: Any) -> None:
    """The report's figures of two example pixels and the maps."""
    from ..evaluation.plots import example_pixels, plot_maps, plot_pixel

    for i, (yy, xx) in enumerate(example_pixels(rec, cube, 2)):
        rep.figure(f"Pixel y={yy}, x={xx}: clear S2, S1 backscatter, reconstruction ±1 std, detected seasons",
                   plot_pixel(cube, yy, xx, reconstruction=rec, phenology=ph), f"pixel_{i + 1}")
    rep.figure("Maps: SOS/POS/EOS day of year, number of seasons, mean uncertainty, fraction of dates observed",
               plot_maps(ph, rec, cube), "maps")
