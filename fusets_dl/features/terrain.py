"""The ``terrain`` group: elevation, slope and aspect of the cube's DEM variables."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    from .inputs import FeatureInputs
    from .spec import FeatureSpec

__all__ = ["TERRAIN_FEATURES", "terrain_features", "terrain_names"]

TERRAIN_FEATURES = ("elevation", "slope", "aspect_sin", "aspect_cos")


def terrain_names(spec: FeatureSpec) -> list[str]:
    """Names of the ``terrain`` group's features (the same for every spec).

    Parameters
    ----------
    spec : FeatureSpec
        The spec (unused: the terrain features have no switches).

    Returns
    -------
    list of str
        :data:`TERRAIN_FEATURES`.
    """
    return list(TERRAIN_FEATURES)


def terrain_features(inputs: FeatureInputs) -> xr.DataArray:
    """The ``terrain`` group's features (time, y, x, feature), the same at every time.

    Parameters
    ----------
    inputs : FeatureInputs
        The prepared inputs; the cube's ``elevation``, ``slope`` (degrees) and
        ``aspect`` (degrees) on ``(y, x)`` are read, NaN when absent.

    Returns
    -------
    xarray.DataArray
        float32 ``elevation``, ``slope``, ``aspect_sin``, ``aspect_cos``,
        chunked like the S1 series on Dask input.
    """
    ter = _terrain(inputs.cube)
    chunks = inputs.spatial_chunks
    if chunks is not None:
        ter = ter.chunk(chunks)
    return ter.expand_dims(time=inputs.cube.sizes["time"]).transpose("time", "y", "x", "feature")


def _terrain(cube: xr.Dataset) -> xr.DataArray:
    """(y, x, 4) terrain features from ``elevation``, ``slope`` (degrees) and ``aspect`` (degrees); NaN when absent.

    Flat ground has no direction: where the aspect is negative (the flat
    value of richdem, WhiteboxTools and SAGA, -1) or the slope is 0,
    ``aspect_sin`` and ``aspect_cos`` are 0 (they were sin/cos of -1 degree
    or of gdaldem's 0: north); without an aspect layer they stay NaN.
    """
    aspect, slope = _layer(cube, "aspect"), _layer(cube, "slope")
    flat = aspect.notnull() & ((aspect < 0) | (slope == 0))  # no aspect layer: absent (NaN), not flat
    asp = np.deg2rad(aspect)
    parts = [_layer(cube, "elevation"), slope, xr.where(flat, 0.0, np.sin(asp)).astype(np.float32),
             xr.where(flat, 0.0, np.cos(asp)).astype(np.float32)]
    return xr.concat([p.drop_vars([c for c in p.coords if c not in ("y", "x")]) for p in parts], dim="feature").transpose("y", "x", "feature")


def _layer(cube: xr.Dataset, name: str) -> xr.DataArray:
    """The float32 (y, x) variable ``name`` of the cube, or NaN when it is absent.

    A layer repeated along ``time`` (openEO and WorldCereal files store the
    DEM on every date; ``align(terrain=...)`` keeps it so) is its mean over
    the dates, lazily (it was NaN: a model trained on it learnt no terrain,
    and its prediction said the cube had none, moving by up to 0.135 NDVI).

    Raises
    ------
    DimensionError
        A layer on other dimensions than ``(y, x)`` or ``(time, y, x)``.
    """
    if name not in cube.variables:
        return xr.DataArray(np.full((cube.sizes["y"], cube.sizes["x"]), np.nan, dtype=np.float32), dims=("y", "x"))
    layer = cube[name]
    if set(layer.dims) == {"time", "y", "x"}:
        layer = layer.mean("time", skipna=True)
    if set(layer.dims) != {"y", "x"}:
        from ..errors import DimensionError

        raise DimensionError(f"terrain: expected {name!r} on (y, x), or repeated along time on (time, y, x), found {layer.dims}")
    return layer.transpose("y", "x").astype(np.float32)
