"""Lazy reprojection of S2 onto the S1 grid: area-weighted average, one warp per output chunk.

Each chunk of the S1 grid is one task: its footprint is carried into the S2
CRS, the S2 window covering it (plus a margin) is sliced out -- lazily on Dask
input, so only the S2 chunks under that window are read -- and warped with
GDAL's average resampling (NaN is nodata, so only valid S2 pixels are
averaged, weighted by the share of each that falls in the S1 pixel). The
result does not depend on the chunking. With ``coverage=True`` it also
gives the share of each output pixel inside the source footprint, so that a
clear fraction can count the area outside S2 as not clear.
:func:`reproject_bilinear` brings a static 2-D layer (terrain) onto the grid
lazily, one source window per output chunk, with the values of
``rio.reproject_match`` (its kernel scale fixed to the whole grid's).
:func:`s2_pixels_per_s1_pixel` counts the S2 pixel centres that fall in each
S1 pixel, for the funnel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from affine import Affine
from pyproj import CRS, Transformer

from ..errors import CRSMismatchError, GridMismatchError

__all__ = ["grid_transform", "is_rotated", "reproject_average", "reproject_bilinear", "s2_pixels_per_s1_pixel"]

# Source pixels added around the footprint of an output chunk (GDAL's average kernel reaches that far).
_MARGIN = 2
# Points along each edge of an output chunk when carrying its footprint into the source CRS.
_DENSIFY = 21
# Side of the central window of S1 pixels over which the funnel counts S2 pixels.
_COUNT_WINDOW = 512


def grid_transform(ds: xr.Dataset | xr.DataArray) -> Affine:
    """Affine transform of a regular grid from its ``x``/``y`` pixel-centre coordinates.

    Parameters
    ----------
    ds : xarray.Dataset or xarray.DataArray
        A grid with at least 2 pixels along ``x`` and ``y``.

    Returns
    -------
    affine.Affine
        Pixel (col, row) -> upper-left corner coordinates.

    Raises
    ------
    GridMismatchError
        Fewer than 2 pixels along an axis without a stored transform, or
        unevenly spaced coordinates.
    """
    x, y = np.asarray(ds["x"].values, dtype=np.float64), np.asarray(ds["y"].values, dtype=np.float64)
    if (x.size < 2 or y.size < 2) and x.size and y.size:
        try:
            rx, ry = (float(r) for r in ds.rio.resolution())
        except Exception:
            rx = ry = None
        if rx is not None and ry is not None:
            return Affine(rx, 0.0, x[0] - rx / 2, 0.0, ry, y[0] - ry / 2)
    if x.size < 2 or y.size < 2:
        raise GridMismatchError(f"reprojection: expected a grid of at least 2 x 2 pixels, found {y.size} x {x.size}")
    rx, ry = (x[-1] - x[0]) / (x.size - 1), (y[-1] - y[0]) / (y.size - 1)
    for c, r, name in ((x, rx, "x"), (y, ry, "y")):
        # every centre within a tenth of a pixel of the regular grid through the ends: float32 coordinates (netCDF exports
        # of lon/lat) hold a 20 m grid at 50 degrees north to about 0.02 pixel (a 10 m grid near 180 degrees east to 0.06),
        # and were refused at 1e-6
        off = np.abs(c - (c[0] + r * np.arange(c.size))) / max(abs(r), np.finfo(np.float64).tiny)
        if not off.max() <= GRID_TOLERANCE_PIXELS:
            raise GridMismatchError(
                f"reprojection: expected evenly spaced {name} coordinates (every pixel centre within {GRID_TOLERANCE_PIXELS:g} "
                f"of a pixel of a regular grid), found steps {np.unique(np.diff(c))[:4]}, a centre {off.max():.3g} pixels off")
    return Affine(rx, 0.0, x[0] - rx / 2, 0.0, ry, y[0] - ry / 2)


#: How far (in pixels) a pixel centre may lie from the regular grid :func:`grid_transform` fits through the ends
#: (float32 lon/lat: up to about 0.06 of a 10 m pixel; the fitted grid is then the better estimate of the true one).
GRID_TOLERANCE_PIXELS = 0.1


def _apply(t: Affine, x: Any, y: Any) -> tuple[Any, Any]:
    """``t`` applied to column/row (or x/y) numbers or arrays, written out: affine 3 deprecates ``t * (x, y)``
    in favour of ``t @ (x, y)``, which affine before 2.4 lacks."""
    return t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f


def _shifted(t: Affine, cols: float, rows: float) -> Affine:
    """``t`` of the grid that starts ``cols`` columns and ``rows`` rows into ``t``'s (``t * Affine.translation``, written out)."""
    x0, y0 = _apply(t, cols, rows)
    return Affine(t.a, t.b, x0, t.d, t.e, y0)


