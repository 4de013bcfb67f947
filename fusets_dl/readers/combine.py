"""Several inputs of one sensor into one Dataset: the CRS compared, grids matched, dates concatenated.

Shared by :func:`~fusets_dl.readers.radar.open_s1` and
:func:`~fusets_dl.readers.optical.open_s2`. A list of inputs is either
files of other dates (one per month, per year: the same bands on the same
grid, concatenated along time) or files of other bands (a VV and a VH file;
S2 bands at 10 m and SCL at 20 m). Tiles of an area (other footprints) are
not combined: a mosaic needs resampling the readers do not do, and taking one
tile's grid would lose the other's pixels, so they are refused with their
bounds and what to do instead. The exception is inputs on one pixel lattice
(same CRS and pixel size, offsets of whole pixels: ASF HyP3 RTC scenes of one
track, OPERA RTC-S1 bursts): they are joined onto their union extent, NaN
outside each footprint, nothing resampled (:func:`concat_dates`), when their
footprints overlap or adjoin as one connected set; groups of other bands
joined so are then joined onto one union (:func:`join_bands_onto_union`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from pyproj import CRS

from .._logging import logger
from .._warn import warn_user
from ..errors import CRSMismatchError, GridMismatchError
from .normalise import _normalise_time
from .sources import SOURCE_FILE_ATTR, describe

__all__ = ["RAW_DTYPE_ATTR", "SNAP_PX", "UNION_SPARSE_FACTOR", "check_same_crs", "concat_dates", "grid_text", "join_band_dates", "join_bands_onto_union",
           "onto_same_grid", "part_names", "raw_dtype"]

#: Largest difference between two inputs' coordinates, in pixels, read as float rounding: the later input takes the
#: first one's coordinates. float32 against float64 degrees differ by up to half a float32 step: 9.5e-7 degree at
#: 32-64 degrees of latitude, 0.011 of a 10 m pixel (0.00009 degree), 0.005 of a 20 m one, under 0.002 in longitude;
#: 0.05 pixel (0.5 m of a 10 m pixel, a tenth of Sentinel-2's geolocation error) leaves room for that and no more.
SNAP_PX = 0.05

#: What to do with tiles of an area, for the messages.
TILES_REMEDY = (
    "A list of inputs is for files of other dates (one per month, per year) or of other bands (a VV and a VH file; S2 "
    "B04/B08 at 10 m and SCL at 20 m) of one grid, not for tiles of an area: open and align each tile (or each UTM "
    "zone) apart and combine the cubes with cube_a.combine_first(cube_b), or mosaic the tiles first onto one grid "
    "(odc.stac.load with groupby='solar_day', or rioxarray.merge.merge_datasets) and open the mosaic"
)


def part_names(source: Any, n: int | Sequence[xr.Dataset]) -> list[str]:
    """Names of the opened inputs of ``source``, for messages: the file names, or ``input i (<Dataset>)``.

    Parameters
    ----------
    source : path, Dataset or list of them
        What the reader was given.
    n : int or sequence of xarray.Dataset
        The inputs opened from it (:func:`~.sources.open_sources`: one per
        GeoTIFF file of a folder or list, named by its ``fdl_source_file``
        attribute), or their number.

    Returns
    -------
    list of str
        One name per input.
    """
    if not isinstance(n, int):
        opened = list(n)
        named = [d.attrs.get(SOURCE_FILE_ATTR) for d in opened]
        if opened and all(named):
            return [str(x) for x in named]
        n = len(opened)
    if isinstance(source, (str, os.PathLike, xr.Dataset, xr.DataArray)):
        items: list[Any] = [source]
    else:
        items = list(source)
    if len(items) != n:
        return [f"input {i + 1}" for i in range(n)]
    return [describe(s) if isinstance(s, (str, os.PathLike)) else f"input {i + 1} ({describe(s)})" for i, s in enumerate(items)]


def _step(v: np.ndarray) -> float | None:
    v = np.asarray(v, dtype=np.float64)
    return float(np.median(np.abs(np.diff(v)))) if v.size > 1 else None


def _crs_text(crs: CRS | None) -> str:
    if crs is None:
        return "no CRS"
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else str(crs.name)


def grid_text(ds: xr.Dataset, crs: CRS | None, name: str) -> str:
    """``name``'s grid for messages: size, pixel size, bounds (pixel edges) and CRS.

    Parameters
    ----------
    ds : xarray.Dataset
        A prepared input on ``x`` and ``y``.
    crs : pyproj.CRS or None
        Its CRS.
    name : str
        Its name.

    Returns
    -------
    str
        E.g. ``a.nc: 48 x 24 pixels of 10 x 10, bounds (600000, 5599520, 600240, 5600000), EPSG:32631``.
    """
    x, y = np.asarray(ds["x"].values, dtype=np.float64), np.asarray(ds["y"].values, dtype=np.float64)
    rx, ry = _step(x) or 0.0, _step(y) or 0.0
    bounds = (x.min() - rx / 2, y.min() - ry / 2, x.max() + rx / 2, y.max() + ry / 2)
    return (f"{name}: {y.size} x {x.size} pixels of {rx:.6g} x {ry:.6g}, bounds ({', '.join(f'{b:.8g}' for b in bounds)}), "
            f"{_crs_text(crs)}")


def _same_crs(a: CRS, b: CRS) -> bool:
    if a.equals(b, ignore_axis_order=True):
        return True
    ea, eb = a.to_epsg(), b.to_epsg()
    return ea is not None and ea == eb


def check_same_crs(parts: Sequence[tuple[xr.Dataset, CRS | None, Any]], names: Sequence[str], what: str) -> None:
    """Refuse inputs in different CRSs, naming both.

    Inputs without a CRS are not compared (the first CRS found is the
    result's, as for one input).

    Parameters
    ----------
    parts : sequence of (Dataset, CRS or None, ...)
        The prepared inputs.
    names : sequence of str
        Their names (:func:`part_names`).
    what : str
        The caller, for the message.

    Raises
    ------
    CRSMismatchError
        Two inputs in different CRSs, with both CRSs and grids.
    """
    known = [(p, n) for p, n in zip(parts, names, strict=True) if p[1] is not None]
    if not known:
        return
    (first, first_name) = known[0]
    for p, n in known[1:]:
        if not _same_crs(first[1], p[1]):
            raise CRSMismatchError(
                f"{what}: expected every input in one CRS, found {_crs_text(first[1])} and {_crs_text(p[1])} "
                f"({grid_text(first[0], first[1], first_name)}; {grid_text(p[0], p[1], n)}). The readers do not reproject "
                "one input onto another: reproject it first onto the other's grid (for a class band such as SCL with "
                "nearest neighbour: scl.rio.reproject_match(bands, resampling=rasterio.enums.Resampling.nearest); a Google "
                "Earth Engine export in EPSG:4326: export it again with crs='EPSG:326..' of the bands). " + TILES_REMEDY
            )


def _orient_like(d: xr.Dataset, ref: xr.Dataset) -> xr.Dataset:
    """``d`` reversed along ``x``/``y`` where it runs the other way than ``ref`` (one file stored y-ascending)."""
    for dim in ("x", "y"):
        if d.sizes[dim] > 1 and ref.sizes[dim] > 1:
            up_d = float(d[dim].values[-1]) > float(d[dim].values[0])
            up_r = float(ref[dim].values[-1]) > float(ref[dim].values[0])
            if up_d != up_r:
                d = d.isel({dim: slice(None, None, -1)})
    return d


def _offset_px(d: xr.Dataset, ref: xr.Dataset) -> float | None:
    """Largest difference between the coordinates of ``d`` and ``ref``, in pixels of ``ref``; None for other sizes."""
    worst = 0.0
    for dim in ("x", "y"):
        if d.sizes[dim] != ref.sizes[dim]:
            return None
        a, b = np.asarray(d[dim].values, dtype=np.float64), np.asarray(ref[dim].values, dtype=np.float64)
        diff = float(np.max(np.abs(a - b))) if a.size else 0.0
        if diff == 0.0:
            continue
        step = _step(b) or _step(a)
        if step is None or step == 0.0:
            return float("inf")
        worst = max(worst, diff / step)
    return worst


def onto_same_grid(d: xr.Dataset, ref: xr.Dataset, names: tuple[str, str], crs: tuple[CRS | None, CRS | None], what: str,
                   purpose: str) -> xr.Dataset:
    """``d`` on the coordinates of ``ref``, which must be the same grid up to float rounding.

    The same coordinates (also in the other order along an axis) are taken
    as they are; coordinates within :data:`SNAP_PX` of a pixel of ``ref``'s
    (float32 against float64 lat/lon, tools that round differently) take
    ``ref``'s, logged at INFO with the largest offset. Anything else (other
    footprints: tiles; other sizes; offsets of a larger fraction of a pixel)
    is refused.

    Parameters
    ----------
    d, ref : xarray.Dataset
        A prepared input and the first input it is combined with.
    names : (str, str)
        The names of ``d`` and ``ref``.
    crs : (CRS or None, CRS or None)
        Their CRSs, for the message.
    what : str
        The caller, for messages.
    purpose : str
        How they are combined, for the message ("to be concatenated along time").

    Returns
    -------
    xarray.Dataset
        ``d`` with ``ref``'s ``x`` and ``y``.

    Raises
    ------
    GridMismatchError
        Other grids, with both grids (size, pixel size, bounds, CRS), the
        largest offset in pixels where the sizes agree, and what to do.
    """
    d = _orient_like(d, ref)
    off = _offset_px(d, ref)
    if off == 0.0:
        return d
    if off is not None and off <= SNAP_PX:
        logger.info("%s: the coordinates of %s differ from those of %s by up to %.2g pixel (float rounding): %s takes those of %s",
                    what, names[0], names[1], off, names[0], names[1])
        return d.assign_coords(x=ref["x"].values, y=ref["y"].values)
    found = f"{grid_text(ref, crs[1], names[1])}; {grid_text(d, crs[0], names[0])}"
    if off is not None and off < 1:
        found += f"; the same size, offset by up to {off:.3g} pixel (more than the {SNAP_PX} pixel read as float rounding)"
    elif off is not None:
        found += f"; the same size, offset by up to {off:.4g} pixels: other footprints (tiles)"
    raise GridMismatchError(
        f"{what}: the inputs do not combine: expected the same grid (y, x) in every input {purpose}, found {found}. "
        + TILES_REMEDY
    )


def _lattice_index(values: np.ndarray, origin: float, step: float) -> np.ndarray | None:
    """Whole-pixel indices of ``values`` on the lattice ``origin + k step``; None when off it by more than :data:`SNAP_PX`."""
    k = (np.asarray(values, dtype=np.float64) - origin) / step
    r = np.round(k)
    return r.astype(np.int64) if k.size and float(np.max(np.abs(k - r))) <= SNAP_PX else None


#: Variable attribute recording the integer dtype of a band that the union join turned into floats (no declared nodata to
#: fill with): the readers read its encoding from it (openEO's compressed uint16, S2 DN with 0 as nodata) as from the dtype.
RAW_DTYPE_ATTR = "fdl_raw_dtype"


def raw_dtype(da: xr.DataArray) -> np.dtype:
    """The dtype ``da`` was stored in: :data:`RAW_DTYPE_ATTR` where the union join made floats of integers, else its own.

    Parameters
    ----------
    da : xarray.DataArray
        A band as read and combined.

    Returns
    -------
    numpy.dtype
        E.g. ``uint16`` for two uint16 files joined onto their union extent without a declared nodata.
    """
    return np.dtype(da.attrs[RAW_DTYPE_ATTR]) if RAW_DTYPE_ATTR in da.attrs else da.dtype


def _fill_values(d: xr.Dataset) -> dict[str, Any]:
    """What fills the pixels outside a file's footprint: its declared nodata for integer bands (their dtype kept), else NaN."""
    fills: dict[str, Any] = {}
    for v in d.data_vars:
        if np.issubdtype(d[v].dtype, np.integer):
            declared = next((src[k] for src in (d[v].attrs, d[v].encoding) for k in ("_FillValue", "nodata", "missing_value")
                             if k in src), None)
            if declared is not None:
                fills[str(v)] = declared
    return fills


