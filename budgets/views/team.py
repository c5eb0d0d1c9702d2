"""A team's budget page: the manager's split of the team budget over projects and people."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import trigger_client_event

from accounts.models import Membership, Project, Team
from accounts.permissions import Access, get_visible_or_404
from allocator.models import Key
from allocator.money import ZERO
from allocator.quarters import Quarter
from budgets import allocation as allocation_services
from budgets.forecast import FORECAST_METHOD
from budgets.forms import AmountForm
from budgets.models import Budget, BudgetRequest, Scope, scope_key
from budgets.spend import daily_spend
from budgets.tables import Numbers, Row, burndown, split_rows


def _get_team_for_user(request: HttpRequest, pk: int) -> Team:
    """The team, if this person may see its budget page: its managers, finance and admins (404 for others)."""
    team = get_visible_or_404(request, Team.objects.select_related("cost_center"), pk=pk)
    access = Access.for_request(request)
    if not (access.can_manage(team) or access.sees_everything):
        raise PermissionDenied
    return team


def _team_context(request: HttpRequest, team: Team, quarter: Quarter) -> dict[str, Any]:
    numbers = Numbers(quarter)
    access = Access.for_request(request)
    team_budget, rows = split_rows(team, quarter, numbers)
    key = scope_key(Scope.TEAM, team.pk)
    fc = numbers.forecast(key, team_budget and team_budget.amount_usd)
    allocated = sum((r.budget.amount_usd for r in rows if r.budget and r.budget.team_id == team.pk), ZERO)
    daily = daily_spend(budget=Budget(scope=Scope.TEAM, team=team), start=quarter.start, end=quarter.end)
    return {
        "team": team,
        "quarter": quarter,
        "is_current": quarter == Quarter.current(),
        "team_budget": team_budget,
        "team_fc": fc,
        "rows": rows,
        "allocated": allocated,
        "unallocated": (team_budget.amount_usd - allocated) if team_budget else None,
        "allocated_percent": int(min(100, allocated * 100 / team_budget.amount_usd))
        if team_budget and team_budget.amount_usd
        else 0,
        "chart": burndown(team_budget, numbers, key, fc, daily),
        "can_edit": access.can_manage(team) or access.is_finance,
        "suspended_keys": Key.objects.filter(
            team=team, status=Key.Status.SUSPENDED, enforcement__suspended_by__in=["budget", "runaway"]
        ).select_related("owner_user", "owner_project", "enforcement"),
        "pending_bumps": BudgetRequest.objects.filter(team=team, state=BudgetRequest.State.PENDING).select_related(
            "requester", "budget__project", "budget__user", "budget__team"
        ),
        "forecast_method": FORECAST_METHOD,
    }


@login_required
def team(request: HttpRequest, pk: int) -> HttpResponse:
    team = _get_team_for_user(request, pk)
    template = "budgets/team.html"
    if request.htmx:
        template += "#allocation"
    return render(request, template, _team_context(request, team, Quarter.from_param(request.GET.get("quarter"))))


def _split_target(team: Team, data: Any) -> tuple[str, Any] | None:
    """The project or member of this team that a split line is about (`?project=3` or `?user=5`)."""
    try:
        if data.get("project"):
            return Scope.PROJECT, Project.objects.get(pk=int(data["project"]), team=team)
        if data.get("user"):
            return Scope.USER, Membership.objects.select_related("user").get(user_id=int(data["user"]), team=team).user
    except (ValueError, OverflowError, Project.DoesNotExist, Membership.DoesNotExist):
        pass
    return None


@login_required
def team_split(request: HttpRequest, pk: int) -> HttpResponse:
    """One line of the split table: GET an edit form (htmx), POST a new amount for a project or a person."""
    team = _get_team_for_user(request, pk)
    access = Access.for_request(request)
    if not (access.can_manage(team) or access.is_finance):
        raise PermissionDenied
    quarter = Quarter.from_param(request.POST.get("quarter") or request.GET.get("quarter"))
    target = _split_target(team, request.POST if request.method == "POST" else request.GET)
    if target is None:  # a bad or stale link: back to the team page
        return redirect(reverse("budgets:team", args=[team.pk]))
    scope, obj = target
    key = scope_key(scope, obj.pk)
    budget = Budget.objects.filter(quarter=quarter.name, scope=scope, **{f"{scope}_id": obj.pk}).first()
    error = ""
    cancelled = request.POST.get("cancel") is not None
    if request.method == "POST" and not cancelled:
        form = AmountForm(request.POST)
        if form.is_valid():
            try:
                budget = allocation_services.budget_split(
                    team=team,
                    by=request.user,
                    amount_usd=form.cleaned_data["amount_usd"],
                    hard=form.cleaned_data["hard"],
                    quarter=quarter,
                    **{scope: obj},
                )
            except ValidationError as e:
                error = " ".join(e.messages)
        else:
            error = form.error_text()
        if not request.htmx:
            if error:
                messages.error(request, error)
            else:
                messages.success(request, f"{budget.scope_title}: ${budget.amount_usd:,} in {quarter}.")
            return redirect(reverse("budgets:team", args=[team.pk]) + f"?quarter={quarter}")
    if request.method == "POST" and not error:
        if cancelled:
            row = Row(scope, obj, budget, Numbers(quarter).forecast(key, budget and budget.amount_usd))
            context = {"row": row, "team": team, "quarter": quarter, "can_edit": True}
            return render(request, "budgets/team.html#split_row", context)
        # The saved line, and the team's totals out of band, so "split" and "not split" stay true at once.
        context = _team_context(request, team, quarter)
        context.update(row=next(r for r in context["rows"] if r.key == key), saved=True)
        return trigger_client_event(render(request, "budgets/team.html#split_saved", context), "budget-changed")
    initial = {
        "amount_usd": budget.amount_usd if budget else None,
        "hard": "1" if (budget is None or budget.hard) else "0",
    }
    form = AmountForm(request.POST, initial=initial) if request.method == "POST" else AmountForm(initial=initial)
    context = {"scope": scope, "obj": obj, "budget": budget, "form": form, "error": error, "quarter": quarter}
    context.update(team=team, row_id=key.replace(":", "-"))
    if request.htmx:
        return render(request, "budgets/team.html#split_edit", context)
    return render(request, "budgets/set.html", {**context, "single": True, "team_split": True})
