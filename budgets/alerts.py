"""The alert outbox: who hears about an alert, and delivering it exactly once per destination.

An Alert row is written first (by enforcement or when a request waits for approval); `alert_deliver` sends it:
in-app notifications always, then Slack (the team's incoming webhook, and finance's for cost-center and team
budgets and finance-step approvals), and email when no Slack webhook is configured or Slack refuses for good;
the signed event webhooks too (budgets.webhooks), which alone receive `event` rows (decisions, key changes).
Approval messages (with Approve/Reject buttons) go to Slack only: the approvers are told in-app when a request
is filed.

Delivery is claimed with a conditional UPDATE (pending → sending), so two workers never send the same alert;
each destination is recorded in `delivered_to` as soon as it succeeds, so a retry after a partial failure
never repeats it. Failures keep the row pending with a backoff (Slack's Retry-After wins) until MAX_ATTEMPTS.
A worker that dies mid-send leaves a stale claim that is taken over after CLAIM_TIMEOUT: that one case can
repeat a message (at-least-once), never lose it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.text import Truncator

from accounts.models import User
from accounts.services import finance_people, notify, team_managers
from allocator.capacity.alerts import CAPACITY_SCOPE
from allocator.models import KeyRequest
from allocator.money import usd
from allocator.quarters import Quarter
from budgets import slack, webhooks
from budgets.models import Alert, BudgetPolicy, BudgetRequest, Scope, SpendLimitRequest

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_BACKOFF = 30  # seconds; doubles per attempt
MAX_BACKOFF = 3600
CLAIM_TIMEOUT = timedelta(minutes=5)


# --- Audience ---------------------------------------------------------------------------------------------


def alert_recipients(alert: Alert) -> list[User]:
    """People who get the in-app notification (and the email fallback)."""
    if alert.kind == Alert.Kind.APPROVAL:
        step = alert.dedupe
        people = finance_people() if step == "finance" else (team_managers(alert.team) if alert.team else [])
        return [u for u in people if u.pk != alert.user_id]
    if alert.scope == Scope.COST_CENTER:
        return finance_people()
    if alert.scope == CAPACITY_SCOPE:  # a provider limit concerns the whole organization
        admins = User.objects.filter(role=User.Role.ADMIN, is_active=True)
        return list({u.pk: u for u in [*finance_people(), *admins]}.values())
    if alert.kind == Alert.Kind.HISTORY_GAP:  # admins connect the accounts and run the workers
        return list(User.objects.filter(role=User.Role.ADMIN, is_active=True))
    people: list[User] = []
    if alert.user is not None:
        people.append(alert.user)
    elif alert.key is not None and alert.key.requested_by is not None:
        people.append(alert.key.requested_by)
    if alert.team is not None:
        people += team_managers(alert.team)
    return list({u.pk: u for u in people if u.is_active}.values())


def alert_destinations(alert: Alert, *, policy: BudgetPolicy | None = None) -> dict[str, str]:
    """Slack webhooks this alert goes to, by name ("slack:team", "slack:finance")."""
    policy = policy or BudgetPolicy.current()
    destinations: dict[str, str] = {}
    if (
        alert.team is not None
        and alert.team.slack_webhook_url
        and not (alert.kind == Alert.Kind.APPROVAL and alert.dedupe == "finance")
    ):
        destinations["slack:team"] = alert.team.slack_webhook_url
    to_finance = (
        alert.scope in (Scope.COST_CENTER, Scope.TEAM, CAPACITY_SCOPE)
        or alert.kind == Alert.Kind.HISTORY_GAP
        or (alert.kind == Alert.Kind.APPROVAL and alert.dedupe == "finance")
    )
    if to_finance and policy.finance_slack_webhook_url:
        destinations["slack:finance"] = policy.finance_slack_webhook_url
    return destinations


# --- Approval messages ------------------------------------------------------------------------------------


def _subject(request: KeyRequest | BudgetRequest) -> str:
    """The scope key of a request's approval messages, e.g. "budget_request:12"."""
    if isinstance(request, SpendLimitRequest):
        return f"spend_limit_request:{request.pk}"
    kind = "budget_request" if isinstance(request, BudgetRequest) else "key_request"
    return f"{kind}:{request.pk}"


def _request_text(request: KeyRequest | BudgetRequest) -> str:
    if isinstance(request, SpendLimitRequest):
        amount = usd(request.amount_usd) if request.amount_usd is not None else "more"
        return (
            f"{request.requester_label} asks {request.account} for a spend limit of {amount}: "
            f"“{request.reason[:300]}”. Waiting for the {request.awaiting_step} to decide "
            "(Approve allows the amount asked)."
        )
    if isinstance(request, BudgetRequest):
        asks = f"+{usd(request.amount_usd)} on {request.target_label}: “{request.reason[:300]}”"
    else:
        asks = (
            f"a {request.account} key “{request.name}” ({usd(request.allowance_usd)}/quarter): "
            f"“{request.purpose[:300]}”"
        )
    return f"{request.requester} asks for {asks}. Waiting for the {request.awaiting_step} to decide."


