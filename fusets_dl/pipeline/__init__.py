"""The batch pipeline: resumable runs over regions from a YAML configuration.

A YAML config lists regions; every region becomes ``<root>/<name>.zarr``
(reconstructed NDVI with ``NDVI_std`` and ``source``, and phenology), plus
``<name>.metrics.json`` and ``<name>.log``. A run killed at any point and
started again skips finished tiles and regions and ends with the same output
as an uninterrupted run; a lock file keeps two runs off the same output root.

Modules: ``config`` (the YAML schema, validated before any work), ``lock``
(the output-root lock), ``region`` (one region, tile by tile), ``outputs``
(a region's paths and what is read back from its store), ``stage`` (the
aligned cube computed once into a scratch store while a region trains and
writes its tiles), ``runner`` (the whole run, its Dask context and summary
table).
"""

from __future__ import annotations

from .config import RegionConfig, RunConfig, load_config
from .lock import output_lock
from .region import run_region
from .runner import run, summary_table

__all__ = ["RegionConfig", "RunConfig", "load_config", "output_lock", "run", "run_region", "summary_table"]
