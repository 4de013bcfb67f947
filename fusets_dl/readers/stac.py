"""STAC items into fusion-ready S1/S2 Datasets with odc-stac (the optional ``stac`` extra).

:func:`load_stac` loads Sentinel-1 or Sentinel-2 items from any STAC API
(Planetary Computer, Earth Search, CDSE) or from local item files, and hands
the result to :func:`~fusets_dl.open_s1` / :func:`~fusets_dl.open_s2`, so
every convention of the readers applies: asset names through the registry,
``nodata`` attributes, the processing-baseline harmonisation per date (from
the items' ``s2:processing_baseline``), sigma0/gamma0.

Needs ``odc-stac`` and ``pystac``: ``pip install "fusets_dl[stac]"``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import xarray as xr

from .._logging import logger
from ..errors import ConfigError, MissingVariableError
from .conventions import bands_for, canonical_band_name

__all__ = ["ITEM_PROPERTIES", "load_stac"]

#: Item properties carried as coordinates along time when the items have them, with their dtypes.
ITEM_PROPERTIES: dict[str, str] = {
    "s2:processing_baseline": "str",
    "processing:version": "str",  # CDSE's spelling of the processing baseline ("05.00")
    "earthsearch:boa_offset_applied": "str",
    "sat:relative_orbit": "int32",
    "sat:orbit_state": "str",
}

_ROLES = {"s1": ("vv", "vh"), "s2": ("red", "nir", "scl", "cloud_mask", "ndvi")}


def _need_odc() -> tuple[Any, Any]:
    try:
        import odc.stac
        import pystac
    except ImportError as exc:
        raise ImportError(
            f"load_stac needs odc-stac and pystac ({exc}); install them with: pip install 'fusets_dl[stac]'"
        ) from exc
    return odc.stac, pystac


def _as_items(items: Any, pystac: Any) -> list[Any]:
    """pystac Items from Items, an ItemCollection, item dicts or item JSON files."""
    if isinstance(items, (str, os.PathLike, Mapping)) or hasattr(items, "assets"):
        items = [items]
    out = []
    for it in items:
        if isinstance(it, (str, os.PathLike)):
            out.append(pystac.Item.from_file(str(Path(it))))
        elif isinstance(it, Mapping):
            out.append(pystac.Item.from_dict(dict(it)))
        else:
            out.append(it)
    if not out:
        raise ConfigError("load_stac: expected at least one STAC item, found none")
    return out


def _sensor_of(items: list[Any]) -> str:
    """``"s1"`` or ``"s2"`` from the items' platform, constellation or collection."""
    found = set()
    for it in items:
        text = " ".join(str(it.properties.get(k, "")) for k in ("platform", "constellation")) + " " + str(it.collection_id or "")
        text = text.lower().replace("_", "-")
        if "sentinel-1" in text:
            found.add("s1")
        elif "sentinel-2" in text:
            found.add("s2")
    if len(found) != 1:
        raise ConfigError(
            "load_stac: sensor='auto' expected items of one sensor (platform, constellation or collection naming "
            f"sentinel-1 or sentinel-2), found {sorted(found) or 'none'}; pass sensor='s1' or 's2'"
        )
    return found.pop()


def _default_bands(items: list[Any], sensor: str) -> list[str]:
    """Asset keys of the items whose band plays a role the reader needs."""
    keys = list(dict.fromkeys(k for it in items for k in it.assets))
    wanted = {b for role in _ROLES[sensor] for b in bands_for(role)}
    chosen = [k for k in keys if canonical_band_name(k) in wanted]
    need = {bands_for("vv")[0], bands_for("vh")[0]} if sensor == "s1" else {bands_for("red")[0], bands_for("nir")[0]}
    if not need <= {canonical_band_name(k) for k in chosen} and not (sensor == "s2" and "NDVI" in {canonical_band_name(k) for k in chosen}):
        raise MissingVariableError(
            f"load_stac: expected assets for {sorted(need)} (any registered name: B04/red, B08/nir, vv, VV ...), "
            f"found asset keys {keys}; pass bands=[...] naming them, or register the names in readers.conventions"
        )
    return chosen


def _raster_scaling(items: list[Any], band: str) -> dict[str, float]:
    """CF ``scale_factor``/``add_offset`` from ``raster:bands`` when every item declares the same ones."""
    seen = set()
    for it in items:
        asset = it.assets.get(band)
        rb = (asset.extra_fields.get("raster:bands") or [{}])[0] if asset is not None else {}
        seen.add((rb.get("scale"), rb.get("offset")))
    if len(seen) != 1:
        if len(seen) > 1:
            logger.info("load_stac: %s: items declare different scale/offset %s; left to the readers per date", band, sorted(map(str, seen)))
        return {}
    scale, offset = seen.pop()
    if scale is None and offset is None:
        return {}
    out = {"scale_factor": float(scale if scale is not None else 1.0)}
    if offset:
        out["add_offset"] = float(offset)
    return out


