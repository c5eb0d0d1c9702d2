"""One budget: burn-down, forecast, bumps, keys, alerts and its history."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import Access, get_visible_or_404
from accounts.timeline import timeline
from allocator.models import Key
from allocator.money import ZERO
from allocator.quarters import Quarter
from budgets import allocation as allocation_services
from budgets import bumps as bump_services
from budgets.forecast import FORECAST_METHOD
from budgets.models import Alert, Budget, Scope
from budgets.spend import daily_spend
from budgets.tables import Numbers, burndown


def _get_budget_for_user(request: HttpRequest, pk: int) -> Budget:
    return get_visible_or_404(
        request, Budget.objects.select_related("cost_center", "team__cost_center", "project", "user"), pk=pk
    )


@login_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    budget = _get_budget_for_user(request, pk)
    quarter = Quarter.parse(budget.quarter)
    numbers = Numbers(quarter, [budget.scope_key])
    fc = numbers.forecast(budget.scope_key, budget.amount_usd)
    daily = daily_spend(budget=budget, start=quarter.start, end=quarter.end)
    access = Access.for_request(request)
    parent = allocation_services.parent_budget(budget)
    # The same rule as the key and bump pages: colleagues' personal keys and requests stay out of sight.
    bumps = access.visible(budget.requests.select_related("requester", "decided_by"), user="requester")
    keys = _keys_of(budget, access)
    return render(
        request,
        "budgets/detail.html",
        {
            "budget": budget,
            "quarter": quarter,
            "fc": fc,
            "chart": burndown(budget, numbers, budget.scope_key, fc, daily),
            "parent": parent,
            "bumps": bumps,
            "keys": keys,
            "alerts": budget.alerts.exclude(status=Alert.Status.SKIPPED)[:10],
            "timeline": timeline(budget, newest_first=True, limit=30),
            "can_bump": bump_services.bumpable_budgets(request.user).filter(pk=budget.pk).exists(),
            "can_edit": access.is_finance
            if budget.scope in (Scope.COST_CENTER, Scope.TEAM)
            else (access.can_manage(budget) or access.is_finance),
            "forecast_method": FORECAST_METHOD,
            "recent_days": [(d, daily.get(d, ZERO)) for d in numbers.last_days(14)],
        },
    )


def _keys_of(budget: Budget, access: Access):
    keys = Key.objects.exclude(status=Key.Status.REVOKED).select_related("account", "owner_user", "owner_project")
    if budget.scope == Scope.USER:
        keys = keys.filter(owner_user=budget.user)
    elif budget.scope == Scope.PROJECT:
        keys = keys.filter(owner_project=budget.project)
    elif budget.scope == Scope.TEAM:
        keys = keys.filter(team=budget.team)
    else:
        keys = keys.filter(team__cost_center=budget.cost_center)
    return access.visible(keys, user="owner_user").select_related("enforcement")[:50]
