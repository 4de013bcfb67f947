"""Layover and shadow masks of Sentinel-1 inputs, applied to the backscatter they belong to.

Terrain hides some pixels from a side-looking radar (shadow: no return)
and folds others onto each other (layover: returns of several slopes in one
pixel). Providers flag them; :func:`~fusets_dl.readers.radar.open_s1` sets
VV/VH to missing there (``layover_shadow="mask"``, the default), lazily on
Dask, or keeps the provider's values (``layover_shadow="keep"``). The masks
read:

=====================================  ==============================================  =================================
mask                                   encoding (provider's documentation)             flagged
=====================================  ==============================================  =================================
OPERA RTC-S1 ``<burst>_mask.tif``      0 valid, 1 shadow, 2 layover, 3 both,           1, 2, 3
(band :data:`~.products.OPERA_MASK_    255 no data (ASF's OPERA RTC-S1 product
BAND`)                                 guide, "Validity Mask")
ASF HyP3 RTC ``<scene>_ls_map.tif``    a sum of bits: 1 tested, 2 look angle < slope,  bit 4 or bit 16 set
(band :data:`~.products.HYP3_LS_BAND`) 4 layover, 8 look angle < opposite slope,
                                       16 shadow (HyP3 RTC README, "Layover-shadow
                                       mask"; 0 not tested)
a ``mask`` band beside VV/VH, any      1 valid, 0 invalid (layover, shadow), null no   below 1 (as the openEO UDF reads
case (openEO ``sar_backscatter(mask    data                                            ``sar_backscatter``'s ``mask``)
=True)`` exported; a Google Earth
Engine export's ``MASK``)
=====================================  ==============================================  =================================

A product's mask file is paired with the backscatter files of the same
product (the base name they share, :attr:`~.products.Product.base`) and
applied to each on its own grid, before the files are combined, so a
mask is never a band of the cube. Backscatter files without their mask
keep their values (logged). The ``mask`` band of a multi-band input is
applied after decoding, to VV/VH on the same pixel-dates.

The HyP3 ellipsoid incidence angle map (``_inc_map_ell``, radians) is read
as the incidence angle only when every scene read has one
(:func:`select_angle_maps`); HyP3's ``_inc_map`` is the *local* incidence
angle (to the terrain's normal) and is never read as the incidence angle
(:data:`~.products.HYP3_SIDE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._logging import logger
from .._warn import warn_user
from ..errors import ConfigError, SourceError
from .combine import SNAP_PX
from .conventions import bands_for, canonical_band_name
from .normalise import _decode
from .products import HYP3_LS_BAND, OPERA_MASK_BAND, product_of
from .sources import SOURCE_FILE_ATTR

__all__ = ["LAYOVER_SHADOW", "apply_mask_band", "apply_product_masks", "check_layover_shadow", "select_angle_maps"]

#: The values of ``open_s1(layover_shadow=...)``.
LAYOVER_SHADOW = ("auto", "mask", "keep")

#: The mask bands of products, and the files they come from (for messages).
_MASK_FILES = {OPERA_MASK_BAND: "OPERA RTC-S1 _mask.tif", HYP3_LS_BAND: "ASF HyP3 RTC _ls_map.tif"}
#: OPERA RTC-S1 mask values: shadow, layover, both; 255 is no data.
_OPERA_SHADOW, _OPERA_LAYOVER, _OPERA_BOTH, _OPERA_FILL = 1, 2, 3, 255
#: HyP3 RTC ls_map bits of layover and shadow.
_HYP3_LAYOVER_BIT, _HYP3_SHADOW_BIT = 4, 16
#: Backscatter bands a mask applies to.
_BACKSCATTER = ("VV", "VH", "HH", "HV")
#: Sentinel-2 bands (canonical names) that make a ``mask`` band beside VV/VH ambiguous: a joint S1+S2 file.
_OPTICAL = ("B04", "B08", "NDVI", "SCL")
#: The band of the HyP3 ellipsoid incidence angle map (``_inc_map_ell``).
_ELLIPSOID = "ellipsoid_incidence_angle"


def check_layover_shadow(value: Any, what: str) -> str:
    """``layover_shadow`` checked: ``"auto"``, ``"mask"`` or ``"keep"``.

    Parameters
    ----------
    value : object
        The option as given.
    what : str
        The caller, for the message.

    Returns
    -------
    str
        The option.

    Raises
    ------
    ConfigError
        Anything else, with the value found.
    """
    if value in LAYOVER_SHADOW:
        return str(value)
    raise ConfigError(f"{what}: layover_shadow: expected one of {list(LAYOVER_SHADOW)} ('auto': VV/VH missing where a layover/shadow "
                      "mask flags them, a mask band in a file that also holds S2 bands left alone; 'mask': VV/VH missing wherever a "
                      f"mask says invalid; 'keep': the provider's values), found {value!r}")


def _base(ds: xr.Dataset) -> str | None:
    """The base name of the product the file ``ds`` was opened from (HyP3 scene, OPERA burst acquisition), or None."""
    name = ds.attrs.get(SOURCE_FILE_ATTR)
    prod = product_of(str(name)) if name else None
    return prod.base if prod is not None else None


def _mask_band(ds: xr.Dataset) -> str | None:
    return next((str(v) for v in ds.data_vars if str(v) in _MASK_FILES), None)


def _flags(mask: xr.DataArray, band: str) -> tuple[xr.DataArray, xr.DataArray]:
    """(layover, shadow) as booleans on the mask's grid, from the provider's encoding (no data: neither)."""
    v = mask.astype(np.float64)  # read with mask_and_scale: a declared nodata is NaN already
    if band == OPERA_MASK_BAND:
        return v.isin([_OPERA_LAYOVER, _OPERA_BOTH]), v.isin([_OPERA_SHADOW, _OPERA_BOTH])
    bits = v.where(np.isfinite(v) & (v >= 0) & (v < 256), 0).astype(np.int64)
    return (bits & _HYP3_LAYOVER_BIT) != 0, (bits & _HYP3_SHADOW_BIT) != 0


def _odd_opera_values(mask: xr.DataArray) -> np.ndarray:
    """Values of an in-memory OPERA mask outside its documented 0, 1, 2, 3, 255 (and NaN)."""
    v = np.asarray(mask.values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return np.unique(v[~np.isin(v, [0, _OPERA_SHADOW, _OPERA_LAYOVER, _OPERA_BOTH, _OPERA_FILL])])


def _step(c: np.ndarray) -> float:
    return float(np.median(np.abs(np.diff(c)))) if c.size > 1 else 0.0


def _on_grid(flag: xr.DataArray, target: xr.Dataset) -> xr.DataArray | None:
    """``flag`` (y, x) on ``target``'s pixels (False where the mask has none); None when no pixel of it matches."""
    same = all(np.array_equal(flag[d].values, target[d].values) for d in ("y", "x"))
    if same:
        return flag
    matched = []
    for d in ("y", "x"):
        src = pd.Index(np.asarray(flag[d].values, dtype=np.float64))
        tol = SNAP_PX * max(_step(src.to_numpy()), _step(np.asarray(target[d].values, dtype=np.float64)), 1e-9)
        idx = src.get_indexer(np.asarray(target[d].values, dtype=np.float64), method="nearest", tolerance=tol)
        matched.append((idx >= 0).sum())
        flag = flag.astype(np.float32).reindex({d: target[d].values}, method="nearest", tolerance=tol)
    if min(matched) == 0:
        return None
    return flag.fillna(0) > 0


