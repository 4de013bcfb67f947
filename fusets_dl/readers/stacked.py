"""Multi-band stacks: a ``band`` dimension (stackstac, rioxarray) and dated band names (GEE, SNAP) into named bands on time.

Two shapes of input that hold their bands along something other than
variables are brought into the Dataset-of-bands form the readers normalise:

* :func:`bands_from_band_dim`: a DataArray (or a one-variable Dataset) with a
  ``band`` dimension, as ``stackstac.stack`` and ``rioxarray.open_rasterio``
  return it. Band names come from the ``band`` coordinate, or from the
  ``long_name`` descriptions when the coordinate only numbers the bands.
* :func:`time_from_dated_bands`: a Dataset without a time dimension whose
  variables are named band-and-date (``20210105_VV``, ``VV_20210105``,
  ``B4_2021-01-05``, GEE image ids, SNAP ``Sigma0_VV_mst_05Jan2021``); the
  dates become the ``time`` dimension. The name forms are those of
  :func:`fusets_dl.readers.conventions.split_dated_name`.

Both stay lazy on Dask input: only names and coordinates are read.

:func:`centre_labels` moves coordinates that label each pixel's upper-left
corner (``stackstac.stack``'s default ``xy_coords="topleft"``) to pixel
centres, the convention of every other reader, judged from the affine in
``attrs["transform"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._logging import logger
from .._warn import warn_user
from ..errors import DimensionError, SourceError
from .conventions import TIME_NAMES, canonical_band_name, split_dated_name

__all__ = ["bands_from_band_dim", "centre_labels", "time_from_dated_bands"]

# Attributes of a stackstac/rioxarray array that describe the whole stack, not a band.
_STACK_ATTRS = ("spec", "transform", "resolution", "crs", "long_name", "description", "descriptions")
# Coordinates that may hold the EPSG code of a stackstac array.
_EPSG_COORDS = ("epsg", "proj:epsg")

#: Largest distance (in pixels) between a coordinate and a pixel corner or centre of ``attrs["transform"]`` read as one.
LABEL_TOLERANCE_PX = 0.01

_RENAME_HINT = (
    "rename the variables to a band and a date joined by '_' (e.g. ds.rename({{{ex!r}: '20210105_VV'}})), "
    "or register the source's names as a Convention in fusets_dl.readers.conventions.CONVENTIONS"
)


def _band_names(da: xr.DataArray, what: str) -> list[str]:
    """Names of the bands along ``band``: the coordinate, else the ``long_name`` descriptions."""
    n = da.sizes["band"]
    coord = [str(v) for v in np.asarray(da["band"].values)] if "band" in da.coords else [str(i + 1) for i in range(n)]
    numbered = all(c.isdigit() for c in coord)
    names = da.attrs.get("long_name", da.attrs.get("descriptions"))
    if isinstance(names, str):
        names = (names,)
    if numbered and names is not None and len(names) == n and all(names):
        return [str(x) for x in names]
    if numbered:
        raise SourceError(
            f"{what}: expected band names along 'band' (a coordinate of names, or long_name descriptions "
            f"with one name per band), found band numbers {coord[:6]} and descriptions {names!r}; "
            "name them with da.assign_coords(band=['VV', 'VH', ...])"
        )
    if len(set(coord)) != n:
        raise SourceError(f"{what}: expected distinct band names along 'band', found {coord}")
    return coord


def _epsg(da: xr.DataArray) -> Any:
    """The CRS of a stackstac/rioxarray array: attrs ``crs``, rioxarray, or an ``epsg`` coordinate."""
    if da.attrs.get("crs"):
        return da.attrs["crs"]
    for c in _EPSG_COORDS:
        if c in da.coords and da[c].ndim == 0 and da[c].values.item() is not None:
            return f"EPSG:{int(da[c].values.item())}"
        if c in da.coords and da[c].ndim == 1:
            vals = pd.unique(np.asarray(da[c].values))
            if vals.size == 1 and vals[0] is not None:
                return f"EPSG:{int(vals[0])}"
    try:
        crs = da.rio.crs
    except Exception:
        crs = None
    return crs.to_wkt() if crs is not None else None


def _affine(attrs: dict[Any, Any]) -> tuple[float, ...] | None:
    """The first six terms ``(a, b, c, d, e, f)`` of ``attrs["transform"]`` (an ``affine.Affine`` or a sequence), else None."""
    tr = attrs.get("transform")
    if tr is None or isinstance(tr, str):
        return None
    try:
        terms = tuple(float(t) for t in tuple(tr)[:6])
    except (TypeError, ValueError):
        return None
    return terms if len(terms) == 6 else None


def _phase(values: np.ndarray, origin: float, step: float) -> float | None:
    """Where ``values`` sit in their pixels of size ``step`` from ``origin``: 0 the corner, 0.5 the centre.

    None when the values are not spaced by the pixel size (the transform
    does not describe them: the array was resampled after it was made).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size > 1 and np.max(np.abs(np.abs(np.diff(v)) - abs(step))) > LABEL_TOLERANCE_PX * abs(step):
        return None
    return float(((v[0] - origin) / step) % 1.0)


