"""CF metadata of the variables fusets_dl produces, kept as data in one place."""

from __future__ import annotations

from typing import Any

VARIABLE_ATTRS: dict[str, dict[str, Any]] = {
    "VV": {
        "long_name": "Sentinel-1 backscatter coefficient sigma0, VV polarisation",
        "standard_name": "surface_backwards_scattering_coefficient_of_radar_wave",
        "units": "dB",
        "polarisation": "VV",
    },
    "VH": {
        "long_name": "Sentinel-1 backscatter coefficient sigma0, VH polarisation",
        "standard_name": "surface_backwards_scattering_coefficient_of_radar_wave",
        "units": "dB",
        "polarisation": "VH",
    },
    "NDVI": {
        "long_name": "normalized difference vegetation index",
        "standard_name": "normalized_difference_vegetation_index",
        "units": "1",
        "valid_min": -1.0,
        "valid_max": 1.0,
    },
    "clear": {
        "long_name": "clear-sky mask (True where the surface is seen)",
        "units": "1",
    },
    "SCL": {
        "long_name": "Sentinel-2 L2A scene classification",
        "flag_values": list(range(12)),
        "flag_meanings": (
            "no_data saturated_or_defective dark_area_pixels cloud_shadows vegetation "
            "not_vegetated water unclassified cloud_medium_probability "
            "cloud_high_probability thin_cirrus snow"
        ),
    },
    "NDVI_offset": {
        "long_name": "time from the S1 acquisition to the paired S2 observation",
        "units": "days",
    },
    "NDVI_cloudy": {
        "long_name": "NDVI of a cloud-contaminated S2 acquisition paired to the S1 date (not clear)",
        "units": "1",
        "valid_min": -1.0,
        "valid_max": 1.0,
    },
    "elevation": {"long_name": "terrain elevation", "standard_name": "height_above_mean_sea_level", "units": "m"},
    "slope": {"long_name": "terrain slope", "units": "degree"},
    "aspect": {"long_name": "terrain aspect, clockwise from north", "units": "degree"},
    "n_s1": {"long_name": "number of S1 acquisitions in the period", "units": "1"},
    "n_s2_clear": {"long_name": "number of clear S2 observations in the period", "units": "1"},
}


def cf_attrs(name: str, **extra: Any) -> dict[str, Any]:
    """Return the CF attributes of variable ``name`` (a copy), updated with ``extra``."""
    attrs = dict(VARIABLE_ATTRS.get(name, {}))
    attrs.update(extra)
    return attrs
