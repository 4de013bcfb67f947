"""Read a terrain input (DEM, slope, aspect) into the data model's static layers.

:func:`open_terrain` takes what users have: a Dataset of layers, a DataArray
straight from ``rioxarray.open_rasterio`` (a ``band`` dimension of length
one, nodata and CF packing not applied), a layer repeated along time (openEO,
WorldCereal), ``lat``/``lon`` dimensions, a CRS in a CF grid mapping or an
``epsg`` attribute, units other than metres and degrees. It returns float32
``elevation`` (m), ``slope`` (degrees) and ``aspect`` (degrees clockwise
from north, :data:`FLAT_ASPECT` where the ground is flat) on ``(y, x)``,
nodata as NaN, the CRS written; lazy on Dask input.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._logging import logger
from .._warn import warn_user
from ..errors import ConfigError, DimensionError, MissingVariableError
from ..validate import TIME_NAMES, is_dask_backed
from .conventions import bands_for, canonical_band_name
from .crs import find_crs
from .normalise import _decode, _rename_spatial_dims

__all__ = ["FLAT_ASPECT", "STATIC_RANGE", "open_terrain"]

#: The aspect of flat ground, where no direction exists (richdem, WhiteboxTools and SAGA write -1; gdaldem
#: ``-zero_for_flat`` writes 0 where the slope is 0): its features ``aspect_sin``/``aspect_cos`` are 0.
FLAT_ASPECT = -1.0

#: Physical ranges; beyond them a value is a nodata value not declared or another unit
#: (elevation: the Dead Sea -430 m, Everest 8849 m).
STATIC_RANGE = {"elevation": (-500.0, 9000.0), "slope": (0.0, 90.0), "aspect": (FLAT_ASPECT, 360.0)}

# Names a single layer takes when nothing names it: rioxarray's DataArray (None), xarray's GeoTIFF variable.
_ANONYMOUS = (None, "band_data", "band", "__xarray_dataarray_variable__")

_DEGREES = ("degree", "degrees", "deg", "°", "degrees_north", "arc_degree")
_RADIANS = ("rad", "radian", "radians")
_RATIO = ("1", "m/m", "m m-1", "m.m-1", "ratio", "fraction")
_PERCENT = ("%", "percent", "pct", "percent_rise")
_LENGTH = {"m": 1.0, "metre": 1.0, "metres": 1.0, "meter": 1.0, "meters": 1.0, "km": 1000.0,
           "ft": 0.3048, "foot": 0.3048, "feet": 0.3048, "international_foot": 0.3048, "us_survey_foot": 1200 / 3937}

# gdaldem slope of a lon/lat DEM without -s (degrees of latitude taken as metres): ~90 degrees everywhere.
_STEEP_MEDIAN = 60.0


def _units(da: xr.DataArray) -> str | None:
    u = da.attrs.get("units", da.attrs.get("unit"))
    return None if u is None or str(u).strip() == "" else str(u).strip()


def _to_canonical_units(da: xr.DataArray, name: str, what: str) -> xr.DataArray:
    """``da`` in metres (elevation) or degrees (slope, aspect) from its ``units`` attribute; none: already so."""
    units = _units(da)
    key = None if units is None else units.lower().replace(" ", "_")
    if key is None:
        return da
    if name == "elevation" and key not in _LENGTH and key.split("_")[0] in _LENGTH:  # "m a.s.l.", "m above sea level"
        key = key.split("_")[0]
    if name == "elevation" and key in _LENGTH:
        factor = _LENGTH[key]
        out = da if factor == 1.0 else da * factor
    elif name in ("slope", "aspect") and key in _DEGREES:
        return da
    elif name in ("slope", "aspect") and key in _RADIANS:
        out = np.rad2deg(da) if name == "slope" else xr.where(da < 0, FLAT_ASPECT, np.rad2deg(da))
    elif name == "slope" and key in _PERCENT:
        out = np.rad2deg(np.arctan(da / 100.0))
    elif name == "slope" and key in _RATIO:
        out = np.rad2deg(np.arctan(da))
    else:
        expected = {"elevation": "m, km or ft", "slope": "degrees, percent, radians or a ratio ('1', 'm/m')",
                    "aspect": "degrees or radians"}[name]
        raise ConfigError(f"{what}: {name!r}: expected units {expected}, found units={units!r}; convert the layer or set its "
                          "units attribute")
    logger.info("%s: %r converted from %s to %s", what, name, units, "m" if name == "elevation" else "degrees")
    return out


def _as_dataset(source: Any, what: str) -> xr.Dataset:
    """A Dataset of canonically named layers from a Dataset or a DataArray."""
    if isinstance(source, xr.DataArray):
        name = source.name
        if name in _ANONYMOUS:
            logger.info("%s: a layer without a name (%r) read as elevation", what, name)
            name = "elevation"
        source = source.to_dataset(name=str(name))
    if not isinstance(source, xr.Dataset):
        raise ConfigError(f"{what}: expected an xarray Dataset of elevation/slope/aspect (or one DataArray), found "
                          f"{type(source).__name__}")
    names = [str(v) for v in source.data_vars if v not in ("crs", "spatial_ref")]
    if len(names) == 1 and names[0] in _ANONYMOUS[1:]:
        logger.info("%s: its one variable %r read as elevation", what, names[0])
        source = source.rename({names[0]: "elevation"})
    rename = {v: canonical_band_name(v) for v in names if canonical_band_name(v) in bands_for("static") and canonical_band_name(v) != v}
    if len(set(rename.values())) < len(rename) or set(rename.values()) & (set(names) - set(rename)):
        raise DimensionError(f"{what}: expected one variable per layer, found several that name the same layer: {sorted(names)}")
    source = source.rename(rename) if rename else source
    found = [n for n in bands_for("static") if n in source.data_vars]
    if not found:
        raise MissingVariableError(f"{what}: expected variables elevation, slope or aspect (or DEM, DTM, height), found "
                                   f"{names}; rename the layer, e.g. terrain.rename({{{names[0]!r}: 'elevation'}})" if names
                                   else f"{what}: expected variables elevation, slope or aspect, found none")
    ignored = sorted(set(names) - set(rename) - set(found))
    if ignored:
        logger.warning("%s: variables %s are not terrain layers (elevation, slope, aspect) and are not read", what, ignored)
    return source


def _layer_dims(da: xr.DataArray, name: str, what: str) -> xr.DataArray:
    """``da`` on ``(y, x)``: a length-one ``band`` squeezed, a layer repeated along time reduced to its mean."""
    for d in [d for d in da.dims if d not in ("y", "x")]:
        if da.sizes[d] == 1:
            da = da.isel({d: 0}, drop=True)
        elif d in TIME_NAMES:
            da = da.mean(d, skipna=True)  # a layer stored on every date (openEO, WorldCereal): the same values
        else:
            raise DimensionError(f"{what}: expected {name!r} on (y, x), found the extra dimension {d!r} of length "
                                 f"{da.sizes[d]} ({da.dims}); select one element, e.g. terrain.isel({d}=0)")
    return da.transpose("y", "x")


def _check_range(da: xr.DataArray, name: str, what: str) -> None:
    """Warn about values beyond the layer's physical range, and a slope that is steep nearly everywhere (in-memory only)."""
    if is_dask_backed(da):
        return
    lo, hi = STATIC_RANGE[name]
    v = np.asarray(da.values)
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(v) & ((v < lo) | (v > hi))
    if bad.any():
        warn_user(f"{what}: {name!r}: {int(bad.sum())} of {v.size} pixels lie outside {lo:g} to {hi:g} (found "
                  f"{np.nanmin(v[bad]):g} to {np.nanmax(v[bad]):g}), kept as values; a nodata value the layer does not declare? "
                  "Declare it with layer.rio.write_nodata(value) so that it reads as missing")
    if name == "slope" and np.isfinite(v).any() and np.nanmedian(v) > _STEEP_MEDIAN:
        warn_user(f"{what}: 'slope': median {np.nanmedian(v):.1f} degrees: steep nearly everywhere; a slope computed on a "
                  "lon/lat DEM without a scale (gdaldem slope without -s 111120) is ~90 degrees everywhere")


