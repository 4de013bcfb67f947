"""The registry of comparison methods: one entry is all a new method needs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr
from matplotlib.colors import to_rgba

from fusets_dl.errors import ConfigError
from fusets_dl.evaluation.comparison import METHODS, CompareConfig, compare
from fusets_dl.evaluation.methods import (
    COMPARISON_METHODS,
    LABELS,
    Filled,
    GapInputs,
    Method,
    color_of,
    label_of,
)
from fusets_dl.evaluation.plots import plot_comparison

_COLOR = "#123456"
_LABEL = "Per-pixel mean (test only)"


def _fill_mean(inputs: GapInputs) -> np.ndarray:
    """Every date gets the mean of the clear NDVI left in its pixel."""
    v = inputs.ndvi.transpose("time", "pixel").values
    _fill_mean.seen = inputs  # type: ignore[attr-defined]
    return np.broadcast_to(np.nanmean(v, axis=0), v.shape).copy()


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(COMPARISON_METHODS, "pixel_mean", Method(_LABEL, _COLOR, _fill_mean))
    return "pixel_mean"


def test_registry_is_the_one_table() -> None:
    assert METHODS == tuple(k for k, m in COMPARISON_METHODS.items() if m.default) == ("fusion", "fusion_calibrated", "fusion_s1_only", "mogpr", "whittaker", "linear")
    assert "sequence" in COMPARISON_METHODS and not COMPARISON_METHODS["sequence"].default  # opt-in: trains its own model
    assert CompareConfig().methods == METHODS
    for name, method in COMPARISON_METHODS.items():
        assert LABELS[name] == label_of(name) == method.label
        assert color_of(name) == method.color
    assert COMPARISON_METHODS["fusion"].uses_prediction and COMPARISON_METHODS["fusion"].scene_wide
    assert not COMPARISON_METHODS["linear"].uses_prediction and not COMPARISON_METHODS["linear"].scene_wide
    # rows that are not entries: extra fusion models get a label and a stable palette colour
    assert label_of("fusion[big]") == "DL fusion [big]"
    assert color_of("fusion[big]") == color_of("fusion[big]") and color_of("fusion[big]") not in {m.color for m in COMPARISON_METHODS.values()}


def test_a_registered_method_runs_through_compare(registered: str, small_cube: xr.Dataset) -> None:
    with pytest.raises(ConfigError, match="methods"):
        CompareConfig(methods=("not_registered",))
    assert LABELS[registered] == _LABEL  # the label view follows the registry
    ny, nx = small_cube.sizes["y"], small_cube.sizes["x"]
    blocks = {"block_size": 8, "grid": [-(-ny // 8), -(-nx // 8)], "test": [[1, 1], [2, 0]], "val": [[0, 0]]}
    model = SimpleNamespace(blocks=blocks)  # the S2-only methods never call the model
    cfg = CompareConfig(gap_days=40, n_gaps=3, max_pixels=30, methods=("linear", registered))
    res = compare(small_cube, config=cfg, model=model)

    rows = {r["method"]: r for r in res.rows}
    assert list(rows) == ["linear", registered]
    row = rows[registered]
    assert row["n"] == rows["linear"]["n"] == res.info["n_hidden_scored"] > 0
    assert row["filled"] == 1.0 and row["timed_pixels"] == res.info["n_pixels"]
    assert np.isfinite([row["rmse"], row["mae"], row["seconds_per_pixel"]]).all()
    # the method saw the cube with the spells hidden, at the evaluated pixels only
    seen = _fill_mean.seen  # type: ignore[attr-defined]
    assert seen.prediction is None and seen.ndvi.sizes["pixel"] == res.info["n_pixels"]
    original = small_cube["NDVI"].isel(seen.pixels).values
    assert int(np.isfinite(original).sum() - np.isfinite(seen.ndvi.values).sum()) == res.info["n_hidden"]

    assert _LABEL in res.to_markdown()
    assert np.isnan(row["within_1std"])  # an array alone: no uncertainty to score
    assert res.examples["labels"][registered] == _LABEL
    fig = plot_comparison(res)
    bars = fig.axes[0]
    assert bars.get_title() == "RMSE on hidden NDVI"
    assert [p.get_facecolor() for p in bars.patches] == [to_rgba(color_of("linear")), to_rgba(_COLOR)]
    assert [t.get_text() for t in bars.get_yticklabels()] == [LABELS["linear"], _LABEL]
    series = next(ax for ax in fig.axes if ax.get_ylabel() == "NDVI")
    line = next(li for li in series.lines if li.get_label() == _LABEL)
    assert to_rgba(line.get_color()) == to_rgba(_COLOR)


def test_a_method_with_a_std_is_scored_on_it(monkeypatch: pytest.MonkeyPatch, small_cube: xr.Dataset) -> None:
    def fill(inputs: GapInputs) -> Filled:
        v = _fill_mean(inputs)
        return Filled(v, np.full(v.shape, 10.0))  # a std far wider than any NDVI error

    def tight(inputs: GapInputs) -> Filled:
        v = _fill_mean(inputs)
        return Filled(v, np.full(v.shape, 1e-9))

    monkeypatch.setitem(COMPARISON_METHODS, "wide", Method("wide", _COLOR, fill))
    monkeypatch.setitem(COMPARISON_METHODS, "tight", Method("tight", _COLOR, tight))
    ny, nx = small_cube.sizes["y"], small_cube.sizes["x"]
    blocks = {"block_size": 8, "grid": [-(-ny // 8), -(-nx // 8)], "test": [[1, 1], [2, 0]], "val": [[0, 0]]}
    res = compare(small_cube, config=CompareConfig(gap_days=40, n_gaps=3, max_pixels=30, methods=("wide", "tight")), model=SimpleNamespace(blocks=blocks))
    rows = {r["method"]: r for r in res.rows}
    assert rows["wide"]["within_1std"] == rows["wide"]["within_2std"] == 1.0 and rows["wide"]["mean_std"] == pytest.approx(10.0)
    assert rows["tight"]["within_2std"] == 0.0
    assert rows["wide"]["rmse"] == rows["tight"]["rmse"]  # the values are scored as before

    def ragged(inputs: GapInputs) -> Filled:
        v = _fill_mean(inputs)
        return Filled(v, np.ones(v.shape[1:]))

    monkeypatch.setitem(COMPARISON_METHODS, "ragged", Method("ragged", _COLOR, ragged))
    with pytest.raises(ConfigError, match="method 'ragged' returned values of shape .* and a std of shape"):
        compare(small_cube, config=CompareConfig(gap_days=40, n_gaps=3, max_pixels=30, methods=("ragged",)), model=SimpleNamespace(blocks=blocks))


def test_unpaired_views_are_hidden_with_the_spells_and_read_by_the_s2_only_methods():
    """A cube that keeps the views no S1 date took: compare hides those in the spells of the evaluated pixels (else a
    view 2 days from a hidden value leaks it) and linear interpolation reads the others at their own dates."""
    import pandas as pd

    from fusets_dl.alignment.pairing import UNPAIRED, UNPAIRED_TIME
    from fusets_dl.evaluation.comparison import _cmp_dates, _cmp_hide_views, _cmp_inputs
    from fusets_dl.evaluation.gaps import spell_starts

    t = pd.date_range("2022-01-01T17:00", periods=30, freq="12D")
    tv = t[:-1] + pd.Timedelta(days=6)  # a view between every two S1 dates
    ny, nx = 2, 3
    cube = xr.Dataset(
        {"VV": (("time", "y", "x"), np.full((t.size, ny, nx), -10.0, np.float32)),
         "VH": (("time", "y", "x"), np.full((t.size, ny, nx), -16.0, np.float32)),
         "NDVI": (("time", "y", "x"), np.full((t.size, ny, nx), 0.3, np.float32)),
         UNPAIRED: ((UNPAIRED_TIME, "y", "x"), np.full((tv.size, ny, nx), 0.7, np.float32))},
        coords={"time": t, UNPAIRED_TIME: tv, "y": np.arange(ny, dtype=float), "x": np.arange(nx, dtype=float)},
    )
    cube["NDVI"][1::2] = np.nan  # every other S1 date without a paired view
    cfg = CompareConfig(gap_days=60.0, n_gaps=2, seed=1)
    _, days, span = _cmp_dates(cube, cfg)
    iy, ix = np.array([0, 1]), np.array([2, 0])
    out = _cmp_hide_views(cube, iy, ix, days, span, cfg)
    starts = spell_starts(days, iy, ix, gap_days=60.0, n_gaps=2, seed=1)
    vdays = ((tv - t[0]) / pd.Timedelta(days=1)).to_numpy()
    for k in range(iy.size):
        inside = ((vdays[:, None] >= starts[:, k]) & (vdays[:, None] < starts[:, k] + 60.0)).any(1)
        got = out[UNPAIRED].values[:, iy[k], ix[k]]
        assert inside.any() and np.isnan(got[inside]).all() and (got[~inside] == np.float32(0.7)).all()
    assert (out[UNPAIRED].values[:, 0, 0] == np.float32(0.7)).all()  # not evaluated: untouched
    assert (cube[UNPAIRED].values == np.float32(0.7)).all()  # the caller's cube too
    inputs = _cmp_inputs(out, iy, ix, np.zeros((t.size, 2), bool), None, cfg)
    assert inputs.views.sizes["time"] == t.size + tv.size
    lin = COMPARISON_METHODS["linear"].fill(inputs)
    assert lin.shape == (t.size, 2)
    np.testing.assert_allclose(lin[::2], 0.3)  # the paired views where they are
    seen = np.isfinite(out[UNPAIRED].values[:, iy, ix])  # (view, pixel) left after hiding
    both = seen[:-1:2] & seen[1::2]  # the views on either side of each date without a paired view
    np.testing.assert_allclose(lin[1:-1:2][both], 0.7, rtol=1e-6)  # between two views of 0.7: 0.7
    assert both.sum() > 10
    plain = COMPARISON_METHODS["linear"].fill(_cmp_inputs(cube.drop_vars(UNPAIRED), iy, ix, np.zeros((t.size, 2), bool), None, cfg))
    np.testing.assert_allclose(plain[:-1], 0.3)
    # MOGPR: NDVI at the views' dates too (no radar there), scored on the cube's dates
    gp = COMPARISON_METHODS["mogpr"].fill(inputs)
    assert gp.values.shape == gp.std.shape == (t.size, 2)
    gp_plain = COMPARISON_METHODS["mogpr"].fill(_cmp_inputs(cube.drop_vars(UNPAIRED), iy, ix, np.zeros((t.size, 2), bool), None, cfg))
    assert np.nanmean(gp.values[1:-1:2][both]) > np.nanmean(gp_plain.values[1:-1:2][both]) + 0.1
