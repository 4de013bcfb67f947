"""Space: S2 onto the S1 grid (exact block mean where the grids nest, else reprojection), static layers onto it."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from .._logging import logger
from ..errors import CRSMismatchError, GridMismatchError
from ..readers.terrain import FLAT_ASPECT
from ..validate import is_dask_backed
from .reproject import is_rotated, reproject_average, reproject_bilinear

__all__ = ["against_north_up", "needs_reprojection", "north_up", "s2_onto_s1", "static_onto_s1"]


def north_up(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with ``y`` decreasing and ``x`` increasing, a north-up raster's order (lazily; unchanged when already so).

    The fusion cube takes the S1 grid; put in this order, a cube does not
    depend on which way up its inputs were stored (netCDF exports and
    ``sortby("y")`` give ``y`` increasing), and neither do what is drawn
    from its positions (training's blocks and samples). Integer ``y``/``x``
    numbering rows and columns from 0 (no ground coordinates) count row 0
    as the top row and are left as they are.

    Parameters
    ----------
    ds : xarray.Dataset
        A dataset on ``y`` and ``x``.

    Returns
    -------
    xarray.Dataset
        The same values, reordered where needed.
    """
    flip = {dim: slice(None, None, -1) for dim, against in zip(("y", "x"), against_north_up(ds), strict=True) if against}
    return ds.isel(flip) if flip else ds


def against_north_up(ds: xr.Dataset | xr.DataArray) -> tuple[bool, bool]:
    """Whether ``y`` runs upwards (increasing) and whether ``x`` runs westwards (decreasing): against a north-up raster.

    Integer ``y``/``x`` numbering rows and columns from 0 (no ground
    coordinates) and axes of fewer than 2 pixels run neither way.

    Parameters
    ----------
    ds : xarray.Dataset or xarray.DataArray
        A dataset on ``y`` and ``x``.

    Returns
    -------
    tuple of bool
        ``(y against, x against)``.
    """
    out = []
    for dim, decreasing in (("y", True), ("x", False)):
        against = False
        if dim in ds.dims and ds.sizes[dim] >= 2 and dim in ds.coords:
            v = np.asarray(ds[dim].values)
            numbered = v.dtype.kind in "iu" and v[0] == 0 and np.array_equal(v, np.arange(v.size))
            against = v.dtype.kind in "iuf" and not numbered and bool(v[0] < v[-1]) == decreasing
        out.append(against)
    return out[0], out[1]


def _res_xy(ds: xr.Dataset) -> tuple[float, float]:
    """Signed pixel size (x, y) from the coordinates; a one-pixel axis borrows the other's size."""
    x, y = ds["x"].values, ds["y"].values
    rx = float(x[1] - x[0]) if x.size > 1 else None
    ry = float(y[1] - y[0]) if y.size > 1 else None
    if rx is None and ry is None:
        try:
            rxr, ryr = ds.rio.resolution()
            return float(rxr), float(ryr)
        except Exception as exc:
            raise GridMismatchError(
                "grid of 1 x 1 pixel: expected at least 2 pixels along x or y (or a stored transform) "
                "to infer the resolution"
            ) from exc
    rx = abs(ry) if rx is None else rx
    ry = -abs(rx) if ry is None else ry
    return rx, ry


def _bounds(ds: xr.Dataset) -> tuple[float, float, float, float]:
    rx, ry = (abs(r) for r in _res_xy(ds))
    x, y = ds["x"].values, ds["y"].values
    return (float(x.min() - rx / 2), float(y.min() - ry / 2), float(x.max() + rx / 2), float(y.max() + ry / 2))


