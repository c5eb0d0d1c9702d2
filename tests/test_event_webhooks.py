"""Event webhooks: set by an admin on the Slack page (URL encrypted, signing secret shown once), fed by the alert
outbox with signed JSON events, each destination delivered once (a retry never repeats one that succeeded),
failures retried with backoff and Retry-After. The receiver is a loopback HTTP server checking signatures."""

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from budgets.alerts import alert_deliver, approval_alerts_sync
from budgets.models import Alert
from budgets.webhooks import WebhookDestination
from tests.api_helpers import script
from tests.budget_factories import AlertFactory, BudgetRequestFactory, simulated_key, team_budget, user_budget
from tests.conftest import login
from tests.emulators.webhook_receiver import WebhookReceiver
from tests.factories import KeyRequestFactory


def _set_hook(receiver, *, team=None) -> WebhookDestination:
    destination = WebhookDestination.objects.create(team=team, url=receiver.hook_url, secret="whsec_test")
    receiver.secret = "whsec_test"
    return destination


def test_an_admin_sets_a_webhook_and_sees_its_secret_once(admin, team, webhook_receiver):
    browser = login(admin)
    page = browser.post(reverse("budgets:slack_settings"), {f"webhook-team-{team.pk}": webhook_receiver.hook_url})
    assert page.status_code == 200
    destination = WebhookDestination.objects.get(team=team)
    assert destination.secret.startswith("whsec_") and destination.secret in page.content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT url, secret FROM budgets_webhookdestination")
        stored_url, stored_secret = cursor.fetchone()
    assert webhook_receiver.hook_url not in stored_url and destination.secret not in stored_secret
    assert AuditEvent.objects.get(action="webhooks.changed").details["destinations"] == [str(team)]

    later = browser.get(reverse("budgets:slack_settings")).content.decode()
    assert destination.secret not in later and f"ends …{webhook_receiver.hook_url[-6:]}" in later
    bad = browser.post(reverse("budgets:slack_settings"), {"webhook-finance": "ftp://x"}, follow=True)
    assert "is an http(s) URL" in bad.content.decode() and not WebhookDestination.objects.filter(team=None).exists()
    browser.post(reverse("budgets:slack_settings"), {f"webhook-team-{team.pk}-clear": "on"})
    assert not WebhookDestination.objects.exists()


def test_an_alert_reaches_the_team_hook_signed(team, engineer, webhook_receiver):
    _set_hook(webhook_receiver, team=team)
    budget = user_budget(engineer, team, "100")
    alert = AlertFactory(scope="user", scope_key=budget.scope_key, team=team, budget=budget, user=engineer)
    assert alert_deliver(alert_id=alert.pk).status == "sent"
    alert.refresh_from_db()
    assert "webhook:team" in alert.delivered_to
    [event] = webhook_receiver.events
    assert event["type"] == "alert.raised" and event["id"] == f"alert-{alert.pk}"
    assert event["data"]["budget"] == budget.pk and event["data"]["team"] == team.slug
    assert event["data"]["url"].endswith("/budgets/")
    [request] = webhook_receiver.requests_to("POST")
    assert request.headers["x-allocator-event"] == "alert.raised"


def test_a_receiver_that_refuses_the_signature_fails_the_alert(team, webhook_receiver):
    _set_hook(webhook_receiver, team=team)
    webhook_receiver.secret = "whsec_other"
    alert = AlertFactory(team=team)
    assert alert_deliver(alert_id=alert.pk).status == "failed"
    assert "webhook:team: answered 401" in Alert.objects.get(pk=alert.pk).last_error
    assert webhook_receiver.hook_url not in Alert.objects.get(pk=alert.pk).last_error


def test_a_destination_that_succeeded_is_never_posted_again(team, webhook_receiver, slack_emulator):
    _set_hook(webhook_receiver, team=team)
    with WebhookReceiver() as finance_receiver:
        finance_receiver.secret = "whsec_fin"
        WebhookDestination.objects.create(team=None, url=finance_receiver.hook_url, secret="whsec_fin")
        finance_receiver.fail_next(1, status=503)
        budget = team_budget(team, "1000")
        alert = AlertFactory(scope="team", scope_key=budget.scope_key, team=team, budget=budget)
        first = alert_deliver(alert_id=alert.pk)
        assert first.status == "retry" and first.retry_in >= 30
        assert Alert.objects.get(pk=alert.pk).delivered_to == ["webhook:team"]
        later = timezone.now() + timedelta(seconds=first.retry_in + 1)
        assert alert_deliver(alert_id=alert.pk, now=later).status == "sent"
        assert len(webhook_receiver.events) == 1 and len(finance_receiver.events) == 1
        assert Alert.objects.get(pk=alert.pk).delivered_to == ["webhook:team", "webhook:finance"]


def test_retry_after_is_honoured(team, webhook_receiver):
    _set_hook(webhook_receiver, team=team)
    webhook_receiver.fail_next(1, status=429, retry_after=900)
    alert = AlertFactory(team=team)
    result = alert_deliver(alert_id=alert.pk)
    assert result.status == "retry" and result.retry_in == 900
    assert webhook_receiver.events == []


def test_waiting_and_decided_requests_and_key_changes_are_events(
    engineer, manager, team, simulated, policy, webhook_receiver, eager_celery, django_capture_on_commit_callbacks
):
    _set_hook(webhook_receiver, team=team)
    key_request = KeyRequestFactory(requester=engineer, account=simulated, team=team)
    approval_alerts_sync()
    for alert in Alert.objects.filter(kind="approval"):
        alert_deliver(alert_id=alert.pk)
    assert [(e["type"], e["data"]["subject"]) for e in webhook_receiver.events] == [
        ("request.waiting", {"type": "key_request", "id": key_request.pk})]

    key = simulated_key(simulated, team=team, owner_user=engineer)
    with django_capture_on_commit_callbacks(execute=True):
        assert script(manager).post(reverse("api:key_request_reject", args=[key_request.pk]), {"reason": "no"},
                                    content_type="application/json").status_code == 200
        assert script(manager).post(reverse("api:key_suspend", args=[key.pk]), {"reason": "pause"},
                                    content_type="application/json").status_code == 200
        assert script(manager).post(reverse("api:key_reinstate", args=[key.pk]), {},
                                    content_type="application/json").status_code == 200
    events = webhook_receiver.events[1:]
    assert [e["type"] for e in events] == ["request.decided", "key.suspended", "key.reinstated"]
    assert events[0]["data"]["decision"] == "rejected"
    assert events[1]["data"]["subject"] == {"type": "key", "id": key.pk}
    assert not Alert.objects.filter(kind="event").exclude(status="sent").exists()
    # Events are for the webhooks alone: no in-app notification or email came of them.
    assert Alert.objects.filter(kind="event", notified_at__isnull=False).count() == 0


def test_no_event_rows_without_a_webhook(engineer, manager, team, simulated, policy):
    bump = BudgetRequestFactory(budget=user_budget(engineer, team, "100"), requester=engineer)
    script(manager).post(reverse("api:budget_request_reject", args=[bump.pk]), {"reason": "no"},
                         content_type="application/json")
    assert not Alert.objects.filter(kind="event").exists()


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.SITE_URL = "https://allocator.example.com"