def _lattice(group: Sequence[xr.Dataset]) -> tuple[list[xr.Dataset], list[dict[str, np.ndarray]], dict[str, float]] | None:
    """The inputs oriented like the first, their whole-pixel indices on its lattice and its steps; None when not one lattice."""
    ref = group[0]
    oriented = [ref] + [_orient_like(d, ref) for d in group[1:]]
    steps = {dim: _step(ref[dim].values) for dim in ("x", "y")}
    if any(st is None or st == 0.0 for st in steps.values()):
        return None
    index: list[dict[str, np.ndarray]] = []
    for d in oriented:
        per = {}
        for dim in ("x", "y"):
            st = _step(d[dim].values)
            if st is None or abs(st - steps[dim]) > 1e-6 * steps[dim]:  # type: ignore[operator]
                return None
            k = _lattice_index(d[dim].values, float(ref[dim].values[0]),
                               float(np.sign(ref[dim].values[-1] - ref[dim].values[0]) * steps[dim]))  # type: ignore[operator]
            if k is None or (k.size > 1 and not np.all(np.diff(k) == 1)):
                return None
            per[dim] = k
        index.append(per)
    return oriented, index, steps  # type: ignore[return-value]


def _reindex_onto_union(oriented: Sequence[xr.Dataset], index: Sequence[dict[str, np.ndarray]],
                        steps: dict[str, float]) -> list[xr.Dataset]:
    """Each input reindexed onto the union extent of ``index`` (declared nodata or NaN outside it), nothing resampled.

    Integer bands without a declared nodata become floats with NaN outside
    their footprint; their dtype is kept in :data:`RAW_DTYPE_ATTR`, on every
    input, so that the encoding read from the dtype (openEO's compressed
    uint16) still is.
    """
    ref = oriented[0]
    lo = {dim: min(int(i[dim].min()) for i in index) for dim in ("x", "y")}
    hi = {dim: max(int(i[dim].max()) for i in index) for dim in ("x", "y")}
    coords = {}
    for dim in ("x", "y"):
        origin = float(ref[dim].values[0])
        step = float(np.sign(ref[dim].values[-1] - ref[dim].values[0]) * steps[dim]) if ref.sizes[dim] > 1 else steps[dim]
        coords[dim] = (origin, step, origin + np.arange(lo[dim], hi[dim] + 1) * step)
    floated = {str(v) for d in oriented for v in d.data_vars if np.issubdtype(d[v].dtype, np.integer) and str(v) not in _fill_values(d)}
    out = []
    for d, i in zip(oriented, index, strict=True):
        d = d.assign_coords({dim: coords[dim][0] + i[dim] * coords[dim][1] for dim in ("x", "y")})
        fills = _fill_values(d)
        d = d.reindex({dim: coords[dim][2] for dim in ("x", "y")}, fill_value=fills or xr.core.dtypes.NA)
        for v in floated & {str(x) for x in d.data_vars}:
            if RAW_DTYPE_ATTR not in d[v].attrs and np.issubdtype(d[v].dtype, np.integer):
                d[v].attrs[RAW_DTYPE_ATTR] = str(d[v].dtype)
            if np.issubdtype(d[v].dtype, np.integer):  # already on the union extent: floats too, as the others
                d[v] = d[v].astype(np.float64)
        out.append(d)
    for d in out:  # every input the same attribute: the first one's attributes are those of the result
        for v in floated & {str(x) for x in d.data_vars}:
            if RAW_DTYPE_ATTR not in d[v].attrs:
                d[v].attrs[RAW_DTYPE_ATTR] = next(str(o[v].attrs[RAW_DTYPE_ATTR]) for o in out if v in o.data_vars
                                                  and RAW_DTYPE_ATTR in o[v].attrs)
    return out


