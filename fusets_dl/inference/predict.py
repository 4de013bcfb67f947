"""Batched NDVI inference over Dask chunks, on GPU when present.

Features and network run fused, chunk by chunk: each chunk of the cube
variables the spec reads (:func:`~fusets_dl.features.block.block_sources`)
is cut into batches of pixel series, whose features
(:func:`~fusets_dl.features.block.feature_block`) go into one reused
buffer of a few MB and straight through the network. No feature cube is
built: per 256 x 256 chunk of 60 dates that saves a 566 MB array and its
column-by-column writes.
"""

from __future__ import annotations

import os
import warnings

import dask
import dask.array as da
import numpy as np
import xarray as xr

from ..cf import apply_cf, cf_attrs
from ..errors import ModelError
from ..features.block import BlockConstants, block_constants, block_sources, feature_block
from ..features.terrain import TERRAIN_FEATURES
from ..models.fusion_model import FusionModel
from ..models.io import load_model, model_from_parts
from ..options import option
from ..readers.cube import check_cube_values
from ..runtime import (
    Payload,
    default_batch_size,
    from_payload,
    make_payload,
    resolve_device,
)
from ..validate import check_cube
from .checks import check_backscatter, check_dates, check_months, check_revisit, check_run_options

__all__ = ["predict_ndvi"]


def _payload(model: FusionModel) -> Payload:
    """What travels to workers: the JSON sidecar, the safetensors bytes and their joint hash."""
    return make_payload(model.to_json_dict(model.sha256), model.state_bytes())


def _worker_model(meta: dict, blob: bytes) -> FusionModel:
    """The model of a payload, rebuilt where the chunks run (the user was warned about a legacy spec at load)."""
    return model_from_parts(meta, blob, warn_legacy=False)


#: Pixel-dates per fused batch at least (features of a batch: this many rows of a few dozen float32).
_MIN_FUSED_ROWS = 131_072


# A feature whose median over a chunk lies this many training standard deviations from the training mean: another
# unit (elevation in feet, slope in percent) or a place unlike any the model saw; the network extrapolates there.
FAR_FROM_TRAINING_SD = 8.0
# Features of the revisit (days between acquisitions): a cadence unlike the training one is told by the revisit check.
_CADENCE_PREFIX = "dt_"
# (model, features) already warned far from training in this process: one warning per call's chunks, not one per chunk.
_FAR_WARNED: set[tuple[str, tuple[str, ...]]] = set()


def _warn_far_from_training(rows: np.ndarray, model: FusionModel) -> None:
    """Warn (once per model and set of features) about features of a batch of rows whose median lies beyond
    :data:`FAR_FROM_TRAINING_SD` of the training scaler; the revisit features are left to the revisit check."""
    mean = np.asarray(model.scaler.feature_mean, dtype=np.float64)
    std = np.asarray(model.scaler.feature_std, dtype=np.float64)
    far = []
    for k, name in enumerate(model.spec.names):
        col = rows[:, k]
        col = col[np.isfinite(col)]
        if name.startswith(_CADENCE_PREFIX) or col.size == 0 or not std[k] > 0:
            continue
        med = float(np.median(col))
        z = (med - mean[k]) / std[k]
        if abs(z) > FAR_FROM_TRAINING_SD:
            far.append((name, med, float(mean[k]), float(std[k]), z))
    key = (str(getattr(model, "sha256", id(model))), tuple(f[0] for f in far))
    if far and key not in _FAR_WARNED:
        _FAR_WARNED.add(key)
        text = "; ".join(f"{n} median {m:.4g} (training {mu:.4g} ± {sd:.4g}, {zz:+.0f} sd)" for n, m, mu, sd, zz in far)
        warnings.warn(f"predict_ndvi: features far from anything the model was trained on: {text}. Another unit (elevation in "
                      "feet, slope in percent, radians) or a place unlike the training data: the network extrapolates there",
                      UserWarning, stacklevel=3)


