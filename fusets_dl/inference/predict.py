"""Batched NDVI inference over Dask chunks, on GPU when present."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import xarray as xr

from ..cf import apply_cf, cf_attrs
from ..features import compute_features
from ..models.fusion_model import FusionModel
from ..models.io import model_from_parts
from ..options import option
from ..runtime import Payload, from_payload, make_payload
from ..validate import check_cube

__all__ = ["predict_ndvi"]


def _payload(model: FusionModel) -> Payload:
    """What travels to workers: the JSON sidecar, the safetensors bytes and their joint hash."""
    return make_payload(model.to_json_dict(model.sha256), model.state_bytes())


def _predict_block(block: np.ndarray, payload: Payload, batch_size: int | None, device: str | None, precision: str | None) -> np.ndarray:
    """NDVI (time, y, x) of one feature block (time, y, x, feature), with the model rebuilt once per process."""
    model = from_payload(payload, model_from_parts, "FusionModel")
    shape = block.shape[:-1]
    out = model.predict_array(block.reshape(-1, block.shape[-1]), batch_size=batch_size, device=device, precision=precision)
    return out.reshape(shape)


def predict_ndvi(
    cube: xr.Dataset,
    model: FusionModel,
    *,
    batch_size: int | None = None,
    device: str | None = None,
    precision: str | None = None,
) -> xr.DataArray:
    """Predict NDVI from the S1 features of ``cube``.

    ``device``, ``precision`` and ``batch_size`` left at None take the
    options of ``fdl.set_options(...)`` current at this call (also when the
    result is lazy and computed later); an explicit argument always wins.

    Parameters
    ----------
    cube : xarray.Dataset
        Fusion cube with ``VV``, ``VH`` (dB).
    model : FusionModel
        A trained model; its feature spec decides the features.
    batch_size : int, optional
        Pixel-dates per forward pass; None takes the ``batch_size`` option
        (default: 16,384 on CPU and 1,048,576 on CUDA, where batches go
        through two reusable page-locked host buffers, so the host fills one
        while the GPU computes the other; see
        :func:`fusets_dl.runtime.predict_rows`).
    device : str, optional
        ``"auto"`` (CUDA when present, decided where the chunk runs),
        ``"cpu"`` or ``"cuda"``; None takes the ``device`` option.
    precision : {"auto", "float32", "bfloat16"}, optional
        Inference precision; None takes the ``precision`` option. "auto" is
        bfloat16 where the hardware computes it natively, within 1e-3 NDVI
        RMSE of float32 (see :meth:`FusionModel.predict_array`). On CPU the
        batches of all chunks share one pool of single-threaded workers, one
        per torch thread (:func:`fusets_dl.runtime.cpu_pool`).

    Returns
    -------
    xarray.DataArray
        ``NDVI_pred(time, y, x)`` float32 in [-1, 1], NaN where features are
        incomplete; lazy when ``cube`` is Dask-backed. On Dask, the weights
        enter the graph once (as one key) and each worker process builds the
        network once.

    Raises
    ------
    FusionError
        A cube without ``VV``/``VH`` or with bad dimensions (from
        :func:`fusets_dl.validate.check_cube`), or a bad device, precision or
        batch size (:class:`~fusets_dl.errors.ModelError`).
    """
    if getattr(model, "kind", None) == "sequence":  # whole-series model: NDVI_pred with its std as a coordinate
        from .sequence import predict_sequence

        ds = predict_sequence(cube, model, batch_size=batch_size, device=device, precision=precision)
        return ds["NDVI_pred"].assign_coords(NDVI_pred_std=ds["NDVI_pred_std"])
    check_cube(cube)
    # the options are read now, not when a lazy result is computed (maybe outside a ``with set_options``)
    batch_size = option("batch_size", batch_size)
    device = option("device", device)
    precision = option("precision", precision)
    feats = compute_features(cube, model.spec)
    payload = _payload(model)
    if feats.chunks is None:
        data = _predict_block(np.asarray(feats.values), payload, batch_size, device, precision)
    else:
        pay = dask.delayed(payload, pure=True, name=f"fusets-model-{payload[2][:16]}")
        data = da.map_blocks(
            _predict_block,
            feats.data,
            pay,
            batch_size,
            device,
            precision,
            drop_axis=3,
            dtype=np.float32,
            meta=np.empty((0, 0, 0), dtype=np.float32),
        )
    out = xr.DataArray(
        data,
        dims=("time", "y", "x"),
        coords={k: v for k, v in cube["VV"].coords.items()},
        name="NDVI_pred",
        attrs=cf_attrs("predict.NDVI_pred", model_sha256=model.sha256, feature_spec=model.spec.to_json()),
    )
    return apply_cf(out, "predict", fill=True)
