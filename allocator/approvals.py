"""Deciding key requests, budget bumps and provider spend-limit increase requests: the one service the web pages,
the Slack buttons and the API call.

Each decision locks the request row, checks the person may decide it (`approval_may_decide`: the approver of the
step it waits for, never the requester), applies the ApprovalRequest state change, records the audit event,
tells whoever is next, and runs the follow-up of the request's kind: an approved key request is queued for
minting, an approved bump raises its budget or its key's allowance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction

from accounts.models import AuditEvent, User
from accounts.permissions import Access
from accounts.services import notify
from allocator import key_requests
from allocator.keys import key_mint_enqueue
from allocator.models import ApprovalRequest, InvalidTransition, KeyRequest
from allocator.money import usd
from allocator.quarters import Quarter
from budgets import bumps, increase_requests, webhooks
from budgets.models import BudgetRequest, SpendLimitRequest


@dataclass(frozen=True)
class _Kind:
    """What differs between key requests and bumps: the row to lock and the steps around a decision."""

    audit: str
    related: tuple[str, ...]
    before_approve: Callable[[ApprovalRequest], None]
    on_approved: Callable[[ApprovalRequest, User], None]
    on_waiting: Callable[[ApprovalRequest], None]
    describe: Callable[[ApprovalRequest], str]
    on_rejected: Callable[[ApprovalRequest], None] = lambda request: None


def _key_request_before_approve(key_request: KeyRequest) -> None:
    """A key for a scope whose hard budget is spent would be suspended at once: refuse, and say why."""
    over = key_requests.key_request_over_budget(key_request=key_request)
    if over is not None:
        raise InvalidTransition(over.refusal)


def _bump_before_approve(bump: BudgetRequest) -> None:
    quarter = bumps.bump_quarter(bump)
    if quarter != Quarter.current():
        raise InvalidTransition(f"This request was for {quarter}, which is over. Ask again for this one.")
    target = bump.budget if bump.budget_id is not None else bump.key
    if bump.key_id is not None and target.status not in (target.Status.ACTIVE, target.Status.SUSPENDED):
        raise InvalidTransition(f"The key {target.name} is {target.get_status_display().lower()}: nothing to raise.")
    if (problem := bumps.bump_beyond_ceiling(target=target, amount_usd=bump.amount_usd)) is not None:
        raise InvalidTransition(problem)
    if (
        bump.budget_id is not None
        and bump.awaiting_step == BudgetRequest.Step.MANAGER
        and not bump.needs_finance
        and bumps.bump_exceeds_parent(bump.budget, bump.amount_usd)
    ):
        # The team's unallocated money ran out since the request was made: finance decides too.
        bump.needs_finance = True


_KINDS: dict[type[ApprovalRequest], _Kind] = {
    KeyRequest: _Kind(
        audit="key_request",
        related=("account", "requester"),
        before_approve=_key_request_before_approve,
        on_approved=lambda kr, by: key_mint_enqueue(key_request=kr),
        on_waiting=lambda kr: key_requests.key_request_announce(key_request=kr),
        describe=lambda kr: f"key request “{kr.name}”",
    ),
    BudgetRequest: _Kind(
        audit="budget_request",
        related=("budget", "key", "team", "requester"),
        before_approve=_bump_before_approve,
        on_approved=lambda bump, by: bumps.bump_apply(bump=bump, by=by),
        on_waiting=lambda bump: bumps.bump_announce(bump=bump),
        describe=lambda bump: f"request for +{usd(bump.amount_usd)} on {bump.target_label}",
    ),
    SpendLimitRequest: _Kind(
        audit="spend_limit_request",
        related=("account", "requester", "team"),
        before_approve=lambda request: None,
        on_approved=lambda request, by: increase_requests.increase_request_send_enqueue(request),
        on_waiting=lambda request: None,
        describe=lambda request: f"spend-limit increase request at {request.account}",
        on_rejected=increase_requests.increase_request_send_enqueue,
    ),
}


def approval_may_decide(*, approval_request: ApprovalRequest, by: User) -> bool:
    """The one rule: the approver of the step the request waits for may decide it, and nobody decides their own
    request, at any step (not finance, not an admin)."""
    if getattr(by, "pk", None) is None or approval_request.requester_id == by.pk:
        return False
    return Access(by).can_approve(approval_request)


def _locked(request: ApprovalRequest, by: User) -> tuple[ApprovalRequest, _Kind]:
    """Lock the row, then refuse what cannot be decided: decided already (say by whom), or not this person's."""
    model = type(request)
    kind = _KINDS[model]
    locked = model.objects.select_for_update(of=("self",)).select_related(*kind.related).get(pk=request.pk)
    if locked.state != model.State.PENDING:
        decider = f" by {locked.decided_by}" if locked.decided_by_id else ""
        raise InvalidTransition(f"Already decided{decider}: this request is {locked.get_state_display().lower()}.")
    if locked.requester_id == by.pk:
        raise PermissionDenied("Nobody decides their own request: another approver does.")
    if not approval_may_decide(approval_request=locked, by=by):
        raise PermissionDenied("You cannot decide this request.")
    return locked, kind


