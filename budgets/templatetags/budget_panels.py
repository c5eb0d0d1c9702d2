"""Budget panels other apps show on their pages: the home page's budget panel, the approvals page's bump table."""

from __future__ import annotations

from typing import Any

from django import template
from django.db.models import Q

from accounts.permissions import Access
from allocator.models import Key
from allocator.money import ZERO
from allocator.quarters import Quarter
from budgets import bumps as bump_services
from budgets.forecast import FORECAST_METHOD, percent_of
from budgets.models import Budget, BudgetRequest, KeyEnforcement, Scope, scope_key
from budgets.spend import daily_spend
from budgets.tables import Numbers, Row, burndown, finance_rows, row_for, with_bump_numbers

register = template.Library()


def _page_context(context: template.Context) -> dict[str, Any]:
    """What an included panel needs from the page: the person, their access and the CSRF token for its forms."""
    return {name: context.get(name) for name in ("request", "user", "access", "csrf_token")}


def _my_budget_rows(user: Any, access: Access, numbers: Numbers) -> list[Row]:
    mine = (
        Budget.objects.filter(quarter=numbers.quarter.name)
        .filter(
            Q(scope=Scope.USER, user=user)
            | Q(scope=Scope.TEAM, team_id__in=access.team_ids)
            | Q(scope=Scope.PROJECT, team_id__in=access.team_ids, project__keys__owner_user=user)
        )
        .select_related("team", "project", "user")
        .distinct()
    )
    mine = list(mine)
    numbers.load(b.scope_key for b in mine)
    rows = [Row(b.scope, b.scope_object, b, numbers.forecast(b.scope_key, b.amount_usd)) for b in mine]
    rows.sort(key=lambda r: r.fc.remaining if r.fc.remaining is not None else ZERO)
    return rows


def _team_rows(access: Access, numbers: Numbers) -> list[Row]:
    if access.sees_everything:  # the five most spent team budgets: only those five are forecast
        budgets = list(
            Budget.objects.filter(quarter=numbers.quarter.name, scope=Scope.TEAM).select_related("team__cost_center")
        )
        numbers.load(b.scope_key for b in budgets)
        budgets.sort(key=lambda b: -percent_of(numbers.spend.get(b.scope_key, ZERO), b.amount_usd))
        return [row_for(numbers, Scope.TEAM, b.team, b, level=1) for b in budgets[:5]]
    if access.is_manager:
        return finance_rows(numbers.quarter, numbers, team_ids=set(access.managed_team_ids))
    return []


def my_bumps(user: Any) -> list[BudgetRequest]:
    """The person's latest budget requests (the home panel's "My budget requests")."""
    return list(BudgetRequest.objects.filter(requester=user).select_related("budget__team", "budget__project")[:5])


@register.inclusion_tag("budgets/_home.html", takes_context=True)
def budget_home_panel(context: template.Context) -> dict[str, Any]:
    request = context["request"]
    user, access = request.user, Access.for_request(request)
    quarter = Quarter.current()
    numbers = Numbers(quarter, [scope_key(Scope.USER, user.pk)])
    rows = _my_budget_rows(user, access, numbers)
    main = next((r for r in rows if r.scope == Scope.USER), None) or (rows[0] if rows else None)
    main_fc = main.fc if main else numbers.forecast(scope_key(Scope.USER, user.pk), None)
    chart = None
    if main:
        daily = daily_spend(budget=main.budget, start=quarter.start, end=quarter.end)
        chart = burndown(main.budget, numbers, main.key, main_fc, daily)
    suspended = Key.objects.filter(
        Q(owner_user=user) | Q(owner_project__isnull=False, requested_by=user),
        status=Key.Status.SUSPENDED,
        enforcement__suspended_by=KeyEnforcement.SuspendedBy.BUDGET,
    ).select_related("enforcement")[:5]
    bumpable = list(bump_services.bumpable_budgets(user))
    default = main.budget if main and main.budget in bumpable else (bumpable[0] if bumpable else None)
    return {
        **_page_context(context),
        "budget_team_rows": _team_rows(access, numbers),
        "budget_quarter": quarter,
        "budget_rows": rows,
        "budget_main": main,
        "budget_main_fc": main_fc,
        "budget_chart": chart,
        "budget_suspended_keys": list(suspended),
        "budget_bumpable": bumpable,
        "budget_quick_default": default,
        "my_bumps": my_bumps(user),
        "forecast_method": FORECAST_METHOD,
    }


def bumps_waiting(access: Access) -> list[BudgetRequest]:
    """Bumps this person may decide now, oldest first, with their budget's numbers."""
    pending = list(
        access.approvable(
            BudgetRequest.objects.filter(state=BudgetRequest.State.PENDING).select_related(
                "requester", "team", "budget__team", "budget__project", "budget__user", "budget__cost_center"
            )
        ).order_by("created_at")
    )
    with_bump_numbers(pending)
    return pending


@register.inclusion_tag("budgets/_bump_approvals.html", takes_context=True)
def bump_approvals_panel(context: template.Context) -> dict[str, Any]:
    access = Access.for_request(context["request"])
    recent = access.visible(
        BudgetRequest.objects.exclude(state=BudgetRequest.State.PENDING), user="requester"
    ).select_related(
        "requester", "decided_by", "budget__team", "budget__project", "budget__user", "budget__cost_center"
    )
    pending = bumps_waiting(access)
    return {
        **_page_context(context),
        "bump_approvals": pending,
        "waiting": len(pending),
        "recent_bumps": recent.order_by("-updated_at")[:8],
    }
