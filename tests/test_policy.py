"""The policy page: approvals, secrets and usage (allocator Policy) and alerts and enforcement (BudgetPolicy)."""

import re

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from allocator.models import Policy
from budgets.models import BudgetPolicy
from tests.conftest import login

VALID = {
    "default_allowance_usd": "100",
    "auto_approve_limit_usd": "75",
    "finance_approval_above_usd": "2000",
    "alert_thresholds": "[100, 50, 80]",
    "runaway_multiplier": "5",
    "runaway_min_usd": "10",
    "forecast_alert_days": "14",
    "secret_reveal_hours": "24",
    "sync_overlap_hours": "48",
    "usage_retention_months": "13",
}
BUDGET_SETTINGS = {
    "alert_thresholds": "90, 60",
    "runaway_multiplier": "7.5",
    "runaway_min_usd": "25.50",
    "suspend_on_runaway": "on",
    "forecast_alert_days": "21",
}


def test_admin_changes_policy_and_it_is_audited(admin):
    response = login(admin).post(reverse("allocator:policy"), VALID)
    assert response.status_code == 302
    policy = Policy.current()
    assert str(policy.auto_approve_limit_usd) == "75.00" and BudgetPolicy.current().thresholds == [50, 80, 100]
    event = AuditEvent.objects.get(action="policy.changed", target_type="allocator.policy")
    assert event.actor == admin and event.details["auto_approve_limit_usd"] == "75"


def test_the_page_saves_the_budget_settings_and_audits_them(admin):
    browser = login(admin)
    response = browser.post(reverse("allocator:policy"), {**VALID, **BUDGET_SETTINGS})
    assert response.status_code == 302
    saved = BudgetPolicy.current()
    assert saved.thresholds == [60, 90] and saved.alert_thresholds == [60, 90]
    assert str(saved.runaway_multiplier) == "7.50" and str(saved.runaway_min_usd) == "25.50"
    assert saved.suspend_on_runaway and saved.forecast_alert_days == 21 and saved.updated_by == admin
    assert str(Policy.current().auto_approve_limit_usd) == "75.00"
    event = AuditEvent.objects.get(action="policy.changed", target_type="budgets.budgetpolicy")
    assert event.actor == admin
    assert event.details["forecast_alert_days"] == "21" and event.details["suspend_on_runaway"] == "True"
    page = browser.get(reverse("allocator:policy")).content.decode()
    assert 'value="60, 90"' in page and 'value="25.50"' in page and 'value="21"' in page
    assert "Alerts and enforcement" in page and "Approvals" in page and "Secrets and usage data" in page


def test_saving_unchanged_budget_settings_records_no_budget_event(admin):
    browser = login(admin)
    assert browser.post(reverse("allocator:policy"), {**VALID, **BUDGET_SETTINGS}).status_code == 302
    assert browser.post(reverse("allocator:policy"), {**VALID, **BUDGET_SETTINGS}).status_code == 302
    assert AuditEvent.objects.filter(action="policy.changed", target_type="budgets.budgetpolicy").count() == 1
    assert AuditEvent.objects.filter(action="policy.changed", target_type="allocator.policy").count() == 2


def test_bad_policy_rerenders_with_reasons_and_keeps_input(admin):
    bad = {**VALID, "alert_thresholds": "[50, 'x']", "finance_approval_above_usd": "10"}
    response = login(admin).post(reverse("allocator:policy"), bad)
    assert response.status_code == 200
    assert b"Give whole percentages between 1 and 200" in response.content
    assert b"Must be at least the auto-approve limit" in response.content
    assert b'value="75"' in response.content
    assert Policy.current().auto_approve_limit_usd != 75


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("alert_thresholds", "50, eighty", "Give whole percentages between 1 and 200"),
        ("alert_thresholds", "0, 500", "Give whole percentages between 1 and 200"),
        ("alert_thresholds", "", "This field is required."),
        ("runaway_min_usd", "1e30", "Enter an amount in dollars, like 250 or 99.50."),
        ("runaway_min_usd", "999999999", "Enter at most $10,000,000.00."),
        ("runaway_min_usd", "-5", "Enter at least $0.00."),
        ("runaway_multiplier", "123456", "Ensure that there are no more than 4 digits before the decimal point."),
        ("forecast_alert_days", "-1", "Ensure this value is greater than or equal to 0."),
        ("forecast_alert_days", "soon", "Enter a whole number."),
    ],
)
def test_bad_budget_settings_save_nothing_and_keep_every_input(admin, field, value, reason):
    before = BudgetPolicy.current()
    response = login(admin).post(reverse("allocator:policy"), {**VALID, **BUDGET_SETTINGS, field: value})
    assert response.status_code == 200
    page = response.content.decode()
    assert reason in page and "Nothing was saved" in page
    assert 'name="auto_approve_limit_usd" value="75"' in page
    assert re.search(r'<input type="checkbox" name="suspend_on_runaway"[^>]* checked>', page)
    assert f'name="{field}" value="{value}"' in page if value else f'name="{field}" value' not in page
    assert Policy.current().auto_approve_limit_usd != 75  # the other form's valid change is not saved either
    after = BudgetPolicy.current()
    assert after.alert_thresholds == before.alert_thresholds and after.forecast_alert_days == 14
    assert not after.suspend_on_runaway
    assert not AuditEvent.objects.filter(action="policy.changed").exists()


def test_policy_page_is_for_admins_only(engineer, manager, finance):
    for person in (engineer, manager, finance):
        assert login(person).post(reverse("allocator:policy"), {**VALID, **BUDGET_SETTINGS}).status_code == 403
    assert not BudgetPolicy.current().suspend_on_runaway


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ([100, 50, 80], [50, 80, 100]),
        ([], [50, 80, 100]),
        ("80", [50, 80, 100]),
        (["x", None, 500, "90", 60], [60, 90]),
    ],
)
def test_stored_thresholds_always_read_as_a_list_of_percentages(db, stored, read):
    BudgetPolicy.objects.update_or_create(pk=1, defaults={"alert_thresholds": stored})
    assert BudgetPolicy.current().thresholds == read


def test_the_alerts_page_names_the_budget_thresholds(admin):
    BudgetPolicy.objects.update_or_create(pk=1, defaults={"alert_thresholds": [75, "junk"], "forecast_alert_days": 9})
    page = login(admin).get(reverse("budgets:alerts")).content.decode()
    assert "crosses 75&nbsp;%" in page and "runs out within 9 days" in page
