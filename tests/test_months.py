"""_months: the calendar months a model's training samples cover, recorded at training and checked at prediction."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl._months import THIN_MONTH_SHARE, month_shares, thin_months, thin_months_message
from fusets_dl.training import TrainConfig

FAST = dict(hidden=(32, 16), max_epochs=3, patience=2, batch_size=256, block_size=4)


def test_month_shares_and_thin_months_by_hand():
    times = pd.to_datetime(["2021-01-05"] * 1 + ["2021-06-01"] * 60 + ["2021-07-01"] * 39).values
    shares = month_shares(times)
    assert len(shares) == 12 and shares[0] == 0.01 and shares[5] == 0.6 and shares[6] == 0.39 and sum(shares) == pytest.approx(1)
    cube = pd.date_range("2021-01-01", "2021-12-31", freq="12D").values
    # under 5 % of an even share (0.42 %): every month but January (1 %), June and July
    assert THIN_MONTH_SHARE / 12 == pytest.approx(0.004167, abs=1e-6)
    assert thin_months(shares, cube) == [2, 3, 4, 5, 8, 9, 10, 11, 12]
    assert thin_months(shares, pd.date_range("2021-06-01", "2021-07-31", freq="6D").values) == []  # only covered months
    msg = thin_months_message(shares, cube, doy=True)
    assert msg.startswith("the model's training samples hardly cover Feb, Mar, Apr, May, Aug, Sep, Oct, Nov, Dec (0.0 % of them")
    n = int(np.isin(pd.DatetimeIndex(cube).month, [2, 3, 4, 5, 8, 9, 10, 11, 12]).sum())
    assert f"and {n} of this cube's {cube.size} dates fall in them" in msg and "FeatureSpec(doy=False)" in msg
    assert "FeatureSpec(doy=False)" not in thin_months_message(shares, cube, doy=False)
    assert month_shares(np.array([], "datetime64[ns]")) == [0.0] * 12


def test_the_months_text_is_general_and_given_once_per_model_in_memory():
    """Grassland friction 6: on meadows whose winter the snow test emptied, the text spoke of a Demak-like rice scene only,
    and reconstruct(cube, train(cube)) showed it twice (training, then the prediction on the same dates)."""
    times = pd.to_datetime(["2021-06-01"] * 50 + ["2021-07-01"] * 50).values
    cube = pd.date_range("2021-01-01", "2021-12-31", freq="5D").values  # 73 dates: 6-7 in each month
    shares = month_shares(times)
    msg = thin_months_message(shares, cube, doy=True)
    n = int(np.isin(pd.DatetimeIndex(cube).month, [1, 2, 3, 4, 5, 8, 9, 10, 11, 12]).sum())
    assert n == 61 and ("(0.0 % of them, against 8.3 % a month if even: clouds or snow hid them, or the training cubes did not "
                        "reach them), and 61 of this cube's 73 dates fall in them") in msg
    assert "read those months with care, or leave them out where the question does not need them" in msg
    assert ("carry what it learnt in the other months into them, which can be far off where those months differ (a synthetic "
            "rice scene trained on its dry season: 0.42 NDVI too low in the wet season)") in msg and "Demak" not in msg
    assert thin_months_message(shares, cube, doy=True) is None  # the same model in memory: said once
    assert thin_months_message(shares, cube[::2], doy=True) is not None  # another cube's dates: another text
    assert thin_months_message(list(shares), cube, doy=True) == msg  # a plain list (a model from disk): said again
    assert shares == list(shares) and json.loads(json.dumps(shares)) == list(shares)

def test_a_model_trained_on_a_cloudy_season_says_so_and_its_predictions_warn(small_cube, tmp_path):
    """Clear views only from May to October (a wet season hides the rest): training records the months and warns, and
    predict_ndvi warns on a cube of the whole year, not on one of the months it covers; the model in memory does not
    repeat its training's text on the same dates (reconstruct(cube, train(cube)) showed it twice)."""
    dry = small_cube.copy()
    dry["NDVI"] = small_cube["NDVI"].where(small_cube["time"].dt.month.isin(range(5, 11)))
    with pytest.warns(UserWarning, match=r"hardly cover Jan, Feb, Mar, Apr, Nov, Dec \(0\.0 % of them.*FeatureSpec\(doy=False\)") as got:
        model = fdl.train(dry, config=TrainConfig(**FAST))
    assert sum("hardly cover" in str(w.message) for w in got) == 1  # not again from the calibration's own predictions
    shares = model.info["training_months"]
    assert sum(shares[4:10]) == pytest.approx(1) and sum(shares[:4]) + sum(shares[10:]) == 0
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        fdl.predict_ndvi(small_cube, model)  # the dates training warned about: said already
        fdl.reconstruct(small_cube, model)
    assert not [w for w in again if "hardly cover" in str(w.message)]
    with pytest.warns(UserWarning, match=r"hardly cover Jan, Feb, Mar, Apr, Nov, Dec .*and 15 of this cube's 30 dates"):
        fdl.predict_ndvi(small_cube.isel(time=slice(0, None, 2)), model)  # other dates: another text, shown
    loaded = fdl.load_model(model.save(tmp_path / "m"))  # a model from disk warns again
    with pytest.warns(UserWarning, match="hardly cover Jan, Feb, Mar, Apr, Nov, Dec"):
        fdl.predict_ndvi(small_cube, loaded)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cube of the covered months only: nothing to say
        fdl.predict_ndvi(small_cube.sel(time=slice("2021-05-01", "2021-10-31")), model)
    model.info.pop("training_months")  # a model saved before the record: not checked
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fdl.predict_ndvi(small_cube, model)


