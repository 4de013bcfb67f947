"""CF metadata of the variables fusets_dl produces, kept as data in one place.

The attributes live in ``variables.yml`` beside this module (read once, on
first use): one group per product (``cube``, ``predict``, ``reconstruct``,
``phenology``, ``phenology_by_class``, ``segment``, ``mogpr``), one entry per
variable. :func:`cf_attrs` gives the attributes of one entry and
:func:`apply_cf` sets them on the variables of a Dataset or DataArray, and
fills in the coordinates' attributes (``coords`` group; ``x``/``y`` from the
CRS), the grid mapping and the datetime encodings (:mod:`.coords`).
:func:`prepare_output` is what the writers call before ``to_zarr`` /
``to_netcdf``; call it yourself before writing a product with xarray.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any, TypeVar

import numpy as np
import xarray as xr

from ..errors import ConfigError
from .coords import (
    CONVENTIONS,
    CUBE_TITLE,
    DATETIME_ENCODING,
    cf_coords,
    coords_crs,
    cube_site,
    pixel_coords,
    xy_attrs,
)

__all__ = [
    "CONVENTIONS",
    "CUBE_TITLE",
    "DATETIME_ENCODING",
    "VARIABLE_ATTRS",
    "apply_cf",
    "cf_attrs",
    "cf_names",
    "cube_site",
    "pixel_coords",
    "prepare_output",
    "xy_attrs",
]

#: Group of the entries named by the variable alone (``"NDVI"``, ``"VV"``).
DEFAULT_GROUP = "cube"
#: Group of the coordinates' attributes (filled in on every product).
COORDS_GROUP = "coords"
#: Keys of an entry that describe it and are never written as attributes.
_META_KEYS = frozenset({"dtype"})

_XR = TypeVar("_XR", xr.Dataset, xr.DataArray)


def _entry_name(group: str, var: str) -> str:
    return var if group == DEFAULT_GROUP else f"{group}.{var}"


@functools.cache
def _load() -> dict[str, dict[str, dict[str, Any]]]:
    """The table as ``{group: {variable: entry}}``, read and checked once."""
    import yaml

    text = resources.files(__name__).joinpath("variables.yml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    if not isinstance(raw, dict) or not all(isinstance(g, dict) for g in raw.values()):
        raise ConfigError("fusets_dl/cf/variables.yml: expected a mapping of groups to mappings of variables")
    for group, entries in raw.items():
        for var, entry in entries.items():
            if not isinstance(entry, dict) or "long_name" not in entry:
                raise ConfigError(f"fusets_dl/cf/variables.yml: {group}.{var}: expected a mapping with a long_name, found {entry!r}")
            if "dtype" in entry:
                np.dtype(entry["dtype"])  # a typo fails here, not when the entry is first used
    return raw


@functools.cache
def _entries() -> dict[str, dict[str, Any]]:
    """Every entry by its name (``"NDVI"``, ``"reconstruct.NDVI"``)."""
    return {_entry_name(g, v): e for g, entries in _load().items() for v, e in entries.items()}


def cf_names(group: str | None = None) -> list[str]:
    """Names of the table's entries, of one group or of all.

    Parameters
    ----------
    group : str, optional
        A group of ``variables.yml`` (``"reconstruct"``, ``"phenology"``...);
        default: every entry.

    Returns
    -------
    list of str
        Entry names as :func:`cf_attrs` takes them (``"NDVI"`` for the
        ``cube`` group, ``"<group>.<variable>"`` for the others).

    Raises
    ------
    ConfigError
        ``group`` is not in the table.
    """
    if group is None:
        return list(_entries())
    return [_entry_name(group, v) for v in _group(group)]


def _group(group: str) -> dict[str, dict[str, Any]]:
    table = _load()
    if group not in table:
        raise ConfigError(f"CF table: group {group!r} unknown; expected one of {sorted(table)}")
    return table[group]


def _attrs_of(entry: Mapping[str, Any], fields: Mapping[str, Any] | None) -> dict[str, Any]:
    attrs = {k: copy.deepcopy(v) for k, v in entry.items() if k not in _META_KEYS}
    if "flag_values" in attrs and "dtype" in entry:
        attrs["flag_values"] = np.asarray(attrs["flag_values"], dtype=entry["dtype"])
    if "dtype" in entry and np.issubdtype(np.dtype(entry["dtype"]), np.integer):
        for key in ("valid_min", "valid_max"):  # CF: of the variable's type (a bare 0 would be int64 in netCDF)
            if key in attrs:
                attrs[key] = np.asarray(attrs[key], dtype=entry["dtype"])[()]
    if fields:
        attrs = {k: v.format(**fields) if isinstance(v, str) else v for k, v in attrs.items()}
    return attrs


def cf_attrs(name: str, /, *, fields: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """Return the CF attributes of variable ``name`` (a copy), updated with ``extra``.

    Parameters
    ----------
    name : str
        Entry of the table: a cube variable (``"NDVI"``, ``"VV"``) or
        ``"<group>.<variable>"`` (``"reconstruct.source"``). An unknown name
        gives only ``extra``.
    fields : mapping, optional
        Values of the ``{field}`` templates of the entry's strings
        (``cf_attrs("mogpr.std", fields={"name": "NDVI", "units": "1"})``).
    **extra
        Attributes added to (or replacing) the table's, e.g. values known
        only at run time (``model_sha256``, ``cell_methods``).

    Returns
    -------
    dict
        A new dict, free to change; ``flag_values`` are a NumPy array of the
        variable's dtype where the entry gives one.
    """
    attrs = _attrs_of(_entries().get(name, {}), fields)
    attrs.update(extra)
    return attrs


def apply_cf(
    obj: _XR,
    group: str = DEFAULT_GROUP,
    /,
    *,
    fill: bool = False,
    **extra_per_var: Mapping[str, Any],
) -> _XR:
    """Set the table's attributes of ``group`` on the variables of ``obj`` that it knows.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        The output; a DataArray is matched by its ``name``. Variables the
        group does not list are left as they are.
    group : str
        Group of ``variables.yml`` (``"cube"`` by default, ``"reconstruct"``,
        ``"phenology"``...).
    fill : bool
        Only add the attributes a variable does not have yet (its own win);
        default: replace its attributes by the table's.
    **extra_per_var : mapping
        Extra attributes per variable name, e.g.
        ``NDVI_pred={"model_sha256": sha}`` (see :func:`cf_attrs`).

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        A shallow copy of ``obj`` (data not copied, nothing computed) with
        the attributes set, the coordinates described (filled in, see
        :func:`fusets_dl.cf.coords.cf_coords`) and ``Conventions`` on a Dataset.

    Raises
    ------
    ConfigError
        ``group`` is unknown, or ``extra_per_var`` names a variable the group
        does not list.
    """
    entries = _group(group)
    unknown = set(extra_per_var) - set(entries)
    if unknown:
        raise ConfigError(f"apply_cf: {sorted(unknown)} not in group {group!r}; expected some of {list(entries)}")
    out = obj.copy(deep=False)
    variables = {out.name: out} if isinstance(out, xr.DataArray) else out.data_vars
    for name, var in variables.items():
        if name not in entries:
            continue
        attrs = cf_attrs(_entry_name(group, str(name)), **extra_per_var.get(str(name), {}))
        var.attrs = {**attrs, **var.attrs} if fill else attrs
    # products reference the CRS as rioxarray does (a grid_mapping encoding): a plain
    # ``to_netcdf`` of them is CF-clean; ``to_zarr`` makes spatial_ref a listed coordinate
    return cf_coords(out, _load().get(COORDS_GROUP, {}), crs_as_coordinate=False)


def prepare_output(ds: xr.Dataset, group: str = DEFAULT_GROUP, /, *, netcdf: bool = False) -> xr.Dataset:
    """A CF-ready shallow copy of ``ds`` for writing (what ``to_zarr`` and the CLI's netCDF do).

    Parameters
    ----------
    ds : xarray.Dataset
        Any fusets_dl output.
    group : str
        Group of ``variables.yml`` whose attributes are filled in where a
        variable has none (``"cube"`` by default).
    netcdf : bool
        For a netCDF file: the CRS variable is referenced by ``grid_mapping``
        only (CF's way; cfchecker passes), not also listed as an auxiliary
        coordinate as it is in Zarr stores.

    Returns
    -------
    xarray.Dataset
        The table's attributes filled in; the CRS written as a CF grid
        mapping variable ``spatial_ref`` (when ``ds`` has a CRS) and linked by
        a ``grid_mapping`` attribute, so plain ``xr.open_zarr`` decodes it as a
        coordinate; ``x``/``y``/``time`` described so that CF tools find the
        X, Y and T axes; datetime variables encoded as seconds since
        1970-01-01; ``Conventions``. Nothing is computed.

    Examples
    --------
    >>> from fusets_dl.cf import prepare_output
    >>> prepare_output(reconstructed).to_netcdf("rec.nc")  # doctest: +SKIP
    """
    out = apply_cf(ds, group, fill=True)
    crs = coords_crs(out)
    if crs is not None:
        out = out.rio.write_crs(crs)
    return cf_coords(out, _load().get(COORDS_GROUP, {}), crs_as_coordinate=not netcdf)


class _AllAttrs(Mapping[str, dict[str, Any]]):
    """Read-only view of every entry's attributes (each lookup gives a copy)."""

    def __getitem__(self, name: str) -> dict[str, Any]:
        if name not in _entries():
            raise KeyError(name)
        return cf_attrs(name)

    def __iter__(self) -> Iterator[str]:
        return iter(_entries())

    def __len__(self) -> int:
        return len(_entries())


#: Every entry's attributes by entry name, derived from ``variables.yml``.
VARIABLE_ATTRS: Mapping[str, dict[str, Any]] = _AllAttrs()