def _fused_block(
    payload: Payload,
    *arrays: np.ndarray,
    names: tuple[str, ...],
    const: BlockConstants,
    batch_size: int | None,
    device: str | None,
    precision: str | None,
    revisit: str = "",
) -> np.ndarray:
    """NDVI (time, y, x) of one chunk of the source variables ``names``: features and network, batch of pixels by batch.

    The model is rebuilt once per process; the feature buffer is allocated
    once per chunk and reused by each batch of pixel series. A feature that
    is missing at every pixel-date with radar (a series too sparse for the
    spec's lags, trends or windows) leaves the chunk without predictions:
    a warning names it.
    """
    model = from_payload(payload, _worker_model, "FusionModel")
    src = dict(zip(names, arrays, strict=True))
    nt, ny, nx = src["VV"].shape
    npx = ny * nx
    flat = {k: a.reshape(npx, a.shape[-1]) if k == "terrain" else a.reshape(nt, npx) for k, a in src.items()}
    nf = len(model.spec.names)
    rows = max(_MIN_FUSED_ROWS, int(option("batch_size", batch_size) or default_batch_size(resolve_device(option("device", device)))))
    per = max(1, min(npx, rows // max(nt, 1)))
    buf = np.empty(per * nt * nf, dtype=np.float32)
    out = np.empty((nt, npx), dtype=np.float32)
    seen = np.zeros(nf, dtype=bool)  # features finite somewhere with radar
    radar = False
    for p0 in range(0, npx, per):
        p1 = min(p0 + per, npx)
        batch = {k: a[p0:p1] if k == "terrain" else np.ascontiguousarray(a[:, p0:p1].T) for k, a in flat.items()}
        feats = feature_block(batch, const, out=buf)
        rows = feats.reshape(-1, nf)
        if p0 == 0:
            _warn_far_from_training(rows, model)
        if not seen.all():  # usually settled by the first batch: no cost after it
            has_s1 = (np.isfinite(batch["VV"]) & np.isfinite(batch["VH"])).reshape(-1)
            if has_s1.any():
                radar = True
                seen |= np.isfinite(rows[has_s1]).any(axis=0)
        pred = model.predict_array(rows, batch_size=batch_size, device=device, precision=precision)
        out[:, p0:p1] = pred.reshape(p1 - p0, nt).T
    if radar and not seen.all():
        missing = [n for n, ok in zip(model.spec.names, seen, strict=True) if not ok]
        terrain = [n for n in missing if n in TERRAIN_FEATURES]
        required = {n for n, r in zip(model.spec.names, model.spec.required, strict=True) if r}
        optional = [n for n in missing if n not in TERRAIN_FEATURES and n not in required]
        other = [n for n in missing if n in required]
        if terrain:  # the cube has no elevation/slope/aspect: the network reads its baseline for them (modality dropout)
            warnings.warn(f"predict_ndvi: the model reads terrain ({terrain}) and this cube has none: those inputs are set to "
                          "their baseline, so the prediction ignores the terrain. Add the cube's elevation, slope and aspect "
                          "for the model's own skill", UserWarning, stacklevel=2)
        if optional:  # optical context (or the nearest cloudy NDVI) absent: predicted from the network's baseline for them
            warnings.warn(f"predict_ndvi: the model's optional inputs {optional} are missing at every pixel-date with radar of "
                          "this chunk (no clear NDVI, or no NDVI_cloudy, within their reach): they are set to their baseline, "
                          "so the prediction there is the model's S1-only reading, less accurate than with them",
                          UserWarning, stacklevel=2)
        if other:
            warnings.warn(f"predict_ndvi: the model's features {other} are missing at every pixel-date with radar{revisit}, so "
                          "nothing is predicted there: the series is too sparse for the spec's lags, trends or windows. Use a model "
                          "whose features fit this revisit (e.g. trained with today's FeatureSpec())", UserWarning, stacklevel=2)
    return out.reshape(nt, ny, nx)


def predict_ndvi(
    cube: xr.Dataset,
    model: FusionModel | str | os.PathLike,
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
    model : FusionModel, SequenceModel, str or path
        A trained model, or what :func:`fusets_dl.load_model` loads (a saved
        model's path, or a shipped name such as ``"pretrained"``); its
        feature spec decides the features. A
        :class:`~fusets_dl.models.sequence_model.SequenceModel` reads the clear ``NDVI`` of
        the whole series too (unless its ``spec["s1_only"]``): its prediction
        at a clear date has seen that value, so do not score it against the
        cube's own NDVI; :func:`fusets_dl.evaluation.methods.s1_prediction`
        (its S1-only mode) is the prediction to score.
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
        A cube without ``VV``/``VH``, with bad dimensions (from
        :func:`fusets_dl.validate.check_cube`) or without dates
        (:class:`~fusets_dl.errors.DimensionError`); ``model`` not a model, or
        a bad device name, precision or batch size
        (:class:`~fusets_dl.errors.ModelError`, raised at the call also for
        a lazy result; whether CUDA is present is decided where the chunks run).
    """
    if isinstance(model, (str, os.PathLike)):  # a path or a shipped name, as fdl.train(init=...) takes them
        model = load_model(model)
    if getattr(model, "kind", None) == "sequence":  # whole-series model: NDVI_pred with its std as a coordinate
        from .sequence import predict_sequence

        ds = predict_sequence(cube, model, batch_size=batch_size, device=device, precision=precision)
        return ds["NDVI_pred"].assign_coords(NDVI_pred_std=ds["NDVI_pred_std"])
    if not isinstance(model, FusionModel):
        raise ModelError(f"predict_ndvi: expected a FusionModel, a SequenceModel, a saved model's path or a shipped model's name "
                         f"(e.g. 'pretrained'), found {type(model).__name__} {model!r:.80}")
    check_cube(cube)
    check_dates(cube, "predict_ndvi")
    cube = check_cube_values(cube, "predict_ndvi")
    check_backscatter(cube, model, "predict_ndvi")
    # the options are read now, not when a lazy result is computed (maybe outside a ``with set_options``)
    batch_size = option("batch_size", batch_size)
    device = option("device", device)
    precision = option("precision", precision)
    check_run_options(device, precision, batch_size)
    if "optical" in model.spec.groups:
        check_cube(cube, need_target=True)
    sources = block_sources(cube, model.spec)
    const = block_constants(cube, model.spec)
    check_revisit(model, const.days, const.orbits, "predict_ndvi", times=cube["time"].values)
    check_months(model, cube["time"].values)
    payload = _payload(model)
    names = tuple(sources)
    t = cube["time"].to_index()
    step = float(np.median(np.diff(t.values).astype("timedelta64[s]").astype(np.float64))) / 86400.0 if t.size > 1 else float("nan")
    revisit = f" (this cube's median revisit: {step:.0f} days)" if np.isfinite(step) else ""
    kw = {"names": names, "const": const, "batch_size": batch_size, "device": device, "precision": precision, "revisit": revisit}
    if sources["VV"].chunks is None:
        data = _fused_block(payload, *(np.asarray(v.values) for v in sources.values()), **kw)
    else:
        pay = dask.delayed(payload, pure=True, name=f"fusets-model-{payload[2][:16]}")
        args: list[object] = [pay, None]
        for v in sources.values():
            args += [v.data, "tyx" if v.dims == ("time", "y", "x") else "yxf"]
        data = da.blockwise(
            _fused_block, "tyx", *args, dtype=np.float32, concatenate=True,
            meta=np.empty((0, 0, 0), dtype=np.float32), **kw,
        )
    out = xr.DataArray(
        data,
        dims=("time", "y", "x"),
        coords={k: v for k, v in cube["VV"].coords.items()},
        name="NDVI_pred",
        attrs=cf_attrs("predict.NDVI_pred", model_sha256=model.sha256, feature_spec=model.spec.to_json()),
    )
    return apply_cf(out, "predict", fill=True)
