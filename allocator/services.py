"""Key issuance: requests, approvals, minting at the provider, the once-only secret, suspend/revoke.

Views, the API and Celery tasks all call these functions; permission checks use accounts.permissions.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Membership, Project, Team, User
from accounts.permissions import Access
from accounts.services import finance_people, notify, team_managers
from allocator.models import InvalidTransition, Key, KeyRequest, Policy, ProviderAccount
from allocator.providers.base import MintedKey, ProviderError, RemoteKey

logger = logging.getLogger(__name__)

# A worker that claimed a mint and then died leaves the claim behind; after this long another may try.
MINT_CLAIM_TIMEOUT = timedelta(minutes=10)
MAX_MINT_ATTEMPTS = 4


# --- Key requests -----------------------------------------------------------------------------------


def key_request_create(
    *,
    requester: User,
    account: ProviderAccount,
    team: Team,
    project: Project | None,
    name: str,
    purpose: str,
    allowance_usd: Decimal,
    expires_on=None,
) -> KeyRequest:
    """File a key request and route it through policy (auto-approve, manager, manager + finance)."""
    errors: dict[str, str] = {}
    if not account.enabled:
        errors["account"] = "This provider account is disabled."
    elif not account.capabilities.mint:
        errors["account"] = (
            f"{account.get_kind_display()} keys cannot be created through its API; "
            "ask an admin to import an existing key for you."
        )
    if not requester.is_admin and not Membership.objects.filter(user=requester, team=team).exists():
        errors["team"] = "You can only charge keys to a team you belong to."
    if project is not None and project.team_id != team.pk:
        errors["project"] = "That project belongs to another team."
    if allowance_usd <= 0:
        errors["allowance_usd"] = "The quarterly allowance must be more than $0."
    if expires_on is not None and expires_on <= timezone.localdate():
        errors["expires_on"] = "The expiry date must be in the future."
    if errors:
        raise ValidationError(errors)

    policy = Policy.current()
    auto_limit, finance_above = account.approval_limits(policy)
    with transaction.atomic():
        key_request = KeyRequest(
            requester=requester,
            account=account,
            team=team,
            project=project,
            name=name.strip(),
            purpose=purpose.strip(),
            allowance_usd=allowance_usd,
            expires_on=expires_on,
        )
        key_request.submit(auto_limit=auto_limit, finance_above=finance_above)
        key_request.save()
        AuditEvent.record(
            "key_request.created",
            actor=requester,
            target=key_request,
            allowance_usd=str(allowance_usd),
            account=account.name,
        )
        if key_request.auto_approved:
            AuditEvent.record("key_request.auto_approved", target=key_request, limit_usd=str(auto_limit))
            _enqueue_mint(key_request)
        else:
            notify(
                users=team_managers(team),
                text=f"{requester} asks for a {account.name} key “{key_request.name}” (${allowance_usd}/quarter).",
                url=reverse("allocator:approvals"),
            )
    return key_request


def _require_decidable(key_request: KeyRequest, by: User) -> None:
    """Someone else may have decided first (two managers clicking at once): say so, don't 403."""
    if key_request.state != KeyRequest.State.PENDING:
        decider = f" by {key_request.decided_by}" if key_request.decided_by_id else ""
        raise InvalidTransition(f"Already decided{decider}: this request is {key_request.get_state_display().lower()}.")
    if not Access(by).can_approve(key_request):
        raise PermissionDenied("You cannot decide this request.")


def _enqueue_mint(key_request: KeyRequest) -> None:
    from allocator.tasks import mint_key

    pk = key_request.pk
    transaction.on_commit(lambda: mint_key.delay(pk))


@transaction.atomic
def key_request_approve(*, key_request: KeyRequest, by: User) -> KeyRequest:
    """Approve the step the request waits for; the final approval queues the mint."""
    key_request = KeyRequest.objects.select_for_update().get(pk=key_request.pk)
    _require_decidable(key_request, by)
    step = key_request.awaiting_step
    key_request.approve(by=by)
    key_request.save()
    AuditEvent.record(f"key_request.approved_{step}", actor=by, target=key_request)
    if key_request.state == KeyRequest.State.APPROVED:
        _enqueue_mint(key_request)
    else:
        notify(
            users=finance_people(),
            text=f"{key_request.requester}'s key request “{key_request.name}” (${key_request.allowance_usd}) "
            "needs finance approval.",
            url=reverse("allocator:approvals"),
        )
    return key_request


