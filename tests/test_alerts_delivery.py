"""The alert outbox: Slack delivery to the loopback webhook emulator, retries, no duplicates, fallbacks."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accounts.models import Notification
from budgets.alerts import MAX_ATTEMPTS, alert_deliver, approval_alerts_sync
from budgets.enforce import enforce_budgets
from budgets.models import Alert, BudgetPolicy
from tests.budget_factories import (
    AlertFactory,
    BudgetRequestFactory,
    pinned_clock,
    simulated_key,
    spend,
    team_budget,
    user_budget,
)
from tests.factories import KeyRequestFactory


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


@pytest.fixture
def team_hook(team, slack_emulator):
    team.slack_webhook_url = slack_emulator.webhook_url
    team.save()
    return slack_emulator


@pytest.fixture
def alert(team, engineer, manager):
    budget = user_budget(engineer, team, "100")
    return AlertFactory(
        scope="user",
        scope_key=budget.scope_key,
        budget=budget,
        team=team,
        user=engineer,
        threshold=80,
        message="Erin Engineer: $80.00 spent of the $100.00 FY2026-Q4 budget (80 %).",
        url=budget.get_absolute_url(),
    )


def test_slack_gets_a_block_kit_message_with_a_link(settings, policy, alert, engineer, manager, team_hook):
    settings.SITE_URL = "https://allocator.example.com"

    assert alert_deliver(alert_id=alert.pk).status == "sent"

    (payload,) = team_hook.payloads
    assert payload["text"].startswith("Budget alert: Erin Engineer: $80.00 spent")
    section, context = payload["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert "*:bar_chart: Budget alert*" in section["text"]["text"]
    assert f"<https://allocator.example.com{alert.url}|Open in Allocator>" in context["elements"][0]["text"]
    request = team_hook.requests_to("POST")[0]
    assert request.headers["content-type"] == "application/json"
    alert.refresh_from_db()
    assert (alert.status, alert.channel, alert.attempts) == ("sent", "slack:team", 1)
    # In-app for the person and their manager, always.
    assert set(Notification.objects.values_list("user__email", flat=True)) == {engineer.email, manager.email}


def test_a_500_is_retried_later_and_sent_once(policy, alert, team_hook):
    team_hook.fail_next(1, status=500)
    first = alert_deliver(alert_id=alert.pk)
    assert first.status == "retry" and first.retry_in == 30
    alert.refresh_from_db()
    assert alert.status == "pending" and "500" in alert.last_error and alert.next_attempt_at > timezone.now()

    assert alert_deliver(alert_id=alert.pk).status == "skipped"  # not due yet
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        assert alert_deliver(alert_id=alert.pk).status == "sent"
        assert alert_deliver(alert_id=alert.pk).status == "skipped"  # never twice after success
    assert len(team_hook.payloads) == 1
    assert len(team_hook.requests_to("POST")) == 2
    assert Notification.objects.count() == 2  # in-app written once, not per attempt


def test_slack_429_retry_after_is_honoured(policy, alert, team_hook):
    team_hook.fail_next(1, status=429, retry_after=120)
    before = timezone.now()
    result = alert_deliver(alert_id=alert.pk)
    assert result.status == "retry" and result.retry_in == 120
    alert.refresh_from_db()
    assert alert.next_attempt_at >= before + timedelta(seconds=120)
    assert "rate_limited" in alert.last_error


def test_a_partial_failure_retries_only_the_missing_channel(policy, team, slack_emulator):
    from tests.emulators.slack import SlackEmulator

    with SlackEmulator() as finance_hook:
        team.slack_webhook_url = slack_emulator.webhook_url
        team.save()
        budget_policy = BudgetPolicy.current()
        budget_policy.finance_slack_webhook_url = finance_hook.webhook_url
        budget_policy.save()
        budget = team_budget(team, "1000")
        alert = AlertFactory(scope="team", scope_key=budget.scope_key, team=team, budget=budget)
        finance_hook.fail_next(1, status=503)

        assert alert_deliver(alert_id=alert.pk).status == "retry"
        with time_machine.travel(timezone.now() + timedelta(minutes=5)):
            assert alert_deliver(alert_id=alert.pk).status == "sent"

        assert len(slack_emulator.payloads) == 1 and len(finance_hook.payloads) == 1
        alert.refresh_from_db()
        assert alert.delivered_to == ["slack:team", "slack:finance"]


def test_without_slack_the_alert_is_emailed(policy, alert, engineer, manager):
    assert alert_deliver(alert_id=alert.pk).status == "sent"
    (message,) = mail.outbox
    assert set(message.to) == {engineer.email, manager.email}
    assert "$80.00" in message.body and alert.url in message.body
    alert.refresh_from_db()
    assert alert.channel == "email"


def test_a_dead_webhook_fails_for_good_and_falls_back_to_email(policy, alert, team_hook):
    team_hook.fail_next(1, status=404, code="no_service")
    assert alert_deliver(alert_id=alert.pk).status == "sent"
    alert.refresh_from_db()
    assert alert.channel == "email" and "no_service" in alert.last_error
    assert len(mail.outbox) == 1


def test_after_max_attempts_the_alert_is_failed_not_lost(policy, alert, team_hook, admin, client_for):
    from django.urls import reverse

    Alert.objects.filter(pk=alert.pk).update(attempts=MAX_ATTEMPTS - 1)
    team_hook.fail_next(1, status=500)
    assert alert_deliver(alert_id=alert.pk).status == "failed"
    alert.refresh_from_db()
    assert alert.status == "failed"

    client_for(admin).post(reverse("budgets:alert_retry", args=[alert.pk]))
    alert.refresh_from_db()
    assert alert.status in ("pending", "sent")


def test_enforcement_queues_delivery_through_celery(
    policy, simulated, engineer, team, team_hook, eager_celery, django_capture_on_commit_callbacks
):
    key = simulated_key(simulated, team=team, owner_user=engineer)
    user_budget(engineer, team, "100")
    spend(key, "100")
    with django_capture_on_commit_callbacks(execute=True):
        enforce_budgets()
    assert [p["blocks"][0]["text"]["text"].split("\n")[0] for p in team_hook.payloads] == ["*:bar_chart: Budget alert*"]
    assert Alert.objects.get(threshold=100).status == "sent"
    assert Alert.objects.get(threshold=50).status == "skipped"


def test_waiting_requests_get_slack_buttons(policy, simulated, engineer, team, team_hook):
    bump = BudgetRequestFactory(budget=user_budget(engineer, team, "100"), requester=engineer)
    key_request = KeyRequestFactory(requester=engineer, account=simulated, team=team)
    assert approval_alerts_sync() == 2
    assert approval_alerts_sync() == 0
    for alert in Alert.objects.filter(kind="approval"):
        alert_deliver(alert_id=alert.pk)
    values = sorted(p["blocks"][-1]["elements"][0]["value"] for p in team_hook.payloads)
    assert values == [f"budget_request:{bump.pk}", f"key_request:{key_request.pk}"]
    actions = team_hook.payloads[0]["blocks"][-1]
    assert actions["type"] == "actions"
    assert [e["action_id"] for e in actions["elements"]] == ["approve", "reject"]
    assert not Notification.objects.exists()  # the services already told the approvers in-app


def test_approval_messages_are_slack_only(policy, engineer, manager, team):
    bump = BudgetRequestFactory(budget=user_budget(engineer, team, "100"), requester=engineer)
    approval_alerts_sync()
    alert = Alert.objects.get(scope_key=f"budget_request:{bump.pk}")
    assert alert_deliver(alert_id=alert.pk).status == "sent"
    assert mail.outbox == [] and not Notification.objects.exists()
