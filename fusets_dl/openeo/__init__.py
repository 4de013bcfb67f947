"""openEO: fusets_dl as user-defined functions next to the data on openEO back-ends.

:func:`udf_code` returns the source of a UDF (``predict``, ``reconstruct`` or
``phenology``) with its context baked in; the entry points themselves live in
:mod:`.udf` (``apply_udf``: openEO ``XarrayDataCube`` in and out), the context
(options mirroring the Python API, the model) in :mod:`.context`, the band
names in :mod:`.names`. The ``openeo`` client is imported only by the entry
points, when they wrap their result.
"""

from __future__ import annotations

from .code import udf_code
from .context import KINDS, SECTION_KEYS
from .names import phenology_bands
from .udf import apply_phenology, apply_predict, apply_reconstruct, apply_udf

__all__ = [
    "KINDS",
    "SECTION_KEYS",
    "apply_phenology",
    "apply_predict",
    "apply_reconstruct",
    "apply_udf",
    "phenology_bands",
    "udf_code",
]
