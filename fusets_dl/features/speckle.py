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

    Memory: a chunk is filtered in slabs of dates (float64 arithmetic, the
    local means kept in the output until the orbit groups' mean ratios are
    known), so a task holds its padded block, its output and a few MiB of
    slabs, about 2.3 times the chunk's bytes (it held about 23 times, all
    dates at once in float64); Dask adds the neighbouring chunks whose halo
    the overlap needs.
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
    arr = arr.astype(dtype)  # floats for the NaN padding (a no-op on floats); the kernel reads +-inf as missing
    data = arr.data
    if arr.chunks is not None:
        import dask.array as dsa

        if len(arr.chunks[0]) > 1:  # time in one chunk; the pixels to Dask's auto size (one date a chunk became one chunk of all)
            data = data.rechunk({0: -1, 1: "auto", 2: "auto"})
        filtered = dsa.map_overlap(kernel, data, depth={0: 0, 1: h, 2: h}, boundary=np.nan, trim=True, dtype=dtype, meta=np.array((), dtype=dtype))
    else:
        padded = np.pad(np.asarray(data), ((0, 0), (h, h), (h, h)), constant_values=np.nan)
        filtered = kernel(padded)[:, h:-h, h:-h]
    return arr.copy(data=filtered).transpose(*dims)


#: Pixel-dates (padded) in one slab of dates of the kernel, at least one date: 2 MiB a float64 array, small next to a
#: block of many dates and near the cache, big enough that the loop over slabs costs little next to the arithmetic.
_SLAB_ELEMENTS = 2**18


class _Kernel:
    """The filter of one block padded by ``h`` pixels on ``y`` and ``x``; returns the padded shape (margins NaN).

    Memory: the block is processed in slabs of dates of about
    :data:`_SLAB_ELEMENTS` pixel-dates, in float64 (the arithmetic of a
    float64 reference). Pass 1 writes each date's local mean into the
    output's core (so rounded to the output dtype, at most float32: one
    rounding more than the float64 reference, within 1 ulp of float32) and
    adds its ratios to per-orbit-group sums, date by date in date order (one
    float64 ``(y, x)`` layer a group); pass 2 multiplies the stored means by
    their group's mean ratio, slab by slab. Besides the block, the peak is
    the output, a slab's temporaries (about 40 bytes a pixel-date) and the
    group sums (12 bytes a pixel a group): about 1.1-1.3 times the block's
    bytes over a series of a few dozen dates or more, where the all-at-once
    float64 version held about 20 times. The result does not depend on the
    slab size, so chunked and unchunked agree exactly.
    """

    def __init__(self, *, groups: np.ndarray, h: int, db: bool, dtype: np.dtype) -> None:
        self.groups = np.asarray(groups)
        self.h = h
        self.db = db
        self.dtype = dtype

    def __call__(self, block: np.ndarray) -> np.ndarray:
        """Filter ``block`` (time, y + 2h, x + 2h)."""
        h = self.h
        block = np.asarray(block)
        nt, ny, nx = block.shape[0], block.shape[1] - 2 * h, block.shape[2] - 2 * h
        out = np.full(block.shape, np.nan, dtype=self.dtype)
        core = out[:, h:h + ny, h:h + nx]
        # the local means wait in the output (rounded to at most float32 precision, as the result will be)
        store = core if out.dtype.itemsize >= 4 else np.empty((nt, ny, nx), dtype=np.float32)
        labels, index = np.unique(self.groups, return_inverse=True)
        ratio_sum = np.zeros((labels.size, ny, nx))
        count = np.zeros((labels.size, ny, nx), dtype=np.int32)
        step = max(1, _SLAB_ELEMENTS // max(1, block.shape[1] * block.shape[2]))
        for t0 in range(0, nt, step):  # pass 1: local means, ratio sums per group (date by date, in date order)
            t1 = min(nt, t0 + step)
            mean, ratio, valid = self._means_and_ratios(block[t0:t1])
            store[t0:t1] = mean
            for k in range(t0, t1):  # ratio is 0 where not valid
                ratio_sum[index[k]] += ratio[k - t0]
                count[index[k]] += valid[k - t0]
        with np.errstate(invalid="ignore", divide="ignore"):
            group_mean = np.divide(ratio_sum, count, out=ratio_sum)
        group_mean[count == 0] = np.nan
        del count
        for t0 in range(0, nt, step):  # pass 2: J = E[I] * the group's mean ratio (NaN where the pixel-date is missing)
            t1 = min(nt, t0 + step)
            j = store[t0:t1].astype(np.float64)
            j *= group_mean[index[t0:t1]]
            if self.db:
                with np.errstate(divide="ignore", invalid="ignore"):
                    np.log10(j, out=j)
                j *= 10.0
            core[t0:t1] = j
        return out

    def _means_and_ratios(self, slab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Local means (NaN where the pixel-date is missing), ratios ``I / E[I]`` and where they are valid, of a slab of dates."""
        h = self.h
        lin = slab.astype(np.float64)
        ok = np.isfinite(lin)  # +-inf are missing (-inf dB would be a valid 0 in linear power)
        if self.db:
            lin /= 10.0
            np.power(10.0, lin, out=lin)
            ok &= np.isfinite(lin)
        ok &= lin >= 0
        lin[~ok] = 0.0
        mean = _box_mean(lin, ok.astype(np.float32), h)
        ny, nx = mean.shape[1], mean.shape[2]
        core, core_ok = lin[:, h:h + ny, h:h + nx], ok[:, h:h + ny, h:h + nx]
        valid = core_ok & (mean > 0)
        ratio = np.divide(core, mean, out=np.zeros_like(mean), where=valid)
        valid &= np.isfinite(ratio)
        ratio[~valid] = 0.0
        mean[~core_ok] = np.nan
        return mean, ratio, valid


def _box_mean(s: np.ndarray, c: np.ndarray, h: int) -> np.ndarray:
    """Mean of the valid values in each (2h+1)^2 window of the padded ``s`` (``c``: 1 where valid); NaN where none.

    Shifted sums in a fixed order (rows then columns), so a pixel's mean does
    not depend on where the block starts: chunked and unchunked agree exactly.
    """
    ny, nx = s.shape[1] - 2 * h, s.shape[2] - 2 * h
    sy, cy = s[:, :ny, :].copy(), c[:, :ny, :].copy()
    for d in range(1, 2 * h + 1):
        sy += s[:, d:d + ny, :]
        cy += c[:, d:d + ny, :]
    sxy, cxy = sy[:, :, :nx].copy(), cy[:, :, :nx].copy()
    for d in range(1, 2 * h + 1):
        sxy += sy[:, :, d:d + nx]
        cxy += cy[:, :, d:d + nx]
    del sy, cy
    some = cxy > 0
    np.divide(sxy, cxy, out=sxy, where=some)
    sxy[~some] = np.nan
    return sxy
