"""Approvals look at the owner's budgets (defect 3): a key for a scope whose hard budget is spent is not approved
automatically, a manual approval is refused with the reason, and the approver sees spend against budget."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from allocator.models import Key, KeyRequest
from tests.budget_factories import simulated_key, spend, team_budget, user_budget
from tests.conftest import login


@pytest.fixture
def limits(policy):
    policy.auto_approve_limit_usd = Decimal("50")
    policy.finance_approval_above_usd = Decimal("1000")
    policy.save()
    return policy


@pytest.fixture
def spent(simulated, engineer, team):
    """Erin's hard $100 budget is used up by her existing key."""
    team_budget(team, "5000")
    budget = user_budget(engineer, team, "100")
    spend(simulated_key(simulated, team=team, owner_user=engineer), "100")
    return budget


def _ask(client, account, team, allowance="25"):
    return client.post(
        reverse("allocator:request_create"),
        {
            "account": account.pk,
            "owner": "me",
            "team": team.pk,
            "name": "another",
            "purpose": "more evals",
            "allowance_usd": allowance,
            "submit": "1",
        },
    )


def test_a_small_request_over_a_spent_hard_budget_is_not_approved_automatically(
    engineer, team, simulated, limits, spent, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _ask(login(engineer), simulated, team)
    key_request = KeyRequest.objects.get()
    assert key_request.state == KeyRequest.State.PENDING and not key_request.auto_approved
    assert key_request.awaiting_step == KeyRequest.Step.MANAGER
    assert not Key.objects.filter(request=key_request).exists()
    page = login(engineer).get(key_request.get_absolute_url())
    assert b"Not approved automatically" in page.content


def test_the_manager_sees_the_spend_and_a_manual_approval_is_refused(
    engineer, manager, team, simulated, limits, spent, eager_celery, django_capture_on_commit_callbacks
):
    _ask(login(engineer), simulated, team)
    key_request = KeyRequest.objects.get()
    client = login(manager)
    inbox = client.get(reverse("allocator:approvals"))
    assert b"$100.00 of $100.00" in inbox.content and b"hard budget is spent" in inbox.content
    detail = client.get(key_request.get_absolute_url())
    assert b"$100.00 of $100.00" in detail.content

    with django_capture_on_commit_callbacks(execute=True):
        row = client.post(reverse("allocator:request_approve", args=[key_request.pk]), headers={"HX-Request": "true"})
    assert b"hard budget is spent" in row.content
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.PENDING
    assert not Key.objects.filter(request=key_request).exists()

    api = client.post(reverse("api:key_request_approve", args=[key_request.pk]))
    assert api.status_code == 409 and "hard budget is spent" in api.json()["error"]["message"]


def test_once_the_budget_is_raised_the_request_can_be_approved(
    engineer, manager, team, simulated, limits, spent, eager_celery, django_capture_on_commit_callbacks
):
    _ask(login(engineer), simulated, team)
    key_request = KeyRequest.objects.get()
    spent.amount_usd = Decimal("300")
    spent.save()
    with django_capture_on_commit_callbacks(execute=True):
        login(manager).post(reverse("allocator:request_approve", args=[key_request.pk]))
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.MINTED


def test_a_spent_soft_budget_does_not_stop_approval(
    engineer, team, simulated, limits, eager_celery, django_capture_on_commit_callbacks
):
    team_budget(team, "5000")
    user_budget(engineer, team, "100", hard=False)
    spend(simulated_key(simulated, team=team, owner_user=engineer), "150")
    with django_capture_on_commit_callbacks(execute=True):
        _ask(login(engineer), simulated, team)
    assert KeyRequest.objects.get().state == KeyRequest.State.MINTED


def test_a_spent_team_budget_stops_a_project_key_too(
    engineer, manager, team, project, simulated, limits, eager_celery, django_capture_on_commit_callbacks
):
    team_budget(team, "100")
    spend(simulated_key(simulated, team=team, owner_user=manager), "100")
    with django_capture_on_commit_callbacks(execute=True):
        login(engineer).post(
            reverse("allocator:request_create"),
            {
                "account": simulated.pk,
                "owner": "project",
                "project": project.pk,
                "team": team.pk,
                "name": "ranking",
                "purpose": "ranking evals",
                "allowance_usd": "25",
                "submit": "1",
            },
        )
    key_request = KeyRequest.objects.get()
    assert key_request.project == project and key_request.state == KeyRequest.State.PENDING
