"""The registry of feature groups (modalities): one ordered table, one entry per group.

Like flox's ``AGGREGATIONS`` table, :data:`FEATURE_GROUPS` is the one place
that defines a group: its name, whether a sample needs it, how its feature
names follow from a :class:`~fusets_dl.features.FeatureSpec`, and the function
that computes its columns. The table's order is the order of the groups in
``FeatureSpec.groups``, of the ``feature`` dimension and of the modalities of
the networks.

To add a group, write its ``names(spec)`` and ``compute(inputs)`` functions
(in a module of their own, like :mod:`.terrain`) and add one entry below;
``FeatureSpec(groups=(..., "new"))`` then validates, names and computes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .optical import optical_features, optical_names
from .sar import sar_features, sar_names, time_features, time_names
from .terrain import terrain_features, terrain_names

if TYPE_CHECKING:
    import xarray as xr

    from .inputs import FeatureInputs
    from .spec import FeatureSpec

__all__ = ["FEATURE_GROUPS", "MODALITIES", "REQUIRED_MODALITIES", "FeatureGroup"]


@dataclass(frozen=True)
class FeatureGroup:
    """One feature group (a modality of the networks).

    Parameters
    ----------
    name : str
        The group's name in ``FeatureSpec.groups`` and in ``FeatureSpec.modality``.
    required : bool
        Whether a sample cannot do without the group's features (they must be
        finite); optional groups may be NaN and then enter the network as the
        modality baseline.
    names : callable
        ``names(spec) -> list[str]``: the group's feature names for a spec,
        in column order (may be empty when its switches are off).
    compute : callable
        ``compute(inputs) -> xarray.DataArray``: the group's features on
        ``(time, y, x, feature)`` (float32, lazy on Dask input, one feature
        per name), given the :class:`~fusets_dl.features.inputs.FeatureInputs`
        of a :func:`~fusets_dl.features.compute_features` call.
    needs_ndvi : bool
        The group reads the cube's ``NDVI`` (the cube is validated for it).
    description : str
        One line for documentation.
    """

    name: str
    required: bool
    names: Callable[[FeatureSpec], list[str]]
    compute: Callable[[FeatureInputs], xr.DataArray]
    needs_ndvi: bool = False
    description: str = ""


FEATURE_GROUPS: dict[str, FeatureGroup] = {
    g.name: g
    for g in (
        FeatureGroup("sar", True, sar_names, sar_features, description="S1 backscatter, indices, lags, windows, trends, anomaly"),
        FeatureGroup("optical", False, optical_names, optical_features, needs_ndvi=True, description="clear NDVI before and after each date (and the nearest cloudy NDVI)"),
        FeatureGroup("terrain", False, terrain_names, terrain_features, description="elevation, slope and aspect from a DEM"),
        FeatureGroup("time", True, time_names, time_features, description="day of year on the unit circle"),
    )
}
"""The feature groups, in feature order (name -> :class:`FeatureGroup`)."""

MODALITIES: tuple[str, ...] = tuple(FEATURE_GROUPS)
"""Names of the built-in groups, in feature order."""

REQUIRED_MODALITIES: tuple[str, ...] = tuple(name for name, g in FEATURE_GROUPS.items() if g.required)
"""Names of the built-in groups a sample cannot do without."""
