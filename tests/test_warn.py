"""warn_user: a warning raised deep in the package points at the caller's line."""

from __future__ import annotations

import warnings

import pytest

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


def _guarded_ndvi():
    """A Dask S2 NDVI whose chunks, as computed, warn (harmonize=True on digital numbers that never carried the offset)."""
    import fusets_dl as fdl

    _, s2, _ = fdl.synthetic.make_scene(64, 64, "2021-06-01", "2022-12-31", seed=2, chunks={"y": 16, "x": 16})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the open-time (sampled) warning: not what is tested here
        return fdl.open_s2(s2, chunks={"y": 16, "x": 16}, harmonize=True).NDVI


def _record(compute):
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("default")
        compute()
    return [str(w.message) for w in got if "offset" in str(w.message) or "phenology-like" in str(w.message)]


def test_a_chunk_guard_under_the_threaded_scheduler_warns_the_caller_once_as_before():
    nd = _guarded_ndvi()
    got = _record(lambda: nd.compute(scheduler="threads"))
    assert len(got) == 1 and "judged per chunk" in got[0]


def test_forwarding_outside_a_worker_does_nothing():
    import distributed  # noqa: F401  (imported: the forwarding looks for a worker)

    from fusets_dl._warn import _FORWARDED, _forward_to_client

    before = set(_FORWARDED)
    _forward_to_client("not in a task", UserWarning)
    assert _FORWARDED == before


@pytest.mark.slow
def test_a_warning_raised_in_a_worker_process_reaches_the_caller_once():
    """Under dask.distributed a task's warning was shown only in the worker process (124 lines on its stderr, none for
    the caller, nothing for warnings-as-errors): the per-chunk guards of silently wrong NDVI never reached the user."""
    from distributed import Client, LocalCluster

    nd = _guarded_ndvi()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        got = _record(nd.compute)  # 16 chunks, each warns in the worker
        assert len(got) == 1 and "judged per chunk" in got[0]
        # a plain warnings.warn in a task (phenology's per-chunk notes), in a worker that has imported the package
        got = _record(lambda: client.submit(warnings.warn, "phenology-like note", UserWarning, pure=False).result())
        assert got == ["phenology-like note"]