def load_stac(
    items: Any,
    *,
    sensor: Literal["auto", "s1", "s2"] = "auto",
    bands: Sequence[str] | None = None,
    crs: Any = None,
    resolution: float | None = None,
    bbox: Sequence[float] | None = None,
    chunks: Mapping[str, int] | None = None,
    groupby: str = "solar_day",
    load_kwargs: Mapping[str, Any] | None = None,
    **open_kwargs: Any,
) -> xr.Dataset:
    """Load Sentinel-1 or Sentinel-2 STAC items into a fusion-ready Dataset.

    Parameters
    ----------
    items : pystac items, item dicts, item JSON paths, or an ItemCollection
        Items of one sensor, for example from ``pystac_client`` searches of
        Planetary Computer (``sentinel-2-l2a``, ``sentinel-1-rtc``; sign them
        with ``planetary_computer.sign`` first), Earth Search
        (``sentinel-2-l2a``, ``sentinel-2-c1-l2a``) or CDSE, or local items.
    sensor : {"auto", "s1", "s2"}
        Which reader to use; "auto" reads the items' platform, constellation
        or collection.
    bands : sequence of str, optional
        Asset keys to load. Default: those whose names the registry maps to
        the bands the reader needs (S1: VV, VH; S2: red, NIR, SCL or a cloud
        mask, NDVI).
    crs, resolution, bbox : optional
        Output grid for ``odc.stac.load`` (default: the items' own CRS and
        resolution; ``bbox`` in lon/lat).
    chunks : mapping, optional
        Dask chunks for ``odc.stac.load`` (e.g. ``{"x": 1024, "y": 1024}``);
        None loads into memory.
    groupby : str
        How ``odc.stac.load`` merges items into dates (``"solar_day"``: the
        tiles of one pass become one date).
    load_kwargs : mapping, optional
        More keyword arguments for ``odc.stac.load`` (``geobox``, ``like``,
        ``resampling`` ...).
    **open_kwargs
        Passed to :func:`~fusets_dl.open_s1` (``units``, ``backscatter``
        ...) or :func:`~fusets_dl.open_s2` (``harmonize``,
        ``clear_classes`` ...).

    Returns
    -------
    xarray.Dataset
        The output of :func:`~fusets_dl.open_s1` (``VV``/``VH`` in dB) or
        :func:`~fusets_dl.open_s2` (``NDVI``, ``clear``), ready for
        :func:`~fusets_dl.align`. Item properties of :data:`ITEM_PROPERTIES`
        ride along as coordinates, so Sentinel-2 is harmonised per date from
        ``s2:processing_baseline``; ``raster:bands`` scale/offset shared by
        all items become CF attributes (Earth Search collection 1 reflectance
        with its -0.1 offset); Planetary Computer ``sentinel-1-rtc`` is
        recorded as gamma0.

    Raises
    ------
    ImportError
        When odc-stac or pystac is not installed.
    ConfigError
        No items, items of several sensors, or an unknown ``sensor``.
    MissingVariableError
        Items without assets for the bands the reader needs.
    """
    odc_stac, pystac = _need_odc()
    from .optical import open_s2
    from .radar import open_s1

    its = _as_items(items, pystac)
    if sensor not in ("auto", "s1", "s2"):
        raise ConfigError(f"load_stac: sensor: expected 'auto', 's1' or 's2', found {sensor!r}")
    sensor_ = _sensor_of(its) if sensor == "auto" else sensor
    chosen = list(bands) if bands is not None else _default_bands(its, sensor_)
    props = [{"key": p, "name": p, "dtype": t} for p, t in ITEM_PROPERTIES.items() if any(p in it.properties for it in its)]
    kw: dict[str, Any] = {"groupby": groupby, **dict(load_kwargs or {})}
    if crs is not None:
        kw["crs"] = crs
    if resolution is not None:
        kw["resolution"] = resolution
    if bbox is not None:
        kw["bbox"] = tuple(bbox)
    if props:
        kw["with_properties"] = props
    try:
        ds = odc_stac.load(its, bands=chosen, chunks=dict(chunks) if chunks is not None else None, **kw)
    except ValueError as exc:
        if "auto-guess" not in str(exc):
            raise
        raise ConfigError(f"load_stac: the items carry no projection metadata (proj:epsg / proj:shape / proj:transform) from "
                          f"which to choose the grid ({exc}); expected crs= and resolution= (e.g. crs='EPSG:32631', resolution=10)"
                          ) from exc
    # odc-stac loads item properties as variables along time: make them the coordinates the readers look for
    ds = ds.set_coords([p["name"] for p in props if p["name"] in ds.data_vars])
    if sensor_ == "s2" and "processing:version" in ds.coords and "s2:processing_baseline" not in ds.coords:
        # CDSE items: their reprocessed (Collection 1) pre-2022 dates carry the offset too, which only the baseline tells;
        # taken only when every value reads as a baseline (02.00 .. 99.99), not another catalogue's software version
        import numpy as np

        from .optical import _baseline_numbers

        base = _baseline_numbers(np.asarray(ds["processing:version"].values))
        if base.size and np.all((base >= 2.0) & (base < 100.0)):
            ds = ds.assign_coords({"s2:processing_baseline": ds["processing:version"]})
    for b in chosen:
        if b in ds.data_vars:
            scaling = _raster_scaling(its, b)
            if sensor_ == "s2" and scaling == {"scale_factor": 1e-4} and ds[b].dtype.kind in "iu":
                # a scale without an offset is the DN convention, not evidence that the processing-baseline offset was
                # removed (Earth Search's first sentinel-2-l2a collection declared it on offset-carrying 2022+ items):
                # left as DN, so that s2:processing_baseline or the acquisition date decides the offset per date
                logger.info("load_stac: %s: raster:bands scale 0.0001 without an offset: read as L2A digital numbers", b)
                continue
            ds[b].attrs.update(scaling)
    collections = sorted({str(it.collection_id) for it in its if it.collection_id})
    if collections:
        ds.attrs["collection"] = ",".join(collections)
    logger.info(
        "load_stac: %d items (%s) -> %d dates of %s, bands %s", len(its), ds.attrs.get("collection", "no collection"),
        ds.sizes.get("time", 0), sensor_, chosen,
    )
    if sensor_ == "s1":
        return open_s1(ds, chunks=chunks, **open_kwargs)
    return open_s2(ds, chunks=chunks, **open_kwargs)

