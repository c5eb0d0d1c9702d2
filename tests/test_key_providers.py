"""The key flow against each real provider's loopback emulator, over real HTTP."""

import re
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from accounts.models import AuditEvent
from allocator.models import Key, KeyRequest, ProviderAccount, ProviderKind
from tests.conftest import login
from tests.factories import KeyRequestFactory
from tests.usage_helpers import emulator_account


@pytest.fixture
def auto_approve_50(policy):
    policy.auto_approve_limit_usd = Decimal("50")
    policy.save()
    return policy


def _request_and_mint(client, account, team, allowance="25"):
    client.post(
        reverse("allocator:request_create"),
        {
            "account": account.pk,
            "owner": "me",
            "team": team.pk,
            "name": "laptop",
            "purpose": "evals",
            "allowance_usd": allowance,
            "submit": "1",
        },
    )
    return KeyRequest.objects.get()


def _reveal(client, key) -> str:
    response = client.post(reverse("allocator:key_reveal", args=[key.pk]))
    assert response.status_code == 200
    return re.search(rb'<code id="secret-value">([^<]+)</code>', response.content).group(1).decode()


def test_openrouter_mint_with_limit_reveal_suspend_reinstate_revoke(
    engineer, manager, team, auto_approve_50, openrouter_emulator, eager_celery, django_capture_on_commit_callbacks
):
    account = emulator_account(ProviderKind.OPENROUTER, openrouter_emulator, retries=0)
    client = login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        key_request = _request_and_mint(client, account, team, allowance="25")
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.MINTED
    key = Key.objects.get(request=key_request)

    [create] = openrouter_emulator.requests_to("POST", "/keys")
    assert create.headers["authorization"] == f"Bearer {openrouter_emulator.credential}"
    assert create.json["limit"] == 25.0 and create.json["name"].startswith("alloc-engineer-laptop")
    assert _reveal(client, key) == openrouter_emulator.secrets[key.provider_key_id]
    assert key.provider_key_id in openrouter_emulator.keys

    manager_client = login(manager)
    manager_client.post(reverse("allocator:key_suspend", args=[key.pk]), {"reason": "over budget"})
    key.refresh_from_db()
    assert key.status == Key.Status.SUSPENDED
    assert openrouter_emulator.key(key.provider_key_id)["disabled"] is True

    manager_client.post(reverse("allocator:key_reinstate", args=[key.pk]))
    key.refresh_from_db()
    assert key.status == Key.Status.ACTIVE
    assert openrouter_emulator.key(key.provider_key_id)["disabled"] is False

    client.post(reverse("allocator:key_revoke", args=[key.pk]), {"reason": "done"})
    key.refresh_from_db()
    assert key.status == Key.Status.REVOKED
    assert key.provider_key_id not in openrouter_emulator.keys
    assert [e.action for e in AuditEvent.objects.filter(target_type="allocator.key").order_by("id")] == [
        "key.minted",
        "key.secret_revealed",
        "key.suspended",
        "key.reinstated",
        "key.revoked",
    ]


def test_provider_failure_lands_in_failed_state_then_retry_succeeds(
    engineer, team, auto_approve_50, openrouter_emulator, eager_celery, django_capture_on_commit_callbacks
):
    account = emulator_account(ProviderKind.OPENROUTER, openrouter_emulator, retries=0)
    openrouter_emulator.fail_next(10, status=503, path_prefix="/keys")
    client = login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        key_request = _request_and_mint(client, account, team)
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.FAILED
    assert "503" in key_request.failure_message
    assert not Key.objects.exists()
    page = client.get(key_request.get_absolute_url())
    assert b"Minting failed" in page.content and b"Retry minting" in page.content

    openrouter_emulator.clear_faults()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("allocator:request_retry", args=[key_request.pk]))
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.MINTED
    assert Key.objects.get(request=key_request).provider_key_id in openrouter_emulator.keys


def test_openai_key_is_a_service_account_and_suspend_is_honestly_a_revoke(
    engineer, manager, team, auto_approve_50, openai_emulator, eager_celery, django_capture_on_commit_callbacks
):
    project_id = openai_emulator.add_project("allocator")
    account = emulator_account(ProviderKind.OPENAI, openai_emulator, retries=0, project_id=project_id)
    client = login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        key_request = _request_and_mint(client, account, team)
    key = Key.objects.get(request=key_request)
    service_account = key.provider_data["service_account_id"]
    assert service_account in openai_emulator.service_accounts[project_id]
    first_secret = _reveal(client, key)
    assert first_secret == openai_emulator.secrets[key.provider_key_id]

    manager_client = login(manager)
    page = manager_client.get(reverse("allocator:key_suspend", args=[key.pk]))
    assert b"cannot pause keys" in page.content
    manager_client.post(reverse("allocator:key_suspend", args=[key.pk]), {"reason": "budget"})
    key.refresh_from_db()
    assert key.status == Key.Status.SUSPENDED and "deleted at the provider" in key.status_reason
    assert service_account not in openai_emulator.service_accounts[project_id]

    manager_client.post(reverse("allocator:key_reinstate", args=[key.pk]))
    key.refresh_from_db()
    assert key.status == Key.Status.ACTIVE
    assert key.provider_data["service_account_id"] != service_account
    assert key.provider_data["previous_key_ids"]
    second_secret = _reveal(client, key)
    assert second_secret != first_secret and second_secret == openai_emulator.secrets[key.provider_key_id]


