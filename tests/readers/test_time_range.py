"""time_range of open_s1 / open_s2: the end is inclusive (a date-only end is its whole day, a time of day that instant)."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest

import fusets_dl as fdl
from fusets_dl.errors import ConfigError
from fusets_dl.readers.normalise import _range_end
from fusets_dl.validate import parse_date
from tests.readers.helpers import s1_raw, s2_raw

# an evening pass on the end date, one just before the next day, and one the next morning
_TIMES = pd.DatetimeIndex(["2021-01-01T05:50", "2021-01-04T22:10", "2021-01-07T22:10", "2021-01-07T23:59:59.999", "2021-01-08T05:50"])


def _s1():
    return s1_raw(nt=len(_TIMES)).assign_coords(t=_TIMES)


def _s2():
    return s2_raw(nt=len(_TIMES)).assign_coords(t=_TIMES)


def _dates(ds):
    return [str(t) for t in pd.DatetimeIndex(ds["time"].values)]


@pytest.mark.parametrize("end", ["2021-01-07", "20210107", dt.date(2021, 1, 7), np.datetime64("2021-01-07")])
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
    for end in ("2021-03-02", " 2021-03-02 ", "20210302", dt.date(2021, 3, 2), np.datetime64("2021-03-02")):
        assert _range_end(end) == last, end
    assert _range_end("2021-03") == pd.Timestamp("2021-03-31T23:59:59.999999999")  # a month: all of it
    assert _range_end("2021") == pd.Timestamp("2021-12-31T23:59:59.999999999")
    for end in ("2021-03-02T00:00", pd.Timestamp("2021-03-02"), dt.datetime(2021, 3, 2), np.datetime64("2021-03-02T00:00")):
        assert _range_end(end) == pd.Timestamp("2021-03-02"), end



@pytest.mark.parametrize(
    "time_range",
    [("01/03/2021", "31/03/2021"), ("03/01/2021", "04/01/2021"), ("2021-01-01", "7 Jan 2021"), ("2021/01/01", "2021-01-07"),
     ("2021-1-1", "2021-01-07")],
)
def test_a_time_range_that_is_not_iso_8601_is_refused_as_ambiguous(time_range):
    """REPRO hunttime (A): ('01/03/2021', '31/03/2021') kept January to March: pandas read the start month-first
    (3 January) and the end day-first (31 March), silently."""
    bad = next(v for v in time_range if not v[:4].isdigit() or "/" in v or "-1-" in v)
    why = "the order of day and month is ambiguous" if bad[:2].isdigit() and not bad[:4].isdigit() else "not an ISO 8601 date"
    with pytest.raises(ConfigError, match=rf"time_range (start|end): expected a date in ISO 8601 form \(YYYY-MM-DD, YYYY-MM or YYYY, "
                                          rf"year first\) such as '2021-03-01' or '2021-03-01T12:00'.*found '{bad}': {why}"):
        fdl.open_s1(_s1(), units="dB", time_range=time_range)


@pytest.mark.parametrize(("time_range", "hint"), [((2021, 2022), "write '2021-01-01' for a year"),
                                                  ((20210101, None), "write '2021-01-01' for a date written YYYYMMDD"),
                                                  ((None, 2021.5), ""), ((True, None), "")])
def test_a_number_in_a_time_range_is_refused_as_not_a_date(time_range, hint):
    """(2021, 2022) gave 'no dates left' (2021 nanoseconds after 1970); 20210301 alike."""
    with pytest.raises(ConfigError, match=r"time_range (start|end): expected a date in ISO 8601 form .*found .*: a number is not a date"
                                          + (rf" \({hint}\)" if hint else "$")):
        fdl.open_s2(_s2(), time_range=time_range)


@pytest.mark.parametrize(
    ("time_range", "dates"),
    [(("2021-01-04T22:10:00Z", "2021-01-07T22:10:00Z"), ["2021-01-04 22:10:00", "2021-01-07 22:10:00"]),
     (("2021-01-05T00:10:00+02:00", "2021-01-07"), ["2021-01-04 22:10:00", "2021-01-07 22:10:00", "2021-01-07 23:59:59.999000"]),
     ((pd.Timestamp("2021-01-04T23:10", tz="Europe/Berlin"), dt.datetime(2021, 1, 7, 22, 10, tzinfo=dt.timezone.utc)),
      ["2021-01-04 22:10:00", "2021-01-07 22:10:00"]),
     (("2021-01-04T22:10:00-00:00", pd.Timestamp("2021-01-08T00:10", tz="UTC+02:00")), ["2021-01-04 22:10:00", "2021-01-07 22:10:00"])],
)
def test_zoned_time_range_ends_are_converted_to_naive_utc_and_logged(time_range, dates, caplog):
    """REPRO hunttime (B): ('...Z', '...Z') raised a raw TypeError (tz-naive vs tz-aware), ('...+02:00', '2021-03-31')
    a raw ValueError; the times are naive UTC, so the ends are converted to it, as the readers convert zoned times."""
    with caplog.at_level(logging.WARNING, logger="fusets_dl"):
        ds = fdl.open_s1(_s1(), units="dB", time_range=time_range)
    assert _dates(ds) == dates
    assert "time_range start: timezone-aware date" in caplog.text and "converted to naive UTC" in caplog.text


@pytest.mark.parametrize("time_range", [("2021-01-01", "2300-01-01"), ("2300-01-01", None), (np.datetime64("1500-01-01"), "2021-01-07"),
                                        (None, dt.date(2300, 1, 1))])
def test_a_time_range_beyond_datetime64_ns_is_refused(time_range):
    """REPRO hunttime (B): an end in 2300 raised a raw OutOfBoundsDatetime."""
    with pytest.raises(ConfigError, match=r"time_range (start|end): expected a date within 1677-09-21 \.\. 2262-04-11 \(the range of "
                                          r"datetime64\[ns\].*found"):
        fdl.open_s1(_s1(), units="dB", time_range=time_range)


def test_an_end_in_2262_keeps_to_the_last_representable_instant():
    assert _range_end("2262") == _range_end("2262-04-11") == pd.Timestamp.max
    assert fdl.open_s1(_s1(), units="dB", time_range=("2021-01-05", "2262")).sizes["time"] == 3


def test_a_malformed_or_reversed_time_range_is_refused_with_what_was_expected():
    with pytest.raises(ConfigError, match=r"time_range: expected \(start, end\) dates .* found '2021'"):
        fdl.open_s1(_s1(), units="dB", time_range="2021")
    with pytest.raises(ConfigError, match=r"time_range: expected the start on or before the end, found start 2021-01-07 00:00:00 after "
                                          r"end 2021-01-04 23:59:59.999999999 .*reversed"):
        fdl.open_s1(_s1(), units="dB", time_range=("2021-01-07", "2021-01-04"))
    with pytest.raises(ConfigError, match=r"time_range end: expected a date .* found '2021-02-30' \(not a date"):
        fdl.open_s1(_s1(), units="dB", time_range=("2021-01-01", "2021-02-30"))
    with pytest.raises(ConfigError, match=r"time_range end: expected a date .* found np.datetime64\('NaT'.*\(not a time\)"):
        fdl.open_s1(_s1(), units="dB", time_range=("2021-01-01", np.datetime64("NaT")))
    with pytest.raises(ConfigError, match=r"time_range start: expected a date .*pandas.Timestamp\), found \[1\] \(list\)"):
        fdl.open_s1(_s1(), units="dB", time_range=([1], None))


def test_parse_date_takes_zero_dimensional_arrays_of_a_date():
    """time_range=(ds.time[0], ds.time[-1]) was refused as a DataArray."""
    import xarray as xr

    t = xr.DataArray(pd.date_range("2021-03-01", periods=3, freq="D"), dims="time")
    assert parse_date(t[0], "t") == pd.Timestamp("2021-03-01")
    assert parse_date(np.array(np.datetime64("2021-03-02")), "t") == pd.Timestamp("2021-03-02")
    with pytest.raises(ConfigError, match="found"):
        parse_date(t, "t")  # not one date


def test_parse_date_takes_iso_text_and_date_objects_as_naive_utc_nanoseconds():
    want = pd.Timestamp("2021-03-01")
    for value in ("2021-03-01", " 2021-03-01 ", "20210301", "2021-03", "2021-03-01T00:00", "2021-03-01 01:00+01:00", "2021-03-01T00:00Z",
                  dt.date(2021, 3, 1), dt.datetime(2021, 3, 1), np.datetime64("2021-03-01"), np.datetime64("2021-03-01T00:00:00", "s"),
                  pd.Timestamp("2021-03-01T01:00", tz="UTC+01:00")):
        got = parse_date(value, "t")
        assert got == want and got.tz is None and got.unit == "ns", value
    assert parse_date("2021", "t") == pd.Timestamp("2021-01-01")
    for value in ("2021-03", "2021", "20210301"):  # the config's whole dates: YYYY-MM-DD only
        with pytest.raises(ConfigError, match=r"^t: expected a date in ISO 8601 form \(YYYY-MM-DD, year first\)"):
            parse_date(value, "t", partial=False)
