"""The spatial-block split and its pixel masks."""

from __future__ import annotations

import numpy as np
import pytest

from fusets_dl.evaluation.splits import block_mask


def test_block_mask():
    blocks = {"block_size": 2, "grid": [2, 3], "test": [[0, 1]], "val": [[1, 2]]}
    test = block_mask(4, 5, blocks, "test")
    assert test.sum() == 4 and test[:2, 2:4].all()
    val = block_mask(4, 5, blocks, "val")
    assert val.sum() == 2 and val[2:4, 4].all()  # the last block column is one pixel wide
    train = block_mask(4, 5, blocks, "train")
    assert not (train & (test | val)).any() and (train | test | val).all()


_SPLIT = {"block_size": 4, "grid": [6, 5], "test": [[0, 1], [2, 3]], "val": [[5, 4]]}  # a 24 x 20 scene


def test_check_split_accepts_and_normalises_a_fitting_split():
    import numpy as np

    from fusets_dl.evaluation.splits import check_split, split_blocks
    from fusets_dl.training.config import TrainConfig

    drawn = split_blocks(24, 20, TrainConfig(block_size=4))
    assert check_split(drawn, 24, 20) == drawn
    out = check_split({**_SPLIT, "block_size": 4.0, "grid": np.array([6, 5]), "val": [(np.int64(5), 4)]}, 24, 20)
    assert out == _SPLIT and type(out["block_size"]) is int and type(out["val"][0][0]) is int


@pytest.mark.parametrize(
    ("split", "match"),
    [
        ({**_SPLIT, "val": [[0, 1]]}, r"split: expected disjoint val and test blocks, found 1 in both: \[\[0, 1\]\]"),
        ({**_SPLIT, "val": _SPLIT["test"]}, r"found 2 in both: \[\[0, 1\], \[2, 3\]\]"),
        ({**_SPLIT, "grid": [2, 2]}, r"grid: expected \[6, 5\] \(a 24 x 20 scene in blocks of 4 px\), found \[2, 2\]"),
        ({**_SPLIT, "grid": [16, 16]}, r"grid: expected \[6, 5\] .*found \[16, 16\]"),
        ({**_SPLIT, "grid": "6x5"}, r"grid: expected \[blocks along y, blocks along x\] = \[6, 5\], found the string '6x5'"),
        ({k: v for k, v in _SPLIT.items() if k != "grid"}, r"expected the keys \['block_size', 'grid', 'val', 'test'\], missing \['grid'\]"),
        ({**_SPLIT, "block_size": "4px"}, r"block_size: expected a positive whole number of pixels, found the string '4px'"),
        ({**_SPLIT, "block_size": 0}, r"block_size: expected a positive whole number of pixels, found 0 \(int\)"),
        ({**_SPLIT, "block_size": -1}, r"block_size: expected a positive whole number of pixels, found -1 \(int\)"),
        ({**_SPLIT, "block_size": True}, r"block_size: expected a positive whole number of pixels, found True \(bool\)"),
        ({**_SPLIT, "test": [[6, 0], [0, 5], [-1, 0]]}, r"test: expected block ids \[by, bx\] with 0 <= by < 6 and 0 <= bx < 5 .*found \[\[6, 0\], \[0, 5\], \[-1, 0\]\]"),
        ({**_SPLIT, "val": [1, 2]}, r"val: expected a list of block ids \[by, bx\] \(whole numbers\), found \[1, 2\]"),
        ([1], r"split: expected a block split \(a dict with keys .*found \[1\] \(list\)"),
    ],
)
def test_check_split_refuses_a_split_that_does_not_fit_the_scene(split, match):
    """Before: train(split=...) trained on any of these (or failed with KeyError / ValueError / an empty training set)."""
    from fusets_dl.errors import ConfigError
    from fusets_dl.evaluation.splits import check_split

    with pytest.raises(ConfigError, match=match):
        check_split(split, 24, 20)


def test_a_scene_of_fewer_than_3_pixels_is_not_told_to_lower_block_size():
    from fusets_dl.errors import InsufficientDataError
    from fusets_dl.evaluation.splits import split_blocks
    from fusets_dl.training.config import TrainConfig

    with pytest.raises(InsufficientDataError, match=r"on a 1 x 2 scene; no block_size can split fewer than 3 pixels") as err:
        split_blocks(1, 2, TrainConfig(block_size=4))
    assert "lower TrainConfig.block_size" not in str(err.value)
    with pytest.raises(InsufficientDataError, match=r"on a 2 x 2 scene; lower TrainConfig.block_size"):
        split_blocks(2, 2, TrainConfig(block_size=4))


