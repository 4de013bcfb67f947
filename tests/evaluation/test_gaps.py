"""The simulated cloudy spells of the gap-filling comparison."""

from __future__ import annotations

import numpy as np
import pytest

from fusets_dl.errors import ConfigError
from fusets_dl.evaluation.gaps import hide_gaps, spell_starts


def test_spells_are_inside_their_part_and_hide_only_clear_values() -> None:
    days = np.arange(0.0, 365.0, 5.0)
    iy, ix = np.arange(6), np.arange(6)[::-1]
    starts = spell_starts(days, iy, ix, gap_days=30, n_gaps=4, seed=3)
    part = 360.0 / 4
    for k in range(4):
        assert np.all(starts[k] >= k * part) and np.all(starts[k] + 30 <= (k + 1) * part + 1e-9)
    ndvi = np.full((days.size, 6), 0.5)
    ndvi[::3] = np.nan
    hidden = hide_gaps(ndvi, days, iy, ix, gap_days=30, n_gaps=4, seed=3)
    assert not hidden[np.isnan(ndvi)].any()
    assert np.all(hidden.sum(0) >= 4 * 3)  # each 30-day spell covers 6 dates, a third of them cloudy
    assert np.array_equal(hidden[:, 2], hide_gaps(ndvi[:, 2:3], days, iy[2:3], ix[2:3], gap_days=30, n_gaps=4, seed=3)[:, 0])
    with pytest.raises(ConfigError, match="do not fit"):
        spell_starts(days, iy, ix, gap_days=100, n_gaps=4, seed=0)
    # the largest length that fits, readable for very many spells too (it read 'gap_days <= 0' for 10**6 of them)
    with pytest.raises(ConfigError, match=r"expected gap_days <= 0.00036 \(or fewer spells\)"):
        spell_starts(days, iy, ix, gap_days=1, n_gaps=10**6, seed=0)
    inside = spell_starts(days, iy, ix, gap_days=20, n_gaps=3, seed=1, span=(200.0, 350.0))
    assert inside.min() >= 200.0 and (inside + 20).max() <= 350.0 + 1e-9


@pytest.mark.parametrize(("gap_days", "n_gaps"), [(30, 0), (30, -2), (30, 2.5), (30, True), (0, 2), (-5, 2), (float("nan"), 2)])
def test_spell_options_out_of_range_are_config_errors(gap_days, n_gaps) -> None:
    """n_gaps 0 divided by zero; gap_days 0, negative or NaN hid nothing, silently."""
    days = np.arange(0.0, 365.0, 5.0)
    with pytest.raises(ConfigError, match=r"expected gap_days > 0 and a whole n_gaps >= 1, found"):
        hide_gaps(np.full((days.size, 2), 0.5), days, np.arange(2), np.arange(2), gap_days=gap_days, n_gaps=n_gaps, seed=0)


def test_spells_that_do_not_fit_name_the_span_they_may_fall_in():
    """With a period (or a season) the message named the period's length as 'a 56-day series' though the cube spans 354."""
    import pytest

    from fusets_dl.errors import ConfigError
    from fusets_dl.evaluation.gaps import spell_starts

    days = np.arange(0.0, 355.0, 5.0)
    one = np.zeros(1, dtype=np.int64)
    with pytest.raises(ConfigError, match=r"3 spells of 60 days do not fit into the 56 days they may fall in \(the comparison's period, "
                                          r"or its season from split_date on, within a 350-day series\)"):
        spell_starts(days, one, one, gap_days=60, n_gaps=3, seed=0, span=(294.0, 350.0))
    with pytest.raises(ConfigError, match=r"do not fit into a 350-day series"):
        spell_starts(days, one, one, gap_days=200, n_gaps=3, seed=0)
    with pytest.raises(ConfigError, match=r"expected a span of dates to hide 1 spells of 60 days in, found a 0-day series \(a single date\)"):
        spell_starts(np.zeros(1), one, one, gap_days=60, n_gaps=1, seed=0)
