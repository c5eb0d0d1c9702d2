"""The crossover projection on synthetic daily peak series with known answers, and the alerts it raises (once per
crossing): doubling every 10 days is projected within a day and alerted at least 7 days ahead; a flat series projects
nothing; a noisy steady series does not alert."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from allocator.capacity.alerts import CAPACITY_SCOPE, capacity_alerts_raise
from allocator.capacity.headroom import headroom_rows
from budgets.models import Alert
from tests.budget_factories import pinned_clock
from tests.capacity_helpers import limit_of, peaks_of

LIMIT = 1_000_000
CROSSING = date(2026, 12, 20)  # the day a series doubling every 10 days reaches LIMIT


def doubling(day: date) -> float:
    return LIMIT * 2 ** ((day - CROSSING).days / 10)


def series(shape, *, today: date, days: int = 60) -> dict[date, float]:
    """The shape's value on each of `days` days up to today (today's value is its busiest minute so far)."""
    return {today - timedelta(days=n): shape(today - timedelta(days=n)) for n in range(days, -1, -1)}


@pytest.fixture
def limit(simulated):
    return limit_of(simulated, value=LIMIT)


@pytest.fixture(autouse=True)
def _clock():
    with pinned_clock():
        yield


def test_doubling_every_10_days_projects_the_crossing_within_a_day(limit):
    for lead in range(25, 1, -1):
        today = CROSSING - timedelta(days=lead)
        peaks_of(limit, series(doubling, today=today))
        [row] = headroom_rows(today=today)
        assert row.crossover is not None, today
        assert abs((row.crossover - CROSSING).days) <= 1, (today, row.crossover)


def test_doubling_every_10_days_alerts_at_least_7_days_ahead_and_once(limit):
    first_crossover_alert = None
    for lead in range(30, -1, -1):
        today = CROSSING - timedelta(days=lead)
        peaks_of(limit, series(doubling, today=today))
        capacity_alerts_raise(today=today)
        if first_crossover_alert is None and Alert.objects.filter(kind=Alert.Kind.CAPACITY_CROSSOVER).exists():
            first_crossover_alert = today
    assert first_crossover_alert is not None
    assert (CROSSING - first_crossover_alert).days >= 7
    # Each crossing once, however many days it held: one crossover alert and one "above 80 %" alert.
    alerts = Alert.objects.filter(scope=CAPACITY_SCOPE)
    assert sorted(alerts.values_list("kind", flat=True)) == [Alert.Kind.CAPACITY_CROSSOVER, Alert.Kind.CAPACITY_PEAK]
    threshold = alerts.get(kind=Alert.Kind.CAPACITY_PEAK)
    assert threshold.threshold == 80 and "gpt-4.1 tokens per minute on Simulated" in threshold.message
    assert threshold.url == limit.get_absolute_url()


def test_a_flat_series_projects_no_crossing(limit):
    today = date(2026, 11, 18)
    peaks_of(limit, series(lambda day: LIMIT * 0.5, today=today))
    [row] = headroom_rows(today=today)
    assert row.crossover is None
    assert row.percent == 50


def test_a_noisy_steady_series_never_alerts(limit):
    noise = random.Random(7)
    values = {}
    start = date(2026, 9, 1)
    for n in range(120):
        values[start + timedelta(days=n)] = LIMIT * 0.6 * (1 + noise.uniform(-0.15, 0.15))
    for n in range(45, 120, 3):
        today = start + timedelta(days=n)
        peaks_of(limit, {d: v for d, v in values.items() if d <= today})
        capacity_alerts_raise(today=today)
        [row] = headroom_rows(today=today)
        assert row.crossover is None, (today, row.crossover)
    assert not Alert.objects.filter(scope=CAPACITY_SCOPE).exists()


def test_a_raised_limit_is_a_new_crossing(limit):
    today = CROSSING - timedelta(days=2)
    peaks_of(limit, series(doubling, today=today))
    assert capacity_alerts_raise(today=today) == 2
    assert capacity_alerts_raise(today=today) == 0
    limit.value = LIMIT * 4 // 3
    limit.save()
    assert capacity_alerts_raise(today=today) == 1  # the new limit is crossed within 14 days too: one new alert