def _masked(da: xr.DataArray, flag: xr.DataArray) -> xr.DataArray:
    """``da`` missing where ``flag``, its attributes and encoding kept (the scale its product's name declares)."""
    out = da.where(~flag)
    out.attrs, out.encoding = dict(da.attrs), dict(da.encoding)
    return out


def _in_memory(*arrays: xr.DataArray) -> bool:
    return all(a.chunks is None for a in arrays)


def apply_product_masks(opened: Sequence[xr.Dataset], how: str, what: str) -> list[xr.Dataset]:
    """The opened files without the products' mask files, each product's backscatter masked where its mask flags layover/shadow.

    Parameters
    ----------
    opened : sequence of xarray.Dataset
        What :func:`~.sources.open_sources` opened (one Dataset per file,
        its name in ``fdl_source_file``).
    how : {"mask", "keep"}
        ``"mask"``: VV/VH missing on the pixels a mask flags (lazy on Dask);
        ``"keep"``: the masks are dropped unapplied.
    what : str
        The caller, for messages.

    Returns
    -------
    list of xarray.Dataset
        The other files, their backscatter masked (``opened`` itself when no
        mask file is among them). One INFO line counts what was masked (in
        memory; on Dask nothing is read here and the files are counted).

    Raises
    ------
    SourceError
        Mask files only, no backscatter file.
    """
    masks = [d for d in opened if _mask_band(d) is not None]
    if not masks:
        return list(opened)
    rest = [d for d in opened if _mask_band(d) is None]
    kinds = ", ".join(sorted({_MASK_FILES[str(_mask_band(m))] for m in masks}))
    if not rest:
        names = sorted(str(m.attrs.get(SOURCE_FILE_ATTR, "?")) for m in masks)
        raise SourceError(f"{what}: expected backscatter GeoTIFFs (<product>_VV.tif, _VH.tif) with the layover/shadow masks, found "
                          f"mask files only ({kinds}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}); give the "
                          "products' VV/VH files too")
    if how == "keep":
        logger.info("%s: %d layover/shadow mask file(s) (%s) read and not applied (layover_shadow='keep'): the pixels they flag keep "
                    "the provider's values", what, len(masks), kinds)
        return rest
    by_base = {b: m for m in masks if (b := _base(m)) is not None}
    used: set[str] = set()
    unmasked: list[str] = []
    counts = {"files": 0, "hit": 0, "valid": 0, "layover": 0, "shadow": 0, "both": 0, "lazy": 0}
    out = []
    for ds in rest:
        base = _base(ds)
        bands = [str(v) for v in ds.data_vars if canonical_band_name(str(v)) in _BACKSCATTER]
        if not bands:
            out.append(ds)
            continue
        if base not in by_base:
            unmasked.append(str(ds.attrs.get(SOURCE_FILE_ATTR, "?")))
            out.append(ds)
            continue
        ds = _apply_one(ds, by_base[base], bands, counts, base not in used, what)
        used.add(str(base))
        out.append(ds)
    _log_applied(counts, len(used), kinds, unmasked, what)
    unused = [str(m.attrs.get(SOURCE_FILE_ATTR, "?")) for b, m in by_base.items() if b not in used]
    if unused:
        logger.info("%s: %d layover/shadow mask file(s) without their product's VV/VH among the inputs, not used: %s", what,
                    len(unused), ", ".join(sorted(unused)[:4]) + (" ..." if len(unused) > 4 else ""))
    return out


