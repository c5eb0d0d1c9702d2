"""Scope caps through the adapters, over real HTTP to the loopback emulators: OpenAI project spend limits and model
permissions, Anthropic Spend Limits and increase requests, OpenRouter guardrails."""

from decimal import Decimal

import pytest

from allocator.providers import get_provider
from allocator.providers.base import (
    GUARD_NEXT_SYNC,
    GUARD_PROVIDER,
    GUARD_PROVIDER_MONTHLY,
    FeatureUnavailable,
    ProviderError,
)

FAST = {"retries": 2, "max_sleep": 0.05}


def _openai(emulator, **options):
    return get_provider("openai", base_url=emulator.url, credential=emulator.credential, options={**FAST, **options})


def _anthropic(emulator):
    return get_provider("anthropic", base_url=emulator.url, credential=emulator.credential, options=FAST)


def _openrouter(emulator):
    return get_provider("openrouter", base_url=emulator.url, credential=emulator.credential, options=FAST)


def test_openai_project_spend_limit_round_trips_in_whole_cents(openai_emulator):
    adapter = _openai(openai_emulator)
    project = adapter.scope_container_create(name="allocator-team-search")
    assert adapter.scope_limit_get(scope_id=project) is None

    limit = adapter.scope_limit_set(scope_id=project, amount_usd=Decimal("123.459"))

    assert openai_emulator.spend_limits[project]["threshold_amount"] == 12345  # rounded down, never up
    assert (limit.amount_usd, limit.status, limit.interval) == (Decimal("123.45"), "enforcing", "month")
    assert adapter.scope_limit_get(scope_id=project).amount_usd == Decimal("123.45")
    adapter.scope_limit_remove(scope_id=project)
    adapter.scope_limit_remove(scope_id=project)  # already gone: the goal is reached
    assert project not in openai_emulator.spend_limits


def test_openai_model_permissions_allow_list_and_restore(openai_emulator):
    adapter = _openai(openai_emulator)
    project = openai_emulator.add_project("team-search")
    adapter.scope_models_set(scope_id=project, models=["gpt-4o-mini"])
    assert openai_emulator.model_permissions[project] == {
        "object": "project.model_permissions",
        "mode": "allow_list",
        "model_ids": ["gpt-4o-mini"],
    }
    adapter.scope_models_set(scope_id=project, models=None)
    assert project not in openai_emulator.model_permissions


def test_openai_spend_limit_retries_429_then_succeeds(openai_emulator):
    adapter = _openai(openai_emulator)
    project = openai_emulator.add_project("p")
    openai_emulator.fail_next(1, status=429, retry_after=0.01, path_prefix="/organization/projects")
    adapter.scope_limit_set(scope_id=project, amount_usd=Decimal("5"))
    assert openai_emulator.spend_limits[project]["threshold_amount"] == 500


def test_openai_malformed_spend_limit_is_a_provider_error(openai_emulator):
    adapter = _openai(openai_emulator, retries=0)
    project = openai_emulator.add_project("p")
    openai_emulator.fail_next(1, malformed=True)
    with pytest.raises(ProviderError, match="malformed"):
        adapter.scope_limit_set(scope_id=project, amount_usd=Decimal("5"))


def test_openai_mints_in_the_scope_project_and_reinstates_there(openai_emulator):
    adapter = _openai(openai_emulator, project_id=openai_emulator.add_project("default"))
    team_project = openai_emulator.add_project("team-search")
    minted = adapter.in_scope_container(team_project).mint_key(name="alloc-erin")
    assert minted.provider_data["project_id"] == team_project
    assert openai_emulator.keys_of(team_project)
    adapter.suspend_key(provider_key_id=minted.provider_key_id, provider_data=minted.provider_data)
    again = adapter.reinstate_key(provider_key_id=minted.provider_key_id, provider_data=minted.provider_data)
    assert again.provider_data["project_id"] == team_project


