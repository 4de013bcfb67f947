"""Opening inputs: netCDF, Zarr, GeoTIFF files and folders, lists of them, and in-memory Datasets."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rioxarray
import xarray as xr

from .._logging import logger
from .._warn import warn_user
from ..errors import SourceError
from .conventions import names_band_in_file_name, split_dated_name
from .products import (
    BACKSCATTER_ATTR,
    HARMONIZED_ATTR,
    PRODUCT_ATTR,
    SCALE_ATTR,
    Product,
    product_folder,
    product_of,
)
from .s2_metadata import safe_date_coords, safe_folder_baseline
from .stacked import bands_from_band_dim

__all__ = ["PathLike", "Source", "describe", "is_zarr", "open_sources"]

#: A path to an input file or folder.
PathLike = str | os.PathLike
#: What the readers accept: a path, a Dataset, or a list of them.
Source = PathLike | xr.Dataset | Sequence[PathLike | xr.Dataset]

#: Suffixes of band files read one date per file (GeoTIFF; JPEG 2000 as ESA's SAFE products hold them, read by GDAL).
_TIFF = (".tif", ".tiff", ".jp2")
#: The per-date coordinate of the S2 processing baseline (as STAC loaders name it), read by ``open_s2``.
BASELINE_COORD = "s2:processing_baseline"
#: The per-date coordinate naming the product (THEIA/MAJA, HLS, FORCE) of a date whose values never carry the
#: processing-baseline offset (None for other dates), read by ``open_s2`` date by date, as the baseline is.
OFFSET_FREE_COORD = "fdl:offset_free"
#: Example globs for the folder messages, per reader.
_GLOB_HINT = {"Sentinel-1": "sorted(glob.glob('folder/*/*_V[VH].tif'))",
              "Sentinel-2": "sorted(glob.glob('folder/*/*_B0[48]*.tif'))"}
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


def _geotiff_band_names(da: xr.DataArray, path: Path, bands: Sequence[str] | None = None,
                        product: Product | None = None) -> tuple[str, ...]:
    """Band names: ``bands`` when given, else the descriptions, the band a known product's name says, or a token of the file name."""
    names = da.attrs.get("long_name")
    if isinstance(names, str):
        names = (names,)
    if bands is not None:
        if len(bands) != da.sizes["band"]:
            raise SourceError(f"GeoTIFF {path.name}: bands= names {len(bands)} bands {list(bands)}, the file holds {da.sizes['band']}")
        if names and len(names) == da.sizes["band"] and list(names) != list(bands):
            warn_user(f"GeoTIFF {path.name}: bands={list(bands)} used instead of the file's band descriptions {list(names)}")
        return tuple(str(b) for b in bands)
    if product is not None and product.band is not None and da.sizes["band"] == 1:
        # THEIA CLM_R1, SAFE SCL_20m; HLS B08, whose description NIR_Broad names no band the readers know
        return (product.band,)
    if names and len(names) == da.sizes["band"]:
        return tuple(names)
    # single band named by a token of the file name (e.g. S1_VV_20200101.tif)
    known = [t for t in re.split(r"[_\-.]", path.stem) if names_band_in_file_name(t)]
    if da.sizes["band"] != 1 or len(known) != 1:
        raise SourceError(
            f"GeoTIFF {path.name}: expected band descriptions (one per band) or a single band "
            f"named in the file name; found {da.sizes['band']} bands and descriptions {names!r}. Name the bands in "
            "order with bands=[...] (a Sentinel Hub / CDSE Process API response: the evalscript's output order, e.g. "
            "bands=['VV', 'VH', 'dataMask'] for open_s1, bands=['B04', 'B08', 'SCL', 'dataMask'] for open_s2)"
        )
    return (known[0],)


def _open_geotiff(path: Path, chunks: Any, bands: Sequence[str] | None = None) -> xr.Dataset:
    """One single-date GeoTIFF as a Dataset of its bands, CRS written."""
    da = rioxarray.open_rasterio(path, chunks=chunks, mask_and_scale=True)
    assert isinstance(da, xr.DataArray)
    product = product_of(path)
    names = _geotiff_band_names(da, path, bands, product)
    ds = xr.Dataset({str(n): da.isel(band=i, drop=True) for i, n in enumerate(names)})
    said = {}  # what the file name says (ASF HyP3 / OPERA RTC, Sigma0 in a SNAP name): read by open_s1; THEIA/HLS/FORCE: open_s2
    if product is not None and product.side is None:
        said = {PRODUCT_ATTR: product.describe(), **({BACKSCATTER_ATTR: product.backscatter} if product.backscatter else {}),
                **({SCALE_ATTR: product.scale} if product.scale else {}),
                **({HARMONIZED_ATTR: product.describe()} if product.harmonized else {}),
                **({"units": product.units} if product.units else {})}  # the HyP3 ellipsoid angle map: radians
    for v in ds.data_vars:
        kept = {k: v2 for k, v2 in da.attrs.items() if k not in ("long_name", "scale_factor", "add_offset", "_FillValue")}
        ds[v].attrs = {**said, **kept}  # an attribute the file holds wins over its name
    return ds.rio.write_crs(da.rio.crs)


