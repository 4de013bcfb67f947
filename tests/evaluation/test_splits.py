"""The spatial-block split and its pixel masks."""

from __future__ import annotations

from fusets_dl.evaluation.splits import block_mask


def test_block_mask():
    blocks = {"block_size": 2, "grid": [2, 3], "test": [[0, 1]], "val": [[1, 2]]}
    test = block_mask(4, 5, blocks, "test")
    assert test.sum() == 4 and test[:2, 2:4].all()
    val = block_mask(4, 5, blocks, "val")
    assert val.sum() == 2 and val[2:4, 4].all()  # the last block column is one pixel wide
    train = block_mask(4, 5, blocks, "train")
    assert not (train & (test | val)).any() and (train | test | val).all()
