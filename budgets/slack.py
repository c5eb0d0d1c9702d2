"""Slack: Block Kit messages, incoming-webhook posts, and the interactive endpoint for Approve/Reject buttons.

Wire formats: docs/provider-apis.md §5. A webhook answers 200 with the body `ok`; errors are plain text
(400 invalid_payload, 403 action_prohibited, 404 no_service, 410 channel_is_archived) and 429 comes with
Retry-After. Button clicks arrive as a form field `payload` (URL-encoded JSON), signed with
X-Slack-Signature = "v0=" + HMAC-SHA256(signing secret, "v0:{timestamp}:{raw body}").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

if TYPE_CHECKING:
    from budgets.models import Alert

logger = logging.getLogger(__name__)

TIMEOUT = 10.0
REPLAY_WINDOW = 300  # seconds, as Slack recommends
_TITLES = {
    "threshold": ":bar_chart: Budget alert",
    "forecast": ":crystal_ball: Budget forecast",
    "runaway": ":rotating_light: Runaway spend",
    "suspension": ":no_entry: Keys suspended",
    "approval": ":inbox_tray: Waiting for approval",
}


class SlackError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


# --- Outgoing ---------------------------------------------------------------------------------------------


def alert_message(alert: Alert) -> dict[str, Any]:
    """Block Kit body for an alert: title, text, a link to the page, and buttons for approvals."""
    link = f"{settings.SITE_URL}{alert.url}" if alert.url else settings.SITE_URL
    title = _TITLES.get(alert.kind, "Allocator")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n{alert.message}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{alert.quarter} · <{link}|Open in Allocator>"}]},
    ]
    if alert.kind == "approval":
        blocks.append(
            {
                "type": "actions",
                "block_id": alert.scope_key,
                "elements": [
                    {
                        "type": "button",
                        "action_id": "approve",
                        "value": alert.scope_key,
                        "style": "primary",
                        "text": {"type": "plain_text", "text": "Approve"},
                    },
                    {
                        "type": "button",
                        "action_id": "reject",
                        "value": alert.scope_key,
                        "style": "danger",
                        "text": {"type": "plain_text", "text": "Reject"},
                    },
                ],
            }
        )
    return {"text": f"{title.split(' ', 1)[1]}: {alert.message}"[:3000], "blocks": blocks}


def post_webhook(url: str, body: dict[str, Any]) -> None:
    """POST a message to an incoming webhook (or a response_url). Raises SlackError on anything but 200 ok."""
    try:
        response = httpx.post(url, json=body, timeout=TIMEOUT)
    except httpx.HTTPError as error:
        raise SlackError(f"Slack unreachable: {error.__class__.__name__}") from error
    if response.status_code == 200:
        return
    detail = response.text[:200].strip()
    if response.status_code == 429:
        try:
            retry_after = float(response.headers.get("retry-after", "1"))
        except ValueError:
            retry_after = 1.0
        raise SlackError(f"Slack answered 429 {detail}", retry_after=retry_after)
    raise SlackError(
        f"Slack answered {response.status_code} {detail}",
        # 4xx (invalid_payload, no_service, channel_is_archived, ...) will not get better by retrying.
        permanent=400 <= response.status_code < 500 and response.status_code not in (408, 409),
    )


# --- Incoming: signature ----------------------------------------------------------------------------------


class BadSignature(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def sign(*, secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def verify_signature(*, secret: str, timestamp: str, signature: str, body: bytes, now: float | None = None) -> None:
    """Raise BadSignature (401 forged, 403 stale or replayed) unless Slack signed this exact body just now."""
    if not secret:
        raise BadSignature("Slack signing secret is not configured", 403)
    try:
        ts = int(timestamp)
    except (TypeError, ValueError) as e:
        raise BadSignature("missing or bad X-Slack-Request-Timestamp", 401) from e
    now = time.time() if now is None else now
    if not hmac.compare_digest(sign(secret=secret, timestamp=timestamp, body=body), signature or ""):
        raise BadSignature("signature mismatch", 401)
    if abs(now - ts) > REPLAY_WINDOW:
        raise BadSignature("timestamp outside the 5-minute window (replayed?)", 403)
    # The same signed request twice inside the window is a replay. Best effort (per-process cache); the
    # decisions themselves are idempotent anyway (a decided request cannot be decided again).
    if not cache.add(f"slack-signature:{signature}", 1, REPLAY_WINDOW * 2):
        raise BadSignature("request already seen (replayed)", 403)


# --- Incoming: button clicks ------------------------------------------------------------------------------


def slack_user(data: dict[str, Any]):
    """The Allocator user behind a Slack user: by email when Slack sends one, else by User.slack_user_id."""
    from accounts.models import User

    email = (data.get("email") or (data.get("profile") or {}).get("email") or "").strip().lower()
    if email:
        user = User.objects.filter(email__iexact=email, is_active=True).first()
        if user is not None:
            return user
    slack_id = data.get("id") or ""
    if slack_id:
        return User.objects.filter(slack_user_id=slack_id, is_active=True).first()
    return None


def decide(*, user, action: str, value: str) -> tuple[bool, str]:
    """Approve or reject a key or budget request for `user`, with the web's permission checks.

    Returns (decided, a sentence for Slack)."""
    from allocator import key_requests as key_services
    from allocator.models import InvalidTransition, KeyRequest
    from budgets import bumps as services
    from budgets.models import BudgetRequest

    kind, _, raw_pk = value.partition(":")
    if action not in ("approve", "reject") or not raw_pk.isdigit():
        return False, "Unknown action."
    reason = f"Rejected in Slack by {user}"
    try:
        if kind == "budget_request":
            bump = BudgetRequest.objects.select_related("budget").get(pk=int(raw_pk))
            if action == "approve":
                bump = services.budget_request_approve(budget_request=bump, by=user)
            else:
                bump = services.budget_request_reject(budget_request=bump, by=user, reason=reason)
            what = f"Budget request #{bump.pk} (+${bump.amount_usd:,} on {bump.budget.scope_label})"
            state = bump.state if bump.state != "pending" else f"approved, now waiting for {bump.awaiting_step}"
        elif kind == "key_request":
            kr = KeyRequest.objects.get(pk=int(raw_pk))
            if action == "approve":
                kr = key_services.key_request_approve(key_request=kr, by=user)
            else:
                kr = key_services.key_request_reject(key_request=kr, by=user, reason=reason)
            what = f"Key request #{kr.pk} “{kr.name}”"
            state = kr.state if kr.state != "pending" else f"approved, now waiting for {kr.awaiting_step}"
        else:
            return False, "Unknown request."
    except (BudgetRequest.DoesNotExist, KeyRequest.DoesNotExist):
        return False, "That request no longer exists."
    except PermissionDenied:
        return False, f"{user}, you cannot decide this request (same rules as in Allocator)."
    except InvalidTransition as error:
        return False, str(error)
    return True, f"{what}: {state} by {user}."


@csrf_exempt
@require_POST
def interactions(request: HttpRequest) -> HttpResponse:
    """Slack's Request URL for interactive buttons. Verifies the signature, decides, answers at once; the
    message update goes to `response_url` from a task."""
    body = request.body
    try:
        verify_signature(
            secret=settings.SLACK_SIGNING_SECRET,
            timestamp=request.headers.get("X-Slack-Request-Timestamp", ""),
            signature=request.headers.get("X-Slack-Signature", ""),
            body=body,
        )
    except BadSignature as error:
        logger.warning("rejected a Slack request: %s", error)
        return HttpResponse(str(error), status=error.status, content_type="text/plain")
    try:
        payload = json.loads(request.POST["payload"])
        actions = payload.get("actions") or []
        user_data = payload.get("user") or {}
    except (KeyError, ValueError, AttributeError):
        return HttpResponse("bad payload", status=400, content_type="text/plain")
    if payload.get("type") != "block_actions" or not actions:
        return HttpResponse(status=200)

    user = slack_user(user_data)
    if user is None:
        return JsonResponse(
            {
                "response_type": "ephemeral",
                "replace_original": False,
                "text": "Your Slack account is not linked to an Allocator user (same email, or set your Slack "
                "user id on your Allocator profile).",
            }
        )
    action = actions[0]
    decided, text = decide(user=user, action=action.get("action_id", ""), value=action.get("value", ""))
    response_url = payload.get("response_url")
    if response_url:
        from budgets.tasks import slack_follow_up

        # A decision replaces the buttons for everyone; a refusal is shown to the clicker only.
        body_out = (
            {"replace_original": True, "text": text}
            if decided
            else {"replace_original": False, "response_type": "ephemeral", "text": text}
        )
        transaction.on_commit(lambda: slack_follow_up.delay(response_url, body_out))
    return HttpResponse(status=200)
