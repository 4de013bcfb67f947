"""CF attributes of coordinates, the grid mapping and datetime encodings of every output.

Filled in, never replaced: a coordinate that already says what it is (a
reader's ``units``, a user's ``long_name``) keeps it. ``x`` and ``y`` are
described from the CRS (projected metres or geographic degrees) so that
CF tools and ``cf_xarray`` find the X, Y and T axes; the CRS variable
(``spatial_ref``) is linked from every ``(y, x)`` variable by a
``grid_mapping`` *attribute*, which keeps it a coordinate when a store is
opened again with plain ``xr.open_zarr`` / ``xr.open_dataset``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import numpy as np
import xarray as xr

__all__ = ["CONVENTIONS", "CUBE_TITLE", "DATETIME_ENCODING", "cf_coords", "coords_crs", "cube_site", "pixel_coords", "xy_attrs"]

#: The ``Conventions`` global attribute of every Dataset fusets_dl writes: the
#: outputs use nothing newer than CF-1.8, the newest version cfchecker checks.
CONVENTIONS = "CF-1.8"
#: How datetime data variables (phenology dates) are stored: CF time units,
#: float so that NaT is a NaN fill, never ``nanoseconds since <first value>``; in seconds, which float64 holds exactly
#: (in days, 1 s is no binary fraction: a date at 11:02:56 read back as 11:02:55.999999744).
DATETIME_ENCODING: Mapping[str, Any] = {"units": "seconds since 1970-01-01", "dtype": "float64"}
#: Name of the CRS (grid mapping) variable, as rioxarray writes it.
GRID_MAPPING = "spatial_ref"
#: The ``title`` of every aligned fusion cube (``fdl.align``): it names no site.
CUBE_TITLE = "fusets_dl fusion cube"

_XR = TypeVar("_XR", xr.Dataset, xr.DataArray)


def cube_site(attrs: Mapping[str, Any]) -> str | None:
    """The site a cube names: its ``site`` attribute, else a ``title`` other than :data:`CUBE_TITLE`.

    Parameters
    ----------
    attrs : mapping
        A cube's global attributes.

    Returns
    -------
    str or None
        The name, or None where the cube names no site (no ``site`` and no
        title, or the aligned cube's generic title).

    Examples
    --------
    >>> cube_site({"site": "slovakia-LR", "title": CUBE_TITLE}), cube_site({"title": CUBE_TITLE})
    ('slovakia-LR', None)
    """
    value = attrs.get("site") or attrs.get("title")
    return None if not value or value == CUBE_TITLE else str(value)


def pixel_coords(out: _XR, like: xr.Dataset | xr.DataArray) -> _XR:
    """``out`` with ``like``'s pixel coordinates that it lacks: a point cube's ``point``, ``lon``, ``lat``.

    Coordinates on the pixel dimensions only (no ``time``; ``spatial_ref``
    is the CRS's, written by ``rio.write_crs``), where ``out`` has those
    dimensions with the same sizes.

    Parameters
    ----------
    out : xarray.Dataset or xarray.DataArray
        A stage's output on the pixel grid of ``like``.
    like : xarray.Dataset or xarray.DataArray
        The input it was computed from.

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        ``out`` with the coordinates added (nothing computed).
    """
    keep = {
        name: c for name, c in like.coords.items()
        if name not in out.coords and name != "spatial_ref" and c.dims and "time" not in c.dims
        and all(d in out.dims and out.sizes[d] == like.sizes[d] for d in c.dims)
    }
    return out.assign_coords(keep) if keep else out


def coords_crs(obj: xr.Dataset | xr.DataArray) -> Any:
    """The CRS of ``obj`` as rioxarray reads it (``spatial_ref`` or a ``crs`` attribute), or None.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        An output.

    Returns
    -------
    rasterio.crs.CRS or None
        None when ``obj`` carries no CRS or an unreadable one.
    """
    if GRID_MAPPING not in obj.coords and "crs" not in obj.attrs:
        return None
    try:
        import rioxarray  # noqa: F401  (registers .rio)

        return obj.rio.crs
    except Exception:  # an unreadable CRS is described as unknown here, not an error
        return None


def xy_attrs(crs: Any) -> dict[str, dict[str, str]]:
    """CF attributes of ``x`` and ``y`` for a CRS.

    Parameters
    ----------
    crs : rasterio or pyproj CRS, or None
        The grid's CRS; None gives axis attributes only.

    Returns
    -------
    dict
        ``{"x": {...}, "y": {...}}``: ``standard_name``, ``long_name``,
        ``units`` and ``axis``; projection coordinates in the CRS's linear
        unit (``m``) for a projected CRS, longitude/latitude in degrees for a
        geographic one.
    """
    x: dict[str, str] = {"axis": "X", "long_name": "x coordinate"}
    y: dict[str, str] = {"axis": "Y", "long_name": "y coordinate"}
    if crs is None:
        return {"x": x, "y": y}
    if getattr(crs, "is_geographic", False):
        x.update(standard_name="longitude", long_name="longitude", units="degrees_east")
        y.update(standard_name="latitude", long_name="latitude", units="degrees_north")
        return {"x": x, "y": y}
    unit = "m"
    try:
        from pyproj import CRS

        axis_info = CRS.from_user_input(crs).axis_info
        factor = axis_info[0].unit_conversion_factor if axis_info else 1.0
        if axis_info and abs(factor - 1.0) > 1e-12:
            unit = axis_info[0].unit_name
    except Exception:  # no pyproj view of the CRS: keep metres
        unit = "m"
    x.update(standard_name="projection_x_coordinate", long_name="x coordinate of projection", units=unit)
    y.update(standard_name="projection_y_coordinate", long_name="y coordinate of projection", units=unit)
    return {"x": x, "y": y}


def _fill(var: xr.Variable | xr.DataArray, attrs: Mapping[str, Any]) -> None:
    var.attrs = {**attrs, **var.attrs}


def cf_coords(obj: _XR, table: Mapping[str, Mapping[str, Any]], *, crs_as_coordinate: bool = True) -> _XR:
    """Fill in CF attributes of the coordinates, link the grid mapping, encode datetimes.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        An output; changed in place (attributes and encodings only, no data
        touched, nothing computed) and returned.
    table : mapping
        Attributes by coordinate name (the ``coords`` group of
        ``variables.yml``), for the coordinates other than ``x`` and ``y``.
    crs_as_coordinate : bool
        True (Zarr): ``grid_mapping`` is set as an attribute, so xarray also
        lists ``spatial_ref`` in the ``coordinates`` attribute and plain
        ``xr.open_zarr`` decodes it as a coordinate. False (netCDF, as CF
        wants it): ``grid_mapping`` is set as an encoding, so ``spatial_ref``
        is referenced by ``grid_mapping`` only (open with
        ``decode_coords="all"`` or rioxarray to get it back as a coordinate).

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        ``obj``, with: ``x``/``y`` described from the CRS; the table's
        coordinates described; ``grid_mapping`` set as an attribute on every
        ``(y, x)`` variable when there is a ``spatial_ref`` coordinate (and
        removed from the others); datetime data variables without an
        encoding of their own encoded with :data:`DATETIME_ENCODING`; ``Conventions`` on a Dataset that has none.
    """
    if "x" in obj.coords or "y" in obj.coords:
        for name, attrs in xy_attrs(coords_crs(obj)).items():
            if name in obj.coords:
                _fill(obj.coords[name].variable, attrs)
    for name, attrs in table.items():
        if name in obj.coords and name not in ("x", "y"):
            _fill(obj.coords[name].variable, attrs)
    variables = [obj.variable] if isinstance(obj, xr.DataArray) else [v.variable for v in obj.data_vars.values()]
    gridded = GRID_MAPPING in obj.coords
    for var in variables:
        if gridded and {"y", "x"} <= set(var.dims):
            # as an encoding, xarray leaves spatial_ref out of the "coordinates" attribute
            keep, drop = (var.attrs, var.encoding) if crs_as_coordinate else (var.encoding, var.attrs)
            keep["grid_mapping"] = GRID_MAPPING
            drop.pop("grid_mapping", None)
        else:
            var.attrs.pop("grid_mapping", None)
            var.encoding.pop("grid_mapping", None)
        if np.issubdtype(var.dtype, np.datetime64) and "units" not in var.encoding:  # time bounds keep their time's
            var.encoding.update(DATETIME_ENCODING)
            var.attrs.pop("units", None)
    if isinstance(obj, xr.Dataset):
        for coord in obj.coords.values():  # CF 7.1: boundary variables have no _FillValue
            bounds = coord.attrs.get("bounds")
            if isinstance(bounds, str) and bounds in obj.data_vars:
                obj[bounds].variable.encoding["_FillValue"] = None
        obj.attrs.setdefault("Conventions", CONVENTIONS)
    return obj