def _window_extent(src_t: Affine, dst_t: Affine, rows: tuple[int, int], cols: tuple[int, int], to_src: Transformer,
                   margin: int = _MARGIN) -> tuple[int, int, int, int] | None:
    """Source rows ``r0:r1`` and columns ``c0:c1`` under an output block plus ``margin``, not clipped to the
    source grid (they may be negative or past its end); None when the footprint cannot be carried across."""
    r = np.linspace(rows[0], rows[1], _DENSIFY)
    c = np.linspace(cols[0], cols[1], _DENSIFY)
    edge_c = np.concatenate([c, c, np.full(_DENSIFY, cols[0]), np.full(_DENSIFY, cols[1])])
    edge_r = np.concatenate([np.full(_DENSIFY, rows[0]), np.full(_DENSIFY, rows[1]), r, r])
    xs, ys = _apply(dst_t, edge_c, edge_r)
    sx, sy = to_src.transform(xs, ys)
    sc, sr = _apply(~src_t, np.asarray(sx), np.asarray(sy))
    if not (np.all(np.isfinite(sc)) and np.all(np.isfinite(sr))):
        return None
    r0, r1 = int(np.floor(np.min(sr))) - margin, int(np.ceil(np.max(sr))) + margin
    c0, c1 = int(np.floor(np.min(sc))) - margin, int(np.ceil(np.max(sc))) + margin
    return r0, r1, c0, c1


def _window(src_t: Affine, src_shape: tuple[int, int], dst_t: Affine, rows: tuple[int, int], cols: tuple[int, int],
            to_src: Transformer, margin: int = _MARGIN) -> tuple[slice, slice] | None:
    """Rows and columns of the source covering an output block (with a margin), or None when outside."""
    ext = _window_extent(src_t, dst_t, rows, cols, to_src, margin)
    if ext is None:
        return None
    r0, r1 = max(ext[0], 0), min(ext[1], src_shape[0])
    c0, c1 = max(ext[2], 0), min(ext[3], src_shape[1])
    if r0 >= r1 or c0 >= c1:
        return None
    return slice(r0, r1), slice(c0, c1)


def _warp(src: np.ndarray, src_t: Affine, dst_t: Affine, shape: tuple[int, int], src_crs: str, dst_crs: str) -> np.ndarray:
    from rasterio.enums import Resampling
    from rasterio.warp import reproject

    out = np.full((src.shape[0], *shape), np.nan, dtype=np.float32)
    reproject(
        source=src, destination=out, src_transform=src_t, src_crs=src_crs, dst_transform=dst_t, dst_crs=dst_crs,
        resampling=Resampling.average, dst_nodata=np.nan,
    )
    return out


def _warp_block(src: np.ndarray, src_t: Affine, dst_t: Affine, shape: tuple[int, int], src_crs: str, dst_crs: str) -> np.ndarray:
    """Area-weighted mean of the valid (finite) source pixels over each output pixel; NaN where none.

    Warps the values with NaN set to 0 and the validity mask, both with
    GDAL's area-weighted average, and divides: sum(w v m) / sum(w m), so
    missing pixels are left out exactly (GDAL's own nodata handling drops
    whole output pixels when their sampled centre is missing).
    """
    src = np.asarray(src, dtype=np.float32)
    if src.shape[0] == 0:
        return np.full((0, *shape), np.nan, dtype=np.float32)
    valid = np.isfinite(src)
    num = _warp(np.ascontiguousarray(np.where(valid, src, 0.0), dtype=np.float32), src_t, dst_t, shape, src_crs, dst_crs)
    den = _warp(np.ascontiguousarray(valid, dtype=np.float32), src_t, dst_t, shape, src_crs, dst_crs)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-6, num / den, np.nan).astype(np.float32)


