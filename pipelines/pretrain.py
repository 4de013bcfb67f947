"""Pre-train the general model shipped with the package, and score it leave-one-site-out.

    PYTHONPATH=. .venv/bin/python pipelines/pretrain.py [--model mlp] [--data ../shared/data]
        [--out fusets_dl/models/pretrained] [--epochs 30] [--max-samples 120000] [--loso real|all|none]
        [--features JSON] [--unpaired-views] [--calibrate-only]

Candidate sites (every real sample of ``--data`` whose revisit fits a 6-12-day
per-date model, and synthetic scenes with shifted physics). The defaults train
the shipped model on the four real sites below less GFMap (``--exclude``) and
without the synthetic scenes (``--synthetic`` adds them): leave-one-site-out
was better on every Slovak site without either (docs/pretrained.md):

- ``flanders-2018``: the WorldCereal patch A (Flanders, 32 x 32 pixels,
  2017-08 .. 2018-11, two ascending orbits);
- ``slovakia-LR``, ``slovakia-NB``, ``slovakia-NS``: the Slovak grassland
  plots (GEE point series 2021-2023, :func:`fusets_dl.open_points`, paired
  within 3 days);
- ``gfmap-2023-04``: the openEO GFMap sample (Belgium, April 2023, 66 x 64,
  CDSE compressed dB); one month: it trains, and its prediction is scored,
  but it holds no 60-day spell;
- ``synthetic-*``: scenes of :func:`fusets_dl.synthetic.make_scene` with
  other crop calendars (``season_shift_days``), one orbit, wetter and greener.

- ``france-dekad-2023``: the south-west France LPIS points (WorldCereal
  ten-day composites 2022-09 .. 2024-01, openEO encodings), when the file the
  data README lists is present (it is absent from this project's shared
  folder: skipped with a message).

Excluded, with the reason printed: ``worldcereal_monthly`` and the Uganda
extractions (monthly composites: one value a month does not fit a model of
6-12-day acquisitions), ``fusets_field`` (no VV/VH: field-average RVI and S2
only).

``--model`` goes to ``TrainConfig(model=...)`` when the configuration has
that option (the per-date MLP is ``mlp``), so another network is pre-trained
by the same script. Writes ``<out>/general.safetensors`` and
``<out>/general.json`` (provenance in ``info["provenance"]``: the training
sites with their dates and sizes, the code version, the configuration and the
leave-one-site-out scores) and prints the tables.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

import fusets_dl as fdl
from fusets_dl.evaluation.cross_site import leave_one_site_out, score_sites
from fusets_dl.features import orbit_groups, revisit_days
from fusets_dl.readers.cube import backscatter_coefficient
from fusets_dl.readers.tables import open_points
from fusets_dl.reconstruction.calibrate import STORED_KEY, STORED_VIEWS_KEY, calibrate_stored
from fusets_dl.synthetic import make_scene
from fusets_dl.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
OUT = REPO / "fusets_dl" / "models" / "pretrained"
REAL = ("flanders-2018", "slovakia-LR", "slovakia-NB", "slovakia-NS", "gfmap-2023-04", "france-dekad-2023")

#: Synthetic scenes with shifted physics: name -> make_scene arguments.
SYNTHETIC: dict[str, dict[str, Any]] = {
    "synthetic-temperate-1orbit": {
        "ny": 24, "nx": 24, "start": "2019-01-01", "end": "2020-12-31", "seed": 101, "season_shift_days": 100.0,
        "s1_orbits": (37,), "s1_revisit_days": 6, "rainy_months": (10, 11, 12, 1, 2, 3), "cloud_cover": 0.55, "epsg": 32631,
        "proportions": {"maize": 0.45, "grassland": 0.3, "forest": 0.1, "urban": 0.1, "water": 0.05},
    },
    "synthetic-green-wet": {
        "ny": 24, "nx": 24, "start": "2020-01-01", "end": "2021-12-31", "seed": 102, "season_shift_days": 60.0,
        "s1_orbits": (15, 117), "s1_revisit_days": 6, "rainy_months": (3, 4, 5, 6, 7, 8, 9, 10), "cloud_cover": 0.65, "epsg": 32633,
        "proportions": {"grassland": 0.5, "forest": 0.25, "maize": 0.2, "water": 0.05},
    },
    "synthetic-rice-12day": {
        "ny": 24, "nx": 24, "start": "2021-01-01", "end": "2022-12-31", "seed": 103, "s1_orbits": (54,), "s1_revisit_days": 12,
        "cloud_cover": 0.5,
    },
}

#: Features of the shipped model: the default S1 features plus the temporal-change
#: ones (lags, 30-day trend, anomaly). Leave-one-site-out on the four shared sites
#: was better with them on every Slovak site (fusion / linear 0.78 / 0.80 / 0.79
#: against 0.85 / 0.83 / 0.85 without; flanders-2018 1.29 against 1.25), so the
#: shipped model keeps them although ``FeatureSpec()`` no longer does.
SHIPPED_FEATURES: dict = {"lags": 2, "trends": [30], "anomaly": True}

log = logging.getLogger("pretrain")


def _named(cube: xr.Dataset, name: str, description: str) -> xr.Dataset:
    cube.attrs.update({"site": name, "description": description})
    return cube


def _sigma0(s1: xr.Dataset) -> xr.Dataset:
    """``s1`` with its backscatter recorded as sigma0 (what a table reader cannot tell from the values)."""
    return s1.assign({b: s1[b].assign_attrs(backscatter="sigma0") for b in ("VV", "VH")}).assign_attrs(backscatter="sigma0")


def real_sites(data: Path, unpaired_views: bool = False) -> tuple[list[xr.Dataset], list[str]]:
    """The real cubes that fit, and a line per data set left out (with the reason).

    ``unpaired_views``: the acquisition series (Flanders, Slovakia) keep the
    clear S2 views no S1 date took (``align(..., unpaired_views=True)``).
    """
    cubes, skipped = [], []
    wc = data / "worldcereal_patch_flanders_2018"
    s1 = sorted(wc.glob("S1_GRD-ASCENDING_20m_*.nc"))
    s2 = sorted(wc.glob("S2_L2A_10m_*.nc")) + sorted(wc.glob("S2_L2A_20m_*.nc"))
    if s1 and len(s2) == 2:
        # sigma0 (the data README; the files do not say it): recorded, so predict_ndvi warns on a gamma0 cube
        cube = fdl.align(fdl.open_s1(s1[0], backscatter="sigma0"), fdl.open_s2(s2), outlier_filter=True, unpaired_views=unpaired_views).load()
        cubes.append(_named(cube, "flanders-2018", "WorldCereal patch A, Flanders BE, 20 m, two ascending orbits"))
    else:
        skipped.append(f"flanders-2018: files not found in {wc}")
    sk = data / "slovakia_grassland"
    for region in ("LR", "NB", "NS"):
        t1 = sorted((sk / "S1").glob(f"ts_{region}_GMI_S1_*.csv"))
        t2 = sorted((sk / "S2").glob(f"ts_{region}_GMI_S2_*.csv"))
        if not t1 or not t2:
            skipped.append(f"slovakia-{region}: tables not found in {sk}")
            continue
        p1, p2 = open_points(t1, t2)
        cube = fdl.align(_sigma0(p1), p2, tolerance="3D", unpaired_views=unpaired_views).load()  # Earth Engine's COPERNICUS/S1_GRD: sigma0
        cubes.append(_named(cube, f"slovakia-{region}", f"Slovak grassland plots {region}, GEE point series 2021-2023"))
    gf = data / "gfmap_apr2023"
    if (gf / "cdse_sentinel1_grd.nc").is_file() and (gf / "cdse_sentinel2_l2a.nc").is_file():
        cube = fdl.align(fdl.open_s1(gf / "cdse_sentinel1_grd.nc"), fdl.open_s2(gf / "cdse_sentinel2_l2a.nc")).load()
        cubes.append(_named(cube, "gfmap-2023-04", "openEO GFMap sample, Belgium, April 2023, CDSE encoding"))
    else:
        skipped.append(f"gfmap-2023-04: files not found in {gf}")
    france = data / "worldcereal_extractions" / "dekad_2023_FRA_LPIS_POLY_110.geoparquet"
    if france.is_file():  # ten-day composites on one date grid: paired on their shared dates
        p1, p2 = open_points(france)
        cube = fdl.align(p1, p2, tolerance="6D").load()
        cubes.append(_named(cube, "france-dekad-2023", "WorldCereal LPIS points, SW France, 10-day composites 2022-09..2024-01"))
    else:
        skipped.append(f"france-dekad-2023: {france.name} is listed in the data README but absent from {france.parent}; skipped")
    skipped += [
        "worldcereal_monthly: 12 monthly composites (one value a month) do not fit a model of 6-12-day acquisitions; excluded",
        "worldcereal_extractions/UGA_SSD_2017_monthly: monthly composites; excluded for the same reason",
        "fusets_field: no VV/VH (field-average RVI and S2 only); excluded",
    ]
    return cubes, skipped


def synthetic_sites() -> list[xr.Dataset]:
    """The synthetic scenes of :data:`SYNTHETIC`, aligned like real data."""
    out = []
    for name, params in SYNTHETIC.items():
        s1, s2, _truth = make_scene(**params)
        cube = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2), outlier_filter=True).load()
        out.append(_named(cube, name, f"fusets_dl.synthetic.make_scene({params})"))
    return out


def site_record(cube: xr.Dataset) -> dict[str, Any]:
    """Provenance of a training site: name, description, size and dates."""
    return {
        "site": cube.attrs["site"],
        "description": cube.attrs.get("description", ""),
        "ny": int(cube.sizes["y"]), "nx": int(cube.sizes["x"]), "nt": int(cube.sizes["time"]),
        "start": str(cube["time"].values[0])[:10], "end": str(cube["time"].values[-1])[:10],
        "clear_pixel_dates": int(cube["NDVI"].notnull().sum()),
    }


#: ``--max-samples`` of the per-date model when not given.
_MAX_SAMPLES = 120_000


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The training settings; ``--model`` goes through when TrainConfig has a ``model`` option."""
    kw: dict[str, Any] = {"max_epochs": args.epochs, "block_size": args.block, "seed": args.seed, "num_threads": args.threads}
    if args.max_samples is not None or args.model != "sequence":  # the per-date default; given with a sequence model, warned there
        kw["max_samples"] = _MAX_SAMPLES if args.max_samples is None else args.max_samples
    if "model" in {f.name for f in dataclasses.fields(TrainConfig)}:
        kw["model"] = args.model
    elif args.model != "mlp":
        raise SystemExit(f"--model {args.model}: this TrainConfig has no 'model' option; only the per-date MLP ('mlp') is available")
    return TrainConfig(**kw)


