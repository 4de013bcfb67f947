"""Write: CF-compliant Zarr outputs with provenance."""

from __future__ import annotations

from .zarr import (
    COMPLETE_ATTR,
    check_replaceable,
    is_our_store,
    provenance_attrs,
    set_store_complete,
    store_complete,
    to_zarr,
    unwritten_fill_values,
)

__all__ = ["COMPLETE_ATTR", "check_replaceable", "is_our_store", "provenance_attrs", "set_store_complete", "store_complete", "to_zarr",
           "unwritten_fill_values"]
