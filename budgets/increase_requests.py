"""Provider-side spend-limit increase requests (Anthropic, Claude Enterprise) in Allocator's approvals inbox.

Beat mirrors each account's pending requests (`increase_requests_sync`): the requester is matched to a person by
email, and the request waits for that person's team manager (finance when nobody matches). Deciding goes through
allocator.approvals like key requests and bumps (same rules, same audit trail); the decision is then sent to the
provider by a task outside any transaction (`increase_request_send`), retried on failure and shown on the row.
"""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import AuditEvent, Membership, User
from allocator.models import InvalidTransition, ProviderAccount
from allocator.money import amount_error, clamp
from allocator.providers.base import FeatureUnavailable, ProviderError
from budgets.increase_request_models import SpendLimitRequest


def increase_requests_sync(*, account: ProviderAccount) -> int:
    """Mirror the account's pending requests; returns how many are new. An organization without the feature has
    none (FeatureUnavailable is not an error here)."""
    try:
        remote = account.adapter().increase_requests_list()
    except FeatureUnavailable:
        return 0
    known = set(SpendLimitRequest.objects.filter(account=account).values_list("provider_request_id", flat=True))
    fresh = [r for r in remote if r.request_id not in known and r.status == "pending"]
    people = {u.email.lower(): u for u in User.objects.filter(email__in=[r.requester for r in fresh], is_active=True)}
    teams = {m.user_id: m.team_id for m in Membership.objects.filter(user__in=people.values()).order_by("-pk")}
    created = 0
    for item in fresh:
        person = people.get(item.requester.lower())
        team_id = teams.get(person.pk) if person else None
        amount = clamp(item.amount_usd, low=Decimal(0)) if item.amount_usd is not None else None
        try:
            with transaction.atomic():
                request = SpendLimitRequest.objects.create(
                    account=account, provider_request_id=item.request_id, requester=person,
                    requester_email=item.requester[:254], team_id=team_id, amount_usd=amount,
                    reason=item.reason[:1000], awaiting_step="manager" if team_id else "finance",
                    created_at=item.created_at or timezone.now(),
                )  # fmt: skip
                AuditEvent.record("spend_limit_request.received", target=request, account=account.name)
        except IntegrityError:
            continue  # a concurrent sync mirrored it first
        created += 1
    return created


def increase_request_approve(*, request: SpendLimitRequest, by: User, amount_usd: Decimal | None) -> SpendLimitRequest:
    """Approve with an amount (default: what was asked); the provider is told after commit."""
    from allocator import approvals

    amount = amount_usd if amount_usd is not None else request.amount_usd
    if amount is None:
        raise InvalidTransition("Say how much to allow: the request names no amount.")
    if error := amount_error(amount):
        raise InvalidTransition(error)
    with transaction.atomic():
        SpendLimitRequest.objects.filter(pk=request.pk, state=SpendLimitRequest.State.PENDING).update(
            approved_amount_usd=amount
        )
        return approvals.approval_approve(approval_request=request, by=by)


def increase_request_send_enqueue(request: SpendLimitRequest) -> None:
    from budgets.tasks import increase_request_send as task

    pk = request.pk
    transaction.on_commit(lambda: task.delay(pk))


def increase_request_send(*, pk: int) -> bool:
    """Send a decided request's answer to the provider; True when done. A failure is recorded on the row and
    re-raised when retrying can help."""
    request = SpendLimitRequest.objects.select_related("account").get(pk=pk)
    if request.provider_state == SpendLimitRequest.Sent.SENT or request.state == SpendLimitRequest.State.PENDING:
        return True
    approve = request.state == SpendLimitRequest.State.APPROVED
    amount = request.approved_amount_usd if request.approved_amount_usd is not None else request.amount_usd
    try:
        request.account.adapter().increase_request_decide(
            request_id=request.provider_request_id, approve=approve, amount_usd=amount
        )
    except ProviderError as error:
        request.provider_state, request.provider_message = SpendLimitRequest.Sent.FAILED, str(error)[:500]
        request.save(update_fields=["provider_state", "provider_message", "updated_at"])
        AuditEvent.record("spend_limit_request.send_failed", target=request, error=request.provider_message)
        if not error.permanent:
            raise
        return False
    request.provider_state, request.provider_message = SpendLimitRequest.Sent.SENT, ""
    request.save(update_fields=["provider_state", "provider_message", "updated_at"])
    AuditEvent.record("spend_limit_request.sent", target=request, approved=approve)
    return True