def test_anthropic_workspace_limit_is_an_integer_string_in_minor_units(anthropic_emulator):
    adapter = _anthropic(anthropic_emulator)
    limit = adapter.scope_limit_set(scope_id="wrkspc_search", amount_usd=Decimal("500.009"))
    stored = anthropic_emulator.spend_limits["wrkspc_search", "monthly"]
    assert stored["amount"] == "50000"
    assert limit.amount_usd == Decimal("500.00")
    assert adapter.scope_limit_get(scope_id="wrkspc_search").amount_usd == Decimal("500.00")
    adapter.scope_limit_remove(scope_id="wrkspc_search")
    assert adapter.scope_limit_get(scope_id="wrkspc_search") is None


@pytest.mark.parametrize("refusal", ["available", "forbidden"])
def test_anthropic_without_spend_limits_is_a_clear_state(anthropic_emulator, refusal):
    if refusal == "available":
        anthropic_emulator.spend_limits_available = False
    else:
        anthropic_emulator.spend_limits_forbidden = True
    adapter = _anthropic(anthropic_emulator)
    with pytest.raises(FeatureUnavailable, match="not available for this organization"):
        adapter.scope_limit_set(scope_id="wrkspc_search", amount_usd=Decimal("5"))
    with pytest.raises(FeatureUnavailable):
        adapter.increase_requests_list()


def test_anthropic_increase_requests_list_page_approve_and_deny(anthropic_emulator):
    for n in range(150):  # more than one page
        anthropic_emulator.add_increase_request(f"person{n}@example.com", 10_000 + n, reason="launch week")
    adapter = _anthropic(anthropic_emulator)
    requests = adapter.increase_requests_list()
    assert len(requests) == 150
    first = requests[0]
    assert (first.requester, first.amount_usd, first.status) == ("person0@example.com", Decimal("100.00"), "pending")

    adapter.increase_request_decide(request_id=first.request_id, approve=True, amount_usd=Decimal("80"))
    adapter.increase_request_decide(request_id=requests[1].request_id, approve=False)

    assert anthropic_emulator.increase_requests[first.request_id]["approved_amount"] == "8000"
    assert anthropic_emulator.increase_requests[requests[1].request_id]["status"] == "denied"
    assert len(adapter.increase_requests_list()) == 148


def test_openrouter_guardrail_budget_models_and_keys(openrouter_emulator):
    adapter = _openrouter(openrouter_emulator)
    key = adapter.mint_key(name="alloc-erin", limit_usd=Decimal("50"))
    guardrail = adapter.scope_container_create(name="allocator-team-search")
    adapter.scope_keys_assign(scope_id=guardrail, provider_key_ids=[key.provider_key_id])
    limit = adapter.scope_limit_set(scope_id=guardrail, amount_usd=Decimal("42.129"))
    adapter.scope_models_set(scope_id=guardrail, models=["openai/gpt-4o-mini"])

    stored = openrouter_emulator.guardrails[guardrail]
    assert (stored["limit_usd"], stored["reset_interval"]) == (42.12, "monthly")
    assert stored["allowed_models"] == ["openai/gpt-4o-mini"]
    assert openrouter_emulator.guardrail_keys[guardrail] == {key.provider_key_id}
    assert limit.amount_usd == Decimal("42.12")
    adapter.scope_models_set(scope_id=guardrail, models=None)
    assert openrouter_emulator.guardrails[guardrail]["allowed_models"] is None
    adapter.scope_limit_remove(scope_id=guardrail)
    assert guardrail not in openrouter_emulator.guardrails


def test_guard_text_follows_declared_capabilities():
    assert get_provider("openrouter").guard_text() == GUARD_PROVIDER
    assert get_provider("openai").guard_text() == GUARD_NEXT_SYNC
    assert get_provider("openai", options={"scope_per": "team"}).guard_text() == GUARD_PROVIDER_MONTHLY
    assert get_provider("anthropic", options={"scope_per": "project"}).guard_text() == GUARD_PROVIDER_MONTHLY
    assert get_provider("simulated", options={"scope_per": "team"}).guard_text() == GUARD_NEXT_SYNC