def _approval_alert(request: KeyRequest | BudgetRequest) -> Alert:
    """The "waiting for approval" message (Slack, with Approve/Reject buttons) for a request's current step."""
    return Alert(
        kind=Alert.Kind.APPROVAL,
        scope="request",
        scope_key=_subject(request),
        quarter=Quarter.current().name,
        threshold=0,
        dedupe=request.awaiting_step,
        team_id=request.team_id,
        user_id=request.requester_id,
        message=_request_text(request),
        url=request.get_absolute_url(),
    )


def approval_alert_for(bump: BudgetRequest) -> None:
    """Queue the "waiting for approval" Slack message (with Approve/Reject buttons) for a bump's current step."""
    Alert.objects.bulk_create([_approval_alert(bump)], ignore_conflicts=True)
    _enqueue_delivery()


def approval_alerts_sync() -> int:
    """Queue approval messages for pending key and budget requests that have none for their current step.

    Key requests are filed by allocator.key_requests, which knows nothing of Slack; this sweep (run before each
    delivery round) gives them the same buttons, and provider spend-limit increase requests too. Four queries
    whatever the number of requests.
    """
    existing = set(Alert.objects.filter(kind=Alert.Kind.APPROVAL).values_list("scope_key", "dedupe"))
    key_requests = (
        KeyRequest.objects.filter(state=KeyRequest.State.PENDING)
        .exclude(awaiting_step="")
        .select_related("requester", "account")
    )
    bumps = BudgetRequest.objects.filter(state=BudgetRequest.State.PENDING).select_related(
        "requester", "budget__team", "budget__project", "budget__user", "budget__cost_center", "key"
    )
    increases = SpendLimitRequest.objects.filter(state=SpendLimitRequest.State.PENDING).select_related(
        "requester", "account"
    )
    new = [
        _approval_alert(request)
        for request in [*key_requests, *bumps, *increases]
        if (_subject(request), request.awaiting_step) not in existing
    ]
    if new:
        Alert.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


def _enqueue_delivery() -> None:
    from budgets.tasks import deliver_alerts

    transaction.on_commit(deliver_alerts.delay)


# --- Delivery ---------------------------------------------------------------------------------------------


@dataclass
class DeliveryResult:
    status: str  # "sent", "retry", "failed" or "skipped" (not claimable now)
    retry_in: float | None = None


def _due(now: datetime) -> Q:
    return (
        Q(status=Alert.Status.PENDING, next_attempt_at__isnull=True)
        | Q(status=Alert.Status.PENDING, next_attempt_at__lte=now)
        | Q(status=Alert.Status.SENDING, claimed_at__lt=now - CLAIM_TIMEOUT)
    )


