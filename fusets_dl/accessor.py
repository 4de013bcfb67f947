"""The ``fusion`` accessor: a thin front over the package functions."""

from __future__ import annotations

from typing import Any

import xarray as xr

from .validate import check_cube

__all__ = ["FusionDataArrayAccessor", "FusionDatasetAccessor"]


@xr.register_dataset_accessor("fusion")
class FusionDatasetAccessor:
    """``ds.fusion``: fusion-cube operations on a Dataset."""

    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    def validate(self, *, need_target: bool = False) -> xr.Dataset:
        """Check the Dataset against the fusion-cube data model; return it unchanged."""
        check_cube(self._ds, need_target=need_target)
        return self._ds

    def summary(self) -> dict[str, Any]:
        """What survived each step of building the cube (see :func:`fusets_dl.summarise`)."""
        from .align import summarise

        return summarise(self._ds)


@xr.register_dataarray_accessor("fusion")
class FusionDataArrayAccessor:
    """``da.fusion``: operations on an NDVI DataArray."""

    def __init__(self, da: xr.DataArray) -> None:
        self._da = da
