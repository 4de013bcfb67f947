"""Figures: produced from a small scene, with the expected axes, labels and values."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.evaluation.plots import _doy, example_pixels, plot_evaluation, plot_maps, plot_pixel


@pytest.fixture(scope="module")
def fitted(small_cube: xr.Dataset):
    model = fdl.train(small_cube, config=fdl.TrainConfig(max_epochs=3, min_samples=50))
    rec = fdl.reconstruct(small_cube, model)
    ph = fdl.phenology(rec["NDVI"], max_seasons=2)
    return model, rec, ph


def test_evaluation_figure(fitted, small_cube: xr.Dataset) -> None:
    model, _rec, _ph = fitted
    pred = fdl.predict_ndvi(small_cube, model).values
    fig = plot_evaluation(small_cube["NDVI"].values, pred, model.history, title="t")
    titles = [ax.get_title() for ax in fig.axes]
    for t in ("predicted vs observed", "residual histogram", "residuals vs observed", "R2 by NDVI range", "distributions", "training history"):
        assert t in titles
    scatter = fig.axes[titles.index("predicted vs observed")]
    assert scatter.get_xlabel() == "observed NDVI" and scatter.get_ylabel() == "predicted NDVI"
    text = scatter.texts[0].get_text()
    r2 = fdl.evaluation.regression_metrics(small_cube["NDVI"].values, pred)["r2"]
    assert f"R2 {r2:.3f}" in text
    hist = fig.axes[titles.index("training history")]
    assert len(hist.lines[0].get_xdata()) == len(model.history)
    assert plot_evaluation([0.1, 0.2, 0.5], [0.1, 0.25, 0.4]).axes[5].axison is False  # no history: panel off


def test_pixel_figure(fitted, small_cube: xr.Dataset) -> None:
    _model, rec, ph = fitted
    mog = rec["NDVI"] * 0 + 0.5
    fig = plot_pixel(small_cube, 3, 4, reconstruction=rec, phenology=ph, baselines={"MOGPR": mog})
    ax = fig.axes[0]
    assert ax.get_ylabel() == "NDVI" and fig.axes[1].get_ylabel() == "backscatter (dB)"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    for want in ("reconstruction", "reconstruction ±1 std", "MOGPR", "clear S2 NDVI", "S1 VV", "S1 VH"):
        assert want in labels
    obs = small_cube["NDVI"].isel(y=3, x=4).values
    dots = next(line for line in ax.lines if line.get_label() == "clear S2 NDVI")
    np.testing.assert_allclose(dots.get_ydata(), obs[np.isfinite(obs)])
    if np.isfinite(_doy(ph["pos"].isel(y=3, x=4).values)).any():
        assert "POS" in labels


def test_maps_figure_values(fitted, small_cube: xr.Dataset) -> None:
    _model, rec, ph = fitted
    fig = plot_maps(ph, rec, small_cube, max_seasons=1)
    titles = [ax.get_title() for ax in fig.axes]
    for t in ("SOS day of year, season 1", "POS day of year, season 1", "EOS day of year, season 1", "number of seasons",
              "mean reconstruction std", "fraction of dates observed (clear S2)"):
        assert t in titles
    pos = fig.axes[titles.index("POS day of year, season 1")].images[0].get_array()
    np.testing.assert_allclose(np.ma.filled(pos, np.nan), _doy(ph["pos"].isel(season=0).values), equal_nan=True)
    frac = fig.axes[titles.index("fraction of dates observed (clear S2)")].images[0].get_array()
    np.testing.assert_allclose(frac, small_cube["NDVI"].notnull().mean("time").values)


def test_example_pixels_are_spread_and_seasonal(fitted) -> None:
    _model, rec, _ph = fitted
    picks = example_pixels(rec, None, 2)
    assert len(picks) == 2 and picks[0] != picks[1]
    rng = (rec["NDVI"].max("time") - rec["NDVI"].min("time")).values
    assert rng[picks[0]] == pytest.approx(np.nanmax(rng))
