"""`{% owner_budgets kr %}`: the budgets a requested key would count against, with spend, for approvers."""

from __future__ import annotations

from typing import Any

from django import template

from allocator.key_requests import key_request_owner_budgets
from allocator.models import KeyRequest
from allocator.quarters import Quarter
from budgets.spend import scope_spend

register = template.Library()


@register.inclusion_tag("allocator/_owner_budgets.html", takes_context=True)
def owner_budgets(context: template.Context, key_request: KeyRequest, show_lines: bool = True) -> dict[str, Any]:
    """Spend against each budget (for approvers, `show_lines`), and why approval is refused when one is spent.
    One spend query per page, however many requests the page lists."""
    quarter = Quarter.current()
    cache_key = ("owner_budgets_spend", quarter.name)
    spend = context.render_context.get(cache_key)
    if spend is None:
        spend = context.render_context[cache_key] = scope_spend(quarter=quarter)
    lines = key_request_owner_budgets(key_request=key_request, spend=spend)
    over = next((line for line in lines if line.over), None)
    return {"kr": key_request, "lines": lines if show_lines else [], "show_lines": show_lines, "over": over}