def needs_reprojection(s1: xr.Dataset, s2: xr.Dataset) -> bool:
    """Whether S2 must be reprojected onto the S1 CRS.

    Parameters
    ----------
    s1, s2 : xarray.Dataset
        The S1 and S2 inputs of :func:`~fusets_dl.alignment.align`.

    Returns
    -------
    bool
        True when both have a CRS and they differ; False when they share one,
        or when neither has one (a warning is logged).

    Raises
    ------
    CRSMismatchError
        When only one of them has a CRS.
    """
    c1, c2 = s1.rio.crs, s2.rio.crs
    if c1 is None and c2 is None:
        if "point" in s1.coords and "point" in s2.coords:  # open_points' pseudo-grid: the same points, no CRS
            logger.info("align: point pseudo-grids, no CRS")
        else:
            logger.warning("align: neither input has a CRS; assuming both share one")
        return False
    if (c1 is None) != (c2 is None):
        raise CRSMismatchError(
            f"align: expected both inputs with a CRS (or neither), found S1 CRS {c1} and S2 CRS {c2}; "
            "write one with ds.rio.write_crs(...)"
        )
    return c1 != c2


def _nested_factor(s1: xr.Dataset, s2: xr.Dataset) -> int | None:
    """Integer factor k when S2 pixels tile S1 pixels exactly (k x k), else None."""
    (r1x, r1y), (r2x, r2y) = _res_xy(s1), _res_xy(s2)
    if np.sign(r1x) != np.sign(r2x) or np.sign(r1y) != np.sign(r2y):
        return None
    kx, ky = r1x / r2x, r1y / r2y
    if abs(kx - round(kx)) > 1e-6 or abs(ky - round(ky)) > 1e-6 or round(kx) != round(ky) or round(kx) < 1:
        return None
    k = round(kx)
    for c1, c2, r2 in ((s1["x"].values, s2["x"].values, r2x), (s1["y"].values, s2["y"].values, r2y)):
        edge1 = c1[0] - (r2 * k) / 2
        edge2 = c2[0] - r2 / 2
        off = (edge1 - edge2) / r2
        if abs(off - round(off)) > 1e-3:
            return None
    return k


def _fine_coords(coarse: np.ndarray, res_coarse: float, k: int) -> np.ndarray:
    j = (np.arange(k) + 0.5) * (res_coarse / k)
    return (coarse[:, None] - res_coarse / 2 + j[None, :]).ravel()


def _check_overlap(s1: xr.Dataset, s2: xr.Dataset) -> None:
    b1, b2 = _bounds(s1), _bounds(s2)
    if b1[0] >= b2[2] or b2[0] >= b1[2] or b1[1] >= b2[3] or b2[1] >= b1[3]:
        raise GridMismatchError(
            f"align: expected S1 and S2 grids that overlap, found S1 bounds {b1} and S2 bounds {b2} "
            f"(CRS {s1.rio.crs})"
        )


def _block_mean(src: xr.Dataset, s1: xr.Dataset, s2: xr.Dataset, k: int) -> xr.Dataset:
    """Mean of the k x k S2 sub-pixels of each S1 pixel (NaN-skipping); ``cf`` missing counts as 0."""
    (r1x, r1y), (r2x, _) = _res_xy(s1), _res_xy(s2)
    fx = _fine_coords(s1["x"].values, r1x, k)
    fy = _fine_coords(s1["y"].values, r1y, k)
    both = src.reindex(x=fx, y=fy, method="nearest", tolerance=abs(r2x) / 4)
    both["cf"] = both["cf"].fillna(0.0)
    if is_dask_backed(both):
        cy = s1.chunksizes.get("y", (256,))[0] if s1.chunks else 256
        cx = s1.chunksizes.get("x", (256,))[0] if s1.chunks else 256
        both = both.chunk({"time": -1, "y": cy * k, "x": cx * k})
    agg = both if k == 1 else both.coarsen(y=k, x=k).mean()  # NaN-skipping for floats
    return agg.assign_coords(y=s1["y"].values, x=s1["x"].values)


#: Given to both sides of a warp between grids without a CRS (any projected CRS: the same on both sides is the identity).
_SHARED_UNKNOWN_CRS = "EPSG:3857"


