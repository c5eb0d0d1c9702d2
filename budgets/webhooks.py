"""Event webhooks: a URL per team and one for finance receiving signed JSON events, through the alert outbox.

Events: `alert.raised` (threshold, forecast, runaway and suspension alerts), `request.waiting` (a key request or
bump waits for a decision), `request.decided` (approved or rejected), `key.suspended` and `key.reinstated`. Alerts
and waiting requests follow the Slack rule (a team's hook hears its team; finance's hears cost-center and team
budgets and finance-step approvals); decisions and key events go to the team's hook and to finance's.

Each POST carries `X-Allocator-Timestamp` (Unix seconds) and `X-Allocator-Signature: sha256=<hex>`, the
HMAC-SHA256 of `timestamp + "." + body` with the destination's secret, which is generated when the URL is set
and shown to the admin once. Delivery is budgets.alerts' outbox: each hook is recorded in `delivered_to` as soon
as it answers 2xx, so a retry never repeats it; 429 (honouring Retry-After), 5xx and timeouts are retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import httpx
from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from allocator.capacity.alerts import CAPACITY_SCOPE
from allocator.crypto import EncryptedTextField
from allocator.quarters import Quarter
from budgets.models import Alert, Scope

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
URL_MAX = 500
SIGNATURE_HEADER = "X-Allocator-Signature"
TIMESTAMP_HEADER = "X-Allocator-Timestamp"


class WebhookDestination(models.Model):
    """One event webhook: a team's (team set) or finance's (team empty; at most one)."""

    team = models.OneToOneField(
        "accounts.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="event_webhook"
    )
    url = EncryptedTextField()
    secret = EncryptedTextField(help_text="Signs every event (HMAC-SHA256); shown once when the URL is set.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team"], condition=Q(team__isnull=True), name="webhook_one_for_finance")
        ]

    def __str__(self) -> str:
        return f"Event webhook of {self.team or 'finance'}"

    @property
    def name(self) -> str:
        return "webhook:finance" if self.team_id is None else "webhook:team"


class WebhookError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


# --- Signing ------------------------------------------------------------------------------------------------


def sign(*, secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _post(destination: WebhookDestination, body: bytes, event: str, delivery: str) -> None:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Allocator-Webhooks/1",
        "X-Allocator-Event": event,
        "X-Allocator-Delivery": delivery,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret=destination.secret, timestamp=timestamp, body=body),
    }
    try:
        response = httpx.post(destination.url, content=body, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as error:
        # The URL may hold a token of the receiver's: never put it in a message.
        raise WebhookError(f"unreachable ({error.__class__.__name__})") from error
    if 200 <= response.status_code < 300:
        return
    if response.status_code == 429:
        try:
            retry_after = float(response.headers.get("retry-after", "1"))
        except ValueError:
            retry_after = 1.0
        raise WebhookError("answered 429", retry_after=retry_after)
    permanent = 400 <= response.status_code < 500 and response.status_code not in (408, 409)
    raise WebhookError(f"answered {response.status_code}", permanent=permanent)


# --- What an alert becomes ----------------------------------------------------------------------------------


def event_type(alert: Alert) -> str:
    if alert.kind == Alert.Kind.EVENT:
        return alert.scope
    return "request.waiting" if alert.kind == Alert.Kind.APPROVAL else "alert.raised"


def event_payload(alert: Alert) -> dict[str, Any]:
    kind, _, subject_id = alert.scope_key.partition(":")
    data: dict[str, Any] = {
        "message": alert.message,
        "url": f"{settings.SITE_URL}{alert.url}" if alert.url else None,
        "team": alert.team.slug if alert.team_id else None,
        "quarter": alert.quarter,
    }
    if alert.kind == Alert.Kind.EVENT or alert.kind == Alert.Kind.APPROVAL:
        data["subject"] = {"type": kind, "id": int(subject_id) if subject_id.isdigit() else subject_id}
        if alert.kind == Alert.Kind.APPROVAL:
            data["step"] = alert.dedupe
        elif alert.scope == "request.decided":
            data["decision"] = alert.dedupe.partition(":")[0]
    else:
        data.update(kind=alert.kind, scope=alert.scope, scope_key=alert.scope_key, threshold=alert.threshold,
                    budget=alert.budget_id, key=alert.key_id)
    return {"id": f"alert-{alert.pk}", "type": event_type(alert), "created_at": alert.created_at.isoformat(),
            "data": data}


def webhook_destinations(alert: Alert) -> list[WebhookDestination]:
    """The hooks this alert goes to (one query)."""
    hooks = {d.team_id: d for d in WebhookDestination.objects.filter(Q(team__isnull=True) | Q(team=alert.team_id))}
    finance_step = alert.kind == Alert.Kind.APPROVAL and alert.dedupe == "finance"
    if alert.kind == Alert.Kind.EVENT:
        to_team, to_finance = True, True
    else:
        to_team = not finance_step
        to_finance = alert.scope in (Scope.COST_CENTER, Scope.TEAM, CAPACITY_SCOPE) or finance_step
    chosen = []
    if to_team and alert.team_id is not None and alert.team_id in hooks:
        chosen.append(hooks[alert.team_id])
    if to_finance and None in hooks:
        chosen.append(hooks[None])
    return chosen


def webhooks_post(alert: Alert, *, done: list[str], failed: list[tuple[str, WebhookError]]) -> list[str]:
    """POST the alert to each of its hooks not done yet; returns the names delivered now. Failures are appended
    to `failed` as (name, WebhookError)."""
    destinations = [d for d in webhook_destinations(alert) if d.name not in done]
    if not destinations:
        return []
    body = json.dumps(event_payload(alert), separators=(",", ":"), sort_keys=True).encode()
    delivered = []
    for destination in destinations:
        try:
            _post(destination, body, event_type(alert), f"alert-{alert.pk}")
        except WebhookError as error:
            failed.append((destination.name, error))
            continue
        delivered.append(destination.name)
        Alert.objects.filter(pk=alert.pk).update(delivered_to=[*done, *delivered])
    return delivered


# --- Events that are not alerts -----------------------------------------------------------------------------


def webhook_event(
    *, event: str, subject: models.Model, team_id: int | None, message: str, url: str, detail: str = "",
    key_id: int | None = None,
) -> None:
    """Queue an event for the webhooks (nothing when no webhook is set). Runs inside the caller's transaction."""
    if not WebhookDestination.objects.exists():
        return
    label = {"keyrequest": "key_request", "budgetrequest": "budget_request"}.get(
        subject._meta.model_name, subject._meta.model_name
    )
    Alert.objects.create(
        kind=Alert.Kind.EVENT,
        scope=event,
        scope_key=f"{label}:{subject.pk}",
        quarter=Quarter.current().name,
        dedupe=f"{detail}:{time.time_ns() // 1000}"[:40],
        team_id=team_id,
        key_id=key_id,
        message=message,
        url=url,
    )
    from budgets.tasks import deliver_alerts

    transaction.on_commit(deliver_alerts.delay)


