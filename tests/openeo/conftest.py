"""Fixtures of the openEO tests: a small saved model and openEO-style cubes built from files.

The cubes are what openEO hands a UDF after ``merge_cubes`` of ``SENTINEL1_GRD``
(``sar_backscatter``: linear power) and ``SENTINEL2_L2A`` (harmonised DN): dims
``(t, bands, y, x)``, float64, each sensor's bands NaN on the other's dates.
They are built from the stored values with the published encodings, not with
the readers under test.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("openeo", reason="the openeo client is needed (pip install fusets_dl[openeo])")

#: openEO uint16 "compressed" backscatter: dB = 20 log10(DN) - 83, i.e. linear = DN**2 * 10**-8.3.
_NODATA_DN = (0, 65534, 65535)


@pytest.fixture(scope="session")
def model_path(small_scene, tmp_path_factory):
    """A small model trained on the synthetic scene and saved (stem of the .json/.safetensors pair)."""
    import fusets_dl as fdl
    from fusets_dl.training.config import TrainConfig

    s1, s2, _ = small_scene
    cube = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2))
    model = fdl.train(cube, config=TrainConfig(hidden=(16,), max_epochs=2, block_size=4, max_samples=20000))
    path = tmp_path_factory.mktemp("openeo_model") / "model"
    model.save(path)
    return path


def merge_like_openeo(s1: xr.Dataset, s2: xr.Dataset) -> xr.DataArray:
    """``merge_cubes`` of two band Datasets on ``(t, y, x)``: the union of their dates, NaN elsewhere."""
    a = s1.to_array("bands").astype(np.float64)
    b = s2.to_array("bands").astype(np.float64)
    out = xr.concat([a, b], dim="bands", join="outer")
    return out.transpose("t", "bands", "y", "x")


def gfmap_openeo_cube(s1_file, s2_file, *, compressed: bool = False) -> xr.DataArray:
    """The GFMap April 2023 sample as openEO delivers it to a UDF.

    ``compressed=False``: ``VV``/``VH`` linear power (``sar_backscatter``);
    ``True``: the stored ``S1-SIGMA0-VV``/``VH`` DN as floats (an extraction's names).
    """
    raw1 = xr.open_dataset(s1_file, mask_and_scale=False)
    raw2 = xr.open_dataset(s2_file, mask_and_scale=False)
    s1 = xr.Dataset()
    for pol in ("VV", "VH"):
        dn = raw1[f"S1-SIGMA0-{pol}"].astype(np.uint16).astype(np.float64)
        dn = dn.where(~dn.isin(_NODATA_DN))
        if compressed:
            s1[f"S1-SIGMA0-{pol}"] = dn
        else:
            s1[pol] = dn**2 * 10.0**-8.3
    s2 = xr.Dataset()
    for band in ("B04", "B08", "SCL"):
        v = raw2[f"S2-L2A-{band}"].astype(np.uint16).astype(np.float64)
        s2[band] = v if band == "SCL" else v.where(v > 0)
    return merge_like_openeo(s1.drop_vars("crs", errors="ignore"), s2.drop_vars("crs", errors="ignore"))


def sample_openeo_cube(folder) -> xr.DataArray:
    """The bundled sample as openEO delivers it: ``VV``/``VH`` linear power, ``B04``/``B08`` DN, ``SCL``."""
    s1f = xr.open_dataset(folder / "s1.nc")  # CF decoding: dB
    raw2 = xr.open_dataset(folder / "s2.nc", mask_and_scale=False)
    s1 = xr.Dataset({pol: 10.0 ** (s1f[pol].astype(np.float64) / 10.0) for pol in ("VV", "VH")}).rename(time="t")
    s2 = xr.Dataset()
    for band in ("B04", "B08", "SCL"):
        v = raw2[band].astype(np.float64)
        s2[band] = v if band == "SCL" else v.where(v > 0)
    drop = ["spatial_ref", "relative_orbit", "incidence_angle"]
    return merge_like_openeo(s1.drop_vars(drop, errors="ignore"), s2.drop_vars(drop, errors="ignore"))


def run_local(code: str, cube: xr.DataArray, context: dict | None = None) -> xr.DataArray:
    """Run UDF source through the openeo client's local UDF execution; the result array."""
    import openeo
    from openeo.udf import XarrayDataCube, execute_local_udf

    udf = openeo.UDF(code=code, context=context) if context else code
    res = execute_local_udf(udf, XarrayDataCube(cube))
    return res.get_datacube_list()[0].get_array()


def run_tiles(code: str, cube: xr.DataArray, size: int, overlap: int) -> xr.DataArray:
    """As ``apply_neighborhood(size=size, overlap=overlap)``: each tile with its margins, margins cut, stitched."""
    ny, nx = cube.sizes["y"], cube.sizes["x"]
    rows = []
    for y0 in range(0, ny, size):
        row = []
        for x0 in range(0, nx, size):
            ys, xs = max(0, y0 - overlap), max(0, x0 - overlap)
            tile = cube.isel(y=slice(ys, min(ny, y0 + size + overlap)), x=slice(xs, min(nx, x0 + size + overlap)))
            out = run_local(code, tile)
            row.append(out.isel(y=slice(y0 - ys, y0 - ys + size), x=slice(x0 - xs, x0 - xs + size)))
        rows.append(xr.concat(row, dim="x"))
    return xr.concat(rows, dim="y")