def _reproject_average(src: xr.Dataset, s1: xr.Dataset, s2: xr.Dataset) -> xr.Dataset:
    """Area-weighted average onto the S1 grid, one warp per S1 chunk (lazy on Dask input; see :mod:`.reproject`),
    with ``coverage``, the share of each S1 pixel inside the S2 footprint."""
    src_crs, dst_crs = s2.rio.crs, s1.rio.crs if s1.rio.crs is not None else s2.rio.crs
    if src_crs is None and dst_crs is None:
        # neither input has a CRS: as documented, both are taken to share one, so the warp only resamples between the two
        # grids' own coordinates; any projected CRS given to both sides does that (the cube gets no CRS)
        logger.info("align: neither S1 nor S2 has a CRS: S2 resampled onto the S1 grid taking both in one CRS (their coordinates)")
        src_crs = dst_crs = _SHARED_UNKNOWN_CRS
    out = reproject_average(src, src_crs, s1, dst_crs, coverage=True)
    if not is_dask_backed(out):
        if not bool(np.isfinite(out["cf"].values).any()):
            raise GridMismatchError(
                f"align: expected S1 and S2 grids that overlap, found none after reprojecting "
                f"S2 bounds {_bounds(s2)} ({s2.rio.crs}) onto S1 bounds {_bounds(s1)} ({s1.rio.crs})"
            )
    else:
        _check_overlap_reprojected(s1, s2)
    return out


def _check_overlap_reprojected(s1: xr.Dataset, s2: xr.Dataset) -> None:
    """Refuse grids whose footprints do not overlap once S2's is carried into the S1 CRS (coordinates only)."""
    from pyproj import Transformer

    if s1.rio.crs is None and s2.rio.crs is None:  # both taken in one CRS (see _reproject_average)
        _check_overlap(s1, s2)
        return
    b2 = _bounds(s2)
    try:
        tb = Transformer.from_crs(s2.rio.crs, s1.rio.crs, always_xy=True).transform_bounds(*b2, densify_pts=21)
    except Exception as exc:
        raise CRSMismatchError(f"align: cannot reproject S2 ({s2.rio.crs}) onto the S1 grid ({s1.rio.crs}): {exc}") from exc
    b1 = _bounds(s1)
    if b1[0] >= tb[2] or tb[0] >= b1[2] or b1[1] >= tb[3] or tb[1] >= b1[3]:
        raise GridMismatchError(
            f"align: expected S1 and S2 grids that overlap, found S2 bounds {b2} ({s2.rio.crs}), "
            f"{tuple(round(v, 3) for v in tb)} in the S1 CRS, and S1 bounds {b1} ({s1.rio.crs})"
        )


def s2_onto_s1(
    s2: xr.Dataset, s1: xr.Dataset, reproject: bool, raw: bool = False
) -> tuple[xr.DataArray, xr.DataArray, str, xr.DataArray | None]:
    """Bring the clear S2 NDVI and its clear fraction onto the S1 grid.

    Where the S2 pixels tile the S1 pixels exactly (10 m in 20 m) this is the
    exact mean of the clear S2 sub-pixels; otherwise an area-weighted
    average reprojection, one warp per S1 chunk (:mod:`.reproject`). Both
    are lazy on Dask input.

    Parameters
    ----------
    s2 : xarray.Dataset
        ``NDVI`` and ``clear`` from :func:`fusets_dl.open_s2`.
    s1 : xarray.Dataset
        ``VV`` on the target grid, from :func:`fusets_dl.open_s1`.
    reproject : bool
        Reproject even where the grids would nest (the CRSs differ).
    raw : bool
        Also return the NDVI of all pixels, clear or not.

    Returns
    -------
    ndvi : xarray.DataArray
        Mean clear NDVI per S1 pixel (NaN where none is clear).
    clear_fraction : xarray.DataArray
        Share of the area of each S1 pixel covered by clear S2 pixels (0
        where none); area outside the S2 footprint counts as not clear, in
        both methods.
    method : str
        How the grids were matched, for the summary.
    ndvi_all : xarray.DataArray or None
        Mean NDVI of all S2 pixels when ``raw``, else None.

    Raises
    ------
    GridMismatchError
        When the grids do not overlap.
    CRSMismatchError
        When the reprojection fails.
    """
    if not reproject:
        _check_overlap(s1, s2)
    nd = s2["NDVI"].where(s2["clear"])
    cf = s2["clear"].astype(np.float32)
    extra = {"nr": s2["NDVI"].astype(np.float32)} if raw else {}
    k = None if reproject else _nested_factor(s1, s2)
    if k is not None:
        agg = _block_mean(xr.Dataset({"nd": nd, "cf": cf, **extra}), s1, s2, k)
        method = "exact block mean" if k > 1 else "same grid"
        return agg["nd"], agg["cf"], f"{method} (factor {k})", agg["nr"] if raw else None
    src = xr.Dataset({"nd": nd.fillna(np.nan).astype(np.float32), "cf": cf, **extra})
    out = _reproject_average(src, s1, s2)
    # The averages are over the S2 pixels that fall in each S1 pixel; the clear fraction counts the area outside
    # the S2 footprint as not clear, as the block mean does (an S1 pixel half off a tile edge is at most 0.5 clear).
    cf_out = (out["cf"].fillna(0.0) * out["coverage"]).transpose("time", "y", "x")
    return out["nd"], cf_out, "reprojection (area-weighted average, per chunk)", out["nr"] if raw else None


