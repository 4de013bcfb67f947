"""Self-supervised training of the sequence model: it learns, holds blocks out, takes lists and init."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, ModelError
from fusets_dl.evaluation.splits import split_blocks
from fusets_dl.models.sequence_model import SequenceModel
from fusets_dl.training.sequence import calibrate_sequence, train_sequence

FAST = dict(model="sequence", seq_channels=12, seq_dilations=(1, 2, 4), seq_window=16, seq_windows_per_epoch=256,
            seq_batch_size=64, max_epochs=5, patience=5, block_size=8, learning_rate=5e-3)


@pytest.fixture(scope="module")
def trained(small_cube: xr.Dataset) -> SequenceModel:
    return fdl.train(small_cube, config=fdl.TrainConfig(**FAST))  # dispatches on config.model


def test_the_training_cubes_site_names_are_recorded(trained: SequenceModel, small_cube: xr.Dataset) -> None:
    assert trained.info["cubes"][0]["site"] is None  # the aligned cube's generic title names no site
    named = fdl.train(small_cube.assign_attrs(site="plot-7"), config=fdl.TrainConfig(**{**FAST, "max_epochs": 1}))
    assert [c["site"] for c in named.info["cubes"]] == ["plot-7"]


def test_it_learns_and_beats_a_constant(trained: SequenceModel, small_cube: xr.Dataset) -> None:
    assert isinstance(trained, SequenceModel)
    gaps = trained.metrics["test_gaps"]
    assert trained.metrics["test"] == gaps  # the key README, demo and pipeline records read on any model
    assert gaps["n"] > 50
    # the constant guess (the training mean) has RMSE = the std of the held-out truth; the model must beat it clearly
    test_ndvi = small_cube["NDVI"].values  # a loose upper bound of that std over the whole scene
    assert gaps["rmse"] < 0.8 * np.nanstd(test_ndvi)
    assert trained.metrics["test_s1_only"]["r2"] > 0.0
    assert 0 < trained.metrics["coverage_1std"] <= trained.metrics["coverage_2std"] <= 1
    hist = trained.history
    assert hist[-1]["loss"] < hist[0]["loss"]
    ny, nx = small_cube.sizes["y"], small_cube.sizes["x"]
    assert trained.blocks["test"] == split_blocks(ny, nx, fdl.TrainConfig(**FAST))["test"]  # the same blocks as the MLP


def test_list_of_cubes_and_fine_tuning(trained: SequenceModel, small_cube: xr.Dataset) -> None:
    other = small_cube.isel(time=slice(5, None), x=slice(0, 16))  # other dates and size
    cfg = fdl.TrainConfig(**{**FAST, "max_epochs": 1})
    m = train_sequence([small_cube, other], cfg, init=trained)
    assert len(m.blocks["cubes"]) == 2 and m.blocks["cubes"][1]["grid"] == [3, 2]
    assert m.stats == trained.stats and m.info["init"] == trained.sha256
    assert len(m.info["cubes"]) == 2 and m.info["cubes"][1]["nt"] == small_cube.sizes["time"] - 5


def test_each_cube_draws_its_own_split_as_the_per_date_model_does(small_cube: xr.Dataset) -> None:
    """Before, every cube's split was drawn with the same seed: two cubes of one size held out the same blocks.
    Cube k now draws with seed + k, the split fdl.train(model="mlp") draws for it."""
    cfg = fdl.TrainConfig(**{**FAST, "max_epochs": 1})
    other = small_cube.assign_coords(x=small_cube["x"] + 1e4)  # another scene of the same size
    with pytest.raises(ConfigError, match="train_sequence: expected distinct scenes"):
        train_sequence([small_cube, small_cube.copy()], cfg)  # as the per-date model: each copy would train on the other's held-out
    m = train_sequence([small_cube, other], cfg)
    ny, nx = small_cube.sizes["y"], small_cube.sizes["x"]
    for k in (0, 1):
        want = split_blocks(ny, nx, dataclasses.replace(cfg, seed=cfg.seed + k))
        assert {p: m.blocks["cubes"][k][p] for p in ("val", "test")} == {p: want[p] for p in ("val", "test")}
    assert (m.blocks["cubes"][0]["val"], m.blocks["cubes"][0]["test"]) != (m.blocks["cubes"][1]["val"], m.blocks["cubes"][1]["test"])
    mlp = fdl.train([small_cube, other], config=fdl.TrainConfig(hidden=(8,), max_epochs=1, block_size=FAST["block_size"],
                                                                             calibrate_reconstruction=False))
    assert [s["test"] for s in mlp.blocks["sites"].values()] == [c["test"] for c in m.blocks["cubes"]]


def _first_best(values: list[float], tol: float) -> int:
    """The epoch (1-based) the early stop keeps: the first that beat every earlier kept one by more than ``tol``."""
    best, at = float("inf"), -1
    for k, v in enumerate(values, 1):
        if v < best - tol:
            best, at = v, k
    return at


def test_the_kept_epoch_is_the_best_by_the_validation_score(trained: SequenceModel, small_cube: xr.Dataset) -> None:
    assert trained.config["seq_val_score"] == "rmse"  # the default
    hist = trained.history
    assert all(0 < h["val_rmse"] < 1 and np.isfinite(h["val_loss"]) for h in hist)  # both recorded, RMSE in NDVI units
    sd = trained.stats["ndvi_std"]
    assert trained.info["best_epoch"] == _first_best([h["val_rmse"] / sd for h in hist], 1e-5)
    by_nll = fdl.train(small_cube, config=fdl.TrainConfig(**{**FAST, "seq_val_score": "nll"}))
    assert by_nll.info["best_epoch"] == _first_best([h["val_loss"] for h in by_nll.history], 1e-4)


def test_bad_input() -> None:
    with pytest.raises(ConfigError, match="model: expected 'mlp' or 'sequence'"):
        fdl.TrainConfig(model="rnn")
    with pytest.raises(ConfigError, match="seq_val_score: expected 'nll' or 'rmse', found 'mse'"):
        fdl.TrainConfig(model="sequence", seq_val_score="mse")
    with pytest.raises(ConfigError, match="odd kernel"):
        fdl.TrainConfig(model="sequence", seq_kernel=2)
    assert fdl.TrainConfig.from_dict(fdl.TrainConfig(model="sequence", seq_dilations=(1, 3)).to_dict()).seq_dilations == (1, 3)
    with pytest.raises(ModelError, match="init: expected a SequenceModel"):
        train_sequence(xr.Dataset(), fdl.TrainConfig(**FAST), init=object())  # type: ignore[arg-type]


def test_std_calibration_is_fitted_on_validation_blocks_only(trained: SequenceModel, small_cube: xr.Dataset) -> None:
    from fusets_dl.training.sequence import _calibrate, _parts, _prepare, _series

    cal = trained.calibration
    assert cal["method"] == "nll" and 0.2 < cal["std_scale"] < 5 and 0.2 < cal["std_scale_s1_only"] < 5 and cal["n_std_scale"] > 20
    raw_cov, cov = trained.metrics["uncalibrated"], trained.metrics
    assert cov["nll"] <= raw_cov["nll"] + 0.05  # a factor fitted on other blocks of the same scene does not make the test NLL much worse
    # refitting gives the same factors, and scrambling the test blocks' NDVI does not change them
    cfg = fdl.TrainConfig(**FAST)
    uncal = dataclasses.replace(trained, calibration={})
    part, _ = _parts(small_cube, split_blocks(small_cube.sizes["y"], small_cube.sizes["x"], cfg))
    s = _series(small_cube)
    prep = _prepare(small_cube, s, part, trained.stats, trained.radius, 3.0, trained.inputs)
    again = _calibrate(uncal, [prep], cfg)
    assert again["std_scale"] == pytest.approx(cal["std_scale"], rel=1e-5)
    test = part == 2
    s["NDVI"][test] = np.where(np.isfinite(s["NDVI"][test]), 1.0 - s["NDVI"][test], np.nan)
    scrambled = _calibrate(uncal, [_prepare(small_cube, s, part, trained.stats, trained.radius, 3.0, trained.inputs)], cfg)
    assert scrambled["std_scale"] == again["std_scale"] and scrambled["std_scale_s1_only"] == again["std_scale_s1_only"]
    s["NDVI"][part == 1] += 0.2  # the validation blocks do drive it
    assert _calibrate(uncal, [_prepare(small_cube, s, part, trained.stats, trained.radius, 3.0, trained.inputs)], cfg)["std_scale"] > 1.2 * again["std_scale"]


def test_calibrate_sequence_refits_on_the_models_validation_blocks(trained: SequenceModel, small_cube: xr.Dataset) -> None:
    again = calibrate_sequence(trained, small_cube)  # the model's own config: the same blocks, the same factor
    assert again.calibration["std_scale"] == pytest.approx(trained.calibration["std_scale"], rel=1e-5)
    assert again.network is trained.network and trained.calibration["method"] == "nll"
    span = [str(small_cube.time.values[0])[:10], str(small_cube.time.values[-1])[:10]]
    assert trained.calibration["cubes"] == [span] and trained.std_fitted_on(span)
    later = small_cube.isel(time=slice(4, None))
    assert trained.std_fitted_on([str(later.time.values[0])[:10], span[1]]) is False
    assert calibrate_sequence(trained, later).calibration["cubes"] == [[str(later.time.values[0])[:10], span[1]]]
    q = calibrate_sequence(trained, small_cube, method="quantile")
    assert q.calibration["method"] == "quantile" and 0.2 < q.std_scale() < 5 and q.std_scale() != again.std_scale()
    with pytest.raises(ModelError, match="method"):
        calibrate_sequence(trained, small_cube, method="iso")
    with pytest.raises(ModelError, match="expected a SequenceModel"):
        calibrate_sequence(object(), small_cube)  # type: ignore[arg-type]


def test_training_windows_read_what_inference_reads(trained: SequenceModel, small_cube: xr.Dataset) -> None:
    """Every channel of a training window (spells hidden, gap channels included) equals the inference inputs of the same visible data."""
    from fusets_dl.inference.sequence import series_time_inputs
    from fusets_dl.models.sequence import ALL_CHANNELS, sequence_inputs
    from fusets_dl.training.sequence import _parts, _prepare, _series, _windows

    assert trained.inputs == ALL_CHANNELS  # the default of a new model
    cfg = fdl.TrainConfig(**{**FAST, "seq_s1_only_fraction": 0.25})  # enough S1-only windows among 24 to check both kinds
    part, _ = _parts(small_cube, split_blocks(small_cube.sizes["y"], small_cube.sizes["x"], cfg))
    s = _series(small_cube)
    r = trained.radius
    prep = _prepare(small_cube, s, part, trained.stats, r, 3.0, trained.inputs)
    length = cfg.seq_window + 2 * r  # shorter than the padded series: the gap channels must look beyond the window
    assert length < prep.x.shape[2]
    xs, _, _ = _windows([prep], 0, 24, length, r, cfg, np.random.default_rng(3))
    tchan, groups, days = series_time_inputs(small_cube)
    full = sequence_inputs(s["VV"], s["VH"], s["NDVI"], s.get("angle"), tchan, groups, trained.stats, inputs=trained.inputs, days=days)
    full = np.pad(full, ((0, 0), (0, 0), (r, r)))
    static = [ALL_CHANNELS.index(n) for n in ("vv_p", "vh_p", "vv_g", "vh_g", "sin_doy", "cos_doy", "dt", "s1_valid")]
    valid = ALL_CHANNELS.index("ndvi_valid")
    n_hidden = n_s1_only = 0
    for w in xs:
        # the window's pixel and start: the only ones whose NDVI-free channels match
        starts = [a for a in range(full.shape[2] - length + 1) if np.array_equal(full[0, static[4:7], a : a + length], w[static[4:7]])]
        hits = [(p, a) for a in starts for p in np.flatnonzero(part == 0) if np.array_equal(full[p, static, a : a + length], w[static])]
        assert len(hits) == 1
        p, a = hits[0]
        visible = s["NDVI"][p].copy()
        hidden_here = (full[p, valid, a : a + length] == 1) & (w[valid] == 0)
        n_hidden += int(hidden_here.sum())
        idx = np.arange(a, a + length) - r
        inside = (idx >= 0) & (idx < visible.size)
        visible[idx[inside & hidden_here]] = np.nan
        angle = s["angle"][p : p + 1] if "angle" in s else None
        # a spell window: the rest of the series stays visible; an S1-only window: no NDVI anywhere (neutral gap channels)
        cands = [visible] + ([np.full_like(visible, np.nan)] if not w[valid].any() else [])
        outs = [np.pad(sequence_inputs(s["VV"][p : p + 1], s["VH"][p : p + 1], v[None], angle, tchan, groups, trained.stats,
                                       inputs=trained.inputs, days=days), ((0, 0), (0, 0), (r, r)))[0, :, a : a + length] for v in cands]
        match = [np.allclose(w, o, rtol=1e-5, atol=1e-6) for o in outs]
        assert any(match), np.abs(w - outs[0]).max()
        n_s1_only += match == [False, True]
    assert n_hidden > 20  # spells were hidden, so the gap channels differ from the full series'
    assert n_s1_only >= 2  # S1-only windows (a share 0.25 of 24) whose gap channels differ from a spell window's


def test_calibrate_sequence_refuses_a_cube_it_cannot_fit_and_leaves_the_model(trained: SequenceModel, small_cube: xr.Dataset) -> None:
    from fusets_dl.errors import InsufficientDataError
    from fusets_dl.evaluation.splits import block_mask

    val = block_mask(small_cube.sizes["y"], small_cube.sizes["x"], trained.blocks["cubes"][0], "val")
    cloudy = small_cube.copy()
    cloudy["NDVI"] = small_cube["NDVI"].where(~xr.DataArray(val, dims=("y", "x")))  # no clear view in the validation blocks
    before = dict(trained.calibration)
    with pytest.raises(InsufficientDataError, match=r"std_scale cannot be fitted.*left unchanged"):
        calibrate_sequence(trained, cloudy)
    assert trained.calibration == before and trained.std_fitted_on(
        [str(cloudy.time.values[0])[:10], str(cloudy.time.values[-1])[:10]]) is True  # its own span, recorded at training


def test_spells_that_hide_every_clear_view_are_not_counted_as_gap_filling(trained: SequenceModel, small_cube: xr.Dataset) -> None:
    """A series shorter than the 3 x 60-day spells had every clear view hidden: calibrate_sequence fitted the
    gap-filling factor on S1-only predictions (std_scale came out equal to std_scale_s1_only) and applied it to pixels
    with clear views, without a word. Such spells are the S1-only mode: the gap factor cannot be fitted, and says why."""
    from fusets_dl.errors import InsufficientDataError
    from fusets_dl.training.sequence import _held_out, _parts, _prepare, _series

    short = small_cube.isel(time=slice(0, 10))
    span = (short.time.values[-1] - short.time.values[0]) / np.timedelta64(1, "D")
    assert span < 60
    with pytest.raises(InsufficientDataError, match=r"std_scale cannot be fitted.*series keeps a clear view outside the 60-day spells"):
        calibrate_sequence(trained, short)
    cfg = fdl.TrainConfig(**FAST)
    part, _ = _parts(small_cube, split_blocks(small_cube.sizes["y"], small_cube.sizes["x"], cfg))
    prep = _prepare(small_cube, _series(small_cube), part, trained.stats, trained.radius, 3.0, trained.inputs)
    v = _held_out(trained, [prep], 1, np.random.default_rng(0))
    assert v["y"].size > 20 and v["s1_y"].size > v["y"].size  # a year-long series keeps views outside its spells


def test_a_single_season_keeps_its_test_metrics_and_std_calibration() -> None:
    """A 144-day season: three 60-day spells hid every view, so (after spells hiding all views stopped counting) the
    model had no test metrics at all and its gap std stayed uncalibrated. Fewer spells now fit a short series."""
    from fusets_dl.synthetic import make_scene

    s1, s2, _ = make_scene(24, 20, "2021-04-01", "2021-08-23", seed=7)
    season = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2), outlier_filter=True).load()
    m = train_sequence(season, fdl.TrainConfig(**{**FAST, "max_epochs": 1}))
    assert {"test", "test_gaps", "test_s1_only", "coverage_1std"} <= set(m.metrics)
    assert 0.2 < m.calibration["std_scale"] < 5 and m.calibration["n_std_scale"] > 20


def test_a_bad_cube_is_named_before_its_block_split_is_drawn() -> None:
    """site_splits ran before the cube checks: a cube without NDVI was refused for its size, one without y raised KeyError."""
    from fusets_dl.errors import DimensionError, MissingVariableError
    from fusets_dl.synthetic import make_scene

    s1, s2, _ = make_scene(2, 2, "2021-01-01", "2021-06-30", seed=7)
    tiny = fdl.align(fdl.open_s1(s1), fdl.open_s2(s2)).load()
    cfg = fdl.TrainConfig(**{**FAST, "max_epochs": 1})
    with pytest.raises(MissingVariableError, match="missing \\['NDVI'\\]"):
        train_sequence(tiny.drop_vars("NDVI"), cfg)
    with pytest.raises(DimensionError, match="expected dims \\('time', 'y', 'x'\\)"):
        train_sequence(tiny.isel(y=0), cfg)


def test_per_date_options_are_named_as_ignored_by_the_sequence_model(small_cube: xr.Dataset) -> None:
    """A run's YAML for the MLP (hidden: [32, 16], loss, max_samples) switched to model: sequence trained the same
    weights without a word, and recorded those options as used."""
    import warnings

    from fusets_dl.training.config import mlp_only_changes

    cfg = fdl.TrainConfig(**{**FAST, "max_epochs": 1}, hidden=(32, 16), loss="mse", max_samples=5000)
    assert mlp_only_changes(cfg) == {"hidden": (32, 16), "loss": "mse", "max_samples": 5000}
    with pytest.warns(UserWarning, match=r"train_sequence: hidden=\(32, 16\), loss='mse', max_samples=5000 set the per-date "
                                         r"MLP's training and are ignored by the whole-series model"):
        train_sequence(small_cube, cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        assert mlp_only_changes(fdl.TrainConfig(**FAST)) == {}


def test_too_little_data_is_refused_with_the_counts(small_cube: xr.Dataset) -> None:
    from fusets_dl.errors import InsufficientDataError

    cfg = fdl.TrainConfig(**{**FAST, "max_epochs": 1})
    with pytest.raises(InsufficientDataError, match=r"at least 2 dates, found \[1\]"):
        train_sequence(small_cube.isel(time=[3]), cfg)
    sparse = small_cube.copy()
    keep = np.zeros(small_cube["NDVI"].shape, dtype=bool)
    keep[::9, ::5, ::4] = True  # a few clear values left everywhere
    sparse["NDVI"] = small_cube["NDVI"].where(keep)
    with pytest.raises(InsufficientDataError, match=r"expected at least \{'training': 200, 'validation': 10, 'test': 10\} clear NDVI values.*found \{'training': \d+"):
        train_sequence(sparse, cfg)


def test_a_short_series_warns_that_the_spells_cover_it(small_cube: xr.Dataset) -> None:
    short = small_cube.isel(time=slice(0, 20))  # under 120 days: a 60-day spell hides most of it
    days = (short.time.values[-1] - short.time.values[0]) / np.timedelta64(1, "D")
    assert days < 120
    with pytest.warns(UserWarning, match=f"spans {days:.0f} days"):
        train_sequence(short, fdl.TrainConfig(**{**FAST, "max_epochs": 1, "min_samples": 50}))


def test_an_ignored_feature_spec_is_warned(small_cube: xr.Dataset) -> None:
    cfg = fdl.TrainConfig(**{**FAST, "max_epochs": 1})
    with pytest.warns(UserWarning, match="feature spec\\s+given is not used|feature spec given is not used"):
        fdl.train(small_cube, fdl.FeatureSpec(lags=2), cfg)


def test_ndvi_times_10000_is_refused_before_training(small_cube: xr.Dataset) -> None:
    from fusets_dl.errors import EncodingError

    scaled = small_cube.assign(NDVI=small_cube["NDVI"] * 10000)
    with pytest.raises(EncodingError, match=r"train_sequence: NDVI: expected NDVI in \[-1, 1\].*x 10000"):
        train_sequence(scaled, fdl.TrainConfig(**FAST))
    with pytest.raises(EncodingError, match=r"train: site0: NDVI: expected NDVI in \[-1, 1\]|train: .*NDVI: expected NDVI"):
        fdl.train(scaled, fdl.FeatureSpec(), fdl.TrainConfig(max_epochs=1))


def test_init_by_path(trained: SequenceModel, small_cube: xr.Dataset, tmp_path) -> None:
    path = trained.save(tmp_path / "seq")
    m = fdl.train(small_cube, config=fdl.TrainConfig(**{**FAST, "max_epochs": 1}), init=str(path))
    assert m.info["init"] == trained.sha256


def test_fine_tuning_with_another_architecture_is_refused_field_by_field(trained: SequenceModel, small_cube: xr.Dataset) -> None:
    """Before: init's architecture was kept silently while model.config recorded the one asked for (the MLP path refuses)."""
    asked = fdl.TrainConfig(**{**FAST, "seq_channels": 64, "seq_dilations": (1, 2, 4, 8), "seq_inputs": ("vv_p", "vh_p", "ndvi", "ndvi_valid")})
    with pytest.raises(ModelError, match=r"seq_channels: expected 12 \(init's\), found 64; seq_dilations: expected \[1, 2, 4\] "
                                         r"\(init's\), found \[1, 2, 4, 8\]; seq_inputs: expected \[.*\] \(init's\), found "
                                         r"\['vv_p', 'vh_p', 'ndvi', 'ndvi_valid'\]"):
        fdl.train(small_cube, config=asked, init=trained)
    with pytest.raises(ModelError, match=r"seq_kernel: expected 3 \(init's\), found 5; seq_dropout: expected 0.1 \(init's\), found 0.3"):
        train_sequence(small_cube, fdl.TrainConfig(**{**FAST, "seq_kernel": 5, "seq_dropout": 0.3}), init=trained)


