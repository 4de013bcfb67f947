"""Wide point tables (WorldCereal extractions): composite dates (analytic), the melt, decoding through open_points, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fusets_dl.errors import TableError
from fusets_dl.readers.tables import open_points
from fusets_dl.readers.wide import composite_starts, melt_wide
from tests.paths import SHARED_DATA

UGA = SHARED_DATA / "worldcereal_extractions" / "test_public_extractions_UGA_SSD_2017_monthly.parquet"


def _wide(n_steps: int = 3, start=("2016-12-01", "2016-12-01"), end=("2017-02-01", "2017-02-01")) -> pd.DataFrame:
    """Two samples, VV/VH/B04/B08 as WorldCereal stores them (uint16 compressed dB and DN x 1e-4, 65535 nodata)."""
    t = pd.DataFrame({"sample_id": ["a", "b"], "start_date": list(start), "end_date": list(end), "lon": [32.0, 33.0], "lat": [1.0, 1.5],
                      "ewoc_code": [1, 2]})
    for i in range(n_steps):
        t[f"SAR-VV-ts{i}-20m"] = np.array([3000 + 100 * i, 4000], dtype=np.uint16)
        t[f"SAR-VH-ts{i}-20m"] = np.array([1500, 2000], dtype=np.uint16)
        t[f"OPTICAL-B04-ts{i}-10m"] = np.array([500, 65535 if i == 1 else 800], dtype=np.uint16)
        t[f"OPTICAL-B08-ts{i}-10m"] = np.array([3000, 65535 if i == 1 else 2400], dtype=np.uint16)
        t[f"METEO-precipitation_flux-ts{i}-100m"] = [10.0, 20.0]
    return t


def test_composite_starts_month_and_dekad():
    month = composite_starts(pd.DatetimeIndex(["2016-12-15", "2017-01-01"]), 3, "month")
    np.testing.assert_array_equal(month, np.array([["2016-12-01", "2017-01-01", "2017-02-01"],
                                                   ["2017-01-01", "2017-02-01", "2017-03-01"]], dtype="datetime64[ns]"))
    dekad = composite_starts(pd.DatetimeIndex(["2021-12-15", "2022-01-31"]), 4, "dekad")
    np.testing.assert_array_equal(dekad, np.array([["2021-12-11", "2021-12-21", "2022-01-01", "2022-01-11"],
                                                   ["2022-01-21", "2022-02-01", "2022-02-11", "2022-02-21"]], dtype="datetime64[ns]"))


def test_melt_repeats_the_sample_columns_and_renames_the_bands():
    long = melt_wide(_wide(), what="t")
    assert len(long) == 6 and list(long["sample_id"]) == ["a", "a", "a", "b", "b", "b"]
    assert {"S1-SIGMA0-VV", "S1-SIGMA0-VH", "S2-L2A-B04", "S2-L2A-B08", "METEO-precipitation_flux", "timestamp"} <= set(long.columns)
    assert not [c for c in long.columns if "-ts" in c]
    np.testing.assert_array_equal(long["S1-SIGMA0-VV"], [3000, 3100, 3200, 4000, 4000, 4000])
    assert list(long["timestamp"].dt.strftime("%Y-%m-%d")[:3]) == ["2016-12-01", "2017-01-01", "2017-02-01"]
    assert (long["ewoc_code"] == [1, 1, 1, 2, 2, 2]).all()
    # a composite with no value in any band is no row
    t = _wide()
    t.loc[1, [c for c in t.columns if "-ts2-" in c]] = np.nan
    assert len(melt_wide(t, what="t")) == 5


def test_open_points_decodes_a_wide_table_as_the_long_ones():
    with pytest.warns(UserWarning, match=r"open_points\(S1 and S2\): the dates are 31 days apart"):
        s1, s2 = open_points(_wide())
    assert s1.sizes == {"time": 3, "y": 1, "x": 2} and list(s1["point"].values) == ["a", "b"]
    dn = np.array([[3000, 4000], [3100, 4000], [3200, 4000]], dtype=float)
    np.testing.assert_allclose(s1["VV"].values[:, 0, :], 20 * np.log10(dn) - 83, rtol=1e-6)
    assert s2["NDVI"].values[0, 0, 0] == pytest.approx((3000 - 500) / (3000 + 500), rel=1e-6)
    np.testing.assert_array_equal(s2["clear"].values[:, 0, :], [[True, True], [True, False], [True, True]])  # 65535: cloud-masked
    assert str(s2["time"].values[1])[:10] == "2017-01-01"
    # the period can be given (no end_date needed)
    t = _wide().drop(columns="end_date")
    with pytest.warns(UserWarning, match="31 days apart"):
        s1m, _ = open_points(t, wide_freq="month")
    np.testing.assert_array_equal(s1m["time"].values, s1["time"].values)
    s1d, _ = open_points(t, wide_freq="dekad")  # ten-day composites: no coarse-dates warning, other dates
    assert [str(v)[:10] for v in s1d["time"].values] == ["2016-12-01", "2016-12-11", "2016-12-21"]


def test_any_index_yyyymmdd_numbers_and_rows_that_end_early():
    """Inputs as they come: a concatenation with repeated index labels, dates written as numbers, and rows with
    fewer available composites than the table's columns (padded with nodata)."""
    two = pd.concat([_wide(), _wide().assign(sample_id=["c", "d"])])  # index 0, 1, 0, 1
    long = melt_wide(two, what="t")
    assert len(long) == 12 and list(long["sample_id"][::3]) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(long["S1-SIGMA0-VV"][:3], [3000, 3100, 3200])
    ints = melt_wide(_wide(start=(20161201, 20161215), end=(20170201, 20170201)), what="t")
    assert list(ints["timestamp"].dt.strftime("%Y-%m-%d")[3:]) == ["2016-12-01", "2017-01-01", "2017-02-01"]
    with pytest.raises(TableError, match=r"start_date: expected dates \(or whole numbers YYYYMMDD\), found 1 rows .* such as 1480550400"):
        melt_wide(_wide(start=(20161201, 1480550400)), what="t")  # seconds since 1970 are not taken for a date
    short = _wide(end=("2017-02-01", "2017-01-01"))  # b has 2 composites, its third column padded
    short.loc[1, [c for c in short.columns if "-ts2-" in c and not c.startswith("METEO")]] = 65535
    assert list(melt_wide(short, what="t")["timestamp"].dt.strftime("%m")[:3]) == ["12", "01", "02"]


