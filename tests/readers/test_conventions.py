"""The band-name registry: canonical names, and the registry driving the readers' look-ups."""

from __future__ import annotations

import numpy as np
import pytest

import fusets_dl as fdl
from fusets_dl.readers import conventions
from fusets_dl.readers.conventions import Band, Convention, canonical_band_name
from tests.readers.helpers import s1_raw, s2_raw


@pytest.mark.parametrize(
    ("name", "expected"),
    [("S1-SIGMA0-VV", "VV"), ("vh", "VH"), ("S2-L2A-B04", "B04"), ("B4", "B04"), ("B8A", "B8A"),
     ("S2-L2A-SCL", "SCL"), ("DEM", "elevation"), ("slope", "slope"), ("CLM", "CLM"), ("foo", "foo"),
     # CDSE asset keys (load_stac(bands=["B04_10m", ...]) loaded them, then open_s2 found no B04); other suffixes are kept
     ("B04_10m", "B04"), ("B8A_20m", "B8A"), ("SCL_20m", "SCL"), ("b08_10M", "B08"), ("foo_10m", "foo_10m"), ("B04_30m", "B04_30m")],
)
def test_canonical_band_names(name, expected):
    assert canonical_band_name(name) == expected


def test_registered_alias_is_recognised_by_name_and_by_open_s2(monkeypatch):
    raw = s2_raw().rename(B04="rouge", B08="pir")
    with pytest.raises(fdl.errors.MissingVariableError, match="B04 and B08"):
        fdl.open_s2(raw)
    monkeypatch.setitem(
        conventions.CONVENTIONS, "test-fr", Convention("test-fr", aliases={"rouge": "B04", "pir": "B08"})
    )
    assert canonical_band_name("ROUGE") == "B04"
    assert canonical_band_name("S2-L2A-pir") == "B08"
    np.testing.assert_array_equal(fdl.open_s2(raw)["NDVI"].values, fdl.open_s2(s2_raw())["NDVI"].values)


def test_registered_prefix_is_stripped_and_its_encoding_used(monkeypatch):
    dn = np.array([[[3928, 12000], [5000, 7000]]], dtype=np.int32)  # int32: not recognised as compressed by dtype
    raw = s1_raw(nt=1, ny=2, nx=2, values=dn.astype(np.float32)).isel(t=[0])
    raw = raw.assign(VV=raw["VV"].copy(data=dn), VH=raw["VH"].copy(data=dn)).rename(VV="ACME_VV", VH="ACME_VH")
    assert canonical_band_name("ACME_VV") == "ACME_VV"
    monkeypatch.setitem(conventions.CONVENTIONS, "acme", Convention("acme", prefixes=("ACME_",), encoding="compressed"))
    assert canonical_band_name("acme_vv") == "VV"
    assert conventions.convention_of("ACME_VH").name == "acme"
    s1 = fdl.open_s1(raw)
    assert s1.attrs["encoding"] == "VV:compressed,VH:compressed"
    np.testing.assert_allclose(s1["VV"].values[0, 0, 0], 20 * np.log10(3928) - 83, rtol=1e-6)


def test_longest_prefix_wins_whatever_the_registry_order(monkeypatch):
    monkeypatch.setitem(conventions.CONVENTIONS, "short", Convention("short", prefixes=("S",)))
    assert canonical_band_name("S1-SIGMA0-VV") == "VV"
    assert canonical_band_name("SVH") == "VH"


def test_registered_cloud_mask_band_drives_open_s2(monkeypatch):
    raw = s2_raw().drop_vars("SCL")
    raw["NUAGES"] = (raw["B04"].dims, np.zeros(raw["B04"].shape, dtype=np.uint8))  # no attrs (B04's scale factor made it 1e-4)
    raw["NUAGES"][0] = 1
    assert fdl.open_s2(raw).attrs["clear_mask"] == "none (valid NDVI)"
    monkeypatch.setitem(conventions.BANDS, "NUAGES", Band("NUAGES", "cloud_mask"))
    s2 = fdl.open_s2(raw)
    assert s2.attrs["clear_mask"] == "cloud band NUAGES"
    assert not s2["clear"].values[0].any()


def test_band_roles_give_the_readers_names():
    assert conventions.band_for("red") == "B04" and conventions.band_for("nir") == "B08"
    assert conventions.bands_for("static") == ("elevation", "slope", "aspect")
    assert conventions.bands_for("cloud_mask")[0] == "CLM"
    with pytest.raises(KeyError, match="exactly one"):
        conventions.band_for("cloud_mask")
    assert conventions.TIME_NAMES is fdl.validate.TIME_NAMES
