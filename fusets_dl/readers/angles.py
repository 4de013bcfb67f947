"""The Sentinel-1 incidence angle: which layer, its units, its fill value and its range.

:func:`open_s1` keeps one incidence angle per date, in degrees, as the
``incidence_angle`` coordinate on ``time``; the sequence model reads it as
``(angle - 38) / 6``, so an angle in radians (-6.2 standard deviations), a
fill value of 0 or an impossible 95 degrees moves its prediction by about
0.1 NDVI. :func:`s1_incidence_angle` picks the layer, converts radians to
degrees, takes 0 for missing, refuses values outside 0-90 degrees and warns
outside :data:`S1_ANGLE_RANGE`.

The layers it reads, in order of preference (every per-date layer before
every per-pixel one), are the bands whose role is ``"incidence_angle"`` then
``"local_incidence_angle"`` in :data:`~.conventions.BANDS`:
``incidence_angle``, ``angle`` (the band of Google Earth Engine's
``COPERNICUS/S1_GRD`` exports) and ``local_incidence_angle`` (openEO's
``sar_backscatter(local_incidence_angle=True)``; SNAP's names are aliases).
A layer on ``(time, y, x)`` is kept as its per-date spatial mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._logging import logger
from .._warn import warn_user
from ..errors import EncodingError
from .conventions import bands_for
from .normalise import _decode

__all__ = ["ANGLE_LIMITS", "ANGLE_ROLES", "RADIANS_MAX", "S1_ANGLE_RANGE", "angle_units", "check_angle_degrees", "s1_incidence_angle"]

#: Roles of :data:`~.conventions.BANDS` whose bands give the incidence angle, in order of preference.
ANGLE_ROLES = ("incidence_angle", "local_incidence_angle")

#: Degrees outside which an incidence angle is warned: Sentinel-1 IW covers about 29-46 degrees, EW 19-47.
S1_ANGLE_RANGE = (15.0, 60.0)

#: Degrees outside which an incidence angle is impossible (refused with :class:`~fusets_dl.errors.EncodingError`).
ANGLE_LIMITS = (0.0, 90.0)

#: An angle without units whose finite values all lie in [0, pi/2] and below this is in radians (no S1 angle is under 1.6 degrees).
RADIANS_MAX = 1.6

_DEGREES = ("degree", "degrees", "deg", "°")
_RADIANS = ("rad", "radian", "radians")


def angle_units(attrs: dict[Any, Any], what: str) -> str | None:
    """``"degree"``, ``"rad"`` or None (no ``units`` attribute) from an angle's attributes.

    Parameters
    ----------
    attrs : dict
        The attributes of the angle layer.
    what : str
        The layer, for the message.

    Returns
    -------
    str or None
        The units declared, normalised; None when none are.

    Raises
    ------
    EncodingError
        Units that are neither degrees nor radians, naming those found.
    """
    said = attrs.get("units")
    if said is None or not str(said).strip():
        return None
    u = str(said).strip().lower()
    if u in _DEGREES:
        return "degree"
    if u in _RADIANS:
        return "rad"
    raise EncodingError(f"{what}: expected an incidence angle with units in {list(_DEGREES)} or {list(_RADIANS)} (or none), "
                        f"found units={said!r}; convert it to degrees, or set its units attribute")


def _check_block(v: np.ndarray, what: str, detect: bool) -> np.ndarray:
    """Degrees of one block of per-date angles (float32): radians converted when ``detect``; refused or warned by range."""
    v = np.asarray(v, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if detect and finite.size and finite.min() >= 0 and finite.max() <= np.pi / 2 and finite.max() < RADIANS_MAX:
        warn_user(f"{what}: the incidence angle has no units and its values ({finite.min():.4g} to {finite.max():.4g}) all lie "
                  f"in [0, pi/2]: taken as radians and converted to degrees (Sentinel-1 covers about 19-47 degrees); "
                  "set units='degree' or 'rad' on it to say which")
        v, finite = np.degrees(v), np.degrees(finite)
    lo, hi = ANGLE_LIMITS
    bad = finite[(finite < lo) | (finite > hi)]
    if bad.size:
        raise EncodingError(f"{what}: expected an incidence angle in {lo:g}-{hi:g} degrees, found {bad.size} of {finite.size} "
                            f"values outside (from {bad.min():.6g} to {bad.max():.6g}); check its units, scale factor and "
                            "fill value")
    lo, hi = S1_ANGLE_RANGE
    odd = finite[(finite < lo) | (finite > hi)]
    if odd.size:
        warn_user(f"{what}: {odd.size} of {finite.size} incidence angles lie outside {lo:g}-{hi:g} degrees (from "
                  f"{odd.min():.4g} to {odd.max():.4g}); Sentinel-1 IW covers about 29-46 degrees, EW 19-47: check the "
                  "layer (radians, another sensor, an unapplied scale, a fill value); the sequence model reads it as (angle - 38) / 6")
    return v.astype(np.float32)


def check_angle_degrees(angle: xr.DataArray, what: str) -> None:
    """Check an incidence angle a stage is given (a cube's ``incidence_angle``, perhaps set after the reader), in memory.

    Values outside 0-90 degrees are refused and those outside
    :data:`S1_ANGLE_RANGE` warned (radians, 0 as a fill value), as
    :func:`s1_incidence_angle` does; nothing is converted here. A Dask-backed
    angle is not read.

    Parameters
    ----------
    angle : xarray.DataArray
        The angle, degrees expected.
    what : str
        The caller, for the messages.

    Raises
    ------
    EncodingError
        Values outside 0-90 degrees.
    """
    if angle.chunks is None:
        _check_block(np.asarray(angle.values), f"{what}: incidence_angle", detect=False)


def _pick(ds: xr.Dataset, what: str) -> tuple[str, bool] | None:
    """The angle layer to read and whether it is per pixel; None when ``ds`` has none."""
    names = [n for role in ANGLE_ROLES for n in bands_for(role) if n in ds.variables]
    per_date = [n for n in names if ds[n].dims == ("time",)]
    per_pixel = [n for n in names if set(ds[n].dims) == {"time", "y", "x"}]
    other = [n for n in names if n not in per_date and n not in per_pixel]
    if other:
        warn_user(f"{what}: incidence angle layer(s) {other} not used: expected dims ('time',) (one angle per date) or "
                  f"('time', 'y', 'x'), found {[tuple(map(str, ds[n].dims)) for n in other]}")
    chosen = (per_date or per_pixel or [None])[0]
    if chosen is None:
        return None
    unused = [n for n in per_date + per_pixel if n != chosen]
    if unused:
        logger.info("%s: incidence angle from %r; %s not used (a per-date angle is preferred, then incidence_angle, angle, "
                    "local_incidence_angle)", what, chosen, unused)
    return chosen, chosen in per_pixel


def s1_incidence_angle(ds: xr.Dataset, out: xr.Dataset, what: str) -> xr.DataArray | None:
    """The incidence angle per date of ``out``'s dates, in degrees (float32 on ``time``), or None.

    The layer is the first per-date one, else the first per-pixel one, of
    the bands of :data:`ANGLE_ROLES` (see the module). Its CF fill values and
    scale are decoded, and exact 0 is missing (a fill value: no radar sees
    at 0 degrees). A layer on ``(time, y, x)`` becomes its per-date spatial
    mean over ``out``'s pixels, missing pixels left out. Units: ``units`` in
    degrees, radians (converted), or none: values all within [0, pi/2] are
    then radians (converted, with a warning). Values outside 0-90 degrees
    are refused; outside :data:`S1_ANGLE_RANGE` warned with their number
    and range. In memory, an angle with no valid value left is dropped
    with a warning.

    Laziness: a per-date layer is read (a few numbers per date, as the
    per-date coordinates are, one small compute on Dask). A per-pixel layer
    on Dask stays lazy: its mean is a Dask coordinate, and the unit
    detection and range checks run on each chunk of it as it is computed
    (like :func:`~.sanity.checked`), so a refusal or warning then comes at
    compute time.

    Parameters
    ----------
    ds : xarray.Dataset
        The input as normalised (canonical names, ``(time, y, x)``).
    out : xarray.Dataset
        The reader's output, whose ``time``, ``y`` and ``x`` the angle is for.
    what : str
        The caller, for messages.

    Returns
    -------
    xarray.DataArray or None
        The angle on ``out``'s ``time`` (attrs ``units="degree"``), or None
        when ``ds`` holds no usable angle layer.

    Raises
    ------
    EncodingError
        Units other than degrees or radians; values outside 0-90 degrees
        (in memory; on Dask, when computed).
    """
    picked = _pick(ds, what)
    if picked is None:
        return None
    name, per_pixel = picked
    label = f"{what}: {name}"
    raw = ds[name]
    units = angle_units(raw.attrs, label)
    a = _decode(raw)
    a = a.sel(time=out["time"].values) if a.sizes["time"] != out.sizes["time"] else a
    if per_pixel:
        if (a.sizes["y"], a.sizes["x"]) != (out.sizes["y"], out.sizes["x"]):
            a = a.sel(y=out["y"].values, x=out["x"].values)
        a = a.where(a != 0)  # a fill value: left out of the mean
        a = a.astype(np.float64).mean(("y", "x"), skipna=True)
        logger.info("%s: incidence_angle is the per-date spatial mean of the per-pixel %r (time, y, x)", what, name)
    elif a.chunks is not None:
        a = a.compute()  # a few numbers per date, as the per-date coordinates are read
    a = a.where(a != 0).astype(np.float64)  # a fill value: missing
    if units == "rad":
        logger.info("%s: %s in radians (units=%r) converted to degrees", what, name, raw.attrs.get("units"))
        a = np.degrees(a)
    detect = units is None
    if a.chunks is None:
        vals = _check_block(np.asarray(a.values), label, detect)
        if not np.isfinite(vals).any():
            warn_user(f"{label}: expected incidence angles in degrees, found no valid value ({vals.size} dates all NaN or 0, "
                      "a fill value): left out; a sequence model trained with an angle then assumes 38 degrees")
            return None
        data: Any = vals
    else:
        data = a.data.map_blocks(_check_block, what=label, detect=detect, dtype=np.float32)
    angle = xr.DataArray(data, dims=("time",), coords={"time": out["time"].values})
    angle.attrs = {"units": "degree", "long_name": "Sentinel-1 incidence angle" + (" (per-date spatial mean)" if per_pixel else ""),
                   "source_name": name}
    return angle