def _untrained_sequence_model(**info):
    """A sequence model that records its training cubes (no training: only its records matter here)."""
    from fusets_dl.models.sequence import build_sequence_net
    from fusets_dl.models.sequence_model import SequenceModel

    arch = {"type": "tcn", "channels": 4, "dilations": [1], "kernel": 3}
    stats = dict.fromkeys(("vv_mean", "vh_mean", "ratio_mean", "ndvi_mean"), 0.0) | dict.fromkeys(
        ("vv_std", "vh_std", "ratio_std", "ndvi_std"), 1.0)
    cube_a = {"ny": 24, "nx": 20, "nt": 60, "start": "2021-01-06", "end": "2021-12-26", "incidence_angle": False, "site": "A"}
    split = {"block_size": 8, "grid": [3, 3], "test": [[0, 1]], "val": [[2, 2]]}
    return SequenceModel(network=build_sequence_net(arch), stats=stats, architecture=arch, blocks={"cubes": [split], **split},
                         info={"cubes": [cube_a], **info}, calibration={"std_scale": 1.2, "cubes": [["2021-01-06", "2021-12-26"]]})


def test_with_split_keeps_what_decides_how_the_model_reconstructs():
    """The copy that score_sites scores must reconstruct as the model does. Before, it lost ``info["cubes"]``: a site sharing the
    training cube's dates was taken for that cube (std_fitted_on True: no skill check, no std refit), and a model trained without
    an incidence angle read the site's (reads_angle None)."""
    import xarray as xr

    from fusets_dl.evaluation.splits import model_blocks, with_split

    model = _untrained_sequence_model(package="fusets_dl")
    other = {"block_size": 20, "grid": [1, 1], "test": [[0, 0]], "val": []}  # score_sites' split of a 20 x 20 site
    copy = with_split(model, other)
    assert copy.blocks == other and copy.network is model.network
    assert copy.info["cubes"] == model.info["cubes"] and copy.info["package"] == "fusets_dl"
    assert set(model.info) == {"cubes", "package"}  # the model itself is left as it was (the copy is marked)
    site_e = (["2021-01-06", "2021-12-26"], (20, 20), "E")  # the training cube's dates, another place
    assert model.std_fitted_on(*site_e) is False
    assert copy.std_fitted_on(*site_e) is False  # True before
    assert model.reads_angle() is False and copy.reads_angle() is False  # None before
    # the given split is the cube's own, whatever the training scene's size: a 20 x 20 crop of a 24 x 20 training scene has
    # the training split's grid (3 x 3 blocks of 8) yet other pixels under it, so the model's own split is refused there
    crop = xr.Dataset(coords={"y": range(20), "x": range(20)})
    drawn = {"block_size": 8, "grid": [3, 3], "test": [[1, 1]], "val": [[0, 0]]}
    assert model_blocks(crop, model) == {}
    assert model_blocks(crop, with_split(model, drawn)) == drawn
    assert model_blocks(crop, with_split(model, {**other, "block_size": 4})) == {}  # a grid that does not fit is still refused


def test_a_sequence_model_of_several_cubes_gives_each_cube_its_own_split(small_cube, monkeypatch):
    """Each cube now draws its split from seed + k, but model_blocks (compare, calibrate) read only the first cube's:
    compare on cube b scored 96 of 96 'held-out' pixels that were training pixels of b, and calibrate_sequence(m, b)
    calibrated on b's training blocks. The model records a grid fingerprint per cube, and each cube gets its own."""
    import numpy as np

    import fusets_dl as fdl
    from fusets_dl.evaluation.splits import grid_fingerprint, model_blocks
    from fusets_dl.training import sequence as seqmod
    from tests.training.test_sequence import FAST

    a = small_cube.assign_attrs(site="a")
    b = small_cube.assign_coords(x=small_cube["x"] + 1e4).assign_attrs(site="b")
    m = seqmod.train_sequence([a, b], fdl.TrainConfig(**{**FAST, "max_epochs": 1}))
    assert [c["grid"] for c in m.info["cubes"]] == [grid_fingerprint(a), grid_fingerprint(b)]
    for k, cube in enumerate((a, b)):
        own = m.blocks["cubes"][k]
        assert {p: model_blocks(cube, m)[p] for p in ("val", "test")} == {p: own[p] for p in ("val", "test")}
    ny, nx = b.sizes["y"], b.sizes["x"]
    train_b = ~block_mask(ny, nx, m.blocks["cubes"][1], "val") & ~block_mask(ny, nx, m.blocks["cubes"][1], "test")
    assert not (block_mask(ny, nx, model_blocks(b, m), "test") & train_b).any()  # no training pixel of b is scored
    seen = []
    real_parts = seqmod._parts
    monkeypatch.setattr(seqmod, "_parts", lambda cube, blocks: (seen.append(blocks), real_parts(cube, blocks))[1])
    seqmod.calibrate_sequence(m, b)
    assert not (block_mask(ny, nx, seen[-1], "val") & train_b).any()  # calibrated on b's own validation blocks
    other = small_cube.assign_coords(x=small_cube["x"] + 5e4)  # a cube it never saw, of the same size: no split of its own
    assert model_blocks(other, m) == {}  # (before: the first cube's, as if it were a, without compare's "another cube" warning)
    assert np.isfinite(m.calibration["std_scale"])


