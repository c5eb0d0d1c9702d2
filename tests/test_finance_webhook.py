"""The finance Slack webhook lives in the budget policy: set on the Slack page, encrypted at rest, re-encrypted
by rotate_encryption, and where finance alerts are posted."""

import io

from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from accounts.models import AuditEvent
from budgets.alerts import alert_deliver
from budgets.models import BudgetPolicy
from tests.budget_factories import AlertFactory, team_budget
from tests.conftest import login


def _stored() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT finance_slack_webhook_url FROM budgets_budgetpolicy WHERE id = 1")
        return cursor.fetchone()[0]


def test_the_slack_page_stores_the_finance_webhook_encrypted_and_tests_it(admin, slack_emulator):
    browser = login(admin)
    response = browser.post(reverse("budgets:slack_settings"), {"finance": slack_emulator.webhook_url}, follow=True)
    assert "Saved: finance." in response.content.decode()
    assert BudgetPolicy.current().finance_slack_webhook_url == slack_emulator.webhook_url
    assert _stored() and slack_emulator.webhook_url not in _stored()
    assert AuditEvent.objects.get(action="slack.webhooks_changed").details["destinations"] == ["finance"]
    page = browser.get(reverse("budgets:slack_settings")).content.decode()
    assert f"ends …{slack_emulator.webhook_url[-6:]}" in page and slack_emulator.webhook_url not in page

    response = browser.post(reverse("budgets:slack_settings"), {"test": "finance"}, follow=True)
    assert "Slack accepted the test message." in response.content.decode()
    assert len(slack_emulator.payloads) == 1

    browser.post(reverse("budgets:slack_settings"), {"finance": "", "finance-clear": "on"})
    assert BudgetPolicy.current().finance_slack_webhook_url == ""


def test_a_team_budget_alert_goes_to_the_finance_webhook(db, team, slack_emulator):
    BudgetPolicy.objects.update_or_create(pk=1, defaults={"finance_slack_webhook_url": slack_emulator.webhook_url})
    budget = team_budget(team, "1000")
    alert = AlertFactory(scope="team", scope_key=budget.scope_key, team=team, budget=budget)
    assert alert_deliver(alert_id=alert.pk).status == "sent"
    alert.refresh_from_db()
    assert alert.delivered_to == ["slack:finance"] and len(slack_emulator.payloads) == 1


def test_rotation_reencrypts_the_finance_webhook(db, settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ALLOCATOR_ENCRYPTION_KEYS = [old]
    hook = "https://hooks.slack.com/services/T0/B0/finance"
    BudgetPolicy.objects.update_or_create(pk=1, defaults={"finance_slack_webhook_url": hook})
    settings.ALLOCATOR_ENCRYPTION_KEYS = [new, old]
    out = io.StringIO()
    call_command("rotate_encryption", stdout=out)
    assert "budgets.BudgetPolicy.finance_slack_webhook_url: 1 re-encrypted" in out.getvalue()
    settings.ALLOCATOR_ENCRYPTION_KEYS = [new]  # the old key can now be dropped
    assert Fernet(new.encode()).decrypt(_stored().encode()).decode() == hook
    assert BudgetPolicy.current().finance_slack_webhook_url == hook
