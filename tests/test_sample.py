"""The bundled sample in data/sample is what data/make_sample.py writes."""

from __future__ import annotations

import numpy as np
import xarray as xr

from fusets_dl.sample import SAMPLE_FILES, find_sample, write_sample


def test_bundled_sample_regenerates_identically(tmp_path):
    committed = find_sample(create=False)
    (tmp_path / "s1.tmp.nc").write_text("a user's file")  # the writer's temporaries never take a user's name
    write_sample(tmp_path)
    assert (tmp_path / "s1.tmp.nc").read_text() == "a user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*SAMPLE_FILES, "s1.tmp.nc"])
    for name in SAMPLE_FILES:
        a = xr.open_dataset(committed / name, mask_and_scale=False)
        b = xr.open_dataset(tmp_path / name, mask_and_scale=False)
        for v in a.data_vars:
            np.testing.assert_array_equal(a[v].values, b[v].values, err_msg=f"{name}:{v}")


def test_sample_is_small():
    folder = find_sample(create=False)
    total = sum((folder / f).stat().st_size for f in SAMPLE_FILES)
    assert total < 8e6
