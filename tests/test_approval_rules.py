"""The one approval rule, on every entry point (web, API, Slack): nobody decides their own request, at any step;
approvers are told about a waiting request, the requester is not told about their own."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.urls import reverse

from accounts.models import Membership, Notification
from allocator.models import KeyRequest
from budgets.models import BudgetRequest
from budgets.slack import sign
from tests.budget_factories import BudgetRequestFactory, team_budget, user_budget
from tests.conftest import login
from tests.factories import KeyRequestFactory, MembershipFactory

SECRET = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def limits(policy):
    policy.auto_approve_limit_usd = Decimal("50")
    policy.finance_approval_above_usd = Decimal("1000")
    policy.save()
    return policy


@pytest.fixture
def finance_member(finance, team):
    """Felix Finance also works in the team, so he can ask for a key charged to it."""
    MembershipFactory(user=finance, team=team)
    return finance


def _at_finance_step(requester, team, simulated) -> KeyRequest:
    """A two-step request whose manager step is done: it waits for finance."""
    return KeyRequestFactory(
        requester=requester,
        account=simulated,
        team=team,
        allowance_usd=Decimal("5000"),
        needs_finance=True,
        awaiting_step=KeyRequest.Step.FINANCE,
    )


def test_finance_cannot_approve_the_finance_step_of_their_own_key_request(finance_member, team, simulated, limits):
    own = _at_finance_step(finance_member, team, simulated)
    response = login(finance_member).post(reverse("allocator:request_approve", args=[own.pk]))
    assert response.status_code == 403
    own.refresh_from_db()
    assert own.state == KeyRequest.State.PENDING and own.finance_approved_by is None


def test_admin_cannot_approve_their_own_request_at_any_step(admin, team, simulated, limits):
    manager_step = KeyRequestFactory(requester=admin, account=simulated, team=team)
    finance_step = _at_finance_step(admin, team, simulated)
    client = login(admin)
    for own in (manager_step, finance_step):
        assert client.post(reverse("allocator:request_approve", args=[own.pk])).status_code == 403
        own.refresh_from_db()
        assert own.state == KeyRequest.State.PENDING


def test_finance_cannot_approve_their_own_request_through_the_api(finance_member, team, simulated, limits):
    own = _at_finance_step(finance_member, team, simulated)
    response = login(finance_member).post(reverse("api:key_request_approve", args=[own.pk]))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    own.refresh_from_db()
    assert own.state == KeyRequest.State.PENDING


def test_finance_cannot_approve_their_own_bump(finance, team, policy):
    """A team budget's bump goes to finance alone; finance asking for it cannot wave it through."""
    budget = team_budget(team, "1000")
    bump = BudgetRequestFactory(
        budget=budget, requester=finance, amount_usd="500", needs_finance=True, awaiting_step=BudgetRequest.Step.FINANCE
    )
    response = login(finance).post(reverse("budgets:bump_approve", args=[bump.pk]))
    assert response.status_code in (302, 403)
    bump.refresh_from_db()
    assert bump.state == BudgetRequest.State.PENDING
    budget.refresh_from_db()
    assert budget.amount_usd == Decimal("1000")


def test_finance_cannot_approve_their_own_request_in_slack(
    client, settings, finance_member, team, simulated, limits, slack_emulator, eager_celery
):
    settings.SLACK_SIGNING_SECRET = SECRET
    cache.clear()
    own = _at_finance_step(finance_member, team, simulated)
    payload = {
        "type": "block_actions",
        "user": {"id": "U0FELIX", "email": finance_member.email},
        "response_url": slack_emulator.webhook_url,
        "actions": [{"type": "button", "action_id": "approve", "value": f"key_request:{own.pk}"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()))
    response = client.generic(
        "POST",
        reverse("budgets:slack_interactions"),
        body,
        content_type="application/x-www-form-urlencoded",
        headers={"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign(secret=SECRET, timestamp=ts, body=body)},
    )
    assert response.status_code == 200
    own.refresh_from_db()
    assert own.state == KeyRequest.State.PENDING


def test_a_managers_own_request_notifies_the_other_managers_not_them(manager, team, simulated, limits):
    other = MembershipFactory(team=team, role=Membership.Role.MANAGER).user
    client = login(manager)
    client.post(
        reverse("allocator:request_create"),
        {
            "account": simulated.pk,
            "owner": "me",
            "team": team.pk,
            "name": "notebook",
            "purpose": "Evaluations",
            "allowance_usd": "300",
            "submit": "1",
        },
    )
    assert KeyRequest.objects.get().state == KeyRequest.State.PENDING
    assert Notification.objects.filter(user=other, text__contains="notebook").exists()
    assert not Notification.objects.filter(user=manager, text__contains="notebook").exists()


def test_finance_is_not_told_about_the_finance_step_of_their_own_request(
    manager, finance_member, team, simulated, limits
):
    own = KeyRequestFactory(
        requester=finance_member, account=simulated, team=team, allowance_usd=Decimal("5000"), needs_finance=True
    )
    login(manager).post(reverse("allocator:request_approve", args=[own.pk]))
    own.refresh_from_db()
    assert own.awaiting_step == KeyRequest.Step.FINANCE
    assert not Notification.objects.filter(user=finance_member, text__contains="needs finance approval").exists()


def test_user_budget_bump_is_still_decided_by_the_manager(engineer, manager, team, policy):
    team_budget(team, "5000")
    bump = BudgetRequestFactory(budget=user_budget(engineer, team, "100"), requester=engineer, amount_usd="200")
    login(manager).post(reverse("budgets:bump_approve", args=[bump.pk]))
    bump.refresh_from_db()
    assert bump.state == BudgetRequest.State.APPROVED


def test_own_requests_are_not_offered_for_approval(finance_member, team, simulated, limits):
    own = _at_finance_step(finance_member, team, simulated)
    client = login(finance_member)
    inbox = client.get(reverse("allocator:approvals"))
    assert reverse("allocator:request_approve", args=[own.pk]).encode() not in inbox.content
    detail = client.get(own.get_absolute_url())
    assert reverse("allocator:request_approve", args=[own.pk]).encode() not in detail.content


def test_a_reject_reason_too_long_is_refused_with_a_clear_message(engineer, manager, team, policy):
    team_budget(team, "5000")
    bump = BudgetRequestFactory(budget=user_budget(engineer, team, "100"), requester=engineer, amount_usd="200")
    response = login(manager).post(
        reverse("budgets:bump_reject", args=[bump.pk]), {"reason": "x" * 1001}, headers={"HX-Request": "true"}
    )
    assert b"too long" in response.content
    bump.refresh_from_db()
    assert bump.state == BudgetRequest.State.PENDING
