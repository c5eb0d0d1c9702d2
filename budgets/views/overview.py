"""The budgets overview: finance sees every cost center and team, a manager their teams."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import Access
from allocator.money import ZERO
from allocator.quarters import Quarter
from budgets.enforcement import (
    FORECAST_METHOD,
)
from budgets.models import Alert, Budget
from budgets.tables import Numbers, finance_rows


def _require_overview(request: HttpRequest) -> Access:
    access = Access.for_request(request)
    if not (access.is_manager or access.sees_everything):
        raise PermissionDenied
    return access


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    access = _require_overview(request)
    quarter = Quarter.from_param(request.GET.get("quarter"))
    numbers = Numbers(quarter)
    finance_view = access.sees_everything
    rows = finance_rows(quarter, numbers, team_ids=None if finance_view else set(access.managed_team_ids))
    top = [r for r in rows if r.level == 0] if finance_view else rows
    total_budget = sum((r.budget.amount_usd for r in top if r.budget), ZERO)
    total_spend = (
        sum((r.fc.spend for r in top), ZERO)
        if not finance_view
        else sum((v for k, v in numbers.spend.items() if k.startswith("cost_center:")), ZERO)
    )
    total_projected = sum((r.fc.projected for r in top), ZERO)
    over = [r for r in rows if r.fc.status == "over"]
    at_risk = [r for r in rows if r.fc.status == "warn"]
    alerts = Access.for_request(request).visible(Alert.objects.exclude(status=Alert.Status.SKIPPED), user="user")
    if finance_view:
        alerts = Alert.objects.exclude(status=Alert.Status.SKIPPED)
    return render(
        request,
        "budgets/overview.html",
        {
            "quarter": quarter,
            "quarters": [quarter.previous(), Quarter.current(), Quarter.current().next()],
            "is_current": quarter == Quarter.current(),
            "rows": rows,
            "finance_view": finance_view,
            "can_set": access.is_finance,
            "total_budget": total_budget,
            "total_spend": total_spend,
            "total_projected": total_projected,
            "over": over,
            "at_risk": at_risk,
            "recent_alerts": alerts.filter(quarter=quarter.name).exclude(kind=Alert.Kind.APPROVAL)[:6],
            "previous_count": Budget.objects.filter(quarter=quarter.previous().name).count(),
            "forecast_method": FORECAST_METHOD,
        },
    )
