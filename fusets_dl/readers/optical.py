"""Sentinel-2 reader: ``NDVI`` (float32) and a boolean ``clear`` mask on ``(time, y, x)``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr
from pyproj import CRS

from .._logging import logger
from .._warn import warn_user
from ..cf import cf_attrs
from ..errors import (
    ConfigError,
    DimensionError,
    GridMismatchError,
    MissingVariableError,
)
from .cloud_bands import CLOUD_BAND_ROLES, clear_from_cloud_band
from .combine import (
    TILES_REMEDY,
    check_same_crs,
    concat_dates,
    grid_text,
    join_bands_onto_union,
    part_names,
    raw_dtype,
)
from .conventions import band_for, bands_for, convention_of
from .encoding import DEFAULT_CLEAR_CLASSES, mask_from_scl, ndvi
from .normalise import (
    _decode,
    _finish,
    _prepare,
    _sample,
    _sample_parts,
    _sample_windows,
    _subset,
    _whole_series,
    warn_before_launch,
)
from .products import HARMONIZED_ATTR, PRODUCT_ATTR
from .s2_metadata import BOA_OFFSET_COORD, MTD_NAME, QUANTIFICATION_COORD
from .sanity import check_ndvi_range, check_reflectance, checked, mask_outside
from .sources import OFFSET_FREE_COORD, Source, describe, open_sources

__all__ = ["BOA_ADD_OFFSET", "HARMONIZE_CUTOFF", "check_harmonize_option", "open_s2"]

#: First acquisition date of L2A processing baseline 04.00, whose digital numbers carry an offset.
HARMONIZE_CUTOFF = pd.Timestamp("2022-01-25")

#: The L2A ``BOA_ADD_OFFSET`` of baseline 04.00 and later, in DN: reflectance = (DN - 1000) / 10000.
BOA_ADD_OFFSET = -1000

# Coordinates along time that STAC loaders (stackstac, odc-stac) carry from the item properties.
_BASELINE_COORD = "s2:processing_baseline"
_APPLIED_COORDS = ("earthsearch:boa_offset_applied", "boa_offset_applied")
# Band attributes that declare the offset in the data (DN, or reflectance when below 1 in size).
_OFFSET_ATTRS = ("BOA_ADD_OFFSET", "boa_add_offset", "offset")
# Band attributes that say the offset was already removed.
_APPLIED_ATTRS = ("boa_offset_applied", "earthsearch:boa_offset_applied")
# Clear-pixel red reflectance: 1st percentile above this after the cut-off suggests an un-removed offset.
_DARK_TOO_BRIGHT = 0.08
_DARK_TOO_DARK = -0.05
_MIN_CHECK_PIXELS = 100
# Share of clear-pixel red below _NEGATIVE_BELOW after the offset's removal that reflectance cannot have. Data that
# really carry the offset have slightly negative dark pixels (that is why ESA added it): the margin leaves those out.
_NEGATIVE_SHARE_MAX = 0.05
_NEGATIVE_BELOW = -0.01
# Fewer than _MIN_CHECK_PIXELS clear pixel-dates (a point table of a few fields): the removal is undone on stronger
# evidence only, at least _MIN_SMALL_CHECK of them with more than _SMALL_NEGATIVE_SHARE below _NEGATIVE_BELOW (GEE
# S2_SR_HARMONIZED of 1-4 Slovak plots: 12 of 20, 21 of 41, 50 of 85; data that carry the offset: about none).
_MIN_SMALL_CHECK = 10
_SMALL_NEGATIVE_SHARE = 0.25
#: Start of the reason given when only the acquisition date decides the offset (DN without metadata).
_DATE_RULE = "DN input without offset metadata"


def open_s2(
    source: Source,
    *,
    clear_classes: Iterable[int] = DEFAULT_CLEAR_CLASSES,
    chunks: Any = None,
    time_range: tuple[Any, Any] | None = None,
    bbox: Sequence[float] | None = None,
    bbox_crs: Any = None,
    reflectance_scale: float | Literal["auto"] = "auto",
    harmonize: Literal["auto", "all"] | bool = "auto",
    duplicates: Literal["raise", "first", "mean"] = "raise",
    bands: Sequence[str] | None = None,
) -> xr.Dataset:
    """Open Sentinel-2 L2A data as ``NDVI`` (float32) and a boolean ``clear`` mask.

    Parameters
    ----------
    source : path, Dataset or list of them
        As for :func:`open_s1`. A list holds files of **one grid** (one CRS):
        files with the same bands on other dates (one per month, per year)
        are concatenated along time, dates sorted (a date in two files
        follows ``duplicates``; coordinates that differ by float rounding,
        under 0.05 pixel, take the first file's); files holding different
        bands at different resolutions (WorldCereal: B04/B08 at 10 m, SCL at
        20 m) are merged onto the **finest** grid: coarser bands are copied
        by nearest neighbour onto it (exact replication where the grids
        nest), so NDVI keeps its full resolution and
        :func:`fusets_dl.align` aggregates it onto the S1 grid later. Tiles
        of an area (other footprints), a band file that does not cover the
        finest grid, and files in other CRSs (an SCL exported in EPSG:4326)
        are refused: mosaic tiles first, or align each tile and combine the
        cubes with ``combine_first``. Products as downloaded are recognised
        by their file names (:mod:`fusets_dl.readers.products`): an ESA
        ``.SAFE`` folder, a folder of them, or its granule files
        (``*_B04_10m.jp2``: the product's ``MTD_MSIL2A.xml``, at the top of
        the ``.SAFE`` or beside the granule files, gives each date's
        processing baseline, ``BOA_ADD_OFFSET`` per band and quantification
        value, :mod:`fusets_dl.readers.s2_metadata`; without it the baseline
        of the ``.SAFE`` name decides the offset of each date); THEIA/MAJA,
        HLS and FORCE files and folders (values that never carry the offset;
        the time of day and HLS's day of year read from the names; THEIA's
        ``CLM``/``MG2``, HLS's ``Fmask`` and FORCE's ``QAI`` read as their
        bit fields; FORCE's ``BROADNIR`` as B08 and its ``NIR`` as B8A; HLS
        S30's ``B8A`` as the NIR when B08 is not given). Side files (AOT,
        WVP, TCI, ATB, CLD ...) are left out, logged.
    clear_classes : iterable of int
        SCL classes counted as clear (default 4 vegetation, 5 bare soil).
        Without SCL, the first cloud band present is used, each read in its
        provider's encoding (:mod:`fusets_dl.readers.cloud_bands`: Cloud
        Score+ ``cs_cdf``, a cloud probability ``CLP``/``CLD``/
        ``MSK_CLDPRB``/``probability``, a cloud mask ``CLM`` (1 = cloud), a
        GEE ``MASK`` (1 = clear), ``QA60`` bits; the HLS ``Fmask`` and MAJA
        ``MG2`` bit fields count snow and water not clear unless these
        classes hold SCL's snow 11 or water 6, as SCL does); without any,
        every valid NDVI counts as clear, with a warning.
    chunks : dict, "auto" or None
        Dask chunks (``time`` defaults to one chunk).
    time_range, bbox, bbox_crs, duplicates
        As for :func:`open_s1`.
    bands : sequence of str, optional
        Names of the bands of every GeoTIFF, in order, for files without
        band descriptions (a Sentinel Hub / CDSE Process API response:
        the evalscript's output order, e.g. ``["B04", "B08", "SCL",
        "dataMask"]``); used instead of descriptions, with a warning where
        they differ; ignored, with a warning, for inputs that are not
        GeoTIFF files.
    reflectance_scale : float or "auto"
        Factor from stored values to reflectance after CF decoding. "auto":
        a CF ``scale_factor`` gives reflectance directly; integers without
        scale factor are DN x 1e-4; floats without one are DN x 1e-4 when a
        small sample (read now) exceeds 1.5.
    harmonize : "auto", True or False
        Removal of the processing-baseline 04.00 offset (``BOA_ADD_OFFSET``
        -1000 DN, acquisitions from 2022-01-25 on), **per date**. "auto",
        in this order: a ``s2:processing_baseline`` coordinate along time
        (dates with baseline >= 4.0 are offset; an
        ``earthsearch:boa_offset_applied`` coordinate marks dates already
        harmonised); band attributes (CF ``add_offset``, already applied by
        decoding; ``BOA_ADD_OFFSET``/``offset``, applied to every date;
        ``boa_offset_applied``, nothing to do); band names of a convention
        that delivers harmonised values (openEO ``S2-L2A-*``); otherwise, for
        DN input (reflectance scale 1e-4), the acquisition date. Products
        recognised by their file names as never offset (THEIA/MAJA, HLS,
        FORCE) are left alone, logged; an explicit True or "all" is applied
        to them with a warning. Reflectance
        input (0..1) and NDVI bands are left alone. True offsets every date
        from 2022-01-25 on, "all" every date (Collection-1 products,
        reprocessed with baseline 05.xx, carry the offset before 2022-01-25
        too: Earth Search's ``sentinel-2-c1-l2a`` loaded without its
        ``raster:bands`` offset), False none. The decision is logged. The clear
        red then judges it: all of it for in-memory data; for Dask data, a
        strided sample of pixels on every date read at open (one compute,
        as :func:`open_s1` reads its units sample; only where an offset was
        removed or may be left), so both get the same decisions. When only
        the date or per-date catalogue metadata decided (DN without
        metadata; ``s2:processing_baseline``, ``earthsearch:boa_offset_applied``,
        known to be wrong on some items) and removing the offset would put
        the 1st percentile of clear red below -0.05 or more than 5 % of it
        below -0.01 (data harmonised by their provider, e.g. a Google Earth
        Engine ``S2_SR_HARMONIZED`` export), the offset is not removed, with
        a warning; and a warning says when clear dark pixels look offset
        (1st percentile of red above 0.08) or offset twice, the dates before
        and from the cut-off judged apart. A Dask sample with under 100
        clear values leaves the decision to each chunk, which warns as
        computed, the values unchanged.

    Returns
    -------
    xarray.Dataset
        ``NDVI`` (float32, NaN where reflectance is nodata), ``clear``
        (bool) and ``SCL`` (uint8, 0 where nodata) when present.

    Raises
    ------
    MissingVariableError
        When neither red and NIR (B04, B08) nor an NDVI band is present.
    DimensionError
        Files of other bands that do not share their dates.
    GridMismatchError
        Files of the same bands on other grids (tiles: each file's size,
        pixel size, bounds and CRS named), or a file of other bands that
        does not cover the finest grid.
    CRSMismatchError
        Files in different CRSs, both named.
    DuplicateTimeError
        A date in two files of the same bands with ``duplicates="raise"``.
    EncodingError
        An NDVI band with values outside [-1, 1].
    """
    what = f"open_s2({describe(source)})"
    harmonize = check_harmonize_option(harmonize, what)
    opened = open_sources(source, chunks, bands, sensor="Sentinel-2")
    parts = [_prepare(p, what, duplicates) for p in opened]
    ds, crs, per_time = _s2_merge(parts, what, duplicates, part_names(source, opened))
    ds = _hls_nir(ds, what)
    read = ds  # as read: the reflectance-scale sample comes from its date chunks, not from merged whole series
    ds = _whole_series(ds, chunks, what, time_range)  # merged date chunks decode once, not per date
    have = _s2_require_bands(ds, what)
    out = xr.Dataset(coords={k: v for k, v in ds.coords.items()
                             if k not in ("spatial_ref", "crs", OFFSET_FREE_COORD) and not _is_mtd_coord(k)})
    red, nir = band_for("red"), band_for("nir")
    red_refl = None
    free = _offset_free_label(ds, (red, nir), per_time)
    if free is not None and (harmonize is True or harmonize == "all"):  # the user's option wins, said where it differs
        warn_user(f"{what}: the {free} product never carries the processing-baseline offset (-1000 DN), but "
                  f"harmonize={harmonize!r} removes it from {'every date' if harmonize == 'all' else 'the dates from ' + str(HARMONIZE_CUTOFF.date())} "
                  "as asked, and NDVI there will be too high; pass harmonize='auto' (or False) to keep its values")
    if {red, nir} <= have:
        originals = {k: v for p in parts for k, v in p[2].items()}
        refl, offsets, reasons, by_date, rescaled = {}, {}, {}, True, True
        for band in (red, nir):
            refl[band], offsets[band], reason = _s2_harmonised_reflectance(
                ds[band], reflectance_scale, harmonize, per_time, originals.get(band, band), what, probe=read[band])
            reasons[band] = reason
            by_date &= reason.startswith(_DATE_RULE)
            rescaled &= reason.endswith(_RESCALED)
        red_refl = refl[red]
        out["NDVI"] = ndvi(refl[red], refl[nir])
    else:
        out["NDVI"] = _s2_ndvi_band(ds[band_for("ndvi")], what)
    out, mask_src, cloud_clear = _s2_add_clear(out, ds, have, clear_classes, what)
    valid_before, recomputed = out["NDVI"].notnull(), False
    pending = _baseline_dates(per_time) if red_refl is not None and rescaled else None
    if red_refl is not None and (red_refl.chunks is None or by_date or offsets[red].any() or (pending is not None and pending.any())):
        # clear red on every date: all of it in memory; on Dask, where an offset was removed or may be left, a strided
        # sample of pixels read now (one compute), so that chunked and in-memory input get the same decisions (before,
        # Dask input kept the date rule's and only warned per chunk: NDVI +0.29 on a GEE export's 2022 dates, CLI included)
        # the cloud mask's clear pixel-dates with a red value, NDVI defined or not: an offset removed from harmonised
        # DN makes red + NIR negative on dark pixels, and those are the strongest evidence (before, they were left out)
        sample, whole = _clear_red_sample(red_refl, red_refl.notnull() if cloud_clear is None else cloud_clear & red_refl.notnull())
        lazy = red_refl.chunks is not None

        def judged(dates: np.ndarray) -> bool:  # the sample stands for the whole cube on these dates (else chunks judge themselves)
            return not lazy or (whole and int(np.isfinite(sample[dates]).sum()) >= _MIN_CHECK_PIXELS)

        # the date rule, or Earth Search's per-date offset-applied flag (known to be wrong on some items), may be overruled by
        # the data; a band attribute, a processing-baseline coordinate (which the user may have written) or harmonize=True may not
        undo = by_date or (any(c in per_time for c in _APPLIED_COORDS)
                           and all(r.startswith(("acquisitions from", _BASELINE_COORD)) for r in reasons.values()))
        if undo and _offset_never_carried(sample, offsets[red], what, by_date):
            refl = {b: r - xr.DataArray(offsets[b].astype(np.float32), dims="time", coords={"time": r["time"]}) for b, r in refl.items()}
            red_refl = refl[red]
            out["NDVI"], recomputed = ndvi(refl[red], refl[nir]), True
            sample = sample - offsets[red][:, None]
            offsets = {b: np.zeros_like(o) for b, o in offsets.items()}
        if pending is not None and pending.any():  # reflectance with a baseline >= 04.00 coordinate: is the offset still in it?
            # more than 0.1 of clear red on every sampled pixel: a window of a few chunks may lack dark pixels, so only a
            # sample of the whole extent removes it
            if (not lazy or whole) and _offset_still_carried(sample, pending, what):
                off = xr.DataArray(np.where(pending, BOA_ADD_OFFSET * 1e-4, 0.0).astype(np.float32), dims="time", coords={"time": red_refl["time"]})
                refl = {b: r + off for b, r in refl.items()}
                red_refl = refl[red]
                out["NDVI"], recomputed = ndvi(refl[red], refl[nir]), True
                sample = sample + np.where(pending, BOA_ADD_OFFSET * 1e-4, 0.0)[:, None]
            elif not judged(pending):
                out["NDVI"] = _guard_offset_left(out["NDVI"], red_refl, out["clear"], pending, what)
        # the dates of a product that never carries the offset (THEIA, HLS, FORCE): a bright scene is only bright, not offset
        free_dates = _offset_free_dates(ds[red], per_time, red_refl.sizes["time"])
        after = np.asarray(pd.DatetimeIndex(red_refl["time"].values) >= HARMONIZE_CUTOFF) & ~free_dates
        free = bool(free_dates.all()) and not offsets[red].any()
        _s2_check_offset(sample, after, what, by_date and bool(offsets[red].any()), sampled=lazy, whole=(not lazy or whole) and not free)
        if offsets[red].any() and not judged(offsets[red] != 0):  # a partial or thin sample: each chunk judges itself as computed
            if by_date:
                out["NDVI"] = _guard_double_offset(out["NDVI"], red_refl, out["clear"], offsets[red] != 0, what)
            else:  # an offset declared (band attribute, baseline coordinate) or forced (harmonize=True)
                out["NDVI"] = _guard_declared_offset(out["NDVI"], red_refl, out["clear"], offsets[red] != 0, reasons[red], what)
        if recomputed:  # an offset decision changed NDVI: the views it made or lost
            out["clear"] = _clear_after_offsets(out["clear"], cloud_clear, valid_before, out["NDVI"])
    elif red_refl is not None:  # Dask input nothing was removed from nor sampled: each chunk judges the cut-off as computed
        after = (np.asarray(pd.DatetimeIndex(red_refl["time"].values) >= HARMONIZE_CUTOFF)
                 & ~_offset_free_dates(ds[red], per_time, red_refl.sizes["time"]))
        if after.any():
            out["NDVI"] = _guard_offset_unremoved(out["NDVI"], red_refl, out["clear"], after, what)
    out.attrs = {"source": describe(source), "sensor": "Sentinel-2", "clear_mask": mask_src}
    if crs is not None:
        out = out.rio.write_crs(crs)
    out = _subset(out, time_range, bbox, what, bbox_crs=bbox_crs)
    warn_before_launch(out, "Sentinel-2", what)
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


def _uncovered(coarse: xr.Dataset, fine: xr.Dataset) -> dict[str, int]:
    """How many columns (``x``) and rows (``y``) of ``fine`` no pixel of ``coarse`` covers (nearest centre beyond half a pixel)."""
    res = _resolution(coarse)
    out = {}
    for dim in ("x", "y"):
        idx = pd.Index(np.asarray(coarse[dim].values, dtype=np.float64))
        hit = idx.get_indexer(np.asarray(fine[dim].values, dtype=np.float64), method="nearest", tolerance=res / 2 + 1e-6)
        out[dim] = int((hit < 0).sum())
    return out


def _s2_merge(
    parts: list[tuple[xr.Dataset, CRS | None, dict[str, str]]], what: str, duplicates: str = "raise", names: list[str] | None = None,
) -> tuple[xr.Dataset, CRS | None, dict[str, xr.DataArray]]:
    """One Dataset from the prepared inputs, the first CRS found, and the per-date processing-baseline coordinates.

    Inputs holding the same bands are files of other dates of one grid:
    concatenated along time (:func:`~.combine.concat_dates`: a date in two
    of them follows ``duplicates``; coordinates that differ by float
    rounding take the first's; other footprints, tiles, are refused). Inputs
    holding other bands (B04/B08 at 10 m, SCL at 20 m) are merged onto the
    finest grid by nearest neighbour; each must cover that grid and hold the
    same dates. Inputs in different CRSs are refused (:func:`~.combine.check_same_crs`).
    """
    crs = next((p[1] for p in parts if p[1] is not None), None)
    if len(parts) == 1:
        return parts[0][0], crs, _s2_time_coords([parts[0][0]])
    names = names or [f"input {i + 1}" for i in range(len(parts))]
    check_same_crs(parts, names, what)
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, p in enumerate(parts):
        groups.setdefault(tuple(sorted(map(str, p[0].data_vars))), []).append(i)
    combined, labels, crss = [], [], []
    for bands, g in groups.items():
        combined.append(concat_dates([parts[i][0] for i in g], [names[i] for i in g], [parts[i][1] for i in g], what, duplicates))
        labels.append(f"{names[g[0]]}{f' and {len(g) - 1} more' if len(g) > 1 else ''} (bands {', '.join(bands)})")
        crss.append(parts[g[0]][1])
    combined = join_bands_onto_union(combined, labels, what)  # groups of one resolution with other unions (a band missing on a scene)
    per_time = _s2_time_coords(combined)
    if len(combined) == 1:
        return combined[0], crs, per_time
    k = min(range(len(combined)), key=lambda j: _resolution(combined[j]))
    finest = combined[k]
    aligned = []
    for d, label, c in zip(combined, labels, crss, strict=True):
        if d is not finest and not (np.array_equal(d["x"].values, finest["x"].values) and np.array_equal(d["y"].values, finest["y"].values)):
            gap = _uncovered(d, finest)
            if gap["x"] or gap["y"]:  # before: NaN bands there (SCL missing: every pixel not clear), silently
                raise GridMismatchError(
                    f"{what}: expected every input holding other bands to cover the finest grid, found {gap['x']} of "
                    f"{finest.sizes['x']} columns and {gap['y']} of {finest.sizes['y']} rows of it outside {label}: "
                    f"{grid_text(finest, crss[k], labels[k])}; {grid_text(d, c, label)}. " + TILES_REMEDY
                )
            d = _onto_grid(d, finest, what)
        aligned.append(d)
    times = [d["time"].values for d in aligned]
    if not all(np.array_equal(times[0], t) for t in times[1:]):
        raise DimensionError(
            f"{what}: expected the same dates in every input holding other bands (merged onto the finest grid; inputs "
            "holding the same bands on other dates are concatenated along time), found "
            + ", ".join(f"{label}: {len(t)} dates {str(t[0])[:10]}..{str(t[-1])[:10]}" for label, t in zip(labels, times, strict=True))
        )
    ds = xr.merge([d.drop_vars([c for c in d.coords if c not in ("time", "y", "x")]) for d in aligned], join="override", compat="override")
    return ds, crs, per_time


# --------------------------------------------------------------------------- NDVI

def _hls_nir(ds: xr.Dataset, what: str) -> xr.Dataset:
    """HLS S30 without B08: its ``B8A`` (NASA's NIR for S30, narrow NIR) as the NIR band, logged; other inputs unchanged."""
    red, nir = band_for("red"), band_for("nir")
    if nir in ds.data_vars or "B8A" not in ds.data_vars or red not in ds.data_vars:
        return ds
    product = str(ds["B8A"].attrs.get(PRODUCT_ATTR, ""))
    if not product.startswith("HLS S30"):
        return ds
    logger.info("%s: %s holds no B08: its B8A (NASA's NIR band for HLS S30, the narrow NIR, 865 nm) read as the NIR of NDVI",
                what, product)
    return ds.rename({"B8A": nir})


def _s2_require_bands(ds: xr.Dataset, what: str) -> set[str]:
    """The band names present; raise when neither red and NIR nor NDVI is among them."""
    have = set(map(str, ds.data_vars))
    if not ({band_for("red"), band_for("nir")} <= have or band_for("ndvi") in have):
        raise MissingVariableError(
            f"{what}: expected red and NIR bands B04 and B08 (or S2-L2A-B04/B08), or an NDVI band; "
            f"found {sorted(have)}"
        )
    return have


def _cf_scaling(da: xr.DataArray) -> dict[str, float]:
    """The CF ``scale_factor`` / ``add_offset`` of a band (attrs or encoding), without the trivial 1 and 0.

    rioxarray's ``open_rasterio(mask_and_scale=True)`` records ``scale_factor``
    1.0 and ``add_offset`` 0.0 for any GeoTIFF: no scaling at all. Read as
    "the CF scale already gave reflectance" they made GeoTIFF DN refused, and
    read as "the offset was applied by decoding" 2022+ DN kept their +1000.
    """
    attrs = {**da.encoding, **da.attrs}
    out = {}
    for key in ("scale_factor", "add_offset"):
        if key in attrs:
            try:
                v = float(np.asarray(attrs[key]).ravel()[0])
            except (TypeError, ValueError, IndexError):
                continue
            out[key] = v
    if out.get("scale_factor", 1.0) == 1.0 and out.get("add_offset", 0.0) == 0.0:
        return {}
    return out


def _s2_scale(da: xr.DataArray, dec: xr.DataArray, reflectance_scale: float | Literal["auto"]) -> float:
    """Factor from decoded values to reflectance (``da`` as stored, ``dec`` after CF decoding)."""
    if reflectance_scale != "auto":
        return float(reflectance_scale)
    if _cf_scaling(da).get("scale_factor", 1.0) < 0.01:
        return 1.0  # the CF scale_factor (1e-4) already gave reflectance; a scale near 1 (with an add_offset) leaves DN
    if np.issubdtype(da.dtype, np.integer):
        return 1e-4  # integer DN, also when a fill value made the decoded array float
    peak = np.nanmax(_sample(dec)) if dec.size else 0.0  # floats without scale information: a small sample
    return 1e-4 if peak > 1.5 else 1.0


def _s2_harmonised_reflectance(
    da: xr.DataArray,
    reflectance_scale: float | Literal["auto"],
    harmonize: Literal["auto", "all"] | bool,
    per_time: dict[str, xr.DataArray],
    original: str,
    what: str,
    probe: xr.DataArray | None = None,
) -> tuple[xr.DataArray, np.ndarray, str]:
    """Reflectance (float32) from a stored band: CF decoding, the scale, and the offset of each date (with the offsets and why).

    ``probe``: the band as read, before its date chunks were merged
    (:func:`~.normalise._whole_series`); a reflectance scale judged from the
    values samples it, reading a few date chunks rather than whole series.
    """
    dec = _decode(da)
    scale = _s2_scale(da, dec if probe is None or probe is da else _decode(probe), reflectance_scale)
    stored = raw_dtype(da)  # integers the union join made floats (NaN outside each footprint): their dtype still holds
    if np.issubdtype(stored, np.integer) and reflectance_scale == "auto" and scale == 1e-4:
        # DN 0 is nodata in L2A products; the dtype's largest value (65535) is the openEO/WorldCereal nodata
        unsigned = str(da.attrs.get("_Unsigned", "")).lower() == "true"
        top = np.iinfo(np.dtype(f"u{stored.itemsize}") if unsigned else stored).max
        dec = dec.where((dec > 0) & (dec < top))
    times = pd.DatetimeIndex(dec["time"].values)
    offset, reason = _s2_offsets(da, scale, harmonize, times, per_time, original)
    n_off = int(np.count_nonzero(offset))
    logger.info(
        "%s: %s: %d of %d dates offset by %d DN (%s)", what, da.name, n_off, times.size, BOA_ADD_OFFSET, reason
    )
    refl = checked(dec.astype(np.float32) * np.float32(scale), check_reflectance, f"{what}: {da.name} (reflectance scale {scale:g})")
    if n_off:
        refl = refl + xr.DataArray(offset.astype(np.float32), dims="time", coords={"time": dec["time"]})
    q = _per_date_numbers(per_time.get(QUANTIFICATION_COORD)) if reflectance_scale == "auto" and scale == 1e-4 else None
    if q is not None and np.any(np.isfinite(q) & (q != 1e4)):  # (DN + offset) / BOA_QUANTIFICATION_VALUE, as the XML says
        factor = np.where(np.isfinite(q), 1e4 / np.where(np.isfinite(q), q, 1e4), 1.0)
        logger.info("%s: %s: %s BOA_QUANTIFICATION_VALUE %s on %d date(s): reflectance = (DN + offset) / it", what, da.name, MTD_NAME,
                    ", ".join(f"{v:g}" for v in np.unique(q[np.isfinite(q) & (q != 1e4)])), int(np.sum(factor != 1.0)))
        refl = refl * xr.DataArray(factor.astype(np.float32), dims="time", coords={"time": dec["time"]})
    return refl, offset, reason


def _offset_never_carried(sample: np.ndarray, offset: np.ndarray, what: str, by_date: bool = True) -> bool:
    """Whether DN the date rule (or a catalogue's per-date metadata) offset were in fact harmonised already (dark pixels pushed below zero).

    ``sample``: clear red reflectance, offsets removed, time first
    (:func:`_clear_red_sample`). Only the acquisition date, or per-date
    catalogue metadata known to be wrong on some items (Earth Search's
    ``earthsearch:boa_offset_applied``), told ``harmonize="auto"`` to remove
    the offset. Data harmonised by their provider (Google Earth Engine's
    ``S2_SR_HARMONIZED``, most exports) then get it removed a second time:
    clear dark pixels go negative and NDVI clips at 1. When the 1st
    percentile of clear red over the offset dates is below
    ``_DARK_TOO_DARK`` (about -0.09 for such data; 0.00-0.01 where the
    offset was really there), or more than 5 % of it below -0.01, the
    removal is undone, with a warning.
    """
    sel = offset != 0
    if not sel.any():
        return False
    v = sample[sel].ravel()
    v = v[np.isfinite(v)]
    if v.size < _MIN_CHECK_PIXELS:
        return _few_never_carried(v, int(sel.sum()), what, by_date)
    if not _too_dark(v):
        return False
    p1, negative = float(np.percentile(v, 1)), float(np.mean(v < _NEGATIVE_BELOW))
    told = (f"without offset metadata on {int(sel.sum())} dates from {HARMONIZE_CUTOFF.date()}" if by_date
            else f"whose offset-applied flag (earthsearch:boa_offset_applied) says they carry the offset, on {int(sel.sum())} dates,")
    warn_user(
        f"{what}: S2 digital numbers {told} look "
        f"harmonised already: removing the processing-baseline offset (-1000 DN) would put the 1st percentile of clear red "
        f"at {p1:.3f} and {100 * negative:.0f} % of it below {_NEGATIVE_BELOW} ({v.size} pixel-dates), which reflectance cannot be, and NDVI "
        "would be far too high. The offset was not removed (harmonize='auto'); pass harmonize=True to remove it anyway, "
        "harmonize=False to silence this"
    )
    return True


def _few_never_carried(v: np.ndarray, n_dates: int, what: str, by_date: bool) -> bool:
    """:func:`_offset_never_carried` on fewer than ``_MIN_CHECK_PIXELS`` clear red values ``v`` (offset removed).

    A point table of one to four fields holds 20-85 clear pixel-dates on a
    year's offset dates; GEE ``S2_SR_HARMONIZED`` DN lost the date rule's
    offset silently there (NDVI +0.29 on 90 % of the clear rows). At least
    ``_MIN_SMALL_CHECK`` values with more than ``_SMALL_NEGATIVE_SHARE`` of
    them below ``_NEGATIVE_BELOW`` undo the removal, with a warning; fewer
    values with any below it are warned only.
    """
    negative = int(np.sum(v < _NEGATIVE_BELOW))
    told = f"without offset metadata on {n_dates} dates from {HARMONIZE_CUTOFF.date()}" if by_date else (
        f"whose offset-applied flag says they carry the offset, on {n_dates} dates,")
    if v.size >= _MIN_SMALL_CHECK and negative > _SMALL_NEGATIVE_SHARE * v.size:
        warn_user(f"{what}: S2 digital numbers {told} look harmonised already: removing the processing-baseline offset "
                  f"(-1000 DN) would put {negative} of {v.size} clear red values below {_NEGATIVE_BELOW}, which reflectance "
                  "cannot be, and NDVI would be far too high. The offset was not removed (harmonize='auto'); pass "
                  "harmonize=True to remove it anyway, harmonize=False to silence this")
        return True
    if negative:
        warn_user(f"{what}: S2 digital numbers {told}: the processing-baseline offset (-1000 DN) was removed on the "
                  f"acquisition date alone, and {negative} of the {v.size} clear red values are now below {_NEGATIVE_BELOW}, "
                  "too few to decide from the data. If the values are harmonised already (Google Earth Engine's "
                  "S2_SR_HARMONIZED, most exports), NDVI there is too high: pass harmonize=False")
    return False


def _clear_after_offsets(clear: xr.DataArray, cloud_clear: xr.DataArray | None, valid_before: xr.DataArray,
                         nd: xr.DataArray) -> xr.DataArray:
    """``clear`` made again for the final NDVI ``nd``: where the cloud mask says clear and ``nd`` is defined (lazy).

    ``clear`` was made from the NDVI before the offset decisions; where a
    removal was undone, pixel-dates whose NDVI was undefined then (red + NIR
    at or below 0) have one now, and are clear views (they were lost: 1.3-1.9
    % of the clear rows of the Slovak GEE tables read as harmonised DN, dark
    winter dates); where an offset was removed afterwards, an NDVI may have
    become undefined. ``clear`` stays in the result, so what it carries (the
    fractional-SCL warning of each Dask chunk) is kept.
    """
    if cloud_clear is None:  # no cloud mask: every valid NDVI is a view
        out = nd.notnull().astype(clear.dtype)
    else:
        out = ((clear | (cloud_clear & ~valid_before)) & nd.notnull()).astype(clear.dtype)
    out.attrs = clear.attrs
    return out


def _clear_red_sample(red: xr.DataArray, clear: xr.DataArray) -> tuple[np.ndarray, bool]:
    """Clear red reflectance on every date, time first and pixels flattened after it (NaN where not clear), and whether it spans the cube.

    In-memory data: all of it. Dask data: the strided pixels (or windows of
    at most :data:`~.normalise.SAMPLE_MAX_CHUNKS` chunks) that
    :func:`~.normalise._sample_parts` picks, on every date, read now in one
    compute, as :func:`open_s1` reads its units sample. The flag is False
    for windows of a few chunks among many: a bright corner of the cube may
    then lack the dark pixels the rest has.
    """
    v = red.where(clear).transpose("time", ...)
    if v.chunks is None:
        return np.asarray(v.values, dtype=np.float64).reshape(v.sizes["time"], -1), True
    import dask

    parts = dask.compute(*_sample_parts(v, all_dates=True))
    whole = _sample_windows(v) is None
    return np.concatenate([np.asarray(p.values, dtype=np.float64).reshape(p.sizes["time"], -1) for p in parts], axis=1), whole


def check_harmonize_option(harmonize: Any, what: str) -> Literal["auto", "all"] | bool:
    """``harmonize`` checked: "auto", "all", True or False.

    Parameters
    ----------
    harmonize : object
        The option as given.
    what : str
        The caller, for the message.

    Returns
    -------
    "auto", "all" or bool
        The option.

    Raises
    ------
    ConfigError
        Anything else (``"True"``, 1, None), with the value found.
    """
    if isinstance(harmonize, (bool, np.bool_)):
        return bool(harmonize)
    if isinstance(harmonize, str) and harmonize in ("auto", "all"):
        return harmonize  # type: ignore[return-value]
    raise ConfigError(f"{what}: harmonize: expected 'auto', 'all', True or False, found {harmonize!r}")


def _is_mtd_coord(name: Any) -> bool:
    """Whether a coordinate is one of the per-date values read from ``MTD_MSIL2A.xml`` (:mod:`.s2_metadata`)."""
    return str(name).startswith(BOA_OFFSET_COORD) or str(name) == QUANTIFICATION_COORD


def _s2_time_coords(datasets: list[xr.Dataset]) -> dict[str, xr.DataArray]:
    """The processing-baseline, offset-applied and ``MTD_MSIL2A.xml`` coordinates along time, from the first input holding each."""
    found: dict[str, xr.DataArray] = {}
    for name in (_BASELINE_COORD, *_APPLIED_COORDS, OFFSET_FREE_COORD):
        for d in datasets:
            if name in d.coords and d[name].dims == ("time",):
                found[name] = d[name]
                break
    for d in datasets:  # fdl:boa_add_offset:B04 from the B04 files, :B08 from the B08 files; the quantification value
        for c in d.coords:
            if _is_mtd_coord(c) and d[c].dims == ("time",):
                found.setdefault(str(c), d[c])
    return found


def _per_date_numbers(coord: xr.DataArray | None) -> np.ndarray | None:
    """A per-date coordinate of numbers (object dtype, None where a file had none) as floats, NaN where unknown."""
    if coord is None:
        return None
    return np.array([float(v) if v is not None and v == v else np.nan for v in np.asarray(coord.values)], dtype=float)


def _baseline_numbers(values: np.ndarray) -> np.ndarray:
    """Processing baselines (``"04.00"``, ``5.09``, the SAFE spelling ``"N0500"``, None) as floats, NaN where unknown."""
    def one(v: Any) -> float:
        if v is None:
            return np.nan
        text = str(v).strip()
        if len(text) == 5 and text[0] in "Nn" and text[1:].isdigit():  # N0500: the product name's baseline
            return int(text[1:]) / 100.0
        return float(pd.to_numeric(text, errors="coerce"))

    return np.array([one(v) for v in values], dtype=float)


def _offset_free_dates(da: xr.DataArray, per_time: dict[str, xr.DataArray], n: int) -> np.ndarray:
    """The dates of products that never carry the offset (THEIA/MAJA, HLS, FORCE file names): per date where files were combined."""
    if OFFSET_FREE_COORD in per_time:
        return np.array([v is not None and v == v and str(v) != "" for v in np.asarray(per_time[OFFSET_FREE_COORD].values)], dtype=bool)
    return np.full(n, HARMONIZED_ATTR in da.attrs)


def _offset_free_label(ds: xr.Dataset, bands: Sequence[str], per_time: dict[str, xr.DataArray]) -> str | None:
    """The offset-free products of the input, in words (for messages); None when there are none."""
    if OFFSET_FREE_COORD in per_time:
        found = sorted({str(v) for v in np.asarray(per_time[OFFSET_FREE_COORD].values) if v is not None and v == v and str(v)})
        return " / ".join(found) or None
    return next((ds[b].attrs[HARMONIZED_ATTR] for b in bands if b in ds.data_vars and HARMONIZED_ATTR in ds[b].attrs), None)


def _s2_offsets(
    da: xr.DataArray,
    scale: float,
    harmonize: Literal["auto", "all"] | bool,
    times: pd.DatetimeIndex,
    per_time: dict[str, xr.DataArray],
    original: str,
) -> tuple[np.ndarray, str]:
    """The offset of each date in reflectance (0 or -0.1) and why.

    Dates of products that never carry the offset (THEIA/MAJA, HLS, FORCE,
    recorded per date as ``fdl:offset_free``) get none under "auto", also
    in a list mixing them with ESA SAFE or other dates (before, a band
    attribute decided for every date: a 2022 THEIA date beside a SAFE date
    lost 1000 DN, NDVI off by 0.40).
    """
    after = np.asarray(times >= HARMONIZE_CUTOFF)
    boa = BOA_ADD_OFFSET * 1e-4
    none = np.zeros(times.size)
    cutoff = f"acquisitions from {HARMONIZE_CUTOFF.date()}"
    if harmonize is False:
        return none, "harmonize=False"
    if harmonize is True:
        return np.where(after, boa, 0.0), f"harmonize=True: {cutoff}"
    if harmonize == "all":  # Collection-1 reprocessing (baseline 05.xx) carries it on earlier dates too
        return np.full(times.size, boa), "harmonize='all': every date"
    free = _offset_free_dates(da, per_time, times.size)
    label = _offset_free_label(da.to_dataset(name="band"), ("band",), per_time)
    if free.all():
        return none, f"{label} product (file names): values never carry the offset, as with harmonize=False"
    off, reason = _s2_offsets_auto(da, scale, times, {k: v for k, v in per_time.items() if k != OFFSET_FREE_COORD}, original)
    if free.any():
        off = np.where(free, 0.0, off)
        reason += f"; none on the {int(free.sum())} date(s) of {label} products (file names: values never carry the offset)"
    return off, reason


def _s2_offsets_auto(
    da: xr.DataArray,
    scale: float,
    times: pd.DatetimeIndex,
    per_time: dict[str, xr.DataArray],
    original: str,
) -> tuple[np.ndarray, str]:
    """``harmonize="auto"`` on the dates that may carry the offset: metadata, convention, then the date rule.

    A band whose ESA product metadata (``MTD_MSIL2A.xml``, read with the
    granule files: :mod:`.s2_metadata`) lists ``BOA_ADD_OFFSET`` gets that
    offset on those dates, whatever the baseline or the date says.
    """
    after = np.asarray(times >= HARMONIZE_CUTOFF)
    none = np.zeros(times.size)
    cf = _cf_scaling(da)
    if "add_offset" in cf:
        return none, f"CF add_offset={cf['add_offset']!r} already applied by decoding"
    applied = next((k for k in _APPLIED_ATTRS if k in da.attrs), None)
    if applied is not None and str(da.attrs[applied]).lower() in ("true", "1", "yes"):
        return none, f"band attribute {applied}={da.attrs[applied]!r}: offset already removed"
    declared = next((k for k in _OFFSET_ATTRS if k in da.attrs), None)
    if declared is not None:
        v = float(np.asarray(da.attrs[declared]).ravel()[0])
        off = v * 1e-4 if abs(v) >= 1 else v
        return np.full(times.size, off), f"band attribute {declared}={da.attrs[declared]!r}, applied to every date"
    dn = abs(scale - 1e-4) < 1e-12 or "scale_factor" in cf
    xml = _per_date_numbers(per_time.get(f"{BOA_OFFSET_COORD}:{da.name}")) if dn else None
    if xml is not None and np.isfinite(xml).all():  # every date's product metadata says it (ESA SAFE with MTD_MSIL2A.xml)
        return xml * 1e-4, f"{MTD_NAME} BOA_ADD_OFFSET of {da.name} ({_offsets_text(xml)})"
    off, reason = _s2_offsets_by_rule(da, scale, after, {k: v for k, v in per_time.items() if not _is_mtd_coord(k)}, original, dn)
    if xml is not None and np.isfinite(xml).any():
        known = np.isfinite(xml)
        off = np.where(known, xml * 1e-4, off)
        reason += f"; on {int(known.sum())} date(s) {MTD_NAME} BOA_ADD_OFFSET of {da.name} ({_offsets_text(xml[known])})"
    return off, reason


def _offsets_text(dn: np.ndarray) -> str:
    """Offsets in DN in words: ``-1000 DN on 3 dates, 0 on 1``."""
    values, counts = np.unique(dn, return_counts=True)
    return ", ".join(f"{v:g} DN on {c} date(s)" for v, c in zip(values, counts, strict=True))


def _s2_offsets_by_rule(da: xr.DataArray, scale: float, after: np.ndarray, per_time: dict[str, xr.DataArray], original: str,
                        dn: bool) -> tuple[np.ndarray, str]:
    """The offsets where no product metadata file says them: baseline coordinates, the band-name convention, the date rule."""
    none = np.zeros(after.size)
    boa = BOA_ADD_OFFSET * 1e-4
    if per_time:  # DN, also CF-scaled ones (scale_factor without add_offset); not reflectance a loader rescaled (stackstac)
        return _s2_offsets_from_coords(per_time, after, boa, dn)
    conv = convention_of(original)
    if conv is not None and conv.s2_harmonized:
        return none, f"band name {original!r} of the {conv.name!r} convention: values delivered harmonised"
    if abs(scale - 1e-4) < 1e-12:
        return np.where(after, boa, 0.0), f"{_DATE_RULE}: acquisitions from {HARMONIZE_CUTOFF.date()}"
    return none, f"reflectance input (scale {scale:g}): nothing to remove"


def _s2_offsets_from_coords(per_time: dict[str, xr.DataArray], after: np.ndarray, boa: float, dn: bool) -> tuple[np.ndarray, str]:
    """Offsets from ``s2:processing_baseline`` (baseline >= 4.0) and offset-applied coordinates along time, for DN only.

    Reflectance that a loader already scaled and offset (``stackstac.stack``
    with its default ``rescale=True`` applies ``raster:bands`` scale and
    offset, and keeps the baseline coordinate) carries no offset any more:
    before, -0.1 was applied again (NDVI +0.35 on every date of baseline 05.00).
    """
    if _BASELINE_COORD in per_time:
        base = _baseline_numbers(np.asarray(per_time[_BASELINE_COORD].values))
        need = np.where(np.isnan(base), after, base >= 4.0) & dn
        reason = (f"{_BASELINE_COORD} >= 4.0" + (" (the date where it is missing)" if np.isnan(base).any() else "")
                  + ("" if dn else f": but the values are reflectance already: none unless their clear red says {_RESCALED}"))
    else:
        need = after & dn
        reason = f"acquisitions from {HARMONIZE_CUTOFF.date()}"
    applied_name = next((c for c in _APPLIED_COORDS if c in per_time), None)
    if applied_name is not None:
        done = np.array([str(v).lower() in ("true", "1", "yes") for v in np.asarray(per_time[applied_name].values)])
        need = need & ~done
        reason += f", except the {int(done.sum())} dates with {applied_name} true"
    return np.where(need, boa, 0.0), reason


_OFFSET_ADVICE = {
    True: "Pass harmonize=True if the data carry it (or declare it per date with s2:processing_baseline)",
    False: "Reprocessed data carry it on these dates too: pass harmonize='all' (every date), or declare it per date with the "
           "s2:processing_baseline coordinate ('05.00')",
}


#: The end of the offset reason for reflectance with a baseline coordinate (judged by :func:`_offset_still_carried`).
_RESCALED = "(rescaled)"


def _baseline_dates(per_time: dict[str, xr.DataArray]) -> np.ndarray | None:
    """The dates whose ``s2:processing_baseline`` is 04.00 or later and not marked offset-applied; None without the coordinate."""
    if _BASELINE_COORD not in per_time:
        return None
    need = _baseline_numbers(np.asarray(per_time[_BASELINE_COORD].values)) >= 4.0
    applied_name = next((c for c in _APPLIED_COORDS if c in per_time), None)
    if applied_name is not None:
        need &= ~np.array([str(v).lower() in ("true", "1", "yes") for v in np.asarray(per_time[applied_name].values)])
    return need


def _offset_still_carried(sample: np.ndarray, dates: np.ndarray, what: str) -> bool:
    """Whether reflectance of baseline >= 04.00 dates still carries the offset (clear dark pixels near 0.1).

    ``sample``: clear red reflectance, time first (:func:`_clear_red_sample`).
    A loader that applied ``raster:bands`` scale and offset (stackstac
    ``rescale=True`` on Earth Search's ``sentinel-2-c1-l2a``) removed it; one
    whose items declared a scale without the offset (Earth Search's first
    ``sentinel-2-l2a``) did not, and the values look the same. When the 1st
    percentile of clear red over those dates is above ``_DARK_TOO_BRIGHT``
    (0.08; about 0.1 for such data, 0.00-0.01 where it was removed), the
    offset is removed there, with a warning.
    """
    v = sample[dates].ravel()
    v = v[np.isfinite(v)]
    if v.size < _MIN_CHECK_PIXELS:
        return False
    p1 = float(np.percentile(v, 1))
    if p1 <= _DARK_TOO_BRIGHT:
        return False
    warn_user(f"{what}: S2 reflectance on {int(dates.sum())} dates of processing baseline 04.00 or later still carries the "
              f"-1000 DN offset (1st percentile of clear red {p1:.3f}, {v.size} pixel-dates; a loader applied a scale without the "
              "offset, as for Earth Search's first sentinel-2-l2a collection): removed on those dates. Pass harmonize=False to "
              "keep the values as they are")
    return True


def _guard_offset_left(nd: xr.DataArray, red: xr.DataArray, clear: xr.DataArray, dates: np.ndarray, what: str) -> xr.DataArray:
    """``nd`` whose chunks, as computed, warn when rescaled reflectance of baseline >= 04.00 dates still looks offset (Dask)."""
    msg = (f"{what}: S2 reflectance on dates of processing baseline 04.00 or later looks like it still carries the -1000 DN "
           f"offset (Dask input, judged per chunk as computed: the 1st percentile of clear red is above {_DARK_TOO_BRIGHT}), so "
           "NDVI there is too low. A loader applied a scale without the offset (Earth Search's first sentinel-2-l2a collection): "
           "open the data again with harmonize=True, or in memory, where this is decided from the data")
    return _chunk_guard(nd, red, clear, dates, lambda v: float(np.percentile(v, 1)) > _DARK_TOO_BRIGHT, msg)


def _guard_offset_unremoved(nd: xr.DataArray, red: xr.DataArray, clear: xr.DataArray, after: np.ndarray, what: str) -> xr.DataArray:
    """``nd`` whose chunks, as computed, warn when their dark pixels jump to about 0.1 at the 04.00 cut-off (Dask input).

    Reflectance (a CF ``scale_factor`` on DN, floats) without offset
    metadata is left as it is; in memory :func:`_s2_check_offset` warns
    when the clear dark pixels of the dates from the cut-off sit near 0.1
    (an offset left in: NDVI 0.13-0.15 too low on a synthetic 2022), but a
    Dask cube was not checked at all. Each chunk judges its own clear red:
    the 1st percentile from the cut-off above ``_DARK_TOO_BRIGHT`` while
    the chunk's dates before it (when it has enough of them) have dark
    pixels, so a chunk of bright bare soil, bright on both sides, is not
    taken for an offset. The values are unchanged.
    """
    on = xr.DataArray(after, dims="time", coords={"time": red["time"]})
    later = red.where(clear & on).transpose(*nd.dims)
    earlier = red.where(clear & ~on).transpose(*nd.dims)
    msg = (f"{what}: S2 reflectance on dates from {HARMONIZE_CUTOFF.date()} looks like it still carries the processing-baseline "
           f"04.00 offset (Dask input, judged per chunk as computed: clear dark pixels above {_DARK_TOO_BRIGHT} from the cut-off, "
           "near 0 before it where the chunk has such dates), so NDVI there is too low. Open the data again with "
           "harmonize=True if they carry it (or declare it per date with s2:processing_baseline), or in memory, where the "
           "whole scene is judged")

    def _p1(v: np.ndarray) -> float | None:
        v = v[np.isfinite(v)]
        return float(np.percentile(v, 1)) if v.size >= _MIN_CHECK_PIXELS else None

    def _block(n: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        pa, pb = _p1(a), _p1(b)
        if pa is not None and pa > _DARK_TOO_BRIGHT and (pb is None or pb <= _DARK_TOO_BRIGHT):
            warn_user(msg)
        return n

    out = xr.apply_ufunc(_block, nd, later, earlier, dask="parallelized", output_dtypes=[nd.dtype], keep_attrs=True)
    out.attrs = nd.attrs
    return out


def _too_dark(v: np.ndarray) -> bool:
    """Clear red (offset removed) that reflectance cannot be: 1st percentile below -0.05, or over 5 % of it below -0.01."""
    return float(np.percentile(v, 1)) < _DARK_TOO_DARK or float(np.mean(v < _NEGATIVE_BELOW)) > _NEGATIVE_SHARE_MAX


def _chunk_guard(nd: xr.DataArray, red: xr.DataArray, clear: xr.DataArray, dates: np.ndarray, bad: Callable[[np.ndarray], bool],
                 msg: str) -> xr.DataArray:
    """``nd`` unchanged, whose chunks, as computed, warn ``msg`` (once per message) when their clear red on ``dates`` is ``bad``.

    A Dask cube is not read at open time, so its values cannot be changed
    consistently across chunks: each chunk judges its own clear red (at least
    ``_MIN_CHECK_PIXELS`` values) and warns; the result does not depend on
    the chunking.
    """
    on = xr.DataArray(dates, dims="time", coords={"time": red["time"]})
    seen = red.where(clear & on)

    def _block(n: np.ndarray, r: np.ndarray) -> np.ndarray:
        v = r[np.isfinite(r)]
        if v.size >= _MIN_CHECK_PIXELS and bad(v):
            warn_user(msg)  # a warning only: a log line too printed every message twice on the command line
        return n

    out = xr.apply_ufunc(_block, nd, seen.transpose(*nd.dims), dask="parallelized", output_dtypes=[nd.dtype], keep_attrs=True)
    out.attrs = nd.attrs
    return out


def _dark_pixel_warnings(red: np.ndarray, after: np.ndarray, what: str, where: str = "", removed_by_date: bool = False,
                         bright: bool = True) -> list[str]:
    """The offset warnings that clear-pixel red reflectance ``red`` (time first, NaN where not clear) calls for.

    Dates before and from the 04.00 cut-off (``after``) are judged apart:
    reprocessed collections (Collection 1, baseline 05.xx) carry the offset
    on earlier dates too, and an offset removed from dates that never
    carried it makes dark pixels negative (NDVI then clips at 1).
    """
    out = []
    for is_after, sel, period in ((True, after, f"from {HARMONIZE_CUTOFF.date()}"), (False, ~after, f"before {HARMONIZE_CUTOFF.date()}")):
        if not sel.any():
            continue
        v = np.asarray(red[sel], dtype=np.float64).ravel()
        v = v[np.isfinite(v)]
        if v.size < _MIN_CHECK_PIXELS:
            continue
        p1, negative = float(np.percentile(v, 1)), float(np.mean(v < _NEGATIVE_BELOW))
        seen = (f"1st percentile of clear-pixel red reflectance on the dates {period}{where} is {p1:.3f} "
                f"({v.size} pixel-dates, median {np.median(v):.3f}, {100 * negative:.0f} % below {_NEGATIVE_BELOW})")
        if p1 > _DARK_TOO_BRIGHT and bright:
            other = ""
            if not is_after and removed_by_date:  # the same numbers as a bright scene harmonised by its provider
                other = (f" Or the scene has no dark pixels and its data were harmonised by their provider (a Google Earth Engine "
                         f"export): then the dates from {HARMONIZE_CUTOFF.date()} lost 1000 DN they never carried, and "
                         "harmonize=False is right")
            out.append(f"{what}: {seen}; expected dark pixels near 0: an un-removed processing-baseline 04.00 offset "
                       f"(BOA_ADD_OFFSET -1000 DN) leaves them near 0.1. {_OFFSET_ADVICE[is_after]}.{other}")
        elif _too_dark(v):
            out.append(f"{what}: {seen}; expected dark pixels near 0: an offset was removed that these dates did not carry "
                       "(or removed twice), and NDVI clips at 1 where red is negative. Pass harmonize=False if the data are "
                       "already harmonised")
    return out


def _guard_double_offset(nd: xr.DataArray, red: xr.DataArray, clear: xr.DataArray, dates: np.ndarray, what: str) -> xr.DataArray:
    """``nd`` whose chunks, as computed, warn when the date rule removed an offset the data did not carry (Dask input).

    In memory :func:`_offset_never_carried` judges every offset date at
    once and undoes the removal. On Dask each chunk, when computed, looks at
    its own clear red on the offset dates (:func:`_chunk_guard`) and warns
    when reflectance cannot be that dark (:func:`_too_dark`): the DN were
    harmonised already and NDVI there is wrong. The values are unchanged.
    """
    msg = (f"{what}: S2 digital numbers without offset metadata, on dates from {HARMONIZE_CUTOFF.date()}, look harmonised "
           "already (Dask input, judged per chunk as computed): after removing the processing-baseline offset (-1000 DN) "
           f"the 1st percentile of clear red is below {_DARK_TOO_DARK} or more than {_NEGATIVE_SHARE_MAX:.0%} of it below "
           f"{_NEGATIVE_BELOW}, which reflectance cannot be, so NDVI there is too high (it clips at 1). Open the data again "
           "with harmonize=False (Google Earth Engine's S2_SR_HARMONIZED and most exports are harmonised), or open them in "
           "memory, where harmonize='auto' decides this itself")
    return _chunk_guard(nd, red, clear, dates, _too_dark, msg)


def _guard_declared_offset(nd: xr.DataArray, red: xr.DataArray, clear: xr.DataArray, dates: np.ndarray, reason: str,
                           what: str) -> xr.DataArray:
    """``nd`` whose chunks, as computed, warn when an offset removed for ``reason`` made clear red negative (Dask input).

    ``reason``: what removed it other than the date rule: a band attribute
    (``BOA_ADD_OFFSET``/``offset``, applied to every date: copied from a
    newer product onto a cube spanning the 04.00 cut-off, it removes 1000
    DN from dates that never carried it, NDVI up to +0.4), a processing-
    baseline coordinate, or ``harmonize=True``. In memory
    :func:`_s2_check_offset` judges each period's clear red at once; on Dask
    each chunk judges its own, the dates before and from the cut-off apart
    (:func:`_chunk_guard`, :func:`_too_dark`: negative reflectance, which no
    lack of dark pixels in one tile can explain). The values are unchanged.
    """
    after = np.asarray(pd.DatetimeIndex(red["time"].values) >= HARMONIZE_CUTOFF)
    for is_after, period in ((False, f"before {HARMONIZE_CUTOFF.date()}"), (True, f"from {HARMONIZE_CUTOFF.date()}")):
        sel = dates & (after == is_after)
        if not sel.any():
            continue
        advice = ("declare the offset only on the files of the dates that carry it" if reason.startswith("band attribute")
                  else "pass harmonize='auto'" if reason.startswith("harmonize") else "check the processing-baseline coordinate")
        msg = (f"{what}: the processing-baseline offset (-1000 DN) was removed ({reason}), and on the dates {period} the clear red "
               f"left is negative (Dask input, judged per chunk as computed: its 1st percentile below {_DARK_TOO_DARK} or more than "
               f"{_NEGATIVE_SHARE_MAX:.0%} of it below {_NEGATIVE_BELOW}), which reflectance cannot be: those dates did not carry "
               "the offset (products before processing baseline 04.00 never did), or it was removed twice, and NDVI there is too "
               f"high (it clips at 1). Pass harmonize=False if the data are already harmonised, or {advice}")
        nd = _chunk_guard(nd, red, clear, sel, _too_dark, msg)
    return nd


def _s2_check_offset(sample: np.ndarray, after: np.ndarray, what: str, removed_by_date: bool = False, sampled: bool = False,
                     whole: bool = True) -> None:
    """Warn when clear dark pixels look offset, or offset twice.

    ``sample``: clear red reflectance, time first (:func:`_clear_red_sample`:
    all of in-memory data, a sample of pixels of Dask data); ``after``: the
    dates from the cut-off. The 1st percentile is pooled over all the dates
    of a period (before, and from, the cut-off): one date alone, or one
    tile of it, can lack dark pixels (bare soil in spring) and would warn
    falsely. ``removed_by_date``: the date rule removed the offset from
    the later dates, so a scene without dark pixels, harmonised by its
    provider, looks like reprocessed data that carry it on the earlier ones.
    ``whole``: the sample spans the cube; a window of a few chunks may lack
    dark pixels, so it warns only of negative red.
    """
    where = " (a sample of pixels)" if sampled else ""
    for msg in _dark_pixel_warnings(sample, after, what, where, removed_by_date, bright=whole):
        warn_user(msg)  # a wrong offset gives silently wrong NDVI: not only for users who configured logging


def _s2_ndvi_band(band: xr.DataArray, what: str) -> xr.DataArray:
    """A stored NDVI band: refused when mostly outside [-1, 1] (:func:`check_ndvi_range`), the values outside set to NaN with a warning."""
    nd = checked(_decode(band).astype(np.float32), check_ndvi_range, f"{what}: NDVI")
    out = mask_outside(nd, (-1.0, 1.0), f"{what}: NDVI", "are not NDVI (undeclared nodata such as -9999?): treated as missing, "
                       "not as observations")  # a warning that counts them (before: a log line in memory, nothing on Dask)
    out.attrs = cf_attrs("NDVI")
    return out


# --------------------------------------------------------------------------- clear mask

_FRACTIONAL_SCL = (
    "SCL is a class band (scene classification) and must not be aggregated: a temporal median or mean of it (openEO "
    "aggregate_temporal_period or resample_cube_temporal over a cube holding SCL) mixes classes, so these values are "
    "treated as not clear (and stored as 0, no class, in SCL), and the integer values of such an aggregate can still "
    "hide clouds (the median of 4, 4, 9 is 4). Mask the clouds before aggregating (mask the reflectances with SCL, "
    "then aggregate them), or aggregate SCL with a mode (its most frequent class), not a median or mean"
)


def _warn_fractional_scl(clear: xr.DataArray, fractional: xr.DataArray, raw: xr.DataArray, what: str) -> xr.DataArray:
    """``clear`` unchanged, with a warning when SCL holds non-integer values (an aggregated class band).

    In memory: now, once, with the count and share of such pixel-dates.
    Dask: each chunk, as computed, warns with one fixed message (so it is
    shown once); open_s2 computes nothing for it.
    """
    if fractional.chunks is None:
        n = int(fractional.sum())
        if n:
            valid = int(raw.notnull().sum()) if raw.dtype.kind == "f" else raw.size
            example = float(raw.values[np.asarray(fractional.values)][0])
            warn_user(f"{what}: SCL holds non-integer values on {n} of {valid} valid pixel-dates ({100 * n / max(valid, 1):.1f} %, "
                      f"e.g. {example:g}). {_FRACTIONAL_SCL}")
        return clear
    msg = f"{what}: SCL holds non-integer values (Dask input, judged per chunk as computed). {_FRACTIONAL_SCL}"

    def _block(c: np.ndarray, f: np.ndarray) -> np.ndarray:
        if f.any():
            warn_user(msg)
        return c

    out = xr.apply_ufunc(_block, clear, fractional.transpose(*clear.dims), dask="parallelized", output_dtypes=[clear.dtype],
                         keep_attrs=True)
    out.attrs = clear.attrs
    return out


#: The cloud-mask files of the products recognised by their names, for the warning when none was given.
_PRODUCT_MASKS = {"FORCE L2": "give each date's *_QAI.tif (quality bits, read as the cloud mask) with its *_BOA.tif",
                  "THEIA/MAJA L2A": "give each date's MASKS/*_CLM_R1.tif and *_MG2_R1.tif, or the product's folder",
                  "HLS": "give each granule's .Fmask.tif, or the granule's folder",
                  "ESA SAFE L2A": "give each granule's *_SCL_20m.jp2, or the .SAFE folder"}


def _product_mask_hint(ds: xr.Dataset) -> str:
    """For a product recognised by its file names (:mod:`.products`), the mask file it ships: ``"; FORCE L2: give ..."``."""
    names = {str(ds[v].attrs.get(PRODUCT_ATTR, "")) for v in ds.data_vars}
    hints = sorted({f"{p}: {h}" for n in names for p, h in _PRODUCT_MASKS.items() if n.startswith(p)})
    return "; " + "; ".join(hints) if hints else ""


def _s2_add_clear(
    out: xr.Dataset, ds: xr.Dataset, have: set[str], clear_classes: Iterable[int], what: str
) -> tuple[xr.Dataset, str, xr.DataArray | None]:
    """Add ``clear`` (and ``SCL``) to ``out``: from SCL, else a cloud mask band, else valid NDVI.

    Returns the Dataset, a description of where the mask came from, and the
    cloud mask's clear pixel-dates whatever the NDVI (None without a cloud
    mask).
    """
    scl = band_for("scl")
    if scl in have:
        scl_f = _decode(ds[scl])
        fractional = None
        if np.issubdtype(scl_f.dtype, np.floating):
            fractional = scl_f.notnull() & (scl_f != np.floor(scl_f))
            scl_f = scl_f.where(~fractional)  # no class: not clear, and 0 in the SCL kept (4.5 was cast to class 4)
        cloud = mask_from_scl(scl_f, clear_classes)
        out["clear"] = cloud & out["NDVI"].notnull()
        if fractional is not None:
            out["clear"] = _warn_fractional_scl(out["clear"], fractional, ds[scl], what)
        out["SCL"] = scl_f.fillna(0).astype(np.uint8) if np.issubdtype(scl_f.dtype, np.floating) else scl_f.astype(np.uint8)
        out["SCL"].attrs = cf_attrs("SCL")
        return out, f"SCL classes {sorted(int(c) for c in clear_classes)}", cloud
    found = clear_from_cloud_band(ds, have, what, clear_classes)
    if found is not None:
        clear, source = found
        out["clear"] = clear & out["NDVI"].notnull()
        out["clear"].attrs = clear.attrs
        return out, source, clear
    if {band_for("red"), band_for("nir")} <= have:  # NDVI made here from reflectance: every cloud counts as a view
        known = [b for role in CLOUD_BAND_ROLES for b in bands_for(role)]
        warn_user(f"{what}: no SCL or cloud mask band (expected SCL, or one of {known}): every valid "
                  "reflectance counts as a clear view, clouds and shadows included (an openEO GFMap tile of 83 % cloudy "
                  "pixel-dates: mean NDVI 0.22 instead of 0.53); add the scene classification band, or mask the clouds first"
                  + _product_mask_hint(ds))
    else:  # an NDVI band: such products are mostly masked already
        logger.warning("%s: no SCL or cloud mask band; every valid NDVI counts as clear", what)
    out["clear"] = out["NDVI"].notnull()
    out["clear"].attrs = cf_attrs("clear", source="valid NDVI (no cloud information)")
    return out, "none (valid NDVI)", None
