"""Analytic phenology benchmark: season counts and SOS/POS/EOS errors on double-logistic cubes.

``python -m benchmarks.phenology [--pixels 2000] [--seed 0] [--dips 0.05] [--option envelope=2] [--json PATH]``

Each configuration is a cube of ``--pixels`` pixels over two years
(2021-01-01 .. 2022-12-31, 5-day sampling, 146 dates) holding 1, 2 or 3
double-logistic seasons a year (and 4 or 5 with ``--per-year 1 2 3 4 5``:
short rice-like seasons, 35-55 and 30-45 days from SOS to EOS, 91 and 73
days apart); 20-40 % of the dates (drawn per pixel) are
missing in runs (a two-state Markov chain, mean run 3 dates = 15 days), and
Gaussian noise of sd 0.02 or 0.05 is added (and, with ``--dips``, a negative
outlier of -0.15 to -0.4 on that fraction of the dates: residual clouds). The truth of every season is
measured on its own noise-free curve on a 0.1-day grid: SOS/EOS where it
crosses 50 % of its amplitude, POS at its maximum; its ``aos`` on the
noise-free sum of the seasons, as ``phenology`` defines it (the value at the
peak less the mean of the troughs on either side, down to the series edges).

Scoring: a true season counts when its peak lies between the pixel's first
and last valid date (a peak hidden by missing dates at a series end cannot be
seen, and no season is reported peaking outside the data). A detected season
matches the true season with the nearest peak (within half the spacing of
the true seasons); ``right`` is the fraction of pixels with as many seasons
as the truth, ``extra`` the mean number of
seasons beyond the truth per pixel, ``miss`` the mean number of true
seasons without a match; the MAEs are over the matched seasons, and ``aos
bias`` is the mean of (found - true) / true aos over them, in percent (a
smoother that flattens short seasons reads them too small). Throughput
is ``fdl.phenology`` on the NumPy cube (single-threaded, best of two).
TIMESAT and FuseTS are compared when importable (``timesat``, ``fusets``);
they are skipped otherwise (TIMESAT's licence forbids shipping it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

TIMES = pd.date_range("2021-01-01", "2022-12-31", freq="5D")
ORIGIN = pd.Timestamp("2021-01-01")
#: (seasons a year) -> (SOS-to-EOS length range in days, logistic scale range in days)
SHAPES = {1: ((90.0, 150.0), (6.0, 12.0)), 2: ((60.0, 100.0), (4.0, 9.0)), 3: ((45.0, 70.0), (3.0, 7.0)),
          4: ((35.0, 55.0), (3.0, 5.0)), 5: ((30.0, 45.0), (2.5, 4.0))}
#: The configurations run by default (4 and 5 a year on request: ``--per-year``).
PER_YEAR = (1, 2, 3)


def _sig(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


def _gaps(rng: np.random.Generator, n_pix: int, n_t: int, mean_run: float = 3.0) -> np.ndarray:
    """Missing mask ``(pixels, time)``: a Markov chain with a per-pixel missing fraction in 20-40 %."""
    f = rng.uniform(0.2, 0.4, n_pix)
    p_out = 1.0 / mean_run  # missing -> clear
    p_in = f / (mean_run * (1 - f))  # clear -> missing: stationary missing fraction f
    miss = np.zeros((n_pix, n_t), dtype=bool)
    state = rng.random(n_pix) < f
    for i in range(n_t):
        miss[:, i] = state
        u = rng.random(n_pix)
        state = np.where(state, u >= p_out, u < p_in)
    return miss


def make_cube(per_year: int, n_pix: int, noise: float, seed: int = 0, dips: float = 0.0) -> tuple[xr.DataArray, dict[str, np.ndarray]]:
    """A noisy, gappy cube ``(time, x)`` and its true SOS/POS/EOS ``(x, season)`` in days from 2021-01-01.

    Parameters
    ----------
    per_year : int
        Seasons a year (1 to 5).
    n_pix : int
        Pixels.
    noise : float
        Standard deviation of the Gaussian noise (NDVI).
    seed : int
        Random seed.
    dips : float
        Fraction of the dates given a negative outlier (a residual cloud:
        -0.15 to -0.4 NDVI) after the noise.

    Returns
    -------
    (xarray.DataArray, dict)
        The cube, ``{"sos", "pos", "eos", "aos"}`` arrays ``(pixels, 2 *
        per_year)`` and ``{"first", "last"}`` (the pixel's first and last
        valid day).
    """
    rng = np.random.default_rng([seed, per_year, int(noise * 1000)])
    d = ((TIMES - ORIGIN) / pd.Timedelta(days=1)).to_numpy()
    fine = np.arange(-60.0, d[-1] + 60.0, 0.1)
    (l_lo, l_hi), (r_lo, r_hi) = SHAPES[per_year]
    k = 2 * per_year
    spacing = 365.0 / per_year
    centre = (np.arange(k) + 0.5) * spacing + rng.uniform(-0.12, 0.12, (n_pix, k)) * spacing
    length = rng.uniform(l_lo, l_hi, (n_pix, k))
    r_up, r_down = rng.uniform(r_lo, r_hi, (n_pix, k)), rng.uniform(r_lo, r_hi, (n_pix, k))
    amp = rng.uniform(0.3, 0.6, (n_pix, k))
    base = rng.uniform(0.1, 0.25, (n_pix, 1))
    s0, e0 = centre - length / 2, centre + length / 2
    y = np.repeat(base, d.size, axis=1)
    clean = np.repeat(base, fine.size, axis=1)
    truth = {key: np.empty((n_pix, k)) for key in ("sos", "pos", "eos")}
    for j in range(k):
        comp = lambda t, j=j: amp[:, j, None] * (  # noqa: E731
            _sig((t[None, :] - s0[:, j, None]) / r_up[:, j, None]) - _sig((t[None, :] - e0[:, j, None]) / r_down[:, j, None])
        )
        y += comp(d)
        c = comp(fine)
        clean += c
        top = c.max(axis=1, keepdims=True)
        above = c >= 0.5 * top
        first = np.argmax(above, axis=1)
        last = fine.size - 1 - np.argmax(above[:, ::-1], axis=1)
        truth["sos"][:, j] = fine[first]
        truth["eos"][:, j] = fine[last]
        truth["pos"][:, j] = fine[np.argmax(c, axis=1)]
    truth["aos"] = _true_aos(clean, fine, truth["pos"])
    y = y + rng.normal(0.0, noise, y.shape)
    if dips > 0:
        drng = np.random.default_rng([seed, per_year, int(noise * 1000), 7])
        y = y - np.where(drng.random(y.shape) < dips, drng.uniform(0.15, 0.4, y.shape), 0.0)
    miss = _gaps(rng, n_pix, d.size)
    y[miss] = np.nan
    seen = np.where(~miss, d[None, :], np.nan)
    truth["first"], truth["last"] = np.nanmin(seen, axis=1), np.nanmax(seen, axis=1)
    cube = xr.DataArray(y.T.astype(np.float32), dims=("time", "x"), coords={"time": TIMES}, name="NDVI")
    return cube, truth


def _true_aos(clean: np.ndarray, fine: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``(pixels, seasons)``: the noise-free sum at each true peak less the mean of the troughs between it and its neighbours.

    NaN for the first and last season, whose outer trough depends on where the series is cut.
    """
    data = (fine >= 0) & (fine <= ((TIMES[-1] - ORIGIN) / pd.Timedelta(days=1)))
    out = np.empty(pos.shape)
    for i in range(pos.shape[0]):
        row, days = clean[i, data], fine[data]
        cuts = np.r_[days[0], pos[i], days[-1]]
        out[i, 0] = out[i, -1] = np.nan
        for j in range(1, pos.shape[1] - 1):
            left = row[(days >= cuts[j]) & (days <= cuts[j + 1])]
            right = row[(days >= cuts[j + 1]) & (days <= cuts[j + 2])]
            peak = np.interp(pos[i, j], days, row)
            out[i, j] = peak - 0.5 * (left.min() + right.min()) if left.size and right.size else np.nan
    return out


