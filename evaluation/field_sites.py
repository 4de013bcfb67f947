"""Field point tables through the whole chain: per-site data funnel and held-out gap-filling numbers.

    PYTHONPATH=. .venv/bin/python evaluation/field_sites.py [--sites LR NB NS FRA] [--france PATH] [--out outputs/field_sites]
        [--unpaired-views]

Sites: the three Slovak grassland regions (GEE point extractions, S1 dB and
S2 reflectance with Cloud Score+, 2021-2023; ``../shared/data/slovakia_grassland``)
and the 500 south-west France points (WorldCereal 10-day composites,
openEO encodings; ``../shared/data/worldcereal_extractions``, or ``--france``).

For each site: :func:`fusets_dl.readers.open_points` -> :func:`fusets_dl.align`
(pairing within 3 days; France: the composites share their dates) ->
:func:`fusets_dl.compare`, which trains a fusion model with **groups of whole
points** held out (the pseudo-grid's spatial blocks, ``--block`` neighbouring
points each, west to east) and hides ``--n-gaps`` spells of ``--gap-days`` in
held-out points only -> ``reconstruct`` and ``phenology`` of the held-out
points with the trained model (the chain check). Printed and written to
``--out/summary.md``: the funnel (points, dates, clear fraction, S1 dates with
a paired clear S2 observation) and the comparison table of each site.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

import fusets_dl as fdl
from fusets_dl.evaluation.comparison import CompareConfig, compare
from fusets_dl.readers.tables import open_points
from fusets_dl.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
SLOVAKIA = DATA / "slovakia_grassland"
FRANCE = DATA / "worldcereal_extractions" / "dekad_2023_FRA_LPIS_POLY_110.geoparquet"


def site_inputs(site: str, france: Path = FRANCE) -> tuple[object, object, str]:
    """The S1 and S2 datasets of a site, and its description."""
    if site == "FRA":
        s1, s2 = open_points(france)
        return s1, s2, "SW France, WorldCereal 10-day composites 2022-09..2024-01"
    s1_files = sorted((SLOVAKIA / "S1").glob(f"ts_{site}_GMI_S1_*.csv"))
    s2_files = sorted((SLOVAKIA / "S2").glob(f"ts_{site}_GMI_S2_*.csv"))
    if not s1_files or not s2_files:
        raise FileNotFoundError(f"no tables of region {site} in {SLOVAKIA}")
    s1, s2 = open_points(s1_files, s2_files)
    return s1, s2, f"Slovakia {site} grassland plots, GEE 2021-2023"


def funnel(s1, s2, cube) -> dict[str, object]:
    """Points, dates, clear fraction of the S2 rows and S1 dates with a paired clear S2 observation."""
    t1, t2 = json.loads(s1.attrs["point_table"]), json.loads(s2.attrs["point_table"])
    summ = json.loads(cube.attrs["fusion_summary"])
    s1_valid = int((np.isfinite(cube["VV"].values)).sum())
    paired = int(np.isfinite(cube["NDVI"].values).sum())
    return {
        "points": int(cube.sizes["x"]),
        "s1_dates": t1["times"],
        "s2_dates": t2["times"],
        "s1_rows": t1["rows"],
        "s2_rows": t2["rows"],
        "s2_clear_fraction": round(t2["clear_rows"] / max(t2["rows"], 1), 3),
        "cloud_mask": t2["cloud_mask"],
        "paired_per_s1": round(paired / max(s1_valid, 1), 3),
        "grid": summ["grid"],
    }


def run_site(site: str, args: argparse.Namespace) -> tuple[dict[str, object], str, dict[str, object]]:
    """Funnel, comparison table and chain check of one site."""
    s1, s2, where = site_inputs(site, Path(args.france))
    tol = "6D" if site == "FRA" else "3D"
    cube = fdl.align(s1, s2, tolerance=tol, unpaired_views=args.unpaired_views).load()
    f = funnel(s1, s2, cube)
    cfg = CompareConfig(gap_days=args.gap_days, n_gaps=args.n_gaps, methods=tuple(args.methods), max_pixels=None, min_clear=4, seed=0)
    tcfg = TrainConfig(block_size=args.block, max_epochs=args.epochs, seed=0)
    t0 = time.perf_counter()
    model = fdl.train(cube, config=tcfg)  # whole points held out: the pseudo-grid's blocks
    res = compare(cube, config=cfg, model=model)
    rec = cube.fusion.reconstruct(model)
    phen = rec["NDVI"].fusion.phenology(max_seasons=2)
    chain = {
        "seconds": round(time.perf_counter() - t0, 1),
        "held_out_points_scored": res.info["n_pixels"],
        "test_groups": len(res.info["test_blocks"]),
        "reconstructed_finite": round(float(np.isfinite(rec["NDVI"].values).mean()), 3),
        "phenology_vars": sorted(phen.data_vars)[:6],
    }
    out = Path(args.out) / site
    res.save(out, figure=False)
    return f, f"### {site}: {where}\n\n{res.to_markdown()}", chain


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sites", nargs="+", default=["LR", "NB", "NS", "FRA"], choices=["LR", "NB", "NS", "FRA"])
    p.add_argument("--france", default=str(FRANCE))
    p.add_argument("--gap-days", type=float, default=60.0)
    p.add_argument("--n-gaps", type=int, default=3)
    p.add_argument("--block", type=int, default=5, help="points per held-out group")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--methods", nargs="+", default=["fusion", "fusion_s1_only", "whittaker", "linear", "mogpr"])
    p.add_argument("--out", default=str(REPO / "outputs" / "field_sites"))
    p.add_argument("--unpaired-views", action="store_true",
                   help="align(unpaired_views=True): the clear S2 views no S1 date took are kept (hidden by the spells too) and "
                        "used by the reconstruction, linear interpolation and the Whittaker smoother")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    lines = ["| site | points | S1 dates | S2 dates | S2 rows | clear | paired / S1 | cloud mask |", "|---|---|---|---|---|---|---|---|"]
    tables, chains = [], {}
    for site in args.sites:
        try:
            f, table, chain = run_site(site, args)
        except FileNotFoundError as exc:
            logging.warning("%s skipped: %s", site, exc)
            continue
        lines.append(
            f"| {site} | {f['points']} | {f['s1_dates']} | {f['s2_dates']} | {f['s2_rows']} | {f['s2_clear_fraction']:.1%} | "
            f"{f['paired_per_s1']:.1%} | {f['cloud_mask']} |"
        )
        tables.append(table)
        chains[site] = chain
    text = "\n".join(lines) + "\n\n" + "\n\n".join(tables) + "\n\nchain: " + json.dumps(chains) + "\n"
    (Path(args.out) / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
