"""warn_user: a warning raised deep in the package points at the caller's line."""

from __future__ import annotations

import warnings

from fusets_dl._warn import warn_user


def test_the_warning_points_at_the_first_frame_outside_the_package():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        warn_user("direct")
    assert seen[0].filename == __file__ and seen[0].category is UserWarning


def test_once_per_call_shows_each_message_once_per_call_even_across_a_catch_warnings():
    """A reconstruction warned twice that the cube's backscatter was not the model's: its calibration's prediction and its
    own each warned, and a warnings.catch_warnings between them (pandas, the package's own) reset Python's once-per-place."""
    from fusets_dl._warn import once_per_call

    def inner() -> None:
        warn_user("the same message")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
        warn_user("the same message")
        warn_user("another message")

    @once_per_call
    def outer() -> None:
        inner()
        once_per_call(inner)()  # nested: the outer scope holds

    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        outer()
        outer()  # a new call: shown again
    assert [str(w.message) for w in got] == ["the same message", "another message"] * 2
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        inner()  # no scope: as before
    assert len(got) == 3