@transaction.atomic
def key_request_reject(*, key_request: KeyRequest, by: User, reason: str) -> KeyRequest:
    key_request = KeyRequest.objects.select_for_update().get(pk=key_request.pk)
    _require_decidable(key_request, by)
    key_request.reject(by=by, reason=reason)
    key_request.save()
    AuditEvent.record("key_request.rejected", actor=by, target=key_request, reason=key_request.decision_reason)
    notify(
        users=[key_request.requester],
        text=f"Your key request “{key_request.name}” was rejected by {by}: {key_request.decision_reason}",
        url=key_request.get_absolute_url(),
    )
    return key_request


@transaction.atomic
def key_request_cancel(*, key_request: KeyRequest, by: User) -> KeyRequest:
    key_request = KeyRequest.objects.select_for_update().get(pk=key_request.pk)
    if not Access(by).can_act_as_owner(key_request):
        raise PermissionDenied("Only the requester can cancel this request.")
    key_request.cancel(by=by)
    key_request.save()
    AuditEvent.record("key_request.cancelled", actor=by, target=key_request)
    return key_request


@transaction.atomic
def key_request_retry(*, key_request: KeyRequest, by: User) -> KeyRequest:
    """Put a failed mint back in the queue."""
    key_request = KeyRequest.objects.select_for_update().get(pk=key_request.pk)
    if not Access(by).can_act_as_owner(key_request):
        raise PermissionDenied("Only the requester, their manager or an admin can retry.")
    key_request.retry()
    key_request.attempts = 0
    key_request.mint_claimed_at = None
    key_request.save()
    AuditEvent.record("key_request.retried", actor=by, target=key_request)
    _enqueue_mint(key_request)
    return key_request


# --- Minting ----------------------------------------------------------------------------------------


def key_mint(*, key_request_id: int, final_attempt: bool = True) -> Key | None:
    """Mint the key for an approved request. Safe to run any number of times, concurrently.

    A short transaction claims the request (row lock + claim timestamp) so a second worker stands back;
    the provider is called outside any transaction; the Key row's unique `request` link is the last guard.
    On a retryable ProviderError the claim is released and the error re-raised (the task retries), unless
    `final_attempt`, in which case the request lands in "failed" with the provider's message.
    """
    now = timezone.now()
    with transaction.atomic():
        key_request = KeyRequest.objects.select_for_update().select_related("account").get(pk=key_request_id)
        existing = Key.objects.filter(request=key_request).first()
        if existing is not None:
            if key_request.state == KeyRequest.State.APPROVED:
                key_request.mark_minted()
                key_request.save()
            return existing
        if key_request.state != KeyRequest.State.APPROVED:
            return None
        if key_request.mint_claimed_at and now - key_request.mint_claimed_at < MINT_CLAIM_TIMEOUT:
            return None  # another worker is minting this request right now
        key_request.mint_claimed_at = now
        key_request.attempts += 1
        key_request.save(update_fields=["mint_claimed_at", "attempts", "updated_at"])

    account = key_request.account
    expires_at = datetime.combine(key_request.expires_on, time.max, tzinfo=UTC) if key_request.expires_on else None
    try:
        minted = account.adapter().mint_key(
            name=_provider_key_name(key_request), limit_usd=key_request.allowance_usd, expires_at=expires_at
        )
    except ProviderError as error:
        give_up = final_attempt or error.permanent or key_request.attempts >= MAX_MINT_ATTEMPTS
        with transaction.atomic():
            key_request = KeyRequest.objects.select_for_update().get(pk=key_request_id)
            key_request.mint_claimed_at = None
            if give_up and key_request.state == KeyRequest.State.APPROVED:
                key_request.mark_failed(str(error))
                AuditEvent.record("key_request.mint_failed", target=key_request, error=str(error))
                notify(
                    users=[key_request.requester],
                    text=f"Minting your key “{key_request.name}” failed: {error}. You can retry it.",
                    url=key_request.get_absolute_url(),
                )
            key_request.save()
        if give_up:
            return None
        raise

    with transaction.atomic():
        key_request = KeyRequest.objects.select_for_update().get(pk=key_request_id)
        key = Key(
            account=account,
            owner_user=None if key_request.project_id else key_request.requester,
            owner_project_id=key_request.project_id,
            team_id=key_request.team_id,
            name=key_request.name,
            provider_key_id=minted.provider_key_id,
            hint=minted.hint,
            provider_data={**minted.provider_data, "name": minted.name},
            limit_usd=key_request.allowance_usd,
            request=key_request,
            requested_by=key_request.requester,
            approved_by=key_request.decided_by,
            expires_at=expires_at,
        )
        key.hold_secret(minted.secret, hours=Policy.current().secret_reveal_hours)
        try:
            with transaction.atomic():
                key.save()
        except IntegrityError:
            # Lost a race with another worker that minted for this request: undo ours at the provider.
            _revoke_quietly(account, minted)
            return Key.objects.get(request=key_request)
        key_request.mark_minted()
        key_request.mint_claimed_at = None
        key_request.save()
        AuditEvent.record("key.minted", target=key, account=account.name, provider_key_id=key.provider_key_id)
        notify(
            users=[key_request.requester],
            text=f"Your key “{key.name}” is ready. Reveal its secret within "
            f"{Policy.current().secret_reveal_hours} hours: it is shown once.",
            url=key.get_absolute_url(),
        )
    return key


