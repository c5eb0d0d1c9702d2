"""Keys: minting under a claim, the once-only secret and its expiry, rotate, revoke, suspend, reinstate.

Views, the API, Celery tasks and enforcement call these; permission checks use accounts.permissions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AuditEvent, User
from accounts.permissions import Access
from accounts.services import notify
from allocator.models import InvalidTransition, Key, KeyRequest, Policy, ProviderAccount
from allocator.providers.base import MintedKey, ProviderError

logger = logging.getLogger(__name__)

# A worker that claimed a mint (or a key action) and then died leaves the claim behind; after this long another
# may try.
MINT_CLAIM_TIMEOUT = timedelta(minutes=10)
KEY_CLAIM_TIMEOUT = MINT_CLAIM_TIMEOUT
MAX_MINT_ATTEMPTS = 4


# --- Minting ----------------------------------------------------------------------------------------


def key_mint_enqueue(*, key_request: KeyRequest) -> None:
    """Queue the mint of an approved request once the surrounding transaction commits."""
    pk = key_request.pk
    transaction.on_commit(lambda: key_mint_send(key_request_id=pk))


def key_mint_send(*, key_request_id: int) -> bool:
    """Send the mint task; False when the broker cannot be reached. The approval is saved either way: the
    sweeper (`tasks.sweep_unminted_requests`, from beat) sends it again once the broker is back, and a second
    send is harmless because `key_mint` claims the request first."""
    from kombu.exceptions import OperationalError

    from allocator.tasks import mint_key

    try:
        mint_key.delay(key_request_id)
    except OperationalError as error:
        logger.warning("broker unreachable, mint of key request %s left to the sweeper: %s", key_request_id, error)
        return False
    return True


def key_mint(*, key_request_id: int, final_attempt: bool = True) -> Key | None:
    """Mint the key for an approved request. Safe to run any number of times, concurrently.

    A short transaction claims the request (row lock + claim timestamp) so a second worker stands back;
    the provider is called outside any transaction; the Key row's unique `request` link is the last guard.
    On a retryable ProviderError the claim is released and the error re-raised (the task retries), unless
    `final_attempt`, in which case the request lands in "failed" with the provider's message.
    """
    claimed = _mint_claim(key_request_id)
    if not isinstance(claimed, KeyRequest):
        return claimed  # minted already (the key), or nothing to do now (None)
    key_request = claimed
    expires_at = datetime.combine(key_request.expires_on, time.max, tzinfo=UTC) if key_request.expires_on else None
    try:
        minted = _mint_adapter(key_request).mint_key(
            name=_provider_key_name(key_request), limit_usd=key_request.allowance_usd, expires_at=expires_at
        )
    except ProviderError as error:
        give_up = final_attempt or error.permanent or key_request.attempts >= MAX_MINT_ATTEMPTS
        _mint_failed(key_request_id, error, give_up=give_up)
        if give_up:
            return None
        raise
    return _mint_record(key_request_id, key_request.account, minted, expires_at=expires_at)


def _mint_adapter(key_request: KeyRequest):
    """The account's adapter, or, where the account keeps one provider project per team or project, that scope's."""
    from budgets.provider_caps import scope_mint_adapter

    return scope_mint_adapter(
        account=key_request.account, team_id=key_request.team_id, project_id=key_request.project_id
    )


def _mint_claim(key_request_id: int) -> KeyRequest | Key | None:
    """Claim an approved request for this worker: the request, or its key if one exists, or None (not approved,
    or another worker holds a fresh claim)."""
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
    return key_request


def _mint_failed(key_request_id: int, error: ProviderError, *, give_up: bool) -> None:
    """Release the claim; when giving up, the request lands in "failed" and the requester is told."""
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


def _mint_record(key_request_id: int, account: ProviderAccount, minted: MintedKey, *, expires_at) -> Key:
    """Write the Key for a minted provider key; a worker that lost the race undoes its key at the provider."""
    with transaction.atomic():
        key_request = KeyRequest.objects.select_for_update().get(pk=key_request_id)
        key = Key(
            account=account,
            owner_user=None if key_request.project_id else key_request.requester,
            owner_project_id=key_request.project_id,
            team_id=key_request.team_id,
            name=key_request.name,
            provider_key_id=minted.provider_key_id,
            hint=Key.fit("hint", minted.hint),
            provider_data={**minted.provider_data, "name": minted.name},
            limit_usd=key_request.allowance_usd,
            request=key_request,
            requested_by=key_request.requester,
            approved_by=key_request.decided_by,
            expires_at=expires_at,
        )
        hours = Policy.current().secret_reveal_hours
        key.hold_secret(minted.secret, hours=hours)
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
            text=f"Your key “{key.name}” is ready. Reveal its secret within {hours} hours: it is shown once.",
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
#
# Each action claims the key first, as minting claims its request: a short transaction locks the row, checks
# the action still fits the key's current state and stamps `action_claimed_at`; the provider is called outside
# any transaction; a second action meanwhile (two rotations at once, a revoke during a rotation) is refused
# instead of calling the provider too. The final write, or a failure, releases the claim.


@contextmanager
def _claimed(key: Key, check: Callable[[Key], None]) -> Iterator[Key]:
    now = timezone.now()
    with transaction.atomic():
        key = Key.objects.select_for_update().select_related("account").get(pk=key.pk)
        check(key)
        if key.action_claimed_at and now - key.action_claimed_at < KEY_CLAIM_TIMEOUT:
            raise InvalidTransition("Another change to this key is under way at the provider; reload in a moment.")
        key.action_claimed_at = now
        key.save(update_fields=["action_claimed_at"])
    try:
        yield key
    except BaseException:
        Key.objects.filter(pk=key.pk).update(action_claimed_at=None)
        raise


def _locked_for_finish(key: Key) -> Key:
    """Re-read the claimed key under a lock for the final write, releasing the claim with it."""
    key = Key.objects.select_for_update().get(pk=key.pk)
    key.action_claimed_at = None
    return key


def _require_active(action: str) -> Callable[[Key], None]:
    def check(key: Key) -> None:
        if key.status != Key.Status.ACTIVE:
            raise InvalidTransition(f"Only an active key can be {action}; this one is {key.status}.")

    return check


def key_rotate(*, key: Key, by: User) -> Key:
    """Mint a replacement at the provider, then revoke the old one. The new secret is shown once."""
    if not Access(by).can_act_as_owner(key):
        raise PermissionDenied("You cannot rotate this key.")
    if not key.account.capabilities.mint:
        raise InvalidTransition(f"{key.account.get_kind_display()} keys are rotated in the provider's console.")
    with _claimed(key, _require_active("rotated")) as key:
        adapter = key.account.adapter()
        minted = adapter.mint_key(name=key.provider_data.get("name") or key.name, limit_usd=key.limit_usd)
        old_id, old_data = key.provider_key_id, dict(key.provider_data)
        try:
            adapter.revoke_key(provider_key_id=old_id, provider_data=old_data)
        except ProviderError:
            _revoke_quietly(key.account, minted)
            raise
        with transaction.atomic():
            key = _locked_for_finish(key)
            key.provider_data = _replace_provider_identity(old_id, old_data, minted)
            key.provider_key_id, key.hint = minted.provider_key_id, Key.fit("hint", minted.hint)
            key.hold_secret(minted.secret, hours=Policy.current().secret_reveal_hours)
            key.save()
            AuditEvent.record("key.rotated", actor=by, target=key, old_provider_key_id=old_id)
    return key


def _replace_provider_identity(old_id: str, old_data: dict, minted: MintedKey) -> dict:
    """Keep earlier provider ids so their usage still lands on this key."""
    previous = list(old_data.get("previous_key_ids", [])) + [old_id]
    return {**old_data, **minted.provider_data, "previous_key_ids": previous}


def _require_not_revoked(key: Key) -> None:
    if key.status == Key.Status.REVOKED:
        raise InvalidTransition("This key is already revoked.")


def _reason(reason: str, *, by: User | None) -> str:
    """A person's reason must fit the key's status column, checked before any provider call; Allocator's own
    reasons (enforcement acts with `by=None`) are cut to fit."""
    reason = (reason or "").strip()
    limit = Key._meta.get_field("status_reason").max_length
    if by is not None and len(reason) > limit:
        raise ValidationError(
            {"reason": f"Keep the reason to at most {limit} characters (this one has {len(reason):,})."}
        )
    return Key.fit("status_reason", reason)


def key_revoke(*, key: Key, by: User | None, reason: str = "") -> Key:
    if by is not None and not Access(by).can_act_as_owner(key):
        raise PermissionDenied("You cannot revoke this key.")
    reason = _reason(reason, by=by)
    with _claimed(key, _require_not_revoked) as key:
        if key.status == Key.Status.ACTIVE or not key.account.capabilities.suspend_is_revoke:
            # A suspended OpenAI key is already gone at the provider.
            key.account.adapter().revoke_key(provider_key_id=key.provider_key_id, provider_data=key.provider_data)
        with transaction.atomic():
            key = _locked_for_finish(key)
            key.mark_revoked(reason)
            key.save()
            AuditEvent.record("key.revoked", actor=by, target=key, reason=reason)
    return key


def key_suspend(*, key: Key, reason: str, by: User | None = None) -> Key:
    """Suspend at the provider (where it can) and mark the key suspended. Enforcement calls this too."""
    if by is not None and not Access(by).can_manage(key):
        raise PermissionDenied("You cannot suspend this key.")
    reason = _reason(reason, by=by)
    caps = key.account.capabilities
    if not caps.suspend:
        raise InvalidTransition(f"{key.account.get_kind_display()} keys cannot be suspended through its API.")
    with _claimed(key, _require_active("suspended")) as key:
        key.account.adapter().suspend_key(provider_key_id=key.provider_key_id, provider_data=key.provider_data)
        with transaction.atomic():
            key = _locked_for_finish(key)
            key.mark_suspended(reason)
            if caps.suspend_is_revoke:
                note = f"{reason} (deleted at the provider; reinstating mints a new secret)"
                key.status_reason = Key.fit("status_reason", note)
            key.save()
            AuditEvent.record("key.suspended", actor=by, target=key, reason=reason)
            _key_event(key, "key.suspended", f"Key {key.name} was suspended: {reason}")
            owner = key.owner_user or key.requested_by
            notify(users=[owner], text=f"Your key “{key.name}” was suspended: {reason}", url=key.get_absolute_url())
    return key


def _key_event(key: Key, event: str, message: str) -> None:
    from budgets.webhooks import webhook_event

    webhook_event(event=event, subject=key, team_id=key.team_id, message=message, url=key.get_absolute_url(),
                  key_id=key.pk)


def _require_suspended(key: Key) -> None:
    if key.status != Key.Status.SUSPENDED:
        raise InvalidTransition(f"Only a suspended key can be reinstated; this one is {key.status}.")


def key_reinstate(*, key: Key, by: User | None = None, reason: str = "") -> Key:
    if by is not None and not Access(by).can_manage(key):
        raise PermissionDenied("You cannot reinstate this key.")
    reason = _reason(reason, by=by)
    with _claimed(key, _require_suspended) as key:
        replacement = key.account.adapter().reinstate_key(
            provider_key_id=key.provider_key_id, provider_data=key.provider_data
        )
        with transaction.atomic():
            key = _locked_for_finish(key)
            key.mark_reinstated()
            text = f"Your key “{key.name}” is active again."
            if replacement is not None:
                key.provider_data = _replace_provider_identity(key.provider_key_id, key.provider_data, replacement)
                key.provider_key_id, key.hint = replacement.provider_key_id, Key.fit("hint", replacement.hint)
                key.hold_secret(replacement.secret, hours=Policy.current().secret_reveal_hours)
                text += " The provider issued a new secret: reveal it once on the key's page."
            key.save()
            AuditEvent.record("key.reinstated", actor=by, target=key, reason=reason)
            _key_event(key, "key.reinstated", f"Key {key.name} is active again.")
            owner = key.owner_user or key.requested_by
            notify(users=[owner], text=text, url=key.get_absolute_url())
    return key
