"""warn_user: a warning raised deep in the package points at the caller's line."""

from __future__ import annotations

import warnings

from fusets_dl._warn import warn_user


def test_the_warning_points_at_the_first_frame_outside_the_package():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warn_user("direct")
    assert seen[0].filename == __file__ and seen[0].category is UserWarning