def _split(n: int, size: int = 256) -> tuple[int, ...]:
    """Chunks of ``size`` along an axis of ``n`` (the last one shorter)."""
    return tuple(min(size, n - i) for i in range(0, n, size))


def _block_edges(chunks: tuple[int, ...]) -> list[tuple[int, int]]:
    ends = np.cumsum(chunks)
    return [(int(e - n), int(e)) for n, e in zip(chunks, ends, strict=True)]


def _reproject_var(da: xr.DataArray, src_t: Affine, dst_t: Affine, ychunks: tuple[int, ...], xchunks: tuple[int, ...],
                   src_crs: CRS, dst_crs: CRS, to_src: Transformer) -> Any:
    """One variable on ``(time, y, x)`` onto the output blocks: a Dask array when ``da`` is Dask-backed, else NumPy."""
    import dask
    import dask.array as dsa

    lazy = da.chunks is not None
    data = da.transpose("time", "y", "x").data
    nt = data.shape[0]
    wkt_src, wkt_dst = src_crs.to_wkt(), dst_crs.to_wkt()
    rows = []
    for r0, r1 in _block_edges(ychunks):
        row = []
        for c0, c1 in _block_edges(xchunks):
            shape = (r1 - r0, c1 - c0)
            bt = _shifted(dst_t, c0, r0)
            win = _window(src_t, data.shape[1:], dst_t, (r0, r1), (c0, c1), to_src)
            if win is None:
                block = np.full((nt, *shape), np.nan, dtype=np.float32)
                row.append(dsa.from_array(block, chunks=block.shape) if lazy else block)
                continue
            wt = _shifted(src_t, win[1].start, win[0].start)
            part = data[:, win[0], win[1]]
            if lazy:
                task = dask.delayed(_warp_block, pure=True)(part, wt, bt, shape, wkt_src, wkt_dst)
                row.append(dsa.from_delayed(task, shape=(nt, *shape), dtype=np.float32))
            else:
                row.append(_warp_block(np.asarray(part), wt, bt, shape, wkt_src, wkt_dst))
        rows.append(row)
    if lazy:
        return dsa.concatenate([dsa.concatenate(row, axis=2) for row in rows], axis=1)
    return np.concatenate([np.concatenate(row, axis=2) for row in rows], axis=1)


def _coverage_block(src_shape: tuple[int, int], ext: tuple[int, int, int, int] | None, src_t: Affine, dst_t: Affine,
                    shape: tuple[int, int], src_crs: str, dst_crs: str) -> np.ndarray:
    """Share of the area of each output pixel that lies on the source grid (0 outside its footprint, 1 inside).

    Warps ones on the source grid, padded with zeros around it out to the
    whole window ``ext`` under the output block, with the same area-weighted
    average as the values, so a pixel half outside the source gets 0.5.
    """
    if ext is None:
        return np.zeros(shape, dtype=np.float32)
    r0, r1, c0, c1 = ext
    if r0 >= 0 and c0 >= 0 and r1 <= src_shape[0] and c1 <= src_shape[1]:
        return np.ones(shape, dtype=np.float32)  # the block and its margin lie on the source
    if r1 <= 0 or c1 <= 0 or r0 >= src_shape[0] or c0 >= src_shape[1]:
        return np.zeros(shape, dtype=np.float32)
    inside = np.zeros((1, r1 - r0, c1 - c0), dtype=np.float32)
    inside[0, max(-r0, 0):src_shape[0] - r0, max(-c0, 0):src_shape[1] - c0] = 1.0
    cov = np.nan_to_num(_warp(inside, _shifted(src_t, c0, r0), dst_t, shape, src_crs, dst_crs)[0], nan=0.0)
    cov = np.clip(cov, 0.0, 1.0)
    return np.where(cov > 1 - 1e-6, 1.0, np.where(cov < 1e-6, 0.0, cov)).astype(np.float32)


