"""Key requests: filing one through policy (auto-approve, manager, manager + finance), cancelling, retrying a
failed mint. Deciding a request is allocator.approvals; minting is allocator.keys."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Membership, Project, Team, User
from accounts.permissions import Access
from accounts.services import finance_people, notify, team_managers
from allocator.models import InvalidTransition, KeyRequest, Policy, ProviderAccount


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
