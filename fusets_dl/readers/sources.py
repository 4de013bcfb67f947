"""Opening inputs: netCDF, Zarr, GeoTIFF files and folders, lists of them, and in-memory Datasets."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import rioxarray
import xarray as xr

from .._logging import logger
from ..errors import SourceError
from .conventions import names_band_in_file_name, split_dated_name
from .products import BACKSCATTER_ATTR, PRODUCT_ATTR, SCALE_ATTR, product_of
from .stacked import bands_from_band_dim

__all__ = ["PathLike", "Source", "describe", "is_zarr", "open_sources"]

#: A path to an input file or folder.
PathLike = str | os.PathLike
#: What the readers accept: a path, a Dataset, or a list of them.
Source = PathLike | xr.Dataset | Sequence[PathLike | xr.Dataset]

_TIFF = (".tif", ".tiff")
_DATE_RE = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})(?:[T_]?(\d{2})(\d{2})(\d{2}))?")


def is_zarr(path: Path) -> bool:
    """Whether ``path`` is a Zarr store.

    Parameters
    ----------
    path : pathlib.Path
        A file or folder.

    Returns
    -------
    bool
        True for a ``.zarr`` suffix or a folder holding Zarr metadata.
    """
    return path.suffix == ".zarr" or (path.is_dir() and any((path / f).exists() for f in ("zarr.json", ".zgroup", ".zattrs")))


def describe(source: Any) -> str:
    """A short description of ``source`` for messages and the ``source`` attribute.

    Parameters
    ----------
    source : path, Dataset or list of them
        What a reader was given.

    Returns
    -------
    str
        File names, ``<Dataset>``, or a bracketed list of these.
    """
    if isinstance(source, xr.Dataset):
        return "<Dataset>"
    if isinstance(source, xr.DataArray):
        # never iterate an array: that walks every element
        return f"<DataArray {source.name}>" if source.name is not None else "<DataArray>"
    if isinstance(source, (str, os.PathLike)):
        return Path(source).name
    try:
        return "[" + ", ".join(describe(s) for s in source) + "]"
    except TypeError:
        return type(source).__name__


def _date_from_name(name: str) -> pd.Timestamp:
    m = _DATE_RE.search(name)
    if not m:
        raise SourceError(
            f"GeoTIFF {name!r}: expected a date in the file name (YYYYMMDD or YYYY-MM-DD), found none"
        )
    y, mo, d, hh, mm, ss = m.groups()
    return pd.Timestamp(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), int(ss or 0))


def _geotiff_band_names(da: xr.DataArray, path: Path, bands: Sequence[str] | None = None) -> tuple[str, ...]:
    """Band names: ``bands`` when given, else the descriptions, or for a single band a token of the file name."""
    names = da.attrs.get("long_name")
    if isinstance(names, str):
        names = (names,)
    if bands is not None:
        if len(bands) != da.sizes["band"]:
            raise SourceError(f"GeoTIFF {path.name}: bands= names {len(bands)} bands {list(bands)}, the file holds {da.sizes['band']}")
        if names and len(names) == da.sizes["band"] and list(names) != list(bands):
            logger.warning("GeoTIFF %s: bands=%s used instead of the file's band descriptions %s", path.name, list(bands), list(names))
        return tuple(str(b) for b in bands)
    if names and len(names) == da.sizes["band"]:
        return tuple(names)
    # single band named by a token of the file name (e.g. S1_VV_20200101.tif)
    known = [t for t in re.split(r"[_\-.]", path.stem) if names_band_in_file_name(t)]
    if da.sizes["band"] != 1 or len(known) != 1:
        raise SourceError(
            f"GeoTIFF {path.name}: expected band descriptions (one per band) or a single band "
            f"named in the file name; found {da.sizes['band']} bands and descriptions {names!r}. Name the bands in "
            "order with bands=[...] (a Sentinel Hub / CDSE Process API response: the evalscript's output order, e.g. "
            "bands=['VV', 'VH', 'dataMask'])"
        )
    return (known[0],)


def _open_geotiff(path: Path, chunks: Any, bands: Sequence[str] | None = None) -> xr.Dataset:
    """One single-date GeoTIFF as a Dataset of its bands, CRS written."""
    da = rioxarray.open_rasterio(path, chunks=chunks, mask_and_scale=True)
    assert isinstance(da, xr.DataArray)
    names = _geotiff_band_names(da, path, bands)
    ds = xr.Dataset({str(n): da.isel(band=i, drop=True) for i, n in enumerate(names)})
    product = product_of(path.name)
    said = {}  # what the file name says (ASF HyP3 / OPERA RTC, Sigma0 in a SNAP name): read by open_s1
    if product is not None and product.side is None:
        said = {PRODUCT_ATTR: product.describe(), **({BACKSCATTER_ATTR: product.backscatter} if product.backscatter else {}),
                **({SCALE_ATTR: product.scale} if product.scale else {})}
    for v in ds.data_vars:
        kept = {k: v2 for k, v2 in da.attrs.items() if k not in ("long_name", "scale_factor", "add_offset", "_FillValue")}
        ds[v].attrs = {**said, **kept}  # an attribute the file holds wins over its name
    return ds.rio.write_crs(da.rio.crs)


#: Dataset attribute naming the file an opened GeoTIFF came from (for messages: :func:`~.combine.part_names`).
SOURCE_FILE_ATTR = "fdl_source_file"


def _open_geotiffs(paths: Sequence[Path], chunks: Any, bands: Sequence[str] | None = None) -> list[xr.Dataset]:
    """Open GeoTIFFs, one Dataset per file: single-date files on ``time`` (the date in the file name), stacks without it.

    A file whose band names all carry a date (a GEE ``toBands()`` export) is
    a stack: the readers take the dates from the band names, whatever the
    file name says. The files are not combined here: the readers combine
    them (:mod:`~.combine`: CRSs compared, grids matched, dates
    concatenated, files of one date and other bands merged).
    """
    side = {p: prod.side for p in paths if (prod := product_of(p.name)) is not None and prod.side is not None}
    if side:
        kinds = sorted({str(k) for k in side.values()})
        logger.info("GeoTIFF side files of %s products left out (not backscatter): %d file(s), %s; they hold: %s",
                    " / ".join(sorted({str(product_of(p.name).provider) for p in side})), len(side),  # type: ignore[union-attr]
                    ", ".join(p.name for p in sorted(side)[:6]) + (" ..." if len(side) > 6 else ""), "; ".join(kinds))
        paths = [p for p in paths if p not in side]
        if not paths:
            raise SourceError(f"expected backscatter GeoTIFFs (<product>_VV.tif, _VH.tif), found side files only: "
                              f"{', '.join(p.name for p in sorted(side)[:6])}")
    out = []
    for p in sorted(paths):
        ds = _open_geotiff(p, chunks, bands)
        if not all(split_dated_name(str(v)) for v in ds.data_vars):
            ds = ds.expand_dims(time=[_date_from_name(p.name)]).rio.write_crs(ds.rio.crs)
        ds.attrs[SOURCE_FILE_ATTR] = p.name
        out.append(ds)
    return out


#: Suffixes of point tables (:func:`fusets_dl.readers.tables.open_points` reads them).
_TABLES = (".csv", ".parquet", ".geoparquet", ".tsv")


def _open_one(source: PathLike | xr.Dataset, chunks: Any, bands: Sequence[str] | None = None) -> list[xr.Dataset]:
    if isinstance(source, xr.Dataset):
        return [source]
    if isinstance(source, xr.DataArray):
        return [bands_from_band_dim(source, f"DataArray {source.name or ''}".strip())]
    path = Path(source)
    if not path.exists():
        raise SourceError(f"input not found: expected an existing file or folder, found no {str(path)!r}")
    if is_zarr(path):
        return [xr.open_zarr(path, chunks={} if chunks is not None else None, mask_and_scale=False)]
    if path.is_dir():
        tifs = sorted(p for p in path.iterdir() if p.suffix.lower() in _TIFF)
        if not tifs:  # a download folder of product folders (ASF HyP3 scenes): one level down
            subs = sorted(q for q in path.iterdir() if q.is_dir() and not is_zarr(q))
            tifs = sorted(p for q in subs for p in q.iterdir() if p.suffix.lower() in _TIFF)
            if not tifs:
                raise SourceError(
                    f"folder {str(path)!r}: expected GeoTIFF files (*.tif) or a Zarr store, in it or in its sub-folders, found "
                    f"neither" + (f" (sub-folders: {', '.join(q.name for q in subs[:6])}{' ...' if len(subs) > 6 else ''}); give "
                                  "the files, e.g. sorted(glob.glob('folder/*/*_V[VH].tif'))" if subs else ""))
            logger.info("folder %s holds no GeoTIFF of its own: %d GeoTIFF(s) read from its %d sub-folder(s)", path.name, len(tifs),
                        len({p.parent for p in tifs}))
        return _open_geotiffs(tifs, chunks, bands)
    if path.suffix.lower() in _TIFF:
        return _open_geotiffs([path], chunks, bands)
    if path.suffix.lower() in _TABLES:  # a point table: another reader, and the data model's pseudo-grid
        raise SourceError(f"cannot read {str(path)!r} as a raster: expected netCDF, Zarr or GeoTIFF, found a table "
                          f"({path.suffix}); read point tables with fdl.open_points(s1_tables, s2_tables) in Python, then "
                          "fdl.align (the CLI's stage commands read rasters)")
    try:
        # chunks={} keeps the file's own chunks; the readers rechunk with time as one chunk
        return [xr.open_dataset(path, chunks={} if chunks is not None else None, mask_and_scale=False, decode_times=True)]
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read {str(path)!r}: expected netCDF, Zarr or GeoTIFF ({exc})") from exc


def open_sources(source: Source, chunks: Any, bands: Sequence[str] | None = None) -> list[xr.Dataset]:
    """Open every input of ``source`` as a raw (not yet normalised) Dataset.

    Parameters
    ----------
    source : path, Dataset or list of them
        netCDF, Zarr store, GeoTIFF file, folder of single-date GeoTIFFs, a
        list of these, or an in-memory :class:`xarray.Dataset`. A list made
        only of GeoTIFF files is opened as one time series.
    chunks : dict, "auto" or None
        None opens NumPy-backed data; anything else opens Dask-backed data.
    bands : sequence of str, optional
        Names of the bands of every GeoTIFF, in order, for files without
        band descriptions (Sentinel Hub Process API responses); used instead
        of descriptions (a warning where they differ).

    Returns
    -------
    list of xarray.Dataset
        One Dataset per input, and one per GeoTIFF file of a folder or list
        (its name in the ``fdl_source_file`` attribute).

    Raises
    ------
    SourceError
        An empty list, a missing path, or a file that is none of the formats.
    """
    if isinstance(source, (str, os.PathLike, xr.Dataset, xr.DataArray)):
        items: list[Any] = [source]
    else:
        items = list(source)
        if not items:
            raise SourceError("expected at least one input file or Dataset, found an empty list")
    tifs = [Path(i) for i in items if isinstance(i, (str, os.PathLike)) and Path(i).suffix.lower() in _TIFF]
    if tifs and len(tifs) == len(items):
        for t in tifs:
            if not t.exists():
                raise SourceError(f"input not found: expected an existing file, found no {str(t)!r}")
        return _open_geotiffs(tifs, chunks, bands)
    return [ds for i in items for ds in _open_one(i, chunks, bands)]
