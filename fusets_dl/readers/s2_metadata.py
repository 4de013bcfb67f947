"""ESA Sentinel-2 L2A product metadata: ``MTD_MSIL2A.xml``, read where it lies with the band files.

An L2A ``.SAFE`` product holds, at its top, ``MTD_MSIL2A.xml`` (ESA
"Sentinel-2 Products Specification Document", the ``Level-2A_User_Product``
schema). Three of its elements decide how digital numbers become
reflectance::

    <n1:General_Info>
      <Product_Info>
        <PRODUCT_URI>S2B_MSIL2A_20231217T135659_N0510_R067_T21JUK_20231217T175625.SAFE</PRODUCT_URI>
        <PROCESSING_BASELINE>05.10</PROCESSING_BASELINE>
        <Product_Organisation><Granule_List><Granule ...>
          <IMAGE_FILE>GRANULE/L2A_.../IMG_DATA/R10m/T21JUK_20231217T135659_B04_10m</IMAGE_FILE> ...
      </Product_Info>
      <Product_Image_Characteristics>
        <QUANTIFICATION_VALUES_LIST>
          <BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE> ...
        <BOA_ADD_OFFSET_VALUES_LIST>
          <BOA_ADD_OFFSET band_id="0">-1000</BOA_ADD_OFFSET> ... (band_id 0-12: B01 ... B8A ... B12)
        <Spectral_Information_List>
          <Spectral_Information bandId="3" physicalBand="B4"> ...

reflectance = (DN + BOA_ADD_OFFSET) / BOA_QUANTIFICATION_VALUE. Products of
processing baseline 04.00 and later (and the Collection-1 reprocessing,
``N0500``, on every date) list ``BOA_ADD_OFFSET`` -1000; earlier ones have no
offset list (none). The file is looked for beside the band file (granule
files a user copied out together with it) and at the top of the ``.SAFE``
folder the band file lies in. Where it is found and belongs to the band
file (its ``IMAGE_FILE`` list names the file, or, without one, its
``PRODUCT_URI`` spells the same sensing time, or it lies in the same
``.SAFE`` folder), its baseline is preferred to the one of the ``.SAFE``
name (they agree in ESA's products; where they do not, the XML is trusted,
logged at INFO), and its offsets are removed band by band, date by date.
A file that cannot be parsed is left aside with a warning. The XML is
parsed with :mod:`xml.etree.ElementTree`, a file holding a ``DOCTYPE`` or
``ENTITY`` declaration refused (ESA's never do: no entity is expanded).
"""

from __future__ import annotations

import functools
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from .._logging import logger
from .._warn import warn_user

__all__ = ["BOA_OFFSET_COORD", "MTD_NAME", "QUANTIFICATION_COORD", "SafeMetadata", "metadata_for", "read_mtd",
           "safe_date_coords", "safe_folder_baseline"]

#: The name of the L2A product metadata file.
MTD_NAME = "MTD_MSIL2A.xml"
#: Prefix of the per-date coordinate holding a band's ``BOA_ADD_OFFSET`` in DN (``fdl:boa_add_offset:B04``), read by ``open_s2``.
BOA_OFFSET_COORD = "fdl:boa_add_offset"
#: The per-date coordinate holding ``BOA_QUANTIFICATION_VALUE`` (10000 in every baseline so far), read by ``open_s2``.
QUANTIFICATION_COORD = "fdl:boa_quantification"
#: ESA's ``band_id`` order, used where the XML has no ``Spectral_Information_List`` to say it.
_BAND_IDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
_URI_TIME_RE = re.compile(r"^S2[A-D]_MSIL2A_(?P<time>\d{8}T\d{6})_")
_BASELINE_RE = re.compile(r"^\d{1,2}\.\d{2}$")


@dataclass(frozen=True)
class SafeMetadata:
    """What ``MTD_MSIL2A.xml`` says about reflectance.

    Parameters
    ----------
    path : pathlib.Path
        The XML file.
    baseline : str or None
        ``PROCESSING_BASELINE`` as written (``"05.10"``); None where absent.
    offsets : mapping of str to float
        ``BOA_ADD_OFFSET`` per band (``{"B04": -1000.0, ...}``), in DN; empty
        where the product lists none (baselines before 04.00).
    quantification : float or None
        ``BOA_QUANTIFICATION_VALUE`` (10000); None where absent.
    product : str or None
        ``PRODUCT_URI`` (the ``.SAFE`` name).
    images : tuple of str
        The names (no folder, no suffix) of the ``IMAGE_FILE`` entries.
    """

    path: Path
    baseline: str | None = None
    offsets: Mapping[str, float] = field(default_factory=dict)
    quantification: float | None = None
    product: str | None = None
    images: tuple[str, ...] = ()

    def baseline_token(self) -> str | None:
        """The baseline spelled as in a ``.SAFE`` name (``"05.10"`` -> ``"N0510"``).

        Returns
        -------
        str or None
            None where the XML has no (readable) baseline.
        """
        if self.baseline is None or not _BASELINE_RE.match(self.baseline):
            return None
        major, minor = self.baseline.split(".")
        return f"N{int(major):02d}{minor}"


