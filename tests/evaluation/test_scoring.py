"""Phenology scores per land-cover class, with the class names the truth carries."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fusets_dl.evaluation.scoring import class_names, score_phenology


def _truth(crop_attrs: dict, attrs: dict) -> xr.Dataset:
    """Two pixels of class 0 and one of class 1, one season each peaking in June."""
    pos = pd.Timestamp("2021-06-15").to_datetime64()
    one = np.full((1, 1, 3), pos)
    return xr.Dataset(
        {
            "crop": (("y", "x"), np.array([[0, 0, 1]], dtype=np.int8), crop_attrs),
            "pos": (("season", "y", "x"), one),
            "sos": (("season", "y", "x"), one - np.timedelta64(40, "D")),
            "eos": (("season", "y", "x"), one + np.timedelta64(40, "D")),
        },
        attrs=attrs,
    )


def test_class_names_come_from_the_truth() -> None:
    assert class_names(_truth({"flag_meanings": "rice maize"}, {"classes": "a b"})) == ["rice", "maize"]
    assert class_names(_truth({}, {"classes": "a b"})) == ["a", "b"]
    assert class_names(_truth({}, {})) == ["class 0", "class 1"]


def test_make_scene_truth_carries_the_class_names(small_scene) -> None:
    from fusets_dl.synthetic import CLASSES

    _s1, _s2, truth = small_scene
    assert class_names(truth) == list(CLASSES)


def test_score_phenology_names_and_errors() -> None:
    truth = _truth({"flag_meanings": "rice maize"}, {})
    found = truth[["sos", "pos", "eos"]].copy()
    found["sos"] = found["sos"] + np.timedelta64(4, "D")
    scores = score_phenology(found, truth)
    assert set(scores) == {"rice", "maize"}
    assert scores["rice"]["pixels"] == 2 and scores["maize"]["pixels"] == 1
    assert scores["rice"]["right_count"] == 1.0 and scores["rice"]["matched"] == 2
    assert scores["rice"]["sos_mae"] == pytest.approx(4.0) and scores["rice"]["eos_mae"] == pytest.approx(0.0)
    assert set(score_phenology(found, truth, classes=["x", "y"])) == {"x", "y"}
    assert set(score_phenology(found, truth, mask=np.array([[True, False, False]]))) == {"rice"}