def _git_commit() -> str:
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        return subprocess.run([git, "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()  # noqa: S603 - a fixed git command
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _table(df: pd.DataFrame) -> str:
    cols = ["site", "trained_on", "in_training", "pred_r2", "pred_rmse", "pred_mae", "pred_bias", "pred_n",
            "gap_rmse_fusion", "gap_rmse_s1", "gap_rmse_linear", "gap_ratio", "gap_n"]
    cols = [c for c in cols if c in df.columns]

    def cell(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df[cols].itertuples(index=False)]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="mlp", help="TrainConfig(model=...) (the per-date MLP: mlp)")
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--name", default="general")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--features", default=json.dumps(SHIPPED_FEATURES),
                   help="FeatureSpec as JSON (default: the shipped model's, FeatureSpec() with lags, trends and the anomaly)")
    p.add_argument("--max-samples", type=int, default=None,
                   help=f"per-date model: training samples (default {_MAX_SAMPLES:,}); not used by --model sequence")
    p.add_argument("--block", type=int, default=8, help="block size of every site's split (pixels, or points on a point pseudo-grid)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--loso", default="real", choices=["real", "all", "none"], help="leave out each real site, every site, or none")
    p.add_argument("--n-gaps", type=int, default=3)
    p.add_argument("--gap-days", type=float, default=60.0)
    p.add_argument("--max-pixels", type=int, default=300)
    p.add_argument("--synthetic", action="store_true",
                   help="add the synthetic scenes (they made leave-one-site-out worse on every real site: docs/pretrained.md)")
    p.add_argument("--exclude", nargs="*", default=["gfmap-2023-04"],
                   help="site names left out of everything (default: gfmap-2023-04, whose S1 values do not match the other sites')")
    p.add_argument("--calibrate-only", action="store_true",
                   help="do not train: add the reconstruction calibration (fusets_dl.reconstruction.calibrate.calibrate_sites on the "
                        "validation blocks of its training sites) and each site's backscatter coefficient to the model already at --out/--name, "
                        "as training now does; its weights are not changed")
    p.add_argument("--record-revisit", action="store_true",
                   help="do not train: add each training site's median revisit (info['sites'][site]['revisit_days'], which "
                        "predict_ndvi's revisit check reads) to the model already at --out/--name, as training now records it; "
                        "its weights and calibration are not changed")
    p.add_argument("--unpaired-views", action="store_true",
                   help="align Flanders and Slovakia with unpaired_views=True: the model then also keeps the reconstruction setting chosen "
                        "with those views shown (info['reconstruction_views'], which reconstruct uses on a cube that keeps them); "
                        "with --calibrate-only, adds it to the model at --out/--name (weights unchanged)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: on a shared, loaded machine more threads were 24x slower)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("fusets_dl").setLevel(logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    fdl.set_options(progress=False)
    t0 = time.perf_counter()
    cubes, skipped = real_sites(Path(args.data), unpaired_views=args.unpaired_views)
    for line in skipped:
        log.info("data: %s", line)
    if args.synthetic:
        cubes += synthetic_sites()
    for name in args.exclude:
        skipped.append(f"{name}: excluded by --exclude")
    cubes = [c for c in cubes if c.attrs["site"] not in set(args.exclude)]
    names = [c.attrs["site"] for c in cubes]
    log.info("sites: %s (%.0f s to read)", names, time.perf_counter() - t0)
    if args.calibrate_only:
        return _calibrate_only(Path(args.out) / args.name, cubes, args.seed)
    if args.record_revisit:
        return _record_revisit(Path(args.out) / args.name, cubes)
    cfg = train_config(args)
    spec = fdl.FeatureSpec.from_dict(json.loads(args.features))
    score_kw = {"gap_days": args.gap_days, "n_gaps": args.n_gaps, "max_pixels": args.max_pixels, "seed": args.seed}
    loso = None
    if args.loso != "none":
        left = [n for n in names if args.loso == "all" or n in REAL]
        loso = leave_one_site_out(cubes, spec, cfg, names=names, sites=left, **score_kw)
        print("## Leave-one-site-out (each site scored by a model trained on the others)\n\n" + _table(loso) + "\n", flush=True)
    t1 = time.perf_counter()
    model = fdl.train(cubes, None if getattr(cfg, "model", "mlp") == "sequence" else spec, cfg)  # the sequence model reads its own channels
    secs = time.perf_counter() - t1
    own = score_sites(model, cubes, names=names, trained_on=names, **score_kw)
    print("## The general model on its own training sites (not a fair score)\n\n" + _table(own) + "\n", flush=True)
    model.info["provenance"] = {
        "script": "pipelines/pretrain.py",
        "code_version": fdl.__version__,
        "git_commit": _git_commit(),
        "model": args.model,
        "train_seconds": round(secs, 1),
        "training_data": [site_record(c) for c in cubes],
        "excluded_data": skipped,
        "train_config": cfg.to_dict(),
        "feature_spec": model.spec.to_dict() if hasattr(model.spec, "to_dict") else dict(model.spec),  # a sequence model's is a dict
        "scoring": {**score_kw, "note": "prediction: every clear date of every pixel; gap: n_gaps spells of gap_days, fusion vs linear RMSE"},
        "leave_one_site_out": [] if loso is None else json.loads(loso.to_json(orient="records")),
        "own_sites_in_training": json.loads(own.to_json(orient="records")),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = model.save(out / args.name)
    size = sum(f.stat().st_size for f in out.glob(f"{args.name}.*"))
    log.info("wrote %s (%.2f MB with its weights) in %.0f s total", path, size / 1e6, time.perf_counter() - t0)
    return 0


def _calibrate_only(path: Path, cubes: list[xr.Dataset], seed: int) -> int:
    """Add ``info["reconstruction"]`` and the sites' backscatter coefficient to a saved model trained before models kept them (its weights unchanged)."""
    model = fdl.load_model(path)
    splits = model.blocks.get("sites", {})
    names = [c.attrs["site"] for c in cubes]
    missing = [n for n in names if n not in splits]
    if missing:
        raise SystemExit(f"--calibrate-only: the model at {path} has no block split for {missing}; its sites are {sorted(splits)}")
    before = model.state_bytes()
    stored = calibrate_stored(model, cubes, [splits[n] for n in names], names, seed=seed, device="cpu")
    rec = stored[STORED_KEY]
    if rec is None:
        raise SystemExit("--calibrate-only: no site holds a calibration spell")
    model.info.update({k: v for k, v in stored.items() if v is not None})
    for name, cube in zip(names, cubes, strict=True):  # the coefficient, recorded by training since models kept it
        coefficient = backscatter_coefficient(cube)
        model.info.setdefault("sites", {}).setdefault(name, {})["backscatter"] = coefficient
        if (model.info.get("scene") or {}).get("site", names[0]) == name:
            model.info.setdefault("scene", {})["backscatter"] = coefficient
    model.info["provenance"]["reconstruction_calibration"] = {
        "script": "pipelines/pretrain.py --calibrate-only", "code_version": fdl.__version__, "git_commit": _git_commit(),
        "sites": names, "note": "weights unchanged; the setting reconstruct(weights='model') uses, chosen on the validation blocks of each site",
    }
    for key in ("loaded_from", "loaded_at"):
        model.info.pop(key, None)
    out = model.save(path)
    if fdl.load_model(out).state_bytes() != before:
        raise SystemExit(f"--calibrate-only: the weights of {out} changed; restore it from git")
    for key in (STORED_KEY, STORED_VIEWS_KEY):
        if stored.get(key) is not None:
            print(key, json.dumps({k: stored[key][k] for k in ("settings", "rmse", "rmse_prediction", "rmse_default", "n_pixels", "n_hidden", "sites")}, indent=1))
    return 0


def _revisit(cube: xr.Dataset) -> dict[str, float | None]:
    """Median days between acquisitions of one orbit group and of any, as training records them."""
    t = pd.DatetimeIndex(cube["time"].values)
    days = ((t - t[0]) / pd.Timedelta(days=1)).to_numpy(np.float64)
    return {"orbit": revisit_days(days, orbit_groups(cube)), "any": revisit_days(days, np.zeros(days.size, dtype=np.int64))}


def _record_revisit(path: Path, cubes: list[xr.Dataset]) -> int:
    """Add each training site's revisit to a saved model trained before models recorded it (weights and calibration unchanged)."""
    model = fdl.load_model(path)
    sites = model.info.get("sites") or {}
    by_name = {c.attrs["site"]: c for c in cubes}
    missing = [n for n in sites if n not in by_name]
    if not sites or missing:
        raise SystemExit(f"--record-revisit: the model at {path} was trained on {sorted(sites)}; not read here: {missing or 'no site recorded'}")
    before = model.state_bytes()
    for name, rec in sites.items():
        cube = by_name[name]
        seen = (int(cube.sizes["time"]), str(cube["time"].values[0])[:10], str(cube["time"].values[-1])[:10])
        if seen != (rec.get("nt"), rec.get("start"), rec.get("end")):
            raise SystemExit(f"--record-revisit: site {name}: expected the training dates {rec.get('nt')} from {rec.get('start')} "
                             f"to {rec.get('end')}, found {seen[0]} from {seen[1]} to {seen[2]}: not the data it was trained on")
        rec["revisit_days"] = _revisit(cube)
        log.info("%s: revisit %s", name, rec["revisit_days"])
    scene = model.info.get("scene")
    first = next(iter(sites))
    if isinstance(scene, dict) and (scene.get("start"), scene.get("end")) == (sites[first].get("start"), sites[first].get("end")):
        scene["revisit_days"] = sites[first]["revisit_days"]  # the first site's scene, as training records it
    model.info["provenance"]["revisit_record"] = {
        "script": "pipelines/pretrain.py --record-revisit", "code_version": fdl.__version__, "git_commit": _git_commit(),
        "note": "weights and calibration unchanged; each training site's median revisit, as training records it since 2026-11-28",
    }
    for key in ("loaded_from", "loaded_at"):
        model.info.pop(key, None)
    out = model.save(path)
    if fdl.load_model(out).state_bytes() != before:
        raise SystemExit(f"--record-revisit: the weights of {out} changed; restore it from git")
    print(json.dumps({n: r["revisit_days"] for n, r in sites.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
