"""Finding the CRS of an input: rioxarray, a CF grid mapping, or ``epsg``/``crs`` attributes."""

from __future__ import annotations

import re

import xarray as xr
from pyproj import CRS

__all__ = ["find_crs"]


def _crs_from_grid_mapping(ds: xr.Dataset) -> CRS | None:
    """The CRS of a CF grid-mapping variable (``crs_wkt``, ``spatial_ref`` or ``epsg_code``)."""
    names = {str(ds[v].attrs.get("grid_mapping")) for v in ds.data_vars if "grid_mapping" in ds[v].attrs}
    names |= {str(ds[v].encoding.get("grid_mapping")) for v in ds.data_vars if "grid_mapping" in ds[v].encoding}
    names |= {"spatial_ref", "crs"}
    for n in names:
        if n in ds.variables:
            a = ds[n].attrs
            for key in ("crs_wkt", "spatial_ref"):
                if key in a:
                    return CRS.from_user_input(a[key])
            if "epsg_code" in a:
                return CRS.from_user_input(a["epsg_code"])
    return None


def _crs_from_attrs(ds: xr.Dataset) -> CRS | None:
    """The CRS of an ``epsg``/``EPSG``/``crs`` global attribute."""
    for key in ("epsg", "EPSG", "crs"):
        val = ds.attrs.get(key)
        if val is None:
            continue
        m = re.search(r"(?:epsg:)?(\d{4,5})", str(val), flags=re.IGNORECASE)
        if m:
            return CRS.from_epsg(int(m.group(1)))
        return CRS.from_user_input(val)
    return None


def find_crs(ds: xr.Dataset) -> CRS | None:
    """Find the CRS of ``ds``.

    Looks, in this order, at a CF grid-mapping variable, at what rioxarray
    finds, and at ``epsg``/``EPSG``/``crs`` global attributes.

    Parameters
    ----------
    ds : xarray.Dataset
        A raw input as opened.

    Returns
    -------
    pyproj.CRS or None
        The CRS, or None when none of the places holds one.
    """
    crs = _crs_from_grid_mapping(ds)
    if crs is not None:
        return crs
    try:
        rio_crs = ds.rio.crs
    except Exception:
        rio_crs = None
    if rio_crs is not None:
        return CRS.from_user_input(rio_crs.to_wkt())
    return _crs_from_attrs(ds)