def alerts_due(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    now = now or timezone.now()
    return list(Alert.objects.filter(_due(now)).order_by("created_at").values_list("pk", flat=True)[:limit])


def _backoff(attempts: int, retry_after: float | None) -> float:
    delay = min(MAX_BACKOFF, BASE_BACKOFF * 2 ** max(0, attempts - 1))
    return max(delay, retry_after or 0)


@dataclass
class _Attempt:
    """What one delivery attempt achieved so far."""

    done: list[str]  # destinations delivered (this attempt or an earlier one)
    retryable: list[str] = field(default_factory=list)
    permanent: list[str] = field(default_factory=list)
    retry_after: float | None = None

    @property
    def errors(self) -> str:
        return "; ".join(self.retryable + self.permanent)[:2000]


def alert_deliver(*, alert_id: int, now: datetime | None = None) -> DeliveryResult:
    """Send one alert to every destination not done yet. Safe to call any number of times, concurrently."""
    now = now or timezone.now()
    claimed = Alert.objects.filter(_due(now), pk=alert_id).update(
        status=Alert.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return DeliveryResult("skipped")
    alert = Alert.objects.select_related("team", "user", "key__requested_by", "budget").get(pk=alert_id)
    attempt = _Attempt(done=list(alert.delivered_to or []))
    if alert.kind != Alert.Kind.EVENT:  # events (a decision, a key suspended) are for the webhooks only
        _deliver_to_people(alert, attempt=attempt, now=now)
    _post_to_webhooks(alert, attempt=attempt)
    return _record_outcome(alert, attempt=attempt, now=now)


def _deliver_to_people(alert: Alert, *, attempt: _Attempt, now: datetime) -> None:
    recipients = alert_recipients(alert)
    _notify_once(alert, recipients=recipients, now=now)
    destinations = alert_destinations(alert, policy=BudgetPolicy.current())
    _post_to_slack(alert, destinations=destinations, attempt=attempt)
    # Email when there is no Slack at all, or when Slack refused for good and nothing reached Slack. Approval
    # messages are Slack-only (their point is the buttons): the approvers were told in-app when it was filed.
    slack_done = any(d.startswith("slack:") for d in attempt.done)
    refused = attempt.permanent and not slack_done and not attempt.retryable
    if alert.kind != Alert.Kind.APPROVAL and (not destinations or refused) and "email" not in attempt.done:
        _email(alert, recipients=recipients, attempt=attempt)


def _notify_once(alert: Alert, *, recipients: list[User], now: datetime) -> None:
    """In-app notifications once, whatever happens to Slack (skipped for approvals: the service that filed the
    request already told the approvers in-app)."""
    with transaction.atomic():
        first = alert.notified_at is None and Alert.objects.filter(pk=alert.pk, notified_at__isnull=True).update(
            notified_at=now
        )
        if first and alert.kind != Alert.Kind.APPROVAL:
            notify(users=recipients, text=alert.message, url=alert.url)


def _post_to_slack(alert: Alert, *, destinations: dict[str, str], attempt: _Attempt) -> None:
    for name, url in destinations.items():
        if name in attempt.done:
            continue
        try:
            slack.post_webhook(url, slack.alert_message(alert))
        except slack.SlackError as error:
            (attempt.permanent if error.permanent else attempt.retryable).append(f"{name}: {error}")
            if error.retry_after is not None:
                attempt.retry_after = max(attempt.retry_after or 0, error.retry_after)
            continue
        attempt.done.append(name)
        # Record each success at once: a later failure must not make a retry repeat it.
        Alert.objects.filter(pk=alert.pk).update(delivered_to=attempt.done)


def _post_to_webhooks(alert: Alert, *, attempt: _Attempt) -> None:
    failed: list[tuple[str, webhooks.WebhookError]] = []
    attempt.done += webhooks.webhooks_post(alert, done=attempt.done, failed=failed)
    for name, error in failed:
        (attempt.permanent if error.permanent else attempt.retryable).append(f"{name}: {error}")
        if error.retry_after is not None:
            attempt.retry_after = max(attempt.retry_after or 0, error.retry_after)


def _email(alert: Alert, *, recipients: list[User], attempt: _Attempt) -> None:
    emails = [u.email for u in recipients if u.email]
    if not emails:
        return
    try:
        send_mail(
            subject=f"[Allocator] {Truncator(alert.message.split('. ')[0]).chars(90)}",
            message=f"{alert.message}\n\n{settings.SITE_URL}{alert.url}",
            from_email=None,
            recipient_list=emails,
        )
    except Exception as error:  # noqa: BLE001 - any mail backend error is a retryable failure
        attempt.retryable.append(f"email: {error}")
        return
    attempt.done.append("email")
    Alert.objects.filter(pk=alert.pk).update(delivered_to=attempt.done)


def _record_outcome(alert: Alert, *, attempt: _Attempt, now: datetime) -> DeliveryResult:
    """Pending again with a backoff, failed for good, or sent."""
    channel = ", ".join(attempt.done) or "in-app"
    rows = Alert.objects.filter(pk=alert.pk)
    if attempt.retryable and alert.attempts < MAX_ATTEMPTS:
        delay = _backoff(alert.attempts, attempt.retry_after)
        rows.update(
            status=Alert.Status.PENDING,
            claimed_at=None,
            next_attempt_at=now + timedelta(seconds=delay),
            last_error=attempt.errors,
            channel=channel,
        )
        return DeliveryResult("retry", retry_in=delay)
    if attempt.retryable or (attempt.permanent and not attempt.done):
        rows.update(status=Alert.Status.FAILED, claimed_at=None, last_error=attempt.errors, channel=channel)
        logger.warning("alert %s failed: %s", alert.pk, attempt.errors)
        return DeliveryResult("failed")
    rows.update(
        status=Alert.Status.SENT,
        sent_at=now,
        claimed_at=None,
        next_attempt_at=None,
        channel=channel,
        last_error=attempt.errors,
    )
    return DeliveryResult("sent")


def alert_retry(*, alert: Alert, by: User) -> None:
    """Put a failed alert back in the queue (destinations already done stay done)."""
    from accounts.models import AuditEvent

    Alert.objects.filter(pk=alert.pk, status=Alert.Status.FAILED).update(
        status=Alert.Status.PENDING, next_attempt_at=None, attempts=0
    )
    AuditEvent.record("alert.retried", actor=by, target=alert)
    _enqueue_delivery()
