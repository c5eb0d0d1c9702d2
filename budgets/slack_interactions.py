"""Slack's Request URL for the Approve/Reject buttons: verify the signature, refuse replays, parse the click,
decide through allocator.approvals (the same rules as the web and the API), answer at once.

The message update goes to the click's `response_url` from a task after the decision commits.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.models import User
from allocator import approvals
from allocator.models import ApprovalRequest, InvalidTransition, KeyRequest
from budgets.models import BudgetRequest, SpendLimitRequest
from budgets.slack import REPLAY_WINDOW, BadSignature, mrkdwn_escape, verify_signature

logger = logging.getLogger(__name__)

_REQUEST_KINDS: dict[str, type[ApprovalRequest]] = {
    "key_request": KeyRequest,
    "budget_request": BudgetRequest,
    "spend_limit_request": SpendLimitRequest,
}


def _refuse_replay(signature: str) -> None:
    """The same signed request twice inside the window is a replay. The decisions themselves are idempotent anyway
    (a decided request cannot be decided again)."""
    if not cache.add(f"slack-signature:{signature}", 1, REPLAY_WINDOW * 2):
        raise BadSignature("request already seen (replayed)", 403)


def slack_user(data: dict[str, Any]) -> User | None:
    """The Allocator user behind a Slack user: by email when Slack sends one, else by User.slack_user_id."""
    email = (data.get("email") or (data.get("profile") or {}).get("email") or "").strip().lower()
    if email:
        user = User.objects.filter(email__iexact=email, is_active=True).first()
        if user is not None:
            return user
    slack_id = data.get("id") or ""
    if slack_id:
        return User.objects.filter(slack_user_id=slack_id, is_active=True).first()
    return None


def _describe(request: ApprovalRequest) -> str:
    if isinstance(request, SpendLimitRequest):
        return f"Spend-limit increase #{request.pk} ({request.requester_label} at {request.account})"
    if isinstance(request, BudgetRequest):
        return f"Budget request #{request.pk} (+${request.amount_usd:,} on {request.target_label})"
    return f"Key request #{request.pk} “{request.name}”"


def decide(*, user: User, action: str, value: str) -> tuple[bool, str]:
    """Approve or reject the request a button names ("key_request:12"). Returns (decided, a sentence for Slack,
    escaped: it quotes names people typed)."""
    decided, text = _decide(user=user, action=action, value=value)
    return decided, mrkdwn_escape(text)


def _decide(*, user: User, action: str, value: str) -> tuple[bool, str]:
    kind, _, raw_pk = value.partition(":")
    model = _REQUEST_KINDS.get(kind)
    if action not in ("approve", "reject") or not raw_pk.isdigit():
        return False, "Unknown action."
    if model is None:
        return False, "Unknown request."
    request = model.objects.filter(pk=int(raw_pk)).first()
    if request is None:
        return False, "That request no longer exists."
    try:
        request = approvals.approval_decide(
            approval_request=request, by=user, decision=action, reason=f"Rejected in Slack by {user}"
        )
    except PermissionDenied:
        return False, f"{user}, you cannot decide this request (same rules as in Allocator)."
    except InvalidTransition as error:
        return False, str(error)
    state = request.state if request.state != "pending" else f"approved, now waiting for {request.awaiting_step}"
    return True, f"{_describe(request)}: {state} by {user}."


def _parse(request: HttpRequest) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """(payload, actions, user) of a click; ValueError when the body is not a Slack interaction."""
    try:
        payload = json.loads(request.POST["payload"])
        actions = payload.get("actions") or []
        user_data = payload.get("user") or {}
        if not isinstance(actions, list) or not isinstance(user_data, dict):
            raise ValueError("bad payload")
    except (KeyError, ValueError, AttributeError) as error:
        raise ValueError("bad payload") from error
    return payload, actions, user_data


def _follow_up(payload: dict[str, Any], *, decided: bool, text: str) -> None:
    """A decision replaces the buttons for everyone; a refusal is shown to the clicker only."""
    response_url = payload.get("response_url")
    if not response_url:
        return
    from budgets.tasks import slack_follow_up

    body = (
        {"replace_original": True, "text": text}
        if decided
        else {"replace_original": False, "response_type": "ephemeral", "text": text}
    )
    transaction.on_commit(lambda: slack_follow_up.delay(response_url, body))


@csrf_exempt
@require_POST
def interactions(request: HttpRequest) -> HttpResponse:
    """Slack's Request URL for interactive buttons."""
    signature = request.headers.get("X-Slack-Signature", "")
    try:
        verify_signature(
            secret=settings.SLACK_SIGNING_SECRET,
            timestamp=request.headers.get("X-Slack-Request-Timestamp", ""),
            signature=signature,
            body=request.body,
        )
        _refuse_replay(signature)
    except BadSignature as error:
        logger.warning("rejected a Slack request: %s", error)
        return HttpResponse(str(error), status=error.status, content_type="text/plain")
    try:
        payload, actions, user_data = _parse(request)
    except ValueError:
        return HttpResponse("bad payload", status=400, content_type="text/plain")
    if payload.get("type") != "block_actions" or not actions or not isinstance(actions[0], dict):
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
    decided, text = decide(user=user, action=str(action.get("action_id", "")), value=str(action.get("value", "")))
    _follow_up(payload, decided=decided, text=text)
    return HttpResponse(status=200)