def _apply_one(ds: xr.Dataset, mask_ds: xr.Dataset, bands: list[str], counts: dict[str, int], first: bool, what: str) -> xr.Dataset:
    """One backscatter file masked by its product's mask file; ``counts`` updated (pixels counted once per product)."""
    band = str(_mask_band(mask_ds))
    mask = mask_ds[band]
    mask = mask.isel(time=0, drop=True) if "time" in mask.dims else mask
    if band == OPERA_MASK_BAND and mask.chunks is None and first:
        odd = _odd_opera_values(mask)
        if odd.size:
            warn_user(f"{what}: {mask_ds.attrs.get(SOURCE_FILE_ATTR)}: expected OPERA RTC-S1 mask values 0 (valid), 1 (shadow), "
                      f"2 (layover), 3 (both) or 255 (no data), found {odd[:5].tolist()}: those pixels are not masked")
    layover, shadow = _flags(mask, band)
    flag = _on_grid(layover | shadow, ds)
    if flag is None:
        warn_user(f"{what}: {mask_ds.attrs.get(SOURCE_FILE_ATTR)} is not on the grid of {ds.attrs.get(SOURCE_FILE_ATTR)} (no pixel "
                  "in common): that file's layover/shadow pixels are not masked")
        return ds
    counts["files"] += 1
    lazy = not _in_memory(flag, *(ds[b] for b in bands))
    if lazy:
        counts["lazy"] += 1
    elif first:
        lay, sha = np.asarray(layover.values), np.asarray(shadow.values)
        counts["layover"] += int((lay & ~sha).sum())
        counts["shadow"] += int((sha & ~lay).sum())
        counts["both"] += int((lay & sha).sum())
    out = ds.copy()
    for b in bands:
        if not lazy:
            valid = np.isfinite(np.asarray(ds[b].values, dtype=np.float64))
            counts["valid"] += int(valid.sum())
            counts["hit"] += int((valid & np.asarray(flag.values)).sum())
        out[b] = _masked(ds[b], flag)
    return out


