"""Build the fusion cube: S2 brought onto the S1 grid and paired or composited in time."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._logging import logger
from .._series import nanmedian_last
from ..cf import cf_attrs
from ..errors import (
    ConfigError,
    CRSMismatchError,
    DimensionError,
    GridMismatchError,
    TimeOverlapError,
)
from ..readers.encoding import db_to_linear, linear_to_db
from ..validate import check_time, is_dask_backed, require_variables
from .filters import filter_ndvi_outliers

__all__ = ["align", "summarise"]

SUMMARY_ATTR = "fusion_summary"


# --------------------------------------------------------------------------- space

def _res_xy(ds: xr.Dataset) -> tuple[float, float]:
    """Signed pixel size (x, y) from the coordinates; a one-pixel axis borrows the other's size."""
    x, y = ds["x"].values, ds["y"].values
    rx = float(x[1] - x[0]) if x.size > 1 else None
    ry = float(y[1] - y[0]) if y.size > 1 else None
    if rx is None and ry is None:
        try:
            rxr, ryr = ds.rio.resolution()
            return float(rxr), float(ryr)
        except Exception as exc:
            raise GridMismatchError(
                "grid of 1 x 1 pixel: expected at least 2 pixels along x or y (or a stored transform) "
                "to infer the resolution"
            ) from exc
    rx = abs(ry) if rx is None else rx
    ry = -abs(rx) if ry is None else ry
    return rx, ry


def _bounds(ds: xr.Dataset) -> tuple[float, float, float, float]:
    rx, ry = (abs(r) for r in _res_xy(ds))
    x, y = ds["x"].values, ds["y"].values
    return (float(x.min() - rx / 2), float(y.min() - ry / 2), float(x.max() + rx / 2), float(y.max() + ry / 2))


def _check_crs(s1: xr.Dataset, s2: xr.Dataset) -> bool:
    """Return True when S2 must be reprojected; raise when the CRSs cannot be reconciled."""
    c1, c2 = s1.rio.crs, s2.rio.crs
    if c1 is None and c2 is None:
        logger.warning("align: neither input has a CRS; assuming both share one")
        return False
    if (c1 is None) != (c2 is None):
        raise CRSMismatchError(
            f"align: expected both inputs with a CRS (or neither), found S1 CRS {c1} and S2 CRS {c2}; "
            "write one with ds.rio.write_crs(...)"
        )
    return c1 != c2


def _nested_factor(s1: xr.Dataset, s2: xr.Dataset) -> int | None:
    """Integer factor k when S2 pixels tile S1 pixels exactly (k x k), else None."""
    (r1x, r1y), (r2x, r2y) = _res_xy(s1), _res_xy(s2)
    if np.sign(r1x) != np.sign(r2x) or np.sign(r1y) != np.sign(r2y):
        return None
    kx, ky = r1x / r2x, r1y / r2y
    if abs(kx - round(kx)) > 1e-6 or abs(ky - round(ky)) > 1e-6 or round(kx) != round(ky) or round(kx) < 1:
        return None
    k = round(kx)
    for c1, c2, r2 in ((s1["x"].values, s2["x"].values, r2x), (s1["y"].values, s2["y"].values, r2y)):
        edge1 = c1[0] - (r2 * k) / 2
        edge2 = c2[0] - r2 / 2
        off = (edge1 - edge2) / r2
        if abs(off - round(off)) > 1e-3:
            return None
    return k


def _fine_coords(coarse: np.ndarray, res_coarse: float, k: int) -> np.ndarray:
    j = (np.arange(k) + 0.5) * (res_coarse / k)
    return (coarse[:, None] - res_coarse / 2 + j[None, :]).ravel()


