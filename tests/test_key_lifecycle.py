"""Rotation, secret expiry and revocation rules on the simulated provider."""

from datetime import timedelta

import time_machine
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from allocator import keys as key_services
from allocator.models import Key, SimulatedKey
from tests.conftest import login


def _mint(engineer, team, simulated) -> Key:
    minted = simulated.adapter().mint_key(name="alloc-erin-laptop")
    key = Key(
        account=simulated,
        owner_user=engineer,
        team=team,
        name="laptop",
        provider_key_id=minted.provider_key_id,
        hint=minted.hint,
        requested_by=engineer,
    )
    key.hold_secret(minted.secret, hours=24)
    key.save()
    return key


def test_rotate_mints_a_new_key_revokes_the_old_and_shows_the_new_secret_once(engineer, team, simulated):
    key = _mint(engineer, team, simulated)
    key_services.key_reveal(key=key, by=engineer)
    old_id = key.provider_key_id
    client = login(engineer)

    confirm = client.get(reverse("allocator:key_rotate", args=[key.pk]))
    assert b"mints a new key at the provider and then revokes this one" in confirm.content
    client.post(reverse("allocator:key_rotate", args=[key.pk]))

    key.refresh_from_db()
    assert key.provider_key_id != old_id and key.secret_available
    assert key.provider_data["previous_key_ids"] == [old_id]
    assert SimulatedKey.objects.get(key_id=old_id).revoked
    assert not SimulatedKey.objects.get(key_id=key.provider_key_id).revoked
    assert client.post(reverse("allocator:key_reveal", args=[key.pk])).status_code == 200
    assert client.post(reverse("allocator:key_reveal", args=[key.pk])).status_code == 410
    assert AuditEvent.objects.filter(action="key.rotated", details__old_provider_key_id=old_id).exists()


def test_unrevealed_secret_is_destroyed_after_24_hours(engineer, team, simulated):
    key = _mint(engineer, team, simulated)
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert key_services.key_secrets_expire() == 1
        response = login(engineer).post(reverse("allocator:key_reveal", args=[key.pk]))
    key.refresh_from_db()
    assert key.pending_secret == ""
    assert response.status_code == 410 and b"Rotate" in response.content
    assert AuditEvent.objects.filter(action="key.secret_expired").count() == 1


def test_only_the_owner_sees_the_secret(engineer, manager, admin, team, simulated):
    key = _mint(engineer, team, simulated)
    assert login(manager).post(reverse("allocator:key_reveal", args=[key.pk])).status_code == 403
    assert login(admin).post(reverse("allocator:key_reveal", args=[key.pk])).status_code == 403
    key.refresh_from_db()
    assert key.secret_available


def test_revoke_needs_confirmation_and_is_final(engineer, team, simulated):
    key = _mint(engineer, team, simulated)
    client = login(engineer)
    page = client.get(reverse("allocator:key_revoke", args=[key.pk]))
    assert b"cannot be brought back" in page.content
    key.refresh_from_db()
    assert key.status == Key.Status.ACTIVE  # GET changes nothing

    client.post(reverse("allocator:key_revoke", args=[key.pk]), {"reason": "left the project"})
    key.refresh_from_db()
    assert key.status == Key.Status.REVOKED and key.pending_secret == ""
    assert SimulatedKey.objects.get(key_id=key.provider_key_id).revoked
    again = client.post(reverse("allocator:key_revoke", args=[key.pk]), follow=True)
    assert b"already revoked" in again.content


def test_my_keys_lists_own_and_team_project_keys_but_not_colleagues(engineer, manager, team, project, simulated):
    mine = _mint(engineer, team, simulated)
    colleague = _mint(manager, team, simulated)
    colleague.name = "managers-key"
    colleague.save()
    page = login(engineer).get(reverse("allocator:key_list"))
    assert mine.name.encode() in page.content and b"managers-key" not in page.content


def test_a_key_suspended_for_budget_offers_a_bump(engineer, team, simulated):
    from budgets.models import KeyEnforcement

    key = _mint(engineer, team, simulated)
    key_services.key_suspend(key=key, reason="team budget FY2026-Q4 used up")
    KeyEnforcement.objects.create(key=key, suspended_by="budget", note="Suspended at 100 % of the Search budget.")
    page = login(engineer).get(key.get_absolute_url())
    assert b"Ask for more budget" in page.content
    assert f"/budgets/bumps/new/?key={key.pk}".encode() in page.content
    assert b"Suspended at 100 % of the Search budget." in page.content