#: Dataset attribute naming the file an opened GeoTIFF came from (for messages: :func:`~.combine.part_names`).
SOURCE_FILE_ATTR = "fdl_source_file"


def _left_out(explicit: bool, message: str) -> None:
    """Files left out: a warning where the user named them (a list, a file), logged at INFO for the files of a folder."""
    if explicit:
        warn_user(message + " (named in the input: they were left out all the same)")
    else:
        logger.info(message)


def _names(paths: Sequence[Path], n: int = 6) -> str:
    return ", ".join(p.name for p in sorted(paths)[:n]) + (" ..." if len(paths) > n else "")


def _warn_unknown_suffix(paths: Sequence[Path], products: dict[Path, Product | None]) -> None:
    """One warning for the files named after a product with a suffix of the user's: what is kept of the name, what is not."""
    odd = [p for p in paths if (prod := products.get(p)) is not None and prod.unknown is not None]
    if not odd:
        return
    prods = [products[p] for p in odd]
    optical = [q for q in prods if q is not None and q.sensor is not None]
    radar = [q for q in prods if q is not None and q.sensor is None]
    kept = []
    if radar:
        kept.append("their coefficient (" + ", ".join(sorted({str(q.backscatter) for q in radar})) + ") is kept, their scale is "
                    + ("the suffix's or " if any(q.scale for q in radar) else "") + "read from the values, not the product's")
    if optical:
        kept.append("their date and time come from the product name, and their values are taken as the product's (never carrying "
                    "the processing-baseline offset)")
    warn_user(f"{len(odd)} GeoTIFF file(s) named after a {' / '.join(sorted({str(q.provider) for q in prods if q is not None}))} "
              f"product with a suffix that is neither a band nor a side file of it ("
              + ", ".join(sorted({repr(str(q.unknown)) for q in prods if q is not None})[:4]) + f": {_names(odd, 3)}): read as "
              "ordinary files, the band from the band descriptions or a token of the file name; " + "; ".join(kept)
              + ". If your processing changed that, declare it (units=, backscatter=, harmonize=)")


def _open_geotiffs(paths: Sequence[Path], chunks: Any, bands: Sequence[str] | None = None,
                   sensor: str | None = None, explicit: bool = False) -> list[xr.Dataset]:
    """Open GeoTIFFs, one Dataset per file: single-date files on ``time`` (the date in the file name), stacks without it.

    A file whose band names all carry a date (a GEE ``toBands()`` export) is
    a stack: the readers take the dates from the band names, whatever the
    file name says. The files are not combined here: the readers combine
    them (:mod:`~.combine`: CRSs compared, grids matched, dates
    concatenated, files of one date and other bands merged). The known side
    files of a product (:mod:`.products`) are left out: logged for the
    files of a folder, with a warning for files the user named
    (``explicit``).
    """
    products = {p: product_of(p) for p in paths}
    side = {p: prod.side for p, prod in products.items() if prod is not None and prod.side is not None}
    if side:
        kinds = sorted({str(k) for k in side.values()})
        optical = all(products[p].sensor is not None for p in side)  # type: ignore[union-attr]
        kept = [p for p in paths if p not in side]
        if not kept:
            raise SourceError("expected " + ("reflectance band files (B04, B08) or cloud masks" if optical
                                             else "backscatter GeoTIFFs (<product>_VV.tif, _VH.tif)")
                              + f", found side files only: {_names(list(side))}")
        _left_out(explicit, "GeoTIFF side files of {} products left out (not {}): {} file(s), {}; they hold: {}".format(
            " / ".join(sorted({str(products[p].provider) for p in side})),  # type: ignore[union-attr]
            "reflectance bands or cloud masks" if optical else "backscatter", len(side), _names(list(side)), "; ".join(kinds)))
        paths = kept
    _warn_unknown_suffix(paths, products)
    if sensor == "Sentinel-2":
        paths = _sentinel2_only(paths, products, explicit)
    paths = _theia_one_reflectance(paths, products, explicit)
    out = []
    for p in sorted(paths):
        ds = _open_geotiff(p, chunks, bands)
        prod = products.get(p)
        if not all(split_dated_name(str(v)) for v in ds.data_vars):
            when = pd.Timestamp(prod.acquired) if prod is not None and prod.acquired is not None else _date_from_name(p.name)
            ds = ds.expand_dims(time=[when]).rio.write_crs(ds.rio.crs)
            if prod is not None and prod.provider == "ESA SAFE L2A":  # open_s2 decides the offset of this date by these
                # the baseline, offset and quantification of the product's MTD_MSIL2A.xml where it lies with the file, else
                # the baseline (Nxxyy) of the .SAFE name
                said = safe_date_coords(p, prod.band, prod.baseline, prod.acquired.strftime("%Y%m%dT%H%M%S") if prod.acquired else None)
                ds = ds.assign_coords({k: ("time", np.array([v], dtype=object)) for k, v in said.items()})
            if prod is not None and prod.harmonized:  # THEIA/HLS/FORCE: this date never carries the offset, whatever it is mixed with
                ds = ds.assign_coords({OFFSET_FREE_COORD: ("time", np.array([prod.describe()], dtype=object))})
        ds.attrs[SOURCE_FILE_ATTR] = p.name
        out.append(ds)
    return out