def _s2_onto_s1(s2: xr.Dataset, s1: xr.Dataset, reproject: bool, raw: bool = False) -> tuple[xr.DataArray, xr.DataArray, str, xr.DataArray | None]:
    """Return (clear NDVI, clear fraction) on the S1 grid, the method used, and (``raw``) the NDVI of all pixels."""
    b1, b2 = _bounds(s1), _bounds(s2)
    if not reproject and (b1[0] >= b2[2] or b2[0] >= b1[2] or b1[1] >= b2[3] or b2[1] >= b1[3]):
        raise GridMismatchError(
            f"align: expected S1 and S2 grids that overlap, found S1 bounds {b1} and S2 bounds {b2} "
            f"(CRS {s1.rio.crs})"
        )
    nd = s2["NDVI"].where(s2["clear"])
    cf = s2["clear"].astype(np.float32)
    extra = {"nr": s2["NDVI"].astype(np.float32)} if raw else {}
    k = None if reproject else _nested_factor(s1, s2)
    if k is not None:
        (r1x, r1y), (r2x, _) = _res_xy(s1), _res_xy(s2)
        fx = _fine_coords(s1["x"].values, r1x, k)
        fy = _fine_coords(s1["y"].values, r1y, k)
        tol = abs(r2x) / 4
        both = xr.Dataset({"nd": nd, "cf": cf, **extra}).reindex(x=fx, y=fy, method="nearest", tolerance=tol)
        both["cf"] = both["cf"].fillna(0.0)
        if is_dask_backed(both):
            cy = s1.chunksizes.get("y", (256,))[0] if s1.chunks else 256
            cx = s1.chunksizes.get("x", (256,))[0] if s1.chunks else 256
            both = both.chunk({"time": -1, "y": cy * k, "x": cx * k})
        agg = both if k == 1 else both.coarsen(y=k, x=k).mean()  # NaN-skipping for floats
        agg = agg.assign_coords(y=s1["y"].values, x=s1["x"].values)
        method = "exact block mean" if k > 1 else "same grid"
        return agg["nd"], agg["cf"], f"{method} (factor {k})", agg["nr"] if raw else None
    from rasterio.enums import Resampling

    template = s1["VV"].isel(time=0, drop=True)
    if template.rio.crs is None and s1.rio.crs is not None:
        template = template.rio.write_crs(s1.rio.crs)
    src = xr.Dataset({"nd": nd.fillna(np.nan).astype(np.float32), "cf": cf, **extra}).rio.write_crs(s2.rio.crs)
    src = src.compute() if is_dask_backed(src) else src
    try:
        out = src.rio.reproject_match(template, resampling=Resampling.average, nodata=np.nan)
    except Exception as exc:
        raise CRSMismatchError(f"align: cannot reproject S2 ({s2.rio.crs}) onto the S1 grid ({s1.rio.crs}): {exc}") from exc
    out = out.assign_coords(y=s1["y"].values, x=s1["x"].values)
    if not bool(np.isfinite(out["cf"].values).any()):
        raise GridMismatchError(
            f"align: expected S1 and S2 grids that overlap, found none after reprojecting "
            f"S2 bounds {_bounds(s2)} ({s2.rio.crs}) onto S1 bounds {_bounds(s1)} ({s1.rio.crs})"
        )
    return out["nd"], out["cf"].fillna(0.0), "rio.reproject_match (average)", out["nr"] if raw else None


# --------------------------------------------------------------------------- time kernels

def _days(t: Any, origin: np.datetime64) -> np.ndarray:
    return (np.asarray(t, dtype="datetime64[ns]") - origin) / np.timedelta64(1, "D")


