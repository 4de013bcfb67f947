"""Benchmark of the S1 feature kernel: NumPy reference against the compiled kernel, and ``compute_features`` end to end.

``python -m benchmarks.features [--quick]`` prints one row per measurement:
CPU seconds per call (``time.process_time``, single thread: the kernels run
in this thread) and pixel-timesteps per CPU second, on random float32 series
with 20 % gaps, two alternating orbits and the default :class:`FeatureSpec`;
then ``compute_features(cube).data.sum().compute()`` wall-clock throughput on
a 512 x 512 synthetic cube (chunks 256, Dask threads) with the compiled
kernel and with the NumPy kernel swapped in, in the same run. Timings on a
shared machine vary: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import numpy as np

import fusets_dl as fdl
from fusets_dl.features import sar

from .core import _cube


def _series(npix: int, nt: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Random VV, VH (dB, float32, 20 % gaps), days (12-day steps), day of year and two alternating orbit groups."""
    rng = np.random.default_rng(seed)
    vv = rng.normal(-12, 3, (npix, nt)).astype(np.float32)
    vh = (vv - 6 + rng.normal(0, 1.5, (npix, nt))).astype(np.float32)
    vv[rng.random((npix, nt)) < 0.2] = np.nan
    days = np.arange(nt) * 6.0
    return vv, vh, days, days % 365.25, np.arange(nt) % 2


def _cpu(fn: Callable[[], Any], repeat: int) -> float:
    """Best CPU seconds (this process) of ``repeat`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Kernel and ``compute_features`` rows (see the module docstring)."""
    spec = fdl.FeatureSpec()
    rows: list[dict[str, Any]] = []
    for npix in (4096,) if quick else (4096, 65536):
        args = _series(npix, 60)
        vv, vh, days, doy, groups = args
        sar.feature_kernel(vv[:2], vh[:2], days, doy, spec, groups)  # compile (or load the cache) outside the timing
        pts = npix * 60
        t_np = _cpu(lambda a=args: sar.feature_kernel_numpy(*a[:4], spec, a[4]), 2 if quick else 3)
        t_c = _cpu(lambda a=args: sar.feature_kernel(*a[:4], spec, a[4]), 3 if quick else 5)
        for name, sec in (("numpy", t_np), ("compiled", t_c)):
            rows.append({"stage": f"kernel {name}", "size": f"({npix}, 60)", "cpu_s": sec, "M_per_cpu_s": pts / sec / 1e6, "ratio": t_np / sec})
    size = 256 if quick else 512
    cube = _cube(size, size, chunk=256)
    pts = cube.sizes["time"] * size * size
    walls: dict[str, float] = {}
    for name, kernel in (("compiled", sar.feature_kernel), ("numpy", sar.feature_kernel_numpy)):
        with mock.patch.object(sar, "feature_kernel", kernel):
            fdl.compute_features(cube, spec).data.sum().compute()  # warm
            best = float("inf")
            for _ in range(2):
                t0 = time.perf_counter()
                fdl.compute_features(cube, spec).data.sum().compute()
                best = min(best, time.perf_counter() - t0)
        walls[name] = best
    for name in ("numpy", "compiled"):
        rows.append({"stage": f"compute_features ({name} kernel)", "size": f"{cube.sizes['time']} x {size} x {size}", "wall_s": walls[name],
                     "M_per_s": pts / walls[name] / 1e6, "ratio": walls["numpy"] / walls[name]})
    return rows


def main() -> None:
    """Print the rows."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one small batch and a 256 x 256 cube")
    for row in run(ap.parse_args().quick):
        print("  ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
