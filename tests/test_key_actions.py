"""Key actions at the provider: concurrent rotations claim the row first (exactly one new provider key), and a
reason that does not fit its column is refused before the provider is called."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import AuditEvent
from allocator.keys import key_suspend
from allocator.models import Key, ProviderAccount, ProviderKind
from tests.conftest import login


def _openrouter_key(emulator, engineer, team) -> Key:
    """A live OpenRouter key of the engineer, created at the emulator and tracked by Allocator."""
    account = ProviderAccount.objects.create(
        name="openrouter test",
        kind=ProviderKind.OPENROUTER,
        base_url=emulator.url,
        credential=emulator.credential,
        options={"retries": 0, "timeout": 10},
    )
    minted = account.adapter().mint_key(name="alloc-engineer-laptop", limit_usd=Decimal("25"))
    return Key.objects.create(
        account=account,
        owner_user=engineer,
        team=team,
        name="laptop",
        provider_key_id=minted.provider_key_id,
        hint=minted.hint,
        provider_data={**minted.provider_data, "name": minted.name},
        limit_usd=Decimal("25"),
        requested_by=engineer,
    )


@pytest.mark.django_db(transaction=True)
def test_two_rotations_at_once_leave_exactly_one_live_key_at_the_provider(openrouter_emulator, engineer, manager, team):
    key = _openrouter_key(openrouter_emulator, engineer, team)
    # Each provider call takes a moment, so the second click arrives while the first rotation is under way.
    openrouter_emulator.fail_next(4, delay=0.5, path_prefix="/keys")
    start = threading.Barrier(2)
    statuses: list[int] = []

    def rotate(user):
        try:
            client = login(user)
            start.wait()
            statuses.append(client.post(reverse("allocator:key_rotate", args=[key.pk])).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=rotate, args=(u,)) for u in (engineer, manager)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(statuses) == [302, 302]
    key.refresh_from_db()
    assert len(openrouter_emulator.requests_to("POST", "/keys")) == 2  # the original mint and one rotation
    assert list(openrouter_emulator.keys) == [key.provider_key_id]
    assert AuditEvent.objects.filter(action="key.rotated").count() == 1
    assert key.status == Key.Status.ACTIVE and key.secret_available


@pytest.mark.django_db(transaction=True)
def test_a_rotation_after_a_rotation_works(openrouter_emulator, engineer, team):
    """The claim is released when a rotation ends, so the next one goes ahead."""
    key = _openrouter_key(openrouter_emulator, engineer, team)
    client = login(engineer)
    for _ in range(2):
        assert client.post(reverse("allocator:key_rotate", args=[key.pk])).status_code == 302
    key.refresh_from_db()
    assert list(openrouter_emulator.keys) == [key.provider_key_id]
    assert len(key.provider_data["previous_key_ids"]) == 2


def test_a_reason_too_long_for_its_column_is_refused_before_the_provider_is_called(
    openrouter_emulator, engineer, manager, team
):
    """On PostgreSQL this answered 500 after the provider had disabled the key (disabled there, Active here)."""
    key = _openrouter_key(openrouter_emulator, engineer, team)
    client = login(manager)
    response = client.post(reverse("allocator:key_suspend", args=[key.pk]), {"reason": "x" * 201}, follow=True)
    assert response.status_code == 200
    assert b"200 characters" in response.content
    key.refresh_from_db()
    assert key.status == Key.Status.ACTIVE and key.action_claimed_at is None
    assert not openrouter_emulator.requests_to("PATCH", f"/keys/{key.provider_key_id}")
    assert openrouter_emulator.key(key.provider_key_id)["disabled"] is False

    revoke = client.post(reverse("allocator:key_revoke", args=[key.pk]), {"reason": "y" * 500}, follow=True)
    assert b"200 characters" in revoke.content
    key.refresh_from_db()
    assert key.status == Key.Status.ACTIVE
    assert key.provider_key_id in openrouter_emulator.keys

    ok = client.post(reverse("allocator:key_suspend", args=[key.pk]), {"reason": "z" * 200})
    assert ok.status_code == 302
    key.refresh_from_db()
    assert key.status == Key.Status.SUSPENDED and key.status_reason == "z" * 200


def test_a_generated_reason_is_cut_to_fit_its_column(openai_emulator, engineer, team):
    """Enforcement writes its own reasons; OpenAI's suspend adds a note. The stored reason still fits."""
    account = ProviderAccount.objects.create(
        name="openai test",
        kind=ProviderKind.OPENAI,
        base_url=openai_emulator.url,
        credential=openai_emulator.credential,
        options={"retries": 0, "timeout": 10, "project_id": openai_emulator.add_project("allocator")},
    )
    minted = account.adapter().mint_key(name="alloc-engineer-laptop", limit_usd=Decimal("25"))
    key = Key.objects.create(
        account=account,
        owner_user=engineer,
        team=team,
        name="laptop",
        provider_key_id=minted.provider_key_id,
        provider_data=minted.provider_data,
        requested_by=engineer,
    )
    key = key_suspend(key=key, reason="Over budget: " + "a very long scope name " * 12)
    key.refresh_from_db()
    assert key.status == Key.Status.SUSPENDED
    assert len(key.status_reason) <= 200 and key.status_reason.endswith("…")
