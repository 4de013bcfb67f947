"""Multi-temporal speckle filter of the S1 backscatter (Quegan and Yu 2001), on linear power.

For each polarisation, each date ``k`` and pixel ``x``::

    J_k(x) = E[I_k](x) / N(x) * sum_i I_i(x) / E[I_i](x)

where ``I`` is linear power, ``E[.]`` the mean over a ``window`` x ``window``
boxcar around ``x`` and the sum runs over the ``N(x)`` dates ``i`` of the
pixel with a valid ratio (optionally only those of the same relative-orbit
group as ``k``, so that different incidence geometries are not mixed). The
spatial mean keeps the local radiometry of each date, the temporal average of
the ratios ``I_i / E[I_i]`` keeps the pixel's own texture while averaging the
speckle of ``N`` independent looks (Quegan, S. and Yu, J. J. (2001),
*Filtering of multichannel SAR images*, IEEE TGRS 39(11), 2373-2379).

Missing values (NaN pixels, all-NaN dates) count nowhere: the boxcar means
are over the valid pixels of the window, the temporal sum over the valid
dates; a pixel-date that was missing stays missing. The image border is
padded with missing values, so a border pixel's mean is over the part of the
window inside the image — the same whether the cube is one chunk or many.
"""

from __future__ import annotations

import json
import warnings
from functools import partial
from typing import Any

import numpy as np
import xarray as xr

from .._logging import logger
from ..errors import ConfigError, DimensionError, EncodingError
from ..readers.sanity import check_backscatter_units, checked
from ..validate import is_whole, require_variables
from .orbits import orbit_groups

__all__ = ["SPECKLE_ATTR", "speckle_filter"]

#: Attribute (on the filtered variables and on the Dataset) that records the filter, as JSON.
SPECKLE_ATTR = "speckle_filter"

_DB_UNITS = ("db",)
_LINEAR_UNITS = ("1", "linear", "")


def speckle_filter(
    cube: xr.Dataset,
    *,
    window: int = 5,
    by_orbit: bool = True,
    variables: tuple[str, ...] = ("VV", "VH"),
) -> xr.Dataset:
    """Multi-temporal (Quegan and Yu 2001) speckle filter of the S1 backscatter, on linear power.

    Each variable is filtered on its own (per polarisation); values in dB
    (the fusion cube's ``units="dB"``, or no ``units``) are converted to
    linear power, filtered and converted back; linear power (``units="1"``)
    is filtered as it is. Lazy on Dask input: the spatial window is a
    :func:`dask.array.map_overlap` halo of ``window // 2`` pixels, padded
    with missing values at the image border, so the result is the same
    chunked and unchunked. The temporal sum needs every date of a pixel:
    ``time`` is rechunked to one chunk (the output keeps it so, with the
    input's ``y``/``x`` chunks; where ``time`` was split, the pixels are
    rechunked to Dask's ``"auto"`` size with it, so that a cube chunked one
    date at a time over a whole tile does not become one chunk of all).

    Parameters
    ----------
    cube : xarray.Dataset
        A fusion cube (or any S1 dataset) with ``variables`` on ``(time, y, x)``.
    window : int
        Side of the square boxcar of the local means, odd, >= 1. ``1`` is
        the identity (``E[I] = I``), and the data come back unchanged.
    by_orbit : bool
        Average the ratios only over the dates of the same relative-orbit
        group (:func:`~fusets_dl.features.orbit_groups`, from the time of
        day) as the date being filtered; False: over every date.
    variables : tuple of str
        The backscatter variables to filter; other variables pass unchanged.

    Returns
    -------
    xarray.Dataset
        A copy of ``cube`` with the filtered variables (same dtype and
        units), their attrs and the Dataset's attrs holding
        ``speckle_filter``: JSON with ``method``, ``window``, ``by_orbit``
        and ``orbit_groups``.

    Raises
    ------
    ConfigError
        When ``window`` is not an odd whole number >= 1, ``by_orbit`` not a
        bool, or ``variables`` a bare string.
    MissingVariableError
        When a variable is absent.
    DimensionError
        When a variable is not on ``(time, y, x)``.
    EncodingError
        When a variable's ``units`` are neither dB nor linear power, or its
        values contradict declared units (linear power under ``units="dB"``,
        dB under ``units="1"``); on Dask input when the chunk is computed.

    Warns
    -----
    UserWarning
        When a variable without ``units`` (read as dB) looks like linear
        power: converted as dB it would be filtered wrongly.
        On a point table (the pseudo-grid ``y=1, x=point`` of
        :func:`fusets_dl.open_points`, or a single pixel): neighbouring
        columns are unrelated points, so a spatial mean across them would be
        meaningless; the filter falls back to ``window=1`` (the identity)
        and returns the data unchanged. Also when the cube was already filtered.

    Notes
    -----
    A pixel-date missing in the input stays missing (the filter does not fill
    gaps); a pixel whose window holds no valid value on a date contributes no
    ratio for that date.
    """
    window = _check_window(window)
    variables = _check_arguments(by_orbit, variables)
    require_variables(cube, list(variables), "speckle_filter")
    units = {v: _units_of(cube[v], v) for v in variables}
    if SPECKLE_ATTR in cube.attrs:
        warnings.warn(f"speckle_filter: the cube was already filtered ({cube.attrs[SPECKLE_ATTR]}); filtering again", UserWarning, stacklevel=2)
    if window > 1 and _is_point_table(cube):
        warnings.warn(
            f"speckle_filter: expected a spatial grid, found a point table or a single pixel (y={cube.sizes['y']}, "
            f"x={cube.sizes['x']}); neighbouring columns are unrelated points, so the spatial mean of a {window}x{window} "
            "window is meaningless: falling back to window=1 (the identity), the data are returned unchanged",
            UserWarning,
            stacklevel=2,
        )
        window = 1
    groups = orbit_groups(cube) if by_orbit else np.zeros(cube.sizes["time"], dtype=np.int64)
    record = json.dumps({"method": "quegan-yu-2001", "window": int(window), "by_orbit": bool(by_orbit), "orbit_groups": int(np.unique(groups).size)})
    out = cube.copy()
    for v in variables:
        da = _checked_values(cube[v], v, units[v])
        if window > 1:
            da = _filter_variable(da, groups, window, units[v])
        out[v] = da.assign_attrs({**cube[v].attrs, SPECKLE_ATTR: record})
    out.attrs = {**cube.attrs, SPECKLE_ATTR: record}
    logger.info("speckle_filter: %s", record)
    return out