def _rectangles(index: Sequence[dict[str, np.ndarray]]) -> list[tuple[int, int, int, int]]:
    return sorted({(int(i["x"].min()), int(i["x"].max()), int(i["y"].min()), int(i["y"].max())) for i in index})


def _gap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
    """Pixels between two footprints (0 where they overlap or adjoin, corners included)."""
    gx = max(0, max(a[0], b[0]) - min(a[1], b[1]) - 1)
    gy = max(0, max(a[2], b[2]) - min(a[3], b[3]) - 1)
    return max(gx, gy)


def _components(rects: Sequence[tuple[int, int, int, int]]) -> list[list[int]]:
    """The footprints grouped into sets that overlap or adjoin (connected)."""
    parent = list(range(len(rects)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a in range(len(rects)):
        for b in range(a + 1, len(rects)):
            if _gap(rects[a], rects[b]) == 0:
                parent[root(a)] = root(b)
    groups: dict[int, list[int]] = {}
    for i in range(len(rects)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())


def _covered(rects: Sequence[tuple[int, int, int, int]]) -> int:
    """Pixels the footprints cover together, overlaps counted once (coordinate compression: exact, small)."""
    xs = sorted({e for r in rects for e in (r[0], r[1] + 1)})
    ys = sorted({e for r in rects for e in (r[2], r[3] + 1)})
    total = 0
    for xa, xb in itertools.pairwise(xs):
        for ya, yb in itertools.pairwise(ys):
            if any(r[0] <= xa and xb - 1 <= r[1] and r[2] <= ya and yb - 1 <= r[3] for r in rects):
                total += (xb - xa) * (yb - ya)
    return total


#: A union extent larger than this many times the pixels its footprints cover is warned of (mostly NaN, memory).
UNION_SPARSE_FACTOR = 4.0


def _onto_union_lattice(group: Sequence[xr.Dataset], names: Sequence[str], crs: Sequence[CRS | None], what: str,
                        duplicates: str) -> list[xr.Dataset] | None:
    """Inputs of one pixel lattice with other extents, each reindexed onto the union extent (NaN outside it); None when not that case.

    One lattice: the same pixel size and coordinates offset by whole pixels
    (within :data:`SNAP_PX`), as ASF HyP3 RTC scenes of one track and OPERA
    RTC-S1 bursts are delivered (UTM grids with edges on multiples of the
    spacing). Nothing is resampled: each value keeps its pixel. Inputs on
    the same extent, on other lattices, or in other orders are left to
    :func:`onto_same_grid` (None). Inputs sharing a timestamp are only
    joined when ``duplicates`` says how to combine them (``"first"``,
    ``"mean"``). The footprints must form one connected set, each
    overlapping or adjoining another (consecutive frames of a track offset
    along and across it, bursts of other sub-swaths); footprints apart are
    refused with the gap in pixels, as tiles of an area are. A union extent
    more than :data:`UNION_SPARSE_FACTOR` times the area covered is warned of.
    """
    found = _lattice(group)
    if found is None:
        return None
    oriented, index, steps = found
    if all(np.array_equal(i[dim], index[0][dim]) for i in index for dim in ("x", "y")):
        return None  # one extent: onto_same_grid takes them (float rounding)
    times = [pd.DatetimeIndex(d["time"].values) for d in oriented]
    shared = pd.DatetimeIndex(np.concatenate([t.values for t in times])).duplicated().any()
    if shared and duplicates == "raise":
        return None  # tiles of one date: refused by onto_same_grid, with the remedy
    rects = _rectangles(index)
    parts = _components(rects)
    if len(parts) > 1:  # before: any union box larger than the summed footprints, diagonal overlaps included
        nearest = min(_gap(rects[a], rects[b]) for i, p in enumerate(parts) for q in parts[i + 1:] for a in p for b in q)
        raise GridMismatchError(
            f"{what}: the inputs do not combine: expected files of one pixel lattice whose footprints overlap or adjoin (scenes of "
            f"one track, bursts of one pass), found {len(parts)} sets of footprints apart, the nearest two {nearest} pixels apart ("
            + "; ".join(grid_text(d, c, n) for d, c, n in zip(oriented, crs, names, strict=True)) + "). " + TILES_REMEDY
        )
    out = _reindex_onto_union(oriented, index, steps)
    ny, nx = out[0].sizes["y"], out[0].sizes["x"]
    covered = _covered(rects)
    if ny * nx > UNION_SPARSE_FACTOR * covered:
        warn_user(f"{what}: {len(group)} inputs on one pixel lattice joined onto their union extent, {ny} x {nx} pixels, of which "
                  f"their footprints cover {covered} ({100 * covered / (ny * nx):.0f} %): the rest is NaN on every date, held in memory "
                  "and computed; subset with bbox= or give fewer scenes if that is not wanted")
    logger.info("%s: %d inputs on one %g x %g pixel lattice with other extents (scenes of one track, bursts of one pass) joined "
                "onto their union extent, %d x %d pixels, NaN outside each footprint (nothing resampled)", what, len(group),
                steps["x"], steps["y"], ny, nx)
    return out


def join_bands_onto_union(parts: Sequence[xr.Dataset], labels: Sequence[str], what: str) -> list[xr.Dataset]:
    """Groups of other bands, each already joined onto its own union extent, onto the union of all of them when on one lattice.

    A single-pol scene among dual-pol scenes of other extents made a VV
    union and a smaller VH union, refused as other grids when merged. Groups
    on other lattices or other pixel sizes (S2 at 10 m and SCL at 20 m), or
    all on one extent, are returned as they are.

    Parameters
    ----------
    parts : sequence of xarray.Dataset
        One Dataset per group of inputs holding the same bands.
    labels : sequence of str
        Their names, for the log line.
    what : str
        The caller, for messages.

    Returns
    -------
    list of xarray.Dataset
        The groups on one grid where they were on one lattice, else ``parts``.
    """
    if len(parts) < 2:
        return list(parts)
    found = _lattice(parts)
    if found is None:
        return list(parts)
    oriented, index, steps = found
    if all(np.array_equal(i[dim], index[0][dim]) for i in index for dim in ("x", "y")):
        return list(parts)
    out = _reindex_onto_union(oriented, index, steps)
    logger.info("%s: the band groups %s, on one %g x %g pixel lattice with other extents, joined onto their union extent, %d x %d "
                "pixels (NaN outside each)", what, "; ".join(labels), steps["x"], steps["y"], out[0].sizes["y"], out[0].sizes["x"])
    return out


def join_band_dates(parts: Sequence[xr.Dataset], labels: Sequence[str], what: str) -> list[xr.Dataset]:
    """Groups of other bands onto the union of their dates where a band lacks a few (single-pol scenes among dual-pol ones).

    A band missing on at most half of the dates gets NaN there, with a
    warning naming the band and the dates; other date sets (other years in
    other files) are left as they are, for the caller to refuse.

    Parameters
    ----------
    parts : sequence of xarray.Dataset
        One Dataset per group of inputs holding the same bands, on one grid.
    labels : sequence of str
        Their names, for the warning.
    what : str
        The caller, for messages.

    Returns
    -------
    list of xarray.Dataset
        The groups on the union of their dates, or ``parts``.
    """
    times = [pd.DatetimeIndex(d["time"].values) for d in parts]
    if len(parts) < 2 or all(t.equals(times[0]) for t in times[1:]):
        return list(parts)
    union = times[0]
    for t in times[1:]:
        union = union.union(t)
    if any(t.duplicated().any() for t in times) or any(union.size - t.size > union.size / 2 for t in times):
        return list(parts)
    out, said = [], []
    for d, t, label in zip(parts, times, labels, strict=True):
        missing = union.difference(t)
        if missing.size:
            said.append(f"{'/'.join(map(str, d.data_vars))} ({label}) on {missing.size} of {union.size} dates "
                        f"({', '.join(str(x)[:10] for x in missing[:4])}{' ...' if missing.size > 4 else ''})")
            ints = {str(v): str(d[v].dtype) for v in d.data_vars if np.issubdtype(d[v].dtype, np.integer) and str(v) not in _fill_values(d)}
            d = d.reindex(time=union, fill_value=_fill_values(d) or xr.core.dtypes.NA)
            for v, dt in ints.items():
                d[v].attrs.setdefault(RAW_DTYPE_ATTR, dt)
        out.append(d)
    for d in out:  # the first group's attributes are the result's: the same raw dtype on all
        for v in d.data_vars:
            if np.issubdtype(d[v].dtype, np.integer) and any(RAW_DTYPE_ATTR in o[v].attrs for o in out if v in o.data_vars):
                d[v].attrs.setdefault(RAW_DTYPE_ATTR, str(d[v].dtype))
    warn_user(f"{what}: bands missing on some dates (single-pol scenes among dual-pol ones?): " + "; ".join(said)
              + ": NaN there, those dates kept for the other bands")
    return out


def _fill_time_coords(group: list[xr.Dataset]) -> list[xr.Dataset]:
    """Per-date coordinates (``s2:processing_baseline``, ``orbit``) that some inputs lack, given to those as None (unknown)."""
    names = {str(c) for d in group for c in d.coords if c != "time" and d[c].dims == ("time",)}
    out = []
    for d in group:
        missing = {n: ("time", np.full(d.sizes["time"], None, dtype=object)) for n in names if n not in d.coords}
        out.append(d.assign_coords(missing) if missing else d)
    return out


def concat_dates(group: Sequence[xr.Dataset], names: Sequence[str], crs: Sequence[CRS | None], what: str,
                 duplicates: str) -> xr.Dataset:
    """Inputs holding the same bands on other dates, concatenated along time on the first one's grid, dates sorted.

    Inputs on one pixel lattice with other extents (the same pixel size,
    coordinates offset by whole pixels) are first joined onto their union
    extent, NaN outside each footprint: without resampling, each value on
    its own pixel (logged at INFO). A timestamp in two of them is only
    joined so when ``duplicates`` is ``"first"`` or ``"mean"`` (tiles of one
    date are refused otherwise); footprints apart (not one set of
    footprints overlapping or adjoining each other) are refused.

    Parameters
    ----------
    group : sequence of xarray.Dataset
        Prepared inputs holding the same bands.
    names : sequence of str
        Their names.
    crs : sequence of pyproj.CRS or None
        Their CRSs (compared before, by :func:`check_same_crs`).
    what : str
        The caller, for messages.
    duplicates : {"raise", "first", "mean"}
        A date in two inputs (tiles of one acquisition, overlapping periods),
        as the readers' ``duplicates`` option says.

    Returns
    -------
    xarray.Dataset
        One Dataset, dates sorted; lazy on Dask input.

    Raises
    ------
    GridMismatchError
        Inputs on other grids (:func:`onto_same_grid`).
    DuplicateTimeError
        A date in two inputs with ``duplicates="raise"``.
    """
    if len(group) == 1:
        return group[0]
    union = _onto_union_lattice(group, names, crs, what, duplicates)
    if union is not None:
        group = union
    ref = group[0]
    matched = [ref] + [onto_same_grid(d, ref, (n, names[0]), (c, crs[0]), what, "holding the same bands, to be concatenated along time")
                       for d, n, c in zip(group[1:], names[1:], crs[1:], strict=True)]
    ds = xr.concat(_fill_time_coords(matched), dim="time", join="exact", data_vars="minimal", coords="minimal", compat="override",
                   combine_attrs="override")
    return _normalise_time(ds.sortby("time"), what, duplicates)
