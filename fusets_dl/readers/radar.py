"""Sentinel-1 reader: backscatter as ``VV``/``VH`` float32 in dB on ``(time, y, x)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr
from pyproj import CRS

from .._logging import logger
from ..cf import cf_attrs
from ..errors import EncodingError, MissingVariableError
from .conventions import Convention, band_for, bands_for, convention_of
from .encoding import compressed_to_db, detect_backscatter_units, linear_to_db
from .normalise import _decode, _finish, _orbit_from, _prepare, _sample, _subset
from .sources import Source, describe, open_sources

__all__ = ["open_s1"]

Units = Literal["auto", "dB", "linear", "compressed"]


def open_s1(
    source: Source,
    *,
    units: Units = "auto",
    chunks: Any = None,
    orbit: Any = None,
    time_range: tuple[Any, Any] | None = None,
    bbox: Sequence[float] | None = None,
    duplicates: Literal["raise", "first", "mean"] = "raise",
) -> xr.Dataset:
    """Open Sentinel-1 backscatter as ``VV``/``VH`` float32 in dB on ``(time, y, x)``.

    Parameters
    ----------
    source : path, Dataset or list of them
        netCDF, Zarr store, GeoTIFF file, folder of single-date GeoTIFFs
        (date in the file name, bands named by their descriptions), a list of
        these, or an in-memory :class:`xarray.Dataset`.
    units : {"auto", "dB", "linear", "compressed"}
        Encoding of the backscatter after CF decoding. ``"compressed"`` is the
        openEO uint16 encoding ``dB = 20 log10(DN) - 83`` (DN 65534/65535
        nodata); ``"auto"`` recognises it from an integer dtype without scale
        factor and otherwise tells dB from linear power on a small sample.
    chunks : dict, "auto" or None
        Dask chunks; ``time`` defaults to a single chunk. None gives NumPy.
    orbit : scalar or sequence, optional
        Orbit label(s) for the ``orbit`` coordinate. By default taken from an
        ``orbit``/``relative_orbit`` variable, or ASCENDING/DESCENDING in the
        file name.
    time_range : (start, end), optional
        Dates to keep (inclusive).
    bbox : (minx, miny, maxx, maxy), optional
        Box in the data CRS to keep.
    duplicates : {"raise", "first", "mean"}
        What to do with duplicated timestamps.

    Returns
    -------
    xarray.Dataset
        ``VV`` and ``VH`` (float32, attrs ``units="dB"``), the ``orbit``
        coordinate when known, static ``elevation``/``slope``/``aspect`` when
        present, CRS written with rioxarray.

    Raises
    ------
    MissingVariableError
        When VV or VH is absent.
    EncodingError
        When the values are neither dB nor linear power.
    """
    what = f"open_s1({describe(source)})"
    ds, crs, originals = _s1_merge([_prepare(p, what, duplicates) for p in open_sources(source, chunks)])
    bands = _s1_require_bands(ds, what)
    out = xr.Dataset(coords={k: v for k, v in ds.coords.items() if k in ("time", "y", "x")})
    detected = {}
    for band in bands:
        out[band], detected[band] = _s1_to_db(ds[band], band, units, convention_of(originals.get(band, band)), what)
    out = _s1_add_statics(out, ds)
    out.attrs = {"source": describe(source), "sensor": "Sentinel-1", "encoding": ",".join(f"{k}:{v}" for k, v in detected.items())}
    out = _orbit_from(out, ds, source if not isinstance(source, (list, tuple)) else source[0], orbit)
    if crs is not None:
        out = out.rio.write_crs(crs)
    out = _subset(out, time_range, bbox, what)
    logger.info("%s: %d dates, %d x %d pixels, encoding %s", what, out.sizes["time"], out.sizes["y"], out.sizes["x"], out.attrs["encoding"])
    return _finish(out, crs, chunks, what)


def _s1_merge(prepared: list[tuple[xr.Dataset, CRS | None, dict[str, str]]]) -> tuple[xr.Dataset, CRS | None, dict[str, str]]:
    """One Dataset from the prepared inputs (exact join), the first CRS found, and all original names."""
    ds = prepared[0][0] if len(prepared) == 1 else xr.merge([p[0] for p in prepared], join="exact", compat="override")
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


def _s1_detect_units(dec: xr.DataArray, signals_compressed: bool, what: str, band: str) -> str:
    """Units of decoded backscatter when declared ``"auto"``."""
    integer_unscaled = np.issubdtype(dec.dtype, np.integer)
    if integer_unscaled and (signals_compressed or dec.dtype in (np.uint16, np.dtype("uint16"))):
        return "compressed"
    if integer_unscaled:
        raise EncodingError(
            f"{what}: {band} holds integers of dtype {dec.dtype} without a scale_factor; expected "
            "float dB/linear, scaled integers, or the openEO uint16 compressed encoding; "
            "pass units='compressed', 'dB' or 'linear'"
        )
    return detect_backscatter_units(_sample(dec))


def _s1_to_db(raw: xr.DataArray, band: str, units: str, convention: Convention | None, what: str) -> tuple[xr.DataArray, str]:
    """Backscatter in dB (float32, NaN for nodata, CF attrs) and the units it was read in.

    ``convention`` is that of the band's name in the input (its prefix may
    signal the openEO compressed encoding).
    """
    dec = _decode(raw)
    u = units
    if u == "auto":
        signals = convention is not None and convention.encoding == "compressed"
        u = _s1_detect_units(dec, signals, what, band)
    if u == "compressed":
        db = compressed_to_db(dec if np.issubdtype(dec.dtype, np.integer) else dec.fillna(0).astype(np.uint16))
    elif u == "linear":
        db = linear_to_db(dec.astype(np.float64))
    elif u == "dB":
        db = dec
    else:
        raise EncodingError(f"{what}: units: expected 'auto', 'dB', 'linear' or 'compressed', found {units!r}")
    if units in ("dB", "linear") and not np.issubdtype(dec.dtype, np.integer) and dec.chunks is None:
        # in-memory data only: a declaration on Dask input is trusted, so opening stays lazy
        _check_declared_units(_sample(dec), units, f"{what}: {band}")
    db = db.where(np.isfinite(db)).astype(np.float32)
    db.attrs = cf_attrs(band, source_encoding=u)
    return db, u


def _s1_add_statics(out: xr.Dataset, ds: xr.Dataset) -> xr.Dataset:
    """Static layers (elevation, slope, aspect) as float32 without ``time``."""
    for name in bands_for("static"):
        if name in ds.data_vars:
            s = _decode(ds[name]).astype(np.float32)
            if "time" in s.dims:
                s = s.max("time")
            s.attrs = cf_attrs(name)
            out[name] = s
    return out


def _check_declared_units(sample: np.ndarray, declared: str, what: str) -> None:
    """Refuse backscatter whose values contradict the declared units (linear declared as dB and the reverse)."""
    try:
        found = detect_backscatter_units(sample)
    except EncodingError:
        return  # nothing conclusive in the sample: trust the declaration
    if found != declared:
        v = sample[np.isfinite(sample)]
        raise EncodingError(
            f"{what}: declared units={declared!r} but the values look {found} (median {np.median(v):.4g}, "
            f"{100 * np.mean(v < 0):.0f}% negative); expected {'dB: mostly negative, about -35..+5' if declared == 'dB' else 'linear power: non-negative, median below 1'}. "
            "Pass units='auto' to use the detected units, or fix the declaration"
        )
