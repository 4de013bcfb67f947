"""cfchecker (CF-1.8) on netCDF exports of every output, offline.

cfchecker needs the UDUNITS-2 C library (Debian: ``apt-get install
libudunits2-0``; ``.ci/run`` installs it when it can) and the CF tables: the
standard names come from ``data/cf-standard-name-table-subset.xml`` (entries
of version 93, copied verbatim; a full table can be given with
``CF_STANDARD_NAME_TABLE``), the area-type and region tables are written
empty here (fusets_dl uses neither).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from fusets_dl.cf import cf_names, prepare_output

SUBSET = Path(__file__).parent / "data" / "cf-standard-name-table-subset.xml"


def _checker():
    try:
        from cfchecker.cfchecks import CFChecker
    except (ImportError, FileNotFoundError, OSError) as err:  # cfunits raises FileNotFoundError without udunits2
        pytest.skip(f"cfchecker unavailable ({err}); install the test extra and libudunits2 (apt-get install libudunits2-0)")
    return CFChecker


def _tables(tmp_path: Path) -> dict[str, str]:
    empty = '<?xml version="1.0"?>\n<{0}><version_number>0</version_number><date>2026-01-01</date></{0}>\n'
    (tmp_path / "area.xml").write_text(empty.format("area_type_table"))
    (tmp_path / "region.xml").write_text(empty.format("standardized_region_list"))
    return {
        "cfStandardNamesXML": os.environ.get("CF_STANDARD_NAME_TABLE", str(SUBSET)),
        "cfAreaTypesXML": str(tmp_path / "area.xml"),
        "cfRegionNamesXML": str(tmp_path / "region.xml"),
    }


def _problems(path: Path, tables: dict[str, str]) -> list[str]:
    """FATAL, ERROR and WARN messages of cfchecker on ``path`` (INFO is advice)."""
    checker = _checker()(version="1.8", silent=True, **tables)
    res = checker.checker(str(path))
    out = [f"global {c}: {m}" for c in ("FATAL", "ERROR", "WARN") for m in res["global"][c]]
    for var, cats in res["variables"].items():
        out += [f"{var} {c}: {m}" for c in ("FATAL", "ERROR", "WARN") for m in cats[c]]
    return out


def test_the_subset_holds_every_standard_name_we_write():
    text = SUBSET.read_text()
    ids = set(re.findall(r'<entry id="([^"]+)">', text))
    from fusets_dl.cf import cf_attrs, xy_attrs

    used = {cf_attrs(n)["standard_name"] for n in cf_names() if "standard_name" in cf_attrs(n)}
    from pyproj import CRS

    for crs in (CRS.from_epsg(32631), CRS.from_epsg(4326)):
        used |= {a["standard_name"] for a in xy_attrs(crs).values()}
    assert used <= ids, f"add {sorted(used - ids)} to {SUBSET.name} from the official table"


class _Products(dict):
    """Every product fusets_dl makes, built on first use from a tiny model (the metadata is checked, not the skill)."""

    def __init__(self, cube: xr.Dataset) -> None:
        super().__init__(cube=cube)

    def __missing__(self, name: str) -> xr.Dataset:
        from fusets_dl.phenometrics import phenology
        from fusets_dl.training import TrainConfig, train

        cube = self["cube"]
        if name == "model":
            value = train(cube, config=TrainConfig(max_epochs=2, seed=0))
        elif name == "predict":
            value = cube.fusion.predict_ndvi(self["model"]).to_dataset()
        elif name == "reconstruct":
            value = cube.fusion.reconstruct(self["model"])
        elif name == "phenology":
            value = phenology(self["reconstruct"]["NDVI"])
        elif name == "phenology_by_class":
            ny, nx = cube.sizes["y"], cube.sizes["x"]
            labels = xr.DataArray(np.arange(ny * nx).reshape(ny, nx) % 3, dims=("y", "x"), coords={"y": cube.y, "x": cube.x})
            value = phenology(self["reconstruct"]["NDVI"], by=labels)
        elif name == "mogpr":
            value = cube.isel(y=slice(0, 1), x=slice(0, 2)).fusion.mogpr()
        elif name == "segment":
            value = cube.fusion.segment(3, epochs=2, max_pixels=200).to_dataset()
        else:
            raise KeyError(name)
        self[name] = value
        return value


@pytest.fixture(scope="module")
def products(small_cube):
    return _Products(small_cube)


# A DataArray product (predict_ndvi, segment) exported as ``da.to_dataset().to_netcdf()``
# has no global attributes to carry ``Conventions``: the one warning allowed there.
_DATAARRAY_PRODUCTS = {"predict", "segment"}


@pytest.mark.parametrize("name", ["cube", "predict", "reconstruct", "phenology", "phenology_by_class", "mogpr", "segment"])
def test_netcdf_export_passes_cfchecker(products, name, tmp_path):
    tables = _tables(tmp_path)
    _checker()
    from fusets_dl.cli.output import write_netcdf

    write_netcdf(products[name], tmp_path / "cli.nc", overwrite=False)  # the CLI's writer
    assert _problems(tmp_path / "cli.nc", tables) == []
    products[name].to_netcdf(tmp_path / "plain.nc")  # a user's plain export of the product
    allowed = {"global WARN: (2.6.1): No 'Conventions' attribute present"} if name in _DATAARRAY_PRODUCTS else set()
    assert set(_problems(tmp_path / "plain.nc", tables)) <= allowed
    back = xr.open_dataset(tmp_path / "cli.nc", decode_coords="all")
    assert back.attrs["Conventions"] == "CF-1.8"
    if "y" in back.dims and name != "phenology_by_class":
        assert back.rio.crs.to_epsg() == products["cube"].rio.crs.to_epsg()  # the CRS is never lost


@pytest.mark.parametrize("dtype_var", [("reconstruct", "source"), ("segment", "class")])
def test_flag_and_class_dtypes_survive_the_export(products, dtype_var, tmp_path):
    product, var = dtype_var
    prepare_output(products[product], netcdf=True).to_netcdf(tmp_path / "a.nc")
    back = xr.open_dataset(tmp_path / "a.nc")
    assert back[var].dtype == products[product][var].dtype
    if "flag_values" in back[var].attrs:
        assert np.asarray(back[var].attrs["flag_values"]).dtype == back[var].dtype


@pytest.mark.realdata
def test_real_patch_cube_export_passes_cfchecker(tmp_path):
    """The Flanders patch as the readers decode it (its attrs carry epsg/bounds, not a CF grid mapping)."""
    from fusets_dl.alignment import align
    from fusets_dl.cli.output import write_netcdf
    from fusets_dl.readers import open_s1, open_s2
    from tests.paths import WC_S1, WC_S2_10, WC_S2_20

    tables = _tables(tmp_path)
    _checker()
    cube = align(open_s1(WC_S1), open_s2([WC_S2_10, WC_S2_20]), freq="10D")
    write_netcdf(cube.isel(time=slice(0, 6)), tmp_path / "cube.nc", overwrite=False)
    assert _problems(tmp_path / "cube.nc", tables) == []
    back = xr.open_dataset(tmp_path / "cube.nc", decode_coords="all")
    assert back.rio.crs.to_epsg() == 32631
    assert back["x"].attrs["standard_name"] == "projection_x_coordinate" and back["x"].attrs["units"] == "m"