def _local(tag: Any) -> str:
    """An element's name without its namespace (``{https://psd-14...}General_Info`` -> ``General_Info``)."""
    return str(tag).rsplit("}", 1)[-1]


def _band_name(physical: str) -> str:
    """ESA's ``physicalBand`` (``B4``, ``B8A``) as the readers name it (``B04``, ``B8A``)."""
    m = re.fullmatch(r"B(\d{1,2})(A?)", physical.strip().upper())
    if m is None:
        return physical.strip()
    return f"B{int(m.group(1)):02d}" if not m.group(2) else f"B{int(m.group(1))}A"


def _parse(path: Path) -> SafeMetadata:
    data = path.read_bytes()
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:  # ESA's metadata has none: refusing them leaves no entity to expand
        raise ValueError("a DOCTYPE or ENTITY declaration, which ESA's product metadata never holds: refused")
    root = ET.fromstring(data)  # noqa: S314 (a local file without DTD; defusedxml is not a dependency)
    found: dict[str, str] = {}
    images, offsets_by_id, physical = [], {}, {}
    for el in root.iter():
        name, text = _local(el.tag), (el.text or "").strip()
        if name in ("PROCESSING_BASELINE", "BOA_QUANTIFICATION_VALUE", "PRODUCT_URI") and name not in found and text:
            found[name] = text
        elif name == "IMAGE_FILE" and text:
            images.append(PurePath(text).name)
        elif name == "BOA_ADD_OFFSET" and "band_id" in el.attrib and text:
            offsets_by_id[int(el.attrib["band_id"])] = float(text)
        elif name == "Spectral_Information" and "bandId" in el.attrib and "physicalBand" in el.attrib:
            physical[int(el.attrib["bandId"])] = _band_name(el.attrib["physicalBand"])
    offsets = {physical.get(i, _BAND_IDS[i] if i < len(_BAND_IDS) else f"band_id {i}"): v for i, v in offsets_by_id.items()}
    q = found.get("BOA_QUANTIFICATION_VALUE")
    return SafeMetadata(path, found.get("PROCESSING_BASELINE"), offsets, float(q) if q else None, found.get("PRODUCT_URI"),
                        tuple(images))


@functools.lru_cache(maxsize=256)
def _cached(path: str, _mtime_ns: int, _size: int) -> SafeMetadata:
    return _parse(Path(path))


def read_mtd(path: str | os.PathLike) -> SafeMetadata:
    """Read an L2A product's ``MTD_MSIL2A.xml`` (parsed once per file version).

    Parameters
    ----------
    path : str or path-like
        The XML file.

    Returns
    -------
    SafeMetadata
        The baseline, offsets per band, quantification value, product name
        and image files; fields the XML lacks are None or empty.

    Raises
    ------
    xml.etree.ElementTree.ParseError
        A file that is not well-formed XML.
    ValueError
        An offset or quantification value that is not a number, or a
        ``DOCTYPE``/``ENTITY`` declaration (refused).
    """
    p = Path(path)
    st = p.stat()
    return _cached(str(p.resolve()), st.st_mtime_ns, st.st_size)


def _candidates(band_file: Path) -> tuple[list[Path], Path | None]:
    """Where the XML of ``band_file`` may lie (beside it, the top of its ``.SAFE``), and that ``.SAFE`` folder."""
    out = [band_file.parent / MTD_NAME]
    safe = next((q for q in band_file.parents if q.suffix.upper() == ".SAFE"), None)
    if safe is not None and safe != band_file.parent:
        out.append(safe / MTD_NAME)
    return out, safe


def _belongs(meta: SafeMetadata, band_file: Path, sensing: str | None, safe: Path | None) -> bool:
    """Whether ``meta`` is the metadata of ``band_file``: its image list names it, its product time is the file's, or its .SAFE."""
    stem = re.sub(r"\.(tiff?|jp2)$", "", band_file.name, flags=re.IGNORECASE)
    if meta.images:
        return stem in meta.images or stem.removeprefix("L2A_") in meta.images
    m = _URI_TIME_RE.match(meta.product or "")
    if m is not None and sensing is not None:
        return m.group("time") == sensing
    return safe is not None and meta.path.parent == safe


