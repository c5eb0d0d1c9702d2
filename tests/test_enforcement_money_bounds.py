"""No budget money can be stored out of range, and enforcement and alert delivery survive the largest amounts.

An engineer once asked for a bump of 999,999,999,999; it was stored (SQLite keeps any number in a decimal
column), and from then on every read of the row raised decimal.InvalidOperation: pages and the alert delivery
failed every minute.
"""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import DataError, IntegrityError, connection, transaction

from allocator.models import Key
from allocator.money import COLUMN_MAX_USD
from budgets.alerts import alert_deliver, alerts_due, approval_alerts_sync
from budgets.enforce import enforce_budgets
from budgets.models import Alert, Budget, BudgetRequest, KeyEnforcement
from tests.budget_factories import BudgetRequestFactory, pinned_clock, simulated_key, spend, user_budget

HUGE = [Decimal("999999999999"), Decimal("1e30"), Decimal("10000000000.00")]


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


@pytest.mark.parametrize("amount", HUGE)
def test_the_database_refuses_budget_money_beyond_its_columns(engineer, team, amount):
    budget = user_budget(engineer, team, "100")
    bump = BudgetRequestFactory(budget=budget, requester=engineer)
    # PostgreSQL's numeric(12, 2) refuses with a DataError; everywhere the check constraints refuse.
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        Budget.objects.filter(pk=budget.pk).update(amount_usd=amount)
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        BudgetRequest.objects.filter(pk=bump.pk).update(amount_usd=amount)
    budget.refresh_from_db()
    assert budget.amount_usd == Decimal("100.00")


def test_enforcement_and_alert_delivery_survive_the_largest_amounts(policy, simulated, engineer, manager, team):
    key = simulated_key(simulated, team=team, owner_user=engineer, name="erin-max", limit_usd=COLUMN_MAX_USD)
    budget = user_budget(engineer, team, COLUMN_MAX_USD)
    tiny = user_budget(manager, team, "0.01")
    manager_key = simulated_key(simulated, team=team, owner_user=manager, name="max-tiny")
    BudgetRequestFactory(budget=budget, requester=engineer, amount_usd=COLUMN_MAX_USD)
    for _ in range(12):  # far more than any column holds, in total
        spend(key, "999999999999.999999")
    spend(manager_key, "999999999999.999999")

    report = enforce_budgets()
    approval_alerts_sync()
    results = {alert_deliver(alert_id=pk).status for pk in alerts_due()}

    assert report.errors == [] and set(report.suspended) == {key.pk, manager_key.pk}
    assert results == {"sent"}
    message = Alert.objects.get(scope_key=budget.scope_key, threshold=100).message
    assert "of the $9,999,999,999.99" in message
    tiny_alert = Alert.objects.get(scope_key=tiny.scope_key, threshold=100)
    assert "$0.01" in tiny_alert.message and "%" in tiny_alert.message
    assert "+$9,999,999,999.99" in Alert.objects.get(kind=Alert.Kind.APPROVAL).message
    assert Key.objects.get(pk=key.pk).status == Key.Status.SUSPENDED
    assert enforce_budgets().errors == []  # and again, with everything stored


@pytest.mark.skipif(connection.vendor != "sqlite", reason="only SQLite could store out-of-range decimals")
def test_the_migration_clamps_rows_stored_out_of_range(engineer, team, simulated):
    budget = user_budget(engineer, team, "100")
    bump = BudgetRequestFactory(budget=budget, requester=engineer)
    key = simulated_key(simulated, team=team, owner_user=engineer)
    KeyEnforcement.objects.create(key=key, provider_limit_usd=Decimal("5"))
    with connection.cursor() as cursor:  # as an older version let them in
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        Budget.objects.filter(pk=budget.pk).update(amount_usd=Decimal("1e30"))
        BudgetRequest.objects.filter(pk=bump.pk).update(amount_usd=Decimal("999999999999"))
        KeyEnforcement.objects.filter(key=key).update(provider_limit_usd=Decimal("-3"))
        cursor.execute("PRAGMA ignore_check_constraints = OFF")

    migration = importlib.import_module("budgets.migrations.0003_budget_money_within_column_bounds")
    migration.clamp_out_of_range_amounts(apps, None)

    budget.refresh_from_db()
    bump.refresh_from_db()
    assert budget.amount_usd == COLUMN_MAX_USD and bump.amount_usd == COLUMN_MAX_USD
    assert KeyEnforcement.objects.get(key=key).provider_limit_usd == Decimal("0.00")