_NODATA_ATTRS = ("_FillValue", "missing_value", "nodata")


def _static_float(da: xr.DataArray) -> xr.DataArray:
    """The layer as float32 with its nodata (``rio.nodata``: ``_FillValue``, ``missing_value`` or ``nodata``) as NaN."""
    nodata = da.rio.nodata
    out = da.astype(np.float32)
    if nodata is not None and not np.isnan(nodata):
        out = out.where(da != nodata)
    out.attrs = {k: v for k, v in da.attrs.items() if k not in _NODATA_ATTRS}
    out.encoding = {k: v for k, v in da.encoding.items() if k not in ("_FillValue", "missing_value", "dtype")}
    return out


def _bilinear_onto(layer: xr.DataArray, crs: Any, template: xr.DataArray) -> xr.DataArray:
    """``layer`` (float, NaN nodata) onto ``template``'s grid: bilinear, one window per chunk on Dask."""
    src = layer.rio.write_crs(crs).rio.write_nodata(np.nan, encoded=False)  # NaN is the warp's nodata
    return reproject_bilinear(src, template)


# Below this length of the mean direction vector the neighbourhood has no common direction: flat.
_MIN_DIRECTION = 0.25


def _aspect_onto(aspect: xr.DataArray, crs: Any, template: xr.DataArray) -> xr.DataArray:
    """Aspect (degrees, :data:`FLAT_ASPECT` on flat ground) onto ``template``'s grid as its direction vector.

    Bilinear on degrees crosses the 0/360 wrap: 350 and 10 (north) averaged
    to 180 (south). The sine and cosine are warped instead (flat ground as
    the zero vector) and the direction read back; where the mean vector is
    shorter than :data:`_MIN_DIRECTION` the ground is flat.
    """
    rad = np.deg2rad(aspect)
    flat = aspect < 0
    sin = _bilinear_onto(xr.where(flat, 0.0, np.sin(rad)).astype(np.float32), crs, template)
    cos = _bilinear_onto(xr.where(flat, 0.0, np.cos(rad)).astype(np.float32), crs, template)
    deg = np.rad2deg(np.arctan2(sin, cos)) % 360.0
    out = xr.where(np.hypot(sin, cos) < _MIN_DIRECTION, np.float32(FLAT_ASPECT), deg).where(np.isfinite(sin) & np.isfinite(cos))
    return out.astype(np.float32).rename(aspect.name)


# Pixel centres of the S1 grid (per axis, at most) whose position the coverage check carries into the layer's CRS.
_COVERAGE_SAMPLES = 64