def test_anthropic_keys_are_imported_then_suspended_and_reinstated(
    admin, engineer, team, anthropic_emulator, django_capture_on_commit_callbacks
):
    account = emulator_account(ProviderKind.ANTHROPIC, anthropic_emulator, retries=0)
    remote = anthropic_emulator.add_key("erin-laptop", workspace_id="wrkspc_1")
    anthropic_emulator.add_key("archived-one", status="archived")
    client = login(admin)

    page = client.get(reverse("allocator:account_unmanaged", args=[account.pk]))
    assert b"erin-laptop" in page.content and b"archived-one" not in page.content

    client.post(
        reverse("allocator:account_import_key", args=[account.pk]),
        {"provider_key_id": remote["id"], "owner_user": engineer.pk, "team": team.pk, "limit_usd": "200"},
    )
    key = Key.objects.get(provider_key_id=remote["id"])
    assert key.imported and key.owner_user == engineer and key.status == Key.Status.ACTIVE
    assert remote["id"].encode() not in client.get(reverse("allocator:account_unmanaged", args=[account.pk])).content

    client.post(reverse("allocator:key_suspend", args=[key.pk]), {"reason": "runaway"})
    key.refresh_from_db()
    assert key.status == Key.Status.SUSPENDED
    assert anthropic_emulator.keys[remote["id"]]["status"] == "inactive"
    [update] = anthropic_emulator.requests_to("POST", f"/v1/organizations/api_keys/{remote['id']}")
    assert update.headers["x-api-key"] == anthropic_emulator.credential
    assert update.headers["anthropic-version"] == "2023-06-01"

    client.post(reverse("allocator:key_reinstate", args=[key.pk]))
    key.refresh_from_db()
    assert key.status == Key.Status.ACTIVE
    assert anthropic_emulator.keys[remote["id"]]["status"] == "active"

    # The request form does not offer Anthropic: its API cannot create keys.
    form = login(engineer).get(reverse("allocator:request_create"))
    assert account.name.encode() not in form.content


def test_provider_error_on_suspend_changes_nothing(manager, team, engineer, openrouter_emulator):
    account = emulator_account(ProviderKind.OPENROUTER, openrouter_emulator, retries=0)
    remote = openrouter_emulator.add_key("k")
    key = Key.objects.create(
        account=account, owner_user=engineer, team=team, name="k", provider_key_id=remote["hash"], hint="x"
    )
    openrouter_emulator.fail_next(5, status=500)
    response = login(manager).post(reverse("allocator:key_suspend", args=[key.pk]), {"reason": "x"}, follow=True)
    assert b"The provider call failed, nothing was changed" in response.content
    key.refresh_from_db()
    assert key.status == Key.Status.ACTIVE


def test_test_connection_marks_bad_credentials(admin, openrouter_emulator):
    account = emulator_account(ProviderKind.OPENROUTER, openrouter_emulator, retries=0)
    account.credential = "wrong"
    account.save()
    response = login(admin).post(reverse("allocator:account_test", args=[account.pk]), headers={"HX-Request": "true"})
    assert b"Credentials invalid" in response.content
    account.refresh_from_db()
    assert account.status == ProviderAccount.Status.CREDENTIALS_INVALID

    account.credential = openrouter_emulator.credential
    account.save()
    login(admin).post(reverse("allocator:account_test", args=[account.pk]))
    account.refresh_from_db()
    assert account.status == ProviderAccount.Status.OK


def test_credential_is_encrypted_at_rest(openrouter_emulator, db):
    account = emulator_account(ProviderKind.OPENROUTER, openrouter_emulator, retries=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT credential FROM allocator_provideraccount WHERE id = %s", [account.pk])
        stored = cursor.fetchone()[0]
    assert openrouter_emulator.credential not in stored
    assert ProviderAccount.objects.get(pk=account.pk).credential == openrouter_emulator.credential


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_mint_exactly_one_key(openrouter_emulator, eager_celery, team, manager, admin):
    account = emulator_account(ProviderKind.OPENROUTER, openrouter_emulator, retries=0)
    key_request = KeyRequestFactory(account=account, team=team, allowance_usd=Decimal("300"))
    start = threading.Barrier(2)
    statuses: list[int] = []

    def approve(user):
        try:
            client = login(user)
            start.wait()
            statuses.append(client.post(reverse("allocator:request_approve", args=[key_request.pk])).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(u,)) for u in (manager, admin)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert sorted(statuses) == [302, 302]
    key_request.refresh_from_db()
    assert key_request.state == KeyRequest.State.MINTED
    assert Key.objects.filter(request=key_request).count() == 1
    assert len(openrouter_emulator.requests_to("POST", "/keys")) == 1
    assert AuditEvent.objects.filter(action="key_request.approved_manager").count() == 1
