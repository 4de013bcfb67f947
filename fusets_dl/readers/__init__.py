"""Read: Sentinel-1 and Sentinel-2 from files, STAC-loader output and tables into the fusion data model.

Modules, one job each: :mod:`.sources` opens paths and Datasets, :mod:`.crs`
finds the CRS, :mod:`.conventions` is the registry of band names,
:mod:`.normalise` brings dims, time, names and CF packing into the canonical
form, :mod:`.encoding` holds the radiometric conversions and masks, and the
readers themselves are :mod:`.radar` (:func:`open_s1`), :mod:`.optical`
(:func:`open_s2`) and :mod:`.cube` (:func:`open_cube`); point tables:
:mod:`.tables` (:func:`open_points`) with its column names in :mod:`.table_columns`.
:mod:`.stacked` turns ``band``-dimension arrays and dated band names into bands
on time, :mod:`.sanity` checks values against what the input declares, and
:mod:`.stac` (:func:`load_stac`) loads STAC items with odc-stac; :mod:`.terrain`
(:func:`open_terrain`) reads a DEM and its slope and aspect.
"""

from __future__ import annotations

from .conventions import canonical_band_name
from .cube import open_cube
from .optical import open_s2
from .radar import open_s1
from .stac import load_stac
from .tables import open_points, read_table
from .terrain import open_terrain

__all__ = ["canonical_band_name", "load_stac", "open_cube", "open_points", "open_s1", "open_s2", "open_terrain", "read_table"]