def test_fine_tuning_trains_with_the_dropout_of_init_and_config(trained: SequenceModel, small_cube: xr.Dataset) -> None:
    """Before: the rebuilt network had no dropout (SequenceNet's default 0) whatever seq_dropout said."""
    m = train_sequence(small_cube, fdl.TrainConfig(**{**FAST, "max_epochs": 1}), init=trained)
    assert [layer.drop.p for layer in m.network.layers] == [0.1] * 3 and m.architecture["dropout"] == 0.1


def test_an_init_saved_without_inputs_or_dropout_takes_the_configs() -> None:
    """A model saved before ``inputs`` and ``dropout`` were recorded: a config with seq_inputs None is not compared."""
    from types import SimpleNamespace

    from fusets_dl.models.sequence import CHANNELS
    from fusets_dl.training.sequence import _init_architecture

    old = SimpleNamespace(architecture={"type": "tcn", "channels": 12, "dilations": [1, 2, 4], "kernel": 3}, inputs=CHANNELS)
    arch = _init_architecture(old, fdl.TrainConfig(**{**FAST, "seq_dropout": 0.2}))  # type: ignore[arg-type]
    assert arch == {**old.architecture, "dropout": 0.2}
    with pytest.raises(ModelError, match=r"seq_inputs: expected \[.*'s1_valid'\] \(init's\), found \['vv_p', 'vh_p'\]"):
        _init_architecture(old, fdl.TrainConfig(**{**FAST, "seq_inputs": ("vv_p", "vh_p")}))  # type: ignore[arg-type]


