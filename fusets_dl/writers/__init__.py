"""Write: CF-compliant Zarr outputs with provenance."""

from __future__ import annotations

from .zarr import check_replaceable, is_our_store, provenance_attrs, to_zarr, unwritten_fill_values

__all__ = ["check_replaceable", "is_our_store", "provenance_attrs", "to_zarr", "unwritten_fill_values"]
