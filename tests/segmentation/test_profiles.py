"""Annual profiles: hand-computed bin means, channel names, laziness."""

from __future__ import annotations

import dask
import numpy as np
import pandas as pd
import xarray as xr

from fusets_dl.segmentation.profiles import _bin_matrix, _profile_block, segment_inputs


def test_profile_block_matches_hand_computed_bin_means():
    times = pd.to_datetime(["2021-01-02", "2021-01-05", "2021-08-01", "2022-01-03"])
    onehot = _bin_matrix(times.values, 4)
    assert onehot.argmax(axis=1).tolist() == [0, 0, 2, 0]  # two years fold into one: 3 January is bin 0 again
    vv = np.array([-10.0, -12.0, -8.0, np.nan]).reshape(4, 1, 1)
    vh = np.array([-16.0, -18.0, -14.0, -20.0]).reshape(4, 1, 1)
    nd = np.array([0.2, np.nan, 0.8, 0.4]).reshape(4, 1, 1)
    p = _profile_block(vv, vh, nd, onehot)[0, 0]
    b = 4
    np.testing.assert_allclose(p[:b], [-11.0, np.nan, -8.0, np.nan])  # date 4 has no VV: not in the S1 means
    np.testing.assert_allclose(p[b : 2 * b], [-17.0, np.nan, -14.0, np.nan])
    np.testing.assert_array_equal(p[2 * b : 3 * b], [1, 0, 1, 0])
    np.testing.assert_allclose(p[3 * b : 4 * b], [0.3, np.nan, 0.8, np.nan])  # clear NDVI of dates 1 and 4
    np.testing.assert_array_equal(p[4 * b :], [1, 0, 1, 0])


def test_segment_inputs_shape_and_names(crop_scene):
    cube, _ = crop_scene
    prof = segment_inputs(cube.chunk({"time": -1, "y": 32, "x": 32}), n_bins=12)
    assert prof.dims == ("y", "x", "channel") and prof.shape == (64, 64, 60)
    assert prof["channel"].values[0] == "VV_00" and prof["channel"].values[-1] == "S2_flag_11"
    assert isinstance(prof.data, dask.array.Array)
    eager = segment_inputs(cube, n_bins=12)
    xr.testing.assert_allclose(prof.compute(), eager)