def open_terrain(source: xr.Dataset | xr.DataArray, *, what: str = "terrain") -> xr.Dataset:
    """Static terrain layers from a DEM input, in the data model's names, units and dimensions.

    Parameters
    ----------
    source : xarray.Dataset or xarray.DataArray
        Layers named ``elevation``, ``slope``, ``aspect`` or an alias
        (``DEM``, ``DTM``, ``height``; one unnamed layer or ``band_data``,
        as rioxarray and xarray open a GeoTIFF, is the elevation), on
        ``(y, x)`` or ``lat``/``lon``, with a length-one ``band`` or a
        time dimension (a layer repeated on every date: its mean) allowed.
        Nodata (``_FillValue``, ``missing_value``, ``nodata``) and CF
        packing (``scale_factor``, ``add_offset``) are applied; ``units``
        are converted: elevation from ``km``/``ft``, slope from percent,
        radians or a ratio, aspect from radians (none: metres and degrees).
    what : str
        The caller, for the messages.

    Returns
    -------
    xarray.Dataset
        float32 ``elevation`` (m), ``slope`` (degrees), ``aspect`` (degrees
        clockwise from north; :data:`FLAT_ASPECT` on flat ground: a negative
        aspect, or 0 where the slope is 0) on ``(y, x)``, whichever are
        present, with the CRS written when one is found; lazy on Dask
        input. Values beyond :data:`STATIC_RANGE` are warned (in-memory
        layers).

    Raises
    ------
    ConfigError
        Not a Dataset or DataArray, or units it cannot convert.
    MissingVariableError
        No terrain layer among the variables (their names are listed).
    DimensionError
        An extra dimension longer than one that is not time, no ``y``/``x``.
    """
    ds = _as_dataset(source, what)
    crs = find_crs(ds)
    ds = _rename_spatial_dims(ds, what)
    layers = {}
    for name in [n for n in bands_for("static") if n in ds.data_vars]:
        da = _decode(ds[name])
        units = _units(ds[name])
        da = _layer_dims(da.astype(np.float32) if da.dtype != np.float32 else da, name, what)
        da = _to_canonical_units(da.assign_attrs(units=units) if units else da, name, what).astype(np.float32)
        da.attrs = {k: v for k, v in ds[name].attrs.items() if k not in ("_FillValue", "missing_value", "nodata", "scale_factor",
                                                                         "add_offset", "_Unsigned", "units", "unit")}
        da.attrs["units"] = "m" if name == "elevation" else "degree"
        da.encoding = {}
        layers[name] = da
    if "aspect" in layers:  # flat ground: the conventions' negative aspect, or gdaldem -zero_for_flat's 0 where the slope is 0
        flat = layers["aspect"] < 0
        if "slope" in layers:
            flat = flat | ((layers["slope"] == 0) & (layers["aspect"] == 0))
        layers["aspect"] = layers["aspect"].where(~flat, np.float32(FLAT_ASPECT))
    for name, da in layers.items():
        _check_range(da, name, what)
    out = xr.Dataset(layers)
    return out.rio.write_crs(crs) if crs is not None else out
