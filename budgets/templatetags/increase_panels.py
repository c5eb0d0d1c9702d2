"""The approvals page's panel of provider spend-limit increase requests (budgets/increase_requests.py)."""

from __future__ import annotations

from typing import Any

from django import template

from accounts.permissions import Access
from budgets.models import SpendLimitRequest

register = template.Library()


@register.inclusion_tag("budgets/_increase_approvals.html", takes_context=True)
def increase_requests_panel(context: template.Context) -> dict[str, Any]:
    """Requests waiting for this person, and the last decided ones they may see (two queries); nothing shows
    where no provider has sent any."""
    access = Access.for_request(context["request"])
    rows = SpendLimitRequest.objects.select_related("account", "requester", "team", "decided_by")
    pending = list(access.approvable(rows.filter(state=SpendLimitRequest.State.PENDING)).order_by("created_at"))
    recent = list(
        access.visible(rows.exclude(state=SpendLimitRequest.State.PENDING), user="requester").order_by("-updated_at")[
            :8
        ]
    )
    return {"pending": pending, "recent": recent, "csrf_token": context.get("csrf_token")}