def _log_applied(counts: dict[str, int], products: int, kinds: str, unmasked: list[str], what: str) -> None:
    """The INFO line of :func:`apply_product_masks`: what was masked (counted in memory), which files had no mask."""
    if counts["files"]:
        if counts["lazy"]:
            logger.info("%s: layover/shadow masks of %d product(s) (%s) applied lazily to %d backscatter file(s) (not counted: "
                        "nothing is read before compute); pass layover_shadow='keep' to keep the provider's values there", what,
                        products, kinds, counts["files"])
        else:
            share = 100.0 * counts["hit"] / max(counts["valid"], 1)
            logger.info("%s: layover/shadow masks of %d product(s) (%s): %d of %d valid backscatter values (%.2f%%) set to missing "
                        "on the pixels they flag (layover %d, shadow %d, both %d pixels); pass layover_shadow='keep' to keep the "
                        "provider's values there", what, products, kinds, counts["hit"], counts["valid"], share, counts["layover"],
                        counts["shadow"], counts["both"])
    if unmasked:
        logger.info("%s: %d backscatter file(s) without their product's layover/shadow mask among the inputs, read as they are: %s",
                    what, len(unmasked), ", ".join(sorted(unmasked)[:4]) + (" ..." if len(unmasked) > 4 else ""))


def select_angle_maps(opened: Sequence[xr.Dataset], what: str) -> list[xr.Dataset]:
    """The opened files, without the products' ellipsoid incidence angle maps unless every product read has one.

    The angle maps (HyP3 ``_inc_map_ell``, band ``ellipsoid_incidence_angle``)
    become the per-date incidence angle (:mod:`.angles`); a map for some
    scenes only would leave the others' dates without one, so then none is
    read (a warning).

    Parameters
    ----------
    opened : sequence of xarray.Dataset
        What :func:`~.sources.open_sources` opened.
    what : str
        The caller, for messages.

    Returns
    -------
    list of xarray.Dataset
        ``opened``, less the angle maps when some scene lacks one.
    """
    maps = [d for d in opened if _ELLIPSOID in d.data_vars and _base(d) is not None]
    if not maps:
        return list(opened)
    have = {_base(d) for d in maps}
    scenes = {b for d in opened if (b := _base(d)) is not None and any(canonical_band_name(str(v)) in _BACKSCATTER for v in d.data_vars)}
    lacking = sorted(str(s) for s in scenes - have)
    if not lacking:
        logger.info("%s: incidence angle from the ellipsoid incidence angle maps (_inc_map_ell, radians) of the %d scene(s)", what,
                    len(maps))
        return list(opened)
    warn_user(f"{what}: ellipsoid incidence angle maps (_inc_map_ell) for {len(have)} of {len(scenes | have)} scenes (none for "
              f"{', '.join(lacking[:3])}{' ...' if len(lacking) > 3 else ''}): not read, as the dates of the others would have no "
              "angle; include the map in every scene (HyP3 include_inc_map) or none")
    return [d for d in opened if not any(d is m for m in maps)]


