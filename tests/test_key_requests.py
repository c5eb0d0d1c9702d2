"""Key request → approval → mint → reveal once, through the web pages, on the simulated provider."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditEvent, Notification
from allocator.models import Key, KeyRequest, SimulatedKey
from tests.conftest import login
from tests.factories import KeyRequestFactory


def _request_key(client, account, team, *, allowance="25", **extra):
    data = {
        "account": account.pk,
        "owner": "me",
        "team": team.pk,
        "name": "laptop",
        "purpose": "Trying the search reranker",
        "allowance_usd": allowance,
        "submit": "1",
    }
    data.update(extra)
    return client.post(reverse("allocator:request_create"), data)


@pytest.fixture
def limits(policy):
    policy.auto_approve_limit_usd = Decimal("50")
    policy.finance_approval_above_usd = Decimal("1000")
    policy.save()
    return policy


def test_small_request_is_auto_approved_minted_and_revealed_once(
    engineer, team, simulated, limits, eager_celery, django_capture_on_commit_callbacks
):
    client = login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = _request_key(client, simulated, team, allowance="25")
    key_request = KeyRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == key_request.get_absolute_url()
    key_request.refresh_from_db()
    assert key_request.auto_approved
    assert key_request.state == KeyRequest.State.MINTED

    key = Key.objects.get(request=key_request)
    assert key.owner_user == engineer and key.team == team
    assert key.hint.startswith("sk-sim-…")
    assert SimulatedKey.objects.filter(key_id=key.provider_key_id).exists()
    assert key.secret_available

    page = client.get(key.get_absolute_url())
    assert b"Your secret is waiting" in page.content

    reveal = client.post(reverse("allocator:key_reveal", args=[key.pk]), headers={"HX-Request": "true"})
    assert reveal.status_code == 200
    assert b'id="reveal-secret"' in reveal.content and b"<html" not in reveal.content  # only the partial
    secret = re.search(rb'<code id="secret-value">([^<]+)</code>', reveal.content).group(1).decode()
    assert secret.startswith("sk-sim-") and secret[-4:] == key.hint[-4:]
    assert reveal["Cache-Control"] == "no-store"

    key.refresh_from_db()
    assert key.pending_secret == "" and key.secret_revealed_at is not None
    second = client.post(reverse("allocator:key_reveal", args=[key.pk]))
    assert second.status_code == 410
    assert b"Already shown" in second.content and secret.encode() not in second.content
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [
        "key_request.created",
        "key_request.auto_approved",
        "key.minted",
        "key.secret_revealed",
    ]


def test_secret_is_stored_encrypted(
    engineer, team, simulated, limits, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _request_key(login(engineer), simulated, team)
    key = Key.objects.get()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pending_secret FROM allocator_key WHERE id = %s", [key.pk])
        stored = cursor.fetchone()[0]
    assert stored and not stored.startswith("sk-sim-") and key.pending_secret not in stored


def test_manager_approves_inline_then_key_is_minted(
    engineer, manager, team, simulated, limits, eager_celery, django_capture_on_commit_callbacks
):
    _request_key(login(engineer), simulated, team, allowance="300")
    key_request = KeyRequest.objects.get()
    assert key_request.state == "pending" and key_request.awaiting_step == "manager"
    assert Notification.objects.filter(user=manager).exists()

    manager_client = login(manager)
    inbox = manager_client.get(reverse("allocator:approvals"))
    assert key_request.name.encode() in inbox.content

    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(
            reverse("allocator:request_approve", args=[key_request.pk]), headers={"HX-Request": "true"}
        )
    assert response.status_code == 200
    assert response.content.lstrip().startswith(b"<tr")  # the row partial only
    assert b"Approved by you" in response.content
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.MINTED
    assert key_request.manager_approved_by == manager
    assert Key.objects.get(request=key_request).approved_by == manager


def test_two_step_approval_needs_finance(
    engineer, manager, finance, team, simulated, limits, eager_celery, django_capture_on_commit_callbacks
):
    _request_key(login(engineer), simulated, team, allowance="5000")
    key_request = KeyRequest.objects.get()
    assert key_request.needs_finance

    # Finance cannot skip the manager step.
    assert login(finance).post(reverse("allocator:request_approve", args=[key_request.pk])).status_code == 403

    login(manager).post(reverse("allocator:request_approve", args=[key_request.pk]))
    key_request.refresh_from_db()
    assert key_request.state == "pending" and key_request.awaiting_step == "finance"
    assert not Key.objects.exists()

    # The manager cannot approve the finance step.
    assert login(manager).post(reverse("allocator:request_approve", args=[key_request.pk])).status_code == 403
    finance_inbox = login(finance).get(reverse("allocator:approvals"))
    assert key_request.name.encode() in finance_inbox.content

    with django_capture_on_commit_callbacks(execute=True):
        login(finance).post(reverse("allocator:request_approve", args=[key_request.pk]))
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.MINTED
    assert key_request.finance_approved_by == finance
    assert AuditEvent.objects.filter(action="key_request.approved_finance").exists()


def test_reject_needs_a_reason_and_notifies(engineer, manager, team, simulated, limits):
    _request_key(login(engineer), simulated, team, allowance="300")
    key_request = KeyRequest.objects.get()
    client = login(manager)
    url = reverse("allocator:request_reject", args=[key_request.pk])

    empty = client.post(url, {"reason": "  "}, headers={"HX-Request": "true"})
    assert b"Say why" in empty.content
    key_request.refresh_from_db()
    assert key_request.state == "pending"

    client.post(url, {"reason": "Use the team key instead"})
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.REJECTED
    assert key_request.decision_reason == "Use the team key instead"
    assert Notification.objects.filter(user=engineer, text__contains="rejected").exists()
    assert not Key.objects.exists()


def test_engineer_cannot_approve_and_manager_only_for_own_team(engineer, manager, outsider, team, simulated, limits):
    mine = KeyRequestFactory(requester=engineer, account=simulated, team=team)
    theirs = KeyRequestFactory(requester=outsider, account=simulated, team=outsider.teams.get())
    assert login(engineer).post(reverse("allocator:request_approve", args=[mine.pk])).status_code == 403
    assert login(manager).post(reverse("allocator:request_approve", args=[theirs.pk])).status_code == 404
    assert login(outsider).get(mine.get_absolute_url()).status_code == 404
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.state == theirs.state == "pending"


def test_manager_cannot_approve_own_request(manager, team, simulated, limits):
    own = KeyRequestFactory(requester=manager, account=simulated, team=team)
    assert login(manager).post(reverse("allocator:request_approve", args=[own.pk])).status_code == 403


def test_form_errors_rerender_and_keep_input(engineer, team, other_team, simulated, limits):
    client = login(engineer)
    response = _request_key(client, simulated, team, allowance="0", purpose="Keep this text")
    assert response.status_code == 200
    assert b"Enter at least $1.00." in response.content
    assert b"Keep this text" in response.content
    assert not KeyRequest.objects.exists()

    # A team the engineer is not in is not even offered.
    response = _request_key(client, simulated, other_team)
    assert b"Select a valid choice" in response.content


def test_inline_validation_returns_only_the_form(engineer, team, simulated, limits):
    response = login(engineer).post(
        reverse("allocator:request_create"),
        {"account": simulated.pk, "owner": "project", "team": team.pk, "name": "x y"},
        headers={"HX-Request": "true", "HX-Trigger-Name": "name"},
    )
    assert response.status_code == 200
    assert response.content.lstrip().startswith(b"<form")
    assert b"letters, numbers, underscores or hyphens" in response.content  # the name the person typed
    assert b"This field is required" not in response.content  # untouched fields stay quiet
    assert not KeyRequest.objects.exists()


def test_project_key_is_owned_by_the_project(
    engineer, team, project, simulated, limits, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _request_key(login(engineer), simulated, team, owner="project", project=project.pk)
    key = Key.objects.get()
    assert key.owner_project == project and key.owner_user is None
    # The requester is the one who sees the secret.
    assert login(engineer).post(reverse("allocator:key_reveal", args=[key.pk])).status_code == 200


def test_cancel_own_pending_request(engineer, team, simulated, limits):
    _request_key(login(engineer), simulated, team, allowance="300")
    key_request = KeyRequest.objects.get()
    login(engineer).post(reverse("allocator:request_cancel", args=[key_request.pk]))
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.CANCELLED
