"""Read: Sentinel-1 and Sentinel-2 from files, STAC-loader output and tables into the fusion data model."""

from __future__ import annotations

from .core import open_cube, open_s1, open_s2

__all__ = ["open_cube", "open_s1", "open_s2"]