# --- The settings page --------------------------------------------------------------------------------------


def webhooks_save(*, posted: dict[str, str], teams: list, by) -> tuple[list[str], list[str], dict[str, str]]:
    """Apply the settings form: (what changed, errors, the new secrets by destination label, to show once)."""
    from accounts.models import AuditEvent

    existing = {d.team_id: d for d in WebhookDestination.objects.all()}
    changed, errors, new_secrets = [], [], {}
    for field, team in [("webhook-finance", None), *[(f"webhook-team-{t.pk}", t) for t in teams]]:
        label = "finance" if team is None else str(team)
        team_id = None if team is None else team.pk
        value = (posted.get(field) or "").strip()
        if posted.get(f"{field}-clear"):
            if team_id in existing:
                existing[team_id].delete()
                changed.append(label)
            continue
        if not value:
            continue
        if not value.startswith(("https://", "http://")) or len(value) > URL_MAX:
            errors.append(f"{label}: an event webhook is an http(s) URL of at most {URL_MAX} characters.")
            continue
        destination = existing.get(team_id) or WebhookDestination(team=team)
        destination.url, destination.secret = value, "whsec_" + secrets.token_urlsafe(32)
        destination.save()
        changed.append(label)
        new_secrets[label] = destination.secret
    if changed:
        AuditEvent.record("webhooks.changed", actor=by, destinations=changed)
    return changed, errors, new_secrets


def webhooks_masked(teams: list) -> tuple[str, list[tuple[Any, str]]]:
    """("…ab12c" or "" for finance, [(team, hint)]) for the settings page."""
    hooks = {d.team_id: d.url for d in WebhookDestination.objects.all()}
    hint = lambda url: f"…{url[-6:]}" if url else ""  # noqa: E731
    return hint(hooks.get(None, "")), [(t, hint(hooks.get(t.pk, ""))) for t in teams]
