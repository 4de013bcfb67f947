"""summary: the funnel stored by align matches the masks."""

from __future__ import annotations

import json

import fusets_dl as fdl


def test_summary_counts_match_masks(small_scene):
    s1r, s2r, _ = small_scene
    s2 = fdl.open_s2(s2r)
    cube = fdl.align(fdl.open_s1(s1r), s2, outlier_filter=True)
    s = json.loads(cube.attrs["fusion_summary"])
    assert s["s2_clear_pixel_dates"] == int(s2["clear"].sum())
    assert s["s2_pixel_dates"] == s2["clear"].size
    assert s["outliers_removed"] == s["s2_clear_on_s1_grid"] - s["s2_clear_after_outlier_filter"] >= 0
    assert s["paired_pixel_dates"] == int(cube["NDVI"].notnull().sum())
