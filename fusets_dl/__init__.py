"""fusets_dl: Sentinel-1/Sentinel-2 deep-learning fusion for xarray and Dask.

``import fusets_dl as fdl`` registers the ``fusion`` accessor on
:class:`xarray.Dataset` and :class:`xarray.DataArray`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import baselines, plots, preprocess, synthetic
from .accessor import FusionDataArrayAccessor, FusionDatasetAccessor
from .align import align, summarise
from .baselines import mogpr
from .compare import CompareConfig, CompareResult, compare
from .errors import (
    ConfigError,
    CRSMismatchError,
    DimensionError,
    DuplicateTimeError,
    EncodingError,
    FusionError,
    GridMismatchError,
    InsufficientDataError,
    MissingVariableError,
    ModelError,
    SourceError,
    TimeOverlapError,
)
from .evaluate import clustering_scores, evaluate, metrics_by_range, regression_metrics
from .features import FeatureSpec, compute_features
from .io import open_cube, open_s1, open_s2
from .model import FusionModel, load_model
from .phenology import phenology, phenology_by_class
from .predict import predict_ndvi
from .reconstruct import reconstruct
from .relevance import modality_relevance, modality_weights
from .segment import (
    SegmentConfig,
    Segmenter,
    kmeans_segment,
    load_segmenter,
    segment,
    train_segmenter,
)
from .store import to_zarr
from .train import TrainConfig, cross_validate, train

try:
    __version__ = version("fusets_dl")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+unknown"

__all__ = [
    "CRSMismatchError",
    "CompareConfig",
    "CompareResult",
    "ConfigError",
    "DimensionError",
    "DuplicateTimeError",
    "EncodingError",
    "FeatureSpec",
    "FusionDataArrayAccessor",
    "FusionDatasetAccessor",
    "FusionError",
    "FusionModel",
    "GridMismatchError",
    "InsufficientDataError",
    "MissingVariableError",
    "ModelError",
    "SegmentConfig",
    "Segmenter",
    "SourceError",
    "TimeOverlapError",
    "TrainConfig",
    "__version__",
    "align",
    "baselines",
    "clustering_scores",
    "compare",
    "compute_features",
    "cross_validate",
    "evaluate",
    "kmeans_segment",
    "load_model",
    "load_segmenter",
    "metrics_by_range",
    "modality_relevance",
    "modality_weights",
    "mogpr",
    "open_cube",
    "open_s1",
    "open_s2",
    "phenology",
    "phenology_by_class",
    "plots",
    "predict_ndvi",
    "preprocess",
    "reconstruct",
    "regression_metrics",
    "segment",
    "summarise",
    "synthetic",
    "to_zarr",
    "train",
    "train_segmenter",
]
