"""Bumps of a key's quarterly allowance end to end: a key whose allowance is spent is suspended by enforcement, its
owner asks for more from the key page, a manager approves (web or Slack), and the next enforcement run reinstates it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

import pytest
import time_machine
from django.core.cache import cache
from django.urls import reverse

from accounts.models import AuditEvent, Notification
from allocator.models import Key, SimulatedKey
from allocator.quarters import Quarter
from budgets.enforce import enforce_budgets
from budgets.models import Alert, BudgetRequest
from budgets.slack import sign
from tests.budget_factories import pinned_clock, simulated_key, spend, team_budget, user_budget
from tests.conftest import login


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


@pytest.fixture
def spent_key(policy, simulated, engineer, team):
    """erin-batch: $50 allowance, $50 spent, suspended by enforcement; her budgets have room."""
    team_budget(team, "5000")
    user_budget(engineer, team, "1000")
    key = simulated_key(simulated, team=team, owner_user=engineer, name="erin-batch", limit_usd="50.00")
    spend(key, "50.00")
    enforce_budgets()
    key.refresh_from_db()
    assert key.status == Key.Status.SUSPENDED
    return key


def _ask(client, key, amount, reason="the nightly batch needs more this quarter"):
    return client.post(
        reverse("budgets:bump_create"), {"budget": f"key:{key.pk}", "amount_usd": amount, "reason": reason}
    )


def _policy_limit(policy, amount):
    policy.auto_approve_limit_usd = Decimal(amount)
    policy.save()


def test_the_key_page_offers_more_allowance_and_the_form_preselects_the_key(spent_key, engineer):
    client = login(engineer)
    page = client.get(reverse("allocator:key_detail", args=[spent_key.pk])).content.decode()
    link = f"{reverse('budgets:bump_create')}?key={spent_key.pk}"
    assert "Ask for more allowance" in page and link in page

    form = client.get(link).content.decode()
    assert '<optgroup label="Budgets">' in form and '<optgroup label="Key allowances">' in form
    assert f'<option value="key:{spent_key.pk}" selected>key erin-batch — $50.00 a quarter</option>' in form


def test_manager_approves_and_the_next_enforcement_run_reinstates_the_key(
    policy, spent_key, engineer, manager, django_capture_on_commit_callbacks
):
    _policy_limit(policy, "0")
    response = _ask(login(engineer), spent_key, "75")
    bump = BudgetRequest.objects.get()
    assert response.status_code == 302 and response.url == bump.get_absolute_url()
    assert bump.key == spent_key and bump.budget is None and bump.team_id == spent_key.team_id
    assert bump.awaiting_step == "manager"
    assert Notification.objects.filter(user=manager, text__contains="the allowance of key erin-batch").exists()
    assert Alert.objects.filter(kind="approval", scope_key=f"budget_request:{bump.pk}").exists()

    boss = login(manager)
    approvals = boss.get(reverse("allocator:approvals"))
    assert approvals.status_code == 200 and f'id="bump-{bump.pk}"'.encode() in approvals.content
    detail = boss.get(bump.get_absolute_url())
    assert detail.status_code == 200 and b"the allowance of key erin-batch" in detail.content
    with django_capture_on_commit_callbacks(execute=False):
        response = boss.post(reverse("budgets:bump_approve", args=[bump.pk]), headers={"HX-Request": "true"})
    assert response.status_code == 200 and b"Approved: the allowance is raised" in response.content

    spent_key.refresh_from_db()
    assert spent_key.limit_usd == Decimal("125.00")
    assert spent_key.status == Key.Status.SUSPENDED  # until the next enforcement run
    enforce_budgets()
    spent_key.refresh_from_db()
    assert spent_key.status == Key.Status.ACTIVE
    assert not SimulatedKey.objects.get(key_id=spent_key.provider_key_id).disabled
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"budget_request.created", "budget_request.approved_manager", "key.allowance_raised"} <= actions
    raised = AuditEvent.objects.get(action="key.allowance_raised")
    assert raised.target_id == str(spent_key.pk) and raised.actor == manager
    assert Notification.objects.filter(user=engineer, text__contains="now $125.00 a quarter").exists()
    assert login(engineer).get(bump.get_absolute_url()).status_code == 200


def test_a_bump_under_the_policy_limit_is_approved_at_once(policy, spent_key, engineer):
    _policy_limit(policy, "100")
    response = _ask(login(engineer), spent_key, "25")

    bump = BudgetRequest.objects.get()
    assert response.status_code == 302 and bump.auto_approved and bump.state == "approved"
    spent_key.refresh_from_db()
    assert spent_key.limit_usd == Decimal("75.00")
    enforce_budgets()
    spent_key.refresh_from_db()
    assert spent_key.status == Key.Status.ACTIVE
    assert AuditEvent.objects.filter(action="key.allowance_raised", actor__isnull=True).exists()


def test_nobody_approves_their_own_allowance_bump(policy, simulated, manager, team):
    _policy_limit(policy, "0")
    key = simulated_key(simulated, team=team, owner_user=manager, name="maya-evals", limit_usd="50")
    _ask(login(manager), key, "75")
    bump = BudgetRequest.objects.get()

    login(manager).post(reverse("budgets:bump_approve", args=[bump.pk]))

    bump.refresh_from_db()
    key.refresh_from_db()
    assert bump.state == "pending" and key.limit_usd == Decimal("50.00")


def test_only_the_owner_asks_for_more_on_a_personal_key(policy, simulated, engineer, manager, team):
    user_budget(engineer, team, "100")
    key = simulated_key(simulated, team=team, owner_user=manager, name="maya-evals", limit_usd="50")
    response = _ask(login(engineer), key, "10")
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    assert not BudgetRequest.objects.exists()


def test_project_keys_are_bumpable_by_the_team_and_one_request_waits_at_a_time(
    policy, simulated, engineer, manager, team, project
):
    _policy_limit(policy, "0")
    key = simulated_key(simulated, team=team, owner_project=project, name="ranker-ci", limit_usd="50")
    assert _ask(login(engineer), key, "10").status_code == 302
    again = _ask(login(manager), key, "10")
    assert again.status_code == 200 and "already waiting" in again.content.decode()
    assert BudgetRequest.objects.count() == 1


@pytest.mark.parametrize("amount", ["0", "-5", "1e30", "999999999999"])
def test_bad_amounts_are_refused_with_a_message(policy, spent_key, engineer, amount):
    response = _ask(login(engineer), spent_key, amount)
    assert response.status_code == 200 and b"<form" in response.content
    assert not BudgetRequest.objects.exists()


def test_slack_approves_an_allowance_bump(
    client,
    settings,
    policy,
    spent_key,
    engineer,
    manager,
    slack_emulator,
    eager_celery,
    django_capture_on_commit_callbacks,
):
    settings.SLACK_SIGNING_SECRET = secret = "8f742231b10e8888abcd99yyyzzz85a5"
    cache.clear()
    _policy_limit(policy, "0")
    _ask(login(engineer), spent_key, "75")
    bump = BudgetRequest.objects.get()
    value = f"budget_request:{bump.pk}"
    payload = {
        "type": "block_actions",
        "user": {"id": "U0MAYA", "username": "maya", "email": manager.email},
        "response_url": slack_emulator.webhook_url,
        "actions": [{"type": "button", "action_id": "approve", "block_id": value, "value": value}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.generic(
            "POST",
            reverse("budgets:slack_interactions"),
            body,
            content_type="application/x-www-form-urlencoded",
            headers={
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": sign(secret=secret, timestamp=ts, body=body),
            },
        )

    assert response.status_code == 200
    (follow_up,) = slack_emulator.payloads
    assert "the allowance of key erin-batch" in follow_up["text"] and "approved by" in follow_up["text"]
    bump.refresh_from_db()
    spent_key.refresh_from_db()
    assert bump.state == "approved" and spent_key.limit_usd == Decimal("125.00")


def test_a_waiting_allowance_bump_is_counted_on_home_and_listed_on_the_team_page(
    policy, spent_key, engineer, manager, team
):
    _policy_limit(policy, "0")
    _ask(login(engineer), spent_key, "75")
    boss = login(manager)

    home = boss.get(reverse("home")).content.decode()
    assert "1 request waits for your decision" in home
    team_page = boss.get(reverse("budgets:team", args=[team.pk])).content.decode()
    assert "+$75.00</a> for the allowance of key erin-batch" in team_page


def test_a_bump_of_a_revoked_key_or_from_a_past_quarter_is_not_approved(policy, spent_key, engineer, manager):
    _policy_limit(policy, "0")
    _ask(login(engineer), spent_key, "75")
    bump = BudgetRequest.objects.get()
    next_quarter = datetime.combine(Quarter.current().end, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    with time_machine.travel(next_quarter):
        response = login(manager).post(reverse("budgets:bump_approve", args=[bump.pk]), follow=True)
    assert "which is over. Ask again" in response.content.decode()

    Key.objects.filter(pk=spent_key.pk).update(status=Key.Status.REVOKED)
    response = login(manager).post(reverse("budgets:bump_approve", args=[bump.pk]), follow=True)
    assert "The key erin-batch is revoked: nothing to raise." in response.content.decode()
    bump.refresh_from_db()
    spent_key.refresh_from_db()
    assert bump.state == "pending" and spent_key.limit_usd == Decimal("50.00")