def _check_coverage(layer: xr.DataArray, template: xr.DataArray, name: str) -> None:
    """Refuse a layer that covers no pixel of the S1 grid, warn one that covers part of it (from the grids, reading nothing)."""
    from pyproj import CRS as _CRS
    from pyproj import Transformer

    iy = np.unique(np.linspace(0, template.sizes["y"] - 1, min(_COVERAGE_SAMPLES, template.sizes["y"])).round().astype(int))
    ix = np.unique(np.linspace(0, template.sizes["x"] - 1, min(_COVERAGE_SAMPLES, template.sizes["x"])).round().astype(int))
    yy, xx = np.meshgrid(template["y"].values[iy], template["x"].values[ix], indexing="ij")
    to_layer = Transformer.from_crs(_CRS.from_user_input(template.rio.crs), _CRS.from_user_input(layer.rio.crs), always_xy=True)
    lx, ly = (np.asarray(v) for v in to_layer.transform(xx.ravel(), yy.ravel()))
    left, bottom, right, top = _bounds(layer.to_dataset(name="v") if isinstance(layer, xr.DataArray) else layer)
    inside = (lx >= left) & (lx <= right) & (ly >= bottom) & (ly <= top)
    share = float(inside.mean()) if inside.size else 0.0
    if share == 0.0:
        raise GridMismatchError(
            f"align: terrain {name!r}: expected a layer over the S1 grid, found none of its pixels under it (the layer spans "
            f"x {left:.6g}..{right:.6g}, y {bottom:.6g}..{top:.6g} in {_CRS.from_user_input(layer.rio.crs).to_string()}); "
            "another area, or a wrong CRS?"
        )
    if share < 0.99:
        from .._warn import warn_user

        warn_user(f"align: terrain {name!r} covers about {share:.0%} of the S1 grid; the rest is NaN (predictions there read "
                  "the terrain's baseline)")


def static_onto_s1(da: xr.DataArray, s1: xr.Dataset, regrid: bool) -> xr.DataArray:
    """A static layer (elevation, slope, aspect) on the S1 grid as float32, its nodata as NaN.

    Parameters
    ----------
    da : xarray.DataArray
        The layer on ``(y, x)``. Its nodata (``rio.nodata``: a
        ``_FillValue``, ``missing_value`` or ``nodata`` attribute or encoding)
        reads as NaN, and so does the cube outside the layer: a DEM's
        ``-32768`` or ``-9999`` was an elevation. Values outside the layer's
        physical range are warned (in-memory layers).
    s1 : xarray.Dataset
        ``VV`` on the target grid.
    regrid : bool
        Whether the layer may be on another grid (it came from a separate
        ``terrain`` Dataset); if so and its coordinates differ from S1's it is
        reprojected with bilinear resampling (``rio.reproject_match``, the
        kernel scale fixed): in memory for an in-memory layer, lazily per
        chunk for a Dask one (same values).

    Returns
    -------
    xarray.DataArray
        The layer on the S1 grid, attrs kept (less the nodata ones); Dask-backed when ``da`` is.

    Raises
    ------
    CRSMismatchError
        A layer to regrid without a CRS.
    """
    flt = _static_float(da)
    if not regrid or (np.array_equal(da["x"].values, s1["x"].values) and np.array_equal(da["y"].values, s1["y"].values)):
        return flt
    if da.rio.crs is None:
        raise CRSMismatchError(
            f"align: terrain {da.name!r}: expected a CRS to bring it onto the S1 grid, found none (its grid differs "
            "from S1's); write one with terrain.rio.write_crs(...)"
        )
    template = s1["VV"].isel(time=0, drop=True)
    if template.rio.crs is None:  # as for S2: without a CRS on S1, both are taken to share one
        template = template.rio.write_crs(da.rio.crs)
    if not is_rotated(da):  # a rotated layer's x/y are pixel numbers: its footprint is not checked
        _check_coverage(da, template, str(da.name))
    if da.name == "aspect":
        out = _aspect_onto(flt, da.rio.crs, template)
    else:
        out = _bilinear_onto(flt, da.rio.crs, template)
    out = out.assign_coords(y=s1["y"].values, x=s1["x"].values).astype(np.float32)
    out.attrs = flt.attrs
    return out
