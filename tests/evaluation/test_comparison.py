"""The gap-filling comparison protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

import fusets_dl as fdl
from fusets_dl.errors import ConfigError, InsufficientDataError
from fusets_dl.evaluation.comparison import CompareConfig, compare
from fusets_dl.evaluation.gaps import hide_gaps
from fusets_dl.evaluation.splits import block_mask


@pytest.fixture(scope="module")
def result(small_cube: xr.Dataset) -> fdl.evaluation.CompareResult:
    cfg = CompareConfig(gap_days=40, n_gaps=3, max_pixels=40, mogpr={"n_iter": 30})
    return compare(small_cube, config=cfg, train_config=fdl.TrainConfig(max_epochs=4, block_size=8, min_samples=50))


def test_rows_scores_and_protocol(result: fdl.evaluation.CompareResult, small_cube: xr.Dataset) -> None:
    rows = {r["method"]: r for r in result.rows}
    assert set(rows) == {"fusion", "fusion_s1_only", "mogpr", "whittaker", "linear"}
    n = {r["n"] for r in result.rows}
    assert n == {result.info["n_hidden_scored"]}  # every method scored on the same values
    assert 0 < result.info["n_hidden_scored"] <= result.info["n_hidden"]
    assert result.info["n_pixels"] <= 40
    for r in result.rows:
        assert np.isfinite([r["rmse"], r["mae"], r["bias"], r["seconds_per_pixel"]]).all()
        assert r["mae"] <= r["rmse"] and 0 < r["filled"] <= 1
    # the evaluated pixels lie in the model's held-out blocks only
    assert result.info["test_blocks"]
    ny, nx = small_cube.sizes["y"], small_cube.sizes["x"]
    test = block_mask(ny, nx, {"block_size": result.info["block_size"], "grid": [-(-ny // 8), -(-nx // 8)], "test": result.info["test_blocks"]})
    assert test.sum() >= result.info["n_pixels"]


def test_linear_row_is_recomputable(small_cube: xr.Dataset) -> None:
    """The linear-interpolation score equals a hand-made computation with the same hidden mask."""
    model = fdl.train(small_cube, config=fdl.TrainConfig(max_epochs=2, min_samples=50))
    cfg = CompareConfig(gap_days=40, n_gaps=3, max_pixels=None, methods=("linear",))
    res = compare(small_cube, config=cfg, model=model)
    ndvi = small_cube["NDVI"].values
    days = ((small_cube["time"] - small_cube["time"][0]) / np.timedelta64(1, "D")).values
    iy, ix = np.nonzero(block_mask(small_cube.sizes["y"], small_cube.sizes["x"], model.blocks))
    obs = ndvi[:, iy, ix]
    hidden = hide_gaps(obs, days, iy, ix, gap_days=40, n_gaps=3, seed=0)
    keep = (hidden.sum(0) > 0) & ((np.isfinite(obs) & ~hidden).sum(0) >= cfg.min_clear)
    obs, hidden = obs[:, keep], hidden[:, keep]
    errs = []
    for j in range(obs.shape[1]):
        ok = np.isfinite(obs[:, j]) & ~hidden[:, j]
        for i in np.flatnonzero(hidden[:, j]):
            if days[ok].min() <= days[i] <= days[ok].max():
                errs.append(np.interp(days[i], days[ok], obs[ok, j]) - obs[i, j])
    assert res.rows[0]["n"] == len(errs)
    assert res.rows[0]["rmse"] == pytest.approx(float(np.sqrt(np.mean(np.square(errs)))), rel=1e-5)


def test_save_writes_table_csv_json_and_figure(result: fdl.evaluation.CompareResult, tmp_path) -> None:
    files = result.save(tmp_path)
    md = files["md"].read_text()
    assert md.startswith("| method | RMSE |") and "MOGPR" in md and "Linear interpolation" in md
    assert len(files["csv"].read_text().strip().splitlines()) == 1 + len(result.rows)
    js = json.loads(files["json"].read_text())
    assert js["info"]["n_gaps"] == 3 and len(js["rows"]) == 5
    assert files["png"].stat().st_size > 20_000


def test_figure_axes(result: fdl.evaluation.CompareResult) -> None:
    fig = fdl.evaluation.plots.plot_comparison(result)
    titles = [ax.get_title() for ax in fig.axes]
    assert "RMSE on hidden NDVI" in titles and "wall time per pixel (s)" in titles
    series_axes = [ax for ax in fig.axes if ax.get_ylabel() == "NDVI"]
    assert len(series_axes) == len(result.examples["pixels"]) >= 1
    labels = [t.get_text() for t in series_axes[0].get_legend().get_texts()]
    assert "clear NDVI hidden" in labels and "MOGPR (NDVI + RVI per orbit)" in labels


def test_errors(small_cube: xr.Dataset) -> None:
    with pytest.raises(ConfigError, match="methods"):
        CompareConfig(methods=("magic",))
    model = fdl.train(small_cube, config=fdl.TrainConfig(max_epochs=1, min_samples=50))
    with pytest.raises(InsufficientDataError, match="shorter or fewer spells"):
        compare(small_cube, config=CompareConfig(gap_days=100, n_gaps=3, min_clear=10_000, methods=("linear",)), model=model)
