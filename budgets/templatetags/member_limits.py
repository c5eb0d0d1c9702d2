"""The members' hard spend limits Allocator keeps at a coding tool (budgets/member_caps.py), on its account page."""

from __future__ import annotations

from typing import Any

from django import template

from allocator.models import ProviderAccount
from budgets.provider_cap_models import ProviderCap

register = template.Library()
SHOWN = 50


@register.inclusion_tag("budgets/_member_limits.html")
def member_limits(account: ProviderAccount) -> dict[str, Any]:
    """Up to SHOWN members' limits, failing ones first (two queries; nothing for other providers)."""
    if not account.capabilities.member_spend_limit:
        return {"shown": False}
    caps = ProviderCap.objects.filter(account=account).exclude(state=ProviderCap.State.REMOVED)
    rows = sorted(caps.order_by("provider_scope_id")[:SHOWN], key=lambda c: c.state == ProviderCap.State.IN_STEP)
    return {"shown": True, "account": account, "caps": rows, "on": bool((account.options or {}).get("member_limits")),
            "more": max(0, caps.count() - SHOWN)}  # fmt: skip