def test_a_sequence_init_with_an_mlp_config_suggests_the_sequence_model(trained: SequenceModel, small_cube: xr.Dataset, monkeypatch) -> None:
    """Before: 'expected a FusionModel ... found SequenceModel' for config None too, though config defaults to init's."""
    with pytest.raises(ModelError, match=r"init is a sequence model \(SequenceModel\), but the configuration trains the per-date "
                                         r"model \(TrainConfig.model='mlp'\); fine-tune it with TrainConfig\(model=\"sequence\""):
        fdl.train(small_cube, config=fdl.TrainConfig(), init=trained)
    from fusets_dl.training import sequence

    seen = {}
    monkeypatch.setattr(sequence, "train_sequence", lambda cubes, config, split=None, init=None: seen.update(config=config))
    fdl.train(small_cube, init=trained)  # config left out: the one init was trained with
    assert seen["config"] == fdl.TrainConfig.from_dict(trained.config)


def test_sequence_splits_and_sites_are_checked_before_training(small_cube: xr.Dataset) -> None:
    """Before: a split of another scene trained on the wrong blocks; a too-small site was not named."""
    from fusets_dl.errors import InsufficientDataError

    cfg = fdl.TrainConfig(**FAST)
    with pytest.raises(ConfigError, match=r"train_sequence: split: grid: expected \[3, 3\] \(a 24 x 20 scene in blocks of 8 px\), found \[8, 8\]"):
        fdl.train(small_cube, config=cfg, split=split_blocks(64, 64, cfg))
    tiny = small_cube.isel(y=[0], x=[0, 1]).assign_attrs(site="tiny")
    with pytest.raises(InsufficientDataError, match=r"train_sequence: site 'tiny' \(position 1\): .*no block_size can split fewer than 3"):
        train_sequence([small_cube, tiny], cfg)
    with pytest.raises(ConfigError, match=r"train_sequence: cube: expected a list of fusion cubes .*found NoneType at position 0"):
        train_sequence([None], cfg)  # type: ignore[list-item]


