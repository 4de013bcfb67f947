"""Leave-one-site-out scoring on small synthetic sites."""

from __future__ import annotations

import numpy as np
import pytest

from fusets_dl.errors import ConfigError
from fusets_dl.evaluation.cross_site import leave_one_site_out, score_sites
from fusets_dl.training.config import TrainConfig

CFG = TrainConfig(max_epochs=4, block_size=4, hidden=(32, 16), max_samples=5000, num_threads=1, seed=0)


def _site(ny, nx, start, end, seed, name, **kw):
    from fusets_dl.alignment import align
    from fusets_dl.readers import open_s1, open_s2
    from fusets_dl.synthetic import make_scene

    s1, s2, _ = make_scene(ny, nx, start, end, seed=seed, **kw)
    cube = align(open_s1(s1), open_s2(s2), outlier_filter=True).load()
    cube.attrs["site"] = name
    return cube


@pytest.fixture(scope="module")
def three_sites():
    return [
        _site(16, 16, "2021-01-01", "2021-12-31", 7, "rice"),
        _site(16, 12, "2020-03-01", "2021-02-28", 3, "maize", s1_orbits=(12,), proportions={"maize": 0.6, "grassland": 0.4}),
        _site(12, 16, "2021-01-01", "2021-12-31", 5, "green", proportions={"grassland": 0.6, "forest": 0.4}, cloud_cover=0.6),
    ]


def test_leave_one_site_out_table(three_sites):
    table, models = leave_one_site_out(three_sites, config=CFG, max_pixels=60, return_models=True)
    assert list(table["site"]) == ["rice", "maize", "green"]
    assert list(table["trained_on"]) == ["maize+green", "rice+green", "rice+maize"]
    for col in ("pred_r2", "pred_rmse", "pred_mae", "pred_bias", "gap_rmse_fusion", "gap_rmse_s1", "gap_rmse_linear", "gap_ratio"):
        assert np.isfinite(table[col]).all(), col
    assert not table["in_training"].any()
    assert (table["pred_rmse"] > 0).all() and (table["pred_rmse"] < 0.5).all()
    assert (table["pred_mae"] <= table["pred_rmse"]).all()
    assert (table["pred_r2"] <= 1).all()
    np.testing.assert_allclose(table["gap_ratio"], table["gap_rmse_fusion"] / table["gap_rmse_linear"])
    assert ((table["gap_within1_fusion"] > 0) & (table["gap_within1_fusion"] <= table["gap_within2_fusion"]) & (table["gap_within2_fusion"] <= 1)).all()
    assert (table["gap_spells"] == 3).all() and (table["gap_n"] > 0).all()
    # the prediction is scored on every clear observation of the left-out site
    for k, cube in enumerate(three_sites):
        assert table["pred_n"][k] <= int(cube["NDVI"].notnull().sum())
        assert table["pred_n"][k] > 0.9 * int(cube["NDVI"].notnull().sum())
    # each model was trained on the other sites only
    assert set(models["rice"].metrics["sites"]) == {"maize", "green"}


def test_score_sites_flags_training_sites(three_sites):
    table, models = leave_one_site_out(three_sites[:2], config=CFG, max_pixels=40, return_models=True)
    scores = score_sites(models["rice"], three_sites[:2], max_pixels=40, trained_on=["maize"])
    assert list(scores["in_training"]) == [False, True]
    # the same model on the same site gives the leave-out row's numbers
    assert scores["pred_r2"][0] == pytest.approx(table["pred_r2"][0])
    assert scores["gap_rmse_fusion"][0] == pytest.approx(table["gap_rmse_fusion"][0])


def test_short_series_has_no_gap_score(three_sites):
    _table, models = leave_one_site_out(three_sites[:2], config=CFG, max_pixels=40, return_models=True, sites=["rice"])
    short = three_sites[0].sel(time=slice("2021-03-01", "2021-04-15"))
    row = score_sites(models["rice"], [short], names=["short"], gap_days=60)
    assert row["gap_spells"][0] == 0 and np.isnan(row["gap_ratio"][0]) and np.isfinite(row["pred_r2"][0])


