"""The board pages: leaderboards (tabs people / projects / teams / models / providers), efficiency and adoption.
Views are thin: filters and who sees what come from visibility.py, figures from the board modules."""

from __future__ import annotations

import csv
from io import StringIO
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team
from accounts.permissions import Access, BoardScope
from budgets.reports.adoption import TOP_SHARE, team_adoption
from budgets.reports.efficiency import (
    CAREFUL_SCORE,
    HEAVY_MULTIPLE,
    SMALL_TIER_RULE,
    most_efficient,
    people_efficiency,
)
from budgets.reports.leaderboards import (
    DEFAULT_SORT,
    DEFAULT_TAB,
    PER_PAGE,
    SORTS,
    TABS,
    BoardRow,
    board_rows,
    board_totals,
    ranked,
)
from budgets.reports.svg import Bar, hbars
from budgets.reports.visibility import BoardFilters, board_filters, positions


def person_url(pk: int | None, access: Access) -> str:
    """The person page (budgets:person) where the viewer may open it; no link otherwise (a board that shows
    other teams' names does not make their pages visible)."""
    if not pk or not access.can_view_person_id(pk):
        return ""
    return reverse("budgets:person", args=[pk])


def _row_url(tab: str, row: BoardRow, access: Access, filters: BoardFilters) -> str:
    if tab == "people":
        return person_url(row.pk, access)
    if tab == "teams" and row.pk:
        if access.sees_everything or row.pk in access.managed_team_ids:
            return reverse("budgets:team", args=[row.pk])
        return f"{reverse('budgets:leaderboard')}?quarter={filters.quarter}&team={row.pk}"
    if tab == "keys" and row.pk:
        return reverse("allocator:key_detail", args=[row.pk])
    if tab == "projects" and filters.scope.sees_team(row.team_id):
        return f"{reverse('budgets:leaderboard')}?quarter={filters.quarter}&team={row.team_id}"
    return ""


def _board(request: HttpRequest, filters: BoardFilters, tab: str, sort: str) -> list[BoardRow]:
    kind = TABS[tab][0]
    scope = filters.scope
    if kind == "team":  # the teams tab lists teams: the team filter does not narrow it to one
        refs = None if scope.all_teams else [str(pk) for pk in sorted(scope.team_ids)]
        rows = board_rows(quarter=filters.quarter, kind=kind, cost_center_id=_cc(filters), refs=refs)
    else:
        team_id = filters.team.pk if filters.team else None
        rows = board_rows(quarter=filters.quarter, kind=kind, team_id=team_id, cost_center_id=_cc(filters))
    access = Access.for_request(request)
    for row in rows:
        row.url = _row_url(tab, row, access, filters)  # type: ignore[attr-defined]
    return ranked(rows, sort=sort)


def _cc(filters: BoardFilters) -> int | None:
    return filters.cost_center.pk if filters.cost_center else None


def _csv(rows: list[BoardRow], tab: str, filters: BoardFilters) -> HttpResponse:
    out = StringIO()
    writer = csv.writer(out)
    writer.writerow(["rank", TABS[tab][1].lower(), "cost_usd", "tokens", "requests", "previous_quarter_cost_usd",
                     "same_day_previous_cost_usd"])  # fmt: skip
    for r in rows:
        name = "'" + r.name if r.name[:1] in ("=", "+", "-", "@", "\t", "\r") else r.name  # never a formula
        requests = "" if r.requests is None else r.requests
        same_day = "" if r.same_day_cost is None else f"{r.same_day_cost:.2f}"
        writer.writerow([r.rank, name, f"{r.cost:.2f}", r.tokens, requests, f"{r.previous_cost:.2f}", same_day])
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="leaderboard-{tab}-{filters.quarter}.csv"'
    return response


