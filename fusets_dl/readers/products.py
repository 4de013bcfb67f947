"""Provider products recognised by their file names: ASF HyP3 RTC, OPERA RTC-S1, coefficients named in a file name.

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
  ``<base>_VV.tif`` ... are backscatter; ``_ls_map``, ``_inc_map``,
  ``_dem``, ``_area``, ``_rgb`` are side files.
* OPERA RTC-S1 (``OPERA_L2_RTC-S1_<burst>_<acq>Z_<prod>Z_<sensor>_30_v1.0``):
  always gamma0, linear power; ``_mask`` (layover/shadow) and ``_BROWSE``
  are side files.
* Any other file name holding ``Sigma0``, ``Gamma0`` or ``Beta0`` (SNAP
  single-band exports ``<product>_Sigma0_VV_db.tif``): that coefficient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["BACKSCATTER_ATTR", "PRODUCT_ATTR", "SCALE_ATTR", "Product", "coefficient_in", "product_of"]

#: Band attribute naming the backscatter coefficient (read by ``open_s1`` whatever wrote it).
BACKSCATTER_ATTR = "backscatter"
#: Band attribute holding the scale a product's file name declares (``"linear"``, ``"dB"``, ``"amplitude"``).
SCALE_ATTR = "fdl_product_scale"
#: Band attribute naming the product and the file-name token that declared coefficient and scale.
PRODUCT_ATTR = "fdl_product"

_COEFFICIENT_RE = re.compile(r"(sigma|gamma|beta)[ _-]?(?:0|nought|naught)|([σγβ])[ _]?0", re.IGNORECASE)
_GREEK = {"σ": "sigma0", "γ": "gamma0", "β": "beta0"}

_HYP3_RE = re.compile(
    r"^(?P<base>S1[A-D]_[A-Z0-9]{2}_\d{8}T\d{6}_[DS][VH][PRO]_RTC\d+_G_(?P<token>(?P<rad>[gs])(?P<scale>[pda])[uw][nf][ec][dm])"
    r"_[0-9A-Za-z]{4})(?:_(?P<rest>.+))?$"
)
_OPERA_RTC_RE = re.compile(
    r"^(?P<base>OPERA_L2_RTC-S1_[A-Za-z0-9]{4}-[A-Za-z0-9]{6}-[A-Za-z0-9]{3}_\d{8}T\d{6}Z_\d{8}T\d{6}Z_S1[A-D]_\d+_v\d+\.\d+)"
    r"(?:_(?P<rest>.+))?$"
)
_POLARISATIONS = ("VV", "VH", "HH", "HV")
_HYP3_RADIOMETRY = {"g": "gamma0", "s": "sigma0"}
_HYP3_SCALE = {"p": "linear", "d": "dB", "a": "amplitude"}
#: Side files of the products: what they hold (for the log line that names the files left out).
HYP3_SIDE = {"ls_map": "layover/shadow map (its pixels are already nodata in the backscatter)",
             "inc_map": "incidence angle map (local, radians)", "dem": "DEM", "area": "scattering area map",
             "rgb": "RGB decomposition"}
OPERA_SIDE = {"mask": "layover/shadow mask (not applied: the pixels it flags, 1 shadow, 2 layover, 3 both, are kept as the "
                      "provider's valid samples; mask them yourself with it if needed)",
              "BROWSE": "browse image"}


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
        For a side file (not backscatter), what it holds; None for a
        backscatter file.
    """

    provider: str
    token: str
    backscatter: str | None = None
    scale: str | None = None
    side: str | None = None

    def describe(self) -> str:
        """``ASF HyP3 RTC 'RTC30_G_gpuned': gamma0, linear`` for attributes and messages."""
        said = ", ".join(s for s in (self.backscatter, {"linear": "linear power"}.get(self.scale or "", self.scale)) if s)
        return f"{self.provider} {self.token!r}" + (f": {said}" if said else "")


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


def _side(rest: str | None, known: dict[str, str]) -> str | None:
    """What a file holds, from the part of its name after the product's base name; None for backscatter."""
    if rest is None:
        return "product without a polarisation in its name"
    if rest.upper() in _POLARISATIONS:
        return None
    return known.get(rest, known.get(rest.lower(), f"'_{rest}' file (not a polarisation)"))


def product_of(name: str) -> Product | None:
    """What the file name ``name`` says: the product, its coefficient and scale, whether it is a side file.

    Parameters
    ----------
    name : str
        A file name (with or without its suffix).

    Returns
    -------
    Product or None
        None when the name says nothing known.
    """
    stem = re.sub(r"\.(tiff?|TIFF?)$", "", str(name))
    m = _HYP3_RE.match(stem)
    if m:
        token = m.group("token")
        return Product("ASF HyP3 RTC", stem[stem.index("RTC"):stem.index(token) + len(token)], _HYP3_RADIOMETRY[m.group("rad")],
                       _HYP3_SCALE[m.group("scale")], _side(m.group("rest"), HYP3_SIDE))
    m = _OPERA_RTC_RE.match(stem)
    if m:
        return Product("OPERA RTC-S1", "OPERA_L2_RTC-S1", "gamma0", "linear", _side(m.group("rest"), OPERA_SIDE))
    found = coefficient_in(stem)
    if found is not None:
        return Product("file name", _COEFFICIENT_RE.search(stem).group(0), found)  # type: ignore[union-attr]
    return None
