"""cloud_bands: each provider's cloud band read in its own encoding when there is no SCL."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fusets_dl as fdl
from fusets_dl.errors import EncodingError
from fusets_dl.readers.cloud_bands import CLOUD_PROBABILITY_CLOUDY, CLOUD_SCORE_CLEAR
from fusets_dl.testing import raise_if_dask_computes
from tests.readers.helpers import s2_raw

#: One pixel-date cloudy per date and pixel pattern: the truth every encoding below is made from.
_CLOUDY = np.random.default_rng(7).random((3, 4, 4)) < 0.4


def _with(name, values):
    raw = s2_raw().drop_vars("SCL")
    raw[name] = (("t", "y", "x"), values)
    return raw


def _expected_clear(raw):
    return ~_CLOUDY & (raw["B04"].values > 0)  # DN 0 is nodata: no NDVI, never clear


@pytest.mark.parametrize(
    ("name", "values", "source"),
    [
        ("CLM", _CLOUDY.astype(np.uint8), "cloud band CLM"),
        # a GEE export's mask: 1 = clear, as open_points reads the same column (read as 1 = cloud before: 3 % agreement)
        ("mask", (~_CLOUDY).astype(np.uint8), "clear flag band MASK == 1 (a GEE export's mask)"),
        ("cs_cdf", np.where(_CLOUDY, 0.3, 0.9), f"Cloud Score+ band cs_cdf >= {CLOUD_SCORE_CLEAR:g}"),
        ("CLD", np.where(_CLOUDY, 70, 10).astype(np.uint8), "cloud probability band CLD < 40 (of 100)"),
        ("MSK_CLDPRB", np.where(_CLOUDY, 40, 39).astype(np.uint8), "cloud probability band MSK_CLDPRB < 40 (of 100)"),
        ("probability", np.where(_CLOUDY, 95, 0).astype(np.uint8), "cloud probability band probability < 40 (of 100)"),
        ("CLP", np.where(_CLOUDY, 102, 101).astype(np.uint8), "cloud probability band CLP < 102 (of 255)"),
        ("QA60", np.where(_CLOUDY, 1 << 11, 0).astype(np.uint16), "QA60 bits 10-11 (opaque cloud, cirrus) clear"),
    ],
)
def test_each_cloud_band_is_read_in_its_own_encoding(name, values, source):
    raw = _with(name, values)
    s2 = fdl.open_s2(raw)
    assert s2.attrs["clear_mask"] == source
    np.testing.assert_array_equal(s2["clear"].values, _expected_clear(raw))


def test_qa60_sets_either_cloud_bit_and_warns_from_processing_baseline_04():
    qa = np.zeros((3, 4, 4), np.uint16)
    qa[0, 0, 1], qa[0, 0, 2], qa[0, 0, 3] = 1 << 10, 1 << 11, 1 << 5  # opaque, cirrus, another bit (not a cloud)
    s2 = fdl.open_s2(_with("QA60", qa))
    assert list(s2["clear"].values[0, 0, 1:]) == [False, False, True]
    late = _with("QA60", qa).assign_coords(t=pd.date_range("2022-01-20", periods=3, freq="5D"))
    with pytest.warns(UserWarning, match=r"no longer carry as ESA made it.*\(from 2022-01-25, 2 of 3 dates here\)|"
                                         r"\(from 2022-01-25, 2 of 3 dates here\) no longer carry"):
        fdl.open_s2(late, harmonize=False)


def test_a_cloud_mask_band_holding_a_probability_is_read_as_one_with_a_warning():
    """A 0-100 probability named CLOUD was read as 0/1 (any probability = cloud): 4 % clear instead of 59 %."""
    prob = np.where(_CLOUDY, 80, 15).astype(np.uint8)
    raw = _with("CLOUD", prob)
    with pytest.warns(UserWarning, match=r"band CLOUD holds a cloud probability, not a 0/1 cloud mask .* cloudy from 40"):
        s2 = fdl.open_s2(raw)
    np.testing.assert_array_equal(s2["clear"].values, _expected_clear(raw))
    frac = _with("CLOUDS", np.where(_CLOUDY, 0.8, 0.15))  # 0-1
    with pytest.warns(UserWarning, match="0-1, cloudy from 0.4"):
        np.testing.assert_array_equal(fdl.open_s2(frac)["clear"].values, _expected_clear(frac))
    assert CLOUD_PROBABILITY_CLOUDY == 0.4
    bad = _with("CLOUD", np.where(_CLOUDY, 3000, 0).astype(np.uint16))
    with pytest.raises(EncodingError, match=r"band CLOUD: expected a cloud mask .* found values from 0 to 3000"):
        fdl.open_s2(bad)


def test_cloud_bands_stay_lazy_and_chunk_invariant():
    raw = _with("CLD", np.where(_CLOUDY, 70, 10).astype(np.uint8))
    eager = fdl.open_s2(raw)
    with raise_if_dask_computes(max_computes=1):  # the sample of every date that checks the probability's range
        lazy = fdl.open_s2(raw.chunk({"x": 2, "y": 2}))
    np.testing.assert_array_equal(lazy["clear"].values, eager["clear"].values)


def test_a_probability_under_a_mask_name_is_told_by_every_date_not_the_first_four():
    """The sample read only the first 4 dates: a CLOUD probability that was 0 there was read as a 0/1 mask (any later
    probability above 0 = cloud: 0.50 clear instead of about 0.70, silently)."""
    raw = s2_raw(nt=8).drop_vars("SCL")
    prob = np.zeros((8, 4, 4), np.uint8)
    prob[4:] = np.where(np.random.default_rng(1).random((4, 4, 4)) < 0.5, 20, 90)  # 20 % is clear, 90 % is not
    raw["CLOUD"] = (("t", "y", "x"), prob)
    with pytest.warns(UserWarning, match="band CLOUD holds a cloud probability"):
        s2 = fdl.open_s2(raw)
    np.testing.assert_array_equal(s2["clear"].values, (prob < 40) & (raw["B04"].values > 0))


def test_scores_and_probabilities_in_the_other_scale_are_rescaled_and_nonsense_refused():
    """A cs_cdf exported as 0-100 counted 99 % of pixel-dates as clear (every value >= 0.6); a percent probability
    exported as 0-1 counted every pixel-date as clear (all < 40)."""
    raw = _with("cs_cdf", np.where(_CLOUDY, 30, 90).astype(np.uint8))
    with pytest.warns(UserWarning, match=r"band cs_cdf holds values up to 90, a Cloud Score\+ \(1 = clear\) in percent"):
        s2 = fdl.open_s2(raw)
    assert s2.attrs["clear_mask"] == "Cloud Score+ band cs_cdf >= 60"
    np.testing.assert_array_equal(s2["clear"].values, _expected_clear(raw))
    frac = _with("CLD", np.where(_CLOUDY, 0.7, 0.1))
    with pytest.warns(UserWarning, match="band CLD holds values from 0.1 to 0.7, a cloud probability of 0-1"):
        np.testing.assert_array_equal(fdl.open_s2(frac)["clear"].values, _expected_clear(frac))
    with pytest.raises(EncodingError, match=r"band CLD: expected a cloud probability from 0 to 100.*found values from 0 to 300"):
        fdl.open_s2(_with("CLD", np.where(_CLOUDY, 300, 0).astype(np.uint16)))


def test_sentinel_hubs_cloud_mask_comes_before_its_probability():
    """CLM is CLP thresholded and dilated; where a tile lacks its cloud bands CLM is 255 (no data) and CLP 0, which read
    as clear when CLP came first."""
    raw = _with("CLM", _CLOUDY.astype(np.uint8))
    raw["CLP"] = (("t", "y", "x"), np.zeros((3, 4, 4), np.uint8))  # no probability at all: it would say every date is clear
    s2 = fdl.open_s2(raw)
    assert s2.attrs["clear_mask"] == "cloud band CLM"
    np.testing.assert_array_equal(s2["clear"].values, _expected_clear(raw))
    opaque = _with("MSK_CLASSI_OPAQUE", _CLOUDY.astype(np.uint8))  # Google Earth Engine's images from 2024 (no QA60)
    np.testing.assert_array_equal(fdl.open_s2(opaque)["clear"].values, _expected_clear(opaque))


def test_a_mask_beside_backscatter_is_sar_backscatters_validity_mask_not_a_clear_flag():
    """An openEO merge_cubes of S2 and sar_backscatter(mask=True), exported and opened with open_s2: the lowercase mask is
    the S1 validity mask (1 = valid backscatter). Before, read as a GEE clear flag: S2 views of days without S1 dropped."""
    raw = _with("mask", np.where(np.arange(3)[:, None, None] == 1, np.nan, 1.0) * np.ones((3, 4, 4)))  # NaN where no S1 date
    raw["VV"] = (("t", "y", "x"), np.full((3, 4, 4), 0.1))
    raw["VH"] = (("t", "y", "x"), np.full((3, 4, 4), 0.02))
    with pytest.warns(UserWarning, match=r"band MASK sits beside \['VH', 'VV'\]: read as sar_backscatter's S1 validity mask") as got:
        s2 = fdl.open_s2(raw)
    assert any("cloud mask" in str(w.message) or "SCL" in str(w.message) for w in got if "sits beside" not in str(w.message))
    np.testing.assert_array_equal(s2["clear"].values, raw["B04"].values > 0)  # every valid view, as without a cloud band
