"""Timelines: the audit events of one or more objects, and the readable name of every audit action."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import ACTION_LABELS, AuditEvent

# Key and key request actions are named in accounts.models.ACTION_LABELS; these name the rest.
MORE_ACTION_LABELS = {
    "budget.set": "Budget set",
    "budget.bumped": "Raised by an approved bump",
    "budget.raised_for_bump": "Raised to make room for a bump",
    "budgets.copied": "Budgets copied from the previous quarter",
    "budget_request.created": "Asked for more",
    "budget_request.auto_approved": "Approved automatically by policy",
    "budget_request.approved_manager": "Approved by the manager",
    "budget_request.approved_finance": "Approved by finance",
    "budget_request.rejected": "Rejected",
    "budget_request.cancelled": "Cancelled",
    "provider_account.saved": "Provider account saved",
    "provider_account.tested": "Connection tested",
    "provider_key.revoked_unmanaged": "Unmanaged key revoked at the provider",
    "policy.changed": "Policy changed",
    "slack.webhooks_changed": "Slack webhooks changed",
    "alert.retried": "Alert queued again",
    "usage.sync_requested": "Usage sync requested",
    "user.created_by_sso": "Signed up through single sign-on",
}
LABELS = {**ACTION_LABELS, **MORE_ACTION_LABELS}


def action_label(action: str) -> str:
    """`key.rotated` → "Rotated"; an action nobody named yet reads as its words ("key.something_new")."""
    if action in LABELS:
        return LABELS[action]
    return action.replace("_", " ").replace(".", ": ").capitalize()


def timeline(*objects: Any, newest_first: bool = False, limit: int | None = None) -> QuerySet[AuditEvent]:
    """The audit events whose target is one of `objects` (None entries are skipped)."""
    q = Q(pk__in=[])
    for obj in objects:
        if obj is not None:
            q |= Q(target_type=obj._meta.label_lower, target_id=str(obj.pk))
    order = ("-created_at", "-id") if newest_first else ("created_at", "id")
    events = AuditEvent.objects.filter(q).select_related("actor").order_by(*order)
    return events[:limit] if limit else events