def _coverage(src_t: Affine, src_shape: tuple[int, int], dst_t: Affine, ychunks: tuple[int, ...], xchunks: tuple[int, ...],
              src_crs: CRS, dst_crs: CRS, to_src: Transformer, lazy: bool) -> Any:
    """:func:`_coverage_block` over the output blocks: a Dask array (one task per block, no input read) or NumPy."""
    import dask
    import dask.array as dsa

    wkt_src, wkt_dst = src_crs.to_wkt(), dst_crs.to_wkt()
    rows = []
    for r0, r1 in _block_edges(ychunks):
        row = []
        for c0, c1 in _block_edges(xchunks):
            shape = (r1 - r0, c1 - c0)
            args = (src_shape, _window_extent(src_t, dst_t, (r0, r1), (c0, c1), to_src), src_t, _shifted(dst_t, c0, r0),
                    shape, wkt_src, wkt_dst)
            if lazy:
                row.append(dsa.from_delayed(dask.delayed(_coverage_block, pure=True)(*args), shape=shape, dtype=np.float32))
            else:
                row.append(_coverage_block(*args))
        rows.append(row)
    if lazy:
        return dsa.concatenate([dsa.concatenate(row, axis=1) for row in rows], axis=0)
    return np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0)


def reproject_average(src: xr.Dataset, src_crs: Any, like: xr.Dataset, dst_crs: Any, coverage: bool = False) -> xr.Dataset:
    """Reproject every variable of ``src`` onto the grid of ``like`` with area-weighted averaging.

    Parameters
    ----------
    src : xarray.Dataset
        Float variables on ``(time, y, x)`` (NaN = nodata), on a regular grid.
    src_crs, dst_crs : anything pyproj.CRS accepts
        The CRS of ``src`` and of ``like``.
    like : xarray.Dataset
        The target grid (its ``x``/``y`` coordinates, and its ``y``/``x``
        chunks when Dask-backed).
    coverage : bool
        Also return ``coverage`` on ``(y, x)``: the share of the area of each
        output pixel that lies inside the footprint of the source grid (1
        inside, 0 outside, 0.5 for a pixel half over the source's edge). The
        averages above are over the valid source area only; multiply by it to
        count the area outside the source as 0.

    Returns
    -------
    xarray.Dataset
        The variables (float32) on ``(time, y, x)`` of ``like``'s grid, NaN
        where no valid source pixel falls, and ``coverage`` when asked. Lazy
        when ``src`` is Dask-backed: one warp per output chunk, reading only
        the source under it; the values do not depend on the chunks.

    Raises
    ------
    CRSMismatchError
        A CRS that pyproj cannot read or transform between.
    GridMismatchError
        Grids that are not regular.
    """
    try:
        crs_s, crs_d = CRS.from_user_input(src_crs), CRS.from_user_input(dst_crs)
        to_src = Transformer.from_crs(crs_d, crs_s, always_xy=True)
    except Exception as exc:
        raise CRSMismatchError(f"reprojection: cannot transform between {src_crs} and {dst_crs}: {exc}") from exc
    src_t, dst_t = grid_transform(src), grid_transform(like)
    ny, nx = like.sizes["y"], like.sizes["x"]
    lazy = any(src[v].chunks is not None for v in src.data_vars)
    if lazy:
        ch = like.chunksizes if like.chunks else {}
        ychunks = tuple(ch.get("y", _split(ny)))
        xchunks = tuple(ch.get("x", _split(nx)))
        src = src.chunk({"time": -1})
    else:
        ychunks, xchunks = (ny,), (nx,)
    coords = {"time": src["time"].values, "y": like["y"].values, "x": like["x"].values}
    out = {
        v: (("time", "y", "x"), _reproject_var(src[v], src_t, dst_t, ychunks, xchunks, crs_s, crs_d, to_src))
        for v in src.data_vars
    }
    if coverage:
        src_shape = (src.sizes["y"], src.sizes["x"])
        out["coverage"] = (("y", "x"), _coverage(src_t, src_shape, dst_t, ychunks, xchunks, crs_s, crs_d, to_src, lazy))
    return xr.Dataset(out, coords=coords)


