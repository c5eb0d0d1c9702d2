"""Enforcement at real providers over HTTP: the OpenRouter emulator gets a disabled key and a dollar cap."""

from __future__ import annotations

from decimal import Decimal

import pytest

from allocator.models import Key, ProviderAccount, ProviderKind
from budgets.enforce import enforce_budgets
from budgets.models import Alert, KeyEnforcement
from tests.budget_factories import pinned_clock, spend, team_budget, user_budget
from tests.factories import KeyFactory


@pytest.fixture(autouse=True)
def _pinned_clock():
    with pinned_clock():
        yield


@pytest.fixture
def openrouter(openrouter_emulator) -> ProviderAccount:
    return ProviderAccount.objects.create(
        name="OpenRouter",
        kind=ProviderKind.OPENROUTER,
        base_url=openrouter_emulator.url,
        credential=openrouter_emulator.credential,
        options={"retries": 0},
    )


def _remote_key(openrouter_emulator, openrouter, *, engineer, team, limit="100") -> Key:
    remote = openrouter_emulator.add_key("alloc-erin", limit=limit)
    return KeyFactory(account=openrouter, owner_user=engineer, team=team, provider_key_id=remote["hash"])


def test_an_openrouter_key_is_capped_at_what_is_left(policy, openrouter_emulator, openrouter, engineer, team):
    key = _remote_key(openrouter_emulator, openrouter, engineer=engineer, team=team)
    user_budget(engineer, team, "100")
    team_budget(team, "1000")
    spend(key, "30")  # this quarter
    spend(key, "12.50", day=key.created_at.date().replace(year=key.created_at.year - 1))  # earlier in its life

    report = enforce_budgets()

    assert report.limits_set == [key.pk]
    remote = openrouter_emulator.key(key.provider_key_id)
    # OpenRouter's limit counts the key's whole life: $42.50 spent so far + $70 left in Erin's budget.
    assert remote["limit"] == 112.5 and remote["disabled"] is False
    [patch] = openrouter_emulator.requests_to("PATCH", f"/keys/{key.provider_key_id}")
    assert patch.json == {"limit": 112.5}
    assert KeyEnforcement.objects.get(key=key).provider_limit_usd == Decimal("112.50")

    enforce_budgets()  # nothing changed: no second call
    assert len(openrouter_emulator.requests_to("PATCH")) == 1


def test_a_spent_hard_budget_disables_the_openrouter_key_and_caps_it(
    policy, openrouter_emulator, openrouter, engineer, team
):
    key = _remote_key(openrouter_emulator, openrouter, engineer=engineer, team=team)
    user_budget(engineer, team, "100")
    spend(key, "100")

    enforce_budgets()

    remote = openrouter_emulator.key(key.provider_key_id)
    assert remote["disabled"] is True
    assert remote["limit"] == 100.0  # lifetime spend + $0 left
    key.refresh_from_db()
    assert key.status == Key.Status.SUSPENDED
    message = Alert.objects.get(threshold=100, scope="user").message
    assert f"{key.name} (Erin Engineer): suspended." in message


def test_a_provider_failure_is_retried_on_the_next_run(policy, openrouter_emulator, openrouter, engineer, team):
    key = _remote_key(openrouter_emulator, openrouter, engineer=engineer, team=team)
    user_budget(engineer, team, "100")
    spend(key, "120")
    openrouter_emulator.fail_next(5, status=503)

    report = enforce_budgets()

    assert report.errors and not report.suspended
    key.refresh_from_db()
    assert key.status == Key.Status.ACTIVE
    assert "failed" in KeyEnforcement.objects.get(key=key).note

    openrouter_emulator.clear_faults()
    enforce_budgets()
    key.refresh_from_db()
    assert key.status == Key.Status.SUSPENDED
    assert openrouter_emulator.key(key.provider_key_id)["disabled"] is True