@login_required
def leaderboard(request: HttpRequest) -> HttpResponse:
    filters = board_filters(request)
    tab = request.GET.get("tab") if request.GET.get("tab") in TABS else DEFAULT_TAB
    sort = request.GET.get("sort") if request.GET.get("sort") in SORTS else DEFAULT_SORT
    scope = filters.scope
    shows_board = scope.all_teams or filters.team is not None
    context: dict[str, Any] = {
        "filters": filters,
        "tab": tab,
        "sort": sort,
        "tabs": TABS,
        "tab_label": TABS[tab][1],
        "sort_label": SORTS[sort],
        "sort_columns": [("name", "Name"), ("cost", "Cost"), ("tokens", "Tokens"), ("requests", "Requests"),
                         ("change", "vs same day"), ("change_full", f"vs {filters.quarter.previous()}")],
    }  # fmt: skip
    if shows_board:
        rows = _board(request, filters, tab, sort)
        if request.GET.get("format") == "csv":
            return _csv(rows, tab, filters)
        page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
        bars = [Bar(r.name, r.cost) for r in sorted(rows, key=lambda r: -r.cost)]
        context |= {
            "page": page,
            "totals": board_totals(rows),
            "chart": hbars(bars, title=f"{TABS[tab][1]} by cost, {filters.quarter}"),
            "query": f"{filters.query}&tab={tab}&sort={sort}",
        }
    hidden = scope.own_team_ids - (frozenset(t.pk for t in filters.teams) if shows_board else frozenset())
    context["positions"] = positions(user=request.user, team_ids=hidden, quarter=filters.quarter)
    context["shows_board"] = shows_board
    template = "budgets/leaderboard.html"
    if request.htmx and shows_board:
        template += "#board"
    return render(request, template, context)


@login_required
def efficiency(request: HttpRequest) -> HttpResponse:
    access = Access.for_request(request)
    filters = board_filters(request)
    scope = filters.scope
    context: dict[str, Any] = {"filters": filters, "rule": SMALL_TIER_RULE, "heavy_multiple": HEAVY_MULTIPLE,
                               "careful_score": CAREFUL_SCORE}  # fmt: skip
    if scope.sees_boards:
        refs = None if scope.all_teams else [str(pk) for pk in sorted(scope.team_ids)]
        team_rows = board_rows(quarter=filters.quarter, kind="team", cost_center_id=_cc(filters), refs=refs)
        context["teams"], context["team_medians"] = people_efficiency(team_rows)
        team = filters.team if filters.team_given or not scope.all_teams else None  # finance: pick from the teams
        if team:
            rows = board_rows(quarter=filters.quarter, kind="user", team_id=team.pk)
            people, med = people_efficiency(rows)
            for person in people:
                person.url = person_url(int(person.ref), access)  # type: ignore[attr-defined]
            team_members = team_adoption(teams=[team], today=timezone.now().date())[0]
            idle = team_members.idle
            for member in idle:
                member.url = person_url(member.user.pk, access)  # type: ignore[attr-defined]
            context |= {
                "team": team,
                "people": people,
                "medians": med,
                "best": most_efficient(people),
                "idle": idle,
                "members": len(team_members.members),
            }
    hidden = scope.own_team_ids - (frozenset(t.pk for t in filters.teams) if scope.sees_boards else frozenset())
    context["positions"] = positions(user=request.user, team_ids=hidden, quarter=filters.quarter)
    return render(request, "budgets/efficiency.html", context)


@login_required
def adoption(request: HttpRequest) -> HttpResponse:
    access = Access.for_request(request)
    filters = board_filters(request)
    scope = filters.scope
    if filters.team and filters.team_given:
        teams = [filters.team]
    elif filters.cost_center:
        teams = [t for t in filters.teams if t.cost_center_id == filters.cost_center.pk]
    else:
        teams = filters.teams
    named = {t.pk for t in teams}
    own_only = [t for t in _own_teams(request, scope) if t.pk not in named]
    items = team_adoption(teams=teams + own_only, today=timezone.now().date())
    for item in items:
        item.names = item.team.pk in named  # type: ignore[attr-defined]
        for member in item.members:
            member.url = person_url(member.user.pk, access)  # type: ignore[attr-defined]
    context = {"filters": filters, "items": items, "top_percent": int(TOP_SHARE * 100)}
    return render(request, "budgets/adoption.html", context)


def _own_teams(request: HttpRequest, scope: BoardScope) -> list[Team]:
    """Teams the person belongs to but whose names they may not see: adoption counts only."""
    if not scope.own_team_ids or scope.all_teams:
        return []
    return list(Team.objects.filter(pk__in=scope.own_team_ids).select_related("cost_center").order_by("name"))