def test_needs_two_sites_and_known_names(three_sites):
    with pytest.raises(ConfigError, match="at least 2 sites"):
        leave_one_site_out(three_sites[:1], config=CFG)
    with pytest.raises(ConfigError, match="not among"):
        leave_one_site_out(three_sites, config=CFG, sites=["mars"])


def test_score_sites_calibrated_scores_the_other_half(three_sites):
    _table, models = leave_one_site_out(three_sites[:2], config=CFG, max_pixels=40, return_models=True, sites=["rice"])
    plain = score_sites(models["rice"], [three_sites[0]], names=["rice"], max_pixels=None)
    cal = score_sites(models["rice"], [three_sites[0]], names=["rice"], max_pixels=None, calibrated=True, block_size=4)
    assert "gap_rmse_calibrated" not in plain.columns
    for col in ("gap_rmse_calibrated", "gap_ratio_calibrated", "gap_rmse_fusion", "gap_rmse_linear"):
        assert np.isfinite(cal[col][0]), col
    np.testing.assert_allclose(cal["gap_ratio_calibrated"], cal["gap_rmse_calibrated"] / cal["gap_rmse_linear"])
    # half of the 16 blocks calibrate, the other half is scored: fewer hidden values than with every pixel scored
    assert 0.3 * plain["gap_n"][0] < cal["gap_n"][0] < 0.7 * plain["gap_n"][0]
    # the prediction score does not depend on the split
    assert cal["pred_r2"][0] == pytest.approx(plain["pred_r2"][0])


