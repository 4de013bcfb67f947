"""The CF table (fusets_dl/cf/variables.yml): completeness, dtypes, copies, and apply_cf."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fusets_dl.cf import VARIABLE_ATTRS, apply_cf, cf_attrs, cf_names
from fusets_dl.cf import _entries as cf_entries
from fusets_dl.errors import ConfigError
from fusets_dl.reconstruction import SOURCE_FLAGS
from fusets_dl.testing import raise_if_dask_computes

# Coordinates that are indices or labels and say so by their long_name; every
# data variable has units (or flags, or is a date encoded by xarray).
NO_UNITS = {"coords.time"}


@pytest.mark.parametrize("name", cf_names())
def test_every_entry_has_long_name_and_units_or_flags(name):
    entry = cf_entries()[name]
    attrs = cf_attrs(name)
    assert isinstance(attrs.get("long_name"), str) and attrs["long_name"]
    is_date = np.issubdtype(np.dtype(entry.get("dtype", "float64")), np.datetime64)
    if is_date:
        assert "units" not in attrs  # xarray encodes the units of dates itself
    elif name not in NO_UNITS:
        assert "units" in attrs or "flag_meanings" in attrs, name
    assert "dtype" not in attrs  # a description of the entry, not an attribute


def test_no_unit_exceptions_are_real_entries():
    assert NO_UNITS <= set(cf_names())
    assert not any("units" in cf_attrs(n) for n in NO_UNITS)  # else drop them from NO_UNITS


def test_every_data_variable_entry_has_units():
    """The seven entries that lacked units in the first table (counts, classes, the MOGPR std) have them now."""
    for name in ("phenology.n_seasons", "phenology_by_class.los", "phenology_by_class.aos",
                 "phenology_by_class.n_with_season", "phenology_by_class.n_pixels", "segment.class"):
        assert cf_attrs(name)["units"] == ("days" if name.endswith("los") else "1"), name
    assert cf_attrs("mogpr.std", fields={"name": "VV", "units": "dB"})["units"] == "dB"


@pytest.mark.parametrize("name", [n for n in cf_names() if "flag_values" in cf_entries()[n]])
def test_flag_values_match_the_flag_meanings_and_dtype(name):
    entry = cf_entries()[name]
    attrs = cf_attrs(name)
    assert len(attrs["flag_values"]) == len(attrs["flag_meanings"].split())
    if "dtype" in entry:
        assert isinstance(attrs["flag_values"], np.ndarray)
        assert attrs["flag_values"].dtype == np.dtype(entry["dtype"])


def test_source_flags_agree_with_the_table():
    attrs = cf_attrs("reconstruct.source")
    assert attrs["flag_meanings"].split() == list(SOURCE_FLAGS)
    assert attrs["flag_values"].tolist() == list(SOURCE_FLAGS.values())
    assert attrs["flag_values"].dtype == np.uint8


def test_cube_entries_are_the_ones_readers_and_align_used():
    assert cf_attrs("NDVI") == {
        "long_name": "normalized difference vegetation index",
        "standard_name": "normalized_difference_vegetation_index",
        "units": "1",
        "valid_min": -1.0,
        "valid_max": 1.0,
    }
    assert cf_attrs("SCL")["flag_values"] == list(range(12))
    assert cf_attrs("VV", cell_methods="x")["cell_methods"] == "x"
    assert cf_attrs("not a variable", a=1) == {"a": 1}
    assert set(VARIABLE_ATTRS) == set(cf_names()) and VARIABLE_ATTRS["VH"] == cf_attrs("VH")


def test_cf_attrs_returns_a_copy():
    a = cf_attrs("SCL")
    a["long_name"] = "changed"
    a["flag_values"].append(99)
    b = cf_attrs("reconstruct.source")
    b["flag_values"][0] = 7
    assert cf_attrs("SCL")["long_name"] == "Sentinel-2 L2A scene classification"
    assert cf_attrs("SCL")["flag_values"] == list(range(12))
    assert cf_attrs("reconstruct.source")["flag_values"][0] == 0
    c = VARIABLE_ATTRS["NDVI"]
    c["units"] = "%"
    assert VARIABLE_ATTRS["NDVI"]["units"] == "1"


def test_templates_are_filled_from_fields():
    assert cf_attrs("mogpr.std", fields={"name": "VV", "units": "dB"}) == {
        "long_name": "MOGPR posterior standard deviation of VV",
        "units": "dB",
    }


def test_by_class_names_are_the_phenology_names_as_medians():
    for k in ("sos", "pos", "eos", "los", "aos"):
        assert cf_attrs(f"phenology_by_class.{k}")["long_name"] == f"median {cf_attrs(f'phenology.{k}')['long_name']} of the class"


def _ds(chunked=False):
    data = np.zeros((2, 3), np.float32)
    ds = xr.Dataset(
        {
            "NDVI_std": (("y", "x"), data, {"long_name": "mine", "keep": 1}),
            "source": (("y", "x"), data.astype(np.uint8)),
            "other": (("y", "x"), data, {"a": 1}),
        }
    )
    return ds.chunk() if chunked else ds


def test_apply_cf_replaces_known_variables_only_and_leaves_the_input():
    ds = _ds()
    out = apply_cf(ds, "reconstruct", NDVI_std={"method": "x"})
    assert out["NDVI_std"].attrs == cf_attrs("reconstruct.NDVI_std", method="x")
    assert out["source"].attrs["flag_values"].dtype == out["source"].dtype
    assert out["other"].attrs == {"a": 1}
    assert ds["NDVI_std"].attrs == {"long_name": "mine", "keep": 1} and ds["source"].attrs == {}


def test_apply_cf_fill_keeps_the_variables_own_attributes():
    out = apply_cf(_ds(), "reconstruct", fill=True)
    attrs = out["NDVI_std"].attrs
    assert attrs["long_name"] == "mine" and attrs["keep"] == 1 and attrs["units"] == "1"


def test_apply_cf_on_a_named_dataarray_and_lazily():
    ds = _ds(chunked=True)
    with raise_if_dask_computes():
        da = apply_cf(ds["source"], "reconstruct")
        out = apply_cf(ds, "reconstruct")
    assert da.attrs["flag_meanings"] == "observed predicted interpolated missing"
    assert out.chunks == ds.chunks
    assert apply_cf(xr.DataArray([1.0]), "reconstruct").attrs == {}  # unnamed: nothing to match


def test_apply_cf_refuses_unknown_groups_and_variables():
    with pytest.raises(ConfigError, match="group 'nope' unknown"):
        apply_cf(_ds(), "nope")
    with pytest.raises(ConfigError, match=r"\['NDVI_sd'\] not in group 'reconstruct'"):
        apply_cf(_ds(), "reconstruct", NDVI_sd={"a": 1})


@pytest.mark.parametrize("var", ["n_seasons", "n_main_seasons", "is_main", "sos_extrapolated", "eos_extrapolated"])
def test_phenology_counts_and_flags_declare_the_value_of_tiles_never_written(var):
    """valid_min 0 in the variable's dtype (CF: -1, the Zarr fill value, is out of range) and a comment saying so;
    the flags keep their two values."""
    attrs = cf_attrs(f"phenology.{var}")
    assert attrs["valid_min"] == 0 and attrs["valid_min"].dtype == np.int8
    assert attrs["comment"].startswith("-1 (below valid_min") and "never written" in attrs["comment"]
    if "flag_values" in attrs:
        assert attrs["flag_values"].tolist() == [0, 1]
