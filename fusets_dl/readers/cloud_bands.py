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
cloud_score       ``cs_cdf``, ``cs`` (GEE Cloud Score+, 1 = clear)            >= :data:`CLOUD_SCORE_CLEAR` (0.6)
cloud_probability ``CLP`` (Sentinel Hub s2cloudless, 0-255), ``CLD`` and      probability <
                  ``MSK_CLDPRB`` (Sen2Cor, %), ``probability`` (GEE           :data:`CLOUD_PROBABILITY_CLOUDY` (0.4)
                  s2cloudless, %)
cloud_mask        ``CLM``, ``CLOUD_MASK``, ``CLOUDMASK``, ``CLOUD``,           0 (1 = cloud; 255 and NaN no data)
                  ``CLOUDS``
clear_flag        ``MASK`` (a GEE export's mask: 1 = clear)                   1
qa60              ``QA60`` (bits 10 opaque cloud, 11 cirrus)                  neither bit set
================  ==========================================================  =====================================

A band read as a 0/1 cloud mask whose values are a probability (a small
sample read at open time holds values other than 0, 1 and 255) is read as
one, with a warning.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._logging import logger
from .._warn import warn_user
from ..cf import cf_attrs
from ..errors import EncodingError
from .conventions import bands_for
from .encoding import mask_from_cloud_band
from .normalise import _sample

__all__ = ["CLOUD_BAND_ROLES", "CLOUD_PROBABILITY_CLOUDY", "CLOUD_SCORE_CLEAR", "clear_from_cloud_band"]

#: Cloud Score+ at or above which a pixel-date is clear (Google's suggested 0.5-0.65; the point tables' default).
CLOUD_SCORE_CLEAR = 0.6
#: Cloud probability (0-1) at or above which a pixel-date is cloudy (Sentinel Hub's CLM threshold on s2cloudless).
CLOUD_PROBABILITY_CLOUDY = 0.4
#: The cloud-band roles, in the order they are looked for.
CLOUD_BAND_ROLES = ("cloud_score", "cloud_probability", "cloud_mask", "clear_flag", "qa60")
#: The full scale of each probability band (the value meaning certainly cloudy); percent where not named.
_PROBABILITY_SCALE = {"CLP": 255.0}
#: QA60 bits: 10 opaque clouds, 11 cirrus.
_QA60_CLOUD_BITS = (1 << 10) | (1 << 11)
#: Cut-off after which Google Earth Engine's QA60 band is empty (processing baseline 04.00) until it was filled again.
_QA60_EMPTY_FROM = pd.Timestamp("2022-01-25")


def _attrs(source: str) -> dict[str, Any]:
    return cf_attrs("clear", source=source)


def _from_probability(band: xr.DataArray, scale: float, name: str) -> tuple[xr.DataArray, str]:
    cut = CLOUD_PROBABILITY_CLOUDY * scale
    out = band < cut  # NaN (no data) is not clear
    source = f"cloud probability band {name} < {cut:g} (of {scale:g})"
    out.attrs = _attrs(source)
    return out, source


def _binary_or_probability(band: xr.DataArray, name: str, what: str) -> tuple[xr.DataArray, str]:
    """A 0/1 cloud mask, or a probability when a sample of its values says it is one."""
    v = _sample(band)
    v = v[np.isfinite(v) & (v != 255)]
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
    warn_user(f"{what}: band {name} holds a cloud probability, not a 0/1 cloud mask (values such as {float(other[0]):g}; up to "
              f"{top:g}): read as a probability of {'0-1' if scale == 1 else '0-100 %'}, cloudy from {CLOUD_PROBABILITY_CLOUDY * scale:g}. "
              "Reading it as a mask would have counted every pixel-date with any cloud probability as cloudy")
    return clear, source


def _from_qa60(band: xr.DataArray, name: str, what: str) -> tuple[xr.DataArray, str]:
    filled = band.fillna(0).astype(np.int64)
    out = ((filled & _QA60_CLOUD_BITS) == 0) & band.notnull()
    source = f"{name} bits 10-11 (opaque cloud, cirrus) clear"
    out.attrs = _attrs(source)
    times = pd.DatetimeIndex(band["time"].values)
    if (times >= _QA60_EMPTY_FROM).any():
        warn_user(f"{what}: the clear mask comes from {name}, which Google Earth Engine left empty (0: no cloud) on Sentinel-2 "
                  f"products of processing baseline 04.00 and later (from {_QA60_EMPTY_FROM.date()}, "
                  f"{int((times >= _QA60_EMPTY_FROM).sum())} of {times.size} dates here): clouds on those dates count as clear. "
                  "Export the scene classification (SCL), Cloud Score+ (cs_cdf) or the cloud probability instead")
    return out, source


def clear_from_cloud_band(ds: xr.Dataset, have: set[str], what: str) -> tuple[xr.DataArray, str] | None:
    """The clear mask from the first cloud band of ``ds`` (no SCL), and where it came from; None without one.

    Parameters
    ----------
    ds : xarray.Dataset
        The S2 input, bands under their canonical names.
    have : set of str
        The canonical bands present.
    what : str
        The caller, for messages.

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
        band = _decode(ds[name])
        if role == "cloud_score":
            clear = band >= CLOUD_SCORE_CLEAR
            source = f"Cloud Score+ band {name} >= {CLOUD_SCORE_CLEAR:g}"
            clear.attrs = _attrs(source)
        elif role == "cloud_probability":
            clear, source = _from_probability(band, _PROBABILITY_SCALE.get(name, 100.0), name)
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
