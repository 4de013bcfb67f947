"""The feature spec: which features to compute, validated and serialisable.

:class:`FeatureSpec` declares the features (it serialises to JSON and travels
with every model); the groups it may use, their order and their feature names
come from the registry :data:`~fusets_dl.features.groups.FEATURE_GROUPS`.
"""

from __future__ import annotations

import json
import numbers
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .._config import dataclass_from_dict
from ..errors import ConfigError
from ..validate import found_value, is_whole
from .groups import FEATURE_GROUPS

__all__ = ["S1_NORMALISE", "FeatureSpec"]

#: The values of ``FeatureSpec.s1_normalise``.
S1_NORMALISE: tuple[str, ...] = ("none", "pixel", "pixel_orbit")
#: The on/off fields of :class:`FeatureSpec` (``True`` or ``False``, NumPy booleans too).
_FLAGS: tuple[str, ...] = ("backscatter", "rvi", "ratios", "interaction", "differences", "dt", "doy", "anomaly", "cloudy_input")



@dataclass(frozen=True)
class FeatureSpec:
    """Which features to compute from the fusion cube.

    The defaults are the S1 features that carry over to a place and year
    the model was not trained on (the temporal-change features, ``lags``,
    ``trends`` and ``anomaly``, are off). Trained on patch A (Flanders
    2018: maize and grassland) and applied to another WorldCereal patch
    (Belgium 2019, winter cereals, one orbit every 6 days), the S1-only
    R² was 0.11-0.21 with them and 0.42-0.45 without (seeds 0-2;
    in spring, wheat's VV falls as it greens, while maize's rises, so
    changes learnt on maize point the wrong way on wheat). In-site, on
    held-out blocks, they are worth 0.01-0.04 R² on rasters and
    nothing on point series: ``FeatureSpec(lags=2, trends=(30,),
    anomaly=True)`` brings them back for a model used only where it was
    trained (the earlier default).

    Parameters
    ----------
    backscatter : bool
        ``VV``, ``VH`` in dB.
    rvi : bool
        Radar vegetation index ``4 VH / (VV + VH)`` on linear power (0..4).
    ratios : bool
        Polarisation ratios: ``VV_VH_dB`` = VV - VH in dB (the log of VV/VH,
        which stays bounded where the linear VV/VH of bright targets reaches
        the hundreds) and ``VH_VV`` = VH/VV in linear power, clipped to [0, 2].
    interaction : bool
        ``VVxVH``: the product of VV and VH in dB, divided by 100.
    lags : int
        Number of previous valid acquisitions whose VV/VH are features
        (``VV_lag1``..), 0 for none.
    lag_mode : {"orbit", "any"}
        ``"orbit"`` (default): lags, the acquisition rolling mean and the
        anomaly follow the previous valid acquisition of the *same relative
        orbit* (see :func:`orbit_groups`), so a site seen from two alternating
        orbits gives the same lag semantics (same geometry, ~6 or 12 days) as a
        site seen from one; ``"any"``: the previous valid acquisition of any orbit.
    differences : bool
        ``dVV_lagk``, ``dVH_lagk``: change since each lag (dB).
    dt : bool
        ``dt_lagk``: days since each lagged acquisition, from the time coordinate.
    doy : bool
        ``doy_sin``, ``doy_cos``: day of year on the unit circle.
    rolling : int
        Window (in valid acquisitions, odd, centred) of the rolling mean of VV
        and VH (``VV_roll``, ``VH_roll``); 0 or 1 for none.
    windows : tuple of int
        Centred time windows in days (distinct whole numbers >= 1): for
        each, the mean of VV, VH and VV-VH (dB) over the pixel's valid
        acquisitions within +-window/2 (``VV_w30``..). Windows in days, not
        acquisitions, mean the same features for a 6-day single-orbit site
        as for two alternating orbits.
    trends : tuple of int
        Windows in days (distinct whole numbers >= 1): mean over the next
        ``w`` days minus mean over the previous ``w`` days, for VV and VH
        (``dVV_trend30``..): the direction of change (growth or senescence).
    anomaly : bool
        ``VV_anom``, ``VH_anom``: departure from the pixel's median over the
        whole series (removes static per-pixel effects such as roughness and
        geometry).
    groups : tuple of str
        Modalities used, any of ``"sar"`` (the S1 features above),
        ``"optical"`` (optical context, below), ``"terrain"`` (``elevation``,
        ``slope``, ``aspect`` variables of the cube, from a DEM) and ``"time"``
        (day of year): the names in
        :data:`~fusets_dl.features.groups.FEATURE_GROUPS`, stored in its
        order. Default ``("sar", "time")``: the S1-only model.
    context_exclude_days : float
        Optical context: clear observations within this many days of a date
        are never its context. On a cube of ``align``'s pairing mode the
        window is widened around the date's own S2 view (its
        ``NDVI_offset``) to the pairing tolerance the cube records, so that
        the same S2 acquisition, paired with a neighbouring S1 date too, is
        never the target's context (before 2026-11-28 it was, for 13.7 % of
        the Flanders cube's clear targets). The context of a date is the last clear NDVI before
        ``t - context_exclude_days`` and the first after
        ``t + context_exclude_days``: ``NDVI_prev``, ``dt_prev`` (days),
        ``NDVI_next``, ``dt_next`` and ``NDVI_interp`` (linear interpolation
        between them at ``t``, or the one present). Absent context is NaN and
        enters the network as the modality baseline (zero after
        standardisation).
    cloudy_input : bool
        Cloud-robust option of the optical group: also ``NDVI_cloudy``, the
        NDVI of the nearest *cloud-contaminated* S2 acquisition within
        ``cloudy_window_days`` of the date, and ``dt_cloudy`` (days to it),
        from the cube's ``NDVI_cloudy`` (``align(..., keep_cloudy=True)``).
        Training then sees cloudy optical inputs, flagged as such, instead of
        having them removed (Gawlikowski and Gottschling: models trained with
        cloudy samples learn when to rely on the radar).
    cloudy_window_days : float
        Search window of ``NDVI_cloudy``, days either side.
    s1_normalise : {"none", "pixel", "pixel_orbit"}
        Standardisation of the S1 series before the ``sar`` columns are
        formed. ``"none"`` (default): absolute dB. ``"pixel"``: each
        per-date S1 column (``VV``, ``VH``, ``RVI``, ``VV_VH_dB``,
        ``VH_VV``, ``VVxVH``) becomes a z-score over the pixel's valid
        acquisitions, and the lag, rolling, window, trend and anomaly
        columns follow from the z-scores of VV and VH; ``"pixel_orbit"``:
        the same, with the mean and standard deviation of each relative-orbit
        group of the pixel (:func:`~fusets_dl.features.orbit_groups`), which
        also removes the offsets between incidence geometries. This removes
        static per-pixel (and per-track) effects such as roughness, moisture
        level and incidence angle, so that a model learns from the shape of
        the series (Tsardanidis et al. 2024; CropSAR). A group with fewer than
        two valid acquisitions, or no variation, gives 0. ``anomaly`` (the
        departure from the median) is the centring half of this.

    Raises
    ------
    ConfigError
        When a value is of the wrong type (a string or a boolean for a
        number, a string for a tuple, anything but ``True``/``False`` for an
        on/off field) or out of range, a window or trend not a whole number
        of days or repeated, a group unknown or repeated, or every feature
        switched off.
    """

    backscatter: bool = True
    rvi: bool = True
    ratios: bool = True
    interaction: bool = True
    lags: int = 0
    lag_mode: str = "orbit"
    differences: bool = True
    dt: bool = True
    doy: bool = True
    rolling: int = 5
    windows: tuple[int, ...] = (15, 45, 91, 181)
    trends: tuple[int, ...] = ()
    anomaly: bool = False
    groups: tuple[str, ...] = field(default=("sar", "time"))
    context_exclude_days: float = 3.0
    cloudy_input: bool = False
    cloudy_window_days: float = 6.0
    s1_normalise: str = "none"

    def __post_init__(self) -> None:
        self._check_flags()
        self._check_series_options()
        self._check_normalise()
        given = self._normalise_groups()
        self._check_optical_options(given)
        self._normalise_windows()
        names = self.names
        if not names:
            raise ConfigError("FeatureSpec: every feature is switched off; expected at least one")
        repeated = sorted(n for n, k in Counter(names).items() if k > 1)
        if repeated:
            raise ConfigError(f"FeatureSpec: expected distinct feature names, found {repeated} more than once")

    def _check_flags(self) -> None:
        """Validate the on/off fields (``True`` or ``False``; a NumPy boolean is stored as ``bool``)."""
        for name in _FLAGS:
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"FeatureSpec.{name}: expected True or False, found {found_value(value)}")
            object.__setattr__(self, name, bool(value))

    def _check_series_options(self) -> None:
        """Validate ``lags``, ``lag_mode`` and ``rolling`` (whole numbers, NumPy integers too, stored as ``int``)."""
        if not is_whole(self.lags) or not 0 <= self.lags <= 10:
            raise ConfigError(f"FeatureSpec.lags: expected an integer in 0..10, found {found_value(self.lags)}")
        object.__setattr__(self, "lags", int(self.lags))
        if not isinstance(self.lag_mode, str) or self.lag_mode not in ("orbit", "any"):
            raise ConfigError(f"FeatureSpec.lag_mode: expected 'orbit' or 'any', found {self.lag_mode!r}")
        if not is_whole(self.rolling) or self.rolling < 0 or (self.rolling > 1 and self.rolling % 2 == 0):
            raise ConfigError(f"FeatureSpec.rolling: expected 0, 1 or an odd window (an integer), found {found_value(self.rolling)}")
        object.__setattr__(self, "rolling", int(self.rolling))

    def _check_normalise(self) -> None:
        """Validate ``s1_normalise``."""
        if not isinstance(self.s1_normalise, str) or self.s1_normalise not in S1_NORMALISE:
            raise ConfigError(f"FeatureSpec.s1_normalise: expected one of {S1_NORMALISE}, found {self.s1_normalise!r}")

    def _normalise_groups(self) -> tuple[str, ...]:
        """Validate ``groups`` against the registry, put them in registry order; the groups as given."""
        known = tuple(FEATURE_GROUPS)
        if isinstance(self.groups, (str, bytes, dict)) or not isinstance(self.groups, Iterable):
            raise ConfigError(f"FeatureSpec.groups: expected a tuple of group names among {known}, found {found_value(self.groups)}")
        groups = tuple(self.groups)
        unknown = [g for g in groups if not isinstance(g, str) or g not in known]
        if unknown or not groups or len(set(groups)) != len(groups):
            raise ConfigError(f"FeatureSpec.groups: expected a non-empty subset of {known}, found {groups!r}")
        object.__setattr__(self, "groups", tuple(g for g in known if g in groups))
        return groups

    def _check_optical_options(self, given: tuple[str, ...]) -> None:
        """Validate ``cloudy_input`` (against the groups as ``given``), ``cloudy_window_days`` and ``context_exclude_days``."""
        if self.cloudy_input and "optical" not in given:
            raise ConfigError("FeatureSpec.cloudy_input: expected the 'optical' group among groups, found " + repr(given))
        for name in ("cloudy_window_days", "context_exclude_days"):
            # an infinite window would find a "nearest" cloudy value at no distance, or exclude every context value
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)) or not (np.isfinite(value) and value >= 0):
                raise ConfigError(f"FeatureSpec.{name}: expected a finite number of days >= 0, found {found_value(value)}")

    def _normalise_windows(self) -> None:
        """Validate ``windows`` and ``trends`` (distinct whole numbers of days >= 1) and store them as tuples of int."""
        for name in ("windows", "trends"):
            raw = getattr(self, name)
            expected = f"FeatureSpec.{name}: expected a tuple of distinct whole numbers of days >= 1"
            if not isinstance(raw, (tuple, list, np.ndarray)) or (isinstance(raw, np.ndarray) and raw.ndim != 1):
                raise ConfigError(f"{expected}, found {found_value(raw)}")
            bad = [w for w in raw if not is_whole(w) or w < 1]
            if bad:
                raise ConfigError(f"{expected}, found {', '.join(map(found_value, bad))} in {tuple(raw)!r}")
            vals = tuple(int(w) for w in raw)
            repeated = sorted(w for w, k in Counter(vals).items() if k > 1)
            if repeated:
                raise ConfigError(f"{expected}, found {repeated} more than once in {tuple(raw)!r} (each gives the same features)")
            object.__setattr__(self, name, vals)

    @property
    def names(self) -> list[str]:
        """Feature names, in the order of the ``feature`` dimension (group by group, in registry order)."""
        out: list[str] = []
        for name, group in FEATURE_GROUPS.items():
            if name in self.groups:
                out += group.names(self)
        return out

    @property
    def modality(self) -> dict[str, str]:
        """The modality (group) of each feature, in feature order."""
        out: dict[str, str] = {}
        for name, group in FEATURE_GROUPS.items():
            if name in self.groups:
                out.update(dict.fromkeys(group.names(self), name))
        return out

    @property
    def modalities(self) -> list[str]:
        """The modalities that have at least one feature, in feature order."""
        used = set(self.modality.values())
        return [g for g in FEATURE_GROUPS if g in used]

    @property
    def required(self) -> np.ndarray:
        """Boolean mask of the features a sample cannot do without (SAR and time).

        Optical context and terrain may be absent (NaN): they then enter the
        network as the modality baseline.
        """
        modality = self.modality
        return np.array([FEATURE_GROUPS[modality[n]].required for n in self.names], dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (``FeatureSpec.from_dict`` inverts it).

        Returns
        -------
        dict
            Every field; tuples as lists.
        """
        d = asdict(self)
        d["groups"] = list(self.groups)
        d["windows"] = list(self.windows)
        d["trends"] = list(self.trends)
        return d

    def to_json(self) -> str:
        """The spec as a JSON string (sorted keys).

        Returns
        -------
        str
            ``json.dumps(self.to_dict(), sort_keys=True)``.
        """
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureSpec:
        """Rebuild a spec; unknown keys are an error naming them.

        Parameters
        ----------
        d : dict
            As written by :meth:`to_dict` (missing keys take their defaults).

        Returns
        -------
        FeatureSpec
            The validated spec.

        Raises
        ------
        ConfigError
            On unknown keys or invalid values.
        """
        return dataclass_from_dict(cls, d, ("groups", "windows", "trends"))
