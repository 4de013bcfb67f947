"""``python -m benchmarks.mogpr [--pixels 256] [--gpy-fits 3] [--device auto]``: MOGPR speed against GPy.

Both fit the same model (LCM of Matern-3/2 kernels, rank-1 W, one latent
process per output, per-output noise, standardised outputs) to the same
series by maximising the marginal likelihood and predict at the input dates:

- GPy: ``GPCoregionalizedRegression`` with ``LCM(Matern32)`` as FuseTS sets it
  up, one pixel at a time (L-BFGS-B), timed per pixel;
- fusets_dl: :func:`fusets_dl.baselines.gp.fit_predict`, many pixels per batch:
  the dense engine (float32, float64) and the state-space engine (Kalman
  filter + RTS smoother) with per-pixel (``share="none"``) and shared
  (``share="region"``) hyperparameters.

The projection lines extrapolate a Demak-sized scene (671 x 893 pixels, 60
dates) from the state-space pixels / s measured here, scaled by dates (the
filter is O(T)); they are projections from ``--pixels`` pixels, not a run.
The state-space engine uses the compiled filter of
:mod:`fusets_dl.baselines.statespace_batch` when numba is installed.

Series: FuseTS's field series (NDVI, RVI descending, RVI ascending; 145
dates in 2019) repeated over ``--pixels`` pixels with 0.005 of noise added
so that no two are identical; and real pixels of the WorldCereal patch
(NDVI plus the RVI of its two relative orbits, 159 dates) when
``../shared/data`` is present.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path

import numpy as np

from fusets_dl.baselines import gp, mogpr_inputs, read_table

from .machine import describe

REPO = Path(__file__).resolve().parents[1]
FIELD = REPO.parent / "shared" / "data" / "fusets_field" / "mogpr_input.csv"
WC = REPO.parent / "shared" / "data" / "worldcereal_patch_flanders_2018"


def _field(n: int) -> tuple[np.ndarray, np.ndarray]:
    ds = read_table(FIELD)
    days = ((ds["time"] - ds["time"][0]) / np.timedelta64(1, "D")).values.astype(float)
    v = np.stack([ds[k].values for k in ("NDVI", "RVI_DESC", "RVI_ASC")])[None]
    rng = np.random.default_rng(0)
    return np.repeat(v, n, 0) + rng.normal(0, 0.005, (n, *v.shape[1:])), days


def _real(n: int) -> tuple[np.ndarray, np.ndarray] | None:
    import fusets_dl as fdl

    s1 = WC / "S1_GRD-ASCENDING_20m_00002806639B424A_32631_2017-08-01_2018-11-30.nc"
    if not s1.exists():
        return None
    s2 = [WC / f"S2_L2A_{r}_00002806639B424A_32631_2017-08-01_2018-11-30.nc" for r in ("10m", "20m")]
    cube = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2), outlier_filter=True).load()
    inp = mogpr_inputs(cube)
    arr = inp.to_array("variable").transpose("y", "x", "variable", "time").values
    arr = arr.reshape(-1, *arr.shape[2:])
    keep = np.isfinite(arr[:, 0]).sum(-1) >= 3
    arr = arr[keep][:n]
    days = ((cube["time"] - cube["time"][0]) / np.timedelta64(1, "D")).values.astype(float)
    return arr, days


def _gpy_time(values: np.ndarray, days: np.ndarray, fits: int) -> float | None:
    try:
        import GPy
    except ImportError:
        return None
    times = []
    for i in range(fits):
        v = values[i % values.shape[0]]
        X, Y = [], []
        for p in range(v.shape[0]):
            ok = np.isfinite(v[p])
            X.append(days[ok][:, None])
            Y.append(((v[p, ok] - v[p, ok].mean()) / v[p, ok].std())[:, None])
        np.random.seed(i)  # noqa: NPY002 - GPy draws its initial W from the global NumPy state
        t0 = time.perf_counter()
        lcm = GPy.util.multioutput.LCM(input_dim=1, num_outputs=len(X), kernels_list=[GPy.kern.Matern32(1)] * len(X), W_rank=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = GPy.models.GPCoregionalizedRegression(X, Y, kernel=lcm.copy())
            model.optimize()
            for p in range(len(X)):
                newx = np.c_[days, np.full(days.size, p)]
                model.predict(newx, Y_metadata={"output_index": newx[:, 1:].astype(int)})
        times.append(time.perf_counter() - t0)
    return float(np.mean(times))


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.mogpr", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pixels", type=int, default=256)
    p.add_argument("--gpy-fits", type=int, default=3)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    cases = [("FuseTS field series (3 outputs, 145 dates)", *_field(args.pixels))]
    real = _real(args.pixels)
    if real is not None:
        cases.append(("WorldCereal patch pixels (3 outputs, 159 dates)", *real))
    for name, values, days in cases:
        t_gpy = _gpy_time(values, days, args.gpy_fits)
        if t_gpy is not None:
            rows.append((name, "GPy 1 pixel at a time", "cpu", args.gpy_fits, t_gpy * args.gpy_fits, 1.0 / t_gpy, 1.0))
        variants = [("dense float32", {"engine": "dense", "dtype": "float32"}), ("dense float64", {"engine": "dense", "dtype": "float64"}),
                    ("state-space, per-pixel hyperparameters", {}), ("state-space, share='region'", {"share": "region"})]
        for label, kw in variants:
            cfg = gp.GPConfig(device=args.device, **kw)
            t0 = time.perf_counter()
            gp.fit_predict(values, days, days, cfg)
            el = time.perf_counter() - t0
            dev = "cuda" if args.device == "auto" and _cuda() else args.device
            rows.append((name, f"fusets_dl {label}", dev, values.shape[0], el, values.shape[0] / el, (t_gpy or np.nan) / (el / values.shape[0])))
            if kw.get("engine", "statespace") == "statespace":  # O(T): scaled from this run's dates to 60
                demak = 671 * 893 / (values.shape[0] / el) * (60 / days.size)
                rows.append((name, f"projection: Demak 671x893x60, {label}", dev, 671 * 893, demak, 671 * 893 / demak, rows[-1][-1]))
    print("Machine: " + "; ".join(f"{k} {v}" for k, v in describe().items()) + "\n")
    print("| series | implementation | device | pixels | seconds | pixels / s | speed-up per pixel vs GPy |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.1f} | {r[5]:.2f} | {r[6]:.1f}x |")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    main()