def apply_mask_band(out: xr.Dataset, ds: xr.Dataset, bands: Sequence[str], how: str, what: str,
                    original: str | None = None) -> xr.Dataset:
    """``out``'s backscatter missing where a ``mask`` band of the input (1 valid, 0 invalid) says invalid.

    The band is openEO ``sar_backscatter(mask=True)``'s validity mask, as
    an exported cube holds it, or a Google Earth Engine export's ``MASK``
    (the name in any case: both are the canonical ``MASK``). Values below 1
    are invalid: 0, and fractions a temporal aggregation or a bilinear
    resampling left (warned, in memory); null is no data (kept).

    Parameters
    ----------
    out : xarray.Dataset
        The reader's backscatter in dB, on ``ds``'s ``time``, ``y``, ``x``.
    ds : xarray.Dataset
        The input as merged and normalised (canonical band names).
    bands : sequence of str
        The backscatter bands of ``out`` to mask.
    how : {"auto", "mask", "keep"}
        ``"keep"`` leaves ``out`` as it is (logged); ``"auto"`` too, with a
        warning, when ``ds`` also holds Sentinel-2 bands (a joint export):
        its ``mask`` may then be an S2 clear flag (a Google Earth Engine
        export's), which would drop S1 on every cloudy pixel-date.
    what : str
        The caller, for messages.
    original : str, optional
        The band's name in the input, for messages.

    Returns
    -------
    xarray.Dataset
        ``out`` (lazy on Dask: nothing is computed here).
    """
    name = next((n for n in bands_for("clear_flag") if n in ds.data_vars), None)
    if name is None or not bands:
        return out
    label = f"band {original or name!r} beside {'/'.join(bands)}"
    optical = sorted(b for b in _OPTICAL if b in ds.data_vars)
    if how == "auto" and optical:
        warn_user(f"{what}: {label} and the Sentinel-2 bands {optical}: the band may be openEO sar_backscatter's S1 validity "
                  "mask (1 valid, 0 layover/shadow) or an S2 clear flag (a Google Earth Engine export's, 1 clear), which would "
                  "drop S1 on every cloudy pixel-date; not applied. Pass layover_shadow='mask' if it is the S1 validity mask, "
                  "or drop it")
        return out
    if how == "keep":
        logger.info("%s: %s (a validity mask: 1 valid, 0 invalid) not applied (layover_shadow='keep')", what, label)
        return out
    m = _decode(ds[name]).astype(np.float64)
    invalid = np.isfinite(m) & (m < 1)
    if m.chunks is None:
        v = np.asarray(m.values)
        finite = np.isfinite(v)
        odd = finite & (v != 0) & (v != 1)
        if odd.any():
            warn_user(f"{what}: {label} (a validity mask): expected 1 (valid), 0 (invalid) or null, found {int(odd.sum())} other "
                      f"values (e.g. {[round(float(x), 3) for x in np.unique(v[odd])[:5]]}: a temporal aggregation or a bilinear "
                      "resampling of the mask?); the backscatter there is taken as invalid (below 1)")
    hit, valid = 0, 0
    res = out.copy()
    for b in bands:
        if m.chunks is None and out[b].chunks is None:
            ok = np.isfinite(np.asarray(out[b].values))
            valid += int(ok.sum())
            hit += int((ok & np.asarray(invalid.values)).sum())
        res[b] = out[b].where(~invalid)
        res[b].attrs = dict(out[b].attrs)
    if m.chunks is None and all(out[b].chunks is None for b in bands):
        logger.info("%s: %s read as a validity mask (1 valid, 0 invalid, as openEO's sar_backscatter(mask=True)): %d of %d valid "
                    "backscatter values (%.2f%%) set to missing; pass layover_shadow='keep' to keep them", what, label, hit, valid,
                    100.0 * hit / max(valid, 1))
    else:
        logger.info("%s: %s read as a validity mask (1 valid, 0 invalid, as openEO's sar_backscatter(mask=True)): applied lazily; "
                    "pass layover_shadow='keep' to keep the values", what, label)
    return res
