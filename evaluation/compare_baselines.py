"""Gap-filling comparison on the bundled sample, a synthetic scene and the real WorldCereal patch.

    .venv/bin/python evaluation/compare_baselines.py [--scenes sample synthetic real] [--gaps 30 60 90] [--out outputs/compare]

For each scene one fusion model is trained with spatial blocks held out
(8 x 8 pixels, TrainConfig defaults); then, for each spell length, the
protocol of :mod:`fusets_dl.compare` hides 5 spells per pixel in up to 400
held-out pixels and scores every method on the hidden clear NDVI. Tables,
CSV/JSON and figures go to ``--out/<scene>/gap<days>/``; a combined
Markdown table is printed and written to ``--out/summary.md``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import fusets_dl as fdl
from fusets_dl.evaluation.comparison import CompareConfig, compare
from fusets_dl.evaluation.methods import LABELS as _LABELS
from fusets_dl.sample import find_sample

REPO = Path(__file__).resolve().parents[1]
WC = REPO.parent / "shared" / "data" / "worldcereal_patch_flanders_2018"
WC_S1 = WC / "S1_GRD-ASCENDING_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
WC_S2 = [WC / "S2_L2A_10m_00002806639B424A_32631_2017-08-01_2018-11-30.nc", WC / "S2_L2A_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"]


def _cube(scene: str, keep_cloudy: bool = False):
    if scene == "sample":
        folder = find_sample()
        cube = fdl.align(fdl.open_s1(folder / "s1.nc"), fdl.open_s2(folder / "s2.nc"), outlier_filter=True, keep_cloudy=keep_cloudy)
        return cube, f"bundled sample ({folder.name})"
    if scene == "synthetic":
        s1, s2, _ = fdl.synthetic.make_scene(64, 64, "2021-01-01", "2022-12-31", seed=5)
        return fdl.align(fdl.open_s1(s1), fdl.open_s2(s2), outlier_filter=True, keep_cloudy=keep_cloudy), "synthetic 64 x 64, 2021-2022, seed 5"
    if not WC_S1.exists():
        raise FileNotFoundError(f"real data not found at {WC}: needs ../shared/data beside the repository")
    return fdl.align(fdl.open_s1(WC_S1), fdl.open_s2(WC_S2), outlier_filter=True, keep_cloudy=keep_cloudy), "WorldCereal patch, Flanders 2017-08 to 2018-11 (20 m)"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenes", nargs="+", default=["sample", "synthetic", "real"], choices=["sample", "synthetic", "real"])
    p.add_argument("--gaps", nargs="+", type=float, default=[30.0, 60.0, 90.0])
    p.add_argument("--n-gaps", type=int, default=5)
    p.add_argument("--max-pixels", type=int, default=400)
    p.add_argument("--out", default=str(REPO / "outputs" / "compare"))
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    lines = []
    for scene in args.scenes:
        try:
            cube, where = _cube(scene)
        except FileNotFoundError as exc:
            print(exc, file=sys.stderr)
            continue
        cube = cube.load()
        t0 = time.perf_counter()
        model = fdl.train(cube)
        t_train = time.perf_counter() - t0
        npx = cube.sizes["y"] * cube.sizes["x"]
        lines.append(f"\n### {where}\n\nfusion model: held-out R2 {model.metrics['test']['r2']:.3f}, trained in {t_train:.0f} s "
                     f"({t_train / npx * 1e3:.2f} ms per scene pixel)\n")
        for gap in args.gaps:
            res = compare(cube, config=CompareConfig(gap_days=gap, n_gaps=args.n_gaps, max_pixels=args.max_pixels), model=model)
            res.save(out / scene / f"gap{gap:g}")
            lines.append(f"\n{args.n_gaps} spells of {gap:g} days per pixel, {res.info['n_pixels']} pixels, {res.info['n_hidden_scored']} hidden values:\n\n")
            lines.append(res.to_markdown().split("\n\n")[0] + "\n")
            best = min(res.rows, key=lambda r: r["rmse"])
            print(f"{scene} gap {gap:g}: best {_LABELS[best['method']]} RMSE {best['rmse']:.4f}", flush=True)
    text = "".join(lines)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
