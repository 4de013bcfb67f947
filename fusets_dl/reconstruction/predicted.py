"""Checks of a prediction given to ``reconstruct(predicted=...)``: the cube's dates and pixels, the model that made it."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from ..errors import ConfigError

__all__ = ["check_prediction_grid", "check_prediction_model", "coord_span"]


def coord_span(obj: xr.Dataset | xr.DataArray, dim: str) -> str:
    """First and last coordinate value of ``dim``, for messages.

    Parameters
    ----------
    obj : xarray.Dataset or xarray.DataArray
        What holds the coordinate.
    dim : str
        The dimension.

    Returns
    -------
    str
        ``"first .. last"`` (19 characters each at most), or ``"no coordinate"``.
    """
    if dim not in obj.coords or obj.sizes.get(dim, 0) == 0:
        return "no coordinate"
    v = obj[dim].values
    return f"{str(v[0])[:19]} .. {str(v[-1])[:19]}"


def check_prediction_grid(predicted: xr.DataArray, cube: xr.Dataset) -> None:
    """Refuse a prediction on other dates or pixels than the cube's.

    Parameters
    ----------
    predicted : xarray.DataArray
        The prediction, on ``(time, y, x)``.
    cube : xarray.Dataset
        The cube being reconstructed.

    Raises
    ------
    ConfigError
        Another size or other coordinate values along ``time``, ``y`` or
        ``x`` (a whole scene's prediction given with a tile of it).
    """
    for dim in ("time", "y", "x"):
        have, want = predicted.sizes.get(dim), cube.sizes[dim]
        same = have == want and (dim not in cube.coords or dim not in predicted.coords
                                 or np.array_equal(np.asarray(predicted[dim].values), np.asarray(cube[dim].values)))
        if not same:
            raise ConfigError(f"reconstruct: predicted: expected the prediction on the cube's {dim} ({want} values, "
                              f"{coord_span(cube, dim)}), found {have} values ({coord_span(predicted, dim)}); predict on this "
                              "cube (or select the same part of both)")


def check_prediction_model(predicted: xr.DataArray, model: Any, s1_only: bool | None = None) -> None:
    """Refuse a prediction made by another model, or by this sequence model in another mode or calibration.

    Parameters
    ----------
    predicted : xarray.DataArray
        The prediction (``predict_ndvi`` and ``predict_sequence`` record the
        model; ``predict_sequence`` also its mode, ``s1_only``, and the factor
        on its std, ``std_scale``).
    model : FusionModel or SequenceModel
        The model the reconstruction uses (its calibration and std).
    s1_only : bool, optional
        The mode the reconstruction asks of a sequence model (resolved: the
        model's own when not asked); None: not checked.

    Raises
    ------
    ConfigError
        The prediction was made by another model (``model_sha256``); for a
        sequence model, in the other mode (``s1_only``) or with another
        factor on its std (``std_scale``: the model was recalibrated since,
        as :func:`~fusets_dl.training.sequence.calibrate_sequence` does, which
        keeps the weights). A prediction without these attributes (made
        before they were recorded, or by a per-date model) is checked by its
        ``model_sha256`` alone.
    """
    sha = predicted.attrs.get("model_sha256")
    if sha is not None and sha != model.sha256:
        raise ConfigError(f"reconstruct: predicted: made by model {str(sha)[:12]}, not by this one ({model.sha256[:12]}); "
                          "its calibration and std would describe other values: pass the model that made it, or predict again")
    if getattr(model, "kind", None) != "sequence":
        return
    mode = predicted.attrs.get("s1_only")
    if mode is not None and s1_only is not None and bool(mode) != bool(s1_only):
        raise ConfigError(f"reconstruct: predicted: expected a prediction in the mode asked for (s1_only={bool(s1_only)}), found one "
                          f"made with s1_only={bool(mode)}: its mean and std are another mode's; pass s1_only={bool(mode)}, "
                          "or predict again in this mode")
    scale = predicted.attrs.get("std_scale")
    if scale is None:
        return
    want = model.std_scale(bool(mode) if mode is not None else bool(s1_only))
    try:
        have = float(scale)
    except (TypeError, ValueError):
        have = float("nan")
    if not np.isclose(have, want, rtol=1e-6, atol=0.0):
        shown = f"{have:.6g}" if np.isfinite(have) else f"{scale!r:.40}"
        raise ConfigError(f"reconstruct: predicted: expected a prediction with this model's std calibration (std_scale {want:.6g}), "
                          f"found one made with std_scale {shown} (one of them was recalibrated, as calibrate_sequence does, keeping "
                          "the weights): its NDVI_pred_std is another calibration's; predict again with this model")
