"""Sentinel-1 reader: backscatter as ``VV``/``VH`` float32 in dB on ``(time, y, x)``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from typing import Any, Literal

import numpy as np
import xarray as xr
from pyproj import CRS

from .._logging import logger
from .._warn import warn_user
from ..cf import cf_attrs
from ..errors import ConfigError, EncodingError, GridMismatchError, MissingVariableError
from .angles import s1_incidence_angle
from .combine import (
    check_same_crs,
    concat_dates,
    join_band_dates,
    join_bands_onto_union,
    onto_same_grid,
    part_names,
    raw_dtype,
)
from .conventions import Convention, band_for, bands_for, convention_of
from .encoding import (
    compressed_to_db,
    detect_backscatter_units,
    linear_to_db,
    negative_power,
    not_power_hint,
)
from .normalise import (
    SLICE_WINDOW,
    _decode,
    _finish,
    _merge_passes,
    _normalise_time,
    _orbit_from,
    _prepare,
    _sample,
    _subset,
    _whole_series,
    check_slice_window,
    warn_before_launch,
)
from .products import PRODUCT_ATTR, SCALE_ATTR, coefficient_in
from .s1_masks import apply_mask_band, apply_product_masks, check_layover_shadow, select_angle_maps
from .sanity import (
    check_backscatter_units,
    check_compressed_dn,
    check_compressed_level,
    checked,
    mask_exact_zeros,
)
from .sources import Source, describe, open_sources
from .terrain import open_terrain

__all__ = ["check_backscatter_option", "open_s1"]

Units = Literal["auto", "dB", "linear", "compressed", "amplitude"]


def open_s1(
    source: Source,
    *,
    units: Units = "auto",
    chunks: Any = None,
    orbit: Any = None,
    time_range: tuple[Any, Any] | None = None,
    bbox: Sequence[float] | None = None,
    bbox_crs: Any = None,
    duplicates: Literal["raise", "first", "mean"] = "raise",
    backscatter: Literal["sigma0", "gamma0", "beta0"] | None = None,
    slice_window: Any = SLICE_WINDOW,
    bands: Sequence[str] | None = None,
    layover_shadow: Literal["auto", "mask", "keep"] = "auto",
) -> xr.Dataset:
    """Open Sentinel-1 backscatter as ``VV``/``VH`` float32 in dB on ``(time, y, x)``.

    Parameters
    ----------
    source : path, Dataset or list of them
        netCDF, Zarr store, GeoTIFF file, folder of single-date GeoTIFFs
        (date in the file name, bands named by their descriptions), a list of
        these, or an in-memory :class:`xarray.Dataset`.
    units : {"auto", "dB", "linear", "compressed", "amplitude"}
        Encoding of the backscatter after CF decoding. ``"compressed"`` is the
        openEO uint16 encoding ``dB = 20 log10(DN) - 83`` (DN 65534/65535
        nodata); ``"amplitude"`` is calibrated amplitude, the square root of
        linear power (``dB = 20 log10(a)``; e.g. ASF HyP3 RTC products made
        with ``scale="amplitude"``); ``"auto"`` recognises the compressed
        encoding from an integer dtype without scale factor and otherwise
        tells dB from linear power on a small sample (amplitude is not told
        from power; values that look like it give a warning). A GeoTIFF
        whose file name declares its scale (ASF HyP3 RTC ``..._G_gpuned_``:
        ``p`` power, ``d`` dB, ``a`` amplitude; OPERA RTC-S1: power) is read
        in that scale under ``"auto"`` (values that clearly say dB where the
        name says power, or the reverse, are read as the values say, with a
        warning); declared units other than the name's are used, with a
        warning.
    chunks : dict, "auto" or None
        Dask chunks; ``time`` defaults to a single chunk. None gives NumPy.
    orbit : scalar or sequence, optional
        Orbit label(s) for the ``orbit`` coordinate. By default taken from an
        ``orbit``/``relative_orbit`` variable, or ASCENDING/DESCENDING in the
        file name.
    time_range : (start, end), optional
        Dates to keep (inclusive).
    bbox : (minx, miny, maxx, maxy), optional
        Box to keep, in ``bbox_crs``: every pixel it touches is kept.
    bbox_crs : CRS, optional
        The CRS of ``bbox``: anything :meth:`pyproj.CRS.from_user_input`
        reads (``"EPSG:4326"``, ``4326``, a CRS object); a geographic one
        takes ``(min lon, min lat, max lon, max lat)``. None (default): the
        data's CRS. A box in another CRS is carried into the data's with
        its edges densified, and the pixels its envelope touches are kept,
        so the whole area asked for is covered (a lon/lat box is a slightly
        larger box in UTM). Refused: data without a CRS, and a box across
        the antimeridian (split it into two).
    duplicates : {"raise", "first", "mean"}
        What to do with duplicated timestamps (two tiles of one acquisition
        loaded without grouping): refuse them, keep each pixel's first valid
        value, or average the valid values. The mean is taken on the values
        as stored (dB, or openEO's compressed counts), before decoding: where
        tiles of one acquisition overlap they hold the same values, so this
        equals the mean in linear power there; for two different
        acquisitions on one timestamp use ``"first"`` (a dB mean of -5 and
        -15 dB is -10 dB, the power mean -7.6 dB). Equal timestamps in two
        inputs (files) are handled the same way.
    backscatter : {"sigma0", "gamma0", "beta0"}, optional
        The backscatter coefficient, recorded in the ``backscatter``
        attribute of ``VV``/``VH`` and of the Dataset. By default taken from
        the source when it says so: band names (``S1-SIGMA0-VV``,
        ``Sigma0_VV``, ``Gamma0_VV``), band attributes (``backscatter``,
        ``long_name``, ``standard_name``, ``description`` naming sigma0,
        gamma0 or beta0) or Dataset attributes (``backscatter``;
        ``sar:product_type`` or ``collection`` naming RTC, Planetary
        Computer's terrain-corrected gamma0) or GeoTIFF file names (ASF
        HyP3 RTC ``..._RTC30_G_gpuned_...``: ``g`` gamma0, ``s`` sigma0;
        OPERA ``OPERA_L2_RTC-S1_...``: gamma0; ``Sigma0``/``Gamma0`` in a
        SNAP file name); left out when unknown. Declared, it wins over what
        the source says, with a warning where they differ.
    slice_window : str, pandas.Timedelta or None
        Timestamps closer than this (default ``"10min"``, at most 60
        minutes) are slices of one pass (scenes loaded one by one: stackstac,
        per-scene exports, file lists), each nodata outside its footprint;
        they are merged into one date, stamped with the earliest timestamp,
        each pixel taking the first valid value in time order (logged at INFO
        with the count; a warning where overlapping slices disagree by more
        than 5 % of their value, the first kept). None keeps every timestamp
        as a date. The next pass over a place comes at least one orbit
        (about 99 minutes) later, so passes are never merged. Runs after
        ``duplicates``.
    bands : sequence of str, optional
        Names of the bands of every GeoTIFF read, in order, for files
        without band descriptions: a Sentinel Hub / CDSE Process API
        response holds its evalscript's outputs unnamed (e.g.
        ``bands=["VV", "VH", "dataMask"]``). Used instead of band
        descriptions, with a warning where they differ; ignored, with a
        warning, for inputs that are not GeoTIFF files.
    layover_shadow : {"auto", "mask", "keep"}
        What to do with the pixels a layover/shadow mask among the inputs
        flags (:mod:`~fusets_dl.readers.s1_masks`): an OPERA RTC-S1
        ``_mask.tif`` (1 shadow, 2 layover, 3 both), an ASF HyP3 RTC
        ``_ls_map.tif`` (bits 4 layover, 16 shadow), each applied to its own
        product's VV/VH files, or a ``mask`` band beside VV/VH (any case:
        openEO ``sar_backscatter(mask=True)``, a Google Earth Engine
        export's ``MASK``; 1 valid, 0 invalid). ``"auto"`` (default): VV/VH
        missing there, lazily on Dask, with an INFO line counting them (in
        memory), but a ``mask`` band in an input that also holds Sentinel-2
        bands is left alone, with a warning (it may be an S2 clear flag);
        ``"mask"``: VV/VH missing wherever a mask says invalid;
        ``"keep"``: the provider's values kept. Without a mask among the
        inputs nothing changes.

    Returns
    -------
    xarray.Dataset
        ``VV`` and ``VH`` (float32, attrs ``units="dB"``), the ``orbit``
        coordinate when known, static ``elevation``/``slope``/``aspect`` when
        present, the ``incidence_angle`` coordinate on ``time`` (degrees)
        when present, CRS written with rioxarray. The angle is read from a
        per-date ``incidence_angle``, ``angle`` or ``local_incidence_angle``,
        else from one of them on ``(time, y, x)`` (Google Earth Engine's
        ``angle`` band) as its per-date spatial mean; radians are converted
        (declared ``units="rad"``, or undeclared values all within
        [0, pi/2]), 0 is missing (a fill value), values outside 15-60
        degrees are warned (:func:`~fusets_dl.readers.angles.s1_incidence_angle`).

    Raises
    ------
    MissingVariableError
        When VV or VH is absent.
    EncodingError
        When the values are neither dB nor linear power; an incidence angle
        whose units are neither degrees nor radians, or with values outside
        0-90 degrees.
    """
    what = f"open_s1({describe(source)})"
    check_slice_window(slice_window, what)  # refused before any reading
    check_layover_shadow(layover_shadow, what)
    opened = open_sources(source, chunks, bands)
    # products' layover/shadow masks applied to their own files, then dropped (never a band of the cube)
    opened = apply_product_masks(select_angle_maps(opened, what), layover_shadow, what)
    ds, crs, originals = _s1_merge([_prepare(p, what, duplicates) for p in opened], what, duplicates, part_names(source, opened))
    ds = _merge_passes(ds, slice_window, what, compare=("VV", "VH"))
    read = ds  # as read: unit samples come from its date chunks, not from merged whole series
    ds = _whole_series(ds, chunks, what, time_range)  # merged date chunks decode once, not per date
    bands = _s1_require_bands(ds, what)
    out = xr.Dataset(coords={k: v for k, v in ds.coords.items() if k in ("time", "y", "x")})
    detected = {}
    coefficient = check_backscatter_option(backscatter, what)
    for band in bands:
        conv = convention_of(originals.get(band, band))
        out[band], detected[band] = _s1_to_db(ds[band], band, units, conv, what, original=originals.get(band, band), probe=read[band])
        found = _backscatter_of(ds[band], ds.attrs, conv)
        if coefficient is not None and found is not None and found != coefficient and backscatter is not None:
            warn_user(f"{what}: {band}: declared backscatter={backscatter!r}, but the source says {found} "
                      f"({ds[band].attrs.get(PRODUCT_ATTR, 'its names or attributes')}): recorded as declared")
        coefficient = coefficient or found
    out = apply_mask_band(out, ds, bands, layover_shadow, what, originals.get("MASK"))  # a mask band beside VV/VH: 1 valid
    if units == "auto" and set(detected.values()) == {"linear"}:
        _warn_if_amplitude(out if read is ds else xr.Dataset({b: _s1_to_db(read[b], b, "linear", None, what)[0] for b in bands}), what)
    if {"VV", "VH"} <= set(out.data_vars) and out["VV"].chunks is None and out["VH"].chunks is None:  # in memory (Dask: no read)
        warn_if_pair_implausible(np.asarray(_sample(out["VV"])), np.asarray(_sample(out["VH"])), what)
    out = _s1_add_statics(out, ds, what)
    out.attrs = {"source": describe(source), "sensor": "Sentinel-1", "encoding": ",".join(f"{k}:{v}" for k, v in detected.items())}
    if coefficient is not None:
        out.attrs["backscatter"] = coefficient
        for band in bands:
            out[band].attrs["backscatter"] = coefficient
    out = _orbit_from(out, ds, source if not isinstance(source, (list, tuple)) else source[0], orbit)
    if crs is not None:
        out = out.rio.write_crs(crs)
    out = _subset(out, time_range, bbox, what, bbox_crs=bbox_crs)
    warn_before_launch(out, "Sentinel-1", what)
    logger.info("%s: %d dates, %d x %d pixels, encoding %s", what, out.sizes["time"], out.sizes["y"], out.sizes["x"], out.attrs["encoding"])
    out = _finish(out, crs, chunks, what)
    angle = s1_incidence_angle(ds, out, what)  # after _finish: a per-pixel angle's mean on Dask is not computed there
    return out if angle is None else out.assign_coords(incidence_angle=angle)


def _s1_merge(
    prepared: list[tuple[xr.Dataset, CRS | None, dict[str, str]]], what: str = "open_s1", duplicates: str = "raise",
    names: list[str] | None = None,
) -> tuple[xr.Dataset, CRS | None, dict[str, str]]:
    """One Dataset from the prepared inputs, the first CRS found, and all original names.

    Inputs holding the same bands on other dates (one file per year, per
    month) are concatenated along time; inputs holding other bands (a VV file
    and a VH file) are merged. Either way the CRS and the grid must be the
    same (:mod:`~fusets_dl.readers.combine`: coordinates that differ by float
    rounding, under :data:`~.combine.SNAP_PX` (0.05) pixel, take the first input's); ``names`` name the
    inputs in messages.
    """
    if len(prepared) == 1:
        ds = prepared[0][0]
    else:
        names = names or [f"input {i + 1}" for i in range(len(prepared))]
        check_same_crs(prepared, names, what)
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, p in enumerate(prepared):
            groups.setdefault(tuple(sorted(map(str, p[0].data_vars))), []).append(i)
        parts = [concat_dates([prepared[i][0] for i in g], [names[i] for i in g], [prepared[i][1] for i in g], what, duplicates)
                 for g in groups.values()]
        firsts = [g[0] for g in groups.values()]
        # a group of several files is named as such: its grid is their union extent, not its first file's
        labels = [names[g[0]] if len(g) == 1 else f"the {len(g)} {'/'.join(b)} files ({names[g[0]]} ...)"
                  for b, g in groups.items()]
        parts = join_bands_onto_union(parts, labels, what)  # a VV-only scene among dual-pol scenes: VV and VH on one union
        parts = [parts[0]] + [onto_same_grid(p, parts[0], (lab, labels[0]), (prepared[i][1], prepared[firsts[0]][1]),
                                             what, "holding other bands, to be merged")
                              for p, i, lab in zip(parts[1:], firsts[1:], labels[1:], strict=True)]
        parts = join_band_dates(parts, labels, what)  # that scene's date: VH NaN, with a warning (before: refused)
        try:
            ds = parts[0] if len(parts) == 1 else xr.merge(parts, join="exact", compat="override")
        except ValueError as exc:  # xarray's AlignmentError is a ValueError
            shapes = [f"{names[i]}: {len(p['time'])} dates {str(p['time'].values[0])[:10]}..{str(p['time'].values[-1])[:10]}, "
                      f"bands {sorted(map(str, p.data_vars))}" for p, i in zip(parts, firsts, strict=True)]
            raise GridMismatchError(
                f"{what}: the {len(prepared)} inputs do not combine: expected the same grid (y, x) in every file, and either "
                f"the same bands on other dates (concatenated along time) or other bands on the same dates (merged); "
                f"found {'; '.join(shapes)} ({exc})"
            ) from exc
        ds = _normalise_time(ds.sortby("time"), what, duplicates)  # a date in two files is handled by ``duplicates``
    crs = next((p[1] for p in prepared if p[1] is not None), None)
    originals = {k: v for p in prepared for k, v in p[2].items()}
    return ds, crs, originals


def _s1_require_bands(ds: xr.Dataset, what: str) -> tuple[str, str]:
    """The co- and cross-polarised band names; raise when either is absent."""
    bands = (band_for("vv"), band_for("vh"))
    missing = [b for b in bands if b not in ds.data_vars]
    if missing:
        raise MissingVariableError(
            f"{what}: expected backscatter bands VV and VH (or S1-SIGMA0-VV/VH), missing {missing}; "
            f"found {sorted(map(str, ds.data_vars))}"
        )
    return bands


#: Values read as linear power that look like amplitude instead: a median VH above this (dB) with VV - VH
#: below :data:`AMPLITUDE_MAX_GAP_DB`. Power over land: VH about -25 to -13 dB, 5-9 dB under VV; amplitude
#: read as power halves both (VH about -12 to -6 dB, the gap 2.5-4.5 dB).
AMPLITUDE_MIN_VH_DB = -11.5
AMPLITUDE_MAX_GAP_DB = 4.5


def _warn_if_amplitude(out: xr.Dataset, what: str) -> None:
    """Warn when backscatter detected as linear power reads like amplitude (a small sample, as the detection reads)."""
    if not {"VV", "VH"} <= set(out.data_vars):
        return
    vv, vh = (np.asarray(_sample(out[b]), dtype=np.float64) for b in ("VV", "VH"))
    vv, vh = vv[np.isfinite(vv)], vh[np.isfinite(vh)]
    if vv.size < 10 or vh.size < 10:
        return
    m_vv, m_vh = float(np.median(vv)), float(np.median(vh))
    if m_vh > AMPLITUDE_MIN_VH_DB and m_vv - m_vh < AMPLITUDE_MAX_GAP_DB:
        warn_user(f"{what}: the backscatter was read as linear power, but its medians (VV {m_vv:.1f} dB, VH {m_vh:.1f} dB, "
                  f"{m_vv - m_vh:.1f} dB apart) are what amplitude read as power gives (power over land: VH about -25 to "
                  "-13 dB, 5-9 dB under VV); if these are amplitudes (the square root of power, e.g. ASF HyP3 RTC "
                  "scale='amplitude'), pass units='amplitude'")


#: Share of pixel-dates with VH above VV from which the two bands are taken for swapped (cross-polarised
#: backscatter is 5-9 dB under co-polarised over land; above it only on a few noisy or odd pixels).
SWAPPED_SHARE = 0.5


#: Median VH - VV (dB) beyond which the dB look made with the wrong logarithm. Over land, water and towns the
#: cross-polarisation ratio is about -5 .. -9 dB (every S1 input of ../shared/data: medians -6.5 .. -7.9):
#: 20 log10 of power doubles it, 10 log10 of amplitude halves it.
_RATIO_DOUBLED = -12.0
_RATIO_HALVED = -4.0


def warn_if_pair_implausible(vv: np.ndarray, vh: np.ndarray, what: str) -> bool:
    """Warn when a sample of VV and VH (dB) looks swapped, or made with the wrong logarithm.

    Swapped: VH above VV on most pixel-dates (cross-polarised backscatter
    is 5-9 dB under co-polarised over land). Wrong logarithm: ``20 log10`` of
    power doubles every dB value (VV about -22, the VH - VV ratio about -14)
    and ``10 log10`` of amplitude halves it (VV about -5, the ratio about
    -3.5); both pass the range and unit checks, and the models read them as
    other land covers. Suspicious, possibly real: warnings, the first that
    applies.

    Parameters
    ----------
    vv, vh : numpy.ndarray
        The same pixel-dates of both bands, in dB.
    what : str
        The caller, for the message.

    Returns
    -------
    bool
        Whether it warned.
    """
    ok = np.isfinite(vv) & np.isfinite(vh)
    if ok.sum() < 10:
        return False
    vv, vh = vv[ok], vh[ok]
    share = float(np.mean(vh > vv))
    ratio, level = float(np.median(vh - vv)), float(np.median(vv))
    if share > SWAPPED_SHARE:
        warn_user(f"{what}: VH lies above VV on {share:.0%} of the sampled pixel-dates (median VV {level:.1f} dB, VH "
                  f"{float(np.median(vh)):.1f} dB); cross-polarised backscatter is 5-9 dB under co-polarised over land: the bands "
                  "may be swapped (check the band names or their order)")
        return True
    if ratio < _RATIO_DOUBLED and level < -15.0:
        cause = "twice the usual: dB made as 20 * log10 of power? (10 * log10 is right for power)"
    elif ratio > _RATIO_HALVED and level > -8.0:
        cause = "half the usual: dB made as 10 * log10 of amplitude? (20 * log10 is right for amplitude)"
    else:
        return False
    warn_user(f"{what}: the median VH - VV is {ratio:.1f} dB with median VV {level:.1f} dB ({int(ok.sum())} sampled pixel-dates); "
              f"over land it is about -5 .. -9 dB, so this is {cause}. Suspicious, not impossible (check how the dB were made)")
    return True


def _s1_detect_units(
    dec: xr.DataArray, signals_compressed: bool, what: str, band: str, original: str | None = None, raw_dtype: np.dtype | None = None,
) -> str:
    """Units of decoded backscatter when declared ``"auto"``.

    ``raw_dtype``: the dtype before decoding, when the decoding only masked
    declared nodata (integers then come back as floats with NaN: odc-stac's
    uint16 bands carry a ``nodata`` attribute) and applied no scale.
    """
    integer_unscaled = np.issubdtype(dec.dtype, np.integer) or (raw_dtype is not None and np.issubdtype(raw_dtype, np.integer))
    int_dtype = dec.dtype if np.issubdtype(dec.dtype, np.integer) else raw_dtype
    if integer_unscaled and not signals_compressed and original is not None and original != original.upper():
        # Earth Search sentinel-1-grd assets `vv`/`vh`: uint16 amplitude DN of the GRD, not calibrated
        # backscatter; reading them as openEO's compressed dB would be silently wrong
        raise EncodingError(
            f"{what}: {original!r} holds unscaled {int_dtype} integers, as the uncalibrated GRD amplitude of STAC "
            "catalogues (Earth Search sentinel-1-grd) does; expected calibrated sigma0/gamma0 (float dB or linear "
            "power, e.g. Planetary Computer sentinel-1-rtc) or openEO's compressed uint16 named S1-SIGMA0-VV/VH; "
            "calibrate the GRD first, or pass units='compressed' if these really are openEO DN"
        )
    if integer_unscaled and (signals_compressed or int_dtype == np.dtype("uint16")):
        # any unscaled uint16 is taken for openEO's counts, whatever the case of its name: their decoded level must be
        # backscatter (GRD amplitude DN decode 26 dB too low); a sample, as the float detection reads (declared
        # units='compressed' is trusted)
        check_compressed_level(_sample(dec), f"{what}: {original or band}", band)
        return "compressed"
    if integer_unscaled:
        if int_dtype == np.dtype("uint8"):
            raise EncodingError(
                f"{what}: {band} holds uint8 integers without a scale_factor; expected float dB/linear, scaled integers, or the "
                f"openEO uint16 compressed encoding; uint8 backscatter is {not_power_hint(np.asarray(_sample(dec)))}"
            )
        raise EncodingError(
            f"{what}: {band} holds integers of dtype {int_dtype} without a scale_factor; expected "
            "float dB/linear, scaled integers, or the openEO uint16 compressed encoding; "
            "pass units='compressed', 'dB' or 'linear'"
        )
    sample = _sample(dec)
    try:
        found = detect_backscatter_units(sample, name=original or band)
    except EncodingError as exc:
        raise EncodingError(f"{what}: {original or band}: {exc}") from exc
    if found == "linear":
        _log_negative_power(sample, f"{what}: {original or band}", "of the sampled values ")
    return found


def _units_from_name(
    sampled: xr.DataArray, named: str, product: str, signals: bool, what: str, band: str, original: str | None,
    raw_dtype: np.dtype | None,
) -> str:
    """Units under ``units="auto"`` when a product's file name declares a scale (``named``), checked against the values.

    Amplitude cannot be told from power by the values, so the name decides
    it; dB against linear power can, so a name the values contradict is
    warned and the values win; values that say nothing take the name's.
    """
    try:
        found: str | None = _s1_detect_units(sampled, signals, what, band, original, raw_dtype)
    except EncodingError:
        found = None
    looks = "linear" if named == "amplitude" else named
    if found is not None and found != looks:
        warn_user(f"{what}: {band}: the file name ({product}) says {named}, but the values look {found}: read as {found}; "
                  f"pass units={named!r} to read the file name's units")
        return found
    logger.info("%s: %s read as %s, as the file name says (%s)", what, band, named, product)
    return named


def _log_negative_power(values: np.ndarray, what: str, of: str = "") -> None:
    """Log the slightly negative values of linear power (thermal-noise removal leaves them): NaN in dB."""
    n_neg, n, lowest = negative_power(values)
    if n_neg:
        logger.info("%s: %d %s(%.2f%% of %d valid) are slightly negative linear power (min %.3g), as thermal-noise removal leaves "
                    "near the noise floor: no power, set to NaN", what, n_neg, of, 100 * n_neg / max(n, 1), n, lowest)


#: What an exact 0.0 in backscatter read as dB is taken for (:func:`~.sanity.mask_exact_zeros`).
_ZERO_DB_VERDICT = ("in backscatter read as dB: 0 dB exactly is no calibrated backscatter (land is about -25 .. -5 dB), but what a "
                    "Google Earth Engine export without a noData value writes for masked pixels (swath edge, border noise, an "
                    "image missing from toBands()): treated as missing; declare the nodata value (e.g. noData=-9999 in the "
                    "export, or ds[band].attrs['nodata'] = 0) to silence this")


def _stored_as_float(raw: xr.DataArray) -> bool:
    """Whether the values were stored as floats: not integers, nor integers xarray or CF packing decoded to floats."""
    stored = raw.encoding.get("dtype", raw.encoding.get("rasterio_dtype", raw_dtype(raw)))
    scale, offset = ({**raw.encoding, **raw.attrs}.get(k, d) for k, d in (("scale_factor", 1), ("add_offset", 0)))
    packed = float(np.asarray(scale).ravel()[0]) != 1 or float(np.asarray(offset).ravel()[0]) != 0  # rioxarray writes 1 and 0
    return raw.dtype.kind == "f" and np.dtype(stored).kind == "f" and not packed


def _s1_to_db(
    raw: xr.DataArray, band: str, units: str, convention: Convention | None, what: str, *, original: str | None = None,
    probe: xr.DataArray | None = None,
) -> tuple[xr.DataArray, str]:
    """Backscatter in dB (float32, NaN for nodata, CF attrs) and the units it was read in.

    ``convention`` is that of the band's name in the input (its prefix may
    signal the openEO compressed encoding). ``probe``: the band as read,
    before its date chunks were merged (:func:`~.normalise._whole_series`);
    ``units="auto"`` samples it, so the sample reads a few date chunks
    rather than whole merged series.
    """
    dec = _decode(raw)
    u = units
    named = raw.attrs.get(SCALE_ATTR)  # the scale a product's file name declares (ASF HyP3 RTC 'gpuned': power)
    if u == "auto":
        signals = convention is not None and convention.encoding == "compressed"
        scaled = any(k in raw.attrs or k in raw.encoding for k in ("scale_factor", "add_offset"))
        sampled = dec if probe is None or probe is raw else _decode(probe)
        stored = None if scaled else raw_dtype(raw)  # integers the union join made floats: their dtype still says the encoding
        if named is None:
            u = _s1_detect_units(sampled, signals, what, band, original, stored)
        else:
            u = _units_from_name(sampled, named, str(raw.attrs.get(PRODUCT_ATTR, "the file name")), signals, what, band, original,
                                 stored)
    elif named is not None and named != units:
        warn_user(f"{what}: {band}: declared units={units!r}, but the file name ({raw.attrs.get(PRODUCT_ATTR, '?')}) says "
                  f"{named!r}: read as declared; pass units='auto' to read the file name's units")
    if (units == "dB" and not np.issubdtype(dec.dtype, np.integer)) or units == "linear":
        # in-memory data: a sample now; Dask data: each chunk as it is computed (nothing computed here)
        dec = checked(dec, partial(check_backscatter_units, declared=units), f"{what}: {band}")
    if u == "compressed":
        if not np.issubdtype(dec.dtype, np.integer):  # floats (an openEO UDF cube, a re-saved table): counts, or refused
            dec = checked(dec, check_compressed_dn, f"{what}: {band}").fillna(0)
        db = compressed_to_db(dec)
    elif u == "linear":
        if dec.chunks is None:  # in memory: count them all (on Dask the sample's count is logged at detection)
            _log_negative_power(np.asarray(dec.values), f"{what}: {band}")
        db = linear_to_db(dec.astype(np.float64))
    elif u == "amplitude":
        db = linear_to_db(dec.astype(np.float64) ** 2)
    elif u == "dB":
        # GEE exports without a noData value write masked pixels as 0.0: no real dB value stored as a float is exactly 0
        # (lazy on Dask); integers (dB x 100 in int16, as the bundled sample) hold 0 as a real quantisation step
        db = mask_exact_zeros(dec, f"{what}: {band}", _ZERO_DB_VERDICT) if _stored_as_float(raw) else dec
    else:
        raise EncodingError(f"{what}: units: expected 'auto', 'dB', 'linear', 'compressed' or 'amplitude', found {units!r}")
    if units == "auto" and u in ("dB", "linear"):
        _warn_on_attr_units(raw, u, f"{what}: {band}", original)
    db = db.where(np.isfinite(db)).astype(np.float32)
    db.attrs = cf_attrs(band, source_encoding=u)
    return db, u


_COEFFICIENTS = ("sigma0", "gamma0", "beta0")


def check_backscatter_option(backscatter: Any, what: str) -> str | None:
    """``backscatter`` checked: ``"sigma0"``, ``"gamma0"``, ``"beta0"`` or None.

    Parameters
    ----------
    backscatter : object
        The option as given.
    what : str
        The caller, for the message.

    Returns
    -------
    str or None
        The option.

    Raises
    ------
    ConfigError
        Anything else, with the value found.
    """
    if backscatter is None or backscatter in _COEFFICIENTS:
        return backscatter
    raise ConfigError(f"{what}: backscatter: expected one of {_COEFFICIENTS} or None, found {backscatter!r}")


def _backscatter_of(raw: xr.DataArray, ds_attrs: dict[Any, Any], conv: Convention | None) -> str | None:
    """The backscatter coefficient the source names: band name convention, band attrs, Dataset attrs."""
    if conv is not None and conv.backscatter is not None:
        return conv.backscatter
    for key in ("backscatter", "long_name", "standard_name", "description"):
        if key in raw.attrs and (found := coefficient_in(raw.attrs[key])):
            return found
    if "backscatter" in ds_attrs and (found := coefficient_in(ds_attrs["backscatter"])):
        return found
    for key in ("sar:product_type", "product_type", "collection"):
        if re.search(r"\bRTC\b|-rtc\b", str(ds_attrs.get(key, "")), flags=re.IGNORECASE):
            return "gamma0"  # radiometric terrain correction delivers terrain-flattened gamma0
    return None


_UNIT_ATTR_NAMES = {"db": "dB", "decibel": "dB", "decibels": "dB", "1": "linear", "linear": "linear", "": None}


#: A variable name that says dB (``Sigma0_VV_db``, ``VV_dB``, ``vv-db``).
_DB_NAME_RE = re.compile(r"(?:^|[_\-. ])db(?:$|[_\-. ])", re.IGNORECASE)


def _warn_on_attr_units(raw: xr.DataArray, detected: str, what: str, original: str | None = None) -> None:
    """Warn when a ``units`` attribute, or a name ending in dB, contradicts the units detected from the values."""
    said = raw.attrs.get("units")
    if said is None:
        if detected == "linear" and original and _DB_NAME_RE.search(str(original)):
            logger.warning(
                "%s: the variable name %r says dB but the values look linear power; read as linear. "
                "Pass units='dB' to force dB", what, original,
            )
        return
    norm = _UNIT_ATTR_NAMES.get(str(said).strip().lower())
    if norm is not None and norm != detected:
        logger.warning(
            "%s: attribute units=%r but the values look %s; read as %s. Pass units=%r to force the attribute's units",
            what, said, detected, detected, norm,
        )


def _s1_add_statics(out: xr.Dataset, ds: xr.Dataset, what: str) -> xr.Dataset:
    """Static layers (elevation, slope, aspect) as float32 without ``time``, read as a terrain input is
    (:func:`~.terrain.open_terrain`: units converted, flat aspect, implausible values warned)."""
    names = [n for n in bands_for("static") if n in ds.data_vars]
    if not names:
        return out
    layers = {}
    for name in names:
        s = _decode(ds[name]).astype(np.float32)
        if "time" in s.dims:  # a layer stored on every date (WorldCereal, openEO)
            s = s.max("time")
        layers[name] = s.assign_attrs({k: v for k, v in ds[name].attrs.items() if k in ("units", "unit")})
    statics = open_terrain(xr.Dataset(layers), what=f"{what}: static layers")
    for name in names:
        out[name] = statics[name].drop_vars([c for c in statics[name].coords if c not in ("y", "x")]).assign_attrs(cf_attrs(name))
    return out
