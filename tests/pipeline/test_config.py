"""The run configuration: every problem is reported, naming key and region, before any work starts."""

from __future__ import annotations

import dataclasses

import pytest

from fusets_dl.errors import ConfigError
from fusets_dl.pipeline import load_config, run
from fusets_dl.sample import find_sample
from tests.paths import REPO
from tests.pipeline.helpers import sample_config, write_config


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"colour": "red"}, r"top level: unknown keys \['colour'\]"),
        ({"regions": [{"name": "x", "s1": "nope.nc", "s2": "nope.nc"}]}, r"region 'x' s1: file not found"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "time_range": ["2021-13-45", "2022-01-01"]}]}, r"region 'x' time_range: expected a date"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "speed": 3}]}, r"region 'x': unknown keys \['speed'\]"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "tile_size": "big"}]}, r"region 'x' tile_size: expected an integer"),
        ({"model": {"mode": "load", "path": "missing_model"}}, r"model path: model not found"),
        ({"model": {"mode": "load", "path": "m", "train": {"max_epochs": 3}}}, r"mode 'load' uses the saved model as it is; expected no train"),
        ({"model": {"mode": "train", "train": {"epochs": 3}}}, r"TrainConfig: unknown keys \['epochs'\]"),
        ({"regions": [{"name": "../escape", "s1": "S1", "s2": "S2"}]}, r"name: expected letters"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "harmonize": "yes"}]}, r"region 'x' harmonize: expected 'auto', 'all', true or false, found 'yes'"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "tolerance": -2}]}, r"region 'x' tolerance: expected a duration .* found -2"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "tolerance": "soon"}]}, r"region 'x' tolerance: expected a duration .* found 'soon'"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "outlier_filter": "false"}]}, r"region 'x' outlier_filter: expected true or false \(unquoted.*found 'false'"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "unpaired_views": 1}]}, r"region 'x' unpaired_views: expected true or false, found 1"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "tile_size": True}]}, r"region 'x' tile_size: expected an integer >= 2, found True"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "freq": "1M"}]}, r"region 'x' freq: expected a whole number of days .*'1M' are calendar lengths.*found '1M'"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "freq": "12h"}]}, r"region 'x' freq: expected a whole number of days"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "s1_units": "dbz"}]}, r"region 'x' s1_units: expected one of \['auto', 'db', 'linear'\]"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "phenology": {"amplitude_fraction": "0.5"}}]}, r"phenology: amplitude_fraction: expected a number in \(0, 1\), found '0.5'"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "phenology": {"min_amplitude": 0}}]},
         r"region 'x' phenology: min_amplitude: expected a finite number > 0 \(NDVI\), found 0"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "phenology": {"min_length": 0}}]},
         r"region 'x' phenology: min_length: expected a finite number of days > 0, found 0"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "phenology": {"max_seasons": 2.5}}]},
         r"region 'x' phenology: max_seasons: expected a whole number >= 1, found 2.5"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "phenology": {"period": ["2021-13-45", "soon"]}}]},
         r"region 'x' phenology: period start: expected a date in ISO 8601 form .*, found '2021-13-45' \(not a date"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "phenology": {"period": ["2021-12-31", "2021-01-01"]}}]},
         r"region 'x' phenology: period: expected the start on or before the end, found start 2021-12-31 .* after end 2021-01-01"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "time_range": ["2021-01-01", "2021-12-31"], "phenology": {"period": ["2030-01-01", "2030-12-31"]}}]},
         r"region 'x' phenology: period: expected a period overlapping the region's time_range 2021-01-01 .. 2021-12-31, found 2030-01-01 .. 2030-12-31"),
        ({"model": {"mode": "train", "train": {"dropout": "0.1"}}}, r"TrainConfig: dropout: expected a number, found '0.1'"),
        ({"model": {"mode": "train", "train": {"batch_norm": "false"}}}, r"TrainConfig: batch_norm: expected true or false, found 'false'"),
        ({"model": {"mode": "train", "features": {"windows": [15, "soon"]}}}, r"FeatureSpec: windows: expected a list of integers"),
        ({"dask": {"workers": -1}}, r"config dask: workers: expected an integer >= 1, found -1"),
        ({"dask": {"workers": 2, "threads_per_worker": 0}}, r"threads_per_worker: expected an integer >= 1, found 0"),
        ({"report": "no"}, r"report: expected true or false, found 'no'"),
        ({"model": {"mode": "load", "path": 3}}, r"model path: expected the path of a saved model, found 3"),
        ({"regions": [{"name": "x", "s1": [], "s2": "S2"}]}, r"region 'x' s1: expected a path or a non-empty list of paths, found \[\]"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "classes": {"segmenter": 5}}]},
         r"region 'x' classes segmenter: expected the path of a saved segmenter, found 5"),
        # a YAML true is a Python int: accepted as a coordinate before
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "bbox": [True, 1, 2, 3]}]}, r"region 'x' bbox: expected \[minx, miny, maxx, maxy\], four finite numbers, found \[True"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "bbox": [0, 0, float("nan"), 1]}]}, r"region 'x' bbox: expected .*four finite numbers"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "bbox": [5.1, 51.2, 4.9, 51.3]}]}, r"region 'x' bbox: expected minx < maxx and miny < maxy"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "bbox_crs": "EPSG:99999"}]},
         r"region 'x' bbox_crs: expected a CRS pyproj reads, such as 'EPSG:4326' or 4326 \(null: the files' CRS\), found 'EPSG:99999'"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "bbox_crs": True}]}, r"region 'x' bbox_crs: expected a CRS such as 'EPSG:4326' or 4326.*found True"),
        ({"defaults": {"bbox_crs": ["EPSG", 4326]}}, r"bbox_crs: expected a CRS such as 'EPSG:4326'.*found \['EPSG', 4326\]"),
        ({"regions": [{"name": "x", "s1": "S1", "s2": "S2", "bbox": [51.2, 5.1, 51.3, 95.0], "bbox_crs": 4326}]},
         r"region 'x' bbox: expected \[min lon, min lat, max lon, max lat\] with bbox_crs EPSG:4326, longitudes within -180..180 and "
         r"latitudes within -90..90, found \[51.2, 5.1, 51.3, 95.0\] \(latitude first\?"),
    ],
)
def test_bad_configs_fail_before_any_work(tmp_path, patch, message):
    sample = find_sample()
    cfg = sample_config(tmp_path / "out")
    for r in patch.get("regions", []):
        r["s1"] = str(sample / "s1.nc") if r["s1"] == "S1" else r["s1"]
        r["s2"] = str(sample / "s2.nc") if r["s2"] == "S2" else r["s2"]
    cfg.update(patch)
    with pytest.raises(ConfigError, match=message):
        run(write_config(tmp_path, cfg))
    assert not (tmp_path / "out").exists()  # nothing was started


