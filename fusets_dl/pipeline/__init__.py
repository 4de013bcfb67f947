"""The batch pipeline: resumable runs over regions from a YAML configuration."""

from __future__ import annotations

from .core import RegionConfig, RunConfig, load_config, run, run_region, summary_table

__all__ = ["RegionConfig", "RunConfig", "load_config", "run", "run_region", "summary_table"]
