"""The projection: six series with known answers (through budgets.forecast, the pages' code), properties of the
band and of scaling, "too little history", and a capacity crossing from the same functions."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from budgets import projection
from budgets.management.commands.forecast_accuracy import SHAPES, Case, cases, series_of, table

GROWING = ["growth 5 % a week", "doubling every 14 days"]


@pytest.fixture(scope="module")
def six() -> dict[str, Case]:
    return {case.name: case for case in cases(seed=1)}


@pytest.mark.parametrize("name", list(SHAPES))
def test_by_day_45_quarter_end_within_10_percent_and_run_out_within_3_days(six, name):
    total_error, days_off = six[name].errors_on(45)
    assert abs(total_error) <= 10, (name, total_error)
    assert days_off is not None and abs(days_off) <= 3, (name, days_off)


@pytest.mark.parametrize("name", GROWING)
def test_growing_series_are_alerted_at_least_a_week_before_the_crossing(six, name):
    lead = six[name].first_alert(days=14)
    assert lead is not None and lead >= 7, (name, lead)


@pytest.mark.parametrize("name", list(SHAPES))
def test_no_forecast_alert_long_before_the_crossing(six, name):
    """An alert is due when the run-out is within 14 days: none should come weeks early (one runaway day,
    a decline that the old weekday average overshot)."""
    lead = six[name].first_alert(days=14)
    assert lead is not None and lead <= 17, (name, lead)


def test_the_trend_is_used_only_where_the_series_has_one(six):
    changes = {name: case.forecast_on(45)[1].weekly_change for name, case in six.items()}
    assert changes["steady (weekday/weekend pattern)"] == 0
    assert changes["one $3,000 runaway day on day 40"] == 0
    assert changes["step ×3 from day 31"] == 0
    assert 0.03 < changes["growth 5 % a week"] < 0.07
    assert 0.33 < changes["doubling every 14 days"] < 0.45
    assert -0.07 < changes["decline 5 % a week"] < -0.02


def test_the_accuracy_table_prints_every_series_and_day(capsys):
    from django.core.management import call_command

    call_command("forecast_accuracy")
    out = capsys.readouterr().out
    assert out.strip() == table(seed=1)
    assert out.count("\n| ") == 6 and "| day 15 | day 30 | day 45 | day 60 |" in out


def test_less_than_a_week_of_history_is_not_enough():
    today = date(2026, 11, 18)
    history = {today - timedelta(days=n): Decimal("50") for n in range(1, 4)}
    f = projection.fit(projection.dense_history(history, today=today), today=today)
    assert not f.enough and f.days == 3
    assert projection.series_crossing(history, today=today, level=1, end=date(2027, 1, 1)) is None


def test_the_forecast_says_when_there_is_not_enough_history():
    from allocator.quarters import Quarter
    from budgets.forecast import forecast

    today = date(2026, 11, 18)
    quarter = Quarter.containing(today)
    history = {today - timedelta(days=1): Decimal("150")}
    fc = forecast(spend=Decimal("150"), amount=Decimal("200"), series=history, today=today, quarter=quarter)
    assert not fc.projecting and fc.run_out is None and fc.projected == Decimal("150")
    assert fc.method == "Only 1 day of spend so far: a forecast needs a full week."


def test_capacity_crossing_of_demand_doubling_every_10_days():
    """Peak demand per day doubling every 10 days from 100 against a limit of 1,600: the true crossing is on the
    day demand reaches 1,600, 40 days after it was 100."""
    today = date(2026, 11, 18)
    start = today - timedelta(days=35)
    demand = {start + timedelta(days=d): 100 * 2 ** (d / 10) for d in range(35)}
    true_crossing = start + timedelta(days=math.ceil(10 * math.log2(16)))
    crossing = projection.series_crossing(demand, today=today, level=1600, end=today + timedelta(days=60))
    assert crossing is not None and abs((crossing - true_crossing).days) <= 1


def _lines(values: list[float], today: date = date(2026, 11, 18)) -> projection.Lines:
    history = {today - timedelta(days=len(values) - i): v for i, v in enumerate(values)}
    f = projection.fit(projection.dense_history(history, today=today), today=today)
    return projection.project(f, today=today, end=today + timedelta(days=45), elapsed=0.3)


daily_values = st.lists(st.floats(min_value=0.5, max_value=5000), min_size=7, max_size=42)


@settings(max_examples=60, deadline=None)
@given(daily_values)
def test_the_band_contains_both_lines_and_widens_with_the_horizon(values):
    lines = _lines(values)
    low = lines.cumulative(lines.low, base=0)
    high = lines.cumulative(lines.high, base=0)
    for line in (lines.flat, lines.trend):
        point = lines.cumulative(line, base=0)
        assert all(lo <= p * (1 + 1e-9) and p <= hi * (1 + 1e-9) for lo, p, hi in zip(low, point, high, strict=True))
    widths = [hi - lo for lo, hi in zip(low, high, strict=True)]
    assert all(b >= a * (1 - 1e-9) for a, b in zip(widths, widths[1:], strict=False))
    relative = [(hi - lo) / max(hi, 1e-9) for lo, hi in zip(lines.low, lines.high, strict=True)]
    assert all(b >= a - 1e-9 for a, b in zip(relative, relative[1:], strict=False))


@settings(max_examples=60, deadline=None)
@given(daily_values, st.floats(min_value=0.01, max_value=1000))
def test_scaling_a_series_scales_the_forecast(values, factor):
    plain, scaled = _lines(values), _lines([v * factor for v in values])
    for a, b in zip(plain.trend + plain.low + plain.high, scaled.trend + scaled.low + scaled.high, strict=True):
        assert b == pytest.approx(a * factor, rel=1e-6, abs=1e-9)


def test_project_spend_takes_pairs_and_gives_both_run_out_dates():
    today = date(2026, 11, 18)
    pairs = [(today - timedelta(days=n), Decimal("10") * Decimal("1.05") ** (42 - n)) for n in range(1, 43)]
    result = projection.project_spend(
        series=pairs, spend=Decimal("500"), today=today, end=date(2027, 1, 1), amount=Decimal("1500")
    )
    assert result.enough_history and result.weekly_change > 0.03
    assert result.run_out is not None and result.run_out_flat is not None and result.run_out < result.run_out_flat
    assert result.low <= result.projected_flat <= result.projected <= result.high


def test_the_run_out_is_the_first_day_the_running_total_reaches_the_budget():
    assert projection.crossing_day([5, 10, 15], start=date(2026, 12, 1), level=10) == date(2026, 12, 2)
    assert projection.crossing_day([5, 10, 15], start=date(2026, 12, 1), level=16) is None


def test_the_series_are_fixed_by_their_seed():
    assert series_of("steady (weekday/weekend pattern)", seed=1) == series_of(
        "steady (weekday/weekend pattern)", seed=1
    )
    assert series_of("steady (weekday/weekend pattern)", seed=1) != series_of(
        "steady (weekday/weekend pattern)", seed=2
    )
