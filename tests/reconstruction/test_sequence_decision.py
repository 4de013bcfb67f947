"""A sequence model's fill and std factor, decided once and given to every tile (``weights=dict(rec.attrs)``)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError
from fusets_dl.reconstruction import sequence as seq_mod
from fusets_dl.reconstruction.sequence_decision import (
    SequenceDecision,
    is_sequence_decision,
    sequence_decision,
)
from fusets_dl.reconstruction.transfer import TransferSkill
from tests.models.test_sequence import tiny_model
from tests.reconstruction.test_api import _model_with_rmse

_TILES = [(slice(0, 12), slice(0, 10)), (slice(0, 12), slice(10, 20)), (slice(12, 24), slice(0, 10)), (slice(12, 24), slice(10, 20))]


def _foreign(m):
    """The model, its std fitted on another year: every cube here is foreign to it."""
    return dataclasses.replace(m, info={"cubes": [{"start": "2015-01-01", "end": "2015-12-31"}]})


def test_tiles_given_the_whole_cubes_decision_fill_as_the_whole_cube(small_cube: xr.Dataset, monkeypatch) -> None:
    """Each tile alone refits its own std factor; given the whole cube's attrs, every tile reproduces it value for value."""
    monkeypatch.setattr(seq_mod, "_s1_skill", lambda cube, model, **kw: TransferSkill(0.5, 120, "window"))
    m = _foreign(tiny_model())
    with pytest.warns(UserWarning, match="its factor was refitted"):
        whole = fdl.reconstruct(small_cube, m, device="cpu")
    factor = whole.attrs["std_refit_factor"]
    assert whole.attrs["sequence_fill"] == "model" and factor != 1.0
    own_factors = []
    for wy, wx in _TILES:
        part = small_cube.isel(y=wy, x=wx)
        with pytest.warns(UserWarning, match="its factor was refitted"):
            own_factors.append(fdl.reconstruct(part, m, device="cpu").attrs["std_refit_factor"])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no check, no refit, no warning
            tile = fdl.reconstruct(part, m, weights=dict(whole.attrs), device="cpu")
        ref = whole.isel(y=wy, x=wx)
        np.testing.assert_array_equal(tile["source"].values, ref["source"].values)
        np.testing.assert_allclose(tile["NDVI"].values, ref["NDVI"].values, atol=1e-6)
        np.testing.assert_allclose(tile["NDVI_std"].values, ref["NDVI_std"].values, rtol=1e-6)
        assert tile.attrs["std_refit_factor"] == factor and tile.attrs["sequence_fill"] == "model"
        assert tile.attrs["calibration_source"].startswith("given (weights): the model's fill, std x")
        assert "transfer_skill_window" not in tile.attrs
    assert len({round(f, 6) for f in own_factors} | {round(factor, 6)}) > 1  # alone, the tiles disagree with the whole


def test_a_clear_view_fill_decided_on_the_whole_cube_holds_on_every_tile(small_cube: xr.Dataset) -> None:
    """The random tiny model has no S1 skill: the whole cube is filled from its clear views, and so is every tile given that."""
    m = _foreign(tiny_model())
    with pytest.warns(UserWarning, match="explains none"):
        whole = fdl.reconstruct(small_cube, m, device="cpu")
    assert whole.attrs["sequence_fill"] == "clear_views" and "std_refit_factor" not in whole.attrs
    d = sequence_decision(dict(whole.attrs))
    assert d == SequenceDecision("clear_views", 1.0, False, m.sha256, 1.0)
    for wy, wx in _TILES:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            tile = fdl.reconstruct(small_cube.isel(y=wy, x=wx), m, weights=d.to_attrs(), device="cpu")
        np.testing.assert_allclose(tile["NDVI"].values, whole["NDVI"].isel(y=wy, x=wx).values, atol=1e-6)
        assert tile.attrs["calibration_source"].startswith("given (weights): S2 only")
    lazy = fdl.reconstruct(small_cube.chunk({"y": 12, "x": 10}), m, weights=d, device="cpu")
    np.testing.assert_allclose(lazy["NDVI"].values, whole["NDVI"].values, atol=1e-6)