def _sentinel2_only(paths: list[Path], products: dict[Path, Product | None], explicit: bool = False) -> list[Path]:
    """``paths`` without the Landsat products of a download (FORCE ``LND08``, HLS ``L30``), logged; refused when only those."""
    landsat = [p for p in paths if (prod := products.get(p)) is not None and prod.sensor == "Landsat"]
    if not landsat:
        return paths
    kept = [p for p in paths if p not in set(landsat)]
    names = ", ".join(p.name for p in sorted(landsat)[:4]) + (" ..." if len(landsat) > 4 else "")
    if not kept:
        raise SourceError(f"expected Sentinel-2 files (open_s2), found Landsat products only: {names}")
    _left_out(explicit, f"{len(landsat)} Landsat file(s) left out (open_s2 reads Sentinel-2; their dates and bands differ): {names}")
    return kept


def _theia_one_reflectance(paths: list[Path], products: dict[Path, Product | None], explicit: bool = False) -> list[Path]:
    """``paths`` without THEIA ``SRE`` files where the ``FRE`` file of the same date and band is there too (logged).

    A THEIA product holds both (flat reflectance, slope-corrected, and
    surface reflectance); a folder or a glob ``*_B4.tif`` catches both, and
    the two on one date were a duplicate date (or, with
    ``duplicates='first'``, two corrections mixed).
    """
    fre = {(prod.acquired, prod.band) for p, prod in products.items()
           if prod is not None and prod.provider.startswith("THEIA") and prod.token.startswith("FRE_")}
    sre = [p for p in paths if (prod := products.get(p)) is not None and prod.provider.startswith("THEIA")
           and prod.token.startswith("SRE_") and (prod.acquired, prod.band) in fre]
    if sre:
        _left_out(explicit, f"THEIA/MAJA L2A: {len(sre)} SRE file(s) left out beside the FRE files of the same dates and bands (FRE, "
                            f"flat reflectance with the slope correction, read): {_names(sre, 4)}")
    return [p for p in paths if p not in set(sre)]


#: THEIA masks of a date folder read with its reflectance (10 m: R1): MAJA's cloud and geophysical bit fields.
_THEIA_MASK_GLOBS = ("MASKS/*_CLM_R1.tif", "MASKS/*_MG2_R1.tif")


def _safe_band_files(safe: Path) -> list[Path]:
    """The band files an ESA L2A ``.SAFE`` folder holds for ``open_s2``: B04 and B08 at 10 m, SCL at 20 m."""
    img = sorted(safe.glob("GRANULE/*/IMG_DATA"))
    files = [f for i in img for pat in ("R10m/*_B04_10m.jp2", "R10m/*_B08_10m.jp2", "R20m/*_SCL_20m.jp2") for f in sorted(i.glob(pat))]
    if not files:
        files = [f for i in img for pat in ("R10m/*_B04_10m.tif", "R10m/*_B08_10m.tif", "R20m/*_SCL_20m.tif") for f in sorted(i.glob(pat))]
    if not files:
        raise SourceError(f"ESA SAFE product {safe.name}: expected GRANULE/*/IMG_DATA/R10m/*_B04_10m.jp2, *_B08_10m.jp2 and "
                          "R20m/*_SCL_20m.jp2 (a Level-2A product), found none" + (
                              f" (IMG_DATA folders: {', '.join(str(i.relative_to(safe)) for i in img[:3])})" if img else
                              " (no GRANULE/*/IMG_DATA: a Level-1C product, or not fully downloaded?)"))
    return files


