"""Reconstruction with a sequence model: observations kept, the model's mean and std elsewhere."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError
from fusets_dl.inference.sequence import predict_sequence
from fusets_dl.reconstruction.sequence import reconstruct_sequence
from fusets_dl.testing import raise_if_dask_computes
from tests.models.test_sequence import tiny_model


def test_observations_kept_rest_from_the_model(small_cube: xr.Dataset) -> None:
    m = tiny_model()
    rec = fdl.reconstruct(small_cube, m, smooth=False, obs_std=0.04, device="cpu")  # dispatches on the model's kind
    pred = predict_sequence(small_cube, m, device="cpu")
    obs = small_cube["NDVI"].values
    seen = np.isfinite(obs)
    np.testing.assert_array_equal(rec["NDVI"].values[seen], obs[seen])
    np.testing.assert_allclose(rec["NDVI"].values[~seen], np.clip(pred["NDVI_pred"].values[~seen], -1, 1))
    np.testing.assert_allclose(rec["NDVI_std"].values[seen], 0.04)
    np.testing.assert_allclose(rec["NDVI_std"].values[~seen], pred["NDVI_pred_std"].values[~seen])
    assert set(np.unique(rec["source"].values[seen])) == {0} and set(np.unique(rec["source"].values[~seen])) == {1}
    assert rec["source"].dtype == np.uint8
    # the default does not smooth a sequence model (it smooths the per-date model)
    default = fdl.reconstruct(small_cube, m, obs_std=0.04, device="cpu")
    np.testing.assert_array_equal(default["NDVI"].values, rec["NDVI"].values)
    assert default.attrs["smoothing"] == "none"


def test_regular_grid_smoothing_and_laziness(small_cube: xr.Dataset) -> None:
    m = tiny_model()
    ref = reconstruct_sequence(small_cube, m, freq="5D", device="cpu")
    t = small_cube["time"].to_index()
    grid = ref["time"].to_index()
    # from midnight of the first date, in 5-day steps, until a cell (half a step each side) holds the last date
    assert grid[0] == t[0].floor("D") and (np.diff(grid.values) == np.timedelta64(5, "D")).all()
    assert abs(grid[-1] - t[-1]) <= pd.Timedelta(days=2.5) and grid[-2] < t[-1]
    assert set(np.unique(ref["source"].values)) <= {0, 1, 2}
    assert (ref["source"].values == 2).any()
    with raise_if_dask_computes():
        lazy = reconstruct_sequence(small_cube.chunk({"y": 8, "x": 6}), m, freq="5D", device="cpu")
        sm = reconstruct_sequence(small_cube.chunk({"y": 8}), m, smooth=True, device="cpu")
    np.testing.assert_allclose(lazy["NDVI"].values, ref["NDVI"].values, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(lazy["source"].values, ref["source"].values)
    plain = reconstruct_sequence(small_cube, m, device="cpu")["NDVI"].values
    smv = sm["NDVI"].values
    assert np.isfinite(smv).all()
    # the smoothed series is smoother: smaller second differences
    assert np.abs(np.diff(smv, 2, axis=0)).mean() < np.abs(np.diff(plain, 2, axis=0)).mean()


def test_bad_options(small_cube: xr.Dataset) -> None:
    with pytest.raises(ConfigError, match="whole number of days"):
        reconstruct_sequence(small_cube, tiny_model(), freq="12h")
    with pytest.raises(ConfigError, match="lam > 0"):
        reconstruct_sequence(small_cube, tiny_model(), lam=0)
    from fusets_dl.errors import EncodingError

    with pytest.raises(EncodingError, match=r"reconstruct: NDVI: expected NDVI in \[-1, 1\]"):  # never clipped to 1 silently
        reconstruct_sequence(small_cube.assign(NDVI=small_cube["NDVI"] * 10000), tiny_model())
    for kw in ({"lam": float("nan")}, {"lam": float("inf")}, {"obs_std": float("nan")}):
        with pytest.raises(ConfigError, match="finite lam > 0 and obs_std > 0"):
            reconstruct_sequence(small_cube, tiny_model(), smooth=True, **kw)


def test_the_per_date_models_smoother_options_are_ignored_with_a_warning(small_cube: xr.Dataset) -> None:
    m = tiny_model()
    ref = fdl.reconstruct(small_cube, m, device="cpu")
    for kw, words in (({"weights": "auto"}, "weights"), ({"debias_days": 30.0, "pred_gap_days": 10.0}, "pred_gap_days, debias_days"),
                      ({"calibration": {"seed": 1}}, "calibration"),
                      ({"weights": None}, r"weights=None"),  # before: the fixed setting and lam were ignored without a word
                      ({"lam": 50.0}, r"lam \(without smooth=True\)")):
        with pytest.warns(UserWarning, match=rf"reconstruct: {words} set the per-date model's smoother; a sequence model fills with its own"):
            out = fdl.reconstruct(small_cube, m, device="cpu", **kw)
        np.testing.assert_array_equal(out["NDVI"].values, ref["NDVI"].values)
    assert ref.attrs["s1_only"] == 0 and fdl.reconstruct(small_cube, m, device="cpu", s1_only=True).attrs["s1_only"] == 1


def test_accessor_and_a_given_prediction(small_cube: xr.Dataset) -> None:
    m = tiny_model()
    ref = reconstruct_sequence(small_cube, m, device="cpu")
    via = small_cube.fusion.reconstruct(m, smooth=False, device="cpu")
    np.testing.assert_array_equal(via["NDVI"].values, ref["NDVI"].values)
    f32 = small_cube.fusion.reconstruct(m, smooth=False, device="cpu", precision="float32")  # precision reaches the network
    assert np.nanmax(np.abs(f32["NDVI"].values - ref["NDVI"].values)) < 5e-3
    with fdl.set_options(precision="float32"):
        np.testing.assert_array_equal(reconstruct_sequence(small_cube, m, device="cpu")["NDVI"].values, f32["NDVI"].values)
    given = fdl.reconstruct(small_cube, m, smooth=False, predicted=fdl.predict_ndvi(small_cube, m, device="cpu"))
    np.testing.assert_array_equal(given["NDVI_std"].values, ref["NDVI_std"].values)
    with pytest.raises(ConfigError, match="NDVI_pred_std"):
        reconstruct_sequence(small_cube, m, predicted=small_cube["VV"])


def test_a_given_prediction_must_be_this_models_on_this_cube(small_cube: xr.Dataset) -> None:
    m, other = tiny_model(0), tiny_model(1)
    pred = predict_sequence(small_cube, other, device="cpu")
    with pytest.raises(ConfigError, match=r"made by model \w{12}, not by this one"):
        reconstruct_sequence(small_cube, m, predicted=pred)
    short = predict_sequence(small_cube.isel(time=slice(0, -3)), m, device="cpu")
    n = small_cube.sizes["time"]
    with pytest.raises(ConfigError, match=rf"on the cube's time \({n} values.*found {n - 3} values"):
        reconstruct_sequence(small_cube, m, predicted=short)


def test_a_dask_cube_with_an_in_memory_prediction_stays_lazy(small_cube: xr.Dataset) -> None:
    m = tiny_model()
    pred = predict_sequence(small_cube, m, device="cpu")  # in memory
    ref = reconstruct_sequence(small_cube, m, predicted=pred)
    with raise_if_dask_computes():
        lazy = reconstruct_sequence(small_cube.chunk({"y": 8, "time": 10}), m, predicted=pred)
    np.testing.assert_array_equal(lazy["NDVI"].values, ref["NDVI"].values)
    np.testing.assert_array_equal(lazy["source"].values, ref["source"].values)


def test_the_regular_grid_keeps_observations_beside_missing_dates(small_cube: xr.Dataset) -> None:
    """A pixel without radar: its clear views are kept, the grid days between them interpolated, none lost."""
    cube = small_cube.copy(deep=True)
    cube["VV"][:, 0, 0] = np.nan
    cube["VH"][:, 0, 0] = np.nan
    m = tiny_model()
    on_dates = reconstruct_sequence(cube, m, device="cpu")
    obs = cube["NDVI"].values[:, 0, 0]
    seen = np.isfinite(obs)
    assert (on_dates["source"].values[:, 0, 0] == np.where(seen, 0, 3)).all()  # observed, else missing
    grid = reconstruct_sequence(cube, m, freq="1D", device="cpu")
    t_in = cube["time"].to_index()
    days_in = ((t_in - t_in[0].floor("D")) / pd.Timedelta(days=1)).to_numpy()
    days_out = ((grid["time"].to_index() - t_in[0].floor("D")) / pd.Timedelta(days=1)).to_numpy()
    v = grid["NDVI"].values[:, 0, 0]
    inside = (days_out >= days_in[seen][0] - 0.5) & (days_out <= days_in[seen][-1])
    assert np.isfinite(v[inside]).all()  # every grid day between the first and last clear view has a value
    want = np.interp(days_out, days_in[seen], obs[seen])
    k = np.abs(days_out[:, None] - days_in[seen][None, :]).argmin(axis=1)
    on_view = np.abs(days_out - days_in[seen][k]) <= 0.5
    want[on_view] = obs[seen][k[on_view]]  # a grid day within half a day of a clear view takes the view itself
    np.testing.assert_allclose(v[inside], want[inside], atol=1e-6)
    src = grid["source"].values[:, 0, 0]
    reachable = (np.abs(days_in[seen][:, None] - days_out[None, :]) <= 0.5).any(axis=1).sum()  # views with a grid day near
    assert reachable >= seen.sum() - 1  # (the grid ends on the last date's day at 00:00: a last view late that day has none)
    assert (src[inside] <= 2).all() and (src == 0).sum() == reachable  # each such view lands on its grid day, flagged observed


def test_a_cube_the_std_was_not_fitted_on_warns(small_cube: xr.Dataset, monkeypatch) -> None:
    import dataclasses
    import warnings

    from fusets_dl.models.sequence_model import cube_span
    from fusets_dl.reconstruction import sequence as seq_mod
    from fusets_dl.reconstruction.transfer import TransferSkill

    # a model with skill on the foreign cube (the random tiny model has none: the fallback, tested below)
    monkeypatch.setattr(seq_mod, "_s1_skill", lambda cube, model, **kw: TransferSkill(0.5, 480, "y 0:24, x 0:20"))
    m = tiny_model()
    assert m.std_fitted_on(cube_span(small_cube)) is None  # nothing recorded (models saved before): no claim either way
    own = dataclasses.replace(m, info={"cubes": [{"start": cube_span(small_cube)[0], "end": cube_span(small_cube)[1]}]})
    later = small_cube.isel(time=slice(4, None))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its own cube: no warning
        reconstruct_sequence(small_cube, own, device="cpu")
    with pytest.warns(UserWarning, match=r"std was fitted on cubes of \d{4}-\d\d-\d\d to .*its factor was refitted on held-out spells of this "
                                         r"cube's clear views \(\d+ values of the window y 0:24, x 0:20: x \d+\.\d\d\)") as rec:
        refit = reconstruct_sequence(later, own, device="cpu")
    assert " to ".join(cube_span(later)) in str(rec[0].message)
    # the std of the filled values is the network's times the refitted factor; nothing else changes
    fitted = dataclasses.replace(own, calibration={"cubes": [cube_span(later)]})  # factor 1, fitted "on" this cube: no refit
    plain = reconstruct_sequence(later, fitted, device="cpu")
    ratio = refit.attrs["std_refit_factor"]
    filled = plain["source"].values == 1
    assert filled.any() and ratio > 0 and refit.attrs["std_refit_values"] >= 10 and refit.attrs["std_refit_window"] == "y 0:24, x 0:20"
    np.testing.assert_array_equal(refit["NDVI"].values, plain["NDVI"].values)
    np.testing.assert_allclose(refit["NDVI_std"].values[filled], ratio * plain["NDVI_std"].values[filled], rtol=1e-5)
    # the factor by hand: the NLL factor of the window's hidden values
    from fusets_dl.evaluation.gaps import hide_gaps, s2_view_days
    from fusets_dl.inference.sequence import predict_sequence
    from fusets_dl.models.sequence_model import fit_std_scale

    obs = later["NDVI"].transpose("time", "y", "x").values.reshape(later.sizes["time"], -1)
    t = pd.DatetimeIndex(later["time"].values)
    days = ((t - t[0].floor("D")) / pd.Timedelta(days=1)).to_numpy()
    iy, ix = np.divmod(np.arange(obs.shape[1]), later.sizes["x"])
    view = s2_view_days(days, later["NDVI_offset"].transpose("time", "y", "x").values.reshape(obs.shape))  # spells hide S2 views
    hidden = hide_gaps(obs, days, iy, ix, gap_days=60.0, n_gaps=3, seed=seq_mod._REFIT_SEED, view_days=view) & np.isfinite(obs)
    shown = later.assign(NDVI=later["NDVI"].transpose("time", "y", "x").copy(data=np.where(hidden, np.nan, obs).reshape(-1, 24, 20)))
    p = predict_sequence(shown, own, device="cpu")
    mu, sd = (p[v].transpose("time", "y", "x").values.reshape(obs.shape) for v in ("NDVI_pred", "NDVI_pred_std"))
    assert ratio == pytest.approx(fit_std_scale((obs - mu)[hidden], sd[hidden], "coverage"), rel=1e-6)
    recal = dataclasses.replace(own, calibration={"std_scale": 1.5, "cubes": [cube_span(later), cube_span(small_cube)]})
    assert own.std_spans() == [cube_span(small_cube)] and recal.std_spans() == [cube_span(small_cube), cube_span(later)]  # no repeats
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # refitted on that cube: no warning
        reconstruct_sequence(later, recal, device="cpu")


def test_a_foreign_cube_where_the_s1_reading_has_no_skill_is_filled_from_the_clear_views(small_cube: xr.Dataset) -> None:
    """A grassland-trained sequence model on the Flanders crops filled 60-day spells at 1.98 x linear interpolation."""
    import dataclasses

    from fusets_dl.models.sequence_model import cube_span
    from fusets_dl.reconstruction.kernels import interpolate_views

    m = tiny_model()  # random weights: its S1-only reading tells nothing about this cube's NDVI
    own = dataclasses.replace(m, info={"cubes": [{"start": "2015-01-01", "end": "2015-12-31"}]})
    assert own.std_fitted_on(cube_span(small_cube)) is False
    with pytest.warns(UserWarning, match=r"not trained on this cube \(another place or period\) \(a sequence model\), and its S1-only prediction.*explains none.*"
                                         r"skill -?\d\.\d\d on 480 pixels of the window y 0:24, x 0:20"):
        rec = reconstruct_sequence(small_cube, own, device="cpu")
    obs = small_cube["NDVI"].values
    seen = np.isfinite(obs)
    days = ((small_cube["time"].to_index() - small_cube["time"].to_index()[0].floor("D")) / pd.Timedelta(days=1)).to_numpy()
    want, want_sd = interpolate_views(np.moveaxis(obs, 0, -1), 0.03, days)
    np.testing.assert_allclose(rec["NDVI"].values, np.clip(np.moveaxis(want, -1, 0), -1, 1), atol=1e-6)
    np.testing.assert_allclose(rec["NDVI_std"].values[~seen], np.moveaxis(want_sd, -1, 0)[~seen], atol=1e-6)
    viewed = seen.any(axis=0)
    assert set(np.unique(rec["source"].values[~seen & viewed[None]])) == {2}  # interpolated, not predicted
    assert rec.attrs["transfer_skill"] < 0 and rec.attrs["calibration_source"].startswith("a cube the model was not trained on: S2 only")
    with pytest.warns(UserWarning, match="explains none"):
        lazy = reconstruct_sequence(small_cube.chunk({"y": 8, "x": 6}), own, device="cpu")
    np.testing.assert_array_equal(lazy["NDVI"].values, rec["NDVI"].values)
    # the S1-only mode asked for is the very mode the check measured: the same fallback
    with pytest.warns(UserWarning, match="explains none"):
        s1 = reconstruct_sequence(small_cube, own, s1_only=True, device="cpu")
    np.testing.assert_array_equal(s1["NDVI"].values, rec["NDVI"].values)
    # the window named in the warning is the cube's own (a cube taller than the window: its central rows)
    tall = xr.concat([small_cube.assign_coords(y=small_cube.y + k * 1000.0) for k in range(6)], dim="y")
    with pytest.warns(UserWarning, match=r"pixels of the window y 8:136, x 0:20") as seen_w:
        out = reconstruct_sequence(tall, own, device="cpu")
    assert out.attrs["transfer_skill_window"] == "y 8:136, x 0:20" and len(seen_w) >= 1


def test_smoothing_keeps_a_single_clear_view():
    """A pixel with one clear view and no prediction at all (no radar): smoothing keeps that view, not NaN."""
    from fusets_dl.reconstruction.sequence import _kernel

    days = np.array([0.0, 6.0, 12.0, 18.0])
    obs = np.array([[np.nan, 0.4, np.nan, np.nan]])
    none = np.full((1, 4), np.nan)
    out = _kernel(obs, none, none, in_days=days, grid_days=None, obs_std=0.03, lam=1000.0)
    assert out[0, 1, 0] == pytest.approx(0.4) and out[0, 1, 2] == 0  # kept, flagged observed
    assert np.isnan(out[0, [0, 2, 3], 0]).all() and (out[0, [0, 2, 3], 2] == 3).all()


def test_sites_sharing_their_dates_are_told_apart_by_size() -> None:
    """The Slovak point tables share 2021-2023: a model trained on two of them had its std taken as fitted on the third."""
    import dataclasses

    m = dataclasses.replace(tiny_model(), info={"cubes": [{"start": "2021-01-01", "end": "2023-12-31", "ny": 1, "nx": 46}]},
                            calibration={"std_scale": 1.2, "cubes": [["2021-01-01", "2023-12-31"]]})
    span = ["2021-01-01", "2023-12-31"]
    assert m.std_fitted_on(span) is True  # by dates alone, as before
    assert m.std_fitted_on(span, (1, 46)) is True and m.std_fitted_on(span, (1, 77)) is False
    refit = dataclasses.replace(m, calibration={"std_scale": 1.2, "cubes": [span, ["2024-01-01", "2024-12-31"]]})
    assert refit.std_fitted_on(["2024-01-01", "2024-12-31"], (5, 5)) is True  # calibrate_sequence's cubes count by their dates


def test_sites_sharing_dates_and_size_are_told_apart_by_name(small_cube: xr.Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two places with the same dates and size: the site names recorded at training decide."""
    import dataclasses
    import warnings

    from fusets_dl.models.sequence_model import cube_span
    from fusets_dl.reconstruction import sequence as seq_mod
    from fusets_dl.reconstruction.transfer import TransferSkill

    span = ["2021-01-01", "2023-12-31"]
    rec = {"start": span[0], "end": span[1], "ny": 1, "nx": 46}
    m = dataclasses.replace(tiny_model(), info={"cubes": [{**rec, "site": "slovakia-LR"}]},
                            calibration={"std_scale": 1.2, "cubes": [span]})
    assert m.std_fitted_on(span, (1, 46), "slovakia-LR") is True
    assert m.std_fitted_on(span, (1, 46), "slovakia-NB") is False
    assert m.std_fitted_on(span, (1, 46)) is True  # the cube names no site: size and dates decide, as before
    unnamed = dataclasses.replace(m, info={"cubes": [{**rec, "site": None}]})
    assert unnamed.std_fitted_on(span, (1, 46), "slovakia-NB") is True  # the model recorded no name
    # reconstruct reads the cube's name (its site, or a title other than the aligned cube's)
    monkeypatch.setattr(seq_mod, "_s1_skill", lambda cube, model, **kw: TransferSkill(0.5, 480, "y 0:24, x 0:20"))
    a, b = cube_span(small_cube)
    own = dataclasses.replace(tiny_model(), info={"cubes": [{"start": a, "end": b, "ny": 24, "nx": 20, "site": "plot-7"}]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its own cube, the aligned cube's generic title, or no name: no refit
        for cube in (small_cube.assign_attrs(site="plot-7"), small_cube, small_cube.assign_attrs(title="plot-7")):
            assert "std_refit_factor" not in reconstruct_sequence(cube, own, device="cpu").attrs
    with pytest.warns(UserWarning, match="std was fitted on"):
        other = reconstruct_sequence(small_cube.assign_attrs(site="plot-8"), own, device="cpu")
    assert other.attrs["std_refit_factor"] > 0


def test_s1_only_reaches_the_sequence_model_through_reconstruct_and_the_accessor(small_cube: xr.Dataset, tmp_path) -> None:
    """``s1_only`` was reachable only through ``**predict_kwargs`` of ``reconstruct`` (not the accessor); a sequence model given
    by its path took the per-date path. Both now give ``reconstruct_sequence``'s output; a per-date model refuses it."""
    import warnings

    own = tiny_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the skill check's fallback warning: the same in every call
        want = reconstruct_sequence(small_cube, own, s1_only=True, device="cpu")
        by_function = fdl.reconstruct(small_cube, own, s1_only=True, device="cpu")
        by_accessor = small_cube.fusion.reconstruct(own, s1_only=True, device="cpu")
        own.save(tmp_path / "seq")
        by_path = fdl.reconstruct(small_cube, tmp_path / "seq", s1_only=True, device="cpu")
    for out in (by_function, by_accessor, by_path):
        np.testing.assert_array_equal(out["NDVI"].values, want["NDVI"].values)
        np.testing.assert_array_equal(out["source"].values, want["source"].values)
    per_date = fdl.train(small_cube, config=fdl.TrainConfig(hidden=(8,), max_epochs=1, block_size=4, calibrate_reconstruction=False))
    with pytest.raises(ConfigError, match=r"s1_only=True asks a sequence model .*FeatureSpec\(groups=\('sar', 'time'\)\)"):
        small_cube.fusion.reconstruct(per_date, s1_only=True)
    with pytest.raises(ConfigError, match=r"s1_only: expected True, False or None, found str 'yes'"):
        fdl.reconstruct(small_cube, per_date, s1_only="yes")


def test_a_given_prediction_of_another_std_calibration_or_mode_is_refused(small_cube: xr.Dataset) -> None:
    """Only the weights' SHA-256 was compared: a prediction made before ``calibrate_sequence`` (which keeps the weights) was
    used with the old factor on its std (1.09x too wide in the hunt), and an S1-only prediction filled a default
    reconstruction (fill off by up to 0.11)."""
    import dataclasses

    m = tiny_model()
    recal = dataclasses.replace(m, calibration={"std_scale": 1.3, "std_scale_s1_only": 1.7})
    assert recal.sha256 == m.sha256  # the same weights
    before = predict_sequence(small_cube, m, device="cpu")
    with pytest.raises(ConfigError, match=r"expected a prediction with this model's std calibration \(std_scale 1\.3\), found one made "
                                          r"with std_scale 1 \(one of them was recalibrated"):
        reconstruct_sequence(small_cube, recal, predicted=before)
    with pytest.raises(ConfigError, match=r"std_scale 1\.3\), found one made with std_scale 1 "):
        fdl.reconstruct(small_cube, recal, predicted=fdl.predict_ndvi(small_cube, m, device="cpu"))  # the DataArray too
    s1 = predict_sequence(small_cube, recal, s1_only=True, device="cpu")
    with pytest.raises(ConfigError, match=r"expected a prediction in the mode asked for \(s1_only=False\), found one made with "
                                          r"s1_only=True.*pass s1_only=True"):
        reconstruct_sequence(small_cube, recal, predicted=s1)
    with pytest.raises(ConfigError, match=r"mode asked for \(s1_only=True\), found one made with s1_only=False"):
        reconstruct_sequence(small_cube, recal, predicted=predict_sequence(small_cube, recal, device="cpu"), s1_only=True)
    # the same mode and calibration: the same output as predicting at the call
    given = reconstruct_sequence(small_cube, recal, predicted=s1, s1_only=True)
    fresh = reconstruct_sequence(small_cube, recal, s1_only=True, device="cpu")
    for v in ("NDVI", "NDVI_std"):
        np.testing.assert_array_equal(given[v].values, fresh[v].values)
    # a prediction without the attributes (made before they were recorded): checked by its model_sha256 alone, as before
    old = before.copy()
    for v in ("NDVI_pred", "NDVI_pred_std"):
        old[v].attrs = {k: a for k, a in old[v].attrs.items() if k not in ("std_scale", "s1_only")}
    kept = reconstruct_sequence(small_cube, recal, predicted=old)
    np.testing.assert_array_equal(kept["NDVI_std"].values, reconstruct_sequence(small_cube, m, predicted=before)["NDVI_std"].values)


def test_points_laid_out_as_a_column_get_the_std_refit_of_the_same_points_as_a_row(small_cube: xr.Dataset, monkeypatch) -> None:
    """A column (y=N, x=1) was refitted on one pixel (a false "too few clear views" in the hunt, NDVI_std 0.58x the row's)."""
    import dataclasses

    from fusets_dl.reconstruction import sequence as seq_mod
    from fusets_dl.reconstruction.transfer import TransferSkill

    monkeypatch.setattr(seq_mod, "_s1_skill", lambda cube, model, **kw: TransferSkill(0.5, 24, "y 0:24, x 0:1"))
    own = dataclasses.replace(tiny_model(), info={"cubes": [{"start": "2015-01-01", "end": "2015-12-31"}]})  # another period
    col = small_cube.isel(x=[7])  # 24 points as (y=24, x=1)
    row = col.rename(y="x_", x="y_").rename(x_="x", y_="y").transpose("time", "y", "x")  # the same points as (y=1, x=24)
    with pytest.warns(UserWarning, match=r"refitted on held-out spells of this cube's clear views \(\d+ values of the window y 0:24, x 0:1"):
        rc = reconstruct_sequence(col, own, device="cpu")
    with pytest.warns(UserWarning, match=r"\(\d+ values of the window y 0:1, x 0:24"):
        rr = reconstruct_sequence(row, own, device="cpu")
    assert rc.attrs["std_refit_factor"] == rr.attrs["std_refit_factor"] and rc.attrs["std_refit_values"] == rr.attrs["std_refit_values"]
    assert rc.attrs["std_refit_values"] > 100
    np.testing.assert_array_equal(rc["NDVI_std"].values[:, :, 0], rr["NDVI_std"].values[:, 0, :])
    # the window, alike in y and x: at most STD_REFIT_MAX_PIXELS central pixels
    from fusets_dl.reconstruction.sequence import _refit_window

    assert _refit_window(2000, 1) == (slice(488, 1512), slice(0, 1)) and _refit_window(1, 2000) == (slice(0, 1), slice(488, 1512))
    assert _refit_window(40, 1) == (slice(0, 40), slice(0, 1))
    assert _refit_window(144, 20) == (slice(46, 97), slice(0, 20))  # 51 x 20, as its transpose (32 x 20 before)
    assert _refit_window(20, 144) == (slice(0, 20), slice(46, 97))
    # ordinary cubes as before: 32 rows at most, centred in the skill window
    assert _refit_window(24, 20) == (slice(0, 24), slice(0, 20)) and _refit_window(200, 200) == (slice(84, 116), slice(84, 116))
    assert _refit_window(300, 40) == (slice(134, 166), slice(4, 36)) and _refit_window(9, 2001) == (slice(0, 9), slice(943, 1056))


def test_the_std_refit_warning_says_what_differs_from_a_training_cube_of_the_same_dates(small_cube: xr.Dataset, monkeypatch) -> None:
    """A y=1 crop of the training cube was told "fitted on A to B, not on this one (A to B)": the same span twice."""
    import dataclasses

    from fusets_dl.models.sequence_model import cube_span
    from fusets_dl.reconstruction import sequence as seq_mod
    from fusets_dl.reconstruction.transfer import TransferSkill

    monkeypatch.setattr(seq_mod, "_s1_skill", lambda cube, model, **kw: TransferSkill(0.5, 480, "y 0:24, x 0:20"))
    a, b = cube_span(small_cube)
    own = dataclasses.replace(tiny_model(), info={"cubes": [{"start": a, "end": b, "ny": 24, "nx": 20, "site": "plot-7"}]})
    with pytest.warns(UserWarning, match="std was fitted on") as rec:
        reconstruct_sequence(small_cube.isel(y=[5]), own, device="cpu")
    msg = str(rec[0].message)
    assert (f"std was fitted on cubes of {a} to {b} of y=24, x=20 pixels, not on this one (the same dates, y=1, x=20 pixels: "
            "another part or size of the scene)") in msg and f"not on this one ({a} to {b})" not in msg
    with pytest.warns(UserWarning, match="std was fitted on") as rec:
        reconstruct_sequence(small_cube.assign_attrs(site="plot-8"), own, device="cpu")
    assert f"fitted on cubes of {a} to {b} at the site plot-7, not on this one (the same dates and size, at the site plot-8)" in str(rec[0].message)
    later = small_cube.isel(time=slice(4, None))  # other dates: the spans, as before
    with pytest.warns(UserWarning, match=rf"fitted on cubes of {a} to {b}, not on this one \({' to '.join(cube_span(later))}\)"):
        reconstruct_sequence(later, own, device="cpu")


def test_the_gap_std_refit_leaves_out_series_whose_every_view_it_hid() -> None:
    """The refit hid 3 spells of 60 days: on a 213-day cube many series lost every view and were predicted in the S1-only
    mode, yet were scored as gap filling, so the S1-only factor leaked into the gap factor (ratio 0.501 -> 0.463 when
    only std_scale_s1_only changed from 1 to 3). Such series are now left out, as the training calibration does."""
    import dataclasses
    import warnings

    from fusets_dl.reconstruction.sequence import _refit_std
    from fusets_dl.synthetic import make_scene

    s1, s2, _ = make_scene(24, 20, "2021-03-01", "2021-09-30", seed=7)
    cube = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2)).load()
    base = dataclasses.replace(tiny_model(), info={"cubes": [{"start": "2015-01-01", "end": "2015-12-31"}]})
    ratios = []
    for s1_factor in (1.0, 3.0):
        m = dataclasses.replace(base, calibration={"std_scale": 1.0, "std_scale_s1_only": s1_factor})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = _refit_std(cube, m, False, device="cpu")
        assert r is not None and r["values"] > 100
        ratios.append(r["ratio"])
    assert ratios[0] == ratios[1]
