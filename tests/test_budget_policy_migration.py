"""Moving the budget settings from allocator.Policy to budgets.BudgetPolicy keeps a customised policy, both ways."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from budgets.models import BudgetPolicy
from tests.factories import UserFactory

BEFORE = [("allocator", "0006_key_amounts_in_range"), ("budgets", "0003_budget_money_within_column_bounds")]
AFTER = [("allocator", "0007_policy_without_budget_settings"), ("budgets", "0004_budget_policy")]
CUSTOM = {
    "alert_thresholds": [25, 75, 110],
    "runaway_multiplier": Decimal("3.50"),
    "runaway_min_usd": Decimal("42.00"),
    "suspend_on_runaway": True,
    "forecast_alert_days": 30,
}
HOOK = "https://hooks.slack.com/services/T0/B0/finance"


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _stored_webhook(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT finance_slack_webhook_url FROM {table} WHERE id = 1")  # noqa: S608
        return cursor.fetchone()[0]


def _migrate_to_latest():
    """Later migrations may add budget policy fields; the current model is only usable once they have run."""
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


@pytest.fixture
def back_to_latest():
    yield
    _migrate_to_latest()


@pytest.mark.django_db(transaction=True)
def test_a_customised_policy_keeps_its_budget_settings_through_the_move(back_to_latest):
    admin = UserFactory()
    old = _migrate(BEFORE)
    Policy = old.get_model("allocator", "Policy")
    Policy.objects.create(
        pk=1, auto_approve_limit_usd=Decimal("80.00"), finance_slack_webhook_url=HOOK, updated_by_id=admin.pk, **CUSTOM
    )
    ciphertext = _stored_webhook("allocator_policy")
    assert ciphertext and HOOK not in ciphertext

    _migrate(AFTER)
    _migrate_to_latest()

    moved = BudgetPolicy.current()
    assert {name: getattr(moved, name) for name in CUSTOM} == CUSTOM
    assert moved.thresholds == [25, 75, 110] and moved.updated_by_id == admin.pk
    assert moved.finance_slack_webhook_url == HOOK
    assert _stored_webhook("budgets_budgetpolicy") == ciphertext  # copied as stored, still encrypted
    with connection.cursor() as cursor:
        cursor.execute("SELECT auto_approve_limit_usd FROM allocator_policy WHERE id = 1")
        assert Decimal(str(cursor.fetchone()[0])) == Decimal("80.00")


@pytest.mark.django_db(transaction=True)
def test_migrating_back_returns_the_budget_settings_to_the_policy(back_to_latest):
    _migrate(BEFORE)
    after = _migrate(AFTER)
    after.get_model("budgets", "BudgetPolicy").objects.create(
        pk=1, finance_slack_webhook_url=HOOK, **{**CUSTOM, "forecast_alert_days": 9}
    )

    old = _migrate(BEFORE)

    policy = old.get_model("allocator", "Policy").objects.get(pk=1)
    assert policy.forecast_alert_days == 9 and policy.alert_thresholds == [25, 75, 110]
    assert policy.runaway_min_usd == Decimal("42.00") and policy.suspend_on_runaway
    assert policy.finance_slack_webhook_url == HOOK


@pytest.mark.django_db(transaction=True)
def test_a_database_without_a_policy_row_gets_the_defaults(back_to_latest):
    _migrate(BEFORE)
    _migrate(AFTER)
    _migrate_to_latest()
    assert not BudgetPolicy.objects.exists()
    assert BudgetPolicy.current().thresholds == [50, 80, 100] and BudgetPolicy.current().forecast_alert_days == 14
