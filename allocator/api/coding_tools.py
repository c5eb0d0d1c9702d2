"""Coding tools: the People board's coding-tool table (budgets/reports/coding.py, read from the coding summaries) per
person of the board's filter, costliest first, 25 rows a page, with the same rule of who sees whom as the board
(Access.leaderboard_scope()): a team one may not see is a 404, and someone who sees no names gets
`names_visible: false` and no rows.

Outcome counts are the tools' own (null where a tool reports none); spend per tool is its usage and seats (use billed
through an API key is in the key's spend)."""

from __future__ import annotations

from typing import Any

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from allocator.api.board_serializers import BoardQuery
from allocator.api.errors import errors
from allocator.api.fields import cost_out
from allocator.api.leaderboards import BoardPages, _codes, _filters, _query
from budgets.reports.boards import shows_board
from budgets.reports.coding import TOOLS_NOTE, PersonTools, ToolsBoard, tools_board


class ToolCostSerializer(serializers.Serializer):
    tool = serializers.CharField(help_text="The coding-tool provider account's name.")
    cost_usd = cost_out(help_text="Usage and seats this quarter.")


class CodingRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="Place by coding-tool spend.")
    id = serializers.IntegerField()
    ref = serializers.EmailField(help_text="The person's email.")
    name = serializers.CharField()
    cost_usd = cost_out(help_text="All tools.")
    tools = ToolCostSerializer(many=True, help_text="Only the tools this person used.")
    lines_added = serializers.IntegerField(allow_null=True)
    commits = serializers.IntegerField(allow_null=True)
    pull_requests = serializers.IntegerField(allow_null=True)
    accepted_suggestions = serializers.IntegerField(allow_null=True)
    cost_per_pull_request_usd = cost_out(allow_null=True, help_text="Null where no pull request is reported.")


class CodingPageSerializer(serializers.Serializer):
    quarter = serializers.CharField()
    team = serializers.CharField(allow_null=True)
    cost_center = serializers.CharField(allow_null=True)
    names_visible = serializers.BooleanField()
    note = serializers.CharField(help_text="The counts are the tools' own.")
    tools = serializers.ListField(child=serializers.CharField(), help_text="Every tool used here.")
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CodingRowSerializer(many=True)


def _row(rank: int, row: PersonTools, board: ToolsBoard) -> dict[str, Any]:
    costs = zip(board.tools, board.cells(row), strict=True)
    return {
        "rank": rank, "id": row.user_id, "ref": row.email, "name": row.name, "cost_usd": row.cost,
        "tools": [{"tool": tool, "cost_usd": cost} for tool, cost in costs if cost is not None],
        "lines_added": row.lines_added, "commits": row.commits, "pull_requests": row.pull_requests,
        "accepted_suggestions": row.accepted_suggestions, "cost_per_pull_request_usd": row.cost_per_pull_request,
    }  # fmt: skip


_PAGING = [
    OpenApiParameter("page", int, description="Page number (25 rows a page)."),
    OpenApiParameter("page_size", int, description="Rows a page, at most 500."),
]


@extend_schema(parameters=[BoardQuery, *_PAGING], responses={200: CodingPageSerializer, **errors(400)})
class CodingTools(APIView):
    """Coding-tool spend per tool and the tools' own outcome counts (lines added, commits, pull requests, accepted
    suggestions, cost per pull request) per person of the quarter, team or cost center, as the People board's
    *Coding tools* table shows them, costliest first."""

    def get(self, request: Request) -> Response:
        filters = _filters(request, _query(request, BoardQuery))
        named = shows_board(filters)
        board = tools_board(filters, limit=None) if named else ToolsBoard(tools=[], rows=[], people=0)
        ranked = list(enumerate(board.rows, start=1))
        pages = BoardPages()
        page = pages.paginate_queryset(ranked, request, view=self) or []
        body = {
            **_codes(filters),
            "names_visible": named,
            "note": TOOLS_NOTE,
            "tools": board.tools,
            "count": len(ranked),
            "next": pages.get_next_link(),
            "previous": pages.get_previous_link(),
            "results": [_row(rank, row, board) for rank, row in page],
        }
        return Response(CodingPageSerializer(body).data)


routes = [path("coding-tools/", CodingTools.as_view(), name="coding_tools")]
