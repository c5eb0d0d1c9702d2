"""The budgets overview: finance sees every cost center and team, a manager their teams."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import Access
from allocator.money import ZERO
from allocator.quarters import Quarter
from budgets.forecast import FORECAST_METHOD
from budgets.models import Alert, Budget
from budgets.tables import Numbers, finance_rows, slice_statuses


def _require_overview(request: HttpRequest) -> Access:
    access = Access.for_request(request)
    if not (access.is_manager or access.sees_everything):
        raise PermissionDenied
    return access


def overview_numbers(access: Access, quarter: Quarter) -> dict[str, Any]:
    """The overview's rows and its summary (totals, and every budget that needs attention: cost centers, teams,
    projects and people). The page and the htmx answer to an inline edit both use it, so they agree."""
    numbers = Numbers(quarter)
    finance_view = access.sees_everything
    team_ids = None if finance_view else set(access.managed_team_ids)
    rows = finance_rows(quarter, numbers, team_ids=team_ids)
    top = [r for r in rows if r.level == 0] if finance_view else rows
    total_spend = (
        sum((v for k, v in numbers.spend.items() if k.startswith("cost_center:")), ZERO)
        if finance_view
        else sum((r.fc.spend for r in top), ZERO)
    )
    watched = [r.fc.status for r in rows if r.budget] + slice_statuses(quarter, numbers, team_ids=team_ids)
    return {
        "quarter": quarter,
        "rows": rows,
        "finance_view": finance_view,
        "total_budget": sum((r.budget.amount_usd for r in top if r.budget), ZERO),
        "total_spend": total_spend,
        "total_projected": sum((r.fc.projected for r in top), ZERO),
        "watched_count": len(watched),
        "over": [status for status in watched if status == "over"],
        "at_risk": [status for status in watched if status == "warn"],
    }


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    access = _require_overview(request)
    quarter = Quarter.from_param(request.GET.get("quarter"))
    context = overview_numbers(access, quarter)
    alerts = access.visible(Alert.objects.exclude(status=Alert.Status.SKIPPED), user="user")
    if context["finance_view"]:
        alerts = Alert.objects.exclude(status=Alert.Status.SKIPPED)
    return render(
        request,
        "budgets/overview.html",
        {
            **context,
            "quarters": [quarter.previous(), Quarter.current(), Quarter.current().next()],
            "is_current": quarter == Quarter.current(),
            "can_set": access.is_finance,
            "recent_alerts": alerts.filter(quarter=quarter.name).exclude(kind=Alert.Kind.APPROVAL)[:6],
            "previous_count": Budget.objects.filter(quarter=quarter.previous().name).count(),
            "forecast_method": FORECAST_METHOD,
        },
    )
