"""Provider products recognised by their file names: ASF HyP3 RTC, OPERA RTC-S1, ESA SAFE, THEIA, HLS, FORCE.

Some Sentinel-1 products say in their file names what the GeoTIFFs
themselves do not: the backscatter coefficient (gamma0 or sigma0), the scale
(power, dB, amplitude), and which files of a download are side products
(DEM, layover/shadow maps) rather than backscatter. :func:`product_of` reads
them; :mod:`~fusets_dl.readers.sources` records them on the bands it opens
(attributes :data:`BACKSCATTER_ATTR`, :data:`SCALE_ATTR`,
:data:`PRODUCT_ATTR`) and leaves side files out of folders and lists, and
:func:`~fusets_dl.readers.radar.open_s1` uses them as it uses an explicit
``backscatter=`` / ``units=``.

Naming conventions read:

* ASF HyP3 RTC (GAMMA), ``S1x_yy_aaaaaaaaTbbbbbb_ppo_RTCzz_u_defklm_ssss``
  (HyP3 RTC product guide, "Naming Convention"): ``d`` gamma0 ``g`` /
  sigma0 ``s``; ``e`` power ``p`` / decibel ``d`` / amplitude ``a``. Files
  ``<base>_VV.tif`` ... are backscatter; ``_ls_map`` (the layover/shadow map,
  band :data:`HYP3_LS_BAND`) is read to mask its scene's backscatter
  (:mod:`.s1_masks`), ``_inc_map_ell`` (the ellipsoid incidence angle,
  radians) as band ``ellipsoid_incidence_angle``; ``_inc_map`` (the *local*
  incidence angle), ``_dem``, ``_area``, ``_rgb`` are side files.
* OPERA RTC-S1 (``OPERA_L2_RTC-S1_<burst>_<acq>Z_<prod>Z_<sensor>_30_v1.0``):
  always gamma0, linear power; ``_mask`` (the layover/shadow mask, band
  :data:`OPERA_MASK_BAND`) is read to mask its burst's backscatter;
  ``_BROWSE`` is a side file. The burst's static layers
  (``OPERA_L2_RTC-S1-STATIC_<burst>_20140403_...``) are side files.
* Any other file name holding ``Sigma0``, ``Gamma0`` or ``Beta0`` as a token
  (SNAP single-band exports ``<product>_Sigma0_VV_db.tif``; not
  ``LeeSigma_0.9`` nor ``gamma_0.5``): that coefficient.

Only the side files named here are left out. A file named after a
product's base name with any other suffix (a user's ``<base>_VV_clip.tif``,
``<base>_VV_dB.tif``, ``<theia base>_NDVI.tif``, ``<hls base>.NDVI.tif``)
is read the ordinary way, the band from its descriptions or a token of its
name (:attr:`Product.unknown`), with a warning: its date and coefficient
come from the base name, its scale from the values (or a ``dB`` /
``linear`` / ``amplitude`` token of the suffix), as the user's processing
may have changed it.

Sentinel-2 surface reflectance (read by :func:`~fusets_dl.readers.optical.open_s2`):
the band a single-band file holds (:attr:`Product.band`), the acquisition
time (:attr:`Product.acquired`), whether the values can carry the
processing-baseline 04.00 offset (:attr:`Product.harmonized`: never, for
THEIA, HLS and FORCE) and the processing baseline of an ESA product
(:attr:`Product.baseline`, from the ``.SAFE`` folder above the file):

* ESA / CDSE L2A SAFE (ESA "Sentinel-2 MSI data formats"): the product
  ``S2x_MSIL2A_<sensing>_Nxxyy_Rooo_Txxxxx_<disc>.SAFE`` (``Nxxyy``: the
  processing baseline, ``N0500`` for the Collection-1 reprocessing, whose
  values carry ``BOA_ADD_OFFSET`` -1000 on dates before 2022 too) holding
  granule files ``GRANULE/*/IMG_DATA/R10m/T31UFS_<sensing>_B04_10m.jp2``;
  ``AOT``, ``WVP`` and ``TCI`` are side files. The product's
  ``MTD_MSIL2A.xml``, where it lies with the files, is preferred to the name
  (:mod:`.s2_metadata`: the baseline, ``BOA_ADD_OFFSET`` per band).
* THEIA / MAJA L2A (CESBIO "MAJA Sentinel-2 output format"):
  ``SENTINEL2A_20210605-105857-485_L2A_T30TYP_C_V2-2_FRE_B4.tif`` (date and
  time of day; ``FRE`` flat and ``SRE`` surface reflectance), masks
  ``MASKS/..._CLM_R1.tif`` (cloud bit field, 0 = clear) and ``_MG2_R1``
  (geophysical bit field); ``ATB``, ``EDG``, ``SAT``, ``IAB``, ``DFP``,
  ``QKL`` are side files. Never offset.
* NASA HLS v2.0 (LP DAAC HLS user guide):
  ``HLS.S30.T31UFS.2021156T105031.v2.0.B04.tif`` (year and day of year),
  ``.Fmask.tif`` (bits 1 cloud, 2 adjacent to cloud or shadow, 3 cloud
  shadow); the angle files ``SAA``, ``SZA``, ``VAA``, ``VZA`` are side files.
  Never offset.
* FORCE Level-2 ARD (FORCE "Level 2 output format"):
  ``20210605_LEVEL2_SEN2A_BOA.tif`` (a stack of ``BLUE ... BROADNIR NIR
  SWIR1 SWIR2``, ``BROADNIR`` being Sentinel-2 B08 and ``NIR`` B8A) and
  ``_QAI.tif`` (quality bits, read as the cloud mask: band ``QAI``);
  ``CLD``, ``HOT``, ``VZN``, ``AOD``, ``WVP``, ``DST``, ``OVV`` are side files.
  Never offset.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath
from typing import Any

__all__ = ["BACKSCATTER_ATTR", "HARMONIZED_ATTR", "HYP3_LS_BAND", "OPERA_MASK_BAND", "PRODUCT_ATTR", "SCALE_ATTR", "Product",
           "coefficient_in", "product_folder", "product_of", "safe_baseline"]

#: Band attribute naming the backscatter coefficient (read by ``open_s1`` whatever wrote it).
BACKSCATTER_ATTR = "backscatter"
#: Band attribute holding the scale a product's file name declares (``"linear"``, ``"dB"``, ``"amplitude"``).
SCALE_ATTR = "fdl_product_scale"
#: Band attribute naming the product and the file-name token that declared coefficient and scale.
PRODUCT_ATTR = "fdl_product"
#: Band attribute naming an optical product whose reflectance never carries the processing-baseline offset (read by ``open_s2``).
HARMONIZED_ATTR = "fdl_s2_harmonized"

#: A coefficient as a token: ``Sigma0``, ``sigma_0``, ``gamma-nought``, ``σ0``; not a filter parameter (``LeeSigma_0.9``,
#: ``gamma_0.5``, ``sigma_05``): no letter before it, and its 0 followed by no digit nor decimal.
_COEFFICIENT_RE = re.compile(r"(?<![A-Za-z])(?:(sigma|gamma|beta)[ _-]?(?:0(?!\d|\.\d)|nought|naught)|([σγβ])[ _]?0(?!\d|\.\d))",
                             re.IGNORECASE)
_GREEK = {"σ": "sigma0", "γ": "gamma0", "β": "beta0"}

_HYP3_RE = re.compile(
    r"^(?P<base>S1[A-D]_[A-Z0-9]{2}_\d{8}T\d{6}_[DS][VH][PRO]_RTC\d+_G_(?P<token>(?P<rad>[gs])(?P<scale>[pda])[uw][nf][ec][dm])"
    r"_[0-9A-Za-z]{4})(?:_(?P<rest>.+))?$"
)
_OPERA_RTC_RE = re.compile(
    r"^(?P<base>OPERA_L2_RTC-S1_[A-Za-z0-9]{4}-[A-Za-z0-9]{6}-[A-Za-z0-9]{3}_\d{8}T\d{6}Z_\d{8}T\d{6}Z_S1[A-D]_\d+_v\d+\.\d+)"
    r"(?:_(?P<rest>.+))?$"
)
_SAFE_RE = re.compile(r"^S2[A-D]_MSIL2A_\d{8}T\d{6}_(?P<baseline>N\d{4})_R\d{3}_T\w{5}_\d{8}T\d{6}(?:\.SAFE)?$")
_SAFE_BAND_RE = re.compile(r"^(?:L2A_)?T\d{2}[A-Z]{3}_(?P<time>\d{8}T\d{6})_(?P<band>B\d{2}|B8A|SCL|AOT|WVP|TCI)_(?P<res>10|20|60)m$")
_THEIA_RE = re.compile(r"^(?P<base>SENTINEL2[A-D]_(?P<time>\d{8}-\d{6})-\d{3}_L2A_T\w{5}_[A-Z]_V\d+-\d+)(?:_(?P<rest>.+))?$")
_HLS_RE = re.compile(r"^(?P<base>HLS\.(?P<sensor>[SL]30)\.T\w{5}\.(?P<time>\d{7}T\d{6})\.v\d+\.\d+)(?:\.(?P<rest>.+))?$")
_FORCE_RE = re.compile(r"^(?P<time>\d{8})_LEVEL2_(?P<sensor>[A-Z0-9]{5})_(?P<rest>[A-Z0-9]{3})$")
SAFE_SIDE = {"AOT": "aerosol optical thickness", "WVP": "water vapour", "TCI": "true-colour image"}
THEIA_SIDE = {"ATB": "water vapour and aerosol optical thickness", "EDG": "edge mask", "SAT": "saturation mask",
              "IAB": "water vapour and AOT interpolation mask", "DFP": "defective pixels mask", "QKL": "quicklook"}
HLS_SIDE = {"SAA": "sun azimuth angles", "SZA": "sun zenith angles", "VAA": "view azimuth angles", "VZA": "view zenith angles"}
FORCE_SIDE = {"CLD": "cloud distance", "HOT": "haze optimised transformation",
              "VZN": "view zenith", "AOD": "aerosol optical depth", "WVP": "water vapour", "DST": "cloud/shadow/snow distance",
              "OVV": "overview image", "TOA": "top-of-atmosphere reflectance (BOA read)"}
#: FORCE files read: the reflectance (BOA) and the quality bits (QAI, read as the cloud mask by :mod:`.cloud_bands`).
_FORCE_READ = ("BOA", "QAI")
#: THEIA masks read as cloud bands, under the names :mod:`.cloud_bands` reads as MAJA's bit fields.
_THEIA_MASKS = ("CLM", "MG2")
_POLARISATIONS = ("VV", "VH", "HH", "HV")
_HYP3_RADIOMETRY = {"g": "gamma0", "s": "sigma0"}
_HYP3_SCALE = {"p": "linear", "d": "dB", "a": "amplitude"}
#: Side files of the products: what they hold (for the log line that names the files left out).
HYP3_SIDE = {"inc_map": "local incidence angle map (radians, to the terrain's normal: not used as the incidence angle, which is "
                        "the ellipsoid one, _inc_map_ell)", "dem": "DEM", "area": "scattering area map", "rgb": "RGB decomposition"}
OPERA_SIDE = {"BROWSE": "browse image"}
#: Band of an OPERA RTC-S1 ``_mask.tif`` (0 valid, 1 shadow, 2 layover, 3 both, 255 no data), applied by :mod:`.s1_masks`.
OPERA_MASK_BAND = "opera_layover_shadow_mask"
#: Band of an ASF HyP3 RTC ``_ls_map.tif`` (a sum of bits: 4 layover, 16 shadow), applied by :mod:`.s1_masks`.
HYP3_LS_BAND = "hyp3_ls_map"
#: Files of the S1 products read as bands (not backscatter): the part of the name after the base name -> (band, units).
HYP3_BANDS = {"ls_map": (HYP3_LS_BAND, None), "inc_map_ell": ("ellipsoid_incidence_angle", "rad")}
OPERA_BANDS = {"mask": (OPERA_MASK_BAND, None)}
#: OPERA RTC-S1 static layers of a burst (one per burst ID, dated 2014-04-03): left out (the per-acquisition mask is read).
_OPERA_STATIC_RE = re.compile(r"^OPERA_L2_RTC-S1-STATIC_[A-Za-z0-9]{4}-[A-Za-z0-9]{6}-[A-Za-z0-9]{3}_\d{8}_S1[A-D]_\d+_v\d+\.\d+"
                              r"(?:_(?P<rest>.+))?$")


@dataclass(frozen=True)
class Product:
    """What a file name says about its file.

    Parameters
    ----------
    provider : str
        ``"ASF HyP3 RTC"``, ``"OPERA RTC-S1"`` or ``"file name"`` (a
        coefficient spelled in an otherwise unknown name).
    token : str
        The part of the name that says it (``"RTC30_G_gpuned"``), for messages.
    backscatter : str or None
        ``"sigma0"``, ``"gamma0"`` or ``"beta0"``.
    scale : str or None
        ``"linear"`` (power), ``"dB"`` or ``"amplitude"``.
    side : str or None
        For a side file (not backscatter, not a reflectance band or mask),
        what it holds; None for a file the readers use.
    band : str or None
        The band a single-band optical file holds, in the product's own
        naming (``"B04"``, ``"SCL"``, ``"CLM_R1"``, ``"Fmask"``), or the
        band an S1 product's mask or angle file is read as
        (:data:`OPERA_MASK_BAND`, :data:`HYP3_LS_BAND`,
        ``"ellipsoid_incidence_angle"``); None where the file says it
        (descriptions) or for S1 backscatter.
    acquired : datetime.datetime or None
        The acquisition time the name spells (THEIA's ``20210605-105857``,
        HLS's day of year ``2021156T105031``), for names the generic date
        reading misses or reads without the time of day.
    harmonized : bool
        True for optical products whose reflectance never carries the
        processing-baseline 04.00 offset (THEIA/MAJA, HLS, FORCE).
    baseline : str or None
        The processing baseline of an ESA product (``"N0500"``), from the
        ``.SAFE`` folder the file lies in.
    sensor : str or None
        ``"Sentinel-2"`` or ``"Landsat"`` for optical products.
    unknown : str or None
        The part of the name after the product's base name when it is
        neither a band, a mask nor a known side file of the product (a
        user's ``_VV_clip``, ``_VV_dB``, ``_NDVI``; ``""`` for the base name
        alone): such a file is read the ordinary way (the band from its
        descriptions or a token of its name), keeping what the base name
        says that still holds (the date, the coefficient, never offset) and
        not the scale (the values decide, or a scale token of the suffix);
        None for the product's own files.
    units : str or None
        The units of the values of a file read as :attr:`band` where its
        product's documentation gives them (``"rad"`` for the HyP3
        ellipsoid incidence angle map).
    base : str or None
        The product's base name, which all its files share (a HyP3 scene,
        an OPERA burst acquisition): pairs a mask file with its product's
        backscatter files.
    """

    provider: str
    token: str
    backscatter: str | None = None
    scale: str | None = None
    side: str | None = None
    band: str | None = None
    acquired: datetime | None = None
    harmonized: bool = False
    baseline: str | None = None
    sensor: str | None = None
    unknown: str | None = None
    units: str | None = None
    base: str | None = None

    def describe(self) -> str:
        """The product in words, for attributes and messages.

        Returns
        -------
        str
            E.g. ``ASF HyP3 RTC 'RTC30_G_gpuned': gamma0, linear power``.
        """
        said = ", ".join(s for s in (self.backscatter, {"linear": "linear power"}.get(self.scale or "", self.scale)) if s)
        suffix = f" with the suffix {self.unknown!r}" if self.unknown else ""
        return f"{self.provider} {self.token!r}{suffix}" + (f": {said}" if said else "")


def coefficient_in(text: Any) -> str | None:
    """The backscatter coefficient a text names (``Sigma0_VV``, ``gamma nought``, ``σ0``), or None.

    Parameters
    ----------
    text : object
        A name or attribute value.

    Returns
    -------
    str or None
        ``"sigma0"``, ``"gamma0"`` or ``"beta0"``.
    """
    m = _COEFFICIENT_RE.search(str(text))
    if m is None:
        return None
    return f"{m.group(1).lower()}0" if m.group(1) else _GREEK[m.group(2).lower()]


def _side(rest: str | None, known: dict[str, str]) -> tuple[str | None, str | None]:
    """(side, unknown) from the part of a file name after the product's base name: a known side file, or a suffix of the user's.

    ``(None, None)`` for a polarisation (backscatter); ``(what it holds,
    None)`` for one of the ``known`` side files only; ``(None, rest)`` for
    anything else (``VV_clip``, ``VV_dB``, the base name alone ``""``),
    read the ordinary way.
    """
    if rest is not None and rest.upper() in _POLARISATIONS:
        return None, None
    if rest is not None and (rest in known or rest.lower() in known):
        return known.get(rest, known.get(rest.lower())), None
    return None, rest or ""


#: Scale tokens of a user's suffix (``<hyp3 base>_VV_dB.tif``), read where the product's own scale may no longer hold.
_SUFFIX_SCALES = {"db": "dB", "decibel": "dB", "lin": "linear", "linear": "linear", "pow": "linear", "power": "linear",
                  "amp": "amplitude", "amplitude": "amplitude"}


def _suffix_scale(rest: str) -> str | None:
    found = {_SUFFIX_SCALES[t.lower()] for t in re.split(r"[_\-.]", rest) if t.lower() in _SUFFIX_SCALES}
    return found.pop() if len(found) == 1 else None


def safe_baseline(path: str | os.PathLike) -> str | None:
    """The processing baseline (``"N0500"``) of the ESA ``.SAFE`` product ``path`` is, or lies in; None outside one.

    Parameters
    ----------
    path : str or path-like
        A ``.SAFE`` folder, or a file inside one (a granule's band file).

    Returns
    -------
    str or None
        The ``Nxxyy`` token of the product name.
    """
    for part in reversed(PurePath(path).parts):
        m = _SAFE_RE.match(part)
        if m:
            return m.group("baseline")
    return None


def _optical_product_of(name: str, path: str | os.PathLike) -> Product | None:
    """The Sentinel-2 products of the module docstring (ESA SAFE granule files, THEIA, HLS, FORCE), or None."""
    m = _SAFE_BAND_RE.match(name)
    if m:
        band = m.group("band")
        return Product("ESA SAFE L2A", f"{band}_{m.group('res')}m", side=SAFE_SIDE.get(band),
                       band=None if band in SAFE_SIDE else band, acquired=datetime.strptime(m.group("time"), "%Y%m%dT%H%M%S"),
                       baseline=safe_baseline(path), sensor="Sentinel-2")
    m = _THEIA_RE.match(name)
    if m:
        rest, when = m.group("rest") or "", datetime.strptime(m.group("time"), "%Y%m%d-%H%M%S")
        kind, _, which = rest.partition("_")
        band, side, unknown = None, None, None
        if kind in ("FRE", "SRE") and re.fullmatch(r"B\d{1,2}A?", which):
            band = "B8A" if which == "B8A" else f"B{int(which[1:]):02d}"
        elif kind in _THEIA_MASKS and re.fullmatch(r"R[12]", which):
            band = f"{kind}_{which}"  # CLM_R1: MAJA's bit field, read as such (cloud_bands)
        elif kind in THEIA_SIDE and re.fullmatch(r"R[12]|ALL|", which):
            side = THEIA_SIDE[kind]
        else:  # a user's file under the product's name (_NDVI): read the ordinary way
            unknown = rest
        return Product("THEIA/MAJA L2A", rest or m.group("base"), side=side, band=band, acquired=when, harmonized=True,
                       sensor="Sentinel-2", unknown=unknown)
    m = _HLS_RE.match(name)
    if m:
        rest = m.group("rest") or ""
        band = rest if rest == "Fmask" or re.fullmatch(r"B\d{2}|B8A", rest) else None
        side = None if band else HLS_SIDE.get(rest)
        return Product(f"HLS {m.group('sensor')}", f"{m.group('sensor')}.{rest}", side=side, band=band,
                       acquired=datetime.strptime(m.group("time"), "%Y%jT%H%M%S"), harmonized=True,
                       sensor="Sentinel-2" if m.group("sensor") == "S30" else "Landsat",
                       unknown=None if band or side else rest)
    m = _FORCE_RE.match(name)
    if m:
        rest, sensor = m.group("rest"), m.group("sensor")
        side = None if rest in _FORCE_READ else FORCE_SIDE.get(rest)
        return Product("FORCE L2", f"{sensor}_{rest}", side=side, band="QAI" if rest == "QAI" else None,
                       acquired=datetime.strptime(m.group("time"), "%Y%m%d"), harmonized=True,
                       sensor="Sentinel-2" if sensor.startswith("SEN2") else "Landsat" if sensor.startswith("LND") else None,
                       unknown=None if rest in _FORCE_READ or side else rest)
    return None


def _s1_product(provider: str, token: str, backscatter: str, scale: str, rest: str | None, known: dict[str, str],
                base: str | None = None, bands: dict[str, tuple[str, str | None]] | None = None) -> Product:
    """A HyP3/OPERA file: backscatter, a mask or angle read as a band, a known side file, or a user's suffix (its own
    coefficient or scale token, if any, wins)."""
    if rest is not None and bands and rest in bands:
        band, units = bands[rest]
        return Product(provider, token, band=band, units=units, base=base)
    side, unknown = _side(rest, known)
    if unknown is None:
        return Product(provider, token, backscatter, scale, side, base=base)
    return Product(provider, token, coefficient_in(unknown) or backscatter, _suffix_scale(unknown), unknown=unknown, base=base)


def product_of(name: str | os.PathLike) -> Product | None:
    """What the file name ``name`` says: the product, its coefficient and scale, whether it is a side file.

    Parameters
    ----------
    name : str or path-like
        A file name (with or without its suffix), or a path: the ``.SAFE``
        folder a Sentinel-2 granule file lies in gives its processing
        baseline.

    Returns
    -------
    Product or None
        None when the name says nothing known.
    """
    stem = re.sub(r"\.(tiff?|TIFF?|jp2|JP2)$", "", PurePath(name).name)
    optical = _optical_product_of(stem, name)
    if optical is not None:
        return optical
    m = _HYP3_RE.match(stem)
    if m:
        token = m.group("token")
        return _s1_product("ASF HyP3 RTC", stem[stem.index("RTC"):stem.index(token) + len(token)], _HYP3_RADIOMETRY[m.group("rad")],
                           _HYP3_SCALE[m.group("scale")], m.group("rest"), HYP3_SIDE, m.group("base"), HYP3_BANDS)
    m = _OPERA_RTC_RE.match(stem)
    if m:
        return _s1_product("OPERA RTC-S1", "OPERA_L2_RTC-S1", "gamma0", "linear", m.group("rest"), OPERA_SIDE, m.group("base"),
                           OPERA_BANDS)
    m = _OPERA_STATIC_RE.match(stem)
    if m:  # one per burst ID, dated 2014-04-03 (the mission's launch): never an acquisition
        return Product("OPERA RTC-S1-STATIC", m.group("rest") or "", side=f"static layer {m.group('rest') or ''!r} of the burst (one "
                       "per burst ID, not per acquisition: the acquisition's own _mask.tif is read instead; its incidence angles "
                       "are not read)")
    found = coefficient_in(stem)
    if found is not None:
        return Product("file name", _COEFFICIENT_RE.search(stem).group(0), found)  # type: ignore[union-attr]
    return None


_FORCE_TILE_RE = re.compile(r"^X\d{4}_Y\d{4}$")


def product_folder(name: str | os.PathLike) -> str | None:
    """The product a folder's name says it is (one download unzipped), or None for any other folder.

    Parameters
    ----------
    name : str or path-like
        A folder (its last part is read).

    Returns
    -------
    str or None
        ``"ASF HyP3 RTC scene"``, ``"OPERA RTC-S1 product"``, ``"ESA SAFE
        product"``, ``"THEIA/MAJA L2A date"``, ``"HLS granule"`` or
        ``"FORCE datacube tile"``: folders whose name is exactly a
        product's base name (``S1A_IW_..._RTC30_G_gpuned_1A2B``,
        ``SENTINEL2A_20210605-105857-485_L2A_T31UFS_C_V2-2``,
        ``HLS.S30.T31UFS.2021156T105031.v2.0``, ``X0069_Y0042``).
    """
    last = PurePath(name).name
    for regex, what in ((_HYP3_RE, "ASF HyP3 RTC scene"), (_OPERA_RTC_RE, "OPERA RTC-S1 product"), (_THEIA_RE, "THEIA/MAJA L2A date"),
                        (_HLS_RE, "HLS granule")):
        m = regex.match(last)
        if m and m.group("rest") is None:
            return what
    if _SAFE_RE.match(last):
        return "ESA SAFE product"
    return "FORCE datacube tile" if _FORCE_TILE_RE.match(last) else None
