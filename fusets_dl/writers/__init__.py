"""Write: CF-compliant Zarr outputs with provenance."""

from __future__ import annotations

from .zarr import provenance_attrs, to_zarr

__all__ = ["provenance_attrs", "to_zarr"]
