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


def check_prediction_model(predicted: xr.DataArray, model: Any) -> None:
    """Refuse a prediction whose ``model_sha256`` attribute names another model.

    Parameters
    ----------
    predicted : xarray.DataArray
        The prediction (``predict_ndvi`` and ``predict_sequence`` record the model).
    model : FusionModel or SequenceModel
        The model the reconstruction uses (its calibration and std).

    Raises
    ------
    ConfigError
        The prediction was made by another model.
    """
    sha = predicted.attrs.get("model_sha256")
    if sha is not None and sha != model.sha256:
        raise ConfigError(f"reconstruct: predicted: made by model {str(sha)[:12]}, not by this one ({model.sha256[:12]}); "
                          "its calibration and std would describe other values: pass the model that made it, or predict again")