@pytest.mark.parametrize(
    ("table", "kw", "match"),
    [
        (_wide().drop(columns="end_date"), {}, r"a wide table of 3 time steps without an end_date column: .*expected wide_freq='month' or 'dekad'"),
        (_wide(end=("2017-06-01", "2017-06-01")), {}, r"start_date..end_date spans \[7\] months and \[19\] dekads: neither period fits"),
        (_wide().drop(columns="start_date"), {}, r"a wide one .* with a start_date column; found 15 columns such as \['SAR-VV-ts0-20m'"),
        (_wide(start=("2016-12-01", "soon")), {}, r"start_date: expected dates \(or whole numbers YYYYMMDD\), found 1 rows that are not, such as 'soon'"),
        (_wide(), {"wide_freq": "week"}, r"wide_freq: expected one of \['month', 'dekad'\], found 'week'"),
        (_wide().assign(date="2017-01-01"), {}, r"The table is also wide \(15 band columns such as \['SAR-VV-ts0-20m', 'SAR-VH-ts0-20m'\]\) "
                                                r"and was read as a long one because it has a date column: drop that column"),
        (_wide().assign(**{"SAR-VV-ts0-10m": 1}), {}, r"band S1-SIGMA0-VV at time step 0 in two columns \('SAR-VV-ts0-20m', 'SAR-VV-ts0-10m'\)"),
    ],
)
def test_bad_wide_tables(table, kw, match):
    with pytest.raises(TableError, match=match):
        open_points(table, **kw)


@pytest.mark.skipif(not UGA.exists(), reason=f"needs the shared WorldCereal extractions ({UGA})")
def test_east_african_monthly_extractions():
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow (pip install 'fusets-dl[tables]')")
    with pytest.warns(UserWarning, match="31 days apart"):
        s1, s2 = open_points(UGA)
    assert s1.sizes == {"time": 12, "y": 1, "x": 500}
    assert str(s1["time"].values[0])[:10] == "2016-12-01" and str(s1["time"].values[-1])[:10] == "2017-11-01"
    vv = s1["VV"].values
    assert -13.0 < np.nanmedian(vv) < -9.0 and np.nanmean(np.isfinite(vv)) > 0.9
    ndvi = s2["NDVI"].where(s2["clear"]).values
    assert 0.2 < np.nanmedian(ndvi) < 0.6 and np.nanmax(ndvi) <= 1.0 and np.nanmean(np.isfinite(ndvi)) > 0.85
