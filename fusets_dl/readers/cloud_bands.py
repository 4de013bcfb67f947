"""Sentinel-2 clear masks from the cloud bands providers deliver when there is no SCL.

Each provider encodes clouds its own way, and reading one encoding as another
inverts or empties the mask without a trace: a 0-100 probability read as a
0/1 flag left 4 % of the pixel-dates clear instead of 59 %, and a GEE
``mask`` band (1 = clear) read as a cloud flag agreed with the truth on 3 %.
The roles of :data:`~fusets_dl.readers.conventions.BANDS`, in the order they
are used (the first present wins; SCL before all of them):

================  ==========================================================  =====================================
role              bands (any case)                                            clear when
================  ==========================================================  =====================================
maja_clm          ``CLM_R1``, ``CLM_R2`` (THEIA/MAJA cloud bit field, named   0 (any bit: a cloud or cloud shadow
                  so from the product's ``MASKS/*_CLM_R1.tif``)               test); with ``MG2`` also its bits
maja_mg2          ``MG2_R1``, ``MG2_R2`` (THEIA/MAJA geophysical bit field)   bits 1 (clouds), 3 (shadows), 4
                                                                              (topographic shadow), 5 (hidden by
                                                                              the relief), 6 (sun too low), 7
                                                                              (sun tangent), 0 (water), 2 (snow)
                                                                              unset
fmask             ``Fmask`` (NASA HLS v2.0, named so from ``.Fmask.tif``)     bits 1 (cloud), 2 (adjacent to cloud
                                                                              or shadow), 3 (shadow), 4 (snow/ice),
                                                                              5 (water) unset; 255 none
force_qai         ``QAI`` (FORCE Level-2, named so from ``*_QAI.tif``)        bits 0 (no data), 1-2 (cloud state:
                                                                              buffered, opaque, cirrus), 3 (cloud
                                                                              shadow), 8 (subzero), 9 (saturation),
                                                                              4 (snow), 5 (water) unset
cloud_score       ``cs_cdf``, ``cs`` (GEE Cloud Score+, 1 = clear)            >= :data:`CLOUD_SCORE_CLEAR` (0.6)
cloud_mask        ``CLM``, ``CLOUD_MASK``, ``CLOUDMASK``, ``CLOUD``,           0 (1 = cloud; 255 and NaN no data)
                  ``CLOUDS``, ``MSK_CLASSI_OPAQUE`` (GEE from 2024)
cloud_probability ``CLP`` (Sentinel Hub s2cloudless, 0-255), ``CLD`` and      probability <
                  ``MSK_CLDPRB`` (Sen2Cor, %), ``probability`` (GEE           :data:`CLOUD_PROBABILITY_CLOUDY` (0.4)
                  s2cloudless, %)
clear_flag        ``MASK`` (a GEE export's mask: 1 = clear)                   1
qa60              ``QA60`` (bits 10 opaque cloud, 11 cirrus)                  neither bit set
================  ==========================================================  =====================================

Water and snow are not clear under the bit fields, as under SCL's default
clear classes (4 vegetation, 5 bare soil; CESBIO's majamask also drops MG2
snow and water): ``open_s2(clear_classes=...)`` holding SCL's water class 6
or snow class 11 counts the water or snow bits clear too. MAJA's ``CLM``
alone (without ``MG2``) flags neither. ``MG2``'s terrain bits (4
topographic shadow, 5 hidden by the relief, 6 sun too low, 7 sun tangent
to the slope: FRE's slope correction is unreliable or impossible there)
are never clear, as majamask classes them (before, they counted clear: a
topographic shadow's NDVI of 0.25 stood for vegetation of 0.7). FORCE's
``QAI`` is screened as FORCE's default ``SCREEN_QAI`` (no data, the three
cloud states, cloud shadow, snow, subzero, saturation), water as
``clear_classes`` says (before, the QAI file was left out and every valid
pixel of a FORCE product counted clear). The bit fields (CESBIO's MAJA output
format and its majamask tool; the LP DAAC HLS v2.0 user guide, as NASA's
hls-vi masks "cloud-like" Fmask; FORCE's "Level 2 output format" QAI table)
come first: their names are those :mod:`~fusets_dl.readers.products` gives the
product's own mask files. A MAJA ``CLM`` named plain ``CLM`` is not
recognised: its bit values (7, 11, 33) would be read as a probability of a
few percent (every cloud clear); name it ``CLM_R1``, or open the product's
files. A band read as a 0/1 cloud mask whose values are a probability (a small
sample of every date read at open time holds values other than 0, 1 and
255) is read as one, with a warning. Scores and probabilities are checked
against their range on the same kind of sample: a Cloud Score+ or a
probability stored in percent where a 0-1 value is expected is rescaled,
with a warning; values outside any of these ranges are an error. Sentinel
Hub's ``CLM`` comes before ``CLP``: it is ``CLP`` thresholded and dilated,
and where a tile lacks the cloud bands ``CLM`` is 255 (no data) while
``CLP`` is 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._logging import logger
from .._warn import warn_user
from ..cf import cf_attrs
from ..errors import EncodingError
from .conventions import bands_for
from .encoding import DEFAULT_CLEAR_CLASSES, mask_from_cloud_band
from .normalise import _sample_parts, _sample_values

__all__ = ["CLOUD_BAND_ROLES", "CLOUD_PROBABILITY_CLOUDY", "CLOUD_SCORE_CLEAR", "clear_from_cloud_band"]

#: Cloud Score+ at or above which a pixel-date is clear (Google's suggested 0.5-0.65; the point tables' default).
CLOUD_SCORE_CLEAR = 0.6
#: Cloud probability (0-1) at or above which a pixel-date is cloudy (Sentinel Hub's CLM threshold on s2cloudless).
CLOUD_PROBABILITY_CLOUDY = 0.4
#: The cloud-band roles, in the order they are looked for.
CLOUD_BAND_ROLES = ("maja_clm", "maja_mg2", "fmask", "force_qai", "cloud_score", "cloud_mask", "cloud_probability", "clear_flag", "qa60")
#: MAJA MG2 bits of clouds (1: all clouds, the OR of CLM's tests) and cloud shadows (3).
_MG2_CLOUD_BITS = (1 << 1) | (1 << 3)
#: MAJA MG2 bits of the terrain: 4 topographic shadow, 5 hidden by the relief, 6 sun too low and 7 sun tangent to the slope
#: (both: no reliable slope correction of FRE); CESBIO's majamask gives each its own non-valid class.
_MG2_TERRAIN_BITS = (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7)
#: MAJA MG2 bits of water (0) and snow (2): not clear unless ``clear_classes`` holds SCL's water (6) / snow (11) class.
_MG2_WATER, _MG2_SNOW = 1 << 0, 1 << 2
#: HLS v2.0 Fmask bits of cloud (1), adjacent to cloud or shadow (2) and cloud shadow (3); bit 0 (cirrus) is unused in v2.0.
_FMASK_CLOUD_BITS = (1 << 1) | (1 << 2) | (1 << 3)
#: HLS v2.0 Fmask bits of snow/ice (4) and water (5): not clear unless ``clear_classes`` holds SCL's snow (11) / water (6) class.
_FMASK_SNOW, _FMASK_WATER = 1 << 4, 1 << 5
#: FORCE Level-2 QAI bits not clear: 0 no data, 1-2 cloud state (1 buffered, 2 opaque, 3 cirrus), 3 cloud shadow, 8 subzero
#: and 9 saturated reflectance (FORCE's default SCREEN_QAI, less SNOW, left to ``clear_classes``); aerosol (6-7), high
#: sun zenith (10), illumination (11-12), slope (13) and water vapour fill (14) are quality notes FORCE does not screen.
_QAI_NOT_CLEAR_BITS = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 8) | (1 << 9)
#: FORCE QAI bits of snow (4) and water (5): not clear unless ``clear_classes`` holds SCL's snow (11) / water (6) class.
_QAI_SNOW, _QAI_WATER = 1 << 4, 1 << 5
#: The SCL classes of water and snow, whose presence in ``clear_classes`` lets the bit fields count water / snow as clear.
_SCL_WATER, _SCL_SNOW = 6, 11


def _not_clear_bits(clouds: int, water: int, snow: int, clear_classes: Iterable[int]) -> tuple[int, str]:
    """The bits that make a pixel not clear, and the water/snow part in words, following what ``clear_classes`` says for SCL."""
    classes = {int(c) for c in clear_classes}
    bits, said = clouds, []
    if _SCL_WATER not in classes:
        bits |= water
        said.append("water")
    if _SCL_SNOW not in classes:
        bits |= snow
        said.append("snow")
    return bits, ", ".join(said)
#: The full scale of each probability band (the value meaning certainly cloudy); percent where not named.
_PROBABILITY_SCALE = {"CLP": 255.0}
#: QA60 bits: 10 opaque clouds, 11 cirrus.
_QA60_CLOUD_BITS = (1 << 10) | (1 << 11)
#: Processing baseline 04.00 (from 2022-01-25): QA60 is no longer made as before (Google Earth Engine's 2024 images lack it).
_QA60_EMPTY_FROM = pd.Timestamp("2022-01-25")


def _attrs(source: str) -> dict[str, Any]:
    return cf_attrs("clear", source=source)


def _values(band: xr.DataArray) -> np.ndarray:
    """A strided sample of ``band`` on every date (one compute on Dask), finite values only, no-data 255 left out."""
    v = _sample_values(_sample_parts(band, all_dates=True))
    return v[np.isfinite(v) & (v != 255)]


def _scaled(band: xr.DataArray, full: float, name: str, what: str, kind: str) -> float:
    """The full scale of a score or probability band as stored: ``full``, or 100 x a 0-1 one / 0.01 x a percent one, warned."""
    v = _values(band)
    if not v.size:
        return full
    lo, hi = float(v.min()), float(v.max())
    if lo < 0 or hi > max(full, 100.0):  # 255, no data in 8-bit bands, is left out of the sample
        raise EncodingError(f"{what}: band {name}: expected a {kind} from 0 to {full:g} (or 0-1, or 0-100 %), found values from "
                            f"{lo:g} to {hi:g}. Rename the band after what it holds, or give the scene classification (SCL)")
    if full == 1.0 and hi > 1.0:  # a 0-1 score exported in percent
        warn_user(f"{what}: band {name} holds values up to {hi:g}, a {kind} in percent where 0-1 is expected: read as percent")
        return 100.0
    if full == 100.0 and hi <= 1.0 and np.any((v > 0) & (v < 1)):  # a percent probability exported as 0-1
        warn_user(f"{what}: band {name} holds values from {lo:g} to {hi:g}, a {kind} of 0-1 where percent is expected: read as 0-1")
        return 1.0
    return full


def _from_probability(band: xr.DataArray, scale: float, name: str) -> tuple[xr.DataArray, str]:
    cut = CLOUD_PROBABILITY_CLOUDY * scale
    out = band < cut  # NaN (no data) is not clear
    source = f"cloud probability band {name} < {cut:g} (of {scale:g})"
    out.attrs = _attrs(source)
    return out, source


def _binary_or_probability(band: xr.DataArray, name: str, what: str) -> tuple[xr.DataArray, str]:
    """A 0/1 cloud mask, or a probability when a sample of its values says it is one."""
    v = _values(band)
    other = v[(v != 0) & (v != 1)]
    if other.size == 0:
        return mask_from_cloud_band(band), f"cloud band {name}"
    top = float(v.max())
    if top > 100 or float(v.min()) < 0:
        raise EncodingError(
            f"{what}: band {name}: expected a cloud mask (1 = cloud, 0 = clear) or a cloud probability (0-1 or 0-100), "
            f"found values from {float(v.min()):g} to {top:g}. Rename the band after what it holds (CLM for a mask, CLD for a "
            "probability in percent, CLP for Sentinel Hub's 0-255 probability), or give the scene classification (SCL)")
    scale = 1.0 if top <= 1 else 100.0
    clear, source = _from_probability(band, scale, name)
    distinct = np.unique(other)
    bits = ""
    if top > 1 and distinct.size <= 8 and np.all(distinct == np.round(distinct)) and np.any(distinct % 2 == 1):
        # MAJA's CLM: 7, 11, 33 (bit combinations; 0 = clear) read as a few percent: every cloud clear
        bits = (f" Its few integer values ({', '.join(f'{x:g}' for x in distinct[:8])}) look like a bit field, such as THEIA/MAJA's "
                "CLM (0 = clear, any bit a cloud or shadow test), which a probability reading counts clear: if so, name the band "
                "CLM_R1 (read as MAJA's bit field), or open the product's files with open_s2")
    warn_user(f"{what}: band {name} holds a cloud probability, not a 0/1 cloud mask (values such as {float(other[0]):g}; up to "
              f"{top:g}): read as a probability of {'0-1' if scale == 1 else '0-100 %'}, cloudy from {CLOUD_PROBABILITY_CLOUDY * scale:g}. "
              "Reading it as a mask would have counted every pixel-date with any cloud probability as cloudy." + bits)
    return clear, source



def _from_qa60(band: xr.DataArray, name: str, what: str) -> tuple[xr.DataArray, str]:
    filled = band.fillna(0).astype(np.int64)
    out = ((filled & _QA60_CLOUD_BITS) == 0) & band.notnull()
    source = f"{name} bits 10-11 (opaque cloud, cirrus) clear"
    out.attrs = _attrs(source)
    times = pd.DatetimeIndex(band["time"].values)
    if (times >= _QA60_EMPTY_FROM).any():
        warn_user(f"{what}: the clear mask comes from {name}, which products of processing baseline 04.00 and later (from "
                  f"{_QA60_EMPTY_FROM.date()}, {int((times >= _QA60_EMPTY_FROM).sum())} of {times.size} dates here) no longer carry "
                  "as ESA made it: Google Earth Engine's 2024 images have no QA60 (MSK_CLASSI_OPAQUE and MSK_CLASSI_CIRRUS instead), "
                  "and a QA60 of 0 there may hide clouds. Export the scene classification (SCL), Cloud Score+ (cs_cdf) or the cloud "
                  "probability instead")
    return out, source


def _bits_clear(band: xr.DataArray, bits: int, fill: int | None = None) -> xr.DataArray:
    """Where none of ``bits`` is set (NaN and ``fill``: not clear)."""
    filled = band.fillna(0).astype(np.int64)
    out = ((filled & bits) == 0) & band.notnull()
    return out & (band != fill) if fill is not None else out


def _from_maja(ds: xr.Dataset, have: set[str], clm: str | None, what: str,
               clear_classes: Iterable[int] = DEFAULT_CLEAR_CLASSES) -> tuple[xr.DataArray, str]:
    """MAJA's CLM (clear: 0) and, when given, MG2 (clear: bits 1, 3-7 unset, and 0 water / 2 snow as ``clear_classes`` says)."""
    from .normalise import _decode

    mg2 = next((c for c in bands_for("maja_mg2") if c in have), None)
    parts, said = [], []
    if clm is not None:
        band = _decode(ds[clm])
        parts.append((band == 0) & band.notnull())
        said.append(f"{clm} == 0 (MAJA cloud bit field: no cloud or cloud-shadow bit)")
    if mg2 is not None:
        bits, also = _not_clear_bits(_MG2_CLOUD_BITS | _MG2_TERRAIN_BITS, _MG2_WATER, _MG2_SNOW, clear_classes)
        parts.append(_bits_clear(_decode(ds[mg2]), bits))
        said.append(f"{mg2} bits 1 (clouds), 3 (cloud shadows) and 4-7 (topographic shadow, hidden by the relief, sun too low, "
                    "sun tangent)" + (f" and the {also} bits" if also else "") + " unset (MAJA geophysical bit field)")
    elif clm is not None:  # CLM flags clouds and shadows only: snow and water count as clear (no MG2 to tell them)
        said[-1] += "; snow and water not flagged (no MG2 band)"
    clear = parts[0] if len(parts) == 1 else parts[0] & parts[1]
    source = " and ".join(said)
    clear.attrs = _attrs(source)
    return clear, source


