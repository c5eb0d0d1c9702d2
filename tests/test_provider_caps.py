"""Caps at the provider kept in step with budgets, against the loopback emulators: a budget change moves the OpenAI
project limit and the Anthropic workspace limit; a refusal is a clear state; failures are retried and shown;
removing a scope removes its limits; OpenRouter guardrails span a team's keys."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from allocator.models import Key, KeyRequest, ProviderKind
from budgets.enforce import enforce_budgets
from budgets.models import ProviderCap
from budgets.tasks import provider_caps_retry
from tests.budget_factories import pinned_clock, spend, team_budget, user_budget
from tests.conftest import login
from tests.factories import KeyFactory
from tests.usage_helpers import emulator_account


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


@pytest.fixture
def openai_team(db, openai_emulator):
    """An OpenAI account keeping one project per team, with its default project for everything else."""
    default = openai_emulator.add_project("allocator")
    return emulator_account(ProviderKind.OPENAI, openai_emulator, project_id=default, scope_per="team")


def _request(client, account, team, *, allowance="25") -> None:
    client.post(
        reverse("allocator:request_create"),
        {"account": account.pk, "owner": "me", "team": team.pk, "name": "laptop", "purpose": "evals",
         "allowance_usd": allowance, "submit": "1"},
    )  # fmt: skip


@pytest.fixture
def openai_key(engineer, team, policy, openai_team, eager_celery, django_capture_on_commit_callbacks):
    policy.auto_approve_limit_usd = Decimal("50")
    policy.save()
    with django_capture_on_commit_callbacks(execute=True):
        _request(login(engineer), openai_team, team)
    return Key.objects.get(request=KeyRequest.objects.latest("pk"))


def test_a_teams_key_is_minted_in_the_teams_own_openai_project(openai_key, openai_emulator, openai_team, team):
    cap = ProviderCap.objects.get(account=openai_team, scope_key=f"team:{team.pk}")
    assert openai_emulator.projects[cap.provider_scope_id]["name"] == "allocator-team-search"
    assert openai_key.provider_data["project_id"] == cap.provider_scope_id
    assert openai_emulator.keys_of(cap.provider_scope_id)
    assert AuditEvent.objects.filter(action="provider_cap.mapped").count() == 1


def test_a_budget_change_moves_the_openai_project_limit(openai_key, openai_emulator, openai_team, team, engineer):
    budget = team_budget(team, "1000")
    user_budget(engineer, team, "50")  # a person's budget does not cap the team's project
    spend(openai_key, "200")  # this month

    enforce_budgets()

    cap = ProviderCap.objects.get(account=openai_team)
    project = cap.provider_scope_id
    # $200 spent there this month + $800 the team budget still allows.
    assert openai_emulator.spend_limits[project]["threshold_amount"] == 100_000
    assert (cap.limit_usd, cap.enforcement_status, cap.state) == (Decimal("1000.00"), "enforcing", "in_step")
    assert cap.last_set_at is not None

    budget.amount_usd = Decimal("1500")
    budget.save()
    enforce_budgets()
    assert openai_emulator.spend_limits[project]["threshold_amount"] == 150_000
    assert AuditEvent.objects.filter(action="provider_cap.limit_set").count() == 2

    enforce_budgets()  # nothing changed: nothing written
    assert len(openai_emulator.requests_to("POST", f"/organization/projects/{project}/spend_limit")) == 2


def test_the_pages_show_the_limit_and_the_guard(openai_key, openai_team, team, engineer, manager):
    budget = team_budget(team, "1000")
    spend(openai_key, "200")
    enforce_budgets()

    key_page = login(engineer).get(openai_key.get_absolute_url()).content.decode()
    assert "Capped at the provider monthly; Allocator suspends within about 2 minutes." in key_page
    assert "monthly limit $1,000.00 (enforcing), last set 2026-11-18 15:30 UTC" in key_page
    budget_page = login(manager).get(budget.get_absolute_url()).content.decode()
    assert "Guards between syncs" in budget_page
    assert "Capped at the provider monthly; Allocator suspends within about 2 minutes" in budget_page


def test_without_a_hard_budget_the_limit_is_removed(openai_key, openai_emulator, openai_team, team):
    budget = team_budget(team, "1000")
    enforce_budgets()
    project = ProviderCap.objects.get().provider_scope_id
    assert project in openai_emulator.spend_limits
    budget.hard = False
    budget.save()

    enforce_budgets()

    assert project not in openai_emulator.spend_limits
    assert ProviderCap.objects.get().limit_usd is None
    assert AuditEvent.objects.filter(action="provider_cap.limit_removed").exists()


def test_a_failed_write_is_retried_and_shown(openai_key, openai_emulator, openai_team, team, engineer):
    team_budget(team, "1000")
    openai_emulator.fail_next(10, status=500, path_prefix="/organization/projects")

    report = enforce_budgets()

    cap = ProviderCap.objects.get()
    assert cap.state == ProviderCap.State.RETRYING and cap.attempts == 1
    assert "500" in cap.last_error and report.errors
    assert AuditEvent.objects.filter(action="provider_cap.write_failed").exists()
    page = login(engineer).get(openai_key.get_absolute_url()).content.decode()
    assert "Setting the limit failed (1 attempt)" in page

    enforce_budgets()  # still backing off: no new attempt before next_attempt_at
    assert ProviderCap.objects.get().attempts == 1

    openai_emulator.clear_faults()
    assert provider_caps_retry(openai_team.pk) == 0  # the queued retry
    cap.refresh_from_db()
    assert cap.state == ProviderCap.State.IN_STEP and cap.limit_usd == Decimal("1000.00") and not cap.last_error


def test_revoking_the_scopes_last_key_removes_its_limits(openai_key, openai_emulator, openai_team, team):
    team_budget(team, "1000")
    enforce_budgets()
    project = ProviderCap.objects.get().provider_scope_id
    Key.objects.filter(pk=openai_key.pk).update(status=Key.Status.REVOKED)

    enforce_budgets()

    assert project not in openai_emulator.spend_limits
    assert ProviderCap.objects.get().state == ProviderCap.State.REMOVED
    assert AuditEvent.objects.filter(action="provider_cap.removed").exists()


# --- Anthropic: workspaces ---------------------------------------------------------------------------------


@pytest.fixture
def anthropic_team(db, anthropic_emulator):
    return emulator_account(ProviderKind.ANTHROPIC, anthropic_emulator, scope_per="team")


def _anthropic_key(account, *, team, engineer, workspace="wrkspc_search") -> Key:
    return KeyFactory(
        account=account, team=team, owner_user=engineer, imported=True, provider_key_id="apikey_01",
        provider_data={"workspace_id": workspace},
    )  # fmt: skip


def test_a_budget_change_moves_the_anthropic_workspace_limit(anthropic_emulator, anthropic_team, team, engineer):
    key = _anthropic_key(anthropic_team, team=team, engineer=engineer)
    budget = team_budget(team, "500")
    spend(key, "100")

    enforce_budgets()

    assert anthropic_emulator.spend_limits["wrkspc_search", "monthly"]["amount"] == "50000"
    budget.amount_usd = Decimal("650.50")
    budget.save()
    enforce_budgets()
    assert anthropic_emulator.spend_limits["wrkspc_search", "monthly"]["amount"] == "65050"
    cap = ProviderCap.objects.get()
    assert (cap.provider_scope_id, cap.limit_usd) == ("wrkspc_search", Decimal("650.50"))


def test_keys_in_several_workspaces_or_the_default_one_map_nothing(anthropic_team, team, engineer, other_team):
    _anthropic_key(anthropic_team, team=team, engineer=engineer, workspace="default")
    team_budget(team, "500")
    enforce_budgets()
    assert not ProviderCap.objects.exists()


@pytest.mark.parametrize("status", [403, 404])
def test_an_organization_without_spend_limits_shows_a_clear_state(
    anthropic_emulator, anthropic_team, team, engineer, manager, status
):
    if status == 403:
        anthropic_emulator.spend_limits_forbidden = True
    else:
        anthropic_emulator.spend_limits_available = False
    key = _anthropic_key(anthropic_team, team=team, engineer=engineer)
    budget = team_budget(team, "500")

    report = enforce_budgets()

    cap = ProviderCap.objects.get()
    assert cap.state == ProviderCap.State.UNAVAILABLE and not report.errors
    for client, url in ((login(engineer), key.get_absolute_url()), (login(manager), budget.get_absolute_url())):
        page = client.get(url)
        assert page.status_code == 200
        text = page.content.decode()
        assert "not available for this organization" in text
        assert "Allocator suspends after the next sync" in text
    enforce_budgets()  # asked again only after a day
    assert len(anthropic_emulator.requests_to("POST", "/v1/organizations/spend_limits")) == 1
    assert AuditEvent.objects.filter(action="provider_cap.unavailable").count() == 1


# --- OpenRouter: guardrails over a team's keys ---------------------------------------------------------------


def test_an_openrouter_team_gets_a_guardrail_over_its_keys(openrouter_emulator, team, engineer, manager):
    account = emulator_account(ProviderKind.OPENROUTER, openrouter_emulator, scope_per="team")
    keys = [
        KeyFactory(account=account, team=team, owner_user=person, limit_usd=None,
                   provider_key_id=openrouter_emulator.add_key(f"alloc-{n}")["hash"])
        for n, person in enumerate((engineer, manager))
    ]  # fmt: skip
    team_budget(team, "300")
    spend(keys[0], "40")

    enforce_budgets()

    [guardrail] = openrouter_emulator.guardrails.values()
    assert (guardrail["name"], guardrail["limit_usd"], guardrail["reset_interval"]) == (
        "allocator-team-search", 300.0, "monthly",
    )  # fmt: skip
    assert openrouter_emulator.guardrail_keys[guardrail["id"]] == {k.provider_key_id for k in keys}


def _teams_with_projects(openai_emulator, account, n, start=0):
    from tests.factories import TeamFactory, UserFactory

    for i in range(start, start + n):
        team = TeamFactory(name=f"T{i}", slug=f"t{i}")
        project = openai_emulator.add_project(f"allocator-team-t{i}")
        key = KeyFactory(account=account, team=team, owner_user=UserFactory(), limit_usd=None,
                         provider_key_id=f"key_{i}", provider_data={"project_id": project})  # fmt: skip
        team_budget(team, "100")
        spend(key, "10")


def test_query_count_does_not_grow_with_mapped_scopes(db, openai_emulator, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from budgets.provider_caps import provider_caps_keep

    account = emulator_account(ProviderKind.OPENAI, openai_emulator, scope_per="team")
    _teams_with_projects(openai_emulator, account, 2)
    provider_caps_keep()  # maps and writes; later runs are the steady state
    with CaptureQueriesContext(connection) as few:
        provider_caps_keep()
    _teams_with_projects(openai_emulator, account, 8, start=2)
    provider_caps_keep()
    with CaptureQueriesContext(connection) as many:
        provider_caps_keep()
    assert len(many) == len(few), [q["sql"][:90] for q in many.captured_queries]
    assert ProviderCap.objects.filter(limit_usd=Decimal("100.00")).count() == 10
    with django_assert_max_num_queries(10):
        provider_caps_keep()


def test_a_new_quarter_restores_the_models_and_lifts_the_limit(openai_key, openai_emulator, openai_team, team):
    import time_machine

    from tests.budget_factories import MID_QUARTER

    team_budget(team, "100")
    spend(openai_key, "95")
    enforce_budgets()
    cap = ProviderCap.objects.get()
    assert cap.allowed_models == ["gpt-4o-mini"] and cap.limit_usd == Decimal("100.00")

    with time_machine.travel(MID_QUARTER + timedelta(days=92), tick=False):
        enforce_budgets()  # no budgets yet in the new quarter

    cap.refresh_from_db()
    assert cap.allowed_models is None and cap.limit_usd is None
    assert cap.provider_scope_id not in openai_emulator.model_permissions
    assert cap.provider_scope_id not in openai_emulator.spend_limits
