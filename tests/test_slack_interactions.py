"""Slack's interactive endpoint: signature and timestamp checks, user mapping, the web's permission rules."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from django.core.cache import cache
from django.urls import reverse

from allocator.models import Key
from budgets.models import BudgetRequest
from budgets.slack import sign
from tests.budget_factories import BudgetRequestFactory, team_budget, user_budget
from tests.factories import KeyRequestFactory

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@pytest.fixture(autouse=True)
def signing_secret(settings):
    settings.SLACK_SIGNING_SECRET = SECRET
    cache.clear()


@pytest.fixture
def bump(engineer, team):
    team_budget(team, "5000")
    return BudgetRequestFactory(budget=user_budget(engineer, team, "100"), requester=engineer, amount_usd="200")


def _payload(*, user: dict, value: str, action: str = "approve", response_url: str = "") -> dict:
    return {
        "type": "block_actions",
        "user": user,
        "team": {"id": "T0001", "domain": "acme"},
        "api_app_id": "A0001",
        "trigger_id": "1.2.3",
        "container": {"type": "message", "message_ts": "1700000000.0001", "channel_id": "C0001"},
        "channel": {"id": "C0001", "name": "search-alerts"},
        "response_url": response_url,
        "actions": [
            {"type": "button", "action_id": action, "block_id": value, "value": value, "action_ts": "1700000001.0"}
        ],
    }


def _post(client, payload: dict, *, timestamp: int | None = None, secret: str = SECRET, signature: str | None = None):
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return client.generic(
        "POST",
        reverse("budgets:slack_interactions"),
        body,
        content_type="application/x-www-form-urlencoded",
        headers={
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or sign(secret=secret, timestamp=ts, body=body),
        },
    )


def _maya(manager) -> dict:
    return {"id": "U0MAYA", "username": "maya", "name": "maya", "team_id": "T0001", "email": manager.email}


def test_signed_click_approves_and_updates_the_message(
    client, policy, manager, bump, slack_emulator, eager_celery, django_capture_on_commit_callbacks
):
    payload = _payload(user=_maya(manager), value=f"budget_request:{bump.pk}", response_url=slack_emulator.webhook_url)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, payload)
    assert response.status_code == 200
    bump.refresh_from_db()
    assert bump.state == BudgetRequest.State.APPROVED and bump.decided_by == manager
    (follow_up,) = slack_emulator.payloads
    assert follow_up["replace_original"] is True
    assert "approved by Maya Manager" in follow_up["text"]


def test_a_forged_signature_is_refused(client, policy, manager, bump):
    response = _post(client, _payload(user=_maya(manager), value=f"budget_request:{bump.pk}"), secret="not-the-secret")
    assert response.status_code == 401
    bump.refresh_from_db()
    assert bump.state == "pending"


def test_a_missing_signature_is_refused(client, policy, manager, bump):
    response = _post(client, _payload(user=_maya(manager), value=f"budget_request:{bump.pk}"), signature="v0=")
    assert response.status_code == 401


def test_an_old_timestamp_is_refused_even_with_a_valid_signature(client, policy, manager, bump):
    response = _post(
        client, _payload(user=_maya(manager), value=f"budget_request:{bump.pk}"), timestamp=int(time.time()) - 301
    )
    assert response.status_code == 403
    bump.refresh_from_db()
    assert bump.state == "pending"


def test_a_replayed_request_is_refused(client, policy, manager, bump):
    payload = _payload(user=_maya(manager), value=f"budget_request:{bump.pk}", action="reject")
    ts = int(time.time())
    assert _post(client, payload, timestamp=ts).status_code == 200
    assert _post(client, payload, timestamp=ts).status_code == 403


def test_no_signing_secret_means_no_buttons(client, settings, policy, manager, bump):
    settings.SLACK_SIGNING_SECRET = ""
    assert _post(client, _payload(user=_maya(manager), value=f"budget_request:{bump.pk}")).status_code == 403


def test_the_same_permission_rules_as_the_web(
    client, policy, engineer, bump, slack_emulator, eager_celery, django_capture_on_commit_callbacks
):
    """Erin cannot approve her own bump in Slack either; she is told privately, the buttons stay."""
    erin = {"id": "U0ERIN", "username": "erin", "name": "erin", "team_id": "T0001", "email": engineer.email}
    payload = _payload(user=erin, value=f"budget_request:{bump.pk}", response_url=slack_emulator.webhook_url)
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, payload).status_code == 200
    bump.refresh_from_db()
    assert bump.state == "pending"
    (follow_up,) = slack_emulator.payloads
    assert follow_up["response_type"] == "ephemeral" and follow_up["replace_original"] is False
    assert "cannot decide" in follow_up["text"]


def test_slack_user_without_email_is_matched_by_slack_id(client, policy, manager, bump):
    manager.slack_user_id = "U0MAYA"
    manager.save()
    user = {"id": "U0MAYA", "username": "maya", "name": "maya", "team_id": "T0001"}
    assert _post(client, _payload(user=user, value=f"budget_request:{bump.pk}")).status_code == 200
    bump.refresh_from_db()
    assert bump.state == "approved"


def test_unknown_slack_user_decides_nothing(client, policy, bump):
    user = {"id": "U0NOBODY", "username": "x", "name": "x", "team_id": "T0001"}
    response = _post(client, _payload(user=user, value=f"budget_request:{bump.pk}"))
    assert response.status_code == 200
    assert "not linked" in response.json()["text"]
    bump.refresh_from_db()
    assert bump.state == "pending"


def test_key_requests_can_be_approved_from_slack_too(
    client, policy, simulated, engineer, manager, team, eager_celery, django_capture_on_commit_callbacks
):
    key_request = KeyRequestFactory(requester=engineer, account=simulated, team=team)
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, _payload(user=_maya(manager), value=f"key_request:{key_request.pk}"))
    assert response.status_code == 200
    key_request.refresh_from_db()
    assert key_request.state == "minted"
    assert Key.objects.filter(request=key_request).exists()


def test_get_is_not_allowed(client):
    assert client.get(reverse("budgets:slack_interactions")).status_code == 405
