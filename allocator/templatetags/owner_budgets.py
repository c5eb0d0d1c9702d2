"""`{% owner_budgets kr %}`: the budgets a requested key would count against, with spend, for approvers."""

from __future__ import annotations

from typing import Any

from django import template

from allocator.key_requests import key_request_owner_budgets
from allocator.models import KeyRequest

register = template.Library()


@register.inclusion_tag("allocator/_owner_budgets.html", takes_context=True)
def owner_budgets(context: template.Context, key_request: KeyRequest, show_lines: bool = True) -> dict[str, Any]:
    """Spend against each budget (for approvers, `show_lines`), and why approval is refused when one is spent.
    A list page passes `owner_budget_lines` (key_requests_owner_budgets of all its requests): no query per row."""
    known = context.get("owner_budget_lines") or {}
    lines = known.get(key_request.pk)
    if lines is None:
        lines = key_request_owner_budgets(key_request=key_request)
    over = next((line for line in lines if line.over), None)
    return {"kr": key_request, "lines": lines if show_lines else [], "show_lines": show_lines, "over": over}
