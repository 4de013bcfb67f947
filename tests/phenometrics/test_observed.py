"""How much of each season was observed: ``phenology(observed=...)`` and the reconstruction's ``source``."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, DimensionError
from fusets_dl.phenometrics.observed import OBSERVATION_VARS
from fusets_dl.testing import raise_if_dask_computes
from tests.paths import REPO

T5 = pd.date_range("2020-01-01", "2021-12-31", freq="5D")
SOURCE_ATTRS = {"flag_values": [0, 1, 2, 3], "flag_meanings": "observed predicted interpolated missing"}


def _cube(every: dict[int, int | None]):
    """One clean season a year (peak day 180) on 1 x len(every) pixels; pixel i observed every ``every[i]``-th date."""
    d = ((T5 - T5[0]) / pd.Timedelta(days=1)).to_numpy()
    y = 0.2 + 0.6 * np.exp(-0.5 * ((d % 365 - 180) / 30.0) ** 2)
    n = len(every)
    ndvi = xr.DataArray(np.tile(y[:, None, None], (1, 1, n)), dims=("time", "y", "x"),
                        coords={"time": T5, "y": [0.0], "x": np.arange(n, dtype=float)})
    obs = np.zeros(ndvi.shape, dtype=bool)
    for i, k in every.items():
        if k:
            obs[::k, 0, i] = True
    return ndvi, xr.DataArray(obs, dims=ndvi.dims, coords=ndvi.coords)


def _source(obs: xr.DataArray) -> xr.DataArray:
    return xr.where(obs, 0, 1).astype(np.uint8).assign_attrs(SOURCE_ATTRS)


def test_fraction_and_longest_gap_against_hand_counts():
    ndvi, obs = _cube({0: 1, 1: 3, 2: None})
    with pytest.warns(UserWarning, match=r"2 of 6 seasons hold no observation"):
        ph = fdl.phenology(ndvi, max_seasons=3, observed=obs)
    frac, gap = ph["observed_fraction"].isel(y=0), ph["longest_gap"].isel(y=0)
    for s in range(2):  # both years' seasons
        sos, eos = (ph[v].isel(y=0, season=s).values for v in ("sos", "eos"))
        inside = (T5.values >= sos[:, None]) & (T5.values <= eos[:, None])
        n_in = inside.sum(axis=1)
        np.testing.assert_allclose(frac.isel(season=s).values,
                                   [1.0, (inside[1] & obs.values[:, 0, 1]).sum() / n_in[1], 0.0], rtol=1e-6)
        # every date: the longest stretch is the 5-day spacing; every third: 15 days; none: the whole season
        assert gap.isel(season=s, x=0).item() == pytest.approx(5.0, abs=1e-4)
        assert gap.isel(season=s, x=1).item() == pytest.approx(15.0, abs=1e-4)
        assert gap.isel(season=s, x=2).item() == pytest.approx(ph["los"].isel(y=0, season=s, x=2).item(), abs=1e-3)
    assert np.isnan(frac.isel(season=2)).all() and np.isnan(gap.isel(season=2)).all()  # no third season
    assert ph["observed_fraction"].attrs["units"] == "1" and ph["longest_gap"].attrs["units"] == "days"


def test_a_gap_before_the_first_observation_counts_from_sos():
    ndvi, obs = _cube({0: 1})
    ph0 = fdl.phenology(ndvi, max_seasons=2)
    sos = pd.Timestamp(ph0["sos"].isel(season=0, y=0, x=0).values)
    pos = pd.Timestamp(ph0["pos"].isel(season=0, y=0, x=0).values)
    hidden = obs.copy()
    hidden[(T5 >= sos - pd.Timedelta(days=10)) & (T5 <= pos)] = False  # a cloud spell from before SOS to the peak
    ph = fdl.phenology(ndvi, max_seasons=2, observed=hidden)
    first_seen = T5[(T5 > pos)][0]
    want = (first_seen - sos) / pd.Timedelta(days=1)
    assert ph["longest_gap"].isel(season=0, y=0, x=0).item() == pytest.approx(want, abs=1e-3)
    assert ph["longest_gap"].isel(season=1, y=0, x=0).item() == pytest.approx(5.0, abs=1e-4)


def test_the_dataset_accessor_reads_a_reconstructions_source():
    ndvi, obs = _cube({0: 1, 1: None})
    ds = xr.Dataset({"NDVI": ndvi, "source": _source(obs)})
    with pytest.warns(UserWarning, match="observed_fraction 0"):
        ph = ds.fusion.phenology(max_seasons=2)
    np.testing.assert_array_equal(ph["observed_fraction"].isel(y=0).values, [[1.0, 0.0], [1.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        off = ds.fusion.phenology(max_seasons=2, observed=False)
    assert not set(OBSERVATION_VARS) & set(off.data_vars)
    xr.testing.assert_identical(off, ph.drop_vars(list(OBSERVATION_VARS)))  # the seasons themselves are unchanged
    assert not set(OBSERVATION_VARS) & set(ndvi.fusion.phenology(max_seasons=2).data_vars)


def test_lazy_and_chunked_equal_to_unchunked():
    ndvi, obs = _cube({0: 1, 1: 2, 2: 3, 3: None})
    with pytest.warns(UserWarning):
        want = fdl.phenology(ndvi, max_seasons=2, observed=_source(obs), by_year=True)
    with raise_if_dask_computes():
        got = fdl.phenology(ndvi.chunk({"x": 2, "time": 40}), max_seasons=2, observed=_source(obs).chunk({"x": 1}), by_year=True)
    assert got["observed_fraction"].dims == ("year", "season", "y", "x")
    xr.testing.assert_identical(got.compute(), want)


def test_labels_in_another_order_are_matched():
    ndvi, obs = _cube({0: 1, 1: None})
    flipped = obs.isel(x=slice(None, None, -1)).transpose("x", "time", "y")
    with pytest.warns(UserWarning):
        ph = fdl.phenology(ndvi, max_seasons=2, observed=flipped)
    np.testing.assert_array_equal(ph["observed_fraction"].isel(y=0, season=0).values, [1.0, 0.0])


def test_bad_observed_is_refused_with_what_was_expected():
    ndvi, obs = _cube({0: 1})
    with pytest.raises(ConfigError, match=r"boolean mask .* flag_meanings"):
        fdl.phenology(ndvi, observed=obs.astype(np.int8))  # 0/1 without flags: mask or source?
    with pytest.raises(ConfigError, match="found ndarray"):
        fdl.phenology(ndvi, observed=obs.values)
    with pytest.raises(DimensionError, match="expected observed on"):
        fdl.phenology(ndvi, observed=obs.isel(y=0))
    with pytest.raises(DimensionError, match="labels that differ"):
        fdl.phenology(ndvi, observed=obs.assign_coords(x=[5.0]))


def test_a_zarr_decoded_source_with_nan_fill_is_read():
    ndvi, obs = _cube({0: 2})
    src = _source(obs).astype(np.float32)
    src[:3] = np.nan  # a fill value decoded as NaN: not an observation
    ph = fdl.phenology(ndvi, max_seasons=2, observed=src)
    assert 0.4 < ph["observed_fraction"].isel(y=0, x=0, season=0).item() < 0.6


def test_water_of_the_bundled_sample_is_flagged_as_predicted_wholly():
    """The sample's water is never clear (SCL 6): its reconstruction is S1 alone, and gets crop-like seasons."""
    sample = REPO / "data" / "sample"
    crop = {"y": slice(48, 64), "x": slice(40, 56)}
    cube = fdl.align(fdl.open_s1(sample / "s1.nc").isel(crop), fdl.open_s2(sample / "s2.nc").isel(crop), tolerance="3D")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the pretrained model on a foreign cube: its own warning, tested elsewhere
        rec = cube.fusion.reconstruct(fdl.load_model("pretrained"), freq="5D").compute()
    with pytest.warns(UserWarning, match="hold no observation"):
        ph = rec.fusion.phenology(max_seasons=9)
    water = xr.open_dataset(sample / "truth.nc")["crop"].isel(crop).values == 5
    frac = ph["observed_fraction"].values
    assert water.sum() > 50 and np.isfinite(frac[:, water]).sum() > 50  # the fault: water gets seasons
    assert (frac[:, water][np.isfinite(frac[:, water])] == 0).all()
    land = frac[:, ~water]
    assert (land[np.isfinite(land)] > 0).all() and np.isfinite(land).sum() > 300


