"""Anthropic spend-limit increase requests in the approvals inbox: mirrored from the provider, decided on the web
with an amount or a reason under the approval rules (nobody decides their own), audited, and sent back."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from allocator.models import ProviderKind
from budgets.increase_requests import increase_requests_sync
from budgets.models import SpendLimitRequest
from budgets.tasks import increase_requests_sync as sync_task
from tests.conftest import login
from tests.usage_helpers import emulator_account


@pytest.fixture
def anthropic(db, anthropic_emulator):
    return emulator_account(ProviderKind.ANTHROPIC, anthropic_emulator)


def test_pending_requests_join_the_inbox_of_the_requesters_manager(anthropic, anthropic_emulator, engineer, manager):
    anthropic_emulator.add_increase_request("engineer@example.com", 25_000, reason="eval week")
    anthropic_emulator.add_increase_request("stranger@example.com", 5_000)

    assert sync_task() == 2
    assert increase_requests_sync(account=anthropic) == 0  # known already

    mine = SpendLimitRequest.objects.get(requester=engineer)
    assert (mine.awaiting_step, mine.team_id, mine.amount_usd) == ("manager", engineer.teams.get().pk, Decimal("250"))
    assert SpendLimitRequest.objects.get(requester=None).awaiting_step == "finance"
    page = login(manager).get(reverse("allocator:approvals")).content.decode()
    assert "Provider spend-limit increases" in page and "Erin Engineer" in page and "$250.00" in page
    assert "stranger@example.com" not in page  # finance's to decide


def test_a_manager_approves_with_an_amount_and_the_provider_hears_it(
    anthropic, anthropic_emulator, engineer, manager, eager_celery, django_capture_on_commit_callbacks
):
    remote = anthropic_emulator.add_increase_request("engineer@example.com", 25_000)
    increase_requests_sync(account=anthropic)
    increase = SpendLimitRequest.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = login(manager).post(reverse("budgets:increase_approve", args=[increase.pk]), {"amount_usd": "120"})

    assert response.status_code == 302
    increase.refresh_from_db()
    assert (increase.state, increase.approved_amount_usd, increase.decided_by) == ("approved", Decimal("120"), manager)
    assert increase.provider_state == "sent"
    assert anthropic_emulator.increase_requests[remote["id"]]["approved_amount"] == "12000"
    assert AuditEvent.objects.filter(action="spend_limit_request.approved_manager").exists()
    assert AuditEvent.objects.filter(action="spend_limit_request.sent").exists()


def test_deny_needs_a_reason_and_is_sent(
    anthropic, anthropic_emulator, engineer, manager, eager_celery, django_capture_on_commit_callbacks
):
    remote = anthropic_emulator.add_increase_request("engineer@example.com", 25_000)
    increase_requests_sync(account=anthropic)
    increase = SpendLimitRequest.objects.get()
    client = login(manager)
    client.post(reverse("budgets:increase_reject", args=[increase.pk]), {"reason": ""})
    increase.refresh_from_db()
    assert increase.state == "pending"

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("budgets:increase_reject", args=[increase.pk]), {"reason": "use the team key"})

    increase.refresh_from_db()
    assert increase.state == "rejected" and increase.provider_state == "sent"
    assert anthropic_emulator.increase_requests[remote["id"]]["status"] == "denied"


def test_nobody_decides_their_own_and_amounts_are_bounded(anthropic, anthropic_emulator, engineer, manager, outsider):
    anthropic_emulator.add_increase_request("manager@example.com", 25_000)
    increase_requests_sync(account=anthropic)
    increase = SpendLimitRequest.objects.get()
    assert login(manager).post(reverse("budgets:increase_approve", args=[increase.pk])).status_code == 403
    assert login(outsider).post(reverse("budgets:increase_approve", args=[increase.pk])).status_code == 404
    SpendLimitRequest.objects.filter(pk=increase.pk).update(requester=engineer)
    response = login(manager).post(
        reverse("budgets:increase_approve", args=[increase.pk]), {"amount_usd": "99999999999"}, follow=True
    )
    assert response.status_code == 200 and "Enter at most" in response.content.decode()
    increase.refresh_from_db()
    assert increase.state == "pending"


def test_an_organization_without_the_feature_has_no_requests(anthropic, anthropic_emulator):
    anthropic_emulator.spend_limits_available = False
    assert increase_requests_sync(account=anthropic) == 0


def test_the_request_gets_slack_buttons_and_a_click_approves_what_was_asked(
    client, settings, anthropic, anthropic_emulator, engineer, manager, eager_celery, django_capture_on_commit_callbacks
):
    from budgets.alerts import approval_alerts_sync
    from budgets.models import Alert
    from tests.test_slack_interactions import SECRET, _maya, _payload, _post

    settings.SLACK_SIGNING_SECRET = SECRET
    remote = anthropic_emulator.add_increase_request("engineer@example.com", 25_000, reason="<!channel> eval week")
    increase_requests_sync(account=anthropic)
    increase = SpendLimitRequest.objects.get()
    approval_alerts_sync()
    alert = Alert.objects.get(kind="approval", scope_key=f"spend_limit_request:{increase.pk}")
    assert "asks Anthropic test for a spend limit of $250.00" in alert.message

    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, _payload(user=_maya(manager), value=f"spend_limit_request:{increase.pk}"))

    assert response.status_code == 200
    increase.refresh_from_db()
    assert (increase.state, increase.decided_by, increase.provider_state) == ("approved", manager, "sent")
    assert anthropic_emulator.increase_requests[remote["id"]]["approved_amount"] == "25000"