def _check_window(window: Any) -> int:
    """``window`` as an int; raise unless it is an odd whole number >= 1 (``5.0`` too, as ``FeatureSpec`` takes it)."""
    if isinstance(window, bool) or not is_whole(window) or window < 1 or int(window) % 2 == 0:
        raise ConfigError(f"speckle_filter: window expected an odd integer >= 1 (a centred boxcar), found {window!r}")
    return int(window)


def _check_arguments(by_orbit: Any, variables: Any) -> tuple[str, ...]:
    """Refuse a ``by_orbit`` that is not a bool (the string ``"false"`` read as True) and a bare string as ``variables``."""
    if not isinstance(by_orbit, (bool, np.bool_)):
        raise ConfigError(f"speckle_filter: by_orbit: expected True or False, found {type(by_orbit).__name__} {by_orbit!r}")
    if isinstance(variables, (str, bytes)) or not all(isinstance(v, str) for v in variables):
        raise ConfigError(f"speckle_filter: variables: expected a tuple of variable names such as ('VV', 'VH'), found "
                          f"{type(variables).__name__} {variables!r}" + (f" (write ({variables!r},))" if isinstance(variables, str) else ""))
    return tuple(variables)


def _units_of(da: xr.DataArray, name: str) -> str:
    """``"dB"`` or ``"linear"`` from the variable's ``units`` (no units: dB, the fusion cube's convention)."""
    if set(da.dims) != {"time", "y", "x"}:
        raise DimensionError(f"speckle_filter: expected {name} on (time, y, x), found {da.dims}")
    units = da.attrs.get("units")
    if units is None or str(units).strip().lower() in _DB_UNITS:
        return "dB"
    if str(units).strip().lower() in _LINEAR_UNITS:
        return "linear"
    raise EncodingError(f"speckle_filter: expected {name} in dB (units='dB') or linear power (units='1'), found units={units!r}")


def _checked_values(da: xr.DataArray, name: str, units: str) -> xr.DataArray:
    """``da`` checked against its units: declared units contradicted are an error, undeclared dB that looks linear a warning."""
    check = _refuse_contradiction if da.attrs.get("units") is not None else _warn_undeclared
    return checked(da, partial(check, units=units), f"speckle_filter: {name}")


def _refuse_contradiction(values: np.ndarray, what: str, *, units: str) -> None:
    """The readers' units check, with the advice that fits a cube's ``units`` attribute."""
    try:
        check_backscatter_units(values, what, declared=units)
    except EncodingError as exc:
        msg = str(exc).split(". Pass units=")[0]
        raise EncodingError(f"{msg}. Fix the variable's attrs['units'] ('dB' or '1' for linear power)") from None


def _warn_undeclared(values: np.ndarray, what: str, *, units: str) -> None:
    """A warning instead of the error when the units were not declared (dB assumed)."""
    try:
        check_backscatter_units(values, what, declared=units)
    except EncodingError:
        warnings.warn(f"{what}: no units declared, so dB was assumed, but the values look like linear power (none negative, "
                      "median between 0 and 1.5): set attrs units='1' for linear power, or convert with 10 * log10(x)",
                      UserWarning, stacklevel=2)


