"""Fiscal quarters: names and ranges for a year that starts in February, and the boundaries enforcement uses."""

from datetime import UTC, date, datetime

import pytest
import time_machine

from allocator.quarters import Quarter


@pytest.fixture
def february(settings):
    settings.FISCAL_YEAR_START_MONTH = 2


def test_fiscal_year_starting_in_february_is_named_after_the_year_it_ends(february):
    assert str(Quarter.containing(date(2026, 2, 1))) == "FY2027-Q1"
    assert str(Quarter.containing(date(2026, 4, 30))) == "FY2027-Q1"
    assert str(Quarter.containing(date(2026, 5, 1))) == "FY2027-Q2"
    assert str(Quarter.containing(date(2027, 1, 31))) == "FY2027-Q4"
    assert str(Quarter.containing(date(2026, 1, 31))) == "FY2026-Q4"


def test_quarter_ranges_with_february_start(february):
    q1 = Quarter.parse("FY2027-Q1")
    assert (q1.start, q1.end, q1.last_day) == (date(2026, 2, 1), date(2026, 5, 1), date(2026, 4, 30))
    q4 = Quarter.parse("FY2027-Q4")
    assert (q4.start, q4.end) == (date(2026, 11, 1), date(2027, 2, 1))
    assert q4.next() == Quarter.parse("FY2028-Q1")
    assert q1.previous() == Quarter.parse("FY2026-Q4")
    assert q1.days == 89


def test_calendar_fiscal_year(settings):
    settings.FISCAL_YEAR_START_MONTH = 1
    assert str(Quarter.containing(date(2026, 12, 31))) == "FY2026-Q4"
    assert Quarter.parse("FY2026-Q4").end == date(2027, 1, 1)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (datetime(2026, 4, 30, 23, 59, 59, tzinfo=UTC), "FY2027-Q1"),
        (datetime(2026, 5, 1, 0, 0, 0, tzinfo=UTC), "FY2027-Q2"),
    ],
)
def test_current_quarter_flips_at_midnight_utc(february, moment, expected):
    with time_machine.travel(moment, tick=False):
        assert str(Quarter.current()) == expected


def test_bad_quarter_names_are_refused():
    with pytest.raises(ValueError):
        Quarter.parse("2026-Q5")
