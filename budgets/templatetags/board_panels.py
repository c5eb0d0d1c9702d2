"""Board figures in templates: shares and changes as text, and the home page's one-line "your position" panel."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from accounts.permissions import Access
from allocator.quarters import Quarter
from budgets.reports.visibility import positions

register = template.Library()

NBSP = "\u00a0"


@register.filter
def share(value: Decimal | None) -> str:
    """0.123 -> "12 %"; None -> "n/a"."""
    if value is None:
        return "n/a"
    return f"{(Decimal(value) * 100).quantize(Decimal('1'))}{NBSP}%"


@register.filter
def change(value: Decimal | None) -> str:
    """A percent change as "+12 %" / "−5 %"; None (nothing to compare against) as "new" or "—"."""
    if value is None:
        return "—"
    sign = "+" if value > 0 else ("−" if value < 0 else "±")
    return f"{sign}{abs(value)}{NBSP}%"


@register.filter
def change_class(value: Decimal | None) -> str:
    if value is None:
        return "muted"
    return "up" if value > 0 else ("down" if value < 0 else "muted")


@register.filter
def per_request(value: Decimal | None) -> str:
    """Cost per request with enough digits to compare ($0.0042)."""
    if value is None:
        return "n/a"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


@register.filter
def ratio(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.2f}"


@register.inclusion_tag("budgets/_home_position.html", takes_context=True)
def board_position_panel(context: template.Context) -> dict[str, Any]:
    """One line per team on the home page: where the signed-in person stands by spend, without other names."""
    request = context["request"]
    access = Access.for_request(request)
    if not access.team_ids:
        return {"positions": []}
    return {"positions": positions(user=request.user, team_ids=access.team_ids, quarter=Quarter.current())}


@register.filter
def tool_cells(row, board) -> list:
    """One person's spend per tool on the coding-tool table, in the board's tool order (None: not used)."""
    return board.cells(row)
