"""Forecast alerts through the real enforcement run: within forecast_alert_days of today, whatever the day of the
quarter; once per crossing; never from one runaway day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from budgets.enforce import enforce_budgets
from budgets.models import Alert, Budget, BudgetPolicy
from tests.budget_factories import simulated_key, spend, user_budget
from tests.conftest import login


@pytest.fixture(autouse=True)
def _october_to_december(settings):
    settings.FISCAL_YEAR_START_MONTH = 1  # the quarter is October-December, FY2026-Q4, whatever the deployment says


@pytest.fixture
def my_key(simulated, engineer, team):
    return simulated_key(simulated, team=team, owner_user=engineer, name="erin-dev")


def _at_noon(day: date):
    return time_machine.travel(datetime(day.year, day.month, day.day, 12, tzinfo=UTC), tick=False)


def _daily(key, amount: str, first: date, last: date) -> None:
    day = first
    while day <= last:
        spend(key, amount, day=day)
        day += timedelta(days=1)


def _forecast_alerts() -> list[Alert]:
    return list(Alert.objects.filter(kind=Alert.Kind.FORECAST))


def test_a_run_out_in_the_last_two_weeks_of_the_quarter_alerts(policy, engineer, team, my_key):
    """$10 a day since 1 October, $900: on 20 December $805 is spent and the money lasts until 29 December."""
    with _at_noon(date(2026, 12, 20)):
        user_budget(engineer, team, "900")
        _daily(my_key, "10", date(2026, 10, 1), date(2026, 12, 19))
        spend(my_key, "5", day=date(2026, 12, 20))  # half of today
        enforce_budgets()
    [alert] = _forecast_alerts()
    assert "on track to run out on 29 December, in 9 days" in alert.message
    assert "$805.00 of $900.00 spent" in alert.message


def test_no_alert_while_the_run_out_is_further_away_than_the_policy_says(policy, engineer, team, my_key):
    with _at_noon(date(2026, 11, 18)):
        user_budget(engineer, team, "900")  # $485 spent, runs out on 29 December: 41 days away
        _daily(my_key, "10", date(2026, 10, 1), date(2026, 11, 17))
        spend(my_key, "5", day=date(2026, 11, 18))
        enforce_budgets()
    assert _forecast_alerts() == []
    budget_policy = BudgetPolicy.current()
    budget_policy.forecast_alert_days = 45
    budget_policy.save()
    with _at_noon(date(2026, 11, 18)):
        enforce_budgets()
    assert "in 41 days" in _forecast_alerts()[0].message


def test_a_forecast_alert_is_sent_once_per_crossing(policy, engineer, team, my_key):
    with _at_noon(date(2026, 12, 20)):
        budget = user_budget(engineer, team, "900")
    _daily(my_key, "10", date(2026, 10, 1), date(2026, 12, 19))
    for day in (date(2026, 12, 20), date(2026, 12, 21)):
        with _at_noon(day):
            spend(my_key, "10", day=day)
            enforce_budgets()
    assert len(_forecast_alerts()) == 1
    Budget.objects.filter(pk=budget.pk).update(amount_usd="920")  # a bump: a new amount is a new crossing
    with _at_noon(date(2026, 12, 22)):
        spend(my_key, "10", day=date(2026, 12, 22))
        enforce_budgets()
        enforce_budgets()
    assert sorted(a.dedupe for a in _forecast_alerts()) == ["900.00", "920.00"]


def test_one_runaway_day_raises_no_forecast_alert(policy, engineer, team, my_key):
    """$100 a day and one $3,000 day: $12,150 by quarter end against $13,000. Copying the runaway day onto
    every later Tuesday would project a run-out in mid-December."""
    with _at_noon(date(2026, 11, 18)):
        user_budget(engineer, team, "13000")
        _daily(my_key, "100", date(2026, 10, 1), date(2026, 11, 17))
        spend(my_key, "3000", day=date(2026, 11, 17))  # yesterday, a Tuesday
        spend(my_key, "50", day=date(2026, 11, 18))
        enforce_budgets()
        html = login(engineer).get(reverse("home")).content.decode()
    assert _forecast_alerts() == []
    assert "On track" in html and "runs out" not in html


def test_growth_is_alerted_a_week_or_more_before_the_crossing(policy, engineer, team, my_key):
    """Spend doubling every 14 days; the budget runs out on 14 December. A run each morning from 1 November."""
    from budgets.management.commands.forecast_accuracy import series_of

    daily = series_of("doubling every 14 days")
    budget_total = sum(v for d, v in daily.items() if date(2026, 10, 1) <= d <= date(2026, 12, 14))
    first_alert, day = None, date(2026, 11, 1)
    for d, value in daily.items():
        if d < day:
            spend(my_key, value, day=d)
    while first_alert is None and day <= date(2026, 12, 14):
        with time_machine.travel(datetime(day.year, day.month, day.day, 6, tzinfo=UTC), tick=False):
            if day == date(2026, 11, 1):
                user_budget(engineer, team, f"{budget_total:.2f}")
            morning = spend(my_key, daily[day] / 4, day=day)
            enforce_budgets()
        morning.cost_usd = daily[day]  # the rest of the day arrives with later syncs
        morning.save()
        if _forecast_alerts():
            first_alert = day
        day += timedelta(days=1)
    assert first_alert is not None and (date(2026, 12, 14) - first_alert).days >= 7


def test_the_budget_page_shows_both_lines_the_band_and_the_method(policy, engineer, team, my_key):
    from budgets.management.commands.forecast_accuracy import series_of

    daily = series_of("doubling every 14 days")
    with _at_noon(date(2026, 11, 14)):
        budget = user_budget(engineer, team, "60000")
        for d, value in daily.items():
            if d < date(2026, 11, 14):
                spend(my_key, value, day=d)
        html = login(engineer).get(reverse("budgets:detail", args=[budget.pk])).content.decode()
    assert "if the trend continues" in html and "$57,145 at this week's rate" in html
    assert "80&nbsp;% range" in html
    assert "spend grew about 4" in html and "% a week, and the trend line follows" in html
    assert "If the trend continues</span>" in html  # the chart's legend: the trend line is drawn
    assert 'fill-opacity=".14"' in html  # the band


def test_a_new_scope_says_there_is_not_enough_history(policy, engineer, team, my_key):
    with _at_noon(date(2026, 11, 18)):
        budget = user_budget(engineer, team, "500")
        _daily(my_key, "40", date(2026, 11, 15), date(2026, 11, 17))
        html = login(engineer).get(reverse("budgets:detail", args=[budget.pk])).content.decode()
    assert "Not enough history yet for a forecast: Only 3 days of spend so far" in html
    assert "On track to run out" not in html


def test_budget_pages_read_a_fixed_number_of_queries(policy, simulated, finance, cost_center):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.budget_factories import team_budget
    from tests.factories import MembershipFactory, TeamFactory, UserFactory

    def grow(n: int) -> None:
        for _ in range(n):
            other = TeamFactory(cost_center=cost_center)
            team_budget(other, "1000")
            person = UserFactory()
            MembershipFactory(user=person, team=other)
            _daily(simulated_key(simulated, team=other, owner_user=person), "7", date(2026, 10, 5), date(2026, 11, 17))

    with _at_noon(date(2026, 11, 18)):
        grow(2)
        client = login(finance)
        with CaptureQueriesContext(connection) as few:
            client.get(reverse("budgets:overview"))
        grow(6)
        with CaptureQueriesContext(connection) as many:
            client.get(reverse("budgets:overview"))
    assert len(many) == len(few)