def _pair_nearest(vals: np.ndarray, t1: np.ndarray, t2: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the nearest non-NaN value of ``vals`` (..., n2) within ``tol`` days of each ``t1``.

    Ties are broken in favour of the earlier S2 observation. Returns the
    paired values and their offsets in days (S2 minus S1), both (..., n1).
    """
    n1 = t1.size
    out = np.full((*vals.shape[:-1], n1), np.nan, dtype=np.float32)
    off = np.full((*vals.shape[:-1], n1), np.nan, dtype=np.float32)
    d = t2[None, :] - t1[:, None]
    for i in range(n1):
        cand = np.flatnonzero(np.abs(d[i]) <= tol)
        if cand.size == 0:
            continue
        order = cand[np.lexsort((d[i, cand], np.abs(d[i, cand])))]
        oi, fi = out[..., i], off[..., i]
        for j in order:
            v = vals[..., j]
            fill = np.isnan(oi) & ~np.isnan(v)
            oi[fill] = v[fill]
            fi[fill] = d[i, j]
    return out, off


def _nanreduce(sub: np.ndarray, how: str) -> np.ndarray:
    """NaN-skipping mean, median or count along the last axis, without warnings."""
    ok = np.isfinite(sub)
    n = ok.sum(axis=-1)
    if how == "count":
        return n.astype(np.float64)
    if how == "mean":
        total = np.where(ok, sub, 0.0).sum(axis=-1)
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)
    return nanmedian_last(sub)[..., 0]


def _composite(vals: np.ndarray, labels: np.ndarray, nper: int, how: str) -> np.ndarray:
    """Reduce ``vals`` (..., n) over the time positions sharing a period label."""
    out = np.full((*vals.shape[:-1], nper), 0.0 if how == "count" else np.nan, dtype=np.float64)
    for p in range(nper):
        idx = np.flatnonzero(labels == p)
        if idx.size:
            out[..., p] = _nanreduce(vals[..., idx].astype(np.float64), how)
    return out


# --------------------------------------------------------------------------- align

def align(
    s1: xr.Dataset,
    s2: xr.Dataset,
    *,
    tolerance: str | pd.Timedelta = "3D",
    freq: str | None = None,
    min_clear_fraction: float = 1.0,
    outlier_filter: bool = False,
    outlier_threshold: float = 0.15,
    outlier_max_gap_days: float = 20.0,
    terrain: xr.Dataset | None = None,
    keep_cloudy: bool = False,
    compute_summary: bool | None = None,
) -> xr.Dataset:
    """Build the fusion cube from S1 and S2 in canonical form.

    S2 is first brought onto the S1 grid: where the S2 pixels tile the S1
    pixels exactly (10 m in 20 m), by the exact block mean of the clear S2
    sub-pixels, otherwise by ``rio.reproject_match`` with average resampling
    (not lazy). An S1 pixel is clear when the clear fraction of its S2
    sub-pixels reaches ``min_clear_fraction``.

    Then, in time, either

    * ``freq=None``: the cube is on the S1 dates, and each S1 date of each
      pixel is paired with the nearest clear S2 observation within
      ``tolerance`` (ties go to the earlier observation); or
    * ``freq="12D"``: both are composited onto regular periods starting at the
      beginning of the common time span: S1 mean in linear power reported in
      dB, S2 median of the clear NDVI. ``time`` labels the period centre, and
      ``time_bnds`` holds the period edges.

    Parameters
    ----------
    s1, s2 : xarray.Dataset
        Outputs of :func:`fusets_dl.open_s1` and :func:`fusets_dl.open_s2`.
    tolerance : str or Timedelta
        Maximum distance between an S1 date and its paired S2 observation.
    freq : str, optional
        Compositing period (pandas offset such as ``"12D"``).
    min_clear_fraction : float
        Fraction of clear S2 sub-pixels an S1 pixel needs to count as clear.
    outlier_filter : bool
        Remove clear S2 observations that are negative spikes recovering within
        days (residual cloud or shadow missed by SCL); see
        :func:`fusets_dl.preprocess.filter_ndvi_outliers`.
    outlier_threshold, outlier_max_gap_days : float
        Parameters of the outlier filter.
    terrain : xarray.Dataset, optional
        ``elevation``/``slope``/``aspect`` on any grid; brought onto the S1 grid.
    keep_cloudy : bool
        Pairing mode only: also keep ``NDVI_cloudy``, the NDVI of the nearest
        S2 acquisition within ``tolerance`` that is *not* clear (cloud- or
        shadow-contaminated, or removed by the outlier filter), for
        cloud-robust training (``FeatureSpec(cloudy_input=True)``).
    compute_summary : bool, optional
        Count what survived each mask now (one Dask computation over the
        inputs). Default: for in-memory inputs only, so Dask inputs stay lazy.

    Returns
    -------
    xarray.Dataset
        The fusion cube: ``VV``, ``VH`` (dB), ``NDVI`` (clear, NaN where
        none) on ``(time, y, x)``, plus ``NDVI_offset`` (pairing) or
        ``n_s1``/``n_s2_clear``/``time_bnds`` (compositing), static terrain
        when given. ``cube.attrs["fusion_summary"]`` holds what survived each
        step as JSON; counts of pixels are filled in for in-memory inputs and
        computed on request by :func:`summarise` for Dask inputs.

    Raises
    ------
    GridMismatchError, CRSMismatchError
        Grids that do not overlap, or CRSs that cannot be reconciled.
    TimeOverlapError
        No common time span.
    """
    for name, ds in (("S1", s1), ("S2", s2)):
        if not isinstance(ds, xr.Dataset):
            raise DimensionError(f"align: {name}: expected an xarray.Dataset (from open_s1/open_s2), found {type(ds).__name__}")
        if not {"time", "y", "x"} <= set(ds.dims):
            raise DimensionError(
                f"align: {name}: expected dims ('time', 'y', 'x'), found {tuple(ds.dims)}; "
                "open the data with open_s1/open_s2, which rename t/lat/lon and friends"
            )
    require_variables(s1, ["VV", "VH"], "align: S1")
    require_variables(s2, ["NDVI", "clear"], "align: S2")
    check_time(s1, "align: S1")
    check_time(s2, "align: S2")
    tol = pd.Timedelta(tolerance)
    if tol < pd.Timedelta(0):
        raise TimeOverlapError(f"align: tolerance must be >= 0, found {tolerance!r}")
    t1 = pd.DatetimeIndex(s1["time"].values)
    t2 = pd.DatetimeIndex(s2["time"].values)
    slack = tol if freq is None else pd.Timedelta(0)
    start, end = max(t1[0], t2[0] - slack), min(t1[-1], t2[-1] + slack)
    if start > end:
        raise TimeOverlapError(
            f"align: expected S1 and S2 with a common time span, found S1 {t1[0].date()}..{t1[-1].date()} "
            f"and S2 {t2[0].date()}..{t2[-1].date()} (tolerance {tol})"
        )
    if keep_cloudy and freq is not None:
        raise ConfigError(f"align: keep_cloudy needs the pairing mode (freq=None), found freq={freq!r}")
    reproject = _check_crs(s1, s2)
    nd, cf, grid_method, nd_raw = _s2_onto_s1(s2, s1, reproject, raw=keep_cloudy)
    clear = cf >= (min_clear_fraction - 1e-6)
    if min_clear_fraction <= 0:
        clear = cf > 0
    if outlier_filter:
        clear_f = filter_ndvi_outliers(nd, clear, threshold=outlier_threshold, max_gap_days=outlier_max_gap_days)
    else:
        clear_f = clear
    nd_clear = nd.where(clear_f).astype(np.float32)
    origin = np.datetime64(min(t1[0], t2[0]).floor("D"), "ns")

    cube = xr.Dataset(coords={"y": s1["y"], "x": s1["x"]})
    if freq is None:
        d1, d2 = _days(t1.values, origin), _days(t2.values, origin)
        tol_days = tol / pd.Timedelta(days=1)
        pair_in = nd_clear.rename(time="time_s2")

        def _pair_vals(v: np.ndarray) -> np.ndarray:
            return _pair_nearest(v, d1, d2, tol_days)[0]

        def _pair_offs(v: np.ndarray) -> np.ndarray:
            return _pair_nearest(v, d1, d2, tol_days)[1]

        kw: dict[str, Any] = {
            "input_core_dims": [["time_s2"]],
            "output_core_dims": [["time"]],
            "dask": "parallelized",
            "output_dtypes": [np.float32],
            "dask_gufunc_kwargs": {"output_sizes": {"time": t1.size}},
        }
        paired = xr.apply_ufunc(_pair_vals, pair_in, **kw)
        offset = xr.apply_ufunc(_pair_offs, pair_in, **kw)
        paired = paired.assign_coords(time=s1["time"]).transpose("time", "y", "x")
        offset = offset.assign_coords(time=s1["time"]).transpose("time", "y", "x")
        for v in ("VV", "VH"):
            cube[v] = s1[v]
        cube["NDVI"] = paired
        cube["NDVI_offset"] = offset
        cube["NDVI_offset"].attrs = cf_attrs("NDVI_offset")
        if nd_raw is not None:
            cloudy_in = nd_raw.where(~clear_f).astype(np.float32).rename(time="time_s2")
            cloudy = xr.apply_ufunc(_pair_vals, cloudy_in, **kw)
            cube["NDVI_cloudy"] = cloudy.assign_coords(time=s1["time"]).transpose("time", "y", "x")
            cube["NDVI_cloudy"].attrs = cf_attrs("NDVI_cloudy")
        if "orbit" in s1.coords:
            cube = cube.assign_coords(orbit=s1["orbit"])
        mode = {"mode": "pair", "tolerance_days": tol_days}
    else:
        edges = pd.date_range(start.floor("D"), end + pd.tseries.frequencies.to_offset(freq), freq=freq)
        if edges.size < 2:
            raise TimeOverlapError(f"align: the common span {start}..{end} holds no full period of {freq}")
        nper = edges.size - 1
        centres = edges[:-1] + (edges[1:] - edges[:-1]) / 2
        lab1 = np.searchsorted(edges.values, t1.values, side="right") - 1
        lab1[(t1.values < edges[0].to_datetime64()) | (lab1 >= nper)] = -1
        lab2 = np.searchsorted(edges.values, t2.values, side="right") - 1
        lab2[(t2.values < edges[0].to_datetime64()) | (lab2 >= nper)] = -1

        def _reduce(da: xr.DataArray, labels: np.ndarray, how: str) -> xr.DataArray:
            out = xr.apply_ufunc(
                _composite,
                da.rename(time="time_in"),
                input_core_dims=[["time_in"]],
                output_core_dims=[["time"]],
                kwargs={"labels": labels, "nper": nper, "how": how},
                dask="parallelized",
                output_dtypes=[np.float64],
                dask_gufunc_kwargs={"output_sizes": {"time": nper}},
            )
            return out.assign_coords(time=centres.values).transpose("time", "y", "x")

        for v in ("VV", "VH"):
            lin = _reduce(db_to_linear(s1[v].astype(np.float64)), lab1, "mean")
            cube[v] = linear_to_db(lin).astype(np.float32)
            cube[v].attrs = cf_attrs(v, cell_methods="time: mean (linear power)")
        cube["NDVI"] = _reduce(nd_clear, lab2, "median").astype(np.float32)
        cube["NDVI"].attrs = cf_attrs("NDVI", cell_methods="time: median (clear observations)")
        cube["n_s1"] = _reduce(s1["VV"], lab1, "count").astype(np.int16)
        cube["n_s1"].attrs = cf_attrs("n_s1")
        cube["n_s2_clear"] = _reduce(nd_clear, lab2, "count").astype(np.int16)
        cube["n_s2_clear"].attrs = cf_attrs("n_s2_clear")
        cube["time_bnds"] = xr.DataArray(np.stack([edges[:-1].values, edges[1:].values], axis=1), dims=("time", "bnds"))
        cube["time"].attrs["bounds"] = "time_bnds"
        for v in ("time", "time_bnds"):  # one CF unit for a time and its bounds
            cube[v].encoding.update({"units": "seconds since 1970-01-01", "dtype": "float64"})
        mode = {"mode": "composite", "freq": freq, "periods": int(nper)}
    cube["NDVI"].attrs = cube["NDVI"].attrs or cf_attrs("NDVI")
    for v in ("VV", "VH"):
        cube[v].attrs = cube[v].attrs or cf_attrs(v)
    statics = terrain if terrain is not None else s1
    for name in ("elevation", "slope", "aspect"):
        if name in statics.data_vars:
            cube[name] = _static_onto(statics[name], s1, terrain is not None)
    if s1.rio.crs is not None:
        cube = cube.rio.write_crs(s1.rio.crs)
    summary: dict[str, Any] = {
        **mode,
        "s1_dates": int(t1.size),
        "s2_dates": int(t2.size),
        "cube_dates": int(cube.sizes["time"]),
        "pixels": int(cube.sizes["y"] * cube.sizes["x"]),
        "grid": grid_method,
        "min_clear_fraction": float(min_clear_fraction),
        "outlier_filter": bool(outlier_filter),
        "common_span": [str(start.date()), str(end.date())],
    }
    counts = {
        "s2_pixel_dates": xr.DataArray(s2["clear"].size),
        "s2_clear_pixel_dates": s2["clear"].sum(),
        "s2_clear_on_s1_grid": clear.sum(),
        "s2_clear_after_outlier_filter": clear_f.sum(),
        "s1_valid_pixel_dates": (cube["VV"].notnull() & cube["VH"].notnull()).sum(),
        "paired_pixel_dates": cube["NDVI"].notnull().sum(),
    }
    if compute_summary is None:
        compute_summary = not is_dask_backed(s1) and not is_dask_backed(s2)
    if compute_summary:
        import dask

        values = dask.compute(*[v.data for v in counts.values()])
        summary.update({k: int(v) for k, v in zip(counts, values, strict=True)})
        _add_fractions(summary, cube)
    cube.attrs = {SUMMARY_ATTR: json.dumps(summary), "title": "fusets_dl fusion cube"}
    _log_summary(summary)
    return cube


def _static_onto(da: xr.DataArray, s1: xr.Dataset, regrid: bool) -> xr.DataArray:
    if not regrid or (np.array_equal(da["x"].values, s1["x"].values) and np.array_equal(da["y"].values, s1["y"].values)):
        return da.astype(np.float32)
    from rasterio.enums import Resampling

    template = s1["VV"].isel(time=0, drop=True)
    out = da.rio.reproject_match(template, resampling=Resampling.bilinear)
    out = out.assign_coords(y=s1["y"].values, x=s1["x"].values).astype(np.float32)
    out.attrs = da.attrs
    return out


def _add_fractions(summary: dict[str, Any], cube: xr.Dataset) -> None:
    total = summary["cube_dates"] * summary["pixels"]
    summary["s2_clear_fraction"] = round(summary["s2_clear_pixel_dates"] / max(summary["s2_pixel_dates"], 1), 4)
    summary["paired_fraction"] = round(summary["paired_pixel_dates"] / max(total, 1), 4)
    summary["outliers_removed"] = summary["s2_clear_on_s1_grid"] - summary["s2_clear_after_outlier_filter"]


def _log_summary(summary: dict[str, Any]) -> None:
    logger.info("align: %s", ", ".join(f"{k}={v}" for k, v in summary.items()))


def summarise(cube: xr.Dataset) -> dict[str, Any]:
    """What survived each step of building ``cube``, with pixel counts computed now.

    Parameters
    ----------
    cube : xarray.Dataset
        A fusion cube from :func:`align`.

    Returns
    -------
    dict
        The structural summary stored by :func:`align` plus counts of valid S1
        pixel-dates and paired (clear) NDVI pixel-dates, and the paired fraction.
        One Dask computation on Dask-backed cubes.
    """
    summary = json.loads(cube.attrs.get(SUMMARY_ATTR, "{}"))
    import dask

    valid, paired = dask.compute(
        (cube["VV"].notnull() & cube["VH"].notnull()).sum().data,
        cube["NDVI"].notnull().sum().data if "NDVI" in cube else np.int64(0),
    )
    summary["s1_valid_pixel_dates"] = int(valid)
    summary["paired_pixel_dates"] = int(paired)
    total = cube.sizes["time"] * cube.sizes["y"] * cube.sizes["x"]
    summary["paired_fraction"] = round(int(paired) / max(total, 1), 4)
    return summary