def clear_from_cloud_band(ds: xr.Dataset, have: set[str], what: str,
                          clear_classes: Iterable[int] = DEFAULT_CLEAR_CLASSES) -> tuple[xr.DataArray, str] | None:
    """The clear mask from the first cloud band of ``ds`` (no SCL), and where it came from; None without one.

    Parameters
    ----------
    ds : xarray.Dataset
        The S2 input, bands under their canonical names.
    have : set of str
        The canonical bands present.
    what : str
        The caller, for messages.
    clear_classes : iterable of int
        The SCL classes counted as clear (``open_s2``'s): the bit fields
        that flag water and snow (HLS ``Fmask`` bits 5 and 4, MAJA ``MG2``
        bits 0 and 2, FORCE ``QAI`` bits 5 and 4) count them clear only where these hold SCL's water
        (6) or snow (11) class; by default (4, 5) neither is clear, as with
        SCL.

    Returns
    -------
    tuple of (xarray.DataArray, str) or None
        Boolean ``clear`` (no data is not clear, except in a 0/1 cloud mask
        whose NaN means no cloud, as the openEO ``CLM`` band stores it) and
        a description of the rule, or None when no cloud band is present.

    Raises
    ------
    EncodingError
        A band read as a cloud mask whose values are neither a mask nor a
        probability.
    """
    from .normalise import _decode

    for role in CLOUD_BAND_ROLES:
        name = next((c for c in bands_for(role) if c in have), None)
        if name is None:
            continue
        if role == "clear_flag" and have & {"VV", "VH"}:
            # beside backscatter (an openEO merge_cubes of S2 and sar_backscatter(mask=True), exported and opened with
            # open_s2) a band named mask is the S1 validity mask (1 = valid backscatter), not a clear flag: as one, it
            # dropped the S2 views of days without S1 and counted the cloudy views of S1 days clear
            warn_user(f"{what}: band {name} sits beside {sorted(have & {'VV', 'VH'})}: read as sar_backscatter's S1 validity "
                      "mask, not as a clear flag (1 = clear); give the S2 bands with SCL or a cloud band for a clear mask")
            continue
        if role in ("maja_clm", "maja_mg2"):
            clear, source = _from_maja(ds, have, name if role == "maja_clm" else None, what, clear_classes)
            logger.info("%s: clear mask from %s", what, source)
            return clear, source
        band = _decode(ds[name])
        if role == "fmask":
            bits, also = _not_clear_bits(_FMASK_CLOUD_BITS, _FMASK_WATER, _FMASK_SNOW, clear_classes)
            clear = _bits_clear(band, bits, fill=255)
            source = (f"HLS {name} bits 1-3 (cloud, adjacent to cloud or shadow, cloud shadow)"
                      + (f" and the {also} bits" if also else "") + " unset")
            clear.attrs = _attrs(source)
        elif role == "force_qai":
            bits, also = _not_clear_bits(_QAI_NOT_CLEAR_BITS, _QAI_WATER, _QAI_SNOW, clear_classes)
            clear = _bits_clear(band, bits)
            source = (f"FORCE {name} bits 0 (no data), 1-2 (cloud state: buffered, opaque or cirrus), 3 (cloud shadow), "
                      "8 (subzero), 9 (saturation)" + (f" and the {also} bits" if also else "") + " unset")
            clear.attrs = _attrs(source)
        elif role == "cloud_score":
            cut = CLOUD_SCORE_CLEAR * _scaled(band, 1.0, name, what, "Cloud Score+ (1 = clear)")
            clear = band >= cut
            source = f"Cloud Score+ band {name} >= {cut:g}"
            clear.attrs = _attrs(source)
        elif role == "cloud_probability":
            full = _PROBABILITY_SCALE.get(name, 100.0)
            clear, source = _from_probability(band, _scaled(band, full, name, what, "cloud probability"), name)
        elif role == "cloud_mask":
            clear, source = _binary_or_probability(band, name, what)
        elif role == "clear_flag":
            clear = band == 1
            source = f"clear flag band {name} == 1 (a GEE export's mask)"
            clear.attrs = _attrs(source)
        else:
            clear, source = _from_qa60(band, name, what)
        logger.info("%s: clear mask from %s", what, source)
        return clear, source
    return None
