"""The general pre-trained model shipped with the package: found by name, small, with its provenance, usable as is."""

from __future__ import annotations

import numpy as np
import pytest

from fusets_dl.errors import ModelError
from fusets_dl.features import FeatureSpec
from fusets_dl.models.io import PRETRAINED, load_model, pretrained_path


@pytest.fixture(scope="module")
def general():
    return load_model("pretrained")


def test_loads_by_name_from_package_data(general):
    path = pretrained_path("pretrained")
    assert path.parent.name == "pretrained" and path.parent.parent.name == "models"
    assert general.info["loaded_from"] == str(path)
    assert load_model("pretrained-general").state_bytes() == general.state_bytes()
    assert set(PRETRAINED) >= {"pretrained"}


def test_small(general):
    path = pretrained_path("pretrained")
    size = path.stat().st_size + path.with_suffix(".safetensors").stat().st_size
    assert size < 10e6


def test_provenance(general):
    prov = general.info["provenance"]
    for key in ("training_data", "code_version", "git_commit", "train_config", "feature_spec", "leave_one_site_out", "excluded_data"):
        assert key in prov, key
    sites = {d["site"] for d in prov["training_data"]}
    assert "flanders-2018" in sites and len(sites) >= 4
    for d in prov["training_data"]:
        assert d["start"] < d["end"] and d["ny"] * d["nx"] * d["nt"] > 0 and d["clear_pixel_dates"] > 0
    assert set(general.metrics["sites"]) == sites
    for row in prov["leave_one_site_out"]:
        assert row["site"] in sites and row["site"] not in row["trained_on"].split("+")
        assert np.isfinite(row["pred_r2"])
    # S1-only features, usable on any site with VV and VH: the default ones plus the
    # temporal-change ones (pipelines/pretrain.py SHIPPED_FEATURES, chosen leave-one-site-out)
    assert general.spec == FeatureSpec(lags=2, trends=(30,), anomaly=True)
    assert general.spec.groups == ("sar", "time")


def test_predicts_on_the_bundled_sample(general):
    from fusets_dl.alignment import align
    from fusets_dl.inference import predict_ndvi
    from fusets_dl.readers import open_s1, open_s2
    from fusets_dl.sample import find_sample

    folder = find_sample()
    cube = align(open_s1(folder / "s1.nc"), open_s2(folder / "s2.nc")).isel(y=slice(0, 16), x=slice(0, 16)).load()
    pred = predict_ndvi(cube, general).values
    valid = np.isfinite(cube["VV"].values) & np.isfinite(cube["VH"].values)
    assert np.isfinite(pred[valid]).mean() > 0.95
    assert np.nanmin(pred) >= -1.0 and np.nanmax(pred) <= 1.0


def test_unknown_name_is_refused():
    with pytest.raises(ModelError, match="expected one of"):
        pretrained_path("nope")