def _bilinear_scale(src_t: Affine, dst_t: Affine, shape: tuple[int, int], to_src: Transformer) -> tuple[float, float]:
    """GDAL's ``XSCALE``/``YSCALE`` for the whole output grid of ``shape``: output pixels per source pixel along x and y.

    GDAL widens its bilinear kernel by ``1 / scale`` when downsampling and,
    left to itself, derives the scale from each region it warps (the share of
    the source that region covers), so a window warped alone would use
    another kernel than the whole layer. This is the scale of the whole grid
    from the local pixel sizes at its centre (GDAL's own value wherever the
    source covers the grid), fixed for every window.
    """
    ny, nx = shape
    c = np.array([nx / 2, nx / 2 + 1, nx / 2])
    r = np.array([ny / 2, ny / 2, ny / 2 + 1])
    sx, sy = to_src.transform(*_apply(dst_t, c, r))
    sc, sr = _apply(~src_t, np.asarray(sx), np.asarray(sy))
    dcx, dcy, drx, dry = sc[1] - sc[0], sc[2] - sc[0], sr[1] - sr[0], sr[2] - sr[0]
    if not np.all(np.isfinite([dcx, dcy, drx, dry])):
        return 1.0, 1.0
    xs = nx / max(nx * abs(dcx) + ny * abs(dcy), 1e-12)
    ys = ny / max(nx * abs(drx) + ny * abs(dry), 1e-12)
    return float(xs), float(ys)


def _match_bilinear(da: xr.DataArray, dst_t: Affine, shape: tuple[int, int], crs: Any, scale: tuple[float, float]) -> np.ndarray:
    """``da.rio.reproject_match`` (bilinear, kernel scale fixed) onto the grid of transform ``dst_t`` and ``shape`` in
    ``crs`` (given, not derived from coordinates: a block one pixel wide has no resolution of its own)."""
    from rasterio.enums import Resampling

    out = da.rio.reproject(crs, transform=dst_t, shape=shape, resampling=Resampling.bilinear, XSCALE=scale[0], YSCALE=scale[1])
    return np.asarray(out.values)


def _layer_window(src_t: Affine, src_shape: tuple[int, int], dst_t: Affine, rows: tuple[int, int], cols: tuple[int, int],
                  to_src: Transformer, margin: int) -> tuple[slice, slice] | None:
    """:func:`_window` widened to at least 2 x 2 source pixels (rioxarray derives a window's transform from its
    coordinates); None when the output block lies beyond the kernel's reach of the source."""
    win = _window(src_t, src_shape, dst_t, rows, cols, to_src, margin)
    if win is None:
        return None
    (r0, r1), (c0, c1) = (win[0].start, win[0].stop), (win[1].start, win[1].stop)
    r0, c0 = min(r0, max(src_shape[0] - 2, 0)), min(c0, max(src_shape[1] - 2, 0))
    return slice(r0, max(r1, r0 + 2)), slice(c0, max(c1, c0 + 2))


def is_rotated(da: xr.DataArray | xr.Dataset) -> bool:
    """Whether ``da``'s grid is rotated or sheared (``rioxarray.open_rasterio`` then gives ``x``/``y`` as pixel numbers
    and the map coordinates as 2-D ``xc``/``yc``).

    Parameters
    ----------
    da : xarray.DataArray or xarray.Dataset
        A layer with rioxarray's georeferencing.

    Returns
    -------
    bool
        True when its affine transform has rotation or shear terms.
    """
    try:
        t = da.rio.transform()
    except Exception:  # no georeferencing rio can read: a rectilinear grid of coordinates
        return False
    return bool(t.b != 0 or t.d != 0)


def _whole_bilinear(da: xr.DataArray, like: xr.Dataset | xr.DataArray) -> np.ndarray:
    """``da.rio.reproject_match(like)``, bilinear, as an array (GDAL's own kernel scale)."""
    from rasterio.enums import Resampling

    return np.asarray(da.rio.reproject_match(like, resampling=Resampling.bilinear).values)