def test_a_sequence_model_is_scored_on_what_it_does_not_read(three_sites):
    """Its prediction score is its S1-only mode (it reads the clear NDVI), not a prediction that saw the values scored."""
    import warnings

    from fusets_dl.evaluation.metrics import regression_metrics
    from fusets_dl.inference.sequence import predict_sequence
    from fusets_dl.training.sequence import train_sequence

    cfg = TrainConfig(model="sequence", seq_channels=8, seq_dilations=(1, 2, 4), seq_window=16, seq_windows_per_epoch=128,
                      max_epochs=2, patience=2, block_size=4, num_threads=1, seed=0)
    seq = train_sequence(three_sites[0], cfg)
    other = three_sites[2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a cube its std was not fitted on
        row = score_sites(seq, [other], max_pixels=40)
    obs = other["NDVI"].values
    s1 = predict_sequence(other, seq, s1_only=True)["NDVI_pred"].values
    seen = predict_sequence(other, seq)["NDVI_pred"].values  # reads the very values it is scored on
    ok = np.isfinite(obs) & np.isfinite(s1)
    assert row["pred_r2"][0] == pytest.approx(regression_metrics(obs[ok], s1[ok])["r2"])
    assert row["pred_r2"][0] != pytest.approx(regression_metrics(obs[ok], seen[ok])["r2"])
    # the gap-filling row "S1 prediction alone" is the S1-only mode too, not the reconstruction's NDVI-aware mean
    assert np.isfinite(row["gap_rmse_s1"][0]) and row["gap_rmse_s1"][0] != pytest.approx(row["gap_rmse_fusion"][0])


# --- hostile inputs (no training: the checks come first) ----------------------------------------------------


def _tiny_sites():
    from tests.reconstruction.test_calibrate import _model, _rice_cube

    a, _, _ = _rice_cube(ny=4, nx=4, seed=1)
    b, _, _ = _rice_cube(ny=4, nx=4, seed=2)
    return _model(), a.assign_attrs(site="a"), b.assign_attrs(site="b")


def test_site_names_must_be_unique_and_lists():
    """Two sites named alike gave two rows of one name (and one model for both in leave_one_site_out)."""
    m, a, b = _tiny_sites()
    with pytest.raises(ConfigError, match=r"score_sites: expected one name per site, found \['x'\] more than once"):
        score_sites(m, [a, b], names=["x", "x"])
    with pytest.raises(ConfigError, match=r"leave_one_site_out: expected one name per site, found \['x'\]"):
        leave_one_site_out([a, b], config=CFG, names=["x", "x"])
    with pytest.raises(ConfigError, match=r"names: expected a list of site names, found the string 'ab'"):
        score_sites(m, [a, b], names="ab")
    with pytest.raises(ConfigError, match=r"sites: expected a list of site names, found the string 'a'"):
        leave_one_site_out([a, b], config=CFG, sites="a")
    with pytest.raises(ConfigError, match=r"sites: expected at least one of \['a', 'b'\] to leave out, found none"):
        leave_one_site_out([a, b], config=CFG, sites=[])  # ValueError "No objects to concatenate" after training, before
    with pytest.raises(ConfigError, match="expected one name per cube"):
        leave_one_site_out([a, b], config=CFG, names=["a"])


def test_site_lists_and_spell_options_out_of_range_are_config_errors():
    m, a, _b = _tiny_sites()
    with pytest.raises(ConfigError, match="score_sites: expected at least 1 site, found 0"):
        score_sites(m, [])  # an empty table without columns, before
    with pytest.raises(ConfigError, match=r"found a single Dataset; pass \[cube\]"):
        score_sites(m, a)
    for kw, msg in (({"gap_days": 0}, "gap_days > 0 and a whole n_gaps >= 1, found 0, 3"),  # ZeroDivisionError
                    ({"gap_days": float("nan")}, "found nan, 3"),  # ValueError: cannot convert NaN
                    ({"gap_days": -5}, "found -5, 3"), ({"n_gaps": 0}, "found 60.0, 0"),  # no gap score, silently
                    ({"max_pixels": 0}, "max_pixels: expected a whole number >= 1 or None"),
                    ({"seed": "x"}, "a whole seed and a whole block_size >= 1, found 'x', 8")):
        with pytest.raises(ConfigError, match=msg):
            score_sites(m, [a], **kw)
        with pytest.raises(ConfigError, match=msg):
            leave_one_site_out([a, _b], config=CFG, **kw)


def test_a_site_without_clear_data_is_scored_nan_with_a_warning():
    m, a, _b = _tiny_sites()
    cloudy = a.copy()
    cloudy["NDVI"] = a["NDVI"] * np.nan
    with pytest.warns(UserWarning, match="site 'cloudy' has no clear NDVI observation"):
        row = score_sites(m, [cloudy], names=["cloudy"], max_pixels=10)
    assert row["pred_n"][0] == 0 and row["gap_n"][0] == 0 and np.isnan(row["gap_rmse_fusion"][0])


# --- sequence models: score_sites scores what reconstruct gives the user ------------------------------------

SEQ = TrainConfig(model="sequence", seq_channels=8, seq_dilations=(1, 2, 4), seq_window=16, seq_windows_per_epoch=128,
                  max_epochs=1, block_size=8, num_threads=1, seed=0)


def test_score_sites_scores_a_sequence_model_as_reconstruct_fills_a_site_sharing_a_training_cubes_dates():
    """A site never seen, on the dates of a training cube: reconstruct measures the model's skill there (below 0: the clear
    views interpolated); score_sites scored a copy without the training cubes, taken for the training cube itself (the model's
    fill, gap_ratio 1.53 in the hunt instead of 1.0)."""
    import warnings

    import fusets_dl as fdl
    from fusets_dl.training.sequence import train_sequence

    a = _site(24, 20, "2021-01-01", "2021-12-31", 7, "A")
    d = _site(16, 24, "2021-01-01", "2021-12-31", 11, "D")
    e = _site(20, 20, "2021-01-01", "2021-12-31", 5, "E").assign_coords(time=a["time"].values)  # A's dates, another place
    model = train_sequence([a, d], SEQ)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a cube the model was not trained on: said, and expected here
        user = fdl.reconstruct(e, model)
        row = score_sites(model, [e], names=["E"], max_pixels=None)
    assert "S2 only" in user.attrs["calibration_source"]  # this model has no skill on E: the clear views alone fill
    # the scored fusion row is that same fill: linear interpolation of the clear views left
    assert row["gap_rmse_fusion"][0] == pytest.approx(row["gap_rmse_linear"][0], rel=1e-6)
    assert row["gap_ratio"][0] == pytest.approx(1.0, abs=1e-6)


def test_score_sites_scores_a_sequence_model_trained_without_an_angle_as_it_predicts():
    """A model trained without incidence_angle ignores a site's angle (predict_ndvi, pred_*); its gap scores read it before."""
    import warnings

    from fusets_dl.training.sequence import train_sequence

    model = train_sequence(_site(24, 20, "2021-01-01", "2021-12-31", 7, "A").drop_vars("incidence_angle"), SEQ)
    site = _site(24, 24, "2020-03-01", "2021-02-28", 3, "B")
    assert "incidence_angle" in site
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table = score_sites(model, [site, site.drop_vars("incidence_angle")], names=["with_angle", "without_angle"], max_pixels=60)
    for col in ("pred_rmse", "gap_rmse_s1", "gap_rmse_fusion", "gap_rmse_linear", "gap_within1_fusion"):
        assert table[col][0] == pytest.approx(table[col][1], rel=1e-6, nan_ok=True), col
    assert np.isfinite(table["gap_rmse_s1"][0])


def test_calibrated_scores_of_a_sequence_model_are_nan_with_one_warning_that_says_why():
    """reconstruct has no calibrated setting for a sequence model: the calibrated columns repeated the fusion row, under a
    warning blaming options ("weights, calibration ... ignored") the caller never passed."""
    import warnings

    from fusets_dl.training.sequence import train_sequence

    model = train_sequence(_site(24, 20, "2021-01-01", "2021-12-31", 7, "A"), SEQ)
    sites = [_site(24, 24, "2020-03-01", "2021-02-28", 3, "B"), _site(16, 16, "2020-03-01", "2021-02-28", 4, "C")]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        table = score_sites(model, sites, max_pixels=60, calibrated=True, block_size=4)
    messages = [str(w.message) for w in seen]
    about = [m for m in messages if "calibrated=True" in m]
    assert len(about) == 1, messages  # one warning, not one per site
    assert "gap_rmse_calibrated and gap_ratio_calibrated are NaN for a sequence model" in about[0]
    assert "a sequence model has no calibrated reconstruction" in about[0]
    assert not [m for m in messages if "weights, calibration" in m or "ignored" in m], messages
    assert table["gap_rmse_calibrated"].isna().all() and table["gap_ratio_calibrated"].isna().all()
    assert np.isfinite(table["gap_rmse_fusion"]).all() and np.isfinite(table["gap_ratio"]).all()
    # leave_one_site_out says it once too, not once per left-out site
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        loso = leave_one_site_out(sites, config=SEQ, max_pixels=30, calibrated=True, block_size=4)
    assert len([w for w in seen if "calibrated=True" in str(w.message)]) == 1
    assert loso["gap_rmse_calibrated"].isna().all() and np.isfinite(loso["gap_rmse_fusion"]).all()


def test_a_site_the_model_records_as_its_own_is_flagged_in_training(three_sites):
    """A model scored on one of its training sites without trained_on: the row said in_training False (its scores are fit,
    not transfer). The names the model records (several sites' splits, its scene's site) flag it, with a warning."""
    from fusets_dl import train

    rice, maize, green = three_sites
    m = train([rice, maize], None, CFG)
    with pytest.warns(UserWarning, match=r"score_sites: site 'rice' is one of the sites the model was trained on .*'maize', 'rice'"):
        table = score_sites(m, [rice, green], max_pixels=30)
    assert table["in_training"].tolist() == [True, False]
    again = score_sites(m, [rice], names=["rice"], trained_on=["rice"], max_pixels=30)  # told: no warning needed
    assert again["in_training"].tolist() == [True]
