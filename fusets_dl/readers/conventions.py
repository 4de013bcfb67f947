"""Band-name conventions of the readers: one registry for the names inputs use.

Two tables hold every name the readers know:

* :data:`BANDS`, the canonical bands (``VV``, ``B04``, ``SCL``, ``elevation``
  ...) and the *role* each plays for the readers (``"red"``, ``"nir"``,
  ``"cloud_mask"``, ``"static"`` ...). :func:`open_s1` and :func:`open_s2`
  look bands up by role (:func:`band_for`, :func:`bands_for`), never by a
  spelled-out name.
* :data:`CONVENTIONS`, the naming conventions of input sources: prefixes to
  strip (``S1-SIGMA0-``, ``S2_L2A_`` ...) and aliases (``dem`` ->
  ``elevation``). :func:`canonical_band_name` derives from both tables.

Adding a source's convention is one entry in :data:`CONVENTIONS`, for example
a source that calls its bands ``rouge`` and ``pir``::

    CONVENTIONS["mine"] = Convention("mine", aliases={"rouge": "B04", "pir": "B08"})

Registered: openEO (``S1-SIGMA0-VV``, ``S2-L2A-B04``), Earth Search
(``red``, ``nir``, ``nir08``, ``green``, ``blue``, ``scl``), Planetary
Computer (``B04``, ``SCL``; S1 RTC ``vv``/``vh``: plain band names, any case),
SNAP exports (``Sigma0_VV_db``, ``Sigma0_VH``, ``incidenceAngleFromEllipsoid``,
``localIncidenceAngle``), Google Earth Engine S1 (``angle``).

Names of the time dimension are :data:`TIME_NAMES` (kept in
:mod:`fusets_dl.validate`, re-exported here).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..validate import TIME_NAMES

__all__ = [
    "BANDS",
    "CONVENTIONS",
    "TIME_NAMES",
    "Band",
    "Convention",
    "band_for",
    "bands_for",
    "canonical_band_name",
    "convention_of",
    "names_band_in_file_name",
    "split_dated_name",
]


@dataclass(frozen=True)
class Band:
    """A canonical band and what the readers use it for.

    Parameters
    ----------
    name : str
        Canonical spelling (``"VV"``, ``"B04"``, ``"elevation"``). Input names
        equal to it up to case map onto it.
    role : str
        What the readers use the band for: ``"vv"``, ``"vh"``, ``"hh"``,
        ``"hv"`` (backscatter), ``"red"``, ``"nir"``, ``"reflectance"``,
        ``"ndvi"``, ``"scl"``, ``"cloud_mask"``, ``"cloud_score"``,
        ``"cloud_probability"``, ``"clear_flag"``, ``"qa60"``, ``"maja_clm"``,
        ``"maja_mg2"``, ``"fmask"``, ``"force_qai"`` (:mod:`.cloud_bands`), ``"static"``,
        ``"incidence_angle"`` or ``"local_incidence_angle"`` (the S1
        incidence angle, per date or per pixel: :mod:`.angles`).
    in_file_names : bool
        Whether a single-band GeoTIFF may be named by this band in its file
        name (``S1_VV_20200101.tif``).
    """

    name: str
    role: str
    in_file_names: bool = False


@dataclass(frozen=True)
class Convention:
    """The naming convention of an input source.

    Parameters
    ----------
    name : str
        Short name of the convention (the key in :data:`CONVENTIONS`).
    prefixes : tuple of str
        Prefixes stripped from variable names (matched case-insensitively;
        the longest matching prefix of all conventions wins).
    aliases : mapping of str to str
        Other spellings (matched case-insensitively, after stripping a
        prefix) and the canonical band each stands for.
    encoding : str, optional
        Backscatter encoding that names with these prefixes signal when the
        values are integers without scale factor (``"compressed"``: the
        openEO uint16 encoding).
    s2_harmonized : bool, optional
        True when Sentinel-2 L2A values under these names come with the
        processing-baseline 04.00 offset already removed (openEO back-ends
        deliver harmonised values); None when the names say nothing.
    backscatter : str, optional
        The backscatter coefficient these names carry (``"sigma0"``,
        ``"gamma0"``, ``"beta0"``); None when the names say nothing.
    """

    name: str
    prefixes: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    encoding: str | None = None
    s2_harmonized: bool | None = None
    backscatter: str | None = None


def _bands(*entries: Band) -> dict[str, Band]:
    return {b.name: b for b in entries}


#: The canonical bands, in the order the readers look for them (the first
#: cloud mask band present is used).
BANDS: dict[str, Band] = _bands(
    Band("VV", "vv", in_file_names=True),
    Band("VH", "vh", in_file_names=True),
    Band("HH", "hh"),
    Band("HV", "hv"),
    Band("SCL", "scl", in_file_names=True),
    Band("NDVI", "ndvi", in_file_names=True),
    Band("CLM", "cloud_mask"),
    Band("CLOUD_MASK", "cloud_mask"),
    Band("CLOUDMASK", "cloud_mask"),
    Band("CLOUD", "cloud_mask"),
    Band("CLOUDS", "cloud_mask"),
    Band("MSK_CLASSI_OPAQUE", "cloud_mask"),  # Google Earth Engine's Sentinel-2 from 2024 (QA60's opaque-cloud bit)
    # other cloud bands, when there is no SCL (readers.cloud_bands: the roles, their encodings and the order they are used in)
    Band("cs_cdf", "cloud_score"),  # Google Earth Engine Cloud Score+ (1 = clear)
    Band("cs", "cloud_score"),
    Band("CLP", "cloud_probability"),  # Sentinel Hub / openEO s2cloudless, 0-255
    Band("CLD", "cloud_probability"),  # Sen2Cor cloud probability, %
    Band("MSK_CLDPRB", "cloud_probability"),  # the same in Google Earth Engine's S2_SR
    Band("probability", "cloud_probability"),  # Google Earth Engine S2_CLOUD_PROBABILITY (s2cloudless), %
    Band("cloud_probability", "cloud_probability"),  # %
    Band("MASK", "clear_flag"),  # a GEE export's mask: 1 = clear (as in point tables)
    Band("QA60", "qa60"),  # bits 10 (opaque cloud) and 11 (cirrus)
    # bit fields of products recognised by their file names (readers.products): named so by the product's files
    Band("CLM_R1", "maja_clm"),  # THEIA/MAJA cloud mask, 10 m: any bit set = cloud or cloud shadow
    Band("CLM_R2", "maja_clm"),  # the same at 20 m
    Band("MG2_R1", "maja_mg2"),  # THEIA/MAJA geophysical mask, 10 m: bits 1 (clouds) and 3 (cloud shadows)
    Band("MG2_R2", "maja_mg2"),
    Band("MG2", "maja_mg2"),  # only MAJA names a band so
    Band("Fmask", "fmask"),  # NASA HLS v2.0: bits 1 cloud, 2 adjacent to cloud/shadow, 3 cloud shadow
    Band("QAI", "force_qai"),  # FORCE Level-2 quality bits: 0 no data, 1-2 cloud state, 3 cloud shadow, 4 snow, 5 water, ...
    Band("B04", "red"),
    Band("B08", "nir"),
    Band("B8A", "reflectance"),
    Band("elevation", "static"),
    Band("slope", "static"),
    Band("aspect", "static"),
    # the S1 incidence angle (degrees), per date or per pixel; the first of these present is read (readers.angles)
    Band("incidence_angle", "incidence_angle"),
    Band("angle", "incidence_angle"),  # Google Earth Engine COPERNICUS/S1_GRD: per pixel, degrees
    Band("ellipsoid_incidence_angle", "incidence_angle"),  # openEO sar_backscatter(ellipsoid_incidence_angle=True)
    Band("local_incidence_angle", "local_incidence_angle"),  # openEO sar_backscatter(local_incidence_angle=True)
)

#: The naming conventions of input sources.
CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention("openeo-s1", prefixes=("S1-SIGMA0-", "S1_SIGMA0_"), encoding="compressed", backscatter="sigma0"),
        Convention("sigma0", prefixes=("SIGMA0_", "SIGMA0-"), backscatter="sigma0"),
        # SNAP terrain flattening (Gamma0_VV), openEO/CARD4L gamma0 names
        Convention("gamma0", prefixes=("GAMMA0_", "GAMMA0-", "S1-GAMMA0-", "S1_GAMMA0_"), backscatter="gamma0"),
        Convention("beta0", prefixes=("BETA0_", "BETA0-"), backscatter="beta0"),
        Convention("sentinel-1", prefixes=("S1-", "S1_")),
        Convention("openeo-s2", prefixes=("S2-L2A-", "S2_L2A_"), s2_harmonized=True),
        Convention("sentinel-2", prefixes=("S2-", "S2_")),
        Convention("dem", aliases=MappingProxyType({"dem": "elevation", "dtm": "elevation", "height": "elevation", "elev": "elevation"})),
        # Earth Search (element84) STAC asset keys, as odc-stac and stackstac name the bands
        Convention(
            "earth-search",
            aliases=MappingProxyType({"blue": "B02", "green": "B03", "red": "B04", "nir": "B08", "nir08": "B8A", "scl": "SCL"}),
        ),
        # SNAP exports: Sigma0_VV (linear) and Sigma0_VV_db (dB); "Sigma0_" is stripped by "sigma0" above
        # FORCE Level-2 BOA stacks: BROADNIR is Sentinel-2 B08 (and their NIR is B8A: normalise._canonical_names, where
        # BROADNIR is present)
        Convention("force", aliases=MappingProxyType({"BROADNIR": "B08"})),
        Convention("snap", aliases=MappingProxyType({"VV_db": "VV", "VH_db": "VH", "HH_db": "HH", "HV_db": "HV",
                                                     "incidenceAngleFromEllipsoid": "incidence_angle",
                                                     "localIncidenceAngle": "local_incidence_angle"})),
    )
}

#: Date tokens of band names in multi-band stacks (GEE ``toBands()`` exports,
#: SNAP coregistered stacks): ``20210105``, ``20210105T105431`` (date and time of
#: day: the passes of one day stay apart), ``2021-01-05``, ``05Jan2021``. A stacked name is a band name and a date token joined by
#: ``_``, in either order, with other tokens allowed (GEE image ids).
DATE_TOKENS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(\d{8}T\d{6})"), "%Y%m%dT%H%M%S"),  # GEE system:index (S1 GRD sensing start): the time of day kept
    (re.compile(r"(\d{8})"), "%Y%m%d"),
    (re.compile(r"(\d{4}-\d{2}-\d{2})"), "%Y-%m-%d"),
    (re.compile(r"(\d{2}[A-Za-z]{3}\d{4})"), "%d%b%Y"),
)
# Tokens of SNAP stacks that mark the master/slave image, not part of the band name.
_STACK_ROLE_TOKEN = re.compile(r"(?:mst|slv\d*)", re.IGNORECASE)

# Numbered Sentinel-2 bands are zero-padded whatever the convention: B4 -> B04.
_NUMBERED_BAND = re.compile(r"B0?(\d{1,2})")
# The resolution suffix of Copernicus Data Space (CDSE) asset keys: B04_10m, SCL_20m.
_RESOLUTION_SUFFIX = re.compile(r"(.+)_(?:10|20|60)m", re.IGNORECASE)
# A token of a GeoTIFF file name that names a reflectance band (B4, B04, B8A).
_NUMBERED_TOKEN = re.compile(r"B\d{1,2}A?")


def _prefixes() -> list[tuple[str, Convention]]:
    """Every registered prefix with its convention, longest first."""
    pairs = [(p.upper(), c) for c in CONVENTIONS.values() for p in c.prefixes]
    return sorted(pairs, key=lambda pc: -len(pc[0]))


def _strip_prefix(name: str) -> tuple[str, Convention | None]:
    upper = name.upper()
    for prefix, conv in _prefixes():
        if upper.startswith(prefix):
            return name[len(prefix):], conv
    return name, None


def convention_of(name: str) -> Convention | None:
    """The convention whose prefix ``name`` carries.

    Parameters
    ----------
    name : str
        A variable name as found in the input.

    Returns
    -------
    Convention or None
        The convention of the longest registered prefix of ``name``
        (case-insensitive), or None when it carries none.
    """
    return _strip_prefix(str(name))[1]


def canonical_band_name(name: str) -> str:
    """Canonical band name: prefixes stripped, aliases resolved, case fixed.

    ``S1-SIGMA0-VV`` -> ``VV``, ``vh`` -> ``VH``, ``S2-L2A-B04`` -> ``B04``,
    ``B4`` -> ``B04``, ``S2-L2A-SCL`` -> ``SCL``, ``DEM`` -> ``elevation``,
    ``red`` -> ``B04``, ``nir`` -> ``B08``, ``Sigma0_VV_db`` -> ``VV``,
    ``B04_10m`` -> ``B04``, ``SCL_20m`` -> ``SCL`` (CDSE asset keys);
    static layers (``elevation``, ``slope``, ``aspect``) stay lower-case.

    Parameters
    ----------
    name : str
        A variable name as found in the input.

    Returns
    -------
    str
        The canonical name from :data:`BANDS` (via :data:`CONVENTIONS`), a
        zero-padded numbered band, or ``name`` without its prefix when it
        matches no known band.
    """
    n, _ = _strip_prefix(str(name))
    u = n.upper()
    known = {b.upper(): b for b in BANDS}
    if u in known:
        return known[u]
    for conv in CONVENTIONS.values():
        for alias, canonical in conv.aliases.items():
            if alias.upper() == u:
                return canonical
    m = _NUMBERED_BAND.fullmatch(u)
    if m:
        return f"B{int(m.group(1)):02d}"
    res = _RESOLUTION_SUFFIX.fullmatch(n)
    if res is not None:  # CDSE asset keys: B04_10m -> B04, SCL_20m -> SCL
        stem = canonical_band_name(res.group(1))
        if stem in BANDS or _NUMBERED_BAND.fullmatch(stem.upper()):
            return stem
    return n


def bands_for(role: str) -> tuple[str, ...]:
    """Canonical names of the bands with ``role``, in registry order.

    Parameters
    ----------
    role : str
        A :attr:`Band.role` such as ``"cloud_mask"`` or ``"static"``.

    Returns
    -------
    tuple of str
        The names (empty when no band has the role).
    """
    return tuple(b.name for b in BANDS.values() if b.role == role)


def band_for(role: str) -> str:
    """Canonical name of the one band with ``role``.

    Parameters
    ----------
    role : str
        A :attr:`Band.role` held by exactly one band, such as ``"red"``.

    Returns
    -------
    str
        The band's canonical name.

    Raises
    ------
    KeyError
        When no band, or more than one, has the role.
    """
    names = bands_for(role)
    if len(names) != 1:
        raise KeyError(f"band role {role!r}: expected exactly one band in BANDS, found {list(names)}")
    return names[0]


def names_band_in_file_name(token: str) -> bool:
    """Whether a token of a GeoTIFF file name names a band (``VV``, ``SCL``, ``B04`` ...).

    Parameters
    ----------
    token : str
        One token of a file name split at ``_``, ``-`` and ``.``.

    Returns
    -------
    bool
        True for bands registered with ``in_file_names`` and numbered bands.
    """
    c = canonical_band_name(token)
    return (c in BANDS and BANDS[c].in_file_names) or _NUMBERED_TOKEN.fullmatch(token.upper()) is not None


def _date_token(token: str) -> Any:
    """The date a token of a band name spells, or None."""
    from datetime import datetime

    for pattern, fmt in DATE_TOKENS:
        m = pattern.fullmatch(token)
        if m:
            try:
                return datetime.strptime(m.group(1), fmt)
            except ValueError:
                return None
    return None


def _is_known_band(name: str) -> bool:
    c = canonical_band_name(name)
    return c in BANDS or _NUMBERED_TOKEN.fullmatch(c.upper()) is not None


def split_dated_name(name: str) -> tuple[str, Any] | None:
    """Split a stacked band name into its band and its date.

    ``20210105_VV`` -> ``("VV", 2021-01-05)``, ``VV_20210105``,
    ``B4_2021-01-05`` -> ``("B04", ...)``, ``Sigma0_VV_mst_05Jan2021``,
    ``20210105T105431_20210105T105426_T31UFS_B4`` (a GEE image id and band:
    the first date counts). Date tokens are :data:`DATE_TOKENS`.

    Parameters
    ----------
    name : str
        A variable or band name.

    Returns
    -------
    (str, datetime.datetime) or None
        The canonical band name and the date, or None when the name holds no
        date token or no known band (all tokens but the dates, the last
        token, or the first token).
    """
    tokens = str(name).split("_")
    dates = [d for d in (_date_token(t) for t in tokens) if d is not None]
    if not dates:
        return None
    rest = [t for t in tokens if _date_token(t) is None and not _STACK_ROLE_TOKEN.fullmatch(t)]
    for candidate in ("_".join(rest), rest[-1] if rest else "", rest[0] if rest else ""):
        if candidate and _is_known_band(candidate):
            return canonical_band_name(candidate), dates[0]
    return None
