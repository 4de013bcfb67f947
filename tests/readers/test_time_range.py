"""time_range of open_s1 / open_s2: the end is inclusive (a date-only end is its whole day, a time of day that instant)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import fusets_dl as fdl
from fusets_dl.readers.normalise import _range_end
from tests.readers.helpers import s1_raw, s2_raw

# an evening pass on the end date, one just before the next day, and one the next morning
_TIMES = pd.DatetimeIndex(["2021-01-01T05:50", "2021-01-04T22:10", "2021-01-07T22:10", "2021-01-07T23:59:59.999", "2021-01-08T05:50"])


def _s1():
    return s1_raw(nt=len(_TIMES)).assign_coords(t=_TIMES)


def _s2():
    return s2_raw(nt=len(_TIMES)).assign_coords(t=_TIMES)


def _dates(ds):
    return [str(t) for t in pd.DatetimeIndex(ds["time"].values)]


@pytest.mark.parametrize("end", ["2021-01-07", "2021-1-7", "20210107", dt.date(2021, 1, 7), np.datetime64("2021-01-07")])
@pytest.mark.parametrize("reader", ["s1", "s2"])
def test_a_date_only_end_keeps_the_whole_end_day_and_not_the_next(reader, end):
    """REPRO hunt20run item 6: ('2021-01-01', '2021-01-07') dropped the 2021-01-07T22:10 acquisition (the end was midnight)."""
    ds = fdl.open_s1(_s1(), units="dB", time_range=("2021-01-01", end)) if reader == "s1" else fdl.open_s2(_s2(), time_range=("2021-01-01", end))
    assert _dates(ds) == ["2021-01-01 05:50:00", "2021-01-04 22:10:00", "2021-01-07 22:10:00", "2021-01-07 23:59:59.999000"]


@pytest.mark.parametrize("end", ["2021-01-07T22:10", "2021-01-07 22:10:00", pd.Timestamp("2021-01-07T22:10"), dt.datetime(2021, 1, 7, 22, 10),
                                 np.datetime64("2021-01-07T22:10")])
@pytest.mark.parametrize("reader", ["s1", "s2"])
def test_an_end_with_a_time_of_day_is_inclusive_to_that_instant(reader, end):
    ds = fdl.open_s1(_s1(), units="dB", time_range=("2021-01-01", end)) if reader == "s1" else fdl.open_s2(_s2(), time_range=("2021-01-01", end))
    assert _dates(ds)[-1] == "2021-01-07 22:10:00" and len(_dates(ds)) == 3


def test_an_end_at_midnight_written_out_is_that_instant_and_the_start_is_unchanged():
    s1 = fdl.open_s1(_s1(), units="dB", time_range=("2021-01-04T22:10", "2021-01-07T00:00"))
    assert _dates(s1) == ["2021-01-04 22:10:00"]  # the start is inclusive to its instant, as before
    s1 = fdl.open_s1(_s1(), units="dB", time_range=("2021-01-04", "2021-01-07T22:09:59"))
    assert _dates(s1) == ["2021-01-04 22:10:00"]
    assert fdl.open_s1(_s1(), units="dB", time_range=(None, "2021-01-04")).sizes["time"] == 2
    assert fdl.open_s1(_s1(), units="dB", time_range=("2021-01-05", None)).sizes["time"] == 3


def test_only_the_next_day_left_raises():
    with pytest.raises(fdl.errors.DimensionError, match="no dates left in time_range"):
        fdl.open_s1(_s1(), units="dB", time_range=("2021-01-08T06:00", "2021-01-09"))


def test_range_end_of_each_kind():
    last = pd.Timestamp("2021-03-02T23:59:59.999999999")
    for end in ("2021-03-02", " 2021-03-02 ", "2021/03/02", dt.date(2021, 3, 2), np.datetime64("2021-03-02")):
        assert _range_end(end) == last, end
    assert _range_end("2021-03") == pd.Timestamp("2021-03-31T23:59:59.999999999")  # a month: all of it
    assert _range_end("2021") == pd.Timestamp("2021-12-31T23:59:59.999999999")
    for end in ("2021-03-02T00:00", pd.Timestamp("2021-03-02"), dt.datetime(2021, 3, 2), np.datetime64("2021-03-02T00:00")):
        assert _range_end(end) == pd.Timestamp("2021-03-02"), end