def _days(a: np.ndarray) -> np.ndarray:
    return (a - np.datetime64(ORIGIN)) / np.timedelta64(1, "D")


def score(ph: xr.Dataset, truth: dict[str, np.ndarray]) -> dict[str, float]:
    """Right-count fraction, extra and missed seasons per pixel, SOS/POS/EOS MAE (days) of matched seasons.

    Parameters
    ----------
    ph : xarray.Dataset
        ``fdl.phenology`` output on ``(season, x)``.
    truth : dict
        ``make_cube``'s truth.

    Returns
    -------
    dict
        ``right``, ``extra``, ``miss``, ``sos_mae``, ``pos_mae``, ``eos_mae``,
        ``aos_bias`` (percent).
    """
    est = {key: _days(ph[key].transpose("x", "season").values) for key in ("sos", "pos", "eos")}
    observable = (truth["pos"] > truth["first"][:, None]) & (truth["pos"] < truth["last"][:, None])
    n_true = observable.sum(axis=1)
    n_est = np.isfinite(est["pos"]).sum(axis=1)
    k = truth["pos"].shape[1]
    tol = 0.5 * np.min(np.diff(truth["pos"], axis=1), axis=1) if k > 1 else np.full(n_est.size, 120.0)
    # nearest detected peak of every true season
    dist = np.abs(truth["pos"][:, :, None] - est["pos"][:, None, :])
    dist = np.where(np.isfinite(dist), dist, np.inf)
    j = np.argmin(dist, axis=2)
    matched = (np.take_along_axis(dist, j[..., None], axis=2)[..., 0] <= tol[:, None]) & observable
    err = {}
    for key in ("sos", "pos", "eos"):
        e = np.abs(np.take_along_axis(est[key], j, axis=1) - truth[key])
        err[f"{key}_mae"] = float(np.nanmean(np.where(matched, e, np.nan)))
    aos = ph["aos"].transpose("x", "season").values.astype(np.float64)
    rel = (np.take_along_axis(aos, j, axis=1) - truth["aos"]) / truth["aos"]
    err["aos_bias"] = 100.0 * float(np.nanmean(np.where(matched, rel, np.nan)))
    return {
        "right": float((n_est == n_true).mean()),
        "extra": float(np.clip(n_est - n_true, 0, None).mean()),
        "miss": float((observable & ~matched).sum(axis=1).mean()),
        **err,
    }


