"""The ``fusion`` accessor: a thin front over the package functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import xarray as xr

from .validate import check_cube

if TYPE_CHECKING:
    from .features.core import FeatureSpec
    from .models.fusion_model import FusionModel

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
        from .alignment.core import summarise

        return summarise(self._ds)

    def features(self, spec: FeatureSpec | None = None) -> xr.DataArray:
        """Features of the cube (see :func:`fusets_dl.compute_features`)."""
        from .features.core import compute_features

        return compute_features(self._ds, spec)

    def predict_ndvi(self, model: FusionModel, **kwargs: Any) -> xr.DataArray:
        """NDVI predicted from S1 by ``model`` (see :func:`fusets_dl.predict_ndvi`); lazy on Dask input."""
        from .inference.predict import predict_ndvi

        return predict_ndvi(self._ds, model, **kwargs)

    def reconstruct(self, model: FusionModel, **kwargs: Any) -> xr.Dataset:
        """Gap-filled NDVI with ``NDVI_std`` and ``source`` (see :func:`fusets_dl.reconstruct`)."""
        from .reconstruction.core import reconstruct

        return reconstruct(self._ds, model, **kwargs)

    def mogpr(self, target: str = "NDVI", times: Any = None, *, sar: str = "rvi", split_orbits: bool = True, **kwargs: Any) -> xr.Dataset:
        """MOGPR gap filling of a fusion cube: the target plus the S1 RVI of each relative orbit.

        See :func:`fusets_dl.baselines.mogpr` and :func:`fusets_dl.baselines.mogpr_inputs`.
        A Dataset that is not a fusion cube (no ``VV``/``VH``) is passed to
        :func:`~fusets_dl.baselines.mogpr` as it is.
        """
        from .baselines import mogpr, mogpr_inputs

        ds = self._ds
        if "VV" in ds.data_vars and "VH" in ds.data_vars:
            ds = mogpr_inputs(ds, sar=sar, split_orbits=split_orbits, target=target)
        return mogpr(ds, target=target, times=times, **kwargs)

    def compare(self, **kwargs: Any) -> Any:
        """The gap-filling comparison on this cube (see :func:`fusets_dl.compare`)."""
        from .evaluation.compare import compare

        return compare(self._ds, **kwargs)

    def segment(self, n_classes: int = 8, **kwargs: Any) -> xr.DataArray:
        """Unsupervised land-cover classes of the cube's pixels (see :func:`fusets_dl.segment`)."""
        from .segmentation.core import segment

        return segment(self._ds, n_classes, **kwargs)

    def phenology(self, **kwargs: Any) -> xr.Dataset:
        """Phenology of the Dataset's ``NDVI`` (see :func:`fusets_dl.phenology`)."""
        from .phenometrics.core import phenology

        return phenology(self._ds["NDVI"], **kwargs)


@xr.register_dataarray_accessor("fusion")
class FusionDataArrayAccessor:
    """``da.fusion``: operations on an NDVI DataArray."""

    def __init__(self, da: xr.DataArray) -> None:
        self._da = da

    def phenology(self, **kwargs: Any) -> xr.Dataset:
        """Multi-season phenometrics of this NDVI series (see :func:`fusets_dl.phenology`)."""
        from .phenometrics.core import phenology

        return phenology(self._da, **kwargs)