def _rotated_bilinear(da: xr.DataArray, like: xr.Dataset | xr.DataArray, dst_t: Affine) -> xr.DataArray:
    """A rotated layer onto ``like``'s grid: one warp of the whole layer (one task on Dask, as before windows)."""
    import dask
    import dask.array as dsa

    y, x = np.asarray(like["y"].values), np.asarray(like["x"].values)
    tmpl = xr.DataArray(np.broadcast_to(np.uint8(0), (y.size, x.size)), dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs(
        like.rio.crs).rio.write_transform(dst_t)
    if da.chunks is None:
        out: Any = _whole_bilinear(da, tmpl)
    else:
        ch = like.chunksizes if like.chunks else {}
        out = dsa.from_delayed(dask.delayed(_whole_bilinear, pure=True)(da, tmpl), shape=(y.size, x.size), dtype=da.dtype).rechunk(
            (tuple(ch.get("y", _split(y.size))), tuple(ch.get("x", _split(x.size)))))
    return xr.DataArray(out, dims=("y", "x"), coords={"y": y, "x": x}, attrs=dict(da.attrs), name=da.name)


def reproject_bilinear(da: xr.DataArray, like: xr.Dataset | xr.DataArray) -> xr.DataArray:
    """A 2-D layer on ``(y, x)`` onto the grid of ``like`` by bilinear resampling, lazily, one window per chunk.

    ``da.rio.reproject_match(like, resampling=Resampling.bilinear)`` with
    GDAL's kernel scale (``XSCALE``/``YSCALE``) fixed to the whole grid's
    (:func:`_bilinear_scale`): GDAL otherwise derives it from each region it
    warps, so the values would depend on how the grid is cut. On a Dask
    layer each chunk of ``like`` is one task that reads only the source
    window under it (with the kernel's margin), so a tile-sized DEM is never
    held whole; the values equal the in-memory warp's (within float32
    rounding; with a change of CRS, within GDAL's approximation of the
    transformation, about 10^-3 of a source pixel).

    Parameters
    ----------
    da : xarray.DataArray
        The layer on ``(y, x)``, with a CRS (``da.rio.crs``); Dask-backed or not.
    like : xarray.Dataset or xarray.DataArray
        The target grid: its ``x``/``y`` coordinates, its CRS, and its
        ``y``/``x`` chunks when Dask-backed.

    Returns
    -------
    xarray.DataArray
        The layer (``da``'s dtype) on ``(y, x)`` of ``like``'s grid, attrs
        kept; Dask-backed (nothing read until computed) when ``da`` is.
    """
    import dask
    import dask.array as dsa

    y, x = np.asarray(like["y"].values), np.asarray(like["x"].values)
    da = da.transpose("y", "x")
    dst_t = grid_transform(like)
    if is_rotated(da):  # x/y are pixel numbers (the grid is in rio's transform): warped whole, as rio.reproject_match does
        return _rotated_bilinear(da, like, dst_t)
    src_t = grid_transform(da)
    to_src = Transformer.from_crs(CRS.from_user_input(like.rio.crs), CRS.from_user_input(da.rio.crs), always_xy=True)
    scale = _bilinear_scale(src_t, dst_t, (y.size, x.size), to_src)
    if da.chunks is None:
        out: Any = _match_bilinear(da, dst_t, (y.size, x.size), like.rio.crs, scale)
        return xr.DataArray(out, dims=("y", "x"), coords={"y": y, "x": x}, attrs=dict(da.attrs), name=da.name)
    ch = like.chunksizes if like.chunks else {}
    ychunks, xchunks = tuple(ch.get("y", _split(y.size))), tuple(ch.get("x", _split(x.size)))
    # the bilinear kernel reaches 1 source pixel, 1 / scale when downsampling; 2 more for GDAL's own padding
    margin = int(np.ceil(1.0 / min(scale[0], scale[1], 1.0))) + _MARGIN + 1
    rows = []
    for r0, r1 in _block_edges(ychunks):
        row = []
        for c0, c1 in _block_edges(xchunks):
            win = _layer_window(src_t, (da.sizes["y"], da.sizes["x"]), dst_t, (r0, r1), (c0, c1), to_src, margin)
            if win is None:  # beyond the kernel's reach: a corner of the source warps to the nodata the whole warp gives
                win = (slice(0, 2), slice(0, 2))
            block = dask.delayed(_match_bilinear, pure=True)(da.isel(y=win[0], x=win[1]), _shifted(dst_t, c0, r0),
                                                             (r1 - r0, c1 - c0), like.rio.crs, scale)
            row.append(dsa.from_delayed(block, shape=(r1 - r0, c1 - c0), dtype=da.dtype))
        rows.append(row)
    out = dsa.concatenate([dsa.concatenate(row, axis=1) for row in rows], axis=0)
    return xr.DataArray(out, dims=("y", "x"), coords={"y": y, "x": x}, attrs=dict(da.attrs), name=da.name)


def s2_pixels_per_s1_pixel(s2: xr.Dataset, s2_crs: Any, s1: xr.Dataset, s1_crs: Any) -> np.ndarray:
    """How many S2 pixel centres fall in each S1 pixel, over a central window of the S1 grid.

    Parameters
    ----------
    s2, s1 : xarray.Dataset
        Grids with ``x``/``y`` pixel-centre coordinates.
    s2_crs, s1_crs : anything pyproj.CRS accepts, or None
        Their CRSs (None for both: the same CRS).

    Returns
    -------
    numpy.ndarray
        Counts (int) for the S1 pixels of a central window of at most
        512 x 512 pixels (the whole grid when smaller); coordinates only, no
        data is read.
    """
    t1 = grid_transform(s1)
    ny, nx = s1.sizes["y"], s1.sizes["x"]
    wy, wx = min(ny, _COUNT_WINDOW), min(nx, _COUNT_WINDOW)
    oy, ox = (ny - wy) // 2, (nx - wx) // 2
    same = s2_crs is None or s1_crs is None or CRS.from_user_input(s2_crs) == CRS.from_user_input(s1_crs)
    x2, y2 = np.asarray(s2["x"].values, dtype=np.float64), np.asarray(s2["y"].values, dtype=np.float64)
    if not same:
        t2 = grid_transform(s2)
        to_s2 = Transformer.from_crs(CRS.from_user_input(s1_crs), CRS.from_user_input(s2_crs), always_xy=True)
        win = _window(t2, (y2.size, x2.size), t1, (oy, oy + wy), (ox, ox + wx), to_s2)
        if win is None:
            return np.zeros((wy, wx), dtype=np.int64)
        x2, y2 = x2[win[1]], y2[win[0]]
        to_s1 = Transformer.from_crs(CRS.from_user_input(s2_crs), CRS.from_user_input(s1_crs), always_xy=True)
    else:  # only the S2 pixels around the window
        xa, xb = sorted([_apply(t1, ox, 0)[0], _apply(t1, ox + wx, 0)[0]])
        ya, yb = sorted([_apply(t1, 0, oy)[1], _apply(t1, 0, oy + wy)[1]])
        pad = max(abs(t1.a), abs(t1.e))
        x2 = x2[(x2 >= xa - pad) & (x2 <= xb + pad)]
        y2 = y2[(y2 >= ya - pad) & (y2 <= yb + pad)]
    counts = np.zeros(wy * wx, dtype=np.int64)
    inv = ~t1
    for row in range(0, y2.size, 256):
        xx, yy = np.meshgrid(x2, y2[row:row + 256])
        if not same:
            xx, yy = to_s1.transform(xx, yy)
        c, r = _apply(inv, np.asarray(xx), np.asarray(yy))
        c, r = np.floor(c).astype(np.int64) - ox, np.floor(r).astype(np.int64) - oy
        ok = (c >= 0) & (c < wx) & (r >= 0) & (r < wy)
        counts += np.bincount((r[ok] * wx + c[ok]).ravel(), minlength=wy * wx)
    return counts.reshape(wy, wx)
