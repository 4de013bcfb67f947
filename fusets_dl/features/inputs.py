"""What every feature group's compute function receives: the prepared inputs of one call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    from .spec import FeatureSpec

__all__ = ["FeatureInputs"]


@dataclass(frozen=True)
class FeatureInputs:
    """The inputs of one :func:`~fusets_dl.features.compute_features` call, prepared once.

    Parameters
    ----------
    cube : xarray.Dataset
        The (validated) fusion cube.
    spec : FeatureSpec
        What to compute.
    vv, vh : xarray.DataArray
        Backscatter (dB) on ``(time, y, x)``; on Dask input ``time`` is a single chunk.
    days : numpy.ndarray
        float64 days since the first time, shape (time,).
    doy : numpy.ndarray
        float64 fractional day of year (0-based), shape (time,).
    orbits : numpy.ndarray
        int64 relative-orbit group of each time (:func:`~fusets_dl.features.orbit_groups`).
    context_gaps : (seed, max_days), optional
        Training only: simulated cloudy spells of the optical context.
    """

    cube: xr.Dataset
    spec: FeatureSpec
    vv: xr.DataArray
    vh: xr.DataArray
    days: np.ndarray
    doy: np.ndarray
    orbits: np.ndarray
    context_gaps: tuple[int, float] | None = None
    _shared: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def spatial_chunks(self) -> dict[str, tuple[int, ...]] | None:
        """The ``y`` and ``x`` chunks of ``vv`` (every group's output follows them); None when in memory.

        Returns
        -------
        dict or None
            ``{"y": chunks, "x": chunks}``, or None for NumPy-backed input.
        """
        if self.vv.chunks is None:
            return None
        return {"y": self.vv.chunks[self.vv.dims.index("y")], "x": self.vv.chunks[self.vv.dims.index("x")]}

    def shared(self, key: str, make: Callable[[FeatureInputs], Any]) -> Any:
        """A value several groups use (e.g. one kernel's output), made on first request.

        Parameters
        ----------
        key : str
            Name of the shared value.
        make : callable
            ``make(inputs)`` builds it; called at most once per key.

        Returns
        -------
        object
            The value ``make`` returned.
        """
        if key not in self._shared:
            self._shared[key] = make(self)
        return self._shared[key]