def test_month_shares_weights_count_samples_per_date():
    times = pd.to_datetime(["2021-01-05", "2021-06-01", "2021-07-01"]).values
    assert month_shares(times, np.array([1, 60, 39])) == month_shares(np.repeat(times, [1, 60, 39]))


def test_a_whole_series_model_records_its_months_and_names_its_own_remedy(small_cube):
    """The sequence model learns from every clear value of its training pixels: their months are recorded and checked too."""
    from fusets_dl.inference.sequence import predict_sequence
    from fusets_dl.models.sequence import ALL_CHANNELS

    dry = small_cube.copy()
    dry["NDVI"] = small_cube["NDVI"].where(small_cube["time"].dt.month.isin(range(5, 11)))
    seq = dict(model="sequence", seq_channels=8, seq_dilations=(1, 2), seq_window=16, seq_windows_per_epoch=128, max_epochs=1,
               block_size=4)
    with pytest.warns(UserWarning, match=r"hardly cover Jan, Feb, Mar, Apr, Nov, Dec \(0\.0 % of them.*seq_inputs=.*'sin_doy'") as got:
        model = fdl.train(dry, config=TrainConfig(**seq))
    assert sum("hardly cover" in str(w.message) for w in got) == 1
    assert not any("FeatureSpec(doy=False)" in str(w.message) for w in got)
    shares = model.info["training_months"]
    # the clear values of the training blocks, each on its date: only May to October, in proportion to their counts
    from fusets_dl.evaluation.splits import block_mask

    train = xr.DataArray(block_mask(dry.sizes["y"], dry.sizes["x"], model.blocks, "train"), dims=("y", "x"))
    counts = dry["NDVI"].where(train).notnull().sum(["y", "x"]).values
    assert sum(shares[4:10]) == pytest.approx(1) and shares == month_shares(dry["time"].values, counts)
    assert shares != month_shares(dry["time"].values[counts > 0])  # one per date (unweighted) would read otherwise
    model.info["training_months"] = list(shares)  # as loaded from disk: its training's text is shown again
    with pytest.warns(UserWarning, match="hardly cover Jan, Feb, Mar, Apr, Nov, Dec"):
        predict_sequence(small_cube, model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        predict_sequence(small_cube.sel(time=slice("2021-05-01", "2021-10-31")), model)
    # without the day-of-year channels the remedy is not offered (nothing to take away)
    no_doy = tuple(c for c in ALL_CHANNELS if c not in ("sin_doy", "cos_doy"))
    with pytest.warns(UserWarning, match="hardly cover") as got:
        fdl.train(dry, config=TrainConfig(**seq, seq_inputs=no_doy))
    assert not any("seq_inputs=" in str(w.message) for w in got if "hardly cover" in str(w.message))
