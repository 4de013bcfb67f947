"""Compute a spec's features on a fusion cube: prepare the inputs once, run each group, assemble."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError, DimensionError
from ..readers.cube import check_cube_values
from ..validate import check_cube
from .groups import FEATURE_GROUPS
from .inputs import FeatureInputs
from .orbits import orbit_groups
from .spec import FeatureSpec

__all__ = ["compute_features"]


def compute_features(
    cube: xr.Dataset,
    spec: FeatureSpec | None = None,
    *,
    context_gaps: tuple[int, float] | None = None,
    check_values: bool = True,
) -> xr.DataArray:
    """Compute the features of ``spec`` on a fusion cube.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` (dB) on ``(time, y, x)``; ``NDVI``
        for the optical group, ``elevation``/``slope``/``aspect`` on
        ``(y, x)`` for the terrain group (absent: NaN).
    spec : FeatureSpec or dict, optional
        Default ``FeatureSpec()``; a dict is read with
        :meth:`FeatureSpec.from_dict`, as ``train`` reads it.
    context_gaps : (seed, max_days), optional
        Training only: the optical context of each pixel-date excludes a
        simulated cloudy spell around it, of a length drawn uniformly in
        ``[0, max_days]`` and placed uniformly around the date (a
        counter-based hash of seed, date and pixel, so it does not depend on
        chunking). Default: only ``spec.context_exclude_days``.
    check_values : bool
        Check the values as :func:`fusets_dl.train` and
        :func:`fusets_dl.predict_ndvi` do: NDVI outside [-1, 1] is an
        ``EncodingError``, backscatter that looks like linear power a
        warning (in memory now, on a strided sample; on Dask input per chunk
        when computed). False only where the caller has checked the cube
        (the trainer's sampling does).

    Returns
    -------
    xarray.DataArray
        ``features(time, y, x, feature)`` float32, with the feature names as
        the ``feature`` coordinate; lazy on Dask input (``time`` must be a
        single chunk, as the readers make it).

    Raises
    ------
    ConfigError
        A ``spec`` that is neither a FeatureSpec nor a dict of its fields.
    FusionError
        When the cube fails :func:`~fusets_dl.validate.check_cube`
        (``DimensionError``, ``MissingVariableError`` e.g. no ``NDVI`` for a
        group that needs it, ``EncodingError``, ``DuplicateTimeError``), or
        whose NDVI lies outside [-1, 1] (``EncodingError``).

    Warns
    -----
    UserWarning
        When ``VV``/``VH`` look like linear power rather than dB.
    """
    spec = _as_spec(spec)
    check_cube(cube, need_target=any(FEATURE_GROUPS[g].needs_ndvi for g in spec.groups))
    if check_values:
        cube = check_cube_values(cube, "compute_features")
    inputs = _prepare_inputs(cube, spec, context_gaps)
    parts = [group.compute(inputs) for name, group in FEATURE_GROUPS.items() if name in spec.groups and group.names(spec)]
    return _assemble(parts, inputs)


def _as_spec(spec: Any) -> FeatureSpec:
    """``spec`` as a FeatureSpec: None the default, a dict read with :meth:`FeatureSpec.from_dict` (as ``train`` reads it)."""
    if spec is None:
        return FeatureSpec()
    if isinstance(spec, FeatureSpec):
        return spec
    if isinstance(spec, Mapping):
        return FeatureSpec.from_dict(dict(spec))
    raise ConfigError(f"compute_features: spec: expected a FeatureSpec or a dict of its fields, found {type(spec).__name__} "
                      f"{spec!r:.80}" + (" (a TrainConfig is train()'s config, not the features)" if type(spec).__name__ == "TrainConfig" else ""))


def _prepare_inputs(cube: xr.Dataset, spec: FeatureSpec, context_gaps: tuple[int, float] | None) -> FeatureInputs:
    """The time axes, the S1 series in one time chunk and the orbit groups, shared by every group."""
    if cube.sizes.get("time", 0) == 0:
        raise DimensionError("compute_features: expected a cube with at least one date, found 0 (check the time range)")
    days, doy = _time_axes(cube["time"])
    # -inf dB (zero power: masked borders converted to dB) is missing like +inf and NaN, not a valid noise floor
    vv, vh = _single_time_chunk(*(cube[v].where(np.isfinite(cube[v])) for v in ("VV", "VH")))
    return FeatureInputs(cube=cube, spec=spec, vv=vv, vh=vh, days=days, doy=doy, orbits=orbit_groups(cube), context_gaps=context_gaps)


def _time_axes(t: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Days since the first time and the fractional (0-based) day of year, float64 (time,)."""
    days = ((t.values - t.values[0]) / np.timedelta64(1, "D")).astype(np.float64)
    tt = t.to_index()
    doy = (tt.day_of_year - 1 + (tt.hour * 3600 + tt.minute * 60 + tt.second) / 86400.0).to_numpy(dtype=np.float64)
    return days, doy


def _single_time_chunk(vv: xr.DataArray, vh: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """VV and VH, each with ``time`` in one chunk where it is split (unchanged when in memory or already so).

    Where ``time`` is split, ``y`` and ``x`` are rechunked to Dask's
    ``"auto"`` size at the same time: a cube chunked one date at a time over
    the whole tile (the odc-stac or ``open_zarr`` layout, ``(1, 4096,
    4096)``) became one chunk of every date and pixel (206 GiB of features).
    """

    def one(da: xr.DataArray) -> xr.DataArray:
        if da.chunks is not None and len(da.chunks[da.dims.index("time")]) > 1:
            return da.chunk({"time": -1, "y": "auto", "x": "auto"})
        return da

    return one(vv), one(vh)


#: Largest output chunk (bytes) of the lazy features: all of ``feature`` in one chunk multiplies the input chunk by the
#: number of features (36 for the shipped spec: 6.4 GiB for 182 dates of 512 x 512 pixels, above Blosc's 2 GiB buffer
#: when written), so ``y``/``x`` are split instead. The groups' own tasks still compute per input chunk.
MAX_FEATURE_CHUNK_BYTES = 512 * 2**20


def _feature_chunks(out: xr.DataArray) -> dict[str, int]:
    """``y``/``x`` chunk sizes that keep a chunk of all features under :data:`MAX_FEATURE_CHUNK_BYTES` (powers of two where split)."""
    sizes = dict(zip(out.dims, (max(c) for c in out.chunks), strict=True))
    nbytes = sizes["time"] * sizes["y"] * sizes["x"] * out.sizes["feature"] * out.dtype.itemsize
    if nbytes <= MAX_FEATURE_CHUNK_BYTES:
        return {}
    per_pixel = sizes["time"] * out.sizes["feature"] * out.dtype.itemsize
    side = max(8, 2 ** int(np.floor(np.log2(max((MAX_FEATURE_CHUNK_BYTES / per_pixel) ** 0.5, 1.0)))))
    y = min(sizes["y"], side)  # a point table's pseudo-grid (y = 1): x takes what y leaves
    x = max(8, 2 ** int(np.floor(np.log2(max(MAX_FEATURE_CHUNK_BYTES / (per_pixel * y), 1.0)))))
    return {"y": y, "x": min(sizes["x"], x)}


def _assemble(parts: list[xr.DataArray], inputs: FeatureInputs) -> xr.DataArray:
    """Concatenate the groups' features along ``feature``; coordinates, one feature chunk (``y``/``x`` split to keep it bounded), name and attrs."""
    cube, spec = inputs.cube, inputs.spec
    out = xr.concat([p.drop_vars([c for c in p.coords if c not in ("time", "y", "x")], errors="ignore") for p in parts], dim="feature")
    out = out.transpose("time", "y", "x", "feature").assign_coords(time=cube["time"], y=cube["y"], x=cube["x"], feature=spec.names)
    if inputs.vv.chunks is not None and out.chunks is not None:
        out = out.chunk({"feature": -1, **_feature_chunks(out)})
    out.name = "features"
    out.attrs = {"long_name": "fusion features", "feature_spec": spec.to_json(), "orbit_groups": int(np.unique(inputs.orbits).size)}
    return out
