"""Degrade before suspend: past BudgetPolicy.degrade_at_percent of a hard budget a mapped scope keeps only small-tier
models (OpenAI project model permissions, OpenRouter guardrail model lists); an approved bump restores the full list,
the engineer sees which models are allowed and why, and the alert says so."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from allocator.models import ProviderKind
from budgets.enforce import enforce_budgets
from budgets.models import Alert, BudgetPolicy, BudgetRequest, ProviderCap
from tests.budget_factories import pinned_clock, spend, team_budget
from tests.conftest import login
from tests.factories import KeyFactory
from tests.usage_helpers import emulator_account


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


@pytest.fixture
def setup(db, openai_emulator, team, engineer):
    project = openai_emulator.add_project("allocator-team-search")
    account = emulator_account(ProviderKind.OPENAI, openai_emulator, scope_per="team")
    key = KeyFactory(account=account, team=team, owner_user=engineer, limit_usd=None, provider_key_id="key_1",
                     provider_data={"project_id": project, "service_account_id": "svc_1"})  # fmt: skip
    budget = team_budget(team, "1000")
    spend(key, "300", model="gpt-4o-mini")  # small tier
    return account, key, budget, project


def test_past_the_soft_share_only_small_models_are_allowed_then_a_bump_restores_them(
    setup, openai_emulator, engineer, manager, finance, policy, django_capture_on_commit_callbacks
):
    account, key, budget, project = setup
    spend(key, "620", model="gpt-4o")  # large tier: $920 of $1,000 = 92 %

    enforce_budgets()

    assert openai_emulator.model_permissions[project]["model_ids"] == ["gpt-4o-mini"]
    assert openai_emulator.model_permissions[project]["mode"] == "allow_list"
    cap = ProviderCap.objects.get()
    assert cap.allowed_models == ["gpt-4o-mini"] and "92\u00a0%" in cap.degraded_reason
    alert = Alert.objects.get(dedupe__startswith="models:")
    assert "small-tier models only" in alert.message and "now allows only: gpt-4o-mini" in alert.message
    page = login(engineer).get(key.get_absolute_url()).content.decode()
    assert "Models allowed now: gpt-4o-mini." in page
    assert "Team Search has spent 92\u00a0% of its $1,000.00 hard budget" in page

    ask = {"budget": budget.pk, "amount_usd": "1000", "reason": "launch"}
    login(manager).post(reverse("budgets:bump_create"), ask)
    bump = BudgetRequest.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        login(finance).post(reverse("budgets:bump_approve", args=[bump.pk]))
    enforce_budgets()  # what the approval queued (the eager run above went to the broker)

    assert project not in openai_emulator.model_permissions
    cap.refresh_from_db()
    assert cap.allowed_models is None and cap.degraded_reason == ""
    assert cap.limit_usd == Decimal("2000.00")  # $920 spent this month + $1,080 left
    assert AuditEvent.objects.filter(action="provider_cap.models_restored").exists()


def test_below_the_share_or_with_degrading_off_nothing_narrows(setup, openai_emulator, policy):
    account, key, budget, project = setup
    spend(key, "580", model="gpt-4o")  # 88 %
    enforce_budgets()
    assert project not in openai_emulator.model_permissions

    BudgetPolicy.objects.filter(pk=BudgetPolicy.current().pk).update(degrade_at_percent=0)
    spend(key, "50", model="gpt-4o")  # 93 %
    enforce_budgets()
    assert project not in openai_emulator.model_permissions


def test_an_openrouter_guardrail_gets_the_small_model_list(db, openrouter_emulator, team, engineer):
    account = emulator_account(ProviderKind.OPENROUTER, openrouter_emulator, scope_per="team")
    account.allowed_models = ["openai/gpt-4o-mini", "openai/gpt-4o"]
    account.save()
    key = KeyFactory(account=account, team=team, owner_user=engineer, limit_usd=None,
                     provider_key_id=openrouter_emulator.add_key("alloc-erin")["hash"])  # fmt: skip
    team_budget(team, "100")
    spend(key, "95")

    enforce_budgets()

    [guardrail] = openrouter_emulator.guardrails.values()
    assert guardrail["allowed_models"] == ["openai/gpt-4o-mini"]


def test_a_share_far_past_the_budget_still_narrows_and_alerts(db, openai_emulator, team, engineer, policy):
    project = openai_emulator.add_project("allocator-team-search")
    account = emulator_account(ProviderKind.OPENAI, openai_emulator, scope_per="team")
    key = KeyFactory(account=account, team=team, owner_user=engineer, limit_usd=None, provider_key_id="key_1",
                     provider_data={"project_id": project})  # fmt: skip
    team_budget(team, "0.01")
    spend(key, "5000", model="gpt-4o-mini")

    enforce_budgets()

    assert openai_emulator.model_permissions[project]["model_ids"] == ["gpt-4o-mini"]
    assert Alert.objects.get(dedupe__startswith="models:").threshold == 999