def _is_point_table(cube: xr.Dataset) -> bool:
    """True for the point pseudo-grid of ``open_points`` (or a cube of one pixel): no spatial neighbours."""
    if "point_table" in cube.attrs or ("point" in cube.coords and cube["point"].dims == ("x",) and cube.sizes["y"] == 1):
        return True
    return cube.sizes["y"] == 1 and cube.sizes["x"] == 1


def _filter_variable(da: xr.DataArray, groups: np.ndarray, window: int, units: str) -> xr.DataArray:
    """One variable filtered, in its units and dtype, on ``(time, y, x)`` then in its original dim order."""
    dims = da.dims
    arr = da.transpose("time", "y", "x")
    dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.dtype(np.float32)
    h = window // 2
    kernel = _Kernel(groups=groups, h=h, db=units == "dB", dtype=dtype)
    arr = arr.where(np.isfinite(arr)).astype(dtype)  # floats for the NaN padding; +-inf are missing, and stay so
    data = arr.data
    if arr.chunks is not None:
        import dask.array as dsa

        if len(arr.chunks[0]) > 1:  # time in one chunk; the pixels to Dask's auto size (one date a chunk became one chunk of all)
            data = data.rechunk({0: -1, 1: "auto", 2: "auto"})
        filtered = dsa.map_overlap(kernel, data, depth={0: 0, 1: h, 2: h}, boundary=np.nan, trim=True, dtype=dtype, meta=np.array((), dtype=dtype))
    else:
        padded = np.pad(np.asarray(data, dtype=np.float64), ((0, 0), (h, h), (h, h)), constant_values=np.nan)
        filtered = kernel(padded)[:, h:-h, h:-h]
    return arr.copy(data=filtered).transpose(*dims)


class _Kernel:
    """The filter of one block padded by ``h`` pixels on ``y`` and ``x``; returns the padded shape (margins NaN)."""

    def __init__(self, *, groups: np.ndarray, h: int, db: bool, dtype: np.dtype) -> None:
        self.groups = np.asarray(groups)
        self.h = h
        self.db = db
        self.dtype = dtype

    def __call__(self, block: np.ndarray) -> np.ndarray:
        """Filter ``block`` (time, y + 2h, x + 2h)."""
        h = self.h
        vals = np.asarray(block, dtype=np.float64)
        lin = np.power(10.0, vals / 10.0) if self.db else vals
        ok = np.isfinite(lin) & (lin >= 0)
        mean = _box_mean(np.where(ok, lin, 0.0), ok.astype(np.float64), h)  # core (time, y, x)
        core = lin[:, h:lin.shape[1] - h, h:lin.shape[2] - h]
        core_ok = ok[:, h:ok.shape[1] - h, h:ok.shape[2] - h]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(core_ok & (mean > 0), core / mean, np.nan)
        j = mean * _group_mean(ratio, self.groups)
        j = np.where(core_ok, j, np.nan)
        if self.db:
            with np.errstate(divide="ignore", invalid="ignore"):
                j = 10.0 * np.log10(j)
        out = np.full(block.shape, np.nan, dtype=self.dtype)
        out[:, h:block.shape[1] - h, h:block.shape[2] - h] = j
        return out


def _box_mean(s: np.ndarray, c: np.ndarray, h: int) -> np.ndarray:
    """Mean of the valid values in each (2h+1)^2 window of the padded ``s`` (``c``: 1 where valid); NaN where none.

    Shifted sums in a fixed order (rows then columns), so a pixel's mean does
    not depend on where the block starts: chunked and unchunked agree exactly.
    """
    ny, nx = s.shape[1] - 2 * h, s.shape[2] - 2 * h
    sy = sum(s[:, d:d + ny, :] for d in range(2 * h + 1))
    cy = sum(c[:, d:d + ny, :] for d in range(2 * h + 1))
    sxy = sum(sy[:, :, d:d + nx] for d in range(2 * h + 1))
    cxy = sum(cy[:, :, d:d + nx] for d in range(2 * h + 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cxy > 0, sxy / cxy, np.nan)


def _group_mean(ratio: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Mean over the valid dates of each date's group, broadcast back to every date: (time, y, x)."""
    out = np.full(ratio.shape, np.nan)
    ok = np.isfinite(ratio)
    r0 = np.where(ok, ratio, 0.0)
    for g in np.unique(groups):
        sel = groups == g
        n = ok[sel].sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[sel] = np.where(n > 0, r0[sel].sum(axis=0) / n, np.nan)[None]
    return out
