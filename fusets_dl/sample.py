"""The bundled sample scene: where it lives and how it is (re)generated.

Importing this module is cheap: the synthetic-scene generator (Dask array,
rioxarray) loads only when a scene is written.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
import xarray as xr

from ._logging import logger

__all__ = ["SAMPLE_FILES", "SAMPLE_PARAMS", "find_sample", "open_truth", "write_sample", "write_scene"]

#: Parameters of the bundled sample (``data/sample``); change them and regenerate together.
SAMPLE_PARAMS: dict = {"ny": 64, "nx": 64, "start": "2021-01-01", "end": "2022-12-31", "seed": 42}
SAMPLE_FILES = ("s1.nc", "s2.nc", "truth.nc")


def write_scene(folder: str | Path, s1: xr.Dataset, s2: xr.Dataset, truth: xr.Dataset) -> list[Path]:
    """Write a synthetic scene as compressed netCDF into ``folder``.

    S1 is stored as int16 dB x 100 (CF ``scale_factor`` 0.01), S2 bands as
    uint16 DN with ``scale_factor`` 1e-4 and ``_FillValue`` 0 (as in L2A
    products), SCL as uint8, truth NDVI as int16 x 1e-4. Each file is written
    under a temporary name and renamed, so none is ever half-written.

    Parameters
    ----------
    folder : path
        Where to write ``s1.nc``, ``s2.nc`` and ``truth.nc`` (created when missing).
    s1, s2, truth : xarray.Dataset
        The scene, as returned by :func:`fusets_dl.synthetic.make_scene`.

    Returns
    -------
    list of Path
        The three files written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    z = {"zlib": True, "complevel": 5}
    s1_enc = {v: {"dtype": "int16", "scale_factor": 0.01, "_FillValue": np.int16(-32768), **z} for v in ("VV", "VH")}
    s2 = s2.copy()
    s2_enc = {}
    for v in ("B04", "B08", "SCL"):
        attrs = dict(s2[v].attrs)
        fill = attrs.pop("_FillValue", None)
        s2[v].attrs = attrs
        s2_enc[v] = {"_FillValue": fill, **z}
    t_enc = {v: {"dtype": "int16", "scale_factor": 1e-4, "_FillValue": np.int16(-32768), **z} for v in ("NDVI", "NDVI_s2")}
    t_enc.update({v: z for v in ("cloud", "crop", "field")})
    out = []
    for name, ds, enc in (("s1.nc", s1, s1_enc), ("s2.nc", s2, s2_enc), ("truth.nc", truth, t_enc)):
        path = folder / name
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")  # unique: never a user's s1.tmp.nc
        try:
            ds.to_netcdf(tmp, engine="netcdf4", encoding=enc)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        out.append(path)
        logger.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)
    return out


def write_sample(folder: str | Path) -> list[Path]:
    """Write the bundled sample scene (:data:`SAMPLE_PARAMS`) into ``folder``.

    Parameters
    ----------
    folder : path
        Where to write ``s1.nc``, ``s2.nc`` and ``truth.nc``.

    Returns
    -------
    list of Path
        The three files written.
    """
    from .synthetic import make_scene

    return write_scene(folder, *make_scene(**SAMPLE_PARAMS))


def find_sample(folder: str | Path | None = None, *, create: bool = True) -> Path:
    """Locate the sample folder (``data/sample`` of the source tree or ``folder``).

    Parameters
    ----------
    folder : path, optional
        The folder to use; default: ``data/sample`` under the current folder,
        then under the source tree.
    create : bool
        Generate the sample (in the first candidate folder) when it is missing.

    Returns
    -------
    Path
        A folder holding ``s1.nc``, ``s2.nc`` and ``truth.nc``.

    Raises
    ------
    FileNotFoundError
        The sample is missing and ``create`` is false.
    """
    candidates = [Path(folder)] if folder is not None else [
        Path.cwd() / "data" / "sample",
        Path(__file__).resolve().parents[1] / "data" / "sample",
    ]
    for c in candidates:
        if all((c / f).exists() for f in SAMPLE_FILES):
            return c
    if not create:
        raise FileNotFoundError(f"sample scene not found in {[str(c) for c in candidates]}")
    target = candidates[0]
    logger.warning("sample scene not found; generating it in %s", target)
    write_sample(target)
    return target


def open_truth(folder: str | Path) -> xr.Dataset:
    """Open the truth of the sample scene.

    Parameters
    ----------
    folder : path
        The sample folder (see :func:`find_sample`).

    Returns
    -------
    xarray.Dataset
        ``truth.nc``: the true ``NDVI`` (and ``NDVI_s2``), ``cloud``, ``crop`` and ``field``.
    """
    return xr.open_dataset(Path(folder) / "truth.nc")
