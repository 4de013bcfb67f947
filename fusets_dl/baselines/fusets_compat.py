"""FuseTS's ``mogpr`` call, answered by fusets_dl's MOGPR: the same arguments, the same output layout.

FuseTS (``fusets.mogpr.mogpr``) takes a Dataset on a ``t`` dimension and
returns ``<var>_FUSED`` (and, on request, ``<var>_STD`` and ``<var>_RAW``) on
that dimension, at the input dates or on a regular ``prediction_period``
grid. :func:`fusets_mogpr` keeps that contract so that a FuseTS script only
changes its import; the fit is :func:`fusets_dl.baselines.lcm.mogpr`.

One deliberate difference: ``<var>_STD`` is the posterior standard deviation
of the noise-free process in the variable's units. FuseTS multiplied a
variance by a standard deviation there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ConfigError, DimensionError, MissingVariableError
from .gp_config import GPConfig
from .lcm import mogpr

__all__ = ["fusets_mogpr"]

#: Time dimension names tried when ``time_dimension`` is not one of the input's dims (as FuseTS does).
TIME_NAMES = ("t", "time", "timestamp", "date")
#: Variables that are never outputs (CRS holders).
_NOT_DATA = frozenset({"crs", "spatial_ref"})


def _time_dimension(array: xr.Dataset, name: str) -> str:
    if name in array.dims:
        return name
    found = [n for n in TIME_NAMES if n in array.dims]
    if not found:
        raise DimensionError(f"fusets_mogpr: expected a time dimension {name!r} (or one of {list(TIME_NAMES)}), found dims {list(array.dims)}")
    return found[0]


def _output_dates(dates: pd.DatetimeIndex, prediction_period: str | None) -> pd.DatetimeIndex:
    if prediction_period is None:
        return dates
    try:
        out = pd.date_range(dates[0], dates[-1], freq=prediction_period)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"fusets_mogpr: prediction_period: expected a pandas frequency such as '5D', found {prediction_period!r}") from exc
    if len(out) == 0:
        raise ConfigError(f"fusets_mogpr: prediction_period {prediction_period!r} gives no date between {dates[0].date()} and {dates[-1].date()}")
    return out


def fusets_mogpr(
    array: xr.Dataset,
    variables: Sequence[str] | None = None,
    time_dimension: str = "t",
    prediction_period: str | None = None,
    include_uncertainties: bool = False,
    include_raw_inputs: bool = False,
    *,
    target: str | None = None,
    config: GPConfig | None = None,
    **config_kwargs: Any,
) -> xr.Dataset:
    """FuseTS-compatible MOGPR: ``fusets.mogpr.mogpr``'s arguments and output layout.

    Parameters
    ----------
    array : xarray.Dataset
        Variables on a time dimension (NaN where not observed; outputs may be
        sampled on different dates); other dimensions are independent pixels.
    variables : sequence of str, optional
        The variables fused (default: every data variable on the time
        dimension, except CRS holders).
    time_dimension : str
        Name of the time dimension (``"t"`` as in FuseTS); when absent,
        ``t``, ``time``, ``timestamp`` or ``date`` is used.
    prediction_period : str, optional
        A regular output grid from the first to the last input date (e.g.
        ``"5D"``); default: the input dates.
    include_uncertainties : bool
        Add ``<var>_STD``: the posterior standard deviation of the
        noise-free process, in the variable's units.
    include_raw_inputs : bool
        Add ``<var>_RAW``, the input on its own dates (the time coordinate
        becomes the union of input and output dates, as in FuseTS).
    target : str, optional
        The master output (pixels where it has too few observations are NaN):
        ``NDVI`` when present, else the first variable.
    config : GPConfig, optional
        Fit settings; ``config_kwargs`` override its fields (``n_iter=``,
        ``device=``, ``engine=``...).

    Returns
    -------
    xarray.Dataset
        ``<var>_FUSED`` for each variable (and the optional ``_STD`` and
        ``_RAW``), float32, on ``time_dimension`` and the input's other
        dimensions.

    Raises
    ------
    DimensionError
        No time dimension, or it is not datetime64.
    MissingVariableError
        A listed variable or the target is not in ``array``.
    ConfigError
        A ``prediction_period`` that is not a frequency or gives no date.

    Examples
    --------
    A FuseTS script changes only its import::

        # from fusets.mogpr import mogpr
        from fusets_dl.baselines import fusets_mogpr as mogpr
        out = mogpr(ds, prediction_period="5D", include_uncertainties=True)
    """
    if not isinstance(array, xr.Dataset):
        raise DimensionError(f"fusets_mogpr: expected an xarray.Dataset, found {type(array).__name__}")
    tdim = _time_dimension(array, time_dimension)
    if not np.issubdtype(array[tdim].dtype, np.datetime64):
        raise DimensionError(f"fusets_mogpr: expected datetime64 dates on {tdim!r}, found {array[tdim].dtype}")
    names = [str(v) for v in (variables if variables is not None else array.data_vars) if str(v) not in _NOT_DATA]
    missing = [v for v in names if v not in array.data_vars]
    if missing:
        raise MissingVariableError(f"fusets_mogpr: variables {missing} not in the Dataset; found {sorted(map(str, array.data_vars))}")
    names = [v for v in names if tdim in array[v].dims]
    if not names:
        raise MissingVariableError(f"fusets_mogpr: expected variables on {tdim!r}, found none among {sorted(map(str, array.data_vars))}")
    tgt = target if target is not None else ("NDVI" if "NDVI" in names else names[0])
    ds = array[names].sortby(tdim)
    dates = pd.DatetimeIndex(ds[tdim].values)
    out_dates = _output_dates(dates, prediction_period)
    fused = mogpr(ds, tgt, out_dates.values, variables=names, config=config, time_dim=tdim, **config_kwargs)
    result = xr.Dataset({f"{v}_FUSED": fused[v] for v in names})
    if include_uncertainties:
        for v in names:
            result[f"{v}_STD"] = fused[f"{v}_std"]
    if include_raw_inputs:
        raw = xr.Dataset({f"{v}_RAW": ds[v].astype(np.float32) for v in names})
        result = xr.merge([result, raw], join="outer", compat="no_conflicts")
    result.attrs = {**fused.attrs, "fusets_compatible": "fusets.mogpr.mogpr layout (<var>_FUSED, _STD, _RAW)"}
    return result
