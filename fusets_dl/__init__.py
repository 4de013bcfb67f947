"""fusets_dl: Sentinel-1/Sentinel-2 deep-learning fusion for xarray and Dask.

``import fusets_dl as fdl`` registers the ``fusion`` accessor on
:class:`xarray.Dataset` and :class:`xarray.DataArray`. The stages live in
subpackages named after them (``readers``, ``alignment``, ``features``,
``models``, ``training``, ``inference``, ``reconstruction``, ``phenometrics``,
``writers``; beside them ``baselines``, ``evaluation``, ``segmentation``,
``pipeline`` and ``cli``); the names below are the public front, loaded on
first use so that importing the package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import accessor as _accessor  # noqa: F401 - registers the ``fusion`` accessor
from ._lazy import attach
from ._version import __version__
from .options import get_options, set_options

_EXPORTS = {
    "open_s1": ".readers.radar",
    "open_s2": ".readers.optical",
    "open_cube": ".readers.cube",
    "open_points": ".readers.tables",
    "load_stac": ".readers.stac",
    "align": ".alignment.build",
    "FeatureSpec": ".features.spec",
    "compute_features": ".features.compute",
    "speckle_filter": ".features.speckle",
    "reconstruct": ".reconstruction.api",
    "phenology": ".phenometrics.api",
    "TrainConfig": ".training.config",
    "train": ".training.loop",
    "FusionModel": ".models.fusion_model",
    "load_model": ".models.io",
    "SequenceModel": ".models.sequence_model",
    "predict_ndvi": ".inference.predict",
    "mogpr": ".baselines.lcm",
    "compare": ".evaluation.comparison",
    "CompareConfig": ".evaluation.comparison",
    "leave_one_site_out": ".evaluation.cross_site",
    "to_zarr": ".writers.zarr",
}
_SUBMODULES = (
    "accessor", "alignment", "baselines", "cf", "cli", "errors", "evaluation", "features", "inference", "models",
    "openeo", "options", "phenometrics", "pipeline", "readers", "reconstruction", "runtime", "sample", "segmentation",
    "smoothing", "synthetic", "testing", "training", "validate", "writers",
)
__getattr__, __dir__ = attach(__name__, _EXPORTS, _SUBMODULES)

if TYPE_CHECKING:  # what static tools and IDEs see
    from . import baselines as baselines
    from . import errors as errors
    from . import evaluation as evaluation
    from . import segmentation as segmentation
    from . import synthetic as synthetic
    from .alignment.build import align
    from .baselines.lcm import mogpr
    from .evaluation.comparison import CompareConfig, compare
    from .evaluation.cross_site import leave_one_site_out
    from .features import FeatureSpec, compute_features
    from .features.speckle import speckle_filter
    from .inference.predict import predict_ndvi
    from .models.fusion_model import FusionModel
    from .models.io import load_model
    from .models.sequence_model import SequenceModel
    from .phenometrics.api import phenology
    from .readers import open_cube, open_s1, open_s2
    from .readers.stac import load_stac
    from .reconstruction.api import reconstruct
    from .training.config import TrainConfig
    from .training.loop import train
    from .writers.zarr import to_zarr

__all__ = [
    "CompareConfig",
    "FeatureSpec",
    "FusionModel",
    "SequenceModel",
    "TrainConfig",
    "__version__",
    "align",
    "compare",
    "compute_features",
    "get_options",
    "leave_one_site_out",
    "load_model",
    "load_stac",
    "mogpr",
    "open_cube",
    "open_s1",
    "open_s2",
    "phenology",
    "predict_ndvi",
    "reconstruct",
    "set_options",
    "speckle_filter",
    "to_zarr",
    "train",
]
