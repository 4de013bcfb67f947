"""Band names of the openEO cubes the UDFs read and write (no heavy import)."""

from __future__ import annotations

from collections.abc import Sequence

from ..phenometrics.observed import OBSERVATION_VARS
from ..phenometrics.seasons import PHENO_VARS, PIXEL_VARS
from ..readers.conventions import canonical_band_name, convention_of

__all__ = [
    "PHENOLOGY_COUNT_BAND",
    "PREDICT_BANDS",
    "RECONSTRUCT_BANDS",
    "S1_BANDS",
    "S2_BANDS",
    "SAR_EXTRA_BANDS",
    "SAR_MASK_BAND",
    "backscatter_bands",
    "phenology_bands",
    "season_metrics",
    "sensor_bands",
    "signals_compressed",
]

#: Backscatter bands of ``SENTINEL1_GRD`` after ``sar_backscatter`` (linear power).
S1_BANDS: tuple[str, str] = ("VV", "VH")
#: The bands ``sar_backscatter`` adds after ``VV``/``VH`` on request (the openEO process's ``mask``,
#: ``contributing_area``, ``local_incidence_angle`` and ``ellipsoid_incidence_angle`` arguments), by the
#: names the process gives them: Sentinel-1 bands, never read as Sentinel-2 ones (``mask`` was read as a
#: Google Earth Engine clear flag, case-insensitively ``MASK``, when the cube had no ``SCL``).
SAR_EXTRA_BANDS: tuple[str, ...] = ("mask", "contributing_area", "local_incidence_angle", "ellipsoid_incidence_angle")
#: ``sar_backscatter(mask=True)``'s validity mask: 1 valid, 0 invalid (layover, shadow), null no data.
SAR_MASK_BAND = "mask"
#: Red and NIR of ``SENTINEL2_L2A`` (harmonised DN, reflectance x 1e4).
S2_BANDS: tuple[str, str] = ("B04", "B08")
#: The band of the ``predict`` UDF's output.
PREDICT_BANDS: tuple[str, ...] = ("NDVI",)
#: The bands of the ``reconstruct`` UDF's output (``source``: 0 observed, 1 predicted, 2 interpolated, 3 missing).
RECONSTRUCT_BANDS: tuple[str, ...] = ("NDVI", "NDVI_std", "source")
#: The last band of the ``phenology`` UDF's output: how many seasons were found.
PHENOLOGY_COUNT_BAND = "n_seasons"


def phenology_bands(max_seasons: int) -> list[str]:
    """Output band names of the ``phenology`` UDF: one per metric and season, then ``n_seasons``.

    Parameters
    ----------
    max_seasons : int
        Number of seasons (``phenology(max_seasons=...)``).

    Returns
    -------
    list of str
        ``sos_1, pos_1, ..., sos_2, ..., noise, n_seasons`` (seasons
        numbered from 1, metrics in the order of
        :data:`fusets_dl.phenometrics.seasons.PHENO_VARS`, then
        ``observed_fraction`` and ``longest_gap``: how much of the season
        clear S2 saw, from the reconstruction's ``source``).
    """
    per_season = season_metrics()
    return [f"{v}_{s + 1}" for s in range(int(max_seasons)) for v in per_season] + list(PIXEL_VARS) + [PHENOLOGY_COUNT_BAND]


def season_metrics() -> list[str]:
    """The per-season metrics of the ``phenology`` UDF, in band order (each season's bands).

    Returns
    -------
    list of str
        :data:`~fusets_dl.phenometrics.seasons.PHENO_VARS` less the per-pixel
        ones, then :data:`~fusets_dl.phenometrics.observed.OBSERVATION_VARS`.
    """
    return [v for v in PHENO_VARS if v not in PIXEL_VARS] + list(OBSERVATION_VARS)


def sensor_bands(labels: Sequence[str]) -> tuple[list[str], list[str]]:
    """Split band labels into Sentinel-1 (VV, VH, their prefixed names, ``sar_backscatter``'s extras) and the rest.

    Parameters
    ----------
    labels : sequence of str
        The ``bands`` labels of an openEO cube.

    Returns
    -------
    (list of str, list of str)
        Labels whose canonical name is ``VV`` or ``VH`` or that are one of
        :data:`SAR_EXTRA_BANDS` (exactly as ``sar_backscatter`` names them),
        and every other label (Sentinel-2 bands, cloud masks, static layers).
    """
    s1 = [str(b) for b in labels if canonical_band_name(str(b)) in S1_BANDS or str(b) in SAR_EXTRA_BANDS]
    return s1, [str(b) for b in labels if str(b) not in s1]


def backscatter_bands(labels: Sequence[str]) -> list[str]:
    """The labels of ``labels`` whose canonical name is ``VV`` or ``VH`` (not ``sar_backscatter``'s extras).

    Parameters
    ----------
    labels : sequence of str
        Band labels.

    Returns
    -------
    list of str
        Those labels, in their order.
    """
    return [str(b) for b in labels if canonical_band_name(str(b)) in S1_BANDS]


def signals_compressed(labels: Sequence[str]) -> bool:
    """Whether backscatter labels are of a convention stored as openEO uint16 "compressed" dB.

    Parameters
    ----------
    labels : sequence of str
        Sentinel-1 band labels (``VV`` or ``S1-SIGMA0-VV``).

    Returns
    -------
    bool
        True for the ``S1-SIGMA0-*`` names of openEO extractions (GFMap,
        WorldCereal), False for the plain ``VV``/``VH`` of ``sar_backscatter``.
    """
    convs = [convention_of(str(b)) for b in labels]
    return bool(convs) and all(c is not None and c.encoding == "compressed" for c in convs)