def test_a_mask_without_coordinates_takes_the_ndvis_dates_and_a_short_one_is_refused():
    """A mask built from values (dims only) read its time as 0..n-1 ns: every season's gap was 18,478 days or NaN."""
    ndvi, obs = _cube({0: 1})
    bare = xr.DataArray(obs.values, dims=obs.dims)
    np.testing.assert_allclose(fdl.phenology(ndvi, max_seasons=2, observed=bare)["longest_gap"].isel(y=0, x=0).values, [5.0, 5.0], atol=1e-4)
    with pytest.raises(DimensionError, match=r"expected observed of the NDVI's sizes, found time 127 \(NDVI 147\)"):
        fdl.phenology(ndvi, observed=xr.DataArray(obs.values[:-20], dims=obs.dims))


def test_an_extrapolated_side_is_read_from_the_series_edge(monkeypatch):
    """With extrapolate, SOS before the first date counted the days before the series as unobserved (23 days for 5)."""
    from fusets_dl.phenometrics import observed as module

    ndvi, obs = _cube({0: 1})
    cut = ndvi.sel(time=slice("2020-06-05", None))  # the first season's green-up cut by the series start
    ph = fdl.phenology(cut, max_seasons=2, observed=obs.sel(time=cut.time), extrapolate=True)
    assert ph["sos_extrapolated"].isel(season=0, y=0, x=0).item() == 1
    assert ph["sos"].isel(season=0, y=0, x=0).values < cut.time.values[0]
    np.testing.assert_allclose(ph["longest_gap"].isel(y=0, x=0).values, [5.0, 5.0], atol=1e-4)
    monkeypatch.setattr(module, "BATCH", 1)  # seasons taken one at a time: the same numbers
    xr.testing.assert_identical(fdl.phenology(cut, max_seasons=2, observed=obs.sel(time=cut.time), extrapolate=True), ph)


