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

from accounts.permissions import Access
from budgets.reports.adoption import TOP_SHARE
from budgets.reports.boards import adoption_board, efficiency_board, hidden_positions, leaderboard_rows
from budgets.reports.boards import shows_board as board_shown
from budgets.reports.coding import TOOLS_NOTE, ToolsBoard, tools_board
from budgets.reports.efficiency import CAREFUL_SCORE, HEAVY_MULTIPLE, SMALL_TIER_RULE
from budgets.reports.leaderboards import DEFAULT_SORT, DEFAULT_TAB, PER_PAGE, SORTS, TABS, BoardRow, board_totals
from budgets.reports.svg import Bar, hbars
from budgets.reports.visibility import BoardFilters, board_filters


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
    rows = leaderboard_rows(filters, tab=tab, sort=sort)
    access = Access.for_request(request)
    for row in rows:
        row.url = _row_url(tab, row, access, filters)  # type: ignore[attr-defined]
    return rows


def _text(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value  # never a formula


def _csv_response(out: StringIO, filename: str) -> HttpResponse:
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _csv(rows: list[BoardRow], tab: str, filters: BoardFilters) -> HttpResponse:
    out = StringIO()
    writer = csv.writer(out)
    writer.writerow(["rank", TABS[tab][1].lower(), "cost_usd", "tokens", "requests", "previous_quarter_cost_usd",
                     "same_day_previous_cost_usd"])  # fmt: skip
    for r in rows:
        requests = "" if r.requests is None else r.requests
        same_day = "" if r.same_day_cost is None else f"{r.same_day_cost:.2f}"
        previous = f"{r.previous_cost:.2f}"
        writer.writerow([r.rank, _text(r.name), f"{r.cost:.2f}", r.tokens, requests, previous, same_day])
    return _csv_response(out, f"leaderboard-{tab}-{filters.quarter}.csv")


def _coding_csv(board: ToolsBoard, filters: BoardFilters) -> HttpResponse:
    """The People board's coding-tool table, every person (not only the 25 the page shows): one cost column per
    tool, then the tools' own counts (empty where a tool reports none)."""
    out = StringIO()
    writer = csv.writer(out)
    tools = [_text(f"{tool} (USD)") for tool in board.tools]
    writer.writerow(["rank", "person", "email", *tools, "cost_usd", "lines_added", "commits", "pull_requests",
                     "accepted_suggestions", "cost_per_pull_request_usd"])  # fmt: skip
    for rank, r in enumerate(board.rows, start=1):
        costs = ["" if c is None else f"{c:.2f}" for c in board.cells(r)]
        counts = ["" if n is None else n for n in (r.lines_added, r.commits, r.pull_requests, r.accepted_suggestions)]
        per_pr = "" if r.cost_per_pull_request is None else f"{r.cost_per_pull_request:.2f}"
        writer.writerow([rank, _text(r.name), _text(r.email), *costs, f"{r.cost:.2f}", *counts, per_pr])
    return _csv_response(out, f"leaderboard-coding-tools-{filters.quarter}.csv")


def _tools_board(filters: BoardFilters, access: Access) -> ToolsBoard:
    board = tools_board(filters)
    for row in board.rows:
        row.url = person_url(row.user_id, access)
    return board


@login_required
def leaderboard(request: HttpRequest) -> HttpResponse:
    filters = board_filters(request)
    tab = request.GET.get("tab") if request.GET.get("tab") in TABS else DEFAULT_TAB
    sort = request.GET.get("sort") if request.GET.get("sort") in SORTS else DEFAULT_SORT
    shows_board = board_shown(filters)
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
        if tab == "people" and request.GET.get("format") == "coding-csv":
            return _coding_csv(tools_board(filters, limit=None), filters)
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
        if tab == "people" and not request.htmx:
            context |= {"coding": _tools_board(filters, Access.for_request(request)), "tools_note": TOOLS_NOTE}
    context["positions"] = hidden_positions(user=request.user, filters=filters, named=shows_board)
    context["shows_board"] = shows_board
    template = "budgets/leaderboard.html"
    if request.htmx and shows_board:
        template += "#board"
    return render(request, template, context)


@login_required
def efficiency(request: HttpRequest) -> HttpResponse:
    access = Access.for_request(request)
    filters = board_filters(request)
    context: dict[str, Any] = {"filters": filters, "rule": SMALL_TIER_RULE, "heavy_multiple": HEAVY_MULTIPLE,
                               "careful_score": CAREFUL_SCORE}  # fmt: skip
    board = efficiency_board(filters)
    if board is not None:
        context["teams"], context["team_medians"] = board.teams, board.team_medians
        if board.team:
            for person in board.people:
                person.url = person_url(int(person.ref), access)  # type: ignore[attr-defined]
            for member in board.idle:
                member.url = person_url(member.user.pk, access)  # type: ignore[attr-defined]
            context |= {"team": board.team, "people": board.people, "medians": board.medians, "best": board.best,
                        "idle": board.idle, "members": board.members}  # fmt: skip
    context["positions"] = hidden_positions(user=request.user, filters=filters, named=board is not None)
    return render(request, "budgets/efficiency.html", context)


@login_required
def adoption(request: HttpRequest) -> HttpResponse:
    access = Access.for_request(request)
    filters = board_filters(request)
    items = adoption_board(filters)
    for item in items:
        for member in item.members:
            member.url = person_url(member.user.pk, access)  # type: ignore[attr-defined]
    context = {"filters": filters, "items": items, "top_percent": int(TOP_SHARE * 100)}
    return render(request, "budgets/adoption.html", context)
