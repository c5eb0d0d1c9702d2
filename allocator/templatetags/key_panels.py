"""Key panels other apps show on their pages: the home page's "My keys" and "My open requests"."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import Q

from allocator.models import Key, KeyRequest
from budgets.spend import with_quarter_spend

register = template.Library()

OPEN_STATES = [KeyRequest.State.PENDING, KeyRequest.State.APPROVED, KeyRequest.State.FAILED]


@register.inclusion_tag("allocator/_home_keys.html", takes_context=True)
def key_home_panel(context: template.Context) -> dict[str, Any]:
    user = context["request"].user
    my_keys = with_quarter_spend(
        Key.objects.filter(Q(owner_user=user) | Q(owner_project__isnull=False, requested_by=user))
        .exclude(status=Key.Status.REVOKED)
        .select_related("account", "owner_project")
    )[:6]
    open_requests = KeyRequest.objects.filter(requester=user, state__in=OPEN_STATES).select_related("account")[:6]
    return {"user": user, "my_keys": my_keys, "open_key_requests": open_requests}