def _provider_key_name(key_request: KeyRequest) -> str:
    owner = key_request.project.slug if key_request.project_id else key_request.requester.email.split("@")[0]
    return f"alloc-{owner}-{key_request.name}"[:60]


def _revoke_quietly(account: ProviderAccount, minted: MintedKey) -> None:
    try:
        account.adapter().revoke_key(provider_key_id=minted.provider_key_id, provider_data=minted.provider_data)
    except ProviderError:
        logger.warning("could not revoke duplicate key %s at %s", minted.provider_key_id, account.name)


# --- The once-only secret ---------------------------------------------------------------------------


@transaction.atomic
def key_reveal(*, key: Key, by: User) -> str:
    """Return the key's secret and destroy the stored copy. A second call raises InvalidTransition."""
    key = Key.objects.select_for_update().get(pk=key.pk)
    if key.owner_user_id != by.pk and not (key.owner_project_id and key.requested_by_id == by.pk):
        raise PermissionDenied("Only the person who requested this key can see its secret.")
    secret = key.take_secret()
    key.save(update_fields=["pending_secret", "secret_revealed_at"])
    AuditEvent.record("key.secret_revealed", actor=by, target=key)
    return secret


def key_secrets_expire() -> int:
    """Destroy secrets nobody revealed in time."""
    expired = list(
        Key.objects.exclude(pending_secret="").filter(secret_expires_at__lte=timezone.now()).only("pk", "name")
    )
    for key in expired:
        with transaction.atomic():
            Key.objects.filter(pk=key.pk).update(pending_secret="")
            AuditEvent.record("key.secret_expired", target=key)
    return len(expired)


# --- Lifecycle at the provider -----------------------------------------------------------------------


def _adapter_for(key: Key):
    return key.account.adapter()


def key_rotate(*, key: Key, by: User) -> Key:
    """Mint a replacement at the provider, then revoke the old one. The new secret is shown once."""
    if not Access(by).can_act_as_owner(key):
        raise PermissionDenied("You cannot rotate this key.")
    if key.status != Key.Status.ACTIVE:
        raise InvalidTransition("Only an active key can be rotated.")
    if not key.account.capabilities.mint:
        raise InvalidTransition(f"{key.account.get_kind_display()} keys are rotated in the provider's console.")
    adapter = _adapter_for(key)
    minted = adapter.mint_key(name=key.provider_data.get("name") or key.name, limit_usd=key.limit_usd)
    old_id, old_data = key.provider_key_id, dict(key.provider_data)
    try:
        adapter.revoke_key(provider_key_id=old_id, provider_data=old_data)
    except ProviderError:
        _revoke_quietly(key.account, minted)
        raise
    with transaction.atomic():
        key = Key.objects.select_for_update().get(pk=key.pk)
        key.provider_data = _replace_provider_identity(old_id, old_data, minted)
        key.provider_key_id, key.hint = minted.provider_key_id, minted.hint
        key.hold_secret(minted.secret, hours=Policy.current().secret_reveal_hours)
        key.save()
        AuditEvent.record("key.rotated", actor=by, target=key, old_provider_key_id=old_id)
    return key


