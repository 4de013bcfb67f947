"""Band names: phenology bands, the sensor split, the compressed-encoding signal."""

from __future__ import annotations

from fusets_dl.openeo.names import (
    backscatter_bands,
    phenology_bands,
    sensor_bands,
    signals_compressed,
)
from fusets_dl.phenometrics.seasons import PHENO_VARS, PIXEL_VARS


def test_phenology_bands_one_per_metric_and_season():
    names = phenology_bands(2)
    per_season = len(PHENO_VARS) - len(PIXEL_VARS) + 2  # and observed_fraction, longest_gap
    assert len(names) == 2 * per_season + len(PIXEL_VARS) + 1 == 42
    assert names[:3] == ["sos_1", "pos_1", "eos_1"]
    assert names[per_season - 2 : per_season] == ["observed_fraction_1", "longest_gap_1"]
    assert names[per_season] == "sos_2" and names[-1] == "n_seasons" and names[-2] == "noise"
    assert len(set(names)) == len(names)


def test_sensor_bands_split_by_canonical_name():
    s1, rest = sensor_bands(["VV", "S1-SIGMA0-VH", "B04", "S2-L2A-B08", "SCL", "elevation"])
    assert s1 == ["VV", "S1-SIGMA0-VH"]
    assert rest == ["B04", "S2-L2A-B08", "SCL", "elevation"]


def test_sar_backscatter_extras_are_sentinel1_bands():
    """``mask`` (sar_backscatter's validity mask) was read as an S2 clear flag (GEE's ``MASK``) when SCL was absent."""
    labels = ["B04", "B08", "VV", "VH", "mask", "local_incidence_angle", "ellipsoid_incidence_angle", "contributing_area"]
    s1, rest = sensor_bands(labels)
    assert s1 == labels[2:] and rest == ["B04", "B08"]
    assert backscatter_bands(labels) == ["VV", "VH"]


def test_only_openeo_extraction_names_signal_the_compressed_encoding():
    assert signals_compressed(["S1-SIGMA0-VV", "S1-SIGMA0-VH"])
    assert not signals_compressed(["VV", "VH"])
    assert not signals_compressed(["S1-SIGMA0-VV", "VH"])
    assert not signals_compressed([])
