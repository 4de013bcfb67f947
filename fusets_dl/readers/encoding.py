"""Radiometric conversions, NDVI and cloud masks.

Every function works on NumPy- or Dask-backed :class:`xarray.DataArray`
objects and stays lazy on Dask input.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import xarray as xr

from ..cf import cf_attrs
from ..errors import EncodingError

__all__ = [
    "DEFAULT_CLEAR_CLASSES",
    "compressed_to_db",
    "db_to_linear",
    "detect_backscatter_units",
    "linear_to_db",
    "mask_from_cloud_band",
    "mask_from_scl",
    "ndvi",
]

#: SCL classes treated as clear by default: 4 vegetation, 5 not vegetated (bare soil).
DEFAULT_CLEAR_CLASSES: tuple[int, ...] = (4, 5)

#: DN values of the openEO uint16 "compressed" backscatter encoding that mean nodata.
COMPRESSED_NODATA: tuple[int, ...] = (0, 65534, 65535)


def db_to_linear(db: xr.DataArray) -> xr.DataArray:
    """Convert backscatter in dB to linear power: ``10 ** (dB / 10)``.

    Parameters
    ----------
    db : xarray.DataArray
        Backscatter in dB.

    Returns
    -------
    xarray.DataArray
        Linear power (attrs ``units="1"``), of the input's float dtype.
    """
    out = 10.0 ** (db / 10.0)
    out.attrs = {**db.attrs, "units": "1"}
    return out.astype(db.dtype) if np.issubdtype(db.dtype, np.floating) else out


def linear_to_db(lin: xr.DataArray) -> xr.DataArray:
    """Convert linear power backscatter to dB: ``10 log10(x)``; x <= 0 gives NaN.

    Parameters
    ----------
    lin : xarray.DataArray
        Backscatter as linear power.

    Returns
    -------
    xarray.DataArray
        Backscatter in dB (attrs ``units="dB"``), of the input's float dtype.
    """
    out = 10.0 * np.log10(lin.where(lin > 0))
    out.attrs = {**lin.attrs, "units": "dB"}
    return out.astype(lin.dtype) if np.issubdtype(lin.dtype, np.floating) else out


def compressed_to_db(dn: xr.DataArray) -> xr.DataArray:
    """Decode the openEO uint16 "compressed" backscatter: ``dB = 20 log10(DN) - 83``.

    DN 0, 65534 and 65535 are nodata and give NaN.

    Parameters
    ----------
    dn : xarray.DataArray
        The stored unsigned integer counts.

    Returns
    -------
    xarray.DataArray
        Backscatter in dB as float32 (attrs ``units="dB"``).
    """
    valid = ~dn.isin(list(COMPRESSED_NODATA))
    dnf = dn.astype(np.float64).where(valid)
    out = (20.0 * np.log10(dnf) - 83.0).astype(np.float32)
    out.attrs = {k: v for k, v in dn.attrs.items() if not k.startswith("_")}
    out.attrs["units"] = "dB"
    return out


#: Largest share of negative values that linear power may hold: thermal-noise removal leaves a few slightly negative
#: values near the noise floor (a low VH, calm water); they are no power, and become NaN when converted to dB.
LINEAR_NEGATIVE_SHARE_MAX = 0.02
#: Most negative such value (linear power): the noise floor of Sentinel-1 IW is about 0.003-0.01 (-25 .. -20 dB), so
#: what noise subtraction leaves below zero is smaller in magnitude than this.
LINEAR_NEGATIVE_MIN = -0.05
#: Share of the negative values one repeated value must take to be named as an undeclared nodata value.
_SENTINEL_SHARE = 0.9


def detect_backscatter_units(sample: np.ndarray, name: str | None = None) -> str:
    """Guess whether backscatter values are in dB or linear power.

    Parameters
    ----------
    sample : numpy.ndarray
        Finite-or-NaN backscatter values (any shape).
    name : str, optional
        The variable as the input names it, for the message.

    Returns
    -------
    str
        ``"dB"`` or ``"linear"``.

    Raises
    ------
    EncodingError
        When the values fit neither (for example all NaN, or raw DN counts);
        when the negative values are mostly one repeated value (-32768,
        -9999: an undeclared nodata), the error names it and its share.

    Notes
    -----
    sigma0 of land in dB lies roughly in [-35, +5] with a negative median;
    linear power lies in (0, ~2] with a median below 0.5. Exact zeros are
    left out (nodata in either: a GEE export writes masked pixels as 0, and
    0 is no power). A negative median is dB; a median between 0 and 1.5 is
    linear power when at most :data:`LINEAR_NEGATIVE_SHARE_MAX` (2 %) of the
    values are negative and none below :data:`LINEAR_NEGATIVE_MIN`: the
    slightly negative values thermal-noise removal leaves (they become NaN
    in dB; :func:`negative_power` counts them for the caller's log).
    """
    v = np.asarray(sample, dtype=np.float64)
    v = v[np.isfinite(v)]
    zeros = int(np.sum(v == 0))
    v = v[v != 0]
    if v.size == 0:
        raise EncodingError(
            "cannot detect backscatter units: expected finite values in the sample, found none "
            f"(all NaN or nodata{f', {zeros} exact zeros' if zeros else ''}); pass units='dB' or units='linear' explicitly"
        )
    med = float(np.median(v))
    neg = v[v < 0]
    neg_frac = neg.size / v.size
    if med < 0 and med > -60:
        return "dB"
    if 0 < med < 1.5 and float(np.max(v)) < 1000 and (
        neg.size == 0 or (neg_frac <= LINEAR_NEGATIVE_SHARE_MAX and float(neg.min()) >= LINEAR_NEGATIVE_MIN)
    ):
        return "linear"
    hint = "Pass units='dB', 'linear' or 'compressed' explicitly"
    if neg.size == 0 and med >= LINEAR_MEDIAN_MAX:  # not power either: say what such values are, never suggest units='linear'
        hint = "These look like " + not_power_hint(v)
    if neg.size:
        values, counts = np.unique(neg, return_counts=True)
        top = int(np.argmax(counts))
        if counts[top] >= _SENTINEL_SHARE * neg.size and counts[top] > 1 and values[top] <= -1:  # not noise: -1, -9999, -32768
            fill = float(values[top])
            hint = (f"{fill:g} is on {100 * counts[top] / v.size:.1f}% of the values: an undeclared nodata value; "
                    f"declare it (ds[{name or 'band'!r}].attrs['nodata'] = {fill:g}) or mask it (ds.where(ds != {fill:g})), then open again")
        elif 0 < med < 1.5 and float(neg.min()) >= LINEAR_NEGATIVE_MIN:
            hint = ("If this is linear power whose thermal-noise removal left many slightly negative values, pass units='linear' "
                    "(they become NaN); otherwise pass units='dB' or 'compressed'")
    raise EncodingError(
        "cannot detect backscatter units: expected dB (median in [-60, 0)) or linear power "
        f"(median in (0, 1.5), at most {100 * LINEAR_NEGATIVE_SHARE_MAX:g}% slightly negative); found median {med:.4g}, "
        f"{100 * neg_frac:.1f}% negative (min {float(v.min()):.4g}), max {float(np.max(v)):.4g}. {hint}"
    )


#: Highest median of backscatter taken for linear power: +5 dB, the top of land backscatter (about -35 .. +5 dB; a block of
#: bright targets); VH lies 5-9 dB lower. Medians above it are counts, stretches or amplitude DN, not power.
LINEAR_MEDIAN_MAX = 10 ** 0.5


def not_power_hint(sample: np.ndarray) -> str:
    """What positive values with a median above :data:`LINEAR_MEDIAN_MAX` probably are, and what to do.

    Parameters
    ----------
    sample : numpy.ndarray
        Backscatter values (NaN for nodata).

    Returns
    -------
    str
        A sentence for an error message: a 0-255 display stretch (whole
        numbers within 0..255: Sentinel Hub ``sampleType`` AUTO or UINT8),
        or counts / amplitude DN otherwise.
    """
    v = np.asarray(sample, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size and float(v.min()) >= 0 and float(v.max()) <= 255 and bool(np.all(v == np.round(v))):
        return ("whole numbers within 0..255: a display stretch, not backscatter (Sentinel Hub / CDSE Process API "
                "sampleType AUTO or UINT8 maps 0..1 linear power onto 0..255; a byte-scaled image); request the data again "
                "with sampleType FLOAT32 (linear power), which the readers detect"
                + (f"; units='linear' would read their median as {10 * np.log10(float(np.median(v))):+.1f} dB"
                   if float(np.median(v)) > 0 else ""))
    return ("positive values far above linear power (median over 1 is above 0 dB, and land is below about +5 dB): integer counts "
            "(openEO's uint16 compressed dB: units='compressed'), uncalibrated GRD amplitude DN (calibrate first), or backscatter "
            "scaled by a factor not declared (declare scale_factor)")


def negative_power(sample: np.ndarray) -> tuple[int, int, float]:
    """The negative values of linear power: their count, the count of finite values, and the smallest.

    Parameters
    ----------
    sample : numpy.ndarray
        Linear power (NaN for nodata).

    Returns
    -------
    (int, int, float)
        Negative values, finite values, and the minimum (0.0 when none is negative).
    """
    v = np.asarray(sample, dtype=np.float64)
    v = v[np.isfinite(v)]
    neg = v[v < 0]
    return int(neg.size), int(v.size), float(neg.min()) if neg.size else 0.0


def ndvi(red: xr.DataArray, nir: xr.DataArray) -> xr.DataArray:
    """NDVI ``(NIR - red) / (NIR + red)`` as float32, NaN where undefined.

    Reflectances must already be scaled (0..1 range); NaN propagates, and a
    zero or negative sum gives NaN. Values are clipped to [-1, 1].

    Parameters
    ----------
    red, nir : xarray.DataArray
        Red (B04) and near-infrared (B08) reflectance.

    Returns
    -------
    xarray.DataArray
        ``NDVI`` (float32) with CF attrs.
    """
    r = red.astype(np.float32)
    n = nir.astype(np.float32)
    s = n + r
    out = ((n - r) / s.where(s > 0)).clip(-1.0, 1.0).astype(np.float32)
    out.attrs = cf_attrs("NDVI")
    out.name = "NDVI"
    return out


def mask_from_scl(scl: xr.DataArray, clear_classes: Iterable[int] = DEFAULT_CLEAR_CLASSES) -> xr.DataArray:
    """Boolean clear mask from a Sentinel-2 scene classification layer.

    Parameters
    ----------
    scl : xarray.DataArray
        SCL codes (integer or float with NaN for nodata).
    clear_classes : iterable of int
        Classes counted as clear (default 4 vegetation and 5 bare soil).

    Returns
    -------
    xarray.DataArray
        Boolean ``clear``, True where the class is one of ``clear_classes``.

    Raises
    ------
    EncodingError
        When ``clear_classes`` is empty.
    """
    classes = [int(c) for c in clear_classes]
    if not classes:
        raise EncodingError("clear_classes is empty: expected at least one SCL class, e.g. (4, 5)")
    out = scl.isin(classes)
    out.attrs = cf_attrs("clear", clear_scl_classes=classes)
    out.name = "clear"
    return out


def mask_from_cloud_band(cloud: xr.DataArray) -> xr.DataArray:
    """Clear mask from a cloud mask band where 1/True means cloud.

    NaN or 0 count as not cloudy (the openEO ``CLM`` band stores 1 and NaN).

    Parameters
    ----------
    cloud : xarray.DataArray
        The cloud mask band.

    Returns
    -------
    xarray.DataArray
        Boolean ``clear``, False where the band is positive.
    """
    out = ~(cloud.fillna(0) > 0)
    out.attrs = cf_attrs("clear", source="cloud mask band (1 = cloud)")
    out.name = "clear"
    return out


