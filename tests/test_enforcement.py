"""enforce_budgets(): thresholds, hard/soft, tightest scope, reinstatement, forecast and runaway alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from allocator.models import Key, SimulatedKey
from allocator.quarters import Quarter
from budgets.enforce import enforce_budgets
from budgets.models import Alert, BudgetPolicy, KeyEnforcement
from tests.budget_factories import (
    hourly,
    pinned_clock,
    project_budget,
    simulated_key,
    spend,
    team_budget,
    user_budget,
)
from tests.factories import MembershipFactory, UserFactory


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


@pytest.fixture
def my_key(simulated, engineer, team):
    return simulated_key(simulated, team=team, owner_user=engineer, name="erin-dev")


def _alerts(**filters):
    return list(Alert.objects.filter(**filters).order_by("threshold").values_list("kind", "threshold", "status"))


def test_spend_exactly_at_a_hard_budget_alerts_once_and_suspends(policy, engineer, team, my_key):
    user_budget(engineer, team, "100.00")
    spend(my_key, "60.000000")
    spend(my_key, "40.000000")

    report = enforce_budgets()

    assert _alerts(scope_key=f"user:{engineer.pk}") == [
        ("threshold", 50, "skipped"),
        ("threshold", 80, "skipped"),
        ("threshold", 100, "pending"),
    ]
    my_key.refresh_from_db()
    assert my_key.status == Key.Status.SUSPENDED
    assert "Over budget" in my_key.status_reason
    assert SimulatedKey.objects.get(key_id=my_key.provider_key_id).disabled
    assert KeyEnforcement.objects.get(key=my_key).suspended_by == "budget"
    assert report.suspended == [my_key.pk]
    alert = Alert.objects.get(threshold=100)
    assert "erin-dev" in alert.message and "suspended" in alert.message


def test_one_cent_under_the_budget_does_not_suspend(policy, engineer, team, my_key):
    user_budget(engineer, team, "100.00")
    spend(my_key, "99.990000")

    enforce_budgets()

    my_key.refresh_from_db()
    assert my_key.status == Key.Status.ACTIVE
    assert [t for _, t, _ in _alerts()] == [50, 80]


def test_rerunning_never_repeats_an_alert(policy, engineer, team, my_key):
    user_budget(engineer, team, "100.00")
    spend(my_key, "85")
    enforce_budgets()
    enforce_budgets()
    assert Alert.objects.count() == 2
    spend(my_key, "20")  # now 105 %
    enforce_budgets()
    enforce_budgets()
    assert [t for _, t, _ in _alerts()] == [50, 80, 100]


def test_soft_budget_only_alerts(policy, engineer, team, my_key):
    user_budget(engineer, team, "100.00", hard=False)
    spend(my_key, "150")

    enforce_budgets()

    my_key.refresh_from_db()
    assert my_key.status == Key.Status.ACTIVE
    alert = Alert.objects.get(threshold=100)
    assert "soft" in alert.message


def test_tightest_scope_decides(policy, simulated, engineer, manager, team, project, my_key):
    """Erin's own budget has room, but the team's hard budget is spent by a project key: both keys stop."""
    user_budget(engineer, team, "500.00")
    team_budget(team, "300.00")
    project_key = simulated_key(simulated, team=team, owner_project=project, name="ranking-prod")
    spend(my_key, "50")
    spend(project_key, "260")

    enforce_budgets()

    for key in (my_key, project_key):
        key.refresh_from_db()
        assert key.status == Key.Status.SUSPENDED
        assert "team Search" in key.status_reason
    assert KeyEnforcement.objects.get(key=my_key).scope_key == f"team:{team.pk}"


def test_project_budget_stops_only_its_keys(policy, simulated, engineer, team, project, my_key):
    project_budget(project, "100")
    project_key = simulated_key(simulated, team=team, owner_project=project)
    spend(project_key, "120")

    enforce_budgets()

    project_key.refresh_from_db()
    my_key.refresh_from_db()
    assert project_key.status == Key.Status.SUSPENDED
    assert my_key.status == Key.Status.ACTIVE


def test_raised_budget_reinstates_only_keys_enforcement_suspended(policy, simulated, engineer, team, my_key):
    budget = user_budget(engineer, team, "100")
    manual = simulated_key(simulated, team=team, owner_user=engineer)
    Key.objects.filter(pk=manual.pk).update(status=Key.Status.SUSPENDED, status_reason="by a manager")
    spend(my_key, "100")
    enforce_budgets()
    my_key.refresh_from_db()
    assert my_key.status == Key.Status.SUSPENDED

    budget.amount_usd = Decimal("300")
    budget.save()
    report = enforce_budgets()

    my_key.refresh_from_db()
    manual.refresh_from_db()
    assert report.reinstated == [my_key.pk]
    assert my_key.status == Key.Status.ACTIVE
    assert not SimulatedKey.objects.get(key_id=my_key.provider_key_id).disabled
    assert manual.status == Key.Status.SUSPENDED  # not ours to lift
    assert KeyEnforcement.objects.get(key=my_key).suspended_by == ""


def test_new_quarter_reinstates(policy, engineer, team, my_key):
    quarter = Quarter.current()
    user_budget(engineer, team, "100")
    spend(my_key, "100")
    enforce_budgets()
    my_key.refresh_from_db()
    assert my_key.status == Key.Status.SUSPENDED

    with time_machine.travel(datetime.combine(quarter.end, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)):
        user_budget(engineer, team, "100", quarter=quarter.next())
        report = enforce_budgets()

    my_key.refresh_from_db()
    assert my_key.status == Key.Status.ACTIVE
    assert report.quarter == quarter.next().name


def test_forecast_alert_names_the_run_out_date(policy, engineer, team, my_key, settings):
    """$10 a day against $300 from 1 October: $190 spent by the 20th, runs out on 31 October (within 14 days)."""
    settings.FISCAL_YEAR_START_MONTH = 1  # the quarter is October-December, FY2026-Q4, whatever the deployment says
    with time_machine.travel(datetime(2026, 10, 20, 12, tzinfo=UTC), tick=False):
        user_budget(engineer, team, "300")
        for day in range(1, 20):
            spend(my_key, "10", day=datetime(2026, 10, day).date())
        enforce_budgets()
    alert = Alert.objects.get(kind=Alert.Kind.FORECAST)
    assert "on track to run out on 31 October, in 11 days" in alert.message


def test_no_forecast_alert_while_the_run_out_is_more_than_the_policy_days_away(
    policy, engineer, team, my_key, settings
):
    settings.FISCAL_YEAR_START_MONTH = 1  # the quarter is October-December
    with time_machine.travel(datetime(2026, 10, 20, 12, tzinfo=UTC), tick=False):
        user_budget(engineer, team, "500")  # runs out on 20 November: 31 days away, the policy says 14
        for day in range(1, 20):
            spend(my_key, "10", day=datetime(2026, 10, day).date())
        enforce_budgets()
    assert not Alert.objects.filter(kind=Alert.Kind.FORECAST).exists()


def test_runaway_key_alerts_and_is_suspended_by_policy(policy, simulated, engineer, team, my_key):
    budget_policy = BudgetPolicy.current()
    budget_policy.suspend_on_runaway = True
    budget_policy.save()
    calm = simulated_key(simulated, team=team, owner_user=engineer)
    now = timezone.now()
    for hours_ago in range(2, 26):
        hourly(my_key, "1.00", at=now - timedelta(hours=hours_ago))
        hourly(calm, "8.00", at=now - timedelta(hours=hours_ago))
    hourly(my_key, "40.00", at=now - timedelta(hours=1))
    hourly(calm, "12.00", at=now - timedelta(hours=1))

    report = enforce_budgets()

    assert report.runaway == [my_key.pk]
    alert = Alert.objects.get(kind=Alert.Kind.RUNAWAY)
    assert alert.key == my_key and "$40.00 in the last hour" in alert.message
    my_key.refresh_from_db()
    calm.refresh_from_db()
    assert my_key.status == Key.Status.SUSPENDED and calm.status == Key.Status.ACTIVE
    assert KeyEnforcement.objects.get(key=my_key).suspended_by == "runaway"
    enforce_budgets()
    assert Alert.objects.filter(kind=Alert.Kind.RUNAWAY).count() == 1


def test_runaway_below_the_minimum_dollars_is_ignored(policy, engineer, team, my_key):
    now = timezone.now()
    hourly(my_key, "0.01", at=now - timedelta(hours=3))
    hourly(my_key, "5.00", at=now - timedelta(hours=1))  # 500x, but under $10
    assert enforce_budgets().runaway == []


def _scale(simulated, team, n: int) -> None:
    for i in range(n):
        person = UserFactory()
        MembershipFactory(user=person, team=team)
        key = simulated_key(simulated, team=team, owner_user=person, limit_usd="20")  # half the keys past it
        user_budget(person, team, "100")
        spend(key, "10" if i % 2 else "30")
        hourly(key, "1", at=timezone.now() - timedelta(hours=3))


def test_query_count_does_not_grow_with_keys_or_scopes(policy, simulated, team, django_assert_max_num_queries):
    team_budget(team, "100000")
    _scale(simulated, team, 3)
    enforce_budgets()  # the first run records the alerts; later runs are the steady state
    with CaptureQueriesContext(connection) as few:
        enforce_budgets()
    _scale(simulated, team, 40)
    enforce_budgets()
    with CaptureQueriesContext(connection) as many:
        enforce_budgets()
    assert len(many) == len(few), [q["sql"][:90] for q in many.captured_queries]
    with django_assert_max_num_queries(11):  # the last one keeps the daily series for the pages
        enforce_budgets()
