"""Applying a segmenter to a cube: :func:`segment`, lazily per Dask chunk."""

from __future__ import annotations

import hashlib
from typing import Any

import dask
import numpy as np
import xarray as xr

from ..errors import ConfigError, MissingVariableError
from ..runtime import Payload, from_payload, make_payload
from ..validate import check_cube
from .classes import _classes_array
from .config import SegmentConfig
from .fit import train_segmenter
from .network import Segmenter, _segmenter_from_parts
from .profiles import segment_inputs

__all__ = ["segment"]


def _segment_block(prof: np.ndarray, payload: Payload) -> np.ndarray:
    """Classes of one profile block; the segmenter is rebuilt once per worker process from the payload."""
    seg = from_payload(payload, _segmenter_from_parts, "Segmenter")
    by, bx, c = prof.shape
    return seg.classify_array(prof.reshape(-1, c)).reshape(by, bx)


def _refuse_ignored(n_classes: int | None, segmenter: Segmenter | None, config: SegmentConfig | None, kwargs: dict[str, Any]) -> None:
    """A :class:`ConfigError` naming the arguments of :func:`segment` that ``segmenter`` or ``config`` would override."""
    if segmenter is not None:
        source, fixed = "segmenter", f"a trained segmenter ({segmenter.n_classes} classes, views {'+'.join(segmenter.network.views)})"
        have = segmenter.n_classes
        ignored = ["config"] if config is not None else []
    elif config is not None:
        source, fixed, have, ignored = "config", f"a SegmentConfig ({config.n_classes} classes)", config.n_classes, []
    else:
        return
    if n_classes is not None and n_classes != have:
        ignored.insert(0, f"n_classes={n_classes!r}")
    ignored += [f"{k}={v!r}" for k, v in kwargs.items()]
    if ignored:
        fix = ("train a new segmenter with them: segment(cube, n_classes, **settings)" if source == "segmenter"
               else "set them in the config: dataclasses.replace(config, **settings)")
        raise ConfigError(
            f"segment: expected no training settings with {source}=, found {', '.join(ignored)}; {source}= is {fixed} and they "
            f"would be ignored: drop them, or {fix}"
        )


def segment(
    cube: xr.Dataset,
    n_classes: int | None = None,
    *,
    segmenter: Segmenter | None = None,
    config: SegmentConfig | None = None,
    **kwargs: Any,
) -> xr.DataArray:
    """Unsupervised class of every pixel: ``class(y, x)`` int16, -1 where S1 is too sparse.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube (``VV``, ``VH`` and, for the S2 view, ``NDVI``).
    n_classes : int, optional
        Number of classes when a segmenter is trained here (default
        ``SegmentConfig.n_classes``, 8). With ``segmenter`` or ``config`` it
        may only repeat their number of classes.
    segmenter : Segmenter, optional
        A trained segmenter (see :func:`train_segmenter`, :func:`load_segmenter`);
        default: train one on ``cube``. That computes the training sample
        at the call: the pixels are drawn by a hash of their position over
        the whole cube, so every chunk is read once (on a tile of 5120 x 5120
        pixels, the whole aligned cube). On a large tile train on a part
        (``train_segmenter(cube.isel(y=..., x=...))``) and pass it here.
        Its classes, views and training are fixed: ``config`` and
        ``kwargs`` cannot be given with it.
    config : SegmentConfig, optional
        Training settings (then no ``kwargs``); its ``device`` (default
        None: ``fdl.set_options(device=...)``) is where training runs.
        Inference runs on the CPU, per chunk.
    **kwargs
        Fields of :class:`SegmentConfig` (when neither ``segmenter`` nor
        ``config`` is given).

    Returns
    -------
    xarray.DataArray
        Class ids, lazy on Dask input (one task per chunk; the weights enter
        the graph once). ``attrs`` carry the segmenter's SHA-256.

    Raises
    ------
    ConfigError
        Invalid training settings (when training here), a segmenter
        passed positionally as ``n_classes``, or settings that would be
        ignored, naming them: ``config``, ``kwargs`` or another
        ``n_classes`` with a trained ``segmenter``; ``kwargs`` or another
        ``n_classes`` with ``config``.
    MissingVariableError
        No ``NDVI`` variable for a segmenter with the S2 view (a pixel
        without clear NDVI is classified from its masked, empty S2 bins; a
        cube without the variable is refused).
    InsufficientDataError
        Too few usable pixels to train on (when training here).
    """
    if isinstance(n_classes, Segmenter):
        raise ConfigError("segment: expected n_classes as a whole number, found a Segmenter; "
                          "pass a trained segmenter by keyword: segment(cube, segmenter=seg)")
    _refuse_ignored(n_classes, segmenter, config, kwargs)
    if segmenter is None:
        if config is None:
            config = SegmentConfig(n_classes=SegmentConfig.n_classes if n_classes is None else n_classes, **kwargs)
        segmenter = train_segmenter(cube, config)
    check_cube(cube)
    if "s2" in segmenter.network.views and "NDVI" not in cube:
        raise MissingVariableError(f"segment: the segmenter uses the S2 view (views s1+s2) and expects the clear NDVI variable, "
                                   f"found {sorted(map(str, cube.data_vars))}; give a cube with NDVI or a segmenter trained with views=('s1',)")
    profile = segment_inputs(cube, segmenter.n_bins)
    blob = segmenter.state_bytes()
    sha = hashlib.sha256(blob).hexdigest()
    payload: Any = make_payload({"config": segmenter.config, "stats": segmenter.stats}, blob)
    if profile.chunks is not None:
        payload = dask.delayed(payload, pure=True, name=f"fusets-segmenter-{payload[2][:16]}")
    return _classes_array(profile, _segment_block, payload, name="class",
                          attrs={"segmenter_sha256": sha, "method": f"contrastive + VQ, views {'+'.join(segmenter.network.views)}",
                                 "n_classes": segmenter.n_classes})
