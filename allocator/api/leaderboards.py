"""Leaderboards, efficiency, adoption and the quarter-over-quarter comparison: the numbers the board pages show,
read through the same functions (budgets/reports/boards.py, compare.py) and the same rule of who sees whom
(Access.leaderboard_scope(), via budgets.reports.visibility.filters_for): a team one may not see is a 404, and an
engineer gets only their own positions, without other names, unless the budget policy lets them see names.

Teams are named by slug and cost centers by code, as everywhere in the API.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.urls import path
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import CostCenter, Project, Team, User
from accounts.permissions import Access, get_visible_or_404
from allocator.api.board_serializers import (
    AdoptionPageSerializer,
    BoardPageSerializer,
    BoardQuery,
    ComparePageSerializer,
    CompareQuery,
    EfficiencyPageSerializer,
    LeaderboardQuery,
)
from allocator.api.errors import errors
from allocator.api.pagination import Pages
from allocator.quarters import Quarter
from budgets.reports.boards import (
    adoption_board,
    efficiency_board,
    hidden_positions,
    leaderboard_rows,
    shows_board,
)
from budgets.reports.compare import quarter_comparison
from budgets.reports.efficiency import CAREFUL_SCORE, HEAVY_MULTIPLE, SMALL_TIER_RULE, Efficiency
from budgets.reports.leaderboards import PER_PAGE, TABS, BoardRow, board_totals, same_day_through
from budgets.reports.visibility import BoardFilters, Position, filters_for

# summary kind -> the model whose readable name (email, slug) the API uses for a row
_REF_MODELS: dict[str, tuple[type[Model], str]] = {
    "user": (User, "email"),
    "project": (Project, "slug"),
    "team": (Team, "slug"),
}


class BoardPages(Pages):
    page_size = PER_PAGE  # ?page=2 is the same rows as the page's page 2


def _query(request: Request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return {k: v for k, v in query.validated_data.items() if v != ""}


def _filters(request: Request, data: dict[str, Any]) -> BoardFilters:
    return filters_for(
        scope=Access.for_request(request).leaderboard_scope(),
        quarter=data["quarter"] if "quarter" in data else Quarter.current(),
        team=("slug", data["team"]) if "team" in data else None,
        cost_center=("code", data["cost_center"]) if "cost_center" in data else None,
    )


def _readable(kind: str, pks: set[int]) -> dict[int, str]:
    """pk -> email / slug for people, projects and teams (one query); keys are their id."""
    if kind == "key":
        return {pk: str(pk) for pk in pks}
    if kind not in _REF_MODELS or not pks:
        return {}
    model, field = _REF_MODELS[kind]
    return dict(model.objects.filter(pk__in=pks).values_list("pk", field))


def _row_dicts(kind: str, rows: list[BoardRow]) -> list[dict[str, Any]]:
    """Board rows as the API shows them: two queries (names others can use, owning teams), however many rows."""
    ids = {r.pk for r in rows if r.pk and kind not in ("model", "provider")}
    refs = _readable(kind, ids)
    team_ids = {r.team_id for r in rows if r.team_id}
    teams = dict(Team.objects.filter(pk__in=team_ids).values_list("pk", "slug")) if team_ids else {}
    out = []
    for r in rows:
        pk = r.pk if kind not in ("model", "provider") else None
        out.append({
            "rank": r.rank, "id": pk, "ref": refs.get(pk, r.ref) if pk else r.ref, "name": r.name,
            "team": teams.get(r.team_id), "cost_usd": r.cost, "tokens": r.tokens, "requests": r.requests,
            "previous_cost": r.previous_cost, "same_day_cost": r.same_day_cost, "change": r.change,
            "change_full": r.change_full,
        })  # fmt: skip
    return out


def _efficiency_dict(item: Efficiency | None, refs: dict[int, str]) -> dict[str, Any] | None:
    if item is None:
        return None
    pk = int(item.ref) if item.ref.isdigit() else None
    return {**vars(item), "id": pk, "ref": refs.get(pk, item.ref), "careful": item.careful, "verdict": item.verdict}


def _efficiency_list(kind: str, items: list[Efficiency]) -> list[dict[str, Any]]:
    refs = _readable(kind, {int(e.ref) for e in items if e.ref.isdigit()})
    return [_efficiency_dict(e, refs) for e in items]  # type: ignore[misc]


def _positions(request: Request, positions: list[Position]) -> list[dict[str, Any]]:
    refs = {request.user.pk: request.user.email}
    return [
        {"team": p.team, "members": p.members, "rank": p.rank, "top_percent": p.top_percent,
         "standing": p.standing.replace("\u00a0", " "), "mine": _efficiency_dict(p.mine, refs),
         "medians": p.medians}
        for p in positions
    ]  # fmt: skip


def _codes(filters: BoardFilters) -> dict[str, str | None]:
    return {
        "quarter": str(filters.quarter),
        "team": filters.team.slug if filters.team else None,
        "cost_center": filters.cost_center.code if filters.cost_center else None,
    }


_PAGING = [
    OpenApiParameter("page", int, description="Page number (25 rows a page, as on the board page)."),
    OpenApiParameter("page_size", int, description="Rows a page, at most 500."),
]


@extend_schema(parameters=[LeaderboardQuery, *_PAGING], responses={200: BoardPageSerializer, **errors(400)})
class Leaderboard(APIView):
    """One board (`tab`) ranked by `sort`, 25 rows a page, with totals and the change against the previous quarter
    (up to the same day, and in full). Someone who sees no names gets `names_visible: false`, no rows, and their
    own `positions`."""

    def get(self, request: Request) -> Response:
        data = _query(request, LeaderboardQuery)
        filters = _filters(request, data)
        tab, sort = data["tab"], data["sort"]
        named = shows_board(filters)
        rows = leaderboard_rows(filters, tab=tab, sort=sort) if named else []
        pages = BoardPages()
        page = pages.paginate_queryset(rows, request, view=self) or []
        body = {
            **_codes(filters),
            "tab": tab,
            "sort": sort,
            "same_day_through": same_day_through(filters.quarter),
            "names_visible": named,
            "totals": board_totals(rows) if named else None,
            "positions": _positions(request, hidden_positions(user=request.user, filters=filters, named=named)),
            "count": len(rows),
            "next": pages.get_next_link() if named else None,
            "previous": pages.get_previous_link() if named else None,
            "results": _row_dicts(TABS[tab][0], page),
        }
        return Response(BoardPageSerializer(body).data)


@extend_schema(parameters=[BoardQuery], responses={200: EfficiencyPageSerializer, **errors(400)})
class EfficiencyBoardView(APIView):
    """Efficiency beside spend, per team and per person of one team (`team`; a manager's first team by default),
    each compared with the median: cost per request, cache share, small-tier share, spend per active day, output
    per input token; the most expensive person, the most efficient one, and who uses no tokens at all."""

    def get(self, request: Request) -> Response:
        filters = _filters(request, _query(request, BoardQuery))
        board = efficiency_board(filters)
        body: dict[str, Any] = {
            **_codes(filters),
            "small_tier_rule": SMALL_TIER_RULE,
            "heavy_multiple": HEAVY_MULTIPLE,
            "careful_score": CAREFUL_SCORE,
            "names_visible": board is not None,
            "teams": [], "team_medians": None, "people": [], "medians": None, "most_expensive": None,
            "most_efficient": None, "not_using": [], "members": 0,
        }  # fmt: skip
        if board is not None:
            people = _efficiency_list("user", board.people)
            body |= {
                "team": board.team.slug if board.team else None,
                "teams": _efficiency_list("team", board.teams),
                "team_medians": board.team_medians,
                "people": people,
                "medians": board.medians or None,
                "most_expensive": people[0] if people else None,
                "most_efficient": next((d for e, d in zip(board.people, people, strict=True) if e is board.best), None),
                "not_using": board.idle,
                "members": board.members,
            }  # fmt: skip
        body["positions"] = _positions(
            request, hidden_positions(user=request.user, filters=filters, named=board is not None)
        )
        return Response(EfficiencyPageSerializer(body).data)


@extend_schema(parameters=[BoardQuery], responses={200: AdoptionPageSerializer, **errors(400)})
class AdoptionBoard(APIView):
    """Adoption per team as of today: people, with a live key, active in the last 7 and 30 days, the top 10 %'s
    share of spend, who has no usage at all. Teams whose names one may not see come as counts only."""

    def get(self, request: Request) -> Response:
        filters = _filters(request, _query(request, BoardQuery))
        teams = [
            {"team": item.team, "names": item.names, "people": len(item.members), "with_key": item.with_key,
             "active_7": item.active_7, "active_30": item.active_30, "top_count": item.top_count,
             "top_share": item.top_share, "spend": item.spend, "state": item.state,
             "not_using_count": len(item.idle), "not_using": item.idle if item.names else [],
             "members": item.members if item.names else []}
            for item in adoption_board(filters)
        ]  # fmt: skip
        return Response(AdoptionPageSerializer({"today": timezone.now().date(), "teams": teams}).data)


@extend_schema(parameters=[CompareQuery], responses={200: ComparePageSerializer, **errors(400)})
class QuarterCompare(APIView):
    """This quarter against the previous one, up to the same day and in full: per person, project and model of a
    `team` (its managers, finance, admins), or per team, project and model of a `cost_center` (finance, admins,
    managers when the policy lets them see other teams)."""

    def get(self, request: Request) -> Response:
        data = _query(request, CompareQuery)
        quarter = data["quarter"] if "quarter" in data else Quarter.current()
        access = Access.for_request(request)
        if "team" in data:
            team = get_visible_or_404(request, Team.objects.all(), slug=data["team"])
            if not access.can_view_team_board(team):
                raise PermissionDenied()
            subject, scope = {"kind": "team", "ref": team.slug, "name": team.name}, {"team_id": team.pk}
        else:
            cost_center = CostCenter.objects.filter(code=data["cost_center"]).first()
            if cost_center is None:
                raise NotFound()
            if not access.leaderboard_scope().all_teams:
                raise PermissionDenied()
            subject = {"kind": "cost_center", "ref": cost_center.code, "name": cost_center.name}
            scope = {"cost_center_id": cost_center.pk}
        sections = [
            {"kind": s.kind, "title": s.title, "rows": _row_dicts(s.kind, s.rows), "totals": s.totals}
            for s in quarter_comparison(quarter=quarter, **scope)
        ]
        body = {"quarter": str(quarter), "previous_quarter": str(quarter.previous()), "subject": subject,
                "same_day_through": same_day_through(quarter), "sections": sections}  # fmt: skip
        return Response(ComparePageSerializer(body).data)


routes = [
    path("leaderboard/", Leaderboard.as_view(), name="leaderboard"),
    path("efficiency/", EfficiencyBoardView.as_view(), name="efficiency"),
    path("adoption/", AdoptionBoard.as_view(), name="adoption"),
    path("compare/", QuarterCompare.as_view(), name="compare"),
]
