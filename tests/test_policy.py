from django.urls import reverse

from accounts.models import AuditEvent
from allocator.models import Policy
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


def test_admin_changes_policy_and_it_is_audited(admin):
    response = login(admin).post(reverse("allocator:policy"), VALID)
    assert response.status_code == 302
    policy = Policy.current()
    assert str(policy.auto_approve_limit_usd) == "75.00" and policy.thresholds == [50, 80, 100]
    event = AuditEvent.objects.get(action="policy.changed")
    assert event.actor == admin and event.details["auto_approve_limit_usd"] == "75"


def test_bad_policy_rerenders_with_reasons_and_keeps_input(admin):
    bad = {**VALID, "alert_thresholds": "[50, 'x']", "finance_approval_above_usd": "10"}
    response = login(admin).post(reverse("allocator:policy"), bad)
    assert response.status_code == 200
    assert b"Give whole percentages between 1 and 200" in response.content
    assert b"Must be at least the auto-approve limit" in response.content
    assert b'value="75"' in response.content
    assert Policy.current().auto_approve_limit_usd != 75