def _is_safe(path: Path) -> bool:
    return path.is_dir() and path.suffix.upper() == ".SAFE"


def _rasters(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _TIFF)


def _open_folder(path: Path, chunks: Any, bands: Sequence[str] | None, sensor: str) -> list[xr.Dataset]:
    """A folder: its GeoTIFF/JP2 band files, a ``.SAFE`` product (or a folder of them), or one level down into product folders.

    A folder without rasters of its own is searched one level down only when
    its sub-folders are product folders as downloaded
    (:func:`~.products.product_folder`: HyP3 scenes, OPERA products, THEIA
    dates, HLS granules, FORCE tiles); other sub-folders holding rasters
    (``data/s1``, ``data/s2``) are refused, named.
    """
    if _is_safe(path):
        files = _safe_band_files(path)
        logger.info("ESA SAFE product %s (processing baseline %s): %d band file(s) read", path.name, safe_folder_baseline(path), len(files))
        return _open_geotiffs(files, chunks, bands, sensor)
    safes = sorted(q for q in path.iterdir() if _is_safe(q))
    if safes:
        files = [f for q in safes for f in _safe_band_files(q)]
        logger.info("folder %s: %d ESA SAFE product(s), %d band file(s) read (baselines %s)", path.name, len(safes), len(files),
                    ", ".join(sorted({str(safe_folder_baseline(q)) for q in safes})))
        beside = _rasters(path)
        if beside:  # before: left out without a word
            warn_user(f"folder {path.name}: {len(beside)} GeoTIFF/JP2 file(s) beside its .SAFE product(s) left out ({_names(beside, 4)}): "
                      "a folder of .SAFE products is read as such; give the files in a list to read them (or move them)")
        return _open_geotiffs(files, chunks, bands, sensor)
    tifs = _rasters(path)
    if not tifs:  # a download folder of product folders (ASF HyP3 scenes, THEIA dates, HLS granules): one level down
        subs = sorted(q for q in path.iterdir() if q.is_dir() and not is_zarr(q))
        holding = {q: _rasters(q) for q in subs}
        products = [q for q in subs if product_folder(q) is not None and holding[q]]
        others = [q for q in subs if product_folder(q) is None and holding[q]]
        zips = sorted(p for p in path.iterdir() if p.suffix.lower() == ".zip")
        if others:  # before: read whatever they held (data/ with s1/ and s2/: the other sensor's files too)
            raise SourceError(
                f"folder {str(path)!r}: expected GeoTIFF files in it, or product folders as downloaded (ASF HyP3 scenes, OPERA "
                f"products, THEIA dates, HLS granules, .SAFE products, FORCE tiles), found no GeoTIFF of its own and "
                f"{len(others)} other sub-folder(s) holding GeoTIFFs: "
                + ", ".join(f"{q.name}/ ({len(holding[q])} file(s))" for q in others[:6]) + (" ..." if len(others) > 6 else "")
                + f". Give the sub-folder to read (e.g. {str(path / others[0].name)!r}), or the files, e.g. "
                f"{_GLOB_HINT.get(sensor, _GLOB_HINT['Sentinel-1'])}")
        tifs = [p for q in products for p in holding[q]]
        if not tifs:
            unzip = (f"; found {len(zips)} zip archive(s) ({_names(zips, 3)}): unzip them (ASF HyP3 and other downloads come zipped) "
                     "and give the folder" if zips else "")
            raise SourceError(
                f"folder {str(path)!r}: expected GeoTIFF files (*.tif) or a Zarr store, in it or in its sub-folders, found "
                f"neither" + (f" (sub-folders: {', '.join(q.name for q in subs[:6])}{' ...' if len(subs) > 6 else ''}); give "
                              f"the files, e.g. {_GLOB_HINT.get(sensor, _GLOB_HINT['Sentinel-1'])}" if subs else "") + unzip)
        logger.info("folder %s holds no GeoTIFF of its own: %d GeoTIFF(s) read from its %d product folder(s) (%s)", path.name, len(tifs),
                    len(products), ", ".join(sorted({str(product_folder(q)) for q in products})))
        if zips:
            logger.info("folder %s: %d zip archive(s) beside the product folders left out (%s)", path.name, len(zips), _names(zips, 3))
    theia = sorted({p.parent for p in tifs if (prod := product_of(p)) is not None and prod.provider.startswith("THEIA")})
    masks = [m for d in theia for g in _THEIA_MASK_GLOBS for m in sorted(d.glob(g))]
    if masks:
        logger.info("THEIA/MAJA L2A folder(s): %d cloud mask file(s) of MASKS/ read with the reflectance (%s)", len(masks),
                    ", ".join(sorted({m.name.rsplit("_", 2)[-2] + "_R1" for m in masks})))
    return _open_geotiffs(tifs + masks, chunks, bands, sensor)