def test_the_held_out_spells_hide_an_s2_view_at_every_date_it_is_paired_to(small_cube: xr.Dataset) -> None:
    """The test metrics' and std calibration's spells hid S1 dates: a view paired to two dates stayed readable at the one
    just outside a spell. With a pairing cube's NDVI_offset they hide the view at both; without it, as before."""
    from fusets_dl.training.sequence import _hidden_spells, _series

    days = np.arange(0.0, 360.0, 3.0)
    view = 6.0 * (np.arange(days.size) // 2) + 1.5  # each S2 view paired to two S1 dates, 1.5 days either side
    offset = np.broadcast_to(view - days, (4, days.size)).copy()
    ndvi = np.full((4, days.size), 0.5, np.float32)
    plain = _hidden_spells(days, ndvi, np.random.default_rng(0))
    paired = _hidden_spells(days, ndvi, np.random.default_rng(0), offset=offset)
    assert plain.sum(1).tolist() == paired.sum(1).tolist() == [40, 40, 40, 40]
    assert int((plain[:, ::2] != plain[:, 1::2]).sum()) == 6  # before: 6 views hidden at one date, readable at the other
    assert int((paired[:, ::2] != paired[:, 1::2]).sum()) == 0
    np.testing.assert_array_equal(_hidden_spells(days, ndvi, np.random.default_rng(0), offset=np.zeros_like(offset)), plain)
    s = _series(small_cube)  # the offset travels with the series of a pairing cube, pixel-major as NDVI
    assert s["NDVI_offset"].shape == s["NDVI"].shape == (24 * 20, 60)
    np.testing.assert_array_equal(s["NDVI_offset"][7], small_cube["NDVI_offset"].values[:, 0, 7])


def test_training_spells_hide_an_s2_view_at_every_date_it_is_paired_to() -> None:
    """Training spells hid S1 dates: a view paired to two dates stayed readable beside its hidden twin, a pattern no
    real cloud makes (the held-out spells already hid views). Now a view is hidden at both of its dates, or at neither."""
    from fusets_dl.models.sequence import CHANNELS
    from fusets_dl.training.sequence import _Cube, _windows

    days = np.arange(0.0, 360.0, 3.0)
    views = np.arange(days.size) // 2  # each S2 view paired to two S1 dates, 1.5 days either side of it
    offset = np.broadcast_to(6.0 * views + 1.5 - days, (8, days.size)).copy()
    y = np.broadcast_to(views.astype(np.float32), (8, days.size)).copy()  # the view's number: equal at its two dates
    x = np.zeros((8, len(CHANNELS), days.size), dtype=np.float32)
    cube = _Cube(x=x, y=y, days=days, part=np.zeros(8, np.int8), raw={"NDVI_offset": offset}, tchan=np.zeros(0), groups=np.zeros(0),
                 inputs=CHANNELS, stats={})
    cfg = fdl.TrainConfig(**{**FAST, "seq_s1_only_fraction": 0.0, "seq_spells": 3, "seq_spell_days": 60.0})
    _, ys, hidden = _windows([cube], 0, 200, 40, 0, cfg, np.random.default_rng(1))
    split = 0
    for v, h in zip(ys, hidden, strict=True):
        same = v[1:] == v[:-1]  # the two dates of one view side by side in the window
        split += int((h[1:] != h[:-1])[same].sum())
    assert hidden.sum() > 500 and split == 0
    no_offset = dataclasses.replace(cube, raw={})  # a composite cube: a value's view is its own date, as before
    _, ys, hidden = _windows([no_offset], 0, 200, 40, 0, cfg, np.random.default_rng(1))
    assert sum(int((h[1:] != h[:-1])[v[1:] == v[:-1]].sum()) for v, h in zip(ys, hidden, strict=True)) > 0
