"""Provider accounts: test the connection, list keys Allocator does not manage, import one, revoke one remotely."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AuditEvent, Project, Team, User
from allocator.models import Key, ProviderAccount
from allocator.money import amount_error
from allocator.providers.base import ProviderError, RemoteKey


def account_test_connection(*, account: ProviderAccount, by: User | None) -> tuple[bool, str]:
    """Call a cheap read endpoint and record the outcome on the account."""
    try:
        message = account.adapter().check_connection()
        ok, status = True, ProviderAccount.Status.OK
    except ProviderError as error:
        message, ok = str(error), False
        status = ProviderAccount.Status.CREDENTIALS_INVALID if error.auth else ProviderAccount.Status.ERROR
    ProviderAccount.objects.filter(pk=account.pk).update(
        status=status, status_message=message, status_checked_at=timezone.now()
    )
    AuditEvent.record("provider_account.tested", actor=by, target=account, ok=ok)
    return ok, message


def account_unmanaged_keys(*, account: ProviderAccount) -> list[RemoteKey]:
    """Keys at the provider that Allocator does not know (and that are not revoked there)."""
    remote = account.adapter().list_keys()
    known = set(Key.objects.filter(account=account).values_list("provider_key_id", flat=True))
    for data in Key.objects.filter(account=account).values_list("provider_data", flat=True):
        known.update((data or {}).get("previous_key_ids", []))
    return [r for r in remote if r.provider_key_id not in known and r.status != "revoked"]


def account_import_key(
    *,
    account: ProviderAccount,
    provider_key_id: str,
    owner_user: User | None,
    owner_project: Project | None,
    team: Team,
    limit_usd: Decimal | None,
    by: User,
) -> Key:
    """Bring a key created at the provider (e.g. in Anthropic's Console) under Allocator's management."""
    if (owner_user is None) == (owner_project is None):
        raise ValidationError("Choose exactly one owner: a person or a project.")
    if owner_project is not None and owner_project.team_id != team.pk:
        raise ValidationError("That project belongs to another team.")
    if limit_usd is not None and (problem := amount_error(limit_usd, allow_zero=True)) is not None:
        raise ValidationError({"limit_usd": problem})
    if len(provider_key_id) > Key._meta.get_field("provider_key_id").max_length:
        raise ValidationError("That is not a key id of this provider (too long).")
    matches = [r for r in account.adapter().list_keys() if r.provider_key_id == provider_key_id]
    if not matches:
        raise ValidationError("That key no longer exists at the provider.")
    remote = matches[0]
    status = {"active": Key.Status.ACTIVE, "suspended": Key.Status.SUSPENDED, "expired": Key.Status.EXPIRED}.get(
        remote.status, Key.Status.REVOKED
    )
    try:
        with transaction.atomic():
            key = Key.objects.create(
                account=account,
                owner_user=owner_user,
                owner_project=owner_project,
                team=team,
                name=Key.fit("name", remote.name or provider_key_id),
                provider_key_id=provider_key_id,
                hint=Key.fit("hint", remote.hint or ""),
                status=status,
                provider_data=remote.provider_data,
                limit_usd=limit_usd,
                requested_by=by,
                approved_by=by,
                imported=True,
                created_at=remote.created_at or timezone.now(),
            )
            AuditEvent.record("key.imported", actor=by, target=key, provider_key_id=provider_key_id)
    except IntegrityError as e:
        raise ValidationError("That key is already managed by Allocator.") from e
    return key


def account_revoke_remote_key(*, account: ProviderAccount, provider_key_id: str, by: User) -> None:
    """Revoke an unmanaged key at the provider."""
    remote = {r.provider_key_id: r for r in account.adapter().list_keys()}.get(provider_key_id)
    if remote is None:
        raise ValidationError("That key no longer exists at the provider.")
    account.adapter().revoke_key(provider_key_id=provider_key_id, provider_data=remote.provider_data)
    AuditEvent.record("provider_key.revoked_unmanaged", actor=by, target=account, provider_key_id=provider_key_id)