def _near(phase: float | None, target: float) -> bool:
    if phase is None:
        return False
    d = abs(phase - target)
    return min(d, 1.0 - d) <= LABEL_TOLERANCE_PX


def centre_labels(obj: xr.DataArray | xr.Dataset, attrs: dict[Any, Any], what: str) -> xr.DataArray | xr.Dataset:
    """``obj`` with ``x``/``y`` labelling pixel centres, when ``attrs["transform"]`` shows they label upper-left corners.

    ``stackstac.stack`` (0.3 and later) labels each pixel by its upper-left
    corner by default (``xy_coords="topleft"``) and keeps the affine in
    ``attrs["transform"]``; every other reader labels pixel centres. Read
    as centres, corner labels put the data half a pixel west and north of
    where they are, silently (S2 averaged onto S1 10 m off: NDVI off by
    0.3 at a field edge). Judged per axis from the transform ``(a, b, c, d,
    e, f)``: labels on ``c + k a`` (``f + k e``) are corners and move by
    half a pixel (``a / 2``, ``e / 2``), logged at INFO; labels on
    ``c + (k + 1/2) a`` are centres (``xy_coords="center"``, the legacy
    ``xarray.open_rasterio``) and stay. A subset of the array (``.sel``,
    ``.isel``) is judged the same way; either order along an axis is
    accepted.

    Without a ``transform`` attribute (or with a rotated one) there is no
    way to tell, and the labels are taken for centres, as they stand.
    Labels the transform does not describe (spaced otherwise than its pixel
    size, as after ``coarsen``; or corners on one axis and centres on the
    other) are left as they are, with a warning.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        An array or Dataset on ``x`` and ``y``.
    attrs : dict
        The attributes holding ``transform`` (those of the stackstac array).
    what : str
        The caller, for messages.

    Returns
    -------
    xarray.DataArray or xarray.Dataset
        ``obj``, its labels moved to pixel centres where they were corners.
    """
    tr = _affine(attrs)
    if tr is None or not {"x", "y"} <= set(obj.dims):
        return obj
    a, b, c, d, e, f = tr
    if b != 0 or d != 0 or a == 0 or e == 0:
        return obj
    px, py = _phase(obj["x"].values, c, a), _phase(obj["y"].values, f, e)
    if _near(px, 0.5) and _near(py, 0.5):
        return obj
    if _near(px, 0.0) and _near(py, 0.0):
        logger.info("%s: x/y label the upper-left corners of the pixels of attrs['transform'] %s (stackstac's default "
                    "xy_coords='topleft'): moved by half a pixel (%+g, %+g) to the pixel centres", what, tr, a / 2, e / 2)
        return obj.assign_coords(x=obj["x"] + a / 2, y=obj["y"] + e / 2)
    warn_user(f"{what}: expected x/y labelling the pixel centres (or upper-left corners) of attrs['transform'] {tr}, found "
              f"x from {float(obj['x'].values[0])!r} and y from {float(obj['y'].values[0])!r} "
              f"({'spaced otherwise than the pixel size' if px is None or py is None else 'corners on one axis, centres on the other'}): "
              "the labels are taken for pixel centres as they stand. If the array came from stackstac.stack and was resampled "
              "since, make it again with xy_coords='center', or drop the stale attribute (del da.attrs['transform'])")
    return obj


