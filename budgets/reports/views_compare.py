"""Quarter over quarter for one team (its managers, finance, admins) or one cost center (finance, admins, and
managers when the policy lets them see other teams)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from accounts.models import CostCenter, Team
from accounts.permissions import Access, get_visible_or_404
from allocator.quarters import Quarter
from budgets.reports.compare import quarter_comparison
from budgets.reports.leaderboards import same_day_through


def _context(request: HttpRequest, quarter: Quarter, **scope: int) -> dict:
    return {
        "quarter": quarter,
        "is_current": quarter == Quarter.current(),
        "through": same_day_through(quarter),
        "sections": quarter_comparison(quarter=quarter, **scope),
    }


@login_required
def compare_team(request: HttpRequest, pk: int) -> HttpResponse:
    team = get_visible_or_404(request, Team.objects.select_related("cost_center"), pk=pk)
    if not Access.for_request(request).can_view_team_board(team):
        raise PermissionDenied
    quarter = Quarter.from_param(request.GET.get("quarter"))
    context = _context(request, quarter, team_id=team.pk) | {"subject": team, "subject_kind": "team"}
    return render(request, "budgets/compare.html", context)


@login_required
def compare_cost_center(request: HttpRequest, pk: int) -> HttpResponse:
    cost_center = get_object_or_404(CostCenter, pk=pk)
    if not Access.for_request(request).leaderboard_scope().all_teams:
        raise PermissionDenied
    quarter = Quarter.from_param(request.GET.get("quarter"))
    context = _context(request, quarter, cost_center_id=cost_center.pk)
    context |= {"subject": cost_center, "subject_kind": "cost center"}
    return render(request, "budgets/compare.html", context)
