"""pipelines/pretrain.py: which real sites it reads from a data folder."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd

from tests.paths import REPO


def _pretrain():
    spec = importlib.util.spec_from_file_location("pretrain_script", REPO / "pipelines" / "pretrain.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_france_points_are_a_site_when_present_and_named_when_absent(tmp_path):
    """The France table was skipped when absent and silently ignored when present."""
    pretrain = _pretrain()
    cubes, skipped = pretrain.real_sites(tmp_path)
    assert cubes == [] and any(s.startswith("france-dekad-2023:") and "absent" in s for s in skipped)
    rng = np.random.default_rng(0)
    times = pd.date_range("2023-01-01", periods=12, freq="10D")
    rows = [{"sample_id": f"p{i}", "timestamp": t, "S1-SIGMA0-VV": int(rng.integers(3000, 5000)),
             "S1-SIGMA0-VH": int(rng.integers(1200, 2500)), "S2-L2A-B04": int(rng.integers(300, 900)),
             "S2-L2A-B08": int(rng.integers(2000, 4000)), "lon": -0.4 + i / 100, "lat": 43.3}
            for i in range(6) for t in times]
    folder = tmp_path / "worldcereal_extractions"
    folder.mkdir()
    table = pd.DataFrame(rows).astype({c: np.uint16 for c in ("S1-SIGMA0-VV", "S1-SIGMA0-VH", "S2-L2A-B04", "S2-L2A-B08")})
    table.to_parquet(folder / "dekad_2023_FRA_LPIS_POLY_110.geoparquet")
    cubes, skipped = pretrain.real_sites(tmp_path)
    assert [c.attrs["site"] for c in cubes] == ["france-dekad-2023"] and not any(s.startswith("france") for s in skipped)
    assert cubes[0].sizes == {"time": 12, "y": 1, "x": 6} and np.isfinite(cubes[0]["NDVI"].values).all()


def test_a_sequence_run_passes_no_per_date_option():
    """``--model sequence`` left max_samples set, and every training warned that the whole-series model ignores it."""
    import argparse

    from fusets_dl.training.config import MLP_ONLY_FIELDS, TrainConfig, mlp_only_changes

    pretrain = _pretrain()
    args = argparse.Namespace(epochs=3, max_samples=None, block=8, seed=1, threads=1, model="sequence")
    cfg = pretrain.train_config(args)
    assert cfg.model == "sequence" and cfg.max_samples == TrainConfig().max_samples and not mlp_only_changes(cfg)
    assert "max_samples" in MLP_ONLY_FIELDS
    assert pretrain.train_config(argparse.Namespace(**{**vars(args), "model": "mlp"})).max_samples == 120_000  # the per-date default
    given = pretrain.train_config(argparse.Namespace(**{**vars(args), "max_samples": 5000}))  # asked for: passed on (and warned)
    assert given.max_samples == 5000 and mlp_only_changes(given) == {"max_samples": 5000}


def test_record_revisit_adds_what_training_records_and_refuses_other_data(small_cube, tmp_path):
    """``--record-revisit`` gives a model saved before models recorded revisits the same ``revisit_days`` training now
    records, weights unchanged; a site whose dates differ from the training ones is refused, the model left as it was."""
    import pytest

    import fusets_dl as fdl

    pretrain = _pretrain()
    a = small_cube.isel(time=slice(0, 40)).assign_attrs(site="a")
    b = small_cube.isel(time=slice(0, None, 2)).assign_attrs(site="b")  # every other date: a longer revisit
    m = fdl.train([a, b], fdl.FeatureSpec(lags=1), fdl.TrainConfig(max_epochs=1, min_samples=50, hidden=(8,)))
    trained = {n: s["revisit_days"] for n, s in m.info["sites"].items()}
    assert trained["b"]["any"] > trained["a"]["any"]
    for rec in [m.info["scene"], *m.info["sites"].values()]:
        del rec["revisit_days"]  # as the shipped model was saved
    m.info["provenance"] = {}
    path = m.save(tmp_path / "old")
    before = path.read_text()
    with pytest.raises(SystemExit, match=r"site b: expected the training dates \d+ from .* found 20 from"):
        pretrain._record_revisit(path, [a, b.isel(time=slice(0, 20))])
    assert path.read_text() == before
    with pytest.raises(SystemExit, match=r"not read here: \['b'\]"):
        pretrain._record_revisit(path, [a])
    assert pretrain._record_revisit(path, [b, a]) == 0
    back = fdl.load_model(path)
    assert {n: s["revisit_days"] for n, s in back.info["sites"].items()} == trained
    assert back.info["scene"]["revisit_days"] == trained["a"]
    assert back.state_bytes() == m.state_bytes()