def test_a_source_that_is_not_reconstructs_flags_is_left_with_a_warning():
    ndvi, obs = _cube({0: 1})
    ds = xr.Dataset({"NDVI": ndvi, "source": xr.where(obs, 0, 1).astype(np.uint8)})  # flag attributes dropped by a merge
    with pytest.warns(UserWarning, match=r"'source' .* is not reconstruct's flags .* pass observed="):
        ph = ds.fusion.phenology(max_seasons=2)
    assert "observed_fraction" not in ph and ph["n_seasons"].item() == 2
    with pytest.raises(ConfigError, match="observed=False"):
        fdl.phenology(ndvi, observed=ds["source"])


def test_the_no_view_warning_names_long_gaps_under_snow_and_water():
    """Grassland friction 4: on point tables (no water, no SCL) the seasons seen nowhere come from S1-only fill across
    the winter months the snow test emptied; the warning spoke of S1 over water only."""
    ndvi, obs = _cube({0: 1, 1: None})  # pixel 1 never seen: both of its 2 seasons
    with pytest.warns(UserWarning) as seen:
        fdl.phenology(ndvi, max_seasons=2, observed=obs)
    texts = [str(w.message) for w in seen if "hold no observation" in str(w.message)]
    assert len(texts) == 1 and texts[0].startswith("phenology: 2 of 4 seasons hold no observation from SOS to EOS")
    assert "a long gap without one (winter months under snow, whose views the snow test or the scene classification removed" in texts[0]
    assert "over water, which the scene classification (SCL) does not count clear" in texts[0]
    assert texts[0].endswith("mask them per variable, e.g. ph['sos'].where(ph['observed_fraction'] > 0)")
