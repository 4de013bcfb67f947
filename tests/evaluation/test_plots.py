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
    for t in ("predicted vs observed", "residual histogram", "residuals vs observed", "RMSE and bias by observed NDVI range", "distributions", "training history"):
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


def test_by_range_panel_shows_rmse_and_bias_not_r2() -> None:
    o = np.array([0.1, 0.15, 0.3, 0.35, 0.5, 0.55, 0.7, 0.75, 0.9, 0.95])
    p = o + np.array([0.1, 0.1, -0.05, -0.05, 0.0, 0.02, 0.0, 0.0, 0.03, 0.01])
    fig = plot_evaluation(o, p)
    ax = next(a for a in fig.axes if a.get_title() == "RMSE and bias by observed NDVI range")
    assert "R2" not in ax.get_ylabel() and ax.get_ylabel() == "NDVI"
    rmse_bars = [b for b in ax.patches if b.get_facecolor()[:3] == pytest.approx((0x4C / 255, 0x72 / 255, 0xB0 / 255))]
    bias_bars = [b for b in ax.patches if b not in rmse_bars]
    # range -1..0.2 holds 0.1 and 0.15, both over-predicted by 0.1: RMSE = bias = 0.1
    assert rmse_bars[0].get_height() == pytest.approx(0.1) and bias_bars[0].get_height() == pytest.approx(0.1)
    assert bias_bars[1].get_height() == pytest.approx(-0.05)  # 0.2..0.4: under-predicted by 0.05
    assert rmse_bars[2].get_height() == pytest.approx(np.sqrt((0.0**2 + 0.02**2) / 2))
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{lo:g} to {hi:g}\nn 2" for lo, hi in zip((-1, 0.2, 0.4, 0.6, 0.8), (0.2, 0.4, 0.6, 0.8, 1), strict=True)]


def test_maps_have_coordinates_and_a_discrete_season_count(fitted, small_cube: xr.Dataset) -> None:
    _model, rec, ph = fitted
    fig = plot_maps(ph, rec, small_cube, max_seasons=1)
    titles = [ax.get_title() for ax in fig.axes]
    ax = fig.axes[titles.index("fraction of dates observed (clear S2)")]
    x, y = small_cube["x"].values, small_cube["y"].values
    dx, dy = x[1] - x[0], y[1] - y[0]
    left, right, bottom, top = ax.images[0].get_extent()
    assert left == pytest.approx((x[0] - dx / 2) / 1e3) and right == pytest.approx((x[-1] + dx / 2) / 1e3)
    assert top == pytest.approx((y[0] - dy / 2) / 1e3) and bottom == pytest.approx((y[-1] + dy / 2) / 1e3)
    epsg = small_cube.rio.crs.to_epsg()
    assert ax.get_xlabel() == f"x (km, EPSG:{epsg})" and ax.get_ylabel() == "y (km)"
    count = fig.axes[titles.index("number of seasons")].images[0]
    from matplotlib.colors import BoundaryNorm

    assert isinstance(count.norm, BoundaryNorm)
    top_count = int(ph["n_seasons"].max())
    assert list(count.norm.boundaries) == [b - 0.5 for b in range(max(top_count, 1) + 2)]
    cbar = count.colorbar
    assert list(cbar.get_ticks()) == list(range(max(top_count, 1) + 1))