def test_load_config_resolves_relative_paths(tmp_path):
    cfg = load_config(REPO / "pipelines" / "sample.yaml")
    assert cfg.output_root == (REPO / "outputs" / "sample_run").resolve() or cfg.output_root.name == "sample_run"
    assert [r.name for r in cfg.regions] == ["sample", "sample_2021"]
    assert cfg.regions[1].time_range == ("2021-01-01", "2021-12-31")


def test_bad_class_config_is_refused(tmp_path):
    cfg = sample_config(tmp_path / "out")
    cfg["regions"][0]["classes"] = {"keep": [0]}
    with pytest.raises(ConfigError, match="classes: expected 'segmenter'"):
        load_config(cfg)
    cfg["regions"][0]["classes"] = {"n_classes": 3, "keep": ["rice"]}
    with pytest.raises(ConfigError, match="classes keep: expected a list of class ids"):
        load_config(cfg)
    cfg["regions"][0]["classes"] = {"segmenter": str(tmp_path / "nope")}
    with pytest.raises(ConfigError, match="segmenter not found"):
        load_config(cfg)


def test_harmonize_key_defaults_to_auto_and_reaches_open_s2(tmp_path, monkeypatch):
    sample = find_sample()
    cfg = sample_config(tmp_path / "out")
    cfg["regions"] = [{"name": "a", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc")},
                      {"name": "b", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc"), "harmonize": False, "tolerance": 2}]
    loaded = load_config(write_config(tmp_path, cfg))
    assert [r.harmonize for r in loaded.regions] == ["auto", False]
    assert loaded.regions[1].tolerance == "2"  # a bare number: days, as align takes it
    import fusets_dl.readers
    from fusets_dl.pipeline.region import _open_region

    seen = {}
    real = fusets_dl.readers.open_s2

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(fusets_dl.readers, "open_s2", spy)
    cube, _ = _open_region(loaded.regions[1])
    assert seen["harmonize"] is False
    assert cube.sizes["time"] > 0
    # the region names the site: a model trained on region a, loaded for region b of the same dates, was taken for
    # b's own (no transfer-skill check, no calibration on b's views, the sequence model's std not refitted)
    assert cube.attrs["site"] == loaded.regions[1].name


def test_harmonize_all_is_a_region_option(tmp_path):
    """'all' (every date: Collection-1 reprocessed data) reaches open_s2 from a batch run's config, as from Python and the CLI."""
    sample = find_sample()
    cfg = sample_config(tmp_path / "out")
    cfg["regions"] = [{"name": "a", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc"), "harmonize": "all"}]
    assert load_config(write_config(tmp_path, cfg)).regions[0].harmonize == "all"


def test_unpaired_views_reach_align_and_leave_an_older_stores_digest_alone(tmp_path):
    from fusets_dl.alignment.pairing import UNPAIRED
    from fusets_dl.pipeline.record import region_digest
    from fusets_dl.pipeline.region import _open_region

    sample = find_sample()
    cfg = sample_config(tmp_path / "out")
    cfg["regions"] = [{"name": "a", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc")},
                      {"name": "b", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc"), "unpaired_views": True}]
    a, b = load_config(write_config(tmp_path, cfg)).regions
    assert (a.unpaired_views, b.unpaired_views) == (False, True)
    (cube_b, funnel_b), (cube_a, funnel_a) = _open_region(b), _open_region(a)
    assert UNPAIRED in cube_b and UNPAIRED not in cube_a
    # the funnel the region's metrics record counts the views kept (27,492 on the sample), and only where kept
    assert funnel_b["s2_views_unpaired_kept"] == int(cube_b[UNPAIRED].notnull().sum()) == funnel_b["s2_views_unpaired"] > 0
    assert "s2_views_unpaired_kept" not in funnel_a
    # off (the default): the config digest is the one of a fusets_dl without the option, so an older store resumes
    import dataclasses
    import hashlib
    import json

    conf = {k: v for k, v in dataclasses.asdict(a).items() if k not in ("s1", "s2", "unpaired_views", "bbox_crs")}
    conf = json.loads(json.dumps({"region": conf, "model": {}}, sort_keys=True, default=str))
    old = hashlib.sha256(json.dumps(conf, sort_keys=True).encode()).hexdigest()
    assert region_digest(a, {}, cube_note="x")["config"] == old
    assert region_digest(dataclasses.replace(a, unpaired_views=True), {}, cube_note="x")["config"] != old
    assert region_digest(dataclasses.replace(a, bbox_crs="EPSG:4326"), {}, cube_note="x")["config"] != old


def test_every_problem_is_reported_at_once(tmp_path):
    sample = find_sample()
    cfg = sample_config(tmp_path / "out")
    cfg["regions"][0].update(freq="1M", outlier_filter="false", tile_size="256")
    cfg["regions"][1].update(tolerance="soon", s1=str(tmp_path / "missing.nc"))
    cfg["model"]["train"]["learning_rate"] = "0.01"
    cfg["dask"] = {"workers": 0}
    with pytest.raises(ConfigError) as info:
        run(write_config(tmp_path, cfg))
    problems = info.value.problems
    assert len(problems) == 7, problems
    text = str(info.value)
    assert text.startswith(f"config {tmp_path / 'run.yaml'}: 7 problems:")
    for needle in ("region 'a' freq", "region 'a' outlier_filter", "region 'a' tile_size", "region 'b' tolerance",
                   "region 'b' s1: file not found", "learning_rate: expected a number, found '0.01'", "workers: expected an integer >= 1, found 0"):
        assert needle in text
    assert not (tmp_path / "out").exists()
    assert sample.exists()


@pytest.mark.parametrize(("tolerance", "days"), [(3, 3.0), ("3", 3.0), ("3D", 3.0), (0.5, 0.5), ("12h", 0.5)])
def test_durations_are_days_never_nanoseconds(tmp_path, tolerance, days):
    import pandas as pd

    from fusets_dl.validate import as_timedelta

    cfg = sample_config(tmp_path / "out")
    cfg["defaults"]["tolerance"] = tolerance
    rc = load_config(cfg).regions[0]
    assert as_timedelta(rc.tolerance, "t") == pd.Timedelta(days=days)


@pytest.mark.parametrize("workers", [0, -1, True])
def test_run_refuses_worker_counts_below_one_before_any_work(tmp_path, workers):
    with pytest.raises(ConfigError, match=rf"run: workers: expected an integer >= 1, found {workers!r}"):
        run(sample_config(tmp_path / "out"), workers=workers)
    assert not (tmp_path / "out").exists()


def test_valid_phenology_options_load_with_yaml_dates(tmp_path):
    import datetime

    sample = find_sample()
    cfg = sample_config(tmp_path / "out")
    cfg["regions"] = [{"name": "x", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc"), "time_range": ["2021-01-01", "2021-12-31"],
                       "phenology": {"max_seasons": 2, "min_amplitude": 0.05, "period": [datetime.date(2021, 3, 1), "2021-12-31"]}}]
    loaded = load_config(write_config(tmp_path, cfg))
    assert loaded.regions[0].phenology["max_seasons"] == 2
    # every option a YAML file can hold; main_months read as the pair fdl.phenology takes
    more = {"by_year": 3, "smooth": 50, "main_months": [11, 3], "envelope": True, "extrapolate": 30, "noise_factor": 2}
    cfg["regions"][0]["phenology"] = more
    assert load_config(write_config(tmp_path, cfg)).regions[0].phenology == {**more, "main_months": (11, 3)}
    for bad, found in (({"params": {"default": {}}}, "params"), ({"by_year": -1}, "by_year: expected true, false or a whole number"),
                       ({"main_months": [0, 13]}, "main_months")):
        cfg["regions"][0]["phenology"] = bad
        with pytest.raises(ConfigError, match=found):
            load_config(write_config(tmp_path, cfg))


def test_a_model_path_with_a_json_but_no_weights_is_refused_before_any_work(tmp_path):
    """A model path whose .json is not a model (no .safetensors beside it) fails at load, not after the alignment."""
    (tmp_path / "notes.json").write_text('{"a": 1}')
    cfg = sample_config(tmp_path / "out")
    cfg["model"] = {"mode": "load", "path": str(tmp_path / "notes.json")}
    with pytest.raises(ConfigError, match=r"model path: model not found"):
        run(write_config(tmp_path, cfg))
    assert not (tmp_path / "out").exists()


def test_outputs_that_are_or_hold_an_input_are_refused_before_any_work(tmp_path):
    """``--restart`` deletes a region's outputs: they may not be an input, the loaded model, or hold or lie inside one."""
    sample = find_sample()
    root = tmp_path / "out"
    root.mkdir()
    (root / "a.model.json").write_text("{}")
    (root / "a.model.safetensors").write_bytes(b"")
    cfg = sample_config(root)
    cfg["model"] = {"mode": "load", "path": str(root / "a.model")}  # region a would write its model over the one it loads
    with pytest.raises(ConfigError, match=r"region 'a'.*its output .*a\.model\.json' is the model loaded"):
        load_config(cfg)
    cfg = sample_config(root)
    cfg["regions"][0]["s1"] = str(root / "a.zarr")  # an input Zarr where region a's store goes
    (root / "a.zarr").mkdir()
    with pytest.raises(ConfigError, match=r"its output .*a\.zarr' is region a's input"):
        load_config(cfg)
    cfg = sample_config(sample / "fusion_out")  # the output root inside an input folder? (the sample's files are inputs, not folders)
    load_config(cfg)
    folder_input = tmp_path / "tifs"
    folder_input.mkdir()
    cfg = sample_config(folder_input / "out")
    cfg["regions"][0]["s2"] = str(folder_input)
    with pytest.raises(ConfigError, match=r"lies inside region a's input"):
        load_config(cfg)


def test_a_shipped_model_name_and_dates_with_a_time_of_day(tmp_path):
    cfg = sample_config(tmp_path / "out")
    cfg["model"] = {"mode": "load", "path": "pretrained"}  # a shipped model by name, as load_model takes it
    loaded = load_config(cfg)
    assert loaded.model["path"].endswith("general") and (REPO / "fusets_dl" / "models" / "pretrained").is_dir()
    cfg = sample_config(tmp_path / "out")
    cfg["regions"][0]["time_range"] = ["2021-01-01", "2021-12-31T12:00"]  # cut to the date, then the whole day: refused
    with pytest.raises(ConfigError, match=r"time_range: expected a date .* found '2021-12-31T12:00' with a time of day"):
        load_config(cfg)


def _with_time_range(tmp_path, yaml_range: str):
    """The sample config with region b's ``time_range`` written as ``yaml_range`` (YAML text: unquoted dates stay dates)."""
    cfg = sample_config(tmp_path / "out")
    cfg["regions"][1]["time_range"] = "TR"
    path = write_config(tmp_path, cfg)
    path.write_text(path.read_text().replace("time_range: TR", f"time_range: {yaml_range}"))
    return path


@pytest.mark.parametrize(
    ("yaml_range", "message"),
    [
        ("[20210301, 2021-12-31]", r"config region 'b' time_range: expected a date in ISO 8601 form .*found 20210301: a number is not a date "
                                   r"\(write '2021-03-01' for a date written YYYYMMDD\)"),
        ("[2021, 2022]", r"config region 'b' time_range: expected a date .*found 2021: a number is not a date \(write '2021-01-01' for a year\)"),
        ("['01/03/2021', '31/03/2021']", r"config region 'b' time_range: expected a date in ISO 8601 form \(YYYY-MM-DD, year first\) such as "
                                         r"'2021-03-01'.*found '01/03/2021': the order of day and month is ambiguous"),
        ("[2021-01-01, '2021-03']", r"config region 'b' time_range: expected a date in ISO 8601 form \(YYYY-MM-DD, year first\).*found '2021-03'"),
        ("[2021-01-01, 2300-01-01]", r"config region 'b' time_range: expected a date within 1677-09-21 \.\. 2262-04-11 .*found datetime.date\(2300"),
        ("[2021-01-01, '2021-12-31T00:00:00+02:00']", r"time_range: expected a date \(YYYY-MM-DD; whole days, the end day included\), found "
                                                      r"'2021-12-31T00:00:00\+02:00' with a time of day \(2021-12-30 22:00:00 in UTC\)"),
        ("[2021-01-01, 2021-12-31T00:00:00+02:00]", r"with a time of day \(2021-12-30 22:00:00 in UTC\)"),  # a YAML timestamp: an aware datetime
    ],
)
def test_config_dates_that_are_numbers_not_iso_or_out_of_range_are_refused(tmp_path, yaml_range, message):
    """REPRO hunttime (A): the config said YYYY-MM-DD but read 20210301 (unquoted: a YAML int) as 2021-03-01, '01/03/2021'
    month-first and '2021-03' as 2021-03-01 (one day, where the readers take a month); a year 2300 raised a raw error."""
    with pytest.raises(ConfigError, match=message):
        load_config(_with_time_range(tmp_path, yaml_range))


@pytest.mark.parametrize("yaml_range", ["[2021-01-01, 2021-12-31]", "['2021-01-01', '2021-12-31']", "['2021-01-01T00:00:00Z', 2021-12-31]",
                                        "[2021-01-01T02:00:00+02:00, '2021-12-31 00:00']"])
def test_config_dates_as_iso_text_yaml_dates_or_zoned_midnights_load(tmp_path, yaml_range):
    assert load_config(_with_time_range(tmp_path, yaml_range)).regions[1].time_range == ("2021-01-01", "2021-12-31")


def test_bbox_crs_is_a_region_key_and_a_default_and_reaches_both_readers(tmp_path, monkeypatch):
    """A lon/lat region (a GeoJSON's, a web map's) over the sample (UTM 49S): 4326 reads as 'EPSG:4326', a region's key
    overrides the defaults', and open_s1 gets it; open_s2 gets the S1 footprint in S1's CRS."""
    import fusets_dl.readers
    from fusets_dl.pipeline.region import _open_region

    sample = find_sample()
    cfg = sample_config(tmp_path / "out")
    cfg["defaults"] = {**cfg.get("defaults", {}), "bbox_crs": 4326}
    cfg["regions"] = [{"name": "a", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc")},
                      {"name": "b", "s1": str(sample / "s1.nc"), "s2": str(sample / "s2.nc"), "bbox_crs": "EPSG:32749"}]
    a, b = load_config(write_config(tmp_path, cfg)).regions
    assert (a.bbox_crs, b.bbox_crs) == ("EPSG:4326", "EPSG:32749")
    assert a.bbox is None  # bbox_crs alone: the whole files
    seen: dict[str, dict] = {}
    for name in ("open_s1", "open_s2"):
        real = getattr(fusets_dl.readers, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            seen[_name] = kwargs
            return _real(*args, **kwargs)

        monkeypatch.setattr(fusets_dl.readers, name, spy)
    s1 = fusets_dl.readers.open_s1(sample / "s1.nc")  # the sample's CRS (UTM 49S)
    x, y, crs = s1["x"].values, s1["y"].values, s1.rio.crs
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(
        [float(x[2]), float(x[12])], [float(y[12]), float(y[2])])
    seen.clear()
    c = dataclasses.replace(a, bbox=(min(lon), min(lat), max(lon), max(lat)))
    cube, _ = _open_region(c)
    assert seen["open_s1"]["bbox_crs"] == "EPSG:4326" and seen["open_s1"]["bbox"] == c.bbox
    assert seen["open_s2"]["bbox_crs"] == crs  # the footprint, in S1's CRS
    # the lon/lat box through the centres of S1 pixels 2 and 12 (20 m): its envelope in UTM passes within half a pixel
    # of those centres, so it touches pixels 2..12 each way
    assert (cube.sizes["y"], cube.sizes["x"]) == (11, 11) and (float(cube.x.min()), float(cube.y.max())) == (float(x[2]), float(y[2]))
