"""Sentinel-2 reader: ``NDVI`` (float32) and a boolean ``clear`` mask on ``(time, y, x)``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr
from pyproj import CRS

from .._logging import logger
from ..cf import cf_attrs
from ..errors import DimensionError, EncodingError, GridMismatchError, MissingVariableError
from .conventions import band_for, bands_for
from .encoding import DEFAULT_CLEAR_CLASSES, mask_from_cloud_band, mask_from_scl, ndvi
from .normalise import _decode, _finish, _prepare, _sample, _subset
from .sources import Source, describe, open_sources

__all__ = ["open_s2"]


def open_s2(
    source: Source,
    *,
    clear_classes: Iterable[int] = DEFAULT_CLEAR_CLASSES,
    chunks: Any = None,
    time_range: tuple[Any, Any] | None = None,
    bbox: Sequence[float] | None = None,
    reflectance_scale: float | Literal["auto"] = "auto",
    boa_offset: float = 0.0,
    duplicates: Literal["raise", "first", "mean"] = "raise",
) -> xr.Dataset:
    """Open Sentinel-2 L2A data as ``NDVI`` (float32) and a boolean ``clear`` mask.

    Parameters
    ----------
    source : path, Dataset or list of them
        As for :func:`open_s1`. A list of files holding different bands at
        different resolutions (WorldCereal: B04/B08 at 10 m, SCL at 20 m) is
        merged onto the **finest** grid: coarser bands are copied by nearest
        neighbour onto it (exact replication where the grids nest), so NDVI
        keeps its full resolution and :func:`fusets_dl.align` aggregates it
        onto the S1 grid later.
    clear_classes : iterable of int
        SCL classes counted as clear (default 4 vegetation, 5 bare soil).
        Without SCL, a cloud mask band (``CLM``: 1 = cloud) is used; without
        either, every valid NDVI counts as clear and a warning is logged.
    chunks : dict, "auto" or None
        Dask chunks (``time`` defaults to one chunk).
    time_range, bbox, duplicates
        As for :func:`open_s1`.
    reflectance_scale : float or "auto"
        Factor from stored values to reflectance after CF decoding. "auto":
        a CF ``scale_factor`` gives reflectance directly; integers without
        scale factor are DN x 1e-4; floats without one are DN x 1e-4 when a
        small sample (read now) exceeds 1.5.
    boa_offset : float
        Offset added to reflectance after scaling (-0.1 for L2A processing
        baseline 04.00 and later when not already applied).

    Returns
    -------
    xarray.Dataset
        ``NDVI`` (float32, NaN where reflectance is nodata), ``clear``
        (bool) and ``SCL`` (uint8, 0 where nodata) when present.

    Raises
    ------
    MissingVariableError
        When neither red and NIR (B04, B08) nor an NDVI band is present.
    DimensionError, GridMismatchError
        Files of a list that do not share their dates, or grids that cannot
        be brought onto the finest one.
    EncodingError
        An NDVI band with values outside [-1, 1].
    """
    what = f"open_s2({describe(source)})"
    ds, crs = _s2_merge([_prepare(p, what, duplicates) for p in open_sources(source, chunks)], what)
    have = _s2_require_bands(ds, what)
    out = xr.Dataset(coords={k: v for k, v in ds.coords.items() if k not in ("spatial_ref", "crs")})
    red, nir = band_for("red"), band_for("nir")
    if {red, nir} <= have:
        out["NDVI"] = _s2_ndvi_from_reflectance(ds[red], ds[nir], reflectance_scale, boa_offset)
    else:
        out["NDVI"] = _s2_ndvi_band(ds[band_for("ndvi")], what)
    out, mask_src = _s2_add_clear(out, ds, have, clear_classes, what)
    out.attrs = {"source": describe(source), "sensor": "Sentinel-2", "clear_mask": mask_src}
    if crs is not None:
        out = out.rio.write_crs(crs)
    out = _subset(out, time_range, bbox, what)
    logger.info("%s: %d dates, %d x %d pixels, clear mask from %s", what, out.sizes["time"], out.sizes["y"], out.sizes["x"], mask_src)
    return _finish(out, crs, chunks, what)


# --------------------------------------------------------------------------- several files

def _resolution(ds: xr.Dataset) -> float:
    if ds.sizes["x"] < 2:
        raise GridMismatchError(f"cannot infer the resolution of a grid {ds.sizes['x']} pixel(s) wide")
    return float(abs(ds["x"].values[1] - ds["x"].values[0]))


def _onto_grid(coarse: xr.Dataset, fine: xr.Dataset, what: str) -> xr.Dataset:
    """Nearest-neighbour copy of ``coarse`` onto the coordinates of ``fine``.

    Where the grids nest (fine pixel centres inside coarse pixels) this
    replicates each coarse value over the fine pixels it covers, exactly.
    """
    res = _resolution(coarse)
    try:
        out = coarse.reindex(y=fine["y"], x=fine["x"], method="nearest", tolerance=res / 2 + 1e-6)
    except (KeyError, ValueError) as exc:
        raise GridMismatchError(f"{what}: cannot bring the {res:g} m bands onto the finer grid ({exc})") from exc
    return out


def _s2_merge(parts: list[tuple[xr.Dataset, CRS | None, dict[str, str]]], what: str) -> tuple[xr.Dataset, CRS | None]:
    """One Dataset on the finest grid of the prepared inputs, and the first CRS found."""
    crs = next((p[1] for p in parts if p[1] is not None), None)
    datasets = [p[0] for p in parts]
    if len(datasets) == 1:
        return datasets[0], crs
    finest = min(datasets, key=_resolution)
    aligned = []
    for d in datasets:
        if d is not finest and not (np.array_equal(d["x"].values, finest["x"].values) and np.array_equal(d["y"].values, finest["y"].values)):
            d = _onto_grid(d, finest, what)
        aligned.append(d)
    times = [d["time"].values for d in aligned]
    if not all(np.array_equal(times[0], t) for t in times[1:]):
        raise DimensionError(
            f"{what}: expected the same dates in every file, found "
            + ", ".join(f"{len(t)} dates {str(t[0])[:10]}..{str(t[-1])[:10]}" for t in times)
        )
    ds = xr.merge([d.drop_vars([c for c in d.coords if c not in ("time", "y", "x")]) for d in aligned], join="override", compat="override")
    return ds, crs


# --------------------------------------------------------------------------- NDVI

def _s2_require_bands(ds: xr.Dataset, what: str) -> set[str]:
    """The band names present; raise when neither red and NIR nor NDVI is among them."""
    have = set(map(str, ds.data_vars))
    if not ({band_for("red"), band_for("nir")} <= have or band_for("ndvi") in have):
        raise MissingVariableError(
            f"{what}: expected red and NIR bands B04 and B08 (or S2-L2A-B04/B08), or an NDVI band; "
            f"found {sorted(have)}"
        )
    return have


def _s2_reflectance(da: xr.DataArray, reflectance_scale: float | Literal["auto"], boa_offset: float) -> xr.DataArray:
    """Reflectance (float32) from a stored band: CF decoding, then the scale and the BOA offset."""
    cf_scaled = "scale_factor" in da.attrs
    dec = _decode(da)
    scale = reflectance_scale
    if scale == "auto":
        if cf_scaled:
            scale = 1.0  # the CF scale_factor already gave reflectance
        elif np.issubdtype(dec.dtype, np.integer):
            scale = 1e-4
            dec = dec.where(dec > 0)  # DN 0 is nodata in L2A products
        else:  # floats without scale information: look at a small sample
            peak = np.nanmax(_sample(dec)) if dec.size else 0.0
            scale = 1e-4 if peak > 1.5 else 1.0
    return dec.astype(np.float32) * np.float32(scale) + np.float32(boa_offset)


def _s2_ndvi_from_reflectance(
    red: xr.DataArray, nir: xr.DataArray, reflectance_scale: float | Literal["auto"], boa_offset: float
) -> xr.DataArray:
    """NDVI from the stored red and NIR bands."""
    r = _s2_reflectance(red, reflectance_scale, boa_offset)
    n = _s2_reflectance(nir, reflectance_scale, boa_offset)
    return ndvi(r, n)


def _s2_ndvi_band(band: xr.DataArray, what: str) -> xr.DataArray:
    """A stored NDVI band, checked to lie in [-1, 1] (on a sample of in-memory data)."""
    nd = _decode(band).astype(np.float32)
    smp = _sample(nd) if nd.chunks is None else np.zeros(0)  # Dask input stays lazy: only the mask below applies
    smp = smp[np.isfinite(smp)]
    outside = float(np.mean(np.abs(smp) > 1.0)) if smp.size else 0.0
    if outside > 0.01:
        raise EncodingError(
            f"{what}: expected NDVI in [-1, 1], found {outside:.0%} of sampled values outside it "
            f"(range {smp.min():.4g}..{smp.max():.4g}): an unapplied scale factor (e.g. x10000) or reflectance instead of NDVI?"
        )
    if outside > 0:
        logger.warning("%s: %.2f%% of sampled NDVI values outside [-1, 1] are set to NaN", what, 100 * outside)
    out = nd.where((nd >= -1) & (nd <= 1))
    out.attrs = cf_attrs("NDVI")
    return out


# --------------------------------------------------------------------------- clear mask

def _s2_add_clear(
    out: xr.Dataset, ds: xr.Dataset, have: set[str], clear_classes: Iterable[int], what: str
) -> tuple[xr.Dataset, str]:
    """Add ``clear`` (and ``SCL``) to ``out``: from SCL, else a cloud mask band, else valid NDVI.

    Returns the Dataset and a description of where the mask came from.
    """
    scl = band_for("scl")
    if scl in have:
        scl_f = _decode(ds[scl])
        out["clear"] = mask_from_scl(scl_f, clear_classes) & out["NDVI"].notnull()
        out["SCL"] = scl_f.fillna(0).astype(np.uint8) if np.issubdtype(scl_f.dtype, np.floating) else scl_f.astype(np.uint8)
        out["SCL"].attrs = cf_attrs("SCL")
        return out, f"SCL classes {sorted(int(c) for c in clear_classes)}"
    cloud = next((c for c in bands_for("cloud_mask") if c in have), None)
    if cloud is not None:
        out["clear"] = mask_from_cloud_band(_decode(ds[cloud])) & out["NDVI"].notnull()
        return out, f"cloud band {cloud}"
    logger.warning("%s: no SCL or cloud mask band; every valid NDVI counts as clear", what)
    out["clear"] = out["NDVI"].notnull()
    out["clear"].attrs = cf_attrs("clear", source="valid NDVI (no cloud information)")
    return out, "none (valid NDVI)"