def bands_from_band_dim(obj: xr.DataArray | xr.Dataset, what: str) -> xr.Dataset:
    """A Dataset of named bands from an array with a ``band`` dimension.

    Parameters
    ----------
    obj : xarray.DataArray or xarray.Dataset
        A stackstac or rioxarray DataArray on ``(time, band, y, x)`` or
        ``(band, y, x)``, or a Dataset with a single such variable.
    what : str
        The caller, for messages.

    Returns
    -------
    xarray.Dataset
        One variable per band, the per-time coordinates kept (stackstac's
        ``s2:processing_baseline``, ``sat:relative_orbit`` ...), the
        per-band coordinates dropped, the CRS in the ``crs`` attribute,
        ``x``/``y`` on pixel centres (stackstac's upper-left corner labels
        moved, :func:`centre_labels`). Lazy on Dask input.

    Raises
    ------
    SourceError
        Bands without names, or with repeated names.
    """
    if isinstance(obj, xr.Dataset):
        if len(obj.data_vars) != 1:
            return obj
        da = obj[next(iter(obj.data_vars))].copy(deep=False)  # never touch the caller's attrs
        da.attrs = {**obj.attrs, **da.attrs}
    else:
        da = obj
    if "band" not in da.dims:
        raise SourceError(f"{what}: expected a DataArray with a 'band' dimension, found dims {tuple(da.dims)}; use da.to_dataset(name=...)")
    names = _band_names(da, what)
    crs = _epsg(da)
    da = centre_labels(da, da.attrs, what)
    per_band = [c for c in da.coords if c != "band" and "band" in da[c].dims]
    da = da.drop_vars(per_band).assign_coords(band=names)
    band_attrs = {k: v for k, v in da.attrs.items() if k not in _STACK_ATTRS}
    ds = xr.Dataset({n: da.sel(band=n, drop=True) for n in names})
    for n in names:
        ds[n].attrs = dict(band_attrs)
    ds.attrs = {"crs": crs} if crs is not None else {}
    if "spatial_ref" in obj.coords:
        ds = ds.assign_coords(spatial_ref=obj["spatial_ref"])
    return ds


def time_from_dated_bands(ds: xr.Dataset, what: str) -> xr.Dataset:
    """The ``time`` dimension from band-and-date variable names, when ``ds`` has no time dimension.

    Parameters
    ----------
    ds : xarray.Dataset
        A raw input. Returned unchanged when it has a time dimension, or when
        none of its variables is on ``(y, x)``-like dims with a date in its name.
    what : str
        The caller, for messages.

    Returns
    -------
    xarray.Dataset
        One variable per band on ``(time, ...)``, dates sorted; dates a band
        lacks are NaN. Lazy on Dask input.

    Raises
    ------
    DimensionError
        Some variables carry dates and others are neither dated bands nor
        static layers, listing those found and how to rename them; or a band
        and date appear twice.
    """
    if any(t in ds.dims for t in TIME_NAMES):
        return ds
    parsed = {str(v): split_dated_name(str(v)) for v in ds.data_vars}
    dated = {v: p for v, p in parsed.items() if p is not None}
    if not dated:
        return ds
    from .conventions import BANDS

    undated = [v for v, p in parsed.items() if p is None]
    unknown = [v for v in undated if BANDS.get(canonical_band_name(v)) is None or BANDS[canonical_band_name(v)].role != "static"]
    if unknown:
        raise DimensionError(
            f"{what}: expected every variable of a multi-band stack named by a band and a date "
            f"(20210105_VV, VV_20210105, B4_2021-01-05) or a static layer; {len(dated)} are, these are not: "
            f"{unknown[:8]}; " + _RENAME_HINT.format(ex=unknown[0])
        )
    by_band: dict[str, dict[pd.Timestamp, str]] = {}
    for v, (band, date) in dated.items():
        t = pd.Timestamp(date)
        if t in by_band.setdefault(band, {}):
            raise DimensionError(f"{what}: band {band} on {t.date()} appears twice: {by_band[band][t]!r} and {v!r}")
        by_band[band][t] = v
    times = pd.DatetimeIndex(sorted({t for per in by_band.values() for t in per}))
    out = {}
    for band, per in by_band.items():
        steps = []
        for t in times:
            if t in per:
                steps.append(ds[per[t]])
            else:
                steps.append(xr.full_like(ds[next(iter(per.values()))], np.nan, dtype=np.float64))
        first = ds[next(iter(per.values()))]
        stacked = xr.concat(steps, dim=pd.Index(times, name="time"), join="exact", combine_attrs="override")
        stacked.attrs = {**first.attrs, "source_name": next(iter(per.values()))}
        out[band] = stacked
    statics = {v: ds[v] for v in undated}
    return xr.Dataset({**out, **statics}, attrs=ds.attrs)
