"""A key's quarterly allowance is enforced like a hard budget: one alert per crossing, suspended at 100 %,
back when the allowance is raised (an approved bump that targets the key) or a new quarter starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import IntegrityError, transaction

from allocator.models import Key, SimulatedKey
from allocator.quarters import Quarter
from budgets.alerts import alert_deliver
from budgets.allowance import key_allowance_raise
from budgets.enforce import enforce_budgets
from budgets.models import Alert, BudgetRequest, KeyEnforcement
from tests.budget_factories import BudgetFactory, pinned_clock, simulated_key, spend, user_budget


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


@pytest.fixture
def capped_key(simulated, engineer, team):
    return simulated_key(simulated, team=team, owner_user=engineer, name="erin-batch", limit_usd="50.00")


def _alerts(key):
    rows = Alert.objects.filter(scope_key=f"key:{key.pk}", kind=Alert.Kind.THRESHOLD).order_by("threshold")
    return list(rows.values_list("threshold", "status"))


def test_a_spent_allowance_alerts_once_per_crossing_and_suspends_the_key(policy, capped_key, engineer, client_for):
    spend(capped_key, "50.00")

    report = enforce_budgets()
    enforce_budgets()  # a second run repeats nothing

    assert report.suspended == [capped_key.pk]
    assert _alerts(capped_key) == [(50, "skipped"), (80, "skipped"), (100, "pending")]
    capped_key.refresh_from_db()
    assert capped_key.status == Key.Status.SUSPENDED
    assert "quarterly allowance" in capped_key.status_reason
    assert SimulatedKey.objects.get(key_id=capped_key.provider_key_id).disabled
    alert = Alert.objects.get(scope_key=f"key:{capped_key.pk}", threshold=100)
    assert "Key erin-batch: $50.00 spent of the $50.00" in alert.message
    assert "erin-batch (Erin Engineer): suspended" in alert.message
    page = client_for(engineer).get(f"/keys/{capped_key.pk}/")
    assert page.status_code == 200 and "Suspended" in page.content.decode()


def test_the_owner_is_told_when_the_allowance_is_spent(policy, capped_key, engineer):
    spend(capped_key, "41.00")  # 82 %
    enforce_budgets()

    alert = Alert.objects.get(scope_key=f"key:{capped_key.pk}", threshold=80)
    assert alert_deliver(alert_id=alert.pk).status == "sent"
    assert engineer.notifications.filter(text__contains="erin-batch").exists()
    capped_key.refresh_from_db()
    assert capped_key.status == Key.Status.ACTIVE  # 82 % alerts only


def test_one_cent_under_the_allowance_keeps_the_key(policy, capped_key):
    spend(capped_key, "49.99")
    assert enforce_budgets().suspended == []


def test_a_key_without_an_allowance_is_limited_only_by_budgets(policy, simulated, engineer, team):
    key = simulated_key(simulated, team=team, owner_user=engineer)
    Key.objects.filter(pk=key.pk).update(limit_usd=Decimal("0"))  # shown as "—": no allowance
    spend(key, "500")
    assert enforce_budgets().suspended == []
    assert not Alert.objects.filter(scope_key=f"key:{key.pk}").exists()


def test_a_raised_allowance_reinstates_the_key_without_repeating_alerts(
    policy, capped_key, eager_celery, django_capture_on_commit_callbacks
):
    spend(capped_key, "50.00")
    enforce_budgets()

    with django_capture_on_commit_callbacks(execute=True):
        key_allowance_raise(key=capped_key, amount_usd=Decimal("50.00"))

    capped_key.refresh_from_db()
    assert capped_key.limit_usd == Decimal("100.00")
    assert capped_key.status == Key.Status.ACTIVE
    assert KeyEnforcement.objects.get(key=capped_key).suspended_by == ""
    # At $50 of $100 the 50 % crossing is recorded as already past, not announced again.
    assert Alert.objects.filter(scope_key=f"key:{capped_key.pk}", dedupe="100.00").get().status == "skipped"
    enforce_budgets()
    assert Alert.objects.filter(scope_key=f"key:{capped_key.pk}", dedupe="100.00").count() == 1


def test_the_tighter_of_allowance_and_budget_decides(policy, capped_key, engineer, team):
    user_budget(engineer, team, "500")
    spend(capped_key, "60")

    enforce_budgets()

    capped_key.refresh_from_db()
    assert capped_key.status == Key.Status.SUSPENDED
    assert KeyEnforcement.objects.get(key=capped_key).scope_key == f"key:{capped_key.pk}"


def test_a_new_quarter_reinstates_a_key_whose_allowance_was_spent(policy, capped_key):
    spend(capped_key, "50")
    enforce_budgets()
    quarter = Quarter.current()

    with time_machine.travel(datetime.combine(quarter.end, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)):
        report = enforce_budgets()

    assert report.reinstated == [capped_key.pk]


def test_a_bump_targets_either_a_budget_or_a_key_never_both(engineer, capped_key):
    budget = BudgetFactory()
    common = {"requester": engineer, "amount_usd": Decimal("10"), "reason": "eval"}
    BudgetRequest.objects.create(key=capped_key, **common)
    for targets in ({"budget": budget, "key": capped_key}, {}):
        with pytest.raises(IntegrityError), transaction.atomic():
            BudgetRequest.objects.create(**targets, **common)


def test_demo_budgets_raise_allowances_the_demo_usage_is_past(policy, simulated, engineer, team, finance):
    """Demo keys are minted with a $50 allowance and then spend far more: seeding sizes their allowances."""
    from django.core.management import call_command

    busy = simulated_key(simulated, team=team, owner_user=engineer, limit_usd="50")
    roomy = simulated_key(simulated, team=team, owner_user=engineer, limit_usd="5000")
    spend(busy, "500")
    spend(roomy, "10")

    call_command("seed_demo_budgets")
    enforce_budgets()

    busy.refresh_from_db()
    roomy.refresh_from_db()
    assert busy.limit_usd > Decimal("500") and roomy.limit_usd == Decimal("5000.00")  # raised, never lowered
    assert not Alert.objects.filter(scope_key=f"key:{busy.pk}", threshold=100).exists()