@transaction.atomic
def approval_approve(*, approval_request: ApprovalRequest, by: User) -> ApprovalRequest:
    """Approve the step the request waits for; the final approval mints the key or raises the budget."""
    request, kind = _locked(approval_request, by)
    kind.before_approve(request)
    step = request.awaiting_step
    request.approve(by=by)
    request.save()
    AuditEvent.record(f"{kind.audit}.approved_{step}", actor=by, target=request)
    if request.state == request.State.APPROVED:
        kind.on_approved(request, by)
        _decided_event(request, kind, by, "approved")
    else:
        kind.on_waiting(request)
    return request


def _decided_event(request: ApprovalRequest, kind: _Kind, by: User, decision: str) -> None:
    webhooks.webhook_event(
        event="request.decided",
        subject=request,
        team_id=request.team_id,
        message=f"{by} {decision} the {kind.describe(request)} of {request.requester}.",
        url=request.get_absolute_url(),
        detail=decision,
    )


@transaction.atomic
def approval_reject(*, approval_request: ApprovalRequest, by: User, reason: str) -> ApprovalRequest:
    """Reject with a reason; the requester is told."""
    request, kind = _locked(approval_request, by)
    request.reject(by=by, reason=reason)
    request.save()
    AuditEvent.record(f"{kind.audit}.rejected", actor=by, target=request, reason=request.decision_reason)
    _decided_event(request, kind, by, "rejected")
    kind.on_rejected(request)
    notify(
        users=[request.requester],
        text=f"Your {kind.describe(request)} was rejected by {by}: {request.decision_reason}",
        url=request.get_absolute_url(),
    )
    return request


@transaction.atomic
def approval_cancel(*, approval_request: ApprovalRequest, by: User) -> ApprovalRequest:
    """The requester (or their manager, or an admin) withdraws a request that is still open."""
    model = type(approval_request)
    request = model.objects.select_for_update().get(pk=approval_request.pk)
    if not Access(by).can_act_as_owner(request):
        raise PermissionDenied("Only the requester can cancel this request.")
    request.cancel(by=by)
    request.save()
    AuditEvent.record(f"{_KINDS[model].audit}.cancelled", actor=by, target=request)
    return request


def approval_decide(*, approval_request: ApprovalRequest, by: User, decision: str, reason: str = "") -> ApprovalRequest:
    """`decision` is "approve" or "reject" (as the web forms, the Slack buttons and the API name them)."""
    if decision == "approve":
        return approval_approve(approval_request=approval_request, by=by)
    if decision == "reject":
        return approval_reject(approval_request=approval_request, by=by, reason=reason)
    raise InvalidTransition(f"Unknown decision “{decision}”.")