def metadata_for(band_file: str | os.PathLike, sensing: str | None = None) -> SafeMetadata | None:
    """The ``MTD_MSIL2A.xml`` of an ESA L2A granule band file, where it lies with it and belongs to it; None otherwise.

    Parameters
    ----------
    band_file : str or path-like
        A granule band file (``T31UFS_20210615T105031_B04_10m.jp2``).
    sensing : str, optional
        The file's sensing time (``"20210615T105031"``), matched against
        the XML's ``PRODUCT_URI`` where the XML lists no image files.

    Returns
    -------
    SafeMetadata or None
        None where no XML lies beside the file or at the top of its
        ``.SAFE`` folder, where the XML found is another product's (logged
        at INFO), or where it cannot be read (a warning).
    """
    path = Path(band_file)
    candidates, safe = _candidates(path)
    for xml in candidates:
        if not xml.is_file():
            continue
        try:
            meta = read_mtd(xml)
        except (ET.ParseError, ValueError, OSError) as exc:
            warn_user(f"{xml}: expected an ESA L2A product metadata file (the processing baseline, BOA_ADD_OFFSET and "
                      f"BOA_QUANTIFICATION_VALUE of {path.name}), found one that cannot be read ({type(exc).__name__}: {exc}): "
                      "left aside, the baseline comes from the .SAFE name (or the acquisition date). Download it again to use it")
            return None
        if _belongs(meta, path, sensing, safe):
            return meta
        logger.info("%s beside %s is another product's (%s): not used for it", xml, path.name, meta.product or "no PRODUCT_URI")
    return None


def safe_date_coords(band_file: str | os.PathLike, band: str | None, name_baseline: str | None,
                     sensing: str | None = None) -> dict[str, str | float]:
    """The per-date values ``open_s2`` reads for one ESA granule band file: its processing baseline, offset and quantification.

    Parameters
    ----------
    band_file : str or path-like
        The granule band file.
    band : str or None
        The band it holds (``"B04"``, ``"SCL"``).
    name_baseline : str or None
        The baseline of the ``.SAFE`` name it lies in (``"N0500"``), if any.
    sensing : str, optional
        Its sensing time, as in its name (``"20210615T105031"``).

    Returns
    -------
    dict
        ``s2:processing_baseline``: the XML's ``PROCESSING_BASELINE`` where
        the product's ``MTD_MSIL2A.xml`` is found (INFO where it differs
        from the name's), else the name's; where the XML is found,
        ``fdl:boa_add_offset:<band>`` (DN; 0 where the XML lists no offsets
        and its baseline is before 04.00) and ``fdl:boa_quantification``.
        Empty where nothing is known.
    """
    meta = metadata_for(band_file, sensing)
    out: dict[str, str | float] = {}
    if meta is None:
        if name_baseline is not None:
            out["s2:processing_baseline"] = name_baseline
        return out
    token = meta.baseline_token()
    if token is not None and name_baseline is not None and token != name_baseline:
        logger.info("%s: the processing baseline of %s (%s) differs from the .SAFE name's (%s): the XML's is used",
                    Path(band_file).name, meta.path.name, meta.baseline, name_baseline)
    baseline = meta.baseline if token is not None else name_baseline
    if baseline is not None:
        out["s2:processing_baseline"] = baseline
    if band is not None and band in meta.offsets:
        out[f"{BOA_OFFSET_COORD}:{band}"] = meta.offsets[band]
    elif band in _BAND_IDS and not meta.offsets and token is not None and int(token[1:3]) < 4:
        out[f"{BOA_OFFSET_COORD}:{band}"] = 0.0  # before 04.00: no offset list, and none in the values
    if meta.quantification is not None:
        out[QUANTIFICATION_COORD] = meta.quantification
    return out


def safe_folder_baseline(safe: str | os.PathLike) -> str | None:
    """The processing baseline of a ``.SAFE`` folder, for messages: its ``MTD_MSIL2A.xml``'s, else its name's.

    Parameters
    ----------
    safe : str or path-like
        A ``.SAFE`` folder.

    Returns
    -------
    str or None
        ``"05.10"`` (the XML's), ``"N0510"`` (the name's) or None.
    """
    from .products import safe_baseline

    xml = Path(safe) / MTD_NAME
    if xml.is_file():
        try:
            meta = read_mtd(xml)
        except (ET.ParseError, ValueError, OSError):
            meta = None  # warned when its band files are read
        if meta is not None and meta.baseline_token() is not None:
            return meta.baseline
    return safe_baseline(safe)