def test_a_decision_of_another_model_mode_or_kind_is_refused(small_cube: xr.Dataset) -> None:
    m = _foreign(tiny_model())
    d = SequenceDecision("model", 1.3, False, m.sha256, m.std_scale(False))
    other = SequenceDecision("model", 1.3, False, "0" * 64, 1.0)
    with pytest.raises(ConfigError, match=r"weights: a decision of another model \(SHA-256 000000000000...\), expected this model's"):
        fdl.reconstruct(small_cube, m, weights=other.to_attrs(), device="cpu")
    with pytest.raises(ConfigError, match=r"a decision made with s1_only=False, expected one of this call's mode \(s1_only=True\)"):
        fdl.reconstruct(small_cube, m, weights=d.to_attrs(), s1_only=True, device="cpu")
    recal = dataclasses.replace(m, calibration={"std_scale": 2.0 * m.std_scale(False)})  # the same weights, recalibrated since
    assert recal.sha256 == m.sha256
    with pytest.raises(ConfigError, match=r"a decision made on the model's std calibration 1, expected one of its calibration now \(2\): "
                                          r"the model was recalibrated since"):
        fdl.reconstruct(small_cube, recal, weights=d.to_attrs(), device="cpu")
    with pytest.raises(ConfigError, match=r"expected a per-date model's calibration, found a sequence model's decision"):
        fdl.reconstruct(small_cube, _model_with_rmse(), weights=d.to_attrs())


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"model_kind": "sequence", "model_sha256": "a" * 64, "s1_only": 0},
         r"expected the attrs of a sequence model's reconstruction with its decision \(the key 'sequence_fill'\), found none"),
        ({"model_kind": "sequence", "model_sha256": "a" * 64, "std_scale": 1.0, "s1_only": 0, "sequence_fill": "linear"},
         r"sequence_fill: expected one of \['model', 'clear_views'\], found 'linear'"),
        ({"model_kind": "sequence", "model_sha256": "abc", "s1_only": 2, "sequence_fill": "model", "std_refit_factor": -1},
         r"model_sha256: expected the model's SHA-256 \(64 hex digits\), found 'abc'; s1_only: expected 0 or 1, found 2; "
         r"std_refit_factor: expected a finite number > 0, found -1; std_scale: expected the model's std calibration when it decided"),
        ({"model_kind": "sequence", "model_sha256": "a" * 64, "std_scale": 1.0, "s1_only": 0, "sequence_fill": "model", "std_refit_factor": "1.2"},
         r"std_refit_factor: expected a finite number > 0, found '1.2'"),
        ({"model_kind": "mlp", "model_sha256": "a" * 64, "std_scale": 1.0, "s1_only": 0, "sequence_fill": "model"},
         r"model_kind: expected 'sequence' \(a sequence model's decision\), found 'mlp'"),
    ],
)
def test_bad_decisions_name_what_was_expected(attrs, message) -> None:
    assert is_sequence_decision(attrs)
    with pytest.raises(ConfigError, match=message):
        sequence_decision(attrs)


def test_the_decisions_keys_alone_are_a_decision(small_cube: xr.Dataset) -> None:
    """The keys the docs name, without model_kind, are read as a decision (they were ignored with a per-date warning)."""
    m = _foreign(tiny_model())
    keys = {"model_sha256": m.sha256, "std_scale": m.std_scale(False), "s1_only": 0, "sequence_fill": "model", "std_refit_factor": 1.5}
    assert is_sequence_decision(keys)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rec = fdl.reconstruct(small_cube, m, weights=keys, device="cpu")
    assert rec.attrs["std_refit_factor"] == 1.5 and rec.attrs["std_scale"] == m.std_scale(False)


def test_the_attrs_of_a_prediction_are_not_a_decision() -> None:
    with pytest.raises(ConfigError, match=r"found none: the attrs of a prediction, or of a reconstruction made by fusets_dl before"):
        sequence_decision({"model_kind": "sequence", "model_sha256": "a" * 64, "s1_only": 0})


def test_only_sequence_attrs_are_a_decision() -> None:
    assert not is_sequence_decision({"calibration_w_pred": 1.0}) and not is_sequence_decision("model") and not is_sequence_decision(None)
    assert is_sequence_decision(SequenceDecision("model", 1.0, True, "a" * 64, 1.0))
