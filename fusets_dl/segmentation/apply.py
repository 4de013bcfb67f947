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


def segment(cube: xr.Dataset, n_classes: int = 8, *, segmenter: Segmenter | None = None, config: SegmentConfig | None = None, **kwargs: Any) -> xr.DataArray:
    """Unsupervised class of every pixel: ``class(y, x)`` int16, -1 where S1 is too sparse.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube (``VV``, ``VH`` and, for the S2 view, ``NDVI``).
    n_classes : int
        Number of classes when a segmenter is trained here.
    segmenter : Segmenter, optional
        A trained segmenter (see :func:`train_segmenter`, :func:`load_segmenter`);
        default: train one on ``cube`` (this computes the training sample).
    config : SegmentConfig, optional
        Training settings (``n_classes`` and ``kwargs`` are ignored when
        given); its ``device`` (default None: ``fdl.set_options(device=...)``)
        is where training runs. Inference runs on the CPU, per chunk.
    **kwargs
        Fields of :class:`SegmentConfig`.

    Returns
    -------
    xarray.DataArray
        Class ids, lazy on Dask input (one task per chunk; the weights enter
        the graph once). ``attrs`` carry the segmenter's SHA-256.

    Raises
    ------
    ConfigError
        Invalid training settings (when training here), or a segmenter
        passed positionally as ``n_classes``.
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
    if segmenter is None:
        segmenter = train_segmenter(cube, config or SegmentConfig(n_classes=n_classes, **kwargs))
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