def _time_it(fn: Any, repeat: int = 2) -> tuple[Any, float]:
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def run(n_pix: int = 2000, seed: int = 0, dips: float = 0.0, per_years: tuple[int, ...] = PER_YEAR, **options: Any) -> list[dict[str, Any]]:
    """Score ``fdl.phenology`` (with ``options``) on every configuration; one row each.

    Parameters
    ----------
    n_pix : int
        Pixels per configuration.
    seed : int
        Random seed.
    dips : float
        Fraction of dates with a cloud dip (see :func:`make_cube`).
    per_years : tuple of int
        Seasons a year of the configurations (1 to 5).
    **options
        Keyword arguments of ``fdl.phenology``.

    Returns
    -------
    list of dict
        One row per (noise, seasons a year): the :func:`score` keys and ``pixels_per_s``.
    """
    import fusets_dl as fdl

    rows = []
    for noise in (0.02, 0.05):
        for per_year in per_years:
            cube, truth = make_cube(per_year, n_pix, noise, seed, dips)
            slots = max(8, 2 * per_year + 2)  # every season of the two years, and room for extra ones
            ph, sec = _time_it(lambda cube=cube, slots=slots: fdl.phenology(cube, max_seasons=slots, **options))
            rows.append({"method": "fusets_dl", "noise": noise, "per_year": per_year, **score(ph, truth), "pixels_per_s": n_pix / sec})
    return rows


def _peers() -> list[str]:
    return [name for name in ("timesat", "fusets") if importlib.util.find_spec(name) is not None]


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of :func:`run`'s rows.

    Parameters
    ----------
    rows : list of dict
        Rows of :func:`run`.

    Returns
    -------
    str
        The table.
    """
    head = ("| method | noise sd | seasons/yr | right count | extra/pixel | missed/pixel | SOS MAE d | EOS MAE d | POS MAE d "
            "| aos bias % | pixels/s |")
    lines = [head, "|" + "|".join("---" for _ in head.split("|")[1:-1]) + "|"]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['noise']:.2f} | {r['per_year']} | {r['right']:.3f} | {r['extra']:.3f} | {r['miss']:.3f} | "
            f"{r['sos_mae']:.1f} | {r['eos_mae']:.1f} | {r['pos_mae']:.1f} | {r.get('aos_bias', float('nan')):+.1f} | {r['pixels_per_s']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: run, print the table, optionally write JSON.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv``).
    """
    p = argparse.ArgumentParser(prog="python -m benchmarks.phenology", description=__doc__.splitlines()[0])
    p.add_argument("--pixels", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    p.add_argument("--dips", type=float, default=0.0, help="fraction of dates with a negative outlier (-0.15..-0.4)")
    p.add_argument("--per-year", type=int, nargs="+", default=list(PER_YEAR), choices=sorted(SHAPES),
                   help="seasons a year of the configurations (4, 5: short rice-like seasons)")
    p.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                   help="a keyword of fdl.phenology (value parsed as JSON), e.g. --option smooth=400")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.option)}
    rows = run(args.pixels, args.seed, args.dips, tuple(args.per_year), **options)
    print(table(rows))
    peers = _peers()
    print(f"\npeers installed: {', '.join(peers) if peers else 'none (TIMESAT, FuseTS skipped)'}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