def test_a_training_cube_in_another_time_unit_keeps_its_own_split(small_cube, tmp_path):
    """A cube of datetime64[s] dates reads back from Zarr in [ns]: its fingerprint (the raw bytes of its dates) no longer
    matched, and model_blocks fell back to the first cube's split, so evaluate scored b's training pixels as held-out
    (R2 0.752 against 0.568 in memory). The dates are fingerprinted in ns now; a fingerprint of an older model, taken in
    the cube's own unit, still matches it, also after the round trip (the dates are tried in each unit that holds them)."""
    import fusets_dl as fdl
    from fusets_dl.evaluation.splits import _fingerprint, grid_fingerprint, model_blocks
    from fusets_dl.training import sequence as seqmod
    from tests.training.test_sequence import FAST

    seconds = small_cube["time"].values.astype("datetime64[s]")
    a = small_cube.assign_coords(time=seconds).assign_attrs(site="a")
    b = small_cube.assign_coords(time=seconds, x=small_cube["x"] + 1e4).assign_attrs(site="b")
    m = seqmod.train_sequence([a, b], fdl.TrainConfig(**{**FAST, "max_epochs": 1}))
    back = fdl.open_cube(fdl.to_zarr(b, tmp_path / "b.zarr"))
    assert back["time"].dtype != b["time"].dtype and grid_fingerprint(back) == grid_fingerprint(b)
    own = m.blocks["cubes"][1]
    for cube in (b, back):
        assert {p: model_blocks(cube, m)[p] for p in ("val", "test")} == {p: own[p] for p in ("val", "test")}
    m.info["cubes"][1]["grid"] = _fingerprint(b, None)  # as a model saved before 2026-11-28 recorded it: the [s] bytes
    for cube in (b, back):  # back: the same cube in [ns] after its Zarr round trip (before: not recognised)
        assert {p: model_blocks(cube, m)[p] for p in ("val", "test")} == {p: own[p] for p in ("val", "test")}
    shifted = back.assign_coords(time=back["time"].values + np.timedelta64(1, "ms"))  # not whole seconds: not b
    assert model_blocks(shifted, m) == {}


def test_a_cube_built_again_from_a_sites_files_is_that_site_without_its_name():
    """A user's cube carries no attrs['site']: it is the training site whose recorded extent holds it and whose size it has."""
    from types import SimpleNamespace

    import xarray as xr

    from fusets_dl.evaluation.splits import scene_extent, training_site

    def cube(x0, nx=4, site=None):
        c = xr.Dataset(coords={"y": [10.0, 0.0], "x": x0 + 10.0 * np.arange(nx)})
        c = c.assign({"VV": (("y", "x"), np.zeros((2, nx)))})
        return c.assign_attrs(site=site) if site else c

    a, b = cube(0.0), cube(1000.0)
    sites = {"a": {"ny": 2, "nx": 4, **scene_extent(a)}, "b": {"ny": 2, "nx": 4, **scene_extent(b)}}
    model = SimpleNamespace(info={"sites": sites}, blocks={"sites": {"a": {}, "b": {}}})
    assert training_site(b, model) == "b" and training_site(a, model) == "a"
    assert training_site(cube(1000.0, site="a"), model) == "a"  # a name decides
    assert training_site(cube(1000.0, site="c"), model) is None  # named another site
    assert training_site(cube(1000.0, nx=3), model) is None  # a crop of b: another size
    assert training_site(cube(5000.0), model) is None  # elsewhere
    twin = SimpleNamespace(info={"sites": {"a": sites["a"], "a2": sites["a"]}}, blocks={})
    assert training_site(a, twin) is None  # matches two sites: none


def test_a_split_is_not_laid_on_its_cube_stored_the_other_way_up(small_cube, tmp_path):
    """Block numbers count in the training cube's storage order; on the same cube stored y-increasing they would mark other
    pixels (training ones among them): model_blocks says so and gives no split, and evaluate(which='test') refuses."""
    import fusets_dl as fdl
    from fusets_dl.errors import ConfigError
    from fusets_dl.evaluation import evaluate
    from fusets_dl.evaluation.splits import ORDER_KEY, model_blocks

    model = fdl.train(small_cube, config=fdl.TrainConfig(hidden=(16,), max_epochs=1, block_size=4, calibrate_reconstruction=False))
    assert model.blocks[ORDER_KEY] == [False, False]  # north-up, as align gives it
    model = fdl.load_model(model.save(tmp_path / "m"))  # the order survives the JSON sidecar
    assert model_blocks(small_cube, model)["test"] == model.blocks["test"]
    upside = small_cube.isel(y=slice(None, None, -1))
    with pytest.warns(UserWarning, match=r"numbered on its training cube stored with y running the other way.*isel\(y=slice"):
        assert model_blocks(upside, model) == {}
    with pytest.warns(UserWarning, match="running the other way"), pytest.raises(ConfigError, match="expected the cube the model was trained on"):
        evaluate(model, upside, which="test")
    # a model trained on the y-increasing cube itself records that, and its split fits that cube
    up_model = fdl.train(upside, config=fdl.TrainConfig(hidden=(16,), max_epochs=1, block_size=4, calibrate_reconstruction=False))
    assert up_model.blocks[ORDER_KEY] == [True, False] and model_blocks(upside, up_model)["test"] == up_model.blocks["test"]
