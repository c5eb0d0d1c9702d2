"""Slack: Block Kit messages, incoming-webhook posts, and the signature check of Slack's requests.

The interactive endpoint for the Approve/Reject buttons is budgets.slack_interactions.

Wire formats: docs/provider-apis.md §5. A webhook answers 200 with the body `ok`; errors are plain text
(400 invalid_payload, 403 action_prohibited, 404 no_service, 410 channel_is_archived) and 429 comes with
Retry-After. Button clicks arrive as a form field `payload` (URL-encoded JSON), signed with
X-Slack-Signature = "v0=" + HMAC-SHA256(signing secret, "v0:{timestamp}:{raw body}").
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from typing import TYPE_CHECKING, Any

import httpx
from django.conf import settings

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
    "capacity_peak": ":chart_with_upwards_trend: Capacity peak",
    "capacity_crossover": ":hourglass_flowing_sand: Capacity crossover",
}


class SlackError(Exception):
    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


# --- Outgoing ---------------------------------------------------------------------------------------------


def mrkdwn_escape(text: str) -> str:
    """Text for a Slack mrkdwn field, with the three control characters escaped as Slack asks, so a purpose like
    `<https://evil.example|Approve> <!channel>` shows as typed instead of becoming a link or a mention."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def alert_message(alert: Alert) -> dict[str, Any]:
    """Block Kit body for an alert: title, text, a link to the page, and buttons for approvals."""
    link = f"{settings.SITE_URL}{alert.url}" if alert.url else settings.SITE_URL
    title = _TITLES.get(alert.kind, "Allocator")
    message = mrkdwn_escape(alert.message)  # alert texts quote what people typed (purposes, reasons, names)
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n{message}"}},
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
    return {"text": f"{title.split(' ', 1)[1]}: {message}"[:3000], "blocks": blocks}


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