#: Suffixes of point tables (:func:`fusets_dl.readers.tables.open_points` reads them).
_TABLES = (".csv", ".parquet", ".geoparquet", ".tsv")


def _open_one(source: PathLike | xr.Dataset, chunks: Any, bands: Sequence[str] | None = None,
              sensor: str = "Sentinel-1") -> list[xr.Dataset]:
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
        return _open_folder(path, chunks, bands, sensor)
    if path.suffix.lower() == ".zip":
        inside = " (an ESA SAFE product)" if ".SAFE" in path.name.upper() or path.name.upper().startswith("S2") else ""
        raise SourceError(f"cannot read {str(path)!r}: expected a folder, netCDF, Zarr or GeoTIFF/JP2 band files, found a zip "
                          f"archive{inside}; unzip it and give the folder (a .SAFE folder is read as it is)")
    if path.suffix.lower() in _TIFF:
        return _open_geotiffs([path], chunks, bands, sensor, explicit=True)
    if path.suffix.lower() in _TABLES:  # a point table: another reader, and the data model's pseudo-grid
        raise SourceError(f"cannot read {str(path)!r} as a raster: expected netCDF, Zarr or GeoTIFF, found a table "
                          f"({path.suffix}); read point tables with fdl.open_points(s1_tables, s2_tables) in Python, then "
                          "fdl.align (the CLI's stage commands read rasters)")
    try:
        # chunks={} keeps the file's own chunks; the readers rechunk with time as one chunk
        return [xr.open_dataset(path, chunks={} if chunks is not None else None, mask_and_scale=False, decode_times=True)]
    except (OSError, ValueError) as exc:
        raise SourceError(f"cannot read {str(path)!r}: expected netCDF, Zarr or GeoTIFF ({exc})") from exc


def open_sources(source: Source, chunks: Any, bands: Sequence[str] | None = None, sensor: str = "Sentinel-1") -> list[xr.Dataset]:
    """Open every input of ``source`` as a raw (not yet normalised) Dataset.

    Parameters
    ----------
    source : path, Dataset or list of them
        netCDF, Zarr store, GeoTIFF (or JPEG 2000) file, folder of
        single-date GeoTIFFs, an ESA ``.SAFE`` folder (or a folder of them:
        B04, B08 and SCL of each granule, the processing baseline of its
        name as ``s2:processing_baseline``), a list of these, or an
        in-memory :class:`xarray.Dataset`. A list made only of GeoTIFF/JP2
        files is opened as one time series.
    chunks : dict, "auto" or None
        None opens NumPy-backed data; anything else opens Dask-backed data.
    bands : sequence of str, optional
        Names of the bands of every GeoTIFF, in order, for files without
        band descriptions (Sentinel Hub Process API responses); used instead
        of descriptions, with a warning where they differ; ignored, with a
        warning, for inputs that are not GeoTIFF files.
    sensor : str
        ``"Sentinel-1"`` or ``"Sentinel-2"``: the reader, for the examples
        in messages.

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
        return _open_geotiffs(tifs, chunks, bands, sensor, explicit=True)
    out = []
    for i in items:
        opened = _open_one(i, chunks, bands, sensor)
        if bands is not None and not any(SOURCE_FILE_ATTR in d.attrs for d in opened):  # before: ignored without a word
            warn_user(f"bands={list(bands)} names the bands of GeoTIFF files; {describe(i)} is not one (netCDF, Zarr or a Dataset "
                      "name their variables): bands= ignored for it. Rename its variables instead (ds.rename(...))")
        out.extend(opened)
    return out
