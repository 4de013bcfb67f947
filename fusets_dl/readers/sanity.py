"""Sanity checks on values: units that contradict a declaration, NDVI x 10000, reflectance scaled twice or not at all.

Each check looks at a handful of values and raises :class:`EncodingError`
naming what was expected and what was found. :func:`checked` runs a check on
a small strided sample of in-memory data at once, and on Dask data per chunk
as the chunk is computed (a guard in the graph): opening never computes Dask
data for these checks, and no chunk is read twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import xarray as xr

from .._warn import warn_user
from ..errors import EncodingError
from .encoding import LINEAR_MEDIAN_MAX, detect_backscatter_units, not_power_hint
from .normalise import _sample

__all__ = ["DB_RANGE", "check_backscatter_units", "check_compressed_level", "check_db_range", "check_ndvi_range", "check_reflectance",
           "checked", "mask_exact_zeros", "mask_outside"]

#: Fewest finite values a check needs before it concludes anything (fewer: the check passes).
MIN_VALUES = 16
# Median reflectance outside these bounds cannot be 0..1 surface reflectance.
_REFL_MEDIAN_MAX = 1.5
_REFL_MEDIAN_MIN = 1e-3
# Share of NDVI values outside [-1, 1] that is an encoding problem, not noise.
_NDVI_OUTSIDE_MAX = 0.5
# Fewer other values than this beside the nodata of a sample or chunk say nothing of a scale (a -9999 border chunk).
_NDVI_JUDGED_MIN = 4
#: Backscatter in dB outside these bounds is not backscatter: 1e-10 .. 1e6 in linear power (water and radar
#: shadow reach about -40 dB, a corner reflector +30). Values beyond are an unapplied scale (dB x 100, x 10000)
#: or a nodata value nobody declared (-9999, netCDF's default fill 9.97e36).
DB_RANGE = (-100.0, 60.0)
# Share of backscatter values outside DB_RANGE (of varied values) that is an encoding problem, not bad pixels to mask.
_DB_OUTSIDE_MAX = 0.5

Check = Callable[[np.ndarray, str], None]


def _finite(values: np.ndarray) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    return v[np.isfinite(v)]


def check_backscatter_units(values: np.ndarray, what: str, declared: str) -> None:
    """Refuse backscatter whose values contradict the declared units.

    Parameters
    ----------
    values : numpy.ndarray
        Backscatter values as declared (NaN for nodata).
    what : str
        The variable, for the message.
    declared : {"dB", "linear"}
        The declared units.

    Raises
    ------
    EncodingError
        When there are at least :data:`MIN_VALUES` finite values and they
        look like the other units (linear power declared as dB, or the
        reverse), with the median and share of negative values found; or
        declared dB with most values outside -100 .. +60 dB
        (:func:`check_db_range`); declared linear with a median above
        :data:`~.encoding.LINEAR_MEDIAN_MAX` (+5 dB: a 0-255 display
        stretch, counts), naming what the values probably are.
    """
    v = _finite(values)
    if v.size >= MIN_VALUES and declared == "dB" and float(np.median(v)) > _DB_MEDIAN_MAX:
        # backscatter in dB is about -35..+5 (a corner reflector +20): a median above that is counts (openEO's uint16
        # compressed dB, DN) or amplitude, whatever the detection below concludes
        raise EncodingError(
            f"{what}: declared units='dB' but the median is {np.median(v):.4g} (maximum {v.max():.4g}); expected dB: about "
            "-35..+5. Integer counts such as openEO's uint16 compressed backscatter are units='compressed'; "
            "linear power or amplitude are units='linear' / 'amplitude'")
    if v.size >= MIN_VALUES and declared == "linear" and float(np.median(v)) > LINEAR_MEDIAN_MAX:
        # linear power of land is below about 3.2 (+5 dB); a median above it reads as dB passing every later range check
        raise EncodingError(
            f"{what}: declared units='linear' but the median is {np.median(v):.4g} (maximum {v.max():.4g}), "
            f"{10 * np.log10(float(np.median(v))):+.1f} dB read as power; expected linear power: median below 1 (0 dB), land below "
            f"about {LINEAR_MEDIAN_MAX:.2f} (+5 dB). These look like {not_power_hint(v)}")
    if declared == "dB":
        check_db_range(v, what)
    if v.size < MIN_VALUES:
        return
    try:
        found = detect_backscatter_units(v)
    except EncodingError:
        return  # nothing conclusive: trust the declaration
    if found != declared:
        raise EncodingError(
            f"{what}: declared units={declared!r} but the values look {found} (median {np.median(v):.4g}, "
            f"{100 * np.mean(v < 0):.0f}% negative); expected "
            f"{'dB: mostly negative, about -35..+5' if declared == 'dB' else 'linear power: non-negative, median below 1'}. "
            "Pass units='auto' to use the detected units, or fix the declaration"
        )


#: Highest median of backscatter declared dB that is taken as dB (a block of bright targets reaches about +10).
_DB_MEDIAN_MAX = 20.0

#: The nodata values of integer exports (int16, uint16) and GEE/openEO tables, left out of the NDVI scale guess.
_INT_FILLS = np.array([-32768.0, 32767.0, 65535.0, -9999.0, -10000.0])


def check_db_range(values: np.ndarray, what: str) -> None:
    """Refuse backscatter declared dB whose values are mostly outside :data:`DB_RANGE` (-100 .. +60 dB), and not one fill value.

    A median test alone passed dB x 10000 stored as integers (median about
    -58,000: "nothing conclusive"). Such values are refused when they are
    more than half of the finite values (of the sample in memory, of each
    chunk on Dask: the share of scaled data is about 100 % in any chunk, so
    the verdict does not depend on the chunking) and take more than two
    distinct values. Fewer, or one repeated value however many (an
    undeclared nodata such as -9999 or 9.97e36), are left to the caller to
    mask with a warning.

    Parameters
    ----------
    values : numpy.ndarray
        Backscatter values declared dB (NaN for nodata; infinities are left out).
    what : str
        The variable, for the message.

    Raises
    ------
    EncodingError
        Naming the share outside, the median and range found, and the likely
        cause (the scale factor whose division gives a dB-like spread, or
        integer counts).
    """
    v = _finite(values)
    if v.size == 0:
        return
    lo, hi = DB_RANGE
    outside = (v < lo) | (v > hi)
    share = float(np.mean(outside))
    if share <= _DB_OUTSIDE_MAX or np.unique(v[outside]).size <= 2:
        return
    median = float(np.median(v))
    spread = float(np.subtract(*np.percentile(v, [75, 25])))  # a scene's dB values spread over about 2-10 dB (IQR)
    fits = [f for f in (10.0, 100.0, 1000.0, 10000.0) if -45 <= median / f <= 10]
    scale = min(fits, key=lambda f: abs(np.log10(spread / f) - np.log10(5.0))) if fits and spread > 0 else None
    if scale is not None and median < 0:
        cause = (f"dB x {scale:g} stored without its scale factor (median / {scale:g} = {median / scale:.3g} dB, interquartile "
                 f"range {spread / scale:.3g} dB): divide by {scale:g} or declare scale_factor={1 / scale:g}")
    elif median > 0:
        cause = "integer counts (openEO's uint16 compressed backscatter is units='compressed'), or values that are not backscatter"
    else:
        cause = "values that are not backscatter in dB (an unapplied scale factor, another quantity)"
    inside = int((~outside).sum())
    raise EncodingError(
        f"{what}: {100 * share:.1f}% of the values declared dB lie outside {lo:g} .. {hi:g} dB (median {median:.6g}, from "
        f"{v.min():.6g} to {v.max():.6g}; {inside} inside); expected backscatter in dB, about -35 .. +5. Likely cause: {cause}")


def check_ndvi_range(values: np.ndarray, what: str) -> None:
    """Refuse an NDVI band whose values are mostly outside [-1, 1], and not one or two fill values.

    NDVI x 10000 (GEE and openEO integer exports) or in percent lies outside
    [-1, 1] almost everywhere, so it is refused when more than half of the
    finite values (of the sample in memory, of each chunk on Dask) lie
    outside, nodata values left out (an integer export's -9999, -32768,
    65535, or values beyond any scaled NDVI, such as netCDF's 9.97e36): the
    verdict does not depend on the chunking. Fewer, nodata however many (a
    border chunk filled with -9999), and samples or chunks with fewer than
    4 other values are left to the caller to mask with a warning. Before, more than 1 % was
    refused: a chunk holding a nodata border failed on Dask where the same
    cube in memory was masked.

    Parameters
    ----------
    values : numpy.ndarray
        NDVI values (NaN for nodata).
    what : str
        The variable, for the message.

    Raises
    ------
    EncodingError
        Naming the share outside and the range found, and the likely cause
        (NDVI x 10000 as GEE and openEO integer exports store it, or reflectance).
    """
    v = _finite(values)
    if v.size == 0:
        return
    fills = np.isin(v, _INT_FILLS) | (np.abs(v) > 10000)  # nodata: an integer export's, or beyond any scaled NDVI (9.97e36)
    rest = v[~fills]
    # judged on the other values: a -9999 border filling a chunk leaves a few (or none) of them, not a scale
    outside = float(np.mean(np.abs(rest) > 1.0)) if rest.size else 0.0
    if rest.size < _NDVI_JUDGED_MIN or outside <= _NDVI_OUTSIDE_MAX:
        return
    peak = float(np.percentile(np.abs(v[~fills]), 99)) if (~fills).any() else np.nan
    cause = (
        "NDVI x 10000 (integer exports), an unapplied scale factor: divide by 10000 or declare scale_factor=1e-4"
        if 100 < peak <= 10000 else "an unapplied scale factor, or reflectance instead of NDVI"
    )
    if fills.any():
        cause += f", with the nodata value {v[fills][0]:g} undeclared (declare it as _FillValue or mask it)"
    raise EncodingError(
        f"{what}: expected NDVI in [-1, 1], found {outside:.0%} of sampled values outside it"
        f"{' (nodata values left out)' if fills.any() else ''} "
        f"(range {v.min():.4g}..{v.max():.4g}); looks like {cause}"
    )


def check_compressed_dn(values: np.ndarray, what: str) -> None:
    """Refuse values read as openEO's compressed backscatter that cannot be its counts.

    The counts are uint16 (1..65533); floats are accepted as counts when they
    lie in 0..65535 with a median above 1.5, fractions included (openEO
    resamples or composites the counts before a UDF sees them).

    Parameters
    ----------
    values : numpy.ndarray
        The stored values (NaN for missing).
    what : str
        The band, for the message.

    Raises
    ------
    EncodingError
        Negative values (dB), a median below 1.5 (linear power) or values
        above 65535 under an openEO compressed band name, or declared
        ``units="compressed"``.
    """
    v = _finite(values)
    if v.size < MIN_VALUES:
        return
    med = float(np.median(v))
    bad = (v < 0) | (v > 65535)
    if bad.mean() > 0.01 or med < 1.5:
        looks = "dB" if med < 0 else "linear power" if med < 1.5 else "another encoding"
        raise EncodingError(
            f"{what}: expected openEO compressed backscatter (counts 1..65533, dB = 20 log10(DN) - 83), found "
            f"range {v.min():.4g}..{v.max():.4g}, median {med:.4g}, {bad.mean():.0%} outside 0..65535: they look like "
            f"{looks}; pass units='dB' or 'linear' (or 'auto')"
        )


#: Lowest median level (dB) of counts read as openEO's compressed backscatter, per band. openEO's counts over land are
#: about 1,400-11,000 (-20 .. -5 dB); calm water reaches about -25 dB in VV and -30 dB in VH, and the noise floor
#: (-25 .. -20 dB) keeps whole scenes above these. Uncalibrated GRD amplitude DN (about 20-1,000) decode to about
#: -57 .. -23 dB, with medians near -36 (VV) and -43 (VH).
COMPRESSED_MIN_MEDIAN_DB = {"VV": -32.0, "VH": -38.0}
#: The counts openEO's compressed encoding keeps for nodata.
_COMPRESSED_FILLS = (0.0, 65534.0, 65535.0)


def check_compressed_level(values: np.ndarray, what: str, band: str) -> None:
    """Refuse counts read as openEO's compressed backscatter whose decoded level cannot be backscatter.

    The counts decode as ``dB = 20 log10(DN) - 83``. A median below
    :data:`COMPRESSED_MIN_MEDIAN_DB` (VV -32 dB, VH -38 dB) is below the
    noise floor of a whole scene: uncalibrated GRD amplitude (SAFE
    measurement TIFFs, Earth Search ``sentinel-1-grd`` renamed ``VV``/``VH``)
    decodes to about -36 dB (VV) and -43 dB (VH) this way, 26 dB too low.

    Parameters
    ----------
    values : numpy.ndarray
        The stored counts (a sample; NaN and the nodata counts 0, 65534 and
        65535 are left out).
    what : str
        The caller and band, for the message.
    band : str
        ``"VV"`` or ``"VH"`` (another name gets the VH floor).

    Raises
    ------
    EncodingError
        Naming the median count, its decoded level, the floor, and what to
        pass.
    """
    v = _finite(values)
    v = v[~np.isin(v, _COMPRESSED_FILLS) & (v > 0)]
    if v.size < MIN_VALUES:
        return
    med = float(np.median(v))
    level = 20.0 * np.log10(med) - 83.0
    floor = COMPRESSED_MIN_MEDIAN_DB.get(band, COMPRESSED_MIN_MEDIAN_DB["VH"])
    if level >= floor:
        return
    raise EncodingError(
        f"{what}: read as openEO's compressed backscatter (uint16 counts, dB = 20 log10(DN) - 83), the median count {med:.0f} "
        f"decodes to {level:.1f} dB; expected a median of at least {floor:g} dB for {band} (openEO's counts over land are about "
        "1,400-11,000, -20 .. -5 dB). Counts of about 20-1,000 are the uncalibrated amplitude of a GRD (SAFE measurement TIFFs, "
        "Earth Search sentinel-1-grd), not backscatter: calibrate them to sigma0/gamma0 first (e.g. Planetary Computer "
        "sentinel-1-rtc, or SNAP's Calibration), or pass units='compressed' if these really are openEO counts (a scene of "
        "calm water), or units='dB'/'linear' for other calibrated values"
    )


def check_reflectance(values: np.ndarray, what: str) -> None:
    """Refuse surface reflectance that is not on the 0..1 scale after scaling.

    Parameters
    ----------
    values : numpy.ndarray
        Reflectance after the reflectance scale (NaN for nodata); values <= 0
        (nodata, offsets) are ignored.
    what : str
        The band and the scale used, for the message.

    Raises
    ------
    EncodingError
        A median above 1.5 (digital numbers read as reflectance: pass
        ``reflectance_scale=1e-4``) or below 0.001 (0..1 reflectance scaled
        again: pass ``reflectance_scale=1``).
    """
    v = _finite(values)
    v = v[v > 0]
    if v.size < MIN_VALUES:
        return
    med = float(np.median(v))
    if med > _REFL_MEDIAN_MAX:
        raise EncodingError(
            f"{what}: expected reflectance in 0..1 after scaling, found median {med:.4g} "
            f"(max {v.max():.4g}): digital numbers (0..10000) read as reflectance; pass reflectance_scale=1e-4 or 'auto'"
        )
    if med < _REFL_MEDIAN_MIN:
        raise EncodingError(
            f"{what}: expected reflectance in 0..1 after scaling, found median {med:.3g} "
            f"(max {v.max():.3g}): 0..1 reflectance scaled again (by 1e-4?); pass reflectance_scale=1 or 'auto'"
        )


# Values of a chunk the guard looks at (a strided subset of larger chunks).
_GUARD_VALUES = 65536


def _guard_block(block: np.ndarray, check: Check, what: str) -> np.ndarray:
    arr = np.asarray(block)
    check(arr.flat[:: max(1, arr.size // _GUARD_VALUES)], what)  # strided through .flat: ravel() copied a non-contiguous chunk
    return block


def checked(da: xr.DataArray, check: Check, what: str) -> xr.DataArray:
    """``da`` with ``check`` applied: now on a sample of in-memory data, per chunk on Dask data.

    Parameters
    ----------
    da : xarray.DataArray
        The values to check.
    check : callable
        ``check(values, what)``, raising :class:`EncodingError` on bad values.
    what : str
        Passed to ``check`` for its message.

    Returns
    -------
    xarray.DataArray
        ``da`` itself (in-memory), or ``da`` whose chunks each pass
        ``check`` when computed (Dask): nothing is computed here.

    Raises
    ------
    EncodingError
        In-memory data that fail ``check``.
    """
    if da.chunks is None:
        check(_sample(da), what)
        return da
    data: Any = da.data.map_blocks(_guard_block, check=check, what=what, dtype=da.dtype)
    return da.copy(data=data)


def mask_outside(da: xr.DataArray, bounds: tuple[float, float], what: str, verdict: str) -> xr.DataArray:
    """``da`` with its values outside ``bounds`` set to NaN and a warning (counted in memory, per chunk on Dask when computed).

    Parameters
    ----------
    da : xarray.DataArray
        Float values (other dtypes are returned as they are).
    bounds : (float, float)
        The values kept, both ends included.
    what : str
        The variable, the start of the warning.
    verdict : str
        What the values outside are taken for, the end of the warning.

    Returns
    -------
    xarray.DataArray
        ``da`` with NaN outside ``bounds``; lazy on Dask input.
    """
    lo, hi = bounds

    def _found(v: np.ndarray, bad: np.ndarray, counted: bool) -> str:
        return (f"{int(bad.sum())} values outside [{lo:g}, {hi:g}] (from {float(v[bad].min()):.6g} to {float(v[bad].max()):.6g})"
                if counted else f"values outside [{lo:g}, {hi:g}] in a chunk")

    return _mask_where(da, lambda v: (v < lo) | (v > hi), _found, what, verdict)  # NaN compares False


def mask_exact_zeros(da: xr.DataArray, what: str, verdict: str) -> xr.DataArray:
    """``da`` with its exact zeros set to NaN and a warning (count and share in memory, per chunk on Dask when computed).

    Parameters
    ----------
    da : xarray.DataArray
        Float values (other dtypes are returned as they are).
    what : str
        The variable, the start of the warning.
    verdict : str
        What the zeros are taken for, the end of the warning.

    Returns
    -------
    xarray.DataArray
        ``da`` with NaN for 0.0; lazy on Dask input, and the same values
        chunked or not.
    """
    def _found(v: np.ndarray, bad: np.ndarray, counted: bool) -> str:
        if not counted:  # one message for every chunk: shown once
            return "exact 0.0 values in a chunk"
        n = int(np.isfinite(v).sum())
        return f"{int(bad.sum())} exact 0.0 values ({100 * int(bad.sum()) / max(n, 1):.1f}% of the {n} valid values)"

    return _mask_where(da, lambda v: v == 0, _found, what, verdict)


def _mask_where(da: xr.DataArray, bad_of: Callable[[np.ndarray], np.ndarray], found: Callable[[np.ndarray, np.ndarray, bool], str],
                what: str, verdict: str) -> xr.DataArray:
    """``da`` with NaN where ``bad_of(values)``; ``found(values, bad, counted)`` words the warning (counted: in memory)."""

    def _block(v: np.ndarray, counted: bool = False) -> np.ndarray:
        bad = bad_of(v)
        if not bad.any():
            return v
        warn_user(f"{what}: {found(v, bad, counted)} {verdict}")  # on Dask one message for every chunk: shown once
        return np.where(bad, np.nan, v).astype(v.dtype, copy=False)

    if da.dtype.kind != "f":
        return da
    if da.chunks is None:
        return da.copy(data=_block(np.asarray(da.values), counted=True))
    return da.copy(data=da.data.map_blocks(_block, dtype=da.dtype))
