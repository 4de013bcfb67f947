"""Per-class phenology parameters: one lazy run per class of a class map, combined pixel by pixel.

``phenology(ndvi, classes=class_map, params={1200: {"max_seasons": 1}, "default": {...}})``
runs :func:`~fusets_dl.phenometrics.api.phenology` once per class listed in
``params`` on ``ndvi.where(classes == c)`` (pixels of other classes are NaN and
cost only the fill) and once with the ``"default"`` options for every other
pixel (classes not listed, or NaN), then picks each pixel's values from its
class's run. The ``season`` dimension is the largest ``max_seasons`` of all
runs (padded with NaT / NaN / 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError
from .by_class import check_class_map
from .grid import align_class_map

__all__ = ["FIXED_OPTIONS", "phenology_per_class"]

#: Options that set the output's layout or the working grid: the same for every class (top level only).
FIXED_OPTIONS = ("period", "step_days", "by_year", "year_start", "by", "classes", "params")


def _check_params(params: Mapping[Any, Mapping[str, Any]], allowed: set[str]) -> dict[Any, dict[str, Any]]:
    """Class ids (ints) or ``"default"`` mapped to option dicts whose keys are phenology options."""
    if not isinstance(params, Mapping):
        raise ConfigError(
            f"phenology: params: expected a mapping of class id (int) or 'default' to a dict of phenology options, "
            f"e.g. {{1200: {{'max_seasons': 1}}, 'default': {{}}}}, found {type(params).__name__} {params!r:.80}"
        )
    out: dict[Any, dict[str, Any]] = {}
    for key, opts in params.items():
        if key != "default" and not (isinstance(key, (int, np.integer)) and not isinstance(key, bool)):
            raise ConfigError(f"phenology: params keys: expected integer class ids or 'default', found {key!r}")
        if not isinstance(opts, Mapping):
            raise ConfigError(f"phenology: params[{key!r}]: expected a dict of phenology options, found {type(opts).__name__}")
        bad = sorted(set(opts) - allowed)
        if bad:
            raise ConfigError(
                f"phenology: params[{key!r}]: unknown or per-run-only options {bad}; expected some of {sorted(allowed)} "
                f"({', '.join(FIXED_OPTIONS)} are set at the top level only)"
            )
        out["default" if key == "default" else int(key)] = dict(opts)
    return out


def _run(run: Callable[..., xr.Dataset], key: Any, ndvi: xr.DataArray, options: dict[str, Any]) -> xr.Dataset:
    """``run(ndvi, **options)``; a :class:`ConfigError` names the class (``params[1200]``) whose options it is about."""
    try:
        return run(ndvi, **options)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (with the options of params[{key!r}])") from exc


def _pad_seasons(ds: xr.Dataset, size: int) -> xr.Dataset:
    """``ds`` with ``size`` season slots: NaT, NaN or 0 in the new ones."""
    if ds.sizes["season"] == size:
        return ds
    fill = {k: (np.datetime64("NaT", "ns") if v.dtype.kind == "M" else 0 if v.dtype.kind in "iu" else np.nan)
            for k, v in ds.data_vars.items() if "season" in v.dims}
    out = ds.reindex(season=np.arange(size), fill_value=fill)
    for k in fill:
        out[k].encoding = ds[k].encoding
        out[k] = out[k].astype(ds[k].dtype)
    return out


def phenology_per_class(
    run: Callable[..., xr.Dataset],
    ndvi: xr.DataArray,
    classes: xr.DataArray,
    params: Mapping[Any, Mapping[str, Any]],
    options: dict[str, Any],
) -> xr.Dataset:
    """Phenology with options per class (lazy on Dask input).

    Parameters
    ----------
    run : callable
        :func:`~fusets_dl.phenometrics.api.phenology`.
    ndvi : xarray.DataArray
        NDVI with ``time`` and pixel dimensions.
    classes : xarray.DataArray
        Class id of every pixel, on the pixel grid of ``ndvi``: matched by
        coordinates (reordered when they are in another order; within a
        fraction of a pixel they are the same), never by position.
    params : mapping
        ``{class_id: {option: value}, "default": {option: value}}``; the
        options are keywords of ``phenology`` (not those of ``FIXED_OPTIONS``)
        and override ``options``; ``"default"`` applies to every pixel whose
        class is not listed.
    options : dict
        The top-level keyword arguments of ``phenology``.

    Returns
    -------
    xarray.Dataset
        As ``phenology``'s output; each pixel from its class's run.

    Raises
    ------
    ConfigError
        ``params`` that is not a mapping (a list of pairs), ``classes``
        that is not a DataArray (a NumPy array), a key of ``params`` that
        is not an integer or ``"default"``, an option name that
        ``phenology`` does not take per class, or a value
        ``phenology`` refuses (naming the class).
    DimensionError
        ``classes`` is not on the pixel dimensions of ``ndvi``, or on
        another grid (sizes or coordinates: the output is never cropped to
        the class map), naming both.
    """
    lead = [d for d in ndvi.dims if d != "time"]
    allowed = set(options) - set(FIXED_OPTIONS)
    table = _check_params(params, allowed)
    cls = align_class_map(check_class_map(classes, "phenology: classes"), ndvi, lead, "phenology: classes")
    default = {**options, **table.pop("default", {})}
    known = cls.isin(list(table)) if table else xr.zeros_like(cls, dtype=bool)
    runs = [(~known, _run(run, "default", ndvi.where(~known), default))]
    for c, opts in table.items():
        runs.append((cls == c, _run(run, c, ndvi.where(cls == c), {**options, **opts})))
    size = max(r.sizes["season"] for _, r in runs)
    out = _pad_seasons(runs[0][1], size)
    for mask, ds in runs[1:]:
        ds = _pad_seasons(ds, size)
        merged = xr.Dataset(coords=out.coords, attrs=out.attrs)
        for k, v in out.data_vars.items():
            merged[k] = xr.where(mask, ds[k], v, keep_attrs=True).transpose(*v.dims)
            merged[k].attrs, merged[k].encoding = v.attrs, v.encoding
        out = merged
    out.attrs["per_class_params"] = repr({str(k): dict(v) for k, v in params.items()})
    return out