def _replace_provider_identity(old_id: str, old_data: dict, minted: MintedKey) -> dict:
    """Keep earlier provider ids so their usage still lands on this key."""
    previous = list(old_data.get("previous_key_ids", [])) + [old_id]
    return {**old_data, **minted.provider_data, "previous_key_ids": previous}


def key_revoke(*, key: Key, by: User | None, reason: str = "") -> Key:
    if by is not None and not Access(by).can_act_as_owner(key):
        raise PermissionDenied("You cannot revoke this key.")
    if key.status == Key.Status.REVOKED:
        raise InvalidTransition("This key is already revoked.")
    if key.status == Key.Status.ACTIVE or not key.account.capabilities.suspend_is_revoke:
        # A suspended OpenAI key is already gone at the provider.
        _adapter_for(key).revoke_key(provider_key_id=key.provider_key_id, provider_data=key.provider_data)
    with transaction.atomic():
        key = Key.objects.select_for_update().get(pk=key.pk)
        key.mark_revoked(reason)
        key.save()
        AuditEvent.record("key.revoked", actor=by, target=key, reason=reason)
    return key


def key_suspend(*, key: Key, reason: str, by: User | None = None) -> Key:
    """Suspend at the provider (where it can) and mark the key suspended. Enforcement calls this too."""
    if by is not None and not Access(by).can_manage(key):
        raise PermissionDenied("You cannot suspend this key.")
    caps = key.account.capabilities
    if not caps.suspend:
        raise InvalidTransition(f"{key.account.get_kind_display()} keys cannot be suspended through its API.")
    if key.status != Key.Status.ACTIVE:
        raise InvalidTransition(f"Only an active key can be suspended; this one is {key.status}.")
    _adapter_for(key).suspend_key(provider_key_id=key.provider_key_id, provider_data=key.provider_data)
    with transaction.atomic():
        key = Key.objects.select_for_update().get(pk=key.pk)
        key.mark_suspended(reason)
        if caps.suspend_is_revoke:
            key.status_reason = f"{reason} (deleted at the provider; reinstating mints a new secret)"
        key.save()
        AuditEvent.record("key.suspended", actor=by, target=key, reason=reason)
        owner = key.owner_user or key.requested_by
        notify(users=[owner], text=f"Your key “{key.name}” was suspended: {reason}", url=key.get_absolute_url())
    return key


def key_reinstate(*, key: Key, by: User | None = None, reason: str = "") -> Key:
    if by is not None and not Access(by).can_manage(key):
        raise PermissionDenied("You cannot reinstate this key.")
    if key.status != Key.Status.SUSPENDED:
        raise InvalidTransition(f"Only a suspended key can be reinstated; this one is {key.status}.")
    replacement = _adapter_for(key).reinstate_key(provider_key_id=key.provider_key_id, provider_data=key.provider_data)
    with transaction.atomic():
        key = Key.objects.select_for_update().get(pk=key.pk)
        key.mark_reinstated()
        text = f"Your key “{key.name}” is active again."
        if replacement is not None:
            key.provider_data = _replace_provider_identity(key.provider_key_id, key.provider_data, replacement)
            key.provider_key_id, key.hint = replacement.provider_key_id, replacement.hint
            key.hold_secret(replacement.secret, hours=Policy.current().secret_reveal_hours)
            text += " The provider issued a new secret: reveal it once on the key's page."
        key.save()
        AuditEvent.record("key.reinstated", actor=by, target=key, reason=reason)
        owner = key.owner_user or key.requested_by
        notify(users=[owner], text=text, url=key.get_absolute_url())
    return key


# --- Provider accounts ------------------------------------------------------------------------------


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
                name=remote.name or provider_key_id,
                provider_key_id=provider_key_id,
                hint=remote.hint,
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
